//! Routing: which of a profile's candidate extensions a create goes to, and why.
//! A candidate is excluded when it is not installed or does not start, cannot give
//! one of the profile's guarantees (TTL, isolation, egress, resources, secrets), reports no
//! reachable host (`host/health`), or would exceed a budget at its rate (a
//! hosted budget counts only hosted backends). The rest are ranked by the
//! profile's policy: `cheapest` by preference, then cost; `self-hosted-first`
//! by class (the operator's own backends first), then preference, then cost;
//! ties keep the order the profile lists them. `create` tries them in that
//! order, failing over on Unavailable and ResourceExhausted, which is how a
//! create spills over to hosted backends when the self-hosted hosts are full.

use super::budget::{BudgetRoom, Charge};
use super::guarantees::{Support, verdicts};
use super::{Core, Lease};
use crate::config::BackendClass;
use crate::error::{Error, Result};
use crate::profile::{Candidate, Profile, RoutingPolicy};
use crate::time::Millis;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{CostEstimate, CostEstimateParams, ErrorKind};
use serde::Serialize;

/// Guarantees a candidate must give (when the profile asks for them) to be
/// routed to; snapshots and exec are abilities used later, not promises made at
/// create.
const REQUIRED: &[&str] = &[
    "ttl",
    "isolation",
    "egress",
    "resources.cpus",
    "resources.memory_mb",
    "resources.disk_mb",
    "secrets",
];

/// What a create asks of the routing.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    pub profile: &'a Profile,
    pub consumer: &'a str,
    pub project: &'a str,
    pub host: Option<&'a str>,
    pub ttl_ms: Millis,
}

/// What a sandbox is charged per hour, and in which currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    pub per_hour: rust_decimal::Decimal,
    pub currency: String,
    /// `profile`, `cost/estimate` or `none`.
    pub source: &'static str,
}

/// One candidate as the routing judged it.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// `ext.<name>`.
    pub extension: String,
    /// Whose machines it runs on (`extensions.<name>.class`).
    pub class: BackendClass,
    pub prefer: i32,
    /// Its place in the order of tries (1 first); none when excluded.
    pub rank: Option<usize>,
    /// Why it is not tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// What `host/health` said, in a few words.
    pub health: String,
    /// The budgets that cover it, with what each had left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetRoom>,
}

/// The decision for one request: every candidate, those tried first first.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub profile: String,
    /// The profile's `routing.policy`.
    pub policy: RoutingPolicy,
    pub candidates: Vec<Assessment>,
}

impl Route {
    /// The extension a create would try first, if any.
    pub fn chosen(&self) -> Option<&Assessment> {
        self.candidates.iter().find(|c| c.rank == Some(1))
    }

    /// Why nothing can be tried, one line per candidate.
    pub fn refusal(&self) -> Error {
        let reasons: Vec<String> = self
            .candidates
            .iter()
            .map(|c| {
                format!(
                    "{}: {}",
                    c.extension,
                    c.excluded.as_deref().unwrap_or("not tried")
                )
            })
            .collect();
        Error::Refused(format!(
            "no candidate extension of {} can take this sandbox: {} \
             (`sandboxer route --profile {} --explain` shows each one's judgement)",
            self.profile,
            reasons.join("; "),
            self.profile
        ))
    }
}

/// A candidate that may be tried, started and ready.
pub struct Eligible {
    pub candidate: Candidate,
    pub lease: Lease,
    pub rate: Rate,
}

/// Judges every candidate of `request.profile`. The eligible ones come back
/// started, in the order to try them; the caller releases their leases.
pub async fn route(core: &Core, request: RouteRequest<'_>) -> Result<(Route, Vec<Eligible>)> {
    let mut judged: Vec<(Assessment, Option<Eligible>)> = vec![];
    for candidate in &request.profile.candidates {
        judged.push(judge(core, request, candidate).await);
    }
    // Stable: ties keep the profile's order.
    let policy = request.profile.routing.policy;
    judged.sort_by_key(|(a, _)| order_key(policy, a));
    let mut candidates = vec![];
    let mut eligible = vec![];
    for (mut assessment, started) in judged {
        if let Some(started) = started {
            eligible.push(started);
            assessment.rank = Some(eligible.len());
        }
        candidates.push(assessment);
    }
    let route = Route {
        profile: request.profile.id.clone(),
        policy,
        candidates,
    };
    Ok((route, eligible))
}

/// Where a judged candidate stands in the order of tries: eligible before
/// excluded; then by `policy`, `self-hosted-first` putting the class first;
/// then preference, then cost.
fn order_key(
    policy: RoutingPolicy,
    a: &Assessment,
) -> (bool, bool, std::cmp::Reverse<i32>, rust_decimal::Decimal) {
    let hosted_later = policy == RoutingPolicy::SelfHostedFirst && a.class == BackendClass::Hosted;
    let cost = a.rate.as_ref().map_or(Default::default(), |r| r.per_hour);
    (
        a.excluded.is_some(),
        hosted_later,
        std::cmp::Reverse(a.prefer),
        cost,
    )
}

/// The decision alone, for `sandboxer route`: the candidates are released.
pub async fn route_explained(core: &Core, request: RouteRequest<'_>) -> Result<Route> {
    let (decision, eligible) = route(core, request).await?;
    for e in eligible {
        e.lease.release().await;
    }
    Ok(decision)
}

async fn judge(
    core: &Core,
    request: RouteRequest<'_>,
    candidate: &Candidate,
) -> (Assessment, Option<Eligible>) {
    let mut assessment = Assessment {
        extension: candidate.extension.clone(),
        class: core.config.class_of(&candidate.extension),
        prefer: candidate.prefer,
        rank: None,
        excluded: None,
        rate: None,
        health: "not asked".into(),
        budgets: vec![],
    };
    let lease = match core
        .extension_for(
            candidate.extension_name(),
            request.consumer,
            request.project,
        )
        .await
    {
        Ok(lease) => lease,
        Err(e) => {
            assessment.excluded = Some(format!("cannot be used: {e}"));
            return (assessment, None);
        }
    };
    match check(core, request, candidate, &lease, &mut assessment).await {
        Ok(rate) => {
            let eligible = Eligible {
                candidate: candidate.clone(),
                lease,
                rate,
            };
            (assessment, Some(eligible))
        }
        Err(why) => {
            assessment.excluded = Some(why);
            lease.release().await;
            (assessment, None)
        }
    }
}

/// The candidate's rate when it passes every check, else why it does not.
async fn check(
    core: &Core,
    request: RouteRequest<'_>,
    candidate: &Candidate,
    lease: &Lease,
    assessment: &mut Assessment,
) -> std::result::Result<Rate, String> {
    let profile = request.profile;
    let policy = super::containment::check(lease, profile, request.host)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(v) = verdicts(profile, lease.info(), policy.as_ref())
        .into_iter()
        .find(|v| {
            (v.support == Support::Cannot && REQUIRED.contains(&v.guarantee))
                || v.support == Support::Refused
        })
    {
        return Err(format!(
            "cannot give {} ({}): {}",
            v.guarantee, v.asked, v.why
        ));
    }
    assessment.health = health(lease, request.host).await?;
    let rate = rate_of(profile, candidate, lease)
        .await
        .map_err(|e| e.to_string())?;
    assessment.rate = Some(rate.clone());
    assessment.budgets = super::budget::check_create(
        core,
        Charge {
            project: request.project,
            consumer: request.consumer,
            class: assessment.class,
            rate: rate.per_hour,
            currency: &rate.currency,
            ttl_ms: request.ttl_ms,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(rate)
}

/// A few words on the hosts `lease` reports, or why none will do.
async fn health(lease: &Lease, host: Option<&str>) -> std::result::Result<String, String> {
    let Some(answer) = super::telemetry::host_health(lease, host).await else {
        return Ok("not reported".into());
    };
    let result = answer.map_err(|e| format!("host/health failed: {e}"))?;
    let up = result.hosts.iter().filter(|h| h.reachable).count();
    if up == 0 {
        let down: Vec<String> = result
            .hosts
            .iter()
            .map(|h| format!("{} ({})", h.host, h.error.as_deref().unwrap_or("down")))
            .collect();
        return Err(format!("no reachable host: {}", down.join(", ")));
    }
    Ok(format!("{up} of {} hosts reachable", result.hosts.len()))
}

/// The profile's rate, else the extension's estimate for an hour, else nothing.
pub async fn rate_of(profile: &Profile, candidate: &Candidate, lease: &Lease) -> Result<Rate> {
    if let Some(cost) = &profile.cost {
        return Ok(Rate {
            per_hour: cost.per_hour,
            currency: cost.currency.clone(),
            source: "profile",
        });
    }
    if !lease.offers::<m::CostEstimate>() {
        return Ok(Rate {
            per_hour: Default::default(),
            currency: "USD".into(),
            source: "none",
        });
    }
    let params = CostEstimateParams {
        profile: profile
            .to_wire_for(&candidate.extension)
            .for_peer(lease.peer_version()),
        resources: profile.resources.clone(),
        duration_s: 3600,
    };
    // A negative or unreadable amount is refused as the answer is read.
    let estimate: CostEstimate = lease.request::<m::CostEstimate>(&params).await?;
    Ok(Rate {
        per_hour: estimate.amount,
        currency: estimate.currency,
        source: m::CostEstimate::METHOD,
    })
}

/// Whether a failed create should be tried on the next candidate: the backend
/// said it cannot take it now, not that the request is wrong.
pub fn fails_over(error: &Error) -> bool {
    matches!(
        error,
        Error::Extension(e) if matches!(
            e.remote_kind(),
            Some(ErrorKind::Unavailable | ErrorKind::ResourceExhausted)
        )
    )
}
