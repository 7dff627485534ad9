//! `/v1/snapshots` and taking one of a sandbox.

use super::App;
use super::auth::Principal;
use super::error::ApiResult;
use super::extract::Body;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sandboxer_core::api::{self, Verbs};
use sandboxer_core::store::{SandboxRecord, SnapshotRecord};
use std::sync::Arc;

pub async fn take(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<api::TakeSnapshot>,
) -> ApiResult<(StatusCode, Json<SnapshotRecord>)> {
    let snap = app.verbs(&who).take_snapshot(&id, body).await?;
    Ok((StatusCode::CREATED, Json(snap)))
}

pub async fn list(
    State(app): State<Arc<App>>,
    who: Principal,
) -> ApiResult<Json<Vec<SnapshotRecord>>> {
    Ok(Json(app.verbs(&who).snapshots().await?))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(snapshot_id): Path<String>,
) -> ApiResult<Json<SnapshotRecord>> {
    Ok(Json(app.verbs(&who).delete_snapshot(&snapshot_id).await?))
}

pub async fn restore(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(snapshot_id): Path<String>,
    Body(body): Body<api::RestoreSnapshot>,
) -> ApiResult<(StatusCode, Json<SandboxRecord>)> {
    let record = app.verbs(&who).restore(&snapshot_id, body).await?;
    Ok((StatusCode::CREATED, Json(record)))
}
