//! Request extractors whose rejections are `ApiError`s, so that every error the
//! daemon sends has the same JSON shape.

use super::error::ApiError;
use super::listener::Limits;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use sandboxer_core::api::{Pairs, Query};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A JSON body (an empty body counts as `{}`), read within the daemon's body
/// deadline (408 beyond) and size limit (413 beyond).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let within = req
            .extensions()
            .get::<Limits>()
            .map_or(Duration::from_secs(30), |l| l.body_timeout);
        let bytes = tokio::time::timeout(within, axum::body::Bytes::from_request(req, state))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!("the body did not arrive within {}s", within.as_secs_f64()),
                )
            })?
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the body is larger than the daemon accepts (daemon.max_body_bytes)",
                    )
                } else {
                    ApiError::bad_request(format!("cannot read the body: {e}"))
                }
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let mut de = serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(&mut de)
            .map(Body)
            .map_err(|e| ApiError::bad_request(format!("body: {}: {}", e.path(), e.inner())))
    }
}

/// Query parameters as pairs, repeated keys kept (`label=a=1&label=b=2`).
pub struct PairsOf(pub Pairs);

impl<S: Send + Sync> FromRequestParts<S> for PairsOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(PairsOf(Pairs::parse(parts.uri.query().unwrap_or(""))?))
    }
}

/// A verb's query, read as its client writes it; unknown keys are refused.
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: Query> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PairsOf(pairs) = PairsOf::from_request_parts(parts, state).await?;
        Ok(QueryOf(T::from_pairs(&pairs)?))
    }
}
