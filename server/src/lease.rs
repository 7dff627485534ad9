//! Which daemon runs the fleet's loops: the one holding the `loops` lease in
//! the store. A keeper takes and renews it every third of its term; a loop
//! pass runs only while the lease is surely held (renewed less than two
//! thirds of a term ago), so when its daemon dies or stalls, another takes
//! the loops over at expiry without both running them at once.

use sandboxer_core::operations::Core;
use sandboxer_core::time::now_ms;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The lease the loops run under.
pub const LOOPS: &str = "loops";

/// This daemon's hold on the loops.
pub struct Leadership {
    /// This daemon, as the lease names it: host, process and a random part.
    pub holder: String,
    term: Duration,
    renewed: Mutex<Option<Instant>>,
}

impl Leadership {
    pub fn new(term: Duration) -> Leadership {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        Leadership {
            holder: format!(
                "{host}:{}:{}",
                std::process::id(),
                &sandboxer_core::ids::new_sandbox_id()[20..]
            ),
            term,
            renewed: Mutex::new(None),
        }
    }

    /// Whether this daemon surely holds the lease now.
    pub fn held(&self) -> bool {
        let renewed = *self.renewed.lock().unwrap_or_else(|p| p.into_inner());
        renewed.is_some_and(|at| at.elapsed() < self.term * 2 / 3)
    }

    /// Takes or renews the lease once: whether it is held.
    pub fn renew(&self, core: &Core) -> bool {
        let asked = Instant::now();
        let term_ms = i64::try_from(self.term.as_millis()).unwrap_or(i64::MAX);
        let taken = match core
            .store()
            .take_lease(LOOPS, &self.holder, now_ms(), term_ms)
        {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!("renewing the loops' lease: {e}");
                false
            }
        };
        let mut renewed = self.renewed.lock().unwrap_or_else(|p| p.into_inner());
        let was = renewed.is_some();
        *renewed = taken.then_some(asked);
        if taken != was {
            if taken {
                tracing::info!(holder = %self.holder, "this daemon runs the fleet's loops");
            } else {
                tracing::info!(holder = %self.holder, "another daemon runs the fleet's loops");
            }
        }
        taken
    }

    /// Keeps the lease taken and renewed until aborted, from a third of its
    /// term on (the caller takes it first).
    pub fn keep(self: Arc<Self>, core: Arc<Core>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.term / 3);
            // Its first tick is now: `loops::start` has just taken the lease.
            tick.tick().await;
            loop {
                tick.tick().await;
                self.renew(&core);
            }
        })
    }

    /// Gives the lease up (the daemon stopping): another takes it at once.
    pub fn release(&self, core: &Core) {
        if let Err(e) = core.store().release_lease(LOOPS, &self.holder) {
            tracing::warn!("releasing the loops' lease: {e}");
        }
        *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
