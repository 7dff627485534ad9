//! Who an E2B call is. The control plane carries an API key (`X-API-KEY`,
//! or `Authorization: Bearer`), which is one of the daemon's tokens: the
//! sandboxes it creates are charged to that token's consumer and project, and
//! it sees what that token sees. envd calls carry no key but the sandbox's id
//! and its access token (an HMAC of the id under the daemon's endpoint key,
//! handed out by create and connect): they act on that one sandbox, as its
//! own consumer within its project.

use super::errors::ControlError;
use crate::App;
use crate::auth::Principal;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sandboxer_core::api::{Caller, CoreVerbs};
use sandboxer_core::store::SandboxRecord;
use sandboxer_e2b::connect::{Code, ConnectError};
use std::sync::Arc;

/// What the envd access token is made for (the endpoint key's purpose).
const ENVD_PURPOSE: &str = "e2b-envd";

/// The caller of a control-plane call.
pub struct KeyHolder(pub Principal);

impl FromRequestParts<Arc<App>> for KeyHolder {
    type Rejection = ControlError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ControlError> {
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let key = header(sandboxer_e2b::API_KEY_HEADER)
            .or_else(|| {
                header(axum::http::header::AUTHORIZATION.as_str())
                    .and_then(|v| v.strip_prefix("Bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ControlError::unauthorized(
                    "missing the API key (X-API-KEY): set E2B_API_KEY to a sandboxer token \
                     (`sandboxer token new` makes one)",
                )
            })?;
        app.tokens
            .principal(key)
            .cloned()
            .map(KeyHolder)
            .ok_or_else(|| {
                ControlError::unauthorized(
                    "unknown API key: E2B_API_KEY must be one of this daemon's tokens \
                     (`sandboxer token new` makes one)",
                )
            })
    }
}

/// The access token of sandbox `id`'s envd.
pub fn envd_token(app: &App, id: &str) -> sandboxer_core::Result<String> {
    Ok(app.core.endpoint_key()?.sandbox_token(ENVD_PURPOSE, id))
}

/// An envd call's sandbox and the verbs it may use on it.
pub struct Envd {
    pub record: SandboxRecord,
    pub verbs: CoreVerbs,
}

impl Envd {
    pub fn id(&self) -> &str {
        &self.record.id
    }
}

/// The sandbox an envd call names, once its access token is checked.
pub fn envd(app: &App, headers: &HeaderMap) -> Result<Envd, ConnectError> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let unauthenticated = |m: &str| ConnectError::new(Code::Unauthenticated, m);
    let id = header(sandboxer_e2b::SANDBOX_ID_HEADER)
        .ok_or_else(|| unauthenticated("missing the E2b-Sandbox-Id header"))?;
    let token = header(sandboxer_e2b::ACCESS_TOKEN_HEADER)
        .ok_or_else(|| unauthenticated("missing the sandbox's access token (X-Access-Token)"))?;
    let key = app
        .core
        .endpoint_key()
        .map_err(|e| ConnectError::new(Code::Internal, e.to_string()))?;
    if !key.sandbox_token_is(ENVD_PURPOSE, id, token) {
        return Err(unauthenticated(
            "the access token is not this sandbox's (connect to it again for a fresh one)",
        ));
    }
    let record = app
        .core
        .record(id)
        .map_err(|e| super::errors::connect_error(&e))?;
    let caller = Caller::member(record.consumer.clone(), record.project.clone());
    Ok(Envd {
        verbs: CoreVerbs::new(app.core.clone(), caller),
        record,
    })
}
