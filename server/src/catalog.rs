//! `/v1/profiles` and `/v1/extensions`: what can be asked for and who serves it.

use super::App;
use super::auth::Principal;
use super::error::ApiResult;
use axum::Json;
use axum::extract::{Path, State};
use sandboxer_core::api::{ExtensionReport, Verbs};
use serde_json::Value;
use std::sync::Arc;

pub async fn profiles(State(app): State<Arc<App>>, who: Principal) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(app.verbs(&who).profiles().await?.profiles))
}

pub async fn profile(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.verbs(&who).profile(&id).await?))
}

pub async fn guarantees(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.verbs(&who).guarantees(&id).await?))
}

pub async fn extensions(
    State(app): State<Arc<App>>,
    who: Principal,
) -> ApiResult<Json<Vec<ExtensionReport>>> {
    Ok(Json(app.verbs(&who).extensions().await?))
}

pub async fn extension(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<Json<ExtensionReport>> {
    Ok(Json(app.verbs(&who).extension(&name).await?))
}
