//! An installation that uses compose-ssh on the loopback ssh host, with a project
//! and a host folder of its own, cleaned up (by label) when the test ends.

use assert_cmd::Command;
use sandboxer_tests::{TestEnv, bin, loopback};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub struct E2e {
    pub env: TestEnv,
    /// The host folder holding this test's sandboxes.
    pub workdir: PathBuf,
    /// The project every sandbox of this test is charged to (used for cleanup).
    pub project: String,
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}-{nanos}", std::process::id())
}

impl E2e {
    pub fn new() -> E2e {
        loopback::require();
        let env = TestEnv::new();
        env.install_extension("compose-ssh", &bin("sandboxer-ext-compose-ssh"));
        let tag = unique();
        let workdir = PathBuf::from(format!("/var/lib/sandboxer/test-sandboxes/{tag}"));
        let e2e = E2e {
            env,
            workdir,
            project: format!("e2e-{tag}"),
        };
        e2e.configure(&[loopback::host_yaml("loopback", &e2e.workdir)]);
        e2e
    }

    /// Writes the configuration with these compose-ssh host entries.
    pub fn configure(&self, hosts: &[String]) {
        self.configure_with(hosts, "");
    }

    /// Writes the configuration with these hosts and `extra` top-level YAML.
    pub fn configure_with(&self, hosts: &[String], extra: &str) {
        let config = format!(
            "{extra}extensions:\n  compose-ssh:\n    options:\n      control_dir: {}\n      hosts:\n{}",
            self.env.path("ctl").display(),
            hosts
                .iter()
                .map(|h| format!("        - {h}\n"))
                .collect::<String>()
        );
        std::fs::write(self.env.config_path(), config).unwrap();
    }

    /// compose-ssh's options for this test's host, to speak to it directly.
    pub fn extension_options(&self) -> Value {
        serde_json::json!({
            "control_dir": self.env.path("ctl"),
            "hosts": [{
                "name": "loopback", "address": "127.0.0.1", "port": loopback::PORT, "user": "root",
                "identity": loopback::identity(), "known_hosts": loopback::known_hosts(),
                "workdir": self.workdir,
            }],
        })
    }

    /// Writes profile `name`: one busybox service that sleeps, and `profile_yaml`
    /// (the profile's own lines, without `id`, `version`, `files`) around it.
    pub fn sleeper_profile(&self, name: &str, profile_yaml: &str) {
        let dir = self.env.path(&format!("profiles/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("compose.yaml"),
            "services:\n  app:\n    image: localhost/sandboxer-busybox:latest\n    \
             command: [sleep, '3600']\n    stop_signal: SIGKILL\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("profile.yaml"),
            format!("id: profile.{name}\nversion: 1\nfiles: [compose.yaml]\n{profile_yaml}"),
        )
        .unwrap();
    }

    pub fn sandboxer(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.command(&bin("sandboxer"));
        cmd.args(args).timeout(Duration::from_secs(300));
        cmd
    }

    pub fn json(&self, args: &[&str]) -> Value {
        // First: after `--`, `--json` would be part of an exec's argv.
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.sandboxer(&all).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    /// Creates a sandbox of `profile` and waits until it is ready.
    pub fn create(&self, profile: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "create",
            "--profile",
            profile,
            "--consumer",
            "atm:e2e",
            "--project",
            &self.project,
            "--wait",
        ];
        args.extend_from_slice(extra);
        self.json(&args)
    }
}

impl Drop for E2e {
    fn drop(&mut self) {
        // Whatever a test left behind, by this test's project label (snapshot
        // images carry it too: a commit keeps the container's labels).
        let script = "f=\"label=sandboxer.project=$1\"; \
            podman ps -aq --filter \"$f\" | xargs -r podman rm -f -t 0 >/dev/null 2>&1; \
            podman network ls -q --filter \"$f\" | xargs -r podman network rm -f >/dev/null 2>&1; \
            podman volume ls -q --filter \"$f\" | xargs -r podman volume rm -f >/dev/null 2>&1; \
            podman images -q --filter \"$f\" | sort -u | xargs -r podman rmi -f >/dev/null 2>&1; \
            rm -rf -- \"$2\"";
        let _ = std::process::Command::new("sh")
            .args([
                "-c",
                script,
                "sh",
                &self.project,
                &self.workdir.display().to_string(),
            ])
            .status();
    }
}

/// How many podman objects of `kind` (`ps -a`, `network ls`, `volume ls`) carry
/// `label`.
pub fn podman_count(kind: &str, label: &str) -> usize {
    let mut args: Vec<&str> = kind.split(' ').collect();
    args.extend(["-q", "--filter"]);
    let filter = format!("label={label}");
    args.push(&filter);
    let out = std::process::Command::new("podman")
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

/// GETs a URL with a plain TCP request; returns the body.
pub fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http url");
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_string()
}
