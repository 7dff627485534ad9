//! The two ways the tools are served: over stdio (`sandboxer mcp`, one client,
//! logs on stderr only), and as a streamable-HTTP service the daemon mounts
//! at `/mcp` (sessions kept in memory; each call authorized by its own
//! request).

use crate::access::Access;
use crate::tools::Tools;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

/// Serves the tools on stdin/stdout until the client closes them.
pub async fn serve_stdio<A: Access>(access: A) -> Result<(), String> {
    let running = Tools::new(access)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| {
            format!(
                "the MCP client did not start a session: {e}; `sandboxer mcp` is meant to be \
                 started by an MCP client, which speaks to it on stdin and stdout"
            )
        })?;
    running
        .waiting()
        .await
        .map_err(|e| format!("the MCP session ended badly: {e}"))?;
    Ok(())
}

/// The tools as a tower service for `/mcp`. Requests whose `Host` is not one
/// of `hosts` are refused (DNS rebinding: a page in a browser must not reach
/// a daemon on loopback by a name of its own); bodies are at most
/// `max_body_bytes`; every session's streams end when `stopping` is
/// cancelled.
pub fn http_service<A: Access>(
    access: A,
    hosts: Vec<String>,
    max_body_bytes: usize,
    stopping: tokio_util::sync::CancellationToken,
) -> StreamableHttpService<Tools<A>, LocalSessionManager> {
    let tools = Tools::new(access);
    StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_max_request_body_bytes(max_body_bytes)
            .with_cancellation_token(stopping),
    )
}
