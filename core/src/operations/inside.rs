//! Working inside a sandbox through its extension (protocol 1.6): commands as
//! sessions — started, attached to (their output a stream), fed, signalled,
//! resized, listed — single files, and trees as tar streams in and out. None
//! of these holds the sandbox's lock (a command may run for hours next to
//! other calls); each counts as activity, and the first makes a `ready`
//! sandbox `active`. Paths go to the extension as given: it resolves them
//! inside the sandbox.

use super::Core;
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::store::{Change, SandboxRecord};
use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use sandboxer_ext_protocol::methods::{self as m, Request};
use sandboxer_ext_protocol::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A command to start (the body of `POST /v1/sandboxes/{id}/commands`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartCommand {
    pub argv: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub service: Option<String>,
    /// Under a terminal of this size.
    #[serde(default)]
    pub pty: Option<TerminalSize>,
    /// Keep stdin open for writes.
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

/// What an attached caller receives: the command's output chunk by chunk,
/// then how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Attached {
    Output {
        seq: u64,
        stream: OutputStream,
        data: Data,
    },
    Exited(ExecExit),
}

/// The record of a sandbox commands may run in, counted as used now (a paused
/// one resumed first, when its profile says `auto_resume`).
async fn usable(core: &Core, id: &str) -> Result<SandboxRecord> {
    super::touch(core, id);
    let record = super::awake(core, core.record(id)?).await?;
    if !record.state.is_usable() {
        return Err(Error::Refused(format!(
            "sandbox {id} is {}; one can work inside only a ready or active sandbox",
            record.state
        )));
    }
    Ok(record)
}

/// The first use of a `ready` sandbox makes it `active`.
pub(super) fn first_use(
    core: &Core,
    record: &SandboxRecord,
    actor: &str,
    how: serde_json::Value,
) -> Result<()> {
    if record.state == State::Ready {
        core.store()
            .transition(&record.id, State::Active, actor, Change::default(), how)?;
    }
    Ok(())
}

/// Calls `M` on the sandbox's extension.
async fn call<M: Request>(
    core: &Core,
    record: &SandboxRecord,
    params: &M::Params,
) -> Result<M::Result> {
    let lease = core.extension_of(record).await?;
    let answer = lease.request::<M>(params).await;
    lease.release().await;
    answer.map_err(|e| Error::from(e).inside())
}

pub async fn start_command(
    core: &Core,
    id: &str,
    request: StartCommand,
    actor: &str,
) -> Result<ExecStarted> {
    let record = usable(core, id).await?;
    if request.argv.is_empty() {
        return Err(Error::Invalid("argv: give the command to run".into()));
    }
    if request
        .timeout_s
        .is_some_and(|t| t == 0 || t > super::exec::MAX_EXEC_TIMEOUT_S)
    {
        return Err(Error::Invalid(format!(
            "timeout_s: a command's timeout is 1 to {} seconds",
            super::exec::MAX_EXEC_TIMEOUT_S
        )));
    }
    let argv0 = request.argv[0].clone();
    let params = ExecStartParams {
        sandbox_id: id.to_string(),
        argv: request.argv,
        cwd: request.cwd,
        env: request.env,
        service: request.service,
        pty: request.pty,
        stdin: request.stdin,
        timeout_s: request.timeout_s,
    };
    let started = call::<m::ExecStart>(core, &record, &params).await?;
    first_use(
        core,
        &record,
        actor,
        json!({ "first_use": "command", "argv0": argv0 }),
    )?;
    Ok(started)
}

/// The output of command `exec_id` from chunk `from_seq` on, then its exit.
/// Dropping the stream detaches (the command goes on).
pub async fn attach(
    core: Arc<Core>,
    id: &str,
    exec_id: &str,
    from_seq: u64,
) -> Result<BoxStream<'static, Result<Attached>>> {
    let record = usable(&core, id).await?;
    let lease = core.extension_of(&record).await?;
    let token = json!(format!("attach-{}", ulid::Ulid::new()));
    let output = lease.subscribe_output(&token);
    let params = ExecAttachParams {
        sandbox_id: id.to_string(),
        exec_id: exec_id.to_string(),
        output_token: token,
        from_seq,
    };
    Ok(streamed_call::<m::ExecAttach, _>(
        lease,
        params,
        output,
        chunk_event,
        |exit| Some(Attached::Exited(exit)),
    ))
}

fn chunk_event(chunk: OutputParams) -> Attached {
    Attached::Output {
        seq: chunk.seq,
        stream: chunk.stream,
        data: chunk.data,
    }
}

/// A call whose `$/output` (routed to `output`) is the stream: each chunk as
/// `chunk` makes it, then what `end` makes of the answer, if anything; an
/// error answer ends the stream with it. Dropping the stream cancels the call;
/// the lease is released when the call ends.
fn streamed_call<M, T>(
    lease: super::Lease,
    params: M::Params,
    mut output: tokio::sync::mpsc::UnboundedReceiver<OutputParams>,
    chunk: fn(OutputParams) -> T,
    end: fn(M::Result) -> Option<T>,
) -> BoxStream<'static, Result<T>>
where
    M: Request,
    T: Send + 'static,
{
    async_stream(move |tx| async move {
        {
            let call = lease.request::<M>(&params);
            tokio::pin!(call);
            let outcome = loop {
                tokio::select! {
                    biased;
                    Some(piece) = output.recv() => {
                        if tx.send(Ok(chunk(piece))).await.is_err() {
                            return;
                        }
                    }
                    outcome = &mut call => break outcome,
                }
            };
            while let Ok(piece) = output.try_recv() {
                if tx.send(Ok(chunk(piece))).await.is_err() {
                    return;
                }
            }
            let last = match outcome {
                Ok(answer) => end(answer).map(Ok),
                Err(e) => Some(Err(e.into())),
            };
            if let Some(last) = last {
                let _ = tx.send(last).await;
            }
        }
        lease.release().await;
    })
}

/// A stream fed by a task: what `produce` sends, until it returns or the
/// stream is dropped (the task is then aborted).
fn async_stream<T, F, Fut>(produce: F) -> BoxStream<'static, T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(produce(tx));
    let abort = AbortOnDrop(task.abort_handle());
    futures::stream::unfold((rx, abort), |(mut rx, abort)| async move {
        rx.recv().await.map(|item| (item, (rx, abort)))
    })
    .boxed()
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn write_stdin(core: &Core, id: &str, params: ExecWriteParams) -> Result<Ack> {
    let record = usable(core, id).await?;
    call::<m::ExecWrite>(
        core,
        &record,
        &ExecWriteParams {
            sandbox_id: id.into(),
            ..params
        },
    )
    .await
}

pub async fn signal(core: &Core, id: &str, exec_id: &str, signal: Signal) -> Result<Ack> {
    let record = usable(core, id).await?;
    let params = ExecSignalParams {
        sandbox_id: id.into(),
        exec_id: exec_id.into(),
        signal,
    };
    call::<m::ExecSignal>(core, &record, &params).await
}

pub async fn resize(core: &Core, id: &str, exec_id: &str, size: TerminalSize) -> Result<Ack> {
    let record = usable(core, id).await?;
    let params = ExecResizeParams {
        sandbox_id: id.into(),
        exec_id: exec_id.into(),
        size,
    };
    call::<m::ExecResize>(core, &record, &params).await
}

pub async fn commands(core: &Core, id: &str) -> Result<ExecListResult> {
    let record = usable(core, id).await?;
    call::<m::ExecList>(
        core,
        &record,
        &ExecListParams {
            sandbox_id: id.into(),
        },
    )
    .await
}

/// A call about one path: `fs/list`, `fs/stat`, `fs/mkdir`, `fs/remove`,
/// `fs/rename`, `fs/read`, `fs/write`, with the sandbox id set.
pub async fn file_call<M: Request>(core: &Core, id: &str, params: M::Params) -> Result<M::Result> {
    let record = usable(core, id).await?;
    call::<M>(core, &record, &params).await
}

/// The bytes of file `path`, read a chunk per call as the stream is polled.
pub async fn read_file(
    core: Arc<Core>,
    id: &str,
    path: &str,
    service: Option<String>,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    let record = usable(&core, id).await?;
    let lease = core.extension_of(&record).await?;
    let mut params = FsReadParams {
        sandbox_id: id.to_string(),
        path: path.to_string(),
        service,
        offset: 0,
        length: None,
    };
    // The first chunk is read now, so that a missing file is an error of the
    // call, not of the stream.
    let first = lease.request::<m::FsRead>(&params).await;
    let first = match first {
        Ok(f) => f,
        Err(e) => {
            lease.release().await;
            return Err(Error::from(e).inside());
        }
    };
    Ok(async_stream(move |tx| async move {
        let mut chunk = first;
        loop {
            params.offset += chunk.data.len() as u64;
            let last = chunk.eof || chunk.data.is_empty();
            if tx.send(Ok(Bytes::from(chunk.data.0))).await.is_err() || last {
                break;
            }
            match lease.request::<m::FsRead>(&params).await {
                Ok(next) => chunk = next,
                Err(e) => {
                    let _ = tx.send(Err(Error::from(e).inside())).await;
                    break;
                }
            }
        }
        lease.release().await;
    }))
}

/// A byte stream cut into pieces of [`MAX_CHUNK`] (the last one shorter, and
/// marked last; an empty stream is one empty last piece).
struct Chunks<S> {
    body: S,
    buf: Vec<u8>,
    ended: bool,
}

impl<S: Stream<Item = Result<Bytes>> + Unpin> Chunks<S> {
    fn new(body: S) -> Self {
        Chunks {
            body,
            buf: Vec::with_capacity(MAX_CHUNK),
            ended: false,
        }
    }

    /// The next piece and whether it is the last; `None` after the last.
    async fn next(&mut self) -> Result<Option<(Vec<u8>, bool)>> {
        if self.ended {
            return Ok(None);
        }
        while self.buf.len() < MAX_CHUNK {
            match self.body.next().await {
                Some(piece) => self.buf.extend_from_slice(&piece?),
                None => {
                    self.ended = true;
                    return Ok(Some((std::mem::take(&mut self.buf), true)));
                }
            }
        }
        let rest = self.buf.split_off(MAX_CHUNK);
        Ok(Some((std::mem::replace(&mut self.buf, rest), false)))
    }
}

/// Writes `body` to file `path` (created or emptied), a chunk per call.
pub async fn write_file<S>(
    core: &Core,
    id: &str,
    path: &str,
    service: Option<String>,
    mode: Option<u32>,
    body: S,
) -> Result<FsWriteResult>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let record = usable(core, id).await?;
    let lease = core.extension_of(&record).await?;
    let written = async {
        let mut chunks = Chunks::new(body);
        let mut params = FsWriteParams {
            sandbox_id: id.to_string(),
            path: path.to_string(),
            service,
            data: Data::default(),
            append: false,
            mode,
        };
        let mut size = 0;
        while let Some((chunk, _)) = chunks.next().await? {
            params.data = Data(chunk);
            size = lease.request::<m::FsWrite>(&params).await?.size;
            params.append = true;
        }
        Ok(FsWriteResult { size })
    }
    .await;
    lease.release().await;
    written
}

/// How many chunks of a tree going in are sent before the first is answered.
const PUT_WINDOW: usize = 4;

/// Unpacks the tar stream `body` into folder `path`: through a socket where
/// the extension takes one ([`super::tree_socket`]), else a chunk per call
/// (after the first, up to [`PUT_WINDOW`] at once, each with its offset); the
/// bytes received.
pub async fn put_tree<S>(
    core: &Core,
    id: &str,
    path: &str,
    service: Option<String>,
    body: S,
) -> Result<u64>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let record = usable(core, id).await?;
    let lease = core.extension_of(&record).await?;
    let base = FsTarPutParams {
        sandbox_id: id.to_string(),
        path: path.to_string(),
        service,
        transfer_id: None,
        offset: 0,
        data: Data::default(),
        done: false,
        from_socket: None,
    };
    if lease.declares(features::TAR_FROM_SOCKET) {
        let stall = core.config.timeouts().call;
        let sent = super::tree_socket::put(&lease, base, body, stall).await;
        lease.release().await;
        return sent.map_err(Error::inside);
    }
    let sent = async {
        let mut chunks = Chunks::new(body);
        let mut transfer: Option<String> = None;
        let mut offset = 0u64;
        let mut received = 0;
        let mut in_flight = futures::stream::FuturesOrdered::new();
        while let Some((chunk, last)) = chunks.next().await? {
            let len = chunk.len() as u64;
            let params = FsTarPutParams {
                transfer_id: transfer.clone(),
                offset,
                data: Data(chunk),
                done: last,
                ..base.clone()
            };
            offset += len;
            if transfer.is_none() {
                // The first answer names the transfer the others go to.
                let put = lease.request::<m::FsTarPut>(&params).await?;
                received = put.received;
                transfer = Some(put.transfer_id);
                continue;
            }
            let lease = &lease;
            in_flight.push_back(async move { lease.request::<m::FsTarPut>(&params).await });
            if in_flight.len() >= PUT_WINDOW
                && let Some(put) = in_flight.next().await
            {
                received = put?.received;
            }
        }
        while let Some(put) = in_flight.next().await {
            received = put?.received;
        }
        Ok(received)
    }
    .await;
    lease.release().await;
    sent.map_err(Error::inside)
}

/// A tar stream of `path` (a folder with everything in it, or one file),
/// pulled a chunk per call as the stream is polled.
pub async fn get_tree(
    core: Arc<Core>,
    id: &str,
    path: &str,
    service: Option<String>,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    let record = usable(&core, id).await?;
    let lease = core.extension_of(&record).await?;
    let mut params = FsTarGetParams {
        sandbox_id: id.to_string(),
        path: path.to_string(),
        service,
        transfer_id: None,
    };
    let first = match lease.request::<m::FsTarGet>(&params).await {
        Ok(f) => f,
        Err(e) => {
            lease.release().await;
            return Err(Error::from(e).inside());
        }
    };
    Ok(async_stream(move |tx| async move {
        let mut chunk = first;
        loop {
            params.transfer_id = Some(chunk.transfer_id.clone());
            let last = chunk.eof;
            if tx.send(Ok(Bytes::from(chunk.data.0))).await.is_err() || last {
                break;
            }
            match lease.request::<m::FsTarGet>(&params).await {
                Ok(next) => chunk = next,
                Err(e) => {
                    let _ = tx.send(Err(Error::from(e).inside())).await;
                    break;
                }
            }
        }
        lease.release().await;
    }))
}

/// What the sandbox's processes wrote to their output (all its parts, or
/// `service`'s), as it comes; with `follow`, until the sandbox stops or the
/// stream is dropped. Readable in any state the backend still holds it in.
pub async fn logs(
    core: Arc<Core>,
    id: &str,
    service: Option<String>,
    follow: bool,
    tail: Option<u64>,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    super::touch(&core, id);
    let record = core.record(id)?;
    if !record.state.may_hold_resources() {
        return Err(Error::Refused(format!(
            "sandbox {id} is {}; its backend no longer has its logs",
            record.state
        )));
    }
    let lease = core.extension_of(&record).await?;
    if !lease.offers::<m::SandboxLogs>() {
        let e = crate::exthost::HostError::Unsupported {
            name: lease.name().to_string(),
            method: m::SandboxLogs::METHOD.into(),
        };
        lease.release().await;
        return Err(e.into());
    }
    let token = json!(format!("logs-{}", ulid::Ulid::new()));
    let output = lease.subscribe_output(&token);
    let params = LogsParams {
        sandbox_id: id.to_string(),
        output_token: token,
        service,
        follow,
        tail,
    };
    Ok(streamed_call::<m::SandboxLogs, _>(
        lease,
        params,
        output,
        |chunk| Bytes::from(chunk.data.0),
        |_| None,
    ))
}

/// CPU, memory, network and disk figures of a live sandbox.
pub async fn metrics(core: &Core, id: &str) -> Result<MetricsResult> {
    super::touch(core, id);
    let record = core.record(id)?;
    if !record.state.is_live() {
        return Err(Error::Refused(format!(
            "sandbox {id} is {}; figures are for a ready, active or paused sandbox",
            record.state
        )));
    }
    let params = PauseParams {
        sandbox_id: id.to_string(),
    };
    call::<m::SandboxMetrics>(core, &record, &params).await
}
