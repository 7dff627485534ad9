//! Commands and files inside an E2B sandbox, over its envd. A command runs
//! as `/bin/sh -c 'exec "$0" "$@"' ARGV…` — the argv passed as arguments,
//! never pasted into a script — so that a missing command is sh's exit 127;
//! its stdin is written once it has started; its timeout is envd's deadline
//! for it. Files go whole (E2B's file API has no offsets): a read is sliced,
//! an append is the file read, extended and written back.

use crate::E2b;
use crate::commands;
use crate::envd::{Envd, Target};
use futures::FutureExt;
use sandboxer_e2b::envd::{
    DataEvent, Empty, EntryInfo, EntryResponse, FileType, ListDirRequest, ListDirResponse,
    MoveRequest, PathRequest, ProcessConfig, ProcessEvent, ProcessInput, ProcessSelector,
    SelectRequest, SendInputRequest, SendSignalRequest, Signal, StartRequest,
};
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROCESS: &str = "process.Process";
const FILESYSTEM: &str = "filesystem.Filesystem";

/// Runs an argv as itself under sh (`$0` is the command).
const EXEC_ARGV: &str = "exec \"$0\" \"$@\"";

/// What a folder holds (one level), as envd says it.
async fn list_dir(e2b: &E2b, target: &Target, path: &str) -> ExtResult<Vec<EntryInfo>> {
    let request = ListDirRequest {
        path: path.to_string(),
        depth: 1,
    };
    let answer: ListDirResponse = e2b
        .envd
        .unary(target, &format!("{FILESYSTEM}/ListDir"), &request)
        .await?;
    Ok(answer.entries)
}

/// What a command wrote and how it ended.
#[derive(Default)]
struct Run {
    pid: Option<u32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    end: Option<sandboxer_e2b::envd::EndEvent>,
}

/// Kills the process if the call is dropped (cancelled) before it ended.
struct KillOnDrop {
    envd: Envd,
    target: Target,
    run: Arc<Mutex<Run>>,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let run = self.run.lock().expect("run");
        let (Some(pid), None) = (run.pid, &run.end) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (envd, target) = (self.envd.clone(), self.target.clone());
        runtime.spawn(async move {
            let request = SendSignalRequest {
                process: ProcessSelector::pid(pid),
                signal: Signal::Kill,
            };
            let method = format!("{PROCESS}/SendSignal");
            if let Err(e) = envd.unary::<_, Empty>(&target, &method, &request).await {
                tracing::warn!("killing a cancelled command (pid {pid}): {}", e.message);
            }
        });
    }
}

pub async fn exec(e2b: &E2b, params: ExecParams) -> ExtResult<ExecResult> {
    commands::check(&params.argv, &params.service)?;
    let target = e2b.target(&params.sandbox_id).await?;
    let mut args = vec!["-c".to_string(), EXEC_ARGV.to_string()];
    args.extend(params.argv.iter().cloned());
    let request = StartRequest {
        process: ProcessConfig {
            cmd: "/bin/sh".into(),
            args,
            ..ProcessConfig::default()
        },
        pty: None,
        tag: None,
        stdin: Some(params.stdin.is_some()),
    };
    let timeout = params.timeout();
    let run = Arc::new(Mutex::new(Run::default()));
    let guard = KillOnDrop {
        envd: e2b.envd.clone(),
        target: target.clone(),
        run: run.clone(),
    };
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<u32>();
    let mut started_tx = Some(started_tx);
    let feed = async {
        let (Some(input), Ok(pid)) = (params.stdin.as_ref(), started_rx.await) else {
            return Ok(());
        };
        let write = SendInputRequest {
            process: ProcessSelector::pid(pid),
            input: ProcessInput {
                stdin: Some(Data(input.as_bytes().to_vec())),
                pty: None,
            },
        };
        e2b.envd
            .unary::<_, Empty>(&target, &format!("{PROCESS}/SendInput"), &write)
            .await?;
        let close = SelectRequest {
            process: ProcessSelector::pid(pid),
        };
        e2b.envd
            .unary::<_, Empty>(&target, &format!("{PROCESS}/CloseStdin"), &close)
            .await
            .map(|_| ())
    };
    let began = Instant::now();
    let recorder = run.clone();
    let stream = e2b
        .envd
        .stream(&target, "Start", &request, timeout, move |event| {
            let mut run = recorder.lock().expect("run");
            match event {
                ProcessEvent::Start { pid } => {
                    run.pid = Some(pid);
                    if let Some(tx) = started_tx.take() {
                        let _ = tx.send(pid);
                    }
                }
                ProcessEvent::Data(DataEvent::Stdout(d)) => run.stdout.extend(d.0),
                ProcessEvent::Data(DataEvent::Stderr(d) | DataEvent::Pty(d)) => {
                    run.stderr.extend(d.0)
                }
                ProcessEvent::End(end) => run.end = Some(end),
                ProcessEvent::Keepalive {} => {}
            }
            async { Ok(()) }.boxed()
        });
    // The stream ends when the process does; stdin goes in meanwhile.
    let outcome = tokio::time::timeout(timeout + Duration::from_secs(10), async {
        let (streamed, fed) = tokio::join!(stream, feed);
        streamed.and(fed)
    })
    .await;
    drop(guard);
    let run = std::mem::take(&mut *run.lock().expect("run"));
    let timed_out = || {
        ErrorObject::domain(
            ErrorKind::DeadlineExceeded,
            format!(
                "the command ran past its {} s timeout and was killed",
                timeout.as_secs()
            ),
        )
    };
    match outcome {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) if e.kind() == Some(ErrorKind::DeadlineExceeded) => return Err(timed_out()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    let end = run.end.ok_or_else(|| {
        ErrorObject::domain(
            ErrorKind::Unavailable,
            "E2B's stream ended without the command's end",
        )
    })?;
    if !end.exited && began.elapsed() >= timeout {
        return Err(timed_out());
    }
    let exit = crate::commands::exit_of(&end, 0);
    Ok(ExecResult::from_output(
        exit.exit_code,
        &run.stdout,
        &run.stderr,
    ))
}

/// What envd says of a path, as sandboxer's file info.
fn info_of(entry: &EntryInfo) -> FileInfo {
    let kind = if entry.is_symlink {
        FileKind::Symlink
    } else {
        match entry.kind {
            FileType::File => FileKind::File,
            FileType::Directory => FileKind::Dir,
            FileType::Symlink => FileKind::Symlink,
            FileType::Unspecified => FileKind::Other,
        }
    };
    FileInfo {
        name: entry.name.clone(),
        path: entry.path.clone(),
        kind,
        size: entry.size,
        mode: entry.mode & 0o7777,
        modified_unix: entry
            .modified_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(0, |t| t.timestamp()),
        link_target: entry.symlink_target.clone(),
    }
}

async fn stat_entry(e2b: &E2b, target: &Target, path: &str) -> ExtResult<EntryInfo> {
    let answer: EntryResponse = e2b
        .envd
        .unary(
            target,
            &format!("{FILESYSTEM}/Stat"),
            &PathRequest { path: path.into() },
        )
        .await?;
    Ok(answer.entry)
}

pub async fn read(e2b: &E2b, p: FsReadParams) -> ExtResult<FsReadResult> {
    commands::no_service(&p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    let all = e2b.envd.read(&target, &p.path).await?;
    let size = all.len() as u64;
    let from = usize::try_from(p.offset.min(size)).unwrap_or(all.len());
    let to = (from + p.wanted()).min(all.len());
    Ok(FsReadResult {
        data: Data(all[from..to].to_vec()),
        size,
        eof: to == all.len(),
    })
}

pub async fn write(e2b: &E2b, p: FsWriteParams) -> ExtResult<FsWriteResult> {
    commands::no_service(&p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    let mut content = if p.append {
        match e2b.envd.read(&target, &p.path).await {
            Ok(existing) => existing.to_vec(),
            Err(e) if e.kind() == Some(ErrorKind::NotFound) => vec![],
            Err(e) => return Err(e),
        }
    } else {
        vec![]
    };
    content.extend_from_slice(&p.data.0);
    let size = content.len() as u64;
    e2b.envd.write(&target, &p.path, content).await?;
    if let Some(mode) = p.mode {
        chmod(e2b, &p.sandbox_id, &p.path, mode).await?;
    }
    Ok(FsWriteResult { size })
}

/// Sets a file's permission bits (E2B's file API has none): `chmod`, its
/// arguments passed as arguments.
async fn chmod(e2b: &E2b, sandbox_id: &str, path: &str, mode: u32) -> ExtResult<()> {
    let ran = exec(
        e2b,
        ExecParams {
            sandbox_id: sandbox_id.into(),
            argv: vec!["chmod".into(), format!("{:o}", mode & 0o7777), path.into()],
            stdin: None,
            timeout_s: Some(30),
            service: None,
        },
    )
    .await?;
    if ran.exit_code != 0 {
        return Err(ErrorObject::domain(
            ErrorKind::FailedPrecondition,
            format!("chmod {path}: {}", ran.stderr.trim()),
        ));
    }
    Ok(())
}

pub async fn list(e2b: &E2b, p: FsPathParams) -> ExtResult<FsListResult> {
    commands::no_service(&p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    let folder = stat_entry(e2b, &target, &p.path).await?;
    if folder.kind != FileType::Directory {
        return Err(ErrorObject::domain(
            ErrorKind::FailedPrecondition,
            format!("{} is not a folder", p.path),
        ));
    }
    let listed = list_dir(e2b, &target, &p.path).await?;
    let mut entries: Vec<FileInfo> = listed.iter().map(info_of).collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(FsListResult { entries })
}

pub async fn stat(e2b: &E2b, p: FsPathParams) -> ExtResult<FileInfo> {
    commands::no_service(&p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    Ok(info_of(&stat_entry(e2b, &target, &p.path).await?))
}

pub async fn mkdir(e2b: &E2b, p: FsMkdirParams) -> ExtResult<Ack> {
    commands::no_service(&p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    if !p.parents {
        // envd makes parents always; without `parents` a missing one is an error.
        let parent = p
            .path
            .trim_end_matches('/')
            .rsplit_once('/')
            .map(|(a, _)| a);
        if let Some(parent) = parent.filter(|p| !p.is_empty()) {
            stat_entry(e2b, &target, parent).await?;
        }
    }
    let made = e2b
        .envd
        .unary::<_, EntryResponse>(
            &target,
            &format!("{FILESYSTEM}/MakeDir"),
            &PathRequest {
                path: p.path.clone(),
            },
        )
        .await;
    match made {
        Ok(_) => Ok(Ack {}),
        Err(e) if e.kind() == Some(ErrorKind::AlreadyExists) && p.parents => Ok(Ack {}),
        Err(e) => Err(e),
    }
}

pub async fn remove(e2b: &E2b, p: FsRemoveParams) -> ExtResult<Ack> {
    commands::no_service(&p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    if !p.recursive {
        // envd removes folders whole; without `recursive` a full one stays.
        let entry = stat_entry(e2b, &target, &p.path).await?;
        if entry.kind == FileType::Directory && !list_dir(e2b, &target, &p.path).await?.is_empty() {
            return Err(ErrorObject::domain(
                ErrorKind::FailedPrecondition,
                format!(
                    "{} is a folder that is not empty (remove it recursively)",
                    p.path
                ),
            ));
        }
    }
    e2b.envd
        .unary::<_, Empty>(
            &target,
            &format!("{FILESYSTEM}/Remove"),
            &PathRequest { path: p.path },
        )
        .await?;
    Ok(Ack {})
}

pub async fn rename(e2b: &E2b, p: FsRenameParams) -> ExtResult<Ack> {
    commands::no_service(&p.service)?;
    let target = e2b.target(&p.sandbox_id).await?;
    e2b.envd
        .unary::<_, EntryResponse>(
            &target,
            &format!("{FILESYSTEM}/Move"),
            &MoveRequest {
                source: p.from,
                destination: p.to,
            },
        )
        .await?;
    Ok(Ack {})
}
