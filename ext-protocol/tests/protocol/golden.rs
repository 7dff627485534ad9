//! Golden JSON: one committed file per protocol message under `golden/`. A test
//! fails when the serialized form drifts, so every wire change is a visible diff.
//! Run with `UPDATE_GOLDEN=1` to rewrite the files after an intended change.

use sandboxer_ext_protocol::framing::{
    Id, error_line, notification_line, request_line, result_line,
};
use sandboxer_ext_protocol::methods::{Notification, Request};
use sandboxer_ext_protocol::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Compares the pretty JSON of `message` with `golden/<name>.json` and checks that
/// the file decodes back to the same value.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(name: &str, message: &T) {
    let path = golden_dir().join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(message).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        committed,
        pretty,
        "{} differs from the serialized message; if the change is intended, \
         run with UPDATE_GOLDEN=1 and commit the diff",
        path.display()
    );
    let back: T = serde_json::from_str(&committed).unwrap();
    assert_eq!(&back, message, "{name} does not round-trip");
}

/// The golden pair of request `M`, named after its method (`sandbox/create` is
/// `sandbox.create.params.json` and `sandbox.create.result.json`).
fn check_request<M: Request>(params: &M::Params, result: &M::Result)
where
    M::Params: PartialEq + Debug,
    M::Result: PartialEq + Debug,
{
    let stem = M::METHOD.replace('/', ".");
    check(&format!("{stem}.params"), params);
    check(&format!("{stem}.result"), result);
}

/// The golden params of notification `N` (`$/progress` is `progress.params.json`).
fn check_notification<N: Notification>(params: &N::Params)
where
    N::Params: PartialEq + Debug,
{
    check(
        &format!("{}.params", N::METHOD.trim_start_matches("$/")),
        params,
    );
}

/// Every method and notification the protocol defines has its golden files, so
/// a new method cannot land without its examples.
#[test]
fn every_definition_has_its_golden_files() {
    let mut missing = vec![];
    for method in methods::ALL {
        let stem = method.name.replace('/', ".");
        for part in ["params", "result"] {
            let path = golden_dir().join(format!("{stem}.{part}.json"));
            if !path.exists() {
                missing.push(path.display().to_string());
            }
        }
    }
    for name in methods::NOTIFICATIONS {
        let path = golden_dir().join(format!("{}.params.json", name.trim_start_matches("$/")));
        if !path.exists() {
            missing.push(path.display().to_string());
        }
    }
    assert!(missing.is_empty(), "no golden file: {missing:?}");
}

fn labels() -> Labels {
    BTreeMap::from([
        ("sandboxer.id".to_string(), "01jdx3k9qz".to_string()),
        ("team".to_string(), "infra".to_string()),
    ])
}

fn profile() -> ProfileRef {
    ProfileRef {
        id: "profile.sandbox-canary".into(),
        version: "1".into(),
        spec: json!({"compose_file": "compose.yaml"}),
        files: BTreeMap::from([(
            "compose.yaml".into(),
            "services:\n  web: {image: busybox}\n".into(),
        )]),
        cost: Some(CostRate {
            currency: "USD".into(),
            per_hour: "0.02".parse().unwrap(),
        }),
        placement: PlacementConstraints {
            labels: BTreeMap::from([("zone".into(), "a".into())]),
        },
    }
}

fn create() -> CreateParams {
    CreateParams {
        sandbox_id: "01jdx3k9qz".into(),
        profile: profile(),
        placement: Placement {
            host: Some("local".into()),
        },
        labels: labels(),
        secrets: Secrets(BTreeMap::from([("API_TOKEN".into(), "s3cret".into())])),
        network: NetworkPolicy {
            egress: Egress::Deny,
            allow: vec![],
        },
        resources: Resources {
            cpus: Some(1.0),
            memory_mb: Some(256),
            disk_mb: None,
        },
        expires_at: "2026-11-26T22:00:00Z".into(),
        progress_token: Some(json!("p-1")),
    }
}

fn sandbox() -> Sandbox {
    Sandbox {
        sandbox_id: "01jdx3k9qz".into(),
        state: BackendState::Ready,
        backend_ref: "local/sbx-01jdx3k9qz".into(),
        labels: labels(),
        endpoints: vec![
            Endpoint {
                name: "web".into(),
                protocol: EndpointProtocol::Http,
                host: "127.0.0.1".into(),
                port: 38080,
                url: Some("http://127.0.0.1:38080/".into()),
            },
            Endpoint {
                name: "ssh".into(),
                protocol: EndpointProtocol::Ssh,
                host: "127.0.0.1".into(),
                port: 22,
                url: None,
            },
        ],
        details: serde_json::from_value(json!({"services": {"web": "running"}})).unwrap(),
    }
}

#[test]
fn handshake_messages() {
    check_request::<methods::Initialize>(
        &InitializeParams {
            protocol_version: "1.0".into(),
            host: PeerInfo {
                name: "sandboxer".into(),
                version: "0.1.0".into(),
            },
            options: serde_json::from_value(json!({"hosts": ["local"]})).unwrap(),
            features: vec![],
        },
        &InitializeResult {
            protocol_version: "1.0".into(),
            extension: PeerInfo {
                name: "compose-ssh".into(),
                version: "0.1.0".into(),
            },
            capabilities: Capabilities {
                methods: methods::required().map(str::to_string).collect(),
                features: vec![],
            },
            options_schema: BTreeMap::from([(
                "hosts".into(),
                OptionSpec {
                    description: "hosts to place sandboxes on".into(),
                    required: false,
                    secret: false,
                    default: Some(json!(["local"])),
                },
            )]),
        },
    );
}

#[test]
fn sandbox_messages() {
    check_request::<methods::Shutdown>(&methods::NoParams {}, &Value::Null);
    check_request::<methods::SandboxCreate>(&create(), &sandbox());
    check_request::<methods::SandboxGet>(
        &GetParams {
            sandbox_id: "01jdx3k9qz".into(),
            backend_ref: Some("local/sbx-01jdx3k9qz".into()),
        },
        &sandbox(),
    );
    check_request::<methods::SandboxList>(
        &ListParams {
            labels: Some(BTreeMap::from([("team".into(), "infra".into())])),
        },
        &ListResult {
            sandboxes: vec![sandbox()],
        },
    );
    check_request::<methods::SandboxDestroy>(
        &DestroyParams {
            sandbox_id: "01jdx3k9qz".into(),
            backend_ref: None,
        },
        &DestroyResult { destroyed: true },
    );
}

#[test]
fn optional_method_messages() {
    check_request::<methods::SandboxExtendTtl>(
        &ExtendTtlParams {
            sandbox_id: "01jdx3k9qz".into(),
            expires_at: "2026-11-27T00:00:00Z".into(),
        },
        &sandbox(),
    );
    let snapshot = Snapshot {
        snapshot_id: "snap-01jdx3".into(),
        snapshot_name: Some("before-upgrade".into()),
        sandbox_id: Some("01jdx3k9qz".into()),
        labels: labels(),
        details: Default::default(),
    };
    check_request::<methods::SandboxSnapshot>(
        &SnapshotParams {
            sandbox_id: "01jdx3k9qz".into(),
            snapshot_name: "before-upgrade".into(),
        },
        &snapshot,
    );
    check_request::<methods::SandboxRestore>(
        &RestoreParams {
            snapshot_id: "snap-01jdx3".into(),
            create: create(),
        },
        &sandbox(),
    );
    check_request::<methods::SnapshotList>(
        &SnapshotListParams {},
        &SnapshotListResult {
            snapshots: vec![snapshot],
        },
    );
    check_request::<methods::SnapshotDelete>(
        &SnapshotDeleteParams {
            snapshot_id: "snap-01jdx3".into(),
        },
        &SnapshotDeleteResult { deleted: true },
    );
    check_request::<methods::SandboxExec>(
        &ExecParams {
            sandbox_id: "01jdx3k9qz".into(),
            argv: vec!["sh".into(), "-c".into(), "echo hi".into()],
            stdin: None,
            timeout_s: Some(30),
            service: Some("web".into()),
        },
        &ExecResult::from_output(0, b"hi\n", b""),
    );
    check_request::<methods::CostEstimate>(
        &CostEstimateParams {
            profile: profile(),
            resources: Resources::default(),
            duration_s: 3600,
        },
        &CostEstimate {
            currency: "USD".into(),
            amount: "0.02".parse().unwrap(),
            breakdown: serde_json::from_value(json!({"rate_per_hour": 0.02})).unwrap(),
        },
    );
    check_request::<methods::HostHealth>(
        &HostHealthParams { host: None },
        &HostHealthResult {
            hosts: vec![HostHealth {
                host: "local".into(),
                reachable: true,
                load1: Some(0.25),
                mem_free_mb: Some(20480),
                disk_free_mb: Some(81920),
                sandboxes: Some(3),
                error: None,
                details: Default::default(),
            }],
        },
    );
    check_request::<methods::ProfileCheck>(
        &ProfileCheckParams {
            profile: profile(),
            placement: Placement {
                host: Some("h1".into()),
            },
        },
        &ProfileCheckResult {
            refused: vec![PolicyFinding {
                field: "compose.yaml: services.web.volumes[0]".into(),
                message: "\"/:/host\" mounts a path of the host".into(),
                setting: Some("host-mounts".into()),
            }],
            relaxed: vec![PolicyFinding {
                field: "compose.yaml: services.web.sysctls".into(),
                message: "sets kernel parameters".into(),
                setting: Some("sysctls".into()),
            }],
        },
    );
    check_request::<methods::HostDoctor>(
        &HostDoctorParams {
            host: Some("local".into()),
            profiles: vec![profile()],
        },
        &HostDoctorResult {
            hosts: vec![HostDoctor {
                host: "local".into(),
                checks: vec![
                    DoctorCheck {
                        name: "podman".into(),
                        ok: true,
                        detail: "4.3.1".into(),
                        fix: None,
                    },
                    DoctorCheck {
                        name: "network backend".into(),
                        ok: false,
                        detail: "cni".into(),
                        fix: Some("scripts/setup-host.sh".into()),
                    },
                ],
            }],
        },
    );
    let image = ImageInfo {
        image_id: "89030ec467ca6b9fbe6aa16f".into(),
        profile: Some("profile.vm-dev@1".into()),
        built_at: "2026-12-02T10:00:00Z".into(),
        size_bytes: 97_517_568,
        used_by: vec!["sandbox 01jdx3k9qz".into()],
        details: [("kind".to_string(), json!("debian"))]
            .into_iter()
            .collect(),
    };
    check_request::<methods::ImageBuild>(
        &ImageBuildParams {
            profile: profile(),
            progress_token: Some(json!("img-1")),
        },
        &ImageBuildResult {
            image: image.clone(),
            built: true,
        },
    );
    check_request::<methods::ImageList>(
        &ImageListParams {},
        &ImageListResult {
            images: vec![image.clone()],
        },
    );
    check_request::<methods::ImagePrune>(
        &ImagePruneParams {
            image_ids: None,
            keep_profiles: vec![profile()],
            dry_run: true,
        },
        &ImagePruneResult {
            removed: vec![ImageInfo {
                used_by: vec![],
                ..image
            }],
            kept: vec![ImageKept {
                image_id: "5c1d0e2f9a7b3c4d5e6f7a8b".into(),
                reason: "profile.sandbox-canary@1 uses it".into(),
            }],
        },
    );
}

/// Protocol 1.6: working inside a sandbox.
#[test]
fn working_inside_messages() {
    let sid = || "01jdx3k9qz".to_string();
    let exec_id = || "e-3".to_string();
    let exit = ExecExit {
        exit_code: 130,
        signal: Some(2),
        timed_out: false,
        next_seq: 12,
    };
    check_request::<methods::ExecStart>(
        &ExecStartParams {
            sandbox_id: sid(),
            argv: vec!["sh".into(), "-c".into(), "make test".into()],
            cwd: Some("/work".into()),
            env: BTreeMap::from([("CI".into(), "1".into())]),
            service: Some("app".into()),
            pty: Some(TerminalSize { rows: 24, cols: 80 }),
            stdin: true,
            timeout_s: Some(600),
        },
        &ExecStarted {
            exec_id: exec_id(),
            pid: Some(41),
        },
    );
    check_request::<methods::ExecAttach>(
        &ExecAttachParams {
            sandbox_id: sid(),
            exec_id: exec_id(),
            output_token: json!("o-1"),
            from_seq: 4,
        },
        &exit,
    );
    check_request::<methods::ExecWrite>(
        &ExecWriteParams {
            sandbox_id: sid(),
            exec_id: exec_id(),
            data: Data(b"ls\n".to_vec()),
            eof: false,
        },
        &Ack {},
    );
    check_request::<methods::ExecSignal>(
        &ExecSignalParams {
            sandbox_id: sid(),
            exec_id: exec_id(),
            signal: Signal::Interrupt,
        },
        &Ack {},
    );
    check_request::<methods::ExecResize>(
        &ExecResizeParams {
            sandbox_id: sid(),
            exec_id: exec_id(),
            size: TerminalSize {
                rows: 50,
                cols: 132,
            },
        },
        &Ack {},
    );
    check_request::<methods::ExecList>(
        &ExecListParams { sandbox_id: sid() },
        &ExecListResult {
            sessions: vec![ExecSession {
                exec_id: exec_id(),
                argv: vec!["sh".into()],
                service: Some("app".into()),
                pty: true,
                started_at: "2026-12-02T10:00:00Z".into(),
                exit: Some(exit.clone()),
                attached: 1,
            }],
        },
    );
    let file = FileInfo {
        name: "notes.txt".into(),
        path: "/work/notes.txt".into(),
        kind: FileKind::File,
        size: 5,
        mode: 0o644,
        modified_unix: 1_796_205_600,
        link_target: None,
    };
    let at = |path: &str| FsPathParams {
        sandbox_id: sid(),
        path: path.into(),
        service: None,
    };
    check_request::<methods::FsRead>(
        &FsReadParams {
            sandbox_id: sid(),
            path: "/work/notes.txt".into(),
            service: None,
            offset: 0,
            length: Some(1024),
        },
        &FsReadResult {
            data: Data(b"hello".to_vec()),
            size: 5,
            eof: true,
        },
    );
    check_request::<methods::FsWrite>(
        &FsWriteParams {
            sandbox_id: sid(),
            path: "/work/notes.txt".into(),
            service: None,
            data: Data(b"hello".to_vec()),
            append: false,
            mode: Some(0o600),
        },
        &FsWriteResult { size: 5 },
    );
    check_request::<methods::FsList>(
        &at("/work"),
        &FsListResult {
            entries: vec![
                file.clone(),
                FileInfo {
                    name: "latest".into(),
                    path: "/work/latest".into(),
                    kind: FileKind::Symlink,
                    size: 9,
                    mode: 0o777,
                    modified_unix: 1_796_205_600,
                    link_target: Some("notes.txt".into()),
                },
            ],
        },
    );
    check_request::<methods::FsStat>(&at("/work/notes.txt"), &file);
    check_request::<methods::FsMkdir>(
        &FsMkdirParams {
            sandbox_id: sid(),
            path: "/work/out".into(),
            service: None,
            parents: true,
        },
        &Ack {},
    );
    check_request::<methods::FsRemove>(
        &FsRemoveParams {
            sandbox_id: sid(),
            path: "/work/out".into(),
            service: None,
            recursive: true,
        },
        &Ack {},
    );
    check_request::<methods::FsRename>(
        &FsRenameParams {
            sandbox_id: sid(),
            from: "/work/a".into(),
            to: "/work/b".into(),
            service: None,
        },
        &Ack {},
    );
    check_request::<methods::FsTarPut>(
        &FsTarPutParams {
            sandbox_id: sid(),
            path: "/work".into(),
            service: None,
            transfer_id: Some("t-1".into()),
            offset: 10240,
            data: Data(vec![0; 8]),
            done: true,
            from_socket: None,
        },
        &FsTarPutResult {
            transfer_id: "t-1".into(),
            received: 10248,
        },
    );
    check_request::<methods::FsTarGet>(
        &FsTarGetParams {
            sandbox_id: sid(),
            path: "/work".into(),
            service: None,
            transfer_id: None,
        },
        &FsTarGetResult {
            transfer_id: "t-2".into(),
            data: Data(vec![0; 8]),
            eof: false,
        },
    );
    let paused = Sandbox {
        state: BackendState::Paused,
        ..sandbox()
    };
    check_request::<methods::SandboxPause>(&PauseParams { sandbox_id: sid() }, &paused);
    check_request::<methods::SandboxResume>(&PauseParams { sandbox_id: sid() }, &sandbox());
    check_request::<methods::SandboxLogs>(
        &LogsParams {
            sandbox_id: sid(),
            output_token: json!("l-1"),
            service: Some("app".into()),
            follow: true,
            tail: Some(100),
        },
        &Ack {},
    );
    let figures = Figures {
        cpu_percent: 12.5,
        memory_bytes: 52_428_800,
        memory_limit_bytes: Some(268_435_456),
        net_rx_bytes: 2048,
        net_tx_bytes: 1024,
        block_read_bytes: 4096,
        block_write_bytes: 8192,
        disk_bytes: Some(65_536),
        pids: 3,
    };
    check_request::<methods::SandboxMetrics>(
        &PauseParams { sandbox_id: sid() },
        &MetricsResult {
            at: "2026-12-02T10:00:00Z".into(),
            total: figures.clone(),
            services: BTreeMap::from([("app".into(), figures)]),
        },
    );
    check_notification::<methods::Output>(&OutputParams {
        token: json!("o-1"),
        seq: 4,
        stream: OutputStream::Stdout,
        service: None,
        data: Data(b"ok 1 - builds\n".to_vec()),
    });
}

#[test]
fn notification_messages() {
    check_notification::<methods::Initialized>(&methods::NoParams {});
    check_notification::<methods::Exit>(&methods::NoParams {});
    check_notification::<methods::Progress>(&ProgressParams {
        token: json!("p-1"),
        message: "starting services".into(),
        percent: Some(40),
    });
    check_notification::<methods::Log>(&LogParams {
        level: LogLevel::Warning,
        message: "image is old".into(),
    });
    check_notification::<methods::CancelRequest>(&CancelParams { id: json!(7) });
}

#[test]
fn error_messages() {
    check(
        "error.not-found",
        &ErrorObject::domain(ErrorKind::NotFound, "sandbox 01jdx3k9qz not found"),
    );
    check(
        "error.invalid-argument",
        &ErrorObject::invalid_argument("sandbox_id", "sandbox_id is required"),
    );
    check(
        "error.version-mismatch",
        &ErrorObject {
            code: codes::INVALID_PARAMS,
            message: "protocol version 2.0 is not supported".into(),
            data: Some(json!({"supported": ["1.0"]})),
        },
    );
}

/// The envelopes, as lines: what actually crosses the pipe.
#[test]
fn envelope_lines() {
    let lines = [
        request_line(
            &Id::from(1),
            "sandbox/get",
            Some(&json!({"sandbox_id": "a"})),
        ),
        notification_line(methods::Initialized::METHOD, None::<&Value>),
        result_line(&Id::String("x".into()), &json!({"destroyed": true})),
        error_line(
            None,
            &ErrorObject::standard(codes::PARSE_ERROR, "parse error"),
        ),
    ]
    .concat();
    let path = golden_dir().join("envelopes.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, &lines).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), lines);
}
