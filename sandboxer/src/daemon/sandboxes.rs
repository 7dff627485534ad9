//! `/v1/sandboxes`: create, list, get, destroy, recreate, extend TTL, exec.

use super::App;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{Body, Pairs};
use crate::attribution::Attribution;
use crate::operations::{self, CreateRequest, ExecRequest};
use crate::store::SandboxRecord;
use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

type S = AxState<Arc<App>>;

/// The record, if this caller may see it; 404 alike for "absent" and "another
/// project's", so nothing leaks. An id that cannot exist is a 400.
pub(super) fn visible(app: &App, who: &Principal, id: &str) -> ApiResult<SandboxRecord> {
    sandboxer_ext_protocol::names::validate_sandbox_id(id)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    match app
        .core
        .store()
        .get_sandbox(id)
        .map_err(crate::Error::from)?
    {
        Some(r) if who.sees(&r.project) => Ok(r),
        _ => Err(ApiError::not_found("sandbox", id)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    profile: String,
    ttl: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    host: Option<String>,
    /// Admins may charge another project or consumer.
    project: Option<String>,
    consumer: Option<String>,
    /// Wait until ready (default true).
    wait: Option<bool>,
}

pub async fn create(
    AxState(app): S,
    who: Principal,
    headers: HeaderMap,
    Body(body): Body<CreateBody>,
) -> ApiResult<Response> {
    if !who.admin {
        if body.project.as_ref().is_some_and(|p| *p != who.project) {
            return Err(ApiError::forbidden(format!(
                "{} may create sandboxes in project {} only",
                who.consumer, who.project
            )));
        }
        if body
            .consumer
            .as_ref()
            .is_some_and(|c| *c != who.consumer.to_string())
        {
            return Err(ApiError::forbidden(
                "only an admin may create for another consumer",
            ));
        }
    }
    let attribution = Attribution::resolve(
        body.consumer.as_deref(),
        body.project.as_deref(),
        Some(&who.consumer.to_string()),
        Some(&who.project),
    )
    .map_err(ApiError::bad_request)?;
    let ttl = checked_launch(body.ttl.as_deref(), &body.labels)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    )
                })?;
            Some(key.to_string())
        }
    };
    let request = CreateRequest {
        profile: body.profile,
        ttl,
        labels: body.labels,
        host: body.host,
        attribution,
        wait: body.wait.unwrap_or(true),
        idempotency_key: key,
        from_snapshot: None,
        progress: None,
    };
    let outcome = operations::create_idempotent(&app.core, request).await?;
    let status = if outcome.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome.record)).into_response())
}

pub async fn list(AxState(app): S, who: Principal, q: Pairs) -> ApiResult<Response> {
    let mut filter = operations::list_filter(&q.0)?;
    filter.project = match (filter.project.take(), who.admin) {
        (Some(p), false) if p != who.project => {
            return Err(ApiError::forbidden(format!(
                "{} sees project {} only",
                who.consumer, who.project
            )));
        }
        (p, false) => Some(p.unwrap_or_else(|| who.project.clone())),
        (p, true) => p,
    };
    let mut body = Vec::with_capacity(4096);
    body.push(b'[');
    let mut first = true;
    app.core
        .store()
        .for_each_sandbox_view(&filter, |view| {
            if !first {
                body.push(b',');
            }
            first = false;
            view.write_json(&mut body);
            Ok::<(), crate::store::StoreError>(())
        })
        .map_err(crate::Error::from)?;
    body.push(b']');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub async fn get(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    q: Pairs,
) -> ApiResult<Response> {
    q.only(&["refresh"])?;
    let record = visible(&app, &who, &id)?;
    let record = if q.bool("refresh")? {
        operations::get(&app.core, &id, true).await?.record
    } else {
        operations::touch(&app.core, &id);
        record
    };
    let view = record.view().with_usage(crate::time::now_ms());
    Ok(Json(view).into_response())
}

pub async fn destroy(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    visible(&app, &who, &id)?;
    let outcome = operations::destroy(&app.core, &id, &who.consumer.to_string()).await?;
    Ok(Json(json!({
        "id": outcome.record.id,
        "state": outcome.record.state,
        "already_destroyed": outcome.already,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RecreateBody {
    wait: Option<bool>,
}

pub async fn recreate(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<RecreateBody>,
) -> ApiResult<Json<Value>> {
    visible(&app, &who, &id)?;
    let (old, new) = operations::recreate(
        &app.core,
        &id,
        &who.consumer.to_string(),
        body.wait.unwrap_or(true),
    )
    .await?;
    Ok(Json(json!({ "old": old, "new": new })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// How much longer, e.g. `30m`.
    by: String,
}

pub async fn extend_ttl(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<ExtendBody>,
) -> ApiResult<Json<SandboxRecord>> {
    visible(&app, &who, &id)?;
    let by = crate::time::parse_lifetime(&body.by)
        .map_err(|e| ApiError::bad_request(format!("by: {e}")))?;
    Ok(Json(
        operations::extend_ttl(&app.core, &id, by, &who.consumer.to_string()).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecBody {
    argv: Vec<String>,
    service: Option<String>,
    stdin: Option<String>,
    timeout_s: Option<u64>,
}

pub async fn exec(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<ExecBody>,
) -> ApiResult<Json<sandboxer_ext_protocol::ExecResult>> {
    visible(&app, &who, &id)?;
    let request = ExecRequest {
        argv: body.argv,
        service: body.service,
        stdin: body.stdin,
        timeout_s: body.timeout_s,
    };
    Ok(Json(
        operations::exec(&app.core, &id, request, &who.consumer.to_string()).await?,
    ))
}

/// Checks the labels of a create or restore and reads its TTL.
pub(super) fn checked_launch(
    ttl: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> ApiResult<Option<std::time::Duration>> {
    for (k, v) in labels {
        crate::labels::validate_key(k)
            .and_then(|_| crate::labels::validate_value(k, v))
            .map_err(|e| ApiError::bad_request(format!("labels: {e}")))?;
    }
    ttl.map(crate::time::parse_lifetime)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("ttl: {e}")))
}
