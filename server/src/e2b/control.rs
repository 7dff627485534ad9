//! The control plane: create (a template is a sandboxer profile), connect,
//! list, get, kill, timeout, pause and metrics, each one of the key holder's
//! verbs. Metadata is kept as labels under `e2b.`; the timeout is the TTL.

use super::access::{KeyHolder, envd_token};
use super::errors::{ControlError, ControlResult};
use crate::App;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sandboxer_core::api::{CreateSandbox, ExtendTtl, GetSandbox, ListSandboxes, Verbs};
use sandboxer_core::lifecycle::State as SandboxerState;
use sandboxer_core::store::SandboxRecord;
use sandboxer_core::time::{now_ms, rfc3339};
use sandboxer_e2b::control::{
    ConnectSandbox, NewSandbox, Sandbox, SandboxDetail, SandboxMetric, SandboxState, SetTimeout,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

type S = State<Arc<App>>;

/// Where metadata goes among a sandbox's labels.
pub const METADATA_PREFIX: &str = "e2b.";
/// The label naming the `envVars` a sandbox was created with (names only;
/// the values live in the daemon's memory).
pub const ENV_NAMES_LABEL: &str = "e2b-env";
/// E2B's default lifetime, seconds.
const DEFAULT_TIMEOUT_S: u64 = 300;
/// What `clientID` says.
const CLIENT_ID: &str = "sandboxer";
/// Create options that ask for nothing when they hold these values.
const HARMLESS: [(&str, Value); 3] = [
    ("autoPause", Value::Bool(false)),
    ("autoPauseMemory", Value::Bool(false)),
    ("secure", Value::Bool(true)),
];

/// The labels for `metadata`, or which key cannot be one.
fn labels_of(metadata: &BTreeMap<String, String>) -> ControlResult<BTreeMap<String, String>> {
    metadata
        .iter()
        .map(|(key, value)| {
            let label = format!("{METADATA_PREFIX}{key}");
            sandboxer_core::labels::validate_key(&label)
                .and_then(|()| sandboxer_core::labels::validate_value(&label, value))
                .map_err(|e| {
                    ControlError::bad_request(format!(
                        "metadata {key:?} cannot be kept: sandboxer keeps metadata as labels \
                         ({e}; the key is kept under \"{METADATA_PREFIX}\")"
                    ))
                })?;
            Ok((label, value.clone()))
        })
        .collect()
}

/// The metadata among a record's labels.
fn metadata_of(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(METADATA_PREFIX)
                .map(|k| (k.to_string(), v.clone()))
        })
        .collect()
}

/// The template a profile is to E2B: its name (`profile.` left off its id).
fn template_of(profile_id: &str) -> String {
    profile_id
        .strip_prefix(sandboxer_core::profile::PROFILE_ID_PREFIX)
        .unwrap_or(profile_id)
        .to_string()
}

/// Refuses options sandboxer does not honour, naming them.
fn refuse_unhonoured(other: &BTreeMap<String, Value>) -> ControlResult<()> {
    let unhonoured: Vec<&str> = other
        .iter()
        .filter(|(k, v)| !HARMLESS.iter().any(|(name, ok)| name == k && ok == *v))
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.as_str())
        .collect();
    if unhonoured.is_empty() {
        return Ok(());
    }
    Err(ControlError::bad_request(format!(
        "sandboxer's E2B API does not honour {}: a sandbox's network, pausing and mounts are \
         its profile's (see docs/e2b.md)",
        unhonoured.join(", ")
    )))
}

fn e2b_state(state: SandboxerState) -> SandboxState {
    if state == SandboxerState::Paused {
        SandboxState::Paused
    } else {
        SandboxState::Running
    }
}

/// What E2B says of a sandbox, from what sandboxer records of it.
struct Facts<'a> {
    id: &'a str,
    profile: &'a str,
    state: SandboxerState,
    created_at: i64,
    expires_at: i64,
    labels: &'a BTreeMap<String, String>,
    resources: &'a sandboxer_ext_protocol::Resources,
}

impl<'a> Facts<'a> {
    fn of(record: &'a SandboxRecord) -> Facts<'a> {
        Facts {
            id: &record.id,
            profile: &record.profile_id,
            state: record.state,
            created_at: record.created_at,
            expires_at: record.expires_at,
            labels: &record.labels,
            resources: &record.resources,
        }
    }

    fn detail(&self) -> SandboxDetail {
        SandboxDetail {
            template_id: template_of(self.profile),
            sandbox_id: self.id.to_string(),
            client_id: CLIENT_ID.into(),
            alias: Some(template_of(self.profile)),
            started_at: rfc3339(self.created_at),
            end_at: rfc3339(self.expires_at),
            envd_version: sandboxer_e2b::ENVD_VERSION.into(),
            cpu_count: self.resources.cpus.map_or(1, |c| c.ceil().max(1.0) as u32),
            memory_mb: self.resources.memory_mb.unwrap_or(0),
            disk_size_mb: self.resources.disk_mb.unwrap_or(0),
            state: e2b_state(self.state),
            metadata: metadata_of(self.labels),
            envd_access_token: None,
        }
    }
}

fn sandbox_of(app: &App, record: &SandboxRecord) -> ControlResult<Sandbox> {
    Ok(Sandbox {
        template_id: template_of(&record.profile_id),
        sandbox_id: record.id.clone(),
        client_id: CLIENT_ID.into(),
        envd_version: sandboxer_e2b::ENVD_VERSION.into(),
        envd_access_token: Some(envd_token(app, &record.id)?),
        alias: Some(template_of(&record.profile_id)),
        domain: None,
    })
}

/// The key holder's live sandbox `id` (404 otherwise, as E2B answers).
async fn live(app: &App, who: &KeyHolder, id: &str) -> ControlResult<SandboxRecord> {
    let shown = app
        .verbs(&who.0)
        .get(id, GetSandbox::default())
        .await
        .map_err(|e| match e.class() {
            sandboxer_core::error::ErrorClass::NotFound
            | sandboxer_core::error::ErrorClass::Invalid => {
                ControlError::not_found(format!("sandbox {id} not found"))
            }
            _ => e.into(),
        })?;
    if !shown.record.state.is_live() {
        return Err(ControlError::not_found(format!(
            "sandbox {id} not found (it is {})",
            shown.record.state
        )));
    }
    Ok(shown.record)
}

/// `POST /v2/sandboxes` (and v1's `POST /sandboxes`).
pub async fn create(
    State(app): S,
    who: KeyHolder,
    headers: HeaderMap,
    Json(request): Json<NewSandbox>,
) -> ControlResult<Response> {
    refuse_unhonoured(&request.other)?;
    if let Some(per_minute) = app.core.config.daemon.e2b.creates_per_minute {
        let key = format!("{}/{}", who.0.consumer, who.0.project);
        if let Err(wait) = app.e2b.take_create(&key, per_minute) {
            return Err(ControlError::too_many(
                format!("this key may create {per_minute} sandboxes a minute"),
                wait.as_secs().max(1),
            ));
        }
    }
    let mut labels = labels_of(&request.metadata.clone().unwrap_or_default())?;
    let env = request.env_vars.clone().unwrap_or_default();
    if !env.is_empty() {
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        labels.insert(ENV_NAMES_LABEL.into(), names.join(","));
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let timeout = request.timeout.unwrap_or(DEFAULT_TIMEOUT_S);
    let created = app
        .verbs(&who.0)
        .create(CreateSandbox {
            profile: request.template_id,
            ttl: Some(format!("{timeout}s")),
            labels,
            wait: Some(true),
            idempotency_key,
            ..CreateSandbox::default()
        })
        .await?;
    if !env.is_empty() {
        app.e2b.set_env(&created.record.id, env);
    }
    let answer = sandbox_of(&app, &created.record)?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /v2/sandboxes`' query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    metadata: Option<String>,
    /// `running`, `paused` or both, comma-joined.
    state: Option<String>,
    template: Option<String>,
    limit: Option<usize>,
    next_token: Option<String>,
    /// `asc` or `desc` (by start).
    order: Option<String>,
}

/// The most a page holds.
const MAX_PAGE: usize = 100;

/// `GET /v2/sandboxes` (and v1's `GET /sandboxes`): the key holder's live
/// sandboxes, newest first, a page at a time (`x-next-token`).
pub async fn list(
    State(app): S,
    who: KeyHolder,
    Query(query): Query<ListQuery>,
) -> ControlResult<Response> {
    let metadata = match &query.metadata {
        Some(m) => sandboxer_e2b::metadata::decode(m).map_err(ControlError::bad_request)?,
        None => BTreeMap::new(),
    };
    let wanted: Vec<SandboxState> = match &query.state {
        None => vec![SandboxState::Running, SandboxState::Paused],
        Some(states) => states
            .split(',')
            .map(|s| match s.trim() {
                "running" => Ok(SandboxState::Running),
                "paused" => Ok(SandboxState::Paused),
                other => Err(ControlError::bad_request(format!(
                    "state {other:?} is not running or paused"
                ))),
            })
            .collect::<ControlResult<_>>()?,
    };
    let filter = ListSandboxes {
        profile: query.template.clone(),
        labels: metadata
            .iter()
            .map(|(k, v)| (format!("{METADATA_PREFIX}{k}"), v.clone()))
            .collect(),
        ..ListSandboxes::default()
    };
    let mut found: Vec<(i64, SandboxDetail)> = vec![];
    app.verbs(&who.0)
        .list(&filter, |view| -> ControlResult<()> {
            if !view.state.is_live() || !wanted.contains(&e2b_state(view.state)) {
                return Ok(());
            }
            let unreadable = |e: serde_json::Error| {
                ControlError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("sandbox {}'s record: {e}", view.id),
                )
            };
            let labels = view.labels.to_value().map_err(unreadable)?;
            let resources = view.resources.to_value().map_err(unreadable)?;
            let facts = Facts {
                id: view.id,
                profile: view.profile_id,
                state: view.state,
                created_at: view.created_at,
                expires_at: view.expires_at,
                labels: &labels,
                resources: &resources,
            };
            found.push((view.created_at, facts.detail()));
            Ok(())
        })
        .await?;
    match query.order.as_deref() {
        Some("asc") => found.sort_by_key(|(at, d)| (*at, d.sandbox_id.clone())),
        _ => found.sort_by_key(|(at, d)| (std::cmp::Reverse(*at), d.sandbox_id.clone())),
    }
    let start: usize = match &query.next_token {
        Some(t) if !t.is_empty() => t.parse().map_err(|_| {
            ControlError::bad_request(format!(
                "nextToken {t:?} is not one this API gave: pass the x-next-token of the \
                     page before, or none for the first page"
            ))
        })?,
        _ => 0,
    };
    let limit = query.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let page: Vec<SandboxDetail> = found
        .into_iter()
        .skip(start)
        .take(limit + 1)
        .map(|(_, d)| d)
        .collect();
    let more = page.len() > limit;
    let page: Vec<SandboxDetail> = page.into_iter().take(limit).collect();
    let mut response = Json(page).into_response();
    if more {
        response.headers_mut().insert(
            sandboxer_e2b::NEXT_TOKEN_HEADER,
            HeaderValue::from_str(&(start + limit).to_string()).expect("digits"),
        );
    }
    Ok(response)
}

/// `GET /sandboxes/{id}`.
pub async fn detail(
    State(app): S,
    who: KeyHolder,
    Path(id): Path<String>,
) -> ControlResult<Json<SandboxDetail>> {
    let record = live(&app, &who, &id).await?;
    let mut detail = Facts::of(&record).detail();
    detail.envd_access_token = Some(envd_token(&app, &id)?);
    Ok(Json(detail))
}

/// `DELETE /sandboxes/{id}`: 204, or 404 when it is already gone.
pub async fn kill(
    State(app): S,
    who: KeyHolder,
    Path(id): Path<String>,
) -> ControlResult<StatusCode> {
    live(&app, &who, &id).await?;
    let outcome = app.verbs(&who.0).destroy(&id).await?;
    app.e2b.forget(&id);
    if outcome.already_destroyed {
        return Err(ControlError::not_found(format!("sandbox {id} not found")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `seconds` from now, in the store's milliseconds (saturating).
fn ends_at(seconds: u64) -> i64 {
    now_ms().saturating_add(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// Makes the sandbox end `seconds` from now, if that is later than its end
/// now; sandboxer never shortens a lifetime.
async fn end_in(
    app: &App,
    who: &KeyHolder,
    record: &SandboxRecord,
    seconds: u64,
) -> ControlResult<()> {
    let by = ends_at(seconds).saturating_sub(record.expires_at);
    if by <= 0 {
        return Err(ControlError::bad_request(format!(
            "sandbox {} already runs until {}: sandboxer lengthens a sandbox's lifetime but never \
             shortens it (kill it instead)",
            record.id,
            rfc3339(record.expires_at)
        )));
    }
    app.verbs(&who.0)
        .extend_ttl(
            &record.id,
            ExtendTtl {
                by: format!("{by}ms"),
            },
        )
        .await?;
    Ok(())
}

/// `POST /sandboxes/{id}/timeout`.
pub async fn set_timeout(
    State(app): S,
    who: KeyHolder,
    Path(id): Path<String>,
    Json(request): Json<SetTimeout>,
) -> ControlResult<StatusCode> {
    let record = live(&app, &who, &id).await?;
    end_in(&app, &who, &record, request.timeout).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sandboxes/{id}/pause`: 204, or 409 when it is paused already.
pub async fn pause(
    State(app): S,
    who: KeyHolder,
    Path(id): Path<String>,
) -> ControlResult<StatusCode> {
    let record = live(&app, &who, &id).await?;
    if record.state == SandboxerState::Paused {
        return Err(ControlError::new(
            StatusCode::CONFLICT,
            format!("sandbox {id} is already paused"),
        ));
    }
    app.verbs(&who.0).pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v2/sandboxes/{id}/connect` (and v1's `/connect`, `/resume`): a
/// paused sandbox resumed, its lifetime lengthened to `timeout` from now.
pub async fn connect(
    State(app): S,
    who: KeyHolder,
    Path(id): Path<String>,
    body: Option<Json<ConnectSandbox>>,
) -> ControlResult<Json<Sandbox>> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let mut record = live(&app, &who, &id).await?;
    if record.state == SandboxerState::Paused {
        record = app.verbs(&who.0).resume(&id).await?;
    }
    if let Some(seconds) = request.timeout
        && ends_at(seconds) > record.expires_at
    {
        end_in(&app, &who, &record, seconds).await?;
    }
    Ok(Json(sandbox_of(&app, &record)?))
}

/// `GET /sandboxes/{id}/metrics`: one sample, taken now.
pub async fn metrics(
    State(app): S,
    who: KeyHolder,
    Path(id): Path<String>,
) -> ControlResult<Json<Vec<SandboxMetric>>> {
    let record = live(&app, &who, &id).await?;
    let figures = app.verbs(&who.0).metrics(&id).await?;
    let cpus = record.resources.cpus.unwrap_or(1.0).max(1.0);
    let at = chrono::Utc::now();
    let total = &figures.total;
    Ok(Json(vec![SandboxMetric {
        timestamp: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        timestamp_unix: at.timestamp(),
        cpu_count: cpus.ceil() as u32,
        cpu_used_pct: total.cpu_percent / cpus,
        mem_used: total.memory_bytes,
        mem_total: total
            .memory_limit_bytes
            .unwrap_or(record.resources.memory_mb.unwrap_or(0) << 20),
        mem_cache: 0,
        disk_used: total.disk_bytes.unwrap_or(0),
        disk_total: record.resources.disk_mb.unwrap_or(0) << 20,
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_becomes_labels_or_says_which_key_cannot() {
        let ok = labels_of(&BTreeMap::from([("owner".into(), "me".into())])).unwrap();
        assert_eq!(ok["e2b.owner"], "me");
        let bad = labels_of(&BTreeMap::from([("k y".into(), "v".into())])).unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.message.contains("\"k y\""), "{}", bad.message);
    }

    #[test]
    fn options_asking_for_something_are_named_harmless_ones_pass() {
        let harmless = BTreeMap::from([
            ("autoPause".to_string(), json!(false)),
            ("secure".to_string(), json!(true)),
        ]);
        refuse_unhonoured(&harmless).unwrap();
        let asking = BTreeMap::from([
            ("autoPause".to_string(), json!(true)),
            ("allow_internet_access".to_string(), json!(false)),
        ]);
        let e = refuse_unhonoured(&asking).unwrap_err();
        assert!(e.message.contains("autoPause"), "{}", e.message);
        assert!(e.message.contains("allow_internet_access"), "{}", e.message);
    }
}
