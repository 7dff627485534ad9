//! The store: one SQLite file holding sandboxes, an append-only event log and
//! usage records. Only this module writes SQL.
//!
//! The file runs in WAL mode with a busy timeout, and every write is one
//! `BEGIN IMMEDIATE` transaction, so several `sandboxer` processes can share it.

mod amounts;
mod events;
mod migrations;
mod records;
mod sandbox_row;
mod sandboxes;
mod snapshots;
mod telemetry;
mod times;
mod usage;
mod view;

pub use events::{Event, EventFilter, EventKind};
pub use records::{Change, Claim, NewSandbox, SandboxFilter, SandboxRecord};
pub use sandboxes::{IdempotencyKey, KeyUse, PoolCount, Pooled};
pub use snapshots::SnapshotRecord;
pub use telemetry::{CanaryRun, HealthSample};
pub use usage::UsageRecord;
pub use view::{JsonField, SandboxUsage, SandboxView};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Environment variable naming the state file.
pub const STATE_ENV: &str = "SANDBOXER_STATE";

/// How long a write waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
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
    Sql(#[from] rusqlite::Error),
    #[error("state file holds malformed data: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An open state file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
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
    let sql = match error {
        StoreError::Open { source, .. } => source,
        StoreError::Sql(source) => source,
        _ => return false,
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
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
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
            conn,
            path: path.to_path_buf(),
        };
        migrations::migrate(&mut store.conn, path)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: it holds the write lock from
    /// the start, so read-then-write sequences cannot interleave across processes.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}
