//! Serving Connect calls: reading a unary request or a stream's envelopes,
//! and answering a unary call or a stream (`sandboxer_e2b::connect` holds the
//! framing itself).

use super::errors::{RpcError, RpcResult};
use axum::Json;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use sandboxer_e2b::connect::{self, Code, ConnectError, Decoder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::convert::Infallible;

/// How often a quiet stream says it is alive when the caller names no interval.
const DEFAULT_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(50);

/// The interval a streaming call asks its keepalives at
/// (`Keepalive-Ping-Interval`, seconds).
pub fn keepalive_of(headers: &axum::http::HeaderMap) -> std::time::Duration {
    headers
        .get("keepalive-ping-interval")
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_KEEPALIVE, std::time::Duration::from_secs)
}

/// The largest unary request, or first message of a stream, read whole.
const MAX_REQUEST: usize = 1 << 20;

/// A unary call's answer.
pub fn answer<T: Serialize>(message: T) -> Response {
    Json(message).into_response()
}

/// What an RPC the API does not serve answers.
pub fn unserved(service: &str, method: &str) -> RpcError {
    RpcError::new(
        Code::Unimplemented,
        format!("sandboxer's E2B API does not serve {service}/{method} (see docs/e2b.md)"),
    )
}

async fn whole(body: Body) -> Result<bytes::Bytes, ConnectError> {
    axum::body::to_bytes(body, MAX_REQUEST)
        .await
        .map_err(|e| ConnectError::new(Code::InvalidArgument, format!("reading the request: {e}")))
}

/// A unary request's message.
pub async fn unary_message<T: DeserializeOwned>(body: Body) -> RpcResult<T> {
    Ok(connect::parse(&whole(body).await?)?)
}

/// A server-streaming call's one request message.
pub async fn first_message<T: DeserializeOwned>(body: Body) -> Result<T, ConnectError> {
    let bytes = whole(body).await?;
    let mut decoder = Decoder::default();
    decoder.push(&bytes);
    match decoder.next_frame()? {
        Some(frame) if !frame.is_end() => connect::parse(&frame.payload),
        _ => Err(ConnectError::new(
            Code::InvalidArgument,
            "the request holds no message",
        )),
    }
}

/// A client stream's messages as they arrive.
pub fn messages<T: DeserializeOwned>(body: Body) -> impl Stream<Item = Result<T, ConnectError>> {
    let state = (body.into_data_stream(), Decoder::default(), false);
    futures::stream::unfold(state, |(mut data, mut decoder, done)| async move {
        if done {
            return None;
        }
        loop {
            match decoder.next_frame() {
                Err(e) => return Some((Err(e), (data, decoder, true))),
                Ok(Some(frame)) if frame.is_end() => return None,
                Ok(Some(frame)) => {
                    let parsed = connect::parse(&frame.payload);
                    return Some((parsed, (data, decoder, false)));
                }
                Ok(None) => {}
            }
            match data.next().await {
                Some(Ok(bytes)) => decoder.push(&bytes),
                Some(Err(e)) => {
                    let e = ConnectError::new(Code::Canceled, format!("reading the stream: {e}"));
                    return Some((Err(e), (data, decoder, true)));
                }
                None if decoder.has_partial() => {
                    let e =
                        ConnectError::new(Code::InvalidArgument, "the stream ended mid-message");
                    return Some((Err(e), (data, decoder, true)));
                }
                None => return None,
            }
        }
    })
}

/// A streaming call's answer: the envelopes `rx` yields, each sent as it comes.
pub fn stream_response(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Response {
    let frames = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), rx))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, connect::STREAM_CONTENT_TYPE)],
        Body::from_stream(frames),
    )
        .into_response()
}
