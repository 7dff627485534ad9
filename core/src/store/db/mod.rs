//! The two engines under the store: the store's SQL is written once, with
//! `?N` parameters, and runs on an embedded SQLite file or on a PostgreSQL
//! server. This module is the one place that knows the difference: a
//! connection (`Conn`), a parameter (`Param`), a column of a result row
//! (`Row`, `Cell`), a dialect's spelling of the few things the two write
//! differently (`Dialect`), and an engine's error (`DbError`).

pub mod postgres;
mod sqlite;

use super::{StoreError, StoreResult};
use std::borrow::Cow;

pub use postgres::PgSession;

/// Which SQL the engine speaks, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The text at JSON path `path` (a `$.a.b` path parameter) of JSON text
    /// column `column`.
    pub fn json_text(self, column: &str, path: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, {path})"),
            Dialect::Postgres => format!("({column}::jsonb ->> {path})"),
        }
    }
}

/// An engine's error.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("column {index}: {problem}")]
    Column { index: usize, problem: String },
}

/// A value bound to a `?N` parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(&'a [u8]),
}

/// What can be bound to a parameter.
pub trait ToParam {
    fn param(&self) -> Param<'_>;
}

impl ToParam for Param<'_> {
    fn param(&self) -> Param<'_> {
        match self {
            Param::Text(t) => Param::Text(Cow::Borrowed(t)),
            other => other.clone(),
        }
    }
}
impl ToParam for str {
    fn param(&self) -> Param<'_> {
        Param::Text(Cow::Borrowed(self))
    }
}
impl ToParam for String {
    fn param(&self) -> Param<'_> {
        Param::Text(Cow::Borrowed(self))
    }
}
impl ToParam for i64 {
    fn param(&self) -> Param<'_> {
        Param::Int(*self)
    }
}
impl ToParam for i32 {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}
impl ToParam for u32 {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}
impl ToParam for u64 {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToParam for usize {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToParam for f64 {
    fn param(&self) -> Param<'_> {
        Param::Real(*self)
    }
}
impl ToParam for bool {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}
impl ToParam for [u8] {
    fn param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}
impl ToParam for Vec<u8> {
    fn param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}
impl<T: ToParam + ?Sized> ToParam for &T {
    fn param(&self) -> Param<'_> {
        (**self).param()
    }
}
impl<T: ToParam> ToParam for Option<T> {
    fn param(&self) -> Param<'_> {
        match self {
            Some(v) => v.param(),
            None => Param::Null,
        }
    }
}

/// `args![a, b]`: the parameters `?1, ?2` of a statement.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::db::ToParam::param(&$value)),*][..]
    };
}
pub(crate) use args;

/// One column of a result row, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'r> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'r str),
    Blob(&'r [u8]),
}

/// A result row of either engine.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

impl<'r> Row<'r> {
    /// Column `index` as the engine holds it.
    pub fn cell(&self, index: usize) -> StoreResult<Cell<'r>> {
        match self {
            Row::Sqlite(row) => sqlite::cell(row, index),
            Row::Postgres(row) => postgres::cell(row, index),
        }
    }

    /// Column `index` as a `T`.
    pub fn get<T: FromCell<'r>>(&self, index: usize) -> StoreResult<T> {
        T::from_cell(self.cell(index)?).map_err(|problem| column(index, problem))
    }
}

/// A column read that failed.
pub fn column(index: usize, problem: impl Into<String>) -> StoreError {
    StoreError::Sql(DbError::Column {
        index,
        problem: problem.into(),
    })
}

/// What a column can be read as.
pub trait FromCell<'r>: Sized {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String>;
}

fn unexpected<T>(cell: Cell<'_>, wanted: &str) -> Result<T, String> {
    let found = match cell {
        Cell::Null => "null",
        Cell::Int(_) => "an integer",
        Cell::Real(_) => "a real",
        Cell::Text(_) => "text",
        Cell::Blob(_) => "a blob",
    };
    Err(format!("wanted {wanted}, found {found}"))
}

impl<'r> FromCell<'r> for i64 {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String> {
        match cell {
            Cell::Int(n) => Ok(n),
            other => unexpected(other, "an integer"),
        }
    }
}
impl<'r> FromCell<'r> for f64 {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String> {
        match cell {
            Cell::Real(n) => Ok(n),
            Cell::Int(n) => Ok(n as f64),
            other => unexpected(other, "a number"),
        }
    }
}
impl<'r> FromCell<'r> for bool {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String> {
        match cell {
            Cell::Int(n) => Ok(n != 0),
            other => unexpected(other, "a boolean"),
        }
    }
}
impl<'r> FromCell<'r> for &'r str {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String> {
        match cell {
            Cell::Text(t) => Ok(t),
            other => unexpected(other, "text"),
        }
    }
}
impl<'r> FromCell<'r> for String {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String> {
        <&str>::from_cell(cell).map(str::to_owned)
    }
}
impl<'r> FromCell<'r> for Vec<u8> {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String> {
        match cell {
            Cell::Blob(b) => Ok(b.to_vec()),
            other => unexpected(other, "a blob"),
        }
    }
}
impl<'r, T: FromCell<'r>> FromCell<'r> for Option<T> {
    fn from_cell(cell: Cell<'r>) -> Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// A connection of either engine, inside a transaction or not.
#[derive(Clone, Copy)]
pub enum Conn<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(&'c PgSession),
}

impl Conn<'_> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Param<'_>]) -> StoreResult<usize> {
        match self {
            Conn::Sqlite(c) => sqlite::execute(c, sql, args),
            Conn::Postgres(c) => c.execute(sql, args),
        }
    }

    /// Runs statements without parameters, one after another.
    pub fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql).map_err(DbError::from)?),
            Conn::Postgres(c) => c.execute_batch(sql),
        }
    }

    /// Every row of a query, each read by `read`.
    pub fn query<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        read: impl FnMut(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        match self {
            Conn::Sqlite(c) => sqlite::query(c, sql, args, read),
            Conn::Postgres(c) => c.query(sql, args, read),
        }
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        read: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut read = Some(read);
        let mut rows = self.query(sql, args, |row| match read.take() {
            Some(read) => read(row).map(Some),
            None => Ok(None),
        })?;
        Ok(if rows.is_empty() {
            None
        } else {
            rows.swap_remove(0)
        })
    }

    /// The one row a query always gives (an aggregate).
    pub fn query_one<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        read: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.query_opt(sql, args, read)?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))
    }
}
