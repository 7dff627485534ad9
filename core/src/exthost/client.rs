//! `ExtensionClient`: one live extension. Launch does the handshake and version
//! check; `request::<M>` runs one method (a `methods` definition) under its deadline (on expiry: `$/cancelRequest`,
//! a grace period, then kill) and turns every failure into a `HostError` that says
//! what happened, with the extension's stderr tail.

use super::discovery::Discovered;
use super::process::{ExtensionProcess, describe_status};
use super::transport::{Shared, StdinSender, StdoutReceiver};
use super::{HostError, Timeouts};
use jsonrpsee::core::client::async_client::{Client, ClientBuilder, RpcService};
use jsonrpsee::core::client::{ClientT, Error as RpcError};
use jsonrpsee::core::middleware::{Batch, Notification, Request, RpcServiceBuilder, RpcServiceT};
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::types::Id as RpcId;
use sandboxer_ext_protocol::methods::{self as m, NoParams, Request as _};
use sandboxer_ext_protocol::{
    CancelParams, ErrorObject, InitializeParams, InitializeResult, JsonObject, OutputParams,
    PROTOCOL_VERSION, PeerInfo, ProgressParams, ProtocolVersion, Secrets, codes,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// jsonrpsee's own request timeout is not used: ours is per method.
const NO_CLIENT_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long a closing extension has to exit after `exit` (the contract's 2 s).
const EXIT_WAIT: Duration = Duration::from_secs(2);

type CallIdSlot = Arc<Mutex<Option<RpcId<'static>>>>;

tokio::task_local! {
    /// Where the middleware below leaves the id jsonrpsee gave the current call, so
    /// that a deadline can name it in `$/cancelRequest`.
    static CALL_ID: CallIdSlot;
}

/// Client middleware that records each call's request id in `CALL_ID`.
#[derive(Clone)]
pub struct CaptureId<S>(S);

impl<S: RpcServiceT + Send + Sync> RpcServiceT for CaptureId<S> {
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let _ = CALL_ID.try_with(|slot| {
            *slot.lock().expect("call id slot poisoned") = Some(request.id.clone().into_owned());
        });
        self.0.call(request)
    }

    fn batch<'a>(
        &self,
        requests: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        self.0.batch(requests)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.0.notification(n)
    }
}

/// Sends `$/cancelRequest` for a call whose caller went away before its
/// answer (an HTTP client that disconnected, a stream dropped), so that the
/// extension stops work nobody waits for.
struct CancelOnDrop {
    rpc: Arc<Client<CaptureId<RpcService>>>,
    /// `None` once the call was answered or cancelled another way.
    slot: Option<CallIdSlot>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let Some(id) = slot.lock().expect("call id slot poisoned").take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rpc = self.rpc.clone();
        runtime.spawn(async move {
            let id = serde_json::to_value(&id).unwrap_or(Value::Null);
            let _ = rpc
                .notification(
                    m::CancelRequest::METHOD,
                    raw(&CancelParams { id }).expect("protocol messages serialize"),
                )
                .await;
        });
    }
}

/// Params already serialized.
struct RawParams(Box<RawValue>);

impl ToRpcParams for RawParams {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(Some(self.0))
    }
}

fn raw<P: Serialize>(params: &P) -> Result<RawParams, serde_json::Error> {
    serde_json::value::to_raw_value(params).map(RawParams)
}

/// How `launch` starts an extension and what it sends in the handshake.
#[derive(Clone, Default)]
pub struct LaunchOptions {
    /// `initialize.options`, from the configuration (with a provider key's values
    /// in the options the extension declares secret).
    pub options: JsonObject,
    pub timeouts: Timeouts,
    /// Variables the configuration sets for this extension (`extensions.<name>.
    /// env`); the rest of its environment is chosen by `environment`.
    pub env: BTreeMap<String, String>,
    /// Secret values in `options`, redacted from everything the extension says.
    pub secret_options: Secrets,
}

/// A live extension after a successful handshake.
pub struct ExtensionClient {
    name: String,
    path: PathBuf,
    rpc: Arc<Client<CaptureId<RpcService>>>,
    process: Arc<ExtensionProcess>,
    shared: Arc<Shared>,
    info: InitializeResult,
    /// The protocol version the extension answered with.
    peer: ProtocolVersion,
    timeouts: Timeouts,
}

impl ExtensionClient {
    /// Starts the extension and does the handshake.
    pub async fn launch(found: &Discovered, launch: LaunchOptions) -> Result<Self, HostError> {
        let shared = Arc::new(Shared::default());
        shared.redactor.protect_all(
            launch
                .secret_options
                .0
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let env = super::environment::for_extension(&found.name, std::env::vars_os(), &launch.env);
        let (process, stdin, stdout) =
            ExtensionProcess::spawn(&found.name, &found.path, env, shared.redactor.clone())?;
        let rpc = ClientBuilder::default()
            .request_timeout(NO_CLIENT_TIMEOUT)
            .max_concurrent_requests(4096)
            .set_rpc_middleware(RpcServiceBuilder::new().layer_fn(CaptureId))
            .build_with_tokio(
                StdinSender::new(stdin, shared.clone()),
                StdoutReceiver::new(stdout, shared.clone(), process.clone()),
            );
        let rpc = Arc::new(rpc);
        let mut client = ExtensionClient {
            name: found.name.clone(),
            path: found.path.clone(),
            rpc,
            process,
            shared,
            info: InitializeResult {
                protocol_version: String::new(),
                extension: PeerInfo {
                    name: found.name.clone(),
                    version: String::new(),
                },
                capabilities: Default::default(),
                options_schema: Default::default(),
            },
            peer: PROTOCOL_VERSION,
            timeouts: launch.timeouts,
        };
        (client.info, client.peer) = client.handshake(launch.options).await?;
        Ok(client)
    }

    async fn handshake(
        &self,
        options: JsonObject,
    ) -> Result<(InitializeResult, ProtocolVersion), HostError> {
        let params = InitializeParams {
            protocol_version: PROTOCOL_VERSION.to_string(),
            host: PeerInfo {
                name: "sandboxer".into(),
                version: crate::VERSION.into(),
            },
            options,
            features: vec![],
        };
        let handshake_failed = |detail: String, stderr_tail: String| HostError::Handshake {
            name: self.name.clone(),
            detail,
            stderr_tail,
        };
        let result: InitializeResult = match self
            .request_within::<m::Initialize>(&params, self.timeouts.handshake)
            .await
        {
            Ok(result) => result,
            Err(HostError::Remote {
                error, stderr_tail, ..
            }) if error.code == codes::INVALID_PARAMS
                && error
                    .data
                    .as_ref()
                    .is_some_and(|d| d.get("supported").is_some()) =>
            {
                let supported = error.data.as_ref().map(|d| d["supported"].clone());
                let theirs = supported
                    .and_then(|s| serde_json::from_value::<Vec<String>>(s).ok())
                    .map(|v| v.join(", "))
                    .unwrap_or_else(|| "an unknown version".into());
                return Err(HostError::VersionMismatch {
                    name: self.name.clone(),
                    ours: PROTOCOL_VERSION.to_string(),
                    theirs,
                    stderr_tail,
                });
            }
            Err(HostError::Remote {
                error, stderr_tail, ..
            }) => return Err(handshake_failed(error.to_string(), stderr_tail)),
            Err(HostError::Timeout {
                deadline,
                stderr_tail,
                ..
            }) => {
                return Err(handshake_failed(
                    format!("no answer to initialize within {}s", deadline.as_secs_f64()),
                    stderr_tail,
                ));
            }
            Err(e) => return Err(e),
        };
        let theirs: ProtocolVersion = result
            .protocol_version
            .parse()
            .map_err(|e| handshake_failed(format!("{e}"), self.process.stderr.text()))?;
        if !theirs.is_compatible_with(PROTOCOL_VERSION) {
            self.process.kill();
            return Err(HostError::VersionMismatch {
                name: self.name.clone(),
                ours: PROTOCOL_VERSION.to_string(),
                theirs: theirs.to_string(),
                stderr_tail: self.process.stderr.text(),
            });
        }
        let advertised = &result.capabilities.methods;
        if let Some(missing) = m::required().find(|r| !advertised.iter().any(|a| a == r)) {
            return Err(handshake_failed(
                format!("capabilities.methods lacks the required method {missing}"),
                self.process.stderr.text(),
            ));
        }
        self.notify::<m::Initialized>(&NoParams {})
            .await
            .map_err(|e| handshake_failed(e.to_string(), self.process.stderr.text()))?;
        Ok((result, theirs))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The protocol version the extension speaks (what it sends is read in that
    /// version's form, e.g. `ProfileRef::for_peer`).
    pub fn peer_version(&self) -> ProtocolVersion {
        self.peer
    }

    /// What the extension said about itself in the handshake.
    pub fn info(&self) -> &InitializeResult {
        &self.info
    }

    /// Whether the extension offers the method named `method` (the required ones
    /// always, an optional one when it listed it).
    pub fn supports(&self, method: &str) -> bool {
        m::is_required(method) || self.info.capabilities.methods.iter().any(|x| x == method)
    }

    /// Whether the extension declared `feature` (`sandboxer_ext_protocol::features`).
    pub fn declares(&self, feature: &str) -> bool {
        self.info.capabilities.features.iter().any(|f| f == feature)
    }

    /// Whether the extension offers `M`.
    pub fn offers<M: m::Request>(&self) -> bool {
        self.supports(M::METHOD)
    }

    /// Its process id (it leads a process group of that id).
    pub fn process_id(&self) -> i32 {
        self.process.pid()
    }

    /// Whether its process is still running.
    pub fn is_alive(&self) -> bool {
        !self.process.has_exited() && self.shared.violation().is_none()
    }

    /// The tail of the extension's stderr so far.
    pub fn stderr_tail(&self) -> String {
        self.process.stderr.text()
    }

    /// Redacts these secret values (and their encodings) from everything the
    /// extension says from now on, for as long as it runs.
    pub fn protect(&self, secrets: &Secrets) {
        self.shared
            .redactor
            .protect_all(secrets.0.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }

    /// Receives `$/progress` sent for `token`.
    pub fn subscribe_progress(&self, token: &Value) -> mpsc::UnboundedReceiver<ProgressParams> {
        self.shared.subscribe_progress(token)
    }

    /// Receives `$/output` sent for `token` (an attached command, a followed log).
    pub fn subscribe_output(&self, token: &Value) -> mpsc::UnboundedReceiver<OutputParams> {
        self.shared.subscribe_output(token)
    }

    /// Calls `M` under the deadline its definition names. An optional method the
    /// extension did not advertise is refused without a call.
    pub async fn request<M: m::Request>(&self, params: &M::Params) -> Result<M::Result, HostError> {
        self.request_at_least::<M>(params, Duration::ZERO).await
    }

    /// Calls `M` under its configured deadline or `at_least`, whichever is
    /// longer (a call whose params set its own timeout).
    pub async fn request_at_least<M: m::Request>(
        &self,
        params: &M::Params,
        at_least: Duration,
    ) -> Result<M::Result, HostError> {
        if !self.offers::<M>() {
            return Err(HostError::Unsupported {
                name: self.name.clone(),
                method: M::METHOD.into(),
            });
        }
        let deadline = self.timeouts.for_method(&M::INFO).max(at_least);
        self.request_within::<M>(params, deadline).await
    }

    /// Calls `M` with an explicit deadline.
    pub async fn request_within<M: m::Request>(
        &self,
        params: &M::Params,
        deadline: Duration,
    ) -> Result<M::Result, HostError> {
        let started = std::time::Instant::now();
        let outcome = self.call_unmetered(M::METHOD, params, deadline).await;
        super::metrics::record(&self.name, M::METHOD, started.elapsed(), outcome.is_ok());
        outcome
    }

    /// Sends notification `N`.
    async fn notify<N: m::Notification>(
        &self,
        params: &N::Params,
    ) -> Result<(), jsonrpsee::core::client::Error> {
        self.rpc
            .notification(N::METHOD, raw(params).expect("protocol messages serialize"))
            .await
    }

    async fn call_unmetered<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        deadline: Duration,
    ) -> Result<R, HostError> {
        let params = raw(params).map_err(|e| HostError::BadAnswer {
            name: self.name.clone(),
            method: method.into(),
            detail: format!("params do not serialize: {e}"),
        })?;
        let slot = CallIdSlot::default();
        let mut abandoned = CancelOnDrop {
            rpc: self.rpc.clone(),
            slot: Some(slot.clone()),
        };
        let call = CALL_ID.scope(slot.clone(), self.rpc.request::<Value, _>(method, params));
        tokio::pin!(call);
        let outcome = tokio::select! {
            outcome = &mut call => outcome,
            _ = tokio::time::sleep(deadline) => {
                abandoned.slot = None;
                return Err(self.cancel_after_deadline(method, deadline, slot, call).await);
            }
        };
        abandoned.slot = None;
        match outcome {
            Ok(value) => serde_json::from_value(value).map_err(|e| HostError::BadAnswer {
                name: self.name.clone(),
                method: method.into(),
                detail: e.to_string(),
            }),
            Err(RpcError::Call(obj)) => Err(HostError::Remote {
                name: self.name.clone(),
                method: method.into(),
                error: Box::new(ErrorObject {
                    code: obj.code().into(),
                    message: obj.message().to_string(),
                    data: obj.data().and_then(|d| serde_json::from_str(d.get()).ok()),
                }),
                stderr_tail: self.process.stderr.text(),
            }),
            Err(RpcError::ParseError(e)) => Err(HostError::BadAnswer {
                name: self.name.clone(),
                method: method.into(),
                detail: e.to_string(),
            }),
            Err(_) => Err(self.gone(method).await),
        }
    }

    /// The deadline passed: send `$/cancelRequest`, give the extension the grace
    /// period to answer, and kill it if it does not.
    async fn cancel_after_deadline<F: Future + Unpin>(
        &self,
        method: &str,
        deadline: Duration,
        slot: CallIdSlot,
        call: F,
    ) -> HostError {
        let id = slot.lock().expect("call id slot poisoned").take();
        if let Some(id) = id {
            let id = serde_json::to_value(&id).unwrap_or(Value::Null);
            let _ = self.notify::<m::CancelRequest>(&CancelParams { id }).await;
        }
        let answered = tokio::time::timeout(self.timeouts.grace, call)
            .await
            .is_ok();
        if !answered {
            self.process.kill();
        }
        HostError::Timeout {
            name: self.name.clone(),
            method: method.into(),
            deadline,
            killed: !answered,
            stderr_tail: self.process.stderr.settle(Duration::from_millis(300)).await,
        }
    }

    /// The connection is gone: say whether the extension broke the protocol or
    /// exited, with its status and last stderr lines.
    async fn gone(&self, method: &str) -> HostError {
        let stderr_tail = self.process.stderr.settle(Duration::from_millis(500)).await;
        if let Some(detail) = self.shared.violation() {
            return HostError::ProtocolViolation {
                name: self.name.clone(),
                method: method.into(),
                detail,
                stderr_tail,
            };
        }
        let status = self.process.exit_status(Duration::from_secs(1)).await;
        if status.is_none() {
            self.process.kill();
        }
        HostError::Crashed {
            name: self.name.clone(),
            method: method.into(),
            status: describe_status(status),
            stderr_tail,
        }
    }

    /// Ends the extension by the protocol: `shutdown`, then `exit`, then waits up
    /// to 2 s for it to exit (killing it otherwise).
    pub async fn shutdown(self) -> Result<(), HostError> {
        if self.process.has_exited() {
            return Ok(());
        }
        let answered = self
            .request_within::<m::Shutdown>(
                &NoParams {},
                self.timeouts.for_method(&m::Shutdown::INFO),
            )
            .await;
        let _ = self.notify::<m::Exit>(&NoParams {}).await;
        let ExtensionClient { rpc, process, .. } = self;
        drop(rpc); // Closes stdin as well.
        if process.exit_status(EXIT_WAIT).await.is_none() {
            process.kill();
        }
        answered.map(|_| ())
    }
}
