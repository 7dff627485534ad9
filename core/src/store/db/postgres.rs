//! The PostgreSQL engine's side of `Conn`: one session to the server, driven
//! by a thread of its own (its own small runtime runs the socket), so that the
//! synchronous store can wait on it from anywhere — a CLI command, a daemon's
//! request, a test — without being inside a runtime that would refuse to
//! block. Statements are prepared once per session; `?N` parameters become
//! `$N`; a write is one SERIALIZABLE transaction, retried when the server
//! says another transaction got in its way, so the store's read-then-write
//! sequences mean on PostgreSQL what they mean under SQLite's single writer.

use super::{Cell, DbError, Param, Row};
use crate::store::{StoreError, StoreResult};
use bytes::BytesMut;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, NoTls, Statement};

/// How many times a write is tried when transactions keep getting in each
/// other's way.
const WRITE_ATTEMPTS: u32 = 30;

/// One session with the server.
pub struct PgSession {
    config: Config,
    /// Where it points, password left out (for messages).
    shown: String,
    live: Mutex<Live>,
}

/// The connected client and what it has prepared.
struct Live {
    client: Client,
    statements: HashMap<String, Statement>,
    /// A transaction is open on `client`: if the session breaks now, the
    /// transaction is lost with it, and no statement may go to a new session
    /// (it would commit alone, outside the transaction).
    in_transaction: bool,
}

impl Live {
    fn new(client: Client) -> Live {
        Live {
            client,
            statements: HashMap::new(),
            in_transaction: false,
        }
    }
}

/// A `postgres://` URL with its password (if any) left out.
pub fn without_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user_info, host)) => {
                let user = user_info.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Whether `location` names a PostgreSQL server rather than a file.
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// What went wrong, with the server's SQLSTATE when it sent one.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

impl PgSession {
    /// Connects to the server `url` names (`PGPASSWORD` when it names no
    /// password). Only unencrypted connections are made: to a server on this
    /// machine, or through a tunnel (see docs/fleet.md).
    pub fn connect(url: &str) -> StoreResult<PgSession> {
        let shown = without_password(url);
        let bad = |problem: String| StoreError::Open {
            path: shown.clone(),
            problem,
        };
        let mut config: Config = url.parse().map_err(|e| bad(format!("{e}")))?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(bad(
                "sslmode=require: this build speaks to PostgreSQL unencrypted; reach a remote \
                 server through a tunnel (docs/fleet.md) and name the tunnel's end"
                    .into(),
            ));
        }
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        if config.get_application_name().is_none() {
            config.application_name("sandboxer");
        }
        PgSession::open(config, shown)
    }

    fn open(config: Config, shown: String) -> StoreResult<PgSession> {
        let client = start(&config).map_err(|e| StoreError::Open {
            path: shown.clone(),
            problem: describe(&e),
        })?;
        Ok(PgSession {
            config,
            shown,
            live: Mutex::new(Live::new(client)),
        })
    }

    /// Where it points (without a password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A second session to the same server.
    pub fn another(&self) -> StoreResult<PgSession> {
        PgSession::open(self.config.clone(), self.shown.clone())
    }

    /// The live client, connected again first if the server went away —
    /// unless a transaction was open on it: that transaction is lost, which
    /// is an error for it (the next call connects again).
    fn live(&self) -> StoreResult<std::sync::MutexGuard<'_, Live>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.client.is_closed() {
            if std::mem::take(&mut live.in_transaction) {
                return Err(StoreError::Unavailable(format!(
                    "the session to {} broke during a write; nothing of it was kept \
                     (try again: the next call connects again)",
                    self.shown
                )));
            }
            tracing::warn!(store = %self.shown, "the PostgreSQL session closed; connecting again");
            *live = Live::new(start(&self.config).map_err(DbError::from)?);
        }
        Ok(live)
    }

    /// Runs a statement that opens or ends a transaction, noting which.
    fn transaction_statement(&self, sql: &str, open: bool) -> StoreResult<()> {
        let mut live = self.live()?;
        let done = futures::executor::block_on(live.client.batch_execute(sql));
        live.in_transaction = open && done.is_ok();
        done.map_err(DbError::from)?;
        Ok(())
    }

    fn prepared(live: &mut Live, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = live.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = futures::executor::block_on(live.client.prepare(&numbered(sql)))
            .map_err(DbError::from)?;
        live.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub fn execute(&self, sql: &str, args: &[Param<'_>]) -> StoreResult<usize> {
        let mut live = self.live()?;
        let statement = Self::prepared(&mut live, sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        let changed = futures::executor::block_on(live.client.execute(&statement, &params))
            .map_err(DbError::from)?;
        Ok(changed as usize)
    }

    pub fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        let live = self.live()?;
        futures::executor::block_on(live.client.batch_execute(sql)).map_err(DbError::from)?;
        Ok(())
    }

    pub fn query<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        mut read: impl FnMut(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let rows = {
            let mut live = self.live()?;
            let statement = Self::prepared(&mut live, sql)?;
            let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
            futures::executor::block_on(live.client.query(&statement, &params))
                .map_err(DbError::from)?
        };
        rows.iter().map(|row| read(&Row::Postgres(row))).collect()
    }

    /// Runs `work` in one SERIALIZABLE transaction, again (from the start) when
    /// the server refuses it for getting in another's way.
    pub fn transaction<T>(&self, work: impl FnMut(&PgSession) -> StoreResult<T>) -> StoreResult<T> {
        self.run("BEGIN ISOLATION LEVEL SERIALIZABLE", WRITE_ATTEMPTS, work)
    }

    /// Runs `work` once in one READ COMMITTED transaction: each statement sees
    /// what committed before it — after waiting for a lock, what its holder
    /// wrote (the migrations, which take turns under one).
    pub fn read_committed<T>(
        &self,
        work: impl FnMut(&PgSession) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.run("BEGIN", 1, work)
    }

    /// `work` between `begin` and COMMIT, tried up to `attempts` times while
    /// the server refuses it for getting in another's way.
    fn run<T>(
        &self,
        begin: &str,
        attempts: u32,
        mut work: impl FnMut(&PgSession) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.transaction_statement(begin, true)?;
            let outcome = work(self).and_then(|value| {
                self.transaction_statement("COMMIT", false)?;
                Ok(value)
            });
            match outcome {
                Ok(value) => return Ok(value),
                Err(error) => {
                    // A failed COMMIT has already ended the transaction; the
                    // ROLLBACK is then a warning only.
                    let _ = self.transaction_statement("ROLLBACK", false);
                    if attempt >= attempts || !in_the_way(&error) {
                        return Err(error);
                    }
                    // Spread the retries so that the same two do not collide again.
                    let jitter = u64::from(std::process::id() % 7) + u64::from(attempt % 5);
                    std::thread::sleep(Duration::from_millis(u64::from(attempt) + jitter));
                }
            }
        }
    }

    /// Takes advisory lock `key` for this session if nobody holds it.
    pub fn try_advisory_lock(&self, key: i64) -> StoreResult<bool> {
        let mut got = self.query("SELECT pg_try_advisory_lock(?1)", &[Param::Int(key)], |r| {
            r.get::<bool>(0)
        })?;
        Ok(got.pop().unwrap_or(false))
    }

    /// Gives advisory lock `key` back.
    pub fn advisory_unlock(&self, key: i64) -> StoreResult<()> {
        self.query("SELECT pg_advisory_unlock(?1)", &[Param::Int(key)], |r| {
            r.get::<bool>(0)
        })?;
        Ok(())
    }
}

/// Whether the server refused a statement only because a concurrent
/// transaction got in its way (trying again can succeed).
fn in_the_way(error: &StoreError) -> bool {
    let StoreError::Sql(DbError::Postgres(e)) = error else {
        return false;
    };
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    )
}

/// Connects, and leaves the connection's socket to a thread of its own.
fn start(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let config = config.clone();
    std::thread::Builder::new()
        .name("sandboxer-postgres".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the PostgreSQL connection");
            runtime.block_on(async move {
                match config.connect(NoTls).await {
                    Ok((client, connection)) => {
                        let _ = sender.send(Ok(client));
                        // Runs until the client is dropped or the server goes.
                        if let Err(e) = connection.await {
                            tracing::warn!("PostgreSQL connection: {}", describe(&e));
                        }
                    }
                    Err(e) => {
                        let _ = sender.send(Err(e));
                    }
                }
            });
        })
        .expect("a thread for the PostgreSQL connection");
    receiver
        .recv()
        .expect("the connection thread answers before it ends")
}

/// `?N` parameters (outside quoted text) as PostgreSQL's `$N`.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let wrong = |what: &str| -> Result<IsNull, BoxError> {
            Err(format!("{what} for a parameter of type {ty}").into())
        };
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().to_sql(ty, out),
                _ => wrong("an integer"),
            },
            Param::Real(n) => match *ty {
                Type::FLOAT8 => n.to_sql(ty, out),
                Type::FLOAT4 => (*n as f32).to_sql(ty, out),
                _ => wrong("a real"),
            },
            Param::Text(t) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    t.as_ref().to_sql(ty, out)
                }
                _ => wrong("text"),
            },
            Param::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => wrong("a blob"),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub fn cell<'r>(row: &'r tokio_postgres::Row, index: usize) -> StoreResult<Cell<'r>> {
    fn get<'r, T: tokio_postgres::types::FromSql<'r>>(
        row: &'r tokio_postgres::Row,
        index: usize,
    ) -> StoreResult<Option<T>> {
        row.try_get(index)
            .map_err(|e| super::column(index, describe(&e)))
    }
    let ty = row.columns()[index].type_().clone();
    let cell = match ty {
        Type::INT8 => get::<i64>(row, index)?.map(Cell::Int),
        Type::INT4 => get::<i32>(row, index)?.map(|n| Cell::Int(n.into())),
        Type::INT2 => get::<i16>(row, index)?.map(|n| Cell::Int(n.into())),
        Type::BOOL => get::<bool>(row, index)?.map(|b| Cell::Int(b.into())),
        Type::FLOAT8 => get::<f64>(row, index)?.map(Cell::Real),
        Type::FLOAT4 => get::<f32>(row, index)?.map(|n| Cell::Real(n.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            get::<&str>(row, index)?.map(Cell::Text)
        }
        Type::BYTEA => get::<&[u8]>(row, index)?.map(Cell::Blob),
        other => {
            return Err(super::column(
                index,
                format!("a column of type {other} (cast it in the query)"),
            ));
        }
    };
    Ok(cell.unwrap_or(Cell::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_outside_quoted_text_only() {
        assert_eq!(
            numbered("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12 AND c = '?'"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12 AND c = '?'"
        );
    }

    #[test]
    fn a_password_is_left_out_of_what_is_shown() {
        assert_eq!(
            without_password("postgres://fleet:s3cret@db.internal:5432/sandboxer"),
            "postgres://fleet@db.internal:5432/sandboxer"
        );
        assert_eq!(
            without_password("postgres://fleet@db/sandboxer"),
            "postgres://fleet@db/sandboxer"
        );
    }
}
