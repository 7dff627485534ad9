//! Name rules shared by every peer: sandbox ids and extension names both match
//! `[a-z0-9][a-z0-9-]{0,62}`; host names (placement) are DNS-like; secret names
//! are environment variable names.

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

/// Checks a host name as placement names it: 1 to 253 letters, digits, '.', '_'
/// or '-', starting with a letter or a digit (a DNS name, an address, or a name
/// from an extension's inventory).
pub fn validate_host_name(name: &str) -> Result<(), BadName> {
    let bad = |reason| {
        Err(BadName {
            what: "host name",
            value: name.to_string(),
            reason,
        })
    };
    match name.bytes().next() {
        None => return bad("it is empty"),
        Some(first) if !first.is_ascii_alphanumeric() => {
            return bad("it must start with a letter or a digit");
        }
        Some(_) => {}
    }
    if name.len() > 253 {
        return bad("it is longer than 253 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Checks a secret's name: letters, digits and '_', at least one (a secret
/// reaches a sandbox as an environment variable of that name). The core checks
/// it in a profile, an extension again in a create.
pub fn validate_secret_name(name: &str) -> Result<(), BadName> {
    let bad = |reason| {
        Err(BadName {
            what: "secret name",
            value: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return bad(
            "only letters, digits and '_' are allowed (it becomes an environment variable)",
        );
    }
    Ok(())
}

/// Checks an RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn validate_rfc3339(value: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "{value:?} is not an RFC 3339 time (like 2026-11-26T22:00:00Z)"
        ))
    };
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let number = |range: std::ops::Range<usize>| -> u32 { value[range].parse().unwrap_or(99) };
    if b.len() < 20
        || !(digits(0..4)
            && digits(5..7)
            && digits(8..10)
            && digits(11..13)
            && digits(14..16)
            && digits(17..19))
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return bad();
    }
    if !(1..=12).contains(&number(5..7))
        || !(1..=31).contains(&number(8..10))
        || number(11..13) > 23
        || number(14..16) > 59
        || number(17..19) > 60
    {
        return bad();
    }
    let mut rest = &value[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return bad();
        }
        rest = &fraction[n..];
    }
    let zone_ok = matches!(rest, "Z" | "z")
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().all(|c| c.is_ascii_digit())
            && rest[4..6].bytes().all(|c| c.is_ascii_digit()));
    if zone_ok { Ok(()) } else { bad() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        for ok in [
            "2026-11-26T22:00:00Z",
            "2026-11-26T22:00:00.123Z",
            "2026-01-31T00:00:00+02:00",
        ] {
            assert!(validate_rfc3339(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "tomorrow",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-11-26T22:00:00",
            "2026-11-26T22:00:00.Z",
            "2026-11-26T25:00:00Z",
        ] {
            assert!(validate_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_names_are_variable_names() {
        for ok in ["API_TOKEN", "db_password", "K8S"] {
            assert!(validate_secret_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "API-TOKEN", "A B", "x=y", "$(id)", "é"] {
            let err = validate_secret_name(bad).unwrap_err();
            assert_eq!(err.what, "secret name", "{bad:?}");
        }
    }

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
