//! One run: find the extension, learn its capabilities, run the selected
//! scenarios, clean up everything the run created (in reverse order, also after a
//! failure or Ctrl-C), and check that nothing is left.

use crate::context::{CheckResult, Ctx, Params, RUN_LABEL};
use crate::scenarios::{NOTHING_LEFT_BEHIND, SCENARIOS, STDOUT_EVERYWHERE};
use sandboxer_ext_protocol::methods;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to run.
pub struct RunOptions {
    pub target: PathBuf,
    pub params: Params,
    pub only: Option<regex::Regex>,
    pub skip: Option<regex::Regex>,
    pub repeat: usize,
    pub parallel: usize,
    pub timeout_scale: f64,
}

/// What a run found.
pub struct RunReport {
    pub target: String,
    pub prefix: String,
    pub results: Vec<CheckResult>,
    pub duration: Duration,
    pub interrupted: bool,
    pub cleanup_problems: Vec<String>,
}

impl RunReport {
    pub fn must_failures(&self) -> usize {
        self.results.iter().filter(|r| r.is_must_failure()).count()
    }
}

/// `PATH_OR_NAME`: a path, or an extension name looked up on `PATH` as
/// `sandboxer-ext-<name>`.
pub fn resolve_target(path_or_name: &str) -> Result<PathBuf, String> {
    let direct = Path::new(path_or_name);
    if path_or_name.contains('/') {
        return if direct.is_file() {
            Ok(direct.to_path_buf())
        } else {
            Err(format!("{path_or_name}: no such file"))
        };
    }
    let name = path_or_name.strip_prefix("ext.").unwrap_or(path_or_name);
    let file = if name.starts_with("sandboxer-ext-") {
        name.to_string()
    } else {
        format!("sandboxer-ext-{name}")
    };
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(&file))
                .find(|p| p.is_file())
        })
        .unwrap_or_default()
        .ok_or_else(|| format!("no executable {file} on PATH; give a path instead"))
}

fn unique_prefix() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let mut n = (now.as_secs() % 1_000_000_000) * 1000
        + u64::from(now.subsec_millis())
        + u64::from(std::process::id()) * 7919;
    let mut out = String::new();
    while n > 0 {
        let d = (n % 36) as u32;
        out.push(std::char::from_digit(d, 36).unwrap());
        n /= 36;
    }
    format!("cf{out}")
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once: the run stops after the current scenario
/// and still cleans up.
fn watch_interrupts() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    });
}

pub fn run(options: RunOptions) -> RunReport {
    watch_interrupts();
    let started = Instant::now();
    let prefix = unique_prefix();
    let only = options.only.clone();
    let skip = options.skip.clone();
    let selected: Box<dyn Fn(&str) -> bool> = Box::new(move |id: &str| {
        only.as_ref().is_none_or(|re| re.is_match(id))
            && skip.as_ref().is_none_or(|re| !re.is_match(id))
    });
    let mut ctx = Ctx::new(
        options.target.clone(),
        options.params,
        prefix.clone(),
        options.timeout_scale,
        options.repeat,
        options.parallel,
        selected,
    );
    // Capabilities, once, so that scenarios know what to skip.
    if let Ok(mut peer) = ctx.raw_peer()
        && let Ok(result) = peer.initialize(&ctx.params.options)
    {
        let names = |list: &serde_json::Value| -> Vec<String> {
            list.as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        ctx.methods = names(&result["capabilities"]["methods"]);
        ctx.features = names(&result["capabilities"]["features"]);
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    for scenario in SCENARIOS {
        if INTERRUPTED.load(Ordering::SeqCst) {
            interrupted.store(true, Ordering::SeqCst);
            break;
        }
        if !scenario.checks.iter().any(|id| ctx.is_selected(id)) {
            continue;
        }
        let before = ctx.results.len();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (scenario.run)(&mut ctx)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let reported: Vec<&str> = ctx.results[before..].iter().map(|r| r.check.id).collect();
            let missing: Vec<&str> = scenario
                .checks
                .iter()
                .copied()
                .filter(|id| !reported.contains(id))
                .collect();
            ctx.fail_all(
                &missing,
                None,
                &format!("the kit failed in scenario {}: {message}", scenario.name),
            );
        }
    }
    let cleanup_problems = cleanup(&mut ctx);
    if ctx.is_selected(STDOUT_EVERYWHERE) {
        let stray = ctx
            .stray_lines
            .lock()
            .expect("stray lines poisoned")
            .clone();
        let outcome = if stray.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "expected only JSON-RPC 2.0 lines on stdout in every session (a log line \
                 there breaks the host's reader); got {} other line(s), first: {:?}",
                stray.len(),
                &stray[..stray.len().min(3)]
            ))
        };
        ctx.record(STDOUT_EVERYWHERE, None, Instant::now(), outcome);
    }
    if ctx.is_selected(NOTHING_LEFT_BEHIND) {
        let started = Instant::now();
        let outcome = ctx.peer().and_then(|mut peer| {
            let list = peer.ok(
                methods::SandboxList::METHOD,
                json!({"labels": { RUN_LABEL: ctx.prefix }}),
            )?;
            let left: Vec<String> = list["sandboxes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["sandbox_id"].to_string())
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left behind after cleanup: {}", left.join(", ")))
            }
        });
        ctx.record(NOTHING_LEFT_BEHIND, None, started, outcome);
    }
    RunReport {
        target: options.target.display().to_string(),
        prefix,
        results: std::mem::take(&mut ctx.results),
        duration: started.elapsed(),
        interrupted: interrupted.load(Ordering::SeqCst),
        cleanup_problems,
    }
}

/// Destroys everything in the ledger, newest first.
fn cleanup(ctx: &mut Ctx) -> Vec<String> {
    let mut problems = vec![];
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return vec![format!("cleanup could not start the extension: {e}")],
    };
    let has_snapshots = ctx.advertises(methods::SnapshotDelete::METHOD);
    for entry in ctx.ledger.iter().rev() {
        let outcome = match entry.strip_prefix("snapshot:") {
            Some(snapshot_id) if has_snapshots => peer.ok(
                methods::SnapshotDelete::METHOD,
                json!({"snapshot_id": snapshot_id}),
            ),
            Some(_) => continue,
            None => peer
                .request_within(
                    methods::SandboxDestroy::METHOD,
                    json!({"sandbox_id": entry}),
                    ctx.create_timeout(),
                )
                .and_then(|a| a.get("result").cloned().ok_or_else(|| format!("{a}"))),
        };
        if let Err(e) = outcome {
            problems.push(format!("cleaning up {entry}: {e}"));
        }
    }
    problems
}

/// `--cleanup-only`: removes what earlier runs left (anything carrying the run
/// label). Returns the ids removed.
pub fn cleanup_only(target: &Path, params: &Params, scale: f64) -> Result<Vec<String>, String> {
    let ctx = Ctx::new(
        target.to_path_buf(),
        params.clone(),
        String::new(),
        scale,
        1,
        1,
        Box::new(|_| true),
    );
    let mut peer = ctx.peer()?;
    let list = peer.ok(methods::SandboxList::METHOD, json!({}))?;
    let mut removed = vec![];
    for s in list["sandboxes"].as_array().into_iter().flatten() {
        if s["labels"].get(RUN_LABEL).is_some() {
            let id = s["sandbox_id"].as_str().unwrap_or_default().to_string();
            peer.request_within(
                methods::SandboxDestroy::METHOD,
                json!({"sandbox_id": id}),
                ctx.create_timeout(),
            )?;
            removed.push(id);
        }
    }
    Ok(removed)
}
