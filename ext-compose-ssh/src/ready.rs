//! Waiting until a new sandbox is ready as its spec says: the services running,
//! the HTTP probe answered through a published endpoint (`probe`), the probe
//! command exiting 0. A sandbox that does not get ready is removed.

use crate::host::{Host, QUICK};
use crate::inventory::Holdings;
use crate::labels::{FORWARDS_LABEL, parse_forwards};
use crate::probe;
use crate::spec::{CommandProbe, HttpProbe, ReadySpec};
use sandboxer_ext_protocol::sdk::{Context, ExtResult};
use sandboxer_ext_protocol::{Endpoint, EndpointProtocol, ErrorKind, ErrorObject};
use serde_json::json;
use std::time::{Duration, Instant};

/// How often readiness is checked again.
const READY_POLL: Duration = Duration::from_millis(200);
/// How long one HTTP probe may take.
const HTTP_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a sandbox is not ready.
enum Readiness {
    /// Not yet: asked again until the timeout.
    NotYet(String),
    /// Never will be (a service exited, the probe names no published port).
    Fatal(String),
}
use Readiness::{Fatal, NotYet};

/// Waits until the sandbox is ready and returns its parts; one that does not get
/// ready is removed, and the error (FailedPrecondition) says why, with its last
/// log lines. `services` are the project's, for a spec that names none.
pub async fn ready_or_removed(
    ctx: &Context,
    host: &Host,
    ready: &ReadySpec,
    services: &[String],
    sandbox_id: &str,
) -> ExtResult<Holdings> {
    let problem = match wait_ready(ctx, host, ready, services, sandbox_id).await {
        Ok(holdings) => return Ok(holdings),
        Err(problem) => problem,
    };
    let removed = host.remove_failed(sandbox_id).await;
    Err(ErrorObject::domain_with_details(
        ErrorKind::FailedPrecondition,
        format!(
            "sandbox {sandbox_id} on host {} did not become ready: {problem}; it was removed.\n\
             last log lines:\n{}{}",
            host.name(),
            removed.logs,
            removed.cleanup_note()
        ),
        Some(json!({ "host": host.name(), "logs": removed.logs })),
    ))
}

/// Waits until the spec's idea of ready holds; returns the final holdings or
/// why not.
async fn wait_ready(
    ctx: &Context,
    host: &Host,
    ready: &ReadySpec,
    services: &[String],
    sandbox_id: &str,
) -> Result<Holdings, String> {
    let deadline = Instant::now() + ready.timeout;
    let wanted: Vec<String> = ready.services.clone().unwrap_or_else(|| services.to_vec());
    loop {
        let holdings = host
            .holdings(sandbox_id)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let problem = match check_ready(host, &holdings, ready, &wanted).await {
            Ok(()) => return Ok(holdings),
            Err(Fatal(problem)) => return Err(problem),
            Err(NotYet(problem)) => problem,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "not ready within {}s: {problem}",
                ready.timeout.as_secs()
            ));
        }
        ctx.progress(format!("waiting: {problem}"), Some(70));
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Whether the sandbox is ready now: every wanted service running, then the
/// HTTP probe, then the probe command.
async fn check_ready(
    host: &Host,
    holdings: &Holdings,
    ready: &ReadySpec,
    wanted: &[String],
) -> Result<(), Readiness> {
    services_running(holdings, wanted)?;
    if let Some(http) = &ready.http {
        http_probe_answers(host, holdings, http).await?;
    }
    if let Some(command) = &ready.command {
        probe_command_succeeds(host, holdings, command).await?;
    }
    Ok(())
}

/// Every wanted service has a running container; one that exited never will.
fn services_running(holdings: &Holdings, wanted: &[String]) -> Result<(), Readiness> {
    for service in wanted {
        match holdings.container_of(service) {
            None => return Err(NotYet(format!("service {service} has no container yet"))),
            Some(c) if c.state == "running" => {}
            Some(c) if matches!(c.state.as_str(), "exited" | "dead" | "stopped") => {
                return Err(Fatal(format!(
                    "service {service} exited (code {})",
                    c.exit_code
                )));
            }
            Some(c) => return Err(NotYet(format!("service {service} is {}", c.state))),
        }
    }
    Ok(())
}

/// The HTTP probe, through the published endpoint that serves its port, answers
/// 2xx or 3xx.
async fn http_probe_answers(
    host: &Host,
    holdings: &Holdings,
    http: &HttpProbe,
) -> Result<(), Readiness> {
    let endpoints = holdings.endpoints(host.config());
    let endpoint = endpoints.iter().find(|e| {
        e.protocol != EndpointProtocol::Ssh
            && endpoint_serves(holdings, e, &http.service, http.port)
    });
    let Some(endpoint) = endpoint else {
        return Err(Fatal(format!(
            "the http probe names {}:{}, which is not a published port",
            http.service, http.port
        )));
    };
    match probe::http_status(
        &endpoint.host,
        endpoint.port,
        &http.path,
        HTTP_PROBE_TIMEOUT,
    )
    .await
    {
        Ok(status) if probe::is_ok(status) => Ok(()),
        Ok(status) => Err(NotYet(format!("GET {} answered {status}", http.path))),
        Err(e) => Err(NotYet(e)),
    }
}

/// The probe command, run in its service's container, exits 0.
async fn probe_command_succeeds(
    host: &Host,
    holdings: &Holdings,
    command: &CommandProbe,
) -> Result<(), Readiness> {
    let Some(container) = holdings.container_of(&command.service) else {
        return Err(NotYet(format!(
            "service {} has no container yet",
            command.service
        )));
    };
    match host
        .exec(container.name(), &command.argv, None, QUICK)
        .await
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(NotYet(format!("probe command exited with {}", out.status))),
        Err(e) => Err(NotYet(e.to_string())),
    }
}

/// Whether endpoint `e` forwards to `service:port`.
fn endpoint_serves(holdings: &Holdings, e: &Endpoint, service: &str, port: u16) -> bool {
    holdings.containers.iter().any(|c| {
        let forwards = c
            .label(FORWARDS_LABEL)
            .map(parse_forwards)
            .unwrap_or_default();
        c.ports.iter().flatten().any(|p| {
            p.host_port == e.port
                && ((c.service() == Some(service) && p.container_port == port)
                    || forwards.iter().any(|f| {
                        f.gateway_port == p.container_port && f.service == service && f.port == port
                    }))
        })
    })
}
