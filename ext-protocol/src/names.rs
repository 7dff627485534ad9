//! Name rules shared by every peer: sandbox ids and extension names both match
//! `[a-z0-9][a-z0-9-]{0,62}`.

/// Why a name was refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {reason}")]
pub struct BadName {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

const MAX_LEN: usize = 63;

fn check(what: &'static str, value: &str) -> Result<(), BadName> {
    let bad = |reason| {
        Err(BadName {
            what,
            value: value.to_string(),
            reason,
        })
    };
    let Some(first) = value.bytes().next() else {
        return bad("it is empty");
    };
    if value.len() > MAX_LEN {
        return bad("it is longer than 63 characters");
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return bad("it must start with a lowercase letter or a digit");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("only lowercase letters, digits and '-' are allowed");
    }
    Ok(())
}

/// Checks a sandbox id against `[a-z0-9][a-z0-9-]{0,62}`.
pub fn validate_sandbox_id(id: &str) -> Result<(), BadName> {
    check("sandbox id", id)
}

/// Checks an extension name (the `<name>` of `sandboxer-ext-<name>`).
pub fn validate_extension_name(name: &str) -> Result<(), BadName> {
    check("extension name", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for ok in ["a", "0", "compose-ssh", "01jd8x-abc", &"a".repeat(63)] {
            assert!(validate_sandbox_id(ok).is_ok(), "{ok:?} refused");
        }
    }

    #[test]
    fn refuses_invalid_names_with_a_reason() {
        for (bad, reason) in [
            ("", "empty"),
            ("-a", "start"),
            ("A", "start"),
            ("a_b", "only lowercase"),
            ("a b", "only lowercase"),
            ("a;rm", "only lowercase"),
            ("é", "start"),
        ] {
            let err = validate_sandbox_id(bad).unwrap_err();
            assert!(err.to_string().contains(reason), "{bad:?}: {err}");
        }
        assert!(
            validate_sandbox_id(&"a".repeat(64))
                .unwrap_err()
                .to_string()
                .contains("63")
        );
    }
}
