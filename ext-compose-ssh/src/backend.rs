//! The protocol methods of compose-ssh, the declared methods and features, and the
//! create pipeline that joins the other modules. Each sandbox lives on one host;
//! its `backend_ref` is `<host>/sbx-<id>`. Without a ref, every host is searched.

use crate::agent_binary::{self, AgentBinary};
use crate::config::{Options, project_name};
use crate::fleet::Fleet;
use crate::hardening;
use crate::host::Host;
use crate::inside::Inside;
use crate::labels::{self, EXEC_SERVICE_LABEL, REQUEST_LABEL};
use crate::project::{self, Project};
use crate::ready;
use crate::snapshot::{self, SnapshotManifest};
use crate::spec::ProfileSpec;
use crate::ssh;
use sandboxer_ext_protocol::features;
use sandboxer_ext_protocol::locks::SandboxLocks;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::sdk::{Context, ExtResult, Extension, Manifest};
use sandboxer_ext_protocol::*;
use serde_json::json;
use std::collections::BTreeMap;

pub struct ComposeSsh {
    /// The image of the egress gateway.
    gateway_image: String,
    /// The configured hosts, and placement among them.
    fleet: Fleet,
    /// One lock per sandbox id: creates and destroys of one id never overlap
    /// (podman-compose cannot build one project twice at once).
    locks: SandboxLocks,
    /// The agent binary mounted into new sandboxes (none found: sandboxes
    /// have no agent, and only `sandbox/exec` works in them).
    agent: Option<AgentBinary>,
    /// Connections to the agents of sandboxes.
    inside: Inside,
}

fn chrono_now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl ComposeSsh {
    /// Creates a sandbox, or restores one from a snapshot's images and volumes:
    /// parse → place → already there? → build → up → ready.
    async fn provision(
        &self,
        ctx: &Context,
        p: CreateParams,
        restore: Option<&SnapshotManifest>,
    ) -> ExtResult<Sandbox> {
        let snapshot_id = restore.map(|m| m.snapshot_id.as_str());
        let spec = ProfileSpec::of(&p.profile)?;
        let review = spec.review()?;
        let (host, _reservation) = self
            .fleet
            .place(&p, &spec, &review, restore.is_some())
            .await?;
        let digest = labels::request_digest(&p, snapshot_id);
        let _guard = self.locks.lock(&p.sandbox_id).await;
        if let Some(same) = already_created(host, &p.sandbox_id, &digest).await? {
            return Ok(same);
        }
        let userns = hardening::user_namespace(host.config(), review.runtime);
        let mut project = self.build(&spec, &p, digest, userns, restore)?;
        if let Some(binary) = &self.agent {
            project = project.with_agent(&host.place_agent(binary).await?);
        }
        ctx.progress(
            format!(
                "starting {} on host {}",
                project_name(&p.sandbox_id),
                host.name()
            ),
            Some(10),
        );
        host.up(
            &p.sandbox_id,
            &project,
            review.runtime,
            snapshot_id,
            spec.ready.timeout,
        )
        .await?;
        ctx.progress("waiting until ready", Some(60));
        let holdings =
            ready::ready_or_removed(ctx, host, &spec.ready, &project.services, &p.sandbox_id)
                .await?;
        ctx.progress("ready", Some(100));
        if self.agent.is_some() {
            self.inside.prepare(host, &holdings, &p.sandbox_id);
        }
        Ok(holdings.to_sandbox(&p.sandbox_id, host.config()))
    }

    /// The sandbox's project: the profile's compose file with the sandbox's
    /// labels (its id, the request digest, the user namespace), run from a
    /// snapshot's images for a restore.
    fn build(
        &self,
        spec: &ProfileSpec,
        p: &CreateParams,
        digest: String,
        userns: Option<(u32, u32)>,
        restore: Option<&SnapshotManifest>,
    ) -> ExtResult<Project> {
        let mut labelled = p.clone();
        labelled
            .labels
            .insert(LABEL_SANDBOX_ID.into(), p.sandbox_id.clone());
        labelled.labels.insert(REQUEST_LABEL.into(), digest);
        labelled.labels.insert(
            hardening::USERNS_LABEL.into(),
            hardening::userns_label(userns),
        );
        let project = project::build(spec, &labelled, &self.gateway_image)?;
        Ok(match restore {
            Some(m) => project.with_images(&m.images),
            None => project,
        })
    }

    /// Takes snapshot `name` of a sandbox on its host (the same name again answers
    /// the snapshot already taken).
    async fn take_snapshot(&self, sandbox_id: &str, name: &str) -> ExtResult<Snapshot> {
        let id = snapshot::snapshot_id(sandbox_id, name);
        let _guard = self.locks.lock(sandbox_id).await;
        let (host, holdings) = self.fleet.find(sandbox_id, None).await?;
        if let Some(taken) = host
            .snapshots()
            .await?
            .into_iter()
            .find(|m| m.snapshot_id == id)
        {
            return Ok(taken.to_snapshot());
        }
        let plan = snapshot::plan(
            &id,
            name,
            sandbox_id,
            host.config(),
            &holdings,
            chrono_now(),
        );
        host.take_snapshot(&plan).await?;
        Ok(plan.manifest.to_snapshot())
    }
}

/// The sandbox if `host` already holds it: from this same create (a retry), it
/// is the answer; from another create with this id, AlreadyExists.
async fn already_created(
    host: &Host,
    sandbox_id: &str,
    digest: &str,
) -> ExtResult<Option<Sandbox>> {
    let Some(existing) = host.inventory(Some(sandbox_id)).await?.remove(sandbox_id) else {
        return Ok(None);
    };
    if existing.labels().get(REQUEST_LABEL).map(String::as_str) == Some(digest) {
        Ok(Some(existing.to_sandbox(sandbox_id, host.config())))
    } else {
        Err(ErrorObject::domain(
            ErrorKind::AlreadyExists,
            format!(
                "sandbox {sandbox_id} exists on host {} with other params",
                host.name()
            ),
        ))
    }
}

impl Extension for ComposeSsh {
    fn manifest() -> Manifest {
        let option = |description: &str| OptionSpec {
            description: description.into(),
            ..Default::default()
        };
        Manifest {
            name: "compose-ssh".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            optional_methods: vec![
                m::SandboxExec::METHOD,
                m::CostEstimate::METHOD,
                m::HostHealth::METHOD,
                m::SandboxSnapshot::METHOD,
                m::SandboxRestore::METHOD,
                m::SnapshotList::METHOD,
                m::SnapshotDelete::METHOD,
                m::ProfileCheck::METHOD,
                m::HostDoctor::METHOD,
                m::SandboxPause::METHOD,
                m::SandboxResume::METHOD,
                m::SandboxLogs::METHOD,
                m::SandboxMetrics::METHOD,
            ]
            .into_iter()
            .chain(m::INSIDE_AGENT.concat())
            .collect(),
            features: [
                features::EGRESS_DENY,
                features::RESOURCES_CPUS,
                features::RESOURCES_MEMORY,
                features::SECRETS,
                features::CONTAINMENT,
                features::USER_NAMESPACE,
                features::EXEC_PTY,
                features::PAUSE,
                features::TAR_FROM_SOCKET,
            ]
            .map(String::from)
            .to_vec(),
            options_schema: BTreeMap::from([
                (
                    "hosts".to_string(),
                    OptionSpec {
                        default: Some(json!([{ "name": "local" }])),
                        ..option(
                            "hosts to run sandboxes on: [{name, address, port, user, identity, \
                             known_hosts, host_key_checking: strict|accept-new, workdir, \
                             connect_timeout_s, labels, capacity}]; `local` runs here without ssh",
                        )
                    },
                ),
                (
                    "control_dir".to_string(),
                    option("private folder for ssh control sockets"),
                ),
                (
                    "gateway_image".to_string(),
                    option("image of the egress gateway (needs sh and busybox nc)"),
                ),
                (
                    "containment".to_string(),
                    option(
                        "containment settings allowed on every host ({allow: [setting]}) and \
                         per profile ({profiles: {profile.x: [setting]}}); settings: \
                         privileged, host-namespaces, host-mounts, devices, capabilities, \
                         unconfined, sysctls, host-user (hosts take `allow` too)",
                    ),
                ),
                (
                    "agent".to_string(),
                    option(
                        "path of the static sandboxer-agent binary mounted into sandboxes \
                         (default: next to this executable, or target/<triple>/<profile>/ \
                         in a cargo build)",
                    ),
                ),
            ]),
        }
    }

    async fn start(options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        let options =
            Options::from_json(options).map_err(|e| ErrorObject::invalid_argument("options", e))?;
        let control_dir = options
            .control_dir
            .clone()
            .unwrap_or_else(ssh::default_control_dir);
        ssh::prepare_control_dir(&control_dir)
            .map_err(|e| ErrorObject::domain(ErrorKind::FailedPrecondition, e.to_string()))?;
        Ok(ComposeSsh {
            fleet: Fleet::new(&options.hosts, options.containment, &control_dir),
            gateway_image: options.gateway_image,
            locks: Default::default(),
            agent: agent_binary::locate(options.agent.as_deref()),
            inside: Default::default(),
        })
    }

    async fn create(&self, ctx: &Context, p: CreateParams) -> ExtResult<Sandbox> {
        self.provision(ctx, p, None).await
    }

    async fn snapshot(&self, _ctx: &Context, p: SnapshotParams) -> ExtResult<Snapshot> {
        self.take_snapshot(&p.sandbox_id, &p.snapshot_name).await
    }

    /// Restores on the host that holds the snapshot (its images are local there).
    async fn restore(&self, ctx: &Context, p: RestoreParams) -> ExtResult<Sandbox> {
        let (host, manifest) = self.fleet.find_snapshot(&p.snapshot_id).await?;
        let host = host.name().to_string();
        let mut create = p.create;
        match &create.placement.host {
            Some(asked) if *asked != host => {
                return Err(ErrorObject::invalid_argument(
                    "placement.host",
                    format!(
                        "snapshot {} is kept on host {host}; restore it there",
                        p.snapshot_id
                    ),
                ));
            }
            _ => create.placement.host = Some(host),
        }
        self.provision(ctx, create, Some(&manifest)).await
    }

    async fn snapshot_list(
        &self,
        _ctx: &Context,
        _p: SnapshotListParams,
    ) -> ExtResult<SnapshotListResult> {
        let mut snapshots = Vec::new();
        for host in self.fleet.hosts() {
            snapshots.extend(
                host.snapshots()
                    .await?
                    .into_iter()
                    .map(SnapshotManifest::to_snapshot),
            );
        }
        Ok(SnapshotListResult { snapshots })
    }

    async fn snapshot_delete(
        &self,
        _ctx: &Context,
        p: SnapshotDeleteParams,
    ) -> ExtResult<SnapshotDeleteResult> {
        if !snapshot::is_snapshot_id(&p.snapshot_id) {
            // Not one of ours, so there is nothing to delete.
            return Ok(SnapshotDeleteResult { deleted: true });
        }
        for host in self.fleet.hosts() {
            host.delete_snapshot(&p.snapshot_id).await?;
        }
        Ok(SnapshotDeleteResult { deleted: true })
    }

    async fn get(&self, _ctx: &Context, p: GetParams) -> ExtResult<Sandbox> {
        let (host, holdings) = self
            .fleet
            .find(&p.sandbox_id, p.backend_ref.as_deref())
            .await?;
        Ok(holdings.to_sandbox(&p.sandbox_id, host.config()))
    }

    async fn list(&self, _ctx: &Context, p: ListParams) -> ExtResult<ListResult> {
        let mut sandboxes = Vec::new();
        for host in self.fleet.hosts() {
            for (id, holdings) in host.inventory(None).await? {
                let sandbox = holdings.to_sandbox(&id, host.config());
                let wanted = p.labels.iter().flatten();
                if wanted
                    .into_iter()
                    .all(|(k, v)| sandbox.labels.get(k) == Some(v))
                {
                    sandboxes.push(sandbox);
                }
            }
        }
        Ok(ListResult { sandboxes })
    }

    async fn destroy(&self, _ctx: &Context, p: DestroyParams) -> ExtResult<DestroyResult> {
        let _guard = self.locks.lock(&p.sandbox_id).await;
        match self.fleet.of_ref(p.backend_ref.as_deref()) {
            Some(host) => host.destroy(&p.sandbox_id).await?,
            None => {
                for host in self.fleet.hosts() {
                    host.destroy(&p.sandbox_id).await?;
                }
            }
        }
        self.inside.forget(&p.sandbox_id);
        Ok(DestroyResult { destroyed: true })
    }

    async fn pause(&self, _ctx: &Context, p: PauseParams) -> ExtResult<Sandbox> {
        let _guard = self.locks.lock(&p.sandbox_id).await;
        crate::observe::freeze(&self.fleet, &p.sandbox_id, true).await
    }

    async fn resume(&self, _ctx: &Context, p: PauseParams) -> ExtResult<Sandbox> {
        let _guard = self.locks.lock(&p.sandbox_id).await;
        crate::observe::freeze(&self.fleet, &p.sandbox_id, false).await
    }

    async fn logs(&self, ctx: &Context, p: LogsParams) -> ExtResult<Ack> {
        crate::observe::logs(&self.fleet, ctx, p).await
    }

    async fn metrics(&self, _ctx: &Context, p: PauseParams) -> ExtResult<MetricsResult> {
        crate::observe::metrics(&self.fleet, &p.sandbox_id).await
    }

    async fn exec_start(&self, ctx: &Context, p: ExecStartParams) -> ExtResult<ExecStarted> {
        self.inside.exec_start(&self.fleet, ctx, p).await
    }

    async fn exec_attach(&self, ctx: &Context, p: ExecAttachParams) -> ExtResult<ExecExit> {
        let (sid, id) = (p.sandbox_id.clone(), p.exec_id.clone());
        self.inside
            .on_exec::<m::ExecAttach>(&self.fleet, ctx, &sid, &id, |exec_id| ExecAttachParams {
                exec_id,
                ..p
            })
            .await
    }

    async fn exec_write(&self, ctx: &Context, p: ExecWriteParams) -> ExtResult<Ack> {
        let (sid, id) = (p.sandbox_id.clone(), p.exec_id.clone());
        self.inside
            .on_exec::<m::ExecWrite>(&self.fleet, ctx, &sid, &id, |exec_id| ExecWriteParams {
                exec_id,
                ..p
            })
            .await
    }

    async fn exec_signal(&self, ctx: &Context, p: ExecSignalParams) -> ExtResult<Ack> {
        let (sid, id) = (p.sandbox_id.clone(), p.exec_id.clone());
        self.inside
            .on_exec::<m::ExecSignal>(&self.fleet, ctx, &sid, &id, |exec_id| ExecSignalParams {
                exec_id,
                ..p
            })
            .await
    }

    async fn exec_resize(&self, ctx: &Context, p: ExecResizeParams) -> ExtResult<Ack> {
        let (sid, id) = (p.sandbox_id.clone(), p.exec_id.clone());
        self.inside
            .on_exec::<m::ExecResize>(&self.fleet, ctx, &sid, &id, |exec_id| ExecResizeParams {
                exec_id,
                ..p
            })
            .await
    }

    async fn exec_list(&self, ctx: &Context, p: ExecListParams) -> ExtResult<ExecListResult> {
        self.inside.exec_list(&self.fleet, ctx, p).await
    }

    async fn fs_read(&self, ctx: &Context, p: FsReadParams) -> ExtResult<FsReadResult> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsRead>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_write(&self, ctx: &Context, p: FsWriteParams) -> ExtResult<FsWriteResult> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsWrite>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_list(&self, ctx: &Context, p: FsPathParams) -> ExtResult<FsListResult> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsList>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_stat(&self, ctx: &Context, p: FsPathParams) -> ExtResult<FileInfo> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsStat>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_mkdir(&self, ctx: &Context, p: FsMkdirParams) -> ExtResult<Ack> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsMkdir>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_remove(&self, ctx: &Context, p: FsRemoveParams) -> ExtResult<Ack> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsRemove>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_rename(&self, ctx: &Context, p: FsRenameParams) -> ExtResult<Ack> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsRename>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_tar_put(&self, ctx: &Context, p: FsTarPutParams) -> ExtResult<FsTarPutResult> {
        if let Some(socket) = &p.from_socket {
            return self.inside.put_from_socket(&self.fleet, &p, socket).await;
        }
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsTarPut>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn fs_tar_get(&self, ctx: &Context, p: FsTarGetParams) -> ExtResult<FsTarGetResult> {
        let (sid, service) = (p.sandbox_id.clone(), p.service.clone());
        self.inside
            .call::<m::FsTarGet>(&self.fleet, ctx, &sid, service.as_deref(), &p)
            .await
    }

    async fn exec(&self, _ctx: &Context, p: ExecParams) -> ExtResult<ExecResult> {
        if p.argv.is_empty() {
            return Err(ErrorObject::invalid_argument("argv", "argv is empty"));
        }
        if let Some(done) = self.inside.exec(&self.fleet, &p).await? {
            return Ok(done);
        }
        let (host, holdings) = self.fleet.find(&p.sandbox_id, None).await?;
        let service = match &p.service {
            Some(s) => s.clone(),
            None => holdings
                .labels()
                .get(EXEC_SERVICE_LABEL)
                .cloned()
                .unwrap_or_default(),
        };
        let container = holdings.container_of(&service).ok_or_else(|| {
            ErrorObject::invalid_argument(
                "service",
                format!("sandbox {} has no service {service:?}", p.sandbox_id),
            )
        })?;
        let timeout = p.timeout();
        let stdin = p.stdin.map(String::into_bytes);
        let out = host.exec(container.name(), &p.argv, stdin, timeout).await?;
        Ok(ExecResult::from_output(
            out.status.code().unwrap_or(-1),
            &out.stdout,
            &out.stderr,
        ))
    }

    async fn cost_estimate(
        &self,
        _ctx: &Context,
        p: CostEstimateParams,
    ) -> ExtResult<CostEstimate> {
        let rate = ProfileSpec::of(&p.profile)?.cost_rate();
        Ok(CostEstimate::at_rate(rate, p.duration_s))
    }

    async fn profile_check(
        &self,
        _ctx: &Context,
        p: ProfileCheckParams,
    ) -> ExtResult<ProfileCheckResult> {
        self.fleet.check_profile(&p)
    }

    async fn host_doctor(
        &self,
        _ctx: &Context,
        p: HostDoctorParams,
    ) -> ExtResult<HostDoctorResult> {
        let hosts = self.fleet.named_or_all(p.host.as_deref())?;
        let mut images: Vec<String> = p
            .profiles
            .iter()
            .filter_map(|profile| ProfileSpec::of(profile).ok())
            .filter_map(|spec| spec.compose().ok())
            .flat_map(|compose| project::images_of(&compose))
            .collect();
        images.sort();
        images.dedup();
        let tag = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos()
        );
        let mut result = HostDoctorResult::default();
        for host in hosts {
            result
                .hosts
                .push(host.doctor(&self.gateway_image, &tag, &images).await);
        }
        Ok(result)
    }

    async fn host_health(
        &self,
        _ctx: &Context,
        p: HostHealthParams,
    ) -> ExtResult<HostHealthResult> {
        let hosts = self.fleet.named_or_all(p.host.as_deref())?;
        // All at once: an unreachable host costs its timeout once, not per host.
        let hosts =
            futures::future::join_all(hosts.into_iter().map(|host| self.fleet.health(host))).await;
        Ok(HostHealthResult { hosts })
    }
}
