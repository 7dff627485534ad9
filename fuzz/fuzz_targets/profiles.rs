//! Profile parsing: any text as a profile file. Must never panic; a refusal must
//! name the file (and so say where the problem is).

#![no_main]
use libfuzzer_sys::fuzz_target;
use sandboxer_core::profile::{ProfileError, Source, parse_profile};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Source::File("/fuzz/demo/profile.yaml".into());
    let read = |name: &str| (name == "compose.yaml").then(|| "services: {}\n".to_string());
    match parse_profile(source, origin, "demo", read) {
        Ok(profile) => {
            let _ = profile.to_wire();
        }
        Err(ProfileError::Invalid { file, field, .. }) => {
            assert_eq!(file, "/fuzz/demo/profile.yaml");
            assert!(!field.is_empty());
        }
        Err(other) => panic!("a parse error of another kind: {other:?}"),
    }
});
