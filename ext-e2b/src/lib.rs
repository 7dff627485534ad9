//! `E2b`, the extension `sandboxer-ext-e2b` serves: each sandbox is an E2B
//! sandbox of the profile's template. sandboxer's labels are its metadata
//! (`sandboxer.id` among them, so the reconciler finds orphans by listing),
//! the TTL is its timeout, a profile's secrets are its `envVars`, and commands
//! and files go through its envd (`inside`). The API key is a BYOK provider
//! key: an option declared secret, held in memory, sent only as a header.
//!
//! - `settings`: options and the profile's spec.
//! - `control`: the control plane client (429 → backoff → ResourceExhausted).
//! - `envd`: the in-sandbox API client.
//! - `commands`: what a command is to E2B (checks, how it ended).
//! - `inside`: exec and files over envd.
//! - `sessions`: commands as sessions, their output kept for attaches.
//! - `prices`: `cost/estimate` from E2B's published prices.

mod commands;
mod control;
mod envd;
mod inside;
mod prices;
mod sessions;
mod settings;

use control::ControlPlane;
use envd::{Envd, Target};
use sandboxer_e2b::control::{NewSandbox, SandboxDetail, SandboxState};
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::sdk::{
    Context, ErrorKind, ErrorObject, ExtResult, Extension, Manifest,
};
use sandboxer_ext_protocol::*;
use settings::{Settings, Spec};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The metadata key holding a digest of the create that made the sandbox: a
/// repeated create is the same one, a different create under the same id a
/// conflict.
const REQUEST_DIGEST: &str = "sandboxer-e2b.request";
/// The one "host" E2B is to sandboxer.
const HOST: &str = "e2b";

pub struct E2b {
    control: ControlPlane,
    envd: Envd,
    /// How to reach each sandbox's envd (its E2B id and access token), by
    /// sandboxer id: memory only, found again by listing when missing.
    known: Mutex<HashMap<String, Target>>,
    sessions: sessions::Sessions,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What makes a create the same create, as a digest.
fn digest_of(params: &CreateParams) -> String {
    hex(&Sha256::digest(params.identity().to_string().as_bytes()))
}

fn seconds_until(rfc3339: &str) -> ExtResult<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).map_err(|e| {
        ErrorObject::invalid_argument("expires_at", format!("expires_at {rfc3339:?}: {e}"))
    })?;
    let left = at.timestamp() - chrono::Utc::now().timestamp();
    Ok(u64::try_from(left).unwrap_or(0).max(1))
}

/// A sandbox as E2B describes it, to sandboxer.
fn sandbox_of(id: &str, detail: &SandboxDetail) -> Sandbox {
    let mut labels = detail.metadata.clone();
    labels.remove(REQUEST_DIGEST);
    let mut details = JsonObject::new();
    details.insert("template".into(), detail.template_id.clone().into());
    details.insert("e2b_sandbox_id".into(), detail.sandbox_id.clone().into());
    details.insert("ends_at".into(), detail.end_at.clone().into());
    details.insert("envd_version".into(), detail.envd_version.clone().into());
    Sandbox {
        sandbox_id: id.to_string(),
        state: match detail.state {
            SandboxState::Running => BackendState::Ready,
            SandboxState::Paused => BackendState::Paused,
        },
        backend_ref: detail.sandbox_id.clone(),
        labels,
        endpoints: vec![],
        details,
    }
}

fn not_found(id: &str) -> ErrorObject {
    ErrorObject::domain(ErrorKind::NotFound, format!("sandbox {id} is not on E2B"))
}

impl E2b {
    /// The E2B sandbox that is sandboxer's `id`: by its backend ref when
    /// given (and it still says it is `id`), else by metadata.
    async fn find(&self, id: &str, backend_ref: Option<&str>) -> ExtResult<Option<SandboxDetail>> {
        if let Some(reference) = backend_ref.filter(|r| !r.is_empty())
            && let Some(detail) = self.control.get(reference).await?
            && detail.metadata.get(LABEL_SANDBOX_ID).map(String::as_str) == Some(id)
        {
            self.remember(&detail);
            return Ok(Some(detail));
        }
        let filter = BTreeMap::from([(LABEL_SANDBOX_ID.to_string(), id.to_string())]);
        let Some(listed) = self.control.list(&filter).await?.into_iter().next() else {
            return Ok(None);
        };
        // The list leaves out the access token; the sandbox's own answer has it.
        let detail = self.control.get(&listed.sandbox_id).await?;
        if let Some(d) = &detail {
            self.remember(d);
        }
        Ok(detail)
    }

    fn remember(&self, detail: &SandboxDetail) {
        if let Some(id) = detail.metadata.get(LABEL_SANDBOX_ID) {
            let target = Target {
                e2b_id: detail.sandbox_id.clone(),
                token: detail.envd_access_token.clone(),
            };
            self.known.lock().expect("known").insert(id.clone(), target);
        }
    }

    /// How to reach sandbox `id`'s envd.
    pub(crate) async fn target(&self, id: &str) -> ExtResult<Target> {
        if let Some(target) = self.known.lock().expect("known").get(id) {
            return Ok(target.clone());
        }
        self.find(id, None).await?.ok_or_else(|| not_found(id))?;
        self.known
            .lock()
            .expect("known")
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    async fn current(&self, id: &str, backend_ref: Option<&str>) -> ExtResult<Sandbox> {
        let detail = self
            .find(id, backend_ref)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(sandbox_of(id, &detail))
    }
}

impl Extension for E2b {
    fn manifest() -> Manifest {
        Manifest {
            name: "e2b".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            optional_methods: vec![
                m::SandboxExtendTtl::METHOD,
                m::SandboxExec::METHOD,
                m::CostEstimate::METHOD,
                m::HostHealth::METHOD,
                m::FsRead::METHOD,
                m::FsWrite::METHOD,
                m::FsList::METHOD,
                m::FsStat::METHOD,
                m::FsMkdir::METHOD,
                m::FsRemove::METHOD,
                m::FsRename::METHOD,
                m::SandboxPause::METHOD,
                m::SandboxResume::METHOD,
                m::ExecStart::METHOD,
                m::ExecAttach::METHOD,
                m::ExecWrite::METHOD,
                m::ExecSignal::METHOD,
                m::ExecResize::METHOD,
                m::ExecList::METHOD,
            ],
            features: vec![
                features::EXEC_PTY.into(),
                features::TTL.into(),
                features::SECRETS.into(),
            ],
            options_schema: settings::schema(),
        }
    }

    async fn start(options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        let settings = Settings::from_options(&options)?;
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| {
                ErrorObject::domain(ErrorKind::Internal, format!("an HTTP client: {e}"))
            })?;
        Ok(E2b {
            control: ControlPlane::new(http.clone(), &settings),
            envd: Envd::new(http, &settings.sandbox_url),
            known: Mutex::default(),
            sessions: sessions::Sessions::default(),
        })
    }

    async fn create(&self, _ctx: &Context, params: CreateParams) -> ExtResult<Sandbox> {
        let spec = Spec::parse(&params.profile.spec)?;
        if params.placement.host.as_deref().is_some_and(|h| h != HOST) {
            return Err(ErrorObject::invalid_argument(
                "placement.host",
                format!("E2B has one place, {HOST:?}"),
            ));
        }
        let digest = digest_of(&params);
        if let Some(existing) = self.find(&params.sandbox_id, None).await? {
            if existing.metadata.get(REQUEST_DIGEST) != Some(&digest) {
                return Err(ErrorObject::domain(
                    ErrorKind::AlreadyExists,
                    format!(
                        "sandbox {} exists on E2B, made by a different create",
                        params.sandbox_id
                    ),
                ));
            }
            return Ok(sandbox_of(&params.sandbox_id, &existing));
        }
        let mut metadata = params.labels.clone();
        metadata.insert(LABEL_SANDBOX_ID.into(), params.sandbox_id.clone());
        metadata.insert(REQUEST_DIGEST.into(), digest.clone());
        let request = NewSandbox {
            template_id: spec.template.clone(),
            timeout: Some(seconds_until(&params.expires_at)?),
            metadata: Some(metadata),
            env_vars: Some(params.secrets.0.clone()),
            other: BTreeMap::new(),
        };
        // The same create tried again carries the same key.
        let created = self.control.create(&request, &digest[..40]).await?;
        tracing::info!(
            sandbox = %params.sandbox_id,
            e2b = %created.sandbox_id,
            template = %spec.template,
            "created on E2B"
        );
        let detail = self
            .control
            .get(&created.sandbox_id)
            .await?
            .ok_or_else(|| not_found(&params.sandbox_id))?;
        self.remember(&detail);
        Ok(sandbox_of(&params.sandbox_id, &detail))
    }

    async fn get(&self, _ctx: &Context, params: GetParams) -> ExtResult<Sandbox> {
        self.current(&params.sandbox_id, params.backend_ref.as_deref())
            .await
    }

    async fn list(&self, _ctx: &Context, params: ListParams) -> ExtResult<ListResult> {
        let filter = params.labels.unwrap_or_default();
        let sandboxes = self
            .control
            .list(&filter)
            .await?
            .iter()
            .filter_map(|d| {
                let id = d.metadata.get(LABEL_SANDBOX_ID)?;
                Some(sandbox_of(id, d))
            })
            .collect();
        Ok(ListResult { sandboxes })
    }

    async fn destroy(&self, _ctx: &Context, params: DestroyParams) -> ExtResult<DestroyResult> {
        if let Some(detail) = self
            .find(&params.sandbox_id, params.backend_ref.as_deref())
            .await?
        {
            self.control.kill(&detail.sandbox_id).await?;
        }
        self.known.lock().expect("known").remove(&params.sandbox_id);
        self.sessions.forget(&params.sandbox_id);
        Ok(DestroyResult { destroyed: true })
    }

    async fn extend_ttl(&self, _ctx: &Context, params: ExtendTtlParams) -> ExtResult<Sandbox> {
        let detail = self
            .find(&params.sandbox_id, None)
            .await?
            .ok_or_else(|| not_found(&params.sandbox_id))?;
        self.control
            .set_timeout(&detail.sandbox_id, seconds_until(&params.expires_at)?)
            .await?;
        self.current(&params.sandbox_id, Some(&detail.sandbox_id))
            .await
    }

    async fn exec(&self, _ctx: &Context, params: ExecParams) -> ExtResult<ExecResult> {
        inside::exec(self, params).await
    }

    async fn cost_estimate(
        &self,
        _ctx: &Context,
        params: CostEstimateParams,
    ) -> ExtResult<CostEstimate> {
        let spec = Spec::parse(&params.profile.spec)?;
        let (cpus, memory_mb) = spec.priced(&params.resources);
        Ok(prices::estimate(cpus, memory_mb, params.duration_s))
    }

    async fn host_health(
        &self,
        _ctx: &Context,
        params: HostHealthParams,
    ) -> ExtResult<HostHealthResult> {
        if params.host.as_deref().is_some_and(|h| h != HOST) {
            return Err(ErrorObject::invalid_argument(
                "host",
                format!("E2B has one host, {HOST:?}"),
            ));
        }
        let answer = self.control.health().await;
        let mut details = JsonObject::new();
        details.insert("prices".into(), prices::SOURCE.into());
        Ok(HostHealthResult {
            hosts: vec![HostHealth {
                host: HOST.into(),
                reachable: answer.is_ok(),
                load1: None,
                mem_free_mb: None,
                disk_free_mb: None,
                sandboxes: answer.as_ref().ok().map(|n| *n as u64),
                error: answer.err(),
                details,
            }],
        })
    }

    async fn fs_read(&self, _ctx: &Context, p: FsReadParams) -> ExtResult<FsReadResult> {
        inside::read(self, p).await
    }

    async fn fs_write(&self, _ctx: &Context, p: FsWriteParams) -> ExtResult<FsWriteResult> {
        inside::write(self, p).await
    }

    async fn fs_list(&self, _ctx: &Context, p: FsPathParams) -> ExtResult<FsListResult> {
        inside::list(self, p).await
    }

    async fn fs_stat(&self, _ctx: &Context, p: FsPathParams) -> ExtResult<FileInfo> {
        inside::stat(self, p).await
    }

    async fn fs_mkdir(&self, _ctx: &Context, p: FsMkdirParams) -> ExtResult<Ack> {
        inside::mkdir(self, p).await
    }

    async fn fs_remove(&self, _ctx: &Context, p: FsRemoveParams) -> ExtResult<Ack> {
        inside::remove(self, p).await
    }

    async fn fs_rename(&self, _ctx: &Context, p: FsRenameParams) -> ExtResult<Ack> {
        inside::rename(self, p).await
    }

    async fn exec_start(&self, _ctx: &Context, p: ExecStartParams) -> ExtResult<ExecStarted> {
        sessions::start(self, p).await
    }

    async fn exec_attach(&self, ctx: &Context, p: ExecAttachParams) -> ExtResult<ExecExit> {
        sessions::attach(self, ctx, p).await
    }

    async fn exec_write(&self, _ctx: &Context, p: ExecWriteParams) -> ExtResult<Ack> {
        sessions::write(self, p).await
    }

    async fn exec_signal(&self, _ctx: &Context, p: ExecSignalParams) -> ExtResult<Ack> {
        sessions::signal(self, p).await
    }

    async fn exec_resize(&self, _ctx: &Context, p: ExecResizeParams) -> ExtResult<Ack> {
        sessions::resize(self, p).await
    }

    async fn exec_list(&self, _ctx: &Context, p: ExecListParams) -> ExtResult<ExecListResult> {
        sessions::list(self, p).await
    }

    async fn pause(&self, _ctx: &Context, p: PauseParams) -> ExtResult<Sandbox> {
        let detail = self
            .find(&p.sandbox_id, None)
            .await?
            .ok_or_else(|| not_found(&p.sandbox_id))?;
        self.control.pause(&detail.sandbox_id).await?;
        self.current(&p.sandbox_id, Some(&detail.sandbox_id)).await
    }

    async fn resume(&self, _ctx: &Context, p: PauseParams) -> ExtResult<Sandbox> {
        let detail = self
            .find(&p.sandbox_id, None)
            .await?
            .ok_or_else(|| not_found(&p.sandbox_id))?;
        self.control.connect(&detail.sandbox_id).await?;
        // Its envd token may be new: found again on the next call.
        self.known.lock().expect("known").remove(&p.sandbox_id);
        self.current(&p.sandbox_id, Some(&detail.sandbox_id)).await
    }
}
