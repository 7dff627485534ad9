//! envd's `process.Process` service over the sandbox's command sessions:
//! `Start` is `start_command` then `attach`, its output streamed back as
//! Connect envelopes while it is written; `Connect` attaches again; `List`,
//! `SendInput`, `StreamInput`, `CloseStdin`, `SendSignal` and `Update` are
//! the session verbs. E2B names a process by pid: the sandbox's own when the
//! backend reports it, else one of ours (`state`).

use super::access::{self, Envd};
use super::control::ENV_NAMES_LABEL;
use super::errors::{RpcError, RpcResult, connect_error};
use super::rpc;
use super::state::Process;
use crate::App;
use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sandboxer_core::api::{
    AttachQuery, CoreVerbs, ResizeRequest, SignalRequest, StdinWrite, Verbs,
};
use sandboxer_core::operations::{Attached, StartCommand};
use sandboxer_e2b::connect::{self, Code, ConnectError};
use sandboxer_e2b::envd::{
    DataEvent, Empty, EndEvent, ListResponse, ProcessEvent, ProcessEventMessage, ProcessInfo,
    ProcessSelector, SelectRequest, SendInputRequest, SendSignalRequest, Signal, StartRequest,
    StreamInputRequest, UpdateRequest,
};
use sandboxer_ext_protocol::{Data, ExecExit, OutputStream, TerminalSize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// `POST /process.Process/{method}`.
pub async fn call(app: Arc<App>, method: &str, headers: HeaderMap, body: Body) -> Response {
    let envd = match access::envd(&app, &headers) {
        Ok(envd) => envd,
        Err(e) => return RpcError(e).into_response(),
    };
    let outcome = match method {
        "Start" => return start(app, envd, &headers, body).await,
        "Connect" => return reconnect(app, envd, &headers, body).await,
        "StreamInput" => return stream_input(app, envd, body).await,
        "List" => list(&app, &envd).await.map(rpc::answer),
        "SendInput" => send_input(&app, &envd, body).await.map(rpc::answer),
        "CloseStdin" => close_stdin(&app, &envd, body).await.map(rpc::answer),
        "SendSignal" => send_signal(&app, &envd, body).await.map(rpc::answer),
        "Update" => update(&app, &envd, body).await.map(rpc::answer),
        other => Err(rpc::unserved("process.Process", other)),
    };
    outcome.unwrap_or_else(IntoResponse::into_response)
}

/// The process a selector names.
fn selected(app: &App, envd: &Envd, selector: &ProcessSelector) -> RpcResult<Process> {
    app.e2b
        .process(envd.id(), selector.pid, selector.tag.as_deref())
        .ok_or_else(|| {
            let which = match (&selector.pid, &selector.tag) {
                (Some(pid), _) => format!("pid {pid}"),
                (None, Some(tag)) => format!("tag {tag:?}"),
                (None, None) => "no pid or tag".into(),
            };
            RpcError::new(Code::NotFound, format!("process with {which} not found"))
        })
}

/// The process a selector names, while it runs: to envd an ended process is
/// gone (`not_found`), whatever sandboxer still keeps of it.
async fn running(app: &App, envd: &Envd, selector: &ProcessSelector) -> RpcResult<Process> {
    let process = selected(app, envd, selector)?;
    let sessions = envd.verbs.commands(envd.id()).await?;
    let runs = sessions
        .iter()
        .any(|s| s.exec_id == process.exec_id && s.exit.is_none());
    if runs {
        Ok(process)
    } else {
        Err(RpcError::new(
            Code::NotFound,
            "the process has ended".to_string(),
        ))
    }
}

/// The environment a process starts with: the sandbox's `envVars`, then its own.
fn environment(
    app: &App,
    envd: &Envd,
    own: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConnectError> {
    let mut env = match app.e2b.env(envd.id()) {
        Some(env) => env,
        None => match envd.record.labels.get(ENV_NAMES_LABEL) {
            Some(names) => {
                return Err(ConnectError::new(
                    Code::FailedPrecondition,
                    format!(
                        "this sandbox was created with envVars ({names}), which the daemon kept \
                         in memory only and lost when it restarted: pass them to the command \
                         as envs"
                    ),
                ));
            }
            None => BTreeMap::new(),
        },
    };
    env.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

async fn start(app: Arc<App>, envd: Envd, headers: &HeaderMap, body: Body) -> Response {
    let request: StartRequest = match rpc::first_message(body).await {
        Ok(r) => r,
        Err(e) => return RpcError(e).into_response(),
    };
    let env = match environment(&app, &envd, &request.process.envs) {
        Ok(env) => env,
        Err(e) => return RpcError(e).into_response(),
    };
    let pty = request.pty.map(|p| TerminalSize {
        rows: u16::try_from(p.size.rows).unwrap_or(u16::MAX).max(1),
        cols: u16::try_from(p.size.cols).unwrap_or(u16::MAX).max(1),
    });
    // envd's rules: the process's deadline is the call's, and stdin is open
    // unless the caller said false.
    let timeout_s = header_u64(headers, "connect-timeout-ms")
        .filter(|ms| *ms > 0)
        .map(|ms| ms.div_ceil(1000));
    let mut argv = vec![request.process.cmd.clone()];
    argv.extend(request.process.args.iter().cloned());
    let command = StartCommand {
        argv,
        cwd: request.process.cwd.clone(),
        env,
        service: None,
        pty,
        stdin: pty.is_some() || request.stdin.unwrap_or(true),
        timeout_s,
    };
    let started = match envd.verbs.start_command(envd.id(), command).await {
        Ok(started) => started,
        Err(e) => return RpcError::from(e).into_response(),
    };
    let process = Process {
        exec_id: started.exec_id,
        config: request.process,
        tag: request.tag,
        pty: pty.is_some(),
    };
    let pid = app.e2b.add_process(envd.id(), started.pid, process.clone());
    events(envd, pid, process, rpc::keepalive_of(headers))
}

async fn reconnect(app: Arc<App>, envd: Envd, headers: &HeaderMap, body: Body) -> Response {
    let request: SelectRequest = match rpc::first_message(body).await {
        Ok(r) => r,
        Err(e) => return RpcError(e).into_response(),
    };
    match selected(&app, &envd, &request.process) {
        Ok(process) => {
            let pid = request
                .process
                .pid
                .unwrap_or_else(|| app.e2b.pid_of(envd.id(), &process.exec_id, &[]).0);
            events(envd, pid, process, rpc::keepalive_of(headers))
        }
        Err(e) => e.into_response(),
    }
}

/// How a command's end reads to E2B (Go's `ProcessState`): a signal makes the
/// exit code -1 and the status `signal: killed`.
fn end_of(exit: &ExecExit) -> EndEvent {
    match exit.signal {
        Some(signal) => {
            let name = match signal {
                1 => "hangup".to_string(),
                2 => "interrupt".to_string(),
                9 => "killed".to_string(),
                15 => "terminated".to_string(),
                n => format!("signal {n}"),
            };
            let status = format!("signal: {name}");
            EndEvent {
                exit_code: -1,
                exited: false,
                error: Some(status.clone()),
                status,
            }
        }
        None => {
            let status = format!("exit status {}", exit.exit_code);
            EndEvent {
                exit_code: exit.exit_code,
                exited: true,
                error: (exit.exit_code != 0).then(|| status.clone()),
                status,
            }
        }
    }
}

fn output_event(process: &Process, stream: OutputStream, data: Data) -> ProcessEvent {
    ProcessEvent::Data(match stream {
        _ if process.pty => DataEvent::Pty(data),
        OutputStream::Terminal => DataEvent::Pty(data),
        OutputStream::Stdout => DataEvent::Stdout(data),
        OutputStream::Stderr => DataEvent::Stderr(data),
    })
}

/// A `Start`/`Connect` answer: `start`, the output from the beginning as it
/// comes (a keepalive whenever it is quiet for `keepalive`), `end`, then the
/// end of the stream. The caller going away detaches; the command goes on.
fn events(envd: Envd, pid: u32, process: Process, keepalive: Duration) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    let message = |event| connect::envelope(&ProcessEventMessage { event });
    tokio::spawn(async move {
        if tx.send(message(ProcessEvent::Start { pid })).await.is_err() {
            return;
        }
        let ended = follow(&envd.verbs, envd.id(), &process, keepalive, &tx, message).await;
        if let Ok(error) = ended {
            let _ = tx.send(connect::end_of_stream(error)).await;
        }
    });
    rpc::stream_response(rx)
}

/// Sends the command's events; `Err` when the caller has gone.
async fn follow(
    verbs: &CoreVerbs,
    id: &str,
    process: &Process,
    keepalive: Duration,
    tx: &tokio::sync::mpsc::Sender<bytes::Bytes>,
    message: impl Fn(ProcessEvent) -> bytes::Bytes,
) -> Result<Option<ConnectError>, ()> {
    let mut events = match verbs
        .attach(id, &process.exec_id, AttachQuery::default())
        .await
    {
        Ok(events) => events,
        Err(e) => return Ok(Some(connect_error(&e))),
    };
    loop {
        let event = match tokio::time::timeout(keepalive, events.next()).await {
            Err(_quiet) => ProcessEvent::Keepalive {},
            Ok(None) => {
                return Ok(Some(ConnectError::new(
                    Code::Unavailable,
                    "the command's output ended before its exit was known",
                )));
            }
            Ok(Some(Err(e))) => return Ok(Some(connect_error(&e))),
            Ok(Some(Ok(Attached::Output { stream, data, .. }))) => {
                output_event(process, stream, data)
            }
            Ok(Some(Ok(Attached::Exited(exit)))) => {
                tx.send(message(ProcessEvent::End(end_of(&exit))))
                    .await
                    .map_err(|_| ())?;
                return Ok(None);
            }
        };
        tx.send(message(event)).await.map_err(|_| ())?;
    }
}

async fn list(app: &App, envd: &Envd) -> RpcResult<ListResponse> {
    let sessions = envd.verbs.commands(envd.id()).await?;
    let processes = sessions
        .into_iter()
        .filter(|s| s.exit.is_none())
        .map(|s| {
            let (pid, process) = app.e2b.pid_of(envd.id(), &s.exec_id, &s.argv);
            ProcessInfo {
                config: process.config,
                pid,
                tag: process.tag,
            }
        })
        .collect();
    Ok(ListResponse { processes })
}

async fn write(
    app: &App,
    envd: &Envd,
    selector: &ProcessSelector,
    write: StdinWrite,
) -> RpcResult<Empty> {
    let process = running(app, envd, selector).await?;
    envd.verbs
        .write_stdin(envd.id(), &process.exec_id, write)
        .await?;
    Ok(Empty {})
}

async fn send_input(app: &App, envd: &Envd, body: Body) -> RpcResult<Empty> {
    let request: SendInputRequest = rpc::unary_message(body).await?;
    let data = request
        .input
        .stdin
        .or(request.input.pty)
        .unwrap_or_default();
    write(app, envd, &request.process, StdinWrite { data, eof: false }).await
}

async fn close_stdin(app: &App, envd: &Envd, body: Body) -> RpcResult<Empty> {
    let request: SelectRequest = rpc::unary_message(body).await?;
    let eof = StdinWrite {
        data: Data::default(),
        eof: true,
    };
    write(app, envd, &request.process, eof).await
}

async fn send_signal(app: &App, envd: &Envd, body: Body) -> RpcResult<Empty> {
    let request: SendSignalRequest = rpc::unary_message(body).await?;
    let signal = match request.signal {
        Signal::Kill => sandboxer_ext_protocol::Signal::Kill,
        Signal::Term => sandboxer_ext_protocol::Signal::Terminate,
        Signal::Unspecified => {
            return Err(RpcError::new(
                Code::InvalidArgument,
                "name a signal: SIGNAL_SIGKILL or SIGNAL_SIGTERM",
            ));
        }
    };
    let process = running(app, envd, &request.process).await?;
    match envd
        .verbs
        .signal(envd.id(), &process.exec_id, SignalRequest { signal })
        .await
    {
        Ok(()) => Ok(Empty {}),
        // A process that has ended is not found to envd.
        Err(e) if e.class() == sandboxer_core::ErrorClass::Refused => Err(RpcError::new(
            Code::NotFound,
            format!("the process has ended: {e}"),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn update(app: &App, envd: &Envd, body: Body) -> RpcResult<Empty> {
    let request: UpdateRequest = rpc::unary_message(body).await?;
    let size = request
        .pty
        .ok_or_else(|| RpcError::new(Code::InvalidArgument, "Update carries no pty size"))?
        .size;
    let process = running(app, envd, &request.process).await?;
    let resize = ResizeRequest {
        rows: u16::try_from(size.rows).unwrap_or(u16::MAX),
        cols: u16::try_from(size.cols).unwrap_or(u16::MAX),
    };
    envd.verbs
        .resize(envd.id(), &process.exec_id, resize)
        .await?;
    Ok(Empty {})
}

/// `StreamInput`: the process first, then its input, written as it arrives.
async fn stream_input(app: Arc<App>, envd: Envd, body: Body) -> Response {
    let outcome = feed(&app, &envd, body).await;
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let end = match outcome {
        Ok(()) => {
            let _ = tx.try_send(connect::envelope(&Empty {}));
            None
        }
        Err(e) => Some(e),
    };
    let _ = tx.try_send(connect::end_of_stream(end));
    drop(tx);
    rpc::stream_response(rx)
}

async fn feed(app: &App, envd: &Envd, body: Body) -> Result<(), ConnectError> {
    let mut messages = std::pin::pin!(rpc::messages::<StreamInputRequest>(body));
    let mut process: Option<Process> = None;
    while let Some(message) = messages.next().await {
        match message? {
            StreamInputRequest::Start { process: selector } => {
                process = Some(running(app, envd, &selector).await.map_err(|e| e.0)?);
            }
            StreamInputRequest::Data { input } => {
                let to = process.as_ref().ok_or_else(|| {
                    ConnectError::new(
                        Code::InvalidArgument,
                        "StreamInput's first message must be start",
                    )
                })?;
                let data = input.stdin.or(input.pty).unwrap_or_default();
                envd.verbs
                    .write_stdin(envd.id(), &to.exec_id, StdinWrite { data, eof: false })
                    .await
                    .map_err(|e| connect_error(&e))?;
            }
            StreamInputRequest::Keepalive {} => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_read_as_go_reports_them() {
        let exit = |exit_code, signal| ExecExit {
            exit_code,
            signal,
            timed_out: false,
            next_seq: 0,
        };
        let ok = end_of(&exit(0, None));
        assert_eq!((ok.exit_code, ok.exited, ok.error), (0, true, None));
        assert_eq!(ok.status, "exit status 0");
        let failed = end_of(&exit(3, None));
        assert_eq!(failed.error.as_deref(), Some("exit status 3"));
        let killed = end_of(&exit(137, Some(9)));
        assert_eq!((killed.exit_code, killed.exited), (-1, false));
        assert_eq!(killed.status, "signal: killed");
    }
}
