//! How the store's records write their times in JSON (the API's and `--json`'s
//! form): RFC 3339 text, read back the same way, for `#[serde(with = ...)]`.

use crate::time::{Millis, parse_rfc3339, rfc3339};
use serde::{Deserialize, Deserializer, Serializer};

fn parse<E: serde::de::Error>(text: &str) -> Result<Millis, E> {
    parse_rfc3339(text).ok_or_else(|| E::custom(format!("{text:?} is not an RFC 3339 time")))
}

/// A time as RFC 3339.
pub mod rfc3339_time {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        parse(&String::deserialize(d)?)
    }
}

/// An optional time as RFC 3339, or null.
pub mod optional_rfc3339_time {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| parse(&text))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Stamped {
        #[serde(with = "rfc3339_time")]
        at: Millis,
        #[serde(with = "optional_rfc3339_time")]
        gone: Option<Millis>,
    }

    #[test]
    fn times_round_trip_and_a_bad_one_is_named() {
        let stamped = Stamped {
            at: 1_764_000_000_123,
            gone: None,
        };
        let text = serde_json::to_string(&stamped).unwrap();
        assert_eq!(text, r#"{"at":"2025-11-24T16:00:00.123Z","gone":null}"#);
        assert_eq!(serde_json::from_str::<Stamped>(&text).unwrap(), stamped);
        let err = serde_json::from_str::<Stamped>(r#"{"at":"yesterday","gone":null}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"yesterday\" is not an RFC 3339 time"),
            "{err}"
        );
    }
}
