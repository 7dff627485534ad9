//! A sandbox's HTTP endpoints through the daemon's proxy: which endpoint a
//! name is, whether its profile serves it to anyone, and how to reach it (the
//! URLs, the token, a signed URL; `crate::endpoints`).

use super::Core;
use crate::endpoints::{self, EndpointAccess, EndpointKey};
use crate::error::{Error, Result};
use crate::store::SandboxRecord;
use sandboxer_ext_protocol::{Endpoint, EndpointProtocol};

/// The HTTP endpoint `name` of a sandbox.
pub fn http_endpoint(record: &SandboxRecord, name: &str) -> Result<Endpoint> {
    let http: Vec<&Endpoint> = record
        .endpoints
        .iter()
        .filter(|e| e.protocol == EndpointProtocol::Http)
        .collect();
    http.iter()
        .find(|e| e.name == name)
        .map(|e| (*e).clone())
        .ok_or_else(|| {
            let names: Vec<&str> = http.iter().map(|e| e.name.as_str()).collect();
            Error::Invalid(format!(
                "sandbox {} has no HTTP endpoint {name:?}; it has {}",
                record.id,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

/// Whether the sandbox's profile lists `name` in `public_endpoints`.
pub fn is_public(core: &Core, record: &SandboxRecord, name: &str) -> bool {
    core.catalog()
        .get(&record.profile_id)
        .is_ok_and(|p| p.public_endpoints.iter().any(|e| e == name))
}

impl Core {
    /// The key endpoint tokens are made with, read (or made) once.
    pub fn endpoint_key(&self) -> Result<EndpointKey> {
        if let Some(key) = self.endpoint_key.get() {
            return Ok(key.clone());
        }
        let path = endpoints::key_path(&self.config.daemon.proxy, self.store().path());
        let key = EndpointKey::load_or_create(&path)?;
        Ok(self.endpoint_key.get_or_init(|| key).clone())
    }
}

/// How to reach endpoint `name` of `record`, a signed URL holding
/// `valid_for_s` seconds.
pub fn endpoint_access(
    core: &Core,
    record: &SandboxRecord,
    name: &str,
    valid_for_s: i64,
) -> Result<EndpointAccess> {
    if !record.state.is_live() {
        return Err(Error::Refused(format!(
            "sandbox {} is {}; its endpoints are reached only while it is ready, active or paused",
            record.id, record.state
        )));
    }
    http_endpoint(record, name)?;
    Ok(endpoints::access(
        &core.endpoint_key()?,
        &core.config.daemon.proxy,
        &core.config.daemon.listen,
        &record.id,
        name,
        is_public(core, record, name),
        valid_for_s,
        crate::time::now_ms(),
    ))
}
