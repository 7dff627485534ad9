//! What the extension is given: its options (where E2B is, the API key — a
//! BYOK provider key, declared secret so that it reaches the extension only
//! in `initialize` and is never logged or stored) and a profile's `spec`
//! (the template, and the resources it runs with, for pricing).

use sandboxer_ext_protocol::sdk::{ErrorObject, ExtResult, OptionSpec};
use sandboxer_ext_protocol::{JsonObject, Resources};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// E2B's own addresses.
pub const DEFAULT_API_URL: &str = "https://api.e2b.app";
pub const DEFAULT_SANDBOX_URL: &str = "https://sandbox.e2b.app";
/// How many times a create refused for its rate is tried again.
const DEFAULT_CREATE_RETRIES: u64 = 4;

/// The options the extension declares.
pub fn schema() -> BTreeMap<String, OptionSpec> {
    let option = |description: &str, required, secret, default: Option<Value>| OptionSpec {
        description: description.into(),
        required,
        secret,
        default,
    };
    BTreeMap::from([
        (
            "api_key".into(),
            option(
                "the E2B API key (give it as a provider key: it is secret); without it the \
                 extension only prices profiles",
                false,
                true,
                None,
            ),
        ),
        (
            "api_url".into(),
            option(
                "E2B's control plane",
                false,
                false,
                Some(json!(DEFAULT_API_URL)),
            ),
        ),
        (
            "sandbox_url".into(),
            option(
                "where envd (the in-sandbox API) is reached; calls name the sandbox in a header",
                false,
                false,
                Some(json!(DEFAULT_SANDBOX_URL)),
            ),
        ),
        (
            "create_retries".into(),
            option(
                "how many times a create E2B refuses for its rate (429) is tried again, \
                 waiting as E2B asks, before it is reported as ResourceExhausted",
                false,
                false,
                Some(json!(DEFAULT_CREATE_RETRIES)),
            ),
        ),
    ])
}

/// The extension's options, read.
pub struct Settings {
    pub api_key: Option<String>,
    pub api_url: String,
    pub sandbox_url: String,
    pub create_retries: u64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("api_key", &"<redacted>")
            .field("api_url", &self.api_url)
            .field("sandbox_url", &self.sandbox_url)
            .finish()
    }
}

fn text(options: &JsonObject, name: &str, default: &str) -> ExtResult<String> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => {
            Ok(s.trim().trim_end_matches('/').to_string())
        }
        Some(_) => Err(ErrorObject::invalid_argument(
            name,
            format!("option {name} must be a non-empty string"),
        )),
    }
}

impl Settings {
    pub fn from_options(options: &JsonObject) -> ExtResult<Settings> {
        let api_key = Some(text(options, "api_key", "")?).filter(|k| !k.is_empty());
        let create_retries = match options.get("create_retries") {
            None | Some(Value::Null) => DEFAULT_CREATE_RETRIES,
            Some(v) => v.as_u64().filter(|n| *n <= 20).ok_or_else(|| {
                ErrorObject::invalid_argument("create_retries", "create_retries must be 0 to 20")
            })?,
        };
        Ok(Settings {
            api_key,
            api_url: text(options, "api_url", DEFAULT_API_URL)?,
            sandbox_url: text(options, "sandbox_url", DEFAULT_SANDBOX_URL)?,
            create_retries,
        })
    }
}

/// A profile's `spec` for E2B.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The E2B template (its id or alias).
    pub template: String,
    /// What the template runs with, for `cost/estimate` (E2B's defaults: 2
    /// vCPUs, 512 MiB); the template decides what a sandbox gets.
    #[serde(default)]
    pub cpus: Option<f64>,
    #[serde(default)]
    pub memory_mb: Option<u64>,
}

impl Spec {
    pub fn parse(spec: &Value) -> ExtResult<Spec> {
        let spec: Spec = serde_json::from_value(spec.clone()).map_err(|e| {
            ErrorObject::invalid_argument(
                "spec",
                format!("the profile's spec is not E2B's ({e}): write spec: {{template: NAME}}"),
            )
        })?;
        if spec.template.trim().is_empty() {
            return Err(ErrorObject::invalid_argument(
                "spec.template",
                "spec.template names no template",
            ));
        }
        Ok(spec)
    }

    /// The vCPUs and MiB priced: the create's resources, else the spec's,
    /// else E2B's defaults.
    pub fn priced(&self, resources: &Resources) -> (f64, u64) {
        (
            resources.cpus.or(self.cpus).unwrap_or(2.0),
            resources.memory_mb.or(self.memory_mb).unwrap_or(512),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_names_its_template_and_nothing_else() {
        let spec = Spec::parse(&json!({"template": "base", "cpus": 4})).unwrap();
        assert_eq!(spec.priced(&Resources::default()), (4.0, 512));
        let wrong = Spec::parse(&json!({"template": "base", "image": "x"})).unwrap_err();
        assert!(wrong.message.contains("image"), "{}", wrong.message);
        assert!(Spec::parse(&json!("just a string")).is_err());
        assert!(Spec::parse(&json!({"template": " "})).is_err());
    }

    #[test]
    fn the_key_is_never_shown() {
        let mut options = JsonObject::new();
        assert!(Settings::from_options(&options).unwrap().api_key.is_none());
        options.insert("api_key".into(), json!("e2b_secret_value"));
        let settings = Settings::from_options(&options).unwrap();
        assert_eq!(settings.api_url, DEFAULT_API_URL);
        assert!(!format!("{settings:?}").contains("e2b_secret_value"));
    }
}
