//! What a tool answers: a verb's result as structured content (its JSON also
//! as text, for clients that read text only), and a failure as a tool error
//! the model can act on — the API's stable code, then the message, which says
//! what to do. Protocol errors are left to the SDK (an unknown tool, arguments
//! that do not parse).

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};
use sandboxer_core::Error;
use serde::Serialize;

/// What every tool returns.
pub type Answer = Result<CallToolResult, ErrorData>;

/// `value` as the tool's result.
pub fn ok(value: impl Serialize) -> Answer {
    match serde_json::to_value(value) {
        Ok(v) => Ok(CallToolResult::structured(v)),
        Err(e) => Ok(refused(format!(
            "internal: the answer did not serialize: {e}"
        ))),
    }
}

/// A verb's failure as a tool error: `code: message`.
pub fn failed(e: Error) -> Answer {
    Ok(refused(format!("{}: {e}", e.class().code())))
}

/// A tool error with `text`.
pub fn refused(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// Bytes as a model reads them: text when they are UTF-8, else base64 (and
/// which of the two).
pub fn readable(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), "utf-8"),
        Err(_) => {
            use base64::Engine as _;
            (
                base64::engine::general_purpose::STANDARD.encode(bytes),
                "base64",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_its_stable_code_and_keeps_the_message() {
        let answer = failed(Error::SandboxNotFound("sbx-1".into())).unwrap();
        assert_eq!(answer.is_error, Some(true));
        let text = serde_json::to_value(&answer.content).unwrap().to_string();
        assert!(text.contains("not_found: "), "{text}");
        assert!(text.contains("sbx-1"), "{text}");
    }

    #[test]
    fn bytes_are_text_when_they_can_be_and_base64_otherwise() {
        assert_eq!(readable(b"hi\n"), ("hi\n".to_string(), "utf-8"));
        assert_eq!(readable(&[0xff, 0x00]), ("/wA=".to_string(), "base64"));
    }
}
