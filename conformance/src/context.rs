//! What every scenario works with: the extension under test, the run's params and
//! unique prefix, the ledger of what was created (cleaned up in reverse order),
//! and the recorder of results.

use crate::peer::{Line, Peer};
use crate::registry::{self, Check, Level};
use sandboxer_ext_protocol::{PROTOCOL_VERSION, ProfileRef, ProtocolVersion};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Label on everything a run creates; its value is the run's prefix.
pub const RUN_LABEL: &str = "sandboxer.conformance-run";

/// What the extension needs to create a real sandbox (`--params FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// `initialize.options`.
    pub options: Value,
    pub profile: Value,
    pub placement: Value,
    pub resources: Value,
    pub network: Value,
    /// A spec the extension must refuse (InvalidArgument); a string by default.
    pub bad_spec: Value,
    /// A command that prints its last argument (for exec checks).
    pub exec_echo: Vec<String>,
    /// A command that exits with code 3.
    pub exec_exit3: Vec<String>,
    /// A command that copies stdin to stdout.
    pub exec_cat: Vec<String>,
    /// A command that runs for at least 30 s (for timeout and cancel checks).
    pub exec_sleep: Vec<String>,
    /// The egress checks' probe: a command that connects to `{host}` port `{port}`
    /// and prints what it reads, exiting 0 only when it connected (e.g. `[sh, -c,
    /// "echo | nc -w 3 {host} {port}"]`). Empty: the egress checks are skipped.
    pub egress_probe: Vec<String>,
    /// The address at which a sandbox would reach the kit's host were it not
    /// fenced (e.g. `10.0.2.2` in QEMU's user network).
    pub egress_host: String,
    /// Where the kit's listeners bind; an allowed destination is `LISTEN:PORT`.
    pub egress_listen: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            options: json!({}),
            // Typed files and cost, as the core sends a profile that has them.
            profile: json!({
                "id": "profile.conformance",
                "version": "1",
                "spec": {},
                "files": {"conformance.txt": "written by sandboxer-conformance\n"},
                "cost": {"currency": "USD", "per_hour": 0.01},
            }),
            placement: json!({}),
            resources: json!({}),
            network: json!({"egress": "deny", "allow": []}),
            bad_spec: json!("this spec is not a mapping"),
            exec_echo: vec!["echo".into()],
            exec_exit3: vec!["sh".into(), "-c".into(), "exit 3".into()],
            exec_cat: vec!["cat".into()],
            exec_sleep: vec!["sleep".into(), "30".into()],
            egress_probe: vec![],
            egress_host: String::new(),
            egress_listen: "127.0.0.1".into(),
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    #[serde(flatten)]
    pub check: Check,
    pub category: &'static str,
    pub status: Status,
    pub message: String,
    pub sent: Vec<String>,
    pub received: Vec<String>,
    pub stderr_tail: String,
    pub duration_ms: u64,
}

impl CheckResult {
    /// A failure of a MUST check.
    pub fn is_must_failure(&self) -> bool {
        self.status == Status::Fail && self.check.level == Level::Must
    }
}

/// RFC 3339 (UTC, seconds) of now plus `ahead`.
pub fn rfc3339_in(ahead: Duration) -> String {
    let secs = (SystemTime::now() + ahead)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The state of one run.
pub struct Ctx {
    pub target: PathBuf,
    pub params: Params,
    /// Unique per run: sandbox ids start with it, and `RUN_LABEL` carries it.
    pub prefix: String,
    pub scale: f64,
    pub repeat: usize,
    pub parallel: usize,
    /// Optional methods the extension advertises.
    pub methods: Vec<String>,
    /// Features (guarantees) the extension declares.
    pub features: Vec<String>,
    /// Sandbox ids (and snapshot ids, prefixed `snapshot:`) created, in order.
    pub ledger: Vec<String>,
    counter: usize,
    selected: Box<dyn Fn(&str) -> bool>,
    pub results: Vec<CheckResult>,
    /// The protocol version the extension answered `initialize` with.
    peer_version: std::cell::Cell<Option<ProtocolVersion>>,
    /// Stdout lines that were not JSON-RPC, from every session of the run.
    pub stray_lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Ctx {
    pub fn new(
        target: PathBuf,
        params: Params,
        prefix: String,
        scale: f64,
        repeat: usize,
        parallel: usize,
        selected: Box<dyn Fn(&str) -> bool>,
    ) -> Ctx {
        Ctx {
            target,
            params,
            prefix,
            scale,
            repeat,
            parallel,
            methods: vec![],
            features: vec![],
            ledger: vec![],
            counter: 0,
            selected,
            results: vec![],
            peer_version: Default::default(),
            stray_lines: Default::default(),
        }
    }

    pub fn is_selected(&self, id: &str) -> bool {
        (self.selected)(id)
    }

    /// A deadline scaled by `--timeout-scale`.
    pub fn timeout(&self, base: Duration) -> Duration {
        base.mul_f64(self.scale)
    }

    /// Deadline of a create (readiness included).
    pub fn create_timeout(&self) -> Duration {
        self.timeout(Duration::from_secs(300))
    }

    /// A fresh sandbox id of this run, recorded for cleanup.
    pub fn new_id(&mut self) -> String {
        self.counter += 1;
        let id = format!("{}-{}", self.prefix, self.counter);
        self.ledger.push(id.clone());
        id
    }

    /// Create params for `id` with the run's label and `extra` labels.
    pub fn create_params(&self, id: &str, extra: &[(&str, &str)]) -> Value {
        let mut labels = json!({ RUN_LABEL: self.prefix, "sandboxer.id": id });
        for (k, v) in extra {
            labels[*k] = json!(v);
        }
        json!({
            "sandbox_id": id,
            "profile": self.profile(),
            "placement": self.params.placement,
            "labels": labels,
            "secrets": {},
            "network": self.params.network,
            "resources": self.params.resources,
            "expires_at": rfc3339_in(Duration::from_secs(3600)),
        })
    }

    /// The run's profile in the form the extension's protocol version reads
    /// (typed `files`, `cost` and `placement` from 1.2, inside `spec` before),
    /// whichever form the params file wrote it in.
    pub fn profile(&self) -> Value {
        let Ok(profile) = serde_json::from_value::<ProfileRef>(self.params.profile.clone()) else {
            return self.params.profile.clone(); // Sent as written: a bad one is the point.
        };
        let peer = self.peer_version.get().unwrap_or(PROTOCOL_VERSION);
        serde_json::to_value(profile.lifted().for_peer(peer)).expect("profiles serialize")
    }

    /// A started and initialized peer.
    pub fn peer(&self) -> Result<Peer, String> {
        let mut peer = self.raw_peer()?;
        let result = peer.initialize(&self.params.options)?;
        if let Some(version) = result["protocol_version"]
            .as_str()
            .and_then(|v| v.parse().ok())
        {
            self.peer_version.set(Some(version));
        }
        Ok(peer)
    }

    /// A started peer, no handshake. Its stdout lines that are not JSON-RPC go
    /// to `stray_lines`.
    pub fn raw_peer(&self) -> Result<Peer, String> {
        let mut peer = Peer::spawn(
            &self.target,
            &["--stdio"],
            self.timeout(Duration::from_secs(60)),
        )
        .map_err(|e| format!("cannot start {}: {e}", self.target.display()))?;
        peer.report_stray_lines(self.stray_lines.clone());
        Ok(peer)
    }

    pub fn advertises(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    /// Reports each of `ids` whose method is not advertised as skipped.
    pub fn skip_unadvertised(&mut self, ids: &[&str]) {
        for id in ids {
            if let Some(needs) = registry::check(id).needs
                && !self.advertises(needs)
            {
                self.skip(id, &format!("{needs} is not advertised"));
            }
        }
    }

    /// Whether check `id` is selected and its method advertised.
    pub fn runnable(&self, id: &str) -> bool {
        self.is_selected(id) && registry::check(id).needs.is_none_or(|n| self.advertises(n))
    }

    pub fn declares(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Records a result with the peer's recent conversation as evidence.
    pub fn record(
        &mut self,
        id: &str,
        peer: Option<&Peer>,
        started: Instant,
        outcome: Result<(), String>,
    ) {
        let check = *registry::check(id);
        if !self.is_selected(id) {
            return;
        }
        if let Some(needs) = check.needs
            && !self.advertises(needs)
        {
            return self.skip(id, &format!("{needs} is not advertised"));
        }
        let (status, message) = match outcome {
            Ok(()) => (Status::Pass, String::new()),
            Err(m) => (Status::Fail, m),
        };
        let (mut sent, mut received) = (vec![], vec![]);
        let mut stderr_tail = String::new();
        if let (Some(peer), Status::Fail) = (peer, status) {
            for line in peer.transcript.iter().rev().take(8).rev() {
                match line {
                    Line::Sent(l) => sent.push(l.clone()),
                    Line::Received(l) => received.push(l.clone()),
                }
            }
            stderr_tail = peer.stderr_tail(15);
        }
        self.results.push(CheckResult {
            check,
            category: check.category(),
            status,
            message,
            sent,
            received,
            stderr_tail,
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }

    pub fn pass(&mut self, id: &str) {
        self.record(id, None, Instant::now(), Ok(()));
    }

    pub fn fail(&mut self, id: &str, peer: Option<&Peer>, message: String) {
        self.record(id, peer, Instant::now(), Err(message));
    }

    pub fn skip(&mut self, id: &str, reason: &str) {
        let check = *registry::check(id);
        if !self.is_selected(id) {
            return;
        }
        self.results.push(CheckResult {
            check,
            category: check.category(),
            status: Status::Skip,
            message: reason.to_string(),
            sent: vec![],
            received: vec![],
            stderr_tail: String::new(),
            duration_ms: 0,
        });
    }

    /// Records every id as failed for one shared reason (a scenario that could not
    /// get going).
    pub fn fail_all(&mut self, ids: &[&str], peer: Option<&Peer>, message: &str) {
        for id in ids {
            self.fail(id, peer, message.to_string());
        }
    }
}

/// Checks an answer is a domain error with `code` (and well-formed data).
pub fn expect_error(answer: &Value, code: i64) -> Result<(), String> {
    match answer["error"]["code"].as_i64() {
        Some(c) if c == code => Ok(()),
        Some(c) => Err(format!("expected error {code}, got {c}: {answer}")),
        None => Err(format!("expected error {code}, got a result: {answer}")),
    }
}

/// Checks a 1003 names `field` in `data.details.field`.
pub fn expect_invalid_field(answer: &Value, field: &str) -> Result<(), String> {
    expect_error(answer, 1003)?;
    match answer["error"]["data"]["details"]["field"].as_str() {
        Some(f) if f == field => Ok(()),
        other => Err(format!(
            "InvalidArgument should name field {field:?}, names {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_the_right_shape_and_date() {
        let now = rfc3339_in(Duration::ZERO);
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
        let year: i64 = now[..4].parse().unwrap();
        assert!((2024..2200).contains(&year));
    }
}
