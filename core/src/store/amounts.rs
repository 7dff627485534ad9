//! Amounts (rates) in the store: decimal text in TEXT columns, read back
//! exactly. Text is written normalized (`0.6`, never `0.60`), so that equal
//! rates are equal text — a warm pool's claim compares them in SQL.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rust_decimal::Decimal;
use sandboxer_ext_protocol::money;

/// A decimal as a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl ToSql for Amount {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(money::text_of(self.0)))
    }
}

impl FromSql for Amount {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(text) => std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse().ok())
                .map(Amount)
                .ok_or_else(|| FromSqlError::Other("an amount that is not decimal text".into())),
            ValueRef::Integer(n) => Ok(Amount(Decimal::from(n))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}
