//! Recovery and the invariants every fault test ends with.

use super::support::E2e;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where a host keeps its podman objects: this machine's storage, or a test
/// host's own (`scripts/test-hosts.sh`).
#[derive(Clone, Copy)]
pub enum Storage {
    Machine,
    TestHost(u8),
}

impl Storage {
    /// The ids (`sandboxer.id`) of podman objects of `kind` carrying `label`.
    fn ids(self, kind: &[&str], label: &str) -> Vec<String> {
        let mut cmd = Command::new("podman");
        if let Storage::TestHost(n) = self {
            super::support::on_test_host(&mut cmd, n);
        }
        cmd.args(kind)
            .args(["--filter", &format!("label={label}"), "--format", "json"]);
        let out = sandboxer_tests::run_ok(&mut cmd);
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        // Containers and volumes say `Labels`, networks `labels`.
        listed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("Labels").or_else(|| o.get("labels")))
            .filter_map(|l| l.get("sandboxer.id").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    }

    /// Every `sandboxer.id` with a container, network or volume here.
    pub fn holders(self, label: &str) -> Vec<String> {
        let mut ids = self.ids(&["ps", "-a"], label);
        ids.extend(self.ids(&["network", "ls"], label));
        ids.extend(self.ids(&["volume", "ls"], label));
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Writes `profile.fault`, the one-service profile every fault test creates.
pub fn fault_profile(e2e: &E2e) {
    e2e.sleeper_profile(
        "fault",
        "extension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\nnetwork: {egress: allow}\n\
         spec: {compose_file: compose.yaml}\n",
    );
}

/// `create` of `profile.fault` in the test's project, waiting for ready.
pub fn create_args(e2e: &E2e) -> Vec<String> {
    [
        "create",
        "--profile",
        "fault",
        "--consumer",
        "atm:e2e",
        "--project",
        &e2e.project,
        "--wait",
    ]
    .map(str::to_string)
    .to_vec()
}

pub fn records(e2e: &E2e) -> Vec<Value> {
    e2e.json(&["list", "--all"]).as_array().unwrap().clone()
}

/// Once the backend is quiet (see `wait_until_quiet`), one reconcile pass, then
/// `reap-stale` until no sandbox is destroying or expired (failed destroys are
/// retried with backoff), within `bound`.
pub fn recover(e2e: &E2e, bound: Duration) {
    let deadline = Instant::now() + bound;
    let ids: Vec<String> = records(e2e)
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    wait_until_quiet(&ids, deadline);
    e2e.json(&["inspect", "--fix"]);
    loop {
        e2e.sandboxer(&["reap-stale"]).assert().success();
        let pending: Vec<Value> = records(e2e)
            .into_iter()
            .filter(|r| r["state"] == "destroying" || r["state"] == "expired")
            .collect();
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "destroys still not done after {bound:?}: {pending:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until no process names one of `ids` on its command line. An extension
/// killed mid-create leaves its ssh session and the podman-compose it started
/// running as orphans; they may still add containers after a reconcile pass
/// that ran too early. The daemon reconciles periodically and would reap them
/// later; a test that reconciles once waits for them to end first.
fn wait_until_quiet(ids: &[String], deadline: Instant) {
    let own = std::process::id().to_string();
    loop {
        let busy: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy() != own)
            // conmon watches a container for as long as it lives.
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() != "conmon")
            })
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| ids.iter().any(|id| c.contains(id.as_str())))
            .collect();
        if busy.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes of these sandboxes still run: {busy:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The invariants after recovery, for the sandboxes of this test's project on
/// `storage`: every labelled podman object belongs to a record that is still
/// live; every ready or active record has its containers; every failed record
/// says why; nothing is left destroying.
pub fn assert_consistent(e2e: &E2e, storage: Storage) {
    let records = records(e2e);
    let label = format!("sandboxer.project={}", e2e.project);
    for id in storage.holders(&label) {
        let record = records
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("podman objects of {id} have no record"));
        let state = record["state"].as_str().unwrap();
        assert!(
            !matches!(state, "destroyed" | "failed"),
            "{id} is recorded {state} but still has podman objects"
        );
    }
    let held = storage.holders(&label);
    for r in &records {
        let id = r["id"].as_str().unwrap();
        match r["state"].as_str().unwrap() {
            "ready" | "active" => assert!(
                held.iter().any(|h| h == id),
                "{id} is {} but has nothing on the backend",
                r["state"]
            ),
            "failed" => assert!(
                r["last_error"].as_str().is_some_and(|e| !e.is_empty()),
                "{id} failed without saying why: {r}"
            ),
            "destroying" | "expired" => panic!("{id} is still {}", r["state"]),
            _ => {}
        }
    }
}

/// Pids of the processes whose parent is `parent`, with their names.
pub fn children_of(parent: u32) -> Vec<(i32, String)> {
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = tail
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            let comm = head
                .split_once('(')
                .map(|(_, c)| c)
                .unwrap_or("")
                .to_string();
            out.push((pid, comm));
        }
    }
    out
}

/// SIGKILL to the extension process the sandboxer process `cli` started, if it
/// runs; says whether one was killed.
pub fn kill_extension_of(cli: u32) -> bool {
    let mut killed = false;
    for (pid, comm) in children_of(cli) {
        if comm.starts_with("sandboxer-ext") {
            // SAFETY: a signal to a process of this test's own tree.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
    }
    killed
}

/// A small deterministic generator (xorshift), seeded per test and printed, so
/// a failing sequence of kill points can be replayed.
pub struct Points(u64);

impl Points {
    pub fn new(name: &str) -> Points {
        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("{name}: FAULT_SEED={seed}");
        Points(seed)
    }

    /// A duration in `0..max_ms` milliseconds.
    pub fn below(&mut self, max_ms: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(self.0 % max_ms)
    }
}
