//! The Python SDK (`sdk/python`, issue 17): built and installed with pip from
//! the repository, then its own tests (pytest) run against a real `sandboxer
//! serve` with the fixture extension (commands, no files) and compose-ssh
//! (commands, files and trees on real containers) — the framework backends
//! included: deepagents' tools and the OpenAI Agents SDK's sessions and
//! `Runner`, each driven through the framework's own interface.

use super::daemon_support::{TOKEN, start};
use super::mcp::installation;
use sandboxer_tests::mcp_client::PYTHON;
use sandboxer_tests::pytest;
use std::path::PathBuf;
use std::process::Command;

const MEMBER_TOKEN: &str = "e2e-sdk-member-elsewhere";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_python_sdk_installs_with_pip_and_passes_its_tests_against_a_real_daemon() {
    let e2e = installation("sdk", MEMBER_TOKEN);
    let daemon = start(&e2e);

    // Installed the way a user installs it (the build backend already in the
    // test Python, so nothing is fetched here), from a copy: a build writes
    // beside the sources.
    let site = e2e.env.path("site");
    let sdk = e2e.env.path("sdk-python");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(repository().join("sdk/python"))
        .arg(&sdk)
        .status()
        .unwrap();
    assert!(copied.success());
    let installed = Command::new(PYTHON)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(["--no-build-isolation", "--target"])
        .arg(&site)
        .arg(&sdk)
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "pip install: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    assert!(site.join("sandboxer/__init__.py").exists());

    // All of them run (none skipped for want of a profile or a package), the
    // frameworks' included.
    let report = pytest::run(&sdk.join("tests"), |pytest| {
        pytest
            .arg("-x")
            .env("PYTHONPATH", &site)
            .env("SANDBOXER_URL", &daemon.url)
            .env("SANDBOXER_TOKEN", TOKEN)
            .env("SANDBOXER_MEMBER_TOKEN", MEMBER_TOKEN)
            .env("SANDBOXER_TEST_PROFILES", "fix:commands,sdk:files")
            .env("SANDBOXER_OPENAPI", repository().join("docs/openapi.yaml"))
            .current_dir(e2e.env.path(""));
    });
    pytest::assert_passed(
        &report,
        &[
            "test_a_sandbox_is_worked_in_and_destroyed_on_leaving[sdk]",
            "test_the_async_client_does_the_same[fix]",
            "test_errors_are_exceptions_of_their_codes",
            "test_deepagents_file_tools_and_execute_work_inside_the_sandbox",
            "test_a_session_works_persists_and_resumes_into_a_new_sandbox",
            "test_runner_runs_a_sandbox_agent_in_a_sandboxer_sandbox",
        ],
    );
}
