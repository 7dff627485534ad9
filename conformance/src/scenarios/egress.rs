//! egress: under `network.egress: deny` a sandbox's code cannot reach a listener
//! of the kit's host, and under an allow-list it reaches the listed destination
//! and nothing else. Both need `sandbox/exec`, the feature the extension declares,
//! and the params' `egress_probe` (how code in the sandbox tries a connection).

use super::Scenario;
use super::lifecycle::create_ready;
use crate::context::Ctx;
use sandboxer_ext_protocol::{features, methods};
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const DENY: &str = "egress.deny-keeps-the-host-out";
pub const ALLOWLIST: &str = "egress.allowlist-lets-only-the-listed-through";

pub const SCENARIO: Scenario = Scenario {
    name: "egress",
    checks: &[DENY, ALLOWLIST],
    run,
};

/// A listener of the kit's host that greets every connection with `greeting`
/// and counts them; it stops when dropped.
struct Listener {
    port: u16,
    greeting: String,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn start(address: &str, greeting: String) -> Result<Listener, String> {
        let socket = TcpListener::bind((address, 0))
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let (connections, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (count, stopped, line) = (connections.clone(), stop.clone(), format!("{greeting}\n"));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match socket.accept() {
                    Ok((mut stream, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.write_all(line.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Listener {
            port,
            greeting,
            connections,
            stop,
        })
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Why a check cannot run here, if it cannot.
fn unmet(ctx: &Ctx, feature: &str) -> Option<String> {
    if !ctx.declares(feature) {
        Some(format!("the feature {feature} is not declared"))
    } else if ctx.params.egress_probe.is_empty() {
        Some("the params give no egress_probe".into())
    } else {
        None
    }
}

fn run(ctx: &mut Ctx) {
    ctx.skip_unadvertised(SCENARIO.checks);
    for (check, feature) in [
        (DENY, features::EGRESS_DENY),
        (ALLOWLIST, features::EGRESS_ALLOWLIST),
    ] {
        if !ctx.runnable(check) {
            continue;
        }
        if let Some(why) = unmet(ctx, feature) {
            ctx.skip(check, &why);
            continue;
        }
        let started = Instant::now();
        let mut peer = match ctx.peer() {
            Ok(p) => p,
            Err(e) => {
                ctx.fail(check, None, e);
                continue;
            }
        };
        let outcome = if check == DENY {
            deny(ctx, &mut peer)
        } else {
            allowlist(ctx, &mut peer)
        };
        ctx.record(check, Some(&peer), started, outcome);
    }
}

/// A sandbox under deny tries the kit's listener at `egress_host`: the probe
/// fails and the listener sees no connection.
fn deny(ctx: &mut Ctx, peer: &mut crate::peer::Peer) -> Result<(), String> {
    let listener = Listener::start(&ctx.params.egress_listen, format!("{}-denied", ctx.prefix))?;
    let id = ctx.new_id();
    let mut params = ctx.create_params(&id, &[]);
    params["network"] = json!({"egress": "deny", "allow": []});
    let outcome = create_ready(ctx, peer, params).and_then(|_| {
        let host = ctx.params.egress_host.clone();
        let probe = probe(ctx, peer, &id, &host, listener.port)?;
        if probe["exit_code"] == 0 || listener.connections() > 0 {
            return Err(format!(
                "under egress deny the sandbox reached {host}:{} ({} connections): {probe}",
                listener.port,
                listener.connections()
            ));
        }
        Ok(())
    });
    let _ = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}));
    outcome
}

/// A sandbox allowed one listener reaches it (where `details.egress_allowed`
/// says, or at its own address) and not a second one.
fn allowlist(ctx: &mut Ctx, peer: &mut crate::peer::Peer) -> Result<(), String> {
    let listen = ctx.params.egress_listen.clone();
    let allowed = Listener::start(&listen, format!("{}-allowed", ctx.prefix))?;
    let other = Listener::start(&listen, format!("{}-not-listed", ctx.prefix))?;
    let destination = format!("{listen}:{}", allowed.port);
    let id = ctx.new_id();
    let mut params = ctx.create_params(&id, &[]);
    params["network"] = json!({"egress": "deny", "allow": [destination]});
    let outcome = create_ready(ctx, peer, params).and_then(|sandbox| {
        let (host, port) = reached_at(&sandbox, &destination)?;
        let reached = probe(ctx, peer, &id, &host, port)?;
        let greeted = reached["stdout"]
            .as_str()
            .is_some_and(|s| s.contains(&allowed.greeting));
        if reached["exit_code"] != 0 || !greeted || allowed.connections() == 0 {
            return Err(format!(
                "the allowed {destination} (at {host}:{port} in the sandbox) was not reached: {reached}"
            ));
        }
        let egress_host = ctx.params.egress_host.clone();
        let refused = probe(ctx, peer, &id, &egress_host, other.port)?;
        if refused["exit_code"] == 0 || other.connections() > 0 {
            return Err(format!(
                "a destination not in the list, {egress_host}:{}, was reached: {refused}",
                other.port
            ));
        }
        Ok(())
    });
    let _ = peer.ok(methods::SandboxDestroy::METHOD, json!({"sandbox_id": id}));
    outcome
}

/// Where code in the sandbox reaches an allowed destination: the sandbox's
/// `details.egress_allowed[destination]` (`HOST:PORT`) when the extension
/// relays it, else the destination itself.
fn reached_at(sandbox: &Value, destination: &str) -> Result<(String, u16), String> {
    let at = sandbox["details"]["egress_allowed"][destination]
        .as_str()
        .unwrap_or(destination);
    at.rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse().ok()?)))
        .ok_or_else(|| format!("details.egress_allowed[{destination:?}] = {at:?} is not HOST:PORT"))
}

/// Runs the params' probe against `host:port` in the sandbox.
fn probe(
    ctx: &Ctx,
    peer: &mut crate::peer::Peer,
    id: &str,
    host: &str,
    port: u16,
) -> Result<Value, String> {
    let argv: Vec<String> = ctx
        .params
        .egress_probe
        .iter()
        .map(|a| {
            a.replace("{host}", host)
                .replace("{port}", &port.to_string())
        })
        .collect();
    peer.ok(
        methods::SandboxExec::METHOD,
        json!({"sandbox_id": id, "argv": argv, "timeout_s": 60}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_destination_is_reached_where_the_sandbox_says() {
        let relayed = json!({"details": {"egress_allowed": {"127.0.0.1:4000": "10.0.2.100:4000"}}});
        assert_eq!(
            reached_at(&relayed, "127.0.0.1:4000").unwrap(),
            ("10.0.2.100".to_string(), 4000)
        );
        let direct = json!({"details": {}});
        assert_eq!(
            reached_at(&direct, "127.0.0.1:4000").unwrap(),
            ("127.0.0.1".to_string(), 4000)
        );
        let bad = json!({"details": {"egress_allowed": {"127.0.0.1:4000": "nowhere"}}});
        assert!(reached_at(&bad, "127.0.0.1:4000").is_err());
    }

    #[test]
    fn the_listener_greets_and_counts() {
        let listener = Listener::start("127.0.0.1", "hello".into()).unwrap();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", listener.port)).unwrap();
        let mut line = String::new();
        std::io::Read::read_to_string(&mut stream, &mut line).unwrap();
        assert_eq!(line, "hello\n");
        assert_eq!(listener.connections(), 1);
    }
}
