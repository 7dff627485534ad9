//! The tools: each one call of a verb (two for a streamed command), with
//! arguments a model fills in and descriptions written for it — what the tool
//! does, when to use it, what it costs. Profiles are also resources
//! (`sandboxer://profiles/NAME`).

use crate::access::Access;
use crate::answers::{Answer, failed, ok, readable, refused};
use futures::StreamExt;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    Implementation, ListResourcesResult, PaginatedRequestParams, ProgressNotificationParam,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use sandboxer_core::api::{
    AttachQuery, ByteStream, CreateSandbox, ExtendTtl, FileQuery, GetSandbox, ListSandboxes,
    RestoreSnapshot, SignalRequest, TakeSnapshot, Verbs,
};
use sandboxer_core::operations::{Attached, ExecRequest, StartCommand};
use sandboxer_core::{Error, ErrorClass};
use sandboxer_ext_protocol::{OutputStream, Signal};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most of a file `read_file` returns, and of each output stream
/// `run_command` keeps (what a model can read in one answer).
const READ_LIMIT: usize = 1024 * 1024;
/// The largest tar stream `download_tree` returns (base64 makes it a third
/// larger).
const TREE_LIMIT: usize = 16 * 1024 * 1024;
/// Where profiles are found as resources.
const PROFILE_URI: &str = "sandboxer://profiles/";

/// The MCP server: sandboxer's tools over `A`'s verbs.
pub struct Tools<A: Access> {
    access: Arc<A>,
}

impl<A: Access> Clone for Tools<A> {
    fn clone(&self) -> Self {
        Tools {
            access: self.access.clone(),
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CreateArgs {
    /// The profile to make it from (`list_profiles` names them).
    pub profile: String,
    /// How long it lives, e.g. `30m` or `2h` (default: the profile's; at most
    /// its maximum). It is destroyed when this runs out.
    #[serde(default)]
    pub ttl: Option<String>,
    /// `key: value` labels to find it by later.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SandboxArgs {
    /// The sandbox's id (`sbx-…`).
    pub id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListArgs {
    /// Destroyed sandboxes too.
    #[serde(default)]
    pub all: bool,
    /// Only sandboxes carrying all of these labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RunArgs {
    /// The sandbox's id.
    pub id: String,
    /// A shell command line, run by `sh -c` inside the sandbox.
    #[serde(default)]
    pub command: Option<String>,
    /// Or the program and its arguments, run as they are (no shell).
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    /// The working directory inside the sandbox.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment variables for this command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Killed after this many seconds.
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PathArgs {
    /// The sandbox's id.
    pub id: String,
    /// An absolute path inside the sandbox.
    pub path: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `content` is the text itself.
    #[serde(rename = "utf-8")]
    Utf8,
    /// `content` is base64 of the bytes.
    Base64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WriteArgs {
    /// The sandbox's id.
    pub id: String,
    /// An absolute path inside the sandbox; missing folders are made.
    pub path: String,
    /// What the file will hold (it is replaced whole).
    pub content: String,
    /// How `content` is written (default `utf-8`).
    #[serde(default)]
    pub encoding: Option<Encoding>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct TreeInArgs {
    /// The sandbox's id.
    pub id: String,
    /// The folder inside the sandbox to unpack into (made if missing).
    pub path: String,
    /// A tar archive, base64.
    pub tar_base64: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ExtendArgs {
    /// The sandbox's id.
    pub id: String,
    /// How much longer it lives, e.g. `30m` (never past the profile's maximum).
    pub by: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SnapshotArgs {
    /// The sandbox's id.
    pub id: String,
    /// A name for the snapshot.
    pub name: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RestoreArgs {
    /// The snapshot's id (`snap-…`).
    pub snapshot_id: String,
    /// How long the new sandbox lives (default: the profile's).
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The verbs for this call, or the tool error that says why there are none.
macro_rules! verbs {
    ($self:ident, $ctx:ident) => {
        match $self.verbs_for(&$ctx) {
            Ok(v) => v,
            Err(why) => return Ok(refused(format!("unauthorized: {why}"))),
        }
    };
}

/// A verb's result, or its failure as the tool's answer.
macro_rules! tried {
    ($call:expr) => {
        match $call {
            Ok(value) => value,
            Err(e) => return failed(e),
        }
    };
}

#[tool_router]
impl<A: Access> Tools<A> {
    pub fn new(access: A) -> Tools<A> {
        Tools {
            access: Arc::new(access),
        }
    }

    #[tool(
        description = "List the sandbox profiles you may create from: each one's name, \
                       description, backend, lifetime (default and maximum) and hourly cost. \
                       Use it first to choose a profile for create_sandbox."
    )]
    async fn list_profiles(&self, ctx: RequestContext<RoleServer>) -> Answer {
        let v = verbs!(self, ctx);
        let listing = tried!(v.profiles().await);
        ok(json!({ "profiles": listing.profiles }))
    }

    #[tool(
        description = "Create a sandbox from a profile and wait until it is ready; answers \
                       its record (id, state, endpoints, expiry, cost per hour). It is \
                       billed per hour at its profile's rate from now until it is \
                       destroyed or its lifetime runs out: destroy it when done."
    )]
    async fn create_sandbox(
        &self,
        Parameters(args): Parameters<CreateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let created = tried!(
            v.create(CreateSandbox {
                profile: args.profile,
                ttl: args.ttl,
                labels: args.labels,
                wait: Some(true),
                ..Default::default()
            })
            .await
        );
        ok(created.record)
    }

    #[tool(
        description = "List your sandboxes (not destroyed ones unless `all`), optionally \
                       only those carrying some labels. Free."
    )]
    async fn list_sandboxes(
        &self,
        Parameters(args): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let query = ListSandboxes {
            all: args.all,
            labels: args.labels,
            ..Default::default()
        };
        let mut found: Vec<Value> = vec![];
        tried!(
            v.list(&query, |view| -> Result<(), Error> {
                found.push(
                    serde_json::to_value(view)
                        .map_err(|e| Error::Invalid(format!("a record did not serialize: {e}")))?,
                );
                Ok(())
            })
            .await
        );
        ok(json!({ "sandboxes": found }))
    }

    #[tool(
        description = "Show one sandbox: its state, endpoints, expiry and what it has \
                       cost so far. Free."
    )]
    async fn get_sandbox(
        &self,
        Parameters(args): Parameters<SandboxArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        ok(tried!(v.get(&args.id, GetSandbox::default()).await))
    }

    #[tool(
        description = "Run a command inside a sandbox and wait for it: answers its exit \
                       code, stdout and stderr (each cut at 1 MiB). Give `command` (a \
                       shell line) or `argv`. Its output is also sent as progress while \
                       it runs when you ask for progress."
    )]
    async fn run_command(
        &self,
        Parameters(args): Parameters<RunArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let argv = match (args.command, args.argv) {
            (Some(line), None) => vec!["sh".to_string(), "-c".to_string(), line],
            (None, Some(argv)) if !argv.is_empty() => argv,
            _ => {
                return Ok(refused(
                    "invalid_request: give either `command` (a shell line) or `argv` \
                     (a non-empty list), not both"
                        .into(),
                ));
            }
        };
        let start = StartCommand {
            argv: argv.clone(),
            cwd: args.cwd.clone(),
            env: args.env.clone(),
            timeout_s: args.timeout_s,
            ..Default::default()
        };
        match v.start_command(&args.id, start).await {
            Ok(started) => streamed(&v, &args.id, &started.exec_id, &ctx).await,
            // A backend without command sessions still runs a plain command.
            Err(e)
                if e.class() == ErrorClass::Unsupported
                    && args.cwd.is_none()
                    && args.env.is_empty() =>
            {
                let request = ExecRequest {
                    argv,
                    service: None,
                    stdin: None,
                    timeout_s: args.timeout_s,
                };
                ok(tried!(v.exec(&args.id, request).await))
            }
            Err(e) => failed(e),
        }
    }

    #[tool(
        description = "Read a file inside a sandbox (at most 1 MiB): answers its content as \
                       text, or as base64 when it is not UTF-8 (`encoding` says which)."
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<PathArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let body = tried!(v.read_file(&args.id, &FileQuery::at(&args.path)).await);
        let Some(bytes) = tried!(collect(body, READ_LIMIT).await) else {
            return Ok(refused(format!(
                "invalid_request: {} is larger than {READ_LIMIT} bytes; read a part with \
                 run_command (e.g. `head -c`), or use download_tree",
                args.path
            )));
        };
        let (content, encoding) = readable(&bytes);
        ok(json!({ "path": args.path, "content": content, "encoding": encoding }))
    }

    #[tool(
        description = "Write a file inside a sandbox, replacing it whole (missing folders are \
                       made); `encoding: base64` for bytes that are not text."
    )]
    async fn write_file(
        &self,
        Parameters(args): Parameters<WriteArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let bytes = match args.encoding {
            None | Some(Encoding::Utf8) => args.content.into_bytes(),
            Some(Encoding::Base64) => match decode_base64(&args.content) {
                Ok(bytes) => bytes,
                Err(e) => return Ok(refused(format!("invalid_request: content: {e}"))),
            },
        };
        let written = tried!(
            v.write_file(&args.id, &FileQuery::at(&args.path), one_chunk(bytes))
                .await
        );
        ok(json!({ "path": args.path, "bytes": written.bytes }))
    }

    #[tool(
        description = "List a folder inside a sandbox: each entry's name, kind, size, \
                       permission bits and modification time."
    )]
    async fn list_files(
        &self,
        Parameters(args): Parameters<PathArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let entries = tried!(v.list_files(&args.id, &FileQuery::at(&args.path)).await);
        ok(json!({ "path": args.path, "entries": entries }))
    }

    #[tool(
        description = "Upload a tree of files: a tar archive (base64) unpacked into a folder \
                       inside the sandbox. Paths stay inside the sandbox."
    )]
    async fn upload_tree(
        &self,
        Parameters(args): Parameters<TreeInArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let tar = match decode_base64(&args.tar_base64) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(refused(format!("invalid_request: tar_base64: {e}"))),
        };
        let written = tried!(
            v.put_tree(&args.id, &FileQuery::at(&args.path), one_chunk(tar))
                .await
        );
        ok(json!({ "path": args.path, "bytes": written.bytes }))
    }

    #[tool(
        description = "Download a file or folder from inside a sandbox as a tar archive \
                       (base64, at most 16 MiB of tar)."
    )]
    async fn download_tree(
        &self,
        Parameters(args): Parameters<PathArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        use base64::Engine as _;
        let v = verbs!(self, ctx);
        let body = tried!(v.get_tree(&args.id, &FileQuery::at(&args.path)).await);
        let Some(tar) = tried!(collect(body, TREE_LIMIT).await) else {
            return Ok(refused(format!(
                "invalid_request: the tar of {} is larger than {TREE_LIMIT} bytes; \
                 download its folders one by one",
                args.path
            )));
        };
        ok(json!({
            "path": args.path,
            "bytes": tar.len(),
            "tar_base64": base64::engine::general_purpose::STANDARD.encode(&tar),
        }))
    }

    #[tool(
        description = "Give a sandbox more time before it is destroyed (never past its \
                       profile's maximum). It is billed for the longer lifetime."
    )]
    async fn extend_ttl(
        &self,
        Parameters(args): Parameters<ExtendArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        ok(tried!(
            v.extend_ttl(&args.id, ExtendTtl { by: args.by }).await
        ))
    }

    #[tool(
        description = "Save a sandbox's contents as a named snapshot, to restore into a new \
                       sandbox later. A snapshot is billed at its profile's snapshot rate \
                       while it is kept."
    )]
    async fn snapshot_sandbox(
        &self,
        Parameters(args): Parameters<SnapshotArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        ok(tried!(
            v.take_snapshot(&args.id, TakeSnapshot { name: args.name })
                .await
        ))
    }

    #[tool(
        description = "Create a new sandbox from a snapshot and wait until it is ready; it is \
                       billed like any sandbox of its profile."
    )]
    async fn restore_snapshot(
        &self,
        Parameters(args): Parameters<RestoreArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        let request = RestoreSnapshot {
            ttl: args.ttl,
            labels: args.labels,
            wait: Some(true),
            ..Default::default()
        };
        ok(tried!(v.restore(&args.snapshot_id, request).await))
    }

    #[tool(
        description = "Destroy a sandbox: everything in it is gone and its billing stops. \
                       Destroying one already destroyed does nothing."
    )]
    async fn destroy_sandbox(
        &self,
        Parameters(args): Parameters<SandboxArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Answer {
        let v = verbs!(self, ctx);
        ok(tried!(v.destroy(&args.id).await))
    }
}

#[tool_handler]
impl<A: Access> ServerHandler for Tools<A> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("sandboxer", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "sandboxer makes sandboxes (containers or VMs) from profiles and runs your \
             commands in them. Choose a profile (list_profiles), create_sandbox, work in it \
             (run_command, read_file, write_file, upload_tree, download_tree), and \
             destroy_sandbox when done: a sandbox is billed until it is destroyed or its \
             lifetime runs out.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let v = self
            .verbs_for(&ctx)
            .map_err(|why| ErrorData::invalid_request(why, None))?;
        let listing = v.profiles().await.map_err(protocol_error)?;
        let resources = listing
            .profiles
            .iter()
            .filter_map(|p| {
                let name = profile_name(p)?;
                let description = p["description"].as_str().unwrap_or_default();
                Some(
                    Resource::new(format!("{PROFILE_URI}{name}"), name.to_string())
                        .with_mime_type("application/json")
                        .with_description(description.to_string()),
                )
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some(name) = request.uri.strip_prefix(PROFILE_URI) else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "no resource {}; profiles are {PROFILE_URI}NAME",
                    request.uri
                ),
                None,
            ));
        };
        let v = self
            .verbs_for(&ctx)
            .map_err(|why| ErrorData::invalid_request(why, None))?;
        let profile = v.profile(name).await.map_err(protocol_error)?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(profile.to_string(), request.uri.clone())
                .with_mime_type("application/json"),
        ])
        .into())
    }
}

impl<A: Access> Tools<A> {
    /// The verbs for the call `ctx` carries (its HTTP request, if any), or why
    /// there are none.
    fn verbs_for(&self, ctx: &RequestContext<RoleServer>) -> Result<A::Verbs, String> {
        self.access
            .verbs(ctx.extensions.get::<http::request::Parts>())
    }
}

/// A profile's name: its id without `profile.`.
fn profile_name(profile: &Value) -> Option<&str> {
    let id = profile["id"].as_str()?;
    Some(
        id.strip_prefix(sandboxer_core::profile::PROFILE_ID_PREFIX)
            .unwrap_or(id),
    )
}

/// A verb's failure where a protocol error is the only answer (resources).
fn protocol_error(e: Error) -> ErrorData {
    let text = format!("{}: {e}", e.class().code());
    match e.class() {
        ErrorClass::NotFound => ErrorData::resource_not_found(text, None),
        _ => ErrorData::internal_error(text, None),
    }
}

/// A started command followed to its end: its output sent as progress when
/// the caller asked for progress, kept (up to `READ_LIMIT` per stream) for
/// the answer. A cancelled call kills the command.
async fn streamed<V: Verbs>(
    v: &V,
    id: &str,
    exec_id: &str,
    ctx: &RequestContext<RoleServer>,
) -> Answer {
    let mut output = tried!(v.attach(id, exec_id, AttachQuery::default()).await);
    let token = ctx.meta.get_progress_token();
    let (mut stdout, mut stderr) = (Kept::default(), Kept::default());
    let mut chunks = 0u32;
    loop {
        let next = tokio::select! {
            next = output.next() => next,
            _ = ctx.ct.cancelled() => {
                let kill = SignalRequest { signal: Signal::Kill };
                let _ = v.signal(id, exec_id, kill).await;
                return Ok(refused(format!("cancelled: command {exec_id} was killed")));
            }
        };
        match next {
            None => {
                return Ok(refused(format!(
                    "backend_error: the output of command {exec_id} ended without its exit \
                     status"
                )));
            }
            Some(Err(e)) => return failed(e),
            Some(Ok(Attached::Output { stream, data, .. })) => {
                match stream {
                    OutputStream::Stderr => stderr.push(&data.0),
                    OutputStream::Stdout | OutputStream::Terminal => stdout.push(&data.0),
                }
                if let Some(token) = &token {
                    chunks += 1;
                    let note = ProgressNotificationParam::new(token.clone(), f64::from(chunks))
                        .with_message(String::from_utf8_lossy(&data.0).into_owned());
                    if let Err(e) = ctx.peer.notify_progress(note).await {
                        tracing::debug!("a progress notification was not sent: {e}");
                    }
                }
            }
            Some(Ok(Attached::Exited(exit))) => {
                return ok(json!({
                    "exit_code": exit.exit_code,
                    "signal": exit.signal,
                    "timed_out": exit.timed_out,
                    "stdout": String::from_utf8_lossy(&stdout.bytes),
                    "stderr": String::from_utf8_lossy(&stderr.bytes),
                    "truncated": stdout.cut || stderr.cut,
                }));
            }
        }
    }
}

/// One output stream, kept up to `READ_LIMIT`.
#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
    cut: bool,
}

impl Kept {
    fn push(&mut self, data: &[u8]) {
        let room = READ_LIMIT - self.bytes.len();
        self.cut |= data.len() > room;
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// A body read whole, or `None` beyond `limit` bytes.
async fn collect(mut body: ByteStream, limit: usize) -> Result<Option<Vec<u8>>, Error> {
    let mut bytes = vec![];
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if bytes.len() + chunk.len() > limit {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

fn one_chunk(bytes: Vec<u8>) -> ByteStream {
    futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) }).boxed()
}

fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_output_stops_at_the_limit_and_says_so() {
        let mut kept = Kept::default();
        kept.push(&vec![b'a'; READ_LIMIT - 1]);
        assert!(!kept.cut);
        kept.push(b"bc");
        assert!(kept.cut);
        assert_eq!(kept.bytes.len(), READ_LIMIT);
        assert_eq!(kept.bytes.last(), Some(&b'b'));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_not_collected() {
        let body = futures::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"1234")),
            Ok(bytes::Bytes::from_static(b"5678")),
        ])
        .boxed();
        assert_eq!(collect(body, 7).await.unwrap(), None);
        let body = one_chunk(b"1234".to_vec());
        assert_eq!(collect(body, 4).await.unwrap(), Some(b"1234".to_vec()));
    }
}
