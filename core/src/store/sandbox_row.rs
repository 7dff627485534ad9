//! Reading a row of `sandboxes`: which columns a read selects, in which order,
//! and the two decoders — an owned `SandboxRecord`, and a `SandboxView` that
//! borrows the row (JSON columns passed through unparsed, for fast listing) —
//! both generated from the one list below, so a column is named once.

use super::StoreResult;
use super::db::{FromCell, Row, column};
use super::records::SandboxRecord;
use super::view::{JsonField, SandboxView};
use crate::lifecycle::State;

/// A column as a `SandboxRecord` holds it.
mod owned {
    use super::*;

    pub fn value<'r, T: FromCell<'r>>(row: &Row<'r>, idx: usize) -> StoreResult<T> {
        row.get(idx)
    }
    pub use value as text;
    pub use value as text_opt;

    pub fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> StoreResult<T> {
        let text: &str = row.get(idx)?;
        serde_json::from_str(text).map_err(|e| column(idx, e.to_string()))
    }

    pub fn state(row: &Row<'_>, idx: usize) -> StoreResult<State> {
        super::state(row, idx)
    }
    pub fn amount(row: &Row<'_>, idx: usize) -> StoreResult<rust_decimal::Decimal> {
        Ok(row.get::<super::super::amounts::Amount>(idx)?.0)
    }
}

/// A column as a `SandboxView` borrows it.
mod borrowed {
    use super::*;

    pub use super::owned::{amount, state, value};

    pub fn text<'r>(row: &Row<'r>, idx: usize) -> StoreResult<&'r str> {
        row.get(idx)
    }

    pub fn text_opt<'r>(row: &Row<'r>, idx: usize) -> StoreResult<Option<&'r str>> {
        row.get(idx)
    }

    pub fn json<'r, T>(row: &Row<'r>, idx: usize) -> StoreResult<JsonField<'r, T>> {
        Ok(JsonField::Raw(text(row, idx)?))
    }
}

/// A `state` column, parsed.
pub fn state(row: &Row<'_>, idx: usize) -> StoreResult<State> {
    let text: &str = row.get(idx)?;
    text.parse().map_err(|e: String| column(idx, e))
}

macro_rules! sandbox_row {
    ($($field:ident: $kind:ident),* $(,)?; record only: $($extra:ident),* $(,)?) => {
        /// Each column's position in a row read with [`columns`].
        #[allow(non_upper_case_globals)]
        mod col {
            sandbox_row!(@at 0usize; $($field,)* $($extra),*);
        }

        const COLUMN_NAMES: &[&str] = &[$(stringify!($field),)* $(stringify!($extra)),*];

        /// A row read with [`columns`], as a record.
        pub fn from_row(row: &Row<'_>) -> StoreResult<SandboxRecord> {
            Ok(SandboxRecord {
                $($field: owned::$kind(row, col::$field)?,)*
                $($extra: owned::value(row, col::$extra)?,)*
            })
        }

        /// A row read with [`columns`], borrowed for output.
        pub fn view_of_row<'r>(row: &Row<'r>) -> StoreResult<SandboxView<'r>> {
            Ok(SandboxView {
                $($field: borrowed::$kind(row, col::$field)?,)*
                usage: None,
            })
        }
    };
    (@at $n:expr; $head:ident $(, $tail:ident)* $(,)?) => {
        pub const $head: usize = $n;
        sandbox_row!(@at $n + 1usize; $($tail),*);
    };
    (@at $n:expr;) => {};
}

// The columns every read of a sandbox selects, in order, with how each is
// decoded; the record alone keeps the last two.
sandbox_row!(
    id: text,
    state: state,
    profile_id: text,
    profile_version: text,
    extension: text,
    consumer: text,
    project: text,
    host: text_opt,
    labels: json,
    backend_ref: text_opt,
    endpoints: json,
    details: json,
    last_error: text_opt,
    ttl_ms: value,
    created_at: value,
    updated_at: value,
    state_since: value,
    expires_at: value,
    ceiling_at: value,
    cost_per_hour: amount,
    currency: text,
    replaces: text_opt,
    replaced_by: text_opt,
    billed_ms: value,
    resources: json,
    idle_ms: value,
    last_activity_at: value;
    record only: warned_expiry, pool
);

/// `id, state, ...`: every column, for a SELECT.
pub fn columns() -> &'static str {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| COLUMN_NAMES.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Every column the migrations give `sandboxes` is read, at the position
    /// `col` names: a column a migration adds and this list forgets fails here.
    #[test]
    fn the_decoders_read_every_column_of_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.sqlite")).unwrap();
        let tables = store.tables().unwrap();
        let mut read: Vec<&str> = COLUMN_NAMES.to_vec();
        let mut table: Vec<&str> = tables["sandboxes"].iter().map(String::as_str).collect();
        read.sort();
        table.sort();
        assert_eq!(read, table);
        assert_eq!(COLUMN_NAMES[col::ttl_ms], "ttl_ms");
        assert_eq!(COLUMN_NAMES[col::pool], "pool");
    }
}
