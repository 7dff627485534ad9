//! "Did you mean" hints for names a user mistyped.

/// The candidate closest to `input`, if one is close enough to be a likely typo:
/// similar by Jaro-Winkler, or (for short names) within one edit per four
/// characters.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| {
            strsim::jaro_winkler(input, c) >= 0.8
                || strsim::damerau_levenshtein(input, c) <= (c.chars().count() / 4).max(1)
        })
        .max_by(|a, b| strsim::jaro_winkler(input, a).total_cmp(&strsim::jaro_winkler(input, b)))
}

/// `"; did you mean \"x\"?"`, or nothing.
pub fn hint<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(input, candidates)
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let names = ["profile.sandbox-canary", "profile.compose-e2e"];
        assert_eq!(
            closest("profile.sandbox-canry", names),
            Some("profile.sandbox-canary")
        );
        assert_eq!(
            closest("profile.compose-e2", names),
            Some("profile.compose-e2e")
        );
        assert_eq!(closest("zzz", names), None);
        assert_eq!(closest("fx", ["fix", "sandbox-canary"]), Some("fix"));
        assert_eq!(hint("zzz", names), "");
    }
}
