//! envd's files: `GET`/`POST /files` (a file's bytes each way, streamed; an
//! upload as multipart form parts named `file` or as a raw body) and the
//! `filesystem.Filesystem` RPCs (`Stat`, `ListDir`, `MakeDir`, `Move`,
//! `Remove`; watching is `watch`'s), each one of the sandbox's file verbs.

use super::access::{self, Envd};
use super::entries::{entry_of, listing};
use super::errors::{ControlError, ControlResult, RpcError, RpcResult};
use super::{rpc, watch};
use crate::App;
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sandboxer_core::api::{ByteStream, FileQuery, MakeDir, RenameFile, Verbs};
use sandboxer_e2b::connect::Code;
use sandboxer_e2b::control::WrittenEntry;
use sandboxer_e2b::envd::{
    Empty, EntryInfo, EntryResponse, ListDirRequest, ListDirResponse, MoveRequest, PathRequest,
};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /health` with a sandbox's headers: 204 while it runs.
pub async fn health(State(app): State<Arc<App>>, headers: HeaderMap) -> ControlResult<StatusCode> {
    let envd = access::envd(&app, &headers)?;
    if envd.record.state.is_usable() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ControlError::new(
            StatusCode::BAD_GATEWAY,
            format!("sandbox {} is {}", envd.id(), envd.record.state),
        ))
    }
}

/// `/files`' query: the path (absent for a multipart upload of several files,
/// each named by its part's file name). `username` is accepted and not used:
/// commands and files act as the sandbox's own user.
#[derive(Debug, Default, Deserialize)]
pub struct FilesQuery {
    path: Option<String>,
    #[allow(dead_code)]
    username: Option<String>,
}

fn path_of(query: &FilesQuery) -> ControlResult<&str> {
    query
        .path
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ControlError::bad_request("name the file: ?path=…"))
}

/// `GET /files?path=…`: the file's bytes as they are read.
pub async fn read(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<FilesQuery>,
) -> ControlResult<Response> {
    let envd = access::envd(&app, &headers)?;
    let path = path_of(&query)?;
    let mut stream = envd
        .verbs
        .read_file(envd.id(), &FileQuery::at(path))
        .await?;
    // The first piece before the status: a file that cannot be read is an
    // error answer, not a body cut short.
    let first = stream.next().await.transpose()?;
    let body = futures::stream::iter(first.map(Ok))
        .chain(stream)
        .map(|piece| piece.map_err(|e| std::io::Error::other(e.to_string())));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(body),
    )
        .into_response())
}

fn written(path: &str) -> WrittenEntry {
    WrittenEntry {
        name: path.rsplit('/').next().unwrap_or(path).to_string(),
        kind: "file".into(),
        path: path.to_string(),
    }
}

/// `POST /files`: a multipart form (parts named `file`, each part's file name
/// its path unless `?path=` names the one file) or a raw body for `?path=`.
pub async fn write(
    State(app): State<Arc<App>>,
    Query(query): Query<FilesQuery>,
    request: Request,
) -> ControlResult<Json<Vec<WrittenEntry>>> {
    let envd = access::envd(&app, request.headers())?;
    if request.headers().contains_key(header::CONTENT_ENCODING) {
        return Err(ControlError::bad_request(
            "compressed uploads (gzip=True) are not supported by sandboxer's E2B API: send the \
             file as it is",
        ));
    }
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    if !multipart {
        let path = path_of(&query)?.to_string();
        let body: ByteStream = request
            .into_body()
            .into_data_stream()
            .map(|piece| {
                piece.map_err(|e| sandboxer_core::Error::Invalid(format!("reading the body: {e}")))
            })
            .boxed();
        envd.verbs
            .write_file(envd.id(), &FileQuery::at(&path), body)
            .await?;
        return Ok(Json(vec![written(&path)]));
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ControlError::bad_request(e.body_text()))?;
    let mut entries = vec![];
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ControlError::bad_request(e.body_text()))?
    {
        let path = match (&query.path, field.file_name()) {
            (Some(p), _) if !p.is_empty() => p.clone(),
            (_, Some(name)) if !name.is_empty() => name.to_string(),
            _ => {
                return Err(ControlError::bad_request(
                    "a part names no file: give ?path= or the part's file name",
                ));
            }
        };
        write_part(&envd, &path, field).await?;
        entries.push(written(&path));
    }
    if entries.is_empty() {
        return Err(ControlError::bad_request("the form holds no file"));
    }
    Ok(Json(entries))
}

/// Streams one form part into the file at `path`.
async fn write_part(
    envd: &Envd,
    path: &str,
    mut field: axum::extract::multipart::Field<'_>,
) -> ControlResult<()> {
    let (tx, rx) = tokio::sync::mpsc::channel::<sandboxer_core::Result<bytes::Bytes>>(4);
    let body: ByteStream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    })
    .boxed();
    let pump = async move {
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let e = sandboxer_core::Error::Invalid(format!("reading the form: {e}"));
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    };
    let query = FileQuery::at(path);
    let (outcome, ()) = tokio::join!(envd.verbs.write_file(envd.id(), &query, body), pump);
    outcome?;
    Ok(())
}

/// `POST /filesystem.Filesystem/{method}`.
pub async fn call(app: Arc<App>, method: &str, headers: HeaderMap, body: Body) -> Response {
    let envd = match access::envd(&app, &headers) {
        Ok(envd) => envd,
        Err(e) => return RpcError(e).into_response(),
    };
    let outcome = match method {
        "Stat" => stat(&envd, body).await.map(rpc::answer),
        "ListDir" => list_dir(&envd, body).await.map(rpc::answer),
        "MakeDir" => make_dir(&envd, body).await.map(rpc::answer),
        "Move" => rename(&envd, body).await.map(rpc::answer),
        "Remove" => remove(&envd, body).await.map(rpc::answer),
        "CreateWatcher" => watch::create(&app, &envd, body).await.map(rpc::answer),
        "GetWatcherEvents" => watch::events(&app, &envd, body).await.map(rpc::answer),
        "RemoveWatcher" => watch::remove(&app, &envd, body).await.map(rpc::answer),
        "WatchDir" => return watch::stream(envd, &headers, body).await,
        other => Err(rpc::unserved("filesystem.Filesystem", other)),
    };
    outcome.unwrap_or_else(IntoResponse::into_response)
}

async fn entry(envd: &Envd, path: &str) -> RpcResult<EntryInfo> {
    let info = envd
        .verbs
        .stat_file(envd.id(), &FileQuery::at(path))
        .await?;
    Ok(entry_of(&info))
}

async fn stat(envd: &Envd, body: Body) -> RpcResult<EntryResponse> {
    let request: PathRequest = rpc::unary_message(body).await?;
    Ok(EntryResponse {
        entry: entry(envd, &request.path).await?,
    })
}

async fn list_dir(envd: &Envd, body: Body) -> RpcResult<ListDirResponse> {
    let request: ListDirRequest = rpc::unary_message(body).await?;
    Ok(ListDirResponse {
        entries: listing(envd, &request.path, request.depth).await?,
    })
}

/// `MakeDir`: parents too; a folder already there is `already_exists`.
async fn make_dir(envd: &Envd, body: Body) -> RpcResult<EntryResponse> {
    let request: PathRequest = rpc::unary_message(body).await?;
    if entry(envd, &request.path).await.is_ok() {
        return Err(RpcError::new(
            Code::AlreadyExists,
            format!("{} already exists", request.path),
        ));
    }
    let make = MakeDir {
        path: request.path.clone(),
        parents: true,
        service: None,
    };
    envd.verbs.make_dir(envd.id(), make).await?;
    Ok(EntryResponse {
        entry: entry(envd, &request.path).await?,
    })
}

async fn rename(envd: &Envd, body: Body) -> RpcResult<EntryResponse> {
    let request: MoveRequest = rpc::unary_message(body).await?;
    let rename = RenameFile {
        from: request.source,
        to: request.destination.clone(),
        service: None,
    };
    envd.verbs.rename_file(envd.id(), rename).await?;
    Ok(EntryResponse {
        entry: entry(envd, &request.destination).await?,
    })
}

/// `Remove`: a folder goes with everything in it, as envd does.
async fn remove(envd: &Envd, body: Body) -> RpcResult<Empty> {
    let request: PathRequest = rpc::unary_message(body).await?;
    let query = FileQuery {
        recursive: true,
        ..FileQuery::at(&request.path)
    };
    envd.verbs.remove_file(envd.id(), &query).await?;
    Ok(Empty {})
}
