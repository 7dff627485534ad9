//! notifications: progress, logs, cancellation.

use super::Scenario;
use crate::context::Ctx;
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "notifications",
    checks: &[
        "notifications.progress-only-with-token",
        "notifications.progress-monotonic",
        "notifications.no-progress-after-response",
        "notifications.log-levels",
        "notifications.cancel-unknown-ignored",
        "notifications.cancel-long-call",
    ],
    run,
};

fn progress(n: &[Value]) -> Vec<&Value> {
    n.iter()
        .filter(|m| m["method"] == methods::Progress::METHOD)
        .collect()
}

fn run(ctx: &mut Ctx) {
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(SCENARIO.checks, None, &e),
    };

    // Without a token.
    let started = Instant::now();
    let id = ctx.new_id();
    let answer = peer.request_within(
        methods::SandboxCreate::METHOD,
        ctx.create_params(&id, &[]),
        ctx.create_timeout(),
    );
    let seen = peer.drain_notifications();
    let outcome = answer.and_then(|a| {
        if a.get("result").is_none() {
            return Err(format!("create failed: {a}"));
        }
        match progress(&seen).first() {
            Some(p) => Err(format!("progress without a token: {p}")),
            None => Ok(()),
        }
    });
    ctx.record(
        "notifications.progress-only-with-token",
        Some(&peer),
        started,
        outcome,
    );
    let _ = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}));

    // With a token.
    let started = Instant::now();
    let id = ctx.new_id();
    let token = json!(format!("{}-token", ctx.prefix));
    let mut params = ctx.create_params(&id, &[]);
    params["progress_token"] = token.clone();
    let answer = peer.request_within(methods::SandboxCreate::METHOD, params, ctx.create_timeout());
    let during = peer.drain_notifications();
    let after = peer.collect_for(ctx.timeout(Duration::from_millis(300)));
    let outcome = answer.as_ref().map_err(Clone::clone).and_then(|a| {
        if a.get("result").is_none() {
            return Err(format!("create failed: {a}"));
        }
        let mut last = 0u64;
        for p in progress(&during) {
            if p["params"]["token"] != token {
                return Err(format!("progress for another token: {p}"));
            }
            if let Some(percent) = p["params"]["percent"].as_u64() {
                if percent < last || percent > 100 {
                    return Err(format!("percent went from {last} to {percent}"));
                }
                last = percent;
            }
        }
        Ok(())
    });
    ctx.record(
        "notifications.progress-monotonic",
        Some(&peer),
        started,
        outcome,
    );
    let outcome = match progress(&after).first() {
        Some(p) => Err(format!("progress after the response: {p}")),
        None => Ok(()),
    };
    ctx.record(
        "notifications.no-progress-after-response",
        Some(&peer),
        started,
        outcome,
    );
    let _ = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}));

    // Cancel of an unknown id.
    let started = Instant::now();
    peer.notify(methods::CancelRequest::METHOD, json!({"id": 987_654_321}));
    let outcome = peer
        .ok(methods::SandboxList::METHOD, json!({}))
        .and_then(|_| {
            let stray = peer.collect_for(Duration::from_millis(100));
            match stray.iter().find(|m| m.get("id").is_some()) {
                Some(m) => Err(format!("an answer nobody asked for: {m}")),
                None => Ok(()),
            }
        });
    ctx.record(
        "notifications.cancel-unknown-ignored",
        Some(&peer),
        started,
        outcome,
    );

    // Cancel of a create in flight.
    let started = Instant::now();
    let id = ctx.new_id();
    let request_id = json!(format!("{}-cancel-me", ctx.prefix));
    peer.send(
        &json!({"jsonrpc": "2.0", "id": request_id, "method": methods::SandboxCreate::METHOD,
                      "params": ctx.create_params(&id, &[])}),
    );
    peer.notify(methods::CancelRequest::METHOD, json!({"id": request_id}));
    let grace = ctx.timeout(Duration::from_secs(2));
    let deadline = Instant::now() + grace + Duration::from_millis(500);
    let mut outcome = Err(format!(
        "no answer within the grace period of {}s",
        grace.as_secs_f64()
    ));
    while Instant::now() < deadline {
        match peer.recv(deadline.saturating_duration_since(Instant::now())) {
            Ok(m) if m.get("id") == Some(&request_id) => {
                outcome = if m["error"]["code"] == -32800 || m.get("result").is_some() {
                    Ok(())
                } else {
                    Err(format!("answered neither -32800 nor a result: {m}"))
                };
                break;
            }
            Ok(_) => {}
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    ctx.record(
        "notifications.cancel-long-call",
        Some(&peer),
        started,
        outcome,
    );

    // Every $/log this session saw.
    let started = Instant::now();
    let _ = peer.collect_for(Duration::from_millis(50));
    let bad = peer
        .notifications
        .iter()
        .filter(|m| m["method"] == methods::Log::METHOD)
        .find(|m| {
            !["debug", "info", "warning", "error"]
                .contains(&m["params"]["level"].as_str().unwrap_or(""))
                || !m["params"]["message"].is_string()
        })
        .cloned();
    let outcome = match bad {
        Some(m) => Err(format!(
            "expected $/log params with a level of debug, info, warning or error and a string message: {m}"
        )),
        None => Ok(()),
    };
    ctx.record("notifications.log-levels", Some(&peer), started, outcome);
}
