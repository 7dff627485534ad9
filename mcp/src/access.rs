//! How a tool call reaches sandboxer's verbs, and as whom: the local core as
//! its operator, a daemon through its client and token, or (in the daemon) the
//! core as the caller the request's bearer token names.

use sandboxer_core::api::Verbs;

/// The verbs a tool call runs on.
pub trait Access: Send + Sync + 'static {
    type Verbs: Verbs + Send + Sync;

    /// The verbs as the caller of this call may use them. `request` is the
    /// HTTP request that carried the call (`None` over stdio); an `Err` is
    /// what the caller is told (no token, an unknown one).
    fn verbs(&self, request: Option<&http::request::Parts>) -> Result<Self::Verbs, String>;
}
