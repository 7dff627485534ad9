//! `make bench` (vm-packer): VM sandboxes beside compose-ssh, each timed as whole
//! commands. Cold: a create with no image yet (recipe built, template booted and
//! saved, machine restored). Warm: a create restored from the saved template.
//! Pool: a create that takes a machine from a filled warm pool. Time to
//! interactive: the create plus a first `sandboxer exec ID -- true`. Each sandbox
//! is destroyed after its round (untimed), so a round finds the host as the
//! first did (idle guests still take CPU under TCG). Goal: warm VM time to
//! interactive under 1 s under TCG. Needs `make setup-host` (QEMU, the guest
//! kernel, the loopback host).

use sandboxer_tests::bench::{loopback_env, median, ms, run, sandboxer};
use std::time::{Duration, Instant};

const ROUNDS: usize = 8;
/// Idle guests still cost CPU under TCG: a smaller pool.
const POOL: usize = 4;

fn main() {
    let env = loopback_env();
    env.install_extension(
        "vm-packer",
        &sandboxer_tests::bin("sandboxer-ext-vm-packer"),
    );
    let state = std::path::PathBuf::from(format!(
        "/var/lib/sandboxer-vm/bench-{}",
        std::process::id()
    ));
    let mut config = std::fs::read_to_string(env.config_path()).unwrap();
    config.push_str(&format!(
        "  vm-packer:\n    options:\n      state_dir: {}\n",
        state.display()
    ));
    std::fs::write(env.config_path(), config).unwrap();
    let vm_profile = |name: &str, pool: &str| {
        env.write_profile(
            name,
            &format!(
                "id: profile.{name}\nversion: 1\nextension: ext.vm-packer\n\
                 ttl: {{default: 1h, max: 2h}}\nresources: {{cpus: 1, memory_mb: 256}}\n\
                 network: {{egress: deny}}\n{pool}spec:\n  recipe:\n    services: ['sleep 3600']\n"
            ),
        )
    };
    vm_profile("vm", "");
    vm_profile("vmpool", &format!("pool: {{size: {POOL}}}\n"));
    let dir = env.path("profiles/ct");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: localhost/sandboxer-busybox:latest\n    \
         command: [sleep, '3600']\n    stop_signal: SIGKILL\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("profile.yaml"),
        "id: profile.ct\nversion: 1\nextension: ext.compose-ssh\nttl: {default: 1h, max: 2h}\n\
         network: {egress: deny}\nfiles: [compose.yaml]\nspec: {compose_file: compose.yaml}\n",
    )
    .unwrap();
    let sandboxer = |args: &[&str]| sandboxer(&env, args);
    let create = |profile: &str| {
        let (took, out) = run(&mut sandboxer(&[
            "create",
            "--profile",
            profile,
            "--consumer",
            "atm:bench",
            "--project",
            "bench",
            "--wait",
            "--json",
        ]));
        let made: serde_json::Value = serde_json::from_str(&out).unwrap();
        (took, made)
    };
    // Create, then the first command: (create time, create + first exec).
    let interactive = |profile: &str| {
        let started = Instant::now();
        let (took, made) = create(profile);
        run(&mut sandboxer(&[
            "exec",
            made["id"].as_str().unwrap(),
            "--",
            "true",
        ]));
        (took, started.elapsed(), made)
    };

    let (mut cold, mut cold_tti) = (vec![], vec![]);
    let mut accelerator = String::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(state.join("images"));
        let (c, t, made) = interactive("profile.vm");
        accelerator = made["details"]["accelerator"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        cold.push(c);
        cold_tti.push(t);
    }
    let (mut warm, mut warm_tti) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let (c, t, _) = interactive("profile.vm");
        warm.push(c);
        warm_tti.push(t);
    }
    let filled = Instant::now();
    run(&mut sandboxer(&["reap-stale"]));
    let fill = filled.elapsed();
    let (mut pool, mut pool_tti) = (vec![], vec![]);
    for _ in 0..POOL {
        let (c, t, _) = interactive("profile.vmpool");
        pool.push(c);
        pool_tti.push(t);
    }
    destroy_all(&sandboxer);
    let (mut ct, mut ct_tti) = (vec![], vec![]);
    for _ in 0..ROUNDS / 2 {
        let (c, t, _) = interactive("profile.ct");
        ct.push(c);
        ct_tti.push(t);
    }
    destroy_all(&sandboxer);
    let _ = std::fs::remove_dir_all(&state);

    let line = |what: &str, d: &mut Vec<Duration>| {
        println!("{what:<60} {:>9.1} ms", ms(median(d)));
    };
    println!(
        "VM benchmarks (medians; accelerator {accelerator}; 3 cold, {ROUNDS} warm, {POOL} pool, {} compose-ssh)",
        ROUNDS / 2
    );
    line(
        "VM create --wait, cold (image built, template booted)",
        &mut cold,
    );
    line("VM time to interactive, cold", &mut cold_tti);
    line(
        "VM create --wait, warm (restored from the template)",
        &mut warm,
    );
    line(
        "VM time to interactive, warm (goal < 1000 ms)",
        &mut warm_tti,
    );
    line("VM create, taken from the warm pool", &mut pool);
    line("VM time to interactive, from the warm pool", &mut pool_tti);
    line("compose-ssh create --wait (container)", &mut ct);
    line("compose-ssh time to interactive", &mut ct_tti);
    println!(
        "{:<60} {:>9.1} s",
        format!("filling the VM pool of {POOL} (reap-stale, not timed above)"),
        fill.as_secs_f64()
    );
}

fn destroy_all(sandboxer: &dyn Fn(&[&str]) -> std::process::Command) {
    let listed = run(&mut sandboxer(&["list", "--json"])).1;
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    for s in listed.as_array().unwrap() {
        run(&mut sandboxer(&["destroy", s["id"].as_str().unwrap()]));
    }
}
