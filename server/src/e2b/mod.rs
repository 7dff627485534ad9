//! An E2B-compatible API on the daemon, under `/e2b`: agents written for E2B's
//! SDKs run on sandboxer unchanged when pointed at it (`E2B_API_URL` and
//! `E2B_SANDBOX_URL` both `http://HOST:PORT/e2b`). The control plane
//! (`control`) and the in-sandbox daemon, envd (`process`, `files`, `watch`),
//! share the prefix: their paths do not meet, and envd's calls are told apart
//! by their sandbox headers (`access`). Every call is one of sandboxer's
//! verbs, so it works on any backend with commands and files, and budgets,
//! the ledger, the reaper and events apply as to any sandbox.
//! `docs/e2b.md` lists every SDK call and what it gets here.

mod access;
mod control;
mod entries;
mod errors;
mod files;
mod process;
mod rpc;
mod state;
mod watch;

pub use state::E2bState;

use crate::App;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use errors::ControlError;
use std::sync::Arc;

/// Where the API is mounted.
pub const PREFIX: &str = "/e2b";

/// The E2B API's routes, under [`PREFIX`].
pub fn router() -> Router<Arc<App>> {
    let routes = Router::new()
        .route("/v2/sandboxes", get(control::list).post(control::create))
        .route("/sandboxes", get(control::list).post(control::create))
        .route(
            "/sandboxes/{id}",
            get(control::detail).delete(control::kill),
        )
        .route("/v2/sandboxes/{id}/connect", post(control::connect))
        .route("/sandboxes/{id}/connect", post(control::connect))
        .route("/sandboxes/{id}/resume", post(control::connect))
        .route("/sandboxes/{id}/timeout", post(control::set_timeout))
        .route("/sandboxes/{id}/pause", post(control::pause))
        .route("/sandboxes/{id}/metrics", get(control::metrics))
        .route("/health", get(files::health))
        .route(
            "/files",
            get(files::read)
                .post(files::write)
                // Uploads are streamed into the sandbox, never held whole.
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/process.Process/{method}", post(process_call))
        .route("/filesystem.Filesystem/{method}", post(filesystem_call))
        .fallback(unserved);
    Router::new().nest(PREFIX, routes)
}

async fn process_call(
    State(app): State<Arc<App>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    process::call(app, &method, headers, body).await
}

async fn filesystem_call(
    State(app): State<Arc<App>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    files::call(app, &method, headers, body).await
}

/// What a call the API does not serve gets: 501, naming it.
async fn unserved(method: Method, uri: Uri) -> ControlError {
    ControlError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "sandboxer's E2B API does not serve {method} {}: docs/e2b.md lists what it serves",
            uri.path()
        ),
    )
}
