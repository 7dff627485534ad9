//! Daytona (issue 19, in progress): the official `daytona` client, unmodified,
//! against the Daytona stand-in (`tests/standins/daytona`), which a real
//! daemon over compose-ssh backs.

use super::daemon_support::start;
use super::e2b_provider::{PROVIDER_KEY, TEMPLATE, provider};
use sandboxer_tests::mcp_client::PYTHON;
use sandboxer_tests::pytest;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn the_official_daytona_client_works_sandboxes_through_the_stand_in() {
    let e2e = provider("");
    let daemon = start(&e2e);
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut standin = Command::new(PYTHON)
        .arg(here.join("standins/daytona/server.py"))
        .args(["--sandboxer", &daemon.url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = standin.stdout.take().unwrap();
    // Killed however the test ends.
    let _standin = sandboxer_tests::process::KillOnDrop(standin);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let report = pytest::run(&here.join("python/daytona"), |pytest| {
        pytest
            .env("DAYTONA_API_URL", format!("{url}/api"))
            .env("DAYTONA_API_KEY", PROVIDER_KEY)
            .env("DAYTONA_USE_DEPRECATED_POLLING", "true")
            .env("SANDBOXER_DAYTONA_SNAPSHOT", TEMPLATE)
            .current_dir(e2e.env.path(""));
    });
    pytest::assert_passed(
        &report,
        &["test_a_sandbox_is_created_worked_in_listed_and_deleted"],
    );
}
