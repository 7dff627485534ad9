//! Test support shared by the workspace's integration tests: where the built
//! binaries are, and `TestEnv`, a throwaway sandboxer installation (state file,
//! profile folder, extension folder, fixture backend) in a temporary directory.

use std::path::{Path, PathBuf};

/// The folder holding the workspace's built binaries (`target/debug` when
/// testing a debug build).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let mut dir = exe.parent().expect("exe has a folder").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// A binary built by this workspace. `make test` (and `cargo test --workspace`)
/// build them all before tests run.
pub fn bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

/// The fixture extension.
pub fn fixture_ext() -> PathBuf {
    bin("sandboxer-ext-fixture")
}

/// A profile for the fixture extension, as YAML.
pub fn fixture_profile(name: &str, ttl_default: &str, ttl_max: &str) -> String {
    format!(
        "id: profile.{name}\nversion: 1\ndescription: Fixture sandbox for tests.\n\
         extension: ext.fixture\nttl:\n  default: {ttl_default}\n  max: {ttl_max}\n\
         labels:\n  suite: tests\ncost:\n  per_hour: 0.6\nspec:\n  rate_per_hour: 0.6\n"
    )
}

/// A throwaway installation: everything lives in one temporary directory.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// Creates the folders, links the fixture extension in, and writes
    /// `profile.fix` (TTL 1h, max 2h).
    pub fn new() -> TestEnv {
        let env = TestEnv {
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        for sub in ["ext", "profiles", "fixture-state", "config", "home"] {
            std::fs::create_dir_all(env.path(sub)).unwrap();
        }
        env.install_extension("fixture", &fixture_ext());
        env.write_profile("fix", &fixture_profile("fix", "1h", "2h"));
        std::fs::write(env.config_path(), "").unwrap();
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn state_path(&self) -> PathBuf {
        self.path("state.sqlite")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config/config.yaml")
    }

    pub fn ext_dir(&self) -> PathBuf {
        self.path("ext")
    }

    /// Makes `executable` available as extension `name`.
    pub fn install_extension(&self, name: &str, executable: &Path) {
        let link = self.ext_dir().join(format!("sandboxer-ext-{name}"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(executable, link).unwrap();
    }

    /// Writes `<profiles>/<name>.profile.yaml`.
    pub fn write_profile(&self, name: &str, yaml: &str) {
        std::fs::write(self.path(&format!("profiles/{name}.profile.yaml")), yaml).unwrap();
    }

    /// Environment every command of this installation runs with.
    pub fn vars(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("SANDBOXER_STATE", self.state_path()),
            ("SANDBOXER_CONFIG", self.config_path()),
            ("SANDBOXER_EXTENSION_PATH", self.ext_dir()),
            ("SANDBOXER_PROFILE_PATH", self.path("profiles")),
            ("FIXTURE_STATE_DIR", self.path("fixture-state")),
            ("HOME", self.path("home")),
            ("XDG_STATE_HOME", self.path("home/state")),
            ("XDG_CONFIG_HOME", self.path("home/config")),
        ]
    }

    /// `executable` as an assert_cmd command in this installation, without the
    /// caller's sandboxer variables leaking in.
    pub fn command(&self, executable: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(executable);
        for var in [
            "SANDBOXER_CONSUMER",
            "SANDBOXER_PROJECT",
            "SANDBOXER_LOG",
            "FIXTURE_FAULT",
            "SANDBOXER_SERVER",
            "SANDBOXER_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(self.vars()).current_dir(self.dir.path());
        cmd
    }

    /// The fixture backend's record of a sandbox, if it still has one.
    pub fn fixture_record(&self, id: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.path(&format!("fixture-state/{id}.json"))).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The minimal extension written in Python (`tests/python/sandboxer-ext-minimal`).
pub fn python_minimal_ext() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/sandboxer-ext-minimal")
}
