//! Trees in as raw bytes: to an extension that declares `fs.tar_from_socket`,
//! the tar stream goes through a Unix socket the core listens on, in a folder
//! only this user can enter, and one `fs/tar_put` call names it; no base64,
//! no messages (a 100 MB tree is otherwise a hundred of each, through every
//! hop). Only a process of the extension's own process group may connect.

use super::Lease;
use crate::error::{Error, Result};
use bytes::Bytes;
use futures::stream::{Stream, StreamExt};
use sandboxer_ext_protocol::FsTarPutParams;
use sandboxer_ext_protocol::methods as m;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

/// How long the whole call may take: the stall limit below is what bounds a
/// transfer that stopped moving.
const WHOLE_CALL: Duration = Duration::from_secs(24 * 3600);

/// Whether the peer of `stream` runs in process group `group` (the
/// extension's: it leads a group of its own).
fn from_group(stream: &UnixStream, group: i32) -> bool {
    let Ok(Some(pid)) = stream.peer_cred().map(|c| c.pid()) else {
        return false;
    };
    // SAFETY: getpgid only reads the group of a process.
    let theirs = unsafe { libc::getpgid(pid) };
    group > 0 && theirs == group
}

/// Why feeding the socket stopped.
enum Fed {
    /// The caller's body failed (it went away): the call is dropped.
    Body(Error),
    /// The extension stopped reading: its answer says why.
    Socket(std::io::Error),
}

/// Unpacks `body` into folder `path` through a socket; the bytes received.
pub async fn put<S>(
    lease: &Lease,
    base: FsTarPutParams,
    mut body: S,
    stall: Duration,
) -> Result<u64>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let folder = tempfile::Builder::new()
        .prefix("sandboxer-tree-")
        .tempdir()
        .map_err(|e| Error::Backend(format!("making the upload's socket folder: {e}")))?;
    let path = folder.path().join("in.sock");
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::Backend(format!("listening on {}: {e}", path.display())))?;
    let params = FsTarPutParams {
        from_socket: Some(path.display().to_string()),
        ..base
    };
    let group = lease.process_id();
    let call = lease.request_within::<m::FsTarPut>(&params, WHOLE_CALL);
    tokio::pin!(call);
    let feed = async {
        let mut socket = loop {
            let (stream, _) = listener.accept().await.map_err(Fed::Socket)?;
            if from_group(&stream, group) {
                break stream;
            }
            tracing::warn!("a process outside the extension connected to its upload socket");
        };
        let mut sent = 0u64;
        loop {
            let piece = match tokio::time::timeout(stall, body.next()).await {
                Ok(Some(piece)) => piece.map_err(Fed::Body)?,
                Ok(None) => break,
                Err(_) => {
                    return Err(Fed::Body(Error::Invalid(format!(
                        "the upload stalled: nothing came for {}s",
                        stall.as_secs()
                    ))));
                }
            };
            match tokio::time::timeout(stall, socket.write_all(&piece)).await {
                Ok(written) => written.map_err(Fed::Socket)?,
                Err(_) => {
                    return Err(Fed::Socket(std::io::Error::other(format!(
                        "the extension took nothing for {}s",
                        stall.as_secs()
                    ))));
                }
            }
            sent += piece.len() as u64;
        }
        socket.shutdown().await.map_err(Fed::Socket)?;
        Ok(sent)
    };
    tokio::pin!(feed);
    let fed = tokio::select! {
        // An answer before the stream's end is an error (or a broken
        // extension): it is what the caller gets.
        answer = &mut call => {
            return match answer {
                Ok(put) => Err(Error::Backend(format!(
                    "the extension answered after {} bytes, before the stream's end",
                    put.received
                ))),
                Err(e) => Err(e.into()),
            };
        }
        fed = &mut feed => fed,
    };
    match fed {
        Ok(sent) => {
            let put = call.await?;
            if put.received != sent {
                return Err(Error::Backend(format!(
                    "the extension received {} of the {sent} bytes sent",
                    put.received
                )));
            }
            Ok(sent)
        }
        // Dropping the call cancels it: the extension stops unpacking.
        Err(Fed::Body(e)) => Err(e),
        Err(Fed::Socket(e)) => match call.await {
            Err(answer) => Err(answer.into()),
            Ok(_) => Err(Error::Backend(format!("the upload's socket failed: {e}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_process_of_the_group_is_taken_for_the_extension() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        // SAFETY: getpgrp has no preconditions.
        let group = unsafe { libc::getpgrp() };
        assert!(from_group(&ours, group));
        assert!(!from_group(&ours, group + 1));
        assert!(!from_group(&ours, 0));
    }
}
