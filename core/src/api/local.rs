//! The verbs run on the core, for one caller: what `sandboxer` runs without
//! `--server`, and what every daemon route calls. Who may see what is decided
//! here, once, for both.

use super::ByteStream;
use super::caller::Caller;
use super::inside::*;
use super::wire::*;
use super::{ProfileListing, Verbs};
use crate::error::{Error, Result};
use crate::operations::{self, Core, CreateRequest, DestroyOutcome, ExecRequest, Ledger};
use crate::operations::{Attached, StartCommand};
use crate::profile::Profile;
use crate::store::{Event, EventFilter, SandboxRecord, SandboxView, SnapshotRecord, StoreError};
use futures::stream::BoxStream;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::{
    ExecResult, ExecSession, ExecStarted, ExecWriteParams, FileInfo, FsMkdirParams, FsPathParams,
    FsRemoveParams, FsRenameParams,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How often a followed event log is read for new events.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The core, as one caller uses it.
pub struct CoreVerbs {
    pub core: Arc<Core>,
    pub caller: Caller,
    /// Where a create's progress lines go besides the log (the CLI's terminal).
    pub progress: Option<operations::ProgressSink>,
}

impl CoreVerbs {
    pub fn new(core: Arc<Core>, caller: Caller) -> CoreVerbs {
        CoreVerbs {
            core,
            caller,
            progress: None,
        }
    }

    /// The record, if this caller may see it: "absent" and "another project's"
    /// are the same answer, so nothing leaks. An id that cannot exist is bad
    /// input.
    pub fn visible(&self, id: &str) -> Result<SandboxRecord> {
        let record = self.core.record(id)?;
        if !self.caller.sees(&record.project) {
            return Err(Error::SandboxNotFound(id.to_string()));
        }
        Ok(record)
    }

    /// The snapshot, deleted or not, if this caller may see it.
    fn visible_snapshot(&self, snapshot_id: &str) -> Result<SnapshotRecord> {
        let snap = operations::snapshot_record(&self.core, snapshot_id)?;
        if !self.caller.sees(&snap.project) {
            return Err(Error::SnapshotNotFound(snapshot_id.to_string()));
        }
        Ok(snap)
    }

    /// A create or restore, its lifetime and labels checked.
    fn launch(
        &self,
        profile: String,
        ttl: Option<&str>,
        labels: std::collections::BTreeMap<String, String>,
        host: Option<String>,
        attribution: crate::attribution::Attribution,
        wait: Option<bool>,
    ) -> Result<CreateRequest> {
        for (k, v) in &labels {
            crate::labels::validate_key(k)
                .and_then(|_| crate::labels::validate_value(k, v))
                .map_err(|e| Error::Invalid(format!("labels: {e}")))?;
        }
        let ttl = ttl
            .map(crate::time::parse_lifetime)
            .transpose()
            .map_err(|e| Error::Invalid(format!("ttl: {e}")))?;
        Ok(CreateRequest {
            profile,
            ttl,
            labels,
            host,
            attribution,
            wait: wait.unwrap_or(true),
            idempotency_key: None,
            from_snapshot: None,
            progress: self.progress.clone(),
        })
    }

    /// A profile as this caller may see it: a member sees the names of its
    /// secrets, not where their values come from (`env:`, `file:`, `cmd:` name
    /// the daemon's environment, files and commands). The names of the files it
    /// ships are listed, not their contents.
    fn profile_as_seen(&self, profile: &Profile) -> Value {
        let mut value = serde_json::to_value(profile).expect("a profile serializes");
        if !self.caller.is_admin() {
            value["secrets"] = json!(profile.secrets.keys().collect::<Vec<_>>());
        }
        if !profile.files.is_empty() {
            value["files"] = json!(profile.files.keys().collect::<Vec<_>>());
        }
        value
    }

    /// An event as this caller may see it: a member sees which extension ran,
    /// not where its executable is on the daemon's machine.
    fn event_as_seen(caller: &Caller, mut event: Event) -> Event {
        if !caller.is_admin()
            && let Some(detail) = event.detail.as_object_mut()
        {
            detail.remove("path");
        }
        event
    }

    fn event_filter(&self, query: &EventsQuery) -> Result<EventFilter> {
        if let Some(tail) = query.tail {
            if query.after.is_some() {
                return Err(Error::Invalid(
                    "tail and after: give one (tail counts back from the end, after forward)"
                        .into(),
                ));
            }
            if tail > EVENTS_PAGE {
                return Err(Error::Invalid(format!(
                    "tail={tail}: between 0 and {EVENTS_PAGE}"
                )));
            }
        }
        if let Some(id) = &query.sandbox {
            self.visible(id)?;
        }
        Ok(EventFilter {
            sandbox_id: query.sandbox.clone(),
            project: self.caller.member_of.clone(),
            after_seq: query.after,
            limit: None,
            tail: None,
        })
    }

    /// The newest `n` events matching `filter` (for `tail=`).
    fn newest(&self, filter: &EventFilter, n: u32) -> Result<Vec<Event>> {
        operations::events(
            &self.core,
            &EventFilter {
                tail: Some(n),
                ..filter.clone()
            },
        )
    }

    /// One extension described: its handshake (a resident one's in the daemon,
    /// a fresh one's otherwise).
    async fn describe(&self, found: crate::exthost::Discovered) -> ExtensionReport {
        let mut report = match self.core.extension(&found.name).await {
            Ok(lease) => {
                let info = lease.info().clone();
                lease.release().await;
                ExtensionReport {
                    name: found.name,
                    path: Some(found.path),
                    handshake: "ok".into(),
                    version: Some(info.extension.version),
                    protocol_version: Some(info.protocol_version),
                    methods: Some(info.capabilities.methods),
                    features: Some(info.capabilities.features),
                    options_schema: Some(info.options_schema),
                    error: None,
                }
            }
            Err(e) => ExtensionReport {
                name: found.name,
                path: Some(found.path),
                handshake: "failed".into(),
                version: None,
                protocol_version: None,
                methods: None,
                features: None,
                options_schema: None,
                error: Some(e.to_string()),
            },
        };
        if !self.caller.is_admin() {
            report.path = None;
            if report.error.is_some() {
                report.error = Some("the handshake failed; an admin token shows why".into());
            }
        }
        report
    }
}

/// A store failure or the caller's own, while listing.
enum ListFailure<E> {
    Store(StoreError),
    Caller(E),
}

impl<E> From<StoreError> for ListFailure<E> {
    fn from(e: StoreError) -> Self {
        ListFailure::Store(e)
    }
}

impl Verbs for CoreVerbs {
    async fn create(&self, request: CreateSandbox) -> Result<Created> {
        let attribution = self.caller.attribution(
            request.consumer.as_deref(),
            request.project.as_deref(),
            None,
        )?;
        let mut create = self.launch(
            request.profile,
            request.ttl.as_deref(),
            request.labels,
            request.host,
            attribution,
            request.wait,
        )?;
        create.idempotency_key = request.idempotency_key;
        let outcome = operations::create_idempotent(&self.core, create).await?;
        Ok(Created {
            record: outcome.record,
            reused: outcome.reused,
        })
    }

    async fn get(&self, id: &str, query: GetSandbox) -> Result<Shown> {
        let outcome = if query.refresh {
            self.visible(id)?;
            operations::get(&self.core, id, true).await?
        } else {
            // Seen first: a caller must not keep another project's sandbox alive.
            let record = self.visible(id)?;
            operations::touch(&self.core, id);
            operations::GetOutcome {
                record,
                refresh_error: None,
            }
        };
        Ok(Shown {
            usage: Some(outcome.record.usage_at(crate::time::now_ms())),
            record: outcome.record,
            refresh_error: outcome.refresh_error,
        })
    }

    async fn list<E: From<Error>>(
        &self,
        query: &ListSandboxes,
        mut each: impl FnMut(SandboxView<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let filter = query.filter(self.caller.confine(query.project.clone())?);
        let listed = operations::for_each(&self.core, &filter, |view| {
            each(view).map_err(ListFailure::Caller)
        });
        match listed {
            Ok(()) => Ok(()),
            Err(ListFailure::Store(e)) => Err(Error::from(e).into()),
            Err(ListFailure::Caller(e)) => Err(e),
        }
    }

    async fn destroy(&self, id: &str) -> Result<DestroyOutcome> {
        self.visible(id)?;
        operations::destroy(&self.core, id, &self.caller.actor).await
    }

    async fn recreate(&self, id: &str, request: Recreate) -> Result<Recreated> {
        self.visible(id)?;
        let (old, new) = operations::recreate(
            &self.core,
            id,
            &self.caller.actor,
            request.wait.unwrap_or(true),
        )
        .await?;
        Ok(Recreated { old, new })
    }

    async fn extend_ttl(&self, id: &str, request: ExtendTtl) -> Result<SandboxRecord> {
        self.visible(id)?;
        let by = crate::time::parse_lifetime(&request.by)
            .map_err(|e| Error::Invalid(format!("by: {e}")))?;
        operations::extend_ttl(&self.core, id, by, &self.caller.actor).await
    }

    async fn exec(&self, id: &str, request: ExecRequest) -> Result<ExecResult> {
        self.visible(id)?;
        // What the extension refuses of the request (a service the sandbox
        // does not have) is the caller's to fix: a 4xx, not a failing backend.
        operations::exec(&self.core, id, request, &self.caller.actor)
            .await
            .map_err(Error::inside)
    }

    async fn take_snapshot(&self, id: &str, request: TakeSnapshot) -> Result<SnapshotRecord> {
        self.visible(id)?;
        operations::snapshot(&self.core, id, &request.name, &self.caller.actor).await
    }

    async fn snapshots(&self) -> Result<Vec<SnapshotRecord>> {
        operations::list_snapshots(&self.core, self.caller.member_of.as_deref())
    }

    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<SnapshotRecord> {
        self.visible_snapshot(snapshot_id)?;
        operations::delete_snapshot(&self.core, snapshot_id, &self.caller.actor).await
    }

    async fn restore(&self, snapshot_id: &str, request: RestoreSnapshot) -> Result<SandboxRecord> {
        let snap = self.visible_snapshot(snapshot_id)?;
        // Charged to the caller, in the snapshot's project unless told otherwise.
        let attribution = self.caller.attribution(
            request.consumer.as_deref(),
            request.project.as_deref(),
            Some(&snap.project),
        )?;
        let create = self.launch(
            snap.profile_id.clone(),
            request.ttl.as_deref(),
            request.labels,
            request.host,
            attribution,
            request.wait,
        )?;
        Ok(operations::restore(&self.core, snapshot_id, create)
            .await?
            .record)
    }

    async fn usage(&self, query: &UsageQuery) -> Result<Ledger> {
        let (by, ledger_query) = query.parsed()?;
        let mut ledger = operations::ledger(&self.core, by, &ledger_query, |project| {
            self.caller.sees(project)
        })?;
        ledger.budgets = operations::standing(&self.core, |project| self.caller.sees(project))?;
        Ok(ledger)
    }

    async fn events(&self, query: &EventsQuery) -> Result<EventsPage> {
        let limit = query.limit.unwrap_or(EVENTS_PAGE);
        if !(1..=EVENTS_PAGE).contains(&limit) {
            return Err(Error::Invalid(format!(
                "limit={limit}: between 1 and {EVENTS_PAGE}"
            )));
        }
        let mut filter = self.event_filter(query)?;
        filter.limit = Some(limit);
        let found = match query.tail {
            // `tail=0`: none to give, but where the log ends (the newest one's
            // number), to follow it from there.
            Some(0) => {
                let newest = self.newest(&filter, 1)?;
                return Ok(EventsPage {
                    events: vec![],
                    next_after: newest.last().map(|e| e.seq),
                });
            }
            Some(tail) => self.newest(&filter, tail)?,
            None => operations::events(&self.core, &filter)?,
        };
        let events: Vec<Event> = found
            .into_iter()
            .map(|e| Self::event_as_seen(&self.caller, e))
            .collect();
        let next_after = events.last().map(|e| e.seq);
        Ok(EventsPage { events, next_after })
    }

    async fn follow_events(
        &self,
        query: &EventsQuery,
    ) -> Result<BoxStream<'static, Result<Event>>> {
        let mut filter = self.event_filter(query)?;
        if let Some(tail) = query.tail {
            // After the event before the newest `tail`; from the start when
            // there are no more than that.
            let newest = self.newest(&filter, tail + 1)?;
            filter.after_seq = (newest.len() as u32 == tail + 1).then(|| newest[0].seq);
        }
        let state = (
            self.core.clone(),
            self.caller.clone(),
            filter,
            std::collections::VecDeque::<Event>::new(),
        );
        let stream =
            futures::stream::unfold(state, |(core, caller, mut filter, mut queue)| async move {
                loop {
                    if let Some(e) = queue.pop_front() {
                        filter.after_seq = Some(e.seq);
                        let seen = Self::event_as_seen(&caller, e);
                        return Some((Ok(seen), (core, caller, filter, queue)));
                    }
                    let mut batch = filter.clone();
                    batch.limit = Some(EVENTS_PAGE);
                    match operations::events(&core, &batch) {
                        Ok(events) => queue.extend(events),
                        Err(e) => {
                            tokio::time::sleep(FOLLOW_POLL).await;
                            return Some((Err(e), (core, caller, filter, queue)));
                        }
                    }
                    if queue.is_empty() {
                        tokio::time::sleep(FOLLOW_POLL).await;
                    }
                }
            });
        Ok(Box::pin(stream))
    }

    async fn profiles(&self) -> Result<ProfileListing> {
        let catalog = self.core.catalog();
        Ok(ProfileListing {
            profiles: catalog
                .profiles()
                .map(|p| self.profile_as_seen(p))
                .collect(),
            problems: catalog.problems().cloned().collect(),
        })
    }

    async fn profile(&self, name: &str) -> Result<Value> {
        let profile = self.core.catalog().get(name)?;
        Ok(self.profile_as_seen(profile))
    }

    async fn guarantees(&self, name: &str) -> Result<Value> {
        let profile = self.core.catalog().get(name)?.clone();
        let candidates = operations::candidates(&self.core, &profile).await?;
        Ok(serde_json::json!({ "profile": profile.id, "candidates": candidates }))
    }

    async fn extensions(&self) -> Result<Vec<ExtensionReport>> {
        let all = crate::exthost::find_all()
            .into_iter()
            .map(|found| self.describe(found));
        Ok(futures::future::join_all(all).await)
    }

    async fn extension(&self, name: &str) -> Result<ExtensionReport> {
        let found = crate::exthost::find(name)?;
        Ok(self.describe(found).await)
    }

    async fn hosts(&self, query: &HostsQuery) -> Result<Hosts> {
        self.caller.require_admin("the hosts")?;
        let since = crate::time::parse_since(query.since.as_deref().unwrap_or("24h"))
            .map_err(|e| Error::Invalid(format!("since: {e}")))?;
        // The daemon samples on a schedule; a one-off command samples now.
        if self.core.resident_extensions().is_none() {
            operations::sample_hosts(&self.core).await;
        }
        Ok(Hosts {
            hosts: operations::host_report(&self.core, since, query.series)?,
        })
    }

    async fn start_command(&self, id: &str, request: StartCommand) -> Result<ExecStarted> {
        self.visible(id)?;
        operations::start_command(&self.core, id, request, &self.caller.actor).await
    }

    async fn attach(
        &self,
        id: &str,
        exec_id: &str,
        query: AttachQuery,
    ) -> Result<BoxStream<'static, Result<Attached>>> {
        self.visible(id)?;
        operations::attach(self.core.clone(), id, exec_id, query.from_seq).await
    }

    async fn write_stdin(&self, id: &str, exec_id: &str, request: StdinWrite) -> Result<()> {
        self.visible(id)?;
        let params = ExecWriteParams {
            sandbox_id: id.to_string(),
            exec_id: exec_id.to_string(),
            data: request.data,
            eof: request.eof,
        };
        operations::write_stdin(&self.core, id, params).await?;
        Ok(())
    }

    async fn signal(&self, id: &str, exec_id: &str, request: SignalRequest) -> Result<()> {
        self.visible(id)?;
        operations::signal(&self.core, id, exec_id, request.signal).await?;
        Ok(())
    }

    async fn resize(&self, id: &str, exec_id: &str, request: ResizeRequest) -> Result<()> {
        self.visible(id)?;
        operations::resize(&self.core, id, exec_id, request.into()).await?;
        Ok(())
    }

    async fn commands(&self, id: &str) -> Result<Vec<ExecSession>> {
        self.visible(id)?;
        Ok(operations::commands(&self.core, id).await?.sessions)
    }

    async fn read_file(&self, id: &str, query: &FileQuery) -> Result<ByteStream> {
        self.visible(id)?;
        operations::read_file(self.core.clone(), id, &query.path, query.service.clone()).await
    }

    async fn write_file(&self, id: &str, query: &FileQuery, body: ByteStream) -> Result<Written> {
        self.visible(id)?;
        let written = operations::write_file(
            &self.core,
            id,
            &query.path,
            query.service.clone(),
            query.mode,
            body,
        )
        .await?;
        Ok(Written {
            bytes: written.size,
        })
    }

    async fn remove_file(&self, id: &str, query: &FileQuery) -> Result<()> {
        self.visible(id)?;
        let params = FsRemoveParams {
            sandbox_id: id.to_string(),
            path: query.path.clone(),
            service: query.service.clone(),
            recursive: query.recursive,
        };
        operations::file_call::<m::FsRemove>(&self.core, id, params).await?;
        Ok(())
    }

    async fn list_files(&self, id: &str, query: &FileQuery) -> Result<Vec<FileInfo>> {
        self.visible(id)?;
        let params = FsPathParams {
            sandbox_id: id.to_string(),
            path: query.path.clone(),
            service: query.service.clone(),
        };
        Ok(operations::file_call::<m::FsList>(&self.core, id, params)
            .await?
            .entries)
    }

    async fn stat_file(&self, id: &str, query: &FileQuery) -> Result<FileInfo> {
        self.visible(id)?;
        let params = FsPathParams {
            sandbox_id: id.to_string(),
            path: query.path.clone(),
            service: query.service.clone(),
        };
        operations::file_call::<m::FsStat>(&self.core, id, params).await
    }

    async fn make_dir(&self, id: &str, request: MakeDir) -> Result<()> {
        self.visible(id)?;
        let params = FsMkdirParams {
            sandbox_id: id.to_string(),
            path: request.path,
            service: request.service,
            parents: request.parents,
        };
        operations::file_call::<m::FsMkdir>(&self.core, id, params).await?;
        Ok(())
    }

    async fn rename_file(&self, id: &str, request: RenameFile) -> Result<()> {
        self.visible(id)?;
        let params = FsRenameParams {
            sandbox_id: id.to_string(),
            from: request.from,
            to: request.to,
            service: request.service,
        };
        operations::file_call::<m::FsRename>(&self.core, id, params).await?;
        Ok(())
    }

    async fn get_tree(&self, id: &str, query: &FileQuery) -> Result<ByteStream> {
        self.visible(id)?;
        operations::get_tree(self.core.clone(), id, &query.path, query.service.clone()).await
    }

    async fn put_tree(&self, id: &str, query: &FileQuery, body: ByteStream) -> Result<Written> {
        self.visible(id)?;
        let bytes =
            operations::put_tree(&self.core, id, &query.path, query.service.clone(), body).await?;
        Ok(Written { bytes })
    }

    async fn pause(&self, id: &str) -> Result<SandboxRecord> {
        self.visible(id)?;
        operations::pause(&self.core, id, &self.caller.actor, "asked").await
    }

    async fn resume(&self, id: &str) -> Result<SandboxRecord> {
        self.visible(id)?;
        operations::resume(&self.core, id, &self.caller.actor).await
    }

    async fn logs(&self, id: &str, query: &LogsQuery) -> Result<ByteStream> {
        self.visible(id)?;
        operations::logs(
            self.core.clone(),
            id,
            query.service.clone(),
            query.follow,
            query.tail,
        )
        .await
    }

    async fn metrics(&self, id: &str) -> Result<sandboxer_ext_protocol::MetricsResult> {
        self.visible(id)?;
        operations::metrics(&self.core, id).await
    }

    async fn endpoint_access(
        &self,
        id: &str,
        name: &str,
        query: &AccessQuery,
    ) -> Result<crate::endpoints::EndpointAccess> {
        let record = self.visible(id)?;
        let valid_for = query.seconds()?;
        operations::endpoint_access(&self.core, &record, name, valid_for)
    }
}
