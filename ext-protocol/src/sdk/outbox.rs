//! The one stdout writer: every line the extension sends goes through one task, so
//! responses and notifications never interleave mid-line.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

enum Out {
    Line(String),
    Flush(oneshot::Sender<()>),
}

/// A handle for queueing lines to stdout. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Outbox(mpsc::UnboundedSender<Out>);

impl Outbox {
    /// Starts the writer task over `output`.
    pub(crate) fn start<W: AsyncWrite + Unpin + Send + 'static>(mut output: W) -> Outbox {
        let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                // Write everything already queued, then flush once.
                while let Some(out) = next.take() {
                    match out {
                        Out::Line(line) => {
                            if output.write_all(line.as_bytes()).await.is_err() {
                                // The host is gone; nobody can read us any more.
                                std::process::exit(0);
                            }
                        }
                        Out::Flush(done) => {
                            let _ = output.flush().await;
                            let _ = done.send(());
                        }
                    }
                    next = rx.try_recv().ok();
                }
                if output.flush().await.is_err() {
                    std::process::exit(0);
                }
            }
        });
        Outbox(tx)
    }

    /// Queues one complete line (ending in `\n`).
    pub(crate) fn send(&self, line: String) {
        let _ = self.0.send(Out::Line(line));
    }

    /// Waits until everything queued before this call is written and flushed.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.send(Out::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}
