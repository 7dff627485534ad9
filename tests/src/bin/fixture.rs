//! `sandboxer-test-ext-fixture` (linked in as `sandboxer-ext-fixture` by a
//! `TestEnv`): the in-tree test extension. A real child process
//! speaking protocol v1 through the SDK, whose "backend" is a folder of JSON files
//! (`SANDBOXER_EXT_FIXTURE_STATE_DIR`), so sandboxes outlive the process as they would on a real
//! backend (the `state_dir` option, else `SANDBOXER_EXT_FIXTURE_STATE_DIR`; snapshots under its
//! `snapshots/`). Faults, from the
//! `fault` option or else `SANDBOXER_EXT_FIXTURE_FAULT` (comma-separated), switch on misbehaviour
//! for tests:
//!
//! - `crash=METHOD`: exit 3 in the middle of METHOD, after a line on stderr
//! - `hang=METHOD`: stop the whole process (SIGSTOP) during METHOD: no answer, no
//!   cancel
//! - `slow=METHOD:MS`: take MS milliseconds over METHOD (cancellable)
//! - `garbage=METHOD`: print a non-JSON line on stdout during METHOD
//! - `huge-log-in-create`: send a well-formed `$/log` over the 8 MiB line limit
//!   during create
//! - `unavailable=METHOD`: answer METHOD with Unavailable (retryable)
//! - `protocol=MAJOR.MINOR`: speak only that protocol version
//! - `progress=N`: send N progress notifications during create
//! - `provisioning`: create answers `provisioning`; the first get after it, `ready`
//! - `destroy-not-idempotent`: destroying an unknown sandbox is NotFound
//! - `notfound-wrong-code`: NotFound is sent with code 1010
//! - `secret-in-stderr`: create prints the secrets on stderr
//! - `secret-in-labels`: create puts the secrets into a label
//! - `secret-in-error`: create fails the way a backend whose service dumped its
//!   environment would: the secrets (as written, base64- and URL-encoded) in its
//!   error, on stderr, in `$/log` and in progress
//! - `leak`: destroy answers success and removes nothing
//! - `drop-labels`: user labels are not kept
//! - `create-not-idempotent`: a repeated create is AlreadyExists
//!
//! With the secret option `api_key` (a provider key), a sandbox belongs to that
//! account (`accounts/<id>` holds the key), and get and destroy with another key
//! are PermissionDenied, as a SaaS backend would answer.

use sandboxer_ext_protocol::methods as m;
use sandboxer_ext_protocol::money;
use sandboxer_ext_protocol::sdk::{self, Context, ExtResult, Extension, Manifest};
use sandboxer_ext_protocol::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Default)]
struct Faults {
    crash: Option<String>,
    hang: Option<String>,
    slow: Option<(String, u64)>,
    garbage: Option<String>,
    unavailable: Option<String>,
    protocol: Option<String>,
    progress: u32,
    provisioning: bool,
    /// Switches without a value (`destroy-not-idempotent`, `leak`, ...).
    flags: Vec<String>,
}

fn faults(spec: &str) -> Faults {
    let mut f = Faults::default();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        match key {
            "crash" => f.crash = Some(value.into()),
            "hang" => f.hang = Some(value.into()),
            "slow" => {
                let (method, ms) = value.rsplit_once(':').expect("slow=METHOD:MS");
                f.slow = Some((method.into(), ms.parse().expect("slow=METHOD:MS")));
            }
            "garbage" => f.garbage = Some(value.into()),
            "unavailable" => f.unavailable = Some(value.into()),
            "protocol" => f.protocol = Some(value.into()),
            "progress" => f.progress = value.parse().expect("progress=N"),
            "provisioning" => f.provisioning = true,
            "destroy-not-idempotent"
            | "notfound-wrong-code"
            | "secret-in-stderr"
            | "huge-log-in-create"
            | "secret-in-labels"
            | "secret-in-error"
            | "leak"
            | "drop-labels"
            | "create-not-idempotent" => f.flags.push(key.to_string()),
            other => panic!("unknown SANDBOXER_EXT_FIXTURE_FAULT {other:?}"),
        }
    }
    f
}

/// What the fixture keeps per sandbox. Secrets are kept by name only.
#[derive(Serialize, Deserialize)]
struct Stored {
    params: CreateParams,
    secret_names: Vec<String>,
    sandbox: Sandbox,
}

struct Fixture {
    dir: PathBuf,
    faults: Faults,
    /// The provider key it was started with, if any.
    api_key: Option<String>,
    /// The host it reports sandboxes on when create names none.
    host_name: Option<String>,
}

impl Fixture {
    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn load(&self, id: &str) -> Option<Stored> {
        let text = std::fs::read_to_string(self.path(id)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn save(&self, stored: &Stored) -> ExtResult<()> {
        let text = serde_json::to_string_pretty(stored).expect("serializes");
        let tmp = self.dir.join(format!(".{}.tmp", stored.sandbox.sandbox_id));
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, self.path(&stored.sandbox.sandbox_id)))
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))
    }

    /// Applies the faults aimed at `method`.
    async fn misbehave(&self, method: &str) -> ExtResult<()> {
        let f = &self.faults;
        if f.crash.as_deref() == Some(method) {
            eprintln!("fixture: crashing on purpose during {method}");
            std::process::exit(3);
        }
        if f.garbage.as_deref() == Some(method) {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "this is not json");
            let _ = out.flush();
        }
        if f.hang.as_deref() == Some(method) {
            eprintln!("fixture: hanging on purpose during {method}");
            // SAFETY: raise only sends a signal to this process.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
        if let Some((slow, ms)) = &f.slow
            && slow == method
        {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
        }
        if f.unavailable.as_deref() == Some(method) {
            return Err(ErrorObject::domain(
                ErrorKind::Unavailable,
                format!("fixture: {method} unavailable on purpose"),
            ));
        }
        Ok(())
    }

    fn has(&self, flag: &str) -> bool {
        self.faults.flags.iter().any(|f| f == flag)
    }

    /// Where snapshot `id` is kept: the sandbox's record as it was, by name.
    fn snapshot_path(&self, id: &str) -> PathBuf {
        self.dir.join("snapshots").join(format!("{id}.json"))
    }

    fn load_snapshot(&self, id: &str) -> Option<Snapshot> {
        let text = std::fs::read_to_string(self.snapshot_path(id)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Like a SaaS backend: a sandbox made with one account's key is not touched
    /// with another's.
    fn same_account(&self, id: &str) -> ExtResult<()> {
        match std::fs::read_to_string(self.dir.join("accounts").join(id)) {
            Ok(owner) if Some(&owner) != self.api_key.as_ref() => Err(ErrorObject::domain(
                ErrorKind::PermissionDenied,
                format!("sandbox {id} belongs to another account"),
            )),
            _ => Ok(()),
        }
    }

    fn not_found(&self, id: &str) -> ErrorObject {
        let mut error = ErrorObject::domain(ErrorKind::NotFound, format!("no sandbox {id}"));
        if self.has("notfound-wrong-code") {
            error.code = 1010;
        }
        error
    }
}

impl Extension for Fixture {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture".into(),
            version: "0.1.0".into(),
            optional_methods: vec![
                m::SandboxExtendTtl::METHOD,
                m::SandboxExec::METHOD,
                m::CostEstimate::METHOD,
                m::SandboxSnapshot::METHOD,
                m::SandboxRestore::METHOD,
                m::SnapshotList::METHOD,
                m::SnapshotDelete::METHOD,
            ],
            options_schema: [
                ("state_dir", "folder holding the fixture's sandboxes", false),
                (
                    "fault",
                    "misbehaviour to switch on (see the fixture's source)",
                    false,
                ),
                (
                    "host_name",
                    "the host it reports a sandbox on when create names none \
                     (default fixture-host); any text, as a backend may name its hosts",
                    false,
                ),
                (
                    "api_key",
                    "the account a SaaS backend would bill: kept with each sandbox \
                     in the backend's own folder (accounts/), like a provider does",
                    true,
                ),
            ]
            .into_iter()
            .map(|(name, description, secret)| {
                let spec = OptionSpec {
                    description: description.into(),
                    secret,
                    ..Default::default()
                };
                (name.to_string(), spec)
            })
            .collect(),
            ..Default::default()
        }
    }

    async fn start(options: JsonObject, _ctx: &Context) -> ExtResult<Self> {
        let dir = options
            .get("state_dir")
            .and_then(|d| d.as_str())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("SANDBOXER_EXT_FIXTURE_STATE_DIR").map(PathBuf::from))
            .unwrap_or_else(|| std::env::temp_dir().join("sandboxer-fixture-state"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        let spec = match options.get("fault").and_then(|f| f.as_str()) {
            Some(spec) => spec.to_string(),
            None => std::env::var("SANDBOXER_EXT_FIXTURE_FAULT").unwrap_or_default(),
        };
        Ok(Fixture {
            dir,
            faults: faults(&spec),
            host_name: options
                .get("host_name")
                .and_then(|h| h.as_str())
                .map(str::to_string),
            api_key: options
                .get("api_key")
                .and_then(|k| k.as_str())
                .map(str::to_string),
        })
    }

    async fn create(&self, ctx: &Context, p: CreateParams) -> ExtResult<Sandbox> {
        for i in 0..self.faults.progress {
            ctx.progress(
                format!("fixture step {}", i + 1),
                Some(((i + 1) * 100 / self.faults.progress) as u8),
            );
        }
        self.misbehave(m::SandboxCreate::METHOD).await?;
        if self.has("huge-log-in-create") {
            // Through the SDK's writer: stdout is shared, and not blocking.
            ctx.log(LogLevel::Info, "x".repeat(framing::MAX_LINE_BYTES));
        }
        if !p.profile.spec.is_object() {
            return Err(ErrorObject::invalid_argument(
                "profile.spec",
                "the fixture's spec is a mapping",
            ));
        }
        if self.has("secret-in-stderr") {
            eprintln!("fixture: creating with secrets {:?}", p.secrets.0);
        }
        if self.has("secret-in-error") {
            use base64::Engine;
            let dump: Vec<String> = p
                .secrets
                .0
                .iter()
                .map(|(k, v)| {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{k}={v}"));
                    let url: String = v
                        .bytes()
                        .map(|b| match b {
                            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
                            other => format!("%{other:02X}"),
                        })
                        .collect();
                    format!("{k}={v} (base64 {b64}, url {url})")
                })
                .collect();
            let dump = dump.join("; ");
            eprintln!("service output: {dump}");
            ctx.log(LogLevel::Error, format!("service output: {dump}"));
            ctx.progress(format!("service output: {dump}"), None);
            return Err(ErrorObject::domain(
                ErrorKind::FailedPrecondition,
                format!("the service exited with 1; its output: {dump}"),
            ));
        }
        if let Some(existing) = self.load(&p.sandbox_id) {
            if self.has("create-not-idempotent") {
                return Err(ErrorObject::domain(ErrorKind::AlreadyExists, "exists"));
            }
            let same = CreateParams {
                secrets: Default::default(),
                progress_token: None,
                ..p.clone()
            } == existing.params;
            return if same {
                Ok(existing.sandbox)
            } else {
                Err(ErrorObject::domain(
                    ErrorKind::AlreadyExists,
                    format!("sandbox {} exists with other params", p.sandbox_id),
                ))
            };
        }
        let mut labels = if self.has("drop-labels") {
            Labels::new()
        } else {
            p.labels.clone()
        };
        labels.insert(LABEL_SANDBOX_ID.into(), p.sandbox_id.clone());
        if self.has("secret-in-labels") {
            for (k, v) in &p.secrets.0 {
                labels.insert(format!("secret.{}", k.to_lowercase()), v.clone());
            }
        }
        let host = p
            .placement
            .host
            .clone()
            .or_else(|| self.host_name.clone())
            .unwrap_or_else(|| "fixture-host".into());
        let mut details = JsonObject::new();
        details.insert("host".into(), host.clone().into());
        let sandbox = Sandbox {
            sandbox_id: p.sandbox_id.clone(),
            state: if self.faults.provisioning {
                BackendState::Provisioning
            } else {
                BackendState::Ready
            },
            backend_ref: format!("fixture/{}", p.sandbox_id),
            labels,
            endpoints: vec![Endpoint {
                name: "shell".into(),
                protocol: EndpointProtocol::Ssh,
                host: "127.0.0.1".into(),
                port: 2222,
                url: None,
            }],
            details,
        };
        if let Some(key) = &self.api_key {
            // The backend's side of the account: which key the sandbox was made with.
            let accounts = self.dir.join("accounts");
            std::fs::create_dir_all(&accounts)
                .and_then(|_| std::fs::write(accounts.join(&p.sandbox_id), key))
                .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        }
        self.save(&Stored {
            secret_names: p.secrets.0.keys().cloned().collect(),
            params: CreateParams {
                secrets: Default::default(),
                progress_token: None,
                ..p
            },
            sandbox: sandbox.clone(),
        })?;
        Ok(sandbox)
    }

    async fn get(&self, _ctx: &Context, p: GetParams) -> ExtResult<Sandbox> {
        self.misbehave(m::SandboxGet::METHOD).await?;
        self.same_account(&p.sandbox_id)?;
        let mut stored = self
            .load(&p.sandbox_id)
            .ok_or_else(|| self.not_found(&p.sandbox_id))?;
        if stored.sandbox.state == BackendState::Provisioning {
            stored.sandbox.state = BackendState::Ready;
            self.save(&stored)?;
        }
        Ok(stored.sandbox)
    }

    async fn list(&self, _ctx: &Context, p: ListParams) -> ExtResult<ListResult> {
        self.misbehave(m::SandboxList::METHOD).await?;
        let mut sandboxes = vec![];
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if let Some(stored) = self.load(id) {
                let wanted = p.labels.iter().flatten();
                if wanted
                    .into_iter()
                    .all(|(k, v)| stored.sandbox.labels.get(k) == Some(v))
                {
                    sandboxes.push(stored.sandbox);
                }
            }
        }
        sandboxes.sort_by(|a, b| a.sandbox_id.cmp(&b.sandbox_id));
        Ok(ListResult { sandboxes })
    }

    async fn destroy(&self, _ctx: &Context, p: DestroyParams) -> ExtResult<DestroyResult> {
        self.misbehave(m::SandboxDestroy::METHOD).await?;
        self.same_account(&p.sandbox_id)?;
        if self.has("destroy-not-idempotent") {
            // Claimed by an atomic rename, so that of racing destroys exactly one
            // succeeds and every other one is NotFound, every time.
            let claimed = self.dir.join(format!(".{}.destroying", p.sandbox_id));
            std::fs::rename(self.path(&p.sandbox_id), &claimed)
                .map_err(|_| self.not_found(&p.sandbox_id))?;
            let _ = std::fs::remove_file(claimed);
            return Ok(DestroyResult { destroyed: true });
        }
        if !self.has("leak") {
            let _ = std::fs::remove_file(self.path(&p.sandbox_id));
            let _ = std::fs::remove_file(self.dir.join("accounts").join(&p.sandbox_id));
            let _ = std::fs::remove_dir(self.dir.join("accounts"));
        }
        Ok(DestroyResult { destroyed: true })
    }

    async fn extend_ttl(&self, _ctx: &Context, p: ExtendTtlParams) -> ExtResult<Sandbox> {
        self.misbehave(m::SandboxExtendTtl::METHOD).await?;
        let mut stored = self
            .load(&p.sandbox_id)
            .ok_or_else(|| self.not_found(&p.sandbox_id))?;
        stored.params.expires_at = p.expires_at;
        self.save(&stored)?;
        Ok(stored.sandbox)
    }

    /// Runs the command for real, here, in the fixture's state folder.
    async fn exec(&self, _ctx: &Context, p: ExecParams) -> ExtResult<ExecResult> {
        self.misbehave(m::SandboxExec::METHOD).await?;
        self.load(&p.sandbox_id)
            .ok_or_else(|| self.not_found(&p.sandbox_id))?;
        let Some((program, args)) = p.argv.split_first() else {
            return Err(ErrorObject::invalid_argument("argv", "argv is empty"));
        };
        if let Some(service) = &p.service {
            return Err(ErrorObject::invalid_argument(
                "service",
                format!("a fixture sandbox has one part; it has no service {service:?}"),
            ));
        }
        let spawned = tokio::process::Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            // A program that cannot be run exits 127, as a shell says.
            Err(e) => {
                return Ok(ExecResult::from_output(
                    127,
                    b"",
                    format!("{program}: {e}\n").as_bytes(),
                ));
            }
        };
        let timeout = p.timeout();
        let input = p.stdin.unwrap_or_default();
        let mut stdin = child.stdin.take().expect("piped");
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(input.as_bytes()).await;
        });
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| ErrorObject::domain(ErrorKind::DeadlineExceeded, "the command timed out"))?
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        Ok(ExecResult::from_output(
            out.status.code().unwrap_or(-1),
            &out.stdout,
            &out.stderr,
        ))
    }

    /// A snapshot is the sandbox's record under a name: `snap-<sandbox>-<name>`.
    async fn snapshot(&self, _ctx: &Context, p: SnapshotParams) -> ExtResult<Snapshot> {
        self.misbehave(m::SandboxSnapshot::METHOD).await?;
        let stored = self
            .load(&p.sandbox_id)
            .ok_or_else(|| self.not_found(&p.sandbox_id))?;
        let id = format!("snap-{}-{}", p.sandbox_id, p.snapshot_name);
        if let Some(existing) = self.load_snapshot(&id) {
            return Ok(existing);
        }
        let mut details = JsonObject::new();
        details.insert(
            "labels_at_snapshot".into(),
            serde_json::json!(stored.sandbox.labels),
        );
        let snapshot = Snapshot {
            snapshot_id: id.clone(),
            snapshot_name: Some(p.snapshot_name),
            sandbox_id: Some(p.sandbox_id),
            labels: Labels::new(),
            details,
        };
        let path = self.snapshot_path(&id);
        std::fs::create_dir_all(path.parent().expect("has a parent"))
            .and_then(|_| {
                std::fs::write(&path, serde_json::to_string(&snapshot).expect("serializes"))
            })
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, e.to_string()))?;
        Ok(snapshot)
    }

    /// A create whose details say which snapshot it came from.
    async fn restore(&self, ctx: &Context, p: RestoreParams) -> ExtResult<Sandbox> {
        self.misbehave(m::SandboxRestore::METHOD).await?;
        if self.load_snapshot(&p.snapshot_id).is_none() {
            let mut error = ErrorObject::domain(
                ErrorKind::NotFound,
                format!("no snapshot {}", p.snapshot_id),
            );
            if self.has("notfound-wrong-code") {
                error.code = 1010;
            }
            return Err(error);
        }
        let mut sandbox = self.create(ctx, p.create).await?;
        if !sandbox.details.contains_key("restored_from") {
            sandbox
                .details
                .insert("restored_from".into(), p.snapshot_id.into());
            let mut stored = self.load(&sandbox.sandbox_id).expect("just created");
            stored.sandbox = sandbox.clone();
            self.save(&stored)?;
        }
        Ok(sandbox)
    }

    async fn snapshot_list(
        &self,
        _ctx: &Context,
        _p: SnapshotListParams,
    ) -> ExtResult<SnapshotListResult> {
        let mut snapshots: Vec<Snapshot> = std::fs::read_dir(self.dir.join("snapshots"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                self.load_snapshot(name.strip_suffix(".json")?)
            })
            .collect();
        snapshots.sort_by(|a, b| a.snapshot_id.cmp(&b.snapshot_id));
        Ok(SnapshotListResult { snapshots })
    }

    async fn snapshot_delete(
        &self,
        _ctx: &Context,
        p: SnapshotDeleteParams,
    ) -> ExtResult<SnapshotDeleteResult> {
        self.misbehave(m::SnapshotDelete::METHOD).await?;
        let _ = std::fs::remove_file(self.snapshot_path(&p.snapshot_id));
        // The folder goes with its last snapshot (fails, harmlessly, while not empty).
        let _ = std::fs::remove_dir(self.dir.join("snapshots"));
        Ok(SnapshotDeleteResult { deleted: true })
    }

    async fn shutdown(&self) {
        eprintln!("fixture: shut down by the protocol");
    }

    async fn cost_estimate(
        &self,
        _ctx: &Context,
        p: CostEstimateParams,
    ) -> ExtResult<CostEstimate> {
        // The spec's rate, a number or a decimal string, exactly.
        let rate = match &p.profile.spec["rate_per_hour"] {
            serde_json::Value::String(text) => text.parse().unwrap_or_default(),
            other => other
                .as_f64()
                .and_then(money::decimal_of)
                .unwrap_or_default(),
        };
        Ok(CostEstimate {
            currency: "USD".into(),
            amount: rate * money::Decimal::from(p.duration_s) / money::Decimal::from(3600),
            breakdown: JsonObject::new(),
        })
    }
}

/// Answers only `initialize`, refusing every version but `speaks`: how an
/// extension of another protocol generation behaves.
fn other_protocol(speaks: &str) -> ! {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["method"] == m::Initialize::METHOD {
            let answer = serde_json::json!({
                "jsonrpc": "2.0", "id": msg["id"],
                "error": {"code": codes::INVALID_PARAMS,
                          "message": format!("this extension speaks protocol {speaks} only"),
                          "data": {"supported": [speaks]}}
            });
            let _ = writeln!(stdout, "{answer}");
            let _ = stdout.flush();
        }
    }
    std::process::exit(0)
}

fn main() {
    if let Some(version) =
        faults(&std::env::var("SANDBOXER_EXT_FIXTURE_FAULT").unwrap_or_default()).protocol
        && std::env::args().any(|a| a == STDIO_FLAG)
    {
        eprintln!("fixture: speaking protocol {version} only");
        other_protocol(&version);
    }
    sdk::serve::<Fixture>()
}
