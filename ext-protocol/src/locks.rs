//! One lock per sandbox id, so that calls for one sandbox never overlap while
//! calls for different sandboxes run freely — the host's rule for mutating
//! calls, and what an extension that runs calls concurrently needs too. The map holds only weak references:
//! a sandbox nobody is working on costs nothing, and the dead entries are
//! swept as the map grows, so it does not grow for the life of the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::OwnedMutexGuard;

/// Entries beyond this many trigger a sweep of the dead ones.
const SWEEP_ABOVE: usize = 1024;

#[derive(Default)]
pub struct SandboxLocks {
    locks: Mutex<BTreeMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl SandboxLocks {
    /// Holds `sandbox_id` until the guard is dropped.
    pub async fn lock(&self, sandbox_id: &str) -> OwnedMutexGuard<()> {
        self.of(sandbox_id).lock_owned().await
    }

    /// Holds `sandbox_id` if nobody else does.
    pub fn try_lock(&self, sandbox_id: &str) -> Option<OwnedMutexGuard<()>> {
        self.of(sandbox_id).try_lock_owned().ok()
    }

    fn of(&self, sandbox_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        // No step below can panic midway, so a poisoned map is still whole.
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > SWEEP_ABOVE {
            locks.retain(|_, weak| weak.strong_count() > 0);
        }
        match locks.get(sandbox_id).and_then(Weak::upgrade) {
            Some(lock) => lock,
            None => {
                let lock = Arc::new(tokio::sync::Mutex::new(()));
                locks.insert(sandbox_id.to_string(), Arc::downgrade(&lock));
                lock
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().expect("sandbox locks poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_sandbox_waits_for_itself_and_the_map_does_not_grow() {
        let locks = Arc::new(SandboxLocks::default());
        let held = locks.lock("a").await;
        let other = tokio::time::timeout(Duration::from_secs(1), locks.lock("b")).await;
        assert!(other.is_ok(), "another sandbox is not held up");
        let same = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.lock("a").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!same.is_finished(), "the same sandbox waits");
        assert!(locks.try_lock("a").is_none(), "try_lock does not wait");
        drop(held);
        same.await.unwrap();
        assert!(locks.try_lock("a").is_some());

        for n in 0..(SWEEP_ABOVE * 3) {
            drop(locks.lock(&format!("sandbox-{n}")).await);
        }
        assert!(
            locks.len() <= SWEEP_ABOVE + 1,
            "{} entries kept",
            locks.len()
        );
    }
}
