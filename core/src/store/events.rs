//! The append-only event log: every state transition and every other thing that
//! happens to a sandbox, with its time, actor and detail. SQLite triggers refuse
//! updates and deletes of events.

use super::db::{Conn, Dialect, Param, Row, args, column};
use super::{Store, StoreResult};
use crate::lifecycle::State;
use crate::time::Millis;
use serde::Serialize;
use std::borrow::Cow;

/// The advisory lock every PostgreSQL transaction that appends events holds
/// from its first event to its commit: sequence numbers are then given out in
/// commit order, so a reader following the log by sequence never passes over
/// an event another daemon is about to commit with a lower number.
const APPENDING_EVENTS: i64 = 0x5eed_0002;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A lifecycle transition (`from_state` → `to_state`).
    State,
    /// The expiry moved.
    TtlExtended,
    /// The sandbox was replaced by a new one.
    Recreated,
    /// A call to the extension failed; the state did not change.
    ExtensionError,
    /// The reaper tried to destroy an expired sandbox.
    ReapAttempt,
    /// The reconciler found labelled resources without a record.
    OrphanFound,
    /// The reconciler destroyed an orphan after its grace period.
    OrphanReaped,
    /// A snapshot of the sandbox was taken.
    SnapshotTaken,
    /// A snapshot of the sandbox was deleted.
    SnapshotDeleted,
    /// The sandbox expires soon (`lifetimes.warn_before`).
    ExpiryWarning,
    /// A budget covering the sandbox ran out; its policy was applied.
    BudgetExhausted,
    /// One try of a create on one of the profile's candidate extensions.
    CreateAttempt,
    /// A consumer took the sandbox from a warm pool.
    Claimed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::TtlExtended => "ttl_extended",
            EventKind::Recreated => "recreated",
            EventKind::ExtensionError => "extension_error",
            EventKind::ReapAttempt => "reap_attempt",
            EventKind::OrphanFound => "orphan_found",
            EventKind::OrphanReaped => "orphan_reaped",
            EventKind::SnapshotTaken => "snapshot_taken",
            EventKind::SnapshotDeleted => "snapshot_deleted",
            EventKind::ExpiryWarning => "expiry_warning",
            EventKind::BudgetExhausted => "budget_exhausted",
            EventKind::CreateAttempt => "create_attempt",
            EventKind::Claimed => "claimed",
        }
    }

    fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::State,
            EventKind::TtlExtended,
            EventKind::Recreated,
            EventKind::ExtensionError,
            EventKind::ReapAttempt,
            EventKind::OrphanFound,
            EventKind::OrphanReaped,
            EventKind::SnapshotTaken,
            EventKind::SnapshotDeleted,
            EventKind::ExpiryWarning,
            EventKind::BudgetExhausted,
            EventKind::CreateAttempt,
            EventKind::Claimed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Event {
    pub seq: i64,
    pub sandbox_id: String,
    #[serde(with = "super::times::rfc3339_time")]
    pub at: Millis,
    /// The consumer that caused it, or `system`.
    pub actor: String,
    pub kind: EventKind,
    pub from_state: Option<State>,
    pub to_state: Option<State>,
    pub detail: serde_json::Value,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub sandbox_id: Option<String>,
    /// Only sandboxes of this project.
    pub project: Option<String>,
    /// Only events after this sequence number.
    pub after_seq: Option<i64>,
    pub limit: Option<u32>,
    /// Only the newest this many of those matching (still in order).
    pub tail: Option<u32>,
}

fn from_row(row: &Row<'_>) -> StoreResult<Event> {
    let conversion = |idx: usize, msg: String| column(idx, msg);
    let kind: String = row.get(4)?;
    let state = |idx: usize| -> StoreResult<Option<State>> {
        let text: Option<String> = row.get(idx)?;
        text.map(|t| t.parse().map_err(|e| conversion(idx, e)))
            .transpose()
    };
    let detail: String = row.get(7)?;
    Ok(Event {
        seq: row.get(0)?,
        sandbox_id: row.get(1)?,
        at: row.get(2)?,
        actor: row.get(3)?,
        kind: EventKind::parse(&kind).ok_or_else(|| conversion(4, format!("kind {kind:?}")))?,
        from_state: state(5)?,
        to_state: state(6)?,
        detail: serde_json::from_str(&detail).map_err(|e| conversion(7, e.to_string()))?,
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn insert_event(
    tx: Conn<'_>,
    sandbox_id: &str,
    at: Millis,
    actor: &str,
    kind: EventKind,
    from: Option<State>,
    to: Option<State>,
    detail: serde_json::Value,
) -> StoreResult<Event> {
    if tx.dialect() == Dialect::Postgres {
        tx.query(
            "SELECT pg_advisory_xact_lock(?1)",
            args![APPENDING_EVENTS],
            |_| Ok(()),
        )?;
    }
    let seq = tx.query_one(
        "INSERT INTO events (sandbox_id, at, actor, kind, from_state, to_state, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING seq",
        args![
            sandbox_id,
            at,
            actor,
            kind.as_str(),
            from.map(State::as_str),
            to.map(State::as_str),
            detail.to_string(),
        ],
        |r| r.get::<i64>(0),
    )?;
    Ok(Event {
        seq,
        sandbox_id: sandbox_id.into(),
        at,
        actor: actor.into(),
        kind,
        from_state: from,
        to_state: to,
        detail,
    })
}

impl Store {
    /// Appends an event that is not a transition.
    pub fn record_event(
        &mut self,
        sandbox_id: &str,
        actor: &str,
        kind: EventKind,
        detail: serde_json::Value,
    ) -> StoreResult<Event> {
        self.write(|tx| {
            insert_event(
                tx,
                sandbox_id,
                crate::time::now_ms(),
                actor,
                kind,
                None,
                None,
                detail.clone(),
            )
        })
    }

    /// Events matching `filter`, in order.
    pub fn events(&self, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        let mut sql = String::from(
            "SELECT e.seq, e.sandbox_id, e.at, e.actor, e.kind, e.from_state, e.to_state, \
             e.detail FROM events e",
        );
        let mut args: Vec<Param<'_>> = Vec::new();
        if filter.project.is_some() {
            sql += " JOIN sandboxes s ON s.id = e.sandbox_id";
        }
        sql += " WHERE e.seq > ?1";
        args.push(Param::Int(filter.after_seq.unwrap_or(0)));
        if let Some(id) = &filter.sandbox_id {
            args.push(Param::Text(Cow::Borrowed(id)));
            sql += &format!(" AND e.sandbox_id = ?{}", args.len());
        }
        if let Some(project) = &filter.project {
            args.push(Param::Text(Cow::Borrowed(project)));
            sql += &format!(" AND s.project = ?{}", args.len());
        }
        match filter.tail {
            Some(tail) => {
                sql = format!(
                    "SELECT * FROM ({sql} ORDER BY e.seq DESC LIMIT {tail}) t ORDER BY seq"
                );
            }
            None => {
                sql += " ORDER BY e.seq";
                if let Some(limit) = filter.limit {
                    sql += &format!(" LIMIT {limit}");
                }
            }
        }
        self.conn().query(&sql, &args, from_row)
    }
}
