//! A connection from an extension to another extension process it started, for
//! extensions that relay to others (vm-packer's remote hosts, each one
//! `ssh HOST sandboxer-ext-vm-packer --stdio`). The peer does the handshake, lets
//! many calls be in flight at once (answers matched by id), passes the other
//! side's `$/progress` and `$/output` on to the caller's [`Context`] (or collects
//! the output, [`Peer::call_collecting`]), sends `$/cancelRequest`
//! when a call is dropped before its answer, and fails every call in flight as
//! `Unavailable` when the process ends.

use super::Context;
use crate::errors::{ErrorKind, ErrorObject};
use crate::framing::{Frame, Id, Incoming, notification_of, parse_message, request_line};
use crate::inside::OutputParams;
use crate::io::frames;
use crate::messages::{
    CancelParams, InitializeParams, InitializeResult, JsonObject, LogParams, PeerInfo,
    ProgressParams,
};
use crate::methods::{self as m, NoParams, Request};
use crate::version::{PROTOCOL_VERSION, ProtocolVersion};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

/// Where the `$/output` of a call goes.
#[derive(Clone)]
enum OutputSink {
    /// On to the caller's host, under the token it gave.
    Context(Context, Value),
    Collect(mpsc::UnboundedSender<OutputParams>),
}

/// A call waiting for its answer, and where its progress and output go.
struct Pending {
    answer: oneshot::Sender<Result<Value, ErrorObject>>,
    progress: Option<Context>,
    output: Option<OutputSink>,
}

/// What the reader task and the callers share.
#[derive(Default)]
struct Calls {
    pending: HashMap<i64, Pending>,
    /// Why the connection ended, once it has.
    ended: Option<String>,
}

/// One live extension process on the other end of a pipe.
pub struct Peer {
    /// Named in every error ("host h1").
    name: String,
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    calls: Arc<Mutex<Calls>>,
    next_id: AtomicI64,
    _child: Child,
    /// What the other side answered to `initialize`.
    pub info: InitializeResult,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("name", &self.name).finish()
    }
}

fn unavailable(message: String) -> ErrorObject {
    ErrorObject::domain(ErrorKind::Unavailable, message)
}

impl Peer {
    /// Starts `command` (its stdin and stdout become the protocol's pipes, its
    /// stderr stays ours) and does the handshake with `options` within `limit`.
    pub async fn start(
        name: &str,
        mut command: Command,
        options: JsonObject,
        limit: Duration,
    ) -> Result<Peer, ErrorObject> {
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| unavailable(format!("{name}: cannot start its extension: {e}")))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let calls = Arc::new(Mutex::new(Calls::default()));
        tokio::spawn(read_answers(name.to_string(), stdout, calls.clone()));
        let mut peer = Peer {
            name: name.to_string(),
            stdin: Arc::new(tokio::sync::Mutex::new(stdin)),
            calls,
            next_id: AtomicI64::new(0),
            _child: child,
            info: InitializeResult::default(),
        };
        let params = InitializeParams {
            protocol_version: PROTOCOL_VERSION.to_string(),
            host: PeerInfo {
                name: "sandboxer-relay".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            options,
            features: vec![],
        };
        let info = tokio::time::timeout(limit, peer.call::<m::Initialize>(&params, None))
            .await
            .map_err(|_| {
                unavailable(format!("{name}: no answer to initialize within {limit:?}"))
            })??;
        let theirs: ProtocolVersion = info.protocol_version.parse().map_err(|_| {
            unavailable(format!(
                "{name}: answered protocol version {:?}, which is not one",
                info.protocol_version
            ))
        })?;
        if !PROTOCOL_VERSION.is_compatible_with(theirs) {
            return Err(ErrorObject::domain(
                ErrorKind::FailedPrecondition,
                format!(
                    "{name}: speaks protocol {theirs}, this relay {PROTOCOL_VERSION}; \
                     install the same release of the extension there"
                ),
            ));
        }
        peer.notify::<m::Initialized>(&NoParams {}).await?;
        peer.info = info;
        Ok(peer)
    }

    /// Whether the connection has ended (the process exited or closed stdout).
    pub fn ended(&self) -> bool {
        self.calls
            .lock()
            .expect("peer calls poisoned")
            .ended
            .is_some()
    }

    /// Calls `M` with `params` and waits for its answer. With a context, a
    /// `progress_token` field of the params is set so that the other side's
    /// progress reaches it, and the `$/output` of an `output_token` is passed on
    /// to it under the caller's token; dropping the future cancels the call there.
    pub async fn call<M: Request>(
        &self,
        params: &M::Params,
        ctx: Option<&Context>,
    ) -> Result<M::Result, ErrorObject> {
        self.call_routed::<M>(params, ctx, None).await
    }

    /// Calls `M` (one with an `output_token`) and collects its `$/output`
    /// instead of passing it on: the answer, and every chunk sent before it.
    pub async fn call_collecting<M: Request>(
        &self,
        params: &M::Params,
    ) -> Result<(M::Result, Vec<OutputParams>), ErrorObject> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let answer = self.call_routed::<M>(params, None, Some(tx)).await?;
        let mut chunks = vec![];
        while let Ok(chunk) = rx.try_recv() {
            chunks.push(chunk);
        }
        Ok((answer, chunks))
    }

    async fn call_routed<M: Request>(
        &self,
        params: &M::Params,
        ctx: Option<&Context>,
        collect: Option<mpsc::UnboundedSender<OutputParams>>,
    ) -> Result<M::Result, ErrorObject> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut params = serde_json::to_value(params)
            .map_err(|e| unavailable(format!("{}: params of {}: {e}", self.name, M::METHOD)))?;
        let progress = ctx.filter(|ctx| ctx.wants_progress());
        if let Some(token) = params.get_mut("progress_token") {
            *token = if progress.is_some() {
                Value::from(id)
            } else {
                Value::Null
            };
        }
        let mut output = None;
        if let Some(token) = params.get_mut("output_token") {
            let theirs = std::mem::replace(token, Value::from(id));
            output = match (collect, ctx) {
                (Some(tx), _) => Some(OutputSink::Collect(tx)),
                (None, Some(ctx)) => Some(OutputSink::Context(ctx.clone(), theirs)),
                (None, None) => None,
            };
        }
        let (answer, answered) = oneshot::channel();
        {
            let mut calls = self.calls.lock().expect("peer calls poisoned");
            if let Some(why) = &calls.ended {
                return Err(unavailable(format!("{}: {why}", self.name)));
            }
            calls.pending.insert(
                id,
                Pending {
                    answer,
                    progress: progress.cloned(),
                    output,
                },
            );
        }
        let mut guard = CancelOnDrop {
            peer: self,
            id: Some(id),
        };
        self.write(&request_line(&Id::from(id), M::METHOD, Some(&params)))
            .await?;
        let outcome = answered.await;
        guard.id = None;
        let value = match outcome {
            Ok(answer) => answer?,
            Err(_) => {
                let why = self
                    .calls
                    .lock()
                    .expect("peer calls poisoned")
                    .ended
                    .clone();
                return Err(unavailable(format!(
                    "{}: {} got no answer: {}",
                    self.name,
                    M::METHOD,
                    why.unwrap_or_else(|| "the connection ended".into())
                )));
            }
        };
        serde_json::from_value(value).map_err(|e| {
            unavailable(format!(
                "{}: the answer to {} is not its result: {e}",
                self.name,
                M::METHOD
            ))
        })
    }

    /// Sends notification `N`.
    pub async fn notify<N: crate::methods::Notification>(
        &self,
        params: &N::Params,
    ) -> Result<(), ErrorObject> {
        self.write(&notification_of::<N>(params)).await
    }

    /// `shutdown`, then `exit`, each given `limit` at most.
    pub async fn close(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.call::<m::Shutdown>(&NoParams {}, None)).await;
        let _ = tokio::time::timeout(limit, self.notify::<m::Exit>(&NoParams {})).await;
    }

    async fn write(&self, line: &str) -> Result<(), ErrorObject> {
        let mut stdin = self.stdin.lock().await;
        let written = async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        };
        written
            .await
            .map_err(|e| unavailable(format!("{}: writing to its extension: {e}", self.name)))
    }
}

/// Sends `$/cancelRequest` for a call dropped before its answer.
struct CancelOnDrop<'a> {
    peer: &'a Peer,
    id: Option<i64>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else {
            return;
        };
        let waiting = self
            .peer
            .calls
            .lock()
            .map(|mut calls| calls.pending.remove(&id).is_some())
            .unwrap_or(false);
        if !waiting {
            return;
        }
        let line = notification_of::<m::CancelRequest>(&CancelParams {
            id: Value::from(id),
        });
        // Written from a task of its own: a drop cannot wait.
        let stdin = self.peer.stdin.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut stdin = stdin.lock().await;
                let _ = stdin.write_all(line.as_bytes()).await;
                let _ = stdin.flush().await;
            });
        }
    }
}

/// Reads the other side's stdout: answers go to their calls, progress to the
/// calls' contexts, logs to our log. At the end every call in flight fails.
async fn read_answers(name: String, stdout: tokio::process::ChildStdout, calls: Arc<Mutex<Calls>>) {
    let mut lines = frames(stdout);
    let why = loop {
        let line = match lines.next().await {
            Some(Ok(Frame::Line(line))) => line,
            Some(Ok(Frame::Oversized { .. })) => {
                break "it wrote a line over the limit".to_string();
            }
            Some(Err(e)) => break format!("reading its stdout: {e}"),
            None => break "its extension exited (or the connection to it ended)".to_string(),
        };
        match parse_message(&line) {
            Ok(Incoming::Response {
                id: Some(Id::Number(n)),
                outcome,
            }) => {
                let pending = n.as_i64().and_then(|n| {
                    calls
                        .lock()
                        .expect("peer calls poisoned")
                        .pending
                        .remove(&n)
                });
                if let Some(p) = pending {
                    let _ = p.answer.send(outcome);
                }
            }
            Ok(Incoming::Notification { method, params }) if method == m::Progress::METHOD => {
                let Some(p) = params.and_then(|v| serde_json::from_value::<ProgressParams>(v).ok())
                else {
                    continue;
                };
                let context = p.token.as_i64().and_then(|id| {
                    let calls = calls.lock().expect("peer calls poisoned");
                    calls.pending.get(&id).and_then(|c| c.progress.clone())
                });
                if let Some(ctx) = context {
                    ctx.progress(p.message, p.percent);
                }
            }
            Ok(Incoming::Notification { method, params }) if method == m::Output::METHOD => {
                let Some(o) = params.and_then(|v| serde_json::from_value::<OutputParams>(v).ok())
                else {
                    continue;
                };
                let sink = o.token.as_i64().and_then(|id| {
                    let calls = calls.lock().expect("peer calls poisoned");
                    calls.pending.get(&id).and_then(|c| c.output.clone())
                });
                match sink {
                    Some(OutputSink::Context(ctx, token)) => {
                        ctx.output(&OutputParams { token, ..o });
                    }
                    Some(OutputSink::Collect(tx)) => {
                        let _ = tx.send(o);
                    }
                    None => {}
                }
            }
            Ok(Incoming::Notification { method, params }) if method == m::Log::METHOD => {
                if let Some(p) = params.and_then(|v| serde_json::from_value::<LogParams>(v).ok()) {
                    tracing::info!(peer = %name, level = ?p.level, "{}", p.message);
                }
            }
            Ok(other) => tracing::warn!(peer = %name, "ignored a message: {other:?}"),
            Err(e) => tracing::warn!(peer = %name, "ignored a line that is no message: {e}"),
        }
    };
    let mut calls = calls.lock().expect("peer calls poisoned");
    calls.ended = Some(why);
    calls.pending.clear();
}
