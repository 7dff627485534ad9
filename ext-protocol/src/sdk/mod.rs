//! The SDK for writing a sandboxer extension in Rust: implement [`Extension`] and
//! call [`serve`]. The SDK owns everything else the contract asks for: the
//! `--stdio` check, the stdin line loop, the one stdout writer, the handshake and
//! version rule, -32700/-32600/-32601/-32002 answers, `$/cancelRequest`,
//! `$/progress` and `$/log`, shutdown, `exit`, stdin EOF and SIGTERM.

mod context;
mod dispatch;
pub mod harness;
mod outbox;
pub mod peer;
pub mod placement;
mod serve;

pub use crate::errors::{ErrorKind, ErrorObject};
pub use crate::inside::*;
pub use crate::messages::*;
pub use context::Context;
pub use dispatch::decode_params;
pub use serve::{run, serve};

use crate::methods as m;
use std::collections::BTreeMap;
use std::future::Future;

/// What every extension method returns: a result, or a protocol error object
/// (build domain errors with [`ErrorObject::domain`] and
/// [`ErrorObject::invalid_argument`]).
pub type ExtResult<T> = Result<T, ErrorObject>;

/// What an extension says about itself in the handshake.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The `<name>` of `sandboxer-ext-<name>`.
    pub name: String,
    pub version: String,
    /// Optional methods this extension implements (`methods::SandboxExec::METHOD`,
    /// ...; any name that is not an optional method is a bug and panics at start).
    pub optional_methods: Vec<&'static str>,
    pub features: Vec<String>,
    pub options_schema: BTreeMap<String, OptionSpec>,
}

fn unimplemented<T>(method: &str) -> ExtResult<T> {
    Err(ErrorObject::domain(
        ErrorKind::Unimplemented,
        format!("{method} is not implemented by this extension"),
    ))
}

/// One backend. Required methods must be written; an optional method is only
/// called when its name is in [`Manifest::optional_methods`].
///
/// The SDK checks `sandbox_id` (present and well formed) before any method that
/// takes one is called, and answers -32602 for params that do not decode.
pub trait Extension: Sized + Send + Sync + 'static {
    /// Name, version and capabilities. Called once, before the handshake.
    fn manifest() -> Manifest;

    /// Builds the extension from the host's `initialize.options` (defaults from
    /// the options schema already filled in, required ones checked).
    fn start(options: JsonObject, ctx: &Context) -> impl Future<Output = ExtResult<Self>> + Send;

    fn create(
        &self,
        ctx: &Context,
        params: CreateParams,
    ) -> impl Future<Output = ExtResult<Sandbox>> + Send;

    fn get(
        &self,
        ctx: &Context,
        params: GetParams,
    ) -> impl Future<Output = ExtResult<Sandbox>> + Send;

    fn list(
        &self,
        ctx: &Context,
        params: ListParams,
    ) -> impl Future<Output = ExtResult<ListResult>> + Send;

    fn destroy(
        &self,
        ctx: &Context,
        params: DestroyParams,
    ) -> impl Future<Output = ExtResult<DestroyResult>> + Send;

    fn extend_ttl(
        &self,
        _ctx: &Context,
        _params: ExtendTtlParams,
    ) -> impl Future<Output = ExtResult<Sandbox>> + Send {
        async { unimplemented(m::SandboxExtendTtl::METHOD) }
    }

    fn snapshot(
        &self,
        _ctx: &Context,
        _params: SnapshotParams,
    ) -> impl Future<Output = ExtResult<Snapshot>> + Send {
        async { unimplemented(m::SandboxSnapshot::METHOD) }
    }

    fn restore(
        &self,
        _ctx: &Context,
        _params: RestoreParams,
    ) -> impl Future<Output = ExtResult<Sandbox>> + Send {
        async { unimplemented(m::SandboxRestore::METHOD) }
    }

    fn snapshot_list(
        &self,
        _ctx: &Context,
        _params: SnapshotListParams,
    ) -> impl Future<Output = ExtResult<SnapshotListResult>> + Send {
        async { unimplemented(m::SnapshotList::METHOD) }
    }

    fn snapshot_delete(
        &self,
        _ctx: &Context,
        _params: SnapshotDeleteParams,
    ) -> impl Future<Output = ExtResult<SnapshotDeleteResult>> + Send {
        async { unimplemented(m::SnapshotDelete::METHOD) }
    }

    fn exec(
        &self,
        _ctx: &Context,
        _params: ExecParams,
    ) -> impl Future<Output = ExtResult<ExecResult>> + Send {
        async { unimplemented(m::SandboxExec::METHOD) }
    }

    fn cost_estimate(
        &self,
        _ctx: &Context,
        _params: CostEstimateParams,
    ) -> impl Future<Output = ExtResult<CostEstimate>> + Send {
        async { unimplemented(m::CostEstimate::METHOD) }
    }

    fn host_health(
        &self,
        _ctx: &Context,
        _params: HostHealthParams,
    ) -> impl Future<Output = ExtResult<HostHealthResult>> + Send {
        async { unimplemented(m::HostHealth::METHOD) }
    }

    fn profile_check(
        &self,
        _ctx: &Context,
        _params: ProfileCheckParams,
    ) -> impl Future<Output = ExtResult<ProfileCheckResult>> + Send {
        async { unimplemented(m::ProfileCheck::METHOD) }
    }

    fn host_doctor(
        &self,
        _ctx: &Context,
        _params: HostDoctorParams,
    ) -> impl Future<Output = ExtResult<HostDoctorResult>> + Send {
        async { unimplemented(m::HostDoctor::METHOD) }
    }

    fn image_build(
        &self,
        _ctx: &Context,
        _params: ImageBuildParams,
    ) -> impl Future<Output = ExtResult<ImageBuildResult>> + Send {
        async { unimplemented(m::ImageBuild::METHOD) }
    }

    fn image_list(
        &self,
        _ctx: &Context,
        _params: ImageListParams,
    ) -> impl Future<Output = ExtResult<ImageListResult>> + Send {
        async { unimplemented(m::ImageList::METHOD) }
    }

    fn image_prune(
        &self,
        _ctx: &Context,
        _params: ImagePruneParams,
    ) -> impl Future<Output = ExtResult<ImagePruneResult>> + Send {
        async { unimplemented(m::ImagePrune::METHOD) }
    }

    fn exec_start(
        &self,
        _ctx: &Context,
        _params: ExecStartParams,
    ) -> impl Future<Output = ExtResult<ExecStarted>> + Send {
        async { unimplemented(m::ExecStart::METHOD) }
    }

    /// Streams through `ctx.output` until the command ends; a cancel drops the
    /// future, which must leave the command running.
    fn exec_attach(
        &self,
        _ctx: &Context,
        _params: ExecAttachParams,
    ) -> impl Future<Output = ExtResult<ExecExit>> + Send {
        async { unimplemented(m::ExecAttach::METHOD) }
    }

    fn exec_write(
        &self,
        _ctx: &Context,
        _params: ExecWriteParams,
    ) -> impl Future<Output = ExtResult<Ack>> + Send {
        async { unimplemented(m::ExecWrite::METHOD) }
    }

    fn exec_signal(
        &self,
        _ctx: &Context,
        _params: ExecSignalParams,
    ) -> impl Future<Output = ExtResult<Ack>> + Send {
        async { unimplemented(m::ExecSignal::METHOD) }
    }

    fn exec_resize(
        &self,
        _ctx: &Context,
        _params: ExecResizeParams,
    ) -> impl Future<Output = ExtResult<Ack>> + Send {
        async { unimplemented(m::ExecResize::METHOD) }
    }

    fn exec_list(
        &self,
        _ctx: &Context,
        _params: ExecListParams,
    ) -> impl Future<Output = ExtResult<ExecListResult>> + Send {
        async { unimplemented(m::ExecList::METHOD) }
    }

    fn fs_read(
        &self,
        _ctx: &Context,
        _params: FsReadParams,
    ) -> impl Future<Output = ExtResult<FsReadResult>> + Send {
        async { unimplemented(m::FsRead::METHOD) }
    }

    fn fs_write(
        &self,
        _ctx: &Context,
        _params: FsWriteParams,
    ) -> impl Future<Output = ExtResult<FsWriteResult>> + Send {
        async { unimplemented(m::FsWrite::METHOD) }
    }

    fn fs_list(
        &self,
        _ctx: &Context,
        _params: FsPathParams,
    ) -> impl Future<Output = ExtResult<FsListResult>> + Send {
        async { unimplemented(m::FsList::METHOD) }
    }

    fn fs_stat(
        &self,
        _ctx: &Context,
        _params: FsPathParams,
    ) -> impl Future<Output = ExtResult<FileInfo>> + Send {
        async { unimplemented(m::FsStat::METHOD) }
    }

    fn fs_mkdir(
        &self,
        _ctx: &Context,
        _params: FsMkdirParams,
    ) -> impl Future<Output = ExtResult<Ack>> + Send {
        async { unimplemented(m::FsMkdir::METHOD) }
    }

    fn fs_remove(
        &self,
        _ctx: &Context,
        _params: FsRemoveParams,
    ) -> impl Future<Output = ExtResult<Ack>> + Send {
        async { unimplemented(m::FsRemove::METHOD) }
    }

    fn fs_rename(
        &self,
        _ctx: &Context,
        _params: FsRenameParams,
    ) -> impl Future<Output = ExtResult<Ack>> + Send {
        async { unimplemented(m::FsRename::METHOD) }
    }

    fn fs_tar_put(
        &self,
        _ctx: &Context,
        _params: FsTarPutParams,
    ) -> impl Future<Output = ExtResult<FsTarPutResult>> + Send {
        async { unimplemented(m::FsTarPut::METHOD) }
    }

    fn fs_tar_get(
        &self,
        _ctx: &Context,
        _params: FsTarGetParams,
    ) -> impl Future<Output = ExtResult<FsTarGetResult>> + Send {
        async { unimplemented(m::FsTarGet::METHOD) }
    }

    fn pause(
        &self,
        _ctx: &Context,
        _params: PauseParams,
    ) -> impl Future<Output = ExtResult<Sandbox>> + Send {
        async { unimplemented(m::SandboxPause::METHOD) }
    }

    fn resume(
        &self,
        _ctx: &Context,
        _params: PauseParams,
    ) -> impl Future<Output = ExtResult<Sandbox>> + Send {
        async { unimplemented(m::SandboxResume::METHOD) }
    }

    /// Streams through `ctx.output`; a cancel drops the future.
    fn logs(
        &self,
        _ctx: &Context,
        _params: LogsParams,
    ) -> impl Future<Output = ExtResult<Ack>> + Send {
        async { unimplemented(m::SandboxLogs::METHOD) }
    }

    fn metrics(
        &self,
        _ctx: &Context,
        _params: PauseParams,
    ) -> impl Future<Output = ExtResult<MetricsResult>> + Send {
        async { unimplemented(m::SandboxMetrics::METHOD) }
    }

    /// Called on `shutdown`, after every in-flight call has finished.
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Sends the extension's own `tracing` output to stderr, where the host collects
/// it. The filter comes from `SANDBOXER_EXT_LOG` (default `info`).
pub fn init_stderr_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("SANDBOXER_EXT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
