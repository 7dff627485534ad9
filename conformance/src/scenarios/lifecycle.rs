//! lifecycle (create → get → list → destroy) and idempotency.

use super::Scenario;
use crate::context::{Ctx, RUN_LABEL, expect_error};
use crate::peer::Peer;
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "lifecycle",
    checks: &[
        "lifecycle.create-result",
        "lifecycle.create-label-id",
        "lifecycle.labels-kept",
        "lifecycle.reaches-ready",
        "lifecycle.get-matches",
        "lifecycle.get-with-backend-ref",
        "lifecycle.in-list",
        "lifecycle.list-label-filter",
        "lifecycle.endpoints-well-formed",
        "lifecycle.destroy",
        "lifecycle.get-after-destroy",
        "lifecycle.gone-from-list",
    ],
    run,
};

pub const IDEMPOTENCY: Scenario = Scenario {
    name: "idempotency",
    checks: &[
        "idempotency.same-create",
        "idempotency.conflicting-create",
        "idempotency.destroy-twice",
        "idempotency.destroy-unknown",
        "idempotency.snapshot-same-name",
    ],
    run: run_idempotency,
};

const STATES: [&str; 4] = ["provisioning", "ready", "stopped", "failed"];

/// Creates a sandbox and waits until it is ready; returns the last report.
pub fn create_ready(ctx: &Ctx, peer: &mut Peer, params: Value) -> Result<Value, String> {
    let id = params["sandbox_id"].clone();
    let mut sandbox =
        match peer.request_within(methods::SandboxCreate::METHOD, params, ctx.create_timeout())? {
            a if a.get("result").is_some() => a["result"].clone(),
            a => return Err(format!("create failed: {a}")),
        };
    let deadline = Instant::now() + ctx.create_timeout();
    while sandbox["state"] == "provisioning" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        sandbox = peer.ok(methods::SandboxGet::METHOD, json!({"sandbox_id": id}))?;
    }
    Ok(sandbox)
}

fn sandbox_fields(s: &Value, id: &str) -> Result<(), String> {
    if s["sandbox_id"] != id {
        return Err(format!("sandbox_id is {}, not {id}", s["sandbox_id"]));
    }
    if !STATES.contains(&s["state"].as_str().unwrap_or("")) {
        return Err(format!("state {} is not one of {STATES:?}", s["state"]));
    }
    for (field, ok) in [
        ("backend_ref", s["backend_ref"].is_string()),
        ("labels", s["labels"].is_object()),
        ("endpoints", s["endpoints"].is_array()),
        ("details", s["details"].is_object()),
    ] {
        if !ok {
            return Err(format!("{field} missing or of the wrong type in {s}"));
        }
    }
    Ok(())
}

fn endpoints_ok(s: &Value) -> Result<(), String> {
    for e in s["endpoints"].as_array().into_iter().flatten() {
        let protocol = e["protocol"].as_str().unwrap_or("");
        let port = e["port"].as_u64().unwrap_or(0);
        let ok = e["name"].as_str().is_some_and(|n| !n.is_empty())
            && ["ssh", "http", "tcp"].contains(&protocol)
            && e["host"].as_str().is_some_and(|h| !h.is_empty())
            && (1..=65535).contains(&port)
            && (protocol != "http" || e["url"].as_str().is_some_and(|u| u.starts_with("http")));
        if !ok {
            return Err(format!(
                "expected an endpoint with a non-empty name, protocol ssh, http or tcp, a non-empty host, \
                 a port in 1..=65535 and, for http, a url starting with http: {e}"
            ));
        }
    }
    Ok(())
}

fn listed(peer: &mut Peer, labels: Value, id: &str) -> Result<Option<Value>, String> {
    let list = peer.ok(methods::SandboxList::METHOD, json!({ "labels": labels }))?;
    let sandboxes = list["sandboxes"]
        .as_array()
        .ok_or_else(|| format!("no sandboxes array: {list}"))?;
    Ok(sandboxes.iter().find(|s| s["sandbox_id"] == id).cloned())
}

fn run(ctx: &mut Ctx) {
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(SCENARIO.checks, None, &e),
    };
    let id = ctx.new_id();
    let params = ctx.create_params(&id, &[("conformance.kept", "yes")]);
    let started = Instant::now();
    let created =
        match peer.request_within(methods::SandboxCreate::METHOD, params, ctx.create_timeout()) {
            Ok(a) if a.get("result").is_some() => a["result"].clone(),
            Ok(a) => {
                return ctx.fail_all(SCENARIO.checks, Some(&peer), &format!("create failed: {a}"));
            }
            Err(e) => return ctx.fail_all(SCENARIO.checks, Some(&peer), &e),
        };
    ctx.record(
        "lifecycle.create-result",
        Some(&peer),
        started,
        sandbox_fields(&created, &id),
    );
    let label_id = if created["labels"]["sandboxer.id"] == id.as_str() {
        Ok(())
    } else {
        Err(format!(
            "labels lack sandboxer.id={id}: {}",
            created["labels"]
        ))
    };
    ctx.record("lifecycle.create-label-id", Some(&peer), started, label_id);
    let kept = if created["labels"]["conformance.kept"] == "yes"
        && created["labels"][RUN_LABEL] == ctx.prefix.as_str()
    {
        Ok(())
    } else {
        Err(format!(
            "labels given at create are missing: {}",
            created["labels"]
        ))
    };
    ctx.record("lifecycle.labels-kept", Some(&peer), started, kept);

    let started = Instant::now();
    let mut state = created["state"].clone();
    let deadline = Instant::now() + ctx.create_timeout();
    while state == "provisioning" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        state = peer
            .ok(methods::SandboxGet::METHOD, json!({"sandbox_id": id}))
            .map(|s| s["state"].clone())
            .unwrap_or(Value::Null);
    }
    let ready = if state == "ready" {
        Ok(())
    } else {
        Err(format!("state is {state}, not ready"))
    };
    ctx.record("lifecycle.reaches-ready", Some(&peer), started, ready);

    let started = Instant::now();
    let get = peer.ok(methods::SandboxGet::METHOD, json!({"sandbox_id": id}));
    let outcome = get.clone().and_then(|s| {
        sandbox_fields(&s, &id)?;
        if s["labels"]["sandboxer.id"] == id.as_str() && s["backend_ref"] == created["backend_ref"]
        {
            Ok(())
        } else {
            Err(format!("get answers another sandbox: {s}"))
        }
    });
    ctx.record("lifecycle.get-matches", Some(&peer), started, outcome);
    let started = Instant::now();
    let outcome = peer
        .ok(
            methods::SandboxGet::METHOD,
            json!({"sandbox_id": id, "backend_ref": created["backend_ref"]}),
        )
        .and_then(|s| {
            if s["sandbox_id"] == id.as_str() {
                Ok(())
            } else {
                Err(format!("{s}"))
            }
        });
    ctx.record(
        "lifecycle.get-with-backend-ref",
        Some(&peer),
        started,
        outcome,
    );
    let started = Instant::now();
    let outcome = get.and_then(|s| endpoints_ok(&s));
    ctx.record(
        "lifecycle.endpoints-well-formed",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let outcome = listed(&mut peer, json!(null), &id).and_then(|s| match s {
        Some(s) if s["labels"]["sandboxer.id"] == id.as_str() => Ok(()),
        Some(s) => Err(format!("listed without its sandboxer.id label: {s}")),
        None => Err(format!("{id} is not listed")),
    });
    ctx.record("lifecycle.in-list", Some(&peer), started, outcome);
    let started = Instant::now();
    let outcome = listed(&mut peer, json!({ RUN_LABEL: ctx.prefix }), &id).and_then(|s| {
        s.ok_or_else(|| "not listed with its own label as filter".to_string())?;
        match listed(&mut peer, json!({ RUN_LABEL: "another-run" }), &id)? {
            None => Ok(()),
            Some(_) => Err("listed with a label filter it does not match".into()),
        }
    });
    ctx.record("lifecycle.list-label-filter", Some(&peer), started, outcome);

    let started = Instant::now();
    let outcome = peer
        .ok(
            methods::SandboxDestroy::METHOD,
            json!({"sandbox_id": id, "backend_ref": created["backend_ref"]}),
        )
        .and_then(|r| {
            if r["destroyed"] == true {
                Ok(())
            } else {
                Err(format!("answered {r}"))
            }
        });
    ctx.record("lifecycle.destroy", Some(&peer), started, outcome);
    let started = Instant::now();
    let outcome = peer
        .request(methods::SandboxGet::METHOD, json!({"sandbox_id": id}))
        .and_then(|a| expect_error(&a, 1001));
    ctx.record("lifecycle.get-after-destroy", Some(&peer), started, outcome);
    let started = Instant::now();
    let outcome = listed(&mut peer, json!(null), &id).and_then(|s| {
        if s.is_none() {
            Ok(())
        } else {
            Err(format!("{id} is still listed"))
        }
    });
    ctx.record("lifecycle.gone-from-list", Some(&peer), started, outcome);
}

fn run_idempotency(ctx: &mut Ctx) {
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(IDEMPOTENCY.checks, None, &e),
    };
    let id = ctx.new_id();
    let params = ctx.create_params(&id, &[]);
    let started = Instant::now();
    let outcome = (|| {
        let first = create_ready(ctx, &mut peer, params.clone())?;
        for _ in 0..ctx.repeat {
            let again = peer.ok(methods::SandboxCreate::METHOD, params.clone())?;
            if again["sandbox_id"] != first["sandbox_id"]
                || again["backend_ref"] != first["backend_ref"]
            {
                return Err(format!(
                    "a repeated create answered another sandbox: {again}"
                ));
            }
        }
        let list = peer.ok(
            methods::SandboxList::METHOD,
            json!({"labels": {"sandboxer.id": id}}),
        )?;
        let count = list["sandboxes"].as_array().map_or(0, |a| a.len());
        if count == 1 {
            Ok(())
        } else {
            Err(format!("{count} sandboxes listed for {id}"))
        }
    })();
    ctx.record("idempotency.same-create", Some(&peer), started, outcome);

    let started = Instant::now();
    let mut other = params.clone();
    other["labels"]["conformance.other"] = json!("params");
    let outcome = peer
        .request_within(methods::SandboxCreate::METHOD, other, ctx.create_timeout())
        .and_then(|a| expect_error(&a, 1002));
    ctx.record(
        "idempotency.conflicting-create",
        Some(&peer),
        started,
        outcome,
    );

    if ctx.advertises(methods::SandboxSnapshot::METHOD) {
        let started = Instant::now();
        let outcome = (|| {
            let snap = json!({"sandbox_id": id, "snapshot_name": format!("{}-snap", ctx.prefix)});
            let a = peer.ok(methods::SandboxSnapshot::METHOD, snap.clone())?;
            let snapshot_id = a["snapshot_id"]
                .as_str()
                .ok_or("no snapshot_id")?
                .to_string();
            ctx.ledger.push(format!("snapshot:{snapshot_id}"));
            for _ in 0..ctx.repeat {
                let b = peer.ok(methods::SandboxSnapshot::METHOD, snap.clone())?;
                if b["snapshot_id"] != a["snapshot_id"] {
                    return Err(format!("the same name made another snapshot: {b}"));
                }
            }
            Ok(())
        })();
        ctx.record(
            "idempotency.snapshot-same-name",
            Some(&peer),
            started,
            outcome,
        );
    } else {
        ctx.skip(
            "idempotency.snapshot-same-name",
            "sandbox/snapshot is not advertised",
        );
    }

    let started = Instant::now();
    let outcome = (|| {
        for _ in 0..ctx.repeat.max(2) {
            let r = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}))?;
            if r["destroyed"] != true {
                return Err(format!("answered {r}"));
            }
        }
        Ok(())
    })();
    ctx.record("idempotency.destroy-twice", Some(&peer), started, outcome);
    let started = Instant::now();
    let unknown = format!("{}-never-created", ctx.prefix);
    let outcome = peer
        .ok(
            methods::SandboxDestroy::METHOD,
            json!({"sandbox_id": unknown}),
        )
        .and_then(|r| {
            if r["destroyed"] == true {
                Ok(())
            } else {
                Err(format!("answered {r}"))
            }
        });
    ctx.record("idempotency.destroy-unknown", Some(&peer), started, outcome);
}
