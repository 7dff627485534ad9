//! `make bench` (compose-ssh): create-to-ready and destroy of profile.compose-e2e
//! through sandboxer against the same podman-compose commands typed by hand over
//! ssh, in one run; and `sandboxer get` of a live sandbox (connection reuse).
//! Needs the loopback host of `scripts/setup-host.sh`.

use sandboxer_tests::bench::{loopback_env, median, ms, run, sandboxer};
use sandboxer_tests::loopback;
use std::process::Command;

const ROUNDS: usize = 5;

/// `ssh root@127.0.0.1 -p 2222 LINE`, the way a person types it: no connection
/// reuse, the login shell's own start-up included.
fn by_hand(line: &str) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            loopback::known_hosts().display()
        ))
        .arg("-i")
        .arg(loopback::identity())
        .args(["-p", &loopback::PORT.to_string(), "root@127.0.0.1", line]);
    cmd
}

fn main() {
    let env = loopback_env();
    let sandboxer = |args: &[&str]| sandboxer(&env, args);

    // The compose file a person would use: the profile's own.
    let hand_dir = env.path("by-hand");
    std::fs::create_dir_all(&hand_dir).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../profiles/compose-e2e/compose.yaml"
        ),
        hand_dir.join("compose.yaml"),
    )
    .unwrap();
    let hand = hand_dir.display().to_string();

    let (mut s_create, mut s_destroy, mut h_up, mut h_down, mut gets) =
        (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let (took, out) = run(&mut sandboxer(&[
            "create",
            "--profile",
            "compose-e2e",
            "--consumer",
            "atm:bench",
            "--project",
            "bench",
            "--wait",
            "--json",
        ]));
        s_create.push(took);
        let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        for _ in 0..4 {
            gets.push(run(&mut sandboxer(&["get", &id, "--json"])).0);
        }
        s_destroy.push(run(&mut sandboxer(&["destroy", &id])).0);

        let project = format!("byhand{round}");
        h_up.push(
            run(&mut by_hand(&format!(
                "cd {hand} && podman-compose -p {project} up -d"
            )))
            .0,
        );
        h_down.push(
            run(&mut by_hand(&format!(
                "cd {hand} && podman-compose -p {project} down -v"
            )))
            .0,
        );
    }
    let (sc, sd, hu, hd) = (
        median(&mut s_create),
        median(&mut s_destroy),
        median(&mut h_up),
        median(&mut h_down),
    );
    println!("compose-ssh benchmarks (medians of {ROUNDS} rounds, loopback sshd)");
    println!(
        "{:<52} {:>9.0} ms",
        "sandboxer create --wait (compose-e2e, to ready)",
        ms(sc)
    );
    println!(
        "{:<52} {:>9.0} ms",
        "by hand: ssh ... podman-compose up -d",
        ms(hu)
    );
    println!("{:<52} {:>9.0} ms", "sandboxer destroy", ms(sd));
    println!(
        "{:<52} {:>9.0} ms",
        "by hand: ssh ... podman-compose down -v",
        ms(hd)
    );
    println!(
        "{:<52} {:>9.2} x   (create {:.2} x, destroy {:.2} x; goal <= 1.10)",
        "ratio sandboxer / by hand, create + destroy",
        (sc + sd).as_secs_f64() / (hu + hd).as_secs_f64(),
        sc.as_secs_f64() / hu.as_secs_f64(),
        sd.as_secs_f64() / hd.as_secs_f64()
    );
    let mut sorted = gets.clone();
    sorted.sort();
    println!(
        "{:<52} {:>9.1} ms   (p90 {:.1} ms, n={}; goal under 50 ms)",
        "sandboxer get of a live sandbox (p50)",
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() * 9 / 10]),
        sorted.len()
    );
}
