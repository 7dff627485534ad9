//! Runs one parsed command: builds the `Core`, calls the operation, renders.

use super::render::{self, Out};
use super::{
    Cli, Command, CreateArgs, EventsArgs, ExecArgs, ExtensionsCommand, LaunchArgs, ListArgs,
    ProfilesCommand, SnapshotCommand, TokenCommand, UsageArgs, Who,
};
use sandboxer::attribution::Attribution;
use sandboxer::config::Config;
use sandboxer::exthost::{self, ExtensionClient};
use sandboxer::lifecycle::State;
use sandboxer::operations::{self, Core, CreateRequest, GroupBy, LedgerQuery};
use sandboxer::store::{self, EventFilter, SandboxFilter, Store};
use sandboxer::{Error, labels, time};
use std::time::Duration;

/// Why a command failed: sandboxer's own error, or stdout going away.
pub enum Failure {
    Sandboxer(Error),
    Output(std::io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Sandboxer(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

impl From<sandboxer::store::StoreError> for Failure {
    fn from(e: sandboxer::store::StoreError) -> Self {
        Failure::Sandboxer(e.into())
    }
}

type Outcome = Result<(), Failure>;

/// How often `events --follow` looks for new events.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

fn open_core(cli: &Cli) -> Result<Core, Error> {
    let config = Config::load(cli.global.config.as_deref()).map_err(Error::Config)?;
    let path = cli.global.state.clone().unwrap_or_else(store::default_path);
    Ok(Core::new(Store::open(&path)?, config))
}

/// The consumer recorded as the actor of a change. Creating requires a real
/// attribution; other changes fall back to the local user.
fn actor(who: &Who, config: &Config) -> String {
    who.consumer
        .clone()
        .or_else(|| config.defaults.consumer.clone())
        .unwrap_or_else(|| {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                // SAFETY: getuid has no preconditions and cannot fail.
                .unwrap_or_else(|_| format!("uid{}", unsafe { libc::getuid() }));
            format!("local:{user}")
        })
}

pub async fn run(cli: Cli) -> Outcome {
    let mut out = Out::new(cli.global.json);
    if let Some(server) = cli.global.server.clone() {
        return super::remote::run(&cli, &server, &mut out).await;
    }
    match &cli.command {
        Command::Create(args) => create(&cli, args, &mut out).await,
        Command::Get { id, cached } => {
            let core = open_core(&cli)?;
            let outcome = operations::get(&core, id, !cached).await?;
            if let Some(warning) = &outcome.refresh_error {
                eprintln!(
                    "warning: showing the stored record; the extension could not be asked: {warning}"
                );
            }
            let usage = outcome.record.usage_at(sandboxer::time::now_ms());
            render::sandbox_with_usage(&mut out, &outcome.record, Some(&usage))?;
            Ok(())
        }
        Command::List(args) => list(&cli, args, &mut out),
        Command::Destroy { ids, who } => {
            let core = open_core(&cli)?;
            let actor = actor(who, &core.config);
            let mut first_error = None;
            for id in ids {
                match operations::destroy(&core, id, &actor).await {
                    Ok(outcome) => render::destroyed(&mut out, &outcome)?,
                    Err(e) => {
                        eprintln!("error: destroying {id}: {e}");
                        first_error.get_or_insert(e);
                    }
                }
            }
            out.finish()?;
            first_error.map_or(Ok(()), |e| Err(e.into()))
        }
        Command::Recreate { id, wait, who } => {
            let core = open_core(&cli)?;
            let actor = actor(who, &core.config);
            let (old, new) = operations::recreate(&core, id, &actor, *wait).await?;
            render::recreated(&mut out, &old, &new)?;
            Ok(())
        }
        Command::ExtendTtl { id, by, who } => {
            let by = time::parse_lifetime(by).map_err(Error::Invalid)?;
            let core = open_core(&cli)?;
            let actor = actor(who, &core.config);
            let record = operations::extend_ttl(&core, id, by, &actor).await?;
            render::extended(&mut out, &record)?;
            Ok(())
        }
        Command::Exec(args) => exec(&cli, args, &mut out).await,
        Command::Snapshot(command) => {
            let core = open_core(&cli)?;
            match command {
                SnapshotCommand::Create { id, name, who } => {
                    let actor = actor(who, &core.config);
                    let snap = operations::snapshot(&core, id, name, &actor).await?;
                    render::snapshot(&mut out, &snap)?;
                }
                SnapshotCommand::List => {
                    let snaps = operations::list_snapshots(&core, None)?;
                    render::snapshot_list(&mut out, &snaps)?;
                }
                SnapshotCommand::Delete { snapshot_id, who } => {
                    let actor = actor(who, &core.config);
                    let snap = operations::delete_snapshot(&core, snapshot_id, &actor).await?;
                    render::snapshot(&mut out, &snap)?;
                }
            }
            Ok(())
        }
        Command::Restore(args) => {
            let core = open_core(&cli)?;
            let snap = operations::find_snapshot(&core, &args.snapshot_id)?;
            let who = &args.launch.who;
            let attribution = Attribution::resolve(
                who.consumer.as_deref(),
                who.project.as_deref().or(Some(&snap.project)),
                core.config.defaults.consumer.as_deref(),
                None,
            )
            .map_err(Error::Invalid)?;
            let request = launch_request(&args.launch, snap.profile_id.clone(), attribution)?;
            let outcome = operations::restore(&core, &args.snapshot_id, request).await?;
            render::sandbox(&mut out, &outcome.record)?;
            Ok(())
        }
        Command::Usage(args) => {
            let (by, query) = usage_query(args)?;
            let core = open_core(&cli)?;
            let ledger = operations::ledger(&core, by, &query, |_| true)?;
            render::ledger(&mut out, &ledger, &args.format)?;
            Ok(())
        }
        Command::Events(args) => events(&cli, args, &mut out).await,
        Command::Profiles(command) => profiles(command, &mut out),
        Command::Serve { listen } => {
            let config = Config::load(cli.global.config.as_deref()).map_err(Error::Config)?;
            let path = cli.global.state.clone().unwrap_or_else(store::default_path);
            let core = Core::with_resident_extensions(Store::open(&path)?, config);
            sandboxer::daemon::serve(core, &path, listen.clone(), print_notice).await?;
            Ok(())
        }
        Command::Token(TokenCommand::New {
            consumer,
            project,
            role,
        }) => {
            consumer
                .parse::<sandboxer::attribution::Consumer>()
                .map_err(Error::Invalid)?;
            sandboxer::attribution::validate_name("project", project).map_err(Error::Invalid)?;
            let role = match role.as_deref() {
                None => String::new(),
                Some(r @ ("admin" | "member")) => format!(", role: {r}"),
                Some(other) => {
                    return Err(Error::Invalid(format!("--role {other:?}: admin or member")).into());
                }
            };
            let token = sandboxer::daemon::new_token();
            let digest = sandboxer::daemon::digest_hex(&token);
            out.line_raw(&format!(
                "token: {token}\n# add to daemon.tokens in the configuration (the token itself is not stored):\n\
                 - {{consumer: \"{consumer}\", project: {project}{role}, token_sha256: {digest}}}"
            ))?;
            Ok(())
        }
        Command::ReapStale => {
            let core = open_core(&cli)?;
            let counters = sandboxer::operations::LoopCounters::default();
            sandboxer::operations::reap_expired(&core, &counters).await;
            let pooled = operations::refill(&core).await?;
            use std::sync::atomic::Ordering::Relaxed;
            out.line_raw(&format!(
                "reaped {} sandbox(es); {} destroy attempt(s) failed; {pooled} made for warm pools",
                counters.reaped.load(Relaxed),
                counters.reap_failures.load(Relaxed)
            ))?;
            Ok(())
        }
        Command::Inspect {
            profile: Some(name),
            ..
        } => {
            let core = open_core(&cli)?;
            let profile = core.catalog().get(name).map_err(Error::from)?.clone();
            let candidates = operations::candidates(&core, &profile).await?;
            render::guarantees(&mut out, &profile.id, &candidates)?;
            Ok(())
        }
        Command::Inspect { fix, .. } => {
            let core = open_core(&cli)?;
            let views = if *fix {
                let counters = sandboxer::operations::LoopCounters::default();
                let mut state = sandboxer::operations::ReconcileState::default();
                sandboxer::operations::reconcile(&core, &counters, &mut state).await?
            } else {
                sandboxer::operations::inspect(&core).await?
            };
            render::fleet(&mut out, &views)?;
            Ok(())
        }
        Command::Route {
            profile,
            explain,
            ttl,
            host,
            consumer,
            project,
        } => {
            let core = open_core(&cli)?;
            let attribution = Attribution::resolve(
                consumer.as_deref(),
                project.as_deref(),
                core.config.defaults.consumer.as_deref(),
                core.config.defaults.project.as_deref(),
            )
            .map_err(Error::Invalid)?;
            let profile = core.catalog().get(profile).map_err(Error::from)?.clone();
            let ttl = match ttl {
                Some(t) => {
                    time::parse_lifetime(t).map_err(|e| Error::Invalid(format!("--ttl: {e}")))?
                }
                None => profile.ttl.default,
            };
            let consumer = attribution.consumer.to_string();
            let request = operations::RouteRequest {
                profile: &profile,
                consumer: &consumer,
                project: &attribution.project,
                host: host.as_deref(),
                ttl_ms: time::duration_ms(ttl),
            };
            let route = operations::route_explained(&core, request).await?;
            render::route(&mut out, &route, *explain)?;
            if route.chosen().is_none() {
                return Err(route.refusal().into());
            }
            Ok(())
        }
        Command::Extensions(command) => extensions(&cli, command, &mut out).await,
        Command::Doctor { host } => {
            if let Some(host) = host {
                sandboxer_ext_protocol::names::validate_host_name(host)
                    .map_err(|e| Error::Invalid(format!("--host: {e}")))?;
            }
            let core = open_core(&cli)?;
            let reports = operations::doctor(&core, host.as_deref()).await?;
            render::doctor(&mut out, &reports)?;
            let failures: usize = reports.iter().map(|r| r.failures()).sum();
            if reports.is_empty() {
                return Err(Error::Invalid(
                    "no installed extension offers host/doctor; `sandboxer extensions list` \
                     shows what is installed"
                        .into(),
                )
                .into());
            }
            if failures > 0 {
                return Err(Error::Backend(format!(
                    "{failures} check(s) failed; each failing item above says what fixes it"
                ))
                .into());
            }
            Ok(())
        }
        Command::Hosts { since } => {
            let since =
                time::parse_since(since).map_err(|e| Error::Invalid(format!("--since: {e}")))?;
            let core = open_core(&cli)?;
            operations::sample_hosts(&core).await;
            let reports = operations::host_report(&core, since)?;
            render::hosts(&mut out, &reports)?;
            Ok(())
        }
        Command::Canary {
            profile,
            host,
            consumer,
            project,
        } => {
            let attribution = Attribution::resolve(
                consumer.as_deref(),
                project.as_deref(),
                Some("adm:canary"),
                Some("canary"),
            )
            .map_err(Error::Invalid)?;
            let core = open_core(&cli)?;
            let runs = operations::canary(&core, profile, host.as_deref(), attribution).await?;
            render::canary_runs(&mut out, &runs)?;
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
    }
}

/// The request `launch` asks for: lifetime and labels checked, placement, wait.
fn launch_request(
    launch: &LaunchArgs,
    profile: String,
    attribution: Attribution,
) -> Result<CreateRequest, Error> {
    let ttl = launch
        .ttl
        .as_deref()
        .map(time::parse_lifetime)
        .transpose()
        .map_err(|e| Error::Invalid(format!("--ttl: {e}")))?;
    let labels = labels::parse_labels(launch.labels.iter().map(String::as_str))
        .map_err(|e| Error::Invalid(format!("--label: {e}")))?;
    Ok(CreateRequest {
        profile,
        ttl,
        labels,
        host: launch.host.clone(),
        attribution,
        wait: launch.wait,
        idempotency_key: None,
        from_snapshot: None,
        progress: terminal_progress(),
    })
}

/// Progress lines of a create go to stderr when a person watches it.
fn terminal_progress() -> Option<operations::ProgressSink> {
    use std::io::IsTerminal;
    std::io::stderr()
        .is_terminal()
        .then(|| operations::ProgressSink(std::sync::Arc::new(|line: &str| eprintln!("{line}"))))
}

async fn create(cli: &Cli, args: &CreateArgs, out: &mut Out) -> Outcome {
    let core = open_core(cli)?;
    let who = &args.launch.who;
    let attribution = Attribution::resolve(
        who.consumer.as_deref(),
        who.project.as_deref(),
        core.config.defaults.consumer.as_deref(),
        core.config.defaults.project.as_deref(),
    )
    .map_err(Error::Invalid)?;
    let request = launch_request(&args.launch, args.profile.clone(), attribution)?;
    let record = operations::create(&core, request).await?;
    render::sandbox(out, &record)?;
    Ok(())
}

/// What `usage` asks for (shared with `--server` mode).
pub fn usage_query(args: &UsageArgs) -> Result<(GroupBy, LedgerQuery), Error> {
    if !matches!(args.format.as_str(), "table" | "csv" | "json") {
        return Err(Error::Invalid(format!(
            "--format {:?}: use table, csv or json",
            args.format
        )));
    }
    let instant = |flag: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(time::parse_instant)
            .transpose()
            .map_err(|e| Error::Invalid(format!("--{flag}: {e}")))
    };
    let query = LedgerQuery {
        since: instant("since", &args.since)?,
        until: instant("until", &args.until)?,
        project: args.project.clone(),
        consumer: args.consumer.clone(),
    };
    Ok((args.by.parse()?, query))
}

/// The filter `list` asks for (shared with `--server` mode).
pub fn list_filter(args: &ListArgs) -> Result<SandboxFilter, Error> {
    let mut states = args
        .states
        .iter()
        .map(|s| s.parse::<State>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Invalid(format!("--in-state: {e}")))?;
    if states.is_empty() && !args.all {
        states = State::ALL
            .into_iter()
            .filter(|s| *s != State::Destroyed)
            .collect();
    }
    let mut label_filter = sandboxer_ext_protocol::Labels::new();
    for arg in &args.labels {
        // Filters may name the core's own labels (sandboxer.id, ...), so only the
        // shape is checked here.
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("--label {arg:?}: write it as key=value")))?;
        label_filter.insert(k.to_string(), v.to_string());
    }
    Ok(SandboxFilter {
        states,
        profile_id: args.profile.as_ref().map(|p| {
            if p.starts_with("profile.") {
                p.clone()
            } else {
                format!("profile.{p}")
            }
        }),
        project: args.project.clone(),
        consumer: args.consumer.clone(),
        extension: None,
        labels: label_filter,
        expires_before: None,
    })
}

fn list(cli: &Cli, args: &ListArgs, out: &mut Out) -> Outcome {
    let filter = list_filter(args)?;
    let core = open_core(cli)?;
    let mut list = render::SandboxList::start(out)?;
    operations::for_each(&core, &filter, |record| {
        list.push(&record).map_err(Failure::from)
    })?;
    list.finish()?;
    Ok(())
}

async fn exec(cli: &Cli, args: &ExecArgs, out: &mut Out) -> Outcome {
    let timeout_s = args
        .timeout
        .as_deref()
        .map(time::parse_duration)
        .transpose()
        .map_err(|e| Error::Invalid(format!("--timeout: {e}")))?
        .map(|d| d.as_secs().max(1));
    let stdin = if args.stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        Some(text)
    } else {
        None
    };
    let core = open_core(cli)?;
    let actor = actor(&args.who, &core.config);
    let request = operations::ExecRequest {
        argv: args.argv.clone(),
        service: args.service.clone(),
        stdin,
        timeout_s,
    };
    let result = operations::exec(&core, &args.id, request, &actor).await?;
    render::exec_result(out, &result)?;
    if !cli.global.json && result.exit_code != 0 {
        // Like ssh and docker exec: the command's own exit code.
        out.flush()?;
        std::process::exit(result.exit_code.clamp(1, 255));
    }
    Ok(())
}

async fn events(cli: &Cli, args: &EventsArgs, out: &mut Out) -> Outcome {
    let core = open_core(cli)?;
    if let Some(id) = &args.sandbox {
        core.record(id)?;
    }
    let mut filter = EventFilter {
        sandbox_id: args.sandbox.clone(),
        project: None,
        after_seq: args.after,
        limit: if args.follow { None } else { args.limit },
    };
    let batch = operations::events(&core, &filter)?;
    if !args.follow {
        render::event_list(out, &batch)?;
        return Ok(());
    }
    let mut batch = batch;
    loop {
        for event in &batch {
            render::event_line(out, event)?;
            filter.after_seq = Some(event.seq);
        }
        out.flush()?;
        tokio::time::sleep(FOLLOW_POLL).await;
        batch = operations::events(&core, &filter)?;
    }
}

fn profiles(command: &ProfilesCommand, out: &mut Out) -> Outcome {
    let catalog = sandboxer::profile::Catalog::load();
    match command {
        ProfilesCommand::List => {
            let profiles: Vec<_> = catalog.profiles().collect();
            render::profile_list(out, &profiles)?;
            let problems: Vec<_> = catalog.problems().collect();
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            if let Some(first) = problems.first() {
                return Err(Error::Profile((*first).clone()).into());
            }
            Ok(())
        }
        ProfilesCommand::Show { name } => {
            let profile = catalog.get(name).map_err(Error::Profile)?;
            render::profile(out, profile)?;
            Ok(())
        }
    }
}

/// What `extensions list|show` reports of one extension.
pub struct ExtensionReport {
    pub found: exthost::Discovered,
    pub handshake: Result<sandboxer_ext_protocol::InitializeResult, String>,
}

async fn probe(found: exthost::Discovered, config: &Config) -> ExtensionReport {
    let launch = config.launch_options(&found.name);
    let handshake = match ExtensionClient::launch(&found, launch).await {
        Ok(client) => {
            let info = client.info().clone();
            let _ = client.shutdown().await;
            Ok(info)
        }
        Err(e) => Err(e.to_string()),
    };
    ExtensionReport { found, handshake }
}

async fn extensions(cli: &Cli, command: &ExtensionsCommand, out: &mut Out) -> Outcome {
    let config = Config::load(cli.global.config.as_deref()).map_err(Error::Config)?;
    match command {
        ExtensionsCommand::List => {
            let probes = exthost::find_all().into_iter().map(|f| probe(f, &config));
            let reports = futures::future::join_all(probes).await;
            render::extension_list(out, &reports)?;
            Ok(())
        }
        ExtensionsCommand::Show { name } => {
            let found = exthost::find(name).map_err(Error::from)?;
            let report = probe(found, &config).await;
            render::extension(out, &report)?;
            match &report.handshake {
                Ok(_) => Ok(()),
                Err(e) => Err(Error::Backend(format!("handshake failed: {e}")).into()),
            }
        }
    }
}

/// What `serve` prints: where it listens on stdout (scripts read that line),
/// everything else on stderr.
fn print_notice(notice: sandboxer::daemon::Notice) {
    use sandboxer::daemon::Notice;
    match notice {
        Notice::TokenWritten(file) => eprintln!(
            "no tokens configured: an admin token for this run is in {}",
            file.display()
        ),
        Notice::Listening(at) => println!("sandboxer daemon listening on http://{at}"),
        Notice::ShuttingDown => eprintln!("shutting down: finishing requests in flight"),
    }
}
