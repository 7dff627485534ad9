//! One surface for every verb: `Verbs` is implemented by the core for a caller
//! (`CoreVerbs`, what the CLI runs locally and what the daemon's routes call)
//! and by the daemon's HTTP client (`sandboxer::client`), so a verb the CLI has
//! is a verb both modes have. `wire` holds what each verb takes and answers,
//! `routes` where the daemon serves it.

mod caller;
pub mod inside;
mod local;
pub mod query;
pub mod routes;
pub mod tokens;
pub mod wire;

pub use caller::Caller;
pub use inside::*;
pub use local::CoreVerbs;
pub use query::{Pairs, Query};
pub use routes::{ROUTES, Route, Verb};
pub use wire::*;

use crate::error::{Error, Result};
use crate::operations::{Attached, StartCommand};
use crate::operations::{DestroyOutcome, Ledger};
use crate::store::{Event, SandboxView, SnapshotRecord};
use futures::stream::BoxStream;
use sandboxer_ext_protocol::{ExecResult, ExecSession, ExecStarted, FileInfo};
use serde_json::Value;

/// A profile catalog's listing: each profile as the caller may see it, and the
/// problems of the profiles that did not load (the local catalog's; the daemon
/// reports its own when it starts).
#[derive(Debug, Clone)]
pub struct ProfileListing {
    pub profiles: Vec<Value>,
    pub problems: Vec<crate::profile::ProfileError>,
}

/// Every verb of sandboxer, as the CLI and agents use them. Implementations
/// are used by their concrete type (never `dyn`), so `async fn` is fine here.
#[allow(async_fn_in_trait)]
pub trait Verbs {
    async fn create(&self, request: CreateSandbox) -> Result<Created>;
    async fn get(&self, id: &str, query: GetSandbox) -> Result<Shown>;
    /// Each matching sandbox in turn, borrowed: lists of any size stay cheap.
    async fn list<E: From<Error>>(
        &self,
        query: &ListSandboxes,
        each: impl FnMut(SandboxView<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>;
    async fn destroy(&self, id: &str) -> Result<DestroyOutcome>;
    async fn recreate(&self, id: &str, request: Recreate) -> Result<Recreated>;
    async fn extend_ttl(&self, id: &str, request: ExtendTtl)
    -> Result<crate::store::SandboxRecord>;
    async fn exec(&self, id: &str, request: crate::operations::ExecRequest) -> Result<ExecResult>;
    async fn take_snapshot(&self, id: &str, request: TakeSnapshot) -> Result<SnapshotRecord>;
    async fn snapshots(&self) -> Result<Vec<SnapshotRecord>>;
    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<SnapshotRecord>;
    async fn restore(
        &self,
        snapshot_id: &str,
        request: RestoreSnapshot,
    ) -> Result<crate::store::SandboxRecord>;
    async fn usage(&self, query: &UsageQuery) -> Result<Ledger>;
    async fn events(&self, query: &EventsQuery) -> Result<EventsPage>;
    /// The events after `query.after`, then each new one as it is written,
    /// without end.
    async fn follow_events(&self, query: &EventsQuery)
    -> Result<BoxStream<'static, Result<Event>>>;
    async fn profiles(&self) -> Result<ProfileListing>;
    async fn profile(&self, name: &str) -> Result<Value>;
    async fn extensions(&self) -> Result<Vec<ExtensionReport>>;
    async fn extension(&self, name: &str) -> Result<ExtensionReport>;
    async fn hosts(&self, query: &HostsQuery) -> Result<Hosts>;

    // Working inside a sandbox (extensions of protocol 1.6).
    async fn start_command(&self, id: &str, request: StartCommand) -> Result<ExecStarted>;
    /// The command's output from `query.from_seq` on, then its exit; dropping
    /// the stream detaches.
    async fn attach(
        &self,
        id: &str,
        exec_id: &str,
        query: AttachQuery,
    ) -> Result<BoxStream<'static, Result<Attached>>>;
    async fn write_stdin(&self, id: &str, exec_id: &str, request: StdinWrite) -> Result<()>;
    async fn signal(&self, id: &str, exec_id: &str, request: SignalRequest) -> Result<()>;
    async fn resize(&self, id: &str, exec_id: &str, request: ResizeRequest) -> Result<()>;
    async fn commands(&self, id: &str) -> Result<Vec<ExecSession>>;
    async fn read_file(&self, id: &str, query: &FileQuery) -> Result<ByteStream>;
    async fn write_file(&self, id: &str, query: &FileQuery, body: ByteStream) -> Result<Written>;
    async fn remove_file(&self, id: &str, query: &FileQuery) -> Result<()>;
    async fn list_files(&self, id: &str, query: &FileQuery) -> Result<Vec<FileInfo>>;
    async fn stat_file(&self, id: &str, query: &FileQuery) -> Result<FileInfo>;
    async fn make_dir(&self, id: &str, request: MakeDir) -> Result<()>;
    async fn rename_file(&self, id: &str, request: RenameFile) -> Result<()>;
    /// A tar stream of `query.path`.
    async fn get_tree(&self, id: &str, query: &FileQuery) -> Result<ByteStream>;
    /// Unpacks the tar stream `body` into folder `query.path`.
    async fn put_tree(&self, id: &str, query: &FileQuery, body: ByteStream) -> Result<Written>;
    async fn pause(&self, id: &str) -> Result<crate::store::SandboxRecord>;
    async fn resume(&self, id: &str) -> Result<crate::store::SandboxRecord>;
    /// What the sandbox's processes wrote, as it comes.
    async fn logs(&self, id: &str, query: &LogsQuery) -> Result<ByteStream>;
    async fn metrics(&self, id: &str) -> Result<sandboxer_ext_protocol::MetricsResult>;
    /// How to reach one of a sandbox's HTTP endpoints through the daemon's
    /// proxy: its URLs, its token, a signed URL.
    async fn endpoint_access(
        &self,
        id: &str,
        name: &str,
        query: &AccessQuery,
    ) -> Result<crate::endpoints::EndpointAccess>;
}

/// Bytes as they come: a file's, a tar stream's.
pub type ByteStream = BoxStream<'static, Result<bytes::Bytes>>;
