//! Daytona (issue 19, in progress): the official `daytona` client, unmodified,
//! against the Daytona stand-in (`tests/standins/daytona`), which a real
//! daemon over compose-ssh backs.

use super::daemon_support::{Daemon, start};
use super::e2b_provider::{PROVIDER_KEY, TEMPLATE, provider};
use super::recording::{Recorder, by_the_sdk, golden_path_of, request_shapes};
use super::support::{free_port, kit_passes, start_standin};
use sandboxer_tests::pytest;
use std::path::PathBuf;

/// The Daytona stand-in over `daemon`, behind a recorder of what crosses the
/// wire (its toolbox too: it tells clients to reach it through the recorder);
/// the process is killed on drop.
pub(super) struct Standin {
    pub recorder: Recorder,
    /// The stand-in itself, for the test's switches.
    direct: String,
    _process: sandboxer_tests::process::KillOnDrop,
}

impl Standin {
    pub fn start(daemon: &Daemon) -> Standin {
        let port = free_port();
        let direct = format!("http://127.0.0.1:{port}");
        let recorder = Recorder::start(&direct);
        let process = start_standin(
            "daytona/server.py",
            &[
                "--sandboxer",
                &daemon.url,
                "--port",
                &port.to_string(),
                "--public-url",
                &recorder.url,
            ],
        );
        Standin {
            recorder,
            direct,
            _process: process,
        }
    }

    /// Every create from now on answered `status` (429 with a `Retry-After`
    /// of a minute, or a 5xx), or served again (`None`).
    pub fn fail_creates(&self, status: Option<u16>) {
        let fault = status.map(|s| serde_json::json!({"status": s, "retry_after": 60}));
        let (head, _) = super::support::http_request(
            "PUT",
            &format!("{}/_standin/faults", self.direct),
            Some(&serde_json::json!({ "create": fault })),
        );
        assert!(head.contains(" 204 "), "{head}");
    }
}

const GOLDEN: &str = "daytona-sdk-exchanges.json";

/// The official client's recorded exchanges.
fn golden() -> Vec<serde_json::Value> {
    let path = golden_path_of(GOLDEN);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record it: SANDBOXER_RECORD_DAYTONA=1 make test)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_official_daytona_client_works_sandboxes_through_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let standin = Standin::start(&daemon);
    let url = standin.recorder.url.clone();
    let report = pytest::run(&here.join("python/daytona"), |pytest| {
        pytest
            .env("DAYTONA_API_URL", format!("{url}/api"))
            .env("DAYTONA_API_KEY", PROVIDER_KEY)
            .env("DAYTONA_USE_DEPRECATED_POLLING", "true")
            .env("SANDBOXER_DAYTONA_SNAPSHOT", TEMPLATE)
            .current_dir(e2e.env.path(""));
    });
    pytest::assert_passed(
        &report,
        &[
            "test_a_sandbox_is_created_worked_in_listed_and_deleted",
            "test_a_sandbox_without_a_network_says_so",
        ],
    );
    // What the client sent: recorded anew on request, else held to the record.
    let by_sdk: Vec<serde_json::Value> = standin
        .recorder
        .exchanges()
        .into_iter()
        .filter(by_the_sdk)
        .collect();
    assert!(by_sdk.len() > 5, "{by_sdk:?}");
    if std::env::var_os("SANDBOXER_RECORD_DAYTONA").is_some() {
        let text = serde_json::to_string_pretty(&by_sdk).unwrap();
        std::fs::write(golden_path_of(GOLDEN), text + "\n").unwrap();
    }
    let unrecorded: Vec<_> = request_shapes(&by_sdk)
        .difference(&request_shapes(&golden()))
        .cloned()
        .collect();
    assert!(unrecorded.is_empty(), "unrecorded: {unrecorded:#?}");
}

#[test]
fn the_kit_passes_ext_daytona_against_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let standin = Standin::start(&daemon);
    let url = standin.recorder.url.clone();
    let options = serde_json::json!({"api_key": PROVIDER_KEY, "api_url": format!("{url}/api")});
    let profile = serde_json::json!({"id": "profile.conformance", "version": "1",
                                     "spec": {"snapshot": TEMPLATE}});
    kit_passes(
        &e2e.env.path(""),
        &sandboxer_tests::bin("sandboxer-ext-daytona"),
        &serde_json::json!({"options": options, "profile": profile}),
        &[
            "lifecycle.list-label-filter",
            "idempotency.same-create",
            "idempotency.conflicting-create",
            "concurrency.racing-creates-one-id",
            "optional.extend-ttl",
            "optional.exec-output",
            "optional.exec-stdin",
            "optional.exec-timeout",
            "optional.cost-estimate-shape",
            "inside.files",
        ],
    );
    // It spoke as the official client speaks.
    let foreign: Vec<_> = request_shapes(&standin.recorder.exchanges())
        .difference(&request_shapes(&golden()))
        .cloned()
        .collect();
    assert!(
        foreign.is_empty(),
        "ext-daytona sent what the client never does: {foreign:#?}"
    );
}
