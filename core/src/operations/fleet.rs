//! Keeping the fleet honest: the TTL reaper (expired sandboxes are destroyed, with
//! an event per attempt and retries with backoff) and the reconciler (the store
//! against each extension's own `sandbox/list`). The daemon runs both in loops;
//! `sandboxer reap-stale` and `sandboxer inspect` run them once.

use super::{Core, SYSTEM};
use crate::error::Result;
use crate::labels::LABEL_INSTALLATION;
use crate::lifecycle::State;
use crate::store::{Change, EventKind, SandboxFilter, SandboxRecord};
use crate::time::{Millis, duration_ms, now_ms, rfc3339};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{BackendState, DestroyParams, ListParams, Sandbox};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counters of the loops (exported by the daemon's `/metrics`).
#[derive(Debug, Default)]
pub struct LoopCounters {
    pub reaper_runs: AtomicU64,
    pub reaped: AtomicU64,
    pub reap_failures: AtomicU64,
    pub reconcile_runs: AtomicU64,
    pub orphans_found: AtomicU64,
    pub orphans_reaped: AtomicU64,
    pub vanished: AtomicU64,
    pub stuck_failed: AtomicU64,
}

/// The longest wait between two destroy attempts of the reaper.
const MAX_BACKOFF_MS: Millis = 5 * 60 * 1000;

fn list(
    core: &Core,
    states: &[State],
    expires_before: Option<Millis>,
) -> Result<Vec<SandboxRecord>> {
    Ok(core.store().list_sandboxes(&SandboxFilter {
        states: states.to_vec(),
        expires_before,
        ..SandboxFilter::default()
    })?)
}

/// One reaper pass: expiry warnings, idle timeouts and budgets (`sweep`); live
/// sandboxes past their expiry become `expired`; every
/// `expired` or `destroying` sandbox gets a destroy attempt (an event each), with
/// exponential backoff after failures.
pub async fn reap_expired(core: &Core, counters: &LoopCounters) {
    counters.reaper_runs.fetch_add(1, Ordering::Relaxed);
    // Warnings, idle timeouts and budgets first: what they expire is reaped below.
    if let Err(e) = super::sweep(core).await {
        tracing::warn!("lifetimes: {e}");
    }
    let now = now_ms();
    match list(
        core,
        &[State::Ready, State::Active, State::Paused],
        Some(now),
    ) {
        Ok(records) => {
            for r in records {
                let detail = json!({ "expires_at": rfc3339(r.expires_at) });
                // Still due when it moves: a claim or an extend may have come
                // in between.
                if let Err(e) = core.store().transition_if(
                    &r.id,
                    State::Expired,
                    SYSTEM,
                    Change::default(),
                    detail,
                    |now_row| now_row.expires_at <= now,
                ) {
                    tracing::debug!(sandbox = %r.id, "expire: {e}");
                }
            }
        }
        Err(e) => tracing::warn!("reaper: {e}"),
    }
    let due = match list(core, &[State::Expired, State::Destroying], None) {
        Ok(records) => records,
        Err(e) => return tracing::warn!("reaper: {e}"),
    };
    for r in due {
        let attempts = core
            .store()
            .events(&crate::store::EventFilter {
                sandbox_id: Some(r.id.clone()),
                ..Default::default()
            })
            .map(|events| {
                events
                    .into_iter()
                    .filter(|e| e.kind == EventKind::ReapAttempt)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if let Some(last) = attempts.last() {
            let backoff = (1000 * (1_i64 << attempts.len().min(20))).min(MAX_BACKOFF_MS);
            if now - last.at < backoff {
                continue;
            }
        }
        let attempt = attempts.len() + 1;
        let outcome = super::destroy(core, &r.id, SYSTEM).await;
        let detail = match &outcome {
            Ok(_) => json!({ "attempt": attempt, "outcome": "destroyed" }),
            Err(e) => json!({ "attempt": attempt, "outcome": "failed", "error": e.to_string() }),
        };
        if outcome.is_ok() {
            counters.reaped.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.reap_failures.fetch_add(1, Ordering::Relaxed);
        }
        let _ = core
            .store()
            .record_event(&r.id, SYSTEM, EventKind::ReapAttempt, detail);
    }
}

/// Something the store and a backend disagree about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// Labelled resources without a record, made by this installation.
    Orphan { id: String, backend_ref: String },
    /// Labelled resources without a record, made by another installation (or by
    /// one from before installations labelled what they make): reported, never
    /// touched.
    Foreign {
        id: String,
        installation: Option<String>,
    },
    /// Resources of a sandbox recorded as destroyed, or as failed.
    Leftover { id: String, backend_ref: String },
    /// A usable sandbox whose resources are gone.
    Vanished { id: String },
    /// Recorded as provisioning, ready on the backend.
    Adoptable { id: String },
    /// In a transitional state for too long.
    Stuck {
        id: String,
        state: State,
        found: bool,
    },
}

/// Compares one extension's records with what it reports, as installation
/// `installation` sees them. Pure.
pub fn compare(
    records: &[SandboxRecord],
    found: &[Sandbox],
    installation: &str,
    now: Millis,
    stuck_after_ms: Millis,
) -> Vec<Finding> {
    let found_by_id: HashMap<&str, &Sandbox> =
        found.iter().map(|s| (s.sandbox_id.as_str(), s)).collect();
    let recorded: HashMap<&str, &SandboxRecord> =
        records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut findings = vec![];
    for s in found {
        match recorded.get(s.sandbox_id.as_str()) {
            None => match s.labels.get(LABEL_INSTALLATION) {
                Some(ours) if ours == installation => findings.push(Finding::Orphan {
                    id: s.sandbox_id.clone(),
                    backend_ref: s.backend_ref.clone(),
                }),
                theirs => findings.push(Finding::Foreign {
                    id: s.sandbox_id.clone(),
                    installation: theirs.cloned(),
                }),
            },
            // A destroyed sandbox's, or a failed one's (a create that crashed
            // half-way): nothing will use them; the record already says why.
            Some(r) if matches!(r.state, State::Destroyed | State::Failed) => {
                findings.push(Finding::Leftover {
                    id: s.sandbox_id.clone(),
                    backend_ref: s.backend_ref.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for r in records {
        let on_backend = found_by_id.get(r.id.as_str());
        match r.state {
            State::Ready | State::Active | State::Paused if on_backend.is_none() => {
                findings.push(Finding::Vanished { id: r.id.clone() })
            }
            State::Pending | State::Provisioning => match on_backend {
                Some(s) if s.state == BackendState::Ready => {
                    findings.push(Finding::Adoptable { id: r.id.clone() })
                }
                found if now - r.state_since >= stuck_after_ms => findings.push(Finding::Stuck {
                    id: r.id.clone(),
                    state: r.state,
                    found: found.is_some(),
                }),
                _ => {}
            },
            _ => {}
        }
    }
    findings
}

/// What the reconciler remembers between passes: when each orphan was first seen.
#[derive(Debug, Default)]
pub struct ReconcileState {
    first_seen: HashMap<String, Instant>,
}

/// Per extension: what is recorded, what is found, where they disagree.
#[derive(Debug, Clone, Serialize)]
pub struct FleetView {
    pub extension: String,
    pub recorded: BTreeMap<String, u64>,
    pub found: usize,
    pub hosts: BTreeMap<String, usize>,
    pub findings: Vec<Finding>,
    pub error: Option<String>,
}

/// The extensions worth asking: every one the store mentions, and every one
/// configured.
fn extensions_in_play(core: &Core) -> Result<BTreeSet<String>> {
    let mut names: BTreeSet<String> = core
        .store()
        .list_sandboxes(&SandboxFilter::default())?
        .into_iter()
        .map(|r| r.extension.trim_start_matches("ext.").to_string())
        .collect();
    names.extend(core.config.extensions.keys().cloned());
    Ok(names)
}

/// Reads the fleet without changing anything (`sandboxer inspect`).
pub async fn inspect(core: &Core) -> Result<Vec<FleetView>> {
    let mut views = vec![];
    for ext in extensions_in_play(core)? {
        views.push(view_of(core, &ext).await.0);
    }
    Ok(views)
}

async fn view_of(core: &Core, ext: &str) -> (FleetView, Vec<Sandbox>) {
    let records = core
        .store()
        .list_sandboxes(&SandboxFilter {
            extension: Some(format!("ext.{ext}")),
            ..SandboxFilter::default()
        })
        .unwrap_or_default();
    let mut recorded = BTreeMap::new();
    for r in &records {
        *recorded.entry(r.state.to_string()).or_insert(0) += 1;
    }
    let mut view = FleetView {
        extension: format!("ext.{ext}"),
        recorded,
        found: 0,
        hosts: BTreeMap::new(),
        findings: vec![],
        error: None,
    };
    let found = match core.extension(ext).await {
        Ok(lease) => {
            let answer = lease
                .request::<m::SandboxList>(&ListParams::default())
                .await;
            lease.release().await;
            answer.map(|l| l.sandboxes).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match found {
        Ok(found) => {
            view.found = found.len();
            for s in &found {
                let host = s
                    .details
                    .get("host")
                    .and_then(|h| h.as_str())
                    .unwrap_or("-");
                *view.hosts.entry(host.to_string()).or_insert(0) += 1;
            }
            let stuck = duration_ms(core.config.daemon.stuck_after);
            match core.installation() {
                Ok(installation) => {
                    view.findings = compare(&records, &found, &installation, now_ms(), stuck);
                }
                Err(e) => {
                    view.error = Some(e.to_string());
                    return (view, vec![]);
                }
            }
            (view, found)
        }
        Err(e) => {
            view.error = Some(e);
            (view, vec![])
        }
    }
}

/// One reconciler pass over every extension in play. Sandboxes an operation is
/// working on (their lock is held) are left alone.
pub async fn reconcile(
    core: &Core,
    counters: &LoopCounters,
    state: &mut ReconcileState,
) -> Result<Vec<FleetView>> {
    counters.reconcile_runs.fetch_add(1, Ordering::Relaxed);
    let grace = core.config.daemon.orphan_grace;
    let mut views = vec![];
    let mut still_orphans = BTreeSet::new();
    for ext in extensions_in_play(core)? {
        let (view, found) = view_of(core, &ext).await;
        for finding in &view.findings {
            match finding {
                Finding::Orphan { id, backend_ref } | Finding::Leftover { id, backend_ref } => {
                    still_orphans.insert(id.clone());
                    let first = *state.first_seen.entry(id.clone()).or_insert_with(|| {
                        counters.orphans_found.fetch_add(1, Ordering::Relaxed);
                        let _ = core.store().record_event(
                            id,
                            SYSTEM,
                            EventKind::OrphanFound,
                            json!({ "extension": view.extension, "backend_ref": backend_ref }),
                        );
                        Instant::now()
                    });
                    // Without a record, a resource gets a grace period (another
                    // writer may be about to record it); a leftover's record already
                    // says nothing will use it.
                    let leftover = matches!(finding, Finding::Leftover { .. });
                    if leftover || first.elapsed() >= grace {
                        let Some(_guard) = core.try_lock(id) else {
                            continue;
                        };
                        let params = DestroyParams {
                            sandbox_id: id.clone(),
                            backend_ref: Some(backend_ref.clone()).filter(|r| !r.is_empty()),
                        };
                        let outcome = match core.extension(&ext).await {
                            Ok(lease) => {
                                let r = lease.request::<m::SandboxDestroy>(&params).await;
                                lease.release().await;
                                r.map_err(|e| e.to_string())
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        let detail = match &outcome {
                            Ok(_) => json!({ "extension": view.extension, "outcome": "destroyed" }),
                            Err(e) => {
                                json!({ "extension": view.extension, "outcome": "failed", "error": e })
                            }
                        };
                        let _ =
                            core.store()
                                .record_event(id, SYSTEM, EventKind::OrphanReaped, detail);
                        if outcome.is_ok() {
                            counters.orphans_reaped.fetch_add(1, Ordering::Relaxed);
                            state.first_seen.remove(id);
                            still_orphans.remove(id);
                        }
                    }
                }
                Finding::Foreign { .. } => {} // Another installation's to look after.
                Finding::Vanished { id } => {
                    let Some(_guard) = core.try_lock(id) else {
                        continue;
                    };
                    let message = format!(
                        "its resources vanished: {} no longer lists it",
                        view.extension
                    );
                    if core.record_failure(id, SYSTEM, &message) {
                        counters.vanished.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Finding::Adoptable { id } => {
                    let Some(_guard) = core.try_lock(id) else {
                        continue;
                    };
                    if let Some(s) = found.iter().find(|s| &s.sandbox_id == id) {
                        let change = Change {
                            backend_ref: Some(s.backend_ref.clone()).filter(|r| !r.is_empty()),
                            endpoints: Some(s.endpoints.clone()),
                            details: Some(s.details.clone()),
                            ..Change::default()
                        };
                        let pending = matches!(core.store().get_sandbox(id), Ok(Some(r)) if r.state == State::Pending);
                        if pending {
                            let _ = core.store().transition(
                                id,
                                State::Provisioning,
                                SYSTEM,
                                Change::default(),
                                json!({ "recovered": true }),
                            );
                        }
                        let _ = core.store().transition(
                            id,
                            State::Ready,
                            SYSTEM,
                            change,
                            json!({ "recovered": true }),
                        );
                    }
                }
                Finding::Stuck {
                    id,
                    state: stuck,
                    found,
                } => {
                    let Some(_guard) = core.try_lock(id) else {
                        continue;
                    };
                    let message = format!(
                        "stuck in {stuck} longer than {}{}",
                        crate::time::format_duration(core.config.daemon.stuck_after),
                        if *found {
                            "; the reconciler reaps its resources"
                        } else {
                            ""
                        }
                    );
                    if core.record_failure(id, SYSTEM, &message) {
                        counters.stuck_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        views.push(view);
    }
    // Orphans that disappeared on their own are forgotten.
    state.first_seen.retain(|id, _| still_orphans.contains(id));
    Ok(views)
}
