//! The SDK's main loop driven in-process over an in-memory pipe, one test per rule
//! of the contract it owns.

use sandboxer_ext_protocol::sdk::{self, Context, ExtResult, Extension, Manifest};
use sandboxer_ext_protocol::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

/// A backend in memory. `spec.sleep_ms` delays create; `spec.progress` sends that
/// many progress notifications first.
struct MemExt {
    sandboxes: Mutex<BTreeMap<String, Sandbox>>,
}

impl Extension for MemExt {
    fn manifest() -> Manifest {
        Manifest {
            name: "mem".into(),
            version: "0.0.1".into(),
            optional_methods: vec![methods::CostEstimate::METHOD],
            options_schema: BTreeMap::from([(
                "flavour".to_string(),
                OptionSpec {
                    description: "a required option".into(),
                    required: true,
                    ..Default::default()
                },
            )]),
            ..Default::default()
        }
    }

    async fn start(options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        assert!(options.contains_key("flavour"));
        Ok(MemExt {
            sandboxes: Mutex::default(),
        })
    }

    async fn create(&self, ctx: &Context, p: CreateParams) -> ExtResult<Sandbox> {
        let steps = p.profile.spec["progress"].as_u64().unwrap_or(0);
        for i in 0..steps {
            ctx.progress(format!("step {i}"), Some((i * 100 / steps.max(1)) as u8));
        }
        // A later, lower percent must not go out as a decrease.
        if steps > 1 {
            ctx.progress("late", Some(0));
        }
        if let Some(ms) = p.profile.spec["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let mut labels = p.labels.clone();
        labels.insert(LABEL_SANDBOX_ID.into(), p.sandbox_id.clone());
        let sandbox = Sandbox {
            sandbox_id: p.sandbox_id.clone(),
            state: BackendState::Ready,
            backend_ref: format!("mem/{}", p.sandbox_id),
            labels,
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
            .ok_or_else(|| ErrorObject::domain(ErrorKind::NotFound, "no such sandbox"))
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
}

struct Peer {
    to_ext: DuplexStream,
    from_ext: Lines<BufReader<DuplexStream>>,
    done: tokio::task::JoinHandle<i32>,
}

impl Peer {
    fn start() -> Peer {
        let (to_ext, ext_in) = tokio::io::duplex(1 << 20);
        let (ext_out, from_ext) = tokio::io::duplex(1 << 20);
        let done = tokio::spawn(sdk::run::<MemExt, _, _>(ext_in, ext_out));
        Peer {
            to_ext,
            from_ext: BufReader::new(from_ext).lines(),
            done,
        }
    }

    async fn send_raw(&mut self, line: &str) {
        self.to_ext.write_all(line.as_bytes()).await.unwrap();
        self.to_ext.write_all(b"\n").await.unwrap();
    }

    async fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string()).await;
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.from_ext.next_line())
            .await
            .expect("an answer within 5 s")
            .unwrap()
            .expect("stdout still open");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("non-JSON line {line:?}: {e}"))
    }

    async fn call(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.recv().await
    }

    async fn initialized() -> Peer {
        let mut peer = Peer::start();
        let answer = peer.call(json!(0), "initialize", init_params("1.0")).await;
        assert!(answer["result"].is_object(), "{answer}");
        peer.send(json!({"jsonrpc": "2.0", "method": "initialized"}))
            .await;
        peer
    }
}

fn init_params(version: &str) -> Value {
    json!({"protocol_version": version, "host": {"name": "test", "version": "0"},
           "options": {"flavour": "x"}, "features": ["from-the-future"]})
}

fn create_params(id: &str, spec: Value) -> Value {
    json!({"sandbox_id": id, "profile": {"id": "profile.t", "version": "1", "spec": spec},
           "expires_at": "2030-01-01T00:00:00Z"})
}

fn code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {answer}"))
}

#[tokio::test]
async fn requests_before_initialize_get_not_initialized() {
    let mut peer = Peer::start();
    let answer = peer.call(json!(1), "sandbox/list", json!({})).await;
    assert_eq!(code(&answer), -32002);
    assert_eq!(answer["id"], 1);
}

#[tokio::test]
async fn handshake_lists_required_and_declared_methods_and_ignores_unknown_features() {
    let mut peer = Peer::start();
    let answer = peer.call(json!(1), "initialize", init_params("1.3")).await;
    let result = &answer["result"];
    assert_eq!(result["protocol_version"], PROTOCOL_VERSION.to_string());
    assert_eq!(result["extension"]["name"], "mem");
    let methods: Vec<&str> = result["capabilities"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for required in methods::required() {
        assert!(methods.contains(&required), "{required} missing");
    }
    assert!(methods.contains(&"cost/estimate"));
    assert!(!methods.contains(&"sandbox/exec"));
    assert_eq!(result["options_schema"]["flavour"]["required"], true);
}

#[tokio::test]
async fn an_unsupported_major_is_refused_with_the_supported_versions() {
    let mut peer = Peer::start();
    let answer = peer.call(json!(1), "initialize", init_params("2.0")).await;
    assert_eq!(code(&answer), -32602);
    assert_eq!(
        answer["error"]["data"]["supported"],
        json!([PROTOCOL_VERSION.to_string()])
    );
    assert!(answer["error"]["message"].as_str().unwrap().contains("2.0"));
}

#[tokio::test]
async fn a_missing_required_option_names_it() {
    let mut peer = Peer::start();
    let mut params = init_params("1.0");
    params["options"] = json!({});
    let answer = peer.call(json!(1), "initialize", params).await;
    assert_eq!(code(&answer), 1003);
    assert_eq!(
        answer["error"]["data"]["details"]["field"],
        "options.flavour"
    );
}

#[tokio::test]
async fn a_second_initialize_is_an_invalid_request() {
    let mut peer = Peer::initialized().await;
    let answer = peer.call(json!(2), "initialize", init_params("1.0")).await;
    assert_eq!(code(&answer), -32600);
}

#[tokio::test]
async fn malformed_lines_get_parse_error_and_the_extension_lives_on() {
    let mut peer = Peer::initialized().await;
    peer.send_raw("{not json").await;
    let answer = peer.recv().await;
    assert_eq!(code(&answer), -32700);
    assert_eq!(answer["id"], Value::Null);
    peer.send_raw(r#"{"jsonrpc":"2.0","id":"q","method":7}"#)
        .await;
    let answer = peer.recv().await;
    assert_eq!(code(&answer), -32600);
    assert_eq!(answer["id"], "q");
    let answer = peer.call(json!(3), "sandbox/list", json!({})).await;
    assert!(answer["result"]["sandboxes"].is_array(), "{answer}");
}

#[tokio::test]
async fn unknown_and_unlisted_methods_are_method_not_found() {
    let mut peer = Peer::initialized().await;
    assert_eq!(
        code(&peer.call(json!(1), "no/such", json!({})).await),
        -32601
    );
    let exec = json!({"sandbox_id": "a", "argv": ["true"]});
    assert_eq!(
        code(&peer.call(json!(2), "sandbox/exec", exec).await),
        -32601
    );
}

#[tokio::test]
async fn ids_of_every_form_are_echoed_exactly() {
    let mut peer = Peer::initialized().await;
    for id in [
        json!(-5),
        json!(1.5),
        json!("abc"),
        json!(""),
        json!(1u64 << 60),
    ] {
        let answer = peer.call(id.clone(), "sandbox/list", json!({})).await;
        assert_eq!(answer["id"], id);
    }
}

#[tokio::test]
async fn sandbox_id_problems_are_invalid_argument_naming_the_field() {
    let mut peer = Peer::initialized().await;
    for params in [
        json!({}),
        json!({"sandbox_id": "Bad!"}),
        json!({"sandbox_id": 3}),
    ] {
        let answer = peer.call(json!(1), "sandbox/get", params).await;
        assert_eq!(code(&answer), 1003, "{answer}");
        assert_eq!(answer["error"]["data"]["details"]["field"], "sandbox_id");
        assert_eq!(answer["error"]["data"]["kind"], "InvalidArgument");
        assert_eq!(answer["error"]["data"]["retryable"], false);
    }
    let mut bad = create_params("ok", json!({}));
    bad["labels"] = json!("not a map");
    let answer = peer.call(json!(2), "sandbox/create", bad).await;
    assert_eq!(code(&answer), -32602);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("labels")
    );
    let answer = peer.call(json!(3), "sandbox/list", json!([1])).await;
    assert_eq!(code(&answer), -32602);
}

#[tokio::test]
async fn progress_comes_before_the_response_never_decreasing_and_only_with_a_token() {
    let mut peer = Peer::initialized().await;
    let mut params = create_params("p1", json!({"progress": 3}));
    params["progress_token"] = json!("tok");
    peer.send(json!({"jsonrpc":"2.0","id":9,"method":"sandbox/create","params":params}))
        .await;
    let mut percents = vec![];
    loop {
        let msg = peer.recv().await;
        if msg.get("id").is_some() {
            assert_eq!(msg["result"]["sandbox_id"], "p1");
            break;
        }
        assert_eq!(msg["method"], "$/progress");
        assert_eq!(msg["params"]["token"], "tok");
        percents.push(msg["params"]["percent"].as_u64().unwrap());
    }
    assert_eq!(percents.len(), 4);
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    // Without a token, the same create sends no progress at all.
    let answer = peer
        .call(
            json!(10),
            "sandbox/create",
            create_params("p2", json!({"progress": 3})),
        )
        .await;
    assert_eq!(answer["id"], 10);
}

#[tokio::test]
async fn cancel_answers_the_call_with_cancelled_and_ignores_unknown_ids() {
    let mut peer = Peer::initialized().await;
    let params = create_params("slow", json!({"sleep_ms": 60_000}));
    peer.send(json!({"jsonrpc":"2.0","id":"c1","method":"sandbox/create","params":params}))
        .await;
    peer.send(json!({"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"nope"}}))
        .await;
    peer.send(json!({"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"c1"}}))
        .await;
    let answer = peer.recv().await;
    assert_eq!(answer["id"], "c1");
    assert_eq!(code(&answer), -32800);
    let answer = peer.call(json!(2), "sandbox/list", json!({})).await;
    assert_eq!(answer["result"]["sandboxes"], json!([]));
}

#[tokio::test]
async fn pipelined_calls_are_answered_out_of_order_by_id() {
    let mut peer = Peer::initialized().await;
    let slow = create_params("slow", json!({"sleep_ms": 300}));
    peer.send(json!({"jsonrpc":"2.0","id":1,"method":"sandbox/create","params":slow}))
        .await;
    peer.send(json!({"jsonrpc":"2.0","id":2,"method":"sandbox/list","params":{}}))
        .await;
    assert_eq!(peer.recv().await["id"], 2);
    assert_eq!(peer.recv().await["id"], 1);
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_calls_then_exit_ends_the_loop() {
    let mut peer = Peer::initialized().await;
    let slow = create_params("s", json!({"sleep_ms": 200}));
    peer.send(json!({"jsonrpc":"2.0","id":1,"method":"sandbox/create","params":slow}))
        .await;
    peer.send(json!({"jsonrpc":"2.0","id":2,"method":"shutdown"}))
        .await;
    let first = peer.recv().await;
    assert_eq!(first["id"], 1, "the in-flight call is answered first");
    let second = peer.recv().await;
    assert_eq!(second, json!({"jsonrpc":"2.0","id":2,"result":null}));
    let after = peer.call(json!(3), "sandbox/list", json!({})).await;
    assert_eq!(code(&after), -32600);
    peer.send(json!({"jsonrpc":"2.0","method":"exit"})).await;
    let code = tokio::time::timeout(Duration::from_secs(2), peer.done)
        .await
        .expect("exits within 2 s")
        .unwrap();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn stdin_eof_ends_the_loop() {
    let peer = Peer::initialized().await;
    drop(peer.to_ext);
    let code = tokio::time::timeout(Duration::from_secs(2), peer.done)
        .await
        .expect("exits within 2 s")
        .unwrap();
    assert_eq!(code, 0);
}
