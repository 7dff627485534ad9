//! optional methods, each checked only when advertised.

use super::Scenario;
use super::lifecycle::create_ready;
use crate::context::{Ctx, expect_error, rfc3339_in};
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "optional",
    checks: &[
        "optional.extend-ttl",
        "optional.snapshot-restore",
        "optional.restore-missing-snapshot",
        "optional.snapshot-list-delete",
        "optional.cost-estimate-shape",
        "optional.cost-estimate-deterministic",
        "optional.cost-estimate-no-side-effects",
        "optional.host-health-shape",
        "optional.host-health-unknown-host",
        "optional.profile-check-shape",
        "optional.host-doctor-shape",
        "optional.exec-output",
        "optional.exec-exit-code",
        "optional.exec-stdin",
        "optional.exec-empty-argv",
        "optional.exec-unknown-service",
        "optional.exec-missing-command",
        "optional.exec-timeout",
        "optional.exec-cancel",
    ],
    run,
};

fn run(ctx: &mut Ctx) {
    ctx.skip_unadvertised(SCENARIO.checks);
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => {
            let ids: Vec<&str> = SCENARIO
                .checks
                .iter()
                .copied()
                .filter(|id| {
                    crate::registry::check(id)
                        .needs
                        .is_none_or(|n| ctx.advertises(n))
                })
                .collect();
            return ctx.fail_all(&ids, None, &e);
        }
    };

    if ctx.advertises(methods::CostEstimate::METHOD) {
        let params = json!({"profile": ctx.profile(), "resources": ctx.params.resources, "duration_s": 3600});
        let started = Instant::now();
        let before = peer.ok(methods::SandboxList::METHOD, json!({}));
        let first = peer.ok(methods::CostEstimate::METHOD, params.clone());
        let second = peer.ok(methods::CostEstimate::METHOD, params);
        let after = peer.ok(methods::SandboxList::METHOD, json!({}));
        let shape = first.clone().and_then(|e| {
            // Since 1.3 `amount_exact`, a decimal string, may stand beside the number.
            let exact = match e.get("amount_exact") {
                None => true,
                Some(v) => v.as_str().is_some_and(|t| {
                    sandboxer_ext_protocol::money::read(0.0, Some(t), "amount").is_ok()
                }),
            };
            let ok = e["currency"].is_string()
                && e["amount"].as_f64().is_some_and(|a| a >= 0.0)
                && exact
                && (e["breakdown"].is_object() || e.get("breakdown").is_none());
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "expected a string currency, an amount >= 0 (and, if present, an amount_exact that is a decimal string >= 0) and, if present, a breakdown that is an object: {e}"
                ))
            }
        });
        ctx.record("optional.cost-estimate-shape", Some(&peer), started, shape);
        let same = match (&first, &second) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            (Ok(a), Ok(b)) => Err(format!("{a} then {b}")),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        };
        ctx.record(
            "optional.cost-estimate-deterministic",
            Some(&peer),
            started,
            same,
        );
        let no_effects = match (before, after) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            (Ok(a), Ok(b)) => Err(format!("list changed: {a} then {b}")),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        ctx.record(
            "optional.cost-estimate-no-side-effects",
            Some(&peer),
            started,
            no_effects,
        );
    }

    if ctx.advertises(methods::HostHealth::METHOD) {
        let started = Instant::now();
        let outcome = peer
            .ok(methods::HostHealth::METHOD, json!({}))
            .and_then(|h| {
                let hosts = h["hosts"]
                    .as_array()
                    .ok_or(format!("no hosts array: {h}"))?;
                match hosts
                    .iter()
                    .find(|x| !x["host"].is_string() || !x["reachable"].is_boolean())
                {
                    Some(bad) => Err(format!(
                        "expected each host to have a string host and a boolean reachable: {bad}"
                    )),
                    None => Ok(()),
                }
            });
        ctx.record("optional.host-health-shape", Some(&peer), started, outcome);

        let started = Instant::now();
        let unknown = format!("{}-no-such-host", ctx.prefix);
        let outcome = peer
            .request(methods::HostHealth::METHOD, json!({"host": unknown}))
            .and_then(|a| crate::context::expect_invalid_field(&a, "host"));
        ctx.record(
            "optional.host-health-unknown-host",
            Some(&peer),
            started,
            outcome,
        );
    }

    if ctx.advertises(methods::ProfileCheck::METHOD) {
        let started = Instant::now();
        let before = peer.ok(methods::SandboxList::METHOD, json!({}));
        let outcome = peer
            .ok(
                methods::ProfileCheck::METHOD,
                json!({"profile": ctx.profile()}),
            )
            .and_then(|r| {
                let findings_ok = |key: &str| {
                    r.get(key).is_none_or(|f| {
                        f.as_array().is_some_and(|f| {
                            f.iter()
                                .all(|x| x["field"].is_string() && x["message"].is_string())
                        })
                    })
                };
                if findings_ok("refused") && findings_ok("relaxed") {
                    Ok(())
                } else {
                    Err(format!(
                        "expected refused and relaxed, where present, to be arrays of {{field, message}} strings: {r}"
                    ))
                }
            })
            .and_then(
                |()| match (before, peer.ok(methods::SandboxList::METHOD, json!({}))) {
                    (Ok(a), Ok(b)) if a == b => Ok(()),
                    (Ok(a), Ok(b)) => Err(format!("list changed: {a} then {b}")),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                },
            );
        ctx.record(
            "optional.profile-check-shape",
            Some(&peer),
            started,
            outcome,
        );
    }

    if ctx.advertises(methods::HostDoctor::METHOD) {
        let started = Instant::now();
        let outcome = peer
            .request_within(
                methods::HostDoctor::METHOD,
                json!({"profiles": [ctx.profile()]}),
                ctx.create_timeout(),
            )
            .and_then(|a| {
                a.get("result")
                    .cloned()
                    .ok_or(format!("host/doctor failed: {a}"))
            })
            .and_then(|d| {
                let hosts = d["hosts"]
                    .as_array()
                    .ok_or(format!("no hosts array: {d}"))?;
                let bad_check = |c: &Value| {
                    !c["name"].is_string()
                        || !c["ok"].is_boolean()
                        || (c["ok"] == false && !c["fix"].is_string())
                };
                match hosts.iter().find(|h| {
                    !h["host"].is_string()
                        || h["checks"]
                            .as_array()
                            .is_none_or(|c| c.iter().any(bad_check))
                }) {
                    Some(bad) => Err(format!(
                        "expected each host to have a string host and checks, each with a string name, \
                         a boolean ok and, when not ok, a string fix: {bad}"
                    )),
                    None => Ok(()),
                }
            });
        ctx.record("optional.host-doctor-shape", Some(&peer), started, outcome);
    }

    let needs_sandbox = [
        methods::SandboxExtendTtl::METHOD,
        methods::SandboxExec::METHOD,
        methods::SandboxSnapshot::METHOD,
        methods::SandboxRestore::METHOD,
    ]
    .iter()
    .any(|m| ctx.advertises(m));
    if !needs_sandbox {
        return;
    }
    let id = ctx.new_id();
    let params = ctx.create_params(&id, &[]);
    if let Err(e) = create_ready(ctx, &mut peer, params.clone()) {
        let ids: Vec<&str> = [
            "optional.extend-ttl",
            "optional.exec-output",
            "optional.exec-exit-code",
            "optional.exec-stdin",
            "optional.exec-empty-argv",
            "optional.exec-unknown-service",
            "optional.exec-missing-command",
            "optional.exec-timeout",
            "optional.exec-cancel",
            "optional.snapshot-restore",
            "optional.snapshot-list-delete",
            "optional.restore-missing-snapshot",
        ]
        .into_iter()
        .filter(|id| {
            crate::registry::check(id)
                .needs
                .is_none_or(|n| ctx.advertises(n))
        })
        .collect();
        return ctx.fail_all(&ids, Some(&peer), &format!("create failed: {e}"));
    }

    if ctx.advertises(methods::SandboxExtendTtl::METHOD) {
        let started = Instant::now();
        let outcome = peer
            .ok(
                methods::SandboxExtendTtl::METHOD,
                json!({"sandbox_id": id, "expires_at": rfc3339_in(Duration::from_secs(7200))}),
            )
            .and_then(|s| {
                if s["sandbox_id"] == id.as_str() {
                    Ok(())
                } else {
                    Err(format!("answered {s}"))
                }
            });
        ctx.record("optional.extend-ttl", Some(&peer), started, outcome);
    }

    if ctx.advertises(methods::SandboxExec::METHOD) {
        let marker = format!("{}-marker", ctx.prefix);
        let mut argv = ctx.params.exec_echo.clone();
        argv.push(marker.clone());
        let started = Instant::now();
        let outcome = peer
            .ok(
                methods::SandboxExec::METHOD,
                json!({"sandbox_id": id, "argv": argv, "timeout_s": 60}),
            )
            .and_then(|r| {
                if r["exit_code"] == 0
                    && r["stdout"].as_str().is_some_and(|s| s.contains(&marker))
                    && r["stderr"].is_string()
                {
                    Ok(())
                } else {
                    Err(format!("expected exit 0 and {marker:?} on stdout: {r}"))
                }
            });
        ctx.record("optional.exec-output", Some(&peer), started, outcome);
        let started = Instant::now();
        let argv = ctx.params.exec_exit3.clone();
        let outcome = peer
            .ok(
                methods::SandboxExec::METHOD,
                json!({"sandbox_id": id, "argv": argv, "timeout_s": 60}),
            )
            .and_then(|r| {
                if r["exit_code"] == 3 {
                    Ok(())
                } else {
                    Err(format!("expected exit code 3: {r}"))
                }
            });
        ctx.record("optional.exec-exit-code", Some(&peer), started, outcome);
        exec_rules(ctx, &mut peer, &id);
    }

    if ctx.advertises(methods::SandboxSnapshot::METHOD)
        && ctx.advertises(methods::SandboxRestore::METHOD)
    {
        let started = Instant::now();
        let restored_id = ctx.new_id();
        let outcome = (|| {
            let snap = peer.ok(
                methods::SandboxSnapshot::METHOD,
                json!({"sandbox_id": id, "snapshot_name": format!("{}-restore", ctx.prefix)}),
            )?;
            let snapshot_id = snap["snapshot_id"]
                .as_str()
                .ok_or(format!("no snapshot_id: {snap}"))?
                .to_string();
            ctx.ledger.push(format!("snapshot:{snapshot_id}"));
            let mut restore = ctx.create_params(&restored_id, &[]);
            restore["snapshot_id"] = json!(snapshot_id);
            let answer = peer.request_within(
                methods::SandboxRestore::METHOD,
                restore,
                ctx.create_timeout(),
            )?;
            let restored = answer
                .get("result")
                .cloned()
                .ok_or(format!("restore failed: {answer}"))?;
            if restored["sandbox_id"] != restored_id.as_str() {
                return Err(format!("restore answered {restored}"));
            }
            Ok::<_, String>(snapshot_id)
        })();
        let snapshot_id = outcome.as_ref().ok().cloned();
        ctx.record(
            "optional.snapshot-restore",
            Some(&peer),
            started,
            outcome.map(|_| ()),
        );

        let started = Instant::now();
        let missing_id = ctx.new_id();
        let mut restore = ctx.create_params(&missing_id, &[]);
        restore["snapshot_id"] = json!(format!("{}-missing-snapshot", ctx.prefix));
        let outcome = peer
            .request_within(
                methods::SandboxRestore::METHOD,
                restore,
                ctx.create_timeout(),
            )
            .and_then(|a| expect_error(&a, 1001));
        ctx.record(
            "optional.restore-missing-snapshot",
            Some(&peer),
            started,
            outcome,
        );

        if ctx.advertises(methods::SnapshotList::METHOD)
            && ctx.advertises(methods::SnapshotDelete::METHOD)
        {
            let started = Instant::now();
            let outcome = (|| {
                let snapshot_id = snapshot_id.ok_or("no snapshot to list")?;
                let has = |list: &Value| {
                    list["snapshots"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|x| x["snapshot_id"] == snapshot_id.as_str()))
                };
                if !has(&peer.ok(methods::SnapshotList::METHOD, json!({}))?) {
                    return Err(format!("{snapshot_id} is not listed"));
                }
                for _ in 0..2 {
                    peer.ok(
                        methods::SnapshotDelete::METHOD,
                        json!({"snapshot_id": snapshot_id}),
                    )?;
                }
                if has(&peer.ok(methods::SnapshotList::METHOD, json!({}))?) {
                    return Err(format!("{snapshot_id} is still listed after delete"));
                }
                Ok(())
            })();
            ctx.record(
                "optional.snapshot-list-delete",
                Some(&peer),
                started,
                outcome,
            );
        }
    }
    let _ = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}));
}

/// What the document says of `sandbox/exec` beyond output and exit code: stdin,
/// an empty argv, a part the sandbox lacks, a command that does not exist, a
/// timeout, a cancel.
fn exec_rules(ctx: &mut Ctx, peer: &mut crate::peer::Peer, id: &str) {
    let exec = methods::SandboxExec::METHOD;
    let started = Instant::now();
    let fed = format!("{}-stdin\n", ctx.prefix);
    let outcome = peer
        .ok(
            exec,
            json!({"sandbox_id": id, "argv": ctx.params.exec_cat, "stdin": fed, "timeout_s": 60}),
        )
        .and_then(|r| {
            if r["exit_code"] == 0 && r["stdout"] == fed.as_str() {
                Ok(())
            } else {
                Err(format!(
                    "expected {:?} to copy stdin {fed:?} to stdout and exit 0: {r}",
                    ctx.params.exec_cat
                ))
            }
        });
    ctx.record("optional.exec-stdin", Some(peer), started, outcome);

    let started = Instant::now();
    let outcome = peer
        .request(exec, json!({"sandbox_id": id, "argv": []}))
        .and_then(|a| crate::context::expect_invalid_field(&a, "argv"));
    ctx.record("optional.exec-empty-argv", Some(peer), started, outcome);

    let started = Instant::now();
    let part = format!("{}-no-such-part", ctx.prefix);
    let outcome = peer
        .request(
            exec,
            json!({"sandbox_id": id, "argv": ctx.params.exec_cat, "service": part, "timeout_s": 10}),
        )
        .and_then(|a| crate::context::expect_invalid_field(&a, "service"));
    ctx.record(
        "optional.exec-unknown-service",
        Some(peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let missing = format!("{}-no-such-command", ctx.prefix);
    let outcome = peer
        .ok(
            exec,
            json!({"sandbox_id": id, "argv": [missing], "timeout_s": 60}),
        )
        .and_then(|r| {
            if r["exit_code"] == 127 {
                Ok(())
            } else {
                Err(format!(
                    "expected a result with exit_code 127 for a command that does not exist: {r}"
                ))
            }
        });
    ctx.record(
        "optional.exec-missing-command",
        Some(peer),
        started,
        outcome,
    );

    let started = Instant::now();
    let bound = ctx.timeout(std::time::Duration::from_secs(15));
    let outcome = peer
        .request_within(
            exec,
            json!({"sandbox_id": id, "argv": ctx.params.exec_sleep, "timeout_s": 1}),
            bound,
        )
        .and_then(|a| crate::context::expect_error(&a, 1008))
        .map_err(|e| {
            format!(
                "expected DeadlineExceeded (1008) soon after timeout_s 1 of {:?}: {e}",
                ctx.params.exec_sleep
            )
        });
    ctx.record("optional.exec-timeout", Some(peer), started, outcome);

    let started = Instant::now();
    let request_id = peer.fresh_id();
    peer.send(&json!({"jsonrpc": "2.0", "id": request_id, "method": exec,
        "params": {"sandbox_id": id, "argv": ctx.params.exec_sleep, "timeout_s": 120}}));
    std::thread::sleep(std::time::Duration::from_millis(500));
    peer.notify(methods::CancelRequest::METHOD, json!({ "id": request_id }));
    let grace = ctx.timeout(std::time::Duration::from_secs(2));
    let outcome = peer
        .response_to(
            &json!(request_id),
            grace + std::time::Duration::from_millis(500),
        )
        .and_then(|a| {
            crate::context::expect_error(&a, -32800).map_err(|e| {
                format!(
                    "expected -32800 within the grace period ({}s) of $/cancelRequest \
                     for a running {:?}: {e}",
                    grace.as_secs_f64(),
                    ctx.params.exec_sleep
                )
            })
        });
    ctx.record("optional.exec-cancel", Some(peer), started, outcome);
}
