//! What the verbs of working inside a sandbox take and answer on the HTTP API:
//! a path (and the service it is in) as a query, the small bodies of stdin,
//! signals and folder changes. File and tree bodies are raw bytes (a file as
//! it is, a tree as a tar stream), never JSON.

use super::query::{Pairs, Query};
use crate::error::{Error, Result};
use sandboxer_ext_protocol::{Data, Signal, TerminalSize};
use serde::{Deserialize, Serialize};

/// `?path=…&service=…` (and, for a write, `mode`; for a removal, `recursive`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileQuery {
    pub path: String,
    pub service: Option<String>,
    /// Permission bits of a file a write creates (octal on the wire: `600`).
    pub mode: Option<u32>,
    /// A removal takes folders with everything in them.
    pub recursive: bool,
}

impl FileQuery {
    pub fn at(path: &str) -> FileQuery {
        FileQuery {
            path: path.to_string(),
            ..Default::default()
        }
    }
}

impl Query for FileQuery {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        pairs.push("path", &self.path);
        pairs.push_some("service", self.service.as_ref());
        pairs.push_some("mode", self.mode.map(|m| format!("{m:o}")));
        if self.recursive {
            pairs.push("recursive", "true");
        }
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["path", "service", "mode", "recursive"])?;
        let path = pairs
            .owned("path")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::Invalid("path: give the path inside the sandbox".into()))?;
        let mode = pairs
            .get("mode")
            .map(|m| {
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| Error::Invalid(format!("mode={m:?}: octal bits, e.g. 644")))
            })
            .transpose()?;
        Ok(FileQuery {
            path,
            service: pairs.owned("service"),
            mode,
            recursive: pairs.bool("recursive")?,
        })
    }
}

/// `?from_seq=N`: where an attach starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachQuery {
    pub from_seq: u64,
}

impl Query for AttachQuery {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        if self.from_seq > 0 {
            pairs.push("from_seq", self.from_seq);
        }
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["from_seq"])?;
        Ok(AttachQuery {
            from_seq: pairs.number("from_seq")?.unwrap_or(0),
        })
    }
}

/// `GET …/logs?service=…&follow=true&tail=N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsQuery {
    pub service: Option<String>,
    pub follow: bool,
    pub tail: Option<u64>,
}

impl Query for LogsQuery {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        pairs.push_some("service", self.service.as_ref());
        if self.follow {
            pairs.push("follow", "true");
        }
        pairs.push_some("tail", self.tail);
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["service", "follow", "tail"])?;
        Ok(LogsQuery {
            service: pairs.owned("service"),
            follow: pairs.bool("follow")?,
            tail: pairs.number("tail")?,
        })
    }
}

/// `GET …/endpoints/{name}/access?valid_for=1h`: how long a signed URL holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessQuery {
    pub valid_for: Option<String>,
}

/// The longest a signed URL may hold.
pub const MAX_SIGNED_FOR: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

impl AccessQuery {
    /// `valid_for` in seconds: 1 hour when absent, at most a week.
    pub fn seconds(&self) -> Result<i64> {
        let d = match &self.valid_for {
            None => std::time::Duration::from_secs(3600),
            Some(text) => crate::time::parse_duration(text)
                .map_err(|e| Error::Invalid(format!("valid_for: {e}")))?,
        };
        if d.is_zero() || d > MAX_SIGNED_FOR {
            return Err(Error::Invalid(
                "valid_for: a signed URL holds for 1 s to 7 d".into(),
            ));
        }
        Ok(d.as_secs() as i64)
    }
}

impl Query for AccessQuery {
    fn to_pairs(&self) -> Pairs {
        let mut pairs = Pairs::default();
        pairs.push_some("valid_for", self.valid_for.as_ref());
        pairs
    }

    fn from_pairs(pairs: &Pairs) -> Result<Self> {
        pairs.only(&["valid_for"])?;
        Ok(AccessQuery {
            valid_for: pairs.owned("valid_for"),
        })
    }
}

/// `POST …/commands/{exec_id}/stdin`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinWrite {
    /// Base64.
    #[serde(default)]
    pub data: Data,
    #[serde(default)]
    pub eof: bool,
}

/// `POST …/commands/{exec_id}/signal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    pub signal: Signal,
}

/// `POST …/commands/{exec_id}/resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeRequest {
    pub rows: u16,
    pub cols: u16,
}

impl From<ResizeRequest> for TerminalSize {
    fn from(r: ResizeRequest) -> Self {
        TerminalSize {
            rows: r.rows,
            cols: r.cols,
        }
    }
}

/// `POST …/files/mkdir`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeDir {
    pub path: String,
    #[serde(default)]
    pub parents: bool,
    #[serde(default)]
    pub service: Option<String>,
}

/// `POST …/files/rename`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameFile {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub service: Option<String>,
}

/// What a file or tree upload answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The file's size after the write, or the tar stream's bytes.
    pub bytes: u64,
}

/// An answer that says only "done".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Done {
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_query_round_trips_and_refuses_what_is_not_one() {
        let q = FileQuery {
            path: "/work/a b?.txt".into(),
            service: Some("app".into()),
            mode: Some(0o600),
            recursive: true,
        };
        let back = FileQuery::from_pairs(
            &Pairs::parse(q.to_pairs().encode().trim_start_matches('?')).unwrap(),
        )
        .unwrap();
        assert_eq!(back, q);
        for bad in [
            "",
            "path=",
            "path=/a&mode=999",
            "path=/a&mode=x",
            "path=/a&colour=red",
        ] {
            assert!(
                FileQuery::from_pairs(&Pairs::parse(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
