//! Secret references in profiles (`env:NAME`, `file:PATH`, `cmd:COMMAND`) and
//! their resolution at the moment of create. Resolved values go to the extension
//! in that one call and nowhere else: this module never logs or stores them, and
//! its errors name the reference, never a value.

use sandboxer_ext_protocol::Secrets;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable of the process that creates the sandbox.
    Env(String),
    /// A file's contents (a trailing newline is dropped).
    File(String),
    /// A command's standard output (a trailing newline is dropped). The command is
    /// split into words by whitespace and run without a shell.
    Cmd(Vec<String>),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{path}"),
            SecretRef::Cmd(argv) => write!(f, "cmd:{}", argv.join(" ")),
        }
    }
}

impl FromStr for SecretRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let how = "write it as env:VARIABLE, file:/path/to/file or cmd:COMMAND ARGS";
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("secret reference {s:?} is invalid: {how}"))?;
        if rest.trim().is_empty() {
            return Err(format!("secret reference {s:?} names nothing: {how}"));
        }
        match kind {
            "env" => {
                if !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "secret reference {s:?}: an environment variable name has only letters, \
                         digits and '_'"
                    ));
                }
                Ok(SecretRef::Env(rest.into()))
            }
            "file" => Ok(SecretRef::File(rest.into())),
            "cmd" => Ok(SecretRef::Cmd(
                rest.split_whitespace().map(String::from).collect(),
            )),
            other => Err(format!(
                "secret reference {s:?} has unknown kind {other:?}: {how}"
            )),
        }
    }
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A secret that could not be resolved. Names the secret and its reference only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {name} ({reference}) could not be resolved: {reason}")]
pub struct SecretError {
    pub name: String,
    pub reference: String,
    pub reason: String,
}

fn trim_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

fn resolve_one(name: &str, reference: &SecretRef) -> Result<String, SecretError> {
    let fail = |reason: String| SecretError {
        name: name.into(),
        reference: reference.to_string(),
        reason,
    };
    match reference {
        SecretRef::Env(var) => {
            std::env::var(var).map_err(|_| fail(format!("environment variable {var} is not set")))
        }
        SecretRef::File(path) => std::fs::read_to_string(path)
            .map(trim_newline)
            .map_err(|e| fail(format!("cannot read {path}: {e}"))),
        SecretRef::Cmd(argv) => {
            let out = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .map_err(|e| fail(format!("cannot run {}: {e}", argv[0])))?;
            if !out.status.success() {
                return Err(fail(format!("{} exited with {}", argv[0], out.status)));
            }
            String::from_utf8(out.stdout)
                .map(trim_newline)
                .map_err(|_| fail("the command's output is not UTF-8".into()))
        }
    }
}

/// `resolve` on a blocking thread: a `cmd:` reference runs a command, which must
/// not hold up the async runtime (the daemon's other requests).
pub async fn resolve_off_runtime(
    refs: &BTreeMap<String, SecretRef>,
) -> Result<Secrets, SecretError> {
    let refs = refs.clone();
    tokio::task::spawn_blocking(move || resolve(&refs))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Resolves every reference; the first failure stops it, before anything is
/// provisioned.
pub fn resolve(refs: &BTreeMap<String, SecretRef>) -> Result<Secrets, SecretError> {
    refs.iter()
        .map(|(name, r)| resolve_one(name, r).map(|v| (name.clone(), v)))
        .collect::<Result<_, _>>()
        .map(Secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!("env:TOKEN".parse(), Ok(SecretRef::Env("TOKEN".into())));
        assert_eq!("file:/run/s".parse(), Ok(SecretRef::File("/run/s".into())));
        assert_eq!(
            "cmd:pass show x".parse(),
            Ok(SecretRef::Cmd(vec![
                "pass".into(),
                "show".into(),
                "x".into()
            ]))
        );
        for bad in ["TOKEN", "env:", "vault:x", "env:A-B"] {
            assert!(bad.parse::<SecretRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_files_and_commands_and_names_missing_ones_without_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s");
        std::fs::write(&file, "from-file\n").unwrap();
        let refs = BTreeMap::from([
            ("A".to_string(), SecretRef::File(file.display().to_string())),
            ("B".to_string(), "cmd:echo from-cmd".parse().unwrap()),
        ]);
        let secrets = resolve(&refs).unwrap();
        assert_eq!(secrets.0["A"], "from-file");
        assert_eq!(secrets.0["B"], "from-cmd");

        let refs = BTreeMap::from([(
            "C".to_string(),
            SecretRef::Env("SANDBOXER_TEST_SURELY_UNSET_VAR".into()),
        )]);
        let err = resolve(&refs).unwrap_err().to_string();
        assert!(err.contains("secret C"), "{err}");
        assert!(err.contains("is not set"), "{err}");
    }
}
