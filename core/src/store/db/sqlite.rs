//! The SQLite engine's side of `Conn`: cached statements, parameters as
//! rusqlite values, columns borrowed from rusqlite's rows.

use super::{Cell, DbError, Param, Row};
use crate::store::StoreResult;
use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, ValueRef};

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Param::Real(n) => ToSqlOutput::Borrowed(ValueRef::Real(*n)),
            Param::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Param::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

pub fn execute(conn: &rusqlite::Connection, sql: &str, args: &[Param<'_>]) -> StoreResult<usize> {
    let mut stmt = conn.prepare_cached(sql).map_err(DbError::from)?;
    Ok(stmt
        .execute(rusqlite::params_from_iter(args))
        .map_err(DbError::from)?)
}

pub fn query<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Param<'_>],
    mut read: impl FnMut(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(DbError::from)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args))
        .map_err(DbError::from)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(DbError::from)? {
        out.push(read(&Row::Sqlite(row))?);
    }
    Ok(out)
}

pub fn cell<'r>(row: &'r rusqlite::Row<'r>, index: usize) -> StoreResult<Cell<'r>> {
    Ok(match row.get_ref(index).map_err(DbError::from)? {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Real(n) => Cell::Real(n),
        ValueRef::Text(t) => {
            Cell::Text(std::str::from_utf8(t).map_err(|e| super::column(index, e.to_string()))?)
        }
        ValueRef::Blob(b) => Cell::Blob(b),
    })
}
