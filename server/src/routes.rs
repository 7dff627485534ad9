//! The router, built from `api::ROUTES`: each route is written once there, and
//! `handler` says which function serves each verb (a verb without one does not
//! compile). `docs/openapi.yaml` must match the table (a test compares them).

use super::listener::Limits;
use super::{App, catalog, events, fleet, inside, proxy, sandboxes, snapshots};
use axum::Router;
use axum::routing::{MethodFilter, MethodRouter, on};
use sandboxer_core::api::{ROUTES, Verb};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The function that serves `verb`, for requests of `method`.
fn handler(verb: Verb, method: MethodFilter) -> MethodRouter<Arc<App>> {
    match verb {
        Verb::Health => on(method, fleet::healthz),
        Verb::Metrics => on(method, fleet::metrics),
        Verb::ListSandboxes => on(method, sandboxes::list),
        Verb::CreateSandbox => on(method, sandboxes::create),
        Verb::GetSandbox => on(method, sandboxes::get),
        Verb::DestroySandbox => on(method, sandboxes::destroy),
        Verb::RecreateSandbox => on(method, sandboxes::recreate),
        Verb::ExtendTtl => on(method, sandboxes::extend_ttl),
        Verb::Exec => on(method, sandboxes::exec),
        Verb::TakeSnapshot => on(method, snapshots::take),
        Verb::ListSnapshots => on(method, snapshots::list),
        Verb::DeleteSnapshot => on(method, snapshots::delete),
        Verb::RestoreSnapshot => on(method, snapshots::restore),
        Verb::ListProfiles => on(method, catalog::profiles),
        Verb::GetProfile => on(method, catalog::profile),
        Verb::ProfileGuarantees => on(method, catalog::guarantees),
        Verb::ListExtensions => on(method, catalog::extensions),
        Verb::GetExtension => on(method, catalog::extension),
        Verb::EventsPage => on(method, events::page),
        Verb::EventsStream => on(method, events::stream),
        Verb::Usage => on(method, fleet::usage),
        Verb::Hosts => on(method, fleet::hosts),
        Verb::StartCommand => on(method, inside::start_command),
        Verb::ListCommands => on(method, inside::list_commands),
        Verb::AttachCommand => on(method, inside::attach),
        Verb::WriteStdin => on(method, inside::write_stdin),
        Verb::SignalCommand => on(method, inside::signal),
        Verb::ResizeCommand => on(method, inside::resize),
        Verb::ReadFile => on(method, inside::read_file),
        Verb::WriteFile => on(method, inside::write_file),
        Verb::RemoveFile => on(method, inside::remove_file),
        Verb::ListFiles => on(method, inside::list_files),
        Verb::StatFile => on(method, inside::stat_file),
        Verb::MakeDir => on(method, inside::make_dir),
        Verb::RenameFile => on(method, inside::rename_file),
        Verb::GetTree => on(method, inside::get_tree),
        Verb::PutTree => on(method, inside::put_tree),
        Verb::PauseSandbox => on(method, sandboxes::pause),
        Verb::ResumeSandbox => on(method, sandboxes::resume),
        Verb::SandboxLogs => on(method, inside::logs),
        Verb::SandboxMetrics => on(method, inside::metrics),
        Verb::EndpointAccess => on(method, inside::endpoint_access),
        Verb::CommandTerminal => on(method, inside::terminal),
    }
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        other => panic!("api::ROUTES names method {other}, which the router does not know"),
    }
}

/// The daemon's router over `state`, with its request limits.
pub fn app(state: Arc<App>) -> Router {
    let daemon = &state.core.config.daemon;
    let limits = Limits {
        max_body_bytes: daemon.max_body_bytes,
        body_timeout: daemon.body_timeout,
    };
    // One method router per path, every method of that path in it.
    let mut paths: BTreeMap<&str, MethodRouter<Arc<App>>> = BTreeMap::new();
    for route in ROUTES {
        let served = handler(route.verb, method_filter(route.method));
        let merged = match paths.remove(route.path) {
            Some(earlier) => earlier.merge(served),
            None => served,
        };
        paths.insert(route.path, merged);
    }
    let mut router = Router::new();
    for (path, methods) in paths {
        router = router.route(path, methods);
    }
    // The endpoint proxy by path; by host name it is caught before routing.
    let proxied = format!("{}/{{id}}/{{name}}", sandboxer_core::endpoints::PATH_PREFIX);
    router = router
        .route(
            &format!("{proxied}/{{*rest}}"),
            axum::routing::any(proxy::by_path),
        )
        .route(
            &format!("{proxied}/"),
            axum::routing::any(proxy::by_path_root),
        );
    router
        .merge(super::mcp::router(state.clone()))
        .merge(super::e2b::router())
        .merge(super::console::router())
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            proxy::by_host,
        ))
        .with_state(state)
}
