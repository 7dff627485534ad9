//! Authenticated endpoints: how a sandbox's HTTP endpoint is reached through
//! the daemon's proxy, and who may. Each (sandbox, endpoint) has a token, an
//! HMAC-SHA256 of both under a key kept in a file beside the state file (never
//! in SQLite), sent in the `X-Sandboxer-Endpoint-Token` header; for browsers
//! and iframes, a signed URL carries an expiry and a signature of it instead,
//! and the proxy answers it with a cookie for the rest of the visit. A profile's
//! `public_endpoints` are served to anyone.
//!
//! The proxy's addresses: `http://{name}-{id}.{domain}:{port}/…` (a browser
//! resolves `*.localhost` to this machine without DNS), or by path,
//! `{public_url}/proxy/{id}/{name}/…`.

use crate::config::ProxyConfig;
use crate::error::{Error, Result};
use crate::time::{Millis, rfc3339};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::io::Read;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

/// The header a token goes in.
pub const TOKEN_HEADER: &str = "x-sandboxer-endpoint-token";
/// The query parameters of a signed URL.
pub const EXPIRES_PARAM: &str = "sandboxer_expires";
pub const SIGNATURE_PARAM: &str = "sandboxer_signature";
/// The cookie a signed URL leaves, holding the endpoint's token.
pub const COOKIE: &str = "sandboxer_endpoint";
/// The path prefix of the path form.
pub const PATH_PREFIX: &str = "/proxy";

/// How to reach one endpoint through the proxy (`GET
/// /v1/sandboxes/{id}/endpoints/{name}/access`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointAccess {
    pub sandbox_id: String,
    pub endpoint: String,
    /// Served to anyone (the profile lists it in `public_endpoints`).
    pub public: bool,
    /// By host name: `http://{name}-{id}.{domain}:{port}/`.
    pub url: String,
    /// By path: `{public_url}/proxy/{id}/{name}/`.
    pub path_url: String,
    /// For the header (absent for a public endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub header: String,
    /// `path_url` signed until `expires_at`, for a browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The key the tokens are made with.
#[derive(Clone)]
pub struct EndpointKey(Vec<u8>);

impl std::fmt::Debug for EndpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointKey(redacted)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl EndpointKey {
    /// The key in `path`, made (32 random bytes, mode 0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<EndpointKey> {
        let failed =
            |e: std::io::Error| Error::Config(format!("the endpoint key {}: {e}", path.display()));
        match std::fs::read(path) {
            Ok(key) if key.len() >= 32 => return Ok(EndpointKey(key)),
            Ok(_) => {
                return Err(Error::Config(format!(
                    "the endpoint key {} is shorter than 32 bytes; remove it to make a new one",
                    path.display()
                )));
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e)),
            Err(_) => {}
        }
        let mut key = vec![0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut r| r.read_exact(&mut key))
            .map_err(failed)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| f.write_all(&key));
        match created {
            Ok(()) => Ok(EndpointKey(key)),
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(failed(e)),
        }
    }

    fn mac(&self, message: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(message.as_bytes());
        mac
    }

    /// The token of endpoint `name` of sandbox `id`.
    pub fn token(&self, id: &str, name: &str) -> String {
        hex(&self
            .mac(&format!("token\n{id}\n{name}"))
            .finalize()
            .into_bytes())
    }

    /// Whether `given` is that token (compared in constant time).
    pub fn token_is(&self, id: &str, name: &str, given: &str) -> bool {
        unhex(given).is_some_and(|g| {
            self.mac(&format!("token\n{id}\n{name}"))
                .verify_slice(&g)
                .is_ok()
        })
    }

    /// A token for `purpose` on sandbox `id` alone (the E2B API's envd
    /// access token): derived, never stored, distinct from every endpoint's.
    pub fn sandbox_token(&self, purpose: &str, id: &str) -> String {
        hex(&self
            .mac(&format!("for\n{purpose}\n{id}"))
            .finalize()
            .into_bytes())
    }

    /// Whether `given` is that token (compared in constant time).
    pub fn sandbox_token_is(&self, purpose: &str, id: &str, given: &str) -> bool {
        unhex(given).is_some_and(|g| {
            self.mac(&format!("for\n{purpose}\n{id}"))
                .verify_slice(&g)
                .is_ok()
        })
    }

    fn signature(&self, id: &str, name: &str, expires: i64) -> String {
        hex(&self
            .mac(&format!("signed\n{id}\n{name}\n{expires}"))
            .finalize()
            .into_bytes())
    }

    /// Whether a signed URL's `expires` (seconds since the epoch) and
    /// `signature` are good and not past at `now`.
    pub fn signature_is(
        &self,
        id: &str,
        name: &str,
        expires: i64,
        signature: &str,
        now: Millis,
    ) -> bool {
        expires * 1000 > now
            && unhex(signature).is_some_and(|g| {
                self.mac(&format!("signed\n{id}\n{name}\n{expires}"))
                    .verify_slice(&g)
                    .is_ok()
            })
    }
}

/// Where the key is: the configured file, else `endpoint.key` beside the state
/// file.
pub fn key_path(config: &ProxyConfig, state_file: &Path) -> PathBuf {
    config.key_file.clone().unwrap_or_else(|| {
        state_file
            .parent()
            .unwrap_or(Path::new("."))
            .join("endpoint.key")
    })
}

/// The daemon's own URL the proxy is reached at: the configured `public_url`,
/// else `http://{listen}`.
pub fn public_url(config: &ProxyConfig, listen: &str) -> String {
    config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"))
        .trim_end_matches('/')
        .to_string()
}

/// How to reach endpoint `name` of sandbox `id`; signed for `valid_for` from
/// `now` unless it is public.
#[allow(clippy::too_many_arguments)]
pub fn access(
    key: &EndpointKey,
    config: &ProxyConfig,
    listen: &str,
    id: &str,
    name: &str,
    public: bool,
    valid_for_s: i64,
    now: Millis,
) -> EndpointAccess {
    let base = public_url(config, listen);
    let port = base
        .rsplit_once(':')
        .map(|(_, p)| p.trim_end_matches('/'))
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let path_url = format!("{base}{PATH_PREFIX}/{id}/{name}/");
    let (token, signed_url, expires_at) = if public {
        (None, None, None)
    } else {
        let expires = now / 1000 + valid_for_s;
        let signed = format!(
            "{path_url}?{EXPIRES_PARAM}={expires}&{SIGNATURE_PARAM}={}",
            key.signature(id, name, expires)
        );
        (
            Some(key.token(id, name)),
            Some(signed),
            Some(rfc3339(expires * 1000)),
        )
    };
    EndpointAccess {
        sandbox_id: id.to_string(),
        endpoint: name.to_string(),
        public,
        url: format!("http://{name}-{id}.{}{port}/", config.domain),
        path_url,
        token,
        header: TOKEN_HEADER.to_string(),
        signed_url,
        expires_at,
    }
}

/// The sandbox and endpoint a host name of the proxy names: `{name}-{id}`
/// under `domain` (the id is the last part: ids have no `-`).
pub fn from_host<'h>(host: &'h str, domain: &str) -> Option<(&'h str, &'h str)> {
    let host = host.split(':').next()?;
    let label = host.strip_suffix(domain)?.strip_suffix('.')?;
    if label.contains('.') {
        return None;
    }
    let (name, id) = label.rsplit_once('-')?;
    (!name.is_empty() && !id.is_empty()).then_some((id, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EndpointKey {
        EndpointKey(vec![7; 32])
    }

    #[test]
    fn a_token_opens_only_its_own_endpoint() {
        let k = key();
        let t = k.token("s1", "web");
        assert!(k.token_is("s1", "web", &t));
        assert!(!k.token_is("s1", "api", &t));
        assert!(!k.token_is("s2", "web", &t));
        assert!(!k.token_is("s1", "web", "00"));
        assert!(!k.token_is("s1", "web", "not hex"));
        assert!(!EndpointKey(vec![8; 32]).token_is("s1", "web", &t));
    }

    #[test]
    fn a_signed_url_holds_until_it_expires_and_only_as_signed() {
        let k = key();
        let now: Millis = 1_800_000_000_000;
        let expires = now / 1000 + 60;
        let sig = k.signature("s1", "web", expires);
        assert!(k.signature_is("s1", "web", expires, &sig, now));
        assert!(!k.signature_is("s1", "web", expires, &sig, now + 61_000));
        assert!(!k.signature_is("s1", "web", expires + 3600, &sig, now));
        assert!(!k.signature_is("s1", "api", expires, &sig, now));
    }

    #[test]
    fn host_names_are_read_back() {
        assert_eq!(
            from_host("web-01jdx3k9qz.localhost:7070", "localhost"),
            Some(("01jdx3k9qz", "web"))
        );
        assert_eq!(
            from_host("app-8080-01jd.sbx.example.com", "sbx.example.com"),
            Some(("01jd", "app-8080"))
        );
        for other in [
            "localhost:7070",
            "127.0.0.1:7070",
            "a.b-c.localhost",
            "web.localhost",
        ] {
            assert_eq!(from_host(other, "localhost"), None, "{other}");
        }
    }

    #[test]
    fn a_key_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/endpoint.key");
        let made = EndpointKey::load_or_create(&path).unwrap();
        let again = EndpointKey::load_or_create(&path).unwrap();
        assert_eq!(made.0, again.0);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(format!("{made:?}"), "EndpointKey(redacted)");
    }
}
