//! End-to-end tests of sandboxer with vm-packer: real QEMU machines (TCG here)
//! booted from an image built from a recipe, reached over their forwarded
//! loopback ports. The only listener a guest is let through to is this test's,
//! on 127.0.0.1; guests stay on QEMU's restricted network and reach nothing else.

use super::support::http_get;
use assert_cmd::Command;
use sandboxer_tests::{TestEnv, bin};
use serde_json::Value;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An installation with vm-packer, its state folder of its own (under
/// /var/lib/sandboxer-vm, which QEMU's account can reach), removed on drop with
/// any machine still running from it.
pub struct VmE2e {
    pub env: TestEnv,
    pub state_dir: PathBuf,
}

impl VmE2e {
    pub fn new() -> VmE2e {
        let env = TestEnv::new();
        env.install_extension("vm-packer", &bin("sandboxer-ext-vm-packer"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let state_dir = PathBuf::from(format!(
            "/var/lib/sandboxer-vm/test/{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&state_dir).unwrap();
        std::fs::write(
            env.config_path(),
            format!(
                "extensions:\n  vm-packer:\n    options:\n      state_dir: {}\n",
                state_dir.display()
            ),
        )
        .unwrap();
        VmE2e { env, state_dir }
    }

    /// Writes profile `name` with this recipe and network (YAML lines).
    pub fn profile(&self, name: &str, network: &str) {
        self.env.write_profile(
            name,
            &format!(
                "id: profile.{name}\nversion: 1\nextension: ext.vm-packer\n\
                 ttl: {{default: 1h, max: 2h}}\nresources: {{cpus: 1, memory_mb: 256}}\n\
                 network: {network}\ncost: {{currency: USD, per_hour: 0.01}}\nspec:\n  recipe:\n    \
                 files:\n      /www/index.html: \"vm e2e page\\n\"\n    \
                 services: [\"httpd -f -p 8080 -h /www\"]\n  endpoints:\n    \
                 - {{name: web, port: 8080, protocol: http}}\n  ready:\n    \
                 http: {{port: 8080, path: /}}\n"
            ),
        );
    }

    pub fn sandboxer(&self, args: &[&str]) -> Command {
        self.env.sandboxer(args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        self.env.json(args)
    }

    pub fn create(&self, profile: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "create",
            "--profile",
            profile,
            "--consumer",
            "atm:vm",
            "--project",
            "vm",
            "--wait",
        ];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    /// Runs `sh -c SCRIPT` in sandbox `id`: (exit code, stdout).
    pub fn sh(&self, id: &str, script: &str) -> (i64, String) {
        let r = self.json(&["exec", id, "--", "sh", "-c", script]);
        (
            r["exit_code"].as_i64().unwrap(),
            r["stdout"].as_str().unwrap().to_string(),
        )
    }

    /// QEMU processes whose QMP socket lies under this test's state folder.
    pub fn machines_running(&self) -> usize {
        vm_packer::inventory::processes_under(&self.state_dir).len()
    }

    /// ssh masters (shared connections) into this test's machines still running.
    pub fn masters_running(&self) -> usize {
        let control = self.state_dir.join("control");
        let needle = control.to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .filter(|c| {
                let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
                args.first().is_some_and(|a| a.ends_with(b"ssh"))
                    && args.contains(&&b"-M"[..])
                    && String::from_utf8_lossy(c).contains(&needle)
            })
            .count()
    }

    /// Shared-connection sockets in `control/`.
    pub fn control_sockets(&self) -> usize {
        std::fs::read_dir(self.state_dir.join("control"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Entries left in `machines/` and `builds/`.
    pub fn folders_left(&self) -> usize {
        ["machines", "builds"]
            .iter()
            .map(|d| {
                std::fs::read_dir(self.state_dir.join(d))
                    .map(|e| e.count())
                    .unwrap_or(0)
            })
            .sum()
    }
}

impl Drop for VmE2e {
    fn drop(&mut self) {
        for (pid, _, _) in vm_packer::inventory::processes_under(&self.state_dir) {
            // SAFETY: a QEMU process of this test's own state folder.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// A listener on 127.0.0.1 that answers every connection with `answer` and
/// counts them.
fn listener(answer: &'static str) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for mut stream in l.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (port, count)
}

pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

fn endpoint_url(sandbox: &Value, name: &str) -> String {
    sandbox["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["url"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn a_vm_sandbox_is_built_reached_snapshotted_restored_fenced_and_reaped() {
    let vm = VmE2e::new();
    let (port, connections) = listener("allowed-listener\n");
    vm.profile(
        "vmtest",
        &format!("{{egress: deny, allow: [\"127.0.0.1:{port}\"]}}"),
    );

    // A recipe built and a machine booted from it, reached over its endpoint.
    let first = vm.create("profile.vmtest", &[]);
    let id = first["id"].as_str().unwrap();
    assert_eq!(first["state"], "ready");
    let accel = vm_packer::accel::Accel::choose(Default::default()).unwrap();
    assert_eq!(first["details"]["accelerator"], accel.as_str());
    assert_eq!(http_get(&endpoint_url(&first, "web")), "vm e2e page\n");

    // A command run, a file written; the guest's clock is the host's.
    let (code, out) = vm.sh(id, "echo kept > /root/note && date +%s && uname -r");
    assert_eq!(code, 0);
    let guest_now: i64 = out.lines().next().unwrap().parse().unwrap();
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (host_now - guest_now).abs() < 30,
        "guest clock {guest_now} vs {host_now}"
    );

    // A command past its timeout is killed in the guest, with what it started.
    vm.sandboxer(&[
        "exec",
        "--timeout",
        "2s",
        id,
        "--",
        "sh",
        "-c",
        "sleep 41 & sleep 42",
    ])
    .assert()
    .failure();
    assert!(
        wait_until(Duration::from_secs(10), || vm
            .sh(id, "ps | grep -c '[s]leep 4[12]' || true")
            .1
            == "0\n"),
        "the timed-out command still runs in the guest"
    );

    // Egress: the host through the gateway is refused; the one allowed endpoint
    // answers at its guest address.
    let (code, _) = vm.sh(id, &format!("echo | nc -w 3 10.0.2.2 {port}"));
    assert_ne!(code, 0, "the host's listener must not be reachable");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    let allowed = first["details"]["egress_allowed"][format!("127.0.0.1:{port}")]
        .as_str()
        .unwrap()
        .to_string();
    let (ip, guest_port) = allowed.split_once(':').unwrap();
    let (code, out) = vm.sh(id, &format!("echo | nc -w 3 {ip} {guest_port}"));
    assert_eq!((code, out.as_str()), (0, "allowed-listener\n"));
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    let (code, _) = vm.sh(id, "echo | nc -w 3 10.0.2.3 53");
    assert_ne!(code, 0, "QEMU's DNS relay is closed too");

    // Snapshot → restore into a second machine that has the file, with fresh
    // randomness of its own.
    let snap = vm.json(&["snapshot", "create", id, "--name", "s1"]);
    let snap_id = snap["id"].as_str().unwrap();
    let second = vm.json(&[
        "restore",
        snap_id,
        "--consumer",
        "atm:vm",
        "--project",
        "vm",
        "--ttl",
        "5s",
    ]);
    let second_id = second["id"].as_str().unwrap();
    assert_ne!(second_id, id);
    assert_eq!(
        vm.sh(second_id, "cat /root/note"),
        (0, "kept\n".to_string())
    );
    let random = "head -c 16 /dev/urandom | od -An -tx1";
    assert_ne!(vm.sh(id, random).1, vm.sh(second_id, random).1);
    assert_eq!(vm.machines_running(), 2);
    // Each ready machine keeps one shared ssh connection, which exec rides on.
    assert_eq!((vm.masters_running(), vm.control_sockets()), (2, 2));

    // One destroyed, the other reaped at its TTL: no QEMU process, no folder left.
    vm.sandboxer(&["destroy", id]).assert().success();
    assert_eq!(vm.machines_running(), 1);
    assert!(wait_until(Duration::from_secs(30), || {
        vm.sandboxer(&["reap-stale"]).assert().success();
        vm.json(&["get", second_id])["state"] == "destroyed"
    }));
    assert!(wait_until(Duration::from_secs(10), || vm
        .machines_running()
        == 0));
    assert_eq!(vm.folders_left(), 0);
    assert_eq!((vm.masters_running(), vm.control_sockets()), (0, 0));
}

/// Kills every vm-packer extension process started by `cli`.
pub fn kill_extension_of(cli: u32) {
    for pid in sandboxer_tests::extension_children(cli) {
        // SAFETY: a signal to a process of this test's own tree.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

#[test]
fn the_extension_killed_mid_create_leaves_nothing_the_reconciler_does_not_clean() {
    let vm = VmE2e::new();
    vm.profile("vmkill", "{egress: deny}");
    // Twice: once while the template boots (a cold image), once while the
    // machine is restored from it.
    for after in [Duration::from_millis(2500), Duration::from_millis(300)] {
        if after < Duration::from_secs(1) {
            // The template exists after one successful create.
            let warm = vm.create("profile.vmkill", &[]);
            vm.sandboxer(&["destroy", warm["id"].as_str().unwrap()])
                .assert()
                .success();
        }
        let mut child = vm
            .env
            .process(&bin("sandboxer"))
            .args([
                "create",
                "--profile",
                "profile.vmkill",
                "--consumer",
                "atm:vm",
                "--project",
                "vm",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        kill_extension_of(child.id());
        let _ = child.wait();
        vm.json(&["inspect", "--fix"]);
        vm.sandboxer(&["reap-stale"]).assert().success();
        // The next extension start's list reaps an abandoned template build.
        vm.json(&["inspect", "--fix"]);
        assert!(
            wait_until(Duration::from_secs(10), || vm.machines_running() == 0),
            "a QEMU process outlived the reconciler ({after:?})"
        );
        assert_eq!(vm.folders_left(), 0, "folders left ({after:?})");
        assert!(
            wait_until(Duration::from_secs(20), || vm.masters_running() == 0),
            "an ssh master outlived its machine ({after:?})"
        );
    }
}

/// The candidates of `route --explain` as (extension, rank, why excluded).
fn route(e2e: &super::support::E2e, profile: &str) -> Vec<(String, Option<u64>, String)> {
    e2e.json(&[
        "route",
        "--profile",
        profile,
        "--explain",
        "--consumer",
        "atm:e2e",
        "--project",
        &e2e.project,
    ])["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["extension"].as_str().unwrap().to_string(),
                c["rank"].as_u64(),
                c["excluded"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_profile_that_requires_a_vm_is_routed_past_containers_to_vm_packer() {
    let e2e = super::support::E2e::new();
    let vm = VmE2e::new();
    e2e.env
        .install_extension("vm-packer", &bin("sandboxer-ext-vm-packer"));
    // compose-ssh's configuration, then vm-packer's beside it.
    let mut config = std::fs::read_to_string(e2e.env.config_path()).unwrap();
    config.push_str(&format!(
        "  vm-packer:\n    options:\n      state_dir: {}\n",
        vm.state_dir.display()
    ));
    std::fs::write(e2e.env.config_path(), config).unwrap();
    let candidates = "extensions:\n  - {extension: ext.compose-ssh, prefer: 2, spec: {compose_file: compose.yaml}}\n  \
         - {extension: ext.vm-packer, prefer: 1, spec: {recipe: {services: ['sleep 3600']}}}\n";
    let common = "ttl: {default: 1h, max: 2h}\nresources: {cpus: 1, memory_mb: 256}\nnetwork: {egress: deny}\n";
    e2e.sleeper_profile("either", &format!("{common}{candidates}"));
    e2e.sleeper_profile("needs-vm", &format!("{common}isolation: vm\n{candidates}"));

    // Without the requirement the preferred container backend comes first.
    let either = route(&e2e, "profile.either");
    assert_eq!(either[0].0, "ext.compose-ssh");
    assert_eq!(either[0].1, Some(1));

    // With it, compose-ssh is excluded for isolation and the VM is made.
    let needs = route(&e2e, "profile.needs-vm");
    let compose = needs.iter().find(|c| c.0 == "ext.compose-ssh").unwrap();
    assert_eq!(compose.1, None);
    assert!(compose.2.contains("isolation"), "{compose:?}");
    let created = e2e.create("profile.needs-vm", &[]);
    assert_eq!(created["extension"], "ext.vm-packer");
    let id = created["id"].as_str().unwrap();
    let r = e2e.json(&["exec", id, "--", "cat", "/proc/version"]);
    assert!(r["stdout"].as_str().unwrap().contains("6.1.0"), "{r}");
    e2e.sandboxer(&["destroy", id]).assert().success();
    assert!(wait_until(Duration::from_secs(10), || vm
        .machines_running()
        == 0));
}

#[test]
fn the_catalog_vm_dev_is_a_debian_guest_with_python_and_a_disk_of_its_own() {
    let vm = VmE2e::new();
    let shipped = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../profiles/vm-dev/profile.yaml"),
    )
    .unwrap();
    vm.env.write_profile("vm-dev", &shipped);

    // Built with mmdebstrap (the recipe's command ran in the guest before its
    // template was saved), restored, its disk grown to the profile's disk_mb.
    let first = vm.create("profile.vm-dev", &[]);
    let id = first["id"].as_str().unwrap();
    assert_eq!(first["state"], "ready");
    assert_eq!(first["details"]["disk_mb"], 2048);
    let (code, out) = vm.sh(id, "python3 -c 'print(6 * 7)' && cat /etc/motd");
    assert_eq!(code, 0);
    assert!(out.starts_with("42\nsandboxer vm-dev"), "{out}");
    let (code, out) = vm.sh(id, "df -m / | tail -1 | awk '{print $2}'");
    assert_eq!(code, 0);
    let size_mb: u64 = out.trim().parse().unwrap();
    assert!(size_mb > 1800, "the root file system has {size_mb} MB");

    // A file on the disk, a snapshot, and a second machine restored from it: it
    // has the file, and what each writes afterwards stays its own.
    let (code, _) = vm.sh(id, "echo on-disk > /root/work.txt && sync");
    assert_eq!(code, 0);
    let snap = vm.json(&["snapshot", "create", id, "--name", "dev1"]);
    let second = vm.json(&[
        "restore",
        snap["id"].as_str().unwrap(),
        "--consumer",
        "atm:vm",
        "--project",
        "vm",
        "--wait",
    ]);
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(second["state"], "ready");
    let (code, out) = vm.sh(
        second_id,
        "cat /root/work.txt && echo mine > /root/second.txt",
    );
    assert_eq!((code, out.as_str()), (0, "on-disk\n"));
    let (code, _) = vm.sh(id, "test -e /root/second.txt");
    assert_ne!(code, 0, "the first machine's disk is its own");
    let (code, out) = vm.sh(id, "cat /root/work.txt");
    assert_eq!(
        (code, out.as_str()),
        (0, "on-disk\n"),
        "and runs on after the snapshot"
    );

    for sandbox in [id, second_id] {
        vm.sandboxer(&["destroy", sandbox]).assert().success();
    }
    assert_eq!(vm.machines_running(), 0);
    assert_eq!(
        vm.folders_left(),
        0,
        "no machine folder (nor its disk) is left"
    );
}

#[test]
fn recipe_commands_run_once_inside_the_guest_and_a_failing_one_is_named() {
    let vm = VmE2e::new();
    let profile = |name: &str, commands: &str| {
        vm.env.write_profile(
            name,
            &format!(
                "id: profile.{name}\nversion: 1\nextension: ext.vm-packer\n\
                 ttl: {{default: 1h, max: 2h}}\nresources: {{cpus: 1, memory_mb: 256}}\n\
                 network: {{egress: deny}}\ncost: {{currency: USD, per_hour: 0.01}}\nspec:\n  \
                 recipe:\n    services: ['sleep 86400']\n    commands: {commands}\n"
            ),
        )
    };
    let marker = format!("/etc/sandboxer-recipe-{}", std::process::id());
    profile(
        "vmcmd",
        &format!("['uname -r > {marker}', 'date +%s%N >> {marker}']"),
    );
    let first = vm.create("profile.vmcmd", &[]);
    let second = vm.create("profile.vmcmd", &[]);
    let read = |s: &Value| vm.sh(s["id"].as_str().unwrap(), &format!("cat {marker}"));
    let (code, out) = read(&first);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(
        read(&second),
        (0, out.clone()),
        "run once, before the template was saved"
    );
    assert!(
        !std::path::Path::new(&marker).exists(),
        "the commands ran in the guest, not on the host"
    );

    profile("vmbad", "['true', 'echo recipe-broke >&2; exit 4']");
    let failed = vm
        .sandboxer(&[
            "create",
            "--profile",
            "profile.vmbad",
            "--consumer",
            "atm:vm",
            "--project",
            "vm",
            "--wait",
        ])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(
        stderr.contains("recipe.commands[1]") && stderr.contains("recipe-broke"),
        "{stderr}"
    );
    for s in [&first, &second] {
        vm.sandboxer(&["destroy", s["id"].as_str().unwrap()])
            .assert()
            .success();
    }
    assert_eq!(
        vm.machines_running(),
        0,
        "the failed template build left no machine"
    );
    assert_eq!(vm.folders_left(), 0);
}

/// The images vm-packer lists: (image id, used by).
fn images_of(vm: &VmE2e) -> Vec<(String, Vec<String>)> {
    let reports = vm.json(&["images", "list"]);
    reports
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["extension"] == "ext.vm-packer")
        .flat_map(|r| r["images"].as_array().unwrap().clone())
        .map(|i| {
            let users = i["used_by"].as_array().unwrap();
            (
                i["image_id"].as_str().unwrap().to_string(),
                users
                    .iter()
                    .map(|u| u.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn images_are_built_ahead_listed_with_their_users_and_pruned_only_when_unneeded() {
    let vm = VmE2e::new();
    vm.profile("vmimg", "{egress: deny}");
    assert!(images_of(&vm).is_empty());

    // Built ahead of any create, once.
    let built = vm.json(&["images", "build", "--profile", "vmimg"]);
    assert_eq!(built[0]["extension"], "ext.vm-packer");
    assert_eq!(built[0]["built"], true);
    let image = built[0]["image"]["image_id"].as_str().unwrap().to_string();
    assert_eq!(built[0]["image"]["profile"], "profile.vmimg@1");
    assert!(built[0]["image"]["size_bytes"].as_u64().unwrap() > 1 << 20);
    let again = vm.json(&["images", "build", "--profile", "vmimg"]);
    assert_eq!(
        (
            again[0]["built"].clone(),
            again[0]["image"]["image_id"].clone()
        ),
        (false.into(), image.clone().into())
    );

    // A sandbox and a snapshot hold it; so does the catalog while the profile
    // still builds into it.
    let sandbox = vm.create("profile.vmimg", &[]);
    let id = sandbox["id"].as_str().unwrap().to_string();
    let snap = vm.json(&["snapshot", "create", &id, "--name", "img"]);
    let snap_id = snap["id"].as_str().unwrap().to_string();
    let users = &images_of(&vm)[0].1;
    assert!(
        users.iter().any(|u| u == &format!("sandbox {id}")),
        "{users:?}"
    );
    assert!(
        users.iter().any(|u| u.starts_with("snapshot ")),
        "{users:?}"
    );
    vm.sandboxer(&["destroy", &id]).assert().success();
    let kept = vm.json(&["images", "prune"]);
    assert!(kept[0]["removed"].as_array().unwrap().is_empty(), "{kept}");
    assert!(
        kept[0]["kept"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("snapshot"),
        "{kept}"
    );
    vm.sandboxer(&["snapshot", "delete", &snap_id])
        .assert()
        .success();
    let kept = vm.json(&["images", "prune"]);
    assert_eq!(
        kept[0]["kept"][0]["reason"], "profile.vmimg@1 uses it",
        "{kept}"
    );

    // Once the profile's recipe changes, nothing needs the old image: a dry
    // run names it and keeps it, a prune removes it.
    vm.env.write_profile(
        "vmimg",
        &std::fs::read_to_string(vm.env.path("profiles/vmimg.profile.yaml"))
            .unwrap()
            .replace("vm e2e page", "vm e2e page, second recipe"),
    );
    let dry = vm.json(&["images", "prune", "--dry-run"]);
    assert_eq!(dry[0]["removed"][0]["image_id"], image.as_str(), "{dry}");
    assert_eq!(images_of(&vm).len(), 1, "a dry run removes nothing");
    let unknown = vm
        .sandboxer(&["images", "prune", "--image", "0123abcd"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&unknown.get_output().stderr).into_owned();
    assert!(
        stderr.contains("no extension keeps an image 0123abcd"),
        "{stderr}"
    );
    // While a create holds the images (the lock, shared), a prune is refused
    // at once rather than removing an image under it.
    let held = vm_packer::prune::ImagesLock::shared(&vm_packer::images::Images::new(&vm.state_dir))
        .unwrap();
    let refused = vm
        .sandboxer(&["images", "prune", "--image", &image])
        .assert()
        .code(5);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("a create is using the images"), "{stderr}");
    assert_eq!(images_of(&vm).len(), 1);
    drop(held);
    let pruned = vm.json(&["images", "prune", "--image", &image]);
    assert_eq!(pruned[0]["removed"][0]["image_id"], image.as_str());
    assert!(images_of(&vm).is_empty());
    assert!(!vm.state_dir.join("images").join(&image).exists());
}

/// Every file under `dir` whose bytes hold `needle`.
pub fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => found.extend(files_holding(&path, needle)),
            Ok(t) if t.is_file() => {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
            _ => {}
        }
    }
    found
}

#[test]
fn a_secret_reaches_the_guest_only_and_its_machine_is_never_snapshotted() {
    let vm = VmE2e::new();
    vm.profile("vmsecret", "{egress: deny}");
    let path = vm.env.path("profiles/vmsecret.profile.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        yaml.replace(
            "spec:\n",
            "secrets: {API_TOKEN: env:VM_E2E_SECRET}\nspec:\n",
        ),
    )
    .unwrap();
    let secret = format!("vm-s3cret-'$(x)-{}", std::process::id());
    let out = vm
        .sandboxer(&[
            "create",
            "--profile",
            "profile.vmsecret",
            "--consumer",
            "atm:vm",
            "--project",
            "vm",
            "--wait",
            "--json",
        ])
        .env("VM_E2E_SECRET", &secret)
        .assert()
        .success();
    let sandbox: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let id = sandbox["id"].as_str().unwrap();

    // Code in the guest has it in its environment, quoting intact.
    let (code, seen) = vm.sh(id, "printf %s \"$API_TOKEN\"");
    assert_eq!((code, seen.as_str()), (0, secret.as_str()));

    // Nowhere on the host: not in the extension's files (records, logs,
    // serial console), not on QEMU's command line, not in the state file.
    let needle = secret.as_bytes();
    assert!(
        !files_holding(&vm.state_dir, id.as_bytes()).is_empty(),
        "the search reads the machine's files"
    );
    assert!(files_holding(&vm.state_dir, needle).is_empty());
    assert!(files_holding(vm.env.state_path().parent().unwrap(), needle).is_empty());
    for (pid, _, _) in vm_packer::inventory::processes_under(&vm.state_dir) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(!cmdline.windows(needle.len()).any(|w| w == needle));
    }

    // Its memory holds the secret: a snapshot would write it to disk.
    let refused = vm
        .sandboxer(&["snapshot", "create", id, "--name", "leak"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("holds secrets (API_TOKEN)"), "{stderr}");
    assert!(!stderr.contains(&secret));
    assert!(
        std::fs::read_dir(vm.state_dir.join("snapshots"))
            .unwrap()
            .next()
            .is_none()
    );
    vm.sandboxer(&["destroy", id]).assert().success();
}
