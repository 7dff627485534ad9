//! The environment an extension starts with: never sandboxer's own (which may hold
//! secret sources, `SANDBOXER_TOKEN`, provider keys), only a short list of
//! variables every program needs, the variables the protocol defines, and what the
//! configuration passes to that one extension.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// Variables passed on as they are: what a program needs to find its tools, its
/// home, its language and time zone, its temporary and runtime folders, and (for
/// backends reached over ssh) the ssh agent.
const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "TZ",
    "XDG_RUNTIME_DIR",
    "SSH_AUTH_SOCK",
    // The SDK's log filter (docs/protocol.md).
    "SANDBOXER_EXT_LOG",
];

/// The prefix of the variables meant for extension `name` alone:
/// `SANDBOXER_EXT_<NAME>_` (upper case, `-` as `_`).
pub fn own_prefix(name: &str) -> String {
    format!(
        "SANDBOXER_EXT_{}_",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// The environment of extension `name`, from sandboxer's environment `outer` and
/// the variables its configuration sets (`extensions.<name>.env`), which win.
pub fn for_extension(
    name: &str,
    outer: impl IntoIterator<Item = (OsString, OsString)>,
    configured: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let own = own_prefix(name);
    let mut env: BTreeMap<OsString, OsString> = outer
        .into_iter()
        .filter(|(key, _)| {
            let Some(key) = key.to_str() else {
                return false;
            };
            INHERITED.contains(&key) || key.starts_with("LC_") || key.starts_with(&own)
        })
        .collect();
    for (key, value) in configured {
        env.insert(key.into(), value.into());
    }
    env.insert(
        sandboxer_ext_protocol::PROTOCOL_ENV.into(),
        sandboxer_ext_protocol::PROTOCOL_VERSION
            .major
            .to_string()
            .into(),
    );
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn only_the_basics_the_protocol_and_the_extensions_own_pass() {
        let outer = [
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("LC_ALL", "C.UTF-8"),
            ("SANDBOXER_TOKEN", "tok"),
            ("AUDIT_SECRET", "s3cret"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("SANDBOXER_EXT_COMPOSE_SSH_DEBUG", "1"),
            ("SANDBOXER_EXT_FIXTURE_FAULT", "crash"),
            ("SANDBOXER_EXT_LOG", "debug"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let configured = BTreeMap::from([("PODMAN_HOST".to_string(), "x".to_string())]);
        let env = for_extension("compose-ssh", outer, &configured);
        assert_eq!(
            keys(&env),
            [
                "HOME",
                "LC_ALL",
                "PATH",
                "PODMAN_HOST",
                "SANDBOXER_EXT_COMPOSE_SSH_DEBUG",
                "SANDBOXER_EXT_LOG",
                "SANDBOXER_PROTOCOL"
            ]
        );
    }
}
