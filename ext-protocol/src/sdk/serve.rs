//! The extension's main loop: reads stdin line by line, answers the handshake,
//! dispatches requests concurrently, handles cancel, shutdown, `exit`, stdin EOF
//! and SIGTERM.

use super::context::{Context, ProgressGate, SharedGate, close_gate};
use super::dispatch::{self, REQUEST_GATE, Shared};
use super::outbox::Outbox;
use super::{Extension, Manifest};
use crate::errors::{ErrorObject, codes};
use crate::framing::{Frame, Id, Incoming, error_line, parse_message, result_line};
use crate::messages::{
    CancelParams, Capabilities, InitializeParams, InitializeResult, JsonObject, PeerInfo,
};
use crate::methods as m;
use crate::version::{PROTOCOL_VERSION, ProtocolVersion};
use futures::StreamExt;
use jsonrpsee::Methods;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// How long in-flight calls may still finish after stdin EOF or SIGTERM; the
/// contract asks for exit within 2 s.
const DRAIN_ON_EXIT: Duration = Duration::from_millis(1200);

/// Starts the extension on stdin/stdout and never returns. Without `--stdio` it
/// prints a hint to stderr and exits 2, as the contract asks.
pub fn serve<E: Extension>() -> ! {
    if !std::env::args().skip(1).any(|a| a == crate::STDIO_FLAG) {
        let exe = std::env::args()
            .next()
            .unwrap_or_else(|| "this extension".into());
        eprintln!(
            "{exe} is a sandboxer extension: it speaks JSON-RPC on stdin/stdout and is \
             started by sandboxer as `{exe} --stdio`. Try `sandboxer extensions show {}`.",
            E::manifest().name
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    let code = runtime.block_on(async {
        let input = stdio::input();
        let output = stdio::output();
        run::<E, _, _>(input, output).await
    });
    // Exit without waiting for handlers that never finish (a hung backend call).
    std::process::exit(code)
}

/// stdin and stdout as async streams. When they are pipes (as when a host starts
/// the extension) they are read and written directly through the reactor;
/// otherwise through tokio's blocking-thread wrappers, which cost a thread hop per
/// read.
mod stdio {
    use std::os::fd::AsFd;
    use std::pin::Pin;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::net::unix::pipe;

    pub fn input() -> Pin<Box<dyn AsyncRead + Send>> {
        let piped = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .and_then(|fd| pipe::Receiver::from_file(std::fs::File::from(fd)).ok());
        match piped {
            Some(pipe) => Box::pin(pipe),
            None => Box::pin(tokio::io::stdin()),
        }
    }

    pub fn output() -> Pin<Box<dyn AsyncWrite + Send>> {
        let piped = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .and_then(|fd| pipe::Sender::from_file(std::fs::File::from(fd)).ok());
        match piped {
            Some(pipe) => Box::pin(pipe),
            None => Box::pin(tokio::io::stdout()),
        }
    }
}

enum Phase<E: Extension> {
    AwaitingInitialize,
    Running { methods: Methods, ext: Arc<E> },
    ShuttingDown,
}

/// Calls in flight, by id: how to stop each, and its progress gate.
#[derive(Default)]
struct InFlight {
    calls: Mutex<HashMap<Id, (AbortHandle, SharedGate)>>,
    drained: Notify,
}

impl InFlight {
    /// Removes a call and, if it was still there (not cancelled), queues its
    /// answer — before telling a waiting `shutdown` that one fewer is in
    /// flight, so that the shutdown's answer can never overtake it.
    fn finish(&self, id: &Id, outbox: &Outbox, answer: String) {
        let removed = self.calls.lock().expect("in-flight poisoned").remove(id);
        if removed.is_some() {
            outbox.send(answer);
            self.drained.notify_waiters();
        }
    }

    fn is_empty(&self) -> bool {
        self.calls.lock().expect("in-flight poisoned").is_empty()
    }

    async fn wait_empty(&self) {
        loop {
            let notified = self.drained.notified();
            if self.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// Why the loop stopped.
enum Ending {
    /// `exit` notification, or stdin EOF after `shutdown` was answered.
    Clean,
    /// stdin EOF or SIGTERM without a prior shutdown: drain briefly first.
    Abrupt,
}

/// Runs the protocol over any reader and writer (stdin/stdout in production, an
/// in-memory pipe in tests). Returns the process exit code.
pub async fn run<E, R, W>(input: R, output: W) -> i32
where
    E: Extension,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let manifest = E::manifest();
    let outbox = Outbox::start(output);
    let inflight = Arc::new(InFlight::default());
    let mut phase: Phase<E> = Phase::AwaitingInitialize;
    let mut frames = crate::io::frames(input);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");

    let ending = loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            _ = sigterm.recv() => break Ending::Abrupt,
        };
        let line = match frame {
            None | Some(Err(_)) => {
                break if matches!(phase, Phase::ShuttingDown) && inflight.is_empty() {
                    Ending::Clean
                } else {
                    Ending::Abrupt
                };
            }
            Some(Ok(Frame::Oversized { len })) => {
                let err = ErrorObject::standard(
                    codes::INVALID_REQUEST,
                    format!("line of {len} bytes exceeds the 8 MiB limit"),
                );
                outbox.send(error_line(None, &err));
                continue;
            }
            Some(Ok(Frame::Line(line))) => line,
        };
        if let Phase::Running { methods, .. } = &phase
            && let Some(call) = plain_call(&line)
        {
            dispatch_call(
                methods,
                &inflight,
                &outbox,
                call.id,
                &call.method,
                call.params,
            );
            continue;
        }
        let message = match parse_message(&line) {
            Ok(message) => message,
            Err(e) => {
                let (id, err) = e.to_error();
                outbox.send(error_line(id.as_ref(), &err));
                continue;
            }
        };
        match message {
            Incoming::Response { .. } => {} // The host sends no requests we await.
            Incoming::Notification { method, params } => match method.as_str() {
                m::Exit::METHOD => break Ending::Clean,
                m::CancelRequest::METHOD => cancel(&inflight, &outbox, params),
                _ => {} // `initialized` and unknown notifications need nothing.
            },
            Incoming::Request { id, method, params } => match (&phase, method.as_str()) {
                (Phase::AwaitingInitialize, m::Initialize::METHOD) => {
                    match initialize::<E>(&manifest, &outbox, params).await {
                        Ok((ext, result)) => {
                            let ext = Arc::new(ext);
                            let shared = Shared {
                                ext: ext.clone(),
                                outbox: outbox.clone(),
                            };
                            let methods = dispatch::methods(shared, &manifest.optional_methods);
                            phase = Phase::Running { methods, ext };
                            outbox.send(result_line(&id, &result));
                        }
                        Err(err) => outbox.send(error_line(Some(&id), &err)),
                    }
                }
                (Phase::AwaitingInitialize, _) => {
                    let err = ErrorObject::standard(
                        codes::NOT_INITIALIZED,
                        format!("{method}: not initialized; send `initialize` first"),
                    );
                    outbox.send(error_line(Some(&id), &err));
                }
                (Phase::Running { .. }, m::Initialize::METHOD) => {
                    let err = ErrorObject::standard(codes::INVALID_REQUEST, "already initialized");
                    outbox.send(error_line(Some(&id), &err));
                }
                (Phase::Running { ext, .. }, m::Shutdown::METHOD) => {
                    let ext = ext.clone();
                    phase = Phase::ShuttingDown;
                    let inflight = inflight.clone();
                    let outbox = outbox.clone();
                    tokio::spawn(async move {
                        inflight.wait_empty().await;
                        ext.shutdown().await;
                        outbox.send(result_line(&id, &Value::Null));
                    });
                }
                (Phase::Running { methods, .. }, _) => {
                    let params = params.map(|p| RawValue::from_string(p.to_string()));
                    let params = params.transpose().expect("a value's text is JSON");
                    dispatch_call(methods, &inflight, &outbox, id, &method, params.as_deref())
                }
                (Phase::ShuttingDown, _) => {
                    let err = ErrorObject::standard(
                        codes::INVALID_REQUEST,
                        format!("{method}: the extension is shutting down"),
                    );
                    outbox.send(error_line(Some(&id), &err));
                }
            },
        }
    };
    if matches!(ending, Ending::Abrupt) {
        let _ = tokio::time::timeout(DRAIN_ON_EXIT, inflight.wait_empty()).await;
    }
    outbox.flush().await;
    0
}

/// Answers `initialize`: version rule, required options, then `E::start`.
async fn initialize<E: Extension>(
    manifest: &Manifest,
    outbox: &Outbox,
    params: Option<Value>,
) -> Result<(E, InitializeResult), ErrorObject> {
    let params: InitializeParams =
        serde_json::from_value(params.unwrap_or(Value::Null)).map_err(|e| {
            ErrorObject::standard(
                codes::INVALID_PARAMS,
                format!("invalid initialize params: {e}"),
            )
        })?;
    let supported = vec![PROTOCOL_VERSION.to_string()];
    let theirs: ProtocolVersion = params.protocol_version.parse().map_err(|e| ErrorObject {
        code: codes::INVALID_PARAMS,
        message: format!("{e}"),
        data: Some(json!({ "supported": supported })),
    })?;
    if !theirs.is_compatible_with(PROTOCOL_VERSION) {
        return Err(ErrorObject {
            code: codes::INVALID_PARAMS,
            message: format!(
                "protocol version {theirs} is not supported by {} {} (it speaks {PROTOCOL_VERSION})",
                manifest.name, manifest.version
            ),
            data: Some(json!({ "supported": supported })),
        });
    }
    let options = with_defaults(manifest, params.options)?;
    let ctx = Context::new(outbox.clone(), None, Default::default());
    let ext = E::start(options, &ctx).await?;
    let methods = m::required()
        .chain(manifest.optional_methods.iter().copied())
        .map(str::to_string)
        .collect();
    let result = InitializeResult {
        protocol_version: PROTOCOL_VERSION.to_string(),
        extension: PeerInfo {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
        },
        capabilities: Capabilities {
            methods,
            features: manifest.features.clone(),
        },
        options_schema: manifest.options_schema.clone(),
    };
    Ok((ext, result))
}

/// Fills option defaults from the schema, and refuses a missing required option
/// and one the schema does not list (a typo in the host's configuration is
/// caught at the handshake, not by a create much later).
fn with_defaults(manifest: &Manifest, mut options: JsonObject) -> Result<JsonObject, ErrorObject> {
    if let Some(unknown) = options
        .keys()
        .find(|k| !manifest.options_schema.contains_key(*k))
    {
        let known: Vec<&str> = manifest.options_schema.keys().map(String::as_str).collect();
        return Err(ErrorObject::invalid_argument(
            &format!("options.{unknown}"),
            format!(
                "{} has no option {unknown:?} (its options: {})",
                manifest.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    for (name, spec) in &manifest.options_schema {
        if options.contains_key(name) {
            continue;
        }
        match (&spec.default, spec.required) {
            (Some(default), _) => {
                options.insert(name.clone(), default.clone());
            }
            (None, true) => {
                return Err(ErrorObject::invalid_argument(
                    &format!("options.{name}"),
                    format!("option {name:?} is required: {}", spec.description),
                ));
            }
            (None, false) => {}
        }
    }
    Ok(options)
}

/// A request to dispatch, its params left as the text they came in.
struct PlainCall<'a> {
    id: Id,
    method: String,
    params: Option<&'a RawValue>,
}

/// The common message, read in one pass without building its params: a
/// request with a valid id, `"jsonrpc": "2.0"`, params an object (or none),
/// and not one of the methods the loop answers itself. Anything else is `None`,
/// for [`parse_message`] to classify and answer (a chunk of a transfer is
/// then parsed here and where it is decoded, not four times).
fn plain_call(line: &[u8]) -> Option<PlainCall<'_>> {
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        jsonrpc: Option<std::borrow::Cow<'a, str>>,
        id: Option<Value>,
        method: Option<String>,
        // Absent is `None`; anything present, `null` included, is kept (and
        // only an object passes below).
        #[serde(borrow, default, deserialize_with = "present")]
        params: Option<&'a RawValue>,
        result: Option<serde::de::IgnoredAny>,
        error: Option<serde::de::IgnoredAny>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
        serde::Deserialize::deserialize(d).map(Some)
    }
    let message: Message<'_> = serde_json::from_slice(line).ok()?;
    if message.jsonrpc.as_deref() != Some("2.0")
        || message.result.is_some()
        || message.error.is_some()
    {
        return None;
    }
    let id = match message.id? {
        Value::Number(n) => Id::Number(n),
        Value::String(s) => Id::String(s),
        _ => return None,
    };
    let method = message.method?;
    if matches!(method.as_str(), m::Initialize::METHOD | m::Shutdown::METHOD) {
        return None;
    }
    if let Some(p) = message.params
        && !p.get().starts_with('{')
    {
        return None;
    }
    Some(PlainCall {
        id,
        method,
        params: message.params,
    })
}

/// Runs one call on its own task, registered so that `$/cancelRequest` can stop it.
fn dispatch_call(
    methods: &Methods,
    inflight: &Arc<InFlight>,
    outbox: &Outbox,
    id: Id,
    method: &str,
    params: Option<&RawValue>,
) {
    let mut calls = inflight.calls.lock().expect("in-flight poisoned");
    if calls.contains_key(&id) {
        let err = ErrorObject::standard(
            codes::INVALID_REQUEST,
            format!("request id {} is already in flight", id.to_value()),
        );
        outbox.send(error_line(Some(&id), &err));
        return;
    }
    let gate: SharedGate = Arc::new(Mutex::new(ProgressGate::default()));
    // jsonrpsee's ids are narrower than the contract's (numbers of any form), so
    // the module sees a fixed id and the answer is rebuilt with the host's own.
    // The params' text is copied as it came, not parsed and written again.
    let request = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":{},"params":{}}}"#,
        Value::from(method),
        params.map_or("null", RawValue::get)
    );
    let task = {
        let methods = methods.clone();
        let inflight = inflight.clone();
        let outbox = outbox.clone();
        let id = id.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            let call = methods.raw_json_request(&request, 1);
            let answer = match REQUEST_GATE.scope(gate.clone(), call).await {
                Ok((raw, _)) => answer_line(&id, raw.get()),
                Err(e) => error_line(
                    Some(&id),
                    &ErrorObject::standard(codes::INVALID_REQUEST, format!("invalid request: {e}")),
                ),
            };
            close_gate(&gate);
            inflight.finish(&id, &outbox, answer);
        })
    };
    calls.insert(id, (task.abort_handle(), gate));
}

/// Rebuilds the module's response around the host's id.
fn answer_line(id: &Id, module_response: &str) -> String {
    let parsed: Value = serde_json::from_str(module_response).unwrap_or(Value::Null);
    if let Some(result) = parsed.get("result") {
        return result_line(id, result);
    }
    let error = parsed
        .get("error")
        .and_then(|e| serde_json::from_value::<ErrorObject>(e.clone()).ok())
        .unwrap_or_else(|| {
            ErrorObject::standard(codes::INTERNAL_ERROR, "the method produced no answer")
        });
    error_line(Some(id), &error)
}

/// `$/cancelRequest`: stops the call and answers it with -32800; unknown ids and
/// already answered calls are ignored.
fn cancel(inflight: &InFlight, outbox: &Outbox, params: Option<Value>) {
    let Some(params) = params.and_then(|p| serde_json::from_value::<CancelParams>(p).ok()) else {
        return;
    };
    let Ok(id) = serde_json::from_value::<Id>(params.id) else {
        return;
    };
    let mut calls = inflight.calls.lock().expect("in-flight poisoned");
    if let Some((task, gate)) = calls.remove(&id) {
        task.abort();
        close_gate(&gate);
        let err = ErrorObject::standard(codes::CANCELLED, "request cancelled");
        outbox.send(error_line(Some(&id), &err));
        inflight.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_request_skips_the_full_classification() {
        let write = m::FsWrite::METHOD;
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"{write}","params":{{"data":"a\nb","n":[1, 2]}}}}"#
        );
        let call = plain_call(line.as_bytes()).unwrap();
        assert_eq!((call.id, call.method.as_str()), (Id::from(7), write));
        // The params are passed on as the very text that came.
        assert_eq!(call.params.unwrap().get(), r#"{"data":"a\nb","n":[1, 2]}"#);
        let list = m::SandboxList::METHOD;
        let listing = format!(r#"{{"jsonrpc":"2.0","id":"x","method":"{list}"}}"#);
        assert!(plain_call(listing.as_bytes()).is_some());
        let (init, shutdown, exit) = (m::Initialize::METHOD, m::Shutdown::METHOD, m::Exit::METHOD);
        for line in [
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{init}","params":{{}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{shutdown}"}}"#),
            format!(r#"{{"jsonrpc":"2.0","method":"{exit}"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":null,"method":"{list}"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":[1],"method":"{list}"}}"#),
            format!(r#"{{"jsonrpc":"1.0","id":1,"method":"{list}"}}"#),
            format!(r#"{{"id":1,"method":"{list}"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{list}","params":[1]}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{list}","params":7}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{list}","params":null}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{list}","result":{{}}}}"#),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_string(),
            r#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}"#.to_string(),
            format!(r#"[{{"jsonrpc":"2.0","id":1,"method":"{list}"}}]"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{list}""#),
        ] {
            assert!(
                plain_call(line.as_bytes()).is_none(),
                "{line} skipped the checks"
            );
        }
    }
}
