//! The local core as a command uses it: opened from the state file and the
//! configuration (with its extensions kept running for commands of many
//! calls), and the caller a person at this terminal is.

use super::{Cli, Command, SnapshotCommand, Who};
use sandboxer_core::Error;
use sandboxer_core::api::{Caller, CoreVerbs};
use sandboxer_core::config::Config;
use sandboxer_core::operations::Core;
use sandboxer_core::store::{self, Store};
use std::sync::Arc;

/// The core over the state file and configuration the command line names.
pub fn open_core(cli: &Cli) -> Result<Core, Error> {
    let config = Config::load(cli.global.config.as_deref()).map_err(Error::Config)?;
    let (store, _) = open_store(cli, &config)?;
    // A command of many calls keeps its extension for all of them.
    let many_calls = match &cli.command {
        Command::Exec(a) => a.interactive || a.tty,
        Command::Cp(_) | Command::Mcp { .. } => true,
        _ => false,
    };
    Ok(if many_calls {
        Core::with_resident_extensions(store, config)
    } else {
        Core::new(store, config)
    })
}

/// The store the command line names (`--state`, `SANDBOXER_STATE`), else the
/// configuration's `store:`, else the default file; with the local file that
/// things kept beside the state are kept beside.
pub fn open_store(cli: &Cli, config: &Config) -> Result<(Store, std::path::PathBuf), Error> {
    let location = cli
        .global
        .state
        .as_ref()
        .map(|p| p.display().to_string())
        .or_else(|| config.store.clone());
    let local = match &location {
        Some(l) if !store::db::postgres::is_url(l) => std::path::PathBuf::from(l),
        _ => store::default_path(),
    };
    let store = match location {
        Some(l) => Store::open_location(&l, &local)?,
        None => Store::open(&local)?,
    };
    Ok((store, local))
}

/// The consumer recorded as the actor of a change. Creating requires a real
/// attribution; other changes fall back to the local user.
pub fn actor(who: Option<&Who>, config: &Config) -> String {
    who.and_then(|w| w.consumer.clone())
        .or_else(|| config.defaults.consumer.clone())
        .unwrap_or_else(|| {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                // SAFETY: getuid has no preconditions and cannot fail.
                .unwrap_or_else(|_| format!("uid{}", unsafe { libc::getuid() }));
            format!("local:{user}")
        })
}

/// The `--consumer`/`--project` flags of a command, if it has them.
fn who(command: &Command) -> Option<&Who> {
    match command {
        Command::Create(a) => Some(&a.launch.who),
        Command::Restore(a) => Some(&a.launch.who),
        Command::Exec(a) => Some(&a.who),
        Command::Cp(a) => Some(&a.who),
        Command::Destroy { who, .. }
        | Command::Recreate { who, .. }
        | Command::ExtendTtl { who, .. }
        | Command::Pause { who, .. }
        | Command::Resume { who, .. }
        | Command::Snapshot(SnapshotCommand::Create { who, .. })
        | Command::Snapshot(SnapshotCommand::Delete { who, .. }) => Some(who),
        _ => None,
    }
}

/// The local core as the person at this terminal uses it: every project, the
/// configuration's defaults, progress lines on the terminal.
pub fn local_verbs(cli: &Cli) -> Result<CoreVerbs, Error> {
    let core = open_core(cli)?;
    let caller = Caller::admin(
        actor(who(&cli.command), &core.config),
        core.config.defaults.consumer.clone(),
        core.config.defaults.project.clone(),
    );
    let mut verbs = CoreVerbs::new(Arc::new(core), caller);
    verbs.progress = terminal_progress();
    Ok(verbs)
}

/// Progress lines of a create go to stderr when a person watches it.
fn terminal_progress() -> Option<sandboxer_core::operations::ProgressSink> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        sandboxer_core::operations::ProgressSink(Arc::new(|line: &str| eprintln!("{line}")))
    })
}
