//! The operator's commands: they work on the local state file only (the daemon
//! runs its own reaper, reconciler and samplers): `serve`, `token new`,
//! `reap-stale`, `inspect`, `route`, `doctor`, `canary`, `images`.

use super::outcome::Outcome;
use super::render::{self, Out};
use super::{CanaryArgs, Cli, ImagesCommand, RouteArgs, TokenCommand};
use sandboxer_core::api::CoreVerbs;
use sandboxer_core::attribution::Attribution;
use sandboxer_core::config::Config;
use sandboxer_core::operations::{self, Core};

use sandboxer_core::{Error, time};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// How `sandboxer serve` runs the daemon over a core: the binary passes the
/// server's, so that the command line compiles beside the server, not after it.
pub type Serve =
    fn(Core, PathBuf, Option<String>) -> Pin<Box<dyn Future<Output = sandboxer_core::Result<()>>>>;

pub async fn serve(cli: &Cli, run: Serve) -> Outcome {
    let super::Command::Serve { listen } = &cli.command else {
        unreachable!("serve is called for `serve` only");
    };
    let config = Config::load(cli.global.config.as_deref()).map_err(Error::Config)?;
    let (store, path) = super::local::open_store(cli, &config)?;
    let core = Core::with_resident_extensions(store, config);
    run(core, path, listen.clone()).await?;
    Ok(())
}

pub fn token(command: &TokenCommand, out: &mut Out) -> Outcome {
    let TokenCommand::New {
        consumer,
        project,
        role,
    } = command;
    consumer
        .parse::<sandboxer_core::attribution::Consumer>()
        .map_err(Error::Invalid)?;
    sandboxer_core::attribution::validate_name("project", project).map_err(Error::Invalid)?;
    let role = match role.as_deref() {
        None => String::new(),
        Some(r @ ("admin" | "member")) => format!(", role: {r}"),
        Some(other) => {
            return Err(Error::Invalid(format!("--role {other:?}: admin or member")).into());
        }
    };
    let token = sandboxer_core::api::tokens::new_token();
    let digest = sandboxer_core::api::tokens::digest_hex(&token);
    out.line_raw(&format!(
        "token: {token}\n# add to daemon.tokens in the configuration (the token itself is not stored):\n\
         - {{consumer: \"{consumer}\", project: {project}{role}, token_sha256: {digest}}}"
    ))?;
    Ok(())
}

pub async fn reap_stale(v: &CoreVerbs, out: &mut Out) -> Outcome {
    let counters = operations::LoopCounters::default();
    operations::reap_expired(&v.core, &counters).await;
    let pooled = operations::refill(&v.core).await?;
    use std::sync::atomic::Ordering::Relaxed;
    out.line_raw(&format!(
        "reaped {} sandbox(es); {} destroy attempt(s) failed; {pooled} made for warm pools",
        counters.reaped.load(Relaxed),
        counters.reap_failures.load(Relaxed)
    ))?;
    Ok(())
}

pub async fn inspect(v: &CoreVerbs, fix: bool, profile: Option<&str>, out: &mut Out) -> Outcome {
    if let Some(name) = profile {
        let profile = v.core.catalog().get(name).map_err(Error::from)?.clone();
        let candidates = operations::candidates(&v.core, &profile).await?;
        render::guarantees(out, &profile.id, &candidates)?;
        return Ok(());
    }
    let views = if fix {
        let counters = operations::LoopCounters::default();
        let mut state = operations::ReconcileState::default();
        operations::reconcile(&v.core, &counters, &mut state).await?
    } else {
        operations::inspect(&v.core).await?
    };
    render::fleet(out, &views)?;
    Ok(())
}

pub async fn route(v: &CoreVerbs, args: &RouteArgs, out: &mut Out) -> Outcome {
    let core = &v.core;
    let attribution = Attribution::resolve(
        args.consumer.as_deref(),
        args.project.as_deref(),
        core.config.defaults.consumer.as_deref(),
        core.config.defaults.project.as_deref(),
    )
    .map_err(Error::Invalid)?;
    let profile = core
        .catalog()
        .get(&args.profile)
        .map_err(Error::from)?
        .clone();
    let ttl = match &args.ttl {
        Some(t) => time::parse_lifetime(t).map_err(|e| Error::Invalid(format!("--ttl: {e}")))?,
        None => profile.ttl.default,
    };
    let consumer = attribution.consumer.to_string();
    let request = operations::RouteRequest {
        profile: &profile,
        consumer: &consumer,
        project: &attribution.project,
        host: args.host.as_deref(),
        ttl_ms: time::duration_ms(ttl),
    };
    let route = operations::route_explained(core, request).await?;
    render::route(out, &route, args.explain)?;
    if route.chosen().is_none() {
        return Err(route.refusal().into());
    }
    Ok(())
}

pub async fn doctor(v: &CoreVerbs, host: Option<&str>, out: &mut Out) -> Outcome {
    if let Some(host) = host {
        sandboxer_ext_protocol::names::validate_host_name(host)
            .map_err(|e| Error::Invalid(format!("--host: {e}")))?;
    }
    let reports = operations::doctor(&v.core, host).await?;
    render::doctor(out, &reports)?;
    if reports.is_empty() {
        return Err(Error::Invalid(
            "no installed extension offers host/doctor; `sandboxer extensions list` \
             shows what is installed"
                .into(),
        )
        .into());
    }
    let failures: usize = reports.iter().map(|r| r.failures()).sum();
    if failures > 0 {
        return Err(Error::Backend(format!(
            "{failures} check(s) failed; each failing item above says what fixes it"
        ))
        .into());
    }
    Ok(())
}

pub async fn canary(v: &CoreVerbs, args: &CanaryArgs, out: &mut Out) -> Outcome {
    let attribution = Attribution::resolve(
        args.consumer.as_deref(),
        args.project.as_deref(),
        Some("adm:canary"),
        Some("canary"),
    )
    .map_err(Error::Invalid)?;
    let runs =
        operations::canary(&v.core, &args.profile, args.host.as_deref(), attribution).await?;
    render::canary_runs(out, &runs)?;
    if let Some(failed) = runs.iter().find(|r| !r.ok) {
        return Err(Error::Backend(format!(
            "the canary failed on host {}: {}",
            failed.host,
            failed.error.as_deref().unwrap_or("unknown")
        ))
        .into());
    }
    Ok(())
}

pub async fn images(v: &CoreVerbs, command: &ImagesCommand, out: &mut Out) -> Outcome {
    match command {
        ImagesCommand::Build { profile } => {
            let built = operations::build_images(&v.core, profile).await?;
            render::images_built(out, &built)?;
        }
        ImagesCommand::List => {
            let reports = operations::list_images(&v.core).await?;
            render::image_reports(out, &reports)?;
            if let Some(failed) = reports.iter().find(|r| r.error.is_some()) {
                return Err(Error::Backend(format!(
                    "{} could not list its images: {}",
                    failed.extension,
                    failed.error.as_deref().unwrap_or_default()
                ))
                .into());
            }
        }
        ImagesCommand::Prune { images, dry_run } => {
            let reports = operations::prune_images(&v.core, images, *dry_run).await?;
            render::images_pruned(out, &reports, *dry_run)?;
        }
    }
    Ok(())
}
