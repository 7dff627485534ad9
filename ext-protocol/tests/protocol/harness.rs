//! The in-process harness (`sdk::harness`) as an extension author uses it: a
//! small extension driven through the real SDK loop with typed requests, its
//! progress kept, a long call cancelled, bad options refused at the handshake.

use sandboxer_ext_protocol::methods::{SandboxCreate, SandboxExec, SandboxGet, SandboxList};
use sandboxer_ext_protocol::sdk::harness::{CallError, Harness};
use sandboxer_ext_protocol::sdk::{Context, ExtResult, Extension, Manifest};
use sandboxer_ext_protocol::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Keeps sandboxes in memory; `exec` sleeps for `argv[1]` seconds.
struct Notes {
    sandboxes: Mutex<BTreeMap<String, Sandbox>>,
}

impl Extension for Notes {
    fn manifest() -> Manifest {
        Manifest {
            name: "notes".into(),
            version: "0.0.1".into(),
            optional_methods: vec![methods::SandboxExec::METHOD],
            options_schema: BTreeMap::from([(
                "colour".to_string(),
                OptionSpec {
                    description: "any colour".into(),
                    default: Some(json!("blue")),
                    ..Default::default()
                },
            )]),
            ..Default::default()
        }
    }

    async fn start(options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        assert_eq!(options["colour"], "blue", "defaults are filled in");
        Ok(Notes {
            sandboxes: Mutex::default(),
        })
    }

    async fn create(&self, ctx: &Context, p: CreateParams) -> ExtResult<Sandbox> {
        ctx.progress("writing the note", Some(50));
        let sandbox = Sandbox {
            sandbox_id: p.sandbox_id.clone(),
            state: BackendState::Ready,
            backend_ref: format!("notes/{}", p.sandbox_id),
            labels: p.labels,
            endpoints: vec![],
            details: Default::default(),
        };
        self.sandboxes
            .lock()
            .unwrap()
            .insert(p.sandbox_id, sandbox.clone());
        Ok(sandbox)
    }

    async fn get(&self, _ctx: &Context, p: GetParams) -> ExtResult<Sandbox> {
        self.sandboxes
            .lock()
            .unwrap()
            .get(&p.sandbox_id)
            .cloned()
            .ok_or_else(|| ErrorObject::domain(ErrorKind::NotFound, "no such note"))
    }

    async fn list(&self, _ctx: &Context, _p: ListParams) -> ExtResult<ListResult> {
        Ok(ListResult {
            sandboxes: self.sandboxes.lock().unwrap().values().cloned().collect(),
        })
    }

    async fn destroy(&self, _ctx: &Context, p: DestroyParams) -> ExtResult<DestroyResult> {
        self.sandboxes.lock().unwrap().remove(&p.sandbox_id);
        Ok(DestroyResult { destroyed: true })
    }

    async fn exec(&self, _ctx: &Context, p: ExecParams) -> ExtResult<ExecResult> {
        let secs: u64 = p.argv.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok(ExecResult::from_output(0, b"", b""))
    }
}

fn create(id: &str) -> CreateParams {
    CreateParams {
        sandbox_id: id.into(),
        profile: ProfileRef {
            id: "profile.note".into(),
            version: "1".into(),
            ..Default::default()
        },
        placement: Default::default(),
        labels: BTreeMap::from([(LABEL_SANDBOX_ID.to_string(), id.to_string())]),
        secrets: Default::default(),
        network: Default::default(),
        resources: Default::default(),
        expires_at: "2030-01-01T00:00:00Z".into(),
        progress_token: Some(json!("p1")),
    }
}

#[tokio::test]
async fn typed_requests_go_through_the_real_loop() {
    let mut host = Harness::<Notes>::start(json!({})).await.unwrap();
    assert_eq!(host.info.extension.name, "notes");
    assert!(
        host.info
            .capabilities
            .methods
            .iter()
            .any(|m| m == SandboxExec::METHOD)
    );
    let made = host.request::<SandboxCreate>(&create("n1")).await.unwrap();
    assert_eq!(made.state, BackendState::Ready);
    assert_eq!(host.notifications.len(), 1, "{:?}", host.notifications);
    assert_eq!(host.notifications[0]["params"]["percent"], 50);
    let listed = host
        .request::<SandboxList>(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(listed.sandboxes.len(), 1);
    let missing = host
        .request::<SandboxGet>(&GetParams {
            sandbox_id: "n2".into(),
            backend_ref: None,
        })
        .await;
    assert!(
        matches!(&missing, Err(CallError::Remote(e)) if e.code == 1001),
        "{missing:?}"
    );
    // The SDK checks sandbox_id before the extension sees the call.
    let bad = host
        .request::<SandboxGet>(&GetParams {
            sandbox_id: "Not An Id".into(),
            backend_ref: None,
        })
        .await;
    assert!(
        matches!(&bad, Err(CallError::Remote(e)) if e.code == 1003),
        "{bad:?}"
    );
    assert_eq!(host.shutdown().await, 0);
}

#[tokio::test]
async fn a_long_call_is_cancelled() {
    let mut host = Harness::<Notes>::start(json!({})).await.unwrap();
    let id = host
        .send::<SandboxExec>(&ExecParams {
            sandbox_id: "n1".into(),
            argv: vec!["sleep".into(), "600".into()],
            stdin: None,
            timeout_s: None,
            service: None,
        })
        .await;
    host.cancel(&id).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), host.answer_to(&id))
        .await
        .expect("a cancelled call is answered at once")
        .unwrap();
    assert_eq!(answer["error"]["code"], -32800, "{answer}");
    assert_eq!(host.shutdown().await, 0);
}

#[tokio::test]
async fn an_option_the_schema_does_not_list_fails_the_handshake() {
    let refused = Harness::<Notes>::start(json!({"color": "red"})).await;
    let Err(CallError::Remote(error)) = refused else {
        panic!("started with an unknown option");
    };
    assert_eq!(error.code, 1003);
    assert_eq!(
        error.domain_data().unwrap().details.unwrap()["field"],
        "options.color"
    );
    assert!(error.message.contains("colour"), "{}", error.message);
}
