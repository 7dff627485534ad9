//! `Daytona`, the extension `sandboxer-ext-daytona` serves (work in progress,
//! issue 19): each sandbox is a Daytona sandbox of the profile's snapshot,
//! named by its sandboxer id (Daytona finds a sandbox by id or name), its
//! labels sandboxer's (with `sandboxer.id`, so the reconciler finds orphans),
//! the profile's secrets its environment, its lifetime Daytona's `ttlMinutes`
//! (moved by `extend_ttl`).
//! Commands go to its toolbox. The API key is a BYOK provider key, declared
//! secret.

mod api;
mod files;
mod prices;

use api::{Api, CreateSandbox};
use rust_decimal::Decimal;
use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::sdk::{
    Context, ErrorKind, ErrorObject, ExtResult, Extension, Manifest, OptionSpec,
};
use sandboxer_ext_protocol::*;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Daytona's hosted API.
const DEFAULT_API_URL: &str = "https://app.daytona.io/api";
/// The label holding a digest of the create that made a sandbox.
const REQUEST_DIGEST: &str = "sandboxer-daytona.request";
const HOST: &str = "daytona";

pub struct Daytona {
    api: Api,
    prices: prices::Prices,
}

/// A profile's `spec` for Daytona.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// The Daytona snapshot sandboxes start from.
    snapshot: String,
    /// What the snapshot runs with, for pricing (Daytona's defaults: 1 vCPU,
    /// 1 GiB).
    #[serde(default)]
    cpus: Option<f64>,
    #[serde(default)]
    memory_gb: Option<f64>,
}

impl Spec {
    fn parse(spec: &Value) -> ExtResult<Spec> {
        serde_json::from_value(spec.clone()).map_err(|e| {
            ErrorObject::invalid_argument(
                "profile.spec",
                format!(
                    "the profile's spec is not Daytona's ({e}): write spec: {{snapshot: NAME}}"
                ),
            )
        })
    }
}

fn digest_of(params: &CreateParams) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(params.identity().to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A profile's network as Daytona's: blocked, or lists of CIDRs and domains
/// let through on any port (wider than `HOST:PORT`, so `egress.allowlist` is
/// not declared).
#[derive(Debug, Default, PartialEq)]
struct Egress {
    block_all: bool,
    cidrs: Option<String>,
    domains: Option<String>,
}

impl Egress {
    fn of(network: &NetworkPolicy) -> ExtResult<Egress> {
        if network.egress == sandboxer_ext_protocol::Egress::Allow {
            return Ok(Egress::default());
        }
        if network.allow.is_empty() {
            return Ok(Egress {
                block_all: true,
                ..Default::default()
            });
        }
        let (mut cidrs, mut domains) = (vec![], vec![]);
        for (i, entry) in network.allow.iter().enumerate() {
            let host = entry
                .rsplit_once(':')
                .map(|(h, _)| h)
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    ErrorObject::invalid_argument(
                        &format!("network.allow[{i}]"),
                        format!("network.allow[{i}] {entry:?} must be HOST:PORT"),
                    )
                })?;
            match host.parse::<std::net::Ipv4Addr>() {
                Ok(ip) => cidrs.push(format!("{ip}/32")),
                Err(_) if host.contains(':') || host.parse::<std::net::IpAddr>().is_ok() => {
                    return Err(ErrorObject::invalid_argument(
                        &format!("network.allow[{i}]"),
                        format!("Daytona lets IPv4 addresses through, not {host}"),
                    ));
                }
                Err(_) => domains.push(host.to_ascii_lowercase()),
            }
        }
        let joined = |list: Vec<String>| (!list.is_empty()).then(|| list.join(","));
        Ok(Egress {
            block_all: false,
            cidrs: joined(cidrs),
            domains: joined(domains),
        })
    }
}

fn minutes_until(rfc3339: &str) -> ExtResult<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).map_err(|e| {
        ErrorObject::invalid_argument("expires_at", format!("expires_at {rfc3339:?}: {e}"))
    })?;
    let seconds = at.timestamp() - chrono::Utc::now().timestamp();
    Ok(u64::try_from(seconds).unwrap_or(0).div_ceil(60).max(1))
}

fn sandbox_of(id: &str, found: &api::Sandbox) -> Sandbox {
    let mut labels = found.labels.clone();
    labels.remove(REQUEST_DIGEST);
    let state = match found.state.as_deref() {
        Some("started") => BackendState::Ready,
        Some("stopped" | "paused" | "archived") => BackendState::Stopped,
        Some("error" | "build_failed") => BackendState::Failed,
        _ => BackendState::Provisioning,
    };
    let mut details = JsonObject::new();
    details.insert("daytona_id".into(), found.id.clone().into());
    details.insert("state".into(), json!(found.state));
    Sandbox {
        sandbox_id: id.to_string(),
        state,
        backend_ref: found.id.clone(),
        labels,
        endpoints: vec![],
        details,
    }
}

pub(crate) fn not_found(id: &str) -> ErrorObject {
    ErrorObject::domain(
        ErrorKind::NotFound,
        format!("sandbox {id} is not on Daytona"),
    )
}

impl Extension for Daytona {
    fn manifest() -> Manifest {
        let option = |description: &str, secret, default: Option<Value>| OptionSpec {
            description: description.into(),
            required: false,
            secret,
            default,
        };
        Manifest {
            name: "daytona".into(),
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
            ],
            features: vec![features::SECRETS.into(), features::EGRESS_DENY.into()],
            options_schema: BTreeMap::from([
                (
                    "api_key".into(),
                    option("the Daytona API key (a provider key: secret)", true, None),
                ),
                (
                    "api_url".into(),
                    option("Daytona's API", false, Some(json!(DEFAULT_API_URL))),
                ),
                (
                    "usd_per_vcpu_hour".into(),
                    option(
                        "the price of a vCPU-hour, for cost/estimate (default: Daytona's \
                         published price)",
                        false,
                        None,
                    ),
                ),
                (
                    "usd_per_gib_hour".into(),
                    option(
                        "the price of a GiB-hour of memory, for cost/estimate (default: \
                         Daytona's published price)",
                        false,
                        None,
                    ),
                ),
                (
                    "create_retries".into(),
                    option(
                        "how many times a create Daytona refuses for its rate (429) is tried \
                         again before it is ResourceExhausted",
                        false,
                        Some(json!(4)),
                    ),
                ),
            ]),
        }
    }

    async fn start(options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        let text = |name: &str| {
            options
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let create_retries = options
            .get("create_retries")
            .and_then(Value::as_u64)
            .map_or(4, |n| n.min(20) as u32);
        Ok(Daytona {
            api: Api::new(
                text("api_url").unwrap_or_else(|| DEFAULT_API_URL.into()),
                text("api_key"),
                create_retries,
            )?,
            prices: prices::Prices::from_options(&options)?,
        })
    }

    async fn create(&self, _ctx: &Context, params: CreateParams) -> ExtResult<Sandbox> {
        let spec = Spec::parse(&params.profile.spec)?;
        let digest = digest_of(&params);
        if let Some(existing) = self.api.get(&params.sandbox_id).await? {
            if existing.labels.get(REQUEST_DIGEST) != Some(&digest) {
                return Err(ErrorObject::domain(
                    ErrorKind::AlreadyExists,
                    format!(
                        "sandbox {} exists on Daytona, made by a different create",
                        params.sandbox_id
                    ),
                ));
            }
            return Ok(sandbox_of(&params.sandbox_id, &existing));
        }
        let mut labels = params.labels.clone();
        labels.insert(LABEL_SANDBOX_ID.into(), params.sandbox_id.clone());
        labels.insert(REQUEST_DIGEST.into(), digest);
        let egress = Egress::of(&params.network)?;
        let request = CreateSandbox {
            name: params.sandbox_id.clone(),
            snapshot: spec.snapshot,
            labels,
            env: params.secrets.0.clone(),
            auto_stop_interval: 0,
            ttl_minutes: minutes_until(&params.expires_at)?,
            network_block_all: egress.block_all,
            network_allow_list: egress.cidrs,
            domain_allow_list: egress.domains,
        };
        let created = match self.api.create(&request).await {
            Ok(created) => created,
            // Another create of this id won the name: the same one, or a conflict.
            Err(e) if e.kind() == Some(ErrorKind::AlreadyExists) => {
                let existing = self.api.get(&params.sandbox_id).await?.ok_or(e)?;
                if existing.labels.get(REQUEST_DIGEST) != request.labels.get(REQUEST_DIGEST) {
                    return Err(ErrorObject::domain(
                        ErrorKind::AlreadyExists,
                        format!(
                            "sandbox {} exists on Daytona, made by a different create",
                            params.sandbox_id
                        ),
                    ));
                }
                existing
            }
            Err(e) => return Err(e),
        };
        let started = self.api.wait_started(&created.id).await?;
        Ok(sandbox_of(&params.sandbox_id, &started))
    }

    /// Daytona's TTL counts from now: it is set to the minutes left until the
    /// new expiry (rounded up), so Daytona's own deletion stays a backstop just
    /// after sandboxer's.
    async fn extend_ttl(&self, _ctx: &Context, params: ExtendTtlParams) -> ExtResult<Sandbox> {
        let found = self
            .api
            .get(&params.sandbox_id)
            .await?
            .ok_or_else(|| not_found(&params.sandbox_id))?;
        self.api
            .set_ttl(&found.id, minutes_until(&params.expires_at)?)
            .await?;
        Ok(sandbox_of(&params.sandbox_id, &found))
    }

    async fn get(&self, _ctx: &Context, params: GetParams) -> ExtResult<Sandbox> {
        let found = self
            .api
            .get(&params.sandbox_id)
            .await?
            .ok_or_else(|| not_found(&params.sandbox_id))?;
        Ok(sandbox_of(&params.sandbox_id, &found))
    }

    async fn list(&self, _ctx: &Context, params: ListParams) -> ExtResult<ListResult> {
        let sandboxes = self
            .api
            .list(&params.labels.unwrap_or_default())
            .await?
            .iter()
            .filter(|s| !s.is_gone())
            .filter_map(|s| Some(sandbox_of(s.labels.get(LABEL_SANDBOX_ID)?, s)))
            .collect();
        Ok(ListResult { sandboxes })
    }

    async fn destroy(&self, _ctx: &Context, params: DestroyParams) -> ExtResult<DestroyResult> {
        if let Some(found) = self.api.get(&params.sandbox_id).await? {
            self.api.delete(&found.id).await?;
        }
        Ok(DestroyResult { destroyed: true })
    }

    async fn exec(&self, _ctx: &Context, params: ExecParams) -> ExtResult<ExecResult> {
        if params.argv.is_empty() {
            return Err(ErrorObject::invalid_argument(
                "argv",
                "argv is empty: name a command",
            ));
        }
        if let Some(s) = &params.service {
            return Err(ErrorObject::invalid_argument(
                "service",
                format!("a Daytona sandbox has no part named {s:?}"),
            ));
        }
        let found = self
            .api
            .get(&params.sandbox_id)
            .await?
            .ok_or_else(|| not_found(&params.sandbox_id))?;
        // The toolbox takes a shell line: every word quoted, stdin from a
        // quoted literal.
        let mut line = shlex::try_join(params.argv.iter().map(String::as_str)).map_err(|e| {
            ErrorObject::invalid_argument("argv", format!("argv cannot be quoted: {e}"))
        })?;
        if let Some(stdin) = &params.stdin {
            let quoted = shlex::try_quote(stdin).map_err(|e| {
                ErrorObject::invalid_argument("stdin", format!("stdin cannot be quoted: {e}"))
            })?;
            line = format!("printf %s {quoted} | {line}");
        }
        let (code, output) = self
            .api
            .execute(&found, &line, params.timeout().as_secs())
            .await?;
        // Daytona's toolbox gives stdout and stderr as one text.
        Ok(ExecResult::from_output(code, output.as_bytes(), b""))
    }

    async fn cost_estimate(
        &self,
        _ctx: &Context,
        params: CostEstimateParams,
    ) -> ExtResult<CostEstimate> {
        let spec = Spec::parse(&params.profile.spec)?;
        let cpus = params.resources.cpus.or(spec.cpus).unwrap_or(1.0);
        let cpus = money::decimal_of(cpus).unwrap_or(Decimal::ONE);
        let memory_gib = match params.resources.memory_mb {
            Some(mb) => Decimal::from(mb) / Decimal::from(1024),
            None => spec
                .memory_gb
                .and_then(money::decimal_of)
                .unwrap_or(Decimal::ONE),
        };
        Ok(self.prices.estimate(cpus, memory_gib, params.duration_s))
    }

    async fn fs_read(&self, _ctx: &Context, p: FsReadParams) -> ExtResult<FsReadResult> {
        self.fs_read_of(p).await
    }

    async fn fs_write(&self, _ctx: &Context, p: FsWriteParams) -> ExtResult<FsWriteResult> {
        self.fs_write_of(p).await
    }

    async fn fs_list(&self, _ctx: &Context, p: FsPathParams) -> ExtResult<FsListResult> {
        self.fs_list_of(p).await
    }

    async fn fs_stat(&self, _ctx: &Context, p: FsPathParams) -> ExtResult<FileInfo> {
        self.fs_stat_of(p).await
    }

    async fn fs_mkdir(&self, _ctx: &Context, p: FsMkdirParams) -> ExtResult<Ack> {
        self.fs_mkdir_of(p).await
    }

    async fn fs_remove(&self, _ctx: &Context, p: FsRemoveParams) -> ExtResult<Ack> {
        self.fs_remove_of(p).await
    }

    async fn fs_rename(&self, _ctx: &Context, p: FsRenameParams) -> ExtResult<Ack> {
        self.fs_rename_of(p).await
    }

    async fn host_health(
        &self,
        _ctx: &Context,
        params: HostHealthParams,
    ) -> ExtResult<HostHealthResult> {
        if params.host.as_deref().is_some_and(|h| h != HOST) {
            return Err(ErrorObject::invalid_argument(
                "host",
                format!("Daytona is one host to sandboxer, {HOST:?}"),
            ));
        }
        let answer = self.api.health().await;
        Ok(HostHealthResult {
            hosts: vec![HostHealth {
                host: HOST.into(),
                reachable: answer.is_ok(),
                load1: None,
                mem_free_mb: None,
                disk_free_mb: None,
                sandboxes: None,
                error: answer.err(),
                details: JsonObject::new(),
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(egress: sandboxer_ext_protocol::Egress, allow: &[&str]) -> NetworkPolicy {
        NetworkPolicy {
            egress,
            allow: allow.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn a_profiles_network_becomes_daytonas_lists() {
        use sandboxer_ext_protocol::Egress as E;
        assert_eq!(
            Egress::of(&policy(E::Allow, &[])).unwrap(),
            Egress::default()
        );
        assert!(Egress::of(&policy(E::Deny, &[])).unwrap().block_all);
        let listed = Egress::of(&policy(E::Deny, &["10.1.2.3:443", "PyPI.org:443"])).unwrap();
        assert_eq!(listed.cidrs.as_deref(), Some("10.1.2.3/32"));
        assert_eq!(listed.domains.as_deref(), Some("pypi.org"));
        assert!(!listed.block_all);
        let bad = Egress::of(&policy(E::Deny, &["nothing"])).unwrap_err();
        assert!(bad.message.contains("network.allow[0]"), "{}", bad.message);
        assert!(Egress::of(&policy(E::Deny, &["[::1]:80"])).is_err());
    }
}
