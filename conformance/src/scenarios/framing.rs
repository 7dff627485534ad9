//! framing: lines, ids, malformed input, unknown methods and notifications.

use super::Scenario;
use crate::context::{Ctx, expect_error};
use sandboxer_ext_protocol::framing::MAX_LINE_BYTES;
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "framing",
    checks: &[
        "framing.stdout-is-json-rpc",
        "framing.number-id-echoed",
        "framing.string-id-echoed",
        "framing.negative-id-echoed",
        "framing.malformed-json",
        "framing.alive-after-malformed",
        "framing.invalid-request",
        "framing.wrong-jsonrpc-version",
        "framing.batch-refused",
        "framing.unknown-method",
        "framing.bad-params",
        "framing.large-payload",
        "framing.oversized-line",
        "framing.unknown-notification-ignored",
    ],
    run,
};

/// Sends a raw line and returns the next message.
fn raw_exchange(
    peer: &mut crate::peer::Peer,
    line: &str,
    timeout: Duration,
) -> Result<Value, String> {
    peer.send_line(line);
    peer.recv(timeout)
}

fn run(ctx: &mut Ctx) {
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(SCENARIO.checks, None, &e),
    };
    let t = ctx.timeout(Duration::from_secs(30));

    for (id, request_id) in [
        ("framing.number-id-echoed", json!(7)),
        ("framing.string-id-echoed", json!("conformance-é-\"id\"")),
        ("framing.negative-id-echoed", json!(-12)),
    ] {
        let started = Instant::now();
        let outcome = peer
            .request_with_id(request_id.clone(), methods::SandboxList::METHOD, json!({}))
            .map(|_| ());
        ctx.record(id, Some(&peer), started, outcome);
    }

    let started = Instant::now();
    let outcome = raw_exchange(
        &mut peer,
        "{\"jsonrpc\": \"2.0\", \"id\": 40, \"method\": ",
        t,
    )
    .and_then(|a| {
        expect_error(&a, -32700)?;
        if a.get("id") == Some(&Value::Null) {
            Ok(())
        } else {
            Err(format!("the id must be null: {a}"))
        }
    });
    ctx.record("framing.malformed-json", Some(&peer), started, outcome);
    let started = Instant::now();
    let outcome = peer.ok(methods::SandboxList::METHOD, json!({})).map(|_| ());
    ctx.record(
        "framing.alive-after-malformed",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let outcome = raw_exchange(&mut peer, r#"{"jsonrpc":"2.0","id":41,"method":7}"#, t)
        .and_then(|a| expect_error(&a, -32600));
    ctx.record("framing.invalid-request", Some(&peer), started, outcome);
    let started = Instant::now();
    let outcome = raw_exchange(
        &mut peer,
        &format!(
            r#"{{"jsonrpc":"1.0","id":42,"method":"{}","params":{{}}}}"#,
            methods::SandboxList::METHOD
        ),
        t,
    )
    .and_then(|a| expect_error(&a, -32600));
    ctx.record(
        "framing.wrong-jsonrpc-version",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let outcome = raw_exchange(
        &mut peer,
        &format!(
            r#"[{{"jsonrpc":"2.0","id":43,"method":"{}","params":{{}}}}]"#,
            methods::SandboxList::METHOD
        ),
        t,
    )
    .and_then(|a| {
        if a.get("error").is_some() {
            Ok(())
        } else {
            Err(format!("a batch was answered with {a}"))
        }
    })
    .and_then(|_| peer.ok(methods::SandboxList::METHOD, json!({})).map(|_| ()));
    ctx.record("framing.batch-refused", Some(&peer), started, outcome);

    let started = Instant::now();
    let outcome = peer
        .request("conformance/no-such-method", json!({}))
        .and_then(|a| expect_error(&a, -32601));
    ctx.record("framing.unknown-method", Some(&peer), started, outcome);
    let started = Instant::now();
    let outcome = peer
        .request(
            methods::SandboxList::METHOD,
            json!({"labels": "not a mapping"}),
        )
        .and_then(|a| expect_error(&a, -32602));
    ctx.record("framing.bad-params", Some(&peer), started, outcome);

    let started = Instant::now();
    let big = "x".repeat(1 << 20);
    let outcome = peer
        .ok(
            methods::SandboxList::METHOD,
            json!({"labels": {"conformance.big": big}}),
        )
        .and_then(|r| {
            if r["sandboxes"].is_array() {
                Ok(())
            } else {
                Err(format!("no sandboxes array: {r}"))
            }
        });
    ctx.record("framing.large-payload", Some(&peer), started, outcome);

    // A request whose line is over the limit: refused unread, so with id null.
    let started = Instant::now();
    let over = "x".repeat(MAX_LINE_BYTES + 1024);
    let line = json!({
        "jsonrpc": "2.0",
        "id": 44,
        "method": methods::SandboxList::METHOD,
        "params": {"labels": {"conformance.big": over}},
    })
    .to_string();
    let outcome = raw_exchange(&mut peer, &line, t)
        .and_then(|a| {
            expect_error(&a, -32600)?;
            if a.get("id") == Some(&Value::Null) {
                Ok(())
            } else {
                Err(format!(
                    "a line over {MAX_LINE_BYTES} bytes cannot be read, so its answer's id must be null: {a}"
                ))
            }
        })
        .and_then(|_| {
            peer.ok(methods::SandboxList::METHOD, json!({}))
                .map(|_| ())
                .map_err(|e| format!("after an oversized line, a request was not answered: {e}"))
        });
    ctx.record("framing.oversized-line", Some(&peer), started, outcome);

    let started = Instant::now();
    peer.notify("$/conformance-unknown", json!({"x": 1}));
    let outcome = peer.ok(methods::SandboxList::METHOD, json!({})).map(|_| ());
    ctx.record(
        "framing.unknown-notification-ignored",
        Some(&peer),
        started,
        outcome,
    );

    // Everything the extension printed on stdout in this session.
    let started = Instant::now();
    let bad: Vec<&String> = peer
        .stdout_lines
        .iter()
        .filter(|l| {
            !serde_json::from_str::<Value>(l)
                .map(|v| v.is_object() && v["jsonrpc"] == "2.0")
                .unwrap_or(false)
        })
        .collect();
    let outcome = if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("lines that are not JSON-RPC 2.0: {bad:?}"))
    };
    ctx.record("framing.stdout-is-json-rpc", Some(&peer), started, outcome);
}
