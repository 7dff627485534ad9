//! SQL for sandbox rows: insert, transition (with its event and usage record in the
//! same transaction), expiry changes, lookups and filtered lists.

use super::amounts::Amount;
use super::db::{Conn, Dialect, Param, args};
use super::events::{EventKind, insert_event};
use super::records::{Change, NewSandbox, SandboxFilter, SandboxRecord};
use super::sandbox_row::{columns, from_row, state, view_of_row};
use super::usage::insert_usage;
use super::view::SandboxView;
use super::{Event, Store, StoreError, StoreResult};
use crate::lifecycle::{State, can_transition};
use crate::time::{Millis, now_ms};
use rust_decimal::Decimal;
use serde_json::json;
use std::borrow::Cow;

/// Which warm pool to take from: a profile at one version, on one host or any.
#[derive(Debug, Clone, Copy)]
pub struct Pooled<'a> {
    pub profile: &'a str,
    pub version: &'a str,
    pub host: Option<&'a str>,
}

/// How many sandboxes wait in a pool on one host at one profile version.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolCount {
    pub host: Option<String>,
    pub version: String,
    pub count: i64,
}

/// A pooled sandbox is handed out only with this long left before its expiry, so
/// the reaper never takes it from under its new owner.
const CLAIM_MARGIN_MS: i64 = 60_000;

/// The pooled sandboxes a claim may take: ready, of the profile's current version,
/// on the host asked for, not about to expire, at the rate the budget was checked
/// at (when given). Parameters: profile, version, host, expiry floor, rate.
/// (A parameter tested for NULL is cast: PostgreSQL cannot tell its type from
/// `IS NULL`.)
const CLAIMABLE: &str = "pool = ?1 AND profile_version = ?2 AND state = 'ready' \
    AND (CAST(?3 AS TEXT) IS NULL OR host = ?3) AND expires_at > ?4 \
    AND (CAST(?5 AS TEXT) IS NULL OR cost_per_hour = ?5)";

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

/// `SELECT <every column> FROM sandboxes WHERE id = ?1`, built once.
fn fetch_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("SELECT {} FROM sandboxes WHERE id = ?1", columns()))
}

/// An idempotency key as one project's consumer used it, with the fingerprint of
/// what it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub project: String,
    pub consumer: String,
    pub key: String,
    pub fingerprint: String,
}

/// What an earlier use of a key made, and what it asked for (`None` for keys
/// recorded before fingerprints were kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    pub sandbox_id: String,
    pub fingerprint: Option<String>,
}

fn key_use(conn: Conn<'_>, key: &IdempotencyKey) -> StoreResult<Option<KeyUse>> {
    conn.query_opt(
        "SELECT sandbox_id, fingerprint FROM idempotency_keys \
         WHERE project = ?1 AND consumer = ?2 AND key = ?3",
        args![key.project, key.consumer, key.key],
        |r| {
            Ok(KeyUse {
                sandbox_id: r.get(0)?,
                fingerprint: r.get(1)?,
            })
        },
    )
}

fn fetch(tx: Conn<'_>, id: &str) -> StoreResult<Option<SandboxRecord>> {
    tx.query_opt(fetch_sql(), args![id], from_row)
}

impl Store {
    /// Records the intent to create a sandbox (state `pending`) and its first event.
    pub fn insert_sandbox(&mut self, new: &NewSandbox, actor: &str) -> StoreResult<Event> {
        self.write(|tx| insert_new(tx, new, actor))
    }

    /// Like `insert_sandbox`, under an idempotency key: when the key was used
    /// before, nothing is inserted and the earlier use comes back.
    pub fn insert_sandbox_keyed(
        &mut self,
        new: &NewSandbox,
        actor: &str,
        key: &IdempotencyKey,
    ) -> StoreResult<Result<Event, KeyUse>> {
        self.write(|tx| {
            if let Some(earlier) = key_use(tx, key)? {
                return Ok(Err(earlier));
            }
            let event = insert_new(tx, new, actor)?;
            tx.execute(
                "INSERT INTO idempotency_keys (project, consumer, key, fingerprint, sandbox_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![key.project, key.consumer, key.key, key.fingerprint, new.id, new.created_at],
            )?;
            Ok(Ok(event))
        })
    }

    /// This installation's id, made the first time it is asked for: every
    /// backend resource it makes is labelled with it.
    pub fn installation_id(&mut self) -> StoreResult<String> {
        self.write(|tx| {
            let known: Option<String> =
                tx.query_opt("SELECT id FROM installation", &[], |r| r.get(0))?;
            if let Some(id) = known {
                return Ok(id);
            }
            let id = crate::ids::new_sandbox_id();
            tx.execute(
                "INSERT INTO installation (id, created_at) VALUES (?1, ?2)",
                args![id, now_ms()],
            )?;
            Ok(id)
        })
    }

    /// The earlier use of an idempotency key, if there was one.
    pub fn sandbox_for_key(&self, key: &IdempotencyKey) -> StoreResult<Option<KeyUse>> {
        key_use(self.conn(), key)
    }

    /// Records a use of sandbox `id` at `at` (kept only if later than the last).
    pub fn touch(&mut self, id: &str, at: Millis) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE sandboxes SET last_activity_at = ?2 WHERE id = ?1 \
             AND (last_activity_at IS NULL OR last_activity_at < ?2)",
            args![id, at],
        )?;
        Ok(())
    }

    /// Notes that sandbox `id` was warned about expiring at `expires_at`.
    pub fn set_warned_expiry(&mut self, id: &str, expires_at: Millis) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE sandboxes SET warned_expiry = ?2 WHERE id = ?1",
            args![id, expires_at],
        )?;
        Ok(())
    }

    /// Moves a sandbox to `to` if the lifecycle allows it, applying `change`, and
    /// records the event and the usage of the state it leaves, atomically.
    pub fn transition(
        &mut self,
        id: &str,
        to: State,
        actor: &str,
        change: Change,
        detail: serde_json::Value,
    ) -> StoreResult<(SandboxRecord, Event)> {
        self.transition_if(id, to, actor, change, detail, |_| true)
            .map(|moved| moved.expect("no precondition"))
    }

    /// `transition`, only if `precondition` holds for the row as it is inside the
    /// transaction (`None` when it does not): for moves decided on an earlier read,
    /// such as the reaper's expiry, that a concurrent change may have made wrong.
    pub fn transition_if(
        &mut self,
        id: &str,
        to: State,
        actor: &str,
        change: Change,
        detail: serde_json::Value,
        precondition: impl Fn(&SandboxRecord) -> bool,
    ) -> StoreResult<Option<(SandboxRecord, Event)>> {
        self.write(|tx| {
            let current = fetch(tx, id)?.ok_or_else(|| StoreError::NotFound(id.into()))?;
            if !precondition(&current) {
                return Ok(None);
            }
            if !can_transition(current.state, to) {
                return Err(StoreError::BadTransition {
                    id: id.into(),
                    from: current.state,
                    to,
                });
            }
            let now = now_ms().max(current.state_since);
            // The stretch that ends was spent where the backend now says the
            // sandbox is, when it did not say so before.
            let mut closing = current.clone();
            if closing.host.is_none() {
                closing.host.clone_from(&change.host);
            }
            let billed = insert_usage(tx, &closing, now, to == State::Ready)?;
            tx.execute(
                "UPDATE sandboxes SET state = ?2, state_since = ?3, updated_at = ?3, \
                 billed_ms = billed_ms + ?10, \
                 backend_ref = COALESCE(?4, backend_ref), endpoints = COALESCE(?5, endpoints), \
                 details = COALESCE(?6, details), host = COALESCE(?7, host), \
                 last_error = CASE WHEN ?8 THEN ?9 ELSE last_error END, \
                 cost_per_hour = COALESCE(?11, cost_per_hour) \
                 WHERE id = ?1",
                args![
                    id,
                    to.as_str(),
                    now,
                    change.backend_ref,
                    change.endpoints.as_ref().map(to_json),
                    change.details.as_ref().map(to_json),
                    change.host,
                    change.last_error.is_some(),
                    change.last_error.clone().flatten(),
                    billed,
                    change.cost_per_hour.map(Amount),
                ],
            )?;
            let event = insert_event(
                tx,
                id,
                now,
                actor,
                EventKind::State,
                Some(current.state),
                Some(to),
                detail.clone(),
            )?;
            let record = fetch(tx, id)?.expect("row updated in this transaction");
            Ok(Some((record, event)))
        })
    }

    /// Refreshes what the backend reports (endpoints, details, backend ref)
    /// without a state change. Records no event: nothing happened to the sandbox.
    pub fn observe(&mut self, id: &str, change: Change) -> StoreResult<SandboxRecord> {
        self.write(|tx| {
            tx.execute(
                "UPDATE sandboxes SET backend_ref = COALESCE(?2, backend_ref), \
                 endpoints = COALESCE(?3, endpoints), details = COALESCE(?4, details), \
                 host = COALESCE(?5, host) WHERE id = ?1",
                args![
                    id,
                    change.backend_ref,
                    change.endpoints.as_ref().map(to_json),
                    change.details.as_ref().map(to_json),
                    change.host,
                ],
            )?;
            fetch(tx, id)?.ok_or_else(|| StoreError::NotFound(id.into()))
        })
    }

    /// Moves the expiry and records a `ttl_extended` event. The caller checks the
    /// ceiling; the store refuses an expiry past it all the same.
    pub fn set_expiry(
        &mut self,
        id: &str,
        expires_at: Millis,
        actor: &str,
    ) -> StoreResult<(SandboxRecord, Event)> {
        self.write(|tx| {
            let current = fetch(tx, id)?.ok_or_else(|| StoreError::NotFound(id.into()))?;
            if expires_at > current.ceiling_at {
                return Err(StoreError::Corrupt(format!(
                    "expiry past the ceiling of sandbox {id}"
                )));
            }
            let now = now_ms();
            tx.execute(
                "UPDATE sandboxes SET expires_at = ?2, updated_at = ?3 WHERE id = ?1",
                args![id, expires_at, now],
            )?;
            let event = insert_event(
                tx,
                id,
                now,
                actor,
                EventKind::TtlExtended,
                None,
                None,
                json!({
                    "from": crate::time::rfc3339(current.expires_at),
                    "to": crate::time::rfc3339(expires_at),
                }),
            )?;
            Ok((fetch(tx, id)?.expect("row exists"), event))
        })
    }

    /// Moves a sandbox still being created to another extension (routing's
    /// failover), at that extension's rate, with the `create_attempt` event that
    /// says why, together. The stretch spent on the first extension is closed at
    /// its rate.
    pub fn reroute(
        &mut self,
        id: &str,
        extension: &str,
        cost_per_hour: Decimal,
        currency: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> StoreResult<SandboxRecord> {
        self.write(|tx| {
            let current = fetch(tx, id)?.ok_or_else(|| StoreError::NotFound(id.into()))?;
            if !matches!(current.state, State::Pending | State::Provisioning) {
                return Err(StoreError::BadTransition {
                    id: id.into(),
                    from: current.state,
                    to: current.state,
                });
            }
            let now = now_ms().max(current.state_since);
            // The refusing backend never made it ready: its attempt costs nothing.
            let billed = insert_usage(tx, &current, now, false)?;
            tx.execute(
                "UPDATE sandboxes SET extension = ?2, cost_per_hour = ?3, currency = ?4, \
                 backend_ref = NULL, state_since = ?5, billed_ms = billed_ms + ?6 WHERE id = ?1",
                args![id, extension, Amount(cost_per_hour), currency, now, billed],
            )?;
            insert_event(
                tx,
                id,
                now_ms(),
                actor,
                EventKind::CreateAttempt,
                None,
                None,
                detail.clone(),
            )?;
            fetch(tx, id)?.ok_or_else(|| StoreError::NotFound(id.into()))
        })
    }

    /// Pooled sandboxes of `pool` (a profile id) in `states`, per host and
    /// profile version.
    pub fn pooled_counts(&self, pool: &str, states: &[State]) -> StoreResult<Vec<PoolCount>> {
        let mut args = vec![Param::Text(Cow::Borrowed(pool))];
        let marks: Vec<String> = states
            .iter()
            .map(|s| {
                args.push(Param::Text(Cow::Borrowed(s.as_str())));
                format!("?{}", args.len())
            })
            .collect();
        let sql = format!(
            "SELECT host, profile_version, COUNT(*) FROM sandboxes WHERE pool = ?1 \
             AND state IN ({}) GROUP BY host, profile_version",
            if marks.is_empty() {
                "NULL".to_string()
            } else {
                marks.join(", ")
            }
        );
        self.conn().query(&sql, &args, |r| {
            Ok(PoolCount {
                host: r.get(0)?,
                version: r.get(1)?,
                count: r.get(2)?,
            })
        })
    }

    /// The rate of the sandbox `claim_pooled` would take now, if any.
    pub fn pooled_rate(&self, pool: &Pooled<'_>) -> StoreResult<Option<(Decimal, String)>> {
        let sql = format!(
            "SELECT cost_per_hour, currency FROM sandboxes WHERE {CLAIMABLE} \
             ORDER BY created_at, id LIMIT 1"
        );
        let floor = now_ms() + CLAIM_MARGIN_MS;
        self.conn().query_opt(
            &sql,
            args![pool.profile, pool.version, pool.host, floor, None::<Amount>],
            |r| Ok((r.get::<Amount>(0)?.0, r.get(1)?)),
        )
    }

    /// Takes the oldest ready sandbox waiting in `pool` (on `host`, when given)
    /// for a consumer, in one transaction: the pool's time so far is closed as
    /// the pool's usage, and from now on the sandbox is the claimer's — its
    /// consumer, project, labels, lifetime and idle timeout — with a `claimed`
    /// event. `None` when the pool has none ready.
    pub fn claim_pooled(
        &mut self,
        pool: &Pooled<'_>,
        rate: Decimal,
        claim: &super::Claim,
    ) -> StoreResult<Option<SandboxRecord>> {
        let sql =
            format!("SELECT id FROM sandboxes WHERE {CLAIMABLE} ORDER BY created_at, id LIMIT 1");
        let floor = now_ms() + CLAIM_MARGIN_MS;
        self.write(|tx| {
            let id: Option<String> = tx.query_opt(
                &sql,
                args![pool.profile, pool.version, pool.host, floor, Amount(rate)],
                |r| r.get(0),
            )?;
            let Some(id) = id else { return Ok(None) };
            let current = fetch(tx, &id)?.expect("selected in this transaction");
            let now = now_ms().max(current.state_since);
            let billed = insert_usage(tx, &current, now, true)?;
            let installation = current
                .labels
                .get(crate::labels::LABEL_INSTALLATION)
                .cloned()
                .unwrap_or_default();
            let labels = crate::labels::with_core_labels(
                &claim.labels,
                &id,
                &claim.consumer,
                &claim.project,
                &current.profile_id,
                &installation,
            );
            tx.execute(
                "UPDATE sandboxes SET pool = NULL, consumer = ?2, project = ?3, labels = ?4, \
                 ttl_ms = ?5, expires_at = ?6, ceiling_at = ?7, idle_ms = ?8, \
                 state_since = ?10, updated_at = ?10, last_activity_at = ?10, \
                 billed_ms = billed_ms + ?9, warned_expiry = NULL WHERE id = ?1",
                args![
                    id,
                    claim.consumer,
                    claim.project,
                    to_json(&labels),
                    claim.ttl_ms,
                    now + claim.ttl_ms,
                    now + claim.max_ms,
                    claim.idle_ms,
                    billed,
                    now,
                ],
            )?;
            insert_event(
                tx,
                &id,
                now,
                &claim.consumer,
                EventKind::Claimed,
                None,
                None,
                json!({
                    "pool": pool.profile,
                    "consumer": claim.consumer,
                    "project": claim.project,
                    "waited_ms": now - current.created_at,
                }),
            )?;
            fetch(tx, &id)
        })
    }

    /// Records that `new_id` replaces `old_id` (a recreate), on both rows and in the
    /// old one's events.
    pub fn link_replacement(&mut self, old_id: &str, new_id: &str, actor: &str) -> StoreResult<()> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE sandboxes SET replaced_by = ?2 WHERE id = ?1",
                args![old_id, new_id],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(old_id.into()));
            }
            insert_event(
                tx,
                old_id,
                now_ms(),
                actor,
                EventKind::Recreated,
                None,
                None,
                json!({ "replaced_by": new_id }),
            )?;
            Ok(())
        })
    }

    pub fn get_sandbox(&self, id: &str) -> StoreResult<Option<SandboxRecord>> {
        fetch(self.conn(), id)
    }

    /// How many sandboxes are in each state.
    pub fn count_by_state(&self) -> StoreResult<std::collections::BTreeMap<State, u64>> {
        let rows = self.conn().query(
            "SELECT state, COUNT(*) FROM sandboxes GROUP BY state",
            &[],
            |r| Ok((state(r, 0)?, r.get::<i64>(1)? as u64)),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Sandboxes matching `filter`, oldest first.
    pub fn list_sandboxes(&self, filter: &SandboxFilter) -> StoreResult<Vec<SandboxRecord>> {
        let mut all = Vec::new();
        self.for_each_sandbox(filter, |record| {
            all.push(record);
            Ok::<(), StoreError>(())
        })?;
        Ok(all)
    }

    /// Calls `each` with every sandbox matching `filter`, oldest first, without
    /// holding them all in memory; an error from `each` stops the walk.
    pub fn for_each_sandbox<E: From<StoreError>>(
        &self,
        filter: &SandboxFilter,
        mut each: impl FnMut(SandboxRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_row(filter, |row| each(from_row(row)?))
    }

    /// Like `for_each_sandbox`, handing out views that borrow the row: nothing is
    /// copied and the JSON columns are not parsed. For output of any size.
    pub fn for_each_sandbox_view<E: From<StoreError>>(
        &self,
        filter: &SandboxFilter,
        mut each: impl FnMut(SandboxView<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_row(filter, |row| each(view_of_row(row)?))
    }

    /// Calls `each` with every row of a sandbox matching `filter`, oldest
    /// first; the first error stops the walk and comes back.
    fn for_each_row<E: From<StoreError>>(
        &self,
        filter: &SandboxFilter,
        mut each: impl FnMut(&super::db::Row<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let conn = self.conn();
        let (sql, args) = select(filter, conn.dialect());
        let mut stopped = None;
        let walked = conn.query(&sql, &args, |row| match each(row) {
            Ok(()) => Ok(()),
            Err(e) => {
                stopped = Some(e);
                Err(StoreError::Corrupt("the walk was stopped".into()))
            }
        });
        match (stopped, walked) {
            (Some(e), _) => Err(e),
            (None, walked) => walked.map(drop).map_err(E::from),
        }
    }
}

fn insert_new(tx: Conn<'_>, new: &NewSandbox, actor: &str) -> StoreResult<Event> {
    if fetch(tx, &new.id)?.is_some() {
        return Err(StoreError::Duplicate(new.id.clone()));
    }
    tx.execute(
        "INSERT INTO sandboxes (id, state, profile_id, profile_version, extension, \
         consumer, project, host, labels, ttl_ms, created_at, updated_at, state_since, \
         expires_at, ceiling_at, cost_per_hour, currency, replaces, resources, idle_ms, \
         last_activity_at, pool) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?11, ?12, ?13, ?14, \
         ?15, ?16, ?17, ?18, ?11, ?19)",
        args![
            new.id,
            State::Pending.as_str(),
            new.profile_id,
            new.profile_version,
            new.extension,
            new.consumer,
            new.project,
            new.host,
            to_json(&new.labels),
            new.ttl_ms,
            new.created_at,
            new.expires_at,
            new.ceiling_at,
            Amount(new.cost_per_hour),
            new.currency,
            new.replaces,
            to_json(&new.resources),
            new.idle_ms,
            new.pool,
        ],
    )?;
    insert_event(
        tx,
        &new.id,
        new.created_at,
        actor,
        EventKind::State,
        None,
        Some(State::Pending),
        json!({
            "profile": new.profile_id,
            "extension": new.extension,
            "project": new.project,
            "expires_at": crate::time::rfc3339(new.expires_at),
        }),
    )
}

/// The SELECT for `filter`, with its arguments.
fn select(filter: &SandboxFilter, dialect: Dialect) -> (String, Vec<Param<'_>>) {
    let mut sql = format!("SELECT {} FROM sandboxes WHERE 1 = 1", columns());
    let mut args: Vec<Param<'_>> = Vec::new();
    let mut arg = |value: Param<'static>| {
        args.push(value);
        format!("?{}", args.len())
    };
    if !filter.states.is_empty() {
        let marks: Vec<String> = filter
            .states
            .iter()
            .map(|s| arg(Param::Text(Cow::Borrowed(s.as_str()))))
            .collect();
        // The unary `+` keeps SQLite from picking the state index: a state filter
        // usually matches most rows, and walking `sandboxes_created` in order saves
        // sorting them all. (PostgreSQL's planner weighs that itself.)
        let column = match dialect {
            Dialect::Sqlite => "+state",
            Dialect::Postgres => "state",
        };
        sql += &format!(" AND {column} IN ({})", marks.join(", "));
    }
    for (column, value) in [
        ("profile_id", &filter.profile_id),
        ("project", &filter.project),
        ("consumer", &filter.consumer),
        ("extension", &filter.extension),
    ] {
        if let Some(value) = value {
            sql += &format!(
                " AND {column} = {}",
                arg(Param::Text(Cow::Owned(value.clone())))
            );
        }
    }
    if let Some(before) = filter.expires_before {
        sql += &format!(" AND expires_at < {}", arg(Param::Int(before)));
    }
    for (key, value) in &filter.labels {
        let path = arg(Param::Text(Cow::Owned(match dialect {
            Dialect::Sqlite => format!("$.\"{}\"", key.replace('"', "\"\"")),
            Dialect::Postgres => key.clone(),
        })));
        let value = arg(Param::Text(Cow::Owned(value.clone())));
        sql += &format!(" AND {} = {value}", dialect.json_text("labels", &path));
    }
    sql += " ORDER BY created_at, id";
    (sql, args)
}
