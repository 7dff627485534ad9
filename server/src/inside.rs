//! `/v1/sandboxes/{id}/commands`, `/files`, `/tree`, `/logs` and `/metrics`:
//! working inside a sandbox. A command's output is a Server-Sent Events stream (`output`
//! events, then one `exited`); files and trees travel as raw bodies streamed
//! both ways (a tree as `application/x-tar`), never held whole in memory.

use super::App;
use super::auth::Principal;
use super::error::ApiResult;
use super::extract::{Body, QueryOf};
use axum::Json;
use axum::body::Body as RawBody;
use axum::extract::{Path, State as AxState};
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use sandboxer_core::api::{self, ByteStream, Verbs};
use sandboxer_core::operations::{Attached, StartCommand};
use sandboxer_ext_protocol::{ExecSession, ExecStarted, FileInfo};
use std::convert::Infallible;
use std::sync::Arc;

type S = AxState<Arc<App>>;

/// A request body as the core's byte stream.
fn byte_stream(body: RawBody) -> ByteStream {
    body.into_data_stream()
        .map(|piece| {
            piece.map_err(|e| sandboxer_core::Error::Invalid(format!("reading the body: {e}")))
        })
        .boxed()
}

/// A byte stream as a response body; an error midway ends it (the client sees
/// a body cut short, as HTTP/1 allows nothing better once the status is sent).
fn streamed(stream: ByteStream, content_type: &'static str) -> Response {
    let body = RawBody::from_stream(stream.map(|piece| {
        piece.map_err(|e| {
            tracing::warn!("a streamed body ended early: {e}");
            std::io::Error::other(e.to_string())
        })
    }));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

pub async fn start_command(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<StartCommand>,
) -> ApiResult<Json<ExecStarted>> {
    Ok(Json(app.verbs(&who).start_command(&id, body).await?))
}

pub async fn list_commands(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ExecSession>>> {
    Ok(Json(app.verbs(&who).commands(&id).await?))
}

fn to_sse(event: Attached) -> SseEvent {
    let name = match &event {
        Attached::Output { .. } => "output",
        Attached::Exited(_) => "exited",
    };
    let mut sse = SseEvent::default()
        .event(name)
        .data(serde_json::to_string(&event).expect("attach events serialize"));
    if let Attached::Output { seq, .. } = &event {
        sse = sse.id(seq.to_string());
    }
    sse
}

pub async fn attach(
    AxState(app): S,
    who: Principal,
    Path((id, exec_id)): Path<(String, String)>,
    QueryOf(mut query): QueryOf<api::AttachQuery>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    // A reconnecting client names the last chunk it saw.
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        query.from_seq = last + 1;
    }
    let events = app.verbs(&who).attach(&id, &exec_id, query).await?;
    let stream = events.map(|event| {
        Ok(match event {
            Ok(e) => to_sse(e),
            Err(e) => SseEvent::default()
                .event("error")
                .data(serde_json::json!({ "message": e.to_string() }).to_string()),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub async fn write_stdin(
    AxState(app): S,
    who: Principal,
    Path((id, exec_id)): Path<(String, String)>,
    Body(body): Body<api::StdinWrite>,
) -> ApiResult<Json<api::Done>> {
    app.verbs(&who).write_stdin(&id, &exec_id, body).await?;
    Ok(Json(api::Done { ok: true }))
}

pub async fn signal(
    AxState(app): S,
    who: Principal,
    Path((id, exec_id)): Path<(String, String)>,
    Body(body): Body<api::SignalRequest>,
) -> ApiResult<Json<api::Done>> {
    app.verbs(&who).signal(&id, &exec_id, body).await?;
    Ok(Json(api::Done { ok: true }))
}

pub async fn resize(
    AxState(app): S,
    who: Principal,
    Path((id, exec_id)): Path<(String, String)>,
    Body(body): Body<api::ResizeRequest>,
) -> ApiResult<Json<api::Done>> {
    app.verbs(&who).resize(&id, &exec_id, body).await?;
    Ok(Json(api::Done { ok: true }))
}

pub async fn read_file(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::FileQuery>,
) -> ApiResult<Response> {
    let bytes = app.verbs(&who).read_file(&id, &query).await?;
    Ok(streamed(bytes, "application/octet-stream"))
}

pub async fn write_file(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::FileQuery>,
    body: RawBody,
) -> ApiResult<Json<api::Written>> {
    let written = app
        .verbs(&who)
        .write_file(&id, &query, byte_stream(body))
        .await?;
    Ok(Json(written))
}

pub async fn remove_file(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::FileQuery>,
) -> ApiResult<Json<api::Done>> {
    app.verbs(&who).remove_file(&id, &query).await?;
    Ok(Json(api::Done { ok: true }))
}

pub async fn list_files(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::FileQuery>,
) -> ApiResult<Json<Vec<FileInfo>>> {
    Ok(Json(app.verbs(&who).list_files(&id, &query).await?))
}

pub async fn stat_file(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::FileQuery>,
) -> ApiResult<Json<FileInfo>> {
    Ok(Json(app.verbs(&who).stat_file(&id, &query).await?))
}

pub async fn make_dir(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<api::MakeDir>,
) -> ApiResult<Json<api::Done>> {
    app.verbs(&who).make_dir(&id, body).await?;
    Ok(Json(api::Done { ok: true }))
}

pub async fn rename_file(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    Body(body): Body<api::RenameFile>,
) -> ApiResult<Json<api::Done>> {
    app.verbs(&who).rename_file(&id, body).await?;
    Ok(Json(api::Done { ok: true }))
}

pub async fn get_tree(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::FileQuery>,
) -> ApiResult<Response> {
    let tar = app.verbs(&who).get_tree(&id, &query).await?;
    Ok(streamed(tar, "application/x-tar"))
}

pub async fn put_tree(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::FileQuery>,
    body: RawBody,
) -> ApiResult<Json<api::Written>> {
    let written = app
        .verbs(&who)
        .put_tree(&id, &query, byte_stream(body))
        .await?;
    Ok(Json(written))
}

pub async fn logs(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
    QueryOf(query): QueryOf<api::LogsQuery>,
) -> ApiResult<Response> {
    let bytes = app.verbs(&who).logs(&id, &query).await?;
    Ok(streamed(bytes, "text/plain; charset=utf-8"))
}

pub async fn metrics(
    AxState(app): S,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<sandboxer_ext_protocol::MetricsResult>> {
    Ok(Json(app.verbs(&who).metrics(&id).await?))
}

pub async fn endpoint_access(
    AxState(app): S,
    who: Principal,
    Path((id, name)): Path<(String, String)>,
    QueryOf(query): QueryOf<api::AccessQuery>,
) -> ApiResult<Json<sandboxer_core::endpoints::EndpointAccess>> {
    Ok(Json(
        app.verbs(&who).endpoint_access(&id, &name, &query).await?,
    ))
}

/// A control message of a terminal's WebSocket (a text frame).
#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Control {
    Resize {
        rows: u16,
        cols: u16,
    },
    Signal(sandboxer_ext_protocol::Signal),
    /// `{"eof": true}`; `false` changes nothing.
    Eof(bool),
}

/// `GET …/commands/{exec_id}/terminal`: the command over one WebSocket, for a
/// terminal in a browser or an agent: binary frames in are its input, binary
/// frames out its output; text frames in are `{"resize": {rows, cols}}`,
/// `{"signal": "interrupt"}` or `{"eof": true}`; the last frame out is a text
/// frame `{"exited": {exit_code, …}}`, then the socket closes.
pub async fn terminal(
    AxState(app): S,
    who: Principal,
    Path((id, exec_id)): Path<(String, String)>,
    upgrade: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> ApiResult<Response> {
    let Ok(upgrade) = upgrade else {
        return Err(super::error::ApiError::bad_request(
            "this route is a WebSocket: connect with `Upgrade: websocket` \
             (…/output is the same output as Server-Sent Events)",
        ));
    };
    let verbs = app.verbs(&who);
    // Refused (unknown sandbox, another project's, no such command) before
    // the upgrade, with the API's error.
    let output = verbs.attach(&id, &exec_id, Default::default()).await?;
    Ok(upgrade.on_upgrade(move |socket| terminal_session(verbs, id, exec_id, output, socket)))
}

async fn terminal_session(
    verbs: sandboxer_core::api::CoreVerbs,
    id: String,
    exec_id: String,
    mut output: futures::stream::BoxStream<'static, sandboxer_core::Result<Attached>>,
    socket: axum::extract::ws::WebSocket,
) {
    use axum::extract::ws::Message;
    use futures::SinkExt;
    let (mut to_client, mut from_client) = socket.split();
    let shown = async {
        while let Some(event) = output.next().await {
            let frame = match event {
                Ok(Attached::Output { data, .. }) => Message::Binary(data.0.into()),
                Ok(Attached::Exited(exit)) => {
                    let text = serde_json::json!({ "exited": exit }).to_string();
                    let _ = to_client.send(Message::Text(text.into())).await;
                    break;
                }
                Err(e) => {
                    let text = serde_json::json!({ "error": e.to_string() }).to_string();
                    let _ = to_client.send(Message::Text(text.into())).await;
                    break;
                }
            };
            if to_client.send(frame).await.is_err() {
                return;
            }
        }
        let _ = to_client.close().await;
    };
    let fed = async {
        while let Some(Ok(message)) = from_client.next().await {
            let done = match message {
                Message::Binary(bytes) => {
                    let write = api::StdinWrite {
                        data: sandboxer_ext_protocol::Data(bytes.to_vec()),
                        eof: false,
                    };
                    verbs.write_stdin(&id, &exec_id, write).await
                }
                Message::Text(text) => match serde_json::from_str::<Control>(&text) {
                    Ok(Control::Resize { rows, cols }) => {
                        verbs
                            .resize(&id, &exec_id, api::ResizeRequest { rows, cols })
                            .await
                    }
                    Ok(Control::Signal(signal)) => {
                        verbs
                            .signal(&id, &exec_id, api::SignalRequest { signal })
                            .await
                    }
                    Ok(Control::Eof(false)) => Ok(()),
                    Ok(Control::Eof(true)) => {
                        let eof = api::StdinWrite {
                            data: Default::default(),
                            eof: true,
                        };
                        verbs.write_stdin(&id, &exec_id, eof).await
                    }
                    Err(e) => {
                        tracing::debug!("a terminal's control frame {text:?}: {e}");
                        Ok(())
                    }
                },
                Message::Close(_) => break,
                _ => Ok(()),
            };
            if let Err(e) = done {
                tracing::debug!("a terminal's input: {e}");
            }
        }
        // The client left: detach, the command goes on.
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = shown => {}
        () = fed => {}
    }
}
