//! The protocol methods of compose-ssh. Each sandbox lives on one host; its
//! `backend_ref` is `<host>/sbx-<id>`. Without a ref, every host is searched.

use crate::config::{HostConfig, Options, project_name};
use crate::doctor;
use crate::hardening;
use crate::inventory::{Holdings, by_sandbox, parse_inventory};
use crate::placement;
use crate::podman::{
    self, CREATE_SCRIPT, DESTROY_SCRIPT, HEALTH_SCRIPT, INVENTORY_SCRIPT, LOGS_SCRIPT,
};
use crate::podman_api::PodmanApi;
use crate::policy;
use crate::probe;
use crate::project::{self, EXEC_SERVICE_LABEL, ProfileSpec};
use crate::snapshot;
use crate::ssh::{self, Ssh, TransportError};
use sandboxer_ext_protocol::features;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::money::{self, Decimal};
use sandboxer_ext_protocol::sdk::{Context, ExtResult, Extension, Manifest};
use sandboxer_ext_protocol::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Label holding a digest of the create params (secrets excluded): a repeated
/// create compares it to tell "the same create" from "another with this id".
pub const REQUEST_LABEL: &str = "sandboxer.request";
/// How long quick commands (inventory, destroy, health) may take.
const QUICK: Duration = Duration::from_secs(120);
/// Longest wait for a host's health (load, memory, disk, sandbox count).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `podman-compose up` may take beyond the readiness timeout.
const UP_EXTRA: Duration = Duration::from_secs(300);
const READY_POLL: Duration = Duration::from_millis(200);
const LOG_LINES: &str = "20";
/// How long a host's doctor may take (it starts three containers).
const DOCTOR_TIMEOUT: Duration = Duration::from_secs(120);

pub struct ComposeSsh {
    options: Options,
    hosts: BTreeMap<String, Ssh>,
    /// Each host's podman API, once found to answer (`None`: use the CLI).
    apis: tokio::sync::Mutex<BTreeMap<String, Option<PodmanApi>>>,
    /// One lock per sandbox id: creates and destroys of one id never overlap
    /// (podman-compose cannot build one project twice at once).
    locks: sandboxer_ext_protocol::locks::SandboxLocks,
    /// Hosts found unreachable, and creates in flight per host.
    placement: placement::HostState,
    /// Held while a host is chosen and reserved.
    placing: tokio::sync::Mutex<()>,
}

fn transport_error(e: TransportError) -> ErrorObject {
    match e {
        TransportError::Unreachable { .. } | TransportError::Timeout { .. } => {
            ErrorObject::domain(ErrorKind::Unavailable, e.to_string())
        }
        TransportError::Unquotable(_) => ErrorObject::invalid_argument("argv", e.to_string()),
        _ => ErrorObject::domain(ErrorKind::Internal, e.to_string()),
    }
}

fn failed(output: &std::process::Output, what: &str, host: &str) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::Internal,
        format!(
            "{what} on host {host} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    )
}

/// A snapshot as the protocol shows it.
fn to_snapshot(m: snapshot::SnapshotManifest) -> Snapshot {
    let mut details = JsonObject::new();
    details.insert("host".into(), json!(m.host));
    details.insert("created_at".into(), json!(m.created_at));
    details.insert("images".into(), json!(m.images));
    details.insert("volumes".into(), json!(m.volumes));
    Snapshot {
        snapshot_id: m.snapshot_id,
        snapshot_name: Some(m.snapshot_name),
        sandbox_id: Some(m.sandbox_id),
        labels: Labels::new(),
        details,
    }
}

fn chrono_now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A stable digest of what makes two creates "the same" (a restore also names
/// its snapshot).
fn request_digest(p: &CreateParams, snapshot_id: Option<&str>) -> String {
    let mut same = p.clone();
    same.secrets = Secrets::default();
    same.progress_token = None;
    same.labels.remove(REQUEST_LABEL);
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&same).expect("params serialize"));
    hasher.update(serde_json::to_vec(&p.secrets.0.keys().collect::<Vec<_>>()).expect("names"));
    if let Some(id) = snapshot_id {
        hasher.update(b"restore:");
        hasher.update(id.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ComposeSsh {
    /// Creates a sandbox, or restores one from a snapshot's images and volumes.
    async fn provision(
        &self,
        ctx: &Context,
        p: CreateParams,
        restore: Option<&snapshot::SnapshotManifest>,
    ) -> ExtResult<Sandbox> {
        let spec = ProfileSpec::of(&p.profile)?;
        let review = self.review(&spec)?;
        let (host_name, _reservation) = match &p.placement.host {
            Some(h) => {
                if restore.is_none() {
                    self.check_labels(h, &spec.placement)?;
                }
                (h.clone(), self.placement.reserve(h))
            }
            None => match self.already_placed(&p.sandbox_id).await {
                Some(host) => {
                    let reservation = self.placement.reserve(&host);
                    (host, reservation)
                }
                None => {
                    self.place(&spec.placement, &p.resources, &review, &p.profile.id)
                        .await?
                }
            },
        };
        let ssh = self.ssh(&host_name, "placement.host")?;
        let host: &HostConfig = ssh.host();
        let verdict = policy::judge(&review.findings, &self.allowed(&p.profile.id, host));
        if !verdict.refused.is_empty() {
            return Err(policy::refusal(&verdict.refused, &host.name));
        }
        let mapping = hardening::user_namespace(host, review.runtime);
        let run_args = hardening::run_args(host, review.runtime);
        let digest = request_digest(&p, restore.map(|m| m.snapshot_id.as_str()));
        let _guard = self.lock(&p.sandbox_id).await;
        if let Some(existing) = self
            .inventory(ssh, Some(&p.sandbox_id))
            .await?
            .remove(&p.sandbox_id)
        {
            return if existing.labels().get(REQUEST_LABEL) == Some(&digest) {
                Ok(existing.to_sandbox(&p.sandbox_id, host))
            } else {
                Err(ErrorObject::domain(
                    ErrorKind::AlreadyExists,
                    format!(
                        "sandbox {} exists on host {} with other params",
                        p.sandbox_id, host.name
                    ),
                ))
            };
        }
        let mut labelled = p.clone();
        labelled
            .labels
            .insert(LABEL_SANDBOX_ID.into(), p.sandbox_id.clone());
        labelled.labels.insert(REQUEST_LABEL.into(), digest);
        labelled.labels.insert(
            hardening::USERNS_LABEL.into(),
            hardening::userns_label(mapping),
        );
        let mut project = project::build(&spec, &labelled, &self.options.gateway_image)?;
        if let Some(m) = restore {
            project = project.with_images(&m.images);
        }
        drop(labelled);

        ctx.progress(
            format!(
                "starting {} on host {}",
                project_name(&p.sandbox_id),
                host.name
            ),
            Some(10),
        );
        let dir = host.sandbox_dir(&p.sandbox_id);
        let project_id = project_name(&p.sandbox_id);
        let filter = podman::id_filter(&p.sandbox_id);
        let restore_dir = restore
            .map(|m| snapshot::snapshot_dir(host, &m.snapshot_id))
            .unwrap_or_default();
        let mut args: Vec<&str> = vec![&dir, &project_id, &filter, &restore_dir, &run_args];
        args.extend(project.images.iter().map(String::as_str));
        let argv = podman::script_argv(CREATE_SCRIPT, &args);
        let up_timeout = spec.ready.timeout + UP_EXTRA;
        let out = ssh
            .run(
                &argv,
                Some(project::tar_archive(&project.files)),
                up_timeout,
            )
            .await
            .map_err(transport_error)?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status.code() {
            Some(0) => {}
            Some(42) => {
                return Err(ErrorObject::domain_with_details(
                    ErrorKind::FailedPrecondition,
                    format!(
                        "image(s) {stderr} missing on host {}: build or load them there \
                         (for the built-in profiles: run scripts/setup-host.sh on that host)",
                        host.name
                    ),
                    Some(
                        json!({ "missing_images": stderr.split_whitespace().collect::<Vec<_>>(), "host": host.name }),
                    ),
                ));
            }
            _ => {
                let logs = self.logs_tail(ssh, &p.sandbox_id).await;
                let cleanup = self.destroy_on(ssh, &p.sandbox_id).await;
                return Err(ErrorObject::domain_with_details(
                    ErrorKind::FailedPrecondition,
                    format!(
                        "podman-compose up failed on host {} ({}): {stderr}\n{logs}{}",
                        host.name,
                        out.status,
                        cleanup
                            .err()
                            .map(|e| format!("\ncleanup failed too: {}", e.message))
                            .unwrap_or_default()
                    ),
                    Some(json!({ "host": host.name })),
                ));
            }
        }
        ctx.progress("waiting until ready", Some(60));
        match self
            .wait_ready(ctx, ssh, &spec, &project.services, &p.sandbox_id)
            .await
        {
            Ok(holdings) => {
                ctx.progress("ready", Some(100));
                Ok(holdings.to_sandbox(&p.sandbox_id, host))
            }
            Err(problem) => {
                let logs = self.logs_tail(ssh, &p.sandbox_id).await;
                let cleanup = self.destroy_on(ssh, &p.sandbox_id).await;
                Err(ErrorObject::domain_with_details(
                    ErrorKind::FailedPrecondition,
                    format!(
                        "sandbox {} on host {} did not become ready: {problem}; it was removed.\n\
                         last log lines:\n{logs}{}",
                        p.sandbox_id,
                        host.name,
                        cleanup
                            .err()
                            .map(|e| format!("\ncleanup failed too: {}", e.message))
                            .unwrap_or_default()
                    ),
                    Some(json!({ "host": host.name, "logs": logs })),
                ))
            }
        }
    }

    /// Takes snapshot `name` of a sandbox on its host (the same name again answers
    /// the snapshot already taken).
    async fn take_snapshot(&self, sandbox_id: &str, name: &str) -> ExtResult<Snapshot> {
        let id = snapshot::snapshot_id(sandbox_id, name);
        let _guard = self.lock(sandbox_id).await;
        let (ssh, holdings) = self.find(sandbox_id, None).await?;
        let host = ssh.host();
        if let Some(taken) = self
            .manifests(ssh)
            .await?
            .into_iter()
            .find(|m| m.snapshot_id == id)
        {
            return Ok(to_snapshot(taken));
        }
        let project_prefix = format!("{}_", project_name(sandbox_id));
        let mut manifest = snapshot::SnapshotManifest {
            snapshot_id: id.clone(),
            snapshot_name: name.to_string(),
            sandbox_id: sandbox_id.to_string(),
            host: host.name.clone(),
            created_at: chrono_now(),
            images: BTreeMap::new(),
            volumes: BTreeMap::new(),
        };
        let mut triples: Vec<String> = Vec::new();
        for c in &holdings.containers {
            let Some(service) = c.service().filter(|s| *s != project::GATEWAY_SERVICE) else {
                continue;
            };
            let image = snapshot::image_name(&id, service);
            triples.extend(["c".to_string(), c.name().to_string(), image.clone()]);
            manifest.images.insert(service.to_string(), image);
        }
        for v in &holdings.volumes {
            let volume = v.name.strip_prefix(&project_prefix).unwrap_or(&v.name);
            let file = snapshot::SnapshotManifest::volume_file(volume);
            triples.extend(["v".to_string(), v.name.clone(), file.clone()]);
            manifest.volumes.insert(volume.to_string(), file);
        }
        let dir = snapshot::snapshot_dir(host, &id);
        let (base, size) = hardening::parse_userns_label(
            holdings
                .labels()
                .get(hardening::USERNS_LABEL)
                .map(String::as_str),
        )
        .unwrap_or((0, 0));
        let (base, size) = (base.to_string(), size.to_string());
        let mut args: Vec<&str> = vec![&dir, &id, &base, &size];
        args.extend(triples.iter().map(String::as_str));
        let argv = podman::script_argv(snapshot::SNAPSHOT_SCRIPT, &args);
        let stdin = serde_json::to_vec(&manifest).expect("manifest serializes");
        let out = ssh
            .run(&argv, Some(stdin), UP_EXTRA)
            .await
            .map_err(transport_error)?;
        if !out.status.success() {
            return Err(failed(&out, "taking a snapshot", &host.name));
        }
        Ok(to_snapshot(manifest))
    }

    /// The snapshots kept on one host.
    async fn manifests(&self, ssh: &Ssh) -> ExtResult<Vec<snapshot::SnapshotManifest>> {
        let dir = snapshot::snapshots_dir(ssh.host());
        let argv = podman::script_argv(snapshot::LIST_SCRIPT, &[&dir]);
        let out = ssh.run(&argv, None, QUICK).await.map_err(transport_error)?;
        if !out.status.success() {
            return Err(failed(&out, "listing snapshots", &ssh.host().name));
        }
        Ok(snapshot::SnapshotManifest::parse_all(
            &String::from_utf8_lossy(&out.stdout),
        ))
    }

    /// The host holding a snapshot, and its manifest; NotFound when no host does.
    async fn find_snapshot(
        &self,
        snapshot_id: &str,
    ) -> ExtResult<(String, snapshot::SnapshotManifest)> {
        if snapshot::is_snapshot_id(snapshot_id) {
            for ssh in self.hosts.values() {
                if let Some(m) = self
                    .manifests(ssh)
                    .await?
                    .into_iter()
                    .find(|m| m.snapshot_id == snapshot_id)
                {
                    return Ok((ssh.host().name.clone(), m));
                }
            }
        }
        Err(ErrorObject::domain(
            ErrorKind::NotFound,
            format!("no snapshot {snapshot_id} on any configured host"),
        ))
    }

    /// How `ssh`'s host is doing; marks it unreachable when it does not answer.
    async fn check_host(&self, ssh: &Ssh) -> HostHealth {
        let argv = podman::script_argv(HEALTH_SCRIPT, &[&ssh.host().workdir]);
        let mut health = HostHealth {
            host: ssh.host().name.clone(),
            reachable: false,
            load1: None,
            mem_free_mb: None,
            disk_free_mb: None,
            sandboxes: None,
            error: None,
        };
        match ssh.run(&argv, None, HEALTH_TIMEOUT).await {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let fields: Vec<&str> = text.split_whitespace().collect();
                health.reachable = true;
                health.load1 = fields.first().and_then(|f| f.parse().ok());
                health.mem_free_mb = fields.get(1).and_then(|f| f.parse().ok());
                health.disk_free_mb = fields.get(2).and_then(|f| f.parse().ok());
                health.sandboxes = fields.get(3).and_then(|f| f.parse().ok());
            }
            Ok(out) => {
                health.reachable = true;
                health.error = Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
            }
            Err(e) => health.error = Some(e.to_string()),
        }
        if health.reachable {
            self.placement.mark_reachable(&health.host);
        } else {
            self.placement.mark_unreachable(&health.host);
        }
        health
    }

    /// The host already holding `sandbox_id`, if any answers so: a repeated
    /// create goes where the first one went, whatever the headroom says now.
    async fn already_placed(&self, sandbox_id: &str) -> Option<String> {
        if self.hosts.len() < 2 {
            return None;
        }
        for ssh in self.hosts.values() {
            let name = &ssh.host().name;
            if self.placement.is_marked(name) {
                continue;
            }
            match self.holdings(ssh, sandbox_id).await {
                Ok(Some(_)) => return Some(name.clone()),
                Ok(None) => {}
                Err(e) if e.kind() == Some(ErrorKind::Unavailable) => {
                    self.placement.mark_unreachable(name);
                }
                Err(_) => {}
            }
        }
        None
    }

    /// The host a new sandbox goes to (see `placement`): of the configured hosts
    /// with the profile's labels, the one with the most headroom. Hosts marked
    /// unreachable are passed over unless every candidate is marked.
    async fn place(
        &self,
        constraints: &placement::Constraints,
        resources: &sandboxer_ext_protocol::Resources,
        review: &policy::Review,
        profile_id: &str,
    ) -> ExtResult<(String, placement::Reservation)> {
        let labelled: Vec<&HostConfig> = self
            .options
            .hosts
            .iter()
            .filter(|h| {
                constraints
                    .labels
                    .iter()
                    .all(|(k, v)| h.labels.get(k) == Some(v))
            })
            .collect();
        // Only hosts whose exceptions let the profile through.
        let matching: Vec<&HostConfig> = labelled
            .iter()
            .copied()
            .filter(|h| {
                policy::judge(&review.findings, &self.allowed(profile_id, h))
                    .refused
                    .is_empty()
            })
            .collect();
        if let (Some(first), true) = (labelled.first(), matching.is_empty()) {
            let verdict = policy::judge(&review.findings, &self.allowed(profile_id, first));
            return Err(policy::refusal(&verdict.refused, "any configured host"));
        }
        if matching.is_empty() {
            let wanted: Vec<String> = constraints
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            return Err(ErrorObject::domain(
                ErrorKind::FailedPrecondition,
                format!(
                    "no configured host has the labels {} the profile's placement asks for; \
                     give a host those labels in the extension's `hosts` option",
                    wanted.join(", ")
                ),
            ));
        }
        if let [only] = matching.as_slice()
            && only.capacity.is_none()
        {
            // Nothing to weigh: a failure to reach it shows in the create itself.
            return Ok((only.name.clone(), self.placement.reserve(&only.name)));
        }
        // One placement at a time in this process: the choice and its
        // reservation are made together, so concurrent creates see each other.
        let _placing = self.placing.lock().await;
        let all_marked = matching.iter().all(|h| self.placement.is_marked(&h.name));
        let mut observed = Vec::new();
        for host in matching {
            let health = if all_marked || !self.placement.is_marked(&host.name) {
                self.check_host(self.ssh(&host.name, "placement.host")?)
                    .await
            } else {
                // Not asked again so soon; it still counts in the answer.
                HostHealth {
                    host: host.name.clone(),
                    reachable: false,
                    load1: None,
                    mem_free_mb: None,
                    disk_free_mb: None,
                    sandboxes: None,
                    error: Some("did not answer moments ago".into()),
                }
            };
            observed.push(placement::Observed {
                name: host.name.clone(),
                capacity: host.capacity,
                health,
                in_flight: self.placement.in_flight(&host.name),
            });
        }
        let memory_mb = resources.memory_mb.unwrap_or(placement::DEFAULT_SANDBOX_MB);
        let chosen = placement::choose(&observed, memory_mb)?;
        let reservation = self.placement.reserve(&chosen);
        Ok((chosen, reservation))
    }

    /// The profile's compose file against the containment policy.
    fn review(&self, spec: &ProfileSpec) -> ExtResult<policy::Review> {
        let compose = project::parse_compose(spec)?;
        let shipped = spec.files.keys().cloned().collect();
        Ok(policy::review(&compose, &spec.compose_file, &shipped))
    }

    /// What the containment policy allows `profile_id` on `host`.
    fn allowed(
        &self,
        profile_id: &str,
        host: &HostConfig,
    ) -> std::collections::BTreeSet<policy::Setting> {
        policy::allowed_for(&self.options.containment, profile_id, &host.allow)
    }

    /// `profile/check`: on the named host, or on the most permissive host placement
    /// could choose.
    fn check_profile(&self, p: &ProfileCheckParams) -> ExtResult<ProfileCheckResult> {
        let spec = ProfileSpec::of(&p.profile)?;
        let review = self.review(&spec)?;
        let candidates: Vec<&HostConfig> = match &p.placement.host {
            Some(h) => vec![self.ssh(h, "placement.host")?.host()],
            None => self
                .options
                .hosts
                .iter()
                .filter(|h| {
                    spec.placement
                        .labels
                        .iter()
                        .all(|(k, v)| h.labels.get(k) == Some(v))
                })
                .collect(),
        };
        Ok(candidates
            .into_iter()
            .map(|h| {
                let mut verdict = policy::judge(&review.findings, &self.allowed(&p.profile.id, h));
                for f in &mut verdict.relaxed {
                    f.message = format!("{} (allowed on host {})", f.message, h.name);
                }
                verdict
            })
            .min_by_key(|v| v.refused.len())
            .unwrap_or_else(|| {
                policy::judge(
                    &review.findings,
                    &policy::allowed_for(&self.options.containment, &p.profile.id, &[]),
                )
            }))
    }

    /// Refuses a host named for a profile whose placement labels it lacks.
    fn check_labels(&self, host: &str, constraints: &placement::Constraints) -> ExtResult<()> {
        let config = self.ssh(host, "placement.host")?.host();
        match constraints
            .labels
            .iter()
            .find(|(k, v)| config.labels.get(*k) != Some(*v))
        {
            Some((k, v)) => Err(ErrorObject::domain(
                ErrorKind::FailedPrecondition,
                format!(
                    "host {host} lacks the label {k}={v} the profile's placement asks for; \
                     name a host with it, or none to let placement choose"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Holds the lock of one sandbox id until the guard is dropped.
    async fn lock(&self, sandbox_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.locks.lock(sandbox_id).await
    }

    /// The connection to a configured host; an unknown name is refused as
    /// the param `field` that carried it.
    fn ssh(&self, host: &str, field: &str) -> ExtResult<&Ssh> {
        self.hosts.get(host).ok_or_else(|| {
            ErrorObject::invalid_argument(
                field,
                format!(
                    "unknown host {host:?}; configured hosts: {}",
                    self.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// The host a ref names, if it names one we know.
    fn host_of_ref(&self, backend_ref: Option<&str>) -> Option<&Ssh> {
        let host = backend_ref?.split_once('/')?.0;
        self.hosts.get(host)
    }

    /// What one host holds, all sandboxes or one.
    async fn inventory(
        &self,
        ssh: &Ssh,
        sandbox_id: Option<&str>,
    ) -> ExtResult<BTreeMap<String, Holdings>> {
        let filter = match sandbox_id {
            Some(id) => podman::id_filter(id),
            None => LABEL_SANDBOX_ID.to_string(),
        };
        let workdir = ssh.host().workdir.clone();
        let argv = podman::script_argv(INVENTORY_SCRIPT, &[&filter, &workdir]);
        let out = ssh.run(&argv, None, QUICK).await.map_err(transport_error)?;
        if !out.status.success() {
            return Err(failed(&out, "listing sandboxes", &ssh.host().name));
        }
        let inventory = parse_inventory(&String::from_utf8_lossy(&out.stdout))
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e))?;
        let mut groups = by_sandbox(inventory);
        if let Some(id) = sandbox_id {
            groups.retain(|k, _| k == id);
        }
        Ok(groups)
    }

    /// The host's podman API, if it answers; looked for once per process.
    async fn api(&self, ssh: &Ssh) -> Option<PodmanApi> {
        let mut apis = self.apis.lock().await;
        if let Some(known) = apis.get(&ssh.host().name) {
            return known.clone();
        }
        let api = match ssh.forwarded_socket(&ssh.host().podman_socket).await {
            Ok(socket) => Some(PodmanApi::new(socket)),
            Err(e) => {
                tracing::debug!(host = %ssh.host().name, "podman API not reachable: {e}");
                None
            }
        };
        let api = match api {
            Some(api) if api.ping().await => Some(api),
            _ => None,
        };
        apis.insert(ssh.host().name.clone(), api.clone());
        api
    }

    /// One sandbox's parts through the podman API: `None` when the API is not
    /// there or found no container (the CLI inventory then decides, folders
    /// included).
    async fn holdings_fast(&self, ssh: &Ssh, sandbox_id: &str) -> Option<Holdings> {
        let api = self.api(ssh).await?;
        let filter = podman::id_filter(sandbox_id);
        let (containers, networks, volumes) = tokio::join!(
            api.containers(&filter),
            api.networks(&filter),
            api.volumes(&filter)
        );
        let holdings = Holdings {
            containers: containers.ok()?,
            networks: networks.ok()?,
            volumes: volumes.ok()?,
            has_dir: false,
        };
        if holdings.containers.is_empty() {
            return None;
        }
        Some(holdings.sorted())
    }

    /// One sandbox's parts on one host: through the API when it can answer, else
    /// the CLI inventory.
    async fn holdings(&self, ssh: &Ssh, sandbox_id: &str) -> ExtResult<Option<Holdings>> {
        if let Some(h) = self.holdings_fast(ssh, sandbox_id).await {
            return Ok(Some(h));
        }
        Ok(self
            .inventory(ssh, Some(sandbox_id))
            .await?
            .remove(sandbox_id))
    }

    /// Finds a sandbox: on the host its ref names, else on every host.
    async fn find(
        &self,
        sandbox_id: &str,
        backend_ref: Option<&str>,
    ) -> ExtResult<(&Ssh, Holdings)> {
        let candidates: Vec<&Ssh> = match self.host_of_ref(backend_ref) {
            Some(ssh) => vec![ssh],
            None => self.hosts.values().collect(),
        };
        for ssh in candidates {
            if let Some(h) = self.holdings(ssh, sandbox_id).await? {
                return Ok((ssh, h));
            }
        }
        Err(ErrorObject::domain(
            ErrorKind::NotFound,
            format!("no sandbox {sandbox_id} on any configured host"),
        ))
    }

    async fn destroy_on(&self, ssh: &Ssh, sandbox_id: &str) -> ExtResult<()> {
        let dir = ssh.host().sandbox_dir(sandbox_id);
        let argv = podman::script_argv(DESTROY_SCRIPT, &[&podman::id_filter(sandbox_id), &dir]);
        let out = ssh.run(&argv, None, QUICK).await.map_err(transport_error)?;
        if !out.status.success() {
            return Err(failed(&out, "destroying", &ssh.host().name));
        }
        Ok(())
    }

    async fn logs_tail(&self, ssh: &Ssh, sandbox_id: &str) -> String {
        let argv = podman::script_argv(LOGS_SCRIPT, &[&podman::id_filter(sandbox_id), LOG_LINES]);
        match ssh.run(&argv, None, QUICK).await {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => format!("(logs unavailable: {e})"),
        }
    }

    /// Waits until the spec's idea of ready holds; returns the final holdings or
    /// why not.
    async fn wait_ready(
        &self,
        ctx: &Context,
        ssh: &Ssh,
        spec: &ProfileSpec,
        services: &[String],
        sandbox_id: &str,
    ) -> Result<Holdings, String> {
        let ready = &spec.ready;
        let deadline = Instant::now() + ready.timeout;
        let wanted: Vec<String> = ready.services.clone().unwrap_or_else(|| services.to_vec());
        loop {
            let holdings = self
                .holdings(ssh, sandbox_id)
                .await
                .map_err(|e| e.message)?
                .unwrap_or_default();
            let problem = match self.check_ready(ssh, &holdings, ready, &wanted).await {
                Ok(()) => return Ok(holdings),
                Err(Fatal(problem)) => return Err(problem),
                Err(NotYet(problem)) => problem,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "not ready within {}s: {problem}",
                    ready.timeout.as_secs()
                ));
            }
            ctx.progress(format!("waiting: {problem}"), Some(70));
            tokio::time::sleep(READY_POLL).await;
        }
    }

    async fn check_ready(
        &self,
        ssh: &Ssh,
        holdings: &Holdings,
        ready: &project::ReadySpec,
        wanted: &[String],
    ) -> Result<(), Readiness> {
        for service in wanted {
            match holdings.container_of(service) {
                None => return Err(NotYet(format!("service {service} has no container yet"))),
                Some(c) if c.state == "running" => {}
                Some(c) if matches!(c.state.as_str(), "exited" | "dead" | "stopped") => {
                    return Err(Fatal(format!(
                        "service {service} exited (code {})",
                        c.exit_code
                    )));
                }
                Some(c) => return Err(NotYet(format!("service {service} is {}", c.state))),
            }
        }
        if let Some(http) = &ready.http {
            let endpoints = holdings.endpoints(ssh.host());
            let endpoint = endpoints.iter().find(|e| {
                e.protocol != EndpointProtocol::Ssh
                    && endpoint_serves(holdings, e, &http.service, http.port)
            });
            let Some(endpoint) = endpoint else {
                return Err(Fatal(format!(
                    "the http probe names {}:{}, which is not a published port",
                    http.service, http.port
                )));
            };
            match probe::http_status(
                &endpoint.host,
                endpoint.port,
                &http.path,
                Duration::from_secs(2),
            )
            .await
            {
                Ok(status) if probe::is_ok(status) => {}
                Ok(status) => return Err(NotYet(format!("GET {} answered {status}", http.path))),
                Err(e) => return Err(NotYet(e)),
            }
        }
        if let Some(command) = &ready.command {
            let Some(container) = holdings.container_of(&command.service) else {
                return Err(NotYet(format!(
                    "service {} has no container yet",
                    command.service
                )));
            };
            let argv = podman::exec_argv(container.name(), &command.argv, false);
            match ssh.run(&argv, None, QUICK).await {
                Ok(out) if out.status.success() => {}
                Ok(out) => return Err(NotYet(format!("probe command exited with {}", out.status))),
                Err(e) => return Err(NotYet(e.to_string())),
            }
        }
        Ok(())
    }
}

/// Whether endpoint `e` forwards to `service:port`.
fn endpoint_serves(holdings: &Holdings, e: &Endpoint, service: &str, port: u16) -> bool {
    holdings.containers.iter().any(|c| {
        let forwards = c
            .label(project::FORWARDS_LABEL)
            .map(project::parse_forwards)
            .unwrap_or_default();
        c.ports.iter().flatten().any(|p| {
            p.host_port == e.port
                && ((c.service() == Some(service) && p.container_port == port)
                    || forwards.iter().any(|f| {
                        f.gateway_port == p.container_port && f.service == service && f.port == port
                    }))
        })
    })
}

enum Readiness {
    NotYet(String),
    Fatal(String),
}
use Readiness::{Fatal, NotYet};

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
            ],
            features: [
                features::EGRESS_DENY,
                features::RESOURCES_CPUS,
                features::RESOURCES_MEMORY,
                features::SECRETS,
                features::CONTAINMENT,
                features::USER_NAMESPACE,
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
        let hosts = options
            .hosts
            .iter()
            .map(|h| (h.name.clone(), Ssh::new(h.clone(), control_dir.clone())))
            .collect();
        Ok(ComposeSsh {
            options,
            hosts,
            apis: Default::default(),
            locks: Default::default(),
            placement: Default::default(),
            placing: Default::default(),
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
        let (host, manifest) = self.find_snapshot(&p.snapshot_id).await?;
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
        for ssh in self.hosts.values() {
            snapshots.extend(self.manifests(ssh).await?.into_iter().map(to_snapshot));
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
        for ssh in self.hosts.values() {
            let dir = snapshot::snapshot_dir(ssh.host(), &p.snapshot_id);
            let argv = podman::script_argv(snapshot::DELETE_SCRIPT, &[&p.snapshot_id, &dir]);
            let out = ssh.run(&argv, None, QUICK).await.map_err(transport_error)?;
            if !out.status.success() {
                return Err(failed(&out, "deleting a snapshot", &ssh.host().name));
            }
        }
        Ok(SnapshotDeleteResult { deleted: true })
    }

    async fn get(&self, _ctx: &Context, p: GetParams) -> ExtResult<Sandbox> {
        let (ssh, holdings) = self.find(&p.sandbox_id, p.backend_ref.as_deref()).await?;
        Ok(holdings.to_sandbox(&p.sandbox_id, ssh.host()))
    }

    async fn list(&self, _ctx: &Context, p: ListParams) -> ExtResult<ListResult> {
        let mut sandboxes = Vec::new();
        for ssh in self.hosts.values() {
            for (id, holdings) in self.inventory(ssh, None).await? {
                let sandbox = holdings.to_sandbox(&id, ssh.host());
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
        let _guard = self.lock(&p.sandbox_id).await;
        match self.host_of_ref(p.backend_ref.as_deref()) {
            Some(ssh) => self.destroy_on(ssh, &p.sandbox_id).await?,
            None => {
                for ssh in self.hosts.values() {
                    self.destroy_on(ssh, &p.sandbox_id).await?;
                }
            }
        }
        Ok(DestroyResult { destroyed: true })
    }

    async fn exec(&self, _ctx: &Context, p: ExecParams) -> ExtResult<ExecResult> {
        if p.argv.is_empty() {
            return Err(ErrorObject::invalid_argument("argv", "argv is empty"));
        }
        let (ssh, holdings) = self.find(&p.sandbox_id, None).await?;
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
        let argv = podman::exec_argv(container.name(), &p.argv, p.stdin.is_some());
        let timeout = p.timeout();
        let out = ssh
            .run(&argv, p.stdin.map(String::into_bytes), timeout)
            .await
            .map_err(|e| match e {
                TransportError::Timeout { .. } => {
                    ErrorObject::domain(ErrorKind::DeadlineExceeded, e.to_string())
                }
                e => transport_error(e),
            })?;
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
        let spec = ProfileSpec::of(&p.profile)?;
        let rate = spec.cost.clone().unwrap_or(CostRate {
            currency: "USD".into(),
            per_hour: Decimal::ZERO,
        });
        // Exactly: the rate times the seconds, over an hour.
        let hours = Decimal::from(p.duration_s) / Decimal::from(3600);
        let mut breakdown = JsonObject::new();
        breakdown.insert("rate_per_hour".into(), json!(money::text_of(rate.per_hour)));
        breakdown.insert("hours".into(), json!(money::text_of(hours)));
        Ok(CostEstimate {
            currency: rate.currency,
            amount: rate.per_hour * hours,
            breakdown,
        })
    }

    async fn profile_check(
        &self,
        _ctx: &Context,
        p: ProfileCheckParams,
    ) -> ExtResult<ProfileCheckResult> {
        self.check_profile(&p)
    }

    async fn host_doctor(
        &self,
        _ctx: &Context,
        p: HostDoctorParams,
    ) -> ExtResult<HostDoctorResult> {
        let hosts: Vec<&Ssh> = match &p.host {
            Some(name) => vec![self.ssh(name, "host")?],
            None => self.hosts.values().collect(),
        };
        let mut images: Vec<String> = p
            .profiles
            .iter()
            .filter_map(|profile| ProfileSpec::of(profile).ok())
            .filter_map(|spec| project::parse_compose(&spec).ok())
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
        let image = &self.options.gateway_image;
        let mut result = HostDoctorResult::default();
        for ssh in hosts {
            let host = ssh.host();
            let run_args = hardening::run_args(host, policy::Runtime::default());
            let argv = doctor::argv(host, image, &run_args, &tag, &images);
            result
                .hosts
                .push(match ssh.run(&argv, None, DOCTOR_TIMEOUT).await {
                    Ok(out) => {
                        let mut checks = Vec::new();
                        if !host.is_local() {
                            checks.push(DoctorCheck {
                                name: "ssh".into(),
                                ok: true,
                                detail: format!("logged in to {}:{}", host.address(), host.port),
                                fix: None,
                            });
                        }
                        checks.extend(doctor::parse(
                            &String::from_utf8_lossy(&out.stdout),
                            host,
                            image,
                        ));
                        HostDoctor {
                            host: host.name.clone(),
                            checks,
                        }
                    }
                    Err(e) => doctor::unreachable(host, e.to_string()),
                });
        }
        Ok(result)
    }

    async fn host_health(
        &self,
        _ctx: &Context,
        p: HostHealthParams,
    ) -> ExtResult<HostHealthResult> {
        let hosts: Vec<&Ssh> = match &p.host {
            Some(name) => vec![self.ssh(name, "host")?],
            None => self.hosts.values().collect(),
        };
        // All at once: an unreachable host costs its timeout once, not per host.
        let hosts =
            futures::future::join_all(hosts.into_iter().map(|ssh| self.check_host(ssh))).await;
        Ok(HostHealthResult { hosts })
    }
}
