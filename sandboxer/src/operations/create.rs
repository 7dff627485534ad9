//! `create` and `recreate`: resolve the profile, TTL, labels and secrets; record
//! the intent (`pending`) before the extension is called; then provision, and wait
//! for `ready` when asked.

use super::Core;
use crate::attribution::Attribution;
use crate::error::{Error, Result};
use crate::exthost::ExtensionClient;
use crate::labels::{LABEL_ID, with_core_labels};
use crate::lifecycle::State;
use crate::profile::Profile;
use crate::store::{Change, NewSandbox, SandboxRecord};
use crate::time::{duration_ms, format_duration, now_ms, rfc3339};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{
    BackendState, CostEstimate, CostEstimateParams, CreateParams, GetParams, Labels, Placement,
    RestoreParams, Sandbox, Secrets,
};
use serde_json::json;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often `--wait` asks the extension whether the sandbox is ready.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// A request for a new sandbox.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// `profile.<name>` or `<name>`.
    pub profile: String,
    /// Lifetime; the profile's default when `None`.
    pub ttl: Option<Duration>,
    /// User labels (no `sandboxer.` keys).
    pub labels: Labels,
    pub host: Option<String>,
    pub attribution: Attribution,
    /// Return only once the sandbox is ready (or failed).
    pub wait: bool,
    /// A retried request with the same key (per consumer) gets the same sandbox.
    pub idempotency_key: Option<String>,
    /// Restore this snapshot (of the extension's) instead of creating afresh.
    pub from_snapshot: Option<String>,
}

/// A created sandbox, or the one an earlier request with the same idempotency
/// key created.
#[derive(Debug, Clone)]
pub struct CreateOutcome {
    pub record: SandboxRecord,
    pub reused: bool,
}

/// Creates a sandbox. Returns its record in whatever state provisioning reached:
/// `ready`, or `provisioning` when not waiting. A failed provisioning is recorded
/// as `failed` and returned as an error.
pub async fn create(core: &Core, request: CreateRequest) -> Result<SandboxRecord> {
    Ok(create_idempotent(core, request).await?.record)
}

/// `create`, telling whether an earlier request with the same idempotency key
/// already made the sandbox.
pub async fn create_idempotent(core: &Core, request: CreateRequest) -> Result<CreateOutcome> {
    let actor = request.attribution.consumer.to_string();
    create_replacing(core, request, None, &actor).await
}

/// Creates a sandbox, recording `actor` as the one who asked (the consumer it is
/// charged to may differ, for a recreate).
async fn create_replacing(
    core: &Core,
    request: CreateRequest,
    replaces: Option<&str>,
    actor: &str,
) -> Result<CreateOutcome> {
    let profile = core.catalog().get(&request.profile)?.clone();
    let ttl = request.ttl.unwrap_or(profile.ttl.default);
    if ttl > profile.ttl.max {
        return Err(Error::Refused(format!(
            "--ttl {} is longer than {}'s ceiling of {}; ask for {} or less",
            format_duration(ttl),
            profile.id,
            format_duration(profile.ttl.max),
            format_duration(profile.ttl.max),
        )));
    }
    let consumer = request.attribution.consumer.to_string();
    let earlier = match &request.idempotency_key {
        Some(key) => core.store().sandbox_for_key(&consumer, key)?,
        None => None,
    };
    if let Some(earlier) = earlier {
        return Ok(CreateOutcome {
            record: core.record(&earlier)?,
            reused: true,
        });
    }
    // Everything that can fail on bad input, or be refused, fails before anything
    // is recorded (starting the extension creates nothing on the backend).
    let secrets = crate::secrets::resolve(&profile.secrets)?;
    let found = crate::exthost::find(profile.extension_name())?;
    let client = core
        .extension_for(&found.name, &consumer, &request.attribution.project)
        .await?;
    let rate = match rate_of(&profile, &client).await.and_then(|rate| {
        super::budget::check_create(
            core,
            &request.attribution.project,
            &consumer,
            rate.per_hour,
            &rate.currency,
            duration_ms(ttl),
        )
        .map(|()| rate)
    }) {
        Ok(rate) => rate,
        Err(e) => {
            client.release().await;
            return Err(e);
        }
    };

    let id = crate::ids::new_sandbox_id();
    let _guard = core.lock(&id).await;
    let consumer_for_key = consumer.clone();
    let mut user_labels = profile.labels.clone();
    user_labels.extend(request.labels.clone());
    let labels = with_core_labels(
        &user_labels,
        &id,
        &consumer,
        &request.attribution.project,
        &profile.id,
    );
    let created_at = now_ms();
    let new = NewSandbox {
        id: id.clone(),
        profile_id: profile.id.clone(),
        profile_version: profile.version.clone(),
        extension: profile.extension.clone(),
        consumer,
        project: request.attribution.project.clone(),
        host: request.host.clone(),
        labels: labels.clone(),
        ttl_ms: duration_ms(ttl),
        created_at,
        expires_at: created_at + duration_ms(ttl),
        ceiling_at: created_at + duration_ms(profile.ttl.max),
        cost_per_hour: rate.per_hour,
        currency: rate.currency,
        replaces: replaces.map(str::to_string),
        resources: profile.resources.clone(),
        idle_ms: profile.ttl.idle.map(duration_ms),
    };
    let inserted = match &request.idempotency_key {
        Some(key) => core
            .store()
            .insert_sandbox_keyed(&new, actor, &consumer_for_key, key),
        None => core.store().insert_sandbox(&new, actor).map(Ok),
    };
    let inserted = match inserted {
        Ok(inserted) => inserted,
        Err(e) => {
            client.release().await;
            return Err(e.into());
        }
    };
    if let Err(earlier) = inserted {
        client.release().await;
        return Ok(CreateOutcome {
            record: core.record(&earlier)?,
            reused: true,
        });
    }
    let provisioning = core.store().transition(
        &id,
        State::Provisioning,
        actor,
        Change::default(),
        json!({
            "extension": profile.extension,
            "path": found.path.display().to_string(),
            "restored_from": request.from_snapshot,
        }),
    );
    let (record, _) = match provisioning {
        Ok(moved) => moved,
        Err(e) => {
            client.release().await;
            return Err(e.into());
        }
    };
    let outcome = provision(core, &client, &profile, &record, secrets, &request, actor).await;
    client.release().await;
    match outcome {
        Ok(record) => Ok(CreateOutcome {
            record,
            reused: false,
        }),
        Err(e) => Err(fail(core, &id, actor, e)),
    }
}

/// What a sandbox is charged per hour, and in which currency.
struct Rate {
    per_hour: f64,
    currency: String,
}

/// The profile's rate, else the extension's estimate for an hour, else nothing.
async fn rate_of(profile: &Profile, client: &ExtensionClient) -> Result<Rate> {
    if let Some(cost) = &profile.cost {
        return Ok(Rate {
            per_hour: cost.per_hour,
            currency: cost.currency.clone(),
        });
    }
    if !client.supports(m::COST_ESTIMATE) {
        return Ok(Rate {
            per_hour: 0.0,
            currency: "USD".into(),
        });
    }
    let params = CostEstimateParams {
        profile: profile.to_wire(),
        resources: profile.resources.clone(),
        duration_s: 3600,
    };
    let estimate: CostEstimate = client.call(m::COST_ESTIMATE, &params).await?;
    if !(estimate.amount.is_finite() && estimate.amount >= 0.0) {
        return Err(Error::Backend(format!(
            "extension {} estimated an hour of {} at {} {}: not a cost",
            client.name(),
            profile.id,
            estimate.amount,
            estimate.currency
        )));
    }
    Ok(Rate {
        per_hour: estimate.amount,
        currency: estimate.currency,
    })
}

/// Records the failure on the sandbox (unless it already moved on) and hands the
/// error back.
fn fail(core: &Core, id: &str, actor: &str, error: Error) -> Error {
    let change = Change {
        last_error: Some(Some(error.to_string())),
        ..Change::default()
    };
    let detail = json!({ "error": error.to_string() });
    if let Err(e) = core
        .store()
        .transition(id, State::Failed, actor, change, detail)
    {
        tracing::warn!(sandbox = id, "could not record the failure: {e}");
    }
    error
}

/// The fields of a backend report worth keeping on the record.
fn observed(sandbox: &Sandbox) -> Change {
    Change {
        backend_ref: Some(sandbox.backend_ref.clone()).filter(|r| !r.is_empty()),
        endpoints: Some(sandbox.endpoints.clone()),
        details: Some(sandbox.details.clone()),
        host: sandbox
            .details
            .get("host")
            .and_then(|h| h.as_str())
            .map(str::to_string),
        last_error: None,
    }
}

async fn provision(
    core: &Core,
    client: &ExtensionClient,
    profile: &Profile,
    record: &SandboxRecord,
    secrets: Secrets,
    request: &CreateRequest,
    actor: &str,
) -> Result<SandboxRecord> {
    let id = record.id.clone();
    let token = json!(id);
    let mut progress = client.subscribe_progress(&token);
    let show_progress = std::io::stderr().is_terminal();
    let params = CreateParams {
        sandbox_id: id.clone(),
        profile: profile.to_wire(),
        placement: Placement {
            host: request.host.clone(),
        },
        labels: record.labels.clone(),
        secrets,
        network: profile.network.clone(),
        resources: profile.resources.clone(),
        expires_at: rfc3339(record.expires_at),
        progress_token: Some(token),
    };
    let call = async {
        match &request.from_snapshot {
            None => client.call::<_, Sandbox>(m::SANDBOX_CREATE, &params).await,
            Some(snapshot_id) => {
                let restore = RestoreParams {
                    snapshot_id: snapshot_id.clone(),
                    create: params.clone(),
                };
                client
                    .call::<_, Sandbox>(m::SANDBOX_RESTORE, &restore)
                    .await
            }
        }
    };
    tokio::pin!(call);
    let sandbox = loop {
        tokio::select! {
            result = &mut call => break result?,
            Some(p) = progress.recv() => {
                let percent = p.percent.map(|p| format!(" ({p}%)")).unwrap_or_default();
                tracing::info!(sandbox = %id, "{}{percent}", p.message);
                if show_progress {
                    eprintln!("{id}: {}{percent}", p.message);
                }
            }
        }
    };
    if sandbox.sandbox_id != id || sandbox.labels.get(LABEL_ID) != Some(&id) {
        return Err(Error::Backend(format!(
            "extension {} answered create of {id} with sandbox {:?} labelled {:?}; \
             every resource must carry sandboxer.id={id}",
            client.name(),
            sandbox.sandbox_id,
            sandbox.labels.get(LABEL_ID)
        )));
    }
    settle(core, client, &id, actor, sandbox, request.wait).await
}

/// Moves the record to match the backend's report, polling while it provisions
/// when `wait` is set.
async fn settle(
    core: &Core,
    client: &ExtensionClient,
    id: &str,
    actor: &str,
    mut sandbox: Sandbox,
    wait: bool,
) -> Result<SandboxRecord> {
    let deadline = Instant::now() + core.config.timeouts().create;
    loop {
        match sandbox.state {
            BackendState::Ready => {
                let (record, _) = core.store().transition(
                    id,
                    State::Ready,
                    actor,
                    observed(&sandbox),
                    json!({ "backend_ref": sandbox.backend_ref }),
                )?;
                return Ok(record);
            }
            BackendState::Failed | BackendState::Stopped => {
                return Err(Error::Backend(format!(
                    "extension {} reports sandbox {id} as {} after create: {}",
                    client.name(),
                    sandbox.state.as_str(),
                    serde_json::Value::Object(sandbox.details.clone())
                )));
            }
            BackendState::Provisioning if !wait => {
                return Ok(core.store().observe(id, observed(&sandbox))?);
            }
            BackendState::Provisioning => {
                if Instant::now() >= deadline {
                    return Err(Error::Backend(format!(
                        "sandbox {id} was still provisioning after {}",
                        format_duration(core.config.timeouts().create)
                    )));
                }
                tokio::time::sleep(WAIT_POLL).await;
                let params = GetParams {
                    sandbox_id: id.to_string(),
                    backend_ref: Some(sandbox.backend_ref.clone()).filter(|r| !r.is_empty()),
                };
                sandbox = client.call(m::SANDBOX_GET, &params).await?;
            }
        }
    }
}

/// Replaces a sandbox with a new one of the same profile, labels, placement,
/// attribution and lifetime (capped by the profile's ceiling): the old one is
/// destroyed first, the new one gets a new id, and both records point at each
/// other.
pub async fn recreate(
    core: &Core,
    id: &str,
    actor: &str,
    wait: bool,
) -> Result<(SandboxRecord, SandboxRecord)> {
    let old = core.record(id)?;
    if old.state != State::Destroyed {
        super::destroy(core, id, actor).await?;
    }
    let attribution = Attribution {
        consumer: old.consumer.parse().map_err(Error::Invalid)?,
        project: old.project.clone(),
    };
    let labels: Labels = old
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with("sandboxer."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let profile = core.catalog().get(&old.profile_id)?;
    let ttl = Duration::from_millis(old.ttl_ms.max(0) as u64).min(profile.ttl.max);
    let request = CreateRequest {
        profile: old.profile_id.clone(),
        ttl: Some(ttl),
        labels,
        host: old.host.clone(),
        attribution,
        wait,
        idempotency_key: None,
        from_snapshot: None,
    };
    let new = create_replacing(core, request, Some(id), actor)
        .await?
        .record;
    core.store().link_replacement(id, &new.id, actor)?;
    let old = core.record(id)?;
    Ok((old, new))
}
