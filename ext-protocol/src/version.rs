//! Protocol versions (`MAJOR.MINOR`) and the compatibility rule: majors must match,
//! minors only add.

use std::fmt;
use std::str::FromStr;

/// The version this crate speaks.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion { major: 1, minor: 6 };

/// A protocol version, `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    pub major: u32,
    pub minor: u32,
}

/// A version string that is not `MAJOR.MINOR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol version {0:?} is not of the form MAJOR.MINOR (for example \"1.0\")")]
pub struct BadVersion(pub String);

impl ProtocolVersion {
    /// True when a peer speaking `other` can talk to a peer speaking `self`.
    pub fn is_compatible_with(self, other: ProtocolVersion) -> bool {
        self.major == other.major
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ProtocolVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(s.to_string());
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        let digits = |part: &str| -> Result<u32, BadVersion> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        Ok(ProtocolVersion {
            major: digits(major)?,
            minor: digits(minor)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let v: ProtocolVersion = "1.7".parse().unwrap();
        assert_eq!(v, ProtocolVersion { major: 1, minor: 7 });
        assert_eq!(v.to_string(), "1.7");
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "1", "1.", ".1", "1.0.0", "a.b", "-1.0", "1.+2", " 1.0"] {
            assert!(bad.parse::<ProtocolVersion>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn majors_must_match_minors_only_add() {
        let v1_0 = ProtocolVersion { major: 1, minor: 0 };
        let v1_3 = ProtocolVersion { major: 1, minor: 3 };
        let v2_0 = ProtocolVersion { major: 2, minor: 0 };
        assert!(v1_0.is_compatible_with(v1_3));
        assert!(v1_3.is_compatible_with(v1_0));
        assert!(!v1_0.is_compatible_with(v2_0));
    }
}
