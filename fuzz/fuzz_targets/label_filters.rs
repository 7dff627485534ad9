//! Label and filter parsing: a query string as the daemon's list takes it
//! (`state=`, `label=k=v`, `profile=`, ...) and `--label k=v` arguments, turned into
//! a filter and run against a real SQLite store. Must never panic, and the store
//! must answer every filter (values are bound, never pasted into SQL).

#![no_main]
use libfuzzer_sys::fuzz_target;
use sandboxer::labels::{parse_label, parse_label_filter};
use sandboxer::lifecycle::State;
use sandboxer::store::{SandboxFilter, Store};
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
    let mut filter = SandboxFilter::default();
    for (key, value) in &pairs {
        match key.as_str() {
            "state" => {
                for s in value.split(',') {
                    if let Ok(state) = s.parse::<State>() {
                        filter.states.push(state);
                    }
                }
            }
            "label" => {
                if let Ok((k, v)) = parse_label_filter(value) {
                    filter.labels.insert(k, v);
                }
            }
            "profile" => filter.profile_id = Some(value.clone()),
            "project" => filter.project = Some(value.clone()),
            "consumer" => filter.consumer = Some(value.clone()),
            _ => {}
        }
    }
    let answer = store().lock().unwrap().list_sandboxes(&filter);
    assert!(answer.is_ok(), "{filter:?}: {answer:?}");
});
