//! The daemon as a real process on 127.0.0.1:0 with real extension processes:
//! every route, auth refusals, SSE order, concurrent creates, idempotency.

use super::support::env as test_env;
use futures::StreamExt;
use reqwest::{Client, StatusCode};
use sandboxer_core::api::tokens::digest_hex;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "admin-token-0123456789";
pub const ALPHA: &str = "alpha-token-0123456789";
pub const BETA: &str = "beta-token-0123456789";

/// A running `sandboxer serve`, killed on drop (with `_served`).
pub struct Daemon {
    _served: sandboxer_tests::process::Served,
    pub url: String,
    pub env: super::support::Env,
    pub http: Client,
}

pub fn config(extra: &str) -> String {
    format!(
        "daemon:\n  reaper_interval: 1s\n  reconcile_interval: 1s\n  orphan_grace: 1s\n  stuck_after: 30s\n  tokens:\n\
         \x20   - {{consumer: \"adm:ops\", project: ops, token_sha256: {}}}\n\
         \x20   - {{consumer: \"agt:alpha\", project: alpha, token_sha256: {}}}\n\
         \x20   - {{consumer: \"agt:beta\", project: beta, token_sha256: {}}}\n{extra}",
        digest_hex(ADMIN),
        digest_hex(ALPHA),
        digest_hex(BETA)
    )
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(test_env(), &config(""))
    }

    pub fn start_with(env: super::support::Env, config: &str) -> Daemon {
        env.config(config);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandboxer"));
        cmd.envs(env.env.vars()).stderr(Stdio::inherit());
        let served = sandboxer_tests::process::serve(cmd);
        Daemon {
            url: served.url.clone(),
            _served: served,
            env,
            http: Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn create(&self, token: &str, body: Value) -> Value {
        let (status, value) = self
            .call("POST", "/v1/sandboxes", Some(token), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{value}");
        value
    }
}

#[tokio::test]
async fn every_route_answers_an_admin() {
    let d = Daemon::start();
    let (status, health) = d.call("GET", "/healthz", Some(ADMIN), None).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );

    let created = d
        .create(
            ADMIN,
            json!({"profile": "fix", "labels": {"team": "infra"}, "ttl": "30m"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "ready");
    assert_eq!(created["consumer"], "adm:ops");
    assert_eq!(created["project"], "ops");

    let (status, list) = d
        .call(
            "GET",
            "/v1/sandboxes?label=team=infra&state=ready",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, none) = d
        .call("GET", "/v1/sandboxes?label=team=other", Some(ADMIN), None)
        .await;
    assert_eq!(none, json!([]));
    let (status, got) = d
        .call(
            "GET",
            &format!("/v1/sandboxes/{id}?refresh=true"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(
        (status, got["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    let (status, extended) = d
        .call(
            "POST",
            &format!("/v1/sandboxes/{id}/extend-ttl"),
            Some(ADMIN),
            Some(json!({"by": "10m"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{extended}");
    assert_ne!(extended["expires_at"], created["expires_at"]);
    let (status, refused) = d
        .call(
            "POST",
            &format!("/v1/sandboxes/{id}/extend-ttl"),
            Some(ADMIN),
            Some(json!({"by": "5h"})),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    let (status, ran) = d
        .call(
            "POST",
            &format!("/v1/sandboxes/{id}/exec"),
            Some(ADMIN),
            Some(json!({"argv": ["echo", "hi"]})),
        )
        .await;
    assert_eq!(
        (status, ran["stdout"].as_str()),
        (StatusCode::OK, Some("hi\n"))
    );

    let (status, recreated) = d
        .call(
            "POST",
            &format!("/v1/sandboxes/{id}/recreate"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{recreated}");
    let new_id = recreated["new"]["id"].as_str().unwrap().to_string();
    assert_eq!(recreated["old"]["state"], "destroyed");

    let (status, destroyed) = d
        .call(
            "DELETE",
            &format!("/v1/sandboxes/{new_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(
        (status, destroyed["already_destroyed"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    let (_, again) = d
        .call(
            "DELETE",
            &format!("/v1/sandboxes/{new_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(again["already_destroyed"], true);

    let (status, profiles) = d.call("GET", "/v1/profiles", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        profiles
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "profile.fix")
    );
    let (status, fix) = d.call("GET", "/v1/profiles/fix", Some(ADMIN), None).await;
    assert_eq!(
        (status, fix["extension"].as_str()),
        (StatusCode::OK, Some("ext.fixture"))
    );
    let (status, missing) = d.call("GET", "/v1/profiles/nope", Some(ADMIN), None).await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, exts) = d.call("GET", "/v1/extensions", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        exts.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "fixture" && e["handshake"] == "ok")
    );
    let (status, fixture) = d
        .call("GET", "/v1/extensions/fixture", Some(ADMIN), None)
        .await;
    assert_eq!(
        (status, fixture["protocol_version"].as_str()),
        (
            StatusCode::OK,
            Some(
                sandboxer_ext_protocol::PROTOCOL_VERSION
                    .to_string()
                    .as_str()
            )
        )
    );

    let (status, events) = d
        .call(
            "GET",
            &format!("/v1/events?sandbox={id}&limit=3"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let states: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pending", "provisioning", "ready"]);
    let (_, next) = d
        .call(
            "GET",
            &format!("/v1/events?sandbox={id}&after={}", events["next_after"]),
            Some(ADMIN),
            None,
        )
        .await;
    assert!(
        next["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["seq"].as_i64() > events["next_after"].as_i64())
    );

    // tail=: the newest ones in order; tail=0 none, and where the log ends.
    let tail = |n: u32| format!("/v1/events?sandbox={id}&tail={n}");
    let (_, newest) = d.call("GET", &tail(2), Some(ADMIN), None).await;
    let seqs = |page: &serde_json::Value| -> Vec<i64> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    };
    let all = seqs(&d.call("GET", &tail(1000), Some(ADMIN), None).await.1);
    assert_eq!(
        all,
        seqs(&events)
            .into_iter()
            .chain(seqs(&next))
            .collect::<Vec<_>>()
    );
    assert_eq!(seqs(&newest), all[all.len() - 2..]);
    let (_, end) = d.call("GET", &tail(0), Some(ADMIN), None).await;
    assert_eq!(seqs(&end), Vec::<i64>::new());
    assert_eq!(end["next_after"].as_i64(), all.last().copied());
    let (status, _) = d
        .call("GET", &format!("{}&after=1", tail(1)), Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "tail and after together");

    let (status, usage) = d
        .call("GET", "/v1/usage?by=profile", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage["groups"][0]["key"], "profile.fix");
    let seconds: f64 = usage["groups"][0]["sandbox_seconds"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds > 0.0, "{usage}");
    let (status, hosts) = d.call("GET", "/v1/hosts", Some(ADMIN), None).await;
    assert_eq!((status, hosts["hosts"].is_array()), (StatusCode::OK, true));

    let (status, metrics) = d.call("GET", "/metrics", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("sandboxer_sandboxes{state=\"destroyed\"} 2"),
        "{text}"
    );
    assert!(text.contains(
        "sandboxer_extension_calls_total{extension=\"fixture\",method=\"sandbox/create\"} 2"
    ));
    assert!(text.contains("sandboxer_reaper_runs_total"));

    let (status, body) = d
        .call(
            "POST",
            "/v1/sandboxes",
            Some(ADMIN),
            Some(json!({"profil": "fix"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("profil")
    );
    let (status, body) = d.call("GET", "/v1/nowhere", Some(ADMIN), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn tokens_are_checked_and_projects_stay_apart() {
    let d = Daemon::start();
    for token in [None, Some("wrong-token")] {
        let (status, body) = d.call("GET", "/v1/sandboxes", token, None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
        let (status, _) = d.call("GET", "/healthz", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let alpha = d.create(ALPHA, json!({"profile": "fix"})).await;
    let beta = d.create(BETA, json!({"profile": "fix"})).await;
    assert_eq!(alpha["project"], "alpha");
    assert_eq!(alpha["consumer"], "agt:alpha");
    let beta_id = beta["id"].as_str().unwrap();

    // Another project's sandbox looks exactly like one that does not exist.
    let (s1, b1) = d
        .call(
            "GET",
            &format!("/v1/sandboxes/{beta_id}"),
            Some(ALPHA),
            None,
        )
        .await;
    let (s2, b2) = d
        .call("GET", "/v1/sandboxes/01nosuchsandbox", Some(ALPHA), None)
        .await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(b1["error"]["code"], b2["error"]["code"]);
    for (method, path, body) in [
        ("DELETE", format!("/v1/sandboxes/{beta_id}"), None),
        (
            "POST",
            format!("/v1/sandboxes/{beta_id}/extend-ttl"),
            Some(json!({"by": "1m"})),
        ),
        (
            "POST",
            format!("/v1/sandboxes/{beta_id}/exec"),
            Some(json!({"argv": ["true"]})),
        ),
        ("POST", format!("/v1/sandboxes/{beta_id}/recreate"), None),
        ("GET", format!("/v1/events?sandbox={beta_id}"), None),
    ] {
        let (status, _) = d.call(method, &path, Some(ALPHA), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, listed) = d.call("GET", "/v1/sandboxes", Some(ALPHA), None).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [alpha["id"].as_str().unwrap()]);
    let (status, _) = d
        .call("GET", "/v1/sandboxes?project=beta", Some(ALPHA), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = d
        .call(
            "POST",
            "/v1/sandboxes",
            Some(ALPHA),
            Some(json!({"profile": "fix", "project": "beta"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, events) = d.call("GET", "/v1/events", Some(ALPHA), None).await;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["sandbox_id"] == alpha["id"])
    );
    // The admin sees both, and beta's sandbox is untouched.
    let (_, all) = d.call("GET", "/v1/sandboxes", Some(ADMIN), None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, still) = d
        .call("GET", &format!("/v1/sandboxes/{beta_id}"), Some(BETA), None)
        .await;
    assert_eq!(still["state"], "ready");
}

#[tokio::test]
async fn the_event_stream_delivers_events_in_order() {
    let d = Daemon::start();
    let response = d
        .http
        .get(format!("{}/v1/events/stream", d.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    for _ in 0..3 {
        d.create(ADMIN, json!({"profile": "fix"})).await;
    }
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while text.matches("\ndata:").count() + usize::from(text.starts_with("data:")) < 9
        && Instant::now() < deadline
    {
        if let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_millis(500), body.next()).await
        {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect();
    assert_eq!(events.len(), 9, "{text}");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>(), "in order, none missing");
    for chunk in events.chunks(3) {
        let states: Vec<&str> = chunk
            .iter()
            .map(|e| e["to_state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["pending", "provisioning", "ready"]);
    }
}

#[tokio::test]
async fn fifty_concurrent_creates_are_all_recorded_once() {
    let d = Daemon::start();
    let creates = (0..50).map(|i| {
        let d = &d;
        async move {
            d.create(
                ADMIN,
                json!({"profile": "fix", "labels": {"n": i.to_string()}}),
            )
            .await
        }
    });
    let created = futures::future::join_all(creates).await;
    let mut ids: Vec<String> = created
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "ids are unique");
    let (_, listed) = d.call("GET", "/v1/sandboxes", Some(ADMIN), None).await;
    assert_eq!(listed.as_array().unwrap().len(), 50);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "ready")
    );
    let fixture_records = std::fs::read_dir(d.env.env.path("fixture-state"))
        .unwrap()
        .count();
    assert_eq!(fixture_records, 50, "the backend holds each exactly once");
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_gets_the_same_sandbox() {
    let d = Daemon::start();
    let send = |key: &'static str, token: &'static str| {
        d.http
            .post(format!("{}/v1/sandboxes", d.url))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"profile": "fix"}))
            .send()
    };
    let (first, second) = tokio::join!(send("retry-1", ADMIN), send("retry-1", ADMIN));
    let (first, second) = (first.unwrap(), second.unwrap());
    let statuses = [first.status(), second.status()];
    assert!(
        statuses.contains(&StatusCode::CREATED) && statuses.contains(&StatusCode::OK),
        "{statuses:?}"
    );
    let (a, b): (Value, Value) = (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(a["id"], b["id"]);
    let third: Value = send("retry-1", ADMIN).await.unwrap().json().await.unwrap();
    assert_eq!(third["id"], a["id"]);
    // Keys belong to their consumer.
    let other = send("retry-1", ALPHA).await.unwrap();
    assert_eq!(other.status(), StatusCode::CREATED);
    let other: Value = other.json().await.unwrap();
    assert_ne!(other["id"], a["id"]);
    let (_, all) = d.call("GET", "/v1/sandboxes", Some(ADMIN), None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_reaper_destroys_expired_sandboxes_with_an_event_per_attempt() {
    let d = Daemon::start();
    let created = d
        .create(ADMIN, json!({"profile": "fix", "ttl": "1s"}))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, s) = d
            .call("GET", &format!("/v1/sandboxes/{id}"), Some(ADMIN), None)
            .await;
        if s["state"] == "destroyed" {
            break;
        }
        assert!(Instant::now() < deadline, "still {} after 10 s", s["state"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        d.env.env.fixture_record(&id).is_none(),
        "gone from the backend"
    );
    let (_, events) = d
        .call(
            "GET",
            &format!("/v1/events?sandbox={id}"),
            Some(ADMIN),
            None,
        )
        .await;
    let events = events["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["to_state"] == "expired" && e["actor"] == "system")
    );
    let attempt = events
        .iter()
        .find(|e| e["kind"] == "reap_attempt")
        .expect("an attempt event");
    assert_eq!(attempt["detail"]["outcome"], "destroyed");
}

#[tokio::test]
async fn the_reconciler_reports_and_reaps_orphans_and_marks_vanished_sandboxes() {
    let d = Daemon::start();
    let kept = d.create(ADMIN, json!({"profile": "fix"})).await;
    let vanishing = d.create(ADMIN, json!({"profile": "fix"})).await;
    let ours = kept["labels"]["sandboxer.installation"]
        .as_str()
        .expect("every sandbox is labelled with its installation")
        .to_string();
    // An orphan: labelled resources of this installation the store never heard
    // of; and resources another installation sharing the backend made, and one
    // from before installations labelled theirs: those are never touched.
    let orphan = "01orphanmadebyhand";
    let foreign = "01foreignmadebyhand";
    let unlabelled = "01unlabelledbyhand";
    let mut ext = sandboxer_tests::session::Session::start(
        &sandboxer_tests::fixture_ext(),
        json!({"state_dir": d.env.env.path("fixture-state")}),
    );
    for (id, installation) in [
        (orphan, Some(ours.as_str())),
        (foreign, Some("01anotherinstallation")),
        (unlabelled, None),
    ] {
        let mut labels = json!({ "sandboxer.id": id });
        if let Some(i) = installation {
            labels["sandboxer.installation"] = json!(i);
        }
        ext.ok(
            "sandbox/create",
            json!({"sandbox_id": id, "profile": {"id": "profile.fix", "version": "1", "spec": {}},
            "labels": labels, "expires_at": "2030-01-01T00:00:00Z"}),
        );
    }
    drop(ext);
    let vanishing_id = vanishing["id"].as_str().unwrap();
    std::fs::remove_file(
        d.env
            .env
            .path(&format!("fixture-state/{vanishing_id}.json")),
    )
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, v) = d
            .call(
                "GET",
                &format!("/v1/sandboxes/{vanishing_id}"),
                Some(ADMIN),
                None,
            )
            .await;
        let reaped = d.env.env.fixture_record(orphan).is_none();
        if v["state"] == "failed" && reaped {
            assert!(v["last_error"].as_str().unwrap().contains("vanished"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "state {} / orphan reaped {reaped}",
            v["state"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, events) = d.call("GET", "/v1/events", Some(ADMIN), None).await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sandbox_id"] == orphan)
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["orphan_found", "orphan_reaped"]);
    for id in [foreign, unlabelled] {
        assert!(
            d.env.env.fixture_record(id).is_some(),
            "{id}: another installation's resources are left alone"
        );
        assert!(
            !events["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["sandbox_id"] == id),
            "{id}: no event about another installation's resources"
        );
    }
    let (_, k) = d
        .call(
            "GET",
            &format!("/v1/sandboxes/{}", kept["id"].as_str().unwrap()),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(k["state"], "ready", "a healthy sandbox is left alone");
}

#[tokio::test]
async fn every_cli_verb_can_go_through_the_daemon() {
    let d = Daemon::start();
    let elsewhere = d.env.env.path("never-created.sqlite");
    let cli = |args: &[&str]| {
        let mut cmd = d.env.sandboxer(args);
        cmd.env("SANDBOXER_SERVER", &d.url)
            .env("SANDBOXER_TOKEN", ALPHA)
            .env("SANDBOXER_STATE", &elsewhere);
        cmd
    };
    let json = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = cli(&all).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let created = json(&["create", "--profile", "fix", "--label", "via=daemon"]);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["project"], "alpha", "attributed by the token");
    assert_eq!(json(&["get", &id])["labels"]["via"], "daemon");
    assert_eq!(
        json(&["list", "--label", "via=daemon"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let extended = json(&["extend-ttl", &id, "5m"]);
    assert_ne!(extended["expires_at"], created["expires_at"]);
    assert_eq!(
        json(&["exec", &id, "--", "echo", "through"])["stdout"],
        "through\n"
    );
    let events = json(&["events", "--sandbox", &id]);
    assert!(events.as_array().unwrap().len() >= 4);
    let text = String::from_utf8(
        cli(&["get", &id])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(text.contains(&format!("id           {id}")), "{text}");
    assert!(
        json(&["profiles", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "profile.fix")
    );
    assert_eq!(json(&["extensions", "show", "fixture"])["handshake"], "ok");
    let recreated = json(&["recreate", &id]);
    let new_id = recreated["new"]["id"].as_str().unwrap().to_string();
    assert_eq!(json(&["destroy", &new_id])["already_destroyed"], false);
    // The hosts are an admin's to see, through the daemon as locally.
    cli(&["hosts"]).assert().code(4);
    let hosts = cli(&["--json", "hosts"])
        .env("SANDBOXER_TOKEN", ADMIN)
        .assert()
        .success();
    let hosts: Value = serde_json::from_slice(&hosts.get_output().stdout).unwrap();
    assert!(hosts.is_array(), "{hosts}");
    // The operator's commands say they need the local state file.
    let out = cli(&["inspect"]).assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("without --server"));
    // Errors carry the daemon's code and map to the CLI's exit codes.
    let out = cli(&["get", "01nosuchsandbox"]).assert().code(3);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("not_found"));
    cli(&["extend-ttl", &id, "5h"]).assert().code(4);
    let out = cli(&["list"])
        .env("SANDBOXER_TOKEN", "wrong")
        .assert()
        .code(4);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("unauthorized"));
    assert!(
        !elsewhere.exists(),
        "--server never touches a local state file"
    );
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_shuts_extensions_down_by_the_protocol() {
    let env = test_env();
    env.config(&config(""));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandboxer"));
    cmd.envs(env.env.vars())
        .env("SANDBOXER_EXT_FIXTURE_FAULT", "slow=sandbox/create:1500")
        .env("SANDBOXER_LOG", "debug")
        .stderr(Stdio::piped());
    let sandboxer_tests::process::Served {
        process: sandboxer_tests::process::KillOnDrop(ref mut child),
        url,
    } = sandboxer_tests::process::serve(cmd);
    let create = tokio::spawn(
        Client::new()
            .post(format!("{url}/v1/sandboxes"))
            .bearer_auth(ADMIN)
            .json(&json!({"profile": "fix"}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // SAFETY: kill sends SIGTERM to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let response = create
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(response.status(), StatusCode::CREATED);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(
        stderr.contains("fixture: shut down by the protocol"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_ends_open_mcp_sessions_instead_of_waiting_out_the_drain() {
    let env = test_env();
    env.config(&config(""));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandboxer"));
    cmd.envs(env.env.vars()).stderr(Stdio::null());
    let sandboxer_tests::process::Served {
        process: sandboxer_tests::process::KillOnDrop(ref mut child),
        url,
    } = sandboxer_tests::process::serve(cmd);
    let http = Client::new();
    let mcp = format!("{url}/mcp");
    let post = |body: Value, session: Option<&str>| {
        let mut request = http
            .post(&mcp)
            .bearer_auth(ADMIN)
            .header("Accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(id) = session {
            request = request.header("Mcp-Session-Id", id);
        }
        request.send()
    };
    let initialized = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(initialized.status(), StatusCode::OK);
    let session = initialized.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )
    .await
    .unwrap();
    // The session's stream of server messages, open until the session ends.
    let stream = http
        .get(&mcp)
        .bearer_auth(ADMIN)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let reading = tokio::spawn(stream.bytes());

    let asked = std::time::Instant::now();
    // SAFETY: kill sends SIGTERM to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    // Well before the drain's 10 s deadline, which an open stream would
    // otherwise have run out.
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the daemon took {took:?} to stop"
    );
    assert!(status.success(), "{status}");
    reading.await.unwrap().ok();
}

/// An extension that is slow to start holds up its own requests, not the
/// daemon's: while `ext.gated` waits at its start (until the test opens a
/// gate), a create on the fixture goes through.
#[tokio::test]
async fn a_slow_extension_start_does_not_stall_other_extensions() {
    let env = test_env();
    let started = env.env.path("gated-started");
    let gate = env.env.path("gated-gate");
    let script = env.env.path("gated.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\n\
             SANDBOXER_EXT_FIXTURE_STATE_DIR='{}' exec '{}' \"$@\"\n",
            started.display(),
            gate.display(),
            env.env.path("fixture-state").display(),
            sandboxer_tests::fixture_ext().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.env.install_extension("gated", &script);
    env.env.write_profile(
        "gated",
        "id: profile.gated\nversion: 1\nextension: ext.gated\nttl: {default: 1h, max: 2h}\n",
    );
    let d = Daemon::start_with(env, &config(""));

    let slow = {
        let request = d
            .http
            .post(format!("{}/v1/sandboxes", d.url))
            .bearer_auth(ADMIN)
            .json(&json!({"profile": "gated"}));
        tokio::spawn(request.send())
    };
    let waited = Instant::now();
    while !started.exists() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "ext.gated never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let fast = tokio::time::timeout(
        Duration::from_secs(30),
        d.create(ADMIN, json!({"profile": "fix"})),
    )
    .await
    .expect("a create on the fixture waited for another extension's start");
    assert_eq!(fast["state"], "ready", "{fast}");
    assert!(!slow.is_finished(), "ext.gated is still starting");

    std::fs::write(&gate, "").unwrap();
    let answer = slow.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
}

#[test]
fn token_new_prints_a_token_and_its_digest_and_opens_no_state_file() {
    let env = super::support::env();
    let state = env.env.path("never/state.sqlite");
    let out = env
        .sandboxer(&["token", "new", "--consumer", "agt:bot", "--project", "demo"])
        .env("SANDBOXER_STATE", &state)
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(token.len(), 64, "{text}");
    assert!(
        text.contains(&digest_hex(token)),
        "the entry holds the digest: {text}"
    );
    assert!(
        !state.exists() && !state.parent().unwrap().exists(),
        "no state file for a token"
    );
    env.sandboxer(&[
        "token",
        "new",
        "--consumer",
        "agt:bot",
        "--project",
        "demo",
        "--role",
        "root",
    ])
    .assert()
    .code(2);
}
