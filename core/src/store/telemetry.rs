//! Telemetry kept over time: each host's `host/health` samples and the canary
//! runs against it.

use super::db::args;
use super::{Store, StoreResult};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// One `host/health` answer for one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSample {
    #[serde(with = "super::times::rfc3339_time")]
    pub at: Millis,
    /// `ext.<name>`.
    pub extension: String,
    pub host: String,
    pub reachable: bool,
    pub load1: Option<f64>,
    pub mem_free_mb: Option<i64>,
    pub disk_free_mb: Option<i64>,
    pub sandboxes: Option<i64>,
    pub error: Option<String>,
}

/// One canary: a sandbox created on a host, checked, destroyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryRun {
    #[serde(with = "super::times::rfc3339_time")]
    pub at: Millis,
    pub extension: String,
    pub host: String,
    pub profile_id: String,
    pub sandbox_id: Option<String>,
    pub ok: bool,
    /// From asking to ready.
    pub create_ms: Option<i64>,
    /// The whole run, the destroy included.
    pub total_ms: i64,
    pub error: Option<String>,
}

impl Store {
    pub fn insert_health(&mut self, s: &HealthSample) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO host_health (at, extension, host, reachable, load1, mem_free_mb, \
             disk_free_mb, sandboxes, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            args![
                s.at,
                s.extension,
                s.host,
                s.reachable,
                s.load1,
                s.mem_free_mb,
                s.disk_free_mb,
                s.sandboxes,
                s.error
            ],
        )?;
        Ok(())
    }

    /// Samples since `since`, oldest first.
    pub fn health_since(&self, since: Millis) -> StoreResult<Vec<HealthSample>> {
        self.conn().query(
            "SELECT at, extension, host, reachable, load1, mem_free_mb, disk_free_mb, sandboxes, \
             error FROM host_health WHERE at >= ?1 ORDER BY at, id",
            args![since],
            |r| {
                Ok(HealthSample {
                    at: r.get(0)?,
                    extension: r.get(1)?,
                    host: r.get(2)?,
                    reachable: r.get(3)?,
                    load1: r.get(4)?,
                    mem_free_mb: r.get(5)?,
                    disk_free_mb: r.get(6)?,
                    sandboxes: r.get(7)?,
                    error: r.get(8)?,
                })
            },
        )
    }

    pub fn insert_canary(&mut self, c: &CanaryRun) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO canary_runs (at, extension, host, profile_id, sandbox_id, ok, \
             create_ms, total_ms, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            args![
                c.at,
                c.extension,
                c.host,
                c.profile_id,
                c.sandbox_id,
                c.ok,
                c.create_ms,
                c.total_ms,
                c.error
            ],
        )?;
        Ok(())
    }

    /// Canary runs since `since`, oldest first.
    pub fn canaries_since(&self, since: Millis) -> StoreResult<Vec<CanaryRun>> {
        self.conn().query(
            "SELECT at, extension, host, profile_id, sandbox_id, ok, create_ms, total_ms, error \
             FROM canary_runs WHERE at >= ?1 ORDER BY at, id",
            args![since],
            |r| {
                Ok(CanaryRun {
                    at: r.get(0)?,
                    extension: r.get(1)?,
                    host: r.get(2)?,
                    profile_id: r.get(3)?,
                    sandbox_id: r.get(4)?,
                    ok: r.get(5)?,
                    create_ms: r.get(6)?,
                    total_ms: r.get(7)?,
                    error: r.get(8)?,
                })
            },
        )
    }

    /// Drops samples and runs older than `before` (the daemon keeps a window).
    pub fn prune_telemetry(&mut self, before: Millis) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM host_health WHERE at < ?1", args![before])?;
            tx.execute("DELETE FROM canary_runs WHERE at < ?1", args![before])?;
            Ok(())
        })
    }
}
