//! A create's secrets in the guest: an env file on the guest's tmpfs
//! (`/run/sandboxer/secrets.env`, 0600), written through the first command's
//! standard input — never on the host's disk, on QEMU's command line, in the
//! machine's record (which keeps only their names) or in a log. Commands run
//! through exec, and ssh logins, read it into their environment.

use sandboxer_ext_protocol::{ErrorObject, Secrets};

/// Where the guest keeps them (tmpfs: gone when the machine is).
pub const FILE: &str = "/run/sandboxer/secrets.env";

/// The env file of `secrets` (`export NAME='value'` lines); names are checked.
pub fn env_file(secrets: &Secrets) -> Result<String, ErrorObject> {
    let mut text = String::new();
    for (name, value) in &secrets.0 {
        let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return Err(ErrorObject::invalid_argument(
                &format!("secrets.{name}"),
                format!("secret name {name:?}: letters, digits and '_', not starting with a digit"),
            ));
        }
        let quoted = shlex::try_quote(value).map_err(|_| {
            ErrorObject::invalid_argument(
                &format!("secrets.{name}"),
                format!("secret {name} holds a NUL byte"),
            )
        })?;
        text.push_str(&format!("export {name}={quoted}\n"));
    }
    Ok(text)
}

/// The guest shell line that stores the env file read from standard input.
pub fn store_line() -> String {
    format!("(umask 077 && mkdir -p /run/sandboxer && cat > {FILE})")
}

/// What runs before a command of a machine holding secrets: the env file read
/// into its shell.
pub fn exec_prefix() -> String {
    format!("if [ -r {FILE} ]; then . {FILE}; fi; ")
}

/// `/etc/profile.d/` script: ssh logins get the secrets too.
pub const LOGIN_SCRIPT: &str = "# sandboxer: the create's secrets, for login shells\n\
if [ -r /run/sandboxer/secrets.env ]; then . /run/sandboxer/secrets.env; fi\n";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn values_are_quoted_for_the_guest_shell_and_names_checked() {
        let secrets = Secrets(BTreeMap::from([(
            "API_TOKEN".to_string(),
            "it's $(rm -rf /) `x`".to_string(),
        )]));
        let file = env_file(&secrets).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{file}printf %s \"$API_TOKEN\""))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $(rm -rf /) `x`");
        let bad = Secrets(BTreeMap::from([(
            "A;B".to_string(),
            "s3cretvalue".to_string(),
        )]));
        let message = env_file(&bad).unwrap_err().message;
        assert!(message.contains("A;B"), "{message}");
        assert!(!message.contains("s3cretvalue"), "{message}");
    }
}
