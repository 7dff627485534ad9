//! `make bench` (conformance): the kit's wall time against the Python example
//! (goal under 20 s) and against the Rust fixture.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn time_run(target: &PathBuf, env: (&str, &std::path::Path)) -> f64 {
    let started = Instant::now();
    let out = Command::new(sandboxer_tests::bin("sandboxer-conformance"))
        .arg("run")
        .arg(target)
        .env(env.0, env.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    started.elapsed().as_secs_f64()
}

fn main() {
    let python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/python/sandboxer-ext-pydirs");
    let root = tempfile::tempdir().unwrap();
    let mut runs: Vec<f64> = (0..3)
        .map(|_| time_run(&python, ("SANDBOXER_EXT_PYDIRS_ROOT", root.path())))
        .collect();
    runs.sort_by(f64::total_cmp);
    println!("conformance kit benchmarks (median of 3 full runs)");
    println!(
        "{:<52} {:>7.2} s   (goal under 20 s)",
        "kit against the Python example", runs[1]
    );
    let state = tempfile::tempdir().unwrap();
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            time_run(
                &sandboxer_tests::fixture_ext(),
                ("SANDBOXER_EXT_FIXTURE_STATE_DIR", state.path()),
            )
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    println!("{:<52} {:>7.2} s", "kit against the Rust fixture", runs[1]);
}
