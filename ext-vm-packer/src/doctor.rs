//! `host/doctor` for vm-packer: everything this host needs to run VM sandboxes,
//! checked, each failure with its fix — QEMU, the accelerator (and why KVM is not
//! used), the guest kernel, the tools images are made with, QEMU's account.

use crate::accel::{Accel, kvm_usable};
use crate::config::Options;
use crate::kernel::Kernel;
use crate::machine::QemuUser;
use sandboxer_ext_protocol::DoctorCheck;

const FIX: &str = "make setup-vm-host (scripts/setup-vm-host.sh)";

fn check(name: &str, result: Result<String, String>) -> DoctorCheck {
    let ok = result.is_ok();
    DoctorCheck {
        name: name.into(),
        ok,
        detail: result.unwrap_or_else(|e| e),
        fix: (!ok).then(|| FIX.to_string()),
    }
}

fn tool(path: &str) -> Result<String, String> {
    std::path::Path::new(path)
        .is_file()
        .then(|| format!("{path} is there"))
        .ok_or_else(|| format!("{path} is missing"))
}

pub async fn checks(
    options: &Options,
    accel: &Result<Accel, String>,
    kernel: &Result<Kernel, String>,
    run_as: &QemuUser,
) -> Vec<DoctorCheck> {
    let qemu = tokio::process::Command::new(&options.qemu)
        .arg("--version")
        .output()
        .await
        .map_err(|e| format!("{}: {e}", options.qemu.display()))
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or_default().to_string();
            if out.status.success() {
                Ok(first)
            } else {
                Err(first)
            }
        });
    let accelerator = accel.clone().map(|a| match (a, kvm_usable()) {
        (Accel::Kvm, _) => "kvm (hardware virtualization)".to_string(),
        (Accel::Tcg, Err(why)) => format!("tcg (QEMU's translator; KVM unusable: {why})"),
        (Accel::Tcg, Ok(())) => "tcg (as configured; KVM would work)".to_string(),
    });
    let mut all = vec![
        check("qemu", qemu),
        DoctorCheck {
            fix: None,
            ..check("accelerator", accelerator)
        },
        check(
            "guest kernel",
            kernel
                .as_ref()
                .map(|k| format!("{} with {} modules", k.release, k.modules.len()))
                .map_err(Clone::clone),
        ),
        check(
            "qemu account",
            run_as.as_ref().map_err(Clone::clone).map(|who| match who {
                Some(r) => format!("QEMU runs as {} (uid {})", r.name, r.uid),
                None => "QEMU runs as the extension's own (unprivileged) user".into(),
            }),
        ),
    ];
    for path in [
        "/bin/busybox",
        "/usr/sbin/dropbear",
        "/usr/bin/dropbearkey",
        "/usr/bin/socat",
        "/usr/bin/ssh",
    ] {
        all.push(check(path.rsplit('/').next().unwrap_or(path), tool(path)));
    }
    all
}
