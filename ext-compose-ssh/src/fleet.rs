//! `Fleet`: the configured hosts, and the choices among them — which host holds a
//! sandbox or a snapshot, which host a new sandbox goes to (`placement` weighs
//! them), and what the containment policy allows a profile on each.

use crate::config::HostConfig;
use crate::host::Host;
use crate::inventory::Holdings;
use crate::policy::{self, Exceptions, Review, Setting};
use crate::snapshot::{self, SnapshotManifest};
use crate::spec::{PlacementConstraints, ProfileSpec};
use sandboxer_ext_protocol::sdk::ExtResult;
use sandboxer_ext_protocol::sdk::placement::{self, HostState, Reservation};
use sandboxer_ext_protocol::{
    CreateParams, ErrorKind, ErrorObject, HostHealth, ProfileCheckParams, ProfileCheckResult,
    Resources,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub struct Fleet {
    /// Every configured host by name.
    hosts: BTreeMap<String, Host>,
    /// Host names in the order of the configuration (placement's tie-break).
    configured: Vec<String>,
    /// What the containment policy lets through beyond each host's own `allow`.
    containment: Exceptions,
    /// Hosts found unreachable, and creates in flight per host.
    state: HostState,
    /// Held while a host is chosen and reserved.
    placing: tokio::sync::Mutex<()>,
}

impl Fleet {
    pub fn new(hosts: &[HostConfig], containment: Exceptions, control_dir: &Path) -> Fleet {
        Fleet {
            hosts: hosts
                .iter()
                .map(|h| (h.name.clone(), Host::new(h.clone(), control_dir.into())))
                .collect(),
            configured: hosts.iter().map(|h| h.name.clone()).collect(),
            containment,
            state: HostState::default(),
            placing: Default::default(),
        }
    }

    /// Every host, by name.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// Every host, in the order of the configuration.
    fn in_configured_order(&self) -> impl Iterator<Item = &Host> {
        self.configured.iter().map(|name| &self.hosts[name])
    }

    /// A configured host; an unknown name is refused as the param `field` that
    /// carried it.
    pub fn host(&self, name: &str, field: &str) -> ExtResult<&Host> {
        self.hosts.get(name).ok_or_else(|| {
            ErrorObject::invalid_argument(
                field,
                format!(
                    "unknown host {name:?}; configured hosts: {}",
                    self.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// The host named by the param `host`, or every host when it names none.
    pub fn named_or_all(&self, name: Option<&str>) -> ExtResult<Vec<&Host>> {
        Ok(match name {
            Some(name) => vec![self.host(name, "host")?],
            None => self.hosts().collect(),
        })
    }

    /// The host a ref names, if it names one we know.
    pub fn of_ref(&self, backend_ref: Option<&str>) -> Option<&Host> {
        let host = backend_ref?.split_once('/')?.0;
        self.hosts.get(host)
    }

    /// Finds a sandbox: on the host its ref names, else on every host.
    pub async fn find(
        &self,
        sandbox_id: &str,
        backend_ref: Option<&str>,
    ) -> ExtResult<(&Host, Holdings)> {
        let candidates: Vec<&Host> = match self.of_ref(backend_ref) {
            Some(host) => vec![host],
            None => self.hosts().collect(),
        };
        for host in candidates {
            if let Some(h) = host.holdings(sandbox_id).await? {
                return Ok((host, h));
            }
        }
        Err(ErrorObject::domain(
            ErrorKind::NotFound,
            format!("no sandbox {sandbox_id} on any configured host"),
        ))
    }

    /// The host holding a snapshot, and its manifest; NotFound when no host does.
    pub async fn find_snapshot(&self, snapshot_id: &str) -> ExtResult<(&Host, SnapshotManifest)> {
        if snapshot::is_snapshot_id(snapshot_id) {
            for host in self.hosts() {
                if let Some(m) = host
                    .snapshots()
                    .await?
                    .into_iter()
                    .find(|m| m.snapshot_id == snapshot_id)
                {
                    return Ok((host, m));
                }
            }
        }
        Err(ErrorObject::domain(
            ErrorKind::NotFound,
            format!("no snapshot {snapshot_id} on any configured host"),
        ))
    }

    /// How a host is doing; marks it unreachable when it does not answer.
    pub async fn health(&self, host: &Host) -> HostHealth {
        let health = host.health().await;
        if health.reachable {
            self.state.mark_reachable(&health.host);
        } else {
            self.state.mark_unreachable(&health.host);
        }
        health
    }

    /// The host a create goes to, counted against it until the reservation
    /// drops: the host it names (which must carry the profile's placement labels,
    /// unless it restores a snapshot kept there), else the host already holding
    /// the sandbox, else the one with most headroom. The containment policy must
    /// let the profile through there.
    pub async fn place(
        &self,
        p: &CreateParams,
        spec: &ProfileSpec,
        review: &Review,
        restoring: bool,
    ) -> ExtResult<(&Host, Reservation)> {
        let (host, reservation) = match &p.placement.host {
            Some(name) => {
                if !restoring {
                    self.check_labels(name, &spec.placement)?;
                }
                let reservation = self.state.reserve(name);
                (self.host(name, "placement.host")?, reservation)
            }
            None => match self.already_placed(&p.sandbox_id).await {
                Some(host) => (host, self.state.reserve(host.name())),
                None => {
                    self.most_headroom(&spec.placement, &p.resources, review, &p.profile.id)
                        .await?
                }
            },
        };
        let verdict = policy::judge(
            &review.findings,
            &self.allowed(&p.profile.id, host.config()),
        );
        if !verdict.refused.is_empty() {
            return Err(policy::refusal(&verdict.refused, host.name()));
        }
        Ok((host, reservation))
    }

    /// The host already holding `sandbox_id`, if any answers so: a repeated
    /// create goes where the first one went, whatever the headroom says now.
    async fn already_placed(&self, sandbox_id: &str) -> Option<&Host> {
        if self.hosts.len() < 2 {
            return None;
        }
        for host in self.hosts() {
            let name = host.name();
            if self.state.is_marked(name) {
                continue;
            }
            match host.holdings(sandbox_id).await.map_err(ErrorObject::from) {
                Ok(Some(_)) => return Some(host),
                Ok(None) => {}
                Err(e) if e.kind() == Some(ErrorKind::Unavailable) => {
                    self.state.mark_unreachable(name);
                }
                Err(_) => {}
            }
        }
        None
    }

    /// The host a new sandbox goes to (see `placement`): of the configured hosts
    /// with the profile's labels, the one with the most headroom. Hosts marked
    /// unreachable are passed over unless every candidate is marked.
    async fn most_headroom(
        &self,
        constraints: &PlacementConstraints,
        resources: &Resources,
        review: &Review,
        profile_id: &str,
    ) -> ExtResult<(&Host, Reservation)> {
        let labelled: Vec<&Host> = self
            .in_configured_order()
            .filter(|h| constraints.fits(h.config()))
            .collect();
        // Only hosts whose exceptions let the profile through.
        let matching: Vec<&Host> = labelled
            .iter()
            .copied()
            .filter(|h| {
                policy::judge(&review.findings, &self.allowed(profile_id, h.config()))
                    .refused
                    .is_empty()
            })
            .collect();
        if let (Some(first), true) = (labelled.first(), matching.is_empty()) {
            let verdict =
                policy::judge(&review.findings, &self.allowed(profile_id, first.config()));
            return Err(policy::refusal(&verdict.refused, "any configured host"));
        }
        if matching.is_empty() {
            return Err(placement::no_host_with(&constraints.labels));
        }
        if let [only] = matching.as_slice()
            && only.config().capacity.is_none()
        {
            // Nothing to weigh: a failure to reach it shows in the create itself.
            return Ok((only, self.state.reserve(only.name())));
        }
        // One placement at a time in this process: the choice and its
        // reservation are made together, so concurrent creates see each other.
        let _placing = self.placing.lock().await;
        let all_marked = matching.iter().all(|h| self.state.is_marked(h.name()));
        let mut observed = Vec::new();
        for host in matching {
            let health = if all_marked || !self.state.is_marked(host.name()) {
                self.health(host).await
            } else {
                // Not asked again so soon; it still counts in the answer.
                HostHealth {
                    host: host.name().to_string(),
                    reachable: false,
                    load1: None,
                    mem_free_mb: None,
                    disk_free_mb: None,
                    sandboxes: None,
                    error: Some("did not answer moments ago".into()),
                    details: Default::default(),
                }
            };
            observed.push(placement::Observed {
                name: host.name().to_string(),
                capacity: host.config().capacity,
                health,
                in_flight: self.state.in_flight(host.name()),
            });
        }
        let memory_mb = resources.memory_mb.unwrap_or(placement::DEFAULT_SANDBOX_MB);
        let chosen = placement::choose(&observed, memory_mb)?;
        let reservation = self.state.reserve(&chosen);
        Ok((&self.hosts[&chosen], reservation))
    }

    /// Refuses a host named for a profile whose placement labels it lacks.
    fn check_labels(&self, name: &str, constraints: &PlacementConstraints) -> ExtResult<()> {
        let host = self.host(name, "placement.host")?;
        match constraints.missing_on(host.config()) {
            Some((k, v)) => Err(placement::host_lacks(name, k, v)),
            None => Ok(()),
        }
    }

    /// What the containment policy allows `profile_id` on `host`.
    fn allowed(&self, profile_id: &str, host: &HostConfig) -> BTreeSet<Setting> {
        policy::allowed_for(&self.containment, profile_id, &host.allow)
    }

    /// `profile/check`: on the named host, or on the most permissive host placement
    /// could choose.
    pub fn check_profile(&self, p: &ProfileCheckParams) -> ExtResult<ProfileCheckResult> {
        let spec = ProfileSpec::of(&p.profile)?;
        let review = spec.review()?;
        let candidates: Vec<&Host> = match &p.placement.host {
            Some(h) => vec![self.host(h, "placement.host")?],
            None => self
                .in_configured_order()
                .filter(|h| spec.placement.fits(h.config()))
                .collect(),
        };
        Ok(candidates
            .into_iter()
            .map(|h| {
                let mut verdict =
                    policy::judge(&review.findings, &self.allowed(&p.profile.id, h.config()));
                for f in &mut verdict.relaxed {
                    f.message = format!("{} (allowed on host {})", f.message, h.name());
                }
                verdict
            })
            .min_by_key(|v| v.refused.len())
            .unwrap_or_else(|| {
                policy::judge(
                    &review.findings,
                    &policy::allowed_for(&self.containment, &p.profile.id, &[]),
                )
            }))
    }
}
