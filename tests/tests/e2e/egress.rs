//! Egress policy: a container in a `deny` sandbox cannot open a TCP connection to a
//! listener outside the sandbox, one in an `allow` sandbox can. The listener stands
//! in a network namespace this test makes (a veth pair with addresses of its own):
//! no traffic goes anywhere but loopback and this test host.

use super::support::E2e;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A network namespace with a veth pair and an HTTP listener inside, removed on drop.
struct TestHost {
    ns: String,
    veth: String,
    address: String,
    listener: Child,
}

fn ip(args: &[&str]) {
    sandboxer_tests::run_ok(Command::new("ip").args(args));
}

impl TestHost {
    fn start() -> TestHost {
        let n = std::process::id() % 200 + 20;
        let ns = format!("sbxeg{}", std::process::id());
        let veth = format!("veg{}", std::process::id() % 100_000);
        let (host_ip, ns_ip) = (format!("10.213.{n}.1"), format!("10.213.{n}.2"));
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        ip(&["netns", "add", &ns]);
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth-test", "netns", &ns,
        ]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &veth]);
        ip(&["link", "set", &veth, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            "eth-test",
        ]);
        ip(&["-n", &ns, "link", "set", "eth-test", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let listener = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "busybox",
                "httpd",
                "-f",
                "-p",
                &format!("{ns_ip}:8080"),
                "-h",
                "/etc",
            ])
            .spawn()
            .unwrap();
        let host = TestHost {
            ns,
            veth,
            address: ns_ip,
            listener,
        };
        // The listener answers from the root namespace through the veth pair.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect_timeout(
            &format!("{}:8080", host.address).parse().unwrap(),
            Duration::from_millis(200),
        )
        .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the test host's listener never came up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        host
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = self.listener.kill();
        let _ = self.listener.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn write_profile(e2e: &E2e, name: &str, egress: &str) {
    e2e.sleeper_profile(
        name,
        &format!(
            "extension: ext.compose-ssh\nttl: {{default: 1h, max: 2h}}\n\
             network: {{egress: {egress}}}\nspec: {{compose_file: compose.yaml}}\n"
        ),
    );
}

/// Tries a TCP connection from inside the sandbox to the test host; returns the
/// command's exit code and what it printed.
fn connect_from(e2e: &E2e, id: &str, address: &str) -> (i64, String) {
    let script = format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} 8080");
    let out = e2e.json(&["exec", id, "--timeout", "20s", "--", "sh", "-c", &script]);
    let text = format!(
        "{}{}",
        out["stdout"].as_str().unwrap(),
        out["stderr"].as_str().unwrap()
    );
    (out["exit_code"].as_i64().unwrap(), text)
}

#[test]
fn deny_has_no_route_out_while_allow_reaches_the_test_host() {
    let e2e = E2e::new();
    let host = TestHost::start();
    write_profile(&e2e, "egress-allow", "allow");
    write_profile(&e2e, "egress-deny", "deny");
    let allow = e2e.create("egress-allow", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deny = e2e.create("egress-deny", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (code, text) = connect_from(&e2e, &allow, &host.address);
    assert_eq!(
        code, 0,
        "the allow sandbox must reach the test host: {text}"
    );
    assert!(text.contains("HTTP/1.") && text.contains("200"), "{text}");

    let (code, text) = connect_from(&e2e, &deny, &host.address);
    assert_ne!(code, 0, "the deny sandbox reached the test host: {text}");
    assert!(!text.contains("200 OK"), "{text}");

    e2e.json(&["destroy", &allow]);
    e2e.json(&["destroy", &deny]);
}

#[test]
fn inspect_says_compose_ssh_enforces_egress_and_limits_natively() {
    let e2e = E2e::new();
    let report = e2e.json(&["inspect", "--profile", "sandbox-canary"]);
    let compose = &report["candidates"][0];
    assert_eq!(compose["extension"], "ext.compose-ssh");
    let support = |g: &str| {
        compose["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["guarantee"] == g)
            .unwrap()["support"]
            .clone()
    };
    assert_eq!(support("egress"), "native", "{report}");
    assert_eq!(support("resources.cpus"), "native");
    assert_eq!(support("resources.memory_mb"), "native");
    assert_eq!(support("snapshots"), "native");
    assert_eq!(support("ttl"), "emulated");
}
