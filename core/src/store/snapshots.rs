//! Snapshots as recorded: which sandbox, which extension, who asked, when, and
//! whether deleted. The backend holds the data; the store holds the account.

use super::amounts::Amount;
use super::db::{Row, args};
use super::{Store, StoreResult};
use crate::time::Millis;
use sandboxer_ext_protocol::JsonObject;
use serde::{Deserialize, Serialize};

/// Serialized with RFC 3339 times (the API's and `--json`'s form), and read back
/// from it (the CLI's remote mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The extension's snapshot id.
    pub id: String,
    pub extension: String,
    pub sandbox_id: String,
    pub name: String,
    pub profile_id: String,
    pub consumer: String,
    pub project: String,
    #[serde(with = "super::times::rfc3339_time")]
    pub created_at: Millis,
    #[serde(with = "super::times::optional_rfc3339_time", default)]
    pub deleted_at: Option<Millis>,
    pub details: JsonObject,
    /// What keeping it costs (the profile's `cost.snapshot_per_hour`).
    #[serde(default)]
    pub cost_per_hour: rust_decimal::Decimal,
    #[serde(default = "usd")]
    pub currency: String,
    /// Where its data is kept (the source sandbox's host).
    #[serde(default)]
    pub host: Option<String>,
}

fn usd() -> String {
    "USD".into()
}

const COLUMNS: &str = "id, extension, sandbox_id, name, profile_id, consumer, project, \
    created_at, deleted_at, details, cost_per_hour, currency, host";

fn from_row(row: &Row<'_>) -> StoreResult<SnapshotRecord> {
    let details: String = row.get(9)?;
    Ok(SnapshotRecord {
        id: row.get(0)?,
        extension: row.get(1)?,
        sandbox_id: row.get(2)?,
        name: row.get(3)?,
        profile_id: row.get(4)?,
        consumer: row.get(5)?,
        project: row.get(6)?,
        created_at: row.get(7)?,
        deleted_at: row.get(8)?,
        details: serde_json::from_str(&details).unwrap_or_default(),
        cost_per_hour: row.get::<Amount>(10)?.0,
        currency: row.get(11)?,
        host: row.get(12)?,
    })
}

impl Store {
    /// Records a snapshot (again: a repeated snapshot with the same id keeps the
    /// first record).
    pub fn insert_snapshot(&mut self, s: &SnapshotRecord) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO snapshots (id, extension, sandbox_id, name, profile_id, \
                 consumer, project, created_at, details, cost_per_hour, currency, host) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT DO NOTHING",
                args![
                    s.id,
                    s.extension,
                    s.sandbox_id,
                    s.name,
                    s.profile_id,
                    s.consumer,
                    s.project,
                    s.created_at,
                    serde_json::Value::Object(s.details.clone()).to_string(),
                    Amount(s.cost_per_hour),
                    s.currency,
                    s.host,
                ],
            )?;
            Ok(())
        })
    }

    /// The snapshot with this id, deleted or not.
    pub fn get_snapshot(&self, id: &str) -> StoreResult<Option<SnapshotRecord>> {
        self.conn().query_opt(
            &format!("SELECT {COLUMNS} FROM snapshots WHERE id = ?1 ORDER BY created_at LIMIT 1"),
            args![id],
            from_row,
        )
    }

    /// Snapshots not deleted, of one project or all, oldest first.
    pub fn list_snapshots(&self, project: Option<&str>) -> StoreResult<Vec<SnapshotRecord>> {
        self.conn().query(
            &format!(
                "SELECT {COLUMNS} FROM snapshots WHERE deleted_at IS NULL \
                 AND (CAST(?1 AS TEXT) IS NULL OR project = ?1) ORDER BY created_at, id"
            ),
            args![project],
            from_row,
        )
    }

    /// Snapshots, deleted or not, that existed at some time in `[since, until)`.
    pub fn snapshots_between(
        &self,
        since: Option<Millis>,
        until: Option<Millis>,
    ) -> StoreResult<Vec<SnapshotRecord>> {
        self.conn().query(
            &format!(
                "SELECT {COLUMNS} FROM snapshots \
                 WHERE (CAST(?1 AS BIGINT) IS NULL OR deleted_at IS NULL OR deleted_at > ?1) \
                 AND (CAST(?2 AS BIGINT) IS NULL OR created_at < ?2) ORDER BY created_at, id"
            ),
            args![since, until],
            from_row,
        )
    }

    pub fn mark_snapshot_deleted(
        &mut self,
        extension: &str,
        id: &str,
        at: Millis,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE snapshots SET deleted_at = ?3 WHERE extension = ?1 AND id = ?2 AND deleted_at IS NULL",
                args![extension, id, at],
            )?;
            Ok(())
        })
    }
}
