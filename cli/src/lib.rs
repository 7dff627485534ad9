//! The command line (crate `sandboxer-cli`): parsing (clap) and the entry point —
//! logging, the runtime, one command run, errors mapped to exit codes — and
//! `client`, the daemon's typed client the CLI uses with `--server`. It does not
//! depend on the server: the `sandboxer` binary hands it the server's `serve`, so
//! the two compile side by side.

pub mod client;
mod commands;
mod inside;
mod local;
mod mcp;
mod operator;

pub use operator::Serve;
mod outcome;
mod render;

use clap::{Args, Parser, Subcommand};
use sandboxer_core::ErrorClass;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sandboxer",
    version,
    about = "Provision sandboxes from profiles through extensions, and keep account of them",
    after_help = "Exit codes: 0 success, 1 failure, 2 bad input, 3 not found, 4 refused, \
                  5 extension or backend failure. See docs/cli.md."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The state file (SQLite), or a `postgres://` URL a fleet of daemons
    /// shares (docs/fleet.md); default: the configuration's `store:`, else the
    /// state file under $XDG_STATE_HOME.
    #[arg(
        long = "state",
        env = "SANDBOXER_STATE",
        global = true,
        value_name = "PATH|URL"
    )]
    pub state: Option<PathBuf>,
    /// The configuration file.
    #[arg(
        long = "config",
        env = "SANDBOXER_CONFIG",
        global = true,
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Use the daemon at this URL instead of the local state file.
    #[arg(
        long = "server",
        env = "SANDBOXER_SERVER",
        global = true,
        value_name = "URL"
    )]
    pub server: Option<String>,
    /// Bearer token for --server.
    #[arg(
        long = "token",
        env = "SANDBOXER_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print JSON for machines instead of tables for people.
    #[arg(long = "json", global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Who is asking, for commands that change sandboxes.
#[derive(Debug, Clone, Args)]
pub struct Who {
    /// Who is asking: adm:NAME, agt:NAME or atm:NAME.
    #[arg(long = "consumer", env = "SANDBOXER_CONSUMER")]
    pub consumer: Option<String>,
    /// The project the work is charged to.
    #[arg(long = "project", env = "SANDBOXER_PROJECT")]
    pub project: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a sandbox from a profile.
    Create(CreateArgs),
    /// Show one sandbox (asking its extension for fresh state).
    Get {
        id: String,
        /// Show the stored record without asking the extension.
        #[arg(long = "cached")]
        cached: bool,
    },
    /// List sandboxes (destroyed ones only with --all or --in-state).
    List(ListArgs),
    /// Destroy sandboxes; destroying one already destroyed succeeds.
    Destroy {
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        who: Who,
    },
    /// Replace a sandbox with a fresh one of the same profile, labels and owner.
    Recreate {
        id: String,
        /// Return once the new sandbox is ready.
        #[arg(long = "wait")]
        wait: bool,
        #[command(flatten)]
        who: Who,
    },
    /// Move a sandbox's expiry later, never past its profile's ceiling.
    ExtendTtl {
        id: String,
        /// How much longer, e.g. 30m or 2h.
        by: String,
        #[command(flatten)]
        who: Who,
    },
    /// Run a command in a sandbox; exits with the command's exit code.
    Exec(ExecArgs),
    /// Copy a file or folder into or out of a sandbox, like `docker cp`:
    /// `cp ./src ID:/work/src` or `cp ID:/work/out ./out`.
    Cp(CpArgs),
    /// Freeze a sandbox: its processes stop where they are, memory kept,
    /// billed at its profile's paused rate.
    Pause {
        id: String,
        #[command(flatten)]
        who: Who,
    },
    /// Let a paused sandbox go on where it stopped.
    Resume {
        id: String,
        #[command(flatten)]
        who: Who,
    },
    /// What a sandbox's processes wrote to their output.
    Logs {
        id: String,
        /// Keep printing as they write, until the sandbox stops or Ctrl-C.
        #[arg(long = "follow", short = 'f')]
        follow: bool,
        /// Only this part of the sandbox (a compose service).
        #[arg(long = "service")]
        service: Option<String>,
        /// Only the last N lines of each part.
        #[arg(long = "tail", value_name = "N")]
        tail: Option<u64>,
    },
    /// How to reach a sandbox's HTTP endpoint through the daemon's proxy: its
    /// URLs, token and a signed URL for a browser.
    Endpoint {
        id: String,
        /// The endpoint's name (`sandboxer get` lists them).
        name: String,
        /// How long the signed URL holds, e.g. 30m (default 1h, at most 7d).
        #[arg(long = "valid-for")]
        valid_for: Option<String>,
    },
    /// CPU, memory, network and disk of a sandbox, per part and in all.
    Top {
        id: String,
        /// Again every 2 s, until Ctrl-C.
        #[arg(long = "watch", short = 'w')]
        watch: bool,
    },
    /// Snapshots of sandboxes (where the backend offers them).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Restore a snapshot into a new sandbox.
    Restore(RestoreArgs),
    /// The ledger: sandbox and snapshot time and cost, grouped (the billing export).
    Usage(UsageArgs),
    /// Show the event log.
    Events(EventsArgs),
    /// The profile catalog.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Run the HTTP daemon for agents, with the reaper and reconciler loops.
    Serve {
        /// Address to listen on (default: daemon.listen, 127.0.0.1:7070).
        #[arg(long = "listen", value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Serve sandboxer as MCP tools on stdin/stdout, for an agent: on the
    /// local state (sandboxes charged to --consumer in --project), or on a
    /// daemon with --server as its token's caller (see docs/agents.md).
    Mcp {
        #[command(flatten)]
        who: Who,
    },
    /// Bearer tokens for the daemon.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Destroy expired sandboxes and retry failed destroys, once.
    ReapStale,
    /// The fleet: per extension, what is recorded, what is found, what disagrees;
    /// with --fix, act on it once as the daemon's reconciler would.
    Inspect {
        #[arg(long = "fix", conflicts_with = "profile")]
        fix: bool,
        /// Instead: which of this profile's guarantees each extension gives
        /// natively, emulates, or cannot give.
        #[arg(long = "profile")]
        profile: Option<String>,
    },
    /// Which of a profile's candidate extensions a create would go to; with
    /// --explain, every candidate with its preference, rate, health and verdict.
    Route(RouteArgs),
    /// Installed extensions.
    #[command(subcommand)]
    Extensions(ExtensionsCommand),
    /// Each host's health now (recorded) and over a window.
    Hosts {
        /// The window: a time (2026-11-01) or a duration ago (default 24h).
        #[arg(long = "since", default_value = "24h")]
        since: String,
    },
    /// Check each host for everything its extension needs (for compose-ssh:
    /// podman, networking and name resolution, the runtime, the profiles' images,
    /// podman's API socket, sshd, disk), printing the fix of each failing item;
    /// exits 5 if anything failed.
    Doctor {
        /// Only this host.
        #[arg(long = "host")]
        host: Option<String>,
    },
    /// Create the canary profile on each host, check it answers, destroy it, and
    /// record the result; exits 5 if any host failed.
    Canary(CanaryArgs),
    /// The images extensions keep (vm-packer's, built from recipes): build a
    /// profile's ahead of creates, list them, prune what nothing needs.
    #[command(subcommand)]
    Images(ImagesCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build the image a profile needs (with each candidate extension that
    /// builds images), so that its first create does not wait for it.
    Build {
        #[arg(long = "profile")]
        profile: String,
    },
    /// Every image each extension keeps, with its size and what uses it.
    List,
    /// Remove images no sandbox, snapshot or catalog profile needs.
    Prune {
        /// Only this image (repeatable).
        #[arg(long = "image")]
        images: Vec<String>,
        /// Say what would be removed; remove nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[arg(long = "profile")]
    pub profile: String,
    #[arg(long = "explain")]
    pub explain: bool,
    /// Lifetime to judge budgets by (default: the profile's).
    #[arg(long = "ttl")]
    pub ttl: Option<String>,
    #[arg(long = "host")]
    pub host: Option<String>,
    #[arg(long = "consumer")]
    pub consumer: Option<String>,
    #[arg(long = "project")]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct CanaryArgs {
    #[arg(long = "profile", default_value = "sandbox-canary")]
    pub profile: String,
    /// Only this host.
    #[arg(long = "host")]
    pub host: Option<String>,
    /// Charged to (default: adm:canary in project canary).
    #[arg(long = "consumer")]
    pub consumer: Option<String>,
    #[arg(long = "project")]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// profile.NAME (or NAME).
    #[arg(long = "profile")]
    pub profile: String,
    #[command(flatten)]
    pub launch: LaunchArgs,
}

/// How a new sandbox is started, by `create` and `restore` alike.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Lifetime, e.g. 30m or 2h (default: the profile's).
    #[arg(long = "ttl")]
    pub ttl: Option<String>,
    /// A label key=value; repeat for more.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Where to place it (a host the extension knows).
    #[arg(long = "host")]
    pub host: Option<String>,
    /// Return once the sandbox is ready.
    #[arg(long = "wait")]
    pub wait: bool,
    #[command(flatten)]
    pub who: Who,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only sandboxes in this state; repeat for more.
    #[arg(long = "in-state", value_name = "STATE")]
    pub states: Vec<String>,
    #[arg(long = "profile")]
    pub profile: Option<String>,
    /// Only sandboxes of this consumer (adm:NAME, agt:NAME, atm:NAME).
    #[arg(long = "consumer")]
    pub consumer: Option<String>,
    /// Only sandboxes of this project.
    #[arg(long = "project")]
    pub project: Option<String>,
    /// Only sandboxes with label KEY=VALUE; repeat for more.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Include destroyed sandboxes.
    #[arg(long = "all")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    pub id: String,
    /// The part of the sandbox to run in (a compose service).
    #[arg(long = "service")]
    pub service: Option<String>,
    /// Give up after this long, e.g. 30s.
    #[arg(long = "timeout")]
    pub timeout: Option<String>,
    /// Pass this process's standard input to the command (read whole first).
    #[arg(long = "stdin", conflicts_with_all = ["interactive", "tty"])]
    pub stdin: bool,
    /// Stream this process's standard input to the command as it comes, and
    /// its output back as it comes.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Run it under a terminal of this terminal's size (raw mode, resizes
    /// passed on), as `docker exec -t`.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    #[command(flatten)]
    pub who: Who,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// A path here, or ID:/path in a sandbox.
    pub from: String,
    /// A path here, or ID:/path in a sandbox (the other side of FROM).
    pub to: String,
    /// The part of the sandbox (a compose service).
    #[arg(long = "service")]
    pub service: Option<String>,
    #[command(flatten)]
    pub who: Who,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this sandbox's events.
    #[arg(long = "sandbox")]
    pub sandbox: Option<String>,
    /// Keep printing new events as they happen.
    #[arg(long = "follow", short = 'f')]
    pub follow: bool,
    /// Only events after this sequence number.
    #[arg(long = "after", value_name = "SEQ")]
    pub after: Option<i64>,
    /// At most this many events (not with --follow).
    #[arg(long = "limit")]
    pub limit: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// Every profile in the catalog.
    List,
    /// One profile in full.
    Show { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot of a sandbox (the same name again is the same snapshot).
    Create {
        id: String,
        #[arg(long = "name")]
        name: String,
        #[command(flatten)]
        who: Who,
    },
    /// Snapshots not deleted.
    List,
    /// Delete a snapshot; deleting one already deleted succeeds.
    Delete {
        snapshot_id: String,
        #[command(flatten)]
        who: Who,
    },
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// project, consumer, profile, extension or host.
    #[arg(long = "by", default_value = "project")]
    pub by: String,
    /// From this time on (2026-11-01 or RFC 3339).
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Up to this time, not included.
    #[arg(long = "until")]
    pub until: Option<String>,
    /// Only this project.
    #[arg(long = "project")]
    pub project: Option<String>,
    /// Only this consumer.
    #[arg(long = "consumer")]
    pub consumer: Option<String>,
    /// table, csv or json (`--json` is json).
    #[arg(long = "format", default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    pub snapshot_id: String,
    #[command(flatten)]
    pub launch: LaunchArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new token and print it with the configuration entry (its hash).
    New {
        /// adm:NAME, agt:NAME or atm:NAME.
        #[arg(long = "consumer")]
        consumer: String,
        #[arg(long = "project")]
        project: String,
        /// admin or member (default: admin for adm:, member otherwise).
        #[arg(long = "role")]
        role: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExtensionsCommand {
    /// Every extension found, with a handshake check of each.
    List,
    /// One extension: version, path, protocol, methods, options.
    Show { name: String },
}

/// Exit codes of the `sandboxer` binary (documented in `docs/cli.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    /// A failure not covered below (the state file, an internal error).
    Failure = 1,
    /// Bad flags, bad input, or a bad profile or configuration.
    Usage = 2,
    /// The sandbox, profile or extension does not exist.
    NotFound = 3,
    /// Refused by policy, by the sandbox's state, or by the caller's reach.
    Refused = 4,
    /// The extension or its backend failed, crashed, timed out or broke the
    /// protocol; or the daemon could not be reached.
    Backend = 5,
}

impl From<ErrorClass> for ExitCode {
    fn from(class: ErrorClass) -> ExitCode {
        match class {
            ErrorClass::Invalid => ExitCode::Usage,
            ErrorClass::NotFound => ExitCode::NotFound,
            ErrorClass::Refused
            | ErrorClass::IdempotencyMismatch
            | ErrorClass::Unsupported
            | ErrorClass::Unauthorized
            | ErrorClass::Forbidden => ExitCode::Refused,
            ErrorClass::Unavailable | ErrorClass::Backend => ExitCode::Backend,
            ErrorClass::Internal => ExitCode::Failure,
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("SANDBOXER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub fn main(serve: Serve) -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    // The daemon and the MCP server serve many calls at once; every other
    // command is one call.
    let runtime = if matches!(cli.command, Command::Serve { .. } | Command::Mcp { .. }) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("tokio runtime starts");
    let code = match runtime.block_on(commands::run(cli, serve)) {
        Ok(()) => ExitCode::Success,
        Err(outcome::Failure::Sandboxer(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(e.class())
        }
        Err(outcome::Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::Success
        }
        Err(outcome::Failure::Output(e)) => {
            eprintln!("error: writing output: {e}");
            ExitCode::Failure
        }
    };
    // Do not wait for extension processes' reader tasks: everything is recorded.
    runtime.shutdown_background();
    std::process::ExitCode::from(code as u8)
}

/// The daemon route each command goes through with `--server`; `None` for the
/// operator's commands, which work on the local state file only, and for
/// `mcp`, which serves every verb (locally or through the daemon). A test holds
/// this table to the command line and to `api::ROUTES`.
#[cfg(test)]
const ROUTE_OF_COMMAND: &[(&str, Option<sandboxer_core::api::Verb>)] = {
    use sandboxer_core::api::Verb as V;
    &[
        ("create", Some(V::CreateSandbox)),
        ("get", Some(V::GetSandbox)),
        ("list", Some(V::ListSandboxes)),
        ("destroy", Some(V::DestroySandbox)),
        ("recreate", Some(V::RecreateSandbox)),
        ("extend-ttl", Some(V::ExtendTtl)),
        ("exec", Some(V::Exec)),
        ("cp", Some(V::PutTree)),
        ("pause", Some(V::PauseSandbox)),
        ("resume", Some(V::ResumeSandbox)),
        ("logs", Some(V::SandboxLogs)),
        ("top", Some(V::SandboxMetrics)),
        ("endpoint", Some(V::EndpointAccess)),
        ("snapshot create", Some(V::TakeSnapshot)),
        ("snapshot list", Some(V::ListSnapshots)),
        ("snapshot delete", Some(V::DeleteSnapshot)),
        ("restore", Some(V::RestoreSnapshot)),
        ("usage", Some(V::Usage)),
        ("events", Some(V::EventsPage)),
        ("profiles list", Some(V::ListProfiles)),
        ("profiles show", Some(V::GetProfile)),
        ("extensions list", Some(V::ListExtensions)),
        ("extensions show", Some(V::GetExtension)),
        ("hosts", Some(V::Hosts)),
        ("serve", None),
        ("mcp", None),
        ("token new", None),
        ("reap-stale", None),
        ("inspect", None),
        ("route", None),
        ("doctor", None),
        ("canary", None),
        ("images build", None),
        ("images list", None),
        ("images prune", None),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every leaf command of the command line, as `snapshot create`.
    fn leaf_commands(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in command.get_subcommands() {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                leaf_commands(sub, &format!("{name} "), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_command_has_a_daemon_route_or_is_an_operators() {
        let mut commands = vec![];
        leaf_commands(&Cli::command(), "", &mut commands);
        commands.retain(|c| c != "help" && !c.ends_with(" help"));
        let listed: Vec<&str> = ROUTE_OF_COMMAND.iter().map(|(c, _)| *c).collect();
        for command in &commands {
            assert!(
                listed.contains(&command.as_str()),
                "`sandboxer {command}` has no daemon route and is not an operator's command"
            );
        }
        for (command, verb) in ROUTE_OF_COMMAND {
            assert!(
                commands.iter().any(|c| c == command),
                "no command `{command}`"
            );
            if let Some(verb) = verb {
                assert!(
                    sandboxer_core::api::ROUTES.iter().any(|r| r.verb == *verb),
                    "`sandboxer {command}` goes through {verb:?}, which the daemon does not route"
                );
            }
        }
    }

    #[test]
    fn every_error_class_has_an_exit_code_of_its_kind() {
        for class in ErrorClass::ALL {
            let code = ExitCode::from(class);
            assert_ne!(code, ExitCode::Success, "{class:?}");
        }
        assert_eq!(ExitCode::from(ErrorClass::NotFound) as u8, 3);
        assert_eq!(ExitCode::from(ErrorClass::Invalid) as u8, 2);
        assert_eq!(ExitCode::from(ErrorClass::Forbidden) as u8, 4);
        assert_eq!(ExitCode::from(ErrorClass::Backend) as u8, 5);
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
