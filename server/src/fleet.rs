//! Health, metrics, usage and hosts.

use super::App;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{PairsOf, QueryOf};
use axum::Json;
use axum::extract::State as AxState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sandboxer_core::api::{self, Query, Verbs};
use sandboxer_core::exthost::metrics;
use sandboxer_core::lifecycle::State;
use sandboxer_core::operations;
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub async fn healthz(_who: Principal) -> Json<Value> {
    Json(json!({ "status": "ok", "version": sandboxer_core::VERSION }))
}

/// Fleet-wide figures: for admins only.
pub async fn metrics(
    AxState(app): AxState<Arc<App>>,
    who: Principal,
) -> ApiResult<impl IntoResponse> {
    app.caller(&who).require_admin("the fleet's metrics")?;
    let mut out = String::new();
    let counts = app
        .core
        .store()
        .count_by_state()
        .map_err(sandboxer_core::Error::from)?;
    out.push_str("# HELP sandboxer_sandboxes Sandboxes by lifecycle state.\n# TYPE sandboxer_sandboxes gauge\n");
    for state in State::ALL {
        let n = counts.get(&state).copied().unwrap_or(0);
        let _ = writeln!(out, "sandboxer_sandboxes{{state=\"{state}\"}} {n}");
    }
    let calls = metrics::snapshot();
    out.push_str("# HELP sandboxer_extension_calls_total Calls to extensions.\n# TYPE sandboxer_extension_calls_total counter\n");
    for ((ext, method), s) in &calls {
        let _ = writeln!(
            out,
            "sandboxer_extension_calls_total{{extension=\"{ext}\",method=\"{method}\"}} {}",
            s.calls
        );
    }
    out.push_str("# HELP sandboxer_extension_errors_total Calls to extensions that failed.\n# TYPE sandboxer_extension_errors_total counter\n");
    for ((ext, method), s) in &calls {
        let _ = writeln!(
            out,
            "sandboxer_extension_errors_total{{extension=\"{ext}\",method=\"{method}\"}} {}",
            s.errors
        );
    }
    out.push_str("# HELP sandboxer_extension_call_seconds Latency of calls to extensions.\n# TYPE sandboxer_extension_call_seconds histogram\n");
    for ((ext, method), s) in &calls {
        for (bound, count) in metrics::BUCKETS.iter().zip(s.buckets) {
            let _ = writeln!(
                out,
                "sandboxer_extension_call_seconds_bucket{{extension=\"{ext}\",method=\"{method}\",le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "sandboxer_extension_call_seconds_bucket{{extension=\"{ext}\",method=\"{method}\",le=\"+Inf\"}} {}",
            s.calls
        );
        let _ = writeln!(
            out,
            "sandboxer_extension_call_seconds_sum{{extension=\"{ext}\",method=\"{method}\"}} {}",
            s.sum_seconds
        );
        let _ = writeln!(
            out,
            "sandboxer_extension_call_seconds_count{{extension=\"{ext}\",method=\"{method}\"}} {}",
            s.calls
        );
    }
    let c = &app.counters;
    for (name, help, value) in [
        (
            "sandboxer_reaper_runs_total",
            "Passes of the TTL reaper.",
            &c.reaper_runs,
        ),
        (
            "sandboxer_reaper_reaped_total",
            "Expired sandboxes destroyed.",
            &c.reaped,
        ),
        (
            "sandboxer_reaper_failures_total",
            "Failed destroy attempts of the reaper.",
            &c.reap_failures,
        ),
        (
            "sandboxer_reconciler_runs_total",
            "Passes of the reconciler.",
            &c.reconcile_runs,
        ),
        (
            "sandboxer_reconciler_orphans_found_total",
            "Orphans reported.",
            &c.orphans_found,
        ),
        (
            "sandboxer_reconciler_orphans_reaped_total",
            "Orphans reaped.",
            &c.orphans_reaped,
        ),
        (
            "sandboxer_reconciler_vanished_total",
            "Records whose resources vanished.",
            &c.vanished,
        ),
        (
            "sandboxer_reconciler_stuck_failed_total",
            "Sandboxes stuck in a transition, marked failed.",
            &c.stuck_failed,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

/// The ledger: sandbox and snapshot time and cost, grouped, as JSON or CSV.
pub async fn usage(
    AxState(app): AxState<Arc<App>>,
    who: Principal,
    pairs: PairsOf,
) -> ApiResult<Response> {
    let query = api::UsageQuery::from_pairs(&pairs.0)?;
    let format = pairs.0.get("format").unwrap_or("json").to_string();
    if !matches!(format.as_str(), "json" | "csv") {
        return Err(ApiError::bad_request(format!(
            "format={format:?}: use json or csv"
        )));
    }
    let ledger = app.verbs(&who).usage(&query).await?;
    Ok(if format == "csv" {
        (
            [(
                header::CONTENT_TYPE,
                "text/csv; charset=utf-8; header=present",
            )],
            operations::to_csv(&ledger)?,
        )
            .into_response()
    } else {
        Json(ledger).into_response()
    })
}

/// Each host's health as last sampled (the daemon samples on a schedule, never
/// per call), with its record over a window. Fleet-wide: for admins only.
pub async fn hosts(
    AxState(app): AxState<Arc<App>>,
    who: Principal,
    QueryOf(query): QueryOf<api::HostsQuery>,
) -> ApiResult<Json<api::Hosts>> {
    Ok(Json(app.verbs(&who).hosts(&query).await?))
}
