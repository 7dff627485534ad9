//! Pause and resume, logs and figures of compose-ssh's sandboxes. A pause is
//! podman's (the cgroup freezer): processes stop where they are and keep
//! their memory, and continue on resume. CRIU checkpointing would free the
//! memory too, but CRIU 3.17 (Debian 12's) cannot dump on this kernel ("vdso:
//! Unexpected rt vDSO area bounds"), so it is not used. Logs are `podman logs`
//! of each service, streamed; figures come from podman's API.

use crate::fleet::Fleet;
use crate::labels::GATEWAY_SERVICE;
use sandboxer_ext_protocol::sdk::{Context, ErrorKind, ErrorObject, ExtResult};
use sandboxer_ext_protocol::*;
use std::collections::BTreeMap;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Pauses (`frozen`) or resumes every container of a sandbox; the sandbox as
/// it is after.
pub async fn freeze(fleet: &Fleet, sandbox_id: &str, frozen: bool) -> ExtResult<Sandbox> {
    let (host, holdings) = fleet.find(sandbox_id, None).await?;
    let (from, to) = if frozen {
        ("running", BackendState::Paused)
    } else {
        ("paused", BackendState::Ready)
    };
    let state = holdings.state();
    if state != to && !matches!(state, BackendState::Ready | BackendState::Paused) {
        return Err(ErrorObject::domain(
            ErrorKind::FailedPrecondition,
            format!(
                "sandbox {sandbox_id} is {} on host {}; only a ready sandbox pauses and only \
                 a paused one resumes",
                state.as_str(),
                host.name()
            ),
        ));
    }
    let names: Vec<String> = holdings
        .containers
        .iter()
        .filter(|c| c.state == from)
        .map(|c| c.name().to_string())
        .collect();
    host.freeze(&names, frozen).await?;
    let (_, after) = fleet.find(sandbox_id, None).await?;
    Ok(after.to_sandbox(sandbox_id, host.config()))
}

/// Sends a stream as `$/output` chunks for `service`, until it ends.
async fn relay(
    ctx: &Context,
    token: &serde_json::Value,
    service: &str,
    stream: OutputStream,
    mut from: impl AsyncRead + Unpin,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seq = 0;
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
        ctx.output(&OutputParams {
            token: token.clone(),
            seq,
            stream,
            service: Some(service.to_string()),
            data: Data(buf[..n].to_vec()),
        });
        seq += 1;
    }
}

/// What the sandbox's services wrote to their output, as `$/output` (each
/// service's chunks counted on their own); with `follow`, until they stop or
/// the call is cancelled (dropping this kills the `podman logs` processes).
pub async fn logs(fleet: &Fleet, ctx: &Context, p: LogsParams) -> ExtResult<Ack> {
    let (host, holdings) = fleet.find(&p.sandbox_id, None).await?;
    let mut followed = vec![];
    for container in &holdings.containers {
        let Some(service) = container.service() else {
            continue;
        };
        if service == GATEWAY_SERVICE || p.service.as_deref().is_some_and(|s| s != service) {
            continue;
        }
        let mut command = host
            .logs_command(container.name(), p.follow, p.tail)
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| {
            ErrorObject::domain(ErrorKind::Unavailable, format!("starting podman logs: {e}"))
        })?;
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let service = service.to_string();
        let token = p.output_token.clone();
        followed.push(async move {
            let _alive = child;
            let stdout = async {
                if let Some(o) = out {
                    relay(ctx, &token, &service, OutputStream::Stdout, o).await;
                }
            };
            let stderr = async {
                if let Some(e) = err {
                    relay(ctx, &token, &service, OutputStream::Stderr, e).await;
                }
            };
            futures::join!(stdout, stderr);
        });
    }
    if followed.is_empty()
        && let Some(wanted) = &p.service
    {
        return Err(ErrorObject::invalid_argument(
            "service",
            format!("sandbox {} has no service {wanted:?}", p.sandbox_id),
        ));
    }
    futures::future::join_all(followed).await;
    Ok(Ack {})
}

/// CPU, memory, network, block I/O and written bytes of every service, and
/// their sum.
pub async fn metrics(fleet: &Fleet, sandbox_id: &str) -> ExtResult<MetricsResult> {
    let (host, holdings) = fleet.find(sandbox_id, None).await?;
    let api = host.api_or_unavailable().await?;
    let names: Vec<String> = holdings
        .containers
        .iter()
        .filter(|c| c.state == "running" || c.state == "paused")
        .map(|c| c.name().to_string())
        .collect();
    let stats = if names.is_empty() {
        vec![]
    } else {
        api.stats(&names).await.map_err(|e| {
            ErrorObject::domain(ErrorKind::Unavailable, format!("host {}: {e}", host.name()))
        })?
    };
    let written: BTreeMap<String, u64> = api
        .written(&crate::podman::id_filter(sandbox_id))
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut total = Figures {
        disk_bytes: Some(0),
        ..Default::default()
    };
    let mut services = BTreeMap::new();
    for s in stats {
        let service = holdings
            .containers
            .iter()
            .find(|c| c.name() == s.name)
            .and_then(|c| c.service())
            .unwrap_or(&s.name)
            .to_string();
        let figures = Figures {
            cpu_percent: s.cpu,
            memory_bytes: s.mem_usage,
            memory_limit_bytes: Some(s.mem_limit).filter(|l| *l > 0),
            net_rx_bytes: s.net_input,
            net_tx_bytes: s.net_output,
            block_read_bytes: s.block_input,
            block_write_bytes: s.block_output,
            disk_bytes: written.get(&s.name).copied(),
            pids: s.pids,
        };
        total.cpu_percent += figures.cpu_percent;
        total.memory_bytes += figures.memory_bytes;
        total.net_rx_bytes += figures.net_rx_bytes;
        total.net_tx_bytes += figures.net_tx_bytes;
        total.block_read_bytes += figures.block_read_bytes;
        total.block_write_bytes += figures.block_write_bytes;
        total.pids += figures.pids;
        total.disk_bytes = Some(total.disk_bytes.unwrap_or(0) + figures.disk_bytes.unwrap_or(0));
        services.insert(service, figures);
    }
    Ok(MetricsResult {
        at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        total,
        services,
    })
}
