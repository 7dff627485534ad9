//! Watching a folder, as envd offers it (`CreateWatcher` / `GetWatcherEvents`
//! / `RemoveWatcher` for the sync SDK, a `WatchDir` stream for the async one),
//! done by looking: the folder is listed and compared with the last look, so
//! it works on any backend with file listing. A change between two looks that
//! undoes itself is not seen, and a rename reads as a removal and a creation.

use super::access::Envd;
use super::entries::listing;
use super::errors::{RpcError, RpcResult};
use super::rpc;
use super::state::Watcher;
use crate::App;
use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use sandboxer_e2b::connect::{self, Code};
use sandboxer_e2b::envd::{
    Empty, EntryInfo, EventType, FilesystemEvent, WatchDirResponse, WatchRequest, WatcherEvents,
    WatcherId,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// How often a `WatchDir` stream looks.
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// How deep a recursive watch looks.
const MAX_DEPTH: u32 = 16;

/// What the folder holds now, by path.
async fn look(envd: &Envd, path: &str, recursive: bool) -> RpcResult<BTreeMap<String, EntryInfo>> {
    let depth = if recursive { MAX_DEPTH } else { 1 };
    Ok(listing(envd, path, depth)
        .await?
        .into_iter()
        .map(|e| (e.path.clone(), e))
        .collect())
}

/// The changes from `before` to `now`, named relative to `root`.
pub fn changes(
    root: &str,
    before: &BTreeMap<String, EntryInfo>,
    now: &BTreeMap<String, EntryInfo>,
    include_entry: bool,
) -> Vec<FilesystemEvent> {
    let relative = |path: &str| {
        path.strip_prefix(root.trim_end_matches('/'))
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(path)
            .to_string()
    };
    let event = |kind, entry: &EntryInfo| FilesystemEvent {
        name: relative(&entry.path),
        kind,
        entry: include_entry.then(|| entry.clone()),
    };
    let mut events = vec![];
    for (path, entry) in now {
        match before.get(path) {
            None => events.push(event(EventType::Create, entry)),
            Some(old) if old.size != entry.size || old.modified_time != entry.modified_time => {
                events.push(event(EventType::Write, entry));
            }
            Some(old) if old.mode != entry.mode => events.push(event(EventType::Chmod, entry)),
            Some(_) => {}
        }
    }
    for (path, entry) in before {
        if !now.contains_key(path) {
            events.push(event(EventType::Remove, entry));
        }
    }
    events
}

/// The watcher `id` of this sandbox.
fn watcher_of(app: &App, envd: &Envd, id: &str) -> RpcResult<Watcher> {
    app.e2b
        .watcher(id)
        .filter(|w| w.sandbox_id == envd.id())
        .ok_or_else(|| RpcError::new(Code::NotFound, format!("watcher {id} not found")))
}

pub async fn create(app: &App, envd: &Envd, body: Body) -> RpcResult<WatcherId> {
    let request: WatchRequest = rpc::unary_message(body).await?;
    let seen = look(envd, &request.path, request.recursive).await?;
    let id = ulid::Ulid::new().to_string().to_lowercase();
    app.e2b.add_watcher(
        id.clone(),
        Watcher {
            sandbox_id: envd.id().to_string(),
            path: request.path,
            recursive: request.recursive,
            include_entry: request.include_entry,
            seen,
        },
    );
    Ok(WatcherId { watcher_id: id })
}

pub async fn events(app: &App, envd: &Envd, body: Body) -> RpcResult<WatcherEvents> {
    let request: WatcherId = rpc::unary_message(body).await?;
    let watcher = watcher_of(app, envd, &request.watcher_id)?;
    let now = look(envd, &watcher.path, watcher.recursive).await?;
    let events = changes(&watcher.path, &watcher.seen, &now, watcher.include_entry);
    app.e2b.update_watcher(&request.watcher_id, now);
    Ok(WatcherEvents { events })
}

pub async fn remove(app: &App, envd: &Envd, body: Body) -> RpcResult<Empty> {
    let request: WatcherId = rpc::unary_message(body).await?;
    watcher_of(app, envd, &request.watcher_id)?;
    app.e2b.remove_watcher(&request.watcher_id);
    Ok(Empty {})
}

/// `WatchDir`: `start`, then each change as a look finds it, until the caller
/// goes away.
pub async fn stream(envd: Envd, headers: &HeaderMap, body: Body) -> Response {
    let request: WatchRequest = match rpc::first_message(body).await {
        Ok(r) => r,
        Err(e) => return RpcError(e).into_response(),
    };
    let mut seen = match look(&envd, &request.path, request.recursive).await {
        Ok(seen) => seen,
        Err(e) => return e.into_response(),
    };
    let keepalive = rpc::keepalive_of(headers);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        if tx
            .send(connect::envelope(&WatchDirResponse::Start {}))
            .await
            .is_err()
        {
            return;
        }
        let mut quiet = Duration::ZERO;
        loop {
            tokio::time::sleep(LOOK_EVERY).await;
            let now = match look(&envd, &request.path, request.recursive).await {
                Ok(now) => now,
                Err(e) => {
                    let _ = tx.send(connect::end_of_stream(Some(e.0))).await;
                    return;
                }
            };
            let events = changes(&request.path, &seen, &now, request.include_entry);
            seen = now;
            quiet = if events.is_empty() {
                quiet + LOOK_EVERY
            } else {
                Duration::ZERO
            };
            for event in events {
                if tx
                    .send(connect::envelope(&WatchDirResponse::Filesystem(Box::new(
                        event,
                    ))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if quiet >= keepalive {
                quiet = Duration::ZERO;
                if tx
                    .send(connect::envelope(&WatchDirResponse::Keepalive {}))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    rpc::stream_response(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandboxer_e2b::envd::FileType;

    fn entry(path: &str, size: u64) -> EntryInfo {
        EntryInfo {
            name: path.rsplit('/').next().unwrap().into(),
            kind: FileType::File,
            path: path.into(),
            size,
            mode: 0o644,
            permissions: "-rw-r--r--".into(),
            owner: String::new(),
            group: String::new(),
            modified_time: None,
            symlink_target: None,
            is_symlink: false,
        }
    }

    #[test]
    fn a_look_finds_creations_writes_and_removals() {
        let before = BTreeMap::from([
            ("/w/a".to_string(), entry("/w/a", 1)),
            ("/w/b".to_string(), entry("/w/b", 1)),
        ]);
        let now = BTreeMap::from([
            ("/w/a".to_string(), entry("/w/a", 2)),
            ("/w/sub/c".to_string(), entry("/w/sub/c", 1)),
        ]);
        let found: Vec<(String, EventType)> = changes("/w/", &before, &now, false)
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        assert_eq!(
            found,
            vec![
                ("a".into(), EventType::Write),
                ("sub/c".into(), EventType::Create),
                ("b".into(), EventType::Remove),
            ]
        );
        assert!(changes("/w", &now, &now, true).is_empty());
    }
}
