//! `make bench` (warm pools): a create that takes a sandbox from a warm pool,
//! against a cold create of the same one-service profile on compose-ssh and a bare
//! `podman run -d` of the same image, each timed as a whole command, in one run.
//! Goals: warm ≥ 20× faster than cold, and faster than `podman run -d`. Needs the
//! loopback host of `scripts/setup-host.sh`.

use sandboxer_tests::TestEnv;
use sandboxer_tests::bench::{loopback_env, median, ms, run, sandboxer};
use std::process::Command;
use std::time::Instant;

const ROUNDS: usize = 10;
const IMAGE: &str = "localhost/sandboxer-busybox:latest";

fn profile(env: &TestEnv, name: &str, pool: &str) {
    let dir = env.path(&format!("profiles/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  app:\n    image: {IMAGE}\n    command: [sleep, '3600']\n    \
             stop_signal: SIGKILL\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("profile.yaml"),
        format!(
            "id: profile.{name}\nversion: 1\nextension: ext.compose-ssh\n\
             ttl: {{default: 1h, max: 2h}}\nnetwork: {{egress: allow}}\n{pool}\
             files: [compose.yaml]\nspec: {{compose_file: compose.yaml}}\n"
        ),
    )
    .unwrap();
}

fn main() {
    let env = loopback_env();
    profile(&env, "cold", "");
    profile(&env, "warm", &format!("pool: {{size: {ROUNDS}}}\n"));
    let sandboxer = |args: &[&str]| sandboxer(&env, args);
    let create = |profile: &str| {
        sandboxer(&[
            "create",
            "--profile",
            profile,
            "--consumer",
            "atm:bench",
            "--project",
            "bench",
            "--wait",
            "--json",
        ])
    };

    // The pool is filled before timing (not timed: that is the point of a pool).
    let filled = Instant::now();
    run(&mut sandboxer(&["reap-stale"]));
    let fill_time = filled.elapsed();

    let (mut cold, mut warm, mut bare) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        warm.push(run(&mut create("warm")).0);
    }
    for _ in 0..ROUNDS / 2 {
        cold.push(run(&mut create("cold")).0);
    }
    for _ in 0..ROUNDS {
        let (took, id) = run(Command::new("podman").args(["run", "-d", IMAGE, "sleep", "3600"]));
        bare.push(took);
        run(Command::new("podman").args(["rm", "-f", "-t", "0", id.trim()]));
    }

    // Everything goes: taken, cold and still pooled.
    let listed = run(&mut sandboxer(&["list", "--json"])).1;
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    for s in listed.as_array().unwrap() {
        run(&mut sandboxer(&["destroy", s["id"].as_str().unwrap()]));
    }

    let (c, w, b) = (median(&mut cold), median(&mut warm), median(&mut bare));
    println!(
        "warm pool benchmarks (medians; {ROUNDS} warm, {} cold, {ROUNDS} bare)",
        ROUNDS / 2
    );
    println!(
        "{:<52} {:>9.1} ms",
        "sandboxer create, taken from the warm pool",
        ms(w)
    );
    println!(
        "{:<52} {:>9.1} ms",
        "sandboxer create --wait, cold (compose-ssh)",
        ms(c)
    );
    println!(
        "{:<52} {:>9.1} ms",
        "podman run -d of the same image",
        ms(b)
    );
    println!(
        "{:<52} {:>9.1} x   (goal >= 20)",
        "cold / warm",
        c.as_secs_f64() / w.as_secs_f64()
    );
    println!(
        "{:<52} {:>9.2} x   (goal > 1)",
        "podman run -d / warm",
        b.as_secs_f64() / w.as_secs_f64()
    );
    println!(
        "{:<52} {:>9.1} s",
        format!("filling the pool of {ROUNDS} (reap-stale, not timed above)"),
        fill_time.as_secs_f64()
    );
}
