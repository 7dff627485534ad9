//! The daemon's background loops: the TTL reaper, the reconciler, and stopping idle
//! extensions. Each pass is an `operations::fleet` function, which the CLI also
//! runs one-shot (`reap-stale`).

use super::LoopCounters;
use crate::operations::{self, Core};
use std::sync::Arc;

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
            }
        })
    };
    let idle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.extension_idle / 2);
        loop {
            tick.tick().await;
            if let Some(pool) = core.pool() {
                pool.stop_idle(config.extension_idle).await;
            }
        }
    });
    Loops(vec![reaper, reconciler, idle])
}
