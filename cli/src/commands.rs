//! Runs one parsed command, in one match: every verb through `Verbs` — the
//! local core or the daemon's client, whichever `--server` picks — rendered the
//! same way. The operator's commands (`operator.rs`) need the local state file.

use super::local::local_verbs;
use super::outcome::{Failure, Outcome};
use super::render::{self, Out};
use super::{
    Cli, Command, EventsArgs, ExecArgs, ExtensionsCommand, LaunchArgs, ListArgs, ProfilesCommand,
    SnapshotCommand, UsageArgs,
};
use crate::client::Client;
use futures::StreamExt;
use sandboxer_core::api::{self, CoreVerbs, Verbs};
use sandboxer_core::operations::ExecRequest;
use sandboxer_core::{Error, time};

/// Where the verbs run: the local core, or the daemon. Only the local core
/// runs the operator's commands.
pub trait Surface: Verbs {
    fn local(&self) -> Option<&CoreVerbs>;
}

impl Surface for CoreVerbs {
    fn local(&self) -> Option<&CoreVerbs> {
        Some(self)
    }
}

impl Surface for Client {
    fn local(&self) -> Option<&CoreVerbs> {
        None
    }
}

pub async fn run(cli: Cli, serve: super::operator::Serve) -> Outcome {
    let mut out = Out::new(cli.global.json);
    match &cli.command {
        // The daemon makes a core of its own (with resident extensions).
        Command::Serve { .. } if cli.global.server.is_none() => {
            return super::operator::serve(&cli, serve).await;
        }
        // A token is made and printed: no state file is opened for it.
        Command::Token(command) => return super::operator::token(command, &mut out),
        Command::Mcp { who } => return super::mcp::serve(&cli, who).await,
        _ => {}
    }
    match &cli.global.server {
        Some(server) => {
            let client = Client::new(server, cli.global.token.clone());
            run_on(&client, &cli, &mut out).await
        }
        None => run_on(&local_verbs(&cli)?, &cli, &mut out).await,
    }
}

/// The operator's commands need the local core.
fn local<'a>(surface: &'a impl Surface, command: &str) -> Result<&'a CoreVerbs, Failure> {
    surface.local().ok_or_else(|| not_local(command))
}

async fn run_on(v: &impl Surface, cli: &Cli, out: &mut Out) -> Outcome {
    use super::operator;
    match &cli.command {
        Command::Create(args) => {
            let launch = launch(&args.launch)?;
            let request = api::CreateSandbox {
                profile: args.profile.clone(),
                ttl: launch.ttl,
                labels: launch.labels,
                host: launch.host,
                project: launch.project,
                consumer: launch.consumer,
                wait: launch.wait,
                idempotency_key: None,
            };
            render::sandbox(out, &v.create(request).await?.record)?;
        }
        Command::Get { id, cached } => {
            let shown = v.get(id, api::GetSandbox { refresh: !cached }).await?;
            if let Some(warning) = &shown.refresh_error {
                eprintln!(
                    "warning: showing the stored record; the extension could not be asked: {warning}"
                );
            }
            render::sandbox_with_usage(out, &shown.record, shown.usage.as_ref())?;
        }
        Command::List(args) => {
            let query = list_query(args)?;
            let mut list = render::SandboxList::start(out)?;
            v.list(&query, |view| list.push(&view).map_err(Failure::from))
                .await?;
            list.finish()?;
        }
        Command::Destroy { ids, .. } => {
            let mut first_error = None;
            for id in ids {
                match v.destroy(id).await {
                    Ok(outcome) => render::destroyed(out, &outcome)?,
                    Err(e) => {
                        eprintln!("error: destroying {id}: {e}");
                        first_error.get_or_insert(e);
                    }
                }
            }
            out.finish()?;
            if let Some(e) = first_error {
                return Err(e.into());
            }
        }
        Command::Recreate { id, wait, .. } => {
            let recreated = v.recreate(id, api::Recreate { wait: Some(*wait) }).await?;
            render::recreated(out, &recreated.old, &recreated.new)?;
        }
        Command::ExtendTtl { id, by, .. } => {
            let record = v.extend_ttl(id, api::ExtendTtl { by: by.clone() }).await?;
            render::extended(out, &record)?;
        }
        Command::Exec(args) => exec(v, cli, args, out).await?,
        Command::Pause { id, .. } => render::sandbox(out, &v.pause(id).await?)?,
        Command::Resume { id, .. } => render::sandbox(out, &v.resume(id).await?)?,
        Command::Logs {
            id,
            follow,
            service,
            tail,
        } => {
            let query = api::LogsQuery {
                service: service.clone(),
                follow: *follow,
                tail: *tail,
            };
            let mut bytes = v.logs(id, &query).await?;
            while let Some(piece) = futures::StreamExt::next(&mut bytes).await {
                render::raw(out, &piece?)?;
            }
        }
        Command::Endpoint {
            id,
            name,
            valid_for,
        } => {
            let query = api::AccessQuery {
                valid_for: valid_for.clone(),
            };
            render::endpoint_access(out, &v.endpoint_access(id, name, &query).await?)?;
        }
        Command::Top { id, watch } => loop {
            render::figures(out, &v.metrics(id).await?)?;
            if !watch {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        },
        Command::Cp(args) => {
            let moved = super::inside::copy(v, &args.from, &args.to, args.service.clone()).await?;
            render::copied(out, moved)?;
        }
        Command::Snapshot(SnapshotCommand::Create { id, name, .. }) => {
            let request = api::TakeSnapshot { name: name.clone() };
            render::snapshot(out, &v.take_snapshot(id, request).await?)?;
        }
        Command::Snapshot(SnapshotCommand::List) => {
            render::snapshot_list(out, &v.snapshots().await?)?;
        }
        Command::Snapshot(SnapshotCommand::Delete { snapshot_id, .. }) => {
            render::snapshot(out, &v.delete_snapshot(snapshot_id).await?)?;
        }
        Command::Restore(args) => {
            let launch = launch(&args.launch)?;
            render::sandbox(out, &v.restore(&args.snapshot_id, launch).await?)?;
        }
        Command::Usage(args) => {
            let query = usage_query(args)?;
            render::ledger(out, &v.usage(&query).await?, &args.format)?;
        }
        Command::Events(args) => events(v, args, out).await?,
        Command::Profiles(ProfilesCommand::List) => {
            let listing = v.profiles().await?;
            render::profile_list(out, &listing.profiles)?;
            for problem in &listing.problems {
                eprintln!("error: {problem}");
            }
            if let Some(first) = listing.problems.into_iter().next() {
                return Err(Error::Profile(first).into());
            }
        }
        Command::Profiles(ProfilesCommand::Show { name }) => {
            render::profile(out, &v.profile(name).await?)?;
        }
        Command::Extensions(ExtensionsCommand::List) => {
            render::extension_list(out, &v.extensions().await?)?;
        }
        Command::Extensions(ExtensionsCommand::Show { name }) => {
            let report = v.extension(name).await?;
            render::extension(out, &report)?;
            if let Some(e) = &report.error {
                return Err(Error::Backend(format!("handshake failed: {e}")).into());
            }
        }
        Command::Hosts { since } => {
            let query = api::HostsQuery {
                since: Some(since.clone()),
                series: false,
            };
            render::hosts(out, &v.hosts(&query).await?.hosts)?;
        }
        // Served above without --server.
        Command::Serve { .. } => return Err(not_local("serve")),
        Command::Token(command) => operator::token(command, out)?,
        Command::Mcp { .. } => unreachable!("`run` serves mcp before choosing the verbs"),
        Command::ReapStale => operator::reap_stale(local(v, "reap-stale")?, out).await?,
        Command::Inspect { fix, profile } => {
            operator::inspect(local(v, "inspect")?, *fix, profile.as_deref(), out).await?
        }
        Command::Route(args) => operator::route(local(v, "route")?, args, out).await?,
        Command::Doctor { host } => {
            operator::doctor(local(v, "doctor")?, host.as_deref(), out).await?
        }
        Command::Canary(args) => operator::canary(local(v, "canary")?, args, out).await?,
        Command::Images(command) => operator::images(local(v, "images")?, command, out).await?,
    }
    Ok(())
}

fn not_local(command: &str) -> Failure {
    Error::Invalid(format!(
        "{command} works on the local state file; run it without --server"
    ))
    .into()
}

/// What `create` and `restore` start with: lifetime and labels as given (the
/// verb checks them), placement, wait, who is charged.
fn launch(args: &LaunchArgs) -> Result<api::RestoreSnapshot, Error> {
    // Checked here too, so that the error names the flag in either mode.
    if let Some(ttl) = &args.ttl {
        time::parse_lifetime(ttl).map_err(|e| Error::Invalid(format!("--ttl: {e}")))?;
    }
    let labels = sandboxer_core::labels::parse_labels(args.labels.iter().map(String::as_str))
        .map_err(|e| Error::Invalid(format!("--label: {e}")))?;
    Ok(api::RestoreSnapshot {
        ttl: args.ttl.clone(),
        labels,
        host: args.host.clone(),
        project: args.who.project.clone(),
        consumer: args.who.consumer.clone(),
        wait: Some(args.wait),
    })
}

/// What `usage` asks for, checked before it is asked.
fn usage_query(args: &UsageArgs) -> Result<api::UsageQuery, Error> {
    if !matches!(args.format.as_str(), "table" | "csv" | "json") {
        return Err(Error::Invalid(format!(
            "--format {:?}: use table, csv or json",
            args.format
        )));
    }
    let query = api::UsageQuery {
        by: Some(args.by.clone()),
        since: args.since.clone(),
        until: args.until.clone(),
        project: args.project.clone(),
        consumer: args.consumer.clone(),
    };
    query
        .parsed()
        .map_err(|e| Error::Invalid(format!("--{e}")))?;
    Ok(query)
}

/// What `list` asks for.
fn list_query(args: &ListArgs) -> Result<api::ListSandboxes, Error> {
    let states = args
        .states
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Invalid(format!("--in-state: {e}")))?;
    let mut labels = std::collections::BTreeMap::new();
    for arg in &args.labels {
        // Filters may name the core's own labels (sandboxer.id, ...).
        let (k, v) = sandboxer_core::labels::parse_label_filter(arg)
            .map_err(|e| Error::Invalid(format!("--{e}")))?;
        labels.insert(k, v);
    }
    Ok(api::ListSandboxes {
        states,
        all: args.all,
        profile: args.profile.clone(),
        project: args.project.clone(),
        consumer: args.consumer.clone(),
        labels,
    })
}

async fn exec(v: &impl Verbs, cli: &Cli, args: &ExecArgs, out: &mut Out) -> Outcome {
    if args.interactive || args.tty {
        return exec_session(v, args, out).await;
    }
    let timeout_s = timeout_s(args)?;
    let stdin = if args.stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        Some(text)
    } else {
        None
    };
    let request = ExecRequest {
        argv: args.argv.clone(),
        service: args.service.clone(),
        stdin,
        timeout_s,
    };
    let result = v.exec(&args.id, request).await?;
    render::exec_result(out, &result)?;
    if !cli.global.json && result.exit_code != 0 {
        // Like ssh and docker exec: the command's own exit code.
        out.flush()?;
        std::process::exit(result.exit_code.clamp(1, 255));
    }
    Ok(())
}

/// `--timeout` in whole seconds (at least one).
fn timeout_s(args: &ExecArgs) -> Result<Option<u64>, Error> {
    Ok(args
        .timeout
        .as_deref()
        .map(time::parse_duration)
        .transpose()
        .map_err(|e| Error::Invalid(format!("--timeout: {e}")))?
        .map(|d| d.as_secs().max(1)))
}

/// `exec -i`/`-t`: the command as a session, its exit status as ours.
async fn exec_session(v: &impl Verbs, args: &ExecArgs, out: &mut Out) -> Outcome {
    let timeout_s = timeout_s(args)?;
    let request = sandboxer_core::operations::StartCommand {
        argv: args.argv.clone(),
        service: args.service.clone(),
        timeout_s,
        ..Default::default()
    };
    let exit = super::inside::session(v, &args.id, request, args.interactive, args.tty).await?;
    out.flush()?;
    if exit.exit_code != 0 {
        std::process::exit(exit.exit_code.clamp(1, 255));
    }
    Ok(())
}

async fn events(v: &impl Verbs, args: &EventsArgs, out: &mut Out) -> Outcome {
    let query = api::EventsQuery {
        sandbox: args.sandbox.clone(),
        after: args.after,
        limit: if args.follow { None } else { args.limit },
        tail: None,
    };
    if !args.follow {
        // Without --limit, every event: page after page.
        let mut query = query;
        let mut events = vec![];
        loop {
            let page = v.events(&query).await?;
            let full = page.events.len() == query.limit.unwrap_or(api::EVENTS_PAGE) as usize;
            events.extend(page.events);
            match page.next_after {
                Some(next) if full && args.limit.is_none() => query.after = Some(next),
                _ => break,
            }
        }
        render::event_list(out, &events)?;
        return Ok(());
    }
    let mut events = v.follow_events(&query).await?;
    while let Some(event) = events.next().await {
        render::event_line(out, &event?)?;
        out.flush()?;
    }
    Ok(())
}
