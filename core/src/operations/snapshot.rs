//! Snapshots through the protocol's optional methods: take one of a sandbox,
//! restore one into a new sandbox, list and delete them. Each is recorded and
//! attributed like the sandbox it came from.

use super::Core;
use super::create::create_idempotent;
use super::request::{CreateOutcome, CreateRequest};
use crate::error::{Error, Result};
use crate::exthost::HostError;
use crate::store::{EventKind, SnapshotRecord};
use crate::time::now_ms;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{SnapshotDeleteParams, SnapshotParams};
use serde_json::json;

fn unsupported(extension: &str, method: &str) -> Error {
    Error::Extension(HostError::Unsupported {
        name: extension.trim_start_matches("ext.").to_string(),
        method: method.to_string(),
    })
}

/// Takes snapshot `name` of sandbox `id` (the same name again is the same snapshot).
pub async fn snapshot(core: &Core, id: &str, name: &str, actor: &str) -> Result<SnapshotRecord> {
    if name.is_empty()
        || name.len() > 63
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(Error::Invalid(format!(
            "snapshot name {name:?} is invalid: 1 to 63 letters, digits, '-', '_' or '.'"
        )));
    }
    if actor != super::SYSTEM {
        super::touch(core, id);
    }
    let _guard = core.lock(id).await;
    let record = core.record(id)?;
    if !record.state.is_usable() {
        return Err(Error::Refused(format!(
            "sandbox {id} is {}; only a ready or active sandbox can be snapshotted",
            record.state
        )));
    }
    let client = core.extension_of(&record).await?;
    if !client.offers::<m::SandboxSnapshot>() {
        client.release().await;
        return Err(unsupported(&record.extension, m::SandboxSnapshot::METHOD));
    }
    let params = SnapshotParams {
        sandbox_id: id.to_string(),
        snapshot_name: name.to_string(),
    };
    let answer = client.request::<m::SandboxSnapshot>(&params).await;
    client.release().await;
    let snapshot = answer?;
    // Kept snapshots are charged at the profile's snapshot rate (none if the
    // profile is gone from the catalog or sets none).
    let cost = core
        .catalog()
        .get(&record.profile_id)
        .ok()
        .and_then(|p| p.cost.clone());
    let snap = SnapshotRecord {
        id: snapshot.snapshot_id.clone(),
        extension: record.extension.clone(),
        sandbox_id: id.to_string(),
        name: name.to_string(),
        profile_id: record.profile_id.clone(),
        consumer: record.consumer.clone(),
        project: record.project.clone(),
        created_at: now_ms(),
        deleted_at: None,
        details: snapshot.details,
        cost_per_hour: cost
            .as_ref()
            .map_or(Default::default(), |c| c.snapshot_per_hour),
        currency: cost.map_or_else(|| record.currency.clone(), |c| c.currency),
        host: record.host.clone(),
    };
    core.store().insert_snapshot(&snap)?;
    core.store().record_event(
        id,
        actor,
        EventKind::SnapshotTaken,
        json!({ "snapshot_id": snap.id, "name": name }),
    )?;
    Ok(core.store().get_snapshot(&snap.id)?.unwrap_or(snap))
}

/// The snapshot with this id (not deleted), or not found.
/// A snapshot's record, deleted or not, or SnapshotNotFound.
pub fn snapshot_record(core: &Core, snapshot_id: &str) -> Result<SnapshotRecord> {
    core.store()
        .get_snapshot(snapshot_id)?
        .ok_or_else(|| Error::SnapshotNotFound(snapshot_id.to_string()))
}

pub fn find_snapshot(core: &Core, snapshot_id: &str) -> Result<SnapshotRecord> {
    match core.store().get_snapshot(snapshot_id)? {
        Some(s) if s.deleted_at.is_none() => Ok(s),
        _ => Err(Error::SnapshotNotFound(snapshot_id.to_string())),
    }
}

/// Restores a snapshot into a new sandbox of the source's profile. `request`
/// gives lifetime, labels, placement and attribution (its profile is ignored).
pub async fn restore(
    core: &Core,
    snapshot_id: &str,
    mut request: CreateRequest,
) -> Result<CreateOutcome> {
    let snap = find_snapshot(core, snapshot_id)?;
    request.profile = snap.profile_id.clone();
    request.from_snapshot = Some(snap.id.clone());
    create_idempotent(core, request).await
}

/// Snapshots not deleted (of one project, or all).
pub fn list_snapshots(core: &Core, project: Option<&str>) -> Result<Vec<SnapshotRecord>> {
    Ok(core.store().list_snapshots(project)?)
}

/// Deletes a snapshot; deleting one already deleted succeeds.
pub async fn delete_snapshot(
    core: &Core,
    snapshot_id: &str,
    actor: &str,
) -> Result<SnapshotRecord> {
    let snap = match core.store().get_snapshot(snapshot_id)? {
        Some(s) => s,
        None => return Err(Error::SnapshotNotFound(snapshot_id.to_string())),
    };
    if snap.deleted_at.is_some() {
        return Ok(snap);
    }
    let client = core
        .extension_for(&snap.extension, &snap.consumer, &snap.project)
        .await?;
    if !client.offers::<m::SnapshotDelete>() {
        client.release().await;
        return Err(unsupported(&snap.extension, m::SnapshotDelete::METHOD));
    }
    let answer = client
        .request::<m::SnapshotDelete>(&SnapshotDeleteParams {
            snapshot_id: snap.id.clone(),
        })
        .await;
    client.release().await;
    answer?;
    core.store()
        .mark_snapshot_deleted(&snap.extension, &snap.id, now_ms())?;
    core.store().record_event(
        &snap.sandbox_id,
        actor,
        EventKind::SnapshotDeleted,
        json!({ "snapshot_id": snap.id }),
    )?;
    Ok(core.store().get_snapshot(&snap.id)?.unwrap_or(snap))
}
