//! What every container of a sandbox gets, whatever its compose file says:
//! `no-new-privileges`, a limit on processes, and the host's user namespace range
//! (its root is an unprivileged id of the host); with `--ipc=none`, as `/dev/shm`
//! is a tmpfs of the container's own (`project::private_shm` says why). Given to podman-compose as
//! `--podman-run-args`, so the gateway gets it too. The policy (`policy`) decides
//! the two things a profile may be allowed to turn off.

use crate::config::HostConfig;
use crate::policy::Runtime;

/// The label on a sandbox's resources saying which user namespace its containers
/// run in (`BASE:SIZE`, or `host`), so its snapshots can be taken right.
pub const USERNS_LABEL: &str = "sandboxer.userns";

/// The user namespace a sandbox runs in on `host`: `(base, size)`, or `None` for
/// the host's own ids.
pub fn user_namespace(host: &HostConfig, runtime: Runtime) -> Option<(u32, u32)> {
    (!runtime.host_user).then_some((host.user_namespace.base, host.user_namespace.size))
}

/// The value of `USERNS_LABEL`.
pub fn userns_label(mapping: Option<(u32, u32)>) -> String {
    match mapping {
        Some((base, size)) => format!("{base}:{size}"),
        None => "host".into(),
    }
}

/// Parses `USERNS_LABEL` back; anything else is the host's own ids.
pub fn parse_userns_label(label: Option<&str>) -> Option<(u32, u32)> {
    let (base, size) = label?.split_once(':')?;
    Some((base.parse().ok()?, size.parse().ok()?))
}

/// The `podman run` arguments every container of the sandbox gets. Numbers and
/// constants only: nothing of the profile's text.
pub fn run_args(host: &HostConfig, runtime: Runtime) -> String {
    let mut args = vec![
        format!("--pids-limit={}", host.pids_limit.max(1)),
        "--ipc=none".to_string(),
    ];
    if !runtime.new_privileges {
        args.push("--security-opt=no-new-privileges".into());
    }
    if let Some((base, size)) = user_namespace(host, runtime) {
        args.push(format!("--uidmap=0:{base}:{size}"));
        args.push(format!("--gidmap=0:{base}:{size}"));
    }
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_container_is_hardened_unless_an_exception_says_otherwise() {
        let host = HostConfig::local();
        assert_eq!(
            run_args(&host, Runtime::default()),
            "--pids-limit=2048 --ipc=none --security-opt=no-new-privileges \
             --uidmap=0:1879048192:65536 --gidmap=0:1879048192:65536"
        );
        let relaxed = Runtime {
            host_user: true,
            new_privileges: true,
        };
        assert_eq!(run_args(&host, relaxed), "--pids-limit=2048 --ipc=none");
        assert_eq!(userns_label(user_namespace(&host, relaxed)), "host");
        let label = userns_label(user_namespace(&host, Runtime::default()));
        assert_eq!(
            parse_userns_label(Some(&label)),
            Some((1_879_048_192, 65_536))
        );
        assert_eq!(parse_userns_label(Some("host")), None);
    }
}
