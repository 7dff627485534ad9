//! Bearer tokens → principals. Tokens are configured as SHA-256 digests only; a
//! request's token is hashed and compared in constant time. An `agt`/`atm`
//! consumer sees and changes only its own project; an admin sees all.

use super::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sandboxer_core::api::tokens::digest_hex;
use sandboxer_core::attribution::{Consumer, ConsumerKind};
use sandboxer_core::config::{Role, TokenConfig};
use std::sync::Arc;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub consumer: Consumer,
    pub project: String,
    pub admin: bool,
}

/// The configured tokens, as digests.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Principal)>,
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

impl Tokens {
    pub fn from_config(tokens: &[TokenConfig]) -> Result<Tokens, String> {
        let mut entries = vec![];
        for (i, t) in tokens.iter().enumerate() {
            let consumer: Consumer = t
                .consumer
                .parse()
                .map_err(|e| format!("daemon.tokens[{i}].consumer: {e}"))?;
            sandboxer_core::attribution::validate_name("project", &t.project)
                .map_err(|e| format!("daemon.tokens[{i}].project: {e}"))?;
            let digest = parse_hex(&t.token_sha256.to_ascii_lowercase()).ok_or_else(|| {
                format!("daemon.tokens[{i}].token_sha256 must be 64 hex digits (sandboxer token new prints it)")
            })?;
            let admin = match t.role {
                Some(role) => role == Role::Admin,
                None => consumer.kind == ConsumerKind::Adm,
            };
            entries.push((
                digest,
                Principal {
                    consumer,
                    project: t.project.clone(),
                    admin,
                },
            ));
        }
        Ok(Tokens { entries })
    }

    /// Adds a token given in clear (an ephemeral admin token of the daemon).
    pub fn add(&mut self, token: &str, principal: Principal) {
        let digest = parse_hex(&digest_hex(token)).expect("a digest is 64 hex digits");
        self.entries.push((digest, principal));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal a token belongs to.
    pub fn principal(&self, token: &str) -> Option<&Principal> {
        let digest = parse_hex(&digest_hex(token)).expect("a digest is 64 hex digits");
        let mut found = None;
        for (d, p) in &self.entries {
            if constant_time_eq(d, &digest) && found.is_none() {
                found = Some(p);
            }
        }
        found
    }
}

/// Anything that knows the tokens.
pub trait HasTokens {
    fn tokens(&self) -> &Tokens;
}

impl<S: HasTokens + Send + Sync> FromRequestParts<Arc<S>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<S>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer TOKEN"))?;
        let token = header.to_str().ok().and_then(bearer_token).ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer TOKEN`")
        })?;
        state
            .tokens()
            .principal(token.trim())
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}

/// The token of an `Authorization` value: the scheme is `Bearer` in any case
/// (RFC 9110 makes schemes case-insensitive), then one or more spaces.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(consumer: &str, token: &str, role: Option<Role>) -> TokenConfig {
        TokenConfig {
            consumer: consumer.into(),
            project: "p".into(),
            role,
            token_sha256: digest_hex(token),
        }
    }

    #[test]
    fn tokens_map_to_principals_by_digest() {
        let tokens = Tokens::from_config(&[
            config("adm:ops", "secret-a", None),
            config("agt:bot", "secret-b", None),
            config("atm:ci", "secret-c", Some(Role::Admin)),
        ])
        .unwrap();
        assert!(tokens.principal("secret-a").unwrap().admin);
        let bot = tokens.principal("secret-b").unwrap();
        assert!(!bot.admin);
        assert_eq!(bot.project, "p");
        assert!(tokens.principal("secret-c").unwrap().admin);
        assert!(tokens.principal("secret-d").is_none());
        assert!(tokens.principal("").is_none());
    }

    #[test]
    fn bad_digests_and_consumers_are_refused() {
        let mut bad = config("agt:bot", "x", None);
        bad.token_sha256 = "abc".into();
        assert!(Tokens::from_config(&[bad]).unwrap_err().contains("64 hex"));
        assert!(
            Tokens::from_config(&[config("bot", "x", None)])
                .unwrap_err()
                .contains("consumer")
        );
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t", "bearer t", "BEARER t", "BeArEr  t"] {
            assert_eq!(bearer_token(value), Some("t"), "{value}");
        }
        for value in ["Basic t", "Bearert", "Bearer"] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }
}
