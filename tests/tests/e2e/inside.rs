//! Working inside compose-ssh sandboxes through sandboxer (issue 16): a tree
//! copied in, changed by a command and copied back (and a tree in and out on
//! compose-ssh's `local` host, without ssh); a command's output read
//! line by line from the daemon while it runs; `exec -it` driven in a real
//! terminal (tmux) with a resize; and a member of another project refused
//! every way in.

use super::daemon_support::{TOKEN, call, daemon_yaml, member_yaml, start};
use super::support::E2e;
use futures::{SinkExt, StreamExt};
use sandboxer_tests::{bin, loopback};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const MEMBER_TOKEN: &str = "e2e-member-of-another-project";

fn sleeper(e2e: &E2e) -> String {
    e2e.sleeper_profile(
        "inside",
        "extension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\nspec: {compose_file: compose.yaml}\n",
    );
    let created = e2e.create("profile.inside", &[]);
    assert_eq!(created["state"], "ready", "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Every file under `root`, by path relative to it, with its bytes.
fn tree_of(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                files.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn a_tree_goes_in_is_changed_by_a_command_and_comes_back_through_the_daemon() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("30s", "5m"),
    );
    let id = sleeper(&e2e);
    let local = e2e.env.path("tree");
    std::fs::create_dir_all(local.join("sub/deeper")).unwrap();
    std::fs::write(local.join("small.txt"), "small\n").unwrap();
    // Over several protocol chunks.
    let big: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(local.join("sub/deeper/big.bin"), &big).unwrap();

    // In, with the CLI on the local core.
    let copied = e2e.json(&["cp", local.to_str().unwrap(), &format!("{id}:/tmp")]);
    assert!(copied["bytes"].as_u64().unwrap() > 3_500_000, "{copied}");
    // Changed inside by a command.
    let changed = e2e.json(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "cd /tmp/tree && echo more >> small.txt && mkdir made && echo new > made/new.txt \
         && md5sum sub/deeper/big.bin",
    ]);
    assert_eq!(changed["exit_code"], 0, "{changed}");

    // Out, through the daemon (streamed both ways).
    let d = start(&e2e);
    let back = e2e.env.path("back");
    let out = e2e
        .sandboxer(&[
            "--server",
            &d.url,
            "--token",
            TOKEN,
            "--json",
            "cp",
            &format!("{id}:/tmp/tree"),
            back.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = tree_of(&local);
    for (name, bytes) in &mut expected {
        if name == "small.txt" {
            bytes.extend_from_slice(b"more\n");
        }
    }
    expected.push(("made/new.txt".into(), b"new\n".to_vec()));
    expected.sort();
    assert_eq!(tree_of(&back), expected);

    // One file, and a listing, over the API.
    let client = reqwest::Client::new();
    let file = client
        .get(format!(
            "{}/v1/sandboxes/{id}/files?path=/tmp/tree/made/new.txt",
            d.url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"new\n");
    let (status, listed) = call(
        &d,
        "GET",
        &format!("/v1/sandboxes/{id}/files/list?path=/tmp/tree"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["made", "small.txt", "sub"]);

    // A folder name that a shell would run: it is only a name, inside.
    let canary = e2e.env.path("injected");
    let hostile = format!(
        "/tmp/x y;touch {};$(touch {})",
        canary.display(),
        canary.display()
    );
    let small = local.join("small.txt");
    e2e.json(&["cp", small.to_str().unwrap(), &format!("{id}:{hostile}")]);
    assert!(
        !canary.exists(),
        "a folder name ran as a command on the host"
    );
    let inside = e2e.json(&["exec", &id, "--", "cat", &hostile]);
    assert_eq!(inside["stdout"], "small\n", "{inside}");
    e2e.json(&["destroy", &id]);
}

#[test]
fn a_tree_goes_in_raw_on_the_local_host_and_comes_back_whole() {
    // compose-ssh's `local` host runs podman here without ssh: the core's
    // socket is the stdin of `podman exec … untar` itself.
    let e2e = E2e::new();
    e2e.configure_with(
        &[format!(
            "{{name: local, workdir: {}}}",
            e2e.workdir.display()
        )],
        "",
    );
    let id = sleeper(&e2e);
    let local = e2e.env.path("tree");
    std::fs::create_dir_all(local.join("a/b")).unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(local.join("a/b/big.bin"), &big).unwrap();
    std::fs::write(local.join("top.txt"), "top\n").unwrap();

    let copied = e2e.json(&["cp", local.to_str().unwrap(), &format!("{id}:/tmp")]);
    assert!(copied["bytes"].as_u64().unwrap() > 5_000_000, "{copied}");
    let back = e2e.env.path("back");
    e2e.json(&["cp", &format!("{id}:/tmp/tree"), back.to_str().unwrap()]);
    assert_eq!(tree_of(&back), tree_of(&local));
    e2e.json(&["destroy", &id]);
}

#[tokio::test]
async fn output_is_read_line_by_line_while_the_command_runs() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("30s", "5m"),
    );
    let id = sleeper(&e2e);
    let d = start(&e2e);
    let (status, started) = call(
        &d,
        "POST",
        &format!("/v1/sandboxes/{id}/commands"),
        Some(
            json!({"argv": ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 1; done; exit 4"]}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let exec_id = started["exec_id"].as_str().unwrap();
    let began = Instant::now();
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1/sandboxes/{id}/commands/{exec_id}/output",
            d.url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut seen: Vec<(String, Duration)> = vec![];
    let exit = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("the stream stalled")
            .expect("the stream ended before the exit")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        let mut exit = None;
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let v: Value = serde_json::from_str(data.trim()).unwrap();
            match v["event"].as_str() {
                Some("output") => {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v["data"].as_str().unwrap())
                        .unwrap();
                    seen.push((String::from_utf8(bytes).unwrap(), began.elapsed()));
                }
                Some("exited") => exit = Some(v),
                _ => {}
            }
        }
        if let Some(e) = exit {
            break (e, began.elapsed());
        }
    };
    let lines: String = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(lines, "line 1\nline 2\nline 3\n");
    assert_eq!(exit.0["exit_code"], 4);
    let first = seen[0].1;
    assert!(
        exit.1 - first > Duration::from_millis(1500),
        "the first line came at {first:?}, the exit at {:?}: not while it ran",
        exit.1
    );
    e2e.json(&["destroy", &id]);
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for_screen(session: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if screen.contains(text) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "{text:?} never showed:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn exec_it_is_a_terminal_that_resizes_and_ends_with_the_shells_status() {
    let e2e = E2e::new();
    let id = sleeper(&e2e);
    let session = format!("sandboxer-e2e-{}", std::process::id());
    let status_file = e2e.env.path("exit-status");
    let env: String = e2e
        .env
        .vars()
        .iter()
        .map(|(k, v)| format!("{k}={} ", shlex::try_quote(&v.to_string_lossy()).unwrap()))
        .collect();
    let command = format!(
        "env {env} {} exec -it {id} -- sh; echo \"status=$?\" > {}; sleep 60",
        bin("sandboxer").display(),
        status_file.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "80",
        "-y",
        "24",
        &command,
    ]);
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .status();
        }
    }
    let _kill = Kill(session.clone());
    // Typed until the shell is up to read it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tmux(&["send-keys", "-t", &session, "stty size; tty", "Enter"]);
        std::thread::sleep(Duration::from_millis(500));
        if tmux(&["capture-pane", "-p", "-t", &session]).contains("24 80") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the shell never answered `stty size`"
        );
    }
    wait_for_screen(&session, "/dev/pts/");
    tmux(&["resize-window", "-t", &session, "-x", "120", "-y", "40"]);
    // The resize reaches the shell's terminal (SIGWINCH passed on).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tmux(&["send-keys", "-t", &session, "stty size", "Enter"]);
        if tmux(&["capture-pane", "-p", "-t", &session]).contains("40 120") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resize never reached the shell"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Raw mode: Ctrl-C goes to the command in the sandbox, not to sandboxer.
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "sleep 30; echo not-interrupted",
        "Enter",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    tmux(&["send-keys", "-t", &session, "C-c", ""]);
    tmux(&["send-keys", "-t", &session, "echo still-here", "Enter"]);
    let screen = wait_for_screen(&session, "\nstill-here");
    assert!(
        !screen.lines().any(|l| l.trim() == "not-interrupted"),
        "Ctrl-C did not interrupt the command in the sandbox:\n{screen}"
    );
    tmux(&["send-keys", "-t", &session, "exit 5", "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !status_file.exists() {
        assert!(Instant::now() < deadline, "sandboxer exec -it did not end");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        std::fs::read_to_string(&status_file).unwrap().trim(),
        "status=5"
    );
    e2e.json(&["destroy", &id]);
}

/// A request: method, URL, a JSON body or a raw one.
type Attempt = (reqwest::Method, String, Option<Value>, Option<Vec<u8>>);

#[tokio::test]
async fn a_member_of_another_project_cannot_work_inside() {
    let e2e = E2e::new();
    let config = daemon_yaml("30s", "5m") + &member_yaml(MEMBER_TOKEN, "atm:intruder", "elsewhere");
    e2e.configure_with(&[loopback::host_yaml("loopback", &e2e.workdir)], &config);
    let id = sleeper(&e2e);
    let d = start(&e2e);
    let client = reqwest::Client::new();
    let base = format!("{}/v1/sandboxes/{id}", d.url);
    let attempts: Vec<Attempt> = vec![
        (
            reqwest::Method::POST,
            format!("{base}/commands"),
            Some(json!({"argv": ["id"]})),
            None,
        ),
        (reqwest::Method::GET, format!("{base}/commands"), None, None),
        (
            reqwest::Method::GET,
            format!("{base}/commands/app:e-1/output"),
            None,
            None,
        ),
        (
            reqwest::Method::POST,
            format!("{base}/commands/app:e-1/signal"),
            Some(json!({"signal": "kill"})),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("{base}/files?path=/etc/hostname"),
            None,
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("{base}/files?path=/tmp/x"),
            None,
            Some(b"x".to_vec()),
        ),
        (
            reqwest::Method::GET,
            format!("{base}/files/list?path=/"),
            None,
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("{base}/files?path=/tmp&recursive=true"),
            None,
            None,
        ),
        (
            reqwest::Method::GET,
            format!("{base}/tree?path=/etc"),
            None,
            None,
        ),
        (
            reqwest::Method::PUT,
            format!("{base}/tree?path=/tmp"),
            None,
            Some(vec![0; 1024]),
        ),
    ];
    for (method, url, json_body, raw) in attempts {
        let mut request = client
            .request(method.clone(), &url)
            .bearer_auth(MEMBER_TOKEN);
        if let Some(b) = json_body {
            request = request.json(&b);
        }
        if let Some(r) = raw {
            request = request.body(r);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            404,
            "{method} {url} was not refused as unknown"
        );
    }
    // Nothing ran: the sandbox is still untouched, never used.
    assert_eq!(e2e.json(&["get", &id])["state"], "ready");
    e2e.json(&["destroy", &id]);
}

/// A profile whose sandbox pauses when idle and resumes on use.
fn pausing(e2e: &E2e, idle: &str) -> String {
    e2e.sleeper_profile(
        "pausing",
        &format!(
            "extension: ext.compose-ssh\nttl: {{default: 1h, max: 2h, idle: {idle}, on_idle: pause, \
             auto_resume: true}}\ncost: {{per_hour: 0.60, paused_per_hour: 0.06}}\n\
             spec: {{compose_file: compose.yaml}}\n"
        ),
    );
    let created = e2e.create("profile.pausing", &[]);
    assert_eq!(created["state"], "ready", "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// A record's rate (an exact decimal, written as a string).
fn rate(record: &Value) -> f64 {
    record["cost_per_hour"].as_str().unwrap().parse().unwrap()
}

/// The state of a sandbox, read without touching it (a `get` is a use).
fn state_of(e2e: &E2e, id: &str) -> String {
    let all = e2e.json(&["list", "--all"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .map(|r| r["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn counter(e2e: &E2e, id: &str) -> u64 {
    let out = e2e.json(&["exec", id, "--", "cat", "/tmp/count"]);
    out["stdout"].as_str().unwrap().trim().parse().unwrap()
}

#[test]
fn a_paused_sandbox_stops_its_counter_bills_less_and_goes_on_when_resumed() {
    let e2e = E2e::new();
    let id = pausing(&e2e, "1h");
    // A counter in the background, ten ticks a second.
    let started = e2e.json(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "(i=0; while true; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/count; sleep 0.1; done) \
         >/dev/null 2>&1 &",
    ]);
    assert_eq!(started["exit_code"], 0, "{started}");
    std::thread::sleep(Duration::from_millis(1000));
    let before = counter(&e2e, &id);
    let paused = e2e.json(&["pause", &id]);
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(rate(&paused), 0.06);
    // Frozen: the container's processes do not run (podman says so too).
    let ps = Command::new("podman")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=sandboxer.id={id}"),
            "--format",
            "{{.State}}",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ps.stdout)
            .to_lowercase()
            .contains("paused")
    );
    std::thread::sleep(Duration::from_secs(3));
    let resumed = e2e.json(&["resume", &id]);
    assert_eq!(resumed["state"], "active", "{resumed}");
    assert_eq!(rate(&resumed), 0.60);
    let after = counter(&e2e, &id);
    // Over 3 s frozen it would have gone up by 30 or more.
    assert!(
        after < before + 15,
        "the counter ran while paused: {before} -> {after}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    let later = counter(&e2e, &id);
    assert!(
        later >= after + 5,
        "the counter did not go on: {after} -> {later}"
    );

    // The paused stretch is billed at the paused rate.
    let usage = e2e.json(&["usage", "--by", "profile"]);
    let text = usage.to_string();
    assert!(text.contains("profile.pausing"), "{text}");
    let events = e2e.json(&["events", "--sandbox", &id]);
    let pause = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_state"] == "paused")
        .expect("a pause event");
    let amount = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(amount(&pause["detail"]["running_rate"]), 0.60);
    assert_eq!(amount(&pause["detail"]["paused_rate"]), 0.06);

    // Logs and figures of the running sandbox.
    let top = e2e.json(&["top", &id]);
    assert!(top["total"]["memory_bytes"].as_u64().unwrap() > 0, "{top}");
    assert!(
        top["services"]["app"]["pids"].as_u64().unwrap() >= 2,
        "{top}"
    );
    e2e.json(&["destroy", &id]);
}

#[test]
fn an_idle_sandbox_pauses_and_a_command_resumes_it() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("30s", "5m"),
    );
    let id = pausing(&e2e, "2s");
    let d = start(&e2e);
    let deadline = Instant::now() + Duration::from_secs(60);
    while state_of(&e2e, &id) != "paused" {
        assert!(Instant::now() < deadline, "the idle sandbox never paused");
        std::thread::sleep(Duration::from_millis(500));
    }
    // auto_resume: a command resumes it and runs.
    let out = e2e.json(&["exec", &id, "--", "echo", "awake"]);
    assert_eq!(out["stdout"], "awake\n");
    assert_eq!(state_of(&e2e, &id), "active");
    drop(d);
    e2e.json(&["destroy", &id]);
}

#[test]
fn an_attached_terminal_keeps_an_idle_sandbox_from_expiring() {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("30s", "5m"),
    );
    e2e.sleeper_profile(
        "idler",
        "extension: ext.compose-ssh\nttl: {default: 1h, max: 2h, idle: 8s}\n\
         spec: {compose_file: compose.yaml}\n",
    );
    let watched = e2e.create("profile.idler", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let unwatched = e2e.create("profile.idler", &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = start(&e2e);
    // A terminal open on one, through the daemon, with nothing typed.
    let mut terminal = std::process::Command::new(bin("sandboxer"))
        .envs(e2e.env.vars())
        .env_remove("SANDBOXER_CONSUMER")
        .args([
            "--server", &d.url, "--token", TOKEN, "exec", "-i", &watched, "--", "sh",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A use, so that the terminal has the whole idle time to attach (the
    // reaper passes every second from the daemon's start).
    e2e.json(&["get", &watched]);
    let used_at = Instant::now();
    // The other, idle, is expired within a few reaper passes.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = state_of(&e2e, &unwatched);
        if state == "expired" || state == "destroying" || state == "destroyed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle sandbox never expired: {state}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Well past its idle time since that use, the watched one is still in use.
    let past_idle = used_at + Duration::from_secs(8 + 4);
    std::thread::sleep(past_idle.saturating_duration_since(Instant::now()));
    assert_eq!(state_of(&e2e, &watched), "active");
    let _ = terminal.kill();
    let _ = terminal.wait();
    drop(d);
    e2e.json(&["destroy", &watched]);
}

#[tokio::test]
async fn a_terminal_over_a_websocket_types_resizes_and_ends() {
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &daemon_yaml("30s", "5m"),
    );
    let id = sleeper(&e2e);
    let d = start(&e2e);
    let (status, started) = call(
        &d,
        "POST",
        &format!("/v1/sandboxes/{id}/commands"),
        Some(json!({"argv": ["sh"], "pty": {"rows": 24, "cols": 80}})),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let exec_id = started["exec_id"].as_str().unwrap();
    let url = format!(
        "{}/v1/sandboxes/{id}/commands/{exec_id}/terminal",
        d.url.replacen("http://", "ws://", 1)
    );
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut screen = String::new();
    let mut exited = None;
    let mut typed = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while exited.is_none() {
        assert!(
            Instant::now() < deadline,
            "the terminal never ended: {screen:?}"
        );
        if !typed {
            socket
                .send(Message::Binary(b"stty size\n".to_vec().into()))
                .await
                .unwrap();
        }
        let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(500), socket.next()).await
        else {
            continue;
        };
        match frame.unwrap() {
            Message::Binary(bytes) => screen.push_str(&String::from_utf8_lossy(&bytes)),
            Message::Text(text) => exited = Some(serde_json::from_str::<Value>(&text).unwrap()),
            _ => {}
        }
        if !typed && screen.contains("24 80") {
            typed = true;
            socket
                .send(Message::Text(
                    r#"{"resize": {"rows": 30, "cols": 100}}"#.into(),
                ))
                .await
                .unwrap();
            socket
                .send(Message::Binary(b"stty size; exit 3\n".to_vec().into()))
                .await
                .unwrap();
        }
    }
    assert!(
        screen.contains("30 100"),
        "the resize did not reach it: {screen:?}"
    );
    assert_eq!(exited.unwrap()["exited"]["exit_code"], 3);
    // Without an upgrade the route says what it is.
    let (status, refused) = call(
        &d,
        "GET",
        &format!("/v1/sandboxes/{id}/commands/{exec_id}/terminal"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    e2e.json(&["destroy", &id]);
}
