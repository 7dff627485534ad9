//! Which of a profile's guarantees each extension gives: natively (its backend
//! enforces it), emulated (the core does it for every backend), or not at all.
//! Read from what an extension declares in its handshake: `capabilities.methods`
//! and `capabilities.features` (see `sandboxer_ext_protocol::features`).

use super::Core;
use crate::error::Result;
use crate::profile::Profile;
use crate::time::format_duration;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{
    Egress, InitializeResult, PolicyFinding, ProfileCheckResult, features,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    Native,
    Emulated,
    Cannot,
    /// The profile does not ask for it.
    NotAsked,
    /// Given, except what an operator allowed for this profile or host.
    Relaxed,
    /// The extension refuses the profile: a create would fail.
    Refused,
}

impl Support {
    pub fn as_str(self) -> &'static str {
        match self {
            Support::Native => "native",
            Support::Emulated => "emulated",
            Support::Cannot => "cannot",
            Support::NotAsked => "not asked",
            Support::Relaxed => "relaxed",
            Support::Refused => "refused",
        }
    }
}

/// Whether the named destinations of an allow list (not address literals) are
/// matched by name at the backend; shown, not required: a backend that lets a
/// named `HOST:PORT` through by address still keeps to the list.
fn by_domain(allow: &[String], declared: bool) -> Verdict {
    let named: Vec<&str> = allow
        .iter()
        .map(String::as_str)
        .filter(|a| {
            let host = a.rsplit_once(':').map_or(*a, |(h, _)| h);
            host.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_err()
        })
        .collect();
    let verdict = |asked: String, support, why: &str| Verdict {
        guarantee: "egress.domains",
        asked,
        support,
        why: why.to_string(),
    };
    if named.is_empty() {
        return verdict("-".into(), Support::NotAsked, "");
    }
    let asked = format!("by name: {}", named.join(", "));
    if declared {
        verdict(
            asked,
            Support::Native,
            "matched by host name at the backend's proxy",
        )
    } else {
        verdict(
            asked,
            Support::Cannot,
            "let through by address, not matched by name",
        )
    }
}

/// One guarantee for one extension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub guarantee: &'static str,
    /// What the profile asks for.
    pub asked: String,
    pub support: Support,
    pub why: String,
}

/// One extension's verdicts, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub extension: String,
    /// The extension the profile names.
    pub named_by_profile: bool,
    pub verdicts: Vec<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The verdicts for `profile` on an extension that described itself as `info`
/// and, if it offers `profile/check`, answered `check` for the profile.
pub fn verdicts(
    profile: &Profile,
    info: &InitializeResult,
    check: Option<&ProfileCheckResult>,
) -> Vec<Verdict> {
    let has_method = |method: &str| info.capabilities.methods.iter().any(|x| x == method);
    let has = |feature: &str| info.capabilities.features.iter().any(|x| x == feature);
    let verdict = |guarantee, asked: String, support, why: &str| Verdict {
        guarantee,
        asked,
        support,
        why: why.to_string(),
    };
    let mut out = vec![];

    let ttl = format!(
        "expires after {}, never past {}",
        format_duration(profile.ttl.default),
        format_duration(profile.ttl.max)
    );
    out.push(if has(features::TTL) {
        verdict("ttl", ttl, Support::Native, "the backend ends it at expiry")
    } else {
        verdict(
            "ttl",
            ttl,
            Support::Emulated,
            "the core's reaper destroys it at expiry",
        )
    });
    if let Some(idle) = profile.ttl.idle {
        out.push(verdict(
            "idle timeout",
            format_duration(idle),
            Support::Emulated,
            "the core expires a sandbox it has not seen used",
        ));
    }

    let network = &profile.network;
    out.push(match network.egress {
        Egress::Allow => verdict("egress", "allow".into(), Support::NotAsked, ""),
        Egress::Deny if !network.allow.is_empty() => {
            let asked = format!("deny, except {}", network.allow.join(", "));
            let wildcard = network.allow.iter().any(|a| a.starts_with('*'));
            let by_list = has(features::EGRESS_ALLOWLIST) || has(features::EGRESS_DOMAINS);
            if wildcard && !(has(features::EGRESS_DENY) && has(features::EGRESS_DOMAINS)) {
                verdict(
                    "egress",
                    asked,
                    Support::Cannot,
                    "a wildcard destination needs an allow list by domain (egress.domains)",
                )
            } else if has(features::EGRESS_DENY) && by_list {
                verdict("egress", asked, Support::Native, "enforced by the backend")
            } else {
                verdict(
                    "egress",
                    asked,
                    Support::Cannot,
                    "no allow list enforcement declared",
                )
            }
        }
        Egress::Deny => {
            if has(features::EGRESS_DENY) {
                verdict(
                    "egress",
                    "deny".into(),
                    Support::Native,
                    "enforced by the backend",
                )
            } else {
                verdict(
                    "egress",
                    "deny".into(),
                    Support::Cannot,
                    "no egress enforcement declared",
                )
            }
        }
    });
    out.push(by_domain(&network.allow, has(features::EGRESS_DOMAINS)));

    out.push(match profile.isolation {
        None => verdict("isolation", "-".into(), Support::NotAsked, ""),
        Some(crate::profile::Isolation::Vm) if has(features::ISOLATION_VM) => verdict(
            "isolation",
            "vm".into(),
            Support::Native,
            "a virtual machine: a kernel of its own",
        ),
        Some(crate::profile::Isolation::Vm) => verdict(
            "isolation",
            "vm".into(),
            Support::Cannot,
            "shares the host's kernel (no isolation.vm declared)",
        ),
    });
    let snapshots = has_method(m::SandboxSnapshot::METHOD) && has_method(m::SandboxRestore::METHOD);
    out.push(verdict(
        "snapshots",
        "snapshot and restore".into(),
        if snapshots {
            Support::Native
        } else {
            Support::Cannot
        },
        if snapshots {
            "sandbox/snapshot and sandbox/restore"
        } else {
            "not offered"
        },
    ));

    let r = &profile.resources;
    for (name, asked, feature) in [
        (
            "resources.cpus",
            r.cpus.map(|c| c.to_string()),
            features::RESOURCES_CPUS,
        ),
        (
            "resources.memory_mb",
            r.memory_mb.map(|v| v.to_string()),
            features::RESOURCES_MEMORY,
        ),
        (
            "resources.disk_mb",
            r.disk_mb.map(|v| v.to_string()),
            features::RESOURCES_DISK,
        ),
    ] {
        out.push(match asked {
            None => verdict(name, "-".into(), Support::NotAsked, ""),
            Some(asked) if has(feature) => {
                verdict(name, asked, Support::Native, "a limit the backend enforces")
            }
            Some(asked) => verdict(
                name,
                asked,
                Support::Cannot,
                "passed on, not declared enforced",
            ),
        });
    }

    out.push(if profile.secrets.is_empty() {
        verdict("secrets", "-".into(), Support::NotAsked, "")
    } else {
        let asked = profile
            .secrets
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if has(features::SECRETS) {
            verdict(
                "secrets",
                asked,
                Support::Native,
                "delivered into the sandbox only",
            )
        } else {
            verdict(
                "secrets",
                asked,
                Support::Cannot,
                "passed on, delivery not declared",
            )
        }
    });

    out.extend(containment(
        has(features::CONTAINMENT),
        has(features::USER_NAMESPACE),
        check,
    ));

    let exec = has_method(m::SandboxExec::METHOD);
    out.push(verdict(
        "exec",
        "run commands".into(),
        if exec {
            Support::Native
        } else {
            Support::Cannot
        },
        if exec {
            m::SandboxExec::METHOD
        } else {
            "not offered"
        },
    ));
    out
}

/// Whether a sandbox holds: the containment policy (no host escape through the
/// profile) and the user namespace, with what an operator relaxed, or what the
/// policy refuses.
fn containment(
    policy: bool,
    user_namespace: bool,
    check: Option<&ProfileCheckResult>,
) -> Vec<Verdict> {
    let list = |findings: &[PolicyFinding]| {
        findings
            .iter()
            .map(|f| match &f.setting {
                Some(s) => format!("{s} ({})", f.field),
                None => f.field.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (refused, relaxed) = match check {
        Some(c) => (c.refused.as_slice(), c.relaxed.as_slice()),
        None => (&[][..], &[][..]),
    };
    let asked = "no way out to the host".to_string();
    let policy_verdict = if !policy {
        Verdict {
            guarantee: "containment",
            asked,
            support: Support::Cannot,
            why: "no containment policy declared: the profile may ask the backend for \
                  anything it offers"
                .into(),
        }
    } else if !refused.is_empty() {
        Verdict {
            guarantee: "containment",
            asked,
            support: Support::Refused,
            why: format!("the policy refuses: {}", list(refused)),
        }
    } else if !relaxed.is_empty() {
        Verdict {
            guarantee: "containment",
            asked,
            support: Support::Relaxed,
            why: format!("allowed by an operator: {}", list(relaxed)),
        }
    } else {
        Verdict {
            guarantee: "containment",
            asked,
            support: Support::Native,
            why: "no privileged mode, host namespaces, host paths, devices or added \
                  capabilities; no-new-privileges and a process limit"
                .into(),
        }
    };
    let host_user: Vec<PolicyFinding> = relaxed
        .iter()
        .filter(|f| f.setting.as_deref() == Some("host-user"))
        .cloned()
        .collect();
    let asked = "the sandbox's root is not the host's".to_string();
    let userns_verdict = if !user_namespace {
        Verdict {
            guarantee: "user namespace",
            asked,
            support: Support::Cannot,
            why: "not declared: code in the sandbox may run as the host's root".into(),
        }
    } else if !host_user.is_empty() {
        Verdict {
            guarantee: "user namespace",
            asked,
            support: Support::Relaxed,
            why: format!("runs as the host's root by exception: {}", list(&host_user)),
        }
    } else {
        Verdict {
            guarantee: "user namespace",
            asked,
            support: Support::Native,
            why: "container ids map to unprivileged ids of the host".into(),
        }
    };
    vec![policy_verdict, userns_verdict]
}

/// Every extension found, each asked for its capabilities, against `profile`.
pub async fn candidates(core: &Core, profile: &Profile) -> Result<Vec<Candidate>> {
    let mut out = vec![];
    for found in crate::exthost::find_all() {
        let named = profile
            .candidates
            .iter()
            .any(|c| c.extension_name() == found.name);
        let candidate = match core.extension(&found.name).await {
            Ok(client) => {
                let info = client.info().clone();
                let check = super::containment::check(&client, profile, None).await;
                client.release().await;
                let (check, error) = match check {
                    Ok(check) => (check, None),
                    Err(e) => (None, Some(e.to_string())),
                };
                Candidate {
                    extension: format!("ext.{}", found.name),
                    named_by_profile: named,
                    verdicts: verdicts(profile, &info, check.as_ref()),
                    error,
                }
            }
            Err(e) => Candidate {
                extension: format!("ext.{}", found.name),
                named_by_profile: named,
                verdicts: vec![],
                error: Some(e.to_string()),
            },
        };
        out.push(candidate);
    }
    // The profile's own extension first.
    out.sort_by_key(|c| !c.named_by_profile);
    Ok(out)
}
