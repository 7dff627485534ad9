//! robustness: ending the process by shutdown/exit, stdin EOF, SIGTERM.

use super::Scenario;
use crate::context::Ctx;
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "robustness",
    checks: &[
        "robustness.shutdown-exit",
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

    let started = Instant::now();
    match ctx.peer() {
        Ok(mut peer) => {
            peer.close_stdin();
            let outcome = match peer.wait_exit(two_s) {
                Some(_) => Ok(()),
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
