//! envd, the API inside each E2B sandbox, as a client: Connect calls with
//! the JSON codec (unary, and `Start`'s stream of process events) and files
//! over plain HTTP. Every call names its sandbox (`E2b-Sandbox-Id`) and
//! carries the sandbox's access token, which is kept in memory only.

use futures::StreamExt;
use reqwest::{RequestBuilder, Response};
use sandboxer_e2b::connect::{self, Code, ConnectError, Decoder, EndOfStream};
use sandboxer_e2b::control::ErrorBody;
use sandboxer_e2b::envd::{ProcessEvent, ProcessEventMessage};
use sandboxer_ext_protocol::sdk::{ErrorKind, ErrorObject, ExtResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The longest a unary call or a file transfer may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// One sandbox's envd.
#[derive(Clone)]
pub struct Target {
    pub e2b_id: String,
    pub token: Option<String>,
}

#[derive(Clone)]
pub struct Envd {
    http: reqwest::Client,
    base: String,
}

/// A Connect error as the extension reports it.
pub fn from_connect(what: &str, e: ConnectError) -> ErrorObject {
    let kind = match e.code {
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists => ErrorKind::AlreadyExists,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidArgument,
        Code::FailedPrecondition => ErrorKind::FailedPrecondition,
        Code::ResourceExhausted => ErrorKind::ResourceExhausted,
        Code::DeadlineExceeded => ErrorKind::DeadlineExceeded,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::PermissionDenied,
        Code::Unavailable => ErrorKind::Unavailable,
        Code::Unimplemented => ErrorKind::Unimplemented,
        _ => ErrorKind::Internal,
    };
    ErrorObject::domain(kind, format!("E2B {what}: {}", e.message))
}

async fn refused(what: &str, response: Response) -> ErrorObject {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    if let Ok(e) = serde_json::from_slice::<ConnectError>(&body) {
        return from_connect(what, e);
    }
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(&body) {
        return ErrorObject::domain(
            crate::control::kind_of(what, status),
            format!("E2B {what}: {}", e.message),
        );
    }
    let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
    ErrorObject::domain(
        crate::control::kind_of(what, status),
        format!("E2B {what}: {status}: {text}"),
    )
}

impl Envd {
    pub fn new(http: reqwest::Client, base: &str) -> Envd {
        Envd {
            http,
            base: base.to_string(),
        }
    }

    fn call(&self, target: &Target, method: reqwest::Method, path: &str) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(sandboxer_e2b::SANDBOX_ID_HEADER, &target.e2b_id)
            .header("e2b-sandbox-port", sandboxer_e2b::ENVD_PORT.to_string());
        if let Some(token) = &target.token {
            request = request.header(sandboxer_e2b::ACCESS_TOKEN_HEADER, token);
        }
        request
    }

    async fn send(&self, what: &str, request: RequestBuilder) -> ExtResult<Response> {
        let response = request
            .send()
            .await
            .map_err(|e| crate::control::unreachable(what, e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refused(what, response).await)
        }
    }

    /// A unary RPC (`service/Method`).
    pub async fn unary<Q: Serialize, A: DeserializeOwned>(
        &self,
        target: &Target,
        method: &str,
        request: &Q,
    ) -> ExtResult<A> {
        let call = self
            .call(target, reqwest::Method::POST, &format!("/{method}"))
            .header("connect-protocol-version", "1")
            .timeout(CALL_TIMEOUT)
            .json(request);
        let response = self.send(method, call).await?;
        response
            .json()
            .await
            .map_err(|e| ErrorObject::domain(ErrorKind::Internal, format!("E2B {method}: {e}")))
    }

    /// A process's events (`Start` or `Connect` of `process.Process`) as they
    /// come, through `on_event`, until its end. A `timeout` (zero: none) is
    /// also the process's lifetime: envd kills it then.
    pub async fn stream<Q: Serialize>(
        &self,
        target: &Target,
        method: &str,
        request: &Q,
        timeout: Duration,
        mut on_event: impl FnMut(ProcessEvent) -> futures::future::BoxFuture<'static, ExtResult<()>>,
    ) -> ExtResult<()> {
        let mut call = self
            .call(
                target,
                reqwest::Method::POST,
                &format!("/process.Process/{method}"),
            )
            .header("connect-protocol-version", "1")
            .header(reqwest::header::CONTENT_TYPE, connect::STREAM_CONTENT_TYPE)
            .body(connect::envelope(request));
        if !timeout.is_zero() {
            call = call.header("connect-timeout-ms", timeout.as_millis().to_string());
        }
        let response = self.send(method, call).await?;
        let mut body = response.bytes_stream();
        let mut decoder = Decoder::default();
        loop {
            while let Some(frame) = decoder.next_frame().map_err(|e| from_connect(method, e))? {
                if frame.is_end() {
                    let end: EndOfStream =
                        connect::parse(&frame.payload).map_err(|e| from_connect("Start", e))?;
                    return match end.error {
                        Some(e) => Err(from_connect("Start", e)),
                        None => Ok(()),
                    };
                }
                let message: ProcessEventMessage =
                    connect::parse(&frame.payload).map_err(|e| from_connect("Start", e))?;
                on_event(message.event).await?;
            }
            match body.next().await {
                Some(Ok(bytes)) => decoder.push(&bytes),
                Some(Err(e)) => return Err(crate::control::unreachable("Start", e)),
                None => {
                    return Err(ErrorObject::domain(
                        ErrorKind::Unavailable,
                        "E2B Start: the stream ended before the process did",
                    ));
                }
            }
        }
    }

    /// `GET /files`: the whole file.
    pub async fn read(&self, target: &Target, path: &str) -> ExtResult<bytes::Bytes> {
        let call = self
            .call(target, reqwest::Method::GET, "/files")
            .query(&[("path", path)])
            .timeout(CALL_TIMEOUT);
        let response = self.send("read", call).await?;
        response
            .bytes()
            .await
            .map_err(|e| crate::control::unreachable("read", e))
    }

    /// `POST /files`: the file is `data` (a multipart part named `file`, as
    /// every envd version takes it).
    pub async fn write(&self, target: &Target, path: &str, data: Vec<u8>) -> ExtResult<()> {
        let part = reqwest::multipart::Part::bytes(data).file_name(path.to_string());
        let form = reqwest::multipart::Form::new().part("file", part);
        let call = self
            .call(target, reqwest::Method::POST, "/files")
            .query(&[("path", path)])
            .timeout(CALL_TIMEOUT)
            .multipart(form);
        self.send("write", call).await.map(|_| ())
    }
}
