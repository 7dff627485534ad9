//! `/mcp`: sandboxer's MCP tools over streamable HTTP (`sandboxer_mcp`). Every
//! request is authenticated before MCP sees it (a missing or unknown token is
//! a 401, as on every route), and each tool call runs as the caller its own
//! request's token names: a session opened with one token cannot be used with
//! another's rights, nor without a token.

use super::App;
use super::auth::Principal;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sandboxer_core::api::CoreVerbs;
use sandboxer_mcp::Access;
use std::sync::Arc;

/// Where the service is mounted.
pub const PATH: &str = "/mcp";

/// The daemon's core as each request's caller.
struct AsCaller(Arc<App>);

impl Access for AsCaller {
    type Verbs = CoreVerbs;

    fn verbs(&self, request: Option<&http::request::Parts>) -> Result<CoreVerbs, String> {
        request
            .and_then(|parts| parts.extensions.get::<Principal>())
            .map(|who| self.0.verbs(who))
            .ok_or_else(|| "this call carried no authenticated caller".to_string())
    }
}

/// The router serving `/mcp`, its requests authenticated first.
pub fn router(state: Arc<App>) -> axum::Router<Arc<App>> {
    let daemon = &state.core.config.daemon;
    let service = sandboxer_mcp::http_service(
        AsCaller(state.clone()),
        allowed_hosts(daemon),
        daemon.max_body_bytes,
        state.stopping.child_token(),
    );
    axum::Router::new()
        .nest_service(PATH, service)
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
}

/// The `Host` names `/mcp` answers: loopback, the address the daemon is
/// configured to listen on, and its proxy's public URL's host.
fn allowed_hosts(daemon: &sandboxer_core::config::DaemonConfig) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if let Ok(addr) = daemon.listen.parse::<std::net::SocketAddr>()
        && !addr.ip().is_unspecified()
    {
        hosts.push(addr.ip().to_string());
    }
    if let Some(host) = daemon
        .proxy
        .public_url
        .as_deref()
        .and_then(|url| url.parse::<http::Uri>().ok())
        .and_then(|uri| uri.host().map(str::to_string))
    {
        hosts.push(host);
    }
    hosts
}

/// Refuses a request without a known bearer token; hands the caller on.
async fn authenticate(State(state): State<Arc<App>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match Principal::from_request_parts(&mut parts, &state).await {
        Ok(who) => {
            parts.extensions.insert(who);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refused) => refused.into_response(),
    }
}
