//! The daemon's background loops: the TTL reaper, the reconciler (which also samples
//! host health), refilling warm pools, and stopping idle extensions. Each pass is an `operations`
//! function, which the CLI also runs one-shot (`reap-stale`, `inspect --fix`,
//! `hosts`).

use super::LoopCounters;
use sandboxer_core::operations::{self, Core};
use std::sync::Arc;

/// How long host health samples and canary runs are kept.
const TELEMETRY_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// Handles of the running loops.
pub struct Loops(Vec<tokio::task::JoinHandle<()>>);

impl Loops {
    pub fn abort(self) {
        for h in self.0 {
            h.abort();
        }
    }
}

pub fn start(core: Arc<Core>, counters: Arc<LoopCounters>) -> Loops {
    let config = core.config.daemon.clone();
    let reaper = {
        let (core, counters) = (core.clone(), counters.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.reaper_interval);
            loop {
                tick.tick().await;
                operations::reap_expired(&core, &counters).await;
            }
        })
    };
    let reconciler = {
        let (core, counters) = (core.clone(), counters);
        tokio::spawn(async move {
            let mut state = operations::ReconcileState::default();
            let mut tick = tokio::time::interval(config.reconcile_interval);
            loop {
                tick.tick().await;
                if let Err(e) = operations::reconcile(&core, &counters, &mut state).await {
                    tracing::warn!("reconcile: {e}");
                }
                // Host health over time: one sample per pass, a week kept.
                operations::sample_hosts(&core).await;
                let week_ago = sandboxer_core::time::now_ms() - TELEMETRY_KEPT_MS;
                if let Err(e) = core.store().prune_telemetry(week_ago) {
                    tracing::warn!("pruning telemetry: {e}");
                }
            }
        })
    };
    let pools = {
        let core = core.clone();
        tokio::spawn(async move {
            // At start, after every claim, and at least every reaper interval
            // (expired pooled sandboxes are reaped and made again).
            loop {
                if let Err(e) = operations::refill(&core).await {
                    tracing::warn!("refilling warm pools: {e}");
                }
                tokio::select! {
                    _ = core.pool_claimed.notified() => {}
                    _ = tokio::time::sleep(config.reaper_interval) => {}
                }
            }
        })
    };
    let idle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.extension_idle / 2);
        loop {
            tick.tick().await;
            if let Some(resident) = core.resident_extensions() {
                resident.stop_idle(config.extension_idle).await;
            }
        }
    });
    Loops(vec![reaper, reconciler, pools, idle])
}
