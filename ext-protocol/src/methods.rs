//! Method and notification names of protocol v1 (1.1), and which methods are
//! required.

pub const INITIALIZE: &str = "initialize";
pub const INITIALIZED: &str = "initialized";
pub const SHUTDOWN: &str = "shutdown";
pub const EXIT: &str = "exit";
pub const SANDBOX_CREATE: &str = "sandbox/create";
pub const SANDBOX_GET: &str = "sandbox/get";
pub const SANDBOX_LIST: &str = "sandbox/list";
pub const SANDBOX_DESTROY: &str = "sandbox/destroy";
pub const SANDBOX_EXTEND_TTL: &str = "sandbox/extend_ttl";
pub const SANDBOX_SNAPSHOT: &str = "sandbox/snapshot";
pub const SANDBOX_RESTORE: &str = "sandbox/restore";
pub const SNAPSHOT_LIST: &str = "snapshot/list";
pub const SNAPSHOT_DELETE: &str = "snapshot/delete";
pub const SANDBOX_EXEC: &str = "sandbox/exec";
pub const COST_ESTIMATE: &str = "cost/estimate";
pub const HOST_HEALTH: &str = "host/health";
/// Since 1.1.
pub const PROFILE_CHECK: &str = "profile/check";
/// Since 1.1.
pub const HOST_DOCTOR: &str = "host/doctor";

pub const PROGRESS: &str = "$/progress";
pub const LOG: &str = "$/log";
pub const CANCEL_REQUEST: &str = "$/cancelRequest";

/// Methods every extension answers.
pub const REQUIRED: [&str; 6] = [
    INITIALIZE,
    SHUTDOWN,
    SANDBOX_CREATE,
    SANDBOX_GET,
    SANDBOX_LIST,
    SANDBOX_DESTROY,
];

/// Methods an extension answers only when it lists them in `capabilities.methods`.
pub const OPTIONAL: [&str; 10] = [
    SANDBOX_EXTEND_TTL,
    SANDBOX_SNAPSHOT,
    SANDBOX_RESTORE,
    SNAPSHOT_LIST,
    SNAPSHOT_DELETE,
    SANDBOX_EXEC,
    COST_ESTIMATE,
    HOST_HEALTH,
    PROFILE_CHECK,
    HOST_DOCTOR,
];

/// Methods that change a sandbox; the host never runs two of them for one id at once.
pub const MUTATING: [&str; 4] = [
    SANDBOX_CREATE,
    SANDBOX_DESTROY,
    SANDBOX_EXTEND_TTL,
    SANDBOX_RESTORE,
];

pub fn is_required(method: &str) -> bool {
    REQUIRED.contains(&method)
}

pub fn is_optional(method: &str) -> bool {
    OPTIONAL.contains(&method)
}
