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

/// A profile as `who` may see it: a member sees the names of its secrets, not
/// where their values come from (`env:`, `file:`, `cmd:` name the daemon's
/// environment, files and commands).
fn as_seen_by(who: &Principal, profile: &Profile) -> Value {
    let mut value = serde_json::to_value(profile).expect("a profile serializes");
    if !who.admin
        && let Some(secrets) = value.get_mut("secrets")
    {
        let names: Vec<String> = profile.secrets.keys().cloned().collect();
        *secrets = json!(names);
    }
    value
}

pub async fn profiles(State(app): State<Arc<App>>, who: Principal) -> Json<Vec<Value>> {
    Json(
        app.core
            .catalog()
            .profiles()
            .map(|p| as_seen_by(&who, p))
            .collect(),
    )
}

pub async fn profile(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let profile = app.core.catalog().get(&id).map_err(crate::Error::from)?;
    Ok(Json(as_seen_by(&who, profile)))
}

/// One extension, with what its handshake said (or why it failed). Where its
/// executable is, and a failure's details (its stderr), are for admins only.
async fn describe(app: &App, who: &Principal, found: exthost::Discovered) -> Value {
    let mut described = match app.core.extension(&found.name).await {
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
                "options_schema": info.options_schema,
            })
        }
        Err(e) => {
            json!({ "name": found.name, "path": found.path, "handshake": "failed", "error": e.to_string() })
        }
    };
    if !who.admin {
        described.as_object_mut().expect("an object").remove("path");
        if described.get("error").is_some() {
            described["error"] = json!("the handshake failed; an admin token shows why");
        }
    }
    described
}

pub async fn extensions(State(app): State<Arc<App>>, who: Principal) -> Json<Vec<Value>> {
    let mut out = vec![];
    for found in exthost::find_all() {
        out.push(describe(&app, &who, found).await);
    }
    Json(out)
}

pub async fn extension(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = exthost::find(&name).map_err(|e| ApiError::from(crate::Error::from(e)))?;
    Ok(Json(describe(&app, &who, found).await))
}
