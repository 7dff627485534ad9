//! Usage records: one row per stretch of time a sandbox spent in a state, written
//! when it leaves that state. The ledger and billing export are built on them.

use super::amounts::Amount;
use super::db::{Conn, Param, args};
use super::records::SandboxRecord;
use super::{Store, StoreResult};
use crate::time::Millis;
use sandboxer_ext_protocol::Resources;
use serde::Serialize;

/// Time one sandbox spent in one state, with what it is charged to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRecord {
    pub sandbox_id: String,
    pub state: String,
    pub started_at: Millis,
    pub ended_at: Millis,
    pub consumer: String,
    pub project: String,
    pub profile_id: String,
    pub extension: String,
    pub host: Option<String>,
    pub cost_per_hour: rust_decimal::Decimal,
    pub currency: String,
    pub resources: Resources,
    /// Whether the stretch is charged: time in a billed state, except
    /// provisioning that never became ready.
    pub billed: bool,
}

impl UsageRecord {
    /// The stretch `record` is in now, as if it ended at `now`.
    pub fn open(record: &SandboxRecord, now: Millis) -> UsageRecord {
        UsageRecord {
            sandbox_id: record.id.clone(),
            state: record.state.as_str().to_string(),
            started_at: record.state_since,
            ended_at: now.max(record.state_since),
            consumer: record.consumer.clone(),
            project: record.project.clone(),
            profile_id: record.profile_id.clone(),
            extension: record.extension.clone(),
            host: record.host.clone(),
            cost_per_hour: record.cost_per_hour,
            currency: record.currency.clone(),
            resources: record.resources.clone(),
            billed: record.state.is_billed(),
        }
    }

    pub fn seconds(&self) -> f64 {
        (self.ended_at - self.started_at) as f64 / 1000.0
    }
}

/// Writes the usage of the state `record` is leaving at `now`, and returns how
/// much of it is charged (ms). `ready` says whether the sandbox is (or has been)
/// ready: provisioning is charged only when it ended in a usable sandbox, so a
/// create that never became ready costs nothing.
pub(super) fn insert_usage(
    tx: Conn<'_>,
    record: &SandboxRecord,
    now: Millis,
    ready: bool,
) -> StoreResult<Millis> {
    let mut u = UsageRecord::open(record, now);
    if record.state == crate::lifecycle::State::Provisioning && !ready {
        u.billed = false;
    }
    tx.execute(
        "INSERT INTO usage (sandbox_id, state, started_at, ended_at, consumer, project, \
         profile_id, extension, host, cost_per_hour, currency, resources, billed) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        args![
            u.sandbox_id,
            u.state,
            u.started_at,
            u.ended_at,
            u.consumer,
            u.project,
            u.profile_id,
            u.extension,
            u.host,
            Amount(u.cost_per_hour),
            u.currency,
            serde_json::to_string(&u.resources).expect("plain data serializes"),
            u.billed,
        ],
    )?;
    Ok(if u.billed {
        u.ended_at - u.started_at
    } else {
        0
    })
}

impl Store {
    /// Usage records of one sandbox, or of all when `sandbox_id` is `None`.
    pub fn usage(&self, sandbox_id: Option<&str>) -> StoreResult<Vec<UsageRecord>> {
        self.usage_where(
            "CAST(?1 AS TEXT) IS NULL OR sandbox_id = ?1",
            args![sandbox_id],
        )
    }

    /// Usage records overlapping `[since, until)` (open ends when `None`).
    pub fn usage_between(
        &self,
        since: Option<Millis>,
        until: Option<Millis>,
    ) -> StoreResult<Vec<UsageRecord>> {
        self.usage_where(
            "(CAST(?1 AS BIGINT) IS NULL OR ended_at > ?1) AND (CAST(?2 AS BIGINT) IS NULL OR started_at < ?2)",
            args![since, until],
        )
    }

    fn usage_where(&self, condition: &str, args: &[Param<'_>]) -> StoreResult<Vec<UsageRecord>> {
        let sql = format!(
            "SELECT sandbox_id, state, started_at, ended_at, consumer, project, profile_id, \
             extension, host, cost_per_hour, currency, resources, billed FROM usage \
             WHERE {condition} ORDER BY id"
        );
        self.conn().query(&sql, args, |row| {
            Ok(UsageRecord {
                sandbox_id: row.get(0)?,
                state: row.get(1)?,
                started_at: row.get(2)?,
                ended_at: row.get(3)?,
                consumer: row.get(4)?,
                project: row.get(5)?,
                profile_id: row.get(6)?,
                extension: row.get(7)?,
                host: row.get(8)?,
                cost_per_hour: row.get::<Amount>(9)?.0,
                currency: row.get(10)?,
                resources: {
                    let text: String = row.get(11)?;
                    serde_json::from_str(&text).unwrap_or_default()
                },
                billed: row.get(12)?,
            })
        })
    }
}
