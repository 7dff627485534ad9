//! Every method and notification of protocol v1, defined once. Each request is a
//! type implementing [`Request`] (its name, params, result, whether it takes a
//! `sandbox_id`, whether every extension answers it, whether it changes a
//! sandbox, which deadline the host gives it and the minor version that added
//! it), each notification a type implementing [`Notification`]. The host's
//! client (`request::<SandboxCreate>`), the SDK's dispatch table, the kit, the
//! golden files and the required/optional lists all derive from these.

use crate::inside::*;
use crate::messages::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Whether every extension answers a method, or only one that lists it in
/// `capabilities.methods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
}

/// Which of the host's configured deadlines bounds a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Spawn to `initialize` answered.
    Handshake,
    /// Most calls.
    Call,
    /// Work that builds a sandbox or an image of one.
    Create,
    Destroy,
    /// A call that lasts as long as what it streams (an attached command, a
    /// followed log): no deadline; it ends by its answer or by a cancel.
    Open,
}

/// What a request is, apart from its types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: &'static str,
    pub presence: Presence,
    /// The params carry a `sandbox_id` that must be present and well formed.
    pub takes_sandbox_id: bool,
    /// It changes a sandbox: the host never runs two for one id at once.
    pub mutates: bool,
    pub deadline: Deadline,
    /// The protocol minor version (of major 1) that added it.
    pub since_minor: u32,
}

/// One request of the protocol.
pub trait Request {
    const INFO: MethodInfo;
    const METHOD: &'static str = Self::INFO.name;
    type Params: Serialize + DeserializeOwned + Send + Sync + 'static;
    type Result: Serialize + DeserializeOwned + Send + 'static;
}

/// One notification of the protocol (no answer is sent).
pub trait Notification {
    const METHOD: &'static str;
    type Params: Serialize + DeserializeOwned + Send + 'static;
}

/// Params of a method that takes none: `{}` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct NoParams {}

macro_rules! requests {
    ($(
        $(#[$doc:meta])*
        $ty:ident = $name:literal: $params:ty => $result:ty,
            $presence:ident, sandbox_id: $sid:literal, mutates: $mutates:literal,
            deadline: $deadline:ident, since_minor: $since:literal;
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $ty {}

            impl $ty {
                /// The method's name on the wire.
                pub const METHOD: &'static str = $name;
            }

            impl Request for $ty {
                const INFO: MethodInfo = MethodInfo {
                    name: $name,
                    presence: Presence::$presence,
                    takes_sandbox_id: $sid,
                    mutates: $mutates,
                    deadline: Deadline::$deadline,
                    since_minor: $since,
                };
                type Params = $params;
                type Result = $result;
            }
        )*

        /// Every request, in the order of `docs/protocol.md`.
        pub const ALL: &[MethodInfo] = &[$(<$ty as Request>::INFO),*];
    };
}

requests! {
    /// The handshake: versions, options, capabilities.
    Initialize = "initialize": InitializeParams => InitializeResult,
        Required, sandbox_id: false, mutates: false, deadline: Handshake, since_minor: 0;
    /// Finish in-flight calls, then answer; `exit` follows. The result is
    /// ignored (the SDK answers `null`).
    Shutdown = "shutdown": NoParams => Value,
        Required, sandbox_id: false, mutates: false, deadline: Call, since_minor: 0;
    SandboxCreate = "sandbox/create": CreateParams => Sandbox,
        Required, sandbox_id: true, mutates: true, deadline: Create, since_minor: 0;
    SandboxGet = "sandbox/get": GetParams => Sandbox,
        Required, sandbox_id: true, mutates: false, deadline: Call, since_minor: 0;
    SandboxList = "sandbox/list": ListParams => ListResult,
        Required, sandbox_id: false, mutates: false, deadline: Call, since_minor: 0;
    SandboxDestroy = "sandbox/destroy": DestroyParams => DestroyResult,
        Required, sandbox_id: true, mutates: true, deadline: Destroy, since_minor: 0;
    SandboxExtendTtl = "sandbox/extend_ttl": ExtendTtlParams => Sandbox,
        Optional, sandbox_id: true, mutates: true, deadline: Call, since_minor: 0;
    SandboxSnapshot = "sandbox/snapshot": SnapshotParams => Snapshot,
        Optional, sandbox_id: true, mutates: false, deadline: Create, since_minor: 0;
    SandboxRestore = "sandbox/restore": RestoreParams => Sandbox,
        Optional, sandbox_id: false, mutates: true, deadline: Create, since_minor: 0;
    SnapshotList = "snapshot/list": SnapshotListParams => SnapshotListResult,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 0;
    SnapshotDelete = "snapshot/delete": SnapshotDeleteParams => SnapshotDeleteResult,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 0;
    SandboxExec = "sandbox/exec": ExecParams => ExecResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 0;
    CostEstimate = "cost/estimate": CostEstimateParams => crate::messages::CostEstimate,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 0;
    HostHealth = "host/health": HostHealthParams => HostHealthResult,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 0;
    /// Reviews a profile against the extension's containment policy.
    ProfileCheck = "profile/check": ProfileCheckParams => ProfileCheckResult,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 1;
    /// Checks hosts for what the backend needs, with the fix of each failure.
    HostDoctor = "host/doctor": HostDoctorParams => HostDoctorResult,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 1;
    /// Builds the image a profile needs, ahead of creates.
    ImageBuild = "image/build": ImageBuildParams => ImageBuildResult,
        Optional, sandbox_id: false, mutates: false, deadline: Create, since_minor: 5;
    /// The images the extension keeps.
    ImageList = "image/list": ImageListParams => ImageListResult,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 5;
    /// Removes images no sandbox, snapshot or kept profile needs.
    ImagePrune = "image/prune": ImagePruneParams => ImagePruneResult,
        Optional, sandbox_id: false, mutates: false, deadline: Call, since_minor: 5;
    /// Starts a command as a session: output kept for `exec/attach`, stdin,
    /// signals, a terminal.
    ExecStart = "exec/start": ExecStartParams => ExecStarted,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    /// Streams a command's output as `$/output` and answers with its exit.
    ExecAttach = "exec/attach": ExecAttachParams => ExecExit,
        Optional, sandbox_id: true, mutates: false, deadline: Open, since_minor: 6;
    /// Bytes for a command's stdin, or its end.
    ExecWrite = "exec/write": ExecWriteParams => Ack,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    ExecSignal = "exec/signal": ExecSignalParams => Ack,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    ExecResize = "exec/resize": ExecResizeParams => Ack,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    /// The commands a sandbox runs, and those that ended lately.
    ExecList = "exec/list": ExecListParams => ExecListResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    FsRead = "fs/read": FsReadParams => FsReadResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    FsWrite = "fs/write": FsWriteParams => FsWriteResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    FsList = "fs/list": FsPathParams => FsListResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    FsStat = "fs/stat": FsPathParams => FileInfo,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    FsMkdir = "fs/mkdir": FsMkdirParams => Ack,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    FsRemove = "fs/remove": FsRemoveParams => Ack,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    FsRename = "fs/rename": FsRenameParams => Ack,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    /// One chunk of a tree going in, as a tar stream.
    FsTarPut = "fs/tar_put": FsTarPutParams => FsTarPutResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    /// The next chunk of a tree coming out, as a tar stream.
    FsTarGet = "fs/tar_get": FsTarGetParams => FsTarGetResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
    /// Freezes a sandbox, its processes and memory kept.
    SandboxPause = "sandbox/pause": PauseParams => Sandbox,
        Optional, sandbox_id: true, mutates: true, deadline: Create, since_minor: 6;
    SandboxResume = "sandbox/resume": PauseParams => Sandbox,
        Optional, sandbox_id: true, mutates: true, deadline: Create, since_minor: 6;
    /// The sandbox's own output, streamed as `$/output`.
    SandboxLogs = "sandbox/logs": LogsParams => Ack,
        Optional, sandbox_id: true, mutates: false, deadline: Open, since_minor: 6;
    SandboxMetrics = "sandbox/metrics": PauseParams => MetricsResult,
        Optional, sandbox_id: true, mutates: false, deadline: Call, since_minor: 6;
}

macro_rules! notifications {
    ($($(#[$doc:meta])* $ty:ident = $name:literal: $params:ty;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $ty {}

            impl $ty {
                /// The notification's name on the wire.
                pub const METHOD: &'static str = $name;
            }

            impl Notification for $ty {
                const METHOD: &'static str = $name;
                type Params = $params;
            }
        )*

        /// Every notification's name.
        pub const NOTIFICATIONS: &[&str] = &[$(<$ty as Notification>::METHOD),*];
    };
}

notifications! {
    /// Host to extension, after a successful `initialize`.
    Initialized = "initialized": NoParams;
    /// Host to extension, after `shutdown` was answered: exit now.
    Exit = "exit": NoParams;
    /// Extension to host: how far a call with a `progress_token` is.
    Progress = "$/progress": ProgressParams;
    /// Extension to host: a log line for the host's log.
    Log = "$/log": LogParams;
    /// Host to extension: stop the call with this id.
    CancelRequest = "$/cancelRequest": CancelParams;
    /// Extension to host: a chunk of a stream a call asked for by its
    /// `output_token` (protocol 1.6).
    Output = "$/output": OutputParams;
}

/// The methods of working inside a sandbox that an agent in it can answer
/// (protocol 1.6): commands and files. Pause, logs and figures belong to the
/// backend outside.
pub const INSIDE_AGENT: [&[&str]; 2] = [INSIDE_COMMANDS, INSIDE_FILES];

/// Commands as sessions (`exec/*`): what a backend that runs commands but has
/// no files of its own can offer.
pub const INSIDE_COMMANDS: &[&str] = &[
    ExecStart::METHOD,
    ExecAttach::METHOD,
    ExecWrite::METHOD,
    ExecSignal::METHOD,
    ExecResize::METHOD,
    ExecList::METHOD,
];

/// Files and trees (`fs/*`).
pub const INSIDE_FILES: &[&str] = &[
    FsRead::METHOD,
    FsWrite::METHOD,
    FsList::METHOD,
    FsStat::METHOD,
    FsMkdir::METHOD,
    FsRemove::METHOD,
    FsRename::METHOD,
    FsTarPut::METHOD,
    FsTarGet::METHOD,
];

/// The definition of the request named `name`.
pub fn info(name: &str) -> Option<&'static MethodInfo> {
    ALL.iter().find(|m| m.name == name)
}

/// Names of the methods every extension answers.
pub fn required() -> impl Iterator<Item = &'static str> {
    ALL.iter()
        .filter(|m| m.presence == Presence::Required)
        .map(|m| m.name)
}

/// Names of the methods an extension answers only when it lists them.
pub fn optional() -> impl Iterator<Item = &'static str> {
    ALL.iter()
        .filter(|m| m.presence == Presence::Optional)
        .map(|m| m.name)
}

pub fn is_required(name: &str) -> bool {
    info(name).is_some_and(|m| m.presence == Presence::Required)
}

pub fn is_optional(name: &str) -> bool {
    info(name).is_some_and(|m| m.presence == Presence::Optional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_versions_not_from_the_future() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        names.extend(NOTIFICATIONS);
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "a method name is defined twice");
        for m in ALL {
            assert!(
                m.since_minor <= crate::PROTOCOL_VERSION.minor,
                "{} is from 1.{}",
                m.name,
                m.since_minor
            );
        }
    }

    #[test]
    fn the_lists_split_every_method_once() {
        assert_eq!(required().count() + optional().count(), ALL.len());
        assert_eq!(
            required().collect::<Vec<_>>(),
            [
                "initialize",
                "shutdown",
                "sandbox/create",
                "sandbox/get",
                "sandbox/list",
                "sandbox/destroy"
            ]
        );
        assert!(is_optional(SandboxExec::METHOD) && !is_required(SandboxExec::METHOD));
        assert!(!is_optional("sandbox/frobnicate") && !is_required("sandbox/frobnicate"));
    }
}
