//! concurrency: parallel and pipelined requests, races on one id.

use super::Scenario;
use crate::context::{Ctx, expect_error};
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "concurrency",
    checks: &[
        "concurrency.parallel-creates",
        "concurrency.pipelined-ids",
        "concurrency.racing-creates-one-id",
        "concurrency.racing-destroys",
    ],
    run,
};

/// Sends every request at once and collects the answers by request id.
fn pipelined(
    peer: &mut crate::peer::Peer,
    requests: Vec<(Value, &str, Value)>,
    timeout: Duration,
) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let expected = requests.len();
    for (id, method, params) in &requests {
        peer.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    }
    let mut answers: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let deadline = Instant::now() + timeout;
    let mut got = 0;
    while got < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{got} of {expected} answers within {}s",
                timeout.as_secs()
            ));
        }
        let msg = peer.recv(left)?;
        if let Some(id) = msg.get("id") {
            answers.entry(id.to_string()).or_default().push(msg);
            got += 1;
        }
    }
    // Anything more would be a second answer to one of them.
    for extra in peer.collect_for(Duration::from_millis(100)) {
        if let Some(id) = extra.get("id") {
            answers.entry(id.to_string()).or_default().push(extra);
        }
    }
    Ok(answers)
}

fn run(ctx: &mut Ctx) {
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(SCENARIO.checks, None, &e),
    };

    let started = Instant::now();
    let ids: Vec<String> = (0..ctx.parallel.max(2)).map(|_| ctx.new_id()).collect();
    let requests = ids
        .iter()
        .map(|id| {
            (
                json!(format!("create-{id}")),
                methods::SandboxCreate::METHOD,
                ctx.create_params(id, &[]),
            )
        })
        .collect();
    let outcome = pipelined(&mut peer, requests, ctx.create_timeout()).and_then(|answers| {
        for id in &ids {
            let key = json!(format!("create-{id}")).to_string();
            match answers.get(&key).map(Vec::as_slice) {
                Some([a]) if a["result"]["sandbox_id"] == id.as_str() => {}
                other => return Err(format!("create of {id} answered {other:?}")),
            }
        }
        Ok(())
    });
    ctx.record(
        "concurrency.parallel-creates",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let unknown = format!("{}-unknown", ctx.prefix);
    let requests = vec![
        (json!("p-1"), methods::SandboxList::METHOD, json!({})),
        (
            json!("p-2"),
            methods::SandboxGet::METHOD,
            json!({"sandbox_id": unknown}),
        ),
        (json!(3003), methods::SandboxList::METHOD, json!({})),
        (json!("p-4"), "conformance/unknown", json!({})),
    ];
    let outcome =
        pipelined(&mut peer, requests, ctx.timeout(Duration::from_secs(60))).and_then(|answers| {
            for (key, want) in [
                ("\"p-1\"", "result"),
                ("\"p-2\"", "error"),
                ("3003", "result"),
                ("\"p-4\"", "error"),
            ] {
                match answers.get(key).map(Vec::as_slice) {
                    Some([a]) if a.get(want).is_some() => {}
                    other => return Err(format!("request {key} answered {other:?}")),
                }
            }
            if answers.len() == 4 {
                Ok(())
            } else {
                Err(format!("answers for unexpected ids: {answers:?}"))
            }
        });
    ctx.record("concurrency.pipelined-ids", Some(&peer), started, outcome);

    let started = Instant::now();
    let id = ctx.new_id();
    let params = ctx.create_params(&id, &[]);
    let requests = vec![
        (
            json!("race-a"),
            methods::SandboxCreate::METHOD,
            params.clone(),
        ),
        (json!("race-b"), methods::SandboxCreate::METHOD, params),
    ];
    let outcome = pipelined(&mut peer, requests, ctx.create_timeout()).and_then(|answers| {
        let results: Vec<&Value> = answers
            .values()
            .flatten()
            .filter_map(|a| a.get("result"))
            .collect();
        if results.is_empty() {
            return Err(format!("neither create succeeded: {answers:?}"));
        }
        if results
            .windows(2)
            .any(|w| w[0]["backend_ref"] != w[1]["backend_ref"])
        {
            return Err(format!("two different sandboxes for one id: {results:?}"));
        }
        let list = peer.ok(
            methods::SandboxList::METHOD,
            json!({"labels": {"sandboxer.id": id}}),
        )?;
        let count = list["sandboxes"].as_array().map_or(0, Vec::len);
        if count == 1 {
            Ok(())
        } else {
            Err(format!("{count} sandboxes listed for {id}"))
        }
    });
    ctx.record(
        "concurrency.racing-creates-one-id",
        Some(&peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let requests = vec![
        (
            json!("destroy-a"),
            methods::SandboxDestroy::METHOD,
            json!({"sandbox_id": id}),
        ),
        (
            json!("destroy-b"),
            methods::SandboxDestroy::METHOD,
            json!({"sandbox_id": id}),
        ),
    ];
    let outcome = pipelined(&mut peer, requests, ctx.create_timeout()).and_then(|answers| {
        for a in answers.values().flatten() {
            if a["result"]["destroyed"] != true {
                return Err(format!("a racing destroy answered {a}"));
            }
        }
        peer.request(methods::SandboxGet::METHOD, json!({"sandbox_id": id}))
            .and_then(|a| expect_error(&a, 1001))
    });
    ctx.record("concurrency.racing-destroys", Some(&peer), started, outcome);

    for id in &ids {
        let _ = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}));
    }
}
