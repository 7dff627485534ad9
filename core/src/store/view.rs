//! `SandboxView`: a sandbox borrowed for output, and the definition of a
//! sandbox's JSON form. It is made from a `SandboxRecord`, or straight from a row
//! of the store with the JSON columns passed through unparsed. `write_json` writes
//! the same JSON as `Serialize` without serde's per-key work, which is what makes
//! listing thousands of sandboxes cheap; a test holds the two to the same bytes.

use crate::lifecycle::State;
use crate::money;
use crate::time::{Millis, rfc3339};
use rust_decimal::Decimal;
use sandboxer_ext_protocol::{Endpoint, JsonObject, Labels, Resources};
use serde::Deserialize;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

fn as_seconds<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(ms / 1000)
}

fn opt_seconds<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_i64(ms / 1000),
        None => s.serialize_none(),
    }
}

/// A JSON-valued field: typed, or JSON text the store wrote (so known valid).
#[derive(Debug, Clone, Copy)]
pub enum JsonField<'a, T> {
    Value(&'a T),
    Raw(&'a str),
}

impl<T: Serialize> Serialize for JsonField<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonField::Value(v) => v.serialize(s),
            JsonField::Raw(text) => serde_json::from_str::<&RawValue>(text)
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
        }
    }
}

impl<T: Clone + serde::de::DeserializeOwned> JsonField<'_, T> {
    /// The value itself (parsed when the field holds the store's JSON).
    pub fn to_value(&self) -> serde_json::Result<T> {
        match self {
            JsonField::Value(v) => Ok((*v).clone()),
            JsonField::Raw(text) => serde_json::from_str(text),
        }
    }
}

impl<T: Serialize> JsonField<'_, T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            JsonField::Value(v) => serde_json::to_writer(out, v).expect("plain data serializes"),
            JsonField::Raw(text) => out.extend_from_slice(text.as_bytes()),
        }
    }
}

/// Writes `s` as a JSON string: copied as is when nothing needs escaping (the
/// common case), through serde_json otherwise.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        serde_json::to_writer(out, s).expect("strings serialize");
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_number<N: Serialize>(out: &mut Vec<u8>, n: N) {
    serde_json::to_writer(out, &n).expect("numbers serialize");
}

/// A sandbox as `--json` and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxView<'a> {
    pub id: &'a str,
    pub state: State,
    pub profile_id: &'a str,
    pub profile_version: &'a str,
    pub extension: &'a str,
    pub consumer: &'a str,
    pub project: &'a str,
    pub host: Option<&'a str>,
    pub labels: JsonField<'a, Labels>,
    pub backend_ref: Option<&'a str>,
    pub endpoints: JsonField<'a, Vec<Endpoint>>,
    pub details: JsonField<'a, JsonObject>,
    pub last_error: Option<&'a str>,
    #[serde(rename = "ttl_s", serialize_with = "as_seconds")]
    pub ttl_ms: Millis,
    #[serde(with = "super::times::rfc3339_time")]
    pub created_at: Millis,
    #[serde(with = "super::times::rfc3339_time")]
    pub updated_at: Millis,
    #[serde(with = "super::times::rfc3339_time")]
    pub state_since: Millis,
    #[serde(with = "super::times::rfc3339_time")]
    pub expires_at: Millis,
    /// The hard ceiling: the expiry can never move past it.
    #[serde(with = "super::times::rfc3339_time")]
    pub ceiling_at: Millis,
    pub cost_per_hour: rust_decimal::Decimal,
    pub currency: &'a str,
    pub replaces: Option<&'a str>,
    pub replaced_by: Option<&'a str>,
    /// Time in billed states before the current state (see `SandboxUsage`).
    #[serde(skip)]
    pub billed_ms: Millis,
    pub resources: JsonField<'a, Resources>,
    #[serde(rename = "idle_timeout_s", serialize_with = "opt_seconds")]
    pub idle_ms: Option<Millis>,
    #[serde(with = "super::times::optional_rfc3339_time")]
    pub last_activity_at: Option<Millis>,
    /// What it cost so far: shown for one sandbox, not in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<SandboxUsage>,
}

impl SandboxView<'_> {
    /// The view with what the sandbox has cost up to `now`.
    pub fn with_usage(mut self, now: Millis) -> Self {
        self.usage = Some(SandboxUsage::of(&self, now));
        self
    }

    /// Appends the view's JSON (compact, the same bytes as `serde_json::to_writer`).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let key = |out: &mut Vec<u8>, k: &str| {
            out.extend_from_slice(k.as_bytes());
        };
        key(out, "{\"id\":");
        write_str(out, self.id);
        key(out, ",\"state\":");
        write_str(out, self.state.as_str());
        key(out, ",\"profile_id\":");
        write_str(out, self.profile_id);
        key(out, ",\"profile_version\":");
        write_str(out, self.profile_version);
        key(out, ",\"extension\":");
        write_str(out, self.extension);
        key(out, ",\"consumer\":");
        write_str(out, self.consumer);
        key(out, ",\"project\":");
        write_str(out, self.project);
        key(out, ",\"host\":");
        write_opt_str(out, self.host);
        key(out, ",\"labels\":");
        self.labels.write_json(out);
        key(out, ",\"backend_ref\":");
        write_opt_str(out, self.backend_ref);
        key(out, ",\"endpoints\":");
        self.endpoints.write_json(out);
        key(out, ",\"details\":");
        self.details.write_json(out);
        key(out, ",\"last_error\":");
        write_opt_str(out, self.last_error);
        key(out, ",\"ttl_s\":");
        write_number(out, self.ttl_ms / 1000);
        for (name, ms) in [
            (",\"created_at\":", self.created_at),
            (",\"updated_at\":", self.updated_at),
            (",\"state_since\":", self.state_since),
            (",\"expires_at\":", self.expires_at),
            (",\"ceiling_at\":", self.ceiling_at),
        ] {
            key(out, name);
            write_str(out, &rfc3339(ms));
        }
        key(out, ",\"cost_per_hour\":");
        write_number(out, self.cost_per_hour);
        key(out, ",\"currency\":");
        write_str(out, self.currency);
        key(out, ",\"replaces\":");
        write_opt_str(out, self.replaces);
        key(out, ",\"replaced_by\":");
        write_opt_str(out, self.replaced_by);
        key(out, ",\"resources\":");
        self.resources.write_json(out);
        key(out, ",\"idle_timeout_s\":");
        match self.idle_ms {
            Some(ms) => write_number(out, ms / 1000),
            None => out.extend_from_slice(b"null"),
        }
        key(out, ",\"last_activity_at\":");
        write_opt_str(out, self.last_activity_at.map(rfc3339).as_deref());
        if let Some(usage) = &self.usage {
            key(out, ",\"usage\":");
            serde_json::to_writer(&mut *out, usage).expect("plain data serializes");
        }
        out.push(b'}');
    }
}

/// What one sandbox has cost so far: its time in billed states (the current
/// stretch counted up to `as_of`) at its rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxUsage {
    pub sandbox_seconds: Decimal,
    pub cost: Decimal,
    pub currency: String,
    pub as_of: String,
}

impl SandboxUsage {
    pub fn of(view: &SandboxView<'_>, now: Millis) -> SandboxUsage {
        let open = if view.state.is_billed() {
            (now - view.state_since).max(0)
        } else {
            0
        };
        let ms = view.billed_ms + open;
        SandboxUsage {
            sandbox_seconds: money::seconds(ms),
            cost: money::cost(money::rate_ms(ms, view.cost_per_hour)),
            currency: view.currency.to_string(),
            as_of: crate::time::rfc3339(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandboxer_ext_protocol::EndpointProtocol;

    fn check(view: &SandboxView<'_>) {
        let mut fast = Vec::new();
        view.write_json(&mut fast);
        let serde = serde_json::to_vec(view).unwrap();
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(serde).unwrap()
        );
    }

    #[test]
    fn write_json_writes_exactly_what_serde_writes() {
        let labels = Labels::from([("k\"ey".to_string(), "v\nal\u{1}ü".to_string())]);
        let endpoints = vec![Endpoint {
            name: "web".into(),
            protocol: EndpointProtocol::Http,
            host: "127.0.0.1".into(),
            port: 8080,
            url: Some("http://127.0.0.1:8080/".into()),
        }];
        let details = serde_json::json!({"a": [1, 2.5, null], "b": "c"});
        let details = details.as_object().unwrap();
        let view = SandboxView {
            id: "01abc",
            state: State::Ready,
            profile_id: "profile.x",
            profile_version: "1.2",
            extension: "ext.fixture",
            consumer: "agt:a",
            project: "p",
            host: None,
            labels: JsonField::Value(&labels),
            backend_ref: Some("ref/\\with\"quotes\""),
            endpoints: JsonField::Value(&endpoints),
            details: JsonField::Value(details),
            last_error: Some("line one\nline two\ttab"),
            ttl_ms: 3_600_999,
            created_at: 1_764_194_400_123,
            updated_at: 0,
            state_since: 1,
            expires_at: 1_764_198_000_000,
            ceiling_at: 1_764_201_600_000,
            cost_per_hour: "0.123456789012345678".parse().unwrap(),
            currency: "USD",
            replaces: None,
            replaced_by: Some("01def"),
            billed_ms: 1_234,
            resources: JsonField::Raw("{\"cpus\":1.5}"),
            idle_ms: Some(900_000),
            last_activity_at: Some(1_764_194_401_000),
            usage: None,
        };
        check(&view);
        let view = view.with_usage(1_764_194_500_000);
        check(&view);
        let mut view = SandboxView {
            usage: None,
            idle_ms: None,
            last_activity_at: None,
            ..view
        };
        view.cost_per_hour = Decimal::ZERO;
        view.host = Some("héllo \u{7f}");
        let raw_labels = serde_json::to_string(&labels).unwrap();
        let raw_endpoints = serde_json::to_string(&endpoints).unwrap();
        view.labels = JsonField::Raw(&raw_labels);
        view.endpoints = JsonField::Raw(&raw_endpoints);
        view.details = JsonField::Raw("{}");
        check(&view);
    }
}
