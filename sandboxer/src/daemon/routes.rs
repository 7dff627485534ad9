//! The router: every route of the API in one table, which `docs/openapi.yaml` must
//! match (a test compares them).

use super::listener::Limits;
use super::{App, catalog, events, fleet, sandboxes, snapshots};
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// Every (method, path) the daemon serves.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/sandboxes"),
    ("POST", "/v1/sandboxes"),
    ("GET", "/v1/sandboxes/{id}"),
    ("DELETE", "/v1/sandboxes/{id}"),
    ("POST", "/v1/sandboxes/{id}/recreate"),
    ("POST", "/v1/sandboxes/{id}/extend-ttl"),
    ("POST", "/v1/sandboxes/{id}/exec"),
    ("POST", "/v1/sandboxes/{id}/snapshot"),
    ("GET", "/v1/snapshots"),
    ("DELETE", "/v1/snapshots/{id}"),
    ("POST", "/v1/snapshots/{id}/restore"),
    ("GET", "/v1/profiles"),
    ("GET", "/v1/profiles/{id}"),
    ("GET", "/v1/extensions"),
    ("GET", "/v1/extensions/{name}"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/stream"),
    ("GET", "/v1/usage"),
    ("GET", "/v1/hosts"),
];

/// The daemon's router over `state`, with its request limits.
pub fn app(state: Arc<App>) -> Router {
    let daemon = &state.core.config.daemon;
    let limits = Limits {
        max_body_bytes: daemon.max_body_bytes,
        body_timeout: daemon.body_timeout,
    };
    Router::new()
        .route("/healthz", get(fleet::healthz))
        .route("/metrics", get(fleet::metrics))
        .route(
            "/v1/sandboxes",
            get(sandboxes::list).post(sandboxes::create),
        )
        .route(
            "/v1/sandboxes/{id}",
            get(sandboxes::get).delete(sandboxes::destroy),
        )
        .route("/v1/sandboxes/{id}/recreate", post(sandboxes::recreate))
        .route("/v1/sandboxes/{id}/extend-ttl", post(sandboxes::extend_ttl))
        .route("/v1/sandboxes/{id}/exec", post(sandboxes::exec))
        .route("/v1/sandboxes/{id}/snapshot", post(snapshots::take))
        .route("/v1/snapshots", get(snapshots::list))
        .route(
            "/v1/snapshots/{id}",
            axum::routing::delete(snapshots::delete),
        )
        .route("/v1/snapshots/{id}/restore", post(snapshots::restore))
        .route("/v1/profiles", get(catalog::profiles))
        .route("/v1/profiles/{id}", get(catalog::profile))
        .route("/v1/extensions", get(catalog::extensions))
        .route("/v1/extensions/{name}", get(catalog::extension))
        .route("/v1/events", get(events::page))
        .route("/v1/events/stream", get(events::stream))
        .route("/v1/usage", get(fleet::usage))
        .route("/v1/hosts", get(fleet::hosts))
        .fallback(|| async {
            super::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route",
            )
        })
        .method_not_allowed_fallback(|| async {
            super::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(axum::Extension(limits))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
}
