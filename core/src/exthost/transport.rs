//! The stdio transport under the jsonrpsee client: the sender writes one line per
//! message to the extension's stdin; the receiver reads its stdout line by line,
//! hands responses to jsonrpsee, routes `$/progress`, `$/output` and `$/log` itself, and treats
//! anything that is not JSON-RPC (or answers an id never asked) as a protocol
//! violation that kills the extension. Every line is redacted of the secret
//! values the client protects before anything reads it.

use super::process::ExtensionProcess;
use crate::redact::Redactor;
use futures::StreamExt;
use jsonrpsee::core::client::{ReceivedMessage, TransportReceiverT, TransportSenderT};
use sandboxer_ext_protocol::framing::{Frame, Id, Incoming, parse_message};
use sandboxer_ext_protocol::io::{LineCodec, frames};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{LogLevel, LogParams, OutputParams, ProgressParams};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("writing to the extension's stdin: {0}")]
    Write(#[from] std::io::Error),
    #[error("the extension closed its stdout")]
    Closed,
    #[error("protocol violation: {0}")]
    Violation(String),
}

/// Where notifications carrying a token go: one receiver per token, until it
/// is dropped.
struct Routes<T>(Mutex<HashMap<String, mpsc::UnboundedSender<T>>>);

impl<T> Default for Routes<T> {
    fn default() -> Self {
        Routes(Mutex::default())
    }
}

impl<T> Routes<T> {
    fn subscribe(&self, token: &Value) -> mpsc::UnboundedReceiver<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0
            .lock()
            .expect("routes poisoned")
            .insert(token.to_string(), tx);
        rx
    }

    fn route(&self, token: &Value, message: T) {
        let mut routes = self.0.lock().expect("routes poisoned");
        let key = token.to_string();
        if let Some(tx) = routes.get(&key)
            && tx.send(message).is_err()
        {
            routes.remove(&key);
        }
    }
}

/// What the two halves share: ids awaiting an answer, the first violation seen,
/// and where progress and streamed output go.
#[derive(Default)]
pub struct Shared {
    pending: Mutex<HashSet<Id>>,
    violation: Mutex<Option<String>>,
    progress: Routes<ProgressParams>,
    output: Routes<OutputParams>,
    /// The secret values this extension's output is redacted of.
    pub redactor: Redactor,
}

impl Shared {
    pub fn violation(&self) -> Option<String> {
        self.violation.lock().expect("violation poisoned").clone()
    }

    /// Routes `$/progress` for `token` to the returned receiver until dropped.
    pub fn subscribe_progress(&self, token: &Value) -> mpsc::UnboundedReceiver<ProgressParams> {
        self.progress.subscribe(token)
    }

    /// Routes `$/output` for `token` to the returned receiver until dropped.
    pub fn subscribe_output(&self, token: &Value) -> mpsc::UnboundedReceiver<OutputParams> {
        self.output.subscribe(token)
    }
}

/// Writes requests and notifications to the extension's stdin.
pub struct StdinSender {
    stdin: ChildStdin,
    shared: Arc<Shared>,
}

impl StdinSender {
    pub fn new(stdin: ChildStdin, shared: Arc<Shared>) -> Self {
        StdinSender { stdin, shared }
    }
}

#[derive(serde::Deserialize)]
struct PeekId {
    id: Option<Id>,
}

impl TransportSenderT for StdinSender {
    type Error = TransportError;

    async fn send(&mut self, mut msg: String) -> Result<(), Self::Error> {
        if let Ok(PeekId { id: Some(id) }) = serde_json::from_str::<PeekId>(&msg) {
            self.shared
                .pending
                .lock()
                .expect("pending poisoned")
                .insert(id);
        }
        msg.push('\n');
        self.stdin.write_all(msg.as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }
}

/// Reads the extension's stdout.
pub struct StdoutReceiver {
    frames: FramedRead<ChildStdout, LineCodec>,
    shared: Arc<Shared>,
    process: Arc<ExtensionProcess>,
}

impl StdoutReceiver {
    pub fn new(stdout: ChildStdout, shared: Arc<Shared>, process: Arc<ExtensionProcess>) -> Self {
        StdoutReceiver {
            frames: frames(stdout),
            shared,
            process,
        }
    }

    /// Records the violation and kills the extension, as the contract asks.
    fn violation(&self, detail: String) -> TransportError {
        tracing::warn!(extension = %self.process.name, "protocol violation: {detail}");
        self.shared
            .violation
            .lock()
            .expect("violation poisoned")
            .get_or_insert(detail.clone());
        self.process.kill();
        TransportError::Violation(detail)
    }

    fn log(&self, params: Option<Value>) {
        let Some(LogParams { level, message }) =
            params.and_then(|p| serde_json::from_value(p).ok())
        else {
            return;
        };
        let ext = &self.process.name;
        match level {
            LogLevel::Debug => {
                tracing::debug!(target: "sandboxer::extension", extension = %ext, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "sandboxer::extension", extension = %ext, "{message}")
            }
            LogLevel::Warning => {
                tracing::warn!(target: "sandboxer::extension", extension = %ext, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "sandboxer::extension", extension = %ext, "{message}")
            }
        }
    }
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut cut: String = text.chars().take(120).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

impl TransportReceiverT for StdoutReceiver {
    type Error = TransportError;

    async fn receive(&mut self) -> Result<ReceivedMessage, Self::Error> {
        loop {
            let line = match self.frames.next().await {
                None => return Err(TransportError::Closed),
                Some(Err(e)) => return Err(TransportError::Write(e)),
                Some(Ok(Frame::Oversized { len })) => {
                    return Err(self.violation(format!(
                        "a stdout line of {len} bytes exceeds the 8 MiB limit"
                    )));
                }
                Some(Ok(Frame::Line(line))) => match self.shared.redactor.redact_line(&line) {
                    std::borrow::Cow::Borrowed(_) => line,
                    std::borrow::Cow::Owned(redacted) => redacted.into(),
                },
            };
            match parse_message(&line) {
                Err(e) => {
                    return Err(self.violation(format!(
                        "stdout line {} is not JSON-RPC ({e})",
                        preview(&line)
                    )));
                }
                Ok(Incoming::Notification { method, params }) => match method.as_str() {
                    m::Progress::METHOD => {
                        if let Some(p) =
                            params.and_then(|p| serde_json::from_value::<ProgressParams>(p).ok())
                        {
                            self.shared.progress.route(&p.token.clone(), p);
                        }
                    }
                    m::Output::METHOD => {
                        if let Some(o) =
                            params.and_then(|p| serde_json::from_value::<OutputParams>(p).ok())
                        {
                            self.shared.output.route(&o.token.clone(), o);
                        }
                    }
                    m::Log::METHOD => self.log(params),
                    _ => {} // Unknown notifications are ignored.
                },
                Ok(Incoming::Request { method, .. }) => {
                    tracing::warn!(
                        extension = %self.process.name,
                        "ignoring request {method:?} from the extension: the host serves none"
                    );
                }
                Ok(Incoming::Response { id: None, outcome }) => {
                    // An answer to something the extension could not read; the
                    // host never sends such lines, so note it and go on.
                    tracing::warn!(
                        extension = %self.process.name,
                        "the extension answered a message it could not parse: {outcome:?}"
                    );
                }
                Ok(Incoming::Response { id: Some(id), .. }) => {
                    let known = self
                        .shared
                        .pending
                        .lock()
                        .expect("pending poisoned")
                        .remove(&id);
                    if !known {
                        return Err(self.violation(format!(
                            "answer for id {} that was never asked or was already answered",
                            id.to_value()
                        )));
                    }
                    return Ok(ReceivedMessage::Bytes(line.to_vec()));
                }
            }
        }
    }
}
