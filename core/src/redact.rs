//! Redaction of secret values from text that comes back from an extension or its
//! backend (stderr, `$/log`, `$/progress`, error messages, answers), before it is
//! stored, logged or returned. A value is searched for as written and in the
//! encodings it commonly travels in: JSON-escaped, base64 (standard and URL-safe,
//! at any alignment inside a longer encoded text) and URL percent-encoding.
//!
//! A `Redactor` is shared by clones: every part of one extension client holds the
//! same one, and a value added once is redacted from everything after. Values live
//! only in memory.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Values shorter than this are not searched for: they would match ordinary text
/// everywhere, and are not secrets worth the name.
pub const MIN_SECRET_LEN: usize = 4;
/// An encoded form shorter than this is not searched for (a base64 fragment of a
/// short value at an awkward alignment).
const MIN_FORM_LEN: usize = 6;

/// Finds and replaces secret values.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Every form searched for → the name of the secret it stands for.
    forms: BTreeMap<String, String>,
    matcher: Option<AhoCorasick>,
    replacements: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.read().forms.len();
        write!(f, "Redactor({n} forms)")
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Redacts `value` (and its encodings) as secret `name` from now on.
    pub fn protect(&self, name: &str, value: &str) {
        self.protect_all([(name, value)]);
    }

    /// Redacts each `(name, value)` from now on.
    pub fn protect_all<'a>(&self, secrets: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut added = false;
        for (name, value) in secrets {
            if value.len() < MIN_SECRET_LEN {
                continue;
            }
            for form in forms_of(value) {
                if let std::collections::btree_map::Entry::Vacant(slot) = inner.forms.entry(form) {
                    slot.insert(name.to_string());
                    added = true;
                }
            }
        }
        if added {
            let patterns: Vec<&String> = inner.forms.keys().collect();
            inner.matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .ok();
            inner.replacements = inner
                .forms
                .values()
                .map(|name| format!("[redacted secret {name}]"))
                .collect();
        }
    }

    /// Whether nothing is redacted yet.
    pub fn is_empty(&self) -> bool {
        self.read().forms.is_empty()
    }

    /// `text` with every secret form replaced.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let inner = self.read();
        match &inner.matcher {
            Some(m) if m.is_match(text) => Cow::Owned(m.replace_all(text, &inner.replacements)),
            _ => Cow::Borrowed(text),
        }
    }

    /// Every string (and object key) in `value`, redacted in place.
    pub fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k).into_owned(), v);
                }
            }
            _ => {}
        }
    }

    /// One line of JSON-RPC from an extension, redacted: when it holds a secret
    /// form, its strings are redacted and it is written again (so the JSON stays
    /// well formed); a line that is not JSON is redacted as text.
    pub fn redact_line<'l>(&self, line: &'l [u8]) -> Cow<'l, [u8]> {
        {
            let inner = self.read();
            match &inner.matcher {
                Some(m) if m.is_match(line) => {}
                _ => return Cow::Borrowed(line),
            }
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(mut value) => {
                self.redact_json(&mut value);
                Cow::Owned(serde_json::to_vec(&value).expect("a JSON value serializes"))
            }
            Err(_) => Cow::Owned(
                self.redact(&String::from_utf8_lossy(line))
                    .into_owned()
                    .into_bytes(),
            ),
        }
    }
}

/// The forms `value` is searched for in.
fn forms_of(value: &str) -> Vec<String> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    /// What URL encoders leave as it is in a component: letters, digits, `-._~`.
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let mut forms = vec![value.to_string()];
    let json = serde_json::to_string(value).expect("a string serializes");
    forms.push(json[1..json.len() - 1].to_string());
    for set in [COMPONENT, NON_ALPHANUMERIC] {
        let upper = utf8_percent_encode(value, set).to_string();
        forms.push(upper.replace("%20", "+"));
        forms.push(to_lower_hex(&upper));
        forms.push(upper);
    }
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        forms.extend(base64_cores(&engine, value.as_bytes()));
    }
    forms.retain(|f| f == value || f.len() >= MIN_FORM_LEN);
    forms.sort();
    forms.dedup();
    forms
}

/// `%2F` → `%2f`, the other way encoders write hex.
fn to_lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut chars = encoded.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

/// The part of `bytes`' base64 encoding that does not depend on what surrounds
/// them, for each of the three alignments they can have inside a longer encoded
/// text: characters mixing in a neighbour's bits are dropped at both ends.
fn base64_cores(engine: &impl Engine, bytes: &[u8]) -> Vec<String> {
    (0..3usize)
        .map(|offset| {
            let mut padded = vec![0u8; offset];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            let start = (offset * 8).div_ceil(6);
            let end = ((offset + bytes.len()) * 8) / 6;
            encoded.get(start..end).unwrap_or_default().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const SECRET: &str = "s3cr3t/val+ue with space&more";

    fn redactor() -> Redactor {
        let r = Redactor::new();
        r.protect("API_TOKEN", SECRET);
        r
    }

    fn check_hidden(text: &str) {
        let out = redactor().redact(text).into_owned();
        assert!(!out.contains(SECRET), "{out}");
        assert!(
            out.contains("[redacted secret API_TOKEN]"),
            "{text} -> {out}"
        );
    }

    #[test]
    fn a_value_is_redacted_as_written_and_in_its_encodings() {
        check_hidden(&format!("API_TOKEN={SECRET}\nHOME=/root"));
        check_hidden(&serde_json::to_string(&format!("x\"{SECRET}")).unwrap());
        for prefix in ["", "A", "AB", "API_TOKEN="] {
            let blob = format!("{prefix}{SECRET} and more");
            check_hidden(&STANDARD.encode(&blob));
            check_hidden(&URL_SAFE_NO_PAD.encode(&blob));
        }
        check_hidden(&format!(
            "https://x/?t={}",
            percent_encoding::utf8_percent_encode(SECRET, percent_encoding::NON_ALPHANUMERIC)
        ));
        check_hidden("t=s3cr3t%2fval%2bue%20with%20space%26more");
        check_hidden("t=s3cr3t%2Fval%2Bue+with+space%26more");
    }

    #[test]
    fn other_text_and_short_values_are_left_alone() {
        let r = redactor();
        r.protect("PIN", "123");
        assert!(matches!(r.redact("nothing to see, 123"), Cow::Borrowed(_)));
        assert!(Redactor::new().is_empty());
    }

    #[test]
    fn json_lines_stay_json() {
        let r = redactor();
        let line = serde_json::json!({
            "jsonrpc": "2.0", "id": 1,
            "error": {"code": 1, "message": format!("env: API_TOKEN={SECRET}"),
                      "data": {SECRET: [SECRET]}}
        })
        .to_string();
        let out = r.redact_line(line.as_bytes());
        let value: Value = serde_json::from_slice(&out).unwrap();
        let text = value.to_string();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert_eq!(value["error"]["code"], 1);
        assert!(matches!(r.redact_line(b"{\"id\":1}"), Cow::Borrowed(_)));
        let garbage = format!("not json {SECRET}");
        assert!(!String::from_utf8_lossy(&r.redact_line(garbage.as_bytes())).contains(SECRET));
    }

    #[test]
    fn clones_share_what_they_protect() {
        let a = Redactor::new();
        let b = a.clone();
        a.protect("K", "shared-value");
        assert_eq!(b.redact("shared-value"), "[redacted secret K]");
    }
}
