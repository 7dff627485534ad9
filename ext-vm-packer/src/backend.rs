//! The protocol methods of vm-packer and the create pipeline that joins the other
//! modules: spec → image (built once) → template (booted and saved once per
//! shape) → a machine restored from it (or from a snapshot) → the guest fixed up
//! (clock, allowed names) → ready. A failure after the machine's folder exists
//! removes the machine again.

use crate::accel::Accel;
use crate::config::Options;
use crate::disk;
use crate::guest::{self, Guest};
use crate::images::{Image, ImageRecord, Images};
use crate::initramfs::READY_MARKER;
use crate::inventory::{self, Holding};
use crate::kernel::Kernel;
use crate::machine::{self, Forward, MachineRecord, Machines, Origin, QemuUser, RunAs};
use crate::ports;
use crate::prune::{self, ImagesLock};
use crate::qemu::{self, AllowedEndpoint, LaunchPlan};
use crate::qmp::Qmp;
use crate::secrets;
use crate::snapshot::{self, SnapshotManifest, Snapshots};
use crate::spec::ProfileSpec;
use sandboxer_ext_protocol::features;
use sandboxer_ext_protocol::locks::SandboxLocks;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::sdk::{Context, ExtResult, Extension, Manifest};
use sandboxer_ext_protocol::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A machine's memory when the request names none, and the least it may have.
pub const DEFAULT_MEMORY_MB: u64 = 256;
pub const MIN_MEMORY_MB: u64 = 64;
/// At most this many vCPUs per machine.
pub const MAX_CPUS: u32 = 16;

/// Machines run on this host.
pub struct LocalVms {
    options: Options,
    accel: Result<Accel, String>,
    kernel: Result<Kernel, String>,
    /// The extension's private key and public line.
    key: (PathBuf, String),
    /// The account QEMU drops to, when running as root.
    run_as: QemuUser,
    images: Images,
    machines: Machines,
    snapshots: Snapshots,
    locks: SandboxLocks,
    /// One template build at a time (each is a whole boot).
    template_build: tokio::sync::Mutex<()>,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn failed(kind: ErrorKind, message: impl Into<String>) -> ErrorObject {
    ErrorObject::domain(kind, message)
}

fn internal(message: impl Into<String>) -> ErrorObject {
    failed(ErrorKind::Internal, message)
}

/// Digest of a create's identity (secrets' values and the progress token aside).
fn request_digest(p: &CreateParams, origin: &Origin) -> String {
    let mut h = Sha256::new();
    h.update(p.identity().to_string().as_bytes());
    h.update(serde_json::to_vec(origin).expect("origin serializes"));
    h.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The machine's shape from the request: memory and vCPUs.
fn shape_of(resources: &Resources) -> ExtResult<(u64, u32)> {
    let memory = resources.memory_mb.unwrap_or(DEFAULT_MEMORY_MB);
    if memory < MIN_MEMORY_MB {
        return Err(ErrorObject::invalid_argument(
            "resources.memory_mb",
            format!("a virtual machine needs at least {MIN_MEMORY_MB} MB, not {memory}"),
        ));
    }
    let cpus = resources.cpus.unwrap_or(1.0).ceil().max(1.0);
    if cpus > MAX_CPUS as f64 {
        return Err(ErrorObject::invalid_argument(
            "resources.cpus",
            format!("at most {MAX_CPUS} vCPUs per machine"),
        ));
    }
    Ok((memory, cpus as u32))
}

/// The disk size a request asks for, checked against the image: only disk
/// images have one, and it cannot be smaller than the image's.
fn disk_of(resources: &Resources, image: &Image) -> ExtResult<Option<u64>> {
    let Some(asked) = resources.disk_mb else {
        return Ok(None);
    };
    let Some(base) = image.disk() else {
        return Err(ErrorObject::invalid_argument(
            "resources.disk_mb",
            "this profile's guest has no disk (its recipe is of kind initramfs; its files \
             live in memory_mb): use kind debian for a disk",
        ));
    };
    let base_mb = disk::virtual_size(&base)
        .map_err(internal)?
        .div_ceil(1 << 20);
    if asked < base_mb {
        return Err(ErrorObject::invalid_argument(
            "resources.disk_mb",
            format!("this profile's image needs a disk of at least {base_mb} MB, not {asked}"),
        ));
    }
    Ok(Some(asked))
}

/// The allowed endpoints of a request, checked; whether egress is open.
fn network_of(network: &NetworkPolicy) -> ExtResult<(Vec<AllowedEndpoint>, bool)> {
    if network.egress == Egress::Allow {
        return Ok((vec![], true));
    }
    let allowed = network
        .allow
        .iter()
        .enumerate()
        .map(|(i, d)| {
            AllowedEndpoint::parse(d, i)
                .map_err(|e| ErrorObject::invalid_argument(&format!("network.allow[{i}]"), e))
        })
        .collect::<ExtResult<Vec<_>>>()?;
    Ok((allowed, false))
}

impl LocalVms {
    fn kernel(&self) -> ExtResult<&Kernel> {
        self.kernel
            .as_ref()
            .map_err(|e| failed(ErrorKind::FailedPrecondition, e.clone()))
    }

    fn accel(&self) -> ExtResult<Accel> {
        self.accel
            .clone()
            .map_err(|e| failed(ErrorKind::FailedPrecondition, e))
    }

    fn run_as(&self) -> ExtResult<Option<RunAs>> {
        self.run_as
            .clone()
            .map_err(|e| failed(ErrorKind::FailedPrecondition, e))
    }

    fn guest(&self, record: &MachineRecord) -> Guest {
        Guest {
            address: self.options.forward_address,
            port: record.ssh_port,
            key: self.key.0.clone(),
            known_hosts: self.images.dir.join(&record.image).join("known_hosts"),
            control: Some(self.control_socket(&record.sandbox_id)),
        }
    }

    fn control_socket(&self, sandbox_id: &str) -> PathBuf {
        guest::control_socket(&self.options.state_dir.join("control"), sandbox_id)
    }

    /// Stops the machine of `sandbox_id` with its shared connection.
    async fn destroy_machine(&self, sandbox_id: &str, pid: Option<u32>) -> Result<(), String> {
        guest::close_master(&self.control_socket(sandbox_id)).await;
        self.machines.destroy(sandbox_id, pid).await
    }

    fn plan(
        &self,
        image: &Image,
        record: &MachineRecord,
        dir: &Path,
        incoming: bool,
    ) -> ExtResult<LaunchPlan> {
        let mut forwards = vec![(record.ssh_port, 22)];
        forwards.extend(record.forwards.iter().map(|f| (f.host_port, f.guest_port)));
        Ok(LaunchPlan {
            qemu: self.options.qemu.clone(),
            accel: machine::accel_of(record),
            memory_mb: record.memory_mb,
            cpus: record.cpus,
            kernel: image.kernel(),
            initramfs: image.initramfs(),
            sandbox_id: record.sandbox_id.clone(),
            dir: dir.to_path_buf(),
            forward_address: self.options.forward_address,
            forwards,
            allowed: record.allowed.clone(),
            egress_open: record.egress_open,
            run_as: self.run_as()?.map(|r| r.name),
            incoming,
            disk: image.disk().map(|_| machine_disk(dir)),
        })
    }

    /// Creates a sandbox from its image's template, or restores one from a
    /// snapshot (`from`).
    async fn provision(
        &self,
        ctx: &Context,
        p: CreateParams,
        from: Option<SnapshotManifest>,
    ) -> ExtResult<Sandbox> {
        let spec = ProfileSpec::of(&p.profile)?;
        let (allowed, egress_open) = network_of(&p.network)?;
        let secrets_file = secrets::env_file(&p.secrets)?;
        let origin = match &from {
            Some(s) => Origin::Snapshot(s.snapshot_id.clone()),
            None => Origin::Template,
        };
        let digest = request_digest(&p, &origin);
        let _guard = self.locks.lock(&p.sandbox_id).await;
        if let Some(same) = self.already_created(&p.sandbox_id, &digest).await? {
            return Ok(same);
        }
        let accel = self.accel()?;
        let run_as = self.run_as()?;
        // Until the machine runs on it, no prune removes the image.
        let images_lock = self.images_in_use().await?;
        let (image, (memory_mb, cpus), state, disk_mb) = match &from {
            Some(s) => {
                let image = Image {
                    hash: s.image.clone(),
                    dir: self.images.dir.join(&s.image),
                };
                let state = self
                    .snapshots
                    .state_file(&s.snapshot_id)
                    .ok_or_else(|| internal("snapshot without a state file"))?;
                (image, (s.memory_mb, s.cpus), state, s.disk_mb)
            }
            None => {
                let shape = shape_of(&p.resources)?;
                ctx.progress("building the image (once per recipe)", Some(5));
                let (image, _) = self.image_of(&spec, &p.profile).await?;
                ctx.progress("making the template (once per image and shape)", Some(20));
                let disk_mb = disk_of(&p.resources, &image)?;
                let state = self.template(&image, accel, shape, &spec).await?;
                (image, shape, state, disk_mb)
            }
        };
        let mut record = MachineRecord {
            sandbox_id: p.sandbox_id.clone(),
            labels: {
                let mut labels = p.labels.clone();
                labels.insert(LABEL_SANDBOX_ID.into(), p.sandbox_id.clone());
                labels
            },
            request: digest,
            image: image.hash.clone(),
            accel: accel.as_str().into(),
            memory_mb,
            cpus,
            disk_mb,
            ssh_port: 0,
            forwards: vec![],
            allowed,
            egress_open,
            secret_names: p.secrets.0.keys().cloned().collect(),
            origin,
            created_at: now_rfc3339(),
            expires_at: p.expires_at.clone(),
            ready: false,
        };
        ctx.progress(format!("restoring machine sbx-{}", p.sandbox_id), Some(60));
        let started = self
            .start_machine(
                &image,
                &mut record,
                &spec,
                &state,
                run_as.map(|r| (r.uid, r.gid)),
            )
            .await;
        drop(images_lock);
        let ready = match started {
            Ok(()) => self.make_ready(&record, &spec, &secrets_file).await,
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            let pid = inventory::scan(&self.machines, Some(&p.sandbox_id))
                .remove(&p.sandbox_id)
                .and_then(|h| h.pid);
            let _ = self.destroy_machine(&p.sandbox_id, pid).await;
            return Err(e);
        }
        record.ready = true;
        self.machines.write(&record).map_err(internal)?;
        ctx.progress("ready", Some(100));
        Ok(self.to_sandbox(&p.sandbox_id, Some(&record), true))
    }

    /// Ports, the record, QEMU (tried again with new ports when one was taken
    /// meanwhile), and the saved state loaded.
    async fn start_machine(
        &self,
        image: &Image,
        record: &mut MachineRecord,
        spec: &ProfileSpec,
        state: &Path,
        owner: Option<(u32, u32)>,
    ) -> ExtResult<()> {
        let mut last = String::new();
        for _ in 0..3 {
            let ports = ports::free_ports(self.options.forward_address, 1 + spec.endpoints.len())
                .map_err(|e| {
                internal(format!(
                    "no free port on {}: {e}",
                    self.options.forward_address
                ))
            })?;
            record.ssh_port = ports[0];
            record.forwards = spec
                .endpoints
                .iter()
                .zip(&ports[1..])
                .map(|(e, port)| Forward {
                    name: e.name.clone(),
                    protocol: e.protocol.clone(),
                    host_port: *port,
                    guest_port: e.port,
                })
                .collect();
            let dir = self.machines.prepare(record, owner).map_err(internal)?;
            let plan = self.plan(image, record, &dir, true)?;
            if let Some(overlay) = &plan.disk {
                new_overlay(&saved_disk(state), overlay, owner)?;
            }
            match machine::start(&plan).await {
                Ok(()) => {
                    let mut qmp = Qmp::connect(&LaunchPlan::qmp_socket(&dir))
                        .await
                        .map_err(internal)?;
                    qmp.restore_from(state)
                        .await
                        .map_err(|e| internal(format!("restoring the machine: {e}")))?;
                    if let Some(mb) = record.disk_mb {
                        // The guest sees the larger disk at once (virtio
                        // announces it); the first command grows its file system.
                        qmp.execute(
                            "block_resize",
                            Some(json!({"node-name": disk::NODE, "size": mb << 20})),
                        )
                        .await
                        .map_err(|e| internal(format!("growing the disk: {e}")))?;
                    }
                    return Ok(());
                }
                Err(e) if e.contains("host forwarding") => last = e,
                Err(e) => return Err(failed(ErrorKind::Unavailable, e)),
            }
        }
        Err(failed(ErrorKind::Unavailable, last))
    }

    /// The restored guest's first command (its clock set, the allowed
    /// endpoints' names), then the profile's HTTP probe.
    async fn make_ready(
        &self,
        record: &MachineRecord,
        spec: &ProfileSpec,
        secrets_file: &str,
    ) -> ExtResult<()> {
        let epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut line = format!("date -u -s @{epoch} >/dev/null");
        for e in &record.allowed {
            let is_name = e.host.bytes().any(|b| b.is_ascii_alphabetic());
            if is_name {
                let entry = format!("{} {}", e.guest_ip, e.host);
                line.push_str(&format!(
                    " && echo {} >> /etc/hosts",
                    shlex::try_quote(&entry).map_err(|e| internal(e.to_string()))?
                ));
            }
        }
        if let Some(mb) = record.disk_mb {
            let sectors = (mb << 20) / 512;
            line.push_str(&format!(
                " && for i in $(seq 50); do [ \"$(cat /sys/block/vda/size)\" -ge {sectors} ] && break; \
                 sleep 0.1; done && resize2fs {} >/dev/null 2>&1",
                crate::initramfs::DISK
            ));
        }
        if !secrets_file.is_empty() {
            line.push_str(&format!(" && {}", secrets::store_line()));
        }
        let guest = self.guest(record);
        guest
            .open_master(spec.ready.timeout)
            .await
            .map_err(|e| failed(ErrorKind::DeadlineExceeded, e))?;
        let stdin = (!secrets_file.is_empty()).then_some(secrets_file.as_bytes());
        let out = guest
            .first_command(&line, stdin, spec.ready.timeout)
            .await
            .map_err(|e| failed(ErrorKind::DeadlineExceeded, e))?;
        if !out.status.success() {
            return Err(internal(format!(
                "the guest's first command failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        if let Some(probe) = &spec.ready.http {
            let forward = record
                .forwards
                .iter()
                .find(|f| f.guest_port == probe.port)
                .ok_or_else(|| {
                    ErrorObject::invalid_argument(
                        "profile.spec.ready.http.port",
                        format!("port {} is not one of the endpoints", probe.port),
                    )
                })?;
            http_ready(
                (self.options.forward_address, forward.host_port),
                &probe.path,
                spec.ready.timeout,
            )
            .await?;
        }
        Ok(())
    }

    /// The image of `spec`, built now unless it already is; whether this call
    /// built it. `profile` names the profile for the image's record.
    async fn image_of(&self, spec: &ProfileSpec, profile: &ProfileRef) -> ExtResult<(Image, bool)> {
        let kernel = self.kernel()?.clone();
        let recipe = spec.recipe.clone();
        let key = self.key.1.clone();
        let images = self.images.clone();
        let label = format!("{}@{}", profile.id, profile.version);
        tokio::task::spawn_blocking(move || images.ensure(&recipe, &kernel, &key, &label))
            .await
            .map_err(|e| internal(e.to_string()))?
            .map_err(|e| internal(format!("building the image: {e}")))
    }

    /// Holds the images lock shared (a prune waits for this create).
    async fn images_in_use(&self) -> ExtResult<ImagesLock> {
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || ImagesLock::shared(&images))
            .await
            .map_err(|e| internal(e.to_string()))?
            .map_err(internal)
    }

    /// What `image/list` and `image/prune` say of image `record`.
    fn image_info(&self, record: &ImageRecord, used_by: Vec<String>) -> ImageInfo {
        let dir = self.images.dir.join(&record.hash);
        let templates: Vec<String> = std::fs::read_dir(dir.join("templates"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("state.mig").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut details = JsonObject::new();
        details.insert("kind".into(), json!(record.recipe.kind));
        details.insert("kernel_release".into(), json!(record.kernel_release));
        details.insert("templates".into(), json!(templates));
        ImageInfo {
            image_id: record.hash.clone(),
            profile: record.profile.clone(),
            built_at: record.built_at.clone(),
            size_bytes: crate::tree::bytes_under(&dir, 0, 0),
            used_by,
            details,
        }
    }

    /// The saved template of `image` in this shape, booted and saved now if
    /// there is none yet.
    async fn template(
        &self,
        image: &Image,
        accel: Accel,
        (memory_mb, cpus): (u64, u32),
        spec: &ProfileSpec,
    ) -> ExtResult<PathBuf> {
        let shape = qemu::shape(accel, memory_mb, cpus);
        let path = image.template(&shape);
        if path.is_file() {
            return Ok(path);
        }
        let _one = self.template_build.lock().await;
        if path.is_file() {
            return Ok(path);
        }
        reap_abandoned_builds(&self.options.state_dir.join("builds"));
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        // Short: the QMP socket's path must stay under 108 bytes.
        let build = self.options.state_dir.join("builds").join(format!(
            "{}-{}",
            std::process::id(),
            nanos % 1_000_000_000
        ));
        let owner = self.run_as()?.map(|r| (r.uid, r.gid));
        let result = self
            .boot_and_save(image, accel, memory_mb, cpus, &build, owner, spec)
            .await;
        let kept = result.and_then(|state| {
            let folder = path.parent().expect("template folder");
            std::fs::create_dir_all(folder).map_err(|e| internal(e.to_string()))?;
            // The disk first: a state file without its disk is never seen.
            if image.disk().is_some() {
                std::fs::rename(saved_disk(&state), saved_disk(&path))
                    .map_err(|e| internal(e.to_string()))?;
            }
            std::fs::rename(state, &path).map_err(|e| internal(e.to_string()))
        });
        for (pid, name, _) in inventory::processes_under(&build) {
            machine::kill_and_wait(pid, &name).await;
        }
        let _ = std::fs::remove_dir_all(&build);
        kept.map(|()| path)
    }

    /// Boots `image` once in `build` and saves it there; the saved state's path.
    #[allow(clippy::too_many_arguments)]
    async fn boot_and_save(
        &self,
        image: &Image,
        accel: Accel,
        memory_mb: u64,
        cpus: u32,
        build: &Path,
        owner: Option<(u32, u32)>,
        spec: &ProfileSpec,
    ) -> ExtResult<PathBuf> {
        std::fs::create_dir_all(build).map_err(|e| internal(e.to_string()))?;
        std::fs::write(build.join("builder.pid"), std::process::id().to_string())
            .and_then(|()| std::fs::write(build.join("image"), &image.hash))
            .map_err(|e| internal(e.to_string()))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(build, Some(uid), Some(gid))
                .map_err(|e| internal(e.to_string()))?;
        }
        let disk = match image.disk() {
            Some(base) => {
                let overlay = machine_disk(build);
                new_overlay(&base, &overlay, owner)?;
                Some(overlay)
            }
            None => None,
        };
        let commands = &spec.recipe.commands;
        let ssh_port = if commands.is_empty() {
            None
        } else {
            let ports = ports::free_ports(self.options.forward_address, 1).map_err(|e| {
                internal(format!(
                    "no free port on {}: {e}",
                    self.options.forward_address
                ))
            })?;
            Some(ports[0])
        };
        let plan = LaunchPlan {
            qemu: self.options.qemu.clone(),
            accel,
            memory_mb,
            cpus,
            kernel: image.kernel(),
            initramfs: image.initramfs(),
            sandbox_id: format!("template-{}", image.hash),
            dir: build.to_path_buf(),
            forward_address: self.options.forward_address,
            forwards: ssh_port.map(|p| (p, 22)).into_iter().collect(),
            allowed: vec![],
            egress_open: false,
            run_as: self.run_as()?.map(|r| r.name),
            incoming: false,
            disk,
        };
        machine::start(&plan)
            .await
            .map_err(|e| failed(ErrorKind::Unavailable, e))?;
        wait_for_marker(&LaunchPlan::serial_log(build), spec.ready.timeout).await?;
        if let Some(port) = ssh_port {
            self.run_recipe_commands(image, port, commands, spec.ready.timeout)
                .await?;
        }
        let state = build.join("state.mig");
        let mut qmp = Qmp::connect(&LaunchPlan::qmp_socket(build))
            .await
            .map_err(internal)?;
        qmp.save_to(&state)
            .await
            .map_err(|e| internal(format!("saving the template: {e}")))?;
        let _ = qmp.execute("quit", None).await;
        Ok(state)
    }

    /// The recipe's commands, one by one, in the template's guest (ssh on
    /// `port`); then the guest's writes flushed to its disk.
    async fn run_recipe_commands(
        &self,
        image: &Image,
        port: u16,
        commands: &[String],
        limit: Duration,
    ) -> ExtResult<()> {
        let guest = Guest {
            address: self.options.forward_address,
            port,
            key: self.key.0.clone(),
            known_hosts: image.known_hosts(),
            control: None,
        };
        guest
            .first_command("true", None, limit)
            .await
            .map_err(|e| failed(ErrorKind::DeadlineExceeded, e))?;
        for (i, command) in commands.iter().enumerate() {
            let argv = ["/bin/sh".to_string(), "-c".into(), command.clone()];
            let out = guest
                .exec(&argv, None, Duration::from_secs(600))
                .await
                .map_err(|e| internal(format!("recipe.commands[{i}]: {e}")))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: String = err.trim().chars().rev().take(400).collect();
                let field = format!("profile.spec.recipe.commands[{i}]");
                return Err(ErrorObject::invalid_argument(
                    &field,
                    format!(
                        "{field} exited with {} in the guest: {}",
                        out.status.code().unwrap_or(-1),
                        tail.chars().rev().collect::<String>()
                    ),
                ));
            }
        }
        let _ = guest.run("sync", None, limit).await;
        Ok(())
    }

    /// The sandbox if it already exists from this same create; AlreadyExists if
    /// from another. A machine left by a crashed create of this one is removed.
    async fn already_created(&self, sandbox_id: &str, digest: &str) -> ExtResult<Option<Sandbox>> {
        let Some(holding) = inventory::scan(&self.machines, Some(sandbox_id)).remove(sandbox_id)
        else {
            return Ok(None);
        };
        match &holding.record {
            Some(r) if r.request == digest && r.ready && holding.pid.is_some() => {
                Ok(Some(self.holding_to_sandbox(sandbox_id, &holding)))
            }
            Some(r) if r.request != digest => Err(failed(
                ErrorKind::AlreadyExists,
                format!("sandbox {sandbox_id} exists with other params"),
            )),
            _ => {
                self.destroy_machine(sandbox_id, holding.pid)
                    .await
                    .map_err(internal)?;
                Ok(None)
            }
        }
    }

    fn holding_to_sandbox(&self, sandbox_id: &str, holding: &Holding) -> Sandbox {
        self.to_sandbox(sandbox_id, holding.record.as_ref(), holding.pid.is_some())
    }

    /// The sandbox of a machine with this record (if any), running or not.
    fn to_sandbox(
        &self,
        sandbox_id: &str,
        record: Option<&MachineRecord>,
        running: bool,
    ) -> Sandbox {
        let Some(record) = record else {
            let mut labels = Labels::new();
            labels.insert(LABEL_SANDBOX_ID.into(), sandbox_id.into());
            return Sandbox {
                sandbox_id: sandbox_id.into(),
                state: if running {
                    BackendState::Provisioning
                } else {
                    BackendState::Failed
                },
                backend_ref: sandbox_id.into(),
                labels,
                endpoints: vec![],
                details: JsonObject::new(),
            };
        };
        let state = match (running, record.ready) {
            (true, true) => BackendState::Ready,
            (true, false) => BackendState::Provisioning,
            (false, _) => BackendState::Failed,
        };
        let mut endpoints = vec![Endpoint {
            name: "ssh".into(),
            protocol: EndpointProtocol::Ssh,
            host: self.options.forward_address.to_string(),
            port: record.ssh_port,
            url: None,
        }];
        for f in &record.forwards {
            let http = f.protocol == "http";
            endpoints.push(Endpoint {
                name: f.name.clone(),
                protocol: if http {
                    EndpointProtocol::Http
                } else {
                    EndpointProtocol::Tcp
                },
                host: self.options.forward_address.to_string(),
                port: f.host_port,
                url: http
                    .then(|| format!("http://{}:{}/", self.options.forward_address, f.host_port)),
            });
        }
        let mut details = JsonObject::new();
        details.insert("accelerator".into(), json!(record.accel));
        details.insert("image".into(), json!(record.image));
        details.insert("memory_mb".into(), json!(record.memory_mb));
        details.insert("cpus".into(), json!(record.cpus));
        if let Some(mb) = record.disk_mb {
            details.insert("disk_mb".into(), json!(mb));
        }
        details.insert("origin".into(), json!(record.origin));
        details.insert("expires_at".into(), json!(record.expires_at));
        let allowed: BTreeMap<&str, String> = record
            .allowed
            .iter()
            .map(|e| (e.destination.as_str(), format!("{}:{}", e.guest_ip, e.port)))
            .collect();
        details.insert("egress_allowed".into(), json!(allowed));
        Sandbox {
            sandbox_id: sandbox_id.into(),
            state,
            backend_ref: sandbox_id.into(),
            labels: record.labels.clone(),
            endpoints,
            details,
        }
    }

    /// Image hash → what uses it, abandoned template builds removed first.
    fn image_users(&self) -> BTreeMap<String, Vec<String>> {
        let builds = self.options.state_dir.join("builds");
        reap_abandoned_builds(&builds);
        prune::users(&self.machines, &self.snapshots, &builds)
    }

    /// A running, ready machine of `sandbox_id`.
    fn running(&self, sandbox_id: &str) -> ExtResult<(MachineRecord, u32)> {
        let holding = inventory::scan(&self.machines, Some(sandbox_id))
            .remove(sandbox_id)
            .ok_or_else(|| failed(ErrorKind::NotFound, format!("no sandbox {sandbox_id}")))?;
        match (holding.record, holding.pid) {
            (Some(r), Some(pid)) if r.ready => Ok((r, pid)),
            _ => Err(failed(
                ErrorKind::FailedPrecondition,
                format!(
                    "sandbox {sandbox_id} is not running (its machine stopped or never became \
                     ready): destroy it and create another"
                ),
            )),
        }
    }

    async fn take_snapshot(&self, sandbox_id: &str, name: &str) -> ExtResult<Snapshot> {
        let id = snapshot::snapshot_id(sandbox_id, name)
            .map_err(|e| ErrorObject::invalid_argument("snapshot_name", e))?;
        let _guard = self.locks.lock(sandbox_id).await;
        if let Some(taken) = self.snapshots.read(&id) {
            return Ok(taken.to_snapshot());
        }
        let (record, _) = self.running(sandbox_id)?;
        if !record.secret_names.is_empty() {
            return Err(failed(
                ErrorKind::FailedPrecondition,
                format!(
                    "sandbox {sandbox_id} holds secrets ({}): a snapshot would write its memory, \
                     and them, to disk; snapshot a sandbox created without secrets",
                    record.secret_names.join(", ")
                ),
            ));
        }
        let dir = self.machines.folder(sandbox_id);
        let file = dir.join(format!("{id}.mig"));
        let mut qmp = Qmp::connect(&LaunchPlan::qmp_socket(&dir))
            .await
            .map_err(internal)?;
        let mut saved = qmp.save_to(&file).await;
        // The machine stands still with its disk flushed: its copy matches the
        // saved memory.
        let disk_copy = dir.join(format!("{id}.disk.qcow2"));
        let has_disk = machine_disk(&dir).is_file();
        if saved.is_ok() && has_disk {
            saved = std::fs::copy(machine_disk(&dir), &disk_copy)
                .map(drop)
                .map_err(|e| format!("copying the disk: {e}"));
        }
        // The sandbox runs on whatever happened to the save.
        let resumed = qmp.execute("cont", None).await;
        if let Err(e) = saved {
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_file(&disk_copy);
            return Err(internal(format!("saving the machine: {e}")));
        }
        resumed.map_err(internal)?;
        let size_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let manifest = SnapshotManifest {
            snapshot_id: id,
            snapshot_name: name.into(),
            sandbox_id: sandbox_id.into(),
            image: record.image.clone(),
            accel: record.accel.clone(),
            memory_mb: record.memory_mb,
            cpus: record.cpus,
            disk_mb: record.disk_mb,
            model: qemu::MACHINE_MODEL.into(),
            taken_at: now_rfc3339(),
            size_bytes,
        };
        std::fs::create_dir_all(&self.snapshots.dir).map_err(|e| internal(e.to_string()))?;
        self.snapshots
            .keep(&manifest, &file, has_disk.then_some(disk_copy.as_path()))
            .map_err(internal)?;
        Ok(manifest.to_snapshot())
    }
}

/// A machine's own disk, in its folder.
fn machine_disk(dir: &Path) -> PathBuf {
    dir.join("disk.qcow2")
}

/// The disk saved beside a state file (a template's, a snapshot's).
fn saved_disk(state: &Path) -> PathBuf {
    state.with_file_name("disk.qcow2")
}

/// A new overlay at `path` on `backing`, handed to QEMU's account.
fn new_overlay(backing: &Path, path: &Path, owner: Option<(u32, u32)>) -> ExtResult<()> {
    let _ = std::fs::remove_file(path);
    disk::overlay(backing, path).map_err(internal)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| internal(e.to_string()))?;
    }
    Ok(())
}

/// Kills the machines of template builds (`builds/<builder pid>-<n>`) whose
/// builder (an extension process) is gone, and removes their folders.
fn reap_abandoned_builds(builds: &Path) {
    let Ok(entries) = std::fs::read_dir(builds) else {
        return;
    };
    for build in entries.flatten() {
        let builder: Option<i32> = std::fs::read_to_string(build.path().join("builder.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok());
        // SAFETY: kill(2) with signal 0 only asks whether the process exists.
        let alive = builder.is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
        if alive {
            continue;
        }
        for (pid, _, _) in inventory::processes_under(&build.path()) {
            // SAFETY: a QEMU process whose QMP socket lies in this build folder.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(build.path());
    }
}

/// Waits until the guest's serial console says it is up.
async fn wait_for_marker(serial: &Path, limit: Duration) -> ExtResult<()> {
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read(serial).unwrap_or_default();
        if text
            .windows(READY_MARKER.len())
            .any(|w| w == READY_MARKER.as_bytes())
        {
            return Ok(());
        }
        if started.elapsed() > limit {
            let tail =
                String::from_utf8_lossy(&text[text.len().saturating_sub(400)..]).into_owned();
            return Err(failed(
                ErrorKind::DeadlineExceeded,
                format!("the guest did not boot within {limit:?}; its console ended: {tail}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET `path` on `address` until it answers 2xx or 3xx.
async fn http_ready(
    address: (std::net::Ipv4Addr, u16),
    path: &str,
    limit: Duration,
) -> ExtResult<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    let mut last = String::from("no answer");
    while started.elapsed() < limit {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(address).await {
            let request = format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", address.0);
            let mut head = [0u8; 16];
            let answered = async {
                stream.write_all(request.as_bytes()).await?;
                stream.read_exact(&mut head).await
            };
            match tokio::time::timeout(Duration::from_secs(2), answered).await {
                Ok(Ok(_)) => {
                    let status = String::from_utf8_lossy(&head);
                    let code = status.split_whitespace().nth(1).unwrap_or_default();
                    if code.starts_with('2') || code.starts_with('3') {
                        return Ok(());
                    }
                    last = format!("it answered {code}");
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer in 2 s".into(),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(failed(
        ErrorKind::DeadlineExceeded,
        format!("GET {path} on guest port was not ready within {limit:?}: {last}"),
    ))
}

/// Memory available (MB) from /proc/meminfo.
fn mem_available_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

/// Free space (MB) of the file system holding `path`.
fn disk_free_mb(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().to_string_lossy().as_bytes()).ok()?;
    // SAFETY: statvfs(3) fills the zeroed struct from a NUL-terminated path.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut s) == 0)
            .then(|| s.f_bavail as u64 * s.f_frsize as u64 / (1024 * 1024))
    }
}

impl Extension for LocalVms {
    fn manifest() -> Manifest {
        let option = |description: &str| OptionSpec {
            description: description.into(),
            ..Default::default()
        };
        Manifest {
            name: "vm-packer".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            optional_methods: vec![
                m::SandboxExec::METHOD,
                m::SandboxExtendTtl::METHOD,
                m::CostEstimate::METHOD,
                m::HostHealth::METHOD,
                m::SandboxSnapshot::METHOD,
                m::SandboxRestore::METHOD,
                m::SnapshotList::METHOD,
                m::SnapshotDelete::METHOD,
                m::ProfileCheck::METHOD,
                m::HostDoctor::METHOD,
                m::ImageBuild::METHOD,
                m::ImageList::METHOD,
                m::ImagePrune::METHOD,
            ],
            features: [
                features::EGRESS_DENY,
                features::EGRESS_ALLOWLIST,
                features::RESOURCES_CPUS,
                features::RESOURCES_MEMORY,
                features::RESOURCES_DISK,
                features::SECRETS,
                features::CONTAINMENT,
                features::ISOLATION_VM,
            ]
            .map(String::from)
            .to_vec(),
            options_schema: BTreeMap::from([
                (
                    "state_dir".to_string(),
                    option(
                        "folder of images, machines, snapshots and the extension's ssh key (default /var/lib/sandboxer-vm)",
                    ),
                ),
                (
                    "kernel".to_string(),
                    option(
                        "folder of the guest kernel: vmlinuz and modules/*.ko (default /var/lib/sandboxer-vm/kernel/current, made by make setup-vm-host)",
                    ),
                ),
                (
                    "accelerator".to_string(),
                    option("auto (KVM with hardware virtualization, TCG otherwise), kvm or tcg"),
                ),
                (
                    "run_as".to_string(),
                    option(
                        "account QEMU drops to when the extension runs as root (default sandboxer-vm)",
                    ),
                ),
                (
                    "qemu".to_string(),
                    option("the QEMU system emulator (default qemu-system-x86_64)"),
                ),
                (
                    "max_machines".to_string(),
                    option("at most this many machines at once (default 16)"),
                ),
                (
                    "forward_address".to_string(),
                    option(
                        "IPv4 address endpoints are forwarded from (default 127.0.0.1; a remote \
                         host's own address, filled in by the relay)",
                    ),
                ),
                (
                    "hosts".to_string(),
                    option(
                        "remote hosts to relay to instead of running machines here: name, \
                         address, port, user, identity, known_hosts, host_key_checking, \
                         connect_timeout_s, command, labels, capacity, options",
                    ),
                ),
            ]),
        }
    }

    async fn start(options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        let options =
            Options::from_json(options).map_err(|e| ErrorObject::invalid_argument("options", e))?;
        if options.state_dir.to_string_lossy().contains(',') {
            return Err(ErrorObject::invalid_argument(
                "options.state_dir",
                "a comma cannot stand in a QEMU option's path",
            ));
        }
        let state = &options.state_dir;
        use std::os::unix::fs::PermissionsExt;
        for (dir, mode) in [
            ("", 0o711),
            ("images", 0o755),
            ("machines", 0o711),
            ("snapshots", 0o711),
            ("control", 0o700),
        ] {
            let path = state.join(dir);
            std::fs::create_dir_all(&path)
                .and_then(|()| {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                })
                .map_err(|e| {
                    failed(
                        ErrorKind::FailedPrecondition,
                        format!("{}: {e}", path.display()),
                    )
                })?;
        }
        let key =
            guest::extension_key(state).map_err(|e| failed(ErrorKind::FailedPrecondition, e))?;
        // SAFETY: geteuid(2) has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let run_as = if root {
            machine::account(&options.run_as)
                .map(|(uid, gid)| {
                    Some(RunAs {
                        name: options.run_as.clone(),
                        uid,
                        gid,
                    })
                })
                .ok_or_else(|| {
                    format!(
                        "no account {:?} for QEMU to run as; run `make setup-vm-host`",
                        options.run_as
                    )
                })
        } else {
            Ok(None)
        };
        Ok(LocalVms {
            accel: Accel::choose(options.accelerator),
            kernel: Kernel::load(&options.kernel),
            key,
            run_as,
            images: Images::new(state),
            machines: Machines::new(state),
            snapshots: Snapshots::new(state),
            locks: Default::default(),
            template_build: Default::default(),
            options,
        })
    }

    async fn create(&self, ctx: &Context, p: CreateParams) -> ExtResult<Sandbox> {
        let running = inventory::scan(&self.machines, None)
            .values()
            .filter(|h| h.pid.is_some())
            .count();
        if running >= self.options.max_machines {
            return Err(failed(
                ErrorKind::ResourceExhausted,
                format!(
                    "{running} machines run here, the most allowed: destroy one, or raise the \
                     extension's option max_machines"
                ),
            ));
        }
        self.provision(ctx, p, None).await
    }

    async fn get(&self, _ctx: &Context, p: GetParams) -> ExtResult<Sandbox> {
        let holding = inventory::scan(&self.machines, Some(&p.sandbox_id))
            .remove(&p.sandbox_id)
            .ok_or_else(|| failed(ErrorKind::NotFound, format!("no sandbox {}", p.sandbox_id)))?;
        Ok(self.holding_to_sandbox(&p.sandbox_id, &holding))
    }

    async fn list(&self, _ctx: &Context, p: ListParams) -> ExtResult<ListResult> {
        reap_abandoned_builds(&self.options.state_dir.join("builds"));
        guest::sweep_control_sockets(&self.options.state_dir.join("control"));
        let wanted = p.labels.unwrap_or_default();
        let sandboxes = inventory::scan(&self.machines, None)
            .iter()
            .map(|(id, holding)| self.holding_to_sandbox(id, holding))
            .filter(|s| wanted.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .collect();
        Ok(ListResult { sandboxes })
    }

    async fn destroy(&self, _ctx: &Context, p: DestroyParams) -> ExtResult<DestroyResult> {
        let _guard = self.locks.lock(&p.sandbox_id).await;
        let pid = inventory::scan(&self.machines, Some(&p.sandbox_id))
            .remove(&p.sandbox_id)
            .and_then(|h| h.pid);
        self.destroy_machine(&p.sandbox_id, pid)
            .await
            .map_err(internal)?;
        Ok(DestroyResult { destroyed: true })
    }

    async fn extend_ttl(&self, _ctx: &Context, p: ExtendTtlParams) -> ExtResult<Sandbox> {
        let _guard = self.locks.lock(&p.sandbox_id).await;
        let mut holding = inventory::scan(&self.machines, Some(&p.sandbox_id))
            .remove(&p.sandbox_id)
            .ok_or_else(|| failed(ErrorKind::NotFound, format!("no sandbox {}", p.sandbox_id)))?;
        if let Some(record) = &mut holding.record {
            record.expires_at = p.expires_at.clone();
            self.machines.write(record).map_err(internal)?;
        }
        Ok(self.holding_to_sandbox(&p.sandbox_id, &holding))
    }

    async fn exec(&self, _ctx: &Context, p: ExecParams) -> ExtResult<ExecResult> {
        if p.argv.is_empty() {
            return Err(ErrorObject::invalid_argument("argv", "argv is empty"));
        }
        if p.service.is_some() {
            return Err(ErrorObject::invalid_argument(
                "service",
                "a virtual machine has no services to choose among",
            ));
        }
        let (record, _) = self.running(&p.sandbox_id)?;
        let prefix = if record.secret_names.is_empty() {
            String::new()
        } else {
            secrets::exec_prefix()
        };
        let out = self
            .guest(&record)
            .exec_after(
                &prefix,
                &p.argv,
                p.stdin.as_deref().map(str::as_bytes),
                p.timeout(),
            )
            .await
            .map_err(|e| failed(ErrorKind::DeadlineExceeded, e))?;
        Ok(ExecResult::from_output(
            out.status.code().unwrap_or(-1),
            &out.stdout,
            &out.stderr,
        ))
    }

    async fn snapshot(&self, _ctx: &Context, p: SnapshotParams) -> ExtResult<Snapshot> {
        self.take_snapshot(&p.sandbox_id, &p.snapshot_name).await
    }

    async fn restore(&self, ctx: &Context, p: RestoreParams) -> ExtResult<Sandbox> {
        let manifest = self.snapshots.read(&p.snapshot_id).ok_or_else(|| {
            failed(
                ErrorKind::NotFound,
                format!("no snapshot {}", p.snapshot_id),
            )
        })?;
        if manifest.model != qemu::MACHINE_MODEL {
            return Err(failed(
                ErrorKind::FailedPrecondition,
                format!(
                    "snapshot {} was saved from machines of another model ({:?}; this \
                     vm-packer makes {}), which cannot restore it: delete it (`sandboxer \
                     snapshot delete`) and take a new one from a sandbox of this version",
                    p.snapshot_id,
                    manifest.model,
                    qemu::MACHINE_MODEL
                ),
            ));
        }
        self.provision(ctx, p.create, Some(manifest)).await
    }

    async fn image_build(
        &self,
        _ctx: &Context,
        p: ImageBuildParams,
    ) -> ExtResult<ImageBuildResult> {
        let spec = ProfileSpec::of(&p.profile)?;
        let _lock = self.images_in_use().await?;
        let (image, built) = self.image_of(&spec, &p.profile).await?;
        let record = self
            .images
            .read(&image.hash)
            .ok_or_else(|| internal(format!("image {} has no record", image.hash)))?;
        let users = self.image_users().remove(&image.hash).unwrap_or_default();
        Ok(ImageBuildResult {
            image: self.image_info(&record, users),
            built,
        })
    }

    async fn image_list(&self, _ctx: &Context, _p: ImageListParams) -> ExtResult<ImageListResult> {
        let mut users = self.image_users();
        Ok(ImageListResult {
            images: self
                .images
                .list()
                .iter()
                .map(|r| self.image_info(r, users.remove(&r.hash).unwrap_or_default()))
                .collect(),
        })
    }

    async fn image_prune(
        &self,
        _ctx: &Context,
        p: ImagePruneParams,
    ) -> ExtResult<ImagePruneResult> {
        let Some(_lock) = ImagesLock::exclusive_now(&self.images).map_err(internal)? else {
            return Err(failed(
                ErrorKind::Unavailable,
                "a create is using the images right now; prune again when it is done",
            ));
        };
        let all = self.images.list();
        if let Some(ids) = &p.image_ids
            && let Some(unknown) = ids.iter().find(|id| !all.iter().any(|r| &r.hash == *id))
        {
            return Err(failed(
                ErrorKind::NotFound,
                format!("no image {unknown}; `sandboxer images list` shows them"),
            ));
        }
        // The images the kept profiles would be built into.
        // Without the kernel no profile's image can be named: prune nothing.
        let kernel = self.kernel()?;
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for profile in &p.keep_profiles {
            if let Ok(spec) = ProfileSpec::of(profile) {
                let hash = Images::hash(&spec.recipe, kernel, &self.key.1);
                wanted.insert(hash, format!("{}@{}", profile.id, profile.version));
            }
        }
        let mut users = self.image_users();
        let mut result = ImagePruneResult::default();
        for record in &all {
            if p.image_ids
                .as_ref()
                .is_some_and(|ids| !ids.contains(&record.hash))
            {
                continue;
            }
            let used_by = users.remove(&record.hash).unwrap_or_default();
            let reason = if !used_by.is_empty() {
                Some(format!("used by {}", used_by.join(", ")))
            } else {
                wanted.get(&record.hash).map(|p| format!("{p} uses it"))
            };
            match reason {
                Some(reason) => result.kept.push(ImageKept {
                    image_id: record.hash.clone(),
                    reason,
                }),
                None => {
                    let info = self.image_info(record, vec![]);
                    if !p.dry_run {
                        prune::remove(&self.images, record).map_err(internal)?;
                    }
                    result.removed.push(info);
                }
            }
        }
        Ok(result)
    }

    async fn snapshot_list(
        &self,
        _ctx: &Context,
        _p: SnapshotListParams,
    ) -> ExtResult<SnapshotListResult> {
        Ok(SnapshotListResult {
            snapshots: self
                .snapshots
                .list()
                .iter()
                .map(SnapshotManifest::to_snapshot)
                .collect(),
        })
    }

    async fn snapshot_delete(
        &self,
        _ctx: &Context,
        p: SnapshotDeleteParams,
    ) -> ExtResult<SnapshotDeleteResult> {
        self.snapshots.delete(&p.snapshot_id).map_err(internal)?;
        Ok(SnapshotDeleteResult { deleted: true })
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
        // A recipe cannot ask for anything of the host: nothing to refuse or relax.
        ProfileSpec::of(&p.profile)?;
        Ok(ProfileCheckResult::default())
    }

    async fn host_health(
        &self,
        _ctx: &Context,
        p: HostHealthParams,
    ) -> ExtResult<HostHealthResult> {
        if let Some(host) = p.host.as_deref().filter(|h| *h != "local") {
            return Err(ErrorObject::invalid_argument(
                "host",
                format!("no host {host}: vm-packer runs machines on `local` only"),
            ));
        }
        let running = inventory::scan(&self.machines, None)
            .values()
            .filter(|h| h.pid.is_some())
            .count();
        let load1 = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok());
        let mut details = JsonObject::new();
        match &self.accel {
            Ok(a) => details.insert("accelerator".into(), json!(a.as_str())),
            Err(e) => details.insert("accelerator_error".into(), json!(e)),
        };
        Ok(HostHealthResult {
            hosts: vec![HostHealth {
                host: "local".into(),
                reachable: true,
                load1,
                mem_free_mb: mem_available_mb(),
                disk_free_mb: disk_free_mb(&self.options.state_dir),
                sandboxes: Some(running as u64),
                error: None,
                details,
            }],
        })
    }

    async fn host_doctor(
        &self,
        _ctx: &Context,
        _p: HostDoctorParams,
    ) -> ExtResult<HostDoctorResult> {
        Ok(HostDoctorResult {
            hosts: vec![HostDoctor {
                host: "local".into(),
                checks: crate::doctor::checks(
                    &self.options,
                    &self.accel,
                    &self.kernel,
                    &self.run_as,
                )
                .await,
            }],
        })
    }
}
