//! `sandboxer doctor`: every installed extension that offers `host/doctor`
//! (protocol 1.1) checks its hosts for what it needs, with the images or other
//! artefacts of the profiles that name it, and says per failing item what fixes
//! it. The core knows nothing of podman or ssh: it asks and reports.

use super::Core;
use crate::error::Result;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{HostDoctor, HostDoctorParams};
use serde::Serialize;

/// One extension's answer, or why it could not give one.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub extension: String,
    pub hosts: Vec<HostDoctor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DoctorReport {
    /// How many checks failed (an extension that could not answer counts one).
    pub fn failures(&self) -> usize {
        let failed_checks: usize = self
            .hosts
            .iter()
            .map(|h| h.checks.iter().filter(|c| !c.ok).count())
            .sum();
        failed_checks + usize::from(self.error.is_some())
    }
}

/// Asks every extension that offers `host/doctor` about `host` (every host when
/// `None`).
pub async fn doctor(core: &Core, host: Option<&str>) -> Result<Vec<DoctorReport>> {
    let answers = core
        .ask_every::<m::HostDoctor>(|name, version| HostDoctorParams {
            host: host.map(str::to_string),
            profiles: core.profiles_for(name, version),
        })
        .await;
    let reports = answers
        .into_iter()
        .map(|(extension, answer)| match answer {
            Ok(result) => DoctorReport {
                extension,
                hosts: result.hosts,
                error: None,
            },
            Err(e) => DoctorReport {
                extension,
                hosts: vec![],
                error: Some(e),
            },
        })
        .collect();
    Ok(reports)
}
