//! `create` and `recreate`: resolve the profile, TTL, labels and secrets; record
//! the intent (`pending`) before the extension is called; then provision, and wait
//! for `ready` when asked.

use super::Core;
use super::request::{CreateOutcome, CreateRequest};
use super::routing::{self, Eligible, RouteRequest};
use crate::attribution::Attribution;
use crate::error::{Error, Result};
use crate::exthost::ExtensionClient;
use crate::labels::{LABEL_ID, with_core_labels};
use crate::lifecycle::State;
use crate::profile::Profile;
use crate::store::EventKind;
use crate::store::{Change, IdempotencyKey, KeyUse, NewSandbox, SandboxRecord};
use crate::time::{duration_ms, format_duration, now_ms, rfc3339};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{
    BackendState, CreateParams, DestroyParams, GetParams, Labels, Placement, RestoreParams,
    Sandbox, Secrets,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// How often `--wait` asks the extension whether the sandbox is ready.
const WAIT_POLL: Duration = Duration::from_millis(500);

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
    create_replacing(core, request, None, &actor, None).await
}

/// Creates a sandbox for its profile's warm pool (see `pools`).
pub(super) async fn create_for_pool(core: &Core, request: CreateRequest) -> Result<SandboxRecord> {
    let actor = request.attribution.consumer.to_string();
    let pool = request.profile.clone();
    Ok(create_replacing(core, request, None, &actor, Some(&pool))
        .await?
        .record)
}

/// Creates a sandbox, recording `actor` as the one who asked (the consumer it is
/// charged to may differ, for a recreate). With `pool`, the sandbox is made to
/// wait in that profile's warm pool; otherwise a pooled one is taken when ready.
async fn create_replacing(
    core: &Core,
    request: CreateRequest,
    replaces: Option<&str>,
    actor: &str,
    pool: Option<&str>,
) -> Result<CreateOutcome> {
    if let Some(host) = &request.host {
        sandboxer_ext_protocol::names::validate_host_name(host)
            .map_err(|e| Error::Invalid(e.to_string()))?;
    }
    let mut profile = core.catalog().get(&request.profile)?.clone();
    if let Some(snapshot_id) = &request.from_snapshot
        && let Some(snapshot) = core.store().get_snapshot(snapshot_id)?
    {
        // A snapshot is restored by the extension that holds it.
        pin_extension(&mut profile, &snapshot.extension);
    }
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
    let key = request
        .idempotency_key
        .as_ref()
        .map(|key| idempotency_key(&request, &profile, ttl, key));
    let earlier = match &key {
        Some(key) => core.store().sandbox_for_key(key)?,
        None => None,
    };
    if let Some(earlier) = earlier {
        return reuse(core, key.as_ref().expect("a key was used"), earlier);
    }
    let warm = profile.pool.is_some()
        && pool.is_none()
        && replaces.is_none()
        && request.from_snapshot.is_none()
        && request.idempotency_key.is_none();
    if warm && let Some(record) = super::pools::claim(core, &profile, &request, ttl).await? {
        return Ok(CreateOutcome {
            record,
            reused: false,
        });
    }
    // Everything that can fail on bad input, or be refused, fails before anything
    // is recorded (starting an extension creates nothing on the backend).
    let secrets = crate::secrets::resolve_off_runtime(&profile.secrets).await?;
    let installation = core.installation()?;
    let route = RouteRequest {
        profile: &profile,
        consumer: &consumer,
        project: &request.attribution.project,
        host: request.host.as_deref(),
        ttl_ms: duration_ms(ttl),
    };
    let mut tries = candidates_to_try(core, route).await?.into_iter();
    let first = tries.next().expect("at least one candidate to try");
    let several = profile.candidates.len() > 1;

    let id = crate::ids::new_sandbox_id();
    let _guard = core.lock(&id).await;
    let mut user_labels = profile.labels.clone();
    user_labels.extend(request.labels.clone());
    let labels = with_core_labels(
        &user_labels,
        &id,
        &consumer,
        &request.attribution.project,
        &profile.id,
        &installation,
    );
    let created_at = now_ms();
    let new = NewSandbox {
        id: id.clone(),
        profile_id: profile.id.clone(),
        profile_version: profile.version.clone(),
        extension: first.candidate.extension.clone(),
        consumer,
        project: request.attribution.project.clone(),
        host: request.host.clone(),
        labels: labels.clone(),
        ttl_ms: duration_ms(ttl),
        created_at,
        expires_at: created_at + duration_ms(ttl),
        ceiling_at: created_at + duration_ms(profile.ttl.max),
        cost_per_hour: first.rate.per_hour,
        currency: first.rate.currency.clone(),
        replaces: replaces.map(str::to_string),
        resources: profile.resources.clone(),
        // A pooled sandbox waits unused by design; the claim sets the timeout.
        idle_ms: profile.ttl.idle.map(duration_ms).filter(|_| pool.is_none()),
        pool: pool.map(str::to_string),
    };
    let inserted = match &key {
        Some(key) => core.store().insert_sandbox_keyed(&new, actor, key),
        None => core.store().insert_sandbox(&new, actor).map(Ok),
    };
    let inserted = match inserted {
        Ok(inserted) => inserted,
        Err(e) => {
            release_all(std::iter::once(first).chain(tries)).await;
            return Err(e.into());
        }
    };
    if let Err(earlier) = inserted {
        release_all(std::iter::once(first).chain(tries)).await;
        return reuse(core, key.as_ref().expect("a key was used"), earlier);
    }
    let provisioning = core.store().transition(
        &id,
        State::Provisioning,
        actor,
        Change::default(),
        json!({
            "extension": first.candidate.extension,
            "path": first.lease.path().display().to_string(),
            "restored_from": request.from_snapshot,
        }),
    );
    let (mut record, _) = match provisioning {
        Ok(moved) => moved,
        Err(e) => {
            release_all(std::iter::once(first).chain(tries)).await;
            return Err(e.into());
        }
    };
    let mut attempt = Some(first);
    let mut number = 0;
    while let Some(now) = attempt.take() {
        number += 1;
        let outcome = provision(
            core,
            &now.lease,
            &profile,
            &record,
            secrets.clone(),
            &request,
            actor,
        )
        .await;
        let next = match &outcome {
            Err(e) if routing::fails_over(e) => tries.next(),
            _ => None,
        };
        if next.is_some() {
            // Whatever the refusing backend may have begun goes first (destroy is
            // idempotent), so the record never points away from leftovers; they
            // carry the sandbox's id label all the same.
            let params = DestroyParams {
                sandbox_id: id.clone(),
                backend_ref: None,
            };
            if let Err(e) = now.lease.request::<m::SandboxDestroy>(&params).await {
                tracing::warn!(sandbox = %id, extension = %now.candidate.extension, "cleaning up a failed attempt: {e}");
            }
        }
        if several {
            let detail = json!({
                "attempt": number,
                "extension": now.candidate.extension,
                "outcome": if outcome.is_ok() { "created" } else { "failed" },
                "error": outcome.as_ref().err().map(|e| e.to_string()),
                "next": next.as_ref().map(|n| n.candidate.extension.clone()),
            });
            let recorded = match &next {
                Some(n) => core
                    .store()
                    .reroute(
                        &id,
                        &n.candidate.extension,
                        n.rate.per_hour,
                        &n.rate.currency,
                        actor,
                        detail,
                    )
                    .map(|moved| record = moved),
                None => core
                    .store()
                    .record_event(&id, actor, EventKind::CreateAttempt, detail)
                    .map(drop),
            };
            match recorded {
                Err(e) if next.is_some() => {
                    now.lease.release().await;
                    release_all(next.into_iter().chain(tries)).await;
                    // Without the record moved, the next backend must not be asked.
                    return Err(fail(core, &id, actor, e.into()));
                }
                Err(e) => {
                    tracing::warn!(sandbox = %id, "could not record create attempt {number}: {e}")
                }
                Ok(()) => {}
            }
        }
        now.lease.release().await;
        match outcome {
            Ok(record) => {
                release_all(tries).await;
                return Ok(CreateOutcome {
                    record,
                    reused: false,
                });
            }
            Err(e) if next.is_none() => {
                release_all(tries).await;
                return Err(fail(core, &id, actor, e));
            }
            Err(_) => attempt = next,
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// The key of a create, scoped to its project and consumer, with a fingerprint of
/// everything that decides what the create makes.
fn idempotency_key(
    request: &CreateRequest,
    profile: &Profile,
    ttl: Duration,
    key: &str,
) -> IdempotencyKey {
    use sha2::Digest;
    let asked = json!({
        "profile": profile.id,
        "ttl_ms": duration_ms(ttl),
        "labels": request.labels,
        "host": request.host,
        "from_snapshot": request.from_snapshot,
    });
    let digest = sha2::Sha256::digest(asked.to_string().as_bytes());
    IdempotencyKey {
        project: request.attribution.project.clone(),
        consumer: request.attribution.consumer.to_string(),
        key: key.to_string(),
        fingerprint: digest.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Answers a repeated key with the sandbox its first use made, unless the request
/// differs from that first one.
fn reuse(core: &Core, key: &IdempotencyKey, earlier: KeyUse) -> Result<CreateOutcome> {
    if earlier
        .fingerprint
        .as_ref()
        .is_some_and(|f| *f != key.fingerprint)
    {
        return Err(Error::IdempotencyMismatch(format!(
            "Idempotency-Key {:?} was used for a different create (sandbox {}); use a new key \
             for a new request",
            key.key, earlier.sandbox_id
        )));
    }
    Ok(CreateOutcome {
        record: core.record(&earlier.sandbox_id)?,
        reused: true,
    })
}

/// The candidates a create tries, in order. A profile with one extension keeps
/// its errors as they are (did-you-mean, budget, its containment policy's
/// refusal); with several, routing decides (a candidate whose policy refuses the
/// profile is not eligible) and a refusal names every candidate's reason.
async fn candidates_to_try(core: &Core, route: RouteRequest<'_>) -> Result<Vec<Eligible>> {
    if let [candidate] = route.profile.candidates.as_slice() {
        let lease = core
            .extension_for(candidate.extension_name(), route.consumer, route.project)
            .await?;
        let rate = routing::rate_of(route.profile, candidate, &lease)
            .await
            .and_then(|rate| {
                super::budget::check_create(
                    core,
                    super::budget::Charge {
                        project: route.project,
                        consumer: route.consumer,
                        class: core.config.class_of(&candidate.extension),
                        rate: rate.per_hour,
                        currency: &rate.currency,
                        ttl_ms: route.ttl_ms,
                    },
                )
                .map(|_| rate)
            });
        let admitted = match rate {
            Ok(rate) => match super::containment::check(&lease, route.profile, route.host).await {
                Ok(Some(verdict)) if !verdict.refused.is_empty() => Err(
                    super::containment::refusal(route.profile, lease.name(), &verdict),
                ),
                Ok(_) => Ok(rate),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        return match admitted {
            Ok(rate) => Ok(vec![Eligible {
                candidate: candidate.clone(),
                lease,
                rate,
            }]),
            Err(e) => {
                lease.release().await;
                Err(e)
            }
        };
    }
    let (decision, eligible) = routing::route(core, route).await?;
    if eligible.is_empty() {
        return Err(decision.refusal());
    }
    Ok(eligible)
}

/// Leaves `profile` only `extension` as its candidate.
fn pin_extension(profile: &mut Profile, extension: &str) {
    let kept = profile
        .candidates
        .iter()
        .find(|c| c.extension == extension)
        .cloned()
        .unwrap_or(crate::profile::Candidate {
            extension: extension.to_string(),
            prefer: 0,
            spec: None,
        });
    profile.extension = kept.extension.clone();
    profile.candidates = vec![kept];
}

async fn release_all(tries: impl IntoIterator<Item = Eligible>) {
    for t in tries {
        t.lease.release().await;
    }
}

/// Records the failure on the sandbox (unless it already moved on) and hands the
/// error back.
fn fail(core: &Core, id: &str, actor: &str, error: Error) -> Error {
    if !core.record_failure(id, actor, &error.to_string()) {
        tracing::warn!(sandbox = id, "could not record the failure: {error}");
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
        ..Change::default()
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
    // Whatever the extension says from here on (answers, errors, logs, stderr) is
    // redacted of these values before anyone stores, logs or returns it.
    client.protect(&secrets);
    let token = json!(id);
    let mut progress = client.subscribe_progress(&token);
    let params = CreateParams {
        sandbox_id: id.clone(),
        profile: profile
            .to_wire_for(client.name())
            .for_peer(client.peer_version()),
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
            None => client.request::<m::SandboxCreate>(&params).await,
            Some(snapshot_id) => {
                let restore = RestoreParams {
                    snapshot_id: snapshot_id.clone(),
                    create: params.clone(),
                };
                client.request::<m::SandboxRestore>(&restore).await
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
                if let Some(sink) = &request.progress {
                    (sink.0)(&format!("{id}: {}{percent}", p.message));
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
            BackendState::Failed | BackendState::Stopped | BackendState::Paused => {
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
                sandbox = client.request::<m::SandboxGet>(&params).await?;
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
        progress: None,
    };
    let new = create_replacing(core, request, Some(id), actor, None)
        .await?
        .record;
    core.store().link_replacement(id, &new.id, actor)?;
    let old = core.record(id)?;
    Ok((old, new))
}
