//! An installation that uses compose-ssh on the loopback ssh host, with a project
//! and a host folder of its own, cleaned up (by label) when the test ends.

use assert_cmd::Command;
use sandboxer_tests::{TestEnv, bin, loopback};
use serde_json::Value;
use std::path::{Path, PathBuf};
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
        self.env.sandboxer(args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        self.env.json(args)
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
        // Whatever a test left behind, by this test's project label, here and on
        // every test host (snapshot images carry the label too: a commit keeps
        // the container's labels).
        let script = "f=\"label=sandboxer.project=$1\"; \
            podman ps -aq --filter \"$f\" | xargs -r podman rm -f -t 0 >/dev/null 2>&1; \
            podman network ls -q --filter \"$f\" | xargs -r podman network rm -f >/dev/null 2>&1; \
            podman volume ls -q --filter \"$f\" | xargs -r podman volume rm -f >/dev/null 2>&1; \
            podman images -q --filter \"$f\" | sort -u | xargs -r podman rmi -f >/dev/null 2>&1";
        for host in [None, Some(1), Some(2), Some(3)] {
            let mut cmd = std::process::Command::new("sh");
            cmd.args(["-c", script, "sh", &self.project]);
            if let Some(n) = host {
                if !Path::new(&format!("{TEST_HOSTS}/h{n}/storage.conf")).exists() {
                    continue;
                }
                on_test_host(&mut cmd, n);
            }
            let _ = cmd.status();
        }
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

/// Where `scripts/test-hosts.sh` keeps the test hosts h1, h2, h3.
pub const TEST_HOSTS: &str = "/var/lib/sandboxer/test-hosts";

/// Runs `scripts/test-hosts.sh ARGS` (`stop-sshd h2`, `start-sshd h2`).
pub fn test_hosts(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-hosts.sh");
    let status = std::process::Command::new(script)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "test-hosts.sh {args:?}");
}

/// Makes `cmd`'s podman use test host `n`'s own storage, as its sshd does.
pub fn on_test_host(cmd: &mut std::process::Command, n: u8) {
    let dir = format!("{TEST_HOSTS}/h{n}");
    cmd.env("CONTAINERS_STORAGE_CONF", format!("{dir}/storage.conf"))
        .env("CONTAINERS_CONF", format!("{dir}/containers.conf"));
}

/// A compose-ssh host entry for test host `n`, keeping sandboxes under
/// `workdir/hN`, with `extra` fields (`capacity: 2, labels: {...}`) if any.
pub fn test_host_yaml(n: u8, workdir: &Path, extra: &str) -> String {
    format!(
        "{{name: h{n}, address: 10.215.{n}.2, port: 22, user: root, identity: {}, \
         known_hosts: {TEST_HOSTS}/known_hosts, workdir: {}/h{n}, \
         podman_socket: /run/sandboxer-test-hosts/h{n}/podman.sock{}{extra}}}",
        loopback::identity().display(),
        workdir.display(),
        if extra.is_empty() { "" } else { ", " }
    )
}

/// How many podman objects of `kind` (`ps -a`, `network ls`, `volume ls`) carry
/// `label`.
pub fn podman_count(kind: &str, label: &str) -> usize {
    let mut args: Vec<&str> = kind.split(' ').collect();
    args.extend(["-q", "--filter"]);
    let filter = format!("label={label}");
    args.push(&filter);
    let out = sandboxer_tests::run_ok(std::process::Command::new("podman").args(&args));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

/// GETs a URL with a plain TCP request; returns the body.
pub fn http_get(url: &str) -> String {
    let (head, body) = http_request("GET", url, None);
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body
}

/// Sends `method` with an optional JSON body over a plain TCP request;
/// returns the response's head and body.
pub fn http_request(method: &str, url: &str, json: Option<&Value>) -> (String, String) {
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
    let body = json.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

/// A free port on loopback (bound and let go; the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the stand-in `tests/standins/<script>` under the tests' Python with
/// `args`, and waits for its `listening on` line; it is killed on drop.
pub fn start_standin(script: &str, args: &[&str]) -> sandboxer_tests::process::KillOnDrop {
    use std::io::BufRead;
    let here = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut standin = std::process::Command::new(sandboxer_tests::mcp_client::PYTHON)
        .arg(here.join("standins").join(script))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = standin.stdout.take().unwrap();
    let process = sandboxer_tests::process::KillOnDrop(standin);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{script}: {line}");
    process
}

/// Runs the conformance kit on `extension` with `params` (`{options,
/// profile}`), written to a file in `dir`; panics if any check fails, or if one
/// of `must_pass` did not pass (was skipped). Answers the report.
pub fn kit_passes(
    dir: &std::path::Path,
    extension: &std::path::Path,
    params: &Value,
    must_pass: &[&str],
) -> Value {
    let file = dir.join("kit-params.json");
    std::fs::write(&file, params.to_string()).unwrap();
    let out = std::process::Command::new(sandboxer_tests::bin("sandboxer-conformance"))
        .arg("run")
        .arg(extension)
        .args(["--format", "json", "--params"])
        .arg(&file)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checks = report["checks"].as_array().unwrap();
    let with = |status: &str| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c["status"] == status)
            .map(|c| format!("{}: {}", c["id"], c["message"]))
            .collect()
    };
    assert!(with("fail").is_empty(), "{:#?}", with("fail"));
    // For the record of a run (`--no-capture`): what it checked, what it skipped.
    eprintln!(
        "kit on {}: {} passed, skipped: {:#?}",
        extension.display(),
        with("pass").len(),
        with("skip")
    );
    assert_eq!(out.status.code(), Some(0));
    for id in must_pass {
        let check = checks
            .iter()
            .find(|c| c["id"] == *id)
            .unwrap_or_else(|| panic!("{id} in {report}"));
        assert_eq!(check["status"], "pass", "{check}");
    }
    report
}
