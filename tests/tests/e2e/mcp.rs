//! sandboxer as MCP tools (issue 17), driven by the official `mcp` Python
//! client on real compose-ssh sandboxes: `sandboxer mcp` over stdio on the
//! local core (tools, profiles as resources, a sandbox created, a command's
//! output streamed as progress, files and trees in and out, errors as tool
//! errors, destroyed), the same with `--server` as a daemon token's caller,
//! and the daemon's `/mcp` over HTTP, where a member token
//! of another project can neither see nor touch the sandbox, and requests
//! without a token or under another host name are refused before MCP.

use super::daemon_support::{TOKEN, daemon_yaml, member_yaml, start};
use super::support::E2e;
use base64::Engine as _;
use sandboxer_tests::mcp_client::drive;
use sandboxer_tests::{bin, loopback};
use serde_json::{Value, json};

const MEMBER_TOKEN: &str = "e2e-mcp-member-elsewhere";

const TOOLS: [&str; 14] = [
    "list_profiles",
    "create_sandbox",
    "list_sandboxes",
    "get_sandbox",
    "run_command",
    "read_file",
    "write_file",
    "list_files",
    "upload_tree",
    "download_tree",
    "extend_ttl",
    "snapshot_sandbox",
    "restore_snapshot",
    "destroy_sandbox",
];

/// compose-ssh on the loopback host, a daemon's admin token and `member`, a
/// member token of project `elsewhere`, and profile `profile`: a busybox that
/// sleeps.
pub(super) fn installation(profile: &str, member: &str) -> E2e {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &(daemon_yaml("30s", "5m") + &member_yaml(member, "atm:other", "elsewhere")),
    );
    e2e.sleeper_profile(
        profile,
        "description: a busybox that sleeps\nextension: ext.compose-ssh\n\
         ttl: {default: 1h, max: 2h}\nspec: {compose_file: compose.yaml}\n",
    );
    e2e
}

/// A tar of one file, `a/b.txt`, as base64.
fn small_tar(e2e: &E2e) -> String {
    let dir = e2e.env.path("tar-src");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a/b.txt"), "in a tree\n").unwrap();
    let out = std::process::Command::new("tar")
        .args(["-C", dir.to_str().unwrap(), "-cf", "-", "a"])
        .output()
        .unwrap();
    assert!(out.status.success());
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

/// The names in a base64 tar.
fn tar_names(tar_base64: &str) -> Vec<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(tar_base64)
        .unwrap();
    let mut child = std::process::Command::new("tar")
        .args(["-tf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn call(tool: &str, args: Value) -> Value {
    json!({ "call": tool, "args": args })
}

#[test]
fn an_mcp_client_works_a_sandbox_through_sandboxer_mcp_over_stdio() {
    let e2e = installation("mcp", MEMBER_TOKEN);
    let id = "$3.structured.id";
    let plan = json!({
        "server": {"stdio": {"command": bin("sandboxer"),
                             "args": ["mcp", "--consumer", "agt:mcp-test", "--project", "e2e"]}},
        "steps": [
            {"list_tools": true},
            {"list_resources": true},
            {"read_resource": "sandboxer://profiles/mcp"},
            call("create_sandbox", json!({"profile": "mcp", "labels": {"by": "mcp"}})),
            {
                "call": "run_command",
                "args": {"id": id, "command":
                    "for i in 1 2 3; do echo line $i; sleep 0.4; done; echo oops >&2; exit 3"},
                "progress": true,
            },
            call("write_file", json!({"id": id, "path": "/tmp/mcp/notes.txt",
                                      "content": "hello from mcp\n"})),
            call("read_file", json!({"id": id, "path": "/tmp/mcp/notes.txt"})),
            call("upload_tree", json!({"id": id, "path": "/tmp/up", "tar_base64": small_tar(&e2e)})),
            call("run_command", json!({"id": id, "argv": ["cat", "/tmp/up/a/b.txt"]})),
            call("download_tree", json!({"id": id, "path": "/tmp/up"})),
            call("list_sandboxes", json!({"labels": {"by": "mcp"}})),
            call("create_sandbox", json!({"profile": "mcpp"})),
            call("run_command", json!({"id": id})),
            call("destroy_sandbox", json!({"id": id})),
            call("get_sandbox", json!({"id": id})),
        ],
    });
    let answers = drive(&plan, &e2e.env.vars());
    let tools: Vec<&str> = answers[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tool in TOOLS {
        assert!(tools.contains(&tool), "{tool} is not offered: {tools:?}");
    }
    assert!(
        answers[1]["resources"]
            .as_array()
            .unwrap()
            .contains(&json!("sandboxer://profiles/mcp")),
        "{}",
        answers[1]
    );
    let profile: Value = serde_json::from_str(answers[2]["contents"][0].as_str().unwrap()).unwrap();
    assert_eq!(profile["id"], "profile.mcp");

    let created = &answers[3];
    assert_eq!(created["is_error"], false, "{created}");
    assert_eq!(created["structured"]["state"], "ready", "{created}");
    assert_eq!(created["structured"]["consumer"], "agt:mcp-test");
    let sandbox = created["structured"]["id"].as_str().unwrap().to_string();

    // The command's result, and its output as progress while it ran: more
    // than one notification, the first before the last line was written.
    let ran = &answers[4];
    assert_eq!(ran["is_error"], false, "{ran}");
    assert_eq!(ran["structured"]["exit_code"], 3, "{ran}");
    assert_eq!(ran["structured"]["stdout"], "line 1\nline 2\nline 3\n");
    assert_eq!(ran["structured"]["stderr"], "oops\n");
    let progress: Vec<&str> = ran["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap_or_default())
        .collect();
    assert!(progress.len() >= 3, "output came at once: {progress:?}");
    assert_eq!(progress[0], "line 1\n", "{progress:?}");
    assert!(progress.concat().contains("oops"), "{progress:?}");

    assert_eq!(answers[5]["structured"]["bytes"], 15, "{}", answers[5]);
    assert_eq!(answers[6]["structured"]["content"], "hello from mcp\n");
    assert_eq!(answers[6]["structured"]["encoding"], "utf-8");
    assert_eq!(answers[7]["is_error"], false, "{}", answers[7]);
    assert_eq!(answers[8]["structured"]["stdout"], "in a tree\n");
    let names = tar_names(answers[9]["structured"]["tar_base64"].as_str().unwrap());
    assert!(
        names.iter().any(|n| n.ends_with("a/b.txt")),
        "the tree out: {names:?}"
    );
    let listed = answers[10]["structured"]["sandboxes"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], sandbox.as_str());

    // Errors are tool errors a model can act on: the code, and the near name.
    let unknown = &answers[11];
    assert_eq!(unknown["is_error"], true, "{unknown}");
    let text = unknown["text"].as_str().unwrap();
    assert!(text.starts_with("not_found: "), "{text}");
    assert!(text.contains("mcp"), "no suggestion: {text}");
    assert_eq!(answers[12]["is_error"], true, "{}", answers[12]);
    assert!(
        answers[12]["text"].as_str().unwrap().contains("`command`"),
        "{}",
        answers[12]
    );

    assert_eq!(answers[13]["is_error"], false, "{}", answers[13]);
    assert_eq!(answers[14]["structured"]["state"], "destroyed");
    let containers = std::process::Command::new("podman")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=sandboxer.id={sandbox}"),
        ])
        .output()
        .unwrap();
    assert!(
        containers.stdout.is_empty(),
        "containers left: {}",
        String::from_utf8_lossy(&containers.stdout)
    );
}

#[tokio::test]
async fn the_daemons_mcp_answers_each_token_as_its_own_caller() {
    let e2e = installation("mcp", MEMBER_TOKEN);
    let daemon = start(&e2e);
    let url = format!("{}/mcp", daemon.url);
    let as_admin = json!({"http": {"url": url, "token": TOKEN}});
    let admin = drive(
        &json!({
            "server": as_admin,
            "steps": [
                call("create_sandbox", json!({"profile": "mcp"})),
                call("run_command", json!({"id": "$0.structured.id", "command": "echo hi"})),
                call("write_file", json!({"id": "$0.structured.id", "path": "/tmp/secret.txt",
                                          "content": "admin's\n"})),
            ],
        }),
        &[],
    );
    assert_eq!(admin[0]["structured"]["state"], "ready", "{}", admin[0]);
    assert_eq!(admin[1]["structured"]["stdout"], "hi\n", "{}", admin[1]);
    let id = admin[0]["structured"]["id"].as_str().unwrap().to_string();

    // A member of another project, through every tool that names a sandbox.
    let member = drive(
        &json!({
            "server": {"http": {"url": url, "token": MEMBER_TOKEN}},
            "steps": [
                call("list_sandboxes", json!({"all": true})),
                call("get_sandbox", json!({"id": id})),
                call("run_command", json!({"id": id, "command": "echo pwned > /tmp/pwned"})),
                call("read_file", json!({"id": id, "path": "/tmp/secret.txt"})),
                call("write_file", json!({"id": id, "path": "/tmp/pwned", "content": "x"})),
                call("list_files", json!({"id": id, "path": "/tmp"})),
                call("download_tree", json!({"id": id, "path": "/tmp"})),
                call("upload_tree", json!({"id": id, "path": "/tmp", "tar_base64": small_tar(&e2e)})),
                call("extend_ttl", json!({"id": id, "by": "1h"})),
                call("snapshot_sandbox", json!({"id": id, "name": "stolen"})),
                call("destroy_sandbox", json!({"id": id})),
            ],
        }),
        &[],
    );
    assert_eq!(
        member[0]["structured"]["sandboxes"],
        json!([]),
        "{}",
        member[0]
    );
    for answer in &member[1..] {
        assert_eq!(answer["is_error"], true, "{answer}");
        let text = answer["text"].as_str().unwrap();
        assert!(text.starts_with("not_found: "), "{text}");
    }
    // Nothing of it happened.
    let after = drive(
        &json!({
            "server": as_admin,
            "steps": [
                call("get_sandbox", json!({"id": id})),
                call("run_command", json!({"id": id, "command": "ls /tmp; cat /tmp/secret.txt"})),
                call("destroy_sandbox", json!({"id": id})),
            ],
        }),
        &[],
    );
    assert_eq!(after[0]["structured"]["state"], "active", "{}", after[0]);
    let listing = after[1]["structured"]["stdout"].as_str().unwrap();
    assert!(!listing.contains("pwned"), "{listing}");
    assert!(
        !listing.contains("b.txt") && !listing.contains("\na\n"),
        "{listing}"
    );
    assert!(listing.ends_with("admin's\n"), "{listing}");
    assert_eq!(after[2]["is_error"], false, "{}", after[2]);

    // Before MCP: no token, an unknown one, another host name.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let http = reqwest::Client::new();
    let post = |token: Option<&str>, host: Option<&str>| {
        let mut request = http
            .post(&url)
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(h) = host {
            request = request.header("Host", h);
        }
        request.send()
    };
    assert_eq!(post(None, None).await.unwrap().status(), 401);
    assert_eq!(post(Some("not-a-token"), None).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(TOKEN), Some("rebound.example:80"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(post(Some(TOKEN), None).await.unwrap().status(), 200);
}

#[test]
fn sandboxer_mcp_with_a_server_acts_as_its_tokens_caller() {
    let e2e = installation("mcp", MEMBER_TOKEN);
    let daemon = start(&e2e);
    let answers = drive(
        &json!({
            "server": {"stdio": {"command": bin("sandboxer"),
                                 "args": ["--server", daemon.url, "--token", MEMBER_TOKEN, "mcp"]}},
            "steps": [
                call("create_sandbox", json!({"profile": "fix"})),
                call("run_command", json!({"id": "$0.structured.id", "argv": ["echo", "remote"]})),
                call("list_sandboxes", json!({})),
                call("destroy_sandbox", json!({"id": "$0.structured.id"})),
            ],
        }),
        &e2e.env.vars(),
    );
    // Charged to the member, in its project, whatever the local configuration says.
    assert_eq!(
        answers[0]["structured"]["consumer"], "atm:other",
        "{}",
        answers[0]
    );
    assert_eq!(answers[0]["structured"]["project"], "elsewhere");
    assert_eq!(
        answers[1]["structured"]["stdout"], "remote\n",
        "{}",
        answers[1]
    );
    let listed = answers[2]["structured"]["sandboxes"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(answers[3]["structured"]["state"], "destroyed");
}
