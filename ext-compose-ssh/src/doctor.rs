//! `host/doctor`: everything compose-ssh needs of a host, checked for real, each
//! failing item with the command that fixes it. One constant script runs on the
//! host and prints one line per check; the fixes are written here, where the
//! host's name and configuration are known.
//!
//! The name-resolution check builds what a sandbox under `egress: deny` relies
//! on: a service on an internal network, and a container on that network and an
//! edge network (the gateway) reaching it by name, both under the sandbox's
//! hardening (user namespace, no-new-privileges, pids limit).

use crate::config::HostConfig;
use crate::podman;
use sandboxer_ext_protocol::{DoctorCheck, HostDoctor};

/// Checks a host. Prints `CHECK<TAB>name<TAB>ok|fail<TAB>detail` lines.
/// Args: workdir, podman API socket, probe image, run args, a unique tag,
/// images the profiles name...
pub const DOCTOR_SCRIPT: &str = r#"set -u
workdir=$1 socket=$2 image=$3 runargs=$4 tag=$5
shift 5
say() { printf 'CHECK\t%s\t%s\t%s\n' "$1" "$2" "$3"; }
if v=$(podman version --format '{{.Client.Version}}' 2>&1); then
  case $v in [0-3].*) say podman fail "podman $v is older than 4.0" ;; *) say podman ok "podman $v" ;; esac
else say podman fail "podman does not run: $v"; fi
if v=$(podman-compose --version 2>/dev/null | sed -n 's/^podman-composer* version *//p' | head -n 1) && [ -n "$v" ]; then
  say podman-compose ok "podman-compose $v"
else say podman-compose fail "podman-compose is not installed"; fi
backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null)
if [ "$backend" = netavark ]; then say network-backend ok netavark
else say network-backend fail "podman uses '${backend:-nothing}': service names do not resolve between containers"; fi
runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null)
if podman image exists "$image"; then
  # $runargs is sandboxer's own constant flags: split into words on purpose.
  if out=$(podman run --rm $runargs -- "$image" sh -c 'id -u; cat /proc/self/uid_map' 2>&1); then
    say runtime ok "$runtime runs a hardened container ($(echo $out | tr -s ' ' ' '))"
  else say runtime fail "$runtime cannot run a hardened container: $(echo $out | tail -c 300)"; fi
  inner="doctor-$tag-inner" edge="doctor-$tag-edge"
  podman network create --internal --label "sandboxer.doctor=$tag" "$inner" >/dev/null 2>&1
  podman network create --label "sandboxer.doctor=$tag" "$edge" >/dev/null 2>&1
  podman run -d --name "doctor-$tag-web" --label "sandboxer.doctor=$tag" --net "$inner" \
    --network-alias web $runargs -- "$image" sh -c 'while true; do echo ok | nc -l -p 8080; done' >/dev/null 2>&1
  got=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    got=$(podman run --rm --label "sandboxer.doctor=$tag" --net "$inner,$edge" $runargs -- "$image" \
      sh -c 'nc -w 2 web 8080 </dev/null' 2>&1) && [ "$got" = ok ] && break
    sleep 0.5
  done
  podman rm -f -t 0 "doctor-$tag-web" >/dev/null 2>&1
  podman network rm -f "$inner" "$edge" >/dev/null 2>&1
  if [ "$got" = ok ]; then say name-resolution ok "a container on an internal and an edge network reached 'web' by name"
  else say name-resolution fail "'web' could not be reached by name across an internal and an edge network: $(echo $got | tail -c 200)"; fi
else
  say runtime fail "image $image (the egress gateway's, needed to check) is missing"
  say name-resolution fail "not checked: image $image is missing"
fi
missing=
for i in "$@"; do podman image exists "$i" || missing="$missing $i"; done
if [ -z "$missing" ]; then say images ok "$# image(s) the profiles name are present"
else say images fail "missing:$missing"; fi
if podman --remote --url "unix://$socket" version >/dev/null 2>&1; then say api-socket ok "$socket answers"
else say api-socket fail "$socket does not answer (sandboxer then starts podman for every read)"; fi
mkdir -p "$workdir" 2>/dev/null
free=$(df -Pm "$workdir" 2>/dev/null | awk 'NR==2 {print $4}')
if [ "${free:-0}" -ge 1024 ]; then say disk ok "${free} MB free in $workdir"
else say disk fail "${free:-no} MB free in $workdir (sandboxes need at least 1024)"; fi
"#;

/// The argv of the doctor script for `host`.
pub fn argv(
    host: &HostConfig,
    image: &str,
    run_args: &str,
    tag: &str,
    images: &[String],
) -> Vec<String> {
    let mut args: Vec<&str> = vec![&host.workdir, &host.podman_socket, image, run_args, tag];
    args.extend(images.iter().map(String::as_str));
    podman::script_argv(DOCTOR_SCRIPT, &args)
}

/// The command (or step) that fixes a failed check on `host`.
fn fix_for(check: &str, host: &HostConfig, image: &str, detail: &str) -> String {
    let on = if host.is_local() {
        String::new()
    } else {
        format!(" on host {} ({})", host.name, host.address())
    };
    match check {
        "podman" | "podman-compose" => format!(
            "apt-get install -y podman podman-compose runc{on} (scripts/setup-host.sh does it)"
        ),
        "network-backend" | "name-resolution" => format!(
            "apt-get install -y netavark aardvark-dns, and set network_backend = \"netavark\" \
             under [network] in /etc/containers/containers.conf{on} (scripts/setup-host.sh does \
             both, also on a machine set up before)"
        ),
        "runtime" if detail.contains("missing") => {
            format!("build or load {image}{on} (scripts/setup-host.sh builds it)")
        }
        "runtime" => format!(
            "set runtime = \"runc\" and cgroup_manager = \"cgroupfs\" under [engine] and \
             default_ulimits = [] under [containers] in /etc/containers/containers.conf{on} \
             (scripts/setup-host.sh does it)"
        ),
        "images" => format!(
            "build or load the missing images{on}: for the built-in profiles, \
             scripts/setup-host.sh builds them"
        ),
        "api-socket" => format!(
            "podman system service --time=0 unix://{}{on} (scripts/setup-host.sh starts it)",
            host.podman_socket
        ),
        "disk" => format!("free space in {}{on}", host.workdir),
        "ssh" => format!(
            "check that sshd runs{on} and that address, port, user, identity and known_hosts \
             of host {} in compose-ssh's `hosts` option are right (scripts/setup-host.sh starts \
             one on 127.0.0.1:2222)",
            host.name
        ),
        _ => "see the detail".into(),
    }
}

/// Reads the script's lines into checks, with fixes for the failed ones.
pub fn parse(output: &str, host: &HostConfig, image: &str) -> Vec<DoctorCheck> {
    output
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, '\t');
            (parts.next()? == "CHECK").then_some(())?;
            let name = parts.next()?.to_string();
            let ok = parts.next()? == "ok";
            let detail = parts.next().unwrap_or_default().to_string();
            let fix = (!ok).then(|| fix_for(&name, host, image, &detail));
            Some(DoctorCheck {
                name,
                ok,
                detail,
                fix,
            })
        })
        .collect()
}

/// The report for a host that could not be reached at all.
pub fn unreachable(host: &HostConfig, detail: String) -> HostDoctor {
    HostDoctor {
        host: host.name.clone(),
        checks: vec![DoctorCheck {
            name: "ssh".into(),
            ok: false,
            fix: Some(fix_for("ssh", host, "", &detail)),
            detail,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_checks_with_fixes_for_the_failed_ones() {
        let out = "noise\nCHECK\tpodman\tok\tpodman 4.3.1\n\
                   CHECK\tnetwork-backend\tfail\tpodman uses 'cni'\n\
                   CHECK\tdisk\tfail\t10 MB free in /w\n";
        let mut host = HostConfig::local();
        host.name = "h1".into();
        host.address = Some("10.0.0.1".into());
        let checks = parse(out, &host, "img");
        assert_eq!(checks.len(), 3);
        assert!(checks[0].ok && checks[0].fix.is_none());
        let fix = checks[1].fix.as_deref().unwrap();
        assert!(
            fix.contains("netavark") && fix.contains("on host h1 (10.0.0.1)"),
            "{fix}"
        );
        assert!(
            checks[2]
                .fix
                .as_deref()
                .unwrap()
                .contains("/var/lib/sandboxer/sandboxes")
        );
    }

    #[test]
    fn the_script_gets_its_values_as_arguments() {
        let host = HostConfig::local();
        let argv = argv(
            &host,
            "img",
            "--pids-limit=1",
            "t1",
            &["a:1".into(), "$(x)".into()],
        );
        assert_eq!(argv[..3], ["sh", "-c", DOCTOR_SCRIPT]);
        assert_eq!(
            argv[4..],
            [
                "/var/lib/sandboxer/sandboxes",
                "/run/podman/podman.sock",
                "img",
                "--pids-limit=1",
                "t1",
                "a:1",
                "$(x)"
            ]
        );
    }
}
