//! Extension discovery and `extensions list|show`, with the fixture and with fake
//! executables on temporary paths.

use super::support::env;
use std::os::unix::fs::PermissionsExt;

#[test]
fn extensions_show_reports_version_path_protocol_methods_and_handshake() {
    let env = env();
    let shown = env.json(&["extensions", "show", "fixture"]);
    assert_eq!(shown["name"], "fixture");
    assert_eq!(shown["handshake"], "ok");
    assert_eq!(shown["version"], "0.1.0");
    assert_eq!(
        shown["protocol_version"],
        sandboxer_ext_protocol::PROTOCOL_VERSION.to_string()
    );
    assert!(
        shown["path"]
            .as_str()
            .unwrap()
            .ends_with("ext/sandboxer-ext-fixture")
    );
    let methods: Vec<&str> = shown["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(methods.contains(&"sandbox/create") && methods.contains(&"sandbox/exec"));
    let text = env.ok(&["extensions", "show", "ext.fixture"]);
    assert!(text.contains("handshake    ok"), "{text}");
}

#[test]
fn extensions_list_checks_each_handshake() {
    let env = env();
    let broken = env.env.path("ext/sandboxer-ext-broken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'broken: cannot start' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let list = env.json(&["extensions", "list"]);
    let find = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
    };
    assert_eq!(find("fixture").unwrap()["handshake"], "ok");
    let broken = find("broken").unwrap();
    assert_eq!(broken["handshake"], "failed");
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.contains("exit status 1") && error.contains("broken: cannot start"),
        "{error}"
    );
}

#[test]
fn discovery_skips_files_that_are_not_executable_and_suggests_near_names() {
    let env = env();
    let plain = env.env.path("ext/sandboxer-ext-plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let list = env.json(&["extensions", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] != "plain")
    );
    let err = env.fails(&["extensions", "show", "plain"], 3);
    assert!(err.contains("not found"), "{err}");
    let err = env.fails(&["extensions", "show", "fixtur"], 3);
    assert!(err.contains("did you mean \"fixture\"?"), "{err}");
    let err = env.fails(&["extensions", "show", "Bad_Name"], 3);
    assert!(err.contains("invalid extension name"), "{err}");
}

#[test]
fn the_extension_path_comes_before_path() {
    let env = env();
    // A decoy named like the fixture, found only through PATH.
    let decoy_dir = env.env.path("decoy");
    std::fs::create_dir_all(&decoy_dir).unwrap();
    let decoy = decoy_dir.join("sandboxer-ext-fixture");
    std::fs::write(&decoy, "#!/bin/sh\nexit 9\n").unwrap();
    std::fs::set_permissions(&decoy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", decoy_dir.display(), std::env::var("PATH").unwrap());
    let out = env
        .sandboxer(&["extensions", "show", "fixture", "--json"])
        .env("PATH", &path)
        .assert()
        .success();
    let shown: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(shown["path"].as_str().unwrap().contains("/ext/"), "{shown}");
    // Without SANDBOXER_EXTENSION_PATH... the binary's own folder comes next, then
    // PATH; the decoy is found once nothing earlier has the name.
    let out = env
        .sandboxer(&["extensions", "show", "decoyonly", "--json"])
        .env("PATH", &path)
        .assert()
        .code(3);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("not found"));
}

#[test]
fn an_extension_written_in_python_works_with_the_core_unchanged() {
    let env = env();
    env.env
        .install_extension("minimal", &sandboxer_tests::python_minimal_ext());
    env.env.write_profile(
        "py",
        "id: profile.py\nversion: 1\nextension: ext.minimal\nttl: {default: 1h, max: 2h}\n",
    );
    let state = env.env.path("py-state");
    let run = |args: &[&str]| env.json_with(&[("SANDBOXER_EXT_MINIMAL_STATE_DIR", &state)], args);
    let shown = run(&["extensions", "show", "minimal"]);
    assert_eq!(shown["handshake"], "ok");
    let created = run(&[
        "create",
        "--profile",
        "py",
        "--consumer",
        "agt:py",
        "--project",
        "p",
        "--wait",
    ]);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "ready");
    assert_eq!(created["details"]["language"], "python");
    assert!(state.join(format!("{id}.json")).exists());
    assert_eq!(run(&["get", &id])["state"], "ready");
    assert_eq!(run(&["destroy", &id])["state"], "destroyed");
    assert!(!state.join(format!("{id}.json")).exists());
}

#[test]
fn a_tree_goes_in_and_out_in_chunks_where_the_extension_takes_no_socket() {
    // The Python example declares no fs.tar_from_socket: the core sends the
    // tree as offsets and chunks, several of them.
    let env = env();
    let pydirs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/python/sandboxer-ext-pydirs");
    env.env.install_extension("pydirs", &pydirs);
    env.env.write_profile(
        "dirs",
        "id: profile.dirs\nversion: 1\nextension: ext.pydirs\nttl: {default: 1h, max: 2h}\n",
    );
    let root = env.env.path("pydirs-root");
    let run = |args: &[&str]| env.json_with(&[("SANDBOXER_EXT_PYDIRS_ROOT", &root)], args);
    let created = run(&[
        "create",
        "--profile",
        "dirs",
        "--consumer",
        "agt:py",
        "--project",
        "p",
        "--wait",
    ]);
    let id = created["id"].as_str().unwrap().to_string();
    let local = env.env.path("tree");
    std::fs::create_dir_all(local.join("sub")).unwrap();
    let big: Vec<u8> = (0..2_600_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(local.join("sub/big.bin"), &big).unwrap();
    std::fs::write(local.join("small.txt"), "small\n").unwrap();
    let copied = run(&["cp", local.to_str().unwrap(), &format!("{id}:/work")]);
    assert!(copied["bytes"].as_u64().unwrap() > 2_600_000, "{copied}");
    let back = env.env.path("back");
    run(&["cp", &format!("{id}:/work"), back.to_str().unwrap()]);
    assert_eq!(std::fs::read(back.join("sub/big.bin")).unwrap(), big);
    assert_eq!(std::fs::read(back.join("small.txt")).unwrap(), b"small\n");
    run(&["destroy", &id]);
}

#[test]
fn inspect_profile_says_what_each_extension_gives_natively_emulates_or_cannot() {
    let env = env();
    env.env
        .install_extension("minimal", &sandboxer_tests::python_minimal_ext());
    env.env.write_profile(
        "strict",
        "id: profile.strict\nversion: 1\nextension: ext.fixture\n\
         ttl: {default: 1h, max: 2h, idle: 10m}\nnetwork: {egress: deny}\n\
         resources: {cpus: 1}\nsecrets: {TOKEN: env:TOKEN}\n",
    );
    let report = env.json(&["inspect", "--profile", "strict"]);
    let candidates = report["candidates"].as_array().unwrap();
    assert_eq!(
        candidates[0]["extension"], "ext.fixture",
        "the profile's first"
    );
    assert_eq!(candidates[0]["named_by_profile"], true);
    let support = |ext: &str, guarantee: &str| -> String {
        let c = candidates
            .iter()
            .find(|c| c["extension"] == ext)
            .unwrap_or_else(|| panic!("{ext} not a candidate: {report}"));
        c["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["guarantee"] == guarantee)
            .unwrap_or_else(|| panic!("{ext} has no {guarantee} verdict"))["support"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (ext, guarantee, expected) in [
        ("ext.fixture", "ttl", "emulated"),
        ("ext.fixture", "idle timeout", "emulated"),
        ("ext.fixture", "egress", "cannot"),
        ("ext.fixture", "snapshots", "native"),
        ("ext.fixture", "exec", "native"),
        ("ext.fixture", "resources.cpus", "cannot"),
        ("ext.fixture", "resources.memory_mb", "not_asked"),
        ("ext.fixture", "secrets", "cannot"),
        ("ext.minimal", "snapshots", "cannot"),
        ("ext.minimal", "exec", "cannot"),
    ] {
        assert_eq!(support(ext, guarantee), expected, "{ext} {guarantee}");
    }
    let table = env.ok(&["inspect", "--profile", "strict"]);
    assert!(table.contains("ext.fixture (profile's)"), "{table}");
    let err = env.fails(&["inspect", "--profile", "strikt"], 3);
    assert!(err.contains("strict"), "a near name is suggested: {err}");
}

/// What `cargo build --workspace` puts beside `sandboxer` is what a user's
/// discovery sees there: compose-ssh, and not the test extensions (their files
/// are `sandboxer-test-ext-*`, linked in by the tests that use them).
#[test]
fn test_extensions_built_beside_sandboxer_are_not_discovered() {
    let env = env();
    let empty = tempfile::tempdir().unwrap();
    let out = env
        .sandboxer(&["extensions", "list", "--json"])
        .env("SANDBOXER_EXTENSION_PATH", empty.path())
        .env("PATH", "/usr/bin:/bin")
        .assert()
        .success();
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"compose-ssh"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("fixture") || n.contains("faulty")),
        "a test extension is visible to users: {names:?}"
    );
}
