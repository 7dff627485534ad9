//! handshake: `initialize`, the version rule, capabilities.

use super::Scenario;
use crate::context::{Ctx, expect_error};
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::Instant;

pub const SCENARIO: Scenario = Scenario {
    name: "handshake",
    checks: &[
        "handshake.not-initialized",
        "handshake.result-fields",
        "handshake.version-1",
        "handshake.required-methods-listed",
        "handshake.unsupported-major",
        "handshake.supported-lists-1",
        "handshake.newer-minor-accepted",
        "handshake.unknown-features-ignored",
        "handshake.second-initialize",
        "handshake.listed-methods-exist",
        "handshake.unlisted-optional",
        "handshake.options-schema-shape",
    ],
    run,
};

fn init_params(ctx: &Ctx, version: &str, features: Value) -> Value {
    json!({"protocol_version": version, "host": {"name": "sandboxer-conformance", "version": "0"},
           "options": ctx.params.options, "features": features})
}

fn result_fields(result: &Value) -> Result<(), String> {
    let need = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what} missing or of the wrong type in {result}"))
        }
    };
    need(result["protocol_version"].is_string(), "protocol_version")?;
    need(result["extension"]["name"].is_string(), "extension.name")?;
    need(
        result["extension"]["version"].is_string(),
        "extension.version",
    )?;
    need(
        result["capabilities"]["methods"].is_array(),
        "capabilities.methods",
    )?;
    need(
        result["capabilities"]["features"].is_array()
            || result["capabilities"].get("features").is_none(),
        "capabilities.features",
    )?;
    need(
        result["options_schema"].is_object() || result.get("options_schema").is_none(),
        "options_schema",
    )
}

fn run(ctx: &mut Ctx) {
    // Before initialize.
    let started = Instant::now();
    match ctx.raw_peer() {
        Ok(mut peer) => {
            let outcome = peer
                .request(methods::SandboxList::METHOD, json!({}))
                .and_then(|a| expect_error(&a, -32002));
            ctx.record("handshake.not-initialized", Some(&peer), started, outcome);
        }
        Err(e) => ctx.fail("handshake.not-initialized", None, e),
    }

    // A normal handshake.
    let started = Instant::now();
    let mut peer = match ctx.raw_peer() {
        Ok(p) => p,
        Err(e) => {
            return ctx.fail_all(&SCENARIO.checks[1..], None, &e);
        }
    };
    let result = peer.ok(
        methods::Initialize::METHOD,
        init_params(ctx, "1.0", json!([])),
    );
    peer.notify(methods::Initialized::METHOD, json!({}));
    let result = match result {
        Ok(r) => r,
        Err(e) => return ctx.fail_all(&SCENARIO.checks[1..], Some(&peer), &e),
    };
    ctx.record(
        "handshake.result-fields",
        Some(&peer),
        started,
        result_fields(&result),
    );
    let version = result["protocol_version"].as_str().unwrap_or("");
    let v1 = match version.split_once('.') {
        Some(("1", minor)) if !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(())
        }
        _ => Err(format!("protocol_version {version:?} is not 1.MINOR")),
    };
    ctx.record("handshake.version-1", Some(&peer), started, v1);
    let listed: Vec<String> = result["capabilities"]["methods"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = methods::required()
        .filter(|m| !listed.iter().any(|l| l == m))
        .collect();
    let outcome = if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not listed: {missing:?}"))
    };
    ctx.record(
        "handshake.required-methods-listed",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let outcome = peer
        .request(
            methods::Initialize::METHOD,
            init_params(ctx, "1.0", json!([])),
        )
        .and_then(|a| expect_error(&a, -32600));
    ctx.record("handshake.second-initialize", Some(&peer), started, outcome);

    let started = Instant::now();
    let mut problems = vec![];
    for method in &listed {
        if matches!(
            method.as_str(),
            methods::Initialize::METHOD | methods::Shutdown::METHOD
        ) {
            continue;
        }
        // Empty params: any answer will do but "method not found".
        match peer.request(
            method,
            json!({"sandbox_id": format!("{}-probe", ctx.prefix)}),
        ) {
            Ok(a) if a["error"]["code"] == -32601 => {
                problems.push(format!("{method} answers -32601"))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{method}: {e}")),
        }
    }
    let outcome = if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    };
    ctx.record(
        "handshake.listed-methods-exist",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let mut problems = vec![];
    for method in methods::optional().filter(|m| !listed.iter().any(|l| l == m)) {
        match peer.request(
            method,
            json!({"sandbox_id": format!("{}-probe", ctx.prefix)}),
        ) {
            Ok(a) if a["error"]["code"] == -32601 => {}
            Ok(a) => problems.push(format!("{method} is not listed but answered {a}")),
            Err(e) => problems.push(format!("{method}: {e}")),
        }
    }
    let outcome = if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    };
    ctx.record("handshake.unlisted-optional", Some(&peer), started, outcome);

    let schema_ok = match result.get("options_schema") {
        None => Ok(()),
        Some(Value::Object(map)) => map
            .iter()
            .find(|(_, spec)| {
                !spec["description"].is_string()
                    || spec.get("required").is_some_and(|r| !r.is_boolean())
                    || spec.get("secret").is_some_and(|r| !r.is_boolean())
            })
            .map_or(Ok(()), |(name, spec)| Err(format!("option {name}: {spec}"))),
        Some(other) => Err(format!("options_schema is {other}")),
    };
    ctx.record(
        "handshake.options-schema-shape",
        Some(&peer),
        started,
        schema_ok,
    );
    drop(peer);

    // Versions.
    let started = Instant::now();
    match ctx.raw_peer() {
        Ok(mut peer) => {
            let answer = peer.request(
                methods::Initialize::METHOD,
                init_params(ctx, "2.0", json!([])),
            );
            let outcome = answer.clone().and_then(|a| {
                expect_error(&a, -32602)?;
                match a["error"]["data"]["supported"].as_array() {
                    Some(list) if !list.is_empty() => Ok(()),
                    _ => Err(format!("data.supported missing: {a}")),
                }
            });
            ctx.record("handshake.unsupported-major", Some(&peer), started, outcome);
            let lists_1 = answer.and_then(|a| {
                let list = a["error"]["data"]["supported"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if list
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s.starts_with("1.")))
                {
                    Ok(())
                } else {
                    Err(format!("data.supported names no 1.x: {a}"))
                }
            });
            ctx.record("handshake.supported-lists-1", Some(&peer), started, lists_1);
        }
        Err(e) => ctx.fail_all(
            &["handshake.unsupported-major", "handshake.supported-lists-1"],
            None,
            &e,
        ),
    }
    for (id, version, features) in [
        ("handshake.newer-minor-accepted", "1.9", json!([])),
        (
            "handshake.unknown-features-ignored",
            "1.0",
            json!(["x-conformance-unknown-feature"]),
        ),
    ] {
        let started = Instant::now();
        match ctx.raw_peer() {
            Ok(mut peer) => {
                let outcome = peer
                    .ok(
                        methods::Initialize::METHOD,
                        init_params(ctx, version, features),
                    )
                    .map(|_| ());
                ctx.record(id, Some(&peer), started, outcome);
            }
            Err(e) => ctx.fail(id, None, e),
        }
    }
}
