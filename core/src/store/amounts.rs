//! Amounts (rates) in the store: decimal text in TEXT columns, read back
//! exactly. Text is written normalized (`0.6`, never `0.60`), so that equal
//! rates are equal text — a warm pool's claim compares them in SQL.

use super::db::{Cell, FromCell, Param, ToParam};
use rust_decimal::Decimal;
use sandboxer_ext_protocol::money;
use std::borrow::Cow;

/// A decimal as a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl ToParam for Amount {
    fn param(&self) -> Param<'_> {
        Param::Text(Cow::Owned(money::text_of(self.0)))
    }
}

impl FromCell<'_> for Amount {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Text(text) => text
                .parse()
                .map(Amount)
                .map_err(|_| "an amount that is not decimal text".to_string()),
            Cell::Int(n) => Ok(Amount(Decimal::from(n))),
            _ => Err("an amount that is not decimal text".into()),
        }
    }
}
