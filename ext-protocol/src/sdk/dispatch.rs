//! Method dispatch after the handshake: a jsonrpsee `RpcModule` holding exactly the
//! required methods plus the optional ones the manifest lists (anything else is
//! -32601), each decoding its params into the typed message before the extension
//! sees them.

use super::context::{Context, SharedGate, close_gate};
use super::outbox::Outbox;
use super::{ExtResult, Extension};
use crate::errors::{ErrorObject, codes};
use crate::methods::{self as m, Request};
use crate::names::validate_sandbox_id;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{Methods, RpcModule};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// What every method handler can reach.
pub(crate) struct Shared<E> {
    pub(crate) ext: Arc<E>,
    pub(crate) outbox: Outbox,
}

tokio::task_local! {
    /// The progress gate of the request being handled. The loop sets it around the
    /// module call (the handler runs inside that call), so a cancel can close the
    /// same gate the handler's `Context` reports through.
    pub(crate) static REQUEST_GATE: SharedGate;
}

fn to_jsonrpsee(err: ErrorObject) -> ErrorObjectOwned {
    let code = i32::try_from(err.code).unwrap_or(codes::INTERNAL_ERROR as i32);
    ErrorObjectOwned::owned(code, err.message, err.data)
}

fn decode<P: DeserializeOwned>(params: &Params<'_>, takes_sandbox_id: bool) -> ExtResult<P> {
    decode_params(params.as_str(), takes_sandbox_id)
}

/// Decodes a request's raw params (the JSON text, or none) the way every SDK
/// extension does: an object (or absent) is required; `sandbox_id`, where the
/// method takes one, must be present and valid (InvalidArgument naming the field);
/// anything else that does not decode is -32602.
pub fn decode_params<P: DeserializeOwned>(
    raw: Option<&str>,
    takes_sandbox_id: bool,
) -> ExtResult<P> {
    if let Some(params) = raw.and_then(|raw| decode_directly(raw, takes_sandbox_id)) {
        return Ok(params);
    }
    let value: Value = match raw {
        None => Value::Object(Default::default()),
        Some(raw) => serde_json::from_str(raw).map_err(|e| {
            ErrorObject::standard(codes::INVALID_PARAMS, format!("invalid params: {e}"))
        })?,
    };
    if !value.is_object() {
        return Err(ErrorObject::standard(
            codes::INVALID_PARAMS,
            "invalid params: params must be an object",
        ));
    }
    if takes_sandbox_id {
        match value.get("sandbox_id") {
            Some(Value::String(id)) => validate_sandbox_id(id)
                .map_err(|e| ErrorObject::invalid_argument("sandbox_id", e.to_string()))?,
            Some(_) => {
                return Err(ErrorObject::invalid_argument(
                    "sandbox_id",
                    "sandbox_id must be a string",
                ));
            }
            None => {
                return Err(ErrorObject::invalid_argument(
                    "sandbox_id",
                    "sandbox_id is required",
                ));
            }
        }
    }
    if let Some(at) = value.get("expires_at") {
        let text = at.as_str().unwrap_or_default();
        crate::names::validate_rfc3339(text)
            .map_err(|e| ErrorObject::invalid_argument("expires_at", e))?;
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        match missing_field(&inner) {
            // A param the method requires is absent: InvalidArgument naming it,
            // as for `sandbox_id`.
            Some(name) => {
                let at = e.path().to_string();
                let field = if at == "." {
                    name.to_string()
                } else {
                    format!("{at}.{name}")
                };
                ErrorObject::invalid_argument(&field, format!("{field} is required"))
            }
            // Present with the wrong JSON type: the params do not decode.
            None => ErrorObject::standard(
                codes::INVALID_PARAMS,
                format!("invalid params at `{}`: {inner}", e.path()),
            ),
        }
    })
}

/// Params that pass every check, decoded straight from their text (no tree
/// of values in between, which for a chunk of a transfer is a copy of a
/// megabyte). `None` on any fault, for [`decode_params`]'s slower way to name.
fn decode_directly<P: DeserializeOwned>(raw: &str, takes_sandbox_id: bool) -> Option<P> {
    #[derive(serde::Deserialize)]
    struct Checked<'a> {
        #[serde(borrow)]
        sandbox_id: Option<std::borrow::Cow<'a, str>>,
        expires_at: Option<Value>,
    }
    let checked: Checked<'_> = serde_json::from_str(raw).ok()?;
    if takes_sandbox_id && validate_sandbox_id(checked.sandbox_id.as_deref()?).is_err() {
        return None;
    }
    if let Some(at) = checked.expires_at
        && crate::names::validate_rfc3339(at.as_str()?).is_err()
    {
        return None;
    }
    serde_json::from_str(raw).ok()
}

/// The field serde names in a "missing field `x`" error.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

fn progress_token(params: &Params<'_>) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Token {
        progress_token: Option<Value>,
    }
    let token: Token = serde_json::from_str(params.as_str()?).ok()?;
    token.progress_token.filter(|t| !t.is_null())
}

/// Registers `M` with its handler: params decoded by `M`'s definition (its
/// `sandbox_id` checked where it takes one), the result serialized back.
fn register<E, M, F, Fut>(module: &mut RpcModule<Shared<E>>, handler: F)
where
    E: Extension,
    M: Request,
    F: Fn(Arc<Shared<E>>, Context, M::Params) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ExtResult<M::Result>> + Send + 'static,
{
    module
        .register_async_method(M::METHOD, move |params, shared, _| {
            let handler = handler.clone();
            async move {
                let gate = REQUEST_GATE.try_with(Clone::clone).unwrap_or_default();
                let ctx =
                    Context::new(shared.outbox.clone(), progress_token(&params), gate.clone());
                let outcome = match decode::<M::Params>(&params, M::INFO.takes_sandbox_id) {
                    Ok(p) => handler(shared, ctx, p).await,
                    Err(e) => Err(e),
                };
                close_gate(&gate);
                outcome
                    .and_then(|r| {
                        serde_json::to_value(r).map_err(|e| {
                            ErrorObject::standard(
                                codes::INTERNAL_ERROR,
                                format!("result does not serialize: {e}"),
                            )
                        })
                    })
                    .map_err(to_jsonrpsee)
            }
        })
        .expect("each method is registered once");
}

/// Registers an optional method `M` when the manifest offers it.
fn offer<E, M, F, Fut>(module: &mut RpcModule<Shared<E>>, offered: &[&str], handler: F)
where
    E: Extension,
    M: Request,
    F: Fn(Arc<Shared<E>>, Context, M::Params) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ExtResult<M::Result>> + Send + 'static,
{
    if offered.contains(&M::METHOD) {
        register::<E, M, F, Fut>(module, handler);
    }
}

/// Builds the method table for one started extension: the required methods and
/// the optional ones `offered` names (each must be an optional method of the
/// protocol: a manifest naming anything else is a bug of the extension).
pub(crate) fn methods<E: Extension>(shared: Shared<E>, offered: &[&'static str]) -> Methods {
    if let Some(unknown) = offered.iter().find(|name| !m::is_optional(name)) {
        panic!("the manifest offers {unknown:?}, which is not an optional method of protocol v1");
    }
    let mut module = RpcModule::new(shared);
    register::<E, m::SandboxCreate, _, _>(&mut module, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.create(&c, p).await
    });
    register::<E, m::SandboxGet, _, _>(&mut module, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.get(&c, p).await
    });
    register::<E, m::SandboxList, _, _>(&mut module, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.list(&c, p).await
    });
    register::<E, m::SandboxDestroy, _, _>(&mut module, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.destroy(&c, p).await
    });
    let o = offered;
    offer::<E, m::SandboxExtendTtl, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.extend_ttl(&c, p).await
    });
    offer::<E, m::SandboxSnapshot, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.snapshot(&c, p).await
    });
    offer::<E, m::SandboxRestore, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.restore(&c, p).await
    });
    offer::<E, m::SnapshotList, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.snapshot_list(&c, p).await
    });
    offer::<E, m::SnapshotDelete, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.snapshot_delete(&c, p).await
    });
    offer::<E, m::SandboxExec, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.exec(&c, p).await
    });
    offer::<E, m::CostEstimate, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.cost_estimate(&c, p).await
    });
    offer::<E, m::HostHealth, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.host_health(&c, p).await
    });
    offer::<E, m::ProfileCheck, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.profile_check(&c, p).await
    });
    offer::<E, m::HostDoctor, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.host_doctor(&c, p).await
    });
    offer::<E, m::ImageBuild, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.image_build(&c, p).await
    });
    offer::<E, m::ImageList, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.image_list(&c, p).await
    });
    offer::<E, m::ImagePrune, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.image_prune(&c, p).await
    });
    offer::<E, m::ExecStart, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.exec_start(&c, p).await
    });
    offer::<E, m::ExecAttach, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.exec_attach(&c, p).await
    });
    offer::<E, m::ExecWrite, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.exec_write(&c, p).await
    });
    offer::<E, m::ExecSignal, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.exec_signal(&c, p).await
    });
    offer::<E, m::ExecResize, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.exec_resize(&c, p).await
    });
    offer::<E, m::ExecList, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.exec_list(&c, p).await
    });
    offer::<E, m::FsRead, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_read(&c, p).await
    });
    offer::<E, m::FsWrite, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_write(&c, p).await
    });
    offer::<E, m::FsList, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_list(&c, p).await
    });
    offer::<E, m::FsStat, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_stat(&c, p).await
    });
    offer::<E, m::FsMkdir, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_mkdir(&c, p).await
    });
    offer::<E, m::FsRemove, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_remove(&c, p).await
    });
    offer::<E, m::FsRename, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_rename(&c, p).await
    });
    offer::<E, m::FsTarPut, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_tar_put(&c, p).await
    });
    offer::<E, m::FsTarGet, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.fs_tar_get(&c, p).await
    });
    offer::<E, m::SandboxPause, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.pause(&c, p).await
    });
    offer::<E, m::SandboxResume, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.resume(&c, p).await
    });
    offer::<E, m::SandboxLogs, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.logs(&c, p).await
    });
    offer::<E, m::SandboxMetrics, _, _>(&mut module, o, |s: Arc<Shared<E>>, c, p| async move {
        s.ext.metrics(&c, p).await
    });
    module.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{CreateParams, ExtendTtlParams};

    fn field(e: &ErrorObject) -> String {
        e.domain_data().unwrap().details.unwrap()["field"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_missing_param_is_invalid_argument_naming_it_and_a_wrong_type_is_32602() {
        let create = |v: Value| decode_params::<CreateParams>(Some(&v.to_string()), true);
        let no_expiry =
            create(serde_json::json!({"sandbox_id": "a", "profile": {"id": "p", "version": "1"}}))
                .unwrap_err();
        assert_eq!(
            (no_expiry.code, field(&no_expiry)),
            (1003, "expires_at".into())
        );
        let no_profile =
            create(serde_json::json!({"sandbox_id": "a", "expires_at": "2030-01-01T00:00:00Z"}))
                .unwrap_err();
        assert_eq!(field(&no_profile), "profile");
        let no_profile_id = create(serde_json::json!({"sandbox_id": "a",
            "expires_at": "2030-01-01T00:00:00Z", "profile": {"version": "1"}}))
        .unwrap_err();
        assert_eq!(field(&no_profile_id), "profile.id");
        let wrong_type = create(serde_json::json!({"sandbox_id": "a",
            "expires_at": "2030-01-01T00:00:00Z", "profile": {"id": "p", "version": "1"},
            "labels": "not a mapping"}))
        .unwrap_err();
        assert_eq!(wrong_type.code, codes::INVALID_PARAMS);
        // Any JSON type decodes as a spec: what it must hold is the extension's rule.
        assert!(
            create(
                serde_json::json!({"sandbox_id": "a", "expires_at": "2030-01-01T00:00:00Z",
            "profile": {"id": "p", "version": "1", "spec": "text"}})
            )
            .is_ok()
        );
        let bad_time = decode_params::<ExtendTtlParams>(
            Some(r#"{"sandbox_id": "a", "expires_at": "tomorrow"}"#),
            true,
        )
        .unwrap_err();
        assert_eq!(
            (bad_time.code, field(&bad_time)),
            (1003, "expires_at".into())
        );
    }

    #[test]
    fn the_direct_way_in_decodes_what_the_checked_way_does_and_leaves_it_every_fault() {
        // Valid params come straight from their text, escapes included.
        let good = r#"{"sandbox_id": "a", "expires_at": "2030-01-01T00:00:00Z"}"#;
        assert!(decode_directly::<ExtendTtlParams>(good, true).is_some());
        let create = r#"{"sandbox_id":"a","expires_at":"2030-01-01T00:00:00Z",
            "profile":{"id":"p\"q","version":"1"}}"#;
        let direct = decode_directly::<CreateParams>(create, true).unwrap();
        assert_eq!(direct.profile.id, "p\"q");
        // Every fault goes the checked way, which names it; none passes.
        for (raw, takes_sandbox_id) in [
            (r#"{"expires_at": "2030-01-01T00:00:00Z"}"#, true),
            (
                r#"{"sandbox_id": "a b", "expires_at": "2030-01-01T00:00:00Z"}"#,
                true,
            ),
            (
                r#"{"sandbox_id": 7, "expires_at": "2030-01-01T00:00:00Z"}"#,
                true,
            ),
            (r#"{"sandbox_id": "a", "expires_at": null}"#, true),
            (r#"{"sandbox_id": "a", "expires_at": "tomorrow"}"#, true),
            (r#"["a"]"#, false),
        ] {
            assert!(
                decode_directly::<ExtendTtlParams>(raw, takes_sandbox_id).is_none(),
                "{raw} went the direct way"
            );
            assert!(decode_params::<ExtendTtlParams>(Some(raw), takes_sandbox_id).is_err());
        }
        // A repeated key, as before: the last one counts.
        let repeated =
            r#"{"sandbox_id": "a", "sandbox_id": "b", "expires_at": "2030-01-01T00:00:00Z"}"#;
        assert!(decode_directly::<ExtendTtlParams>(repeated, true).is_none());
        let decoded = decode_params::<ExtendTtlParams>(Some(repeated), true).unwrap();
        assert_eq!(decoded.sandbox_id, "b");
    }
}
