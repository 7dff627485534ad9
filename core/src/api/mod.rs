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
/// write `async fn`; the futures are `Send` so that code generic over the
/// verbs (the MCP tools) runs on any executor thread.
pub trait Verbs {
    fn create(&self, request: CreateSandbox) -> impl Future<Output = Result<Created>> + Send;
    fn get(&self, id: &str, query: GetSandbox) -> impl Future<Output = Result<Shown>> + Send;
    /// Each matching sandbox in turn, borrowed: lists of any size stay cheap.
    fn list<E: From<Error>>(
        &self,
        query: &ListSandboxes,
        each: impl FnMut(SandboxView<'_>) -> std::result::Result<(), E> + Send,
    ) -> impl Future<Output = std::result::Result<(), E>> + Send;
    fn destroy(&self, id: &str) -> impl Future<Output = Result<DestroyOutcome>> + Send;
    fn recreate(
        &self,
        id: &str,
        request: Recreate,
    ) -> impl Future<Output = Result<Recreated>> + Send;
    fn extend_ttl(
        &self,
        id: &str,
        request: ExtendTtl,
    ) -> impl Future<Output = Result<crate::store::SandboxRecord>> + Send;
    fn exec(
        &self,
        id: &str,
        request: crate::operations::ExecRequest,
    ) -> impl Future<Output = Result<ExecResult>> + Send;
    fn take_snapshot(
        &self,
        id: &str,
        request: TakeSnapshot,
    ) -> impl Future<Output = Result<SnapshotRecord>> + Send;
    fn snapshots(&self) -> impl Future<Output = Result<Vec<SnapshotRecord>>> + Send;
    fn delete_snapshot(
        &self,
        snapshot_id: &str,
    ) -> impl Future<Output = Result<SnapshotRecord>> + Send;
    fn restore(
        &self,
        snapshot_id: &str,
        request: RestoreSnapshot,
    ) -> impl Future<Output = Result<crate::store::SandboxRecord>> + Send;
    fn usage(&self, query: &UsageQuery) -> impl Future<Output = Result<Ledger>> + Send;
    fn events(&self, query: &EventsQuery) -> impl Future<Output = Result<EventsPage>> + Send;
    /// The events after `query.after`, then each new one as it is written,
    /// without end.
    fn follow_events(
        &self,
        query: &EventsQuery,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<Event>>>> + Send;
    fn profiles(&self) -> impl Future<Output = Result<ProfileListing>> + Send;
    fn profile(&self, name: &str) -> impl Future<Output = Result<Value>> + Send;
    /// What each candidate extension guarantees of profile `name`:
    /// `{"profile": ID, "candidates": [...]}` (each with its verdicts, or why
    /// it could not be asked).
    fn guarantees(&self, name: &str) -> impl Future<Output = Result<Value>> + Send;
    fn extensions(&self) -> impl Future<Output = Result<Vec<ExtensionReport>>> + Send;
    fn extension(&self, name: &str) -> impl Future<Output = Result<ExtensionReport>> + Send;
    fn hosts(&self, query: &HostsQuery) -> impl Future<Output = Result<Hosts>> + Send;

    // Working inside a sandbox (extensions of protocol 1.6).
    fn start_command(
        &self,
        id: &str,
        request: StartCommand,
    ) -> impl Future<Output = Result<ExecStarted>> + Send;
    /// The command's output from `query.from_seq` on, then its exit; dropping
    /// the stream detaches.
    fn attach(
        &self,
        id: &str,
        exec_id: &str,
        query: AttachQuery,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<Attached>>>> + Send;
    fn write_stdin(
        &self,
        id: &str,
        exec_id: &str,
        request: StdinWrite,
    ) -> impl Future<Output = Result<()>> + Send;
    fn signal(
        &self,
        id: &str,
        exec_id: &str,
        request: SignalRequest,
    ) -> impl Future<Output = Result<()>> + Send;
    fn resize(
        &self,
        id: &str,
        exec_id: &str,
        request: ResizeRequest,
    ) -> impl Future<Output = Result<()>> + Send;
    fn commands(&self, id: &str) -> impl Future<Output = Result<Vec<ExecSession>>> + Send;
    fn read_file(
        &self,
        id: &str,
        query: &FileQuery,
    ) -> impl Future<Output = Result<ByteStream>> + Send;
    fn write_file(
        &self,
        id: &str,
        query: &FileQuery,
        body: ByteStream,
    ) -> impl Future<Output = Result<Written>> + Send;
    fn remove_file(&self, id: &str, query: &FileQuery) -> impl Future<Output = Result<()>> + Send;
    fn list_files(
        &self,
        id: &str,
        query: &FileQuery,
    ) -> impl Future<Output = Result<Vec<FileInfo>>> + Send;
    fn stat_file(
        &self,
        id: &str,
        query: &FileQuery,
    ) -> impl Future<Output = Result<FileInfo>> + Send;
    fn make_dir(&self, id: &str, request: MakeDir) -> impl Future<Output = Result<()>> + Send;
    fn rename_file(&self, id: &str, request: RenameFile)
    -> impl Future<Output = Result<()>> + Send;
    /// A tar stream of `query.path`.
    fn get_tree(
        &self,
        id: &str,
        query: &FileQuery,
    ) -> impl Future<Output = Result<ByteStream>> + Send;
    /// Unpacks the tar stream `body` into folder `query.path`.
    fn put_tree(
        &self,
        id: &str,
        query: &FileQuery,
        body: ByteStream,
    ) -> impl Future<Output = Result<Written>> + Send;
    fn pause(&self, id: &str) -> impl Future<Output = Result<crate::store::SandboxRecord>> + Send;
    fn resume(&self, id: &str) -> impl Future<Output = Result<crate::store::SandboxRecord>> + Send;
    /// What the sandbox's processes wrote, as it comes.
    fn logs(&self, id: &str, query: &LogsQuery) -> impl Future<Output = Result<ByteStream>> + Send;
    fn metrics(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<sandboxer_ext_protocol::MetricsResult>> + Send;
    /// How to reach one of a sandbox's HTTP endpoints through the daemon's
    /// proxy: its URLs, its token, a signed URL.
    fn endpoint_access(
        &self,
        id: &str,
        name: &str,
        query: &AccessQuery,
    ) -> impl Future<Output = Result<crate::endpoints::EndpointAccess>> + Send;
}

/// Bytes as they come: a file's, a tar stream's.
pub type ByteStream = BoxStream<'static, Result<bytes::Bytes>>;
