//! The Connect protocol as envd's JSON codec uses it. A unary call is a plain
//! JSON body each way (`application/json`); an error is a non-200 status with
//! `{"code": "not_found", "message": …}`. A streaming call's bodies are
//! envelopes (`application/connect+json`): a flags byte, a big-endian u32
//! length, then that many bytes of JSON; flag 0x02 marks the end of the stream,
//! whose JSON is `{}` or `{"error": {…}}`. Nothing here is compressed.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// The content type of a unary call.
pub const UNARY_CONTENT_TYPE: &str = "application/json";
/// The content type of a streaming call, exactly (the SDK refuses parameters).
pub const STREAM_CONTENT_TYPE: &str = "application/connect+json";
/// The flag of the end-of-stream envelope.
pub const END_STREAM: u8 = 0x02;
const COMPRESSED: u8 = 0x01;
/// The longest message accepted in one envelope.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Connect's error codes, with the HTTP status a unary error carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl Code {
    /// The HTTP status of a unary error with this code.
    pub fn status(self) -> u16 {
        match self {
            Code::Canceled => 499,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
        }
    }
}

/// A Connect error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectError {
    pub code: Code,
    #[serde(default)]
    pub message: String,
}

impl ConnectError {
    pub fn new(code: Code, message: impl Into<String>) -> ConnectError {
        ConnectError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

/// What the end-of-stream envelope carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndOfStream {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ConnectError>,
}

/// One envelope holding `message` as JSON.
pub fn envelope<T: Serialize>(message: &T) -> Bytes {
    frame(0, &serde_json::to_vec(message).expect("messages serialize"))
}

/// The end-of-stream envelope: `{}`, or the error that ended the stream.
pub fn end_of_stream(error: Option<ConnectError>) -> Bytes {
    let body = serde_json::to_vec(&EndOfStream { error }).expect("serializes");
    frame(END_STREAM, &body)
}

fn frame(flags: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(flags);
    out.put_u32(u32::try_from(payload.len()).expect("a message fits in 4 GiB"));
    out.put_slice(payload);
    out.freeze()
}

/// One envelope read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub flags: u8,
    pub payload: Bytes,
}

impl Frame {
    pub fn is_end(&self) -> bool {
        self.flags & END_STREAM != 0
    }
}

/// Reads envelopes from bytes as they arrive.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: BytesMut,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole envelope, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ConnectError> {
        if self.buffer.len() < 5 {
            return Ok(None);
        }
        let flags = self.buffer[0];
        let length = u32::from_be_bytes(self.buffer[1..5].try_into().expect("4 bytes")) as usize;
        if flags & COMPRESSED != 0 {
            return Err(ConnectError::new(
                Code::InvalidArgument,
                "a compressed message was sent, but no compression was agreed",
            ));
        }
        if length > MAX_MESSAGE {
            return Err(ConnectError::new(
                Code::ResourceExhausted,
                format!("a message of {length} bytes is larger than {MAX_MESSAGE}"),
            ));
        }
        if self.buffer.len() < 5 + length {
            return Ok(None);
        }
        self.buffer.advance(5);
        let payload = self.buffer.split_to(length).freeze();
        Ok(Some(Frame { flags, payload }))
    }

    /// Whether bytes of an unfinished envelope are left.
    pub fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }
}

/// Parses a message's JSON, as an `invalid_argument` when it does not fit.
pub fn parse<T: for<'de> Deserialize<'de>>(json: &[u8]) -> Result<T, ConnectError> {
    let json = if json.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        json
    };
    serde_json::from_slice(json)
        .map_err(|e| ConnectError::new(Code::InvalidArgument, format!("the request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_byte_by_byte() {
        let mut wire = envelope(&serde_json::json!({"a": 1})).to_vec();
        wire.extend_from_slice(&end_of_stream(None));
        assert_eq!(&wire[..5], &[0, 0, 0, 0, 7]);
        let mut decoder = Decoder::default();
        let mut frames = vec![];
        for byte in wire {
            decoder.push(&[byte]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0].payload[..], br#"{"a":1}"#);
        assert!(frames[1].is_end());
        assert_eq!(&frames[1].payload[..], b"{}");
        assert!(!decoder.has_partial());
    }

    #[test]
    fn an_error_ends_the_stream_with_its_code() {
        let end = end_of_stream(Some(ConnectError::new(Code::NotFound, "no process 3")));
        assert_eq!(end[0], END_STREAM);
        assert_eq!(
            &end[5..],
            br#"{"error":{"code":"not_found","message":"no process 3"}}"#
        );
    }

    #[test]
    fn compressed_and_huge_messages_are_refused() {
        let mut decoder = Decoder::default();
        decoder.push(&[1, 0, 0, 0, 1, b'x']);
        assert_eq!(
            decoder.next_frame().unwrap_err().code,
            Code::InvalidArgument
        );
        let mut decoder = Decoder::default();
        decoder.push(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decoder.next_frame().unwrap_err().code,
            Code::ResourceExhausted
        );
    }
}
