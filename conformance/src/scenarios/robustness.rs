//! robustness: ending the process by shutdown/exit (also with a call in flight),
//! stdin EOF, SIGTERM.

use super::Scenario;
use crate::context::Ctx;
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "robustness",
    checks: &[
        "robustness.shutdown-exit",
        "robustness.shutdown-during-call",
        "robustness.request-after-shutdown",
        "robustness.stdin-close-exit",
        "robustness.sigterm",
    ],
    run,
};

fn run(ctx: &mut Ctx) {
    let two_s = ctx.timeout(Duration::from_secs(2));

    let started = Instant::now();
    match ctx.peer() {
        Ok(mut peer) => {
            let deadline = ctx.timeout(Duration::from_secs(10));
            let outcome = peer
                .request_within(methods::Shutdown::METHOD, json!({}), deadline)
                .and_then(|a| {
                    if a.get("result") != Some(&Value::Null) {
                        return Err(format!("shutdown answered {a}"));
                    }
                    peer.notify(methods::Exit::METHOD, json!({}));
                    match peer.wait_exit(two_s) {
                        Some(s) if s.success() => Ok(()),
                        Some(s) => Err(format!("exited with {s}")),
                        None => Err("still running 2 s after exit".into()),
                    }
                });
            ctx.record("robustness.shutdown-exit", Some(&peer), started, outcome);
        }
        Err(e) => ctx.fail("robustness.shutdown-exit", None, e),
    }

    shutdown_during_call(ctx);

    let started = Instant::now();
    match ctx.peer() {
        Ok(mut peer) => {
            peer.close_stdin();
            let outcome = match peer.wait_exit(two_s) {
                Some(s) if s.success() => Ok(()),
                Some(s) => Err(format!(
                    "expected exit status 0 after stdin closed, got {s}"
                )),
                None => Err("still running 2 s after stdin closed".into()),
            };
            ctx.record("robustness.stdin-close-exit", Some(&peer), started, outcome);
        }
        Err(e) => ctx.fail("robustness.stdin-close-exit", None, e),
    }

    let started = Instant::now();
    match ctx.peer() {
        Ok(mut peer) => {
            peer.sigterm();
            let outcome = match peer.wait_exit(two_s) {
                Some(_) => Ok(()),
                None => Err("still running 2 s after SIGTERM".into()),
            };
            ctx.record("robustness.sigterm", Some(&peer), started, outcome);
        }
        Err(e) => ctx.fail("robustness.sigterm", None, e),
    }
}

/// A create in flight, then `shutdown`, then a request: the create is answered
/// (a result or an error, never silence), shutdown's null comes after it, the
/// late request is refused with -32600, and `exit` ends the process with 0.
fn shutdown_during_call(ctx: &mut Ctx) {
    const IDS: [&str; 2] = [
        "robustness.shutdown-during-call",
        "robustness.request-after-shutdown",
    ];
    let started = Instant::now();
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(&IDS, None, &e),
    };
    let sandbox = ctx.new_id();
    let (call, shutdown, late) = (json!(900_001), json!(900_002), json!(900_003));
    let request = |id: &Value, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    peer.send(&request(
        &call,
        methods::SandboxCreate::METHOD,
        ctx.create_params(&sandbox, &[]),
    ));
    peer.send(&request(&shutdown, methods::Shutdown::METHOD, json!({})));
    peer.send(&request(&late, methods::SandboxList::METHOD, json!({})));

    // Answers in the order they arrive, until all three are in: the create's
    // within a create's deadline, the others within 10 s of it.
    let mut deadline = Instant::now() + ctx.create_timeout();
    let after_call = ctx.timeout(Duration::from_secs(10));
    let mut order: Vec<Value> = Vec::new();
    let mut answers = std::collections::HashMap::new();
    let mut failure = None;
    while answers.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        match peer.recv(left) {
            Ok(msg) => {
                let Some(id) = msg
                    .get("id")
                    .filter(|id| [&call, &shutdown, &late].contains(id))
                else {
                    continue; // A notification of the create.
                };
                if id == &call {
                    deadline = deadline.min(Instant::now() + after_call);
                }
                order.push(id.clone());
                answers.insert(id.to_string(), msg.clone());
            }
            Err(e) => {
                failure = Some(format!(
                    "expected answers to the create (id {call}), shutdown (id {shutdown}) and \
                     the request after it (id {late}); got {} of them, then: {e}",
                    answers.len()
                ));
                break;
            }
        }
    }
    let answer = |id: &Value| answers.get(&id.to_string()).cloned().unwrap_or(Value::Null);

    let in_flight = match &failure {
        Some(e) => Err(e.clone()),
        None => {
            let call_answer = answer(&call);
            let position = |id: &Value| order.iter().position(|x| x == id);
            if call_answer.get("result").is_none() && call_answer.get("error").is_none() {
                Err(format!(
                    "the create in flight got no result or error: {call_answer}"
                ))
            } else if answer(&shutdown).get("result") != Some(&Value::Null) {
                Err(format!(
                    "expected shutdown to answer null, got {}",
                    answer(&shutdown)
                ))
            } else if position(&shutdown) < position(&call) {
                Err(format!(
                    "shutdown (id {shutdown}) was answered before the create in flight (id {call}); \
                     shutdown must wait for calls in flight"
                ))
            } else {
                peer.notify(methods::Exit::METHOD, json!({}));
                match peer.wait_exit(ctx.timeout(Duration::from_secs(2))) {
                    Some(s) if s.success() => Ok(()),
                    Some(s) => Err(format!("expected exit status 0 after exit, got {s}")),
                    None => Err("still running 2 s after exit".into()),
                }
            }
        }
    };
    let after = match &failure {
        Some(e) => Err(e.clone()),
        None => {
            let a = answer(&late);
            crate::context::expect_error(&a, -32600).and_then(|_| {
                if a.get("id") == Some(&late) {
                    Ok(())
                } else {
                    Err(format!(
                        "the -32600 must carry the request's id {late}: {a}"
                    ))
                }
            })
        }
    };
    ctx.record(IDS[0], Some(&peer), started, in_flight);
    ctx.record(IDS[1], Some(&peer), started, after);
}
