//! `/v1/events`: the event log, paged, and as a Server-Sent Events stream (polled
//! from the store, so events written by any process reach every subscriber, in
//! order).

use super::App;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::Pairs;
use crate::store::{Event, EventFilter};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(200);
const PAGE: u32 = 1000;

/// An event as `who` may see it: a member sees which extension ran, not where its
/// executable is on the daemon's machine.
fn as_seen_by(who: &Principal, mut event: Event) -> Event {
    if !who.admin
        && let Some(detail) = event.detail.as_object_mut()
    {
        detail.remove("path");
    }
    event
}

fn filter(app: &App, who: &Principal, q: &Pairs, after: Option<i64>) -> ApiResult<EventFilter> {
    let sandbox_id = q.get("sandbox").map(str::to_string);
    if let Some(id) = &sandbox_id {
        super::sandboxes::visible(app, who, id)?;
    }
    Ok(EventFilter {
        sandbox_id,
        project: (!who.admin).then(|| who.project.clone()),
        after_seq: after,
        limit: None,
    })
}

pub async fn page(State(app): State<Arc<App>>, who: Principal, q: Pairs) -> ApiResult<Json<Value>> {
    q.only(&["sandbox", "after", "limit"])?;
    let limit = q.number::<u32>("limit")?.unwrap_or(PAGE);
    if !(1..=PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit={limit}: between 1 and {PAGE}"
        )));
    }
    let mut filter = filter(&app, &who, &q, q.number("after")?)?;
    filter.limit = Some(limit);
    let events: Vec<Event> = app
        .core
        .store()
        .events(&filter)
        .map_err(crate::Error::from)?
        .into_iter()
        .map(|e| as_seen_by(&who, e))
        .collect();
    let next = events.last().map(|e| e.seq);
    Ok(Json(json!({ "events": events, "next_after": next })))
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
    q: Pairs,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    q.only(&["sandbox", "after"])?;
    // A reconnecting client names the last event it saw.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let filter = filter(&app, &who, &q, resume.or(q.number("after")?))?;
    let stream = futures::stream::unfold(
        (app, filter, std::collections::VecDeque::<Event>::new()),
        move |(app, mut filter, mut queue)| {
            let who = who.clone();
            async move {
                loop {
                    if let Some(e) = queue.pop_front() {
                        filter.after_seq = Some(e.seq);
                        return Some((Ok(to_sse(&as_seen_by(&who, e))), (app, filter, queue)));
                    }
                    let mut batch = filter.clone();
                    batch.limit = Some(PAGE);
                    match app.core.store().events(&batch) {
                        Ok(events) if !events.is_empty() => queue.extend(events),
                        Ok(_) => {}
                        Err(e) => tracing::warn!("event stream: {e}"),
                    }
                    if queue.is_empty() {
                        tokio::time::sleep(POLL).await;
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
