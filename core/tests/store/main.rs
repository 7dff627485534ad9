//! The store suite: every test runs on both engines, an SQLite file and a
//! schema of its own on the test PostgreSQL (`scripts/setup-postgres.sh`), and
//! must hold the same on each. Several stores opened on one backing stand for
//! several daemons.

use rust_decimal::Decimal;
use sandboxer_core::lifecycle::State;
use sandboxer_core::store::{
    CanaryRun, Change, Claim, EventFilter, EventKind, HealthSample, IdempotencyKey, NewSandbox,
    Pooled, SandboxFilter, SnapshotRecord, Store, StoreError, testing,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where one test's stores live: every `open` is another process's view.
enum Backing {
    File(tempfile::TempDir),
    Server(String),
}

impl Backing {
    fn sqlite() -> Backing {
        Backing::File(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Backing {
        Backing::Server(testing::fresh_schema().expect("the test PostgreSQL"))
    }

    fn location(&self) -> String {
        match self {
            Backing::File(dir) => dir.path().join("state.sqlite").display().to_string(),
            Backing::Server(url) => url.clone(),
        }
    }

    fn open(&self) -> Store {
        Store::open_location(
            &self.location(),
            &PathBuf::from("/nonexistent/state.sqlite"),
        )
        .unwrap()
    }
}

/// Runs each named test once per engine.
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $test() { super::$test(super::Backing::sqlite()); })*
        }
        mod postgres {
            $(#[test] fn $test() { super::$test(super::Backing::postgres()); })*
        }
    };
}

on_both_engines!(
    a_sandbox_is_recorded_read_back_and_listed_by_every_filter,
    transitions_follow_the_lifecycle_and_record_events_and_usage,
    an_id_recorded_twice_is_refused,
    an_idempotency_key_makes_one_sandbox_across_stores_racing,
    events_are_read_after_a_sequence_by_sandbox_and_by_project,
    writers_racing_on_one_sandbox_lose_no_change,
    a_pooled_sandbox_is_claimed_once,
    snapshots_keep_their_first_record_and_are_deleted_once,
    telemetry_is_kept_and_pruned,
    a_lease_has_one_holder_until_it_expires,
    the_installation_id_is_one_for_every_store,
    expiry_and_activity_are_moved_only_forward_where_asked,
);

fn new_sandbox(id: &str, project: &str) -> NewSandbox {
    let now = sandboxer_core::time::now_ms();
    NewSandbox {
        id: id.into(),
        profile_id: "profile.small".into(),
        profile_version: "1".into(),
        extension: "ext.fixture".into(),
        consumer: format!("agt:{project}"),
        project: project.into(),
        host: None,
        labels: BTreeMap::from([("team".to_string(), format!("{project}-team"))]),
        ttl_ms: 3_600_000,
        created_at: now,
        expires_at: now + 3_600_000,
        ceiling_at: now + 7_200_000,
        cost_per_hour: "0.36".parse().unwrap(),
        currency: "USD".into(),
        replaces: None,
        resources: Default::default(),
        idle_ms: None,
        pool: None,
    }
}

fn ids(store: &Store, filter: &SandboxFilter) -> Vec<String> {
    store
        .list_sandboxes(filter)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn a_sandbox_is_recorded_read_back_and_listed_by_every_filter(backing: Backing) {
    let mut store = backing.open();
    store
        .insert_sandbox(&new_sandbox("01a", "alpha"), "agt:alpha")
        .unwrap();
    store
        .insert_sandbox(&new_sandbox("01b", "beta"), "agt:beta")
        .unwrap();
    let record = store.get_sandbox("01a").unwrap().unwrap();
    assert_eq!(record.state, State::Pending);
    assert_eq!(record.project, "alpha");
    assert_eq!(record.cost_per_hour, "0.36".parse::<Decimal>().unwrap());
    assert_eq!(record.labels["team"], "alpha-team");
    assert_eq!(record.host, None);
    assert!(store.get_sandbox("01z").unwrap().is_none());

    let all = SandboxFilter::default();
    assert_eq!(ids(&store, &all), ["01a", "01b"]);
    let by_project = SandboxFilter {
        project: Some("beta".into()),
        ..Default::default()
    };
    assert_eq!(ids(&store, &by_project), ["01b"]);
    let by_label = SandboxFilter {
        labels: BTreeMap::from([("team".to_string(), "alpha-team".to_string())]),
        ..Default::default()
    };
    assert_eq!(ids(&store, &by_label), ["01a"]);
    let by_quoted_label = SandboxFilter {
        labels: BTreeMap::from([("te\"am".to_string(), "alpha-team".to_string())]),
        ..Default::default()
    };
    assert!(ids(&store, &by_quoted_label).is_empty());
    let by_state = SandboxFilter {
        states: vec![State::Ready, State::Pending],
        ..Default::default()
    };
    assert_eq!(ids(&store, &by_state), ["01a", "01b"]);
    let none_ready = SandboxFilter {
        states: vec![State::Ready],
        ..Default::default()
    };
    assert!(ids(&store, &none_ready).is_empty());
    let expiring = SandboxFilter {
        expires_before: Some(record.expires_at + 1),
        consumer: Some("agt:alpha".into()),
        ..Default::default()
    };
    assert_eq!(ids(&store, &expiring), ["01a"]);
    // The borrowing walk reads the same rows, and an error stops it.
    let mut seen = vec![];
    store
        .for_each_sandbox_view(&all, |view| {
            seen.push(view.id.to_string());
            Ok::<(), StoreError>(())
        })
        .unwrap();
    assert_eq!(seen, ["01a", "01b"]);
    let mut walked = 0;
    let stopped = store.for_each_sandbox_view(&all, |_| {
        walked += 1;
        Err(StoreError::NotFound("stop".into()))
    });
    assert!(matches!(stopped, Err(StoreError::NotFound(_))));
    assert_eq!(walked, 1);
    assert_eq!(
        store.count_by_state().unwrap(),
        BTreeMap::from([(State::Pending, 2)])
    );
    // Another store on the same backing reads what this one wrote.
    assert_eq!(ids(&backing.open(), &all), ["01a", "01b"]);
}

fn transitions_follow_the_lifecycle_and_record_events_and_usage(backing: Backing) {
    let mut store = backing.open();
    store
        .insert_sandbox(&new_sandbox("01a", "alpha"), "agt:alpha")
        .unwrap();
    let change = Change {
        backend_ref: Some("ref-1".into()),
        host: Some("h1".into()),
        ..Default::default()
    };
    let (record, event) = store
        .transition(
            "01a",
            State::Provisioning,
            "agt:alpha",
            change,
            serde_json::json!({"n": 1}),
        )
        .unwrap();
    assert_eq!(record.state, State::Provisioning);
    assert_eq!(record.backend_ref.as_deref(), Some("ref-1"));
    assert_eq!(record.host.as_deref(), Some("h1"));
    assert_eq!(event.to_state, Some(State::Provisioning));
    assert_eq!(event.detail["n"], 1);
    let failed = Change {
        last_error: Some(Some("boom".into())),
        ..Default::default()
    };
    store
        .transition(
            "01a",
            State::Ready,
            "agt:alpha",
            Change::default(),
            serde_json::json!({}),
        )
        .unwrap();
    let refused = store.transition(
        "01a",
        State::Pending,
        "agt:alpha",
        failed,
        serde_json::json!({}),
    );
    assert!(
        matches!(
            refused,
            Err(StoreError::BadTransition {
                from: State::Ready,
                to: State::Pending,
                ..
            })
        ),
        "{refused:?}"
    );
    let skipped = store
        .transition_if(
            "01a",
            State::Destroying,
            "system",
            Change::default(),
            serde_json::json!({}),
            |r| r.state == State::Provisioning,
        )
        .unwrap();
    assert!(
        skipped.is_none(),
        "a precondition that fails changes nothing"
    );
    assert_eq!(
        store.get_sandbox("01a").unwrap().unwrap().state,
        State::Ready
    );
    let missing = store.transition(
        "01z",
        State::Ready,
        "x",
        Change::default(),
        serde_json::json!({}),
    );
    assert!(matches!(missing, Err(StoreError::NotFound(_))));

    let events = store
        .events(&EventFilter {
            sandbox_id: Some("01a".into()),
            ..Default::default()
        })
        .unwrap();
    let states: Vec<_> = events.iter().map(|e| e.to_state).collect();
    assert_eq!(
        states,
        [
            Some(State::Pending),
            Some(State::Provisioning),
            Some(State::Ready)
        ]
    );
    let usage = store.usage(Some("01a")).unwrap();
    let closed: Vec<&str> = usage.iter().map(|u| u.state.as_str()).collect();
    assert_eq!(closed, ["pending", "provisioning"]);
    assert_eq!(usage[1].host.as_deref(), Some("h1"));
    assert_eq!(usage[1].cost_per_hour, "0.36".parse::<Decimal>().unwrap());
    assert!(store.usage(None).unwrap().len() >= 2);
}

fn an_id_recorded_twice_is_refused(backing: Backing) {
    let mut store = backing.open();
    store
        .insert_sandbox(&new_sandbox("01a", "alpha"), "agt:alpha")
        .unwrap();
    let again = backing
        .open()
        .insert_sandbox(&new_sandbox("01a", "beta"), "agt:beta");
    assert!(matches!(again, Err(StoreError::Duplicate(id)) if id == "01a"));
    assert_eq!(store.get_sandbox("01a").unwrap().unwrap().project, "alpha");
}

fn an_idempotency_key_makes_one_sandbox_across_stores_racing(backing: Backing) {
    let key = IdempotencyKey {
        project: "alpha".into(),
        consumer: "agt:alpha".into(),
        key: "create-1".into(),
        fingerprint: "f1".into(),
    };
    let made: Vec<_> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..6)
            .map(|n| {
                let (backing, key) = (&backing, &key);
                scope.spawn(move || {
                    let mut store = backing.open();
                    store
                        .insert_sandbox_keyed(
                            &new_sandbox(&format!("01{n}"), "alpha"),
                            "agt:alpha",
                            key,
                        )
                        .unwrap()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let winners: Vec<_> = made.iter().filter_map(|m| m.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "one create per key: {made:?}");
    let winner = &winners[0].sandbox_id;
    for earlier in made.iter().filter_map(|m| m.as_ref().err()) {
        assert_eq!(&earlier.sandbox_id, winner);
        assert_eq!(earlier.fingerprint.as_deref(), Some("f1"));
    }
    let store = backing.open();
    assert_eq!(
        ids(&store, &SandboxFilter::default()),
        std::slice::from_ref(winner)
    );
    assert_eq!(
        store.sandbox_for_key(&key).unwrap().unwrap().sandbox_id,
        *winner
    );
    // The same key in another project is another key.
    let other = IdempotencyKey {
        project: "beta".into(),
        ..key.clone()
    };
    assert!(store.sandbox_for_key(&other).unwrap().is_none());
}

fn events_are_read_after_a_sequence_by_sandbox_and_by_project(backing: Backing) {
    let mut store = backing.open();
    store
        .insert_sandbox(&new_sandbox("01a", "alpha"), "agt:alpha")
        .unwrap();
    store
        .insert_sandbox(&new_sandbox("01b", "beta"), "agt:beta")
        .unwrap();
    let noted = store
        .record_event(
            "01a",
            "system",
            EventKind::ReapAttempt,
            serde_json::json!({"try": 1}),
        )
        .unwrap();
    let all = store.events(&EventFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(all.last().unwrap(), &noted);
    let after = store
        .events(&EventFilter {
            after_seq: Some(all[0].seq),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(after, [all[1].clone()]);
    let beta = store
        .events(&EventFilter {
            project: Some("beta".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(beta.len(), 1);
    assert_eq!(beta[0].sandbox_id, "01b");
    assert_eq!(beta[0].kind, EventKind::State);
}

/// Stores racing to append events and move one sandbox: every change is
/// kept, sequence numbers are unique and, read in order, never go back.
fn writers_racing_on_one_sandbox_lose_no_change(backing: Backing) {
    backing
        .open()
        .insert_sandbox(&new_sandbox("01a", "alpha"), "agt:alpha")
        .unwrap();
    const WRITERS: usize = 4;
    const EACH: usize = 15;
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let backing = &backing;
            scope.spawn(move || {
                let mut store = backing.open();
                for n in 0..EACH {
                    store
                        .record_event(
                            "01a",
                            &format!("w{w}"),
                            EventKind::ReapAttempt,
                            serde_json::json!({"n": n}),
                        )
                        .unwrap();
                    store.touch("01a", sandboxer_core::time::now_ms()).unwrap();
                }
            });
        }
    });
    let events = backing.open().events(&EventFilter::default()).unwrap();
    assert_eq!(events.len(), 1 + WRITERS * EACH);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    for w in 0..WRITERS {
        let mine: Vec<i64> = events
            .iter()
            .filter(|e| e.actor == format!("w{w}"))
            .map(|e| e.detail["n"].as_i64().unwrap())
            .collect();
        assert_eq!(
            mine,
            (0..EACH as i64).collect::<Vec<_>>(),
            "writer {w} in its order"
        );
    }
}

fn a_pooled_sandbox_is_claimed_once(backing: Backing) {
    let mut store = backing.open();
    let pooled = NewSandbox {
        pool: Some("profile.small".into()),
        ..new_sandbox("01p", "pool")
    };
    store.insert_sandbox(&pooled, "system").unwrap();
    for to in [State::Provisioning, State::Ready] {
        store
            .transition(
                "01p",
                to,
                "system",
                Change::default(),
                serde_json::json!({}),
            )
            .unwrap();
    }
    let pool = Pooled {
        profile: "profile.small",
        version: "1",
        host: None,
    };
    let counts = store
        .pooled_counts("profile.small", &[State::Ready])
        .unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].count, 1);
    assert!(
        store
            .pooled_counts("profile.small", &[State::Pending])
            .unwrap()
            .is_empty()
    );
    let (rate, currency) = store.pooled_rate(&pool).unwrap().unwrap();
    assert_eq!(
        (rate.to_string().as_str(), currency.as_str()),
        ("0.36", "USD")
    );
    let claim = |consumer: &str| Claim {
        consumer: consumer.into(),
        project: "alpha".into(),
        labels: Default::default(),
        ttl_ms: 600_000,
        max_ms: 1_200_000,
        idle_ms: None,
    };
    // Asked at an equal rate written differently, it is still found.
    let claimed: Vec<_> = std::thread::scope(|scope| {
        let racers: Vec<_> = ["agt:one", "agt:two", "agt:three"]
            .map(|who| {
                let (backing, pool, claim) = (&backing, &pool, &claim);
                scope.spawn(move || {
                    backing
                        .open()
                        .claim_pooled(pool, "0.360".parse().unwrap(), &claim(who))
                        .unwrap()
                })
            })
            .into_iter()
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let taken: Vec<_> = claimed.into_iter().flatten().collect();
    assert_eq!(taken.len(), 1, "one sandbox, one claimer");
    assert_eq!(taken[0].project, "alpha");
    assert_eq!(taken[0].pool, None);
    assert!(store.pooled_rate(&pool).unwrap().is_none());
}

fn snapshot(id: &str, at: i64) -> SnapshotRecord {
    SnapshotRecord {
        id: id.into(),
        extension: "ext.fixture".into(),
        sandbox_id: "01a".into(),
        name: format!("name-{id}"),
        profile_id: "profile.small".into(),
        consumer: "agt:alpha".into(),
        project: "alpha".into(),
        created_at: at,
        deleted_at: None,
        details: Default::default(),
        cost_per_hour: "0.001".parse().unwrap(),
        currency: "USD".into(),
        host: Some("h1".into()),
    }
}

fn snapshots_keep_their_first_record_and_are_deleted_once(backing: Backing) {
    let mut store = backing.open();
    store.insert_snapshot(&snapshot("s1", 10)).unwrap();
    let mut again = snapshot("s1", 20);
    again.name = "renamed".into();
    store.insert_snapshot(&again).unwrap();
    store.insert_snapshot(&snapshot("s2", 30)).unwrap();
    let s1 = store.get_snapshot("s1").unwrap().unwrap();
    assert_eq!((s1.name.as_str(), s1.created_at), ("name-s1", 10));
    assert_eq!(s1.cost_per_hour, "0.001".parse::<Decimal>().unwrap());
    assert_eq!(store.list_snapshots(Some("alpha")).unwrap().len(), 2);
    assert!(store.list_snapshots(Some("beta")).unwrap().is_empty());
    store
        .mark_snapshot_deleted("ext.fixture", "s1", 40)
        .unwrap();
    store
        .mark_snapshot_deleted("ext.fixture", "s1", 50)
        .unwrap();
    assert_eq!(
        store.get_snapshot("s1").unwrap().unwrap().deleted_at,
        Some(40)
    );
    let listed: Vec<_> = store
        .list_snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["s2"]);
    let then: Vec<_> = store
        .snapshots_between(Some(35), Some(45))
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(then, ["s1", "s2"]);
    assert_eq!(store.snapshots_between(Some(45), None).unwrap().len(), 1);
}

fn telemetry_is_kept_and_pruned(backing: Backing) {
    let mut store = backing.open();
    for at in [100, 200] {
        store
            .insert_health(&HealthSample {
                at,
                extension: "ext.fixture".into(),
                host: "h1".into(),
                reachable: at == 200,
                load1: Some(0.5),
                mem_free_mb: Some(1024),
                disk_free_mb: None,
                sandboxes: Some(3),
                error: None,
            })
            .unwrap();
        store
            .insert_canary(&CanaryRun {
                at,
                extension: "ext.fixture".into(),
                host: "h1".into(),
                profile_id: "profile.small".into(),
                sandbox_id: None,
                ok: true,
                create_ms: Some(12),
                total_ms: 40,
                error: None,
            })
            .unwrap();
    }
    let health = store.health_since(0).unwrap();
    assert_eq!(health.len(), 2);
    assert_eq!((health[0].reachable, health[1].reachable), (false, true));
    assert_eq!(health[1].load1, Some(0.5));
    assert_eq!(health[1].disk_free_mb, None);
    assert_eq!(store.canaries_since(150).unwrap().len(), 1);
    store.prune_telemetry(150).unwrap();
    assert_eq!(store.health_since(0).unwrap().len(), 1);
    assert_eq!(store.canaries_since(0).unwrap()[0].at, 200);
}

fn a_lease_has_one_holder_until_it_expires(backing: Backing) {
    let mut one = backing.open();
    let mut two = backing.open();
    assert!(one.take_lease("loops", "daemon-1", 1_000, 5_000).unwrap());
    assert!(
        !two.take_lease("loops", "daemon-2", 2_000, 5_000).unwrap(),
        "held"
    );
    assert!(
        one.take_lease("loops", "daemon-1", 3_000, 5_000).unwrap(),
        "renewed"
    );
    let held = two.lease("loops").unwrap().unwrap();
    assert_eq!(
        (held.holder.as_str(), held.since, held.expires_at),
        ("daemon-1", 1_000, 8_000)
    );
    assert!(!two.take_lease("loops", "daemon-2", 7_999, 5_000).unwrap());
    assert!(
        two.take_lease("loops", "daemon-2", 8_000, 5_000).unwrap(),
        "taken over at expiry"
    );
    let taken = one.lease("loops").unwrap().unwrap();
    assert_eq!((taken.holder.as_str(), taken.since), ("daemon-2", 8_000));
    assert!(!one.take_lease("loops", "daemon-1", 9_000, 5_000).unwrap());
    // Released by another, nothing happens; by its holder, it is free.
    one.release_lease("loops", "daemon-1").unwrap();
    assert!(one.lease("loops").unwrap().is_some());
    two.release_lease("loops", "daemon-2").unwrap();
    assert!(one.lease("loops").unwrap().is_none());
    assert!(one.take_lease("loops", "daemon-1", 9_000, 5_000).unwrap());
    // Racing for a free lease, exactly one wins.
    let winners: usize = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..4)
            .map(|n| {
                let backing = &backing;
                scope.spawn(move || {
                    backing
                        .open()
                        .take_lease("other", &format!("d{n}"), 1_000, 5_000)
                        .unwrap()
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|r| usize::from(r.join().unwrap()))
            .sum()
    });
    assert_eq!(winners, 1);
}

fn the_installation_id_is_one_for_every_store(backing: Backing) {
    let first: Vec<String> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..3)
            .map(|_| {
                let backing = &backing;
                scope.spawn(move || backing.open().installation_id().unwrap())
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(first.windows(2).all(|w| w[0] == w[1]), "{first:?}");
    assert_eq!(backing.open().installation_id().unwrap(), first[0]);
}

fn expiry_and_activity_are_moved_only_forward_where_asked(backing: Backing) {
    let mut store = backing.open();
    store
        .insert_sandbox(&new_sandbox("01a", "alpha"), "agt:alpha")
        .unwrap();
    let later = sandboxer_core::time::now_ms() + 60_000;
    store.touch("01a", later).unwrap();
    store.touch("01a", later - 1).unwrap();
    assert_eq!(
        store.get_sandbox("01a").unwrap().unwrap().last_activity_at,
        Some(later)
    );
    store.set_warned_expiry("01a", 777).unwrap();
    assert_eq!(
        store.get_sandbox("01a").unwrap().unwrap().warned_expiry,
        Some(777)
    );
}

/// Entry N of the migrations makes the same tables and columns on each engine.
#[test]
fn both_engines_have_the_same_schema() {
    let file = Backing::sqlite().open().tables().unwrap();
    let server = Backing::postgres().open().tables().unwrap();
    assert!(file.contains_key("sandboxes") && file.contains_key("leases"));
    assert_eq!(file, server);
}

/// A server the store cannot reach is named without its password.
#[test]
fn a_server_that_refuses_is_named_without_the_password() {
    let err = Store::open_location(
        "postgres://fleet:hunter2@127.0.0.1:1/sandboxer",
        &PathBuf::from("/nonexistent/state.sqlite"),
    )
    .err()
    .expect("nothing listens on port 1");
    let message = err.to_string();
    assert!(
        message.contains("postgres://fleet@127.0.0.1:1/sandboxer"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

/// A sandbox held by one daemon over a shared store is held for every other:
/// another waits for it, and has it once the first lets go. (A daemon that
/// dies lets go with its session: the fleet fault test shows it.)
#[tokio::test]
async fn a_sandbox_held_in_one_daemon_is_held_in_every_other() {
    use sandboxer_core::config::Config;
    use sandboxer_core::operations::Core;
    let backing = Backing::postgres();
    let one = Core::new(backing.open(), Config::default());
    let two = Core::new(backing.open(), Config::default());
    let held = one.lock("01a").await;
    assert!(two.try_lock("01a").is_none(), "held by the other daemon");
    assert!(two.try_lock("01b").is_some(), "another sandbox is free");
    let waiting =
        tokio::time::timeout(std::time::Duration::from_millis(300), two.lock("01a")).await;
    assert!(waiting.is_err(), "the other daemon waits while it is held");
    drop(held);
    let taken = tokio::time::timeout(std::time::Duration::from_secs(5), two.lock("01a"))
        .await
        .expect("had once let go");
    drop(taken);
}

/// A store whose session the server ends (a restart, a failover) connects
/// again at its next call, and has lost nothing committed.
#[test]
fn a_store_whose_session_ends_connects_again() {
    use sandboxer_core::store::db::{Conn, Param, PgSession};
    let name = format!("victim_{}", std::process::id());
    let url = format!(
        "{}&application_name={name}",
        testing::fresh_schema().unwrap()
    );
    let mut store =
        Store::open_location(&url, &PathBuf::from("/nonexistent/state.sqlite")).unwrap();
    store
        .insert_sandbox(&new_sandbox("01a", "alpha"), "agt:alpha")
        .unwrap();
    let admin = PgSession::connect(&testing::test_server().unwrap()).unwrap();
    let ended = Conn::Postgres(&admin)
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?1",
            &[Param::Text(name.as_str().into())],
            |r| r.get::<bool>(0),
        )
        .unwrap();
    assert_eq!(ended, [true, true], "the store's two sessions ended");
    // The client notices the end asynchronously.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let record = store.get_sandbox("01a").unwrap().expect("kept");
    assert_eq!(record.project, "alpha");
    store
        .touch("01a", sandboxer_core::time::now_ms() + 1000)
        .unwrap();
}
