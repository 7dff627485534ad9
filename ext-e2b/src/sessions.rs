//! Commands as sessions (`exec/start`, `attach`, `write`, `signal`,
//! `resize`, `list`) on envd's processes. envd keeps a process running but
//! not what it wrote, so the extension reads each `Start` stream to its end
//! in a task of its own and keeps the output, numbered, for any number of
//! attaches from any chunk. An exec id is the E2B pid (`p1234`): a command
//! started by another process of this extension (a CLI call) is still
//! signalled, written to and resized by it; attaching to one reads its output
//! from the moment of attaching (envd's `Connect`).

use crate::E2b;
use crate::commands::{self, exit_of};
use crate::envd::{Envd, Target};
use futures::FutureExt;
use sandboxer_e2b::envd::{
    DataEvent, Empty, ListResponse, ProcessConfig, ProcessEvent, ProcessInput, ProcessSelector,
    Pty, PtySize, SelectRequest, SendInputRequest, SendSignalRequest, Signal as EnvdSignal,
    StartRequest, UpdateRequest,
};
use sandboxer_ext_protocol::sdk::{Context, ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROCESS: &str = "process.Process";
/// A command without a timeout may run this long (envd needs a deadline to
/// be told none: 0 means none).
const NO_DEADLINE: Duration = Duration::ZERO;
/// Ended sessions kept per sandbox.
const KEEP_ENDED: usize = 64;
/// The most output kept per command; older chunks are dropped first.
const KEEP_BYTES: usize = 16 << 20;

/// What one command wrote (its last `KEEP_BYTES`), and how it ended.
#[derive(Default)]
struct Record {
    /// The seq of the first chunk kept.
    first_seq: u64,
    chunks: std::collections::VecDeque<(OutputStream, Data)>,
    bytes: usize,
    exit: Option<ExecExit>,
    failure: Option<String>,
}

impl Record {
    fn push(&mut self, chunk: (OutputStream, Data)) {
        self.bytes += chunk.1.len();
        self.chunks.push_back(chunk);
        while self.bytes > KEEP_BYTES && self.chunks.len() > 1 {
            let (_, dropped) = self.chunks.pop_front().expect("more than one");
            self.bytes -= dropped.len();
            self.first_seq += 1;
        }
    }

    fn next_seq(&self) -> u64 {
        self.first_seq + self.chunks.len() as u64
    }

    /// The chunks from `seq` on (from the oldest kept when `seq` is older),
    /// and the seq of the first.
    fn since(&self, seq: u64) -> (u64, Vec<(OutputStream, Data)>) {
        let start = seq.max(self.first_seq);
        let skip = usize::try_from(start - self.first_seq).unwrap_or(usize::MAX);
        (start, self.chunks.iter().skip(skip).cloned().collect())
    }
}

struct Session {
    argv: Vec<String>,
    pty: bool,
    started_at: String,
    record: Mutex<Record>,
    changed: tokio::sync::Notify,
    attached: std::sync::atomic::AtomicU32,
}

/// One sandbox's sessions by exec id, oldest first.
type SandboxSessions = Vec<(String, Arc<Session>)>;

/// The sessions this process started, by sandbox and exec id.
#[derive(Default)]
pub struct Sessions {
    all: Mutex<HashMap<String, SandboxSessions>>,
}

fn exec_id_of(pid: u32) -> String {
    format!("p{pid}")
}

fn pid_of(exec_id: &str) -> ExtResult<u32> {
    exec_id
        .strip_prefix('p')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            ErrorObject::domain(ErrorKind::NotFound, format!("no command {exec_id:?} here"))
        })
}

impl Sessions {
    fn find(&self, sandbox_id: &str, exec_id: &str) -> Option<Arc<Session>> {
        self.all
            .lock()
            .expect("sessions")
            .get(sandbox_id)?
            .iter()
            .find(|(id, _)| id == exec_id)
            .map(|(_, s)| s.clone())
    }

    fn add(&self, sandbox_id: &str, exec_id: String, session: Arc<Session>) {
        let mut all = self.all.lock().expect("sessions");
        let list = all.entry(sandbox_id.to_string()).or_default();
        list.retain(|(id, _)| *id != exec_id);
        list.push((exec_id, session));
        while list
            .iter()
            .filter(|(_, s)| s.record.lock().expect("record").exit.is_some())
            .count()
            > KEEP_ENDED
        {
            let oldest = list
                .iter()
                .position(|(_, s)| s.record.lock().expect("record").exit.is_some())
                .expect("counted");
            list.remove(oldest);
        }
    }

    pub fn forget(&self, sandbox_id: &str) {
        self.all.lock().expect("sessions").remove(sandbox_id);
    }
}

/// Reads a `Start` stream to its end into `session`.
async fn follow(
    envd: Envd,
    target: Target,
    request: StartRequest,
    timeout: Duration,
    session: Arc<Session>,
    started: tokio::sync::oneshot::Sender<ExtResult<u32>>,
) {
    let mut started = Some(started);
    let pty = session.pty;
    let outcome = envd
        .stream(&target, "Start", &request, timeout, |event| {
            let mut record = session.record.lock().expect("record");
            match event {
                ProcessEvent::Start { pid } => {
                    if let Some(tx) = started.take() {
                        let _ = tx.send(Ok(pid));
                    }
                }
                ProcessEvent::Data(data) => {
                    let chunk = match data {
                        DataEvent::Stdout(d) if !pty => (OutputStream::Stdout, d),
                        DataEvent::Stderr(d) if !pty => (OutputStream::Stderr, d),
                        DataEvent::Stdout(d) | DataEvent::Stderr(d) | DataEvent::Pty(d) => {
                            (OutputStream::Terminal, d)
                        }
                    };
                    record.push(chunk);
                }
                ProcessEvent::End(end) => {
                    record.exit = Some(exit_of(&end, record.next_seq()));
                }
                ProcessEvent::Keepalive {} => {}
            }
            drop(record);
            session.changed.notify_waiters();
            async { Ok(()) }.boxed()
        })
        .await;
    let mut record = session.record.lock().expect("record");
    if let Err(e) = outcome {
        if record.exit.is_none() {
            record.failure = Some(e.message.clone());
        }
        if let Some(tx) = started.take() {
            let _ = tx.send(Err(e));
        }
    } else if record.exit.is_none() {
        record.failure = Some("E2B's stream ended without the command's end".into());
    }
    drop(record);
    session.changed.notify_waiters();
}

pub async fn start(e2b: &E2b, p: ExecStartParams) -> ExtResult<ExecStarted> {
    commands::check(&p.argv, &p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    let request = StartRequest {
        process: ProcessConfig {
            cmd: p.argv[0].clone(),
            args: p.argv[1..].to_vec(),
            envs: p.env.clone(),
            cwd: p.cwd.clone(),
        },
        pty: p.pty.map(|size| Pty {
            size: PtySize {
                cols: size.cols.into(),
                rows: size.rows.into(),
            },
        }),
        tag: None,
        stdin: Some(p.stdin || p.pty.is_some()),
    };
    let session = Arc::new(Session {
        argv: p.argv.clone(),
        pty: p.pty.is_some(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        record: Mutex::default(),
        changed: tokio::sync::Notify::new(),
        attached: Default::default(),
    });
    let timeout = p.timeout_s.map_or(NO_DEADLINE, Duration::from_secs);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(follow(
        e2b.envd.clone(),
        target,
        request,
        timeout,
        session.clone(),
        tx,
    ));
    let pid = rx.await.map_err(|_| {
        ErrorObject::domain(
            ErrorKind::Unavailable,
            "E2B's stream ended before the command started",
        )
    })??;
    let exec_id = exec_id_of(pid);
    e2b.sessions.add(&p.sandbox_id, exec_id.clone(), session);
    Ok(ExecStarted {
        exec_id,
        pid: Some(pid),
    })
}

pub async fn attach(e2b: &E2b, ctx: &Context, p: ExecAttachParams) -> ExtResult<ExecExit> {
    let Some(session) = e2b.sessions.find(&p.sandbox_id, &p.exec_id) else {
        return attach_elsewhere(e2b, ctx, p).await;
    };
    session
        .attached
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _detach = Detach(&session);
    let mut next = p.from_seq;
    loop {
        let changed = session.changed.notified();
        let (chunks, exit, failure) = {
            let record = session.record.lock().expect("record");
            let (start, chunks) = record.since(next);
            next = start;
            (chunks, record.exit.clone(), record.failure.clone())
        };
        for (stream, data) in chunks {
            ctx.output(&OutputParams {
                token: p.output_token.clone(),
                seq: next,
                stream,
                service: None,
                data,
            });
            next += 1;
        }
        if let Some(exit) = exit {
            return Ok(exit);
        }
        if let Some(failure) = failure {
            return Err(ErrorObject::domain(ErrorKind::Unavailable, failure));
        }
        changed.await;
    }
}

/// Counts an attach out when it ends or is cancelled.
struct Detach<'a>(&'a Session);

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        self.0
            .attached
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Attaching to a command another process of this extension started: its
/// output from now on, through envd's `Connect`.
async fn attach_elsewhere(e2b: &E2b, ctx: &Context, p: ExecAttachParams) -> ExtResult<ExecExit> {
    let pid = pid_of(&p.exec_id)?;
    let target = e2b.target(&p.sandbox_id).await?;
    let connect = SelectRequest {
        process: ProcessSelector::pid(pid),
    };
    let mut seq = p.from_seq;
    let mut end = None;
    e2b.envd
        .stream(&target, "Connect", &connect, NO_DEADLINE, |event| {
            let chunk = match event {
                ProcessEvent::Data(DataEvent::Stdout(d)) => Some((OutputStream::Stdout, d)),
                ProcessEvent::Data(DataEvent::Stderr(d)) => Some((OutputStream::Stderr, d)),
                ProcessEvent::Data(DataEvent::Pty(d)) => Some((OutputStream::Terminal, d)),
                ProcessEvent::End(e) => {
                    end = Some(exit_of(&e, seq));
                    None
                }
                _ => None,
            };
            if let Some((stream, data)) = chunk {
                ctx.output(&OutputParams {
                    token: p.output_token.clone(),
                    seq,
                    stream,
                    service: None,
                    data,
                });
                seq += 1;
            }
            async { Ok(()) }.boxed()
        })
        .await?;
    end.ok_or_else(|| {
        ErrorObject::domain(
            ErrorKind::Unavailable,
            "E2B's stream ended without the command's end",
        )
    })
}

async fn unary(
    e2b: &E2b,
    sandbox_id: &str,
    method: &str,
    request: &impl serde::Serialize,
) -> ExtResult<()> {
    let target = e2b.target(sandbox_id).await?;
    e2b.envd
        .unary::<_, Empty>(&target, &format!("{PROCESS}/{method}"), request)
        .await
        .map(|_| ())
}

pub async fn write(e2b: &E2b, p: ExecWriteParams) -> ExtResult<Ack> {
    let pid = pid_of(&p.exec_id)?;
    let pty = e2b
        .sessions
        .find(&p.sandbox_id, &p.exec_id)
        .is_some_and(|s| s.pty);
    if !p.data.is_empty() {
        let input = if pty {
            ProcessInput {
                stdin: None,
                pty: Some(p.data.clone()),
            }
        } else {
            ProcessInput {
                stdin: Some(p.data.clone()),
                pty: None,
            }
        };
        let request = SendInputRequest {
            process: ProcessSelector::pid(pid),
            input,
        };
        unary(e2b, &p.sandbox_id, "SendInput", &request).await?;
    }
    if p.eof {
        let request = SelectRequest {
            process: ProcessSelector::pid(pid),
        };
        unary(e2b, &p.sandbox_id, "CloseStdin", &request).await?;
    }
    Ok(Ack {})
}

pub async fn signal(e2b: &E2b, p: ExecSignalParams) -> ExtResult<Ack> {
    let pid = pid_of(&p.exec_id)?;
    let signal = match p.signal {
        Signal::Kill => EnvdSignal::Kill,
        Signal::Terminate => EnvdSignal::Term,
        other => {
            return Err(ErrorObject::invalid_argument(
                "signal",
                format!("E2B sends only terminate and kill, not {other:?}"),
            ));
        }
    };
    let request = SendSignalRequest {
        process: ProcessSelector::pid(pid),
        signal,
    };
    unary(e2b, &p.sandbox_id, "SendSignal", &request).await?;
    Ok(Ack {})
}

pub async fn resize(e2b: &E2b, p: ExecResizeParams) -> ExtResult<Ack> {
    let pid = pid_of(&p.exec_id)?;
    let request = UpdateRequest {
        process: ProcessSelector::pid(pid),
        pty: Some(Pty {
            size: PtySize {
                cols: p.size.cols.into(),
                rows: p.size.rows.into(),
            },
        }),
    };
    unary(e2b, &p.sandbox_id, "Update", &request).await?;
    Ok(Ack {})
}

pub async fn list(e2b: &E2b, p: ExecListParams) -> ExtResult<ExecListResult> {
    let target = e2b.target(&p.sandbox_id).await?;
    let running: ListResponse = e2b
        .envd
        .unary(&target, &format!("{PROCESS}/List"), &Empty {})
        .await?;
    let mut sessions: Vec<ExecSession> = e2b
        .sessions
        .all
        .lock()
        .expect("sessions")
        .get(&p.sandbox_id)
        .map(|list| {
            list.iter()
                .map(|(exec_id, s)| ExecSession {
                    exec_id: exec_id.clone(),
                    argv: s.argv.clone(),
                    service: None,
                    pty: s.pty,
                    started_at: s.started_at.clone(),
                    exit: s.record.lock().expect("record").exit.clone(),
                    attached: s.attached.load(std::sync::atomic::Ordering::Relaxed),
                })
                .collect()
        })
        .unwrap_or_default();
    // Processes this extension did not start (or started before it restarted).
    for process in running.processes {
        let exec_id = exec_id_of(process.pid);
        if sessions.iter().all(|s| s.exec_id != exec_id) {
            let mut argv = vec![process.config.cmd.clone()];
            argv.extend(process.config.args.iter().cloned());
            sessions.push(ExecSession {
                exec_id,
                argv,
                service: None,
                pty: false,
                started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                exit: None,
                attached: 0,
            });
        }
    }
    Ok(ExecListResult { sessions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_the_last_of_its_output_and_counts_what_it_dropped() {
        let mut record = Record::default();
        let chunk = |n: usize| (OutputStream::Stdout, Data(vec![b'x'; n]));
        record.push(chunk(KEEP_BYTES / 2));
        record.push(chunk(KEEP_BYTES / 2));
        assert_eq!((record.first_seq, record.next_seq()), (0, 2));
        record.push(chunk(10));
        assert_eq!((record.first_seq, record.next_seq()), (1, 3));
        let (start, rest) = record.since(0);
        assert_eq!((start, rest.len()), (1, 2));
        let (start, rest) = record.since(2);
        assert_eq!((start, rest.len()), (2, 1));
        assert!(record.since(7).1.is_empty());
    }
}
