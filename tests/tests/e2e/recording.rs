//! Recording what crosses the wire to a provider's API (E2B's, Daytona's): a
//! loopback proxy in front of the server that forwards each request as it is (responses
//! streamed through as they come, so output still arrives while a command
//! runs) and keeps each exchange, decoded: JSON bodies as JSON, Connect
//! streams as their messages, multipart uploads as their part names.
//!
//! `tests/golden/e2b-sdk-exchanges.json` holds what the official `e2b` SDK
//! sent and accepted (recorded by the SDK test with `SANDBOXER_RECORD_E2B=1`;
//! keys and tokens blanked). A shape — method, path with ids as `{id}`,
//! content type, the E2B headers present, the body's field paths — is what
//! the tests compare: the extension may send only shapes the SDK sends.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures::StreamExt;
use sandboxer_e2b::connect::Decoder;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The golden recording of the official E2B SDK.
pub fn golden_path() -> PathBuf {
    golden_path_of("e2b-sdk-exchanges.json")
}

/// A golden recording in `tests/golden`.
pub fn golden_path_of(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(file)
}

/// The headers that are E2B's protocol (others are the client's own).
const PROTOCOL_HEADERS: [&str; 8] = [
    "authorization",
    "x-api-key",
    "e2b-sandbox-id",
    "e2b-sandbox-port",
    "x-access-token",
    "connect-protocol-version",
    "connect-timeout-ms",
    "idempotency-key",
];

#[derive(Clone)]
struct Upstream {
    url: String,
    http: reqwest::Client,
    kept: Arc<Mutex<Vec<Value>>>,
}

/// A recording proxy; its exchanges, in order.
pub struct Recorder {
    pub url: String,
    kept: Arc<Mutex<Vec<Value>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Recorder {
    /// A proxy to `upstream` (e.g. `http://127.0.0.1:P/e2b`) on a loopback port.
    pub fn start(upstream: &str) -> Recorder {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let kept = Arc::new(Mutex::new(vec![]));
        let state = Upstream {
            url: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            kept: kept.clone(),
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(state);
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder {
            url,
            kept,
            _runtime: runtime,
        }
    }

    pub fn exchanges(&self) -> Vec<Value> {
        self.kept.lock().unwrap().clone()
    }
}

/// What a body says, decoded by its content type.
fn decoded(content_type: &str, bytes: &[u8]) -> Value {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/json" => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        "application/connect+json" => {
            let mut decoder = Decoder::default();
            decoder.push(bytes);
            let mut frames = vec![];
            while let Ok(Some(frame)) = decoder.next_frame() {
                let message: Value = serde_json::from_slice(&frame.payload).unwrap_or(Value::Null);
                frames.push(json!({"end": frame.is_end(), "message": message}));
            }
            Value::Array(frames)
        }
        m if m.starts_with("multipart/") => {
            let text = String::from_utf8_lossy(bytes);
            let parts: Vec<Value> = text
                .match_indices("name=\"")
                .map(|(at, _)| {
                    let rest = &text[at + 6..];
                    Value::String(rest[..rest.find('"').unwrap_or(0)].to_string())
                })
                .collect();
            json!({"multipart": parts})
        }
        _ if bytes.is_empty() => Value::Null,
        _ => json!({"bytes": bytes.len()}),
    }
}

async fn forward(State(up): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let sent = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut call = up
        .http
        .request(parts.method.clone(), format!("{}{path_and_query}", up.url))
        .body(sent.clone());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            call = call.header(name, value);
        }
    }
    let answer = call.send().await.unwrap();
    let header = |h: &axum::http::HeaderMap, name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let request_type = header(&parts.headers, "content-type");
    let present: Vec<&str> = PROTOCOL_HEADERS
        .into_iter()
        .filter(|h| parts.headers.contains_key(*h))
        .collect();
    let index = {
        let mut kept = up.kept.lock().unwrap();
        kept.push(json!({
            "client": header(&parts.headers, "user-agent"),
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query().unwrap_or(""),
            "content_type": request_type,
            "headers": present,
            "request": decoded(&request_type, &sent),
        }));
        kept.len() - 1
    };
    let status = answer.status();
    let response_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // The status now: an answer without a body may never be read to its end.
    {
        let record = &mut up.kept.lock().unwrap()[index];
        record["status"] = json!(status.as_u16());
        record["response_type"] = json!(response_type);
    }
    let mut builder = Response::builder().status(status.as_u16());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    // Each piece goes on as it comes; the whole is decoded at the end.
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let (tee, kept) = (seen.clone(), up.kept.clone());
    let stream = answer
        .bytes_stream()
        .map(move |piece| {
            if let Ok(bytes) = &piece {
                tee.lock().unwrap().extend_from_slice(bytes);
            }
            piece
        })
        .chain(futures::stream::once(async move {
            let bytes = seen.lock().unwrap().clone();
            kept.lock().unwrap()[index]["response"] = decoded(&response_type, &bytes);
            Ok(bytes::Bytes::new())
        }));
    builder.body(Body::from_stream(stream)).unwrap()
}

/// An id or a number in a path (`/sandboxes/01m95…/timeout`,
/// `/autostop/15`) as `{id}`: the words of the path (`v2`, `bulk-upload`,
/// `process.Process`, `Start`) stay.
fn path_template(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let number = !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit());
            // Ids and names made of words and numbers (`cfjwsppz5a-1`).
            let named = segment.len() >= 6 && segment.chars().any(|c| c.is_ascii_digit());
            if number || named || segment.len() >= 16 {
                "{id}".to_string()
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every field path of a JSON value (`process.args[]`), maps' keys as `*`
/// where they are the caller's (metadata, envs, envVars).
fn field_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let free = ["metadata", "envs", "envVars", "env", "labels"]
                    .iter()
                    .any(|f| prefix.ends_with(f));
                let key = if free { "*" } else { key.as_str() };
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                field_paths(inner, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                field_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The shapes of a recording's requests: (method path, content type,
/// headers) with their body's field paths.
pub fn request_shapes(exchanges: &[Value]) -> BTreeSet<(String, String)> {
    let mut shapes = BTreeSet::new();
    for e in exchanges {
        let path = path_template(e["path"].as_str().unwrap_or(""));
        let path = path.strip_prefix("/e2b").unwrap_or(&path).to_string();
        let media = e["content_type"]
            .as_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        let endpoint = format!("{} {path}", e["method"].as_str().unwrap_or(""));
        shapes.insert((endpoint.clone(), format!("content-type {media}")));
        for h in e["headers"].as_array().into_iter().flatten() {
            shapes.insert((endpoint.clone(), format!("header {}", h.as_str().unwrap())));
        }
        let mut fields = BTreeSet::new();
        match &e["request"] {
            Value::Array(frames) => {
                for f in frames {
                    field_paths(&f["message"], "", &mut fields);
                }
            }
            body => field_paths(body, "", &mut fields),
        }
        for query in e["query"]
            .as_str()
            .unwrap_or("")
            .split('&')
            .filter(|q| !q.is_empty())
        {
            shapes.insert((
                endpoint.clone(),
                format!("query {}", query.split('=').next().unwrap()),
            ));
        }
        for f in fields {
            shapes.insert((endpoint.clone(), format!("field {f}")));
        }
    }
    shapes
}

/// Whether an exchange is an official SDK's own (E2B's control-plane client,
/// connect-python under it, Daytona's client), not a test's hand-made request.
pub fn by_the_sdk(exchange: &Value) -> bool {
    exchange["client"].as_str().is_some_and(|c| {
        ["e2b-python-sdk/", "connectrpc/", "sdk-python/"]
            .iter()
            .any(|sdk| c.starts_with(sdk))
    })
}

/// The SDK's exchanges with their secrets blanked (tokens; keys are never
/// recorded, only which headers were present), for the golden file.
pub fn blanked(exchanges: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = exchanges
        .iter()
        .filter(|e| by_the_sdk(e))
        .cloned()
        .collect();
    for e in &mut out {
        if let Some(r) = e.get_mut("response").and_then(Value::as_object_mut) {
            for key in ["envdAccessToken", "trafficAccessToken"] {
                if r.contains_key(key) {
                    r.insert(key.into(), json!("<token>"));
                }
            }
        }
    }
    out
}

#[test]
fn shapes_name_endpoints_by_template_and_fields_by_path() {
    let exchanges = vec![json!({
        "method": "POST", "path": "/e2b/sandboxes/01m95bz5nkhs6kdpc9trd37a2h/timeout", "query": "",
        "content_type": "application/json", "headers": ["x-api-key"],
        "request": {"timeout": 5, "metadata": {"mine": "x"}},
    })];
    let shapes = request_shapes(&exchanges);
    let endpoint = "POST /sandboxes/{id}/timeout".to_string();
    assert!(shapes.contains(&(endpoint.clone(), "field timeout".into())));
    assert!(shapes.contains(&(endpoint.clone(), "field metadata.*".into())));
    assert!(shapes.contains(&(endpoint.clone(), "header x-api-key".into())));
    assert!(!shapes.iter().any(|(_, s)| s.contains("mine")));
    assert_eq!(
        path_template("/e2b/process.Process/Start"),
        "/e2b/process.Process/Start"
    );
    assert_eq!(
        path_template("/e2b/v2/sandboxes/01m95bz5nkhs6kdpc9trd37a2h/connect"),
        "/e2b/v2/sandboxes/{id}/connect"
    );
    assert_eq!(
        path_template("/toolbox/01m95bz5nkhs6kdpc9trd37a2h/files/bulk-upload"),
        "/toolbox/{id}/files/bulk-upload"
    );
}
