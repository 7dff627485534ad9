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

/// The fixture extension. Its file is named `sandboxer-test-ext-fixture`, not
/// `sandboxer-ext-fixture`, so that a user's discovery never finds it beside the
/// `sandboxer` binary; a `TestEnv` links it in as `sandboxer-ext-fixture`.
pub fn fixture_ext() -> PathBuf {
    bin("sandboxer-test-ext-fixture")
}

/// The fault-injecting relay in front of the fixture (for the kit's tests).
pub fn faulty_ext() -> PathBuf {
    bin("sandboxer-test-ext-faulty")
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
            (
                "SANDBOXER_EXT_FIXTURE_STATE_DIR",
                self.path("fixture-state"),
            ),
            ("HOME", self.path("home")),
            ("XDG_STATE_HOME", self.path("home/state")),
            ("XDG_CONFIG_HOME", self.path("home/config")),
        ]
    }

    /// `executable` as an assert_cmd command in this installation, without the
    /// caller's sandboxer variables leaking in.
    pub fn command(&self, executable: &Path) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.process(executable))
    }

    /// `sandboxer ARGS` in this installation, given at most five minutes.
    pub fn sandboxer(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.command(&bin("sandboxer"));
        cmd.args(args).timeout(std::time::Duration::from_secs(300));
        cmd
    }

    /// `sandboxer --json ARGS`, which must succeed: its output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        // First: after `--`, `--json` would be part of an exec's argv.
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.sandboxer(&all).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    /// The same as a plain process, for tests that spawn it and act while it runs.
    pub fn process(&self, executable: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(executable);
        for var in [
            "SANDBOXER_CONSUMER",
            "SANDBOXER_PROJECT",
            "SANDBOXER_LOG",
            "SANDBOXER_EXT_FIXTURE_FAULT",
            "SANDBOXER_SERVER",
            "SANDBOXER_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(self.vars()).current_dir(self.dir.path());
        cmd
    }

    /// The state file with its `-wal` and `-shm`, as text (lossy): what a test
    /// searches for a value that must never be stored.
    pub fn state_files_text(&self) -> String {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", self.state_path().display());
            bytes.extend(std::fs::read(path).unwrap_or_default());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The fixture backend's record of a sandbox, if it still has one.
    pub fn fixture_record(&self, id: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.path(&format!("fixture-state/{id}.json"))).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The extension processes `parent` started (its children whose command line
/// names a `sandboxer-ext-` executable), read from /proc.
pub fn extension_children(parent: u32) -> Vec<u32> {
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains("sandboxer-ext-") {
            out.push(pid);
        }
    }
    out
}

/// The minimal extension written in Python (`tests/python/sandboxer-ext-minimal`).
pub fn python_minimal_ext() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/sandboxer-ext-minimal")
}

/// The official `mcp` client, driven by `tests/python/mcp_drive.py` in the
/// Python that `scripts/python-env.sh` makes (`make tools`).
/// Running a pytest suite with the test Python, and reading its report.
pub mod pytest {
    use std::process::Command;

    /// Runs the suite at `path` (`-rA`, so each test's outcome is a line),
    /// `configure`d with its environment, and answers the report; panics with
    /// it when a test failed or any was skipped.
    pub fn run(path: &std::path::Path, configure: impl FnOnce(&mut Command)) -> String {
        let mut command = Command::new(super::mcp_client::PYTHON);
        command.args(["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"]);
        command.arg(path);
        configure(&mut command);
        let out = command.output().expect("pytest starts");
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "the tests failed:\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(report.contains(" passed"), "{report}");
        assert!(!report.contains("skipped"), "{report}");
        report
    }

    /// Panics unless each of `tests` is a PASSED line of `report`.
    pub fn assert_passed(report: &str, tests: &[&str]) {
        for test in tests {
            assert!(
                report
                    .lines()
                    .any(|l| l.starts_with("PASSED") && l.ends_with(&format!("::{test}"))),
                "{test} did not pass:\n{report}"
            );
        }
    }
}

pub mod mcp_client {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    pub const PYTHON: &str = "/var/lib/sandboxer/py/bin/python";

    /// Runs `plan` (see the driver's header) with `envs` set, and answers each
    /// step's result; panics with the driver's stderr if it fails.
    pub fn drive(
        plan: &serde_json::Value,
        envs: &[(&'static str, PathBuf)],
    ) -> Vec<serde_json::Value> {
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is missing: run `make tools` (scripts/python-env.sh)"
        );
        let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/mcp_drive.py");
        let mut child = Command::new(PYTHON)
            .arg(driver)
            .envs(envs.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the MCP driver starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plan.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the MCP driver failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the MCP driver's answer: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// The loopback ssh host `scripts/setup-host.sh` prepares: sshd on 127.0.0.1:2222
/// with a key and known-hosts file under /var/lib/sandboxer/ssh.
pub mod loopback {
    use std::path::{Path, PathBuf};

    pub const SSH_DIR: &str = "/var/lib/sandboxer/ssh";
    pub const PORT: u16 = 2222;

    /// Panics with what to run when the host was not prepared.
    pub fn require() {
        let key = Path::new(SSH_DIR).join("id_ed25519");
        assert!(
            key.exists(),
            "{} is missing: run scripts/setup-host.sh as root first (make test does)",
            key.display()
        );
    }

    pub fn identity() -> PathBuf {
        Path::new(SSH_DIR).join("id_ed25519")
    }

    pub fn known_hosts() -> PathBuf {
        Path::new(SSH_DIR).join("known_hosts")
    }

    /// A compose-ssh host entry (YAML flow mapping) for the loopback sshd, keeping
    /// sandboxes under `workdir`.
    pub fn host_yaml(name: &str, workdir: &Path) -> String {
        format!(
            "{{name: {name}, address: 127.0.0.1, port: {PORT}, user: root, identity: {}, \
             known_hosts: {}, workdir: {}}}",
            identity().display(),
            known_hosts().display(),
            workdir.display()
        )
    }
}

/// The test hosts `scripts/test-hosts.sh` makes (h1–h3, 10.215.N.2): network
/// namespaces of this machine, each with its own sshd, sharing its files.
pub mod test_hosts {
    use std::path::Path;

    pub const KNOWN_HOSTS: &str = "/var/lib/sandboxer/test-hosts/known_hosts";

    /// Test host `n`'s address, and this machine's address on its link.
    pub fn address(n: u8) -> String {
        format!("10.215.{n}.2")
    }

    pub fn gateway(n: u8) -> String {
        format!("10.215.{n}.1")
    }

    /// A vm-packer relay host entry (YAML flow mapping) for test host `n`: the
    /// built extension started there over ssh, its machines under `state_dir`
    /// (which must be under /var/lib/sandboxer-vm for QEMU's account), `extra`
    /// fields (`capacity: 1`) if any.
    pub fn vm_host_yaml(n: u8, state_dir: &Path, extra: &str) -> String {
        format!(
            "{{name: h{n}, address: {}, user: root, identity: {}, known_hosts: {KNOWN_HOSTS}, \
             command: {}, options: {{state_dir: {}}}{}{extra}}}",
            address(n),
            super::loopback::identity().display(),
            super::bin("sandboxer-ext-vm-packer").display(),
            state_dir.display(),
            if extra.is_empty() { "" } else { ", " }
        )
    }
}

/// A bare protocol session with an extension: spawn it with `--stdio`, send
/// requests, read answers. For tests that must talk to an extension without the
/// core in between.
pub mod session {
    use serde_json::{Value, json};
    use std::io::{BufRead, BufReader, Write};
    use std::path::Path;
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

    pub struct Session {
        child: Child,
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
        next_id: i64,
    }

    impl Session {
        /// Starts `executable --stdio` and does the handshake with `options`.
        pub fn start(executable: &Path, options: Value) -> Session {
            let mut child = Command::new(executable)
                .arg("--stdio")
                .env("SANDBOXER_PROTOCOL", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("extension starts");
            let stdin = child.stdin.take().unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            let mut session = Session {
                child,
                stdin,
                stdout,
                next_id: 0,
            };
            let init = session.call(
                "initialize",
                json!({"protocol_version": "1.0", "host": {"name": "test", "version": "0"},
                       "options": options}),
            );
            assert!(init.get("result").is_some(), "handshake failed: {init}");
            session.notify("initialized", json!({}));
            session
        }

        pub fn notify(&mut self, method: &str, params: Value) {
            let line = json!({"jsonrpc": "2.0", "method": method, "params": params});
            writeln!(self.stdin, "{line}").unwrap();
        }

        /// Sends a request and returns its answer (skipping notifications).
        pub fn call(&mut self, method: &str, params: Value) -> Value {
            self.next_id += 1;
            let id = self.next_id;
            let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            writeln!(self.stdin, "{line}").unwrap();
            loop {
                let mut text = String::new();
                let n = self.stdout.read_line(&mut text).unwrap();
                assert!(n > 0, "extension closed stdout while {method} was pending");
                let msg: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("non-JSON on stdout: {text:?}: {e}"));
                if msg.get("id") == Some(&json!(id)) {
                    return msg;
                }
            }
        }

        /// The `result` of a call that must succeed.
        pub fn ok(&mut self, method: &str, params: Value) -> Value {
            let answer = self.call(method, params);
            answer
                .get("result")
                .cloned()
                .unwrap_or_else(|| panic!("{method} failed: {answer}"))
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the benchmarks (`tests/benches`) share: an installation on the loopback
/// host, timing whole commands.
pub mod bench {
    use super::{TestEnv, bin, loopback};
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// A throwaway installation whose compose-ssh uses the loopback host of
    /// `scripts/setup-host.sh`, keeping sandboxes under its own folder.
    pub fn loopback_env() -> TestEnv {
        loopback::require();
        env_on(|env| loopback::host_yaml("loopback", &env.path("host-sandboxes")))
    }

    /// A throwaway installation whose compose-ssh uses its `local` host: this
    /// machine's podman, run without ssh.
    pub fn local_env() -> TestEnv {
        loopback::require();
        env_on(|env| {
            format!(
                "{{name: local, workdir: {}}}",
                env.path("host-sandboxes").display()
            )
        })
    }

    /// An installation with compose-ssh and the one host `host_yaml` gives.
    fn env_on(host_yaml: impl Fn(&TestEnv) -> String) -> TestEnv {
        let env = TestEnv::new();
        env.install_extension("compose-ssh", &bin("sandboxer-ext-compose-ssh"));
        std::fs::write(
            env.config_path(),
            format!(
                "extensions:\n  compose-ssh:\n    options:\n      control_dir: {}\n      hosts:\n        - {}\n",
                env.path("ctl").display(),
                host_yaml(&env)
            ),
        )
        .unwrap();
        env
    }

    /// `sandboxer ARGS` in `env`, as a plain command.
    pub fn sandboxer(env: &TestEnv, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("sandboxer"));
        cmd.args(args).envs(env.vars());
        cmd
    }

    pub fn median(samples: &mut [Duration]) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    pub fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    /// Runs `cmd`, which must succeed; returns how long it took and its stdout.
    pub fn run(cmd: &mut Command) -> (Duration, String) {
        let started = Instant::now();
        let out = super::run_ok(cmd);
        (
            started.elapsed(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

/// Panics unless `out` is a success, saying `what` ran and what it wrote on
/// stderr.
pub fn assert_succeeded(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd`, which must succeed (else the test fails with the command and
/// its stderr), and returns its output.
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    assert_succeeded(&out, &format!("{cmd:?}"));
    out
}

/// Child processes a test starts and must not outlive it.
pub mod process {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    /// A child killed (and reaped) when the test ends, passed or not.
    pub struct KillOnDrop(pub Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A running `sandboxer serve` and the URL it said it listens on.
    pub struct Served {
        pub process: KillOnDrop,
        pub url: String,
    }

    impl Served {
        pub fn id(&self) -> u32 {
            self.process.0.id()
        }
    }

    /// Runs `sandboxer` (as `cmd`, with its environment and stderr chosen by the
    /// caller) as `serve --listen 127.0.0.1:0` and waits for the line naming its
    /// URL.
    pub fn serve(mut cmd: Command) -> Served {
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("sandboxer serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the daemon's first line");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            url.starts_with("http://"),
            "the daemon did not say where it listens: {line:?}"
        );
        Served {
            process: KillOnDrop(child),
            url,
        }
    }
}
