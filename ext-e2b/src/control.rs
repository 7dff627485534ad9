//! E2B's control plane, as a client: create, find by metadata, get, kill,
//! timeout, pause and connect. The API key goes in `X-API-KEY` and nowhere
//! else. A 429 is waited out (`Retry-After`, else doubling from a second)
//! up to `create_retries` times, then reported as `ResourceExhausted`, which
//! the core's routing fails over on.

use crate::settings::Settings;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sandboxer_e2b::control::{
    ConnectSandbox, ErrorBody, NewSandbox, Sandbox, SandboxDetail, SetTimeout,
};
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest a control-plane call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest metadata filter sent in a list's URL.
const MAX_FILTER_BYTES: usize = 4096;
/// The longest wait between two tries of a rate-limited create.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct ControlPlane {
    http: reqwest::Client,
    api_url: String,
    api_key: Option<String>,
    create_retries: u64,
}

/// What an E2B answer's status means to sandboxer (a conflict is a sandbox
/// that exists only to a create; to anything else, a state that refuses).
pub fn kind_of(what: &str, status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        400 | 422 => ErrorKind::InvalidArgument,
        401 | 403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        409 if what == "create" => ErrorKind::AlreadyExists,
        409 => ErrorKind::FailedPrecondition,
        429 => ErrorKind::ResourceExhausted,
        501 => ErrorKind::Unimplemented,
        502..=504 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// An error answer as the extension reports it, E2B's message kept.
pub async fn refused(what: &str, response: Response) -> ErrorObject {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&body)
        .map(|e| e.message)
        .unwrap_or_else(|_| body.chars().take(300).collect());
    ErrorObject::domain(
        kind_of(what, status),
        format!("E2B {what}: {status}: {message}"),
    )
}

/// A transport failure (E2B not reached).
pub fn unreachable(what: &str, e: reqwest::Error) -> ErrorObject {
    // Without the URL: it may carry nothing secret, but the key never does
    // either way (it is a header).
    let e = e.without_url();
    let kind = if e.is_timeout() {
        ErrorKind::DeadlineExceeded
    } else {
        ErrorKind::Unavailable
    };
    ErrorObject::domain(kind, format!("E2B {what}: not reached: {e}"))
}

/// How long a 429 asks to wait (`Retry-After` in seconds), else `fallback`.
fn retry_after(response: &Response, fallback: Duration) -> Duration {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map_or(fallback, Duration::from_secs)
        .min(MAX_BACKOFF)
}

impl ControlPlane {
    pub fn new(http: reqwest::Client, settings: &Settings) -> ControlPlane {
        ControlPlane {
            http,
            api_url: settings.api_url.clone(),
            api_key: settings.api_key.clone(),
            create_retries: settings.create_retries,
        }
    }

    fn call(&self, method: Method, path: &str) -> ExtResult<RequestBuilder> {
        let key = self.api_key.as_deref().ok_or_else(|| {
            ErrorObject::domain(
                ErrorKind::PermissionDenied,
                "no E2B API key: give it as a provider key (provider_keys, option api_key)",
            )
        })?;
        Ok(self
            .http
            .request(method, format!("{}{path}", self.api_url))
            .header(sandboxer_e2b::API_KEY_HEADER, key)
            .timeout(CALL_TIMEOUT))
    }

    async fn send(&self, what: &str, request: RequestBuilder) -> ExtResult<Response> {
        request.send().await.map_err(|e| unreachable(what, e))
    }

    /// `POST /v2/sandboxes`, a 429 waited out and tried again.
    pub async fn create(&self, request: &NewSandbox, idempotency_key: &str) -> ExtResult<Sandbox> {
        let mut wait = Duration::from_secs(1);
        let mut tries = 0;
        loop {
            let call = self
                .call(Method::POST, "/v2/sandboxes")?
                .header("idempotency-key", idempotency_key)
                .json(request);
            let response = self.send("create", call).await?;
            if response.status() == StatusCode::TOO_MANY_REQUESTS && tries < self.create_retries {
                let pause = retry_after(&response, wait);
                tracing::info!(
                    "E2B refused a create for its rate; trying again in {} ms",
                    pause.as_millis()
                );
                tokio::time::sleep(pause).await;
                tries += 1;
                wait = (wait * 2).min(MAX_BACKOFF);
                continue;
            }
            if !response.status().is_success() {
                return Err(refused("create", response).await);
            }
            return response
                .json()
                .await
                .map_err(|e| ErrorObject::domain(ErrorKind::Internal, format!("E2B create: {e}")));
        }
    }

    /// The sandboxes whose metadata holds every pair of `metadata`, every page
    /// (a filter too long for a URL is applied here instead).
    pub async fn list(&self, metadata: &BTreeMap<String, String>) -> ExtResult<Vec<SandboxDetail>> {
        let encoded = sandboxer_e2b::metadata::encode(metadata);
        if encoded.len() > MAX_FILTER_BYTES {
            let all = Box::pin(self.list(&BTreeMap::new())).await?;
            return Ok(all
                .into_iter()
                .filter(|d| metadata.iter().all(|(k, v)| d.metadata.get(k) == Some(v)))
                .collect());
        }
        let mut all = vec![];
        let mut next: Option<String> = None;
        loop {
            let mut query: Vec<(&str, String)> = vec![("limit", "100".into())];
            if !metadata.is_empty() {
                query.push(("metadata", encoded.clone()));
            }
            if let Some(token) = &next {
                query.push(("nextToken", token.clone()));
            }
            let response = self
                .send(
                    "list",
                    self.call(Method::GET, "/v2/sandboxes")?.query(&query),
                )
                .await?;
            if !response.status().is_success() {
                return Err(refused("list", response).await);
            }
            next = response
                .headers()
                .get(sandboxer_e2b::NEXT_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let page: Vec<SandboxDetail> = response
                .json()
                .await
                .map_err(|e| ErrorObject::domain(ErrorKind::Internal, format!("E2B list: {e}")))?;
            all.extend(page);
            if next.is_none() {
                return Ok(all);
            }
        }
    }

    /// `GET /sandboxes/{id}`; `None` when E2B has no such sandbox.
    pub async fn get(&self, id: &str) -> ExtResult<Option<SandboxDetail>> {
        let response = self
            .send("get", self.call(Method::GET, &format!("/sandboxes/{id}"))?)
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => response
                .json()
                .await
                .map(Some)
                .map_err(|e| ErrorObject::domain(ErrorKind::Internal, format!("E2B get: {e}"))),
            _ => Err(refused("get", response).await),
        }
    }

    /// `DELETE /sandboxes/{id}`: whether it was there.
    pub async fn kill(&self, id: &str) -> ExtResult<bool> {
        let response = self
            .send(
                "kill",
                self.call(Method::DELETE, &format!("/sandboxes/{id}"))?,
            )
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            _ => Err(refused("kill", response).await),
        }
    }

    /// `POST /sandboxes/{id}/timeout`: it ends `seconds` from now.
    pub async fn set_timeout(&self, id: &str, seconds: u64) -> ExtResult<()> {
        let call = self
            .call(Method::POST, &format!("/sandboxes/{id}/timeout"))?
            .json(&SetTimeout { timeout: seconds });
        let response = self.send("set timeout", call).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refused("set timeout", response).await)
        }
    }

    /// `POST /sandboxes/{id}/pause`; paused already is fine.
    pub async fn pause(&self, id: &str) -> ExtResult<()> {
        let call = self
            .call(Method::POST, &format!("/sandboxes/{id}/pause"))?
            .json(&serde_json::json!({}));
        let response = self.send("pause", call).await?;
        match response.status() {
            StatusCode::CONFLICT => Ok(()),
            s if s.is_success() => Ok(()),
            _ => Err(refused("pause", response).await),
        }
    }

    /// `POST /v2/sandboxes/{id}/connect`: resumes a paused sandbox.
    pub async fn connect(&self, id: &str) -> ExtResult<Sandbox> {
        let call = self
            .call(Method::POST, &format!("/v2/sandboxes/{id}/connect"))?
            .json(&ConnectSandbox::default());
        let response = self.send("connect", call).await?;
        if !response.status().is_success() {
            return Err(refused("connect", response).await);
        }
        response
            .json()
            .await
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, format!("E2B connect: {e}")))
    }

    /// Whether the control plane answers this key (`host/health`).
    pub async fn health(&self) -> Result<usize, String> {
        let call = self
            .call(Method::GET, "/v2/sandboxes")
            .map_err(|e| e.message)?
            .query(&[("limit", "100")]);
        let response = call.send().await.map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(refused("list", response).await.message);
        }
        let page: Vec<serde_json::Value> = response.json().await.map_err(|e| e.to_string())?;
        Ok(page.len())
    }
}
