//! Every machine this extension runs, found two ways so a crash at any moment
//! leaves it findable: the folders under `machines/` (with their records) and the
//! QEMU processes whose `-name` carries a sandbox id and whose QMP socket lies in
//! that folder. Template builds whose builder died are found here too.

use crate::machine::{MachineRecord, Machines};
use std::collections::BTreeMap;
use std::path::Path;

/// What was found of one sandbox's machine.
#[derive(Debug, Clone, Default)]
pub struct Holding {
    pub record: Option<MachineRecord>,
    /// The QEMU process, when one runs.
    pub pid: Option<u32>,
}

/// A process's argv, from /proc.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// The `guest=` of a QEMU argv's `-name`.
pub fn guest_of(args: &[String]) -> Option<String> {
    let at = args.iter().position(|a| a == "-name")?;
    let value = args.get(at + 1)?;
    value
        .split(',')
        .find_map(|part| part.strip_prefix("guest="))
        .map(String::from)
}

/// The QMP socket path of a QEMU argv.
fn qmp_of(args: &[String]) -> Option<String> {
    let at = args.iter().position(|a| a == "-qmp")?;
    let value = args.get(at + 1)?.strip_prefix("unix:")?;
    Some(value.split(",server").next().unwrap_or(value).to_string())
}

/// QEMU processes whose QMP socket is under `folder`: (pid, guest name, socket).
pub fn processes_under(folder: &Path) -> Vec<(u32, String, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    let prefix = format!("{}/", folder.display());
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let args = cmdline(pid)?;
            let name = guest_of(&args)?;
            let qmp = qmp_of(&args)?;
            qmp.starts_with(&prefix).then_some((pid, name, qmp))
        })
        .collect()
}

/// The live QEMU process named in the pid file of `sandbox_id`'s folder.
fn pid_from_file(machines: &Machines, sandbox_id: &str) -> Option<u32> {
    let file = crate::qemu::LaunchPlan::pid_file(&machines.folder(sandbox_id));
    let pid: u32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    crate::machine::is_machine(pid, &crate::qemu::guest_name(sandbox_id)).then_some(pid)
}

/// Every machine of `machines`, or only `only`'s. For one machine its pid file
/// answers (the path of every exec); /proc is read only when it does not.
pub fn scan(machines: &Machines, only: Option<&str>) -> BTreeMap<String, Holding> {
    if let Some(id) = only
        && let Some(pid) = pid_from_file(machines, id)
    {
        let holding = Holding {
            record: machines.read(id),
            pid: Some(pid),
        };
        return BTreeMap::from([(id.to_string(), holding)]);
    }
    let mut found: BTreeMap<String, Holding> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(&machines.dir) {
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(String::from) else {
                continue;
            };
            if only.is_some_and(|o| o != id) || id.starts_with('.') {
                continue;
            }
            found.entry(id.clone()).or_default().record = machines.read(&id);
        }
    }
    for (pid, name, _) in processes_under(&machines.dir) {
        let Some(id) = name.strip_prefix("sbx-") else {
            continue;
        };
        if only.is_some_and(|o| o != id) {
            continue;
        }
        found.entry(id.to_string()).or_default().pid = Some(pid);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn the_guest_and_socket_are_read_from_the_argv() {
        let a = args(
            "qemu -m 256 -name guest=sbx-abc,process=sbx-vm -qmp unix:/s/machines/abc/qmp.sock,server=on,wait=off",
        );
        assert_eq!(guest_of(&a).as_deref(), Some("sbx-abc"));
        assert_eq!(qmp_of(&a).as_deref(), Some("/s/machines/abc/qmp.sock"));
        assert_eq!(guest_of(&args("qemu -m 256")), None);
    }

    #[test]
    fn folders_without_processes_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let machines = Machines::new(dir.path());
        std::fs::create_dir_all(machines.folder("left")).unwrap();
        let found = scan(&machines, None);
        assert!(found["left"].record.is_none() && found["left"].pid.is_none());
        assert!(scan(&machines, Some("other")).is_empty());
    }
}
