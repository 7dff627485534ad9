//! `/v1/sandboxes`: create, list, get, destroy, recreate, extend TTL, exec,
//! pause, resume —
//! each the caller's verb on the core.

use super::App;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{Body, QueryOf};
use axum::Json;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sandboxer_core::api::{self, Verbs};
use sandboxer_core::operations::{DestroyOutcome, ExecRequest};
use sandboxer_core::store::SandboxRecord;
use std::sync::Arc;

type S = AxState<Arc<App>>;

pub async fn create(
    AxState(app): S,
    who: Principal,
    headers: HeaderMap,
    Body(mut body): Body<api::CreateSandbox>,
) -> ApiResult<Response> {
    body.idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    )
                })?
                .to_string(),
        ),
    };
    let created = app.verbs(&who).create(body).await?;
    let status = if created.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(created.record)).into_response())
}

pub async fn list(
    AxState(app): S,
    who: Principal,
    QueryOf(query): QueryOf<api::ListSandboxes>,
) -> ApiResult<Response> {
    let mut body = Vec::with_capacity(4096);
    body.push(b'[');
    app.verbs(&who)
        .list(&query, |view| {
            if body.len() > 1 {
                body.push(b',');
            }
            view.write_json(&mut body);
            Ok::<(), sandboxer_core::Error>(())
        })
        .await?;
    body.push(b']');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub async fn get(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::GetSandbox>,
) -> ApiResult<Response> {
    let shown = app.verbs(&who).get(&id, query).await?;
    let view = shown
        .record
        .view()
        .with_usage(sandboxer_core::time::now_ms());
    Ok(match shown.refresh_error {
        None => Json(view).into_response(),
        Some(warning) => {
            let mut value = serde_json::to_value(view).expect("a view serializes");
            value["refresh_error"] = warning.into();
            Json(value).into_response()
        }
    })
}

pub async fn destroy(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DestroyOutcome>> {
    Ok(Json(app.verbs(&who).destroy(&id).await?))
}

pub async fn recreate(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<api::Recreate>,
) -> ApiResult<Json<api::Recreated>> {
    Ok(Json(app.verbs(&who).recreate(&id, body).await?))
}

pub async fn extend_ttl(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<api::ExtendTtl>,
) -> ApiResult<Json<SandboxRecord>> {
    Ok(Json(app.verbs(&who).extend_ttl(&id, body).await?))
}

pub async fn exec(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<ExecRequest>,
) -> ApiResult<Json<sandboxer_ext_protocol::ExecResult>> {
    Ok(Json(app.verbs(&who).exec(&id, body).await?))
}

pub async fn pause(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SandboxRecord>> {
    Ok(Json(app.verbs(&who).pause(&id).await?))
}

pub async fn resume(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SandboxRecord>> {
    Ok(Json(app.verbs(&who).resume(&id).await?))
}
