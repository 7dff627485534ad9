//! vm-packer over several hosts: with `hosts` in its options the extension runs no
//! machine itself but relays every call to vm-packer on those hosts, one ssh
//! connection each (see `remote`). A create goes to the host placement chooses
//! (the profile's `placement.labels`, then the most headroom: capacity and free
//! memory from each host's `host/health`); every other call goes to the host that
//! holds the sandbox or snapshot, found from the backend reference, from what this
//! process has seen, or by asking every host. Lists, health, doctor and images
//! merge all hosts, and a host that does not answer fails a list rather than
//! making its machines look gone.

use crate::remote::{Connection, RelayOptions, RemoteHost};
use crate::spec::ProfileSpec;
use sandboxer_ext_protocol::methods::{self as m, Request};
use sandboxer_ext_protocol::sdk::peer::Peer;
use sandboxer_ext_protocol::sdk::placement::{self, HostState};
use sandboxer_ext_protocol::sdk::{Context, ExtResult};
use sandboxer_ext_protocol::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The key every relayed answer gets in its `details`: the host it came from.
pub const HOST_DETAIL: &str = "host";

pub struct Relay {
    hosts: Vec<(RemoteHost, Connection)>,
    /// Sandbox and snapshot ids → the host that holds them, as seen here.
    seen: Mutex<BTreeMap<String, usize>>,
    marks: HostState,
    /// One placement at a time: a choice and its reservation go together.
    placing: tokio::sync::Mutex<()>,
}

/// `message` of `e`, prefixed with where it happened.
fn on_host(host: &RemoteHost, mut e: ErrorObject) -> ErrorObject {
    if !e.message.starts_with("host ") {
        e.message = format!("host {}: {}", host.name, e.message);
    }
    e
}

fn not_found(what: &str, id: &str) -> ErrorObject {
    ErrorObject::domain(ErrorKind::NotFound, format!("no {what} {id} on any host"))
}

impl Relay {
    pub fn new(options: JsonObject) -> ExtResult<Relay> {
        let relay = RelayOptions::from_json(options)?;
        Ok(Relay {
            hosts: relay
                .hosts
                .into_iter()
                .map(|h| (h, Connection::default()))
                .collect(),
            seen: Mutex::new(BTreeMap::new()),
            marks: HostState::default(),
            placing: tokio::sync::Mutex::new(()),
        })
    }

    fn host_named(&self, name: &str, field: &str) -> ExtResult<usize> {
        self.hosts
            .iter()
            .position(|(h, _)| h.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.hosts.iter().map(|(h, _)| h.name.as_str()).collect();
                ErrorObject::invalid_argument(
                    field,
                    format!("no host {name}: the hosts are {}", names.join(", ")),
                )
            })
    }

    async fn peer(&self, at: usize) -> ExtResult<Arc<Peer>> {
        let (host, connection) = &self.hosts[at];
        connection.peer(host).await
    }

    /// Calls `M` on host `at`, its errors naming the host.
    async fn call<M: Request>(
        &self,
        at: usize,
        params: &M::Params,
        ctx: Option<&Context>,
    ) -> ExtResult<M::Result> {
        let host = &self.hosts[at].0;
        let outcome = match self.peer(at).await {
            Ok(peer) => peer.call::<M>(params, ctx).await,
            Err(e) => Err(e),
        };
        outcome.map_err(|e| on_host(host, e))
    }

    /// Calls `M` on every host at once; the answers in host order.
    async fn call_all<M: Request>(&self, params: &M::Params) -> Vec<ExtResult<M::Result>> {
        futures::future::join_all((0..self.hosts.len()).map(|at| self.call::<M>(at, params, None)))
            .await
    }

    fn remember(&self, id: &str, at: usize) {
        self.seen
            .lock()
            .expect("relay ids poisoned")
            .insert(id.to_string(), at);
    }

    fn forget(&self, id: &str) {
        self.seen.lock().expect("relay ids poisoned").remove(id);
    }

    /// A host's sandbox as the relay answers it: the host in its details and
    /// its backend reference.
    fn relayed(&self, at: usize, mut sandbox: Sandbox) -> Sandbox {
        let name = &self.hosts[at].0.name;
        sandbox.backend_ref = format!("{name}/{}", sandbox.backend_ref);
        sandbox.details.insert(HOST_DETAIL.into(), json!(name));
        self.remember(&sandbox.sandbox_id, at);
        sandbox
    }

    /// The host holding sandbox `id`: from its backend reference, from what was
    /// seen, or by asking every host (`None` when none has it and all answered).
    async fn holder(&self, id: &str, backend_ref: Option<&str>) -> ExtResult<Option<usize>> {
        if let Some((name, _)) = backend_ref.and_then(|r| r.split_once('/'))
            && let Ok(at) = self.host_named(name, "backend_ref")
        {
            return Ok(Some(at));
        }
        if let Some(at) = self.seen.lock().expect("relay ids poisoned").get(id) {
            return Ok(Some(*at));
        }
        let asked = self
            .call_all::<m::SandboxGet>(&GetParams {
                sandbox_id: id.to_string(),
                backend_ref: None,
            })
            .await;
        let mut unanswered = Vec::new();
        for (at, answer) in asked.into_iter().enumerate() {
            match answer {
                Ok(_) => {
                    self.remember(id, at);
                    return Ok(Some(at));
                }
                Err(e) if e.kind() == Some(ErrorKind::NotFound) => {}
                Err(e) => unanswered.push(e.message),
            }
        }
        if unanswered.is_empty() {
            return Ok(None);
        }
        Err(ErrorObject::domain(
            ErrorKind::Unavailable,
            format!(
                "sandbox {id} is on no host that answered, and some did not: {}",
                unanswered.join("; ")
            ),
        ))
    }

    async fn holder_of_sandbox(&self, id: &str) -> ExtResult<usize> {
        self.holder(id, None)
            .await?
            .ok_or_else(|| not_found("sandbox", id))
    }

    /// The host holding snapshot `id`.
    async fn holder_of_snapshot(&self, id: &str) -> ExtResult<usize> {
        if let Some(at) = self.seen.lock().expect("relay ids poisoned").get(id) {
            return Ok(*at);
        }
        let lists = self
            .call_all::<m::SnapshotList>(&SnapshotListParams {})
            .await;
        let mut unanswered = Vec::new();
        for (at, list) in lists.into_iter().enumerate() {
            match list {
                Ok(l) if l.snapshots.iter().any(|s| s.snapshot_id == id) => {
                    self.remember(id, at);
                    return Ok(at);
                }
                Ok(_) => {}
                Err(e) => unanswered.push(e.message),
            }
        }
        if unanswered.is_empty() {
            return Err(not_found("snapshot", id));
        }
        Err(ErrorObject::domain(
            ErrorKind::Unavailable,
            format!(
                "snapshot {id} is on no host that answered: {}",
                unanswered.join("; ")
            ),
        ))
    }

    /// The host a new sandbox goes to.
    async fn place(&self, p: &CreateParams) -> ExtResult<(usize, placement::Reservation)> {
        let spec = ProfileSpec::of(&p.profile)?;
        if let Some(name) = &p.placement.host {
            let at = self.host_named(name, "placement.host")?;
            if let Some((k, v)) = spec.placement.missing_in(&self.hosts[at].0.labels) {
                return Err(placement::host_lacks(name, k, v));
            }
            return Ok((at, self.marks.reserve(name)));
        }
        let matching: Vec<usize> = (0..self.hosts.len())
            .filter(|at| {
                spec.placement
                    .missing_in(&self.hosts[*at].0.labels)
                    .is_none()
            })
            .collect();
        if matching.is_empty() {
            return Err(placement::no_host_with(&spec.placement.labels));
        }
        let _placing = self.placing.lock().await;
        let all_marked = matching
            .iter()
            .all(|at| self.marks.is_marked(&self.hosts[*at].0.name));
        let healths = futures::future::join_all(matching.iter().map(|at| async move {
            let host = &self.hosts[*at].0;
            if !all_marked && self.marks.is_marked(&host.name) {
                return unreachable_health(&host.name, "did not answer moments ago".into());
            }
            match self
                .call::<m::HostHealth>(*at, &HostHealthParams { host: None }, None)
                .await
            {
                Ok(mut answer) if !answer.hosts.is_empty() => {
                    self.marks.mark_reachable(&host.name);
                    let mut health = answer.hosts.remove(0);
                    health.host = host.name.clone();
                    health
                }
                Ok(_) => unreachable_health(&host.name, "it reported no host".into()),
                Err(e) => {
                    self.marks.mark_unreachable(&host.name);
                    unreachable_health(&host.name, e.message)
                }
            }
        }))
        .await;
        let observed: Vec<placement::Observed> = matching
            .iter()
            .zip(healths)
            .map(|(at, health)| {
                let host = &self.hosts[*at].0;
                placement::Observed {
                    name: host.name.clone(),
                    capacity: host.capacity,
                    health,
                    in_flight: self.marks.in_flight(&host.name),
                }
            })
            .collect();
        let memory_mb = p
            .resources
            .memory_mb
            .unwrap_or(crate::backend::DEFAULT_MEMORY_MB);
        let chosen = placement::choose(&observed, memory_mb)?;
        let at = self.host_named(&chosen, "placement.host")?;
        Ok((at, self.marks.reserve(&chosen)))
    }

    pub async fn create(&self, ctx: &Context, mut p: CreateParams) -> ExtResult<Sandbox> {
        // A create sent again (the core retries) goes where the first one went.
        let (at, _reservation) = match self.holder(&p.sandbox_id, None).await {
            Ok(Some(at)) => (at, None),
            _ => {
                let (at, reservation) = self.place(&p).await?;
                (at, Some(reservation))
            }
        };
        p.placement.host = None;
        let sandbox = self.call::<m::SandboxCreate>(at, &p, Some(ctx)).await?;
        Ok(self.relayed(at, sandbox))
    }

    pub async fn get(&self, p: GetParams) -> ExtResult<Sandbox> {
        let at = self
            .holder(&p.sandbox_id, p.backend_ref.as_deref())
            .await?
            .ok_or_else(|| not_found("sandbox", &p.sandbox_id))?;
        let params = GetParams {
            backend_ref: None,
            ..p
        };
        let sandbox = self.call::<m::SandboxGet>(at, &params, None).await?;
        Ok(self.relayed(at, sandbox))
    }

    pub async fn list(&self, p: ListParams) -> ExtResult<ListResult> {
        let answers = self.call_all::<m::SandboxList>(&p).await;
        let mut sandboxes = Vec::new();
        let mut unanswered = Vec::new();
        for (at, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(list) => {
                    sandboxes.extend(list.sandboxes.into_iter().map(|s| self.relayed(at, s)))
                }
                Err(e) => unanswered.push(e.message),
            }
        }
        if !unanswered.is_empty() {
            // A partial list would make the missing machines look gone.
            return Err(ErrorObject::domain(
                ErrorKind::Unavailable,
                format!(
                    "not every host answered, and a partial list would make their machines \
                     look gone; try again when they answer: {}",
                    unanswered.join("; ")
                ),
            ));
        }
        Ok(ListResult { sandboxes })
    }

    pub async fn destroy(&self, p: DestroyParams) -> ExtResult<DestroyResult> {
        let Some(at) = self.holder(&p.sandbox_id, p.backend_ref.as_deref()).await? else {
            // On no host, and every host answered: already gone.
            return Ok(DestroyResult { destroyed: true });
        };
        let params = DestroyParams {
            backend_ref: None,
            ..p
        };
        let done = self.call::<m::SandboxDestroy>(at, &params, None).await?;
        self.forget(&params.sandbox_id);
        Ok(done)
    }

    pub async fn extend_ttl(&self, p: ExtendTtlParams) -> ExtResult<Sandbox> {
        let at = self.holder_of_sandbox(&p.sandbox_id).await?;
        let sandbox = self.call::<m::SandboxExtendTtl>(at, &p, None).await?;
        Ok(self.relayed(at, sandbox))
    }

    pub async fn exec(&self, p: ExecParams) -> ExtResult<ExecResult> {
        let at = self.holder_of_sandbox(&p.sandbox_id).await?;
        self.call::<m::SandboxExec>(at, &p, None).await
    }

    pub async fn snapshot(&self, p: SnapshotParams) -> ExtResult<Snapshot> {
        let at = self.holder_of_sandbox(&p.sandbox_id).await?;
        let mut snapshot = self.call::<m::SandboxSnapshot>(at, &p, None).await?;
        self.remember(&snapshot.snapshot_id, at);
        snapshot
            .details
            .insert(HOST_DETAIL.into(), json!(self.hosts[at].0.name));
        Ok(snapshot)
    }

    /// A restore runs where the snapshot is (its saved state lives there).
    pub async fn restore(&self, ctx: &Context, mut p: RestoreParams) -> ExtResult<Sandbox> {
        let at = self.holder_of_snapshot(&p.snapshot_id).await?;
        p.create.placement.host = None;
        let sandbox = self.call::<m::SandboxRestore>(at, &p, Some(ctx)).await?;
        Ok(self.relayed(at, sandbox))
    }

    pub async fn snapshot_list(&self, p: SnapshotListParams) -> ExtResult<SnapshotListResult> {
        let mut snapshots = Vec::new();
        for (at, answer) in self
            .call_all::<m::SnapshotList>(&p)
            .await
            .into_iter()
            .enumerate()
        {
            for mut s in answer?.snapshots {
                self.remember(&s.snapshot_id, at);
                s.details
                    .insert(HOST_DETAIL.into(), json!(self.hosts[at].0.name));
                snapshots.push(s);
            }
        }
        Ok(SnapshotListResult { snapshots })
    }

    pub async fn snapshot_delete(
        &self,
        p: SnapshotDeleteParams,
    ) -> ExtResult<SnapshotDeleteResult> {
        let at = match self.holder_of_snapshot(&p.snapshot_id).await {
            Err(e) if e.kind() == Some(ErrorKind::NotFound) => {
                return Ok(SnapshotDeleteResult { deleted: false });
            }
            other => other?,
        };
        let done = self.call::<m::SnapshotDelete>(at, &p, None).await?;
        self.forget(&p.snapshot_id);
        Ok(done)
    }

    /// Asked of the first host that answers: every host prices and checks alike.
    async fn first_answer<M: Request>(&self, params: &M::Params) -> ExtResult<M::Result> {
        let mut last = None;
        for at in 0..self.hosts.len() {
            match self.call::<M>(at, params, None).await {
                Ok(answer) => return Ok(answer),
                Err(e) if e.kind() == Some(ErrorKind::Unavailable) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("the relay has at least one host"))
    }

    pub async fn cost_estimate(&self, p: CostEstimateParams) -> ExtResult<CostEstimate> {
        self.first_answer::<m::CostEstimate>(&p).await
    }

    pub async fn profile_check(&self, mut p: ProfileCheckParams) -> ExtResult<ProfileCheckResult> {
        match p.placement.host.take() {
            Some(name) => {
                let at = self.host_named(&name, "placement.host")?;
                self.call::<m::ProfileCheck>(at, &p, None).await
            }
            None => self.first_answer::<m::ProfileCheck>(&p).await,
        }
    }

    /// One entry per host, under its configured name; a host that does not
    /// answer is reported unreachable.
    pub async fn host_health(&self, p: HostHealthParams) -> ExtResult<HostHealthResult> {
        let only = match &p.host {
            Some(name) => Some(self.host_named(name, "host")?),
            None => None,
        };
        let ask = &HostHealthParams { host: None };
        let mut hosts = Vec::new();
        let answers = futures::future::join_all(
            (0..self.hosts.len())
                .filter(|at| only.is_none_or(|o| o == *at))
                .map(|at| async move { (at, self.call::<m::HostHealth>(at, ask, None).await) }),
        )
        .await;
        for (at, answer) in answers {
            let name = &self.hosts[at].0.name;
            match answer {
                Ok(a) => hosts.extend(a.hosts.into_iter().map(|mut h| {
                    h.host = name.clone();
                    h
                })),
                Err(e) => hosts.push(unreachable_health(name, e.message)),
            }
        }
        Ok(HostHealthResult { hosts })
    }

    pub async fn host_doctor(&self, p: HostDoctorParams) -> ExtResult<HostDoctorResult> {
        let only = match &p.host {
            Some(name) => Some(self.host_named(name, "host")?),
            None => None,
        };
        let ask = HostDoctorParams { host: None, ..p };
        let mut hosts = Vec::new();
        for at in (0..self.hosts.len()).filter(|at| only.is_none_or(|o| o == *at)) {
            let name = &self.hosts[at].0.name;
            match self.call::<m::HostDoctor>(at, &ask, None).await {
                Ok(a) => hosts.extend(a.hosts.into_iter().map(|mut h| {
                    h.host = name.clone();
                    h
                })),
                Err(e) => hosts.push(HostDoctor {
                    host: name.clone(),
                    checks: vec![DoctorCheck {
                        name: "reachable".into(),
                        ok: false,
                        detail: e.message,
                        fix: Some(format!(
                            "make `ssh {}` work without a prompt, and install \
                             sandboxer-ext-vm-packer there",
                            self.hosts[at].0.address()
                        )),
                    }],
                }),
            }
        }
        Ok(HostDoctorResult { hosts })
    }

    /// Builds the image on every host, so that any of them can take a create.
    pub async fn image_build(
        &self,
        ctx: &Context,
        p: ImageBuildParams,
    ) -> ExtResult<ImageBuildResult> {
        let answers = futures::future::join_all(
            (0..self.hosts.len()).map(|at| self.call::<m::ImageBuild>(at, &p, Some(ctx))),
        )
        .await;
        let mut first: Option<ImageBuildResult> = None;
        let mut built_on = Vec::new();
        for (at, answer) in answers.into_iter().enumerate() {
            let answer = answer?;
            built_on.push(self.hosts[at].0.name.clone());
            match &mut first {
                None => first = Some(answer),
                Some(f) => f.built |= answer.built,
            }
        }
        let mut result = first.expect("the relay has at least one host");
        result.image.details.insert("hosts".into(), json!(built_on));
        Ok(result)
    }

    pub async fn image_list(&self, p: ImageListParams) -> ExtResult<ImageListResult> {
        let mut images = Vec::new();
        for (at, answer) in self
            .call_all::<m::ImageList>(&p)
            .await
            .into_iter()
            .enumerate()
        {
            for mut image in answer?.images {
                image
                    .details
                    .insert(HOST_DETAIL.into(), json!(self.hosts[at].0.name));
                images.push(image);
            }
        }
        Ok(ImageListResult { images })
    }

    pub async fn image_prune(&self, p: ImagePruneParams) -> ExtResult<ImagePruneResult> {
        let mut merged = ImagePruneResult::default();
        for (at, answer) in self
            .call_all::<m::ImagePrune>(&p)
            .await
            .into_iter()
            .enumerate()
        {
            let name = &self.hosts[at].0.name;
            let answer = answer?;
            merged
                .removed
                .extend(answer.removed.into_iter().map(|mut i| {
                    i.details.insert(HOST_DETAIL.into(), json!(name));
                    i
                }));
            merged.kept.extend(answer.kept.into_iter().map(|mut k| {
                k.reason = format!("on {name}: {}", k.reason);
                k
            }));
        }
        Ok(merged)
    }

    pub async fn shutdown(&self) {
        futures::future::join_all(self.hosts.iter().map(|(_, c)| c.close())).await;
    }
}

fn unreachable_health(name: &str, why: String) -> HostHealth {
    HostHealth {
        host: name.to_string(),
        reachable: false,
        load1: None,
        mem_free_mb: None,
        disk_free_mb: None,
        sandboxes: None,
        error: Some(why),
        details: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use crate::VmPacker;
    use sandboxer_ext_protocol::methods as m;
    use sandboxer_ext_protocol::sdk::harness::{CallError, Harness};
    use sandboxer_ext_protocol::*;
    use serde_json::json;

    /// A relay to one host whose sshd does not answer (nothing listens on
    /// 127.0.0.1:1).
    async fn relay_to_a_silent_host() -> Harness<VmPacker> {
        Harness::<VmPacker>::start(json!({"hosts": [
            {"name": "silent", "address": "127.0.0.1", "port": 1, "connect_timeout_s": 2}
        ]}))
        .await
        .expect("the relay starts without reaching its hosts")
    }

    fn remote_error(e: CallError) -> ErrorObject {
        match e {
            CallError::Remote(e) => e,
            CallError::NoAnswer(why) => panic!("no answer: {why}"),
        }
    }

    #[tokio::test]
    async fn a_silent_host_fails_the_list_instead_of_making_its_machines_look_gone() {
        let mut relay = relay_to_a_silent_host().await;
        let err = remote_error(
            relay
                .request::<m::SandboxList>(&ListParams::default())
                .await
                .unwrap_err(),
        );
        assert_eq!(err.kind(), Some(ErrorKind::Unavailable), "{err:?}");
        assert!(err.message.contains("host silent"), "{}", err.message);

        let health = relay
            .request::<m::HostHealth>(&HostHealthParams { host: None })
            .await
            .unwrap();
        assert_eq!(health.hosts.len(), 1);
        assert_eq!(health.hosts[0].host, "silent");
        assert!(!health.hosts[0].reachable);

        let doctor = relay
            .request::<m::HostDoctor>(&HostDoctorParams {
                host: None,
                profiles: vec![],
            })
            .await
            .unwrap();
        let check = &doctor.hosts[0].checks[0];
        assert!(!check.ok && check.fix.as_deref().unwrap().contains("ssh 127.0.0.1"));

        let err = remote_error(
            relay
                .request::<m::SandboxGet>(&GetParams {
                    sandbox_id: "sbx-0123456789abcdef".into(),
                    backend_ref: None,
                })
                .await
                .unwrap_err(),
        );
        assert_eq!(
            err.kind(),
            Some(ErrorKind::Unavailable),
            "not NotFound: the silent host may hold it"
        );
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn an_unknown_host_is_refused_with_the_names_there_are() {
        let mut relay = relay_to_a_silent_host().await;
        let err = remote_error(
            relay
                .request::<m::HostHealth>(&HostHealthParams {
                    host: Some("silnet".into()),
                })
                .await
                .unwrap_err(),
        );
        assert_eq!(err.kind(), Some(ErrorKind::InvalidArgument));
        assert!(
            err.message.contains("the hosts are silent"),
            "{}",
            err.message
        );
        relay.shutdown().await;
    }
}
