//! Line framing (one JSON-RPC message per `\n`-terminated line, at most 8 MiB) and
//! the classification of a decoded line into request, notification or response.
//!
//! Pure functions over bytes: the async readers in `io` and every peer share them.

use crate::errors::{ErrorObject, codes};
use bytes::{Buf, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest line a peer accepts, in bytes, without its `\n`.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// A request id: a number or a string, echoed back exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Number(serde_json::Number),
    String(String),
}

impl Id {
    fn from_value(value: &Value) -> Option<Id> {
        match value {
            Value::Number(n) => Some(Id::Number(n.clone())),
            Value::String(s) => Some(Id::String(s.clone())),
            _ => None,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Id::Number(n) => Value::Number(n.clone()),
            Id::String(s) => Value::String(s.clone()),
        }
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n.into())
    }
}

/// One unit cut from the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its `\n` (a trailing `\r` is kept: it is not JSON
    /// whitespace the contract allows, but serde_json tolerates it).
    Line(Bytes),
    /// A line longer than the limit; its bytes were discarded.
    Oversized { len: usize },
}

/// Cuts a byte stream into lines, discarding (and reporting) lines over the limit
/// without buffering them.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max: usize,
    /// Bytes of an oversized line dropped so far, while skipping to its end.
    discarded: Option<usize>,
    /// Where the search for `\n` resumes in the buffer.
    scanned: usize,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new(MAX_LINE_BYTES)
    }
}

impl LineDecoder {
    pub fn new(max: usize) -> Self {
        LineDecoder {
            max,
            discarded: None,
            scanned: 0,
        }
    }

    /// Takes the next frame out of `buf`, or `None` when more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            let newline = memchr::memchr(b'\n', &buf[self.scanned..]);
            match (self.discarded, newline) {
                (Some(dropped), Some(at)) => {
                    let end = self.scanned + at;
                    buf.advance(end + 1);
                    self.scanned = 0;
                    self.discarded = None;
                    return Some(Frame::Oversized { len: dropped + end });
                }
                (Some(dropped), None) => {
                    let len = buf.len();
                    buf.advance(len);
                    self.scanned = 0;
                    self.discarded = Some(dropped + len);
                    return None;
                }
                (None, Some(at)) => {
                    let end = self.scanned + at;
                    self.scanned = 0;
                    if end > self.max {
                        buf.advance(end + 1);
                        return Some(Frame::Oversized { len: end });
                    }
                    let line = buf.split_to(end + 1).freeze().slice(..end);
                    return Some(Frame::Line(line));
                }
                (None, None) => {
                    if buf.len() > self.max {
                        self.discarded = Some(0);
                        continue;
                    }
                    self.scanned = buf.len();
                    return None;
                }
            }
        }
    }

    /// At end of input: a final line without `\n` still counts.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        if let Some(frame) = self.decode(buf) {
            return Some(frame);
        }
        if let Some(dropped) = self.discarded.take() {
            return Some(Frame::Oversized { len: dropped });
        }
        self.scanned = 0;
        if buf.is_empty() {
            return None;
        }
        let len = buf.len();
        Some(Frame::Line(buf.split_to(len).freeze()))
    }
}

/// A message as it arrived, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request {
        id: Id,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
    Response {
        id: Option<Id>,
        outcome: Result<Value, ErrorObject>,
    },
}

/// Why a line is not an acceptable message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    /// Not JSON at all: answered with -32700.
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not a JSON-RPC 2.0 message: answered with -32600 (echoing the id
    /// when one could be read).
    #[error("not a valid JSON-RPC 2.0 message: {reason}")]
    Invalid { id: Option<Id>, reason: String },
}

impl MessageError {
    /// The error answer this deserves, with the id it should carry.
    pub fn to_error(&self) -> (Option<Id>, ErrorObject) {
        match self {
            MessageError::NotJson(detail) => (
                None,
                ErrorObject::standard(codes::PARSE_ERROR, format!("parse error: {detail}")),
            ),
            MessageError::Invalid { id, reason } => (
                id.clone(),
                ErrorObject::standard(codes::INVALID_REQUEST, format!("invalid request: {reason}")),
            ),
        }
    }
}

/// Classifies one line.
pub fn parse_message(line: &[u8]) -> Result<Incoming, MessageError> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| MessageError::NotJson(e.to_string()))?;
    classify(value)
}

fn classify(value: Value) -> Result<Incoming, MessageError> {
    let Value::Object(mut obj) = value else {
        let reason = if value.is_array() {
            "batches are not supported".to_string()
        } else {
            "a message must be a JSON object".to_string()
        };
        return Err(MessageError::Invalid { id: None, reason });
    };
    let raw_id = obj.remove("id");
    let id = match &raw_id {
        None => None,
        Some(v) => match Id::from_value(v) {
            Some(id) => Some(id),
            None if v.is_null() => None,
            None => {
                return Err(MessageError::Invalid {
                    id: None,
                    reason: "id must be a number or a string".into(),
                });
            }
        },
    };
    let invalid = |reason: &str| MessageError::Invalid {
        id: id.clone(),
        reason: reason.to_string(),
    };
    if obj.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid("\"jsonrpc\" must be \"2.0\""));
    }
    if let Some(method) = obj.remove("method") {
        let Value::String(method) = method else {
            return Err(invalid("method must be a string"));
        };
        let params = obj.remove("params");
        if let Some(p) = &params
            && !(p.is_object() || p.is_array())
        {
            return Err(invalid("params must be an object or an array"));
        }
        return Ok(match raw_id {
            Some(_) if id.is_some() => Incoming::Request {
                id: id.expect("checked"),
                method,
                params,
            },
            Some(_) => return Err(invalid("a request id must not be null")),
            None => Incoming::Notification { method, params },
        });
    }
    match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(Incoming::Response {
            id,
            outcome: Ok(result),
        }),
        (None, Some(error)) => {
            let error: ErrorObject = serde_json::from_value(error)
                .map_err(|e| invalid(&format!("malformed error object: {e}")))?;
            Ok(Incoming::Response {
                id,
                outcome: Err(error),
            })
        }
        _ => Err(invalid(
            "a message needs \"method\", or exactly one of \"result\" and \"error\"",
        )),
    }
}

#[derive(Serialize)]
struct RequestOut<'a, P> {
    jsonrpc: &'static str,
    id: &'a Id,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a P>,
}

#[derive(Serialize)]
struct NotificationOut<'a, P> {
    jsonrpc: &'static str,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a P>,
}

#[derive(Serialize)]
struct ResponseOut<'a, R> {
    jsonrpc: &'static str,
    id: Option<&'a Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorObject>,
}

fn line_of<T: Serialize>(msg: &T) -> String {
    // serde_json's compact form never contains a raw newline: strings escape it.
    let mut line = serde_json::to_string(msg).expect("protocol messages serialize");
    line.push('\n');
    line
}

/// A request line, `\n` included.
pub fn request_line<P: Serialize>(id: &Id, method: &str, params: Option<&P>) -> String {
    line_of(&RequestOut {
        jsonrpc: "2.0",
        id,
        method,
        params,
    })
}

/// A notification line, `\n` included.
pub fn notification_line<P: Serialize>(method: &str, params: Option<&P>) -> String {
    line_of(&NotificationOut {
        jsonrpc: "2.0",
        method,
        params,
    })
}

/// The line of notification `N`, `\n` included.
pub fn notification_of<N: crate::methods::Notification>(params: &N::Params) -> String {
    notification_line(N::METHOD, Some(params))
}

/// The line of a request of `M`, `\n` included.
pub fn request_of<M: crate::methods::Request>(id: &Id, params: &M::Params) -> String {
    request_line(id, M::METHOD, Some(params))
}

/// A success response line, `\n` included.
pub fn result_line<R: Serialize>(id: &Id, result: &R) -> String {
    line_of(&ResponseOut::<R> {
        jsonrpc: "2.0",
        id: Some(id),
        result: Some(result),
        error: None,
    })
}

/// An error response line, `\n` included. `id` is `None` (sent as `null`) when the
/// offending message's id could not be read.
pub fn error_line(id: Option<&Id>, error: &ErrorObject) -> String {
    line_of(&ResponseOut::<()> {
        jsonrpc: "2.0",
        id,
        result: None,
        error: Some(error),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(decoder: &mut LineDecoder, input: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = decoder.decode(&mut buf) {
            out.push(f);
        }
        out
    }

    #[test]
    fn cuts_lines_across_partial_reads() {
        let mut d = LineDecoder::new(100);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"{\"a\"");
        assert_eq!(d.decode(&mut buf), None);
        buf.extend_from_slice(b":1}\n{}\n{");
        assert_eq!(
            d.decode(&mut buf),
            Some(Frame::Line(Bytes::from("{\"a\":1}")))
        );
        assert_eq!(d.decode(&mut buf), Some(Frame::Line(Bytes::from("{}"))));
        assert_eq!(d.decode(&mut buf), None);
        assert_eq!(d.decode_eof(&mut buf), Some(Frame::Line(Bytes::from("{"))));
    }

    #[test]
    fn oversized_lines_are_reported_and_skipped() {
        let mut d = LineDecoder::new(4);
        let got = frames(&mut d, b"12345678\nok\n");
        assert_eq!(
            got,
            vec![Frame::Oversized { len: 8 }, Frame::Line(Bytes::from("ok"))]
        );
        // An oversized line arriving in pieces is dropped as it comes.
        let mut buf = BytesMut::from(&b"abcdefgh"[..]);
        assert_eq!(d.decode(&mut buf), None);
        assert!(buf.is_empty(), "oversized bytes must not be kept");
        buf.extend_from_slice(b"ij\nxy\n");
        assert_eq!(d.decode(&mut buf), Some(Frame::Oversized { len: 10 }));
        assert_eq!(d.decode(&mut buf), Some(Frame::Line(Bytes::from("xy"))));
    }

    #[test]
    fn a_line_of_exactly_the_limit_passes() {
        let mut d = LineDecoder::new(4);
        assert_eq!(
            frames(&mut d, b"1234\n"),
            vec![Frame::Line(Bytes::from("1234"))]
        );
    }

    fn check(line: &str, expected: Result<Incoming, &str>) {
        let got = parse_message(line.as_bytes());
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{line}"),
            (Err(g), Err(fragment)) => {
                assert!(g.to_string().contains(fragment), "{line}: {g}")
            }
            (g, e) => panic!("{line}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn classifies_messages() {
        check(
            r#"{"jsonrpc":"2.0","id":7,"method":"m","params":{}}"#,
            Ok(Incoming::Request {
                id: 7.into(),
                method: "m".into(),
                params: Some(json!({})),
            }),
        );
        check(
            r#"{"jsonrpc":"2.0","id":"x","method":"m"}"#,
            Ok(Incoming::Request {
                id: Id::String("x".into()),
                method: "m".into(),
                params: None,
            }),
        );
        check(
            r#"{"jsonrpc":"2.0","method":"n"}"#,
            Ok(Incoming::Notification {
                method: "n".into(),
                params: None,
            }),
        );
        check(
            r#"{"jsonrpc":"2.0","id":1,"result":null}"#,
            Ok(Incoming::Response {
                id: Some(1.into()),
                outcome: Ok(Value::Null),
            }),
        );
        check(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
            Ok(Incoming::Response {
                id: None,
                outcome: Err(ErrorObject::standard(-32700, "x")),
            }),
        );
    }

    #[test]
    fn refuses_what_is_not_json_rpc() {
        check("not json", Err("not valid JSON"));
        check("[]", Err("batches"));
        check("3", Err("JSON object"));
        check(r#"{"id":1,"method":"m"}"#, Err("jsonrpc"));
        check(
            r#"{"jsonrpc":"2.0","id":{},"method":"m"}"#,
            Err("id must be"),
        );
        check(
            r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            Err("method must be"),
        );
        check(
            r#"{"jsonrpc":"2.0","id":1,"method":"m","params":3}"#,
            Err("params must be"),
        );
        check(r#"{"jsonrpc":"2.0","id":1}"#, Err("needs"));
    }

    #[test]
    fn invalid_requests_keep_their_id_for_the_answer() {
        let err = parse_message(br#"{"jsonrpc":"1.0","id":"abc","method":"m"}"#).unwrap_err();
        let (id, obj) = err.to_error();
        assert_eq!(id, Some(Id::String("abc".into())));
        assert_eq!(obj.code, codes::INVALID_REQUEST);
        let (id, obj) = parse_message(b"{").unwrap_err().to_error();
        assert_eq!(id, None);
        assert_eq!(obj.code, codes::PARSE_ERROR);
    }

    #[test]
    fn lines_are_single_lines_even_with_newlines_in_strings() {
        let line = request_line(&1.into(), "m", Some(&json!({"s": "a\nb"})));
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with('\n'));
        let back = parse_message(line.trim_end().as_bytes()).unwrap();
        assert!(matches!(back, Incoming::Request { .. }));
        let err = error_line(None, &ErrorObject::standard(-32700, "x"));
        assert!(err.contains("\"id\":null"));
    }
}
