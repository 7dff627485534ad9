//! Which accelerator runs guests: KVM where the CPU has hardware virtualization
//! (vmx or svm) and `/dev/kvm` opens, TCG (QEMU's own translator) otherwise. A
//! `/dev/kvm` without vmx/svm (e.g. `kvm_pvm`, which boots only PVM guest
//! kernels) does not count.

use crate::config::AccelChoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    /// The accelerator for `choice` on this host; a KVM asked for but not
    /// usable is an error that says why.
    pub fn choose(choice: AccelChoice) -> Result<Accel, String> {
        let usable = kvm_usable();
        match choice {
            AccelChoice::Tcg => Ok(Accel::Tcg),
            AccelChoice::Auto => Ok(if usable.is_ok() {
                Accel::Kvm
            } else {
                Accel::Tcg
            }),
            AccelChoice::Kvm => usable.map(|()| Accel::Kvm),
        }
    }
}

/// Whether KVM can run a stock guest kernel here, and if not, why.
pub fn kvm_usable() -> Result<(), String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if !has_hardware_virtualization(&cpuinfo) {
        return Err("the CPU has no vmx/svm (no hardware virtualization)".into());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| format!("/dev/kvm: {e}"))
}

fn has_hardware_virtualization(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_vmx_or_svm_flags_count() {
        assert!(has_hardware_virtualization("flags\t: fpu vmx sse\n"));
        assert!(has_hardware_virtualization("flags\t: svm\n"));
        assert!(!has_hardware_virtualization(
            "flags\t: fpu vmxx hypervisor\n"
        ));
        assert!(!has_hardware_virtualization("model name: vmx\n"));
    }

    #[test]
    fn tcg_is_always_available() {
        assert_eq!(Accel::choose(AccelChoice::Tcg), Ok(Accel::Tcg));
        let auto = Accel::choose(AccelChoice::Auto).unwrap();
        assert_eq!(auto == Accel::Kvm, kvm_usable().is_ok());
    }
}
