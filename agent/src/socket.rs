//! Where the agent is found inside a sandbox: an abstract Unix socket named
//! after the sandbox's mount namespace (unique per container even when several
//! share a network namespace, as a pod's do). `connect` reaches the agent,
//! starting it as a daemon of its own session first when none answers, and
//! joins its own stdin and stdout to it; so commands started over one
//! connection outlive it and are found again over the next. Both ends check
//! that the other runs as the same user: code of another user in the sandbox
//! can neither use the agent nor stand in for it.

use crate::service::{Agent, state};
use sandboxer_ext_protocol::sdk::run;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};

/// How long `connect` waits for a daemon it started to listen.
const START_WITHIN: Duration = Duration::from_secs(5);
/// The most `connect` moves in one read.
const RELAY_BUFFER: usize = 256 * 1024;
/// How often idle transfers are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The socket's name in the abstract namespace.
pub fn name() -> io::Result<String> {
    let ns = std::fs::read_link("/proc/self/ns/mnt")?;
    Ok(format!("sandboxer-agent/{}", ns.display()))
}

fn address(name: &str) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(name.as_bytes())
}

fn same_user(stream: &UnixStream) -> bool {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    stream.peer_cred().is_ok_and(|c| c.uid() == me)
}

/// Listens and serves every connection of our own user until killed. Another
/// agent already listening is not an error: this one leaves.
pub async fn serve(name: &str) -> io::Result<()> {
    let listener = match std::os::unix::net::UnixListener::bind_addr(&address(name)?) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Ok(()),
        Err(e) => return Err(e),
    };
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    tokio::spawn(async {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            state().transfers.sweep();
        }
    });
    loop {
        let (stream, _) = listener.accept().await?;
        if !same_user(&stream) {
            continue;
        }
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            run::<Agent, _, _>(read, write).await
        });
    }
}

async fn reach(name: &str) -> io::Result<UnixStream> {
    let addr = address(name)?;
    let std = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    std.set_nonblocking(true)?;
    let stream = UnixStream::from_std(std)?;
    if !same_user(&stream) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the agent's socket is held by another user",
        ));
    }
    Ok(stream)
}

/// Starts `serve` as a daemon: a session of its own, no terminal, no stdio.
fn start_daemon() -> io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::setsid();
            Ok(())
        });
    }
    command.spawn().map(drop)
}

/// Copies `from` to `to` until the end of `from`, each read written out at
/// once (no line buffering: a message must not wait for the next).
fn relay(from: &mut impl io::Read, to: &mut impl io::Write) -> io::Result<()> {
    let mut buf = vec![0u8; RELAY_BUFFER];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}

/// Joins stdin and stdout to the agent, starting it when none answers.
pub async fn connect(name: &str) -> io::Result<()> {
    let stream = match reach(name).await {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
        Err(_) => {
            start_daemon()?;
            let started = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                match reach(name).await {
                    Ok(s) => break s,
                    Err(e) if started.elapsed() > START_WITHIN => return Err(e),
                    Err(_) => {}
                }
            }
        }
    };
    // Plain threads and large reads: tokio's stdin hands every 8 KiB read to a
    // blocking thread, which made large transfers crawl.
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    let (to_agent, from_agent) = (stream.try_clone()?, stream);
    let (ended, end) = std::sync::mpsc::channel::<()>();
    let up_ended = ended.clone();
    std::thread::spawn(move || {
        let mut to_agent = to_agent;
        let _ = relay(&mut io::stdin().lock(), &mut to_agent);
        let _ = to_agent.shutdown(std::net::Shutdown::Write);
        let _ = up_ended.send(());
    });
    std::thread::spawn(move || {
        let mut from_agent = from_agent;
        let _ = relay(&mut from_agent, &mut io::stdout().lock());
        let _ = ended.send(());
    });
    // Either side ending ends the connection.
    let _ = tokio::task::spawn_blocking(move || end.recv()).await;
    Ok(())
}
