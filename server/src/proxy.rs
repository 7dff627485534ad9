//! The endpoint proxy: a sandbox's HTTP and WebSocket endpoints served at the
//! daemon's own addresses — by host name (`{name}-{id}.{domain}`, caught
//! before routing by [`by_host`]) or by path (`/proxy/{id}/{name}/…`,
//! [`by_path`]). A private endpoint (the default) needs its token: in the
//! `X-Sandboxer-Endpoint-Token` header, in the cookie a signed URL left, or as
//! a signed URL's good, unexpired signature (`sandboxer_core::endpoints`). The
//! bearer tokens of the API play no part: a browser cannot send them, and an
//! endpoint's token opens that endpoint only. Every proxied request counts as
//! use of the sandbox (a paused one with `auto_resume` is resumed first).
//! What the proxy itself reads — its token, its cookie, the signature — is
//! taken out before the request goes on.

use super::App;
use super::error::ApiError;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use sandboxer_core::endpoints::{self, COOKIE, EXPIRES_PARAM, SIGNATURE_PARAM, TOKEN_HEADER};
use sandboxer_core::operations;
use std::sync::Arc;

/// Which address a request came by: the path the sandbox's service sees, and
/// where the cookie of a signed URL applies.
struct Via {
    /// The request's path for the service, with its query.
    path_and_query: String,
    cookie_path: String,
}

/// Before routing: a request whose `Host` names an endpoint is proxied,
/// whatever its path.
pub async fn by_host(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Some((id, name)) = endpoints::from_host(&host, &app.core.config.daemon.proxy.domain) else {
        return next.run(request).await;
    };
    let via = Via {
        path_and_query: request
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string()),
        cookie_path: "/".into(),
    };
    forward(&app, id, name, via, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `/proxy/{id}/{name}/{*rest}`.
pub async fn by_path(
    State(app): State<Arc<App>>,
    Path((id, name, rest)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let via = Via {
        path_and_query: format!("/{rest}{query}"),
        cookie_path: format!("{}/{id}/{name}/", endpoints::PATH_PREFIX),
    };
    forward(&app, &id, &name, via, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `/proxy/{id}/{name}/` (the endpoint's root).
pub async fn by_path_root(
    State(app): State<Arc<App>>,
    Path((id, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    by_path(State(app), Path((id, name, String::new())), request).await
}

/// A query without the signature's parameters.
fn without_signature(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let key = p.split('=').next().unwrap_or_default();
            key != EXPIRES_PARAM && key != SIGNATURE_PARAM
        })
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The proxy's cookie in a `Cookie` header, and the header without it.
fn split_cookie(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let mut ours = None;
    let mut rest = vec![];
    for value in headers.get_all(header::COOKIE) {
        for part in value.to_str().unwrap_or_default().split(';') {
            let part = part.trim();
            match part.split_once('=') {
                Some((k, v)) if k == COOKIE => ours = Some(v.to_string()),
                _ if !part.is_empty() => rest.push(part.to_string()),
                _ => {}
            }
        }
    }
    (ours, (!rest.is_empty()).then(|| rest.join("; ")))
}

/// How the caller proved it may reach the endpoint: `Some(true)` by a signed
/// URL (a cookie is left), `Some(false)` otherwise; `None`: it did not.
fn admitted(app: &App, id: &str, name: &str, public: bool, request: &Request) -> Option<bool> {
    if public {
        return Some(false);
    }
    let key = app.core.endpoint_key().ok()?;
    let headers = request.headers();
    let by_header = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| key.token_is(id, name, t));
    let by_cookie = split_cookie(headers)
        .0
        .is_some_and(|t| key.token_is(id, name, &t));
    if by_header || by_cookie {
        return Some(false);
    }
    let query = request.uri().query().unwrap_or_default();
    let expires = query_value(query, EXPIRES_PARAM).and_then(|e| e.parse::<i64>().ok());
    let signature = query_value(query, SIGNATURE_PARAM);
    match (expires, signature) {
        (Some(e), Some(s)) if key.signature_is(id, name, e, s, sandboxer_core::time::now_ms()) => {
            Some(true)
        }
        _ => None,
    }
}

fn refused(id: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!(
            "endpoint {name} of sandbox {id} is private: send its token in the {TOKEN_HEADER} \
             header, or open a signed URL (both from GET /v1/sandboxes/{id}/endpoints/{name}/access)"
        ),
    )
}

fn bad_gateway(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "backend_unavailable", message)
}

async fn forward(
    app: &App,
    id: &str,
    name: &str,
    via: Via,
    mut request: Request,
) -> Result<Response, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint {name} of a sandbox {id}"),
        )
    };
    let record = app.core.record(id).map_err(|_| unknown())?;
    let endpoint = operations::http_endpoint(&record, name).map_err(|_| unknown())?;
    let public = operations::is_public(&app.core, &record, name);
    let signed = admitted(app, id, name, public, &request).ok_or_else(|| refused(id, name))?;
    operations::touch(&app.core, id);
    let record = operations::awake(&app.core, record).await?;
    if !record.state.is_usable() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "sandbox {id} is {}; its endpoints are not served",
                record.state
            ),
        ));
    }

    // The request as the service receives it.
    let target = format!("{}:{}", endpoint.host, endpoint.port);
    let path = without_signature(&via.path_and_query);
    *request.uri_mut() = Uri::try_from(path.as_str())
        .map_err(|e| ApiError::bad_request(format!("the path: {e}")))?;
    let upgrade = request.headers().contains_key(header::UPGRADE);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let headers = request.headers_mut();
    headers.remove(TOKEN_HEADER);
    let (_, other_cookies) = split_cookie(headers);
    headers.remove(header::COOKIE);
    if let Some(c) = other_cookies.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::COOKIE, c);
    }
    if let Ok(host) = HeaderValue::from_str(&target) {
        headers.insert(header::HOST, host);
    }

    let stream = tokio::net::TcpStream::connect(&target)
        .await
        .map_err(|e| bad_gateway(format!("endpoint {name} of sandbox {id} at {target}: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| bad_gateway(format!("endpoint {name} at {target}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!("proxied connection: {e}");
        }
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| bad_gateway(format!("endpoint {name} at {target}: {e}")))?;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let service_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (Ok(client), Ok(service)) = (client_upgrade.await, service_upgrade.await) else {
                return;
            };
            let (mut client, mut service) = (TokioIo::new(client), TokioIo::new(service));
            let _ = tokio::io::copy_bidirectional(&mut client, &mut service).await;
        });
    }
    let (mut parts, body) = response.into_parts();
    if signed {
        let token = app
            .core
            .endpoint_key()
            .map(|k| k.token(id, name))
            .unwrap_or_default();
        let cookie = format!(
            "{COOKIE}={token}; Path={}; HttpOnly; SameSite=Lax",
            via.cookie_path
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            parts.headers.append(header::SET_COOKIE, value);
        }
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_leaves_the_query_and_other_cookies_stay() {
        assert_eq!(
            without_signature("/a?x=1&sandboxer_expires=9&sandboxer_signature=ab&y=2"),
            "/a?x=1&y=2"
        );
        assert_eq!(
            without_signature("/a?sandboxer_expires=9&sandboxer_signature=ab"),
            "/a"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; sandboxer_endpoint=abc; lang=en"),
        );
        let (ours, rest) = split_cookie(&headers);
        assert_eq!(ours.as_deref(), Some("abc"));
        assert_eq!(rest.as_deref(), Some("theme=dark; lang=en"));
    }
}
