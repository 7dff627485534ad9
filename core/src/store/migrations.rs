//! Versioned schema migrations, in both dialects: entry N of `SQLITE` and of
//! `POSTGRES` make the same tables and columns (the store suite checks it on
//! both engines). The version is SQLite's `user_version`, or PostgreSQL's
//! `schema_version` table. Each entry is applied once, in order, in its own
//! transaction; entries are never edited once released, only appended — to
//! both lists at once.

use super::db::{Conn, DbError, Dialect};
use super::{Engine, Store, StoreError, StoreResult};
use rusqlite::TransactionBehavior;

const _SAME_MIGRATIONS: () = assert!(SQLITE.len() == POSTGRES.len());

const SQLITE: &[&str] = &[
    // 1: sandboxes, the event log, usage.
    "
    CREATE TABLE sandboxes (
        id              TEXT PRIMARY KEY,
        profile_id      TEXT NOT NULL,
        profile_version TEXT NOT NULL,
        extension       TEXT NOT NULL,
        state           TEXT NOT NULL,
        consumer        TEXT NOT NULL,
        project         TEXT NOT NULL,
        host            TEXT,
        labels          TEXT NOT NULL,
        backend_ref     TEXT,
        endpoints       TEXT NOT NULL DEFAULT '[]',
        details         TEXT NOT NULL DEFAULT '{}',
        last_error      TEXT,
        ttl_ms          INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        state_since     INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        ceiling_at      INTEGER NOT NULL,
        cost_per_hour   REAL NOT NULL,
        currency        TEXT NOT NULL,
        replaces        TEXT,
        replaced_by     TEXT
    );
    CREATE INDEX sandboxes_state ON sandboxes (state);
    CREATE INDEX sandboxes_project ON sandboxes (project, state);
    CREATE INDEX sandboxes_expires ON sandboxes (expires_at);
    CREATE INDEX sandboxes_created ON sandboxes (created_at, id);

    CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        sandbox_id TEXT NOT NULL,
        at         INTEGER NOT NULL,
        actor      TEXT NOT NULL,
        kind       TEXT NOT NULL,
        from_state TEXT,
        to_state   TEXT,
        detail     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_sandbox ON events (sandbox_id, seq);
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

    CREATE TABLE usage (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        sandbox_id    TEXT NOT NULL,
        state         TEXT NOT NULL,
        started_at    INTEGER NOT NULL,
        ended_at      INTEGER NOT NULL,
        consumer      TEXT NOT NULL,
        project       TEXT NOT NULL,
        profile_id    TEXT NOT NULL,
        extension     TEXT NOT NULL,
        host          TEXT,
        cost_per_hour REAL NOT NULL,
        currency      TEXT NOT NULL
    );
    CREATE INDEX usage_sandbox ON usage (sandbox_id);
    CREATE INDEX usage_project ON usage (project, started_at);
    ",
    // 2: idempotency keys of API creates.
    "
    CREATE TABLE idempotency_keys (
        consumer   TEXT NOT NULL,
        key        TEXT NOT NULL,
        sandbox_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (consumer, key)
    );
    ",
    // 3: snapshots, attributed like sandboxes.
    "
    CREATE TABLE snapshots (
        id          TEXT NOT NULL,
        extension   TEXT NOT NULL,
        sandbox_id  TEXT NOT NULL,
        name        TEXT NOT NULL,
        profile_id  TEXT NOT NULL,
        consumer    TEXT NOT NULL,
        project     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        deleted_at  INTEGER,
        details     TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (extension, id)
    );
    CREATE INDEX snapshots_project ON snapshots (project, created_at);
    ",
    // 4: the ledger and lifetimes: billed time kept on the row, resources, idle
    // timeout and activity, the expiry last warned about; snapshots metered.
    "
    ALTER TABLE sandboxes ADD COLUMN billed_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sandboxes ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sandboxes ADD COLUMN idle_ms INTEGER;
    ALTER TABLE sandboxes ADD COLUMN last_activity_at INTEGER;
    ALTER TABLE sandboxes ADD COLUMN warned_expiry INTEGER;
    UPDATE sandboxes SET billed_ms = (
        SELECT COALESCE(SUM(u.ended_at - u.started_at), 0) FROM usage u
        WHERE u.sandbox_id = sandboxes.id AND u.state IN ('provisioning', 'ready', 'active'));
    ALTER TABLE usage ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE snapshots ADD COLUMN cost_per_hour REAL NOT NULL DEFAULT 0;
    ALTER TABLE snapshots ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD';
    ALTER TABLE snapshots ADD COLUMN host TEXT;
    ",
    // 5: telemetry: host health samples over time, canary runs.
    "
    CREATE TABLE host_health (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        at           INTEGER NOT NULL,
        extension    TEXT NOT NULL,
        host         TEXT NOT NULL,
        reachable    INTEGER NOT NULL,
        load1        REAL,
        mem_free_mb  INTEGER,
        disk_free_mb INTEGER,
        sandboxes    INTEGER,
        error        TEXT
    );
    CREATE INDEX host_health_at ON host_health (at);
    CREATE TABLE canary_runs (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        extension  TEXT NOT NULL,
        host       TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        sandbox_id TEXT,
        ok         INTEGER NOT NULL,
        create_ms  INTEGER,
        total_ms   INTEGER NOT NULL,
        error      TEXT
    );
    CREATE INDEX canary_runs_at ON canary_runs (at);
    ",
    // 6: warm pools: the profile a sandbox waits in a pool of, until claimed.
    "
    ALTER TABLE sandboxes ADD COLUMN pool TEXT;
    CREATE INDEX sandboxes_pool ON sandboxes (pool, state);
    ",
    // 7: idempotency keys belong to a project and a consumer, and remember what
    // was asked (keys of before keep no fingerprint: they cannot be checked); the
    // installation's own id, with which it labels what it makes; whether a stretch
    // of usage is charged (provisioning that never became ready is not).
    "
    CREATE TABLE idempotency_keys_v7 (
        project     TEXT NOT NULL,
        consumer    TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT,
        sandbox_id  TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (project, consumer, key)
    );
    INSERT INTO idempotency_keys_v7 (project, consumer, key, fingerprint, sandbox_id, created_at)
        SELECT s.project, k.consumer, k.key, NULL, k.sandbox_id, k.created_at
        FROM idempotency_keys k JOIN sandboxes s ON s.id = k.sandbox_id;
    DROP TABLE idempotency_keys;
    ALTER TABLE idempotency_keys_v7 RENAME TO idempotency_keys;
    CREATE TABLE installation (
        id         TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    ALTER TABLE usage ADD COLUMN billed INTEGER NOT NULL DEFAULT 1;
    UPDATE usage SET billed = 0 WHERE state NOT IN ('provisioning', 'ready', 'active');
    ",
    // 8: rates are exact decimals, kept as decimal text (a REAL's shortest text:
    // at most 15 significant digits, as it was written).
    "
    ALTER TABLE sandboxes ADD COLUMN rate TEXT NOT NULL DEFAULT '0';
    UPDATE sandboxes SET rate = printf('%.15g', cost_per_hour);
    ALTER TABLE sandboxes DROP COLUMN cost_per_hour;
    ALTER TABLE sandboxes RENAME COLUMN rate TO cost_per_hour;
    ALTER TABLE usage ADD COLUMN rate TEXT NOT NULL DEFAULT '0';
    UPDATE usage SET rate = printf('%.15g', cost_per_hour);
    ALTER TABLE usage DROP COLUMN cost_per_hour;
    ALTER TABLE usage RENAME COLUMN rate TO cost_per_hour;
    ALTER TABLE snapshots ADD COLUMN rate TEXT NOT NULL DEFAULT '0';
    UPDATE snapshots SET rate = printf('%.15g', cost_per_hour);
    ALTER TABLE snapshots DROP COLUMN cost_per_hour;
    ALTER TABLE snapshots RENAME COLUMN rate TO cost_per_hour;
    ",
    // 9: leases: which daemon runs the fleet's loops.
    "
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        since      INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    ",
];

/// The same migrations for PostgreSQL: INTEGER is BIGINT, REAL is DOUBLE
/// PRECISION, AUTOINCREMENT an identity, and the event log's guard a trigger
/// function.
const POSTGRES: &[&str] = &[
    // 1: sandboxes, the event log, usage.
    "
    CREATE TABLE sandboxes (
        id              TEXT PRIMARY KEY,
        profile_id      TEXT NOT NULL,
        profile_version TEXT NOT NULL,
        extension       TEXT NOT NULL,
        state           TEXT NOT NULL,
        consumer        TEXT NOT NULL,
        project         TEXT NOT NULL,
        host            TEXT,
        labels          TEXT NOT NULL,
        backend_ref     TEXT,
        endpoints       TEXT NOT NULL DEFAULT '[]',
        details         TEXT NOT NULL DEFAULT '{}',
        last_error      TEXT,
        ttl_ms          BIGINT NOT NULL,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL,
        state_since     BIGINT NOT NULL,
        expires_at      BIGINT NOT NULL,
        ceiling_at      BIGINT NOT NULL,
        cost_per_hour   DOUBLE PRECISION NOT NULL,
        currency        TEXT NOT NULL,
        replaces        TEXT,
        replaced_by     TEXT
    );
    CREATE INDEX sandboxes_state ON sandboxes (state);
    CREATE INDEX sandboxes_project ON sandboxes (project, state);
    CREATE INDEX sandboxes_expires ON sandboxes (expires_at);
    CREATE INDEX sandboxes_created ON sandboxes (created_at, id);

    CREATE TABLE events (
        seq        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        sandbox_id TEXT NOT NULL,
        at         BIGINT NOT NULL,
        actor      TEXT NOT NULL,
        kind       TEXT NOT NULL,
        from_state TEXT,
        to_state   TEXT,
        detail     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_sandbox ON events (sandbox_id, seq);
    CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        FOR EACH ROW EXECUTE FUNCTION events_append_only();
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION events_append_only();

    CREATE TABLE usage (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        sandbox_id    TEXT NOT NULL,
        state         TEXT NOT NULL,
        started_at    BIGINT NOT NULL,
        ended_at      BIGINT NOT NULL,
        consumer      TEXT NOT NULL,
        project       TEXT NOT NULL,
        profile_id    TEXT NOT NULL,
        extension     TEXT NOT NULL,
        host          TEXT,
        cost_per_hour DOUBLE PRECISION NOT NULL,
        currency      TEXT NOT NULL
    );
    CREATE INDEX usage_sandbox ON usage (sandbox_id);
    CREATE INDEX usage_project ON usage (project, started_at);
    ",
    // 2: idempotency keys of API creates.
    "
    CREATE TABLE idempotency_keys (
        consumer   TEXT NOT NULL,
        key        TEXT NOT NULL,
        sandbox_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (consumer, key)
    );
    ",
    // 3: snapshots, attributed like sandboxes.
    "
    CREATE TABLE snapshots (
        id          TEXT NOT NULL,
        extension   TEXT NOT NULL,
        sandbox_id  TEXT NOT NULL,
        name        TEXT NOT NULL,
        profile_id  TEXT NOT NULL,
        consumer    TEXT NOT NULL,
        project     TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        deleted_at  BIGINT,
        details     TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (extension, id)
    );
    CREATE INDEX snapshots_project ON snapshots (project, created_at);
    ",
    // 4: the ledger and lifetimes.
    "
    ALTER TABLE sandboxes ADD COLUMN billed_ms BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE sandboxes ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sandboxes ADD COLUMN idle_ms BIGINT;
    ALTER TABLE sandboxes ADD COLUMN last_activity_at BIGINT;
    ALTER TABLE sandboxes ADD COLUMN warned_expiry BIGINT;
    UPDATE sandboxes SET billed_ms = (
        SELECT COALESCE(SUM(u.ended_at - u.started_at), 0) FROM usage u
        WHERE u.sandbox_id = sandboxes.id AND u.state IN ('provisioning', 'ready', 'active'));
    ALTER TABLE usage ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE snapshots ADD COLUMN cost_per_hour DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE snapshots ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD';
    ALTER TABLE snapshots ADD COLUMN host TEXT;
    ",
    // 5: telemetry: host health samples over time, canary runs.
    "
    CREATE TABLE host_health (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at           BIGINT NOT NULL,
        extension    TEXT NOT NULL,
        host         TEXT NOT NULL,
        reachable    BIGINT NOT NULL,
        load1        DOUBLE PRECISION,
        mem_free_mb  BIGINT,
        disk_free_mb BIGINT,
        sandboxes    BIGINT,
        error        TEXT
    );
    CREATE INDEX host_health_at ON host_health (at);
    CREATE TABLE canary_runs (
        id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at         BIGINT NOT NULL,
        extension  TEXT NOT NULL,
        host       TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        sandbox_id TEXT,
        ok         BIGINT NOT NULL,
        create_ms  BIGINT,
        total_ms   BIGINT NOT NULL,
        error      TEXT
    );
    CREATE INDEX canary_runs_at ON canary_runs (at);
    ",
    // 6: warm pools.
    "
    ALTER TABLE sandboxes ADD COLUMN pool TEXT;
    CREATE INDEX sandboxes_pool ON sandboxes (pool, state);
    ",
    // 7: idempotency keys per project and consumer, with a fingerprint; the
    // installation's id; whether a stretch of usage is charged.
    "
    CREATE TABLE idempotency_keys_v7 (
        project     TEXT NOT NULL,
        consumer    TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT,
        sandbox_id  TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        PRIMARY KEY (project, consumer, key)
    );
    INSERT INTO idempotency_keys_v7 (project, consumer, key, fingerprint, sandbox_id, created_at)
        SELECT s.project, k.consumer, k.key, NULL, k.sandbox_id, k.created_at
        FROM idempotency_keys k JOIN sandboxes s ON s.id = k.sandbox_id;
    DROP TABLE idempotency_keys;
    ALTER TABLE idempotency_keys_v7 RENAME TO idempotency_keys;
    CREATE TABLE installation (
        id         TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    ALTER TABLE usage ADD COLUMN billed BIGINT NOT NULL DEFAULT 1;
    UPDATE usage SET billed = 0 WHERE state NOT IN ('provisioning', 'ready', 'active');
    ",
    // 8: rates are exact decimals, kept as decimal text (a double's shortest
    // text, as PostgreSQL 12 and later write it).
    "
    ALTER TABLE sandboxes ALTER COLUMN cost_per_hour TYPE TEXT USING cost_per_hour::text;
    ALTER TABLE sandboxes ALTER COLUMN cost_per_hour SET DEFAULT '0';
    ALTER TABLE usage ALTER COLUMN cost_per_hour TYPE TEXT USING cost_per_hour::text;
    ALTER TABLE usage ALTER COLUMN cost_per_hour SET DEFAULT '0';
    ALTER TABLE snapshots ALTER COLUMN cost_per_hour TYPE TEXT USING cost_per_hour::text;
    ALTER TABLE snapshots ALTER COLUMN cost_per_hour SET DEFAULT '0';
    ",
    // 9: leases.
    "
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        since      BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    ",
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    SQLITE.len() as i64
}

/// A key no other advisory lock of sandboxer's uses: whoever migrates holds it.
const MIGRATING: i64 = 0x5eed_0001;

/// Applies every migration the store has not seen yet. `shown` names the store
/// in a refusal.
pub fn migrate(store: &mut Store, shown: &str) -> StoreResult<()> {
    loop {
        let (version, applied) = match &mut store.engine {
            Engine::Sqlite(conn) => {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(DbError::from)?;
                let version: i64 = tx
                    .query_row("PRAGMA user_version", [], |r| r.get(0))
                    .map_err(DbError::from)?;
                let applied = next(Conn::Sqlite(&tx), version, shown)?;
                if applied {
                    tx.pragma_update(None, "user_version", version + 1)
                        .map_err(DbError::from)?;
                    tx.commit().map_err(DbError::from)?;
                }
                (version, applied)
            }
            // Daemons starting together take turns; the first migrates.
            Engine::Postgres(session) => session.read_committed(|session| {
                let conn = Conn::Postgres(session);
                conn.query(
                    "SELECT pg_advisory_xact_lock(?1)",
                    super::db::args![MIGRATING],
                    |_| Ok(()),
                )?;
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
                )?;
                let version = conn
                    .query_opt("SELECT version FROM schema_version", &[], |r| {
                        r.get::<i64>(0)
                    })?
                    .unwrap_or(0);
                let applied = next(conn, version, shown)?;
                if applied {
                    conn.execute("DELETE FROM schema_version", &[])?;
                    conn.execute(
                        "INSERT INTO schema_version (version) VALUES (?1)",
                        super::db::args![version + 1],
                    )?;
                }
                Ok((version, applied))
            })?,
        };
        if !applied {
            debug_assert_eq!(version, latest());
            return Ok(());
        }
    }
}

/// Applies the migration after `version`, if there is one (whether it did).
fn next(conn: Conn<'_>, version: i64, shown: &str) -> StoreResult<bool> {
    if version > latest() {
        return Err(StoreError::TooNew {
            path: shown.to_string(),
            found: version,
            known: latest(),
        });
    }
    if version == latest() {
        return Ok(false);
    }
    let list = match conn.dialect() {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    conn.execute_batch(list[version as usize])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file written before rates were decimal text keeps every rate, as
    /// the decimal it was written as, and a pool's claim still finds equal rates
    /// equal.
    #[test]
    fn rates_kept_as_floats_become_the_decimal_text_they_show() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (version, sql) in SQLITE.iter().enumerate().take(7) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version as i64 + 1)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO sandboxes (id, profile_id, profile_version, extension, state, consumer,
                 project, labels, ttl_ms, created_at, updated_at, state_since, expires_at,
                 ceiling_at, cost_per_hour, currency)
             VALUES ('01a', 'profile.p', '1', 'ext.x', 'ready', 'agt:a', 'p', '{}', 1, 0, 0, 0,
                 1, 1, 0.36, 'USD'),
                    ('01b', 'profile.p', '1', 'ext.x', 'ready', 'agt:a', 'p', '{}', 1, 0, 0, 0,
                 1, 1, 2.0, 'USD');
             INSERT INTO usage (sandbox_id, state, started_at, ended_at, consumer, project,
                 profile_id, extension, cost_per_hour, currency)
             VALUES ('01a', 'ready', 0, 1, 'agt:a', 'p', 'profile.p', 'ext.x', 0.1, 'USD');
             INSERT INTO snapshots (id, extension, sandbox_id, name, profile_id, consumer,
                 project, created_at, cost_per_hour)
             VALUES ('s1', 'ext.x', '01a', 'n', 'profile.p', 'agt:a', 'p', 0, 0.001);",
        )
        .unwrap();
        drop(conn);
        drop(Store::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let rates = |sql: &str| -> Vec<(String, String)> {
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            rates("SELECT typeof(cost_per_hour), cost_per_hour FROM sandboxes ORDER BY id"),
            [("text".into(), "0.36".into()), ("text".into(), "2".into())]
        );
        assert_eq!(
            rates("SELECT typeof(cost_per_hour), cost_per_hour FROM usage"),
            [("text".into(), "0.1".into())]
        );
        assert_eq!(
            rates("SELECT typeof(cost_per_hour), cost_per_hour FROM snapshots"),
            [("text".into(), "0.001".into())]
        );
        let claimable: i64 = conn
            .query_row(
                "SELECT count(*) FROM sandboxes WHERE cost_per_hour = ?1",
                [sandboxer_ext_protocol::money::text_of(
                    "2.000".parse().unwrap(),
                )],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            claimable, 1,
            "2.0 written as a float equals 2.000 asked as text"
        );
    }
}
