//! The extension host driven directly against the fixture extension as a real
//! child process: handshake, progress, pipelining, deadline and cancel, crash, and
//! shutdown by the protocol.

use sandboxer_core::exthost::{Discovered, ExtensionClient, HostError, LaunchOptions, Timeouts};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn fixture() -> Discovered {
    Discovered {
        name: "fixture".into(),
        path: sandboxer_tests::fixture_ext(),
    }
}

async fn launch(state: &std::path::Path, fault: &str) -> ExtensionClient {
    let options = json!({ "state_dir": state, "fault": fault });
    let launch = LaunchOptions {
        options: options.as_object().unwrap().clone(),
        timeouts: Timeouts {
            grace: Duration::from_millis(500),
            ..Timeouts::default()
        },
        ..LaunchOptions::default()
    };
    ExtensionClient::launch(&fixture(), launch)
        .await
        .expect("handshake")
}

fn create_params(id: &str) -> CreateParams {
    CreateParams {
        sandbox_id: id.into(),
        profile: ProfileRef {
            id: "profile.fix".into(),
            version: "1".into(),
            spec: json!({}),
            ..Default::default()
        },
        placement: Placement::default(),
        labels: Labels::new(),
        secrets: Secrets::default(),
        network: NetworkPolicy::default(),
        resources: Resources::default(),
        expires_at: "2030-01-01T00:00:00Z".into(),
        progress_token: None,
    }
}

#[tokio::test]
async fn the_handshake_reports_the_extension_and_its_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let client = launch(dir.path(), "").await;
    assert_eq!(client.info().extension.name, "fixture");
    assert_eq!(client.info().protocol_version, PROTOCOL_VERSION.to_string());
    assert!(client.supports(m::SandboxExec::METHOD));
    assert!(!client.supports(m::HostHealth::METHOD));
    let refused = client
        .request::<m::HostHealth>(&HostHealthParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, HostError::Unsupported { .. }),
        "{refused}"
    );
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn progress_reaches_the_subscriber_in_order_before_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let client = launch(dir.path(), "progress=4").await;
    let token = json!("tok-1");
    let mut progress = client.subscribe_progress(&token);
    let mut params = create_params("p1");
    params.progress_token = Some(token);
    let sandbox: Sandbox = client.request::<m::SandboxCreate>(&params).await.unwrap();
    assert_eq!(sandbox.state, BackendState::Ready);
    let mut seen = vec![];
    while let Ok(p) = progress.try_recv() {
        seen.push((p.message, p.percent));
    }
    assert_eq!(
        seen,
        (1..=4)
            .map(|i| (format!("fixture step {i}"), Some((i * 25) as u8)))
            .collect::<Vec<_>>()
    );
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn pipelined_calls_run_concurrently_on_one_extension() {
    let dir = tempfile::tempdir().unwrap();
    let client = launch(dir.path(), "slow=sandbox/create:300").await;
    let started = Instant::now();
    let creates = (0..8).map(|i| {
        let params = create_params(&format!("par-{i}"));
        let client = &client;
        async move { client.request::<m::SandboxCreate>(&params).await }
    });
    let results = futures::future::join_all(creates).await;
    assert!(results.iter().all(Result::is_ok));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "8 creates of 300 ms each took {:?}: not concurrent",
        started.elapsed()
    );
    let list: ListResult = client
        .request::<m::SandboxList>(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(list.sandboxes.len(), 8);
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_deadline_cancels_the_call_and_the_extension_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let client = launch(dir.path(), "slow=sandbox/create:30000").await;
    let err = client
        .request_within::<m::SandboxCreate>(&create_params("c1"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HostError::Timeout { killed: false, .. }),
        "{err}"
    );
    // The cancel was honoured: the extension answers further calls.
    let list: ListResult = client
        .request::<m::SandboxList>(&ListParams::default())
        .await
        .unwrap();
    assert!(list.sandboxes.is_empty());
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_crash_fails_every_call_in_flight_with_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let client = launch(dir.path(), "crash=sandbox/destroy,slow=sandbox/create:2000").await;
    let slow_params = create_params("s1");
    let slow = client.request::<m::SandboxCreate>(&slow_params);
    let crash = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let params = DestroyParams {
            sandbox_id: "x".into(),
            backend_ref: None,
        };
        client.request::<m::SandboxDestroy>(&params).await
    };
    let (slow, crash) = tokio::join!(slow, crash);
    for err in [slow.unwrap_err(), crash.unwrap_err()] {
        match &err {
            HostError::Crashed {
                status,
                stderr_tail,
                ..
            } => {
                assert_eq!(status, "exit status 3");
                assert!(stderr_tail.contains("crashing on purpose"), "{stderr_tail}");
            }
            other => panic!("expected Crashed, got {other}"),
        }
    }
}

#[tokio::test]
async fn domain_errors_keep_their_kind_and_retryability() {
    let dir = tempfile::tempdir().unwrap();
    let client = launch(dir.path(), "unavailable=sandbox/get").await;
    let err = client
        .request::<m::SandboxGet>(&GetParams {
            sandbox_id: "a".into(),
            backend_ref: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.remote_kind(), Some(ErrorKind::Unavailable));
    assert!(err.retryable());
    let client2 = launch(dir.path(), "").await;
    let err = client2
        .request::<m::SandboxGet>(&GetParams {
            sandbox_id: "a".into(),
            backend_ref: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.remote_kind(), Some(ErrorKind::NotFound));
    assert!(!err.retryable());
    // Same id, other params: AlreadyExists, as the contract says.
    client2
        .request::<m::SandboxCreate>(&create_params("dup"))
        .await
        .unwrap();
    let mut other = create_params("dup");
    other.labels.insert("k".into(), "v".into());
    let err = client2
        .request::<m::SandboxCreate>(&other)
        .await
        .unwrap_err();
    assert_eq!(err.remote_kind(), Some(ErrorKind::AlreadyExists));
    client.shutdown().await.unwrap();
    client2.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_extension_started_without_stdio_refuses_with_a_hint() {
    let out = tokio::process::Command::new(sandboxer_tests::fixture_ext())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stdio"));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn sigterm_makes_an_sdk_extension_exit_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(sandboxer_tests::fixture_ext())
        .arg("--stdio")
        .env("SANDBOXER_EXT_FIXTURE_STATE_DIR", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it start its loop, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill sends a signal to our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(2), child.wait())
        .await
        .expect("exits within 2 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
