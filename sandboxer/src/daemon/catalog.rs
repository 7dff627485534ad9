//! `/v1/profiles` and `/v1/extensions`: what can be asked for and who serves it.

use super::App;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use crate::exthost;
use crate::profile::Profile;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn profiles(State(app): State<Arc<App>>, _who: Principal) -> Json<Vec<Profile>> {
    Json(app.core.catalog().profiles().cloned().collect())
}

pub async fn profile(
    State(app): State<Arc<App>>,
    _who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Profile>> {
    Ok(Json(
        app.core
            .catalog()
            .get(&id)
            .map_err(crate::Error::from)?
            .clone(),
    ))
}

/// One extension, with what its handshake said (or why it failed).
async fn describe(app: &App, found: exthost::Discovered) -> Value {
    match app.core.extension(&found.name).await {
        Ok(lease) => {
            let info = lease.info().clone();
            lease.release().await;
            json!({
                "name": found.name,
                "path": found.path,
                "handshake": "ok",
                "version": info.extension.version,
                "protocol_version": info.protocol_version,
                "methods": info.capabilities.methods,
                "features": info.capabilities.features,
            })
        }
        Err(e) => {
            json!({ "name": found.name, "path": found.path, "handshake": "failed", "error": e.to_string() })
        }
    }
}

pub async fn extensions(State(app): State<Arc<App>>, _who: Principal) -> Json<Vec<Value>> {
    let mut out = vec![];
    for found in exthost::find_all() {
        out.push(describe(&app, found).await);
    }
    Json(out)
}

pub async fn extension(
    State(app): State<Arc<App>>,
    _who: Principal,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = exthost::find(&name).map_err(|e| ApiError::from(crate::Error::from(e)))?;
    Ok(Json(describe(&app, found).await))
}
