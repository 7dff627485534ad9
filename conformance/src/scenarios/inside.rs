//! Working inside a sandbox (protocol 1.6): commands as sessions — output
//! streamed while they run, stdin, signals, re-attaching, a terminal with
//! resize — files and trees, and the confinement of paths. Each check runs
//! only when its method is advertised, on one sandbox.
//!
//! Confinement is checked against canary files the kit writes on its own
//! machine: read through `..` and through a symbolic link made inside the
//! sandbox, and written to through `..` and through a tar entry that climbs
//! out (in chunks, and raw through a socket where `fs.tar_from_socket` is
//! declared), none may reach them. (For an extension whose sandboxes run on another
//! machine the canaries are out of reach anyway; the checks still hold.)

use super::Scenario;
use super::lifecycle::create_ready;
use crate::context::{Ctx, expect_error};
use crate::peer::Peer;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sandboxer_ext_protocol::methods;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const SCENARIO: Scenario = Scenario {
    name: "inside",
    checks: &[
        "inside.exec-streams-while-running",
        "inside.exec-stdin-and-signal",
        "inside.exec-reattach-and-list",
        "inside.exec-terminal-resize",
        "inside.files",
        "inside.tree-round-trip",
        "inside.paths-confined",
        "inside.pause-freezes-and-resume-continues",
        "inside.logs",
        "inside.metrics-shape",
    ],
    run,
};

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The bytes of every `$/output` in `notifications`.
fn output(notifications: &[Value]) -> String {
    let mut all = vec![];
    for n in notifications {
        if n["method"] == methods::Output::METHOD
            && let Some(d) = n["params"]["data"].as_str()
            && let Ok(bytes) = STANDARD.decode(d)
        {
            all.extend(bytes);
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

fn run(ctx: &mut Ctx) {
    ctx.skip_unadvertised(SCENARIO.checks);
    let wanted: Vec<&str> = SCENARIO
        .checks
        .iter()
        .copied()
        .filter(|id| ctx.runnable(id))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let mut peer = match ctx.peer() {
        Ok(p) => p,
        Err(e) => return ctx.fail_all(&wanted, None, &e),
    };
    let id = ctx.new_id();
    let params = ctx.create_params(&id, &[]);
    if let Err(e) = create_ready(ctx, &mut peer, params) {
        return ctx.fail_all(&wanted, Some(&peer), &format!("create failed: {e}"));
    }
    let sid = json!(id);
    let scratch = format!("/tmp/{}-inside", ctx.prefix);
    if ctx.runnable("inside.exec-streams-while-running") {
        let started = Instant::now();
        let outcome = streams_while_running(&mut peer, &sid);
        ctx.record(
            "inside.exec-streams-while-running",
            Some(&peer),
            started,
            outcome,
        );
    }
    if ctx.runnable("inside.exec-stdin-and-signal") {
        let started = Instant::now();
        let outcome = stdin_and_signal(&mut peer, &sid);
        ctx.record(
            "inside.exec-stdin-and-signal",
            Some(&peer),
            started,
            outcome,
        );
    }
    if ctx.runnable("inside.exec-reattach-and-list") {
        let started = Instant::now();
        let outcome = reattach_and_list(&mut peer, &sid);
        ctx.record(
            "inside.exec-reattach-and-list",
            Some(&peer),
            started,
            outcome,
        );
    }
    if ctx.runnable("inside.exec-terminal-resize") {
        let started = Instant::now();
        if !ctx.declares(sandboxer_ext_protocol::features::EXEC_PTY) {
            ctx.skip(
                "inside.exec-terminal-resize",
                "feature exec.pty not declared",
            );
        } else {
            let outcome = terminal_resize(&mut peer, &sid);
            ctx.record("inside.exec-terminal-resize", Some(&peer), started, outcome);
        }
    }
    if ctx.runnable("inside.files") {
        let started = Instant::now();
        let outcome = files(&mut peer, &sid, &scratch);
        ctx.record("inside.files", Some(&peer), started, outcome);
    }
    let from_socket = ctx.declares(sandboxer_ext_protocol::features::TAR_FROM_SOCKET);
    if ctx.runnable("inside.tree-round-trip") {
        let started = Instant::now();
        let outcome = tree_round_trip(&mut peer, &sid, &scratch, from_socket);
        ctx.record("inside.tree-round-trip", Some(&peer), started, outcome);
    }
    // Both also start commands inside: without exec/start they cannot be run.
    let sessions = ctx.advertises(methods::ExecStart::METHOD);
    for id in [
        "inside.paths-confined",
        "inside.pause-freezes-and-resume-continues",
    ] {
        if ctx.runnable(id) && !sessions {
            ctx.skip(id, "it also needs exec/start, which is not advertised");
        }
    }
    if ctx.runnable("inside.paths-confined") && sessions {
        let started = Instant::now();
        let outcome = paths_confined(&mut peer, &sid, &ctx.prefix.clone(), from_socket);
        ctx.record("inside.paths-confined", Some(&peer), started, outcome);
    }
    if ctx.runnable("inside.pause-freezes-and-resume-continues") && sessions {
        let started = Instant::now();
        let outcome = pause_and_resume(&mut peer, &sid, &scratch);
        ctx.record(
            "inside.pause-freezes-and-resume-continues",
            Some(&peer),
            started,
            outcome,
        );
    }
    if ctx.runnable("inside.logs") {
        let started = Instant::now();
        let outcome = logs(&mut peer, &sid);
        ctx.record("inside.logs", Some(&peer), started, outcome);
    }
    if ctx.runnable("inside.metrics-shape") {
        let started = Instant::now();
        let outcome = metrics(&mut peer, &sid);
        ctx.record("inside.metrics-shape", Some(&peer), started, outcome);
    }
}

/// The counter a background command keeps in `file`.
fn count(peer: &mut Peer, sid: &Value, file: &str) -> Result<u64, String> {
    let read = peer.ok(
        methods::FsRead::METHOD,
        json!({"sandbox_id": sid, "path": file}),
    )?;
    let bytes = STANDARD
        .decode(read["data"].as_str().unwrap_or(""))
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&bytes)
        .trim()
        .parse()
        .map_err(|e| format!("the counter file holds {bytes:?}: {e}"))
}

fn pause_and_resume(peer: &mut Peer, sid: &Value, scratch: &str) -> Result<(), String> {
    let file = format!("{scratch}-count");
    let script = format!(
        "i=0; while true; do i=$((i+1)); echo $i > {file}.new; mv {file}.new {file}; sleep 0.1; done"
    );
    start(peer, sid, json!({"argv": ["sh", "-c", script]}))?;
    std::thread::sleep(Duration::from_millis(800));
    let paused = peer.ok(methods::SandboxPause::METHOD, json!({"sandbox_id": sid}))?;
    if paused["state"] != "paused" {
        return Err(format!("sandbox/pause answered state {}", paused["state"]));
    }
    // Read through the host's view is not possible while frozen: the count
    // is taken after the resume and compared with the time that passed.
    std::thread::sleep(Duration::from_secs(2));
    let resumed_at = Instant::now();
    let resumed = peer.ok(methods::SandboxResume::METHOD, json!({"sandbox_id": sid}))?;
    if resumed["state"] != "ready" {
        return Err(format!(
            "sandbox/resume answered state {}",
            resumed["state"]
        ));
    }
    let after_resume = count(peer, sid, &file)?;
    let ran_for = 800 + resumed_at.elapsed().as_millis() as u64;
    // Had it not been frozen for 2 s it would be past 28 (a tick per 100 ms
    // over 2.8 s); frozen, it counted only before the pause and since the resume.
    if after_resume > ran_for / 100 + 5 {
        return Err(format!(
            "the counter reached {after_resume} in {ran_for} ms of running time: it did not stop \
             while paused"
        ));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let later = count(peer, sid, &file)?;
    if later < after_resume + 3 {
        return Err(format!(
            "after the resume the counter went from {after_resume} to only {later} in a second"
        ));
    }
    Ok(())
}

fn logs(peer: &mut Peer, sid: &Value) -> Result<(), String> {
    peer.ok(
        methods::SandboxLogs::METHOD,
        json!({"sandbox_id": sid, "output_token": "kit-logs", "tail": 10}),
    )?;
    let stray = peer
        .drain_notifications()
        .into_iter()
        .find(|n| n["method"] == methods::Output::METHOD && n["params"]["token"] != "kit-logs");
    if let Some(n) = stray {
        return Err(format!("sandbox/logs sent output under another token: {n}"));
    }
    let unknown = peer.request(
        methods::SandboxLogs::METHOD,
        json!({"sandbox_id": sid, "output_token": "kit-logs", "service": "no-such-part-kit"}),
    )?;
    crate::context::expect_invalid_field(&unknown, "service")
}

fn metrics(peer: &mut Peer, sid: &Value) -> Result<(), String> {
    let m = peer.ok(methods::SandboxMetrics::METHOD, json!({"sandbox_id": sid}))?;
    let total = &m["total"];
    let ok = m["at"].as_str().is_some_and(|a| a.contains('T'))
        && total["memory_bytes"].as_u64().is_some_and(|b| b > 0)
        && total["pids"].as_u64().is_some_and(|p| p >= 1)
        && total["cpu_percent"].is_number();
    if ok {
        Ok(())
    } else {
        Err(format!("sandbox/metrics of a running sandbox: {m}"))
    }
}

fn start(peer: &mut Peer, sid: &Value, extra: Value) -> Result<String, String> {
    let mut params = json!({"sandbox_id": sid});
    for (k, v) in extra.as_object().expect("an object") {
        params[k] = v.clone();
    }
    let started = peer.ok(methods::ExecStart::METHOD, params)?;
    started["exec_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("exec/start answered no exec_id: {started}"))
}

/// Attaches and waits for the exit; the output and the exit.
fn attach(
    peer: &mut Peer,
    sid: &Value,
    exec_id: &str,
    from_seq: u64,
) -> Result<(String, Value), String> {
    peer.drain_notifications();
    let exit = peer.ok(
        methods::ExecAttach::METHOD,
        json!({"sandbox_id": sid, "exec_id": exec_id, "output_token": "kit", "from_seq": from_seq}),
    )?;
    Ok((output(&peer.drain_notifications()), exit))
}

fn streams_while_running(peer: &mut Peer, sid: &Value) -> Result<(), String> {
    let exec_id = start(
        peer,
        sid,
        json!({"argv": ["sh", "-c", "echo first; sleep 3; echo second"]}),
    )?;
    peer.drain_notifications();
    let request = peer.fresh_id();
    let asked = Instant::now();
    peer.send(
        &json!({"jsonrpc": "2.0", "id": request, "method": methods::ExecAttach::METHOD,
        "params": {"sandbox_id": sid, "exec_id": exec_id, "output_token": "kit"}}),
    );
    let first = peer.recv(Duration::from_secs(10))?;
    let waited = asked.elapsed();
    if first["method"] != methods::Output::METHOD {
        return Err(format!(
            "the first message after exec/attach was {first}, not $/output"
        ));
    }
    if waited > Duration::from_millis(2500) {
        return Err(format!(
            "the first line came {waited:?} after attaching, with the command's end, not \
             while it ran"
        ));
    }
    let answer = peer.response_to(&json!(request), Duration::from_secs(30))?;
    let mut seen = vec![first];
    seen.extend(peer.drain_notifications());
    let text = output(&seen);
    if answer["result"]["exit_code"] != 0 || text != "first\nsecond\n" {
        return Err(format!(
            "expected exit 0 and two lines, got {answer} and {text:?}"
        ));
    }
    Ok(())
}

fn stdin_and_signal(peer: &mut Peer, sid: &Value) -> Result<(), String> {
    let exec_id = start(peer, sid, json!({"argv": ["cat"], "stdin": true}))?;
    for (data, eof) in [(&b"ping "[..], false), (&b"pong"[..], true)] {
        peer.ok(
            methods::ExecWrite::METHOD,
            json!({"sandbox_id": sid, "exec_id": exec_id, "data": b64(data), "eof": eof}),
        )?;
    }
    let (text, exit) = attach(peer, sid, &exec_id, 0)?;
    if text != "ping pong" || exit["exit_code"] != 0 {
        return Err(format!("cat gave {text:?} and {exit}"));
    }
    let exec_id = start(
        peer,
        sid,
        json!({"argv": ["sh", "-c", "sleep 60; echo survived"]}),
    )?;
    peer.ok(
        methods::ExecSignal::METHOD,
        json!({"sandbox_id": sid, "exec_id": exec_id, "signal": "terminate"}),
    )?;
    let (text, exit) = attach(peer, sid, &exec_id, 0)?;
    if exit["exit_code"] != 143 || text.contains("survived") {
        return Err(format!(
            "a terminate signal to the command's group should end it with 143: {exit}, {text:?}"
        ));
    }
    Ok(())
}

fn reattach_and_list(peer: &mut Peer, sid: &Value) -> Result<(), String> {
    let exec_id = start(
        peer,
        sid,
        json!({"argv": ["sh", "-c", "echo one; sleep 0.2; echo two; sleep 0.2; echo three"]}),
    )?;
    let listed = peer.ok(methods::ExecList::METHOD, json!({"sandbox_id": sid}))?;
    let found = listed["sessions"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["exec_id"] == exec_id.as_str()));
    if !found {
        return Err(format!("exec/list does not show {exec_id}: {listed}"));
    }
    let (all, exit) = attach(peer, sid, &exec_id, 0)?;
    if all != "one\ntwo\nthree\n" {
        return Err(format!("attached from 0: {all:?}"));
    }
    let (again, exit_again) = attach(peer, sid, &exec_id, 0)?;
    if again != all || exit_again != exit {
        return Err(format!(
            "attached again: {again:?} and {exit_again} after {exit}"
        ));
    }
    let late = exit["next_seq"].as_u64().unwrap_or(0);
    let (none, _) = attach(peer, sid, &exec_id, late)?;
    if !none.is_empty() {
        return Err(format!("attached from next_seq {late}, still got {none:?}"));
    }
    let gone = peer.request(
        methods::ExecAttach::METHOD,
        json!({"sandbox_id": sid, "exec_id": format!("{exec_id}-none"), "output_token": "kit"}),
    )?;
    expect_error(&gone, 1001).map_err(|e| format!("an unknown exec_id: {e}"))
}

fn terminal_resize(peer: &mut Peer, sid: &Value) -> Result<(), String> {
    let exec_id = start(
        peer,
        sid,
        json!({"argv": ["sh"], "pty": {"rows": 24, "cols": 80}}),
    )?;
    let write = |peer: &mut Peer, text: &str| {
        peer.ok(
            methods::ExecWrite::METHOD,
            json!({"sandbox_id": sid, "exec_id": exec_id, "data": b64(text.as_bytes())}),
        )
    };
    peer.drain_notifications();
    let request = peer.fresh_id();
    peer.send(
        &json!({"jsonrpc": "2.0", "id": request, "method": methods::ExecAttach::METHOD,
        "params": {"sandbox_id": sid, "exec_id": exec_id, "output_token": "kit"}}),
    );
    write(peer, "stty size\n")?;
    let mut seen = peer.drain_notifications();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !output(&seen).contains("24 80") {
        if Instant::now() > deadline {
            return Err(format!(
                "no `24 80` from stty under the terminal: {:?}",
                output(&seen)
            ));
        }
        seen.push(peer.recv(Duration::from_secs(10))?);
    }
    peer.ok(
        methods::ExecResize::METHOD,
        json!({"sandbox_id": sid, "exec_id": exec_id, "rows": 50, "cols": 132}),
    )?;
    write(peer, "stty size; exit 7\n")?;
    let answer = peer.response_to(&json!(request), Duration::from_secs(30))?;
    seen.extend(peer.drain_notifications());
    let text = output(&seen);
    if answer["result"]["exit_code"] != 7 || !text.contains("50 132") {
        return Err(format!("after a resize to 50x132: {answer}, {text:?}"));
    }
    Ok(())
}

fn files(peer: &mut Peer, sid: &Value, scratch: &str) -> Result<(), String> {
    let file = format!("{scratch}/files/deep/notes.txt");
    peer.ok(
        methods::FsWrite::METHOD,
        json!({"sandbox_id": sid, "path": file, "data": b64(b"hello ")}),
    )?;
    let appended = peer.ok(
        methods::FsWrite::METHOD,
        json!({"sandbox_id": sid, "path": file, "data": b64(b"world"), "append": true}),
    )?;
    if appended["size"] != 11 {
        return Err(format!("after a write and an append: {appended}"));
    }
    let read = peer.ok(
        methods::FsRead::METHOD,
        json!({"sandbox_id": sid, "path": file, "offset": 6, "length": 5}),
    )?;
    if read["data"] != b64(b"world") || read["size"] != 11 || read["eof"] != true {
        return Err(format!("reading 5 bytes at 6: {read}"));
    }
    let listed = peer.ok(
        methods::FsList::METHOD,
        json!({"sandbox_id": sid, "path": format!("{scratch}/files/deep")}),
    )?;
    let entry = &listed["entries"][0];
    if entry["name"] != "notes.txt" || entry["kind"] != "file" || entry["size"] != 11 {
        return Err(format!("listing the folder: {listed}"));
    }
    let moved = format!("{scratch}/files/moved.txt");
    peer.ok(
        methods::FsRename::METHOD,
        json!({"sandbox_id": sid, "from": file, "to": moved}),
    )?;
    let stat = peer.ok(
        methods::FsStat::METHOD,
        json!({"sandbox_id": sid, "path": moved}),
    )?;
    if stat["size"] != 11 {
        return Err(format!("stat after rename: {stat}"));
    }
    peer.ok(
        methods::FsRemove::METHOD,
        json!({"sandbox_id": sid, "path": format!("{scratch}/files"), "recursive": true}),
    )?;
    let gone = peer.request(
        methods::FsStat::METHOD,
        json!({"sandbox_id": sid, "path": moved}),
    )?;
    expect_error(&gone, 1001).map_err(|e| format!("stat of a removed file: {e}"))
}

/// A tar of a small tree with one file over a chunk.
fn sample_tree() -> (Vec<u8>, Vec<u8>) {
    let big: Vec<u8> = (0..(1024 * 1024 + 4321)).map(|i| (i % 253) as u8).collect();
    let mut archive = tar::Builder::new(vec![]);
    for (name, data) in [
        ("tree/sub/big.bin", &big[..]),
        ("tree/small.txt", b"small\n"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, name, data)
            .expect("in memory");
    }
    (archive.into_inner().expect("in memory"), big)
}

/// Puts a tar stream: the first chunk alone (its answer names the transfer),
/// then the rest all at once, the last sent first, so that the extension must
/// apply them by their offsets.
fn put_tree(peer: &mut Peer, sid: &Value, into: &str, tar: &[u8]) -> Result<(), String> {
    let chunks: Vec<&[u8]> = tar.chunks(512 * 1024).collect();
    let first = peer.ok(
        methods::FsTarPut::METHOD,
        json!({"sandbox_id": sid, "path": into, "data": b64(chunks[0]), "done": chunks.len() == 1}),
    )?;
    let transfer = first["transfer_id"].clone();
    let mut ids = vec![];
    for (i, chunk) in chunks.iter().enumerate().skip(1).rev() {
        let id = peer.fresh_id();
        peer.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": methods::FsTarPut::METHOD,
            "params": {"sandbox_id": sid, "path": into, "transfer_id": transfer,
                "offset": i * 512 * 1024, "data": b64(chunk), "done": i + 1 == chunks.len()}}),
        );
        ids.push(id);
    }
    // The answers come in any order.
    let mut waiting: std::collections::HashSet<i64> = ids.into_iter().collect();
    while !waiting.is_empty() {
        let message = peer.recv(Duration::from_secs(60))?;
        let Some(id) = message.get("id").and_then(Value::as_i64) else {
            continue;
        };
        if waiting.remove(&id) && message.get("result").is_none() {
            return Err(format!("fs/tar_put of a chunk sent ahead: {message}"));
        }
    }
    Ok(())
}

/// Puts a tar stream as a host does to an extension that declares
/// `fs.tar_from_socket`: one call naming a socket the kit listens on, the
/// bytes raw through it. The answer's `received` must count them all.
fn put_tree_from_socket(
    peer: &mut Peer,
    sid: &Value,
    into: &str,
    tar: &[u8],
) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::DirBuilderExt as _;
    let id = peer.fresh_id();
    let folder = std::env::temp_dir().join(format!("sandboxer-kit-{}-{}", std::process::id(), id));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&folder)
        .map_err(|e| format!("making {}: {e}", folder.display()))?;
    let path = folder.join("in.sock");
    let outcome = (|| {
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .map_err(|e| format!("listening on {}: {e}", path.display()))?;
        peer.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": methods::FsTarPut::METHOD,
            "params": {"sandbox_id": sid, "path": into, "from_socket": path}}),
        );
        let bytes = tar.to_vec();
        let feeder = std::thread::spawn(move || -> Result<(), String> {
            let (mut stream, _) = listener.accept().map_err(|e| e.to_string())?;
            stream.write_all(&bytes).map_err(|e| e.to_string())?;
            stream
                .shutdown(std::net::Shutdown::Write)
                .map_err(|e| e.to_string())
        });
        let answer = loop {
            let message = peer.recv(Duration::from_secs(60))?;
            if message.get("id").and_then(Value::as_i64) == Some(id) {
                break message;
            }
        };
        // An extension that answered without connecting leaves the feeder
        // waiting: this connection ends its wait.
        let _ = std::os::unix::net::UnixStream::connect(&path);
        let _ = feeder.join();
        match answer["result"]["received"].as_u64() {
            Some(n) if n == tar.len() as u64 => Ok(()),
            Some(n) => Err(format!(
                "fs/tar_put from a socket received {n} of {} bytes",
                tar.len()
            )),
            None => Err(format!("fs/tar_put from a socket: {answer}")),
        }
    })();
    let _ = std::fs::remove_dir_all(&folder);
    outcome
}

fn tree_round_trip(
    peer: &mut Peer,
    sid: &Value,
    scratch: &str,
    from_socket: bool,
) -> Result<(), String> {
    let (tar, big) = sample_tree();
    let into = format!("{scratch}/tree-in");
    put_tree(peer, sid, &into, &tar)?;
    pull_unchanged(peer, sid, &into, &big)?;
    if from_socket {
        let into = format!("{scratch}/tree-in-raw");
        put_tree_from_socket(peer, sid, &into, &tar)?;
        pull_unchanged(peer, sid, &into, &big)
            .map_err(|e| format!("after fs/tar_put from a socket: {e}"))?;
    }
    Ok(())
}

/// Pulls `into`/tree back chunk by chunk and checks its `sub/big.bin` is `big`.
fn pull_unchanged(peer: &mut Peer, sid: &Value, into: &str, big: &[u8]) -> Result<(), String> {
    let mut pulled = vec![];
    let mut transfer: Option<String> = None;
    for _ in 0..64 {
        let mut params = json!({"sandbox_id": sid, "path": format!("{into}/tree")});
        if let Some(t) = &transfer {
            params["transfer_id"] = json!(t);
        }
        let got = peer.ok(methods::FsTarGet::METHOD, params)?;
        let data = STANDARD
            .decode(got["data"].as_str().unwrap_or(""))
            .map_err(|e| format!("fs/tar_get data is not base64: {e}"))?;
        if data.len() > sandboxer_ext_protocol::MAX_CHUNK {
            return Err(format!("a chunk of {} bytes is over the limit", data.len()));
        }
        pulled.extend(data);
        transfer = got["transfer_id"].as_str().map(str::to_string);
        if got["eof"] == true {
            let mut found = None;
            let mut archive = tar::Archive::new(pulled.as_slice());
            for entry in archive.entries().map_err(|e| e.to_string())? {
                let mut entry = entry.map_err(|e| e.to_string())?;
                if entry
                    .path()
                    .map_err(|e| e.to_string())?
                    .ends_with("sub/big.bin")
                {
                    let mut bytes = vec![];
                    std::io::Read::read_to_end(&mut entry, &mut bytes)
                        .map_err(|e| e.to_string())?;
                    found = Some(bytes);
                }
            }
            return match found {
                Some(bytes) if bytes == big => Ok(()),
                Some(_) => Err("the tree came back with big.bin changed".into()),
                None => Err("the tree came back without sub/big.bin".into()),
            };
        }
    }
    Err("fs/tar_get did not reach eof in 64 chunks".into())
}

fn paths_confined(
    peer: &mut Peer,
    sid: &Value,
    prefix: &str,
    from_socket: bool,
) -> Result<(), String> {
    let canary = std::env::temp_dir().join(format!("{prefix}-canary"));
    let secret = format!("{prefix}: this file is on the kit's machine, not in the sandbox");
    std::fs::write(&canary, &secret).map_err(|e| format!("writing the canary: {e}"))?;
    let escape = std::env::temp_dir().join(format!("{prefix}-escaped"));
    let outcome = (|| {
        let climbing = format!("/../../../../..{}", canary.display());
        if let Ok(r) = peer.ok(
            methods::FsRead::METHOD,
            json!({"sandbox_id": sid, "path": climbing}),
        ) && r["data"] == b64(secret.as_bytes())
        {
            return Err(format!("fs/read of {climbing} read the kit's canary"));
        }
        let link = format!("/tmp/{prefix}-link");
        let made = start(
            peer,
            sid,
            json!({"argv": ["ln", "-sf", canary.display().to_string(), link]}),
        )?;
        attach(peer, sid, &made, 0)?;
        if let Ok(r) = peer.ok(
            methods::FsRead::METHOD,
            json!({"sandbox_id": sid, "path": link}),
        ) && r["data"] == b64(secret.as_bytes())
        {
            return Err("fs/read through a link made in the sandbox read the kit's canary".into());
        }
        let write_out = format!("/../../../..{}", escape.display());
        let _ = peer.request(
            methods::FsWrite::METHOD,
            json!({"sandbox_id": sid, "path": write_out, "data": b64(b"out")}),
        );
        // A tar entry that climbs: written by hand, as no honest packer would.
        let mut header = tar::Header::new_old();
        let name = format!("../../../../../..{}", escape.display());
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(3);
        header.set_mode(0o644);
        header.set_cksum();
        let mut archive = tar::Builder::new(vec![]);
        archive
            .append(&header, &b"out"[..])
            .map_err(|e| e.to_string())?;
        let tar = archive.into_inner().map_err(|e| e.to_string())?;
        let _ = put_tree(peer, sid, &format!("/tmp/{prefix}-climb"), &tar);
        if from_socket {
            let _ = put_tree_from_socket(peer, sid, &format!("/tmp/{prefix}-climb-raw"), &tar);
        }
        if escape.exists() {
            return Err(format!(
                "a write through `..` (fs/write or a tar entry) created {} on the kit's machine",
                escape.display()
            ));
        }
        if std::fs::read_to_string(&canary).ok().as_deref() != Some(secret.as_str()) {
            return Err("the canary changed".into());
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&canary);
    let _ = std::fs::remove_file(&escape);
    outcome
}
