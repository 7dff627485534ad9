//! What a gRPC client sends, as the gRPC stand-ins record it (`--record`,
//! `tests/standins/shapes.py`): one JSON line per request with its RPC and the
//! paths of the fields it sets. The official client's shapes are kept in
//! `tests/golden/<provider>-sdk-calls.json` (recorded anew with
//! `SANDBOXER_RECORD_<PROVIDER>=1`); an extension may send a request only if
//! the client sent one of the same RPC setting every field it sets.

use super::daemon_support::Daemon;
use super::recording::golden_path_of;
use super::support::{free_port, start_standin};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The gRPC stand-in `tests/standins/<script>` over `daemon`, recording into
/// `record`: its loopback port, and the process (killed on drop).
pub fn recording_standin(
    script: &str,
    daemon: &Daemon,
    record: &Path,
) -> (u16, sandboxer_tests::process::KillOnDrop) {
    let port = free_port();
    let process = start_standin(
        script,
        &[
            "--sandboxer",
            &daemon.url,
            "--port",
            &port.to_string(),
            "--record",
            record.to_str().unwrap(),
        ],
    );
    (port, process)
}

/// Panics unless every request in `record` is one `provider`'s official
/// client sends (recording the client's anew first, when the client is the
/// one recorded and `SANDBOXER_RECORD_<PROVIDER>` is set). `who` names the
/// sender in the failure.
pub fn assert_client_shapes(provider: &str, record: &Path, who: &str, by_the_client: bool) {
    let sent = shapes(record);
    let known = golden(provider, by_the_client.then_some(&sent));
    let unrecorded = foreign(&sent, &known);
    assert!(
        unrecorded.is_empty(),
        "{who} sent what the official client never does: {unrecorded:#?}"
    );
}

/// The distinct request shapes in a recording (`RPC field…` per shape).
pub fn shapes(record: &Path) -> BTreeSet<String> {
    let shapes: BTreeSet<String> = std::fs::read_to_string(record)
        .unwrap_or_else(|e| panic!("{}: {e}: the stand-in recorded nothing", record.display()))
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let fields: Vec<&str> = v["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            format!("{} {}", v["method"].as_str().unwrap(), fields.join(" "))
        })
        .collect();
    assert!(
        !shapes.is_empty(),
        "{}: no request recorded",
        record.display()
    );
    shapes
}

/// The official client's shapes for `provider` (`openshell`, `modal`): written
/// from `sent` first when `SANDBOXER_RECORD_<PROVIDER>` is set.
fn golden(provider: &str, sent: Option<&BTreeSet<String>>) -> BTreeSet<String> {
    let path = golden_path_of(&format!("{provider}-sdk-calls.json"));
    let variable = format!("SANDBOXER_RECORD_{}", provider.to_uppercase());
    if let (Some(sent), Some(_)) = (sent, std::env::var_os(&variable)) {
        let text = serde_json::to_string_pretty(sent).unwrap();
        std::fs::write(&path, text + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record it: {variable}=1 make test)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// Shapes in `sent` the official client never sends: a request is the
/// client's when some recorded request of the same RPC sets every field it
/// sets.
fn foreign(sent: &BTreeSet<String>, known: &BTreeSet<String>) -> Vec<String> {
    let split = |s: &str| -> (String, BTreeSet<String>) {
        let mut words = s.split(' ');
        let method = words.next().unwrap().to_string();
        (method, words.map(str::to_string).collect())
    };
    let known: Vec<(String, BTreeSet<String>)> = known.iter().map(|s| split(s)).collect();
    sent.iter()
        .filter(|s| {
            let (method, fields) = split(s);
            !known
                .iter()
                .any(|(m, f)| *m == method && fields.is_subset(f))
        })
        .cloned()
        .collect()
}
