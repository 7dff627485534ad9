//! Label and filter parsing: a query string exactly as the daemon's `GET
//! /v1/sandboxes` reads it (`api::Pairs`, then `api::ListSandboxes`: `state=`,
//! `label=k=v`, `profile=`, ..., and its store filter), and the
//! CLI's `--label k=v`, run against a real SQLite store through the daemon's own
//! listing path. Must never panic, and the store must answer every filter the
//! parser accepts (values are bound, never pasted into SQL).

#![no_main]
use libfuzzer_sys::fuzz_target;
use sandboxer_core::labels::parse_label;
use sandboxer_core::api::{ListSandboxes, Pairs, Query};
use sandboxer_core::store::{Store, StoreError};
use std::sync::{Mutex, OnceLock};

fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<(tempfile::TempDir, Mutex<Store>)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("fuzz.sqlite")).unwrap();
            (dir, Mutex::new(store))
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_label(query);
    let Ok(pairs) = Pairs::parse(query) else {
        return;
    };
    let Ok(asked) = ListSandboxes::from_pairs(&pairs) else {
        return;
    };
    let filter = asked.filter(asked.project.clone());
    let mut body = Vec::new();
    let answer = store()
        .lock()
        .unwrap()
        .for_each_sandbox_view(&filter, |view| {
            view.write_json(&mut body);
            Ok::<(), StoreError>(())
        });
    assert!(answer.is_ok(), "{filter:?}: {answer:?}");
});
