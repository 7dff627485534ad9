//! Leases: which daemon runs the fleet's loops (the reaper, the reconciler,
//! pool refills, host sampling). A lease has one holder until it expires; the
//! holder renews it well before then, and when the holder dies another daemon
//! takes it over at expiry. On a file there is usually one daemon, which
//! takes it at once.

use super::db::args;
use super::{Store, StoreResult};
use crate::time::Millis;

/// Who holds a lease, since when, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    /// When this holder took it (renewals keep it).
    pub since: Millis,
    pub expires_at: Millis,
}

impl Store {
    /// Takes lease `name` for `holder` until `now + hold_ms` if it is free,
    /// expired or already `holder`'s (a renewal): whether `holder` holds it now.
    pub fn take_lease(
        &mut self,
        name: &str,
        holder: &str,
        now: Millis,
        hold_ms: i64,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let current = tx.query_opt(
                "SELECT holder, expires_at FROM leases WHERE name = ?1",
                args![name],
                |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
            )?;
            match current {
                Some((other, expires_at)) if other != holder && expires_at > now => Ok(false),
                Some((previous, _)) => {
                    tx.execute(
                        "UPDATE leases SET holder = ?2, expires_at = ?3, \
                         since = CASE WHEN holder = ?2 THEN since ELSE ?4 END WHERE name = ?1",
                        args![name, holder, now + hold_ms, now],
                    )?;
                    if previous != holder {
                        tracing::info!(lease = name, from = %previous, to = holder, "lease taken over");
                    }
                    Ok(true)
                }
                None => {
                    tx.execute(
                        "INSERT INTO leases (name, holder, since, expires_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                        args![name, holder, now, now + hold_ms],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    /// Gives lease `name` up, if `holder` holds it (a daemon stopping).
    pub fn release_lease(&mut self, name: &str, holder: &str) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                args![name, holder],
            )?;
            Ok(())
        })
    }

    /// Who holds lease `name`, if anybody ever took it.
    pub fn lease(&self, name: &str) -> StoreResult<Option<LeaseHolder>> {
        self.conn().query_opt(
            "SELECT holder, since, expires_at FROM leases WHERE name = ?1",
            args![name],
            |r| {
                Ok(LeaseHolder {
                    holder: r.get(0)?,
                    since: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            },
        )
    }
}
