//! Method dispatch after the handshake: a jsonrpsee `RpcModule` holding exactly the
//! required methods plus the optional ones the manifest lists (anything else is
//! -32601), each decoding its params into the typed message before the extension
//! sees them.

use super::context::{Context, SharedGate, close_gate};
use super::outbox::Outbox;
use super::{ExtResult, Extension};
use crate::errors::{ErrorObject, codes};
use crate::methods as m;
use crate::names::validate_sandbox_id;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{Methods, RpcModule};
use serde::Serialize;
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
        ErrorObject::standard(
            codes::INVALID_PARAMS,
            format!("invalid params at `{}`: {}", e.path(), e.inner()),
        )
    })
}

fn progress_token(params: &Params<'_>) -> Option<Value> {
    let raw = params.as_str()?;
    let value: Value = serde_json::from_str(raw).ok()?;
    value
        .get("progress_token")
        .filter(|t| !t.is_null())
        .cloned()
}

fn register<E, P, R, F, Fut>(
    module: &mut RpcModule<Shared<E>>,
    method: &'static str,
    takes_sandbox_id: bool,
    handler: F,
) where
    E: Extension,
    P: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(Arc<Shared<E>>, Context, P) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ExtResult<R>> + Send + 'static,
{
    module
        .register_async_method(method, move |params, shared, _| {
            let handler = handler.clone();
            async move {
                let gate = REQUEST_GATE.try_with(Clone::clone).unwrap_or_default();
                let ctx =
                    Context::new(shared.outbox.clone(), progress_token(&params), gate.clone());
                let outcome = match decode::<P>(&params, takes_sandbox_id) {
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

/// Builds the method table for one started extension.
pub(crate) fn methods<E: Extension>(shared: Shared<E>, optional: &[&'static str]) -> Methods {
    let mut module = RpcModule::new(shared);
    register(
        &mut module,
        m::SANDBOX_CREATE,
        true,
        |s: Arc<Shared<E>>, c, p| async move { s.ext.create(&c, p).await },
    );
    register(
        &mut module,
        m::SANDBOX_GET,
        true,
        |s: Arc<Shared<E>>, c, p| async move { s.ext.get(&c, p).await },
    );
    register(
        &mut module,
        m::SANDBOX_LIST,
        false,
        |s: Arc<Shared<E>>, c, p| async move { s.ext.list(&c, p).await },
    );
    register(
        &mut module,
        m::SANDBOX_DESTROY,
        true,
        |s: Arc<Shared<E>>, c, p| async move { s.ext.destroy(&c, p).await },
    );
    for &method in optional {
        match method {
            m::SANDBOX_EXTEND_TTL => register(
                &mut module,
                method,
                true,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.extend_ttl(&c, p).await },
            ),
            m::SANDBOX_SNAPSHOT => register(
                &mut module,
                method,
                true,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.snapshot(&c, p).await },
            ),
            m::SANDBOX_RESTORE => register(
                &mut module,
                method,
                true,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.restore(&c, p).await },
            ),
            m::SNAPSHOT_LIST => register(
                &mut module,
                method,
                false,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.snapshot_list(&c, p).await },
            ),
            m::SNAPSHOT_DELETE => register(
                &mut module,
                method,
                false,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.snapshot_delete(&c, p).await },
            ),
            m::SANDBOX_EXEC => register(
                &mut module,
                method,
                true,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.exec(&c, p).await },
            ),
            m::COST_ESTIMATE => register(
                &mut module,
                method,
                false,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.cost_estimate(&c, p).await },
            ),
            m::HOST_HEALTH => register(
                &mut module,
                method,
                false,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.host_health(&c, p).await },
            ),
            m::PROFILE_CHECK => register(
                &mut module,
                method,
                false,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.profile_check(&c, p).await },
            ),
            m::HOST_DOCTOR => register(
                &mut module,
                method,
                false,
                |s: Arc<Shared<E>>, c, p| async move { s.ext.host_doctor(&c, p).await },
            ),
            other => {
                panic!("manifest lists {other:?}, which is not an optional method of protocol v1")
            }
        }
    }
    module.into()
}
