//! `exec`: run a command in a sandbox through its extension. The first use of a
//! `ready` sandbox makes it `active`.

use super::Core;
use crate::error::{Error, Result};
use crate::lifecycle::State;
use crate::store::Change;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{ExecParams, ExecResult};
use serde_json::json;
use std::time::Duration;

/// The longest a single command may be given to run (a day).
pub const MAX_EXEC_TIMEOUT_S: u64 = 24 * 3600;

/// How much longer than the command's timeout the host waits for the answer,
/// so that the extension's own DeadlineExceeded (the command killed) comes
/// first.
const ANSWER_MARGIN: Duration = Duration::from_secs(10);

/// A command to run (the body of `POST /v1/sandboxes/{id}/exec`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    /// The part of the sandbox to run it in (a compose service); the backend's
    /// default when `None`.
    pub service: Option<String>,
    pub stdin: Option<String>,
    pub timeout_s: Option<u64>,
}

pub async fn exec(core: &Core, id: &str, request: ExecRequest, actor: &str) -> Result<ExecResult> {
    super::touch(core, id);
    super::awake(core, core.record(id)?).await?;
    let _guard = core.lock(id).await;
    let record = core.record(id)?;
    if !record.state.is_usable() {
        return Err(Error::Refused(format!(
            "sandbox {id} is {}; commands run only in a ready or active sandbox",
            record.state
        )));
    }
    if request.argv.is_empty() {
        return Err(Error::Invalid(
            "exec: give the command to run after --".into(),
        ));
    }
    if request
        .timeout_s
        .is_some_and(|t| t == 0 || t > MAX_EXEC_TIMEOUT_S)
    {
        return Err(Error::Invalid(format!(
            "timeout_s: a command's timeout is 1 to {MAX_EXEC_TIMEOUT_S} seconds"
        )));
    }
    let client = core.extension_of(&record).await?;
    let params = ExecParams {
        sandbox_id: id.to_string(),
        argv: request.argv.clone(),
        stdin: request.stdin,
        timeout_s: request.timeout_s,
        service: request.service,
    };
    let result = client
        .request_at_least::<m::SandboxExec>(&params, params.timeout() + ANSWER_MARGIN)
        .await;
    client.release().await;
    let result = result?;
    if record.state == State::Ready {
        core.store().transition(
            id,
            State::Active,
            actor,
            Change::default(),
            json!({ "first_use": "exec", "argv0": request.argv[0] }),
        )?;
    }
    Ok(result)
}
