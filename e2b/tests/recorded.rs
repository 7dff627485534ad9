//! The official SDK's recorded exchanges (`tests/golden/e2b-sdk-exchanges.json`,
//! recorded by the E2B end-to-end test) read with this crate's types: every
//! request the SDK sent parses as the message its method takes, and writes
//! back as the same JSON (so what `sandboxer-ext-e2b` sends for the same call
//! is what the SDK sends); every answer the SDK accepted parses as the message
//! the extension reads.

use sandboxer_e2b::connect::EndOfStream;
use sandboxer_e2b::control::{
    NewSandbox, Sandbox, SandboxDetail, SandboxMetric, SetTimeout, WrittenEntry,
};
use sandboxer_e2b::envd::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

fn exchanges() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/golden/e2b-sdk-exchanges.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Parses `value` as `T` and writes it back: the same JSON.
fn round_trip<T: DeserializeOwned + Serialize>(what: &str, value: &Value) {
    let parsed: T =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{what}: {e}: {value}"));
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(&written, value, "{what} writes back otherwise");
}

/// Parses `value` as `T`.
fn reads<T: DeserializeOwned>(what: &str, value: &Value) {
    serde_json::from_value::<T>(value.clone()).unwrap_or_else(|e| panic!("{what}: {e}: {value}"));
}

/// A stream's messages (not its end).
fn messages(frames: &Value) -> Vec<&Value> {
    frames
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["end"] == false)
        .map(|f| &f["message"])
        .collect()
}

fn ends(frames: &Value) -> Vec<&Value> {
    frames
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["end"] == true)
        .map(|f| &f["message"])
        .collect()
}

#[test]
fn every_recorded_exchange_reads_with_the_shared_types() {
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for e in exchanges() {
        let path = e["path"].as_str().unwrap().trim_start_matches("/e2b");
        let method = e["method"].as_str().unwrap();
        let ok = e["status"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s));
        let (request, response) = (&e["request"], &e["response"]);
        let rpc = path.rsplit('/').next().unwrap();
        let key = match (method, path) {
            ("POST", "/v2/sandboxes") => {
                round_trip::<NewSandbox>("create", request);
                if ok {
                    reads::<Sandbox>("create's answer", response);
                }
                "create"
            }
            ("GET", "/v2/sandboxes") => {
                reads::<Vec<SandboxDetail>>("list", response);
                "list"
            }
            ("GET", p) if p.starts_with("/sandboxes/") && p.ends_with("/metrics") => {
                reads::<Vec<SandboxMetric>>("metrics", response);
                "metrics"
            }
            ("GET", p) if p.starts_with("/sandboxes/") && ok => {
                reads::<SandboxDetail>("get", response);
                "get"
            }
            ("POST", p) if p.ends_with("/timeout") => {
                round_trip::<SetTimeout>("timeout", request);
                "timeout"
            }
            ("POST", p) if p.ends_with("/connect") && ok => {
                reads::<Sandbox>("connect's answer", response);
                "connect"
            }
            ("POST", "/files") if ok => {
                reads::<Vec<WrittenEntry>>("write's answer", response);
                "files"
            }
            ("POST", p) if p.starts_with("/process.Process/") || p.starts_with("/filesystem.") => {
                match rpc {
                    "Start" => {
                        for m in messages(request) {
                            round_trip::<StartRequest>("Start", m);
                        }
                    }
                    "Connect" => {
                        for m in messages(request) {
                            round_trip::<SelectRequest>("Connect", m);
                        }
                    }
                    "StreamInput" => {
                        for m in messages(request) {
                            round_trip::<StreamInputRequest>("StreamInput", m);
                        }
                    }
                    "SendInput" => round_trip::<SendInputRequest>(rpc, request),
                    "SendSignal" => round_trip::<SendSignalRequest>(rpc, request),
                    "CloseStdin" => round_trip::<SelectRequest>(rpc, request),
                    "Update" => round_trip::<UpdateRequest>(rpc, request),
                    "List" => reads::<ListResponse>(rpc, response),
                    "Stat" | "MakeDir" | "Remove" => round_trip::<PathRequest>(rpc, request),
                    "ListDir" => round_trip::<ListDirRequest>(rpc, request),
                    "Move" => round_trip::<MoveRequest>(rpc, request),
                    "CreateWatcher" => {
                        round_trip::<WatchRequest>(rpc, request);
                        reads::<WatcherId>(rpc, response);
                    }
                    "WatchDir" => {
                        for m in messages(request) {
                            round_trip::<WatchRequest>(rpc, m);
                        }
                        for m in messages(response) {
                            reads::<WatchDirResponse>(rpc, m);
                        }
                    }
                    "GetWatcherEvents" => {
                        round_trip::<WatcherId>(rpc, request);
                        reads::<WatcherEvents>(rpc, response);
                    }
                    "RemoveWatcher" => round_trip::<WatcherId>(rpc, request),
                    other => panic!("an RPC the test does not know: {other}"),
                }
                if matches!(rpc, "Start" | "Connect") {
                    for m in messages(response) {
                        reads::<ProcessEventMessage>("a process event", m);
                    }
                    for m in ends(response) {
                        reads::<EndOfStream>("a stream's end", m);
                    }
                }
                if ok && matches!(rpc, "Stat" | "MakeDir" | "Move") {
                    reads::<EntryResponse>(rpc, response);
                }
                if ok && rpc == "ListDir" {
                    reads::<ListDirResponse>(rpc, response);
                }
                rpc
            }
            _ => "other",
        };
        *checked.entry(key.to_string()).or_default() += 1;
    }
    for needed in [
        "create",
        "list",
        "get",
        "timeout",
        "connect",
        "files",
        "Start",
        "Connect",
        "StreamInput",
        "SendInput",
        "SendSignal",
        "CloseStdin",
        "Update",
        "List",
        "Stat",
        "ListDir",
        "MakeDir",
        "Move",
        "Remove",
        "CreateWatcher",
        "GetWatcherEvents",
        "RemoveWatcher",
        "WatchDir",
    ] {
        assert!(
            checked.contains_key(needed),
            "no recorded {needed}: {checked:?}"
        );
    }
}
