//! `/v1/snapshots` and taking one of a sandbox.

use super::App;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::Body;
use crate::attribution::Attribution;
use crate::operations::{self, CreateRequest};
use crate::store::{SandboxRecord, SnapshotRecord};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeBody {
    name: String,
}

pub async fn take(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<TakeBody>,
) -> ApiResult<(StatusCode, Json<SnapshotRecord>)> {
    super::sandboxes::visible(&app, &who, &id)?;
    let snap = operations::snapshot(&app.core, &id, &body.name, &who.consumer.to_string()).await?;
    Ok((StatusCode::CREATED, Json(snap)))
}

pub async fn list(
    State(app): State<Arc<App>>,
    who: Principal,
) -> ApiResult<Json<Vec<SnapshotRecord>>> {
    let project = (!who.admin).then_some(who.project.as_str());
    Ok(Json(operations::list_snapshots(&app.core, project)?))
}

fn visible(app: &App, who: &Principal, snapshot_id: &str) -> ApiResult<SnapshotRecord> {
    match app
        .core
        .store()
        .get_snapshot(snapshot_id)
        .map_err(crate::Error::from)?
    {
        Some(s) if who.sees(&s.project) => Ok(s),
        _ => Err(ApiError::not_found("snapshot", snapshot_id)),
    }
}

pub async fn delete(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(snapshot_id): Path<String>,
) -> ApiResult<Json<SnapshotRecord>> {
    visible(&app, &who, &snapshot_id)?;
    Ok(Json(
        operations::delete_snapshot(&app.core, &snapshot_id, &who.consumer.to_string()).await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    ttl: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    host: Option<String>,
    wait: Option<bool>,
}

pub async fn restore(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(snapshot_id): Path<String>,
    Body(body): Body<RestoreBody>,
) -> ApiResult<(StatusCode, Json<SandboxRecord>)> {
    let snap = visible(&app, &who, &snapshot_id)?;
    let ttl = super::sandboxes::checked_launch(body.ttl.as_deref(), &body.labels)?;
    // The restored sandbox is charged to the caller, in the snapshot's project.
    let attribution = Attribution::resolve(
        Some(&who.consumer.to_string()),
        Some(&snap.project),
        None,
        None,
    )
    .map_err(ApiError::bad_request)?;
    let request = CreateRequest {
        profile: snap.profile_id.clone(),
        ttl,
        labels: body.labels,
        host: body.host,
        attribution,
        wait: body.wait.unwrap_or(true),
        idempotency_key: None,
        from_snapshot: None,
        progress: None,
    };
    let outcome = operations::restore(&app.core, &snapshot_id, request).await?;
    Ok((StatusCode::CREATED, Json(outcome.record)))
}
