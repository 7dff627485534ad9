//! The list call's `metadata` query parameter. The SDK percent-encodes each
//! key and value, joins them as a query string (`k=v&k2=v2`) and sends that
//! string, encoded once more, as one parameter: after the HTTP layer has
//! decoded the parameter, `decode` undoes the other two layers.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::collections::BTreeMap;

/// What Python's `urllib.parse.quote` leaves alone.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// The pairs of a `metadata` parameter's (already once-decoded) value.
pub fn decode(value: &str) -> Result<BTreeMap<String, String>, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(value)
        .map_err(|e| format!("the metadata filter {value:?} is not a query string: {e}"))?;
    pairs
        .into_iter()
        .map(|(key, value)| Ok((unquote(&key)?, unquote(&value)?)))
        .collect()
}

fn unquote(s: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("the metadata filter's {s:?} is not UTF-8"))
}

/// The value of a `metadata` parameter for `pairs`, before the HTTP layer
/// encodes it as a parameter (what the SDK builds).
pub fn encode(pairs: &BTreeMap<String, String>) -> String {
    let quoted: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                utf8_percent_encode(k, QUOTE).to_string(),
                utf8_percent_encode(v, QUOTE).to_string(),
            )
        })
        .collect();
    serde_urlencoded::to_string(quoted).expect("pairs of strings encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdks_own_encoding_decodes() {
        // `metadata={"k y": "v&1=2"}` as the SDK sent it, after the query
        // parameter was decoded once.
        let decoded = decode("k%2520y=v%25261%253D2").unwrap();
        assert_eq!(decoded["k y"], "v&1=2");
        assert_eq!(decode("owner=me").unwrap()["owner"], "me");
    }

    #[test]
    fn what_encode_writes_decode_reads() {
        let pairs = BTreeMap::from([
            ("k y".to_string(), "v&1=2".to_string()),
            ("owner".to_string(), "é/ü".to_string()),
        ]);
        assert_eq!(decode(&encode(&pairs)).unwrap(), pairs);
        assert_eq!(
            encode(&BTreeMap::from([("k y".into(), "v&1=2".into())])),
            "k%2520y=v%25261%253D2"
        );
    }
}
