//! Query strings as pairs (repeated keys kept: `label=a=1&label=b=2`), read and
//! written the same way by the daemon and its client.

use crate::error::{Error, Result};

/// A query string's pairs, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// Parses `a=1&b=2` (no leading `?`).
    pub fn parse(query: &str) -> Result<Pairs> {
        serde_urlencoded::from_str(query)
            .map(Pairs)
            .map_err(|e| Error::Invalid(format!("query: {e}")))
    }

    /// `?a=1&b=2`, or nothing when there are no pairs.
    pub fn encode(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        format!(
            "?{}",
            serde_urlencoded::to_string(&self.0).expect("string pairs encode")
        )
    }

    pub fn push(&mut self, key: &str, value: impl ToString) {
        self.0.push((key.to_string(), value.to_string()));
    }

    pub fn push_some(&mut self, key: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.push(key, v);
        }
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn owned(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_string)
    }

    /// Refuses keys not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((k, _)) => Err(Error::Invalid(format!(
                "unknown query parameter {k:?}; known: {}",
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        match self.get(key) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(other) => Err(Error::Invalid(format!(
                "{key}={other:?}: use true or false"
            ))),
        }
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>> {
        self.get(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| Error::Invalid(format!("{key}={v:?} is not a number")))
            })
            .transpose()
    }
}

/// A verb's query: written by the client, read by the daemon.
pub trait Query: Sized {
    fn to_pairs(&self) -> Pairs;
    fn from_pairs(pairs: &Pairs) -> Result<Self>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_survive_a_round_trip() {
        let mut pairs = Pairs::default();
        pairs.push("label", "a=1");
        pairs.push("label", "b=2 &?");
        let parsed = Pairs::parse(pairs.encode().trim_start_matches('?')).unwrap();
        assert_eq!(parsed, pairs);
        assert_eq!(parsed.all("label").collect::<Vec<_>>(), ["a=1", "b=2 &?"]);
        assert!(
            parsed
                .only(&["x"])
                .unwrap_err()
                .to_string()
                .contains("label")
        );
    }
}
