//! Every check the kit knows: a stable id, a level (MUST fails the run, SHOULD
//! warns), the section of the protocol it enforces, and what it checks. Scenarios
//! report results by id; the table is the one place a check is declared.

use sandboxer_ext_protocol::methods;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        }
    }
}

/// One declared check.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub level: Level,
    /// Section of `docs/protocol.md` (= protocol-v1) it enforces.
    pub section: &'static str,
    pub title: &'static str,
    /// An optional method it needs; skipped when not advertised.
    pub needs: Option<&'static str>,
}

impl Check {
    pub fn category(&self) -> &'static str {
        self.id.split('.').next().unwrap_or(self.id)
    }
}

use Level::{Must, Should};

const fn c(id: &'static str, level: Level, section: &'static str, title: &'static str) -> Check {
    Check {
        id,
        level,
        section,
        title,
        needs: None,
    }
}

const fn opt(
    id: &'static str,
    needs: &'static str,
    section: &'static str,
    title: &'static str,
) -> Check {
    Check {
        id,
        level: Must,
        section,
        title,
        needs: Some(needs),
    }
}

pub const CHECKS: &[Check] = &[
    // launch
    c(
        "launch.refuses-without-stdio",
        Must,
        "1",
        "started without --stdio, it exits 2",
    ),
    c(
        "launch.hint-without-stdio",
        Should,
        "1",
        "started without --stdio, it prints a hint on stderr and nothing on stdout",
    ),
    c(
        "launch.silent-before-initialize",
        Must,
        "2",
        "nothing on stdout before initialize",
    ),
    c(
        "launch.initialize-within-deadline",
        Must,
        "7",
        "initialize is answered within the deadline",
    ),
    c(
        "launch.exits-on-eof-before-handshake",
        Must,
        "7",
        "stdin EOF before the handshake makes it exit",
    ),
    // framing
    c(
        "framing.stdout-json-rpc-in-every-session",
        Must,
        "2",
        "every stdout line of every session of the run (creates, execs, cleanup) is JSON-RPC",
    ),
    c(
        "framing.stdout-is-json-rpc",
        Must,
        "2",
        "every stdout line is a JSON-RPC 2.0 message",
    ),
    c(
        "framing.number-id-echoed",
        Must,
        "2",
        "a number id is echoed exactly",
    ),
    c(
        "framing.string-id-echoed",
        Must,
        "2",
        "a string id is echoed exactly",
    ),
    c(
        "framing.negative-id-echoed",
        Should,
        "2",
        "a negative number id is echoed exactly",
    ),
    c(
        "framing.malformed-json",
        Must,
        "6",
        "a malformed line gets -32700 with id null",
    ),
    c(
        "framing.alive-after-malformed",
        Must,
        "6",
        "after a malformed line, requests are still answered",
    ),
    c(
        "framing.invalid-request",
        Must,
        "6",
        "a request with a non-string method gets -32600",
    ),
    c(
        "framing.wrong-jsonrpc-version",
        Must,
        "6",
        "a request with jsonrpc other than 2.0 gets -32600",
    ),
    c(
        "framing.batch-refused",
        Should,
        "2",
        "a batch gets an error answer and the extension lives on",
    ),
    c(
        "framing.unknown-method",
        Must,
        "4",
        "an unknown method gets -32601",
    ),
    c(
        "framing.bad-params",
        Must,
        "6",
        "params that do not decode get -32602",
    ),
    c(
        "framing.large-payload",
        Must,
        "2",
        "a 1 MiB request line is read and answered",
    ),
    c(
        "framing.oversized-line",
        Must,
        "2",
        "a line over 8 MiB gets -32600 with id null, and later requests are still answered",
    ),
    c(
        "framing.unknown-notification-ignored",
        Must,
        "5",
        "an unknown notification gets no answer",
    ),
    // handshake
    c(
        "handshake.not-initialized",
        Must,
        "3",
        "a request before initialize gets -32002",
    ),
    c(
        "handshake.result-fields",
        Must,
        "3",
        "the initialize result has every required field",
    ),
    c(
        "handshake.version-1",
        Must,
        "3",
        "the answered protocol_version is MAJOR.MINOR with major 1",
    ),
    c(
        "handshake.required-methods-listed",
        Must,
        "4",
        "capabilities.methods lists every required method",
    ),
    c(
        "handshake.unsupported-major",
        Must,
        "3",
        "an unsupported major gets -32602 with data.supported",
    ),
    c(
        "handshake.supported-lists-1",
        Should,
        "3",
        "data.supported names a 1.x version",
    ),
    c(
        "handshake.newer-minor-accepted",
        Must,
        "3",
        "a newer minor of major 1 is accepted",
    ),
    c(
        "handshake.unknown-features-ignored",
        Must,
        "3",
        "unknown host features are ignored",
    ),
    c(
        "handshake.second-initialize",
        Must,
        "3",
        "a second initialize gets -32600",
    ),
    c(
        "handshake.listed-methods-exist",
        Must,
        "4",
        "every listed method is served (not -32601)",
    ),
    c(
        "handshake.unlisted-optional",
        Must,
        "4",
        "an optional method not listed gets -32601",
    ),
    c(
        "handshake.options-schema-shape",
        Should,
        "3",
        "options_schema entries have a description and boolean flags",
    ),
    // lifecycle
    c(
        "lifecycle.create-result",
        Must,
        "4",
        "create answers a Sandbox with the given id and every field",
    ),
    c(
        "lifecycle.create-label-id",
        Must,
        "4",
        "the created sandbox carries sandboxer.id",
    ),
    c(
        "lifecycle.labels-kept",
        Must,
        "4",
        "labels given at create are on the sandbox",
    ),
    c(
        "lifecycle.reaches-ready",
        Must,
        "4",
        "the sandbox reaches ready within the deadline",
    ),
    c(
        "lifecycle.get-matches",
        Must,
        "4",
        "get answers the same sandbox",
    ),
    c(
        "lifecycle.get-with-backend-ref",
        Should,
        "4",
        "get accepts the backend_ref it handed out",
    ),
    c(
        "lifecycle.in-list",
        Must,
        "4",
        "list includes the sandbox, with its labels",
    ),
    c(
        "lifecycle.list-label-filter",
        Must,
        "4",
        "list filters by labels",
    ),
    c(
        "lifecycle.endpoints-well-formed",
        Must,
        "4",
        "endpoints have a name, a known protocol, a host, a port and a url for http",
    ),
    c(
        "lifecycle.destroy",
        Must,
        "4",
        "destroy answers destroyed: true",
    ),
    c(
        "lifecycle.get-after-destroy",
        Must,
        "4",
        "get after destroy is NotFound (1001)",
    ),
    c(
        "lifecycle.gone-from-list",
        Must,
        "4",
        "a destroyed sandbox is gone from list",
    ),
    // idempotency
    c(
        "idempotency.same-create",
        Must,
        "4",
        "the same create repeated answers the same sandbox",
    ),
    c(
        "idempotency.conflicting-create",
        Must,
        "4",
        "the same id with other params is AlreadyExists (1002)",
    ),
    c(
        "idempotency.destroy-twice",
        Must,
        "4",
        "destroying twice succeeds",
    ),
    c(
        "idempotency.destroy-unknown",
        Must,
        "4",
        "destroying an unknown id succeeds",
    ),
    opt(
        "idempotency.snapshot-same-name",
        methods::SandboxSnapshot::METHOD,
        "4",
        "a snapshot with the same name twice is one snapshot",
    ),
    // validation
    c(
        "validation.missing-sandbox-id",
        Must,
        "6",
        "create without sandbox_id is InvalidArgument naming the field",
    ),
    c(
        "validation.malformed-sandbox-id",
        Must,
        "6",
        "a malformed sandbox_id is InvalidArgument naming the field",
    ),
    c(
        "validation.bad-spec",
        Must,
        "6",
        "a spec the extension cannot use is InvalidArgument",
    ),
    c(
        "validation.bad-expires-at",
        Should,
        "4",
        "an expires_at that is not RFC 3339 is InvalidArgument",
    ),
    c(
        "validation.missing-expires-at",
        Must,
        "4",
        "a create without expires_at is InvalidArgument (1003) naming expires_at",
    ),
    opt(
        "validation.extend-bad-time",
        methods::SandboxExtendTtl::METHOD,
        "4",
        "extend_ttl with a time that is not RFC 3339 is InvalidArgument naming expires_at",
    ),
    c(
        "validation.unknown-id-get",
        Must,
        "6",
        "get of an unknown id is NotFound (1001)",
    ),
    opt(
        "validation.unknown-id-exec",
        methods::SandboxExec::METHOD,
        "6",
        "exec on an unknown id is NotFound (1001)",
    ),
    opt(
        "validation.unknown-id-extend",
        methods::SandboxExtendTtl::METHOD,
        "6",
        "extend_ttl of an unknown id is NotFound (1001)",
    ),
    c(
        "validation.error-data",
        Must,
        "6",
        "domain errors carry data.kind matching the code and the right retryable",
    ),
    // secrets
    c(
        "secrets.not-on-stdout",
        Must,
        "4",
        "a secret never appears on stdout",
    ),
    c(
        "secrets.not-in-stderr",
        Must,
        "4",
        "a secret never appears on stderr",
    ),
    c(
        "secrets.not-in-labels",
        Must,
        "4",
        "a secret never appears in labels",
    ),
    c(
        "secrets.not-in-later-responses",
        Must,
        "4",
        "a secret never appears in get, list or destroy answers",
    ),
    // egress (sandbox/exec, the feature declared and the params' egress_probe)
    opt(
        "egress.deny-keeps-the-host-out",
        methods::SandboxExec::METHOD,
        "3",
        "under egress deny, code in the sandbox does not reach a listener of the kit's host",
    ),
    opt(
        "egress.allowlist-lets-only-the-listed-through",
        methods::SandboxExec::METHOD,
        "3",
        "under an allow-list, code in the sandbox reaches the listed listener (where \
         details.egress_allowed says) and not an unlisted one",
    ),
    // images (protocol 1.5)
    opt(
        "images.build-list-prune",
        methods::ImageBuild::METHOD,
        "4",
        "image/build builds the profile's image once, image/list lists it, image/prune keeps \
         it while a kept profile uses it",
    ),
    // optional
    opt(
        "optional.extend-ttl",
        methods::SandboxExtendTtl::METHOD,
        "4",
        "extend_ttl answers the sandbox",
    ),
    opt(
        "optional.snapshot-restore",
        methods::SandboxRestore::METHOD,
        "4",
        "a snapshot restores into a new sandbox",
    ),
    opt(
        "optional.restore-missing-snapshot",
        methods::SandboxRestore::METHOD,
        "4",
        "restore from a missing snapshot is NotFound (1001)",
    ),
    opt(
        "optional.snapshot-list-delete",
        methods::SnapshotList::METHOD,
        "4",
        "snapshots are listed and deleted, delete is idempotent",
    ),
    opt(
        "optional.cost-estimate-shape",
        methods::CostEstimate::METHOD,
        "4",
        "cost/estimate answers currency, amount and breakdown",
    ),
    opt(
        "optional.cost-estimate-deterministic",
        methods::CostEstimate::METHOD,
        "4",
        "cost/estimate answers the same for the same input",
    ),
    opt(
        "optional.cost-estimate-no-side-effects",
        methods::CostEstimate::METHOD,
        "4",
        "cost/estimate creates nothing",
    ),
    opt(
        "optional.host-health-shape",
        methods::HostHealth::METHOD,
        "4",
        "host/health answers hosts with a name and reachable",
    ),
    opt(
        "optional.host-health-unknown-host",
        methods::HostHealth::METHOD,
        "4",
        "host/health for a host the extension does not know is InvalidArgument naming host",
    ),
    opt(
        "optional.profile-check-shape",
        methods::ProfileCheck::METHOD,
        "4",
        "profile/check answers refused and relaxed findings, each with a field and a message, and creates nothing",
    ),
    opt(
        "optional.host-doctor-shape",
        methods::HostDoctor::METHOD,
        "4",
        "host/doctor answers hosts, each with checks that have a name and ok, and a fix for each failed one",
    ),
    opt(
        "optional.exec-output",
        methods::SandboxExec::METHOD,
        "4",
        "exec returns the command's output",
    ),
    opt(
        "optional.exec-exit-code",
        methods::SandboxExec::METHOD,
        "4",
        "exec returns the command's exit code",
    ),
    opt(
        "optional.exec-stdin",
        methods::SandboxExec::METHOD,
        "4",
        "exec feeds stdin to the command",
    ),
    opt(
        "optional.exec-empty-argv",
        methods::SandboxExec::METHOD,
        "4",
        "exec with an empty argv is InvalidArgument naming argv",
    ),
    opt(
        "optional.exec-unknown-service",
        methods::SandboxExec::METHOD,
        "4",
        "exec naming a part the sandbox lacks is InvalidArgument naming service",
    ),
    opt(
        "optional.exec-missing-command",
        methods::SandboxExec::METHOD,
        "4",
        "a command that does not exist is a result with exit_code 127",
    ),
    opt(
        "optional.exec-timeout",
        methods::SandboxExec::METHOD,
        "4",
        "a command past timeout_s is killed and the call is DeadlineExceeded (1008)",
    ),
    opt(
        "optional.exec-cancel",
        methods::SandboxExec::METHOD,
        "5",
        "a cancelled long exec answers -32800 within the grace period",
    ),
    // inside (1.6)
    opt(
        "inside.exec-streams-while-running",
        methods::ExecAttach::METHOD,
        "4",
        "exec/attach sends a command's output as $/output while it runs, and its exit after",
    ),
    opt(
        "inside.exec-stdin-and-signal",
        methods::ExecWrite::METHOD,
        "4",
        "exec/write feeds stdin and ends it; exec/signal terminate ends the command's group (143)",
    ),
    opt(
        "inside.exec-reattach-and-list",
        methods::ExecList::METHOD,
        "4",
        "a command is listed, read again from chunk 0 with the same exit, and from next_seq empty; an unknown exec_id is 1001",
    ),
    opt(
        "inside.exec-terminal-resize",
        methods::ExecResize::METHOD,
        "4",
        "under a terminal (feature exec.pty) stty sees its size, and the size after exec/resize",
    ),
    opt(
        "inside.files",
        methods::FsWrite::METHOD,
        "4",
        "fs/write (with append), fs/read at an offset, fs/list, fs/rename, fs/stat, fs/remove recursive, then 1001",
    ),
    opt(
        "inside.tree-round-trip",
        methods::FsTarPut::METHOD,
        "4",
        "a tree over a chunk goes in by fs/tar_put (in chunks, and raw from a socket where fs.tar_from_socket is declared) and comes out by fs/tar_get unchanged, no chunk over 1 MiB",
    ),
    opt(
        "inside.paths-confined",
        methods::FsRead::METHOD,
        "4",
        "no read through `..` or a link made in the sandbox, and no write through `..` or a climbing tar entry (chunked or raw), reaches the kit's machine",
    ),
    opt(
        "inside.pause-freezes-and-resume-continues",
        methods::SandboxPause::METHOD,
        "4",
        "sandbox/pause stops a running counter (state paused) and sandbox/resume lets it go on (state ready)",
    ),
    opt(
        "inside.logs",
        methods::SandboxLogs::METHOD,
        "4",
        "sandbox/logs answers, its output under the call's token; an unknown service is 1003",
    ),
    opt(
        "inside.metrics-shape",
        methods::SandboxMetrics::METHOD,
        "4",
        "sandbox/metrics of a running sandbox: a time, memory and processes above zero",
    ),
    // notifications
    c(
        "notifications.progress-only-with-token",
        Must,
        "5",
        "no $/progress for a request without progress_token",
    ),
    c(
        "notifications.progress-monotonic",
        Must,
        "5",
        "$/progress carries the token and percent never decreases",
    ),
    c(
        "notifications.no-progress-after-response",
        Must,
        "5",
        "no $/progress after the response",
    ),
    c(
        "notifications.log-levels",
        Must,
        "5",
        "every $/log has a valid level and a message",
    ),
    c(
        "notifications.cancel-unknown-ignored",
        Must,
        "5",
        "$/cancelRequest of an unknown id is ignored",
    ),
    c(
        "notifications.cancel-long-call",
        Must,
        "5",
        "a cancelled call answers -32800 or completes within the grace period",
    ),
    // concurrency
    c(
        "concurrency.parallel-creates",
        Must,
        "7",
        "parallel creates all succeed",
    ),
    c(
        "concurrency.pipelined-ids",
        Must,
        "7",
        "pipelined requests are each answered once, with their ids",
    ),
    c(
        "concurrency.racing-creates-one-id",
        Must,
        "7",
        "racing creates of one id make one sandbox",
    ),
    c(
        "concurrency.racing-destroys",
        Must,
        "7",
        "racing destroys of one id both succeed",
    ),
    // robustness
    c(
        "robustness.shutdown-exit",
        Must,
        "7",
        "shutdown answers null, then exit ends the process with 0 within 2 s",
    ),
    c(
        "robustness.shutdown-during-call",
        Must,
        "7",
        "a call in flight when shutdown arrives is answered, before shutdown's null",
    ),
    c(
        "robustness.request-after-shutdown",
        Must,
        "7",
        "a request after shutdown gets -32600 with its id",
    ),
    c(
        "robustness.stdin-close-exit",
        Must,
        "7",
        "closing stdin after the handshake ends the process with 0 within 2 s",
    ),
    c(
        "robustness.sigterm",
        Must,
        "7",
        "SIGTERM ends the process within 2 s",
    ),
    c(
        "robustness.nothing-left-behind",
        Must,
        "4",
        "after cleanup, list shows nothing created by this run",
    ),
];

/// The declared check with this id.
pub fn check(id: &str) -> &'static Check {
    CHECKS
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("check {id} is not declared in the registry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_plenty() {
        let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        assert!(ids.len() >= 60, "{} checks", ids.len());
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "duplicate check ids");
        for check in CHECKS {
            assert!(
                check.id.contains('.') && !check.id.contains(' '),
                "{}",
                check.id
            );
            assert!(!check.section.is_empty());
        }
    }
}
