//! Counts of calls to extensions, their errors and latencies, for the daemon's
//! `/metrics`. Process-wide: every `ExtensionClient` records here.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
pub const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0];

#[derive(Debug, Clone, Default)]
pub struct CallStats {
    pub calls: u64,
    pub errors: u64,
    /// Cumulative counts per bucket of `BUCKETS`.
    pub buckets: [u64; BUCKETS.len()],
    pub sum_seconds: f64,
}

static STATS: Mutex<BTreeMap<(String, String), CallStats>> = Mutex::new(BTreeMap::new());

/// Records one call of `method` on `extension`.
pub fn record(extension: &str, method: &str, took: Duration, ok: bool) {
    let mut stats = STATS.lock().unwrap_or_else(|p| p.into_inner());
    let entry = stats
        .entry((extension.to_string(), method.to_string()))
        .or_default();
    entry.calls += 1;
    if !ok {
        entry.errors += 1;
    }
    let secs = took.as_secs_f64();
    entry.sum_seconds += secs;
    for (i, bound) in BUCKETS.iter().enumerate() {
        if secs <= *bound {
            entry.buckets[i] += 1;
        }
    }
}

/// Every (extension, method) seen so far.
pub fn snapshot() -> Vec<((String, String), CallStats)> {
    let stats = STATS.lock().unwrap_or_else(|p| p.into_inner());
    stats.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
