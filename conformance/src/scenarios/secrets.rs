//! secrets: a secret given at create appears nowhere afterwards.

use super::Scenario;
use super::lifecycle::create_ready;
use crate::context::Ctx;
use sandboxer_ext_protocol::methods;
use serde_json::json;
use std::time::Instant;

pub const SCENARIO: Scenario = Scenario {
    name: "secrets",
    checks: &[
        "secrets.not-on-stdout",
        "secrets.not-in-stderr",
        "secrets.not-in-labels",
        "secrets.not-in-later-responses",
    ],
    run,
};

fn run(ctx: &mut Ctx) {
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(SCENARIO.checks, None, &e),
    };
    let secret = format!("cfsecret{}Qz7", ctx.prefix.replace('-', ""));
    let id = ctx.new_id();
    let mut params = ctx.create_params(&id, &[]);
    params["secrets"] = json!({ "CONFORMANCE_SECRET": secret });
    let started = Instant::now();
    let created = match create_ready(ctx, &mut peer, params) {
        Ok(s) => s,
        Err(e) => {
            return ctx.fail_all(
                SCENARIO.checks,
                Some(&peer),
                &format!("create with a secret failed: {e}"),
            );
        }
    };
    let stdout_during_create = peer.stdout_lines.len();
    let get = peer.ok(methods::SandboxGet::METHOD, json!({"sandbox_id": id}));
    let list = peer.ok(methods::SandboxList::METHOD, json!({}));
    let destroy = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}));

    let labels = format!(
        "{}{}",
        created["labels"],
        get.as_ref()
            .map(|g| g["labels"].to_string())
            .unwrap_or_default()
    );
    let outcome = if labels.contains(&secret) {
        Err("the secret is in the labels".into())
    } else {
        Ok(())
    };
    ctx.record("secrets.not-in-labels", Some(&peer), started, outcome);

    let later: String = [get, list, destroy]
        .into_iter()
        .map(|r| r.map(|v| v.to_string()).unwrap_or_else(|e| e))
        .collect();
    let outcome = if later.contains(&secret) {
        Err("the secret is in a later answer".into())
    } else {
        Ok(())
    };
    ctx.record(
        "secrets.not-in-later-responses",
        Some(&peer),
        started,
        outcome,
    );

    // Give stderr a moment, then look at everything the extension ever printed.
    let _ = peer.collect_for(std::time::Duration::from_millis(100));
    let leaked: Vec<usize> = peer
        .stdout_lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(&secret))
        .map(|(i, _)| i)
        .collect();
    let outcome = if leaked.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the secret is on stdout (line(s) {leaked:?}; {stdout_during_create} lines by the end of create)"
        ))
    };
    ctx.record("secrets.not-on-stdout", Some(&peer), started, outcome);
    let outcome = if peer.stderr_text().contains(&secret) {
        Err("the secret is on stderr".into())
    } else {
        Ok(())
    };
    ctx.record("secrets.not-in-stderr", Some(&peer), started, outcome);
}
