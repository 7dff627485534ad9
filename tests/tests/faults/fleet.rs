//! Several daemons over one PostgreSQL, one killed (SIGKILL) in the middle of
//! 200 creates spread over them through the fixture extension: every create
//! ends recorded — ready, or failed with its reason — none is lost, no
//! idempotency key makes two sandboxes, another daemon takes the fleet's
//! loops over within the lease's term, and expiries are still enforced.

use super::daemon_support::{TOKEN, daemon_yaml};
use sandboxer_core::lifecycle::State;
use sandboxer_core::store::{IdempotencyKey, SandboxFilter, Store, testing};
use sandboxer_tests::process::Served;
use sandboxer_tests::{TestEnv, bin};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CREATES: usize = 200;
/// Creates in flight at once, over all daemons.
const IN_FLIGHT: usize = 24;
/// The daemon killed, after this many creates have been answered.
const KILLED_AFTER: usize = 60;
/// The lease on the loops, as configured.
const LEASE: Duration = Duration::from_secs(3);
/// Every fourth create asks for this short a life: the reaper must end it
/// after the kill.
const SHORT_TTL: &str = "12s";

fn start_daemon(env: &TestEnv, store: &str, log: &std::path::Path) -> Served {
    let mut cmd = env.process(&bin("sandboxer"));
    cmd.env("SANDBOXER_STATE", store)
        .env("SANDBOXER_LOG", "info")
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()));
    sandboxer_tests::process::serve(cmd)
}

/// One create, sent to daemon `first` and, when it cannot answer, to the
/// next ones with the same idempotency key (what a client does): the
/// answers, in order, as (daemon, status, body).
async fn create(urls: &[String], first: usize, n: usize) -> Vec<(usize, u16, Value)> {
    let client = reqwest::Client::new();
    let mut answers = vec![];
    let short = n.is_multiple_of(4);
    let mut body = json!({"profile": "fix", "project": "e2e"});
    if short {
        body["ttl"] = json!(SHORT_TTL);
    }
    for attempt in 0..urls.len() * 3 {
        let daemon = (first + attempt) % urls.len();
        let sent = client
            .post(format!("{}/v1/sandboxes", urls[daemon]))
            .bearer_auth(TOKEN)
            .header("idempotency-key", format!("key-{n}"))
            .timeout(Duration::from_secs(120))
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.json().await.unwrap_or(Value::Null);
                answers.push((daemon, status, body));
                if status < 500 {
                    return answers;
                }
            }
            Err(e) => answers.push((daemon, 0, Value::String(e.to_string()))),
        }
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_lose_no_create_when_one_is_killed() {
    let env = TestEnv::new();
    let store_url =
        testing::fresh_schema().expect("the test PostgreSQL (scripts/setup-postgres.sh)");
    std::fs::write(
        env.config_path(),
        format!(
            "{}  loops_lease: 3s\nextensions:\n  fixture:\n    options:\n      fault: \"slow=sandbox/create:300\"\n",
            daemon_yaml("2s", "1s").replace("stuck_after: 2m", "stuck_after: 8s")
        ),
    )
    .unwrap();
    let logs: Vec<PathBuf> = (0..3)
        .map(|n| env.path(&format!("daemon-{n}.log")))
        .collect();
    // The first daemon starts alone, and so holds the loops when it is killed.
    let mut daemons = vec![start_daemon(&env, &store_url, &logs[0])];
    let store = Store::open_location(&store_url, &env.path("unused.sqlite")).unwrap();
    let first_holder = store
        .lease("loops")
        .unwrap()
        .expect("the first daemon took the loops");
    assert!(
        first_holder
            .holder
            .contains(&format!(":{}:", daemons[0].id())),
        "{first_holder:?}"
    );
    for log in &logs[1..] {
        daemons.push(start_daemon(&env, &store_url, log));
    }
    let urls: Vec<String> = daemons.iter().map(|d| d.url.clone()).collect();

    // 200 creates, spread round-robin, IN_FLIGHT at a time.
    let answered = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let tasks: Vec<_> = (0..CREATES)
        .map(|n| {
            let (urls, answered, gate) = (urls.clone(), answered.clone(), gate.clone());
            tokio::spawn(async move {
                let _turn = gate.acquire().await.unwrap();
                let answers = create(&urls, n % 3, n).await;
                answered.fetch_add(1, Ordering::SeqCst);
                answers
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < KILLED_AFTER {
        assert!(Instant::now() < deadline, "the creates did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: kill sends SIGKILL to our own child.
    unsafe {
        libc::kill(daemons[0].id() as i32, libc::SIGKILL);
    }
    let killed_at = Instant::now();
    let _ = daemons[0].process.0.wait();
    let killed_ms = sandboxer_core::time::now_ms();

    // The loops move to a survivor within the lease's term (and the keeper's
    // tick, a third of it).
    let taken_over = loop {
        let holder = store.lease("loops").unwrap().expect("a lease");
        if holder.holder != first_holder.holder {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < LEASE * 4,
            "nobody took the loops over: {holder:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        taken_over <= LEASE + LEASE / 3 + Duration::from_millis(500),
        "the loops were taken over after {taken_over:?}"
    );
    let mut answers = BTreeMap::new();
    for (n, task) in tasks.into_iter().enumerate() {
        answers.insert(n, task.await.unwrap());
    }

    // Every key was answered by a daemon with one sandbox; a retried key got
    // the same sandbox back.
    let mut by_key = BTreeMap::new();
    let mut retried_on_survivor = 0;
    for (n, tries) in &answers {
        let made: BTreeSet<&str> = tries
            .iter()
            .filter(|(_, status, _)| (200..300).contains(status))
            .map(|(_, _, body)| body["id"].as_str().expect("an id"))
            .collect();
        assert_eq!(made.len(), 1, "key-{n}: {tries:?}");
        if tries.len() > 1 {
            retried_on_survivor += 1;
        }
        by_key.insert(*n, made.into_iter().next().unwrap().to_string());
    }
    assert!(
        retried_on_survivor > 0,
        "the kill reached no create in flight: the test proves nothing"
    );
    let distinct: BTreeSet<&String> = by_key.values().collect();
    assert_eq!(
        distinct.len(),
        CREATES,
        "no key made two sandboxes, none shared one"
    );
    for (n, id) in &by_key {
        let key = IdempotencyKey {
            project: "e2e".into(),
            consumer: "adm:e2e".into(),
            key: format!("key-{n}"),
            fingerprint: String::new(),
        };
        assert_eq!(
            &store.sandbox_for_key(&key).unwrap().unwrap().sandbox_id,
            id
        );
    }

    // Everything settles: no create is left in between. The killed daemon's
    // creates are adopted (their resources exist) or failed with a reason
    // once stuck; the rest are ready, or expired by the reaper.
    let settle = Instant::now() + Duration::from_secs(90);
    let records = loop {
        let records = store.list_sandboxes(&SandboxFilter::default()).unwrap();
        let between = records
            .iter()
            .filter(|r| {
                matches!(
                    r.state,
                    State::Pending | State::Provisioning | State::Destroying
                )
            })
            .count();
        let short_left = records
            .iter()
            .filter(|r| r.ttl_ms == 12_000 && !matches!(r.state, State::Destroyed | State::Failed))
            .count();
        if between == 0 && short_left == 0 {
            break records;
        }
        assert!(
            Instant::now() < settle,
            "{between} creates still in between, {short_left} short-lived sandboxes not reaped"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        records.len(),
        CREATES,
        "a sandbox per key, none lost, none extra"
    );
    for record in &records {
        match record.state {
            State::Ready => assert_ne!(record.ttl_ms, 12_000, "{} outlived its TTL", record.id),
            State::Failed => assert!(
                record.last_error.as_deref().is_some_and(|e| !e.is_empty()),
                "{} failed without a reason",
                record.id
            ),
            State::Destroyed => {}
            other => panic!("{} ended {other}", record.id),
        }
    }
    // Expiries after the kill were enforced by a survivor.
    let reaped_after_kill = store
        .events(&Default::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "system" && e.at > killed_ms)
        .filter(|e| e.to_state == Some(State::Expired))
        .count();
    assert!(
        reaped_after_kill >= CREATES / 4 - KILLED_AFTER / 4 - IN_FLIGHT,
        "only {reaped_after_kill} short-lived sandboxes were reaped after the kill"
    );
    let mut ended = BTreeMap::<String, usize>::new();
    for record in &records {
        *ended.entry(record.state.to_string()).or_default() += 1;
    }
    eprintln!(
        "loops taken over after {taken_over:?}; {retried_on_survivor} creates retried on a \
         survivor; {reaped_after_kill} expired after the kill; ended: {ended:?}"
    );
    // The fixture holds nothing the store does not know about.
    for entry in std::fs::read_dir(env.path("fixture-state")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".json") {
            assert!(
                records.iter().any(|r| r.id == id),
                "the fixture holds {id}, unrecorded"
            );
        }
    }
    drop(daemons);
}

/// The sequence numbers of the events a daemon's stream sends, until it has
/// sent `last` (or the time is up).
async fn streamed(url: String, last: tokio::sync::watch::Receiver<i64>) -> Vec<i64> {
    let mut response = reqwest::Client::new()
        .get(format!("{url}/v1/events/stream"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (mut seqs, mut text) = (vec![], String::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let wanted = *last.borrow();
        if wanted > 0 && seqs.last().is_some_and(|s| *s >= wanted) {
            return seqs;
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else {
            return seqs;
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find('\n') {
            let line: String = text.drain(..=end).collect();
            if let Some(id) = line.trim_end().strip_prefix("id:") {
                seqs.push(id.trim().parse().unwrap());
            }
        }
    }
}

async fn call(url: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every call works on any daemon of the fleet, and every daemon's event
/// stream sends every event, whichever daemon wrote it, in sequence order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_daemon_serves_any_call_and_streams_every_event_in_order() {
    let env = TestEnv::new();
    let store_url =
        testing::fresh_schema().expect("the test PostgreSQL (scripts/setup-postgres.sh)");
    std::fs::write(env.config_path(), daemon_yaml("1h", "1h")).unwrap();
    let daemons: Vec<Served> = (0..3)
        .map(|n| start_daemon(&env, &store_url, &env.path(&format!("daemon-{n}.log"))))
        .collect();
    let urls: Vec<String> = daemons.iter().map(|d| d.url.clone()).collect();
    let (done, last) = tokio::sync::watch::channel(0);
    let streams: Vec<_> = urls
        .iter()
        .map(|url| tokio::spawn(streamed(url.clone(), last.clone())))
        .collect();

    // Each sandbox is made on one daemon, read, extended and destroyed on the
    // others, all twelve at once.
    let work: Vec<_> = (0..12)
        .map(|n| {
            let urls = urls.clone();
            tokio::spawn(async move {
                let on = |k: usize| urls[(n + k) % 3].clone();
                let (status, made) = call(
                    &on(0),
                    reqwest::Method::POST,
                    "/v1/sandboxes",
                    Some(json!({"profile": "fix", "project": "e2e"})),
                )
                .await;
                assert_eq!(status, 201, "{made}");
                let id = made["id"].as_str().unwrap().to_string();
                let (status, read) = call(
                    &on(1),
                    reqwest::Method::GET,
                    &format!("/v1/sandboxes/{id}"),
                    None,
                )
                .await;
                assert_eq!(
                    (status, read["state"].as_str()),
                    (200, Some("ready")),
                    "{read}"
                );
                let (status, extended) = call(
                    &on(2),
                    reqwest::Method::POST,
                    &format!("/v1/sandboxes/{id}/extend-ttl"),
                    Some(json!({"by": "10m"})),
                )
                .await;
                assert_eq!(status, 200, "{extended}");
                let (status, gone) = call(
                    &on(1),
                    reqwest::Method::DELETE,
                    &format!("/v1/sandboxes/{id}"),
                    None,
                )
                .await;
                assert_eq!(
                    (status, gone["state"].as_str()),
                    (200, Some("destroyed")),
                    "{gone}"
                );
            })
        })
        .collect();
    for w in work {
        w.await.unwrap();
    }
    let store = Store::open_location(&store_url, &env.path("unused.sqlite")).unwrap();
    let logged: Vec<i64> = store
        .events(&Default::default())
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    assert!(logged.len() >= 12 * 5, "{} events", logged.len());
    done.send(*logged.last().unwrap()).unwrap();
    for (n, stream) in streams.into_iter().enumerate() {
        assert_eq!(stream.await.unwrap(), logged, "daemon {n}'s stream");
    }
    drop(daemons);
}
