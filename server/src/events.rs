//! `/v1/events`: the event log, paged, and as a Server-Sent Events stream (the
//! core's followed log, polled from the store, so events written by any process
//! reach every subscriber, in order).

use super::App;
use super::auth::Principal;
use super::error::ApiResult;
use super::extract::QueryOf;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use sandboxer_core::api::{self, Verbs};
use sandboxer_core::store::Event;
use std::convert::Infallible;
use std::sync::Arc;

pub async fn page(
    State(app): State<Arc<App>>,
    who: Principal,
    QueryOf(query): QueryOf<api::EventsQuery>,
) -> ApiResult<Json<api::EventsPage>> {
    Ok(Json(app.verbs(&who).events(&query).await?))
}

fn to_sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.seq.to_string())
        .event(e.kind.as_str())
        .data(serde_json::to_string(e).expect("events serialize"))
}

pub async fn stream(
    State(app): State<Arc<App>>,
    who: Principal,
    QueryOf(mut query): QueryOf<api::EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    if query.limit.is_some() {
        return Err(sandboxer_core::Error::Invalid(
            "limit: a stream has no limit; leave it out (after= says where to start)".into(),
        )
        .into());
    }
    // A reconnecting client names the last event it saw.
    if let Some(resume) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
    {
        query.after = Some(resume);
    }
    let events = app.verbs(&who).follow_events(&query).await?;
    let stream = events.filter_map(|event| async move {
        match event {
            Ok(e) => Some(Ok(to_sse(&e))),
            Err(e) => {
                tracing::warn!("event stream: {e}");
                None
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
