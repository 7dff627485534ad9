//! `sandboxer-conformance run PATH_OR_NAME`: the conformance kit's command line.
//! Exit 0 when every MUST check passes, 1 otherwise, 2 on usage errors.

use clap::{Parser, Subcommand};
use conformance::context::Params;
use conformance::report::{self, Format};
use conformance::runner::{self, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sandboxer-conformance",
    version,
    about = "Checks that a sandboxer extension keeps protocol v1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the checks against an extension.
    Run {
        /// Path to the executable, or an extension name found on PATH.
        target: String,
        /// YAML/JSON file: options, profile, placement, resources, network, bad_spec,
        /// exec_echo, exec_exit3.
        #[arg(long = "params", value_name = "FILE")]
        params: Option<PathBuf>,
        /// Only checks whose id matches this regular expression.
        #[arg(long = "only", value_name = "RE")]
        only: Option<String>,
        /// Skip checks whose id matches this regular expression.
        #[arg(long = "skip", value_name = "RE")]
        skip: Option<String>,
        /// How many times idempotency checks repeat a call.
        #[arg(long = "repeat", default_value_t = 3)]
        repeat: usize,
        /// How many creates the concurrency check runs at once.
        #[arg(long = "parallel", default_value_t = 3)]
        parallel: usize,
        #[arg(long = "format", value_enum, default_value = "human")]
        format: Format,
        /// Write the report here instead of stdout.
        #[arg(long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Multiply every deadline (slow backends).
        #[arg(long = "timeout-scale", default_value_t = 1.0)]
        timeout_scale: f64,
        /// Only remove what earlier runs left behind.
        #[arg(long = "cleanup-only")]
        cleanup_only: bool,
    },
}

fn usage(message: String) -> ExitCode {
    eprintln!("sandboxer-conformance: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let Command::Run {
        target,
        params,
        only,
        skip,
        repeat,
        parallel,
        format,
        out,
        timeout_scale,
        cleanup_only,
    } = Cli::parse().command;
    let target = match runner::resolve_target(&target) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let params: Params = match params {
        None => Params::default(),
        Some(path) => match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| yaml_serde::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => return usage(format!("--params {}: {e}", path.display())),
        },
    };
    let regex = |what: &str, re: Option<String>| {
        re.map(|r| regex::Regex::new(&r).map_err(|e| format!("--{what}: {e}")))
            .transpose()
    };
    let (only, skip) = match (regex("only", only), regex("skip", skip)) {
        (Ok(o), Ok(s)) => (o, s),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    if timeout_scale.is_nan() || timeout_scale <= 0.0 {
        return usage("--timeout-scale must be above zero".into());
    }
    if cleanup_only {
        return match runner::cleanup_only(&target, &params, timeout_scale) {
            Ok(removed) => {
                println!(
                    "removed {} sandbox(es) left by earlier runs: {}",
                    removed.len(),
                    removed.join(" ")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sandboxer-conformance: cleanup failed: {e}");
                ExitCode::from(1)
            }
        };
    }
    let report = runner::run(RunOptions {
        target,
        params,
        only,
        skip,
        repeat,
        parallel,
        timeout_scale,
    });
    let text = report::render(&report, format);
    match out {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, &text) {
                eprintln!("sandboxer-conformance: writing {}: {e}", path.display());
                return ExitCode::from(1);
            }
            if format != Format::Human {
                eprint!(
                    "{}",
                    report::render(&report, Format::Human)
                        .lines()
                        .last()
                        .map(|l| format!("{l}\n"))
                        .unwrap_or_default()
                );
            }
        }
        None => print!("{text}"),
    }
    if report.must_failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
