//! QEMU's machine protocol over a machine's unix socket: one JSON object per
//! line; a greeting, `qmp_capabilities`, then commands, each answered by
//! `return` or `error` (asynchronous `event`s in between are skipped).

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// How long one QMP exchange may take.
const EXCHANGE: Duration = Duration::from_secs(30);

pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    /// Connects to `socket` and leaves capabilities negotiation done.
    pub async fn connect(socket: &Path) -> Result<Qmp, String> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| format!("QMP {}: {e}", socket.display()))?;
        let (read, writer) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = qmp.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(format!("QMP: unexpected greeting {greeting}"));
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs `command`; its `return` value, or its `error` as text.
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("QMP {command}: {e}"))?;
        loop {
            let answer = self.read_message().await?;
            if let Some(value) = answer.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = answer.get("error") {
                return Err(format!(
                    "QMP {command}: {}",
                    error["desc"].as_str().unwrap_or("error")
                ));
            }
        }
    }

    async fn read_message(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let read = tokio::time::timeout(EXCHANGE, self.reader.read_line(&mut line))
            .await
            .map_err(|_| "QMP: no answer in time".to_string())?
            .map_err(|e| format!("QMP: {e}"))?;
        if read == 0 {
            return Err("QMP: the machine closed the connection".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("QMP: {e}: {line}"))
    }

    /// Waits until the running migration (outgoing or incoming) completes.
    pub async fn wait_migration(&mut self, limit: Duration) -> Result<(), String> {
        let started = std::time::Instant::now();
        loop {
            let status = self.execute("query-migrate", None).await?;
            match status["status"].as_str() {
                Some("completed") => return Ok(()),
                Some("failed") | Some("cancelled") => {
                    return Err(format!(
                        "migration {}: {}",
                        status["status"].as_str().unwrap_or_default(),
                        status["error-desc"].as_str().unwrap_or("no reason given")
                    ));
                }
                _ if started.elapsed() > limit => {
                    return Err(format!("migration not done after {limit:?}"));
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Saves the stopped machine's state to `file`.
    pub async fn save_to(&mut self, file: &Path) -> Result<(), String> {
        self.execute("stop", None).await?;
        let uri = format!("file:{}", file.display());
        self.execute("migrate", Some(json!({ "uri": uri }))).await?;
        self.wait_migration(Duration::from_secs(120)).await
    }

    /// Loads a saved state into a machine started with `-incoming defer`, and runs it.
    pub async fn restore_from(&mut self, file: &Path) -> Result<(), String> {
        let uri = format!("file:{}", file.display());
        self.execute("migrate-incoming", Some(json!({ "uri": uri })))
            .await?;
        self.wait_migration(Duration::from_secs(120)).await?;
        self.execute("cont", None).await.map(drop)
    }
}
