//! The profile catalog: directories named by `SANDBOXER_PROFILE_PATH` first (in
//! order), then the built-in profiles embedded from the repository's `profiles/`.
//! The first profile found for an id wins. A profile is `<dir>/<name>/profile.yaml`
//! (its shipped files beside it) or `<dir>/<name>.profile.yaml`.

use super::{PROFILE_ID_PREFIX, Profile, ProfileError, Source, parse_profile};
use include_dir::{Dir, include_dir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Colon-separated directories searched before the built-in profiles.
pub const PROFILE_PATH_ENV: &str = "SANDBOXER_PROFILE_PATH";

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../profiles");

/// Every profile found, and the files that failed to load.
#[derive(Debug, Default)]
pub struct Catalog {
    profiles: BTreeMap<String, Profile>,
    /// Profiles that failed to load, by the id their location implies.
    broken: BTreeMap<String, ProfileError>,
}

impl Catalog {
    /// Loads from `SANDBOXER_PROFILE_PATH` and the built-in set.
    pub fn load() -> Catalog {
        let dirs: Vec<PathBuf> = std::env::var_os(PROFILE_PATH_ENV)
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Catalog::load_from(&dirs)
    }

    /// Loads from `dirs`, then the built-in set.
    pub fn load_from(dirs: &[PathBuf]) -> Catalog {
        let mut catalog = Catalog::default();
        for dir in dirs {
            catalog.add_dir(dir);
        }
        catalog.add_builtin();
        catalog
    }

    fn add(&mut self, name: &str, result: Result<Profile, ProfileError>) {
        let id = format!("{PROFILE_ID_PREFIX}{name}");
        if self.profiles.contains_key(&id) || self.broken.contains_key(&id) {
            return; // An earlier directory already provides it.
        }
        match result {
            Ok(profile) => {
                self.profiles.insert(id, profile);
            }
            Err(e) => {
                self.broken.insert(id, e);
            }
        }
    }

    fn add_dir(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                let id = format!("(directory {})", dir.display());
                self.broken.insert(
                    id,
                    ProfileError::Io {
                        path: dir.display().to_string(),
                        message: format!("{e} (named by {PROFILE_PATH_ENV})"),
                    },
                );
                return;
            }
        };
        let mut found: Vec<(String, PathBuf, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let path = entry.path();
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() && path.join("profile.yaml").is_file() {
                    Some((file_name, path.join("profile.yaml"), path))
                } else {
                    let name = file_name.strip_suffix(".profile.yaml")?;
                    Some((name.to_string(), path.clone(), dir.to_path_buf()))
                }
            })
            .collect();
        found.sort();
        for (name, file, base) in found {
            let result = read_bounded(&file).and_then(|source| {
                parse_profile(&source, Source::File(file.clone()), &name, |rel| {
                    read_shipped(&base, rel)
                })
            });
            self.add(&name, result);
        }
    }

    fn add_builtin(&mut self) {
        for dir in BUILTIN.dirs() {
            let name = dir.path().to_string_lossy().into_owned();
            let Some(file) = dir.get_file(dir.path().join("profile.yaml")) else {
                continue;
            };
            let source = file.contents_utf8().unwrap_or_default();
            let origin = Source::Builtin(file.path().to_string_lossy().into_owned());
            let result = parse_profile(source, origin, &name, |rel| {
                dir.get_file(dir.path().join(rel))
                    .and_then(|f| f.contents_utf8())
                    .map(str::to_string)
            });
            self.add(&name, result);
        }
    }

    /// The profile with this id (`profile.x`, or just `x`), or an error with a
    /// did-you-mean, or the reason it failed to load.
    pub fn get(&self, id: &str) -> Result<&Profile, ProfileError> {
        let id = if id.starts_with(PROFILE_ID_PREFIX) {
            id.to_string()
        } else {
            format!("{PROFILE_ID_PREFIX}{id}")
        };
        if let Some(profile) = self.profiles.get(&id) {
            return Ok(profile);
        }
        if let Some(err) = self.broken.get(&id) {
            return Err(err.clone());
        }
        // Compare names without the common prefix, which would make every id look
        // alike.
        let bare = |id: &str| id.strip_prefix(PROFILE_ID_PREFIX).unwrap_or(id).to_string();
        let known: Vec<String> = self
            .profiles
            .keys()
            .chain(self.broken.keys())
            .map(|k| bare(k))
            .collect();
        let hint = crate::suggest::closest(&bare(&id), known.iter().map(String::as_str))
            .map(|name| format!("; did you mean \"{PROFILE_ID_PREFIX}{name}\"?"))
            .unwrap_or_default();
        Err(ProfileError::Unknown { hint, id })
    }

    /// Every loaded profile, by id.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// Every profile that failed to load.
    pub fn problems(&self) -> impl Iterator<Item = &ProfileError> {
        self.broken.values()
    }
}

/// Reads a profile file, refusing one larger than a profile may be without
/// reading it.
fn read_bounded(file: &Path) -> Result<String, ProfileError> {
    let io = |message: String| ProfileError::Io {
        path: file.display().to_string(),
        message,
    };
    let size = std::fs::metadata(file)
        .map_err(|e| io(e.to_string()))?
        .len();
    if size > super::parse::MAX_PROFILE_BYTES as u64 {
        return Err(ProfileError::Invalid {
            file: file.display().to_string(),
            line: None,
            field: "(document)".into(),
            message: format!(
                "{} KiB is larger than the {} KiB a profile may be",
                size / 1024,
                super::parse::MAX_PROFILE_BYTES / 1024
            ),
        });
    }
    std::fs::read_to_string(file).map_err(|e| io(e.to_string()))
}

/// A file shipped with a profile: `rel` (already checked to be relative, without
/// `..`) inside `base`, only if it and every folder on the way are real (no
/// symbolic link can lead out of the profile's folder) and it is a regular file no
/// larger than a profile may be.
fn read_shipped(base: &Path, rel: &str) -> Option<String> {
    let mut path = base.to_path_buf();
    for part in rel.split('/') {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.file_type().is_symlink() {
            return None;
        }
    }
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > super::parse::MAX_PROFILE_BYTES as u64 {
        return None;
    }
    std::fs::read_to_string(&path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, contents: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    fn profile_yaml(name: &str, description: &str) -> String {
        format!(
            "id: profile.{name}\nversion: 1\ndescription: {description}\nextension: ext.fixture\n\
             ttl: {{default: 1h, max: 2h}}\n"
        )
    }

    #[test]
    fn builtin_profiles_load() {
        let catalog = Catalog::load_from(&[]);
        assert_eq!(catalog.problems().count(), 0, "{:?}", catalog.broken);
        assert!(catalog.get("profile.sandbox-canary").is_ok());
        assert!(catalog.get("sandbox-canary").is_ok());
    }

    #[test]
    fn directories_come_first_and_broken_files_are_reported_by_id() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write(a.path(), "one/profile.yaml", &profile_yaml("one", "from a"));
        write(b.path(), "one.profile.yaml", &profile_yaml("one", "from b"));
        write(b.path(), "two.profile.yaml", &profile_yaml("two", "from b"));
        write(b.path(), "broken.profile.yaml", "id: [");
        write(b.path(), "not-a-profile.yaml", "services: {}");
        let catalog = Catalog::load_from(&[a.path().into(), b.path().into()]);
        assert_eq!(catalog.get("one").unwrap().description, "from a");
        assert_eq!(catalog.get("two").unwrap().description, "from b");
        let err = catalog.get("broken").unwrap_err().to_string();
        assert!(err.contains("broken.profile.yaml:1"), "{err}");
        assert_eq!(catalog.problems().count(), 1);
    }

    #[test]
    fn shipped_files_are_regular_files_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret", "root:hash");
        let with_files = |name: &str, file: &str| {
            format!("{}files: [{file}]\n", profile_yaml(name, "ships a file"))
        };
        write(
            dir.path(),
            "good/profile.yaml",
            &with_files("good", "compose.yaml"),
        );
        write(dir.path(), "good/compose.yaml", "services: {}\n");
        write(
            dir.path(),
            "link/profile.yaml",
            &with_files("link", "compose.yaml"),
        );
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            dir.path().join("link/compose.yaml"),
        )
        .unwrap();
        write(
            dir.path(),
            "dirlink/profile.yaml",
            &with_files("dirlink", "sub/secret"),
        );
        std::os::unix::fs::symlink(outside.path(), dir.path().join("dirlink/sub")).unwrap();
        let catalog = Catalog::load_from(&[dir.path().into()]);
        assert!(catalog.get("good").is_ok());
        for name in ["link", "dirlink"] {
            let err = catalog.get(name).unwrap_err().to_string();
            assert!(err.contains("files[0]"), "{err}");
            assert!(err.contains("not a regular file inside"), "{err}");
            assert!(!err.contains("root:hash"), "{err}");
        }
    }

    #[test]
    fn oversized_and_deeply_nested_profiles_are_refused_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let huge = format!("{}\n", profile_yaml("huge", &"x".repeat(3 * 1024 * 1024)));
        write(dir.path(), "huge.profile.yaml", &huge);
        let deep = format!(
            "{}spec: {{a: {}{}}}\n",
            profile_yaml("deep", "deep"),
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        write(dir.path(), "deep.profile.yaml", &deep);
        let catalog = Catalog::load_from(&[dir.path().into()]);
        let err = catalog.get("huge").unwrap_err().to_string();
        assert!(err.contains("huge.profile.yaml: (document):"), "{err}");
        assert!(err.contains("larger than the 1024 KiB"), "{err}");
        let err = catalog.get("deep").unwrap_err().to_string();
        assert!(err.contains("deep.profile.yaml:6: (document):"), "{err}");
        assert!(err.contains("nested 100002 deep"), "{err}");
    }

    #[test]
    fn unknown_profiles_get_a_did_you_mean() {
        let catalog = Catalog::load_from(&[]);
        let err = catalog
            .get("profile.sandbox-canry")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("did you mean \"profile.sandbox-canary\"?"),
            "{err}"
        );
    }
}
