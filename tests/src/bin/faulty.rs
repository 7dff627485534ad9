//! `sandboxer-test-ext-faulty`: the conformance kit's fault injector. It runs the
//! fixture extension as a child and relays its stdin/stdout, breaking the protocol
//! in exactly one way chosen by `SANDBOXER_EXT_FAULTY_MODE`, so that a test can show the kit
//! fails exactly the checks that cover that fault. (Faults of the backend itself —
//! a destroy that is not idempotent, a leaked sandbox, a secret on stderr — are the
//! fixture's own `SANDBOXER_EXT_FIXTURE_FAULT` switches.)
//!
//! Modes: `stdout-log`, `stdout-log-during-create`, `wrong-id`, `ignore-cancel`,
//! `ignore-cancel-exec`, `progress-without-token`,
//! `progress-after-response`, `accept-any-version`, `no-not-initialized`,
//! `hang-on-shutdown`, `early-shutdown-answer` (shutdown is answered at once,
//! before the calls in flight), `strict-profile` (a create whose profile carries
//! anything but `id`, `version` and `spec` is refused, as an extension that
//! rejects unknown fields would), `ignore-sigterm`, `no-exit-on-eof`, or none (a
//! faithful relay).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen {
    initialize_id: Option<Value>,
    initialized: bool,
    /// Create requests in flight: id → progress token (if any).
    creates: BTreeMap<String, Option<Value>>,
    /// Ids of exec requests (as JSON text).
    execs: Vec<String>,
}

type Out = Arc<Mutex<std::io::Stdout>>;

/// The id `early-shutdown-answer` gives the shutdown it forwards; its answer is
/// dropped (the host had one already).
const RELAYED_SHUTDOWN_ID: &str = "faulty-relayed-shutdown";

fn emit(out: &Out, line: &str) {
    let mut out = out.lock().unwrap();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() {
    let mode = std::env::var("SANDBOXER_EXT_FAULTY_MODE").unwrap_or_default();
    let fixture = std::env::current_exe()
        .unwrap()
        .with_file_name("sandboxer-test-ext-fixture");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--stdio") {
        // Without --stdio, behave as the fixture does.
        let status = Command::new(&fixture).args(&args).status().unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    if mode == "ignore-sigterm" {
        // SAFETY: setting a signal's disposition to ignore has no preconditions.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
    let mut command = Command::new(&fixture);
    command
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if mode == "ignore-cancel" {
        command.env("SANDBOXER_EXT_FIXTURE_FAULT", "slow=sandbox/create:3000");
    }
    if mode == "early-shutdown-answer" {
        // A create still in flight when shutdown arrives, however fast the
        // fixture and however slow the relay.
        command.env("SANDBOXER_EXT_FIXTURE_FAULT", "slow=sandbox/create:500");
    }
    let mut child = command.spawn().expect("the fixture starts");
    let mut to_child = child.stdin.take().unwrap();
    let from_child = child.stdout.take().unwrap();
    let out: Out = Arc::new(Mutex::new(std::io::stdout()));
    let seen = Arc::new(Mutex::new(Seen::default()));

    // Extension → host. When the fixture's stdout ends, it has exited: so does
    // the relay, with its status.
    let child = Arc::new(Mutex::new(child));
    let relay = {
        let child = child.clone();
        let (out, seen, mode) = (out.clone(), seen.clone(), mode.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(from_child).lines() {
                let Ok(line) = line else { break };
                let Ok(mut msg) = serde_json::from_str::<Value>(&line) else {
                    emit(&out, &line);
                    continue;
                };
                let id = msg.get("id").cloned();
                if id.as_ref() == Some(&json!(RELAYED_SHUTDOWN_ID)) {
                    continue; // Answered already, early.
                }
                let key = id.as_ref().map(Value::to_string);
                let token = key
                    .as_ref()
                    .and_then(|k| seen.lock().unwrap().creates.remove(k));
                if mode == "progress-without-token" && matches!(token, Some(None)) {
                    emit(
                        &out,
                        &json!({"jsonrpc": "2.0", "method": "$/progress",
                        "params": {"token": "unsolicited", "message": "working", "percent": 10}})
                        .to_string(),
                    );
                }
                if mode == "wrong-id" && matches!(id, Some(Value::String(_))) {
                    msg["id"] = json!(format!("{}-x", id.clone().unwrap().as_str().unwrap()));
                }
                emit(&out, &msg.to_string());
                if mode == "stdout-log" && id.is_some() && id == seen.lock().unwrap().initialize_id
                {
                    emit(&out, "INFO extension ready");
                }
                if mode == "stdout-log-during-create" && token.is_some() {
                    emit(&out, "INFO sandbox created");
                }
                if mode == "progress-after-response"
                    && let Some(Some(token)) = token
                {
                    emit(
                        &out,
                        &json!({"jsonrpc": "2.0", "method": "$/progress",
                        "params": {"token": token, "message": "late", "percent": 100}})
                        .to_string(),
                    );
                }
            }
            if mode == "no-exit-on-eof" {
                return;
            }
            let status = child.lock().unwrap().wait().unwrap();
            std::process::exit(status.code().unwrap_or(0));
        })
    };

    // Host → extension.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Ok(mut msg) = serde_json::from_str::<Value>(&line) else {
            let _ = writeln!(to_child, "{line}");
            continue;
        };
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let id = msg.get("id").cloned();
        {
            let mut s = seen.lock().unwrap();
            if method == "initialize" {
                s.initialize_id = id.clone();
                s.initialized = true;
                if mode == "accept-any-version" {
                    msg["params"]["protocol_version"] = json!("1.0");
                }
            } else if mode == "no-not-initialized" && !s.initialized && id.is_some() {
                emit(
                    &out,
                    &json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": "method not found"}})
                    .to_string(),
                );
                continue;
            }
            if method == "sandbox/create"
                && let Some(id) = &id
            {
                let token = msg["params"]
                    .get("progress_token")
                    .cloned()
                    .filter(|t| !t.is_null());
                s.creates.insert(id.to_string(), token);
            }
        }
        if method == "sandbox/exec"
            && let Some(id) = &id
        {
            seen.lock().unwrap().execs.push(id.to_string());
        }
        if mode == "ignore-cancel" && method == "$/cancelRequest" {
            continue;
        }
        if mode == "ignore-cancel-exec"
            && method == "$/cancelRequest"
            && seen
                .lock()
                .unwrap()
                .execs
                .contains(&msg["params"]["id"].to_string())
        {
            continue;
        }
        if mode == "hang-on-shutdown" && (method == "shutdown" || method == "exit") {
            continue;
        }
        if mode == "early-shutdown-answer" && method == "shutdown" {
            emit(
                &out,
                &json!({"jsonrpc": "2.0", "id": id, "result": null}).to_string(),
            );
            msg["id"] = json!(RELAYED_SHUTDOWN_ID);
        }
        if mode == "strict-profile"
            && method == "sandbox/create"
            && let Some(extra) = msg["params"]["profile"].as_object().and_then(|p| {
                p.keys()
                    .find(|k| !["id", "version", "spec"].contains(&k.as_str()))
            })
        {
            emit(
                &out,
                &json!({"jsonrpc": "2.0", "id": id, "error": {
                    "code": 1003,
                    "message": format!("unknown field `{extra}` in profile"),
                    "data": {"kind": "InvalidArgument", "retryable": false,
                             "details": {"field": format!("profile.{extra}")}}}})
                .to_string(),
            );
            seen.lock()
                .unwrap()
                .creates
                .remove(&id.map(|i| i.to_string()).unwrap_or_default());
            continue;
        }
        let _ = writeln!(to_child, "{msg}");
        let _ = to_child.flush();
    }
    if mode == "no-exit-on-eof" {
        loop {
            std::thread::park();
        }
    }
    drop(to_child);
    let _ = relay.join();
}
