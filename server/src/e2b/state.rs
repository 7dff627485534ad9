//! What the E2B API keeps in the daemon's memory, never in the store: each
//! sandbox's process numbers (E2B names processes by pid, sandboxer by exec
//! id), the environment a sandbox was created with (`envVars` may hold
//! secrets, which never touch SQLite), and the open directory watchers.

use sandboxer_e2b::envd::{EntryInfo, ProcessConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// One process the API has named.
#[derive(Debug, Clone)]
pub struct Process {
    pub exec_id: String,
    pub config: ProcessConfig,
    pub tag: Option<String>,
    pub pty: bool,
}

/// A sandbox's processes by pid.
#[derive(Debug, Default)]
struct Pids {
    by_pid: BTreeMap<u32, Process>,
    next: u32,
}

/// A directory watcher (`CreateWatcher`): what the folder held at the last
/// look, by path.
#[derive(Debug, Clone)]
pub struct Watcher {
    pub sandbox_id: String,
    pub path: String,
    pub recursive: bool,
    pub include_entry: bool,
    pub seen: BTreeMap<String, EntryInfo>,
}

/// The E2B API's memory.
#[derive(Debug, Default)]
pub struct E2bState {
    pids: Mutex<HashMap<String, Pids>>,
    env: Mutex<HashMap<String, BTreeMap<String, String>>>,
    watchers: Mutex<HashMap<String, Watcher>>,
    /// Each key's create allowance (a token bucket): what is left, and when.
    creates: Mutex<HashMap<String, (f64, std::time::Instant)>>,
}

/// Where pids the sandbox did not report start: clear of a container's own.
const FIRST_OWN_PID: u32 = 1 << 22;

impl E2bState {
    /// Names `process` by its pid inside the sandbox when the backend reported
    /// one that is free, else by a number of ours.
    pub fn add_process(&self, sandbox_id: &str, reported: Option<u32>, process: Process) -> u32 {
        let mut all = self.pids.lock().expect("pids");
        let pids = all.entry(sandbox_id.to_string()).or_default();
        let pid = match reported {
            Some(pid) if pid != 0 && !pids.by_pid.contains_key(&pid) => pid,
            _ => {
                pids.next = pids.next.max(FIRST_OWN_PID);
                while pids.by_pid.contains_key(&pids.next) {
                    pids.next += 1;
                }
                pids.next
            }
        };
        pids.by_pid.insert(pid, process);
        pid
    }

    /// The process a pid or tag names.
    pub fn process(
        &self,
        sandbox_id: &str,
        pid: Option<u32>,
        tag: Option<&str>,
    ) -> Option<Process> {
        let all = self.pids.lock().expect("pids");
        let pids = all.get(sandbox_id)?;
        match (pid, tag) {
            (Some(pid), _) => pids.by_pid.get(&pid).cloned(),
            (None, Some(tag)) => pids
                .by_pid
                .values()
                .find(|p| p.tag.as_deref() == Some(tag))
                .cloned(),
            (None, None) => None,
        }
    }

    /// The pid of exec `exec_id`, naming it now if it has none yet (a command
    /// started through sandboxer's own API, or before a restart).
    pub fn pid_of(&self, sandbox_id: &str, exec_id: &str, argv: &[String]) -> (u32, Process) {
        {
            let all = self.pids.lock().expect("pids");
            if let Some(found) = all.get(sandbox_id).and_then(|pids| {
                pids.by_pid
                    .iter()
                    .find(|(_, p)| p.exec_id == exec_id)
                    .map(|(pid, p)| (*pid, p.clone()))
            }) {
                return found;
            }
        }
        let process = Process {
            exec_id: exec_id.to_string(),
            config: ProcessConfig {
                cmd: argv.first().cloned().unwrap_or_default(),
                args: argv.iter().skip(1).cloned().collect(),
                ..ProcessConfig::default()
            },
            tag: None,
            pty: false,
        };
        (self.add_process(sandbox_id, None, process.clone()), process)
    }

    /// Forgets a destroyed sandbox.
    pub fn forget(&self, sandbox_id: &str) {
        self.pids.lock().expect("pids").remove(sandbox_id);
        self.env.lock().expect("env").remove(sandbox_id);
        self.watchers
            .lock()
            .expect("watchers")
            .retain(|_, w| w.sandbox_id != sandbox_id);
    }

    pub fn set_env(&self, sandbox_id: &str, env: BTreeMap<String, String>) {
        self.env
            .lock()
            .expect("env")
            .insert(sandbox_id.to_string(), env);
    }

    /// The environment the sandbox was created with, if this daemon holds it.
    pub fn env(&self, sandbox_id: &str) -> Option<BTreeMap<String, String>> {
        self.env.lock().expect("env").get(sandbox_id).cloned()
    }

    /// Takes one of `key`'s creates, `per_minute` of them a minute (as many
    /// at once); `Err` holds how long until the next one.
    pub fn take_create(&self, key: &str, per_minute: u32) -> Result<(), std::time::Duration> {
        let now = std::time::Instant::now();
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let mut all = self.creates.lock().expect("creates");
        let (left, at) = all.entry(key.to_string()).or_insert((capacity, now));
        *left = (*left + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *left >= 1.0 {
            *left -= 1.0;
            Ok(())
        } else {
            Err(std::time::Duration::from_secs_f64(
                (1.0 - *left) / per_second,
            ))
        }
    }

    pub fn add_watcher(&self, id: String, watcher: Watcher) {
        self.watchers.lock().expect("watchers").insert(id, watcher);
    }

    pub fn watcher(&self, id: &str) -> Option<Watcher> {
        self.watchers.lock().expect("watchers").get(id).cloned()
    }

    pub fn update_watcher(&self, id: &str, seen: BTreeMap<String, EntryInfo>) {
        if let Some(w) = self.watchers.lock().expect("watchers").get_mut(id) {
            w.seen = seen;
        }
    }

    pub fn remove_watcher(&self, id: &str) -> Option<Watcher> {
        self.watchers.lock().expect("watchers").remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(exec_id: &str) -> Process {
        Process {
            exec_id: exec_id.into(),
            config: ProcessConfig::default(),
            tag: Some(format!("tag-{exec_id}")),
            pty: false,
        }
    }

    #[test]
    fn pids_are_the_sandboxes_own_unless_taken() {
        let state = E2bState::default();
        assert_eq!(state.add_process("s", Some(42), process("a")), 42);
        let second = state.add_process("s", Some(42), process("b"));
        assert_ne!(second, 42);
        assert_eq!(state.add_process("t", Some(42), process("c")), 42);
        assert_eq!(state.process("s", Some(second), None).unwrap().exec_id, "b");
        assert_eq!(
            state.process("s", None, Some("tag-a")).unwrap().exec_id,
            "a"
        );
        assert!(state.process("s", Some(7), None).is_none());
        assert!(state.process("u", Some(42), None).is_none());
    }

    #[test]
    fn creates_are_limited_per_key() {
        let state = E2bState::default();
        state.take_create("a", 2).unwrap();
        state.take_create("a", 2).unwrap();
        let wait = state.take_create("a", 2).unwrap_err();
        assert!(
            wait.as_secs_f64() > 29.0 && wait.as_secs_f64() <= 30.0,
            "{wait:?}"
        );
        state.take_create("b", 2).unwrap();
    }

    #[test]
    fn an_exec_started_elsewhere_gets_a_pid_once() {
        let state = E2bState::default();
        let (pid, p) = state.pid_of("s", "x1", &["sleep".into(), "9".into()]);
        assert_eq!(p.config.cmd, "sleep");
        assert_eq!(state.pid_of("s", "x1", &[]).0, pid);
        state.forget("s");
        assert!(state.process("s", Some(pid), None).is_none());
    }
}
