//! The configuration file (YAML): attribution defaults, call deadlines, and the
//! options each extension gets in its handshake. Found at `--config`, else
//! `SANDBOXER_CONFIG`, else `$XDG_CONFIG_HOME/sandboxer/config.yaml`; a missing
//! default file means defaults.

use crate::exthost::Timeouts;
use sandboxer_ext_protocol::JsonObject;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CONFIG_ENV: &str = "SANDBOXER_CONFIG";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub timeouts: TimeoutOverrides,
    /// Per extension (by `<name>`), its handshake options.
    #[serde(default)]
    pub extensions: BTreeMap<String, ExtensionConfig>,
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub lifetimes: LifetimeConfig,
    #[serde(default)]
    pub budgets: Vec<BudgetConfig>,
    #[serde(default)]
    pub provider_keys: Vec<ProviderKey>,
    /// Where the state is kept: a file's path, or a `postgres://` URL that
    /// several daemons share (its password from the URL or `PGPASSWORD`).
    /// `--state` / `SANDBOXER_STATE` win over it; neither: the default file.
    #[serde(default)]
    pub store: Option<String>,
}

/// Credentials an extension's backend needs (bring your own key), for one
/// project or consumer: option name → where its value comes from. Resolved when
/// an extension is started for that owner, passed only as `initialize` options
/// the extension declares secret, and never stored or logged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderKey {
    /// The extension (`ext.NAME` or `NAME`).
    pub extension: String,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub consumer: Option<String>,
    pub options: BTreeMap<String, crate::secrets::SecretRef>,
}

impl ProviderKey {
    fn extension_name(&self) -> &str {
        self.extension
            .strip_prefix(sandboxer_ext_protocol::EXTENSION_ID_PREFIX)
            .unwrap_or(&self.extension)
    }

    /// How specific the key is for this owner: `None` when it does not apply.
    fn rank(&self, extension: &str, consumer: &str, project: &str) -> Option<u8> {
        if self.extension_name() != extension {
            return None;
        }
        match (&self.consumer, &self.project) {
            (Some(c), Some(p)) => (c == consumer && p == project).then_some(3),
            (Some(c), None) => (c == consumer).then_some(2),
            (None, Some(p)) => (p == project).then_some(1),
            (None, None) => None,
        }
    }
}

/// Lifetime rules the core applies to every sandbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifetimeConfig {
    /// An `expiry_warning` event goes out this long before a sandbox expires.
    #[serde(deserialize_with = "duration_required")]
    pub warn_before: Duration,
}

impl Default for LifetimeConfig {
    fn default() -> Self {
        LifetimeConfig {
            warn_before: Duration::from_secs(300),
        }
    }
}

/// A spending limit for a project (or one consumer in it) per period.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub project: String,
    /// Only this consumer's spending in the project (`agt:NAME`...).
    #[serde(default)]
    pub consumer: Option<String>,
    #[serde(deserialize_with = "amount")]
    pub amount: rust_decimal::Decimal,
    #[serde(default = "usd")]
    pub currency: String,
    #[serde(default)]
    pub period: BudgetPeriod,
    #[serde(default)]
    pub policy: BudgetPolicy,
    /// Only spending on backends of this class (`hosted`: a per-project hosted
    /// budget stops hosted creates and leaves self-hosted ones alone).
    #[serde(default)]
    pub class: Option<BackendClass>,
}

/// Whose machines a backend runs on: the operator's own, or a provider's that
/// bills for them. Said by the operator (`extensions.<name>.class`), because an
/// extension cannot tell a self-hosted Daytona from Daytona's cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendClass {
    #[default]
    SelfHosted,
    Hosted,
}

impl BackendClass {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendClass::SelfHosted => "self-hosted",
            BackendClass::Hosted => "hosted",
        }
    }
}

fn usd() -> String {
    "USD".into()
}

fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<rust_decimal::Decimal, D::Error> {
    crate::money::read_written(d, "amount")
}

/// The span a budget's spending is counted over (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    Day,
    #[default]
    Month,
    /// Since the beginning.
    Total,
}

/// What happens to running sandboxes when a budget runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPolicy {
    /// An event per sandbox; they keep running.
    #[default]
    Warn,
    /// Snapshot each sandbox (where its backend can) and destroy it, so that it
    /// can be restored once the budget allows.
    Stop,
    /// Destroy each sandbox.
    Destroy,
}

impl BudgetPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPolicy::Warn => "warn",
            BudgetPolicy::Stop => "stop",
            BudgetPolicy::Destroy => "destroy",
        }
    }
}

/// `sandboxer serve`: where it listens, who may call it, how often its loops run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    pub listen: String,
    pub tokens: Vec<TokenConfig>,
    #[serde(deserialize_with = "duration_required")]
    pub reaper_interval: Duration,
    #[serde(deserialize_with = "duration_required")]
    pub reconcile_interval: Duration,
    /// How long an orphan (labelled resources without a record) is reported
    /// before it is reaped.
    #[serde(deserialize_with = "duration_required")]
    pub orphan_grace: Duration,
    /// How long a sandbox may sit in a transitional state before it is retried,
    /// then marked failed.
    #[serde(deserialize_with = "duration_required")]
    pub stuck_after: Duration,
    /// Extensions unused this long are shut down.
    #[serde(deserialize_with = "duration_required")]
    pub extension_idle: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a client has to send a request's headers.
    #[serde(deserialize_with = "duration_required")]
    pub header_timeout: Duration,
    /// How long a client has to send a request's body.
    #[serde(deserialize_with = "duration_required")]
    pub body_timeout: Duration,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The endpoint proxy (`docs/working-inside.md`).
    pub proxy: ProxyConfig,
    /// The E2B-compatible API (`docs/e2b.md`).
    pub e2b: E2bApiConfig,
    /// How long the lease on the fleet's loops (reaper, reconciler, pool
    /// refills, host sampling) holds without renewal: when its daemon dies,
    /// another takes the loops over within this long. Renewed every third of it.
    #[serde(deserialize_with = "duration_required")]
    pub loops_lease: Duration,
}

/// The E2B-compatible API's limits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct E2bApiConfig {
    /// Creates each API key may make per minute (E2B limits creates per
    /// second by plan); more are answered 429 with `Retry-After`. None:
    /// unlimited.
    pub creates_per_minute: Option<u32>,
}

/// The endpoint proxy: the host names and URL it is reached at, and where its
/// key is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// `{endpoint}-{sandbox}.{domain}` reaches the proxy (`localhost` needs no
    /// DNS: browsers resolve `*.localhost` to this machine).
    pub domain: String,
    /// The daemon's URL as callers reach it (default `http://{listen}`).
    pub public_url: Option<String>,
    /// The key endpoint tokens are made with (default `endpoint.key` beside the
    /// state file; made on first use, mode 0600).
    pub key_file: Option<PathBuf>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            domain: "localhost".into(),
            public_url: None,
            key_file: None,
        }
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: "127.0.0.1:7070".into(),
            tokens: vec![],
            reaper_interval: Duration::from_secs(5),
            reconcile_interval: Duration::from_secs(30),
            orphan_grace: Duration::from_secs(300),
            stuck_after: Duration::from_secs(900),
            extension_idle: Duration::from_secs(300),
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            proxy: ProxyConfig::default(),
            e2b: E2bApiConfig::default(),
            loops_lease: Duration::from_secs(10),
        }
    }
}

/// One bearer token. Only its SHA-256 is configured, never the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// `adm:NAME`, `agt:NAME` or `atm:NAME`.
    pub consumer: String,
    pub project: String,
    /// `admin` sees every project; defaults to admin for `adm:` consumers.
    #[serde(default)]
    pub role: Option<Role>,
    /// Lowercase hex SHA-256 of the token (`sandboxer token new` prints both).
    pub token_sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

fn duration_required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    crate::time::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Attribution used when a command gives none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub consumer: Option<String>,
    pub project: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionConfig {
    #[serde(default)]
    pub options: JsonObject,
    /// Environment variables set for this extension alone. Nothing else of
    /// sandboxer's environment reaches it but the basics (`exthost::environment`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Self-hosted (the default) or hosted: what routing by class and hosted
    /// budgets go by.
    #[serde(default)]
    pub class: BackendClass,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| crate::time::parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// Deadlines that replace the built-in ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOverrides {
    #[serde(default, deserialize_with = "duration")]
    pub handshake: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub call: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub create: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub destroy: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub grace: Option<Duration>,
}

/// The default location of the configuration file.
pub fn default_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("sandboxer")
        .join("config.yaml")
}

impl Config {
    /// The class the operator gives extension `name` (`ext.NAME` or `NAME`).
    pub fn class_of(&self, name: &str) -> BackendClass {
        let name = name
            .strip_prefix(sandboxer_ext_protocol::EXTENSION_ID_PREFIX)
            .unwrap_or(name);
        self.extensions
            .get(name)
            .map_or(BackendClass::SelfHosted, |e| e.class)
    }

    /// Loads `explicit` (which must exist), or the default file if it exists.
    pub fn load(explicit: Option<&Path>) -> Result<Config, String> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let path = default_path();
                if !path.exists() {
                    return Ok(Config::default());
                }
                path
            }
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("config file {}: {e}", path.display()))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses configuration text; errors name the file, line and field.
    pub fn parse(text: &str, origin: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_path_to_error::deserialize(yaml_serde::Deserializer::from_str(
            text,
        ))
        .map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .location()
                .map(|l| format!(":{}", l.line()))
                .unwrap_or_default();
            let message = inner.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            format!("config file {origin}{line}: {field}: {message}")
        })?;
        for (i, key) in config.provider_keys.iter().enumerate() {
            if key.project.is_none() && key.consumer.is_none() {
                return Err(format!(
                    "config file {origin}: provider_keys[{i}]: name the project or the consumer \
                     whose key this is (a key for everyone belongs in extensions.{}.options)",
                    key.extension_name()
                ));
            }
        }
        Ok(config)
    }

    /// Built-in deadlines with this file's overrides.
    pub fn timeouts(&self) -> Timeouts {
        let base = Timeouts::default();
        let o = &self.timeouts;
        Timeouts {
            handshake: o.handshake.unwrap_or(base.handshake),
            call: o.call.unwrap_or(base.call),
            create: o.create.unwrap_or(base.create),
            destroy: o.destroy.unwrap_or(base.destroy),
            grace: o.grace.unwrap_or(base.grace),
        }
    }

    /// The handshake options for extension `<name>`.
    /// The provider key for `extension` used on behalf of `consumer` in
    /// `project` (the most specific that applies), with its index.
    pub fn provider_key(
        &self,
        extension: &str,
        consumer: &str,
        project: &str,
    ) -> Option<(usize, &ProviderKey)> {
        self.provider_keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.rank(extension, consumer, project).map(|r| (r, i, k)))
            .max_by_key(|(r, i, _)| (*r, std::cmp::Reverse(*i)))
            .map(|(_, i, k)| (i, k))
    }

    pub fn extension_options(&self, name: &str) -> JsonObject {
        self.extensions
            .get(name)
            .map(|e| e.options.clone())
            .unwrap_or_default()
    }

    /// How extension `name` is started: its options, its environment, the
    /// deadlines of its calls.
    pub fn launch_options(&self, name: &str) -> crate::exthost::LaunchOptions {
        crate::exthost::LaunchOptions {
            options: self.extension_options(name),
            timeouts: self.timeouts(),
            env: self
                .extensions
                .get(name)
                .map(|e| e.env.clone())
                .unwrap_or_default(),
            secret_options: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_section() {
        let config = Config::parse(
            "defaults:\n  consumer: agt:bot\n  project: demo\ntimeouts:\n  call: 5s\n  grace: 500ms\n\
             extensions:\n  compose-ssh:\n    options:\n      hosts: [local]\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(config.defaults.consumer.as_deref(), Some("agt:bot"));
        let t = config.timeouts();
        assert_eq!(t.call, Duration::from_secs(5));
        assert_eq!(t.grace, Duration::from_millis(500));
        assert_eq!(t.create, Timeouts::default().create);
        assert_eq!(config.extension_options("compose-ssh")["hosts"][0], "local");
        assert!(config.extension_options("other").is_empty());
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = Config::parse("timeouts:\n  call: soon\n", "c.yaml").unwrap_err();
        assert!(
            err.starts_with("config file c.yaml:2: timeouts.call:"),
            "{err}"
        );
        let err = Config::parse("defaults:\n  consumr: x\n", "c.yaml").unwrap_err();
        assert!(err.contains("unknown field `consumr`"), "{err}");
    }
}
