//! What each verb takes and answers, as the HTTP API carries it: the bodies and
//! queries the daemon reads and its client writes, and the answers both decode.
//! The local core takes the same types, so a flag means the same thing in
//! either mode.

use super::query::{Pairs, Query};
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::store::{Event, SandboxRecord, SandboxUsage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /v1/sandboxes`: a sandbox of `profile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSandbox {
    pub profile: String,
    /// Lifetime, e.g. `30m` (default: the profile's).
    pub ttl: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Where to place it.
    pub host: Option<String>,
    /// Charged to (admins may name another project or consumer).
    pub project: Option<String>,
    pub consumer: Option<String>,
    /// Wait until ready (default true).
    pub wait: Option<bool>,
    /// A retried create with the same key gets the same sandbox (the
    /// `Idempotency-Key` header, not the body).
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// `POST /v1/snapshots/{id}/restore`: a new sandbox from a snapshot, started
/// as a create is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreSnapshot {
    pub ttl: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub host: Option<String>,
    /// Default: the snapshot's project.
    pub project: Option<String>,
    pub consumer: Option<String>,
    pub wait: Option<bool>,
}

/// What a create answers: the record, and whether an earlier create with the
/// same idempotency key made it.
#[derive(Debug, Clone)]
pub struct Created {
    pub record: SandboxRecord,
    pub reused: bool,
}

/// `GET /v1/sandboxes/{id}`: with `refresh`, the extension is asked first.
#[derive(Debug, Clone, Copy, Default)]
pub struct GetSandbox {
    pub refresh: bool,
}

impl Query for GetSandbox {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        if self.refresh {
            pairs.push("refresh", "true");
        }
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["refresh"])?;
        Ok(GetSandbox {
            refresh: pairs.bool("refresh")?,
        })
    }
}

/// One sandbox shown: its record, what it cost so far, and why it could not be
/// refreshed if it could not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shown {
    #[serde(flatten)]
    pub record: SandboxRecord,
    pub usage: Option<SandboxUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<String>,
}

/// `GET /v1/sandboxes`: which sandboxes to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListSandboxes {
    /// Only these states (default: every state but destroyed).
    pub states: Vec<State>,
    /// Destroyed ones too, when no state is named.
    pub all: bool,
    pub profile: Option<String>,
    pub project: Option<String>,
    pub consumer: Option<String>,
    /// `key=value` filters (the core's own labels may be named).
    pub labels: BTreeMap<String, String>,
}

impl ListSandboxes {
    /// The store's filter for this query, in `project` (already confined to
    /// what the caller sees).
    pub fn filter(&self, project: Option<String>) -> crate::store::SandboxFilter {
        let mut states = self.states.clone();
        if states.is_empty() && !self.all {
            states = State::ALL
                .into_iter()
                .filter(|s| *s != State::Destroyed)
                .collect();
        }
        crate::store::SandboxFilter {
            states,
            profile_id: self.profile.as_ref().map(|p| {
                if p.starts_with(crate::profile::PROFILE_ID_PREFIX) {
                    p.clone()
                } else {
                    format!("{}{p}", crate::profile::PROFILE_ID_PREFIX)
                }
            }),
            project,
            consumer: self.consumer.clone(),
            labels: self.labels.clone(),
            ..Default::default()
        }
    }
}

impl Query for ListSandboxes {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        if !self.states.is_empty() {
            let states: Vec<&str> = self.states.iter().map(|s| s.as_str()).collect();
            pairs.push("state", states.join(","));
        }
        if self.all {
            pairs.push("all", "true");
        }
        pairs.push_some("profile", self.profile.as_ref());
        pairs.push_some("project", self.project.as_ref());
        pairs.push_some("consumer", self.consumer.as_ref());
        for (k, v) in &self.labels {
            pairs.push("label", format!("{k}={v}"));
        }
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["state", "profile", "project", "consumer", "label", "all"])?;
        let mut query = ListSandboxes {
            all: pairs.bool("all")?,
            profile: pairs.owned("profile"),
            project: pairs.owned("project"),
            consumer: pairs.owned("consumer"),
            ..ListSandboxes::default()
        };
        for s in pairs.all("state").flat_map(|s| s.split(',')) {
            query.states.push(
                s.parse::<State>()
                    .map_err(|e| Error::Invalid(format!("state: {e}")))?,
            );
        }
        for pair in pairs.all("label") {
            let (k, v) = crate::labels::parse_label_filter(pair).map_err(Error::Invalid)?;
            query.labels.insert(k, v);
        }
        Ok(query)
    }
}

/// `POST /v1/sandboxes/{id}/recreate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recreate {
    /// Wait until the new one is ready (default true).
    pub wait: Option<bool>,
}

/// What a recreate answers: the old record (destroyed) and the new one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recreated {
    pub old: SandboxRecord,
    pub new: SandboxRecord,
}

/// `POST /v1/sandboxes/{id}/extend-ttl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendTtl {
    /// How much longer, e.g. `30m`.
    pub by: String,
}

/// `POST /v1/sandboxes/{id}/snapshot`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeSnapshot {
    pub name: String,
}

/// `GET /v1/usage`: the ledger's window, grouping and filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageQuery {
    /// project, consumer, profile, extension or host (default project).
    pub by: Option<String>,
    /// From this time on (2026-11-01 or RFC 3339).
    pub since: Option<String>,
    /// Up to this time, not included.
    pub until: Option<String>,
    pub project: Option<String>,
    pub consumer: Option<String>,
}

impl UsageQuery {
    /// The grouping and the query, checked.
    pub fn parsed(&self) -> Result<(crate::operations::GroupBy, crate::operations::LedgerQuery)> {
        let instant = |key: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(crate::time::parse_instant)
                .transpose()
                .map_err(|e| Error::Invalid(format!("{key}: {e}")))
        };
        let query = crate::operations::LedgerQuery {
            since: instant("since", &self.since)?,
            until: instant("until", &self.until)?,
            project: self.project.clone(),
            consumer: self.consumer.clone(),
            class: None,
        };
        let by = self.by.as_deref().unwrap_or("project").parse();
        Ok((
            by.map_err(|e: Error| Error::Invalid(format!("by: {e}")))?,
            query,
        ))
    }
}

impl Query for UsageQuery {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        pairs.push_some("by", self.by.as_ref());
        pairs.push_some("since", self.since.as_ref());
        pairs.push_some("until", self.until.as_ref());
        pairs.push_some("project", self.project.as_ref());
        pairs.push_some("consumer", self.consumer.as_ref());
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["by", "since", "until", "project", "consumer", "format"])?;
        Ok(UsageQuery {
            by: pairs.owned("by"),
            since: pairs.owned("since"),
            until: pairs.owned("until"),
            project: pairs.owned("project"),
            consumer: pairs.owned("consumer"),
        })
    }
}

/// `GET /v1/events` and `/v1/events/stream`: whose events, from where.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsQuery {
    pub sandbox: Option<String>,
    /// Only events after this sequence number.
    pub after: Option<i64>,
    /// At most this many (a page only; 1 to `EVENTS_PAGE`, default that).
    pub limit: Option<u32>,
    /// The newest this many (0 to `EVENTS_PAGE`), instead of `after`: a page of
    /// them in order (with `tail=0`, none, and where the log ends as
    /// `next_after`); a stream that starts with them (`tail=0`: from now on).
    pub tail: Option<u32>,
}

/// The largest page of events.
pub const EVENTS_PAGE: u32 = 1000;

impl Query for EventsQuery {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        pairs.push_some("sandbox", self.sandbox.as_ref());
        pairs.push_some("after", self.after);
        pairs.push_some("limit", self.limit);
        pairs.push_some("tail", self.tail);
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["sandbox", "after", "limit", "tail"])?;
        Ok(EventsQuery {
            sandbox: pairs.owned("sandbox"),
            after: pairs.number("after")?,
            limit: pairs.number("limit")?,
            tail: pairs.number("tail")?,
        })
    }
}

/// A page of events, and where the next one starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsPage {
    pub events: Vec<Event>,
    pub next_after: Option<i64>,
}

/// `GET /v1/hosts`: the window of the hosts' record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostsQuery {
    /// A time (2026-11-01) or a duration ago (default 24h).
    pub since: Option<String>,
    /// Each host's samples over the window too (for charts).
    pub series: bool,
}

impl Query for HostsQuery {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        pairs.push_some("since", self.since.as_ref());
        if self.series {
            pairs.push("series", "true");
        }
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["since", "series"])?;
        Ok(HostsQuery {
            since: pairs.owned("since"),
            series: pairs.bool("series")?,
        })
    }
}

/// `GET /v1/hosts` answers `{"hosts": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hosts {
    pub hosts: Vec<crate::operations::HostReport>,
}

/// What an extension is, as `extensions list|show` report it: what its
/// handshake said, or why it failed. `path` and a failure's details are for
/// admins (`None` and a general message for others).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionReport {
    /// `<name>`, without `ext.`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
    /// `ok` or `failed`.
    pub handshake: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options_schema: Option<BTreeMap<String, sandboxer_ext_protocol::OptionSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<Q: Query + PartialEq + std::fmt::Debug>(query: Q) {
        let pairs = query.to_pairs();
        let text = pairs.encode();
        let back = Pairs::parse(text.trim_start_matches('?')).unwrap();
        assert_eq!(Q::from_pairs(&back).unwrap(), query, "{text}");
    }

    #[test]
    fn queries_read_back_what_the_client_writes() {
        round_trip(ListSandboxes {
            states: vec![State::Ready, State::Failed],
            all: true,
            profile: Some("profile.x".into()),
            project: Some("p".into()),
            consumer: Some("agt:bot".into()),
            labels: [("a".to_string(), "1 2&=".to_string())].into(),
        });
        round_trip(ListSandboxes::default());
        round_trip(UsageQuery {
            by: Some("host".into()),
            since: Some("2026-11-01".into()),
            until: None,
            project: Some("p".into()),
            consumer: None,
        });
        round_trip(EventsQuery {
            sandbox: Some("01x".into()),
            after: Some(7),
            limit: Some(3),
            tail: None,
        });
        round_trip(EventsQuery {
            sandbox: None,
            after: None,
            limit: None,
            tail: Some(0),
        });
        round_trip(HostsQuery {
            since: Some("2h".into()),
            series: true,
        });
    }
}
