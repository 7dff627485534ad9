//! The store: sandboxes, an append-only event log, usage records and the rest,
//! in one SQLite file (the default) or on a PostgreSQL server that several
//! daemons share (`store: postgres://…`). Only this module writes SQL; `db`
//! runs it on either engine.
//!
//! A file runs in WAL mode with a busy timeout, and every write is one
//! `BEGIN IMMEDIATE` transaction, so several `sandboxer` processes can share it.
//! On PostgreSQL every write is one SERIALIZABLE transaction (retried when
//! another got in its way): the same read-then-write guarantee across daemons.

mod amounts;
pub mod db;
mod events;
mod leases;
mod migrations;
mod records;
mod sandbox_row;
mod sandboxes;
mod snapshots;
mod telemetry;
pub mod testing;
pub mod times;
mod usage;
mod view;

pub use events::{Event, EventFilter, EventKind};
pub use leases::LeaseHolder;
pub use records::{Change, Claim, NewSandbox, SandboxFilter, SandboxRecord};
pub use sandboxes::{IdempotencyKey, KeyUse, PoolCount, Pooled};
pub use snapshots::SnapshotRecord;
pub use telemetry::{CanaryRun, HealthSample};
pub use usage::UsageRecord;
pub use view::{JsonField, SandboxUsage, SandboxView};

use db::{Conn, DbError, Dialect, PgSession};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Environment variable naming the state file.
pub const STATE_ENV: &str = "SANDBOXER_STATE";

/// How long a write waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path}: {problem}")]
    Open { path: String, problem: String },
    #[error(
        "state file {path} was written by a newer sandboxer (schema {found}, this build knows \
         up to {known}); upgrade sandboxer or point --state elsewhere"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("cannot make the state file {path} (private, in a private folder): {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox {id} is {from}; it cannot become {to}")]
    BadTransition {
        id: String,
        from: crate::lifecycle::State,
        to: crate::lifecycle::State,
    },
    #[error("sandbox {0} not found")]
    NotFound(String),
    #[error("sandbox {0} already exists")]
    Duplicate(String),
    #[error("state file: {0}")]
    Sql(#[from] DbError),
    #[error("state file holds malformed data: {0}")]
    Corrupt(String),
    /// The store's server cannot be used now (its session broke mid-write).
    #[error("state store: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An open store.
pub struct Store {
    engine: Engine,
    /// A server's second session, for holding sandboxes across daemons.
    locks: Option<std::sync::Arc<PgSession>>,
    /// The state file, or for a server the local file things kept beside the
    /// state are kept beside (the daemon's token, the endpoint key).
    path: PathBuf,
}

/// The engine a store runs on.
enum Engine {
    Sqlite(Connection),
    Postgres(Box<PgSession>),
}

/// The default state file: `$XDG_STATE_HOME/sandboxer/state.sqlite`.
pub fn default_path() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("sandboxer")
        .join("state.sqlite")
}

/// Makes the state file private before SQLite opens it: a folder it creates is
/// 0700, and the file (SQLite gives its `-wal` and `-shm` files the same mode) is
/// created 0600, or narrowed to 0600 if it exists. A folder that already exists is
/// left as it is (it may be anyone's); `sandboxer doctor` and the set-up script
/// keep sandboxer's own folders private.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::symlink_metadata(&file) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether an error is SQLite saying another connection holds the lock.
fn is_busy(error: &StoreError) -> bool {
    let StoreError::Sql(DbError::Sqlite(sql)) = error else {
        return false;
    };
    matches!(
        sql.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Store {
    /// Opens (creating if needed) the state file and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Store> {
        make_private(path).map_err(|source| StoreError::Folder {
            path: path.display().to_string(),
            source,
        })?;
        // Switching a new file to WAL takes an exclusive lock that SQLite's busy
        // handler does not wait for, so two processes creating the file at once
        // retry here instead.
        let started = Instant::now();
        loop {
            match Store::try_open(path) {
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn try_open(path: &Path) -> StoreResult<Store> {
        let open_err = |source| StoreError::Sql(DbError::Sqlite(source));
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(open_err)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(open_err)?;
        let mut store = Store {
            engine: Engine::Sqlite(conn),
            locks: None,
            path: path.to_path_buf(),
        };
        migrations::migrate(&mut store, &path.display().to_string())?;
        Ok(store)
    }

    /// Opens the store `location` names: a `postgres://` URL (several daemons
    /// share it; `local` is the file things kept beside the state are kept
    /// beside), or a state file's path.
    pub fn open_location(location: &str, local: &Path) -> StoreResult<Store> {
        if !db::postgres::is_url(location) {
            return Store::open(Path::new(location));
        }
        let session = PgSession::connect(location)?;
        let shown = session.shown().to_string();
        let locks = Some(std::sync::Arc::new(session.another()?));
        let mut store = Store {
            engine: Engine::Postgres(Box::new(session)),
            locks,
            path: local.to_path_buf(),
        };
        migrations::migrate(&mut store, &shown)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the store is: the file, or the server (without its password).
    pub fn location(&self) -> String {
        match &self.engine {
            Engine::Sqlite(_) => self.path.display().to_string(),
            Engine::Postgres(session) => session.shown().to_string(),
        }
    }

    /// Whether other daemons may share this store (a server, not a file).
    pub fn is_shared(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// The session of its own that holds sandboxes across daemons
    /// (PostgreSQL advisory locks, released when the session ends — with its
    /// daemon); `None` for a file, whose processes hold sandboxes in-process.
    pub fn lock_session(&self) -> Option<std::sync::Arc<PgSession>> {
        self.locks.clone()
    }

    /// Every table of sandboxer's schema with its columns (the version
    /// bookkeeping left out): what the migrations made, to compare engines.
    pub fn tables(
        &self,
    ) -> StoreResult<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
            }
            Dialect::Postgres => {
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> 'schema_version'"
            }
        };
        let mut tables = std::collections::BTreeMap::<_, std::collections::BTreeSet<_>>::new();
        for (table, column) in self
            .conn()
            .query(sql, &[], |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))?
        {
            tables.entry(table).or_default().insert(column);
        }
        Ok(tables)
    }

    pub fn dialect(&self) -> Dialect {
        self.conn().dialect()
    }

    /// The connection, for a read (each statement on its own).
    fn conn(&self) -> Conn<'_> {
        match &self.engine {
            Engine::Sqlite(c) => Conn::Sqlite(c),
            Engine::Postgres(s) => Conn::Postgres(s),
        }
    }

    /// Runs `f` in one transaction that holds its read-then-write sequence
    /// against every other writer: `BEGIN IMMEDIATE` on a file (it holds the
    /// write lock from the start), SERIALIZABLE on a server (run again from the
    /// start when a concurrent transaction gets in its way — so `f` may run
    /// more than once and must only write through `tx`).
    fn write<T>(&mut self, mut f: impl FnMut(Conn<'_>) -> StoreResult<T>) -> StoreResult<T> {
        match &mut self.engine {
            Engine::Sqlite(conn) => {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(DbError::from)?;
                let value = f(Conn::Sqlite(&tx))?;
                tx.commit().map_err(DbError::from)?;
                Ok(value)
            }
            Engine::Postgres(session) => session.transaction(|s| f(Conn::Postgres(s))),
        }
    }
}
