//! User labels (`key=value`) and the labels the core itself puts on every sandbox.
//! Keys under `sandboxer.` are reserved for the core.

use sandboxer_ext_protocol::Labels;

pub const LABEL_ID: &str = sandboxer_ext_protocol::LABEL_SANDBOX_ID;
pub const LABEL_CONSUMER: &str = "sandboxer.consumer";
pub const LABEL_PROJECT: &str = "sandboxer.project";
pub const LABEL_PROFILE: &str = "sandboxer.profile";
/// The installation (state file) that made a resource: a reconciler reaps only
/// its own installation's orphans.
pub const LABEL_INSTALLATION: &str = "sandboxer.installation";
const RESERVED_PREFIX: &str = "sandboxer.";

/// Checks a label key: 1–63 characters of letters, digits, `.`, `_`, `/`, `-`,
/// starting with a letter or digit, not under the reserved `sandboxer.` prefix.
pub fn validate_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 63
        && key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    if !ok {
        return Err(format!(
            "label key {key:?} is invalid: use 1 to 63 letters, digits, '.', '_', '/' or '-', \
             starting with a letter or digit"
        ));
    }
    if key.starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "label key {key:?} is reserved: keys starting with \"sandboxer.\" are set by sandboxer"
        ));
    }
    Ok(())
}

/// Checks a label value: at most 255 characters, no control characters.
pub fn validate_value(key: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > 255 {
        return Err(format!(
            "label {key:?}: the value is longer than 255 characters"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "label {key:?}: the value contains a control character (newline, tab, ...)"
        ));
    }
    Ok(())
}

/// Parses `key=value`.
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("label {s:?} is invalid: write it as key=value"))?;
    validate_key(key)?;
    validate_value(key, value)?;
    Ok((key.to_string(), value.to_string()))
}

/// Parses many `key=value` arguments; a repeated key is refused.
/// A label filter as the daemon's `label=` query takes it: `key=value`, split at
/// the first `=`; either side is matched as given.
pub fn parse_label_filter(pair: &str) -> Result<(String, String), String> {
    let (k, v) = pair
        .split_once('=')
        .ok_or_else(|| format!("label {pair:?}: write it as key=value"))?;
    Ok((k.to_string(), v.to_string()))
}

pub fn parse_labels<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for arg in args {
        let (k, v) = parse_label(arg)?;
        if labels.insert(k.clone(), v).is_some() {
            return Err(format!("label {k:?} is given twice"));
        }
    }
    Ok(labels)
}

/// Labels the user asked for plus the core's own (id, consumer, project, profile,
/// installation).
pub fn with_core_labels(
    user: &Labels,
    sandbox_id: &str,
    consumer: &str,
    project: &str,
    profile_id: &str,
    installation: &str,
) -> Labels {
    let mut labels = user.clone();
    labels.insert(LABEL_INSTALLATION.into(), installation.into());
    labels.insert(LABEL_ID.into(), sandbox_id.into());
    labels.insert(LABEL_CONSUMER.into(), consumer.into());
    labels.insert(LABEL_PROJECT.into(), project.into());
    labels.insert(LABEL_PROFILE.into(), profile_id.into());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<(&str, &str), &str>) {
        match (parse_label(input), expected) {
            (Ok((k, v)), Ok((ek, ev))) => assert_eq!((k.as_str(), v.as_str()), (ek, ev)),
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{input:?}: {e}"),
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_and_refuses_labels() {
        check("team=infra", Ok(("team", "infra")));
        check("k=", Ok(("k", "")));
        check("k=a=b", Ok(("k", "a=b")));
        check(
            "app.kubernetes.io/name=x",
            Ok(("app.kubernetes.io/name", "x")),
        );
        check("noequals", Err("key=value"));
        check("=v", Err("invalid"));
        check("sandboxer.id=x", Err("reserved"));
        check("bad key=v", Err("invalid"));
        check("k=line\nbreak", Err("control"));
        check(&format!("k={}", "x".repeat(256)), Err("255"));
        check("$(id)=v", Err("invalid"));
    }

    #[test]
    fn repeated_keys_are_refused() {
        assert!(parse_labels(["a=1", "a=2"]).unwrap_err().contains("twice"));
    }

    #[test]
    fn core_labels_are_added() {
        let labels = with_core_labels(&Labels::new(), "id1", "agt:a", "p", "profile.x", "i1");
        assert_eq!(labels[LABEL_ID], "id1");
        assert_eq!(labels[LABEL_INSTALLATION], "i1");
        assert_eq!(labels[LABEL_CONSUMER], "agt:a");
        assert_eq!(labels[LABEL_PROJECT], "p");
        assert_eq!(labels[LABEL_PROFILE], "profile.x");
    }
}
