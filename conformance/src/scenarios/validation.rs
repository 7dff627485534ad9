//! validation: bad ids and specs, unknown ids, the shape of domain errors.

use super::Scenario;
use crate::context::{Ctx, expect_error, expect_invalid_field};
use sandboxer_ext_protocol::ErrorKind;
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::Instant;

pub const SCENARIO: Scenario = Scenario {
    name: "validation",
    checks: &[
        "validation.missing-sandbox-id",
        "validation.malformed-sandbox-id",
        "validation.bad-spec",
        "validation.bad-expires-at",
        "validation.missing-expires-at",
        "validation.extend-bad-time",
        "validation.unknown-id-get",
        "validation.unknown-id-exec",
        "validation.unknown-id-extend",
        "validation.error-data",
    ],
    run,
};

/// Whether a domain error's data matches the contract's table.
fn data_ok(answer: &Value) -> Result<(), String> {
    let code = answer["error"]["code"].as_i64().unwrap_or(0);
    let Some(kind) = ErrorKind::from_code(code) else {
        return Ok(()); // Not a domain error.
    };
    let data = &answer["error"]["data"];
    if data["kind"] != kind.as_str() {
        return Err(format!("error {code} must have data.kind {kind}: {answer}"));
    }
    if data["retryable"] != kind.retryable() {
        return Err(format!(
            "error {code} must have data.retryable {}: {answer}",
            kind.retryable()
        ));
    }
    Ok(())
}

fn run(ctx: &mut Ctx) {
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(SCENARIO.checks, None, &e),
    };
    let mut errors: Vec<Value> = vec![];
    let mut note = |a: &Result<Value, String>| {
        if let Ok(a) = a
            && a.get("error").is_some()
        {
            errors.push(a.clone());
        }
    };

    let started = Instant::now();
    let mut params = ctx.create_params("unused", &[]);
    params.as_object_mut().unwrap().remove("sandbox_id");
    let answer = peer.request(methods::SandboxCreate::METHOD, params);
    note(&answer);
    let outcome = answer.and_then(|a| expect_invalid_field(&a, "sandbox_id"));
    ctx.record(
        "validation.missing-sandbox-id",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let params = ctx.create_params("Not_A-Valid id!", &[]);
    let answer = peer.request(methods::SandboxCreate::METHOD, params);
    note(&answer);
    let outcome = answer.and_then(|a| expect_invalid_field(&a, "sandbox_id"));
    ctx.record(
        "validation.malformed-sandbox-id",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let id = ctx.new_id();
    let mut params = ctx.create_params(&id, &[]);
    params["profile"]["spec"] = ctx.params.bad_spec.clone();
    let answer = peer.request_within(methods::SandboxCreate::METHOD, params, ctx.create_timeout());
    note(&answer);
    let outcome = answer.and_then(|a| expect_error(&a, 1003));
    ctx.record("validation.bad-spec", Some(&peer), started, outcome);

    let started = Instant::now();
    let id = ctx.new_id();
    let mut params = ctx.create_params(&id, &[]);
    params["expires_at"] = json!("sometime tomorrow");
    let answer = peer.request_within(methods::SandboxCreate::METHOD, params, ctx.create_timeout());
    note(&answer);
    let outcome = answer.and_then(|a| expect_invalid_field(&a, "expires_at"));
    ctx.record("validation.bad-expires-at", Some(&peer), started, outcome);

    let started = Instant::now();
    let id = ctx.new_id();
    let mut params = ctx.create_params(&id, &[]);
    params.as_object_mut().unwrap().remove("expires_at");
    let answer = peer.request_within(methods::SandboxCreate::METHOD, params, ctx.create_timeout());
    note(&answer);
    let outcome = answer.and_then(|a| expect_invalid_field(&a, "expires_at"));
    ctx.record(
        "validation.missing-expires-at",
        Some(&peer),
        started,
        outcome,
    );

    if ctx.advertises(methods::SandboxExtendTtl::METHOD) {
        let started = Instant::now();
        let answer = peer.request(
            methods::SandboxExtendTtl::METHOD,
            json!({"sandbox_id": format!("{}-unknown", ctx.prefix), "expires_at": "next week"}),
        );
        note(&answer);
        let outcome = answer.and_then(|a| expect_invalid_field(&a, "expires_at"));
        ctx.record("validation.extend-bad-time", Some(&peer), started, outcome);
    } else {
        ctx.skip(
            "validation.extend-bad-time",
            "sandbox/extend_ttl is not advertised",
        );
    }

    let unknown = format!("{}-unknown", ctx.prefix);
    let mut unknown_call = |ctx: &mut Ctx, check: &str, method: &str, params: Value| {
        let started = Instant::now();
        let answer = peer.request(method, params);
        note(&answer);
        let outcome = answer.and_then(|a| expect_error(&a, 1001));
        ctx.record(check, Some(&peer), started, outcome);
    };
    unknown_call(
        ctx,
        "validation.unknown-id-get",
        methods::SandboxGet::METHOD,
        json!({"sandbox_id": unknown}),
    );
    if ctx.advertises(methods::SandboxExec::METHOD) {
        let argv = ctx.params.exec_echo.clone();
        unknown_call(
            ctx,
            "validation.unknown-id-exec",
            methods::SandboxExec::METHOD,
            json!({"sandbox_id": unknown, "argv": argv}),
        );
    } else {
        ctx.skip(
            "validation.unknown-id-exec",
            "sandbox/exec is not advertised",
        );
    }
    if ctx.advertises(methods::SandboxExtendTtl::METHOD) {
        let until = crate::context::rfc3339_in(std::time::Duration::from_secs(7200));
        unknown_call(
            ctx,
            "validation.unknown-id-extend",
            methods::SandboxExtendTtl::METHOD,
            json!({"sandbox_id": unknown, "expires_at": until}),
        );
    } else {
        ctx.skip(
            "validation.unknown-id-extend",
            "sandbox/extend_ttl is not advertised",
        );
    }

    let started = Instant::now();
    let outcome = errors.iter().try_for_each(data_ok);
    let outcome = outcome.and_then(|_| {
        if errors.is_empty() {
            Err("no domain error was seen to check".to_string())
        } else {
            Ok(())
        }
    });
    ctx.record("validation.error-data", Some(&peer), started, outcome);
}
