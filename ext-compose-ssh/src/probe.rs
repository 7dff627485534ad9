//! Readiness probes run from the extension: an HTTP GET over plain TCP to a
//! published endpoint (what a consumer will use), answered 2xx or 3xx.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `path` from `host:port`; returns the status code.
pub async fn http_status(
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let exchange = async {
        let mut stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send to {host}:{port}: {e}"))?;
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read from {host}:{port}: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let status = line
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("{host}:{port} did not answer HTTP"))?;
        Ok(status)
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        format!(
            "{host}:{port} did not answer within {}s",
            timeout.as_secs_f64()
        )
    })?
}

/// Whether a status means "serving".
pub fn is_ok(status: u16) -> bool {
    (200..400).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve_once(answer: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer.as_bytes()).await;
        });
        port
    }

    #[tokio::test]
    async fn reads_the_status_line() {
        let port = serve_once("HTTP/1.0 204 No Content\r\n\r\n").await;
        assert_eq!(
            http_status("127.0.0.1", port, "/", Duration::from_secs(2)).await,
            Ok(204)
        );
        let port = serve_once("garbage").await;
        assert!(
            http_status("127.0.0.1", port, "/", Duration::from_secs(2))
                .await
                .is_err()
        );
        assert!(is_ok(301) && !is_ok(404));
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(
            http_status("127.0.0.1", port, "/", Duration::from_secs(2))
                .await
                .is_err()
        );
    }
}
