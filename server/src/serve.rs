//! Running the daemon: bind (loopback unless tokens are configured), start the
//! loops, serve until SIGTERM or Ctrl-C, then finish in-flight requests and shut
//! the extensions down by the protocol.

use super::{App, LoopCounters, Principal, Tokens, app};
use sandboxer_core::api::tokens::new_token;
use sandboxer_core::attribution::{Consumer, ConsumerKind};
use sandboxer_core::error::{Error, Result};
use sandboxer_core::operations::Core;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the daemon writes its generated admin token when none is configured.
pub fn token_file(state: &Path) -> PathBuf {
    state.with_file_name("daemon.token")
}

/// What the daemon tells its operator; the `serve` command prints these (the
/// library itself never prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// No tokens are configured: an admin token for this run was written here.
    TokenWritten(PathBuf),
    /// Accepting connections (the first line `serve` prints on stdout).
    Listening(SocketAddr),
    /// A shutdown signal came: requests in flight are being finished.
    ShuttingDown,
}

/// Serves until a shutdown signal. `listen` overrides the configured address.
pub async fn serve(
    core: Core,
    state_path: &Path,
    listen: Option<String>,
    notify: fn(Notice),
) -> Result<()> {
    let config = &core.config.daemon;
    let listen = listen.unwrap_or_else(|| config.listen.clone());
    let addr: SocketAddr = listen.parse().map_err(|e| {
        Error::Config(format!(
            "daemon.listen {listen:?}: {e} (write it like 127.0.0.1:7070)"
        ))
    })?;
    let mut tokens = Tokens::from_config(&config.tokens).map_err(Error::Config)?;
    if tokens.is_empty() {
        if !addr.ip().is_loopback() {
            return Err(Error::Refused(format!(
                "refusing to listen on {addr} without tokens: configure daemon.tokens \
                 (sandboxer token new) or listen on 127.0.0.1"
            )));
        }
        let token = new_token();
        let file = token_file(state_path);
        write_private(&file, &token)?;
        notify(Notice::TokenWritten(file.clone()));
        tokens.add(
            &token,
            Principal {
                consumer: Consumer {
                    kind: ConsumerKind::Adm,
                    name: "local".into(),
                },
                project: "default".into(),
                admin: true,
            },
        );
    }
    let limits = super::listener::ConnectionLimits {
        max_connections: config.max_connections.max(1),
        header_timeout: config.header_timeout,
    };
    let core = Arc::new(core);
    let counters = Arc::new(LoopCounters::default());
    let stopping = tokio_util::sync::CancellationToken::new();
    let state = Arc::new(App {
        core: core.clone(),
        tokens,
        counters: counters.clone(),
        stopping: stopping.clone(),
        e2b: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Config(e.to_string()))?;
    notify(Notice::Listening(bound));
    let loops = super::loops::start(core.clone(), counters);
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        notify(Notice::ShuttingDown);
        stopping.cancel();
    };
    super::listener::serve(listener, app(state), limits, shutdown)
        .await
        .map_err(|e| Error::Config(format!("serving: {e}")))?;
    loops.abort();
    if let Some(resident) = core.resident_extensions() {
        resident.shutdown_all().await;
    }
    Ok(())
}

/// Writes `text` to a new file only its owner can read: any file (or symbolic
/// link) already there is removed first, and the new one is created exclusively,
/// without following a link, so no one can redirect the token elsewhere.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let failed = |e: std::io::Error| Error::Config(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::Config(format!("{}: {e}", dir.display())))?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e)),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(failed)?;
    writeln!(file, "{text}").map_err(failed)
}
