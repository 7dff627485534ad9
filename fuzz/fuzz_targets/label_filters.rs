//! Label and filter parsing: a query string exactly as the daemon's `GET
//! /v1/sandboxes` reads it (`serde_urlencoded` pairs, then
//! `operations::list_filter`: `state=`, `label=k=v`, `profile=`, ...), and the
//! CLI's `--label k=v`, run against a real SQLite store through the daemon's own
//! listing path. Must never panic, and the store must answer every filter the
//! parser accepts (values are bound, never pasted into SQL).

#![no_main]
use libfuzzer_sys::fuzz_target;
use sandboxer::labels::parse_label;
use sandboxer::operations::list_filter;
use sandboxer::store::{Store, StoreError};
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
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        return;
    };
    let Ok(filter) = list_filter(&pairs) else {
        return;
    };
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
