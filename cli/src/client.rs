//! A typed client of the daemon's HTTP API: the same `Verbs` as the local core,
//! each through its route in `api::ROUTES`. Errors come back as `Error::Remote`
//! with the class the daemon's code names.

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::Method;
use sandboxer_core::api::{self, ByteStream, Created, Pairs, ProfileListing, Query, Verb, Verbs};
use sandboxer_core::error::{Error, ErrorClass, Result};
use sandboxer_core::operations::{Attached, DestroyOutcome, ExecRequest, Ledger, StartCommand};
use sandboxer_core::store::{Event, SandboxRecord, SandboxView, SnapshotRecord};
use sandboxer_ext_protocol::{ExecResult, ExecSession, ExecStarted, FileInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The daemon at `base` (`http://127.0.0.1:7070`), called with `token`.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// The token is a secret: `Debug` says whether there is one, never what it is.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// A request not yet sent: a verb's route, its path parameter, query and body.
struct Call<'a> {
    verb: Verb,
    param: &'a str,
    /// A command's id or an endpoint's name, for the routes of one.
    exec_id: Option<&'a str>,
    query: Pairs,
    body: Option<Value>,
    /// A body sent as it comes (a file, a tar stream), instead of JSON.
    raw: Option<ByteStream>,
    headers: Vec<(&'static str, String)>,
}

impl<'a> Call<'a> {
    fn to(verb: Verb) -> Call<'a> {
        Call {
            verb,
            param: "",
            exec_id: None,
            query: Pairs::default(),
            body: None,
            raw: None,
            headers: vec![],
        }
    }

    fn on(mut self, param: &'a str) -> Self {
        self.param = param;
        self
    }

    /// A route of something inside sandbox `id`: a command, an endpoint.
    fn pair(mut self, id: &'a str, inner: &'a str) -> Self {
        self.param = id;
        self.exec_id = Some(inner);
        self
    }

    fn raw(mut self, body: ByteStream) -> Self {
        self.raw = Some(body);
        self
    }

    fn query(mut self, query: &impl Query) -> Self {
        self.query = query.to_pairs();
        self
    }

    fn body(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_value(body).expect("request bodies serialize"));
        self
    }
}

fn bad_answer(e: impl std::fmt::Display) -> Error {
    Error::Remote {
        class: ErrorClass::Backend,
        status: 0,
        code: "bad_answer".into(),
        message: format!("the daemon's answer does not parse: {e}"),
    }
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, call: Call<'_>) -> Result<reqwest::Response> {
        let route = call.verb.route();
        let method = Method::from_bytes(route.method.as_bytes()).expect("routes name methods");
        let path = match call.exec_id {
            Some(exec_id) => route.path_with_pair(call.param, exec_id),
            None => route.path_with(call.param),
        };
        let url = format!("{}{path}{}", self.base, call.query.encode());
        let mut request = self.http.request(method, url);
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        for (name, value) in call.headers {
            request = request.header(name, value);
        }
        if let Some(b) = call.body {
            request = request.json(&b);
        }
        if let Some(raw) = call.raw {
            request = request
                .header("content-type", "application/octet-stream")
                .body(reqwest::Body::wrap_stream(raw));
        }
        let response = request.send().await.map_err(|e| Error::Remote {
            class: ErrorClass::Backend,
            status: 0,
            code: "unreachable".into(),
            message: format!("cannot reach the daemon at {}: {e}", self.base),
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        Err(Error::Remote {
            class: ErrorClass::of_answer(status, &code),
            status,
            code,
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .into(),
        })
    }

    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        self.send(call).await?.json().await.map_err(bad_answer)
    }

    /// The answer's body as it arrives.
    async fn bytes(&self, call: Call<'_>) -> Result<ByteStream> {
        let response = self.send(call).await?;
        Ok(response
            .bytes_stream()
            .map(|c| c.map_err(broken_stream))
            .boxed())
    }
}

fn broken_stream(e: impl std::fmt::Display) -> Error {
    Error::Remote {
        class: ErrorClass::Backend,
        status: 0,
        code: "stream".into(),
        message: e.to_string(),
    }
}

impl Verbs for Client {
    async fn create(&self, request: api::CreateSandbox) -> Result<Created> {
        let mut call = Call::to(Verb::CreateSandbox).body(&request);
        if let Some(key) = &request.idempotency_key {
            call.headers.push(("idempotency-key", key.clone()));
        }
        let response = self.send(call).await?;
        let reused = response.status() == reqwest::StatusCode::OK;
        let record = response.json().await.map_err(bad_answer)?;
        Ok(Created { record, reused })
    }

    async fn get(&self, id: &str, query: api::GetSandbox) -> Result<api::Shown> {
        self.json(Call::to(Verb::GetSandbox).on(id).query(&query))
            .await
    }

    async fn list<E: From<Error>>(
        &self,
        query: &api::ListSandboxes,
        mut each: impl FnMut(SandboxView<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let records: Vec<SandboxRecord> = self
            .json(Call::to(Verb::ListSandboxes).query(query))
            .await?;
        for record in &records {
            each(record.view())?;
        }
        Ok(())
    }

    async fn destroy(&self, id: &str) -> Result<DestroyOutcome> {
        self.json(Call::to(Verb::DestroySandbox).on(id)).await
    }

    async fn recreate(&self, id: &str, request: api::Recreate) -> Result<api::Recreated> {
        self.json(Call::to(Verb::RecreateSandbox).on(id).body(&request))
            .await
    }

    async fn extend_ttl(&self, id: &str, request: api::ExtendTtl) -> Result<SandboxRecord> {
        self.json(Call::to(Verb::ExtendTtl).on(id).body(&request))
            .await
    }

    async fn exec(&self, id: &str, request: ExecRequest) -> Result<ExecResult> {
        self.json(Call::to(Verb::Exec).on(id).body(&request)).await
    }

    async fn take_snapshot(&self, id: &str, request: api::TakeSnapshot) -> Result<SnapshotRecord> {
        self.json(Call::to(Verb::TakeSnapshot).on(id).body(&request))
            .await
    }

    async fn snapshots(&self) -> Result<Vec<SnapshotRecord>> {
        self.json(Call::to(Verb::ListSnapshots)).await
    }

    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<SnapshotRecord> {
        self.json(Call::to(Verb::DeleteSnapshot).on(snapshot_id))
            .await
    }

    async fn restore(
        &self,
        snapshot_id: &str,
        request: api::RestoreSnapshot,
    ) -> Result<SandboxRecord> {
        self.json(
            Call::to(Verb::RestoreSnapshot)
                .on(snapshot_id)
                .body(&request),
        )
        .await
    }

    async fn usage(&self, query: &api::UsageQuery) -> Result<Ledger> {
        // Checked here too, so that a bad flag is the same error as locally.
        query.parsed()?;
        self.json(Call::to(Verb::Usage).query(query)).await
    }

    async fn events(&self, query: &api::EventsQuery) -> Result<api::EventsPage> {
        self.json(Call::to(Verb::EventsPage).query(query)).await
    }

    async fn follow_events(
        &self,
        query: &api::EventsQuery,
    ) -> Result<BoxStream<'static, Result<Event>>> {
        let mut query = query.clone();
        query.limit = None;
        let response = self
            .send(Call::to(Verb::EventsStream).query(&query))
            .await?;
        let lines = response.bytes_stream().map(|c| c.map_err(broken_stream));
        Ok(Box::pin(server_sent_events(lines, |data| {
            serde_json::from_str::<Event>(data).ok().map(Ok)
        })))
    }

    async fn profiles(&self) -> Result<ProfileListing> {
        Ok(ProfileListing {
            profiles: self.json(Call::to(Verb::ListProfiles)).await?,
            problems: vec![],
        })
    }

    async fn profile(&self, name: &str) -> Result<Value> {
        self.json(Call::to(Verb::GetProfile).on(name)).await
    }

    async fn guarantees(&self, name: &str) -> Result<Value> {
        self.json(Call::to(Verb::ProfileGuarantees).on(name)).await
    }

    async fn extensions(&self) -> Result<Vec<api::ExtensionReport>> {
        self.json(Call::to(Verb::ListExtensions)).await
    }

    async fn extension(&self, name: &str) -> Result<api::ExtensionReport> {
        self.json(Call::to(Verb::GetExtension).on(name)).await
    }

    async fn hosts(&self, query: &api::HostsQuery) -> Result<api::Hosts> {
        self.json(Call::to(Verb::Hosts).query(query)).await
    }

    async fn start_command(&self, id: &str, request: StartCommand) -> Result<ExecStarted> {
        self.json(Call::to(Verb::StartCommand).on(id).body(&request))
            .await
    }

    async fn attach(
        &self,
        id: &str,
        exec_id: &str,
        query: api::AttachQuery,
    ) -> Result<BoxStream<'static, Result<Attached>>> {
        let response = self
            .send(
                Call::to(Verb::AttachCommand)
                    .pair(id, exec_id)
                    .query(&query),
            )
            .await?;
        let lines = response.bytes_stream().map(|c| c.map_err(broken_stream));
        Ok(Box::pin(server_sent_events(lines, |data| {
            if let Ok(event) = serde_json::from_str::<Attached>(data) {
                return Some(Ok(event));
            }
            let failed: Value = serde_json::from_str(data).ok()?;
            Some(Err(Error::Remote {
                class: ErrorClass::Backend,
                status: 0,
                code: "attach".into(),
                message: failed["message"]
                    .as_str()
                    .unwrap_or("the attach failed")
                    .into(),
            }))
        })))
    }

    async fn write_stdin(&self, id: &str, exec_id: &str, request: api::StdinWrite) -> Result<()> {
        let _: api::Done = self
            .json(Call::to(Verb::WriteStdin).pair(id, exec_id).body(&request))
            .await?;
        Ok(())
    }

    async fn signal(&self, id: &str, exec_id: &str, request: api::SignalRequest) -> Result<()> {
        let _: api::Done = self
            .json(
                Call::to(Verb::SignalCommand)
                    .pair(id, exec_id)
                    .body(&request),
            )
            .await?;
        Ok(())
    }

    async fn resize(&self, id: &str, exec_id: &str, request: api::ResizeRequest) -> Result<()> {
        let _: api::Done = self
            .json(
                Call::to(Verb::ResizeCommand)
                    .pair(id, exec_id)
                    .body(&request),
            )
            .await?;
        Ok(())
    }

    async fn commands(&self, id: &str) -> Result<Vec<ExecSession>> {
        self.json(Call::to(Verb::ListCommands).on(id)).await
    }

    async fn read_file(&self, id: &str, query: &api::FileQuery) -> Result<ByteStream> {
        self.bytes(Call::to(Verb::ReadFile).on(id).query(query))
            .await
    }

    async fn write_file(
        &self,
        id: &str,
        query: &api::FileQuery,
        body: ByteStream,
    ) -> Result<api::Written> {
        self.json(Call::to(Verb::WriteFile).on(id).query(query).raw(body))
            .await
    }

    async fn remove_file(&self, id: &str, query: &api::FileQuery) -> Result<()> {
        let _: api::Done = self
            .json(Call::to(Verb::RemoveFile).on(id).query(query))
            .await?;
        Ok(())
    }

    async fn list_files(&self, id: &str, query: &api::FileQuery) -> Result<Vec<FileInfo>> {
        self.json(Call::to(Verb::ListFiles).on(id).query(query))
            .await
    }

    async fn stat_file(&self, id: &str, query: &api::FileQuery) -> Result<FileInfo> {
        self.json(Call::to(Verb::StatFile).on(id).query(query))
            .await
    }

    async fn make_dir(&self, id: &str, request: api::MakeDir) -> Result<()> {
        let _: api::Done = self
            .json(Call::to(Verb::MakeDir).on(id).body(&request))
            .await?;
        Ok(())
    }

    async fn rename_file(&self, id: &str, request: api::RenameFile) -> Result<()> {
        let _: api::Done = self
            .json(Call::to(Verb::RenameFile).on(id).body(&request))
            .await?;
        Ok(())
    }

    async fn get_tree(&self, id: &str, query: &api::FileQuery) -> Result<ByteStream> {
        self.bytes(Call::to(Verb::GetTree).on(id).query(query))
            .await
    }

    async fn put_tree(
        &self,
        id: &str,
        query: &api::FileQuery,
        body: ByteStream,
    ) -> Result<api::Written> {
        self.json(Call::to(Verb::PutTree).on(id).query(query).raw(body))
            .await
    }

    async fn pause(&self, id: &str) -> Result<SandboxRecord> {
        self.json(Call::to(Verb::PauseSandbox).on(id)).await
    }

    async fn resume(&self, id: &str) -> Result<SandboxRecord> {
        self.json(Call::to(Verb::ResumeSandbox).on(id)).await
    }

    async fn logs(&self, id: &str, query: &api::LogsQuery) -> Result<ByteStream> {
        self.bytes(Call::to(Verb::SandboxLogs).on(id).query(query))
            .await
    }

    async fn metrics(&self, id: &str) -> Result<sandboxer_ext_protocol::MetricsResult> {
        self.json(Call::to(Verb::SandboxMetrics).on(id)).await
    }

    async fn endpoint_access(
        &self,
        id: &str,
        name: &str,
        query: &api::AccessQuery,
    ) -> Result<sandboxer_core::endpoints::EndpointAccess> {
        self.json(Call::to(Verb::EndpointAccess).pair(id, name).query(query))
            .await
    }
}

/// The events of a Server-Sent Events body (`data:` lines, each read by
/// `read`: `None` skips it), as they arrive.
fn server_sent_events<T: Send + 'static>(
    chunks: impl futures::Stream<Item = Result<bytes::Bytes>> + Send + 'static,
    read: fn(&str) -> Option<Result<T>>,
) -> impl futures::Stream<Item = Result<T>> + Send + 'static {
    // Bytes, not text, are buffered: a chunk may end inside a character.
    let state = (
        Box::pin(chunks),
        Vec::<u8>::new(),
        std::collections::VecDeque::new(),
    );
    futures::stream::unfold(
        state,
        move |(mut chunks, mut buffer, mut ready)| async move {
            loop {
                if let Some(event) = ready.pop_front() {
                    return Some((event, (chunks, buffer, ready)));
                }
                match chunks.next().await? {
                    Err(e) => return Some((Err(e), (chunks, buffer, ready))),
                    Ok(chunk) => buffer.extend_from_slice(&chunk),
                }
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line);
                    if let Some(data) = line.strip_prefix("data:")
                        && let Some(event) = read(data.trim())
                    {
                        ready.push_back(event);
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let client = Client::new("http://127.0.0.1:1/", Some("s3cret-token".into()));
        let shown = format!("{client:?}");
        assert!(
            !shown.contains("s3cret-token") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
