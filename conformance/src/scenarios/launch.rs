//! launch: how the process starts and stops before any handshake.

use super::Scenario;
use crate::context::Ctx;
use crate::peer::Peer;
use sandboxer_ext_protocol::methods;
use serde_json::json;
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "launch",
    checks: &[
        "launch.refuses-without-stdio",
        "launch.hint-without-stdio",
        "launch.silent-before-initialize",
        "launch.initialize-within-deadline",
        "launch.exits-on-eof-before-handshake",
    ],
    run,
};

fn run(ctx: &mut Ctx) {
    let started = Instant::now();
    match Peer::spawn(&ctx.target, &[], ctx.timeout(Duration::from_secs(10))) {
        Ok(mut peer) => {
            let status = peer.wait_exit(ctx.timeout(Duration::from_secs(5)));
            let stray = peer.collect_for(Duration::from_millis(50));
            peer.settle_stderr(Duration::from_secs(1));
            let outcome = match status {
                Some(s) if s.code() == Some(2) => Ok(()),
                Some(s) => Err(format!("exited with {s}, not 2")),
                None => Err("still running 5 s after starting without --stdio".into()),
            };
            ctx.record(
                "launch.refuses-without-stdio",
                Some(&peer),
                started,
                outcome,
            );
            let hint = if !stray.is_empty() || !peer.stdout_lines.is_empty() {
                Err(format!("printed on stdout: {:?}", peer.stdout_lines))
            } else if peer.stderr_text().trim().is_empty() {
                Err("printed no hint on stderr".into())
            } else {
                Ok(())
            };
            ctx.record("launch.hint-without-stdio", Some(&peer), started, hint);
        }
        Err(e) => ctx.fail_all(
            &["launch.refuses-without-stdio", "launch.hint-without-stdio"],
            None,
            &format!("cannot start: {e}"),
        ),
    }

    let started = Instant::now();
    match ctx.raw_peer() {
        Ok(mut peer) => {
            let early = peer.collect_for(Duration::from_millis(300));
            let silent = if early.is_empty() && peer.stdout_lines.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "printed before initialize: {:?}",
                    peer.stdout_lines
                ))
            };
            ctx.record(
                "launch.silent-before-initialize",
                Some(&peer),
                started,
                silent,
            );
            let started = Instant::now();
            let answer = peer.request_within(
                methods::Initialize::METHOD,
                json!({"protocol_version": "1.0", "host": {"name": "sandboxer-conformance", "version": "0"},
                       "options": ctx.params.options}),
                ctx.timeout(Duration::from_secs(10)),
            );
            let outcome = answer.and_then(|a| {
                a.get("result")
                    .map(|_| ())
                    .ok_or_else(|| format!("initialize failed: {a}"))
            });
            ctx.record(
                "launch.initialize-within-deadline",
                Some(&peer),
                started,
                outcome,
            );
        }
        Err(e) => ctx.fail_all(
            &[
                "launch.silent-before-initialize",
                "launch.initialize-within-deadline",
            ],
            None,
            &e,
        ),
    }

    let started = Instant::now();
    match ctx.raw_peer() {
        Ok(mut peer) => {
            peer.close_stdin();
            let outcome = match peer.wait_exit(ctx.timeout(Duration::from_secs(2))) {
                Some(_) => Ok(()),
                None => Err("still running 2 s after stdin closed".into()),
            };
            ctx.record(
                "launch.exits-on-eof-before-handshake",
                Some(&peer),
                started,
                outcome,
            );
        }
        Err(e) => ctx.fail("launch.exits-on-eof-before-handshake", None, e),
    }
}
