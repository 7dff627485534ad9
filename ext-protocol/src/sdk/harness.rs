//! An in-process harness for testing an [`Extension`] in a unit test: the real
//! SDK loop ([`run`]) over in-memory pipes, no process spawned. The harness plays
//! the host: it does the handshake, sends typed requests
//! (`harness.request::<SandboxCreate>(&params)`), keeps the notifications the
//! extension sent, and can cancel, send raw lines and shut down.
//!
//! ```no_run
//! # use sandboxer_ext_protocol::sdk::harness::Harness;
//! # use sandboxer_ext_protocol::methods::SandboxList;
//! # async fn demo<E: sandboxer_ext_protocol::sdk::Extension>() {
//! let mut host = Harness::<E>::start(serde_json::json!({"root": "/tmp/x"})).await.unwrap();
//! let listed = host.request::<SandboxList>(&Default::default()).await.unwrap();
//! host.shutdown().await;
//! # }
//! ```

use super::{Extension, run};
use crate::errors::ErrorObject;
use crate::framing::{Id, notification_of, request_of};
use crate::messages::{CancelParams, InitializeParams, InitializeResult, PeerInfo};
use crate::methods::{self as m, NoParams, Notification, Request};
use crate::version::PROTOCOL_VERSION;
use serde_json::Value;
use std::marker::PhantomData;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::task::JoinHandle;

/// How long the harness waits for one answer before it calls the extension hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// Room for the largest line the protocol allows, both ways.
const PIPE_BYTES: usize = 16 * 1024 * 1024;

/// The host side of an extension running in this process.
pub struct Harness<E: Extension> {
    input: DuplexStream,
    output: Lines<BufReader<DuplexStream>>,
    task: JoinHandle<i32>,
    next_id: i64,
    /// Notifications received so far (`$/progress`, `$/log`), in order.
    pub notifications: Vec<Value>,
    /// What the extension answered to `initialize`.
    pub info: InitializeResult,
    extension: PhantomData<E>,
}

/// What went wrong with a call: the extension's error, or no answer at all.
#[derive(Debug)]
pub enum CallError {
    Remote(ErrorObject),
    /// The extension did not answer (hung, exited, or wrote a line that is not
    /// a JSON-RPC answer); the text says which.
    NoAnswer(String),
}

impl<E: Extension> Harness<E> {
    /// Starts `E` on the SDK loop and does the handshake with `options`.
    pub async fn start(options: Value) -> Result<Harness<E>, CallError> {
        let (host_writes, ext_reads) = tokio::io::duplex(PIPE_BYTES);
        let (ext_writes, host_reads) = tokio::io::duplex(PIPE_BYTES);
        let task = tokio::spawn(run::<E, _, _>(ext_reads, ext_writes));
        let mut harness = Harness {
            input: host_writes,
            output: BufReader::new(host_reads).lines(),
            task,
            next_id: 0,
            notifications: vec![],
            info: InitializeResult::default(),
            extension: PhantomData,
        };
        let params = InitializeParams {
            protocol_version: PROTOCOL_VERSION.to_string(),
            host: PeerInfo {
                name: "sandboxer-harness".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            options: match options {
                Value::Object(map) => map,
                _ => Default::default(),
            },
            features: vec![],
        };
        harness.info = harness.request_unchecked::<m::Initialize>(&params).await?;
        harness.notify::<m::Initialized>(&NoParams {}).await;
        Ok(harness)
    }

    /// Sends request `M` and waits for its answer (notifications on the way are
    /// kept in `notifications`).
    pub async fn request<M: Request>(
        &mut self,
        params: &M::Params,
    ) -> Result<M::Result, CallError> {
        self.request_unchecked::<M>(params).await
    }

    async fn request_unchecked<M: Request>(
        &mut self,
        params: &M::Params,
    ) -> Result<M::Result, CallError> {
        let id = self.send::<M>(params).await;
        let answer = self.answer_to(&id).await?;
        decode_answer::<M>(answer)
    }

    /// Sends request `M` without waiting; returns its id, for `answer_to` or
    /// `cancel`.
    pub async fn send<M: Request>(&mut self, params: &M::Params) -> Id {
        self.next_id += 1;
        let id = Id::from(self.next_id);
        self.write(&request_of::<M>(&id, params)).await;
        id
    }

    /// Sends notification `N`.
    pub async fn notify<N: Notification>(&mut self, params: &N::Params) {
        self.write(&notification_of::<N>(params)).await;
    }

    /// Asks the extension to stop request `id` (`$/cancelRequest`).
    pub async fn cancel(&mut self, id: &Id) {
        self.notify::<m::CancelRequest>(&CancelParams { id: id.to_value() })
            .await;
    }

    /// Writes one raw line (a `\n` is added when missing): for malformed input.
    pub async fn write(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        self.input
            .write_all(&bytes)
            .await
            .expect("the harness pipe accepts writes");
    }

    /// The next message the extension writes, within `within`.
    pub async fn next_message(&mut self, within: Duration) -> Result<Value, CallError> {
        let line = tokio::time::timeout(within, self.output.next_line())
            .await
            .map_err(|_| CallError::NoAnswer(format!("nothing within {within:?}")))?
            .map_err(|e| CallError::NoAnswer(e.to_string()))?
            .ok_or_else(|| CallError::NoAnswer("the extension closed stdout".into()))?;
        serde_json::from_str(&line)
            .map_err(|e| CallError::NoAnswer(format!("stdout line {line:?} is not JSON ({e})")))
    }

    /// Waits for the answer to `id`, keeping the notifications that come first.
    pub async fn answer_to(&mut self, id: &Id) -> Result<Value, CallError> {
        let id = id.to_value();
        loop {
            let message = self.next_message(ANSWER_WITHIN).await?;
            if message.get("id").is_some() && message["id"] == id {
                return Ok(message);
            }
            if message.get("method").is_some() && message.get("id").is_none() {
                self.notifications.push(message);
            } else {
                return Err(CallError::NoAnswer(format!(
                    "expected the answer to {id}, got {message}"
                )));
            }
        }
    }

    /// `shutdown`, then `exit`; returns the loop's exit code.
    pub async fn shutdown(mut self) -> i32 {
        let _ = self.request_unchecked::<m::Shutdown>(&NoParams {}).await;
        self.notify::<m::Exit>(&NoParams {}).await;
        drop(self.input);
        self.task.await.expect("the SDK loop does not panic")
    }
}

fn decode_answer<M: Request>(answer: Value) -> Result<M::Result, CallError> {
    if let Some(error) = answer.get("error") {
        return Err(CallError::Remote(
            serde_json::from_value(error.clone())
                .map_err(|e| CallError::NoAnswer(format!("malformed error {error}: {e}")))?,
        ));
    }
    serde_json::from_value(answer.get("result").cloned().unwrap_or(Value::Null)).map_err(|e| {
        CallError::NoAnswer(format!(
            "{} answered {answer}, which is not its result type: {e}",
            M::METHOD
        ))
    })
}
