//! Daytona's REST API as a client: the control plane (`/sandbox…`) and each
//! sandbox's toolbox (`{toolboxProxyUrl}/{id}/…`), with the API key as the
//! bearer token on both. A create refused with 429 is waited out a few times,
//! then reported as ResourceExhausted (the official client does not retry it);
//! 502/503 are Unavailable, so the core fails over; a 500 is Internal, because
//! the sandbox may have been made.

use reqwest::{Method, StatusCode};
use sandboxer_ext_protocol::Labels;
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The longest label filter sent in a list's URL.
const MAX_FILTER_BYTES: usize = 4096;
/// How long a create may take to reach `started`.
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Api {
    http: reqwest::Client,
    url: String,
    key: Option<String>,
    /// How many times a create refused for its rate is tried again.
    create_retries: u32,
}

/// The longest wait between two tries of a rate-limited create.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `POST /sandbox`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSandbox {
    pub name: String,
    pub snapshot: String,
    pub labels: Labels,
    pub env: BTreeMap<String, String>,
    pub auto_stop_interval: u64,
    pub ttl_minutes: u64,
    /// No route out (`network: {egress: deny}` without a list).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub network_block_all: bool,
    /// Comma-separated IPv4 CIDRs let through (any port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_allow_list: Option<String>,
    /// Comma-separated domains let through (any port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_allow_list: Option<String>,
}

/// The parts of Daytona's sandbox object the extension reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sandbox {
    pub id: String,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub toolbox_proxy_url: String,
}

impl Sandbox {
    /// Being deleted, or deleted: not a sandbox any more.
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_deref(), Some("destroying" | "destroyed"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    items: Vec<Sandbox>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Executed {
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    result: String,
}

fn kind_of(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        400 | 422 => ErrorKind::InvalidArgument,
        401 | 403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::DeadlineExceeded,
        409 => ErrorKind::AlreadyExists,
        429 => ErrorKind::ResourceExhausted,
        502 | 503 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

async fn refused(what: &str, response: reqwest::Response) -> ErrorObject {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect());
    ErrorObject::domain(
        kind_of(status),
        format!("Daytona {what}: {status}: {message}"),
    )
}

fn unreachable(what: &str, e: reqwest::Error) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::Unavailable,
        format!("Daytona {what}: not reached: {}", e.without_url()),
    )
}

impl Api {
    pub fn new(url: String, key: Option<String>, create_retries: u32) -> ExtResult<Api> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        Ok(Api {
            http,
            url: url.trim_end_matches('/').to_string(),
            key,
            create_retries,
        })
    }

    fn call(&self, method: Method, url: String) -> ExtResult<reqwest::RequestBuilder> {
        let key = self.key.as_deref().ok_or_else(|| {
            ErrorObject::domain(
                ErrorKind::PermissionDenied,
                "no Daytona API key: give it as a provider key (option api_key)",
            )
        })?;
        Ok(self.http.request(method, url).bearer_auth(key))
    }

    /// A call to `sandbox`'s toolbox at `path`.
    pub fn toolbox(
        &self,
        sandbox: &Sandbox,
        method: Method,
        path: &str,
    ) -> ExtResult<reqwest::RequestBuilder> {
        let url = format!("{}/{}{path}", sandbox.toolbox_proxy_url, sandbox.id);
        self.call(method, url)
    }

    pub async fn send(
        &self,
        what: &str,
        call: reqwest::RequestBuilder,
    ) -> ExtResult<reqwest::Response> {
        let response = call.send().await.map_err(|e| unreachable(what, e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refused(what, response).await)
        }
    }

    pub async fn json<T: for<'de> Deserialize<'de>>(
        what: &str,
        response: reqwest::Response,
    ) -> ExtResult<T> {
        response
            .json()
            .await
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, format!("Daytona {what}: {e}")))
    }

    /// `POST /sandbox`; a 429 is waited out (`Retry-After`, else doubling
    /// from a second) `create_retries` times, then ResourceExhausted.
    pub async fn create(&self, request: &CreateSandbox) -> ExtResult<Sandbox> {
        let mut wait = Duration::from_secs(1);
        let mut tries = 0;
        loop {
            let call = self
                .call(Method::POST, format!("{}/sandbox", self.url))?
                .json(request);
            let response = call.send().await.map_err(|e| unreachable("create", e))?;
            if response.status() == StatusCode::TOO_MANY_REQUESTS && tries < self.create_retries {
                let pause = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                    .map_or(wait, Duration::from_secs)
                    .min(MAX_BACKOFF);
                tokio::time::sleep(pause).await;
                tries += 1;
                wait = (wait * 2).min(MAX_BACKOFF);
                continue;
            }
            if !response.status().is_success() {
                return Err(refused("create", response).await);
            }
            return Self::json("create", response).await;
        }
    }

    /// Whether the API answers (`GET /health`).
    pub async fn health(&self) -> Result<(), String> {
        let response = self
            .http
            .get(format!("{}/health", self.url))
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("Daytona's health answered {}", response.status()))
        }
    }

    /// The sandbox with this id or name, if Daytona has it (one being deleted
    /// or deleted is gone).
    pub async fn get(&self, id_or_name: &str) -> ExtResult<Option<Sandbox>> {
        let call = self.call(Method::GET, format!("{}/sandbox/{id_or_name}", self.url))?;
        let response = call.send().await.map_err(|e| unreachable("get", e))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let found: Sandbox = Self::json("get", response).await?;
                Ok((!found.is_gone()).then_some(found))
            }
            _ => Err(refused("get", response).await),
        }
    }

    /// Polls until the sandbox is `started`.
    pub async fn wait_started(&self, id: &str) -> ExtResult<Sandbox> {
        let began = Instant::now();
        loop {
            let found = self.get(id).await?.ok_or_else(|| {
                ErrorObject::domain(
                    ErrorKind::Unavailable,
                    format!("sandbox {id} vanished while starting"),
                )
            })?;
            match found.state.as_deref() {
                Some("started") => return Ok(found),
                Some("error" | "build_failed" | "destroyed") => {
                    return Err(ErrorObject::domain(
                        ErrorKind::Unavailable,
                        format!("sandbox {id} did not start: {:?}", found.state),
                    ));
                }
                _ if began.elapsed() > START_TIMEOUT => {
                    return Err(ErrorObject::domain(
                        ErrorKind::DeadlineExceeded,
                        format!(
                            "sandbox {id} was not started after {} s",
                            START_TIMEOUT.as_secs()
                        ),
                    ));
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Every sandbox carrying all of `labels`, page by page (a filter too
    /// long for a URL is applied here instead).
    pub async fn list(&self, labels: &Labels) -> ExtResult<Vec<Sandbox>> {
        let filter = serde_json::to_string(labels).expect("labels serialize");
        if filter.len() > MAX_FILTER_BYTES {
            let all = Box::pin(self.list(&Labels::new())).await?;
            return Ok(all
                .into_iter()
                .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .collect());
        }
        let mut all = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("labels", filter.clone())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let call = self
                .call(Method::GET, format!("{}/sandbox", self.url))?
                .query(&query);
            let page: Page = Self::json("list", self.send("list", call).await?).await?;
            all.extend(page.items);
            cursor = page.next_cursor.filter(|c| !c.is_empty());
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// `POST /sandbox/{id}/ttl/{minutes}`: Daytona deletes the sandbox that
    /// many minutes from now, whatever its state.
    pub async fn set_ttl(&self, id: &str, minutes: u64) -> ExtResult<()> {
        let url = format!("{}/sandbox/{id}/ttl/{minutes}", self.url);
        let call = self
            .call(Method::POST, url)?
            .header(reqwest::header::CONTENT_LENGTH, 0);
        let response = call.send().await.map_err(|e| unreachable("set ttl", e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refused("set ttl", response).await)
        }
    }

    pub async fn delete(&self, id: &str) -> ExtResult<()> {
        let call = self.call(Method::DELETE, format!("{}/sandbox/{id}", self.url))?;
        let response = call.send().await.map_err(|e| unreachable("delete", e))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(()),
            s if s.is_success() => Ok(()),
            _ => Err(refused("delete", response).await),
        }
    }

    /// Runs a shell line in the sandbox: its exit code and its output.
    pub async fn execute(
        &self,
        sandbox: &Sandbox,
        line: &str,
        timeout_s: u64,
    ) -> ExtResult<(i32, String)> {
        let body = serde_json::json!({"command": line, "timeout": timeout_s});
        // Its own deadline: a command may run far longer than other calls.
        let call = self
            .toolbox(sandbox, Method::POST, "/process/execute")?
            .timeout(Duration::from_secs(timeout_s.saturating_add(30)))
            .json(&body);
        let done: Executed = Self::json("execute", self.send("execute", call).await?).await?;
        Ok((done.exit_code.unwrap_or(-1), done.result))
    }
}
