//! For tests and benchmarks of a store on PostgreSQL: the test server
//! (`scripts/setup-postgres.sh` writes its URL), and a schema of its own per
//! test, so that tests running at once never see each other's rows.

use super::db::{Conn, PgSession};
use super::{StoreError, StoreResult};

/// Where `scripts/setup-postgres.sh` leaves the test database's URL.
pub const TEST_URL_FILE: &str = "/var/lib/sandboxer/postgres-test.url";

/// Environment variable naming the test server instead (`postgres://…`).
pub const TEST_URL_ENV: &str = "SANDBOXER_TEST_POSTGRES";

/// How long a test's schema is kept before a later run drops it.
const KEPT_MS: i64 = 24 * 3600 * 1000;

/// The test server's URL: `SANDBOXER_TEST_POSTGRES`, else the set-up script's
/// file. An error says how to get one.
pub fn test_server() -> StoreResult<String> {
    if let Ok(url) = std::env::var(TEST_URL_ENV) {
        return Ok(url.trim().to_string());
    }
    std::fs::read_to_string(TEST_URL_FILE)
        .map(|url| url.trim().to_string())
        .map_err(|e| StoreError::Open {
            path: TEST_URL_FILE.into(),
            problem: format!(
                "{e}: no test PostgreSQL (run scripts/setup-postgres.sh as root, or set \
                 {TEST_URL_ENV})"
            ),
        })
}

/// A new, empty schema on the test server: the URL of a store in it (its
/// `search_path` set by the URL). Schemas of earlier runs over a day old are
/// dropped on the way.
pub fn fresh_schema() -> StoreResult<String> {
    let server = test_server()?;
    let session = PgSession::connect(&server)?;
    let conn = Conn::Postgres(&session);
    let now = crate::time::now_ms();
    let old = conn.query(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'sbx_test_%'",
        &[],
        |r| r.get::<String>(0),
    )?;
    for name in old {
        let made: Option<i64> = name.split('_').nth(2).and_then(|t| t.parse().ok());
        if made.is_some_and(|at| now - at > KEPT_MS) {
            conn.execute_batch(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))?;
        }
    }
    let name = format!(
        "sbx_test_{now}_{}",
        crate::ids::new_sandbox_id().to_lowercase()
    );
    conn.execute_batch(&format!("CREATE SCHEMA {name}"))?;
    let separator = if server.contains('?') { '&' } else { '?' };
    Ok(format!("{server}{separator}options=-csearch_path%3D{name}"))
}
