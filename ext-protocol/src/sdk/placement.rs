//! Placement for extensions that spread sandboxes over several hosts (compose-ssh,
//! vm-packer's relay): which configured host a new sandbox goes to when the
//! request names none. Hosts that carry the profile's placement labels, answer, and have room
//! are ranked by headroom — free sandbox slots (capacity less the sandboxes there
//! and the creates in flight), bounded by free memory over what one sandbox needs —
//! then by a clearly lower load, then by the order of the configuration. A host that does not
//! answer is skipped and marked, and not asked again for a while.

use crate::errors::{ErrorKind, ErrorObject};
use crate::messages::HostHealth;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a host that did not answer is passed over without asking it again.
pub const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

/// How much lower a host's load must be to win a tie on headroom: less is noise
/// (load averages move in steps, and two hosts are asked moments apart).
pub const LOAD_MARGIN: f64 = 0.5;

/// Memory one sandbox is counted as needing when its profile asks for none.
pub const DEFAULT_SANDBOX_MB: u64 = 256;

/// One host as placement sees it: its configuration and what it answered.
#[derive(Debug, Clone)]
pub struct Observed {
    pub name: String,
    pub capacity: Option<u32>,
    pub health: HostHealth,
    /// Creates this process has started there and not finished.
    pub in_flight: u32,
}

/// Why a host was not chosen, or how much room it has.
#[derive(Debug, Clone, PartialEq)]
pub enum Fit {
    Room { slots: u64 },
    Unreachable(String),
    Full(String),
}

impl Observed {
    /// The free slots for a sandbox needing `memory_mb`, or why there are none.
    pub fn fit(&self, memory_mb: u64) -> Fit {
        let h = &self.health;
        if !h.reachable || h.error.is_some() {
            return Fit::Unreachable(h.error.clone().unwrap_or_else(|| "no answer".into()));
        }
        let used = h.sandboxes.unwrap_or(0) + u64::from(self.in_flight);
        let by_count = self.capacity.map(|c| u64::from(c).saturating_sub(used));
        let by_memory = h.mem_free_mb.map(|free| free / memory_mb.max(1));
        let slots = match (by_count, by_memory) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => u64::MAX,
        };
        if slots > 0 {
            return Fit::Room { slots };
        }
        Fit::Full(match (by_count, self.capacity) {
            (Some(0), Some(c)) => format!("{used} of capacity {c} in use"),
            _ => format!(
                "{} MiB free, a sandbox needs {memory_mb}",
                h.mem_free_mb.unwrap_or(0)
            ),
        })
    }
}

/// The host with the most headroom among `hosts` (in configuration order), or
/// why none will do: Unavailable when a host that could have had room did not
/// answer (it may come back), ResourceExhausted when every host is full.
/// The refusal when no configured host carries the labels a profile's placement
/// asks for.
pub fn no_host_with(labels: &BTreeMap<String, String>) -> ErrorObject {
    let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    ErrorObject::domain(
        ErrorKind::FailedPrecondition,
        format!(
            "no configured host has the labels {} the profile's placement asks for; \
             give a host those labels in the extension's `hosts` option",
            wanted.join(", ")
        ),
    )
}

/// The refusal of a host named for a profile whose placement asks for a label
/// `key=value` it lacks.
pub fn host_lacks(host: &str, key: &str, value: &str) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::FailedPrecondition,
        format!(
            "host {host} lacks the label {key}={value} the profile's placement asks for; \
             name a host with it, or none to let placement choose"
        ),
    )
}

pub fn choose(hosts: &[Observed], memory_mb: u64) -> Result<String, ErrorObject> {
    let mut best: Option<(&Observed, u64)> = None;
    let mut reasons = Vec::new();
    let mut unreachable = false;
    for host in hosts {
        match host.fit(memory_mb) {
            Fit::Room { slots } => {
                let better = match best {
                    None => true,
                    Some((b, b_slots)) => {
                        slots > b_slots
                            || (slots == b_slots
                                && host.health.load1.unwrap_or(0.0) + LOAD_MARGIN
                                    <= b.health.load1.unwrap_or(0.0))
                    }
                };
                if better {
                    best = Some((host, slots));
                }
            }
            Fit::Unreachable(why) => {
                unreachable = true;
                reasons.push(format!("{}: unreachable ({why})", host.name));
            }
            Fit::Full(why) => reasons.push(format!("{}: full ({why})", host.name)),
        }
    }
    if let Some((host, _)) = best {
        return Ok(host.name.clone());
    }
    let kind = if unreachable {
        ErrorKind::Unavailable
    } else {
        ErrorKind::ResourceExhausted
    };
    let remedy = if unreachable {
        "try again when the unreachable hosts answer"
    } else {
        "raise a host's capacity or destroy sandboxes there"
    };
    Err(ErrorObject::domain(
        kind,
        format!(
            "no host can take the sandbox: {} ({remedy})",
            reasons.join("; ")
        ),
    ))
}

/// What placement remembers of each host: marked unreachable (and when), and
/// the creates in flight on it.
#[derive(Debug, Default)]
pub struct HostState {
    unreachable: Mutex<BTreeMap<String, Instant>>,
    in_flight: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl HostState {
    /// Marks `host` as not answering (now).
    pub fn mark_unreachable(&self, host: &str) {
        self.unreachable
            .lock()
            .expect("placement marks poisoned")
            .insert(host.to_string(), Instant::now());
    }

    /// Forgets a mark: the host answered.
    pub fn mark_reachable(&self, host: &str) {
        self.unreachable
            .lock()
            .expect("placement marks poisoned")
            .remove(host);
    }

    /// Whether `host` was marked within `UNREACHABLE_FOR`.
    pub fn is_marked(&self, host: &str) -> bool {
        self.unreachable
            .lock()
            .expect("placement marks poisoned")
            .get(host)
            .is_some_and(|at| at.elapsed() < UNREACHABLE_FOR)
    }

    pub fn in_flight(&self, host: &str) -> u32 {
        let counts = self.in_flight.lock().expect("placement counts poisoned");
        counts.get(host).copied().unwrap_or(0)
    }

    /// Counts a create on `host` until the returned guard drops.
    pub fn reserve(&self, host: &str) -> Reservation {
        *self
            .in_flight
            .lock()
            .expect("placement counts poisoned")
            .entry(host.to_string())
            .or_default() += 1;
        Reservation {
            host: host.to_string(),
            counts: self.in_flight.clone(),
        }
    }
}

/// A create counted against its host while it runs.
#[derive(Debug)]
pub struct Reservation {
    host: String,
    counts: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock()
            && let Some(n) = counts.get_mut(&self.host)
        {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, capacity: Option<u32>, sandboxes: u64, mem: u64) -> Observed {
        Observed {
            name: name.into(),
            capacity,
            health: HostHealth {
                host: name.into(),
                reachable: true,
                load1: Some(0.5),
                mem_free_mb: Some(mem),
                disk_free_mb: None,
                sandboxes: Some(sandboxes),
                error: None,
                details: Default::default(),
            },
            in_flight: 0,
        }
    }

    #[test]
    fn the_host_with_most_free_slots_wins_and_ties_keep_configuration_order() {
        let hosts = [host("a", Some(4), 3, 9000), host("b", Some(4), 1, 9000)];
        assert_eq!(choose(&hosts, 256).unwrap(), "b");
        let even = [host("a", Some(4), 1, 9000), host("b", Some(4), 1, 9000)];
        assert_eq!(choose(&even, 256).unwrap(), "a");
        let mut busy = even.clone();
        busy[0].health.load1 = Some(3.0);
        assert_eq!(choose(&busy, 256).unwrap(), "b", "then the lighter load");
        busy[0].health.load1 = Some(0.8);
        assert_eq!(
            choose(&busy, 256).unwrap(),
            "a",
            "a load within the margin is a tie"
        );
    }

    #[test]
    fn creates_in_flight_and_memory_count_against_a_host() {
        let mut hosts = [host("a", Some(4), 0, 9000), host("b", Some(4), 1, 9000)];
        hosts[0].in_flight = 2;
        assert_eq!(choose(&hosts, 256).unwrap(), "b");
        let low = [host("a", None, 0, 1000), host("b", None, 0, 4000)];
        assert_eq!(choose(&low, 512).unwrap(), "b", "8 slots by memory beat 1");
        assert_eq!(
            low[0].fit(2000),
            Fit::Full("1000 MiB free, a sandbox needs 2000".into())
        );
    }

    #[test]
    fn none_fits_says_why_per_host_and_whether_to_retry() {
        let mut down = host("b", Some(4), 0, 9000);
        down.health.reachable = false;
        down.health.error = Some("connection refused".into());
        let full = host("a", Some(2), 2, 9000);
        let err = choose(&[full.clone(), down], 256).unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::Unavailable));
        assert!(
            err.message.contains("a: full (2 of capacity 2 in use)"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("b: unreachable (connection refused)"),
            "{}",
            err.message
        );
        let err = choose(&[full], 256).unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::ResourceExhausted));
    }

    #[test]
    fn a_reservation_counts_until_dropped() {
        let hosts = HostState::default();
        let r = hosts.reserve("a");
        let _s = hosts.reserve("a");
        assert_eq!(hosts.in_flight("a"), 2);
        drop(r);
        assert_eq!(hosts.in_flight("a"), 1);
        hosts.mark_unreachable("b");
        assert!(hosts.is_marked("b") && !hosts.is_marked("a"));
        hosts.mark_reachable("b");
        assert!(!hosts.is_marked("b"));
    }
}
