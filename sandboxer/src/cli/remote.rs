//! `--server URL`: every verb through the daemon's API instead of the local state
//! file, rendered the same way.

use super::commands::{Failure, list_filter, usage_query};
use super::render::{self, Out};
use super::{Cli, Command, ExtensionsCommand, LaunchArgs, ProfilesCommand, SnapshotCommand};
use futures::StreamExt;
use reqwest::{Client, Method};
use sandboxer::Error;
use sandboxer::operations::DestroyOutcome;
use sandboxer::operations::Ledger;
use sandboxer::store::{Event, SandboxRecord, SnapshotRecord};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

struct Remote {
    base: String,
    token: Option<String>,
    http: Client,
}

impl Remote {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<reqwest::Response, Error> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.map_err(|e| Error::Remote {
            status: 0,
            code: "unreachable".into(),
            message: format!("cannot reach the daemon at {}: {e}", self.base),
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Err(Error::Remote {
            status,
            code: body["error"]["code"].as_str().unwrap_or("unknown").into(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .into(),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, Error> {
        let response = self.call(method, path, body).await?;
        response.json().await.map_err(|e| Error::Remote {
            status: 0,
            code: "bad_answer".into(),
            message: format!("the daemon's answer does not parse: {e}"),
        })
    }
}

fn query(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    format!(
        "?{}",
        serde_urlencoded::to_string(pairs).expect("pairs encode")
    )
}

/// The body fields `launch` gives a create or a restore (labels checked here).
fn launch_body(launch: &LaunchArgs) -> Result<Value, Error> {
    let mut labels = serde_json::Map::new();
    for l in &launch.labels {
        let (k, v) = sandboxer::labels::parse_label(l)
            .map_err(|e| Error::Invalid(format!("--label: {e}")))?;
        labels.insert(k, json!(v));
    }
    Ok(json!({
        "ttl": launch.ttl, "labels": labels, "host": launch.host, "wait": launch.wait,
    }))
}

pub async fn run(cli: &Cli, server: &str, out: &mut Out) -> Result<(), Failure> {
    let r = Remote {
        base: server.trim_end_matches('/').to_string(),
        token: cli.global.token.clone(),
        http: Client::new(),
    };
    match &cli.command {
        Command::Create(args) => {
            let mut body = launch_body(&args.launch)?;
            body["profile"] = json!(args.profile);
            body["project"] = json!(args.launch.who.project);
            body["consumer"] = json!(args.launch.who.consumer);
            let record: SandboxRecord = r.json(Method::POST, "/v1/sandboxes", Some(body)).await?;
            render::sandbox(out, &record)?;
        }
        Command::Get { id, cached } => {
            let path = format!(
                "/v1/sandboxes/{id}{}",
                if *cached { "" } else { "?refresh=true" }
            );
            let answer: Value = r.json(Method::GET, &path, None).await?;
            let usage = serde_json::from_value(answer["usage"].clone()).ok();
            let record: SandboxRecord =
                serde_json::from_value(answer).map_err(|e| Error::Remote {
                    status: 0,
                    code: "bad_answer".into(),
                    message: format!("the daemon's answer does not parse: {e}"),
                })?;
            render::sandbox_with_usage(out, &record, usage.as_ref())?;
        }
        Command::List(args) => {
            let filter = list_filter(args)?;
            let mut pairs: Vec<(&str, String)> = vec![];
            let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
            if !states.is_empty() {
                pairs.push(("state", states.join(",")));
            }
            for (k, v) in [
                ("profile", &filter.profile_id),
                ("project", &filter.project),
                ("consumer", &filter.consumer),
            ] {
                if let Some(v) = v {
                    pairs.push((k, v.clone()));
                }
            }
            for (k, v) in &filter.labels {
                pairs.push(("label", format!("{k}={v}")));
            }
            let records: Vec<SandboxRecord> = r
                .json(
                    Method::GET,
                    &format!("/v1/sandboxes{}", query(&pairs)),
                    None,
                )
                .await?;
            let mut list = render::SandboxList::start(out)?;
            for record in &records {
                list.push(&record.view())?;
            }
            list.finish()?;
        }
        Command::Destroy { ids, .. } => {
            let mut first_error = None;
            for id in ids {
                match r
                    .json::<Value>(Method::DELETE, &format!("/v1/sandboxes/{id}"), None)
                    .await
                {
                    Ok(v) => {
                        let record: SandboxRecord = r
                            .json(Method::GET, &format!("/v1/sandboxes/{id}"), None)
                            .await?;
                        let outcome = DestroyOutcome {
                            record,
                            already: v["already_destroyed"].as_bool().unwrap_or(false),
                        };
                        render::destroyed(out, &outcome)?;
                    }
                    Err(e) => {
                        eprintln!("error: destroying {id}: {e}");
                        first_error.get_or_insert(e);
                    }
                }
            }
            out.finish()?;
            if let Some(e) = first_error {
                return Err(e.into());
            }
        }
        Command::Recreate { id, wait, .. } => {
            let v: Value = r
                .json(
                    Method::POST,
                    &format!("/v1/sandboxes/{id}/recreate"),
                    Some(json!({"wait": wait})),
                )
                .await?;
            let old: SandboxRecord = serde_json::from_value(v["old"].clone())
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let new: SandboxRecord = serde_json::from_value(v["new"].clone())
                .map_err(|e| Error::Invalid(e.to_string()))?;
            render::recreated(out, &old, &new)?;
        }
        Command::ExtendTtl { id, by, .. } => {
            let record: SandboxRecord = r
                .json(
                    Method::POST,
                    &format!("/v1/sandboxes/{id}/extend-ttl"),
                    Some(json!({"by": by})),
                )
                .await?;
            render::extended(out, &record)?;
        }
        Command::Exec(args) => {
            let stdin = if args.stdin {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                Some(text)
            } else {
                None
            };
            let timeout_s = args
                .timeout
                .as_deref()
                .map(sandboxer::time::parse_duration)
                .transpose()
                .map_err(|e| Error::Invalid(format!("--timeout: {e}")))?
                .map(|d| d.as_secs().max(1));
            let body = json!({"argv": args.argv, "service": args.service, "stdin": stdin, "timeout_s": timeout_s});
            let result: sandboxer_ext_protocol::ExecResult = r
                .json(
                    Method::POST,
                    &format!("/v1/sandboxes/{}/exec", args.id),
                    Some(body),
                )
                .await?;
            render::exec_result(out, &result)?;
            if !cli.global.json && result.exit_code != 0 {
                out.flush()?;
                std::process::exit(result.exit_code.clamp(1, 255));
            }
        }
        Command::Events(args) => {
            let mut pairs: Vec<(&str, String)> = vec![];
            if let Some(s) = &args.sandbox {
                pairs.push(("sandbox", s.clone()));
            }
            if let Some(a) = args.after {
                pairs.push(("after", a.to_string()));
            }
            if args.follow {
                let response = r
                    .call(
                        Method::GET,
                        &format!("/v1/events/stream{}", query(&pairs)),
                        None,
                    )
                    .await?;
                let mut stream = response.bytes_stream();
                let mut buffer = String::new();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| Error::Remote {
                        status: 0,
                        code: "stream".into(),
                        message: e.to_string(),
                    })?;
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find('\n') {
                        let line: String = buffer.drain(..=end).collect();
                        if let Some(data) = line.strip_prefix("data:")
                            && let Ok(event) = serde_json::from_str::<Event>(data.trim())
                        {
                            render::event_line(out, &event)?;
                            out.flush()?;
                        }
                    }
                }
            } else {
                if let Some(l) = args.limit {
                    pairs.push(("limit", l.to_string()));
                }
                let page: Value = r
                    .json(Method::GET, &format!("/v1/events{}", query(&pairs)), None)
                    .await?;
                let events: Vec<Event> = serde_json::from_value(page["events"].clone())
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                render::event_list(out, &events)?;
            }
        }
        Command::Profiles(ProfilesCommand::List) => {
            let profiles: Value = r.json(Method::GET, "/v1/profiles", None).await?;
            render::json_or_rows(
                out,
                &profiles,
                &["id", "version", "extension", "description"],
            )?;
        }
        Command::Profiles(ProfilesCommand::Show { name }) => {
            let profile: Value = r
                .json(Method::GET, &format!("/v1/profiles/{name}"), None)
                .await?;
            render::json_value(out, &profile)?;
        }
        Command::Extensions(ExtensionsCommand::List) => {
            let exts: Value = r.json(Method::GET, "/v1/extensions", None).await?;
            render::json_or_rows(
                out,
                &exts,
                &["name", "version", "protocol_version", "handshake", "path"],
            )?;
        }
        Command::Extensions(ExtensionsCommand::Show { name }) => {
            let ext: Value = r
                .json(Method::GET, &format!("/v1/extensions/{name}"), None)
                .await?;
            render::json_value(out, &ext)?;
        }
        Command::Snapshot(SnapshotCommand::Create { id, name, .. }) => {
            let snap: SnapshotRecord = r
                .json(
                    Method::POST,
                    &format!("/v1/sandboxes/{id}/snapshot"),
                    Some(json!({ "name": name })),
                )
                .await?;
            render::snapshot(out, &snap)?;
        }
        Command::Snapshot(SnapshotCommand::List) => {
            let snaps: Vec<SnapshotRecord> = r.json(Method::GET, "/v1/snapshots", None).await?;
            render::snapshot_list(out, &snaps)?;
        }
        Command::Snapshot(SnapshotCommand::Delete { snapshot_id, .. }) => {
            let snap: SnapshotRecord = r
                .json(
                    Method::DELETE,
                    &format!("/v1/snapshots/{snapshot_id}"),
                    None,
                )
                .await?;
            render::snapshot(out, &snap)?;
        }
        Command::Restore(args) => {
            let body = launch_body(&args.launch)?;
            let record: SandboxRecord = r
                .json(
                    Method::POST,
                    &format!("/v1/snapshots/{}/restore", args.snapshot_id),
                    Some(body),
                )
                .await?;
            render::sandbox(out, &record)?;
        }
        Command::Usage(args) => {
            // Checked here so that a bad flag is the same error as locally.
            usage_query(args)?;
            let mut pairs: Vec<(&str, String)> = vec![("by", args.by.clone())];
            for (key, value) in [
                ("since", &args.since),
                ("until", &args.until),
                ("project", &args.project),
                ("consumer", &args.consumer),
            ] {
                if let Some(v) = value {
                    pairs.push((key, v.clone()));
                }
            }
            let ledger: Ledger = r
                .json(Method::GET, &format!("/v1/usage{}", query(&pairs)), None)
                .await?;
            render::ledger(out, &ledger, &args.format)?;
        }
        Command::Serve { .. }
        | Command::Token(_)
        | Command::ReapStale
        | Command::Inspect { .. }
        | Command::Hosts { .. }
        | Command::Doctor { .. }
        | Command::Route { .. }
        | Command::Canary { .. } => {
            return Err(Error::Invalid(
                "serve, token, reap-stale, inspect, hosts, route and canary work on the local state file; run them without --server".into(),
            )
            .into());
        }
    }
    Ok(())
}
