//! The daemon's background loops: the TTL reaper, the reconciler (which also samples
//! host health), refilling warm pools, and stopping idle extensions. Each pass is an `operations`
//! function, which the CLI also runs one-shot (`reap-stale`, `inspect --fix`,
//! `hosts`). The first three are the fleet's: they run on the one daemon that
//! holds the `loops` lease (`lease.rs`); stopping idle extensions is each
//! daemon's own.

use super::LoopCounters;
use super::lease::Leadership;
use sandboxer_core::operations::{self, Core};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long host health samples and canary runs are kept.
const TELEMETRY_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// After a claim, the pools are refilled once claims have paused this long...
const CLAIMS_QUIET: Duration = Duration::from_millis(200);
/// ...or this long after the first claim, whichever comes first.
const CLAIMS_LONGEST: Duration = Duration::from_secs(1);

/// Handles of the running loops, and the lease they run under.
pub struct Loops {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    leadership: Arc<Leadership>,
    core: Arc<Core>,
}

impl Loops {
    /// Stops them, and gives the lease up for another daemon to take at once.
    pub fn abort(self) {
        for h in self.tasks {
            h.abort();
        }
        self.leadership.release(&self.core);
    }
}

/// Returns once `claims` has not been notified for `quiet`, or `longest` after
/// it was called.
async fn claims_settled(claims: &Notify, quiet: Duration, longest: Duration) {
    let deadline = tokio::time::Instant::now() + longest;
    loop {
        tokio::select! {
            _ = claims.notified() => {}
            _ = tokio::time::sleep(quiet) => return,
            _ = tokio::time::sleep_until(deadline) => return,
        }
    }
}

pub fn start(core: Arc<Core>, counters: Arc<LoopCounters>) -> Loops {
    let config = core.config.daemon.clone();
    let leadership = Arc::new(Leadership::new(config.loops_lease));
    // Taken (or found held) before the loops' first passes.
    leadership.renew(&core);
    let keeper = leadership.clone().keep(core.clone());
    let reaper = {
        let (core, counters, leadership) = (core.clone(), counters.clone(), leadership.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.reaper_interval);
            loop {
                tick.tick().await;
                if !leadership.held() {
                    continue;
                }
                operations::reap_expired(&core, &counters).await;
            }
        })
    };
    let reconciler = {
        let (core, counters, leadership) = (core.clone(), counters, leadership.clone());
        tokio::spawn(async move {
            let mut state = operations::ReconcileState::default();
            let mut tick = tokio::time::interval(config.reconcile_interval);
            loop {
                tick.tick().await;
                if !leadership.held() {
                    // What it noted belongs to the pass of whoever holds it.
                    state = operations::ReconcileState::default();
                    continue;
                }
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
        let (core, leadership) = (core.clone(), leadership.clone());
        tokio::spawn(async move {
            // At start, after claims, and at least every reaper interval
            // (expired pooled sandboxes are reaped and made again). A burst of
            // claims is served first: the creates of a refill would compete
            // with the claimed sandboxes' first commands.
            loop {
                if leadership.held()
                    && let Err(e) = operations::refill(&core).await
                {
                    tracing::warn!("refilling warm pools: {e}");
                }
                tokio::select! {
                    _ = core.pool_claimed.notified() => {
                        claims_settled(&core.pool_claimed, CLAIMS_QUIET, CLAIMS_LONGEST).await;
                    }
                    _ = tokio::time::sleep(config.reaper_interval) => {}
                }
            }
        })
    };
    let idle = tokio::spawn({
        let core = core.clone();
        async move {
            let mut tick = tokio::time::interval(config.extension_idle / 2);
            loop {
                tick.tick().await;
                if let Some(resident) = core.resident_extensions() {
                    resident.stop_idle(config.extension_idle).await;
                }
            }
        }
    });
    Loops {
        tasks: vec![keeper, reaper, reconciler, pools, idle],
        leadership,
        core,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_refill_waits_for_claims_to_pause() {
        let claims = Arc::new(Notify::new());
        let notifier = claims.clone();
        // A claim every 100 ms, five times: the wait ends 200 ms after the last.
        tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                notifier.notify_one();
            }
        });
        let started = Instant::now();
        claims_settled(&claims, Duration::from_millis(200), Duration::from_secs(1)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn claims_that_never_pause_hold_a_refill_back_no_longer_than_the_longest_wait() {
        let claims = Arc::new(Notify::new());
        let notifier = claims.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                notifier.notify_one();
            }
        });
        let started = Instant::now();
        claims_settled(&claims, Duration::from_millis(200), Duration::from_secs(1)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
