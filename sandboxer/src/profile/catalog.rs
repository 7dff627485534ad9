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
            let result = std::fs::read_to_string(&file)
                .map_err(|e| ProfileError::Io {
                    path: file.display().to_string(),
                    message: e.to_string(),
                })
                .and_then(|source| {
                    parse_profile(&source, Source::File(file.clone()), &name, |rel| {
                        std::fs::read_to_string(base.join(rel)).ok()
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
