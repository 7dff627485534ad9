//! Who asked for a sandbox: a consumer (`adm:NAME` an operator, `agt:NAME` an
//! agent, `atm:NAME` an automation such as a CI job) and the project it works in.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerKind {
    /// An operator: sees every project.
    Adm,
    /// An agent.
    Agt,
    /// An automation: CI jobs, validators.
    Atm,
}

impl ConsumerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerKind::Adm => "adm",
            ConsumerKind::Agt => "agt",
            ConsumerKind::Atm => "atm",
        }
    }
}

/// `KIND:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Consumer {
    pub kind: ConsumerKind,
    pub name: String,
}

impl fmt::Display for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

/// Checks a consumer or project name: `[a-z0-9][a-z0-9._-]{0,62}`.
pub fn validate_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} is invalid: use 1 to 63 lowercase letters, digits, '.', '_' or '-', \
             starting with a letter or digit"
        ))
    }
}

impl FromStr for Consumer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((kind, name)) = s.split_once(':') else {
            return Err(format!(
                "consumer {s:?} is invalid: write it as adm:NAME, agt:NAME or atm:NAME"
            ));
        };
        let kind = match kind {
            "adm" => ConsumerKind::Adm,
            "agt" => ConsumerKind::Agt,
            "atm" => ConsumerKind::Atm,
            other => {
                return Err(format!(
                    "consumer kind {other:?} is invalid: it is adm (operator), agt (agent) or \
                     atm (automation)"
                ));
            }
        };
        validate_name("consumer name", name)?;
        Ok(Consumer {
            kind,
            name: name.to_string(),
        })
    }
}

/// The consumer and project a sandbox is charged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub consumer: Consumer,
    pub project: String,
}

impl Attribution {
    /// Resolves attribution from explicit values first, then configured defaults;
    /// refuses when neither names one.
    pub fn resolve(
        consumer: Option<&str>,
        project: Option<&str>,
        default_consumer: Option<&str>,
        default_project: Option<&str>,
    ) -> Result<Attribution, String> {
        let consumer = consumer.or(default_consumer).ok_or(
            "no consumer: pass --consumer adm:NAME|agt:NAME|atm:NAME, set SANDBOXER_CONSUMER, \
             or set defaults.consumer in the config file",
        )?;
        let project = project.or(default_project).ok_or(
            "no project: pass --project NAME, set SANDBOXER_PROJECT, or set defaults.project \
             in the config file",
        )?;
        validate_name("project", project)?;
        Ok(Attribution {
            consumer: consumer.parse()?,
            project: project.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let c: Consumer = "agt:claude-1".parse().unwrap();
        assert_eq!(c.kind, ConsumerKind::Agt);
        assert_eq!(c.to_string(), "agt:claude-1");
        assert!("adm:root".parse::<Consumer>().is_ok());
        assert!("atm:ci.nightly".parse::<Consumer>().is_ok());
    }

    #[test]
    fn refuses_bad_consumers_saying_how() {
        for (bad, fragment) in [
            ("claude", "adm:NAME"),
            ("bot:x", "adm (operator)"),
            ("agt:", "invalid"),
            ("agt:Has Space", "lowercase"),
            ("agt:$(id)", "lowercase"),
        ] {
            let err = bad.parse::<Consumer>().unwrap_err();
            assert!(err.contains(fragment), "{bad}: {err}");
        }
    }

    #[test]
    fn explicit_values_win_and_missing_ones_are_refused() {
        let a = Attribution::resolve(Some("agt:a"), None, Some("adm:b"), Some("p")).unwrap();
        assert_eq!(a.consumer.to_string(), "agt:a");
        assert_eq!(a.project, "p");
        let err = Attribution::resolve(None, Some("p"), None, None).unwrap_err();
        assert!(err.contains("--consumer"));
        let err = Attribution::resolve(Some("agt:a"), None, None, None).unwrap_err();
        assert!(err.contains("--project"));
    }
}
