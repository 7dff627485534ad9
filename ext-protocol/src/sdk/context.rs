//! What an extension method can do besides returning: report progress (only when
//! the request gave a `progress_token`, percent never decreasing, never after the
//! response) and send `$/log` messages.

use super::outbox::Outbox;
use crate::framing::notification_of;
use crate::inside::OutputParams;
use crate::messages::{LogLevel, LogParams, ProgressParams};
use crate::methods::{Log, Output, Progress};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Progress state of one request. The mutex makes "answered" and "send progress"
/// exclusive, so no progress line can follow the response.
#[derive(Debug, Default)]
pub(crate) struct ProgressGate {
    answered: bool,
    last_percent: Option<u8>,
}

pub(crate) type SharedGate = Arc<Mutex<ProgressGate>>;

/// Marks a request as answered: later progress is dropped.
pub(crate) fn close_gate(gate: &SharedGate) {
    gate.lock().expect("progress gate poisoned").answered = true;
}

/// Given to every extension method.
#[derive(Clone)]
pub struct Context {
    outbox: Outbox,
    progress_token: Option<Value>,
    gate: SharedGate,
}

impl Context {
    pub(crate) fn new(outbox: Outbox, progress_token: Option<Value>, gate: SharedGate) -> Self {
        Context {
            outbox,
            progress_token,
            gate,
        }
    }

    /// Reports progress of the current request. A no-op when the host gave no
    /// progress token or the request was already answered; a percent lower than
    /// one already sent is raised to it.
    pub fn progress(&self, message: impl Into<String>, percent: Option<u8>) {
        let Some(token) = &self.progress_token else {
            return;
        };
        let mut gate = self.gate.lock().expect("progress gate poisoned");
        if gate.answered {
            return;
        }
        let percent = percent.map(|p| p.min(100).max(gate.last_percent.unwrap_or(0)));
        if percent.is_some() {
            gate.last_percent = percent;
        }
        let params = ProgressParams {
            token: token.clone(),
            message: message.into(),
            percent,
        };
        self.outbox.send(notification_of::<Progress>(&params));
    }

    /// Sends a `$/log` message to the host.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        let params = LogParams {
            level,
            message: message.into(),
        };
        self.outbox.send(notification_of::<Log>(&params));
    }

    /// Sends one chunk of a stream a call asked for by its `output_token`
    /// (`exec/attach`, `sandbox/logs`). Sent before the call's answer when
    /// called before the method returns.
    pub fn output(&self, params: &OutputParams) {
        self.outbox.send(notification_of::<Output>(params));
    }

    /// Whether the host asked for progress on this request.
    pub fn wants_progress(&self) -> bool {
        self.progress_token.is_some()
    }
}
