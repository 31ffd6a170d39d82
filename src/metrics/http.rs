//! The optional `GET /metrics` listener: a minimal HTTP/1.1 responder on the service's
//! runtime. One request per connection (`Connection: close`); a request head larger than
//! [`MAX_HEAD`] or slower than [`READ_TIMEOUT`] is answered with an error and dropped, so a
//! bad client costs one short-lived task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::exposition::CONTENT_TYPE;

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Renders the metrics text at each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Binds `addr` and serves `GET /metrics` until `stop` turns true.
pub async fn serve(
    addr: &str,
    render: Render,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "metrics listener serving GET /metrics");
    let handle = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((tcp, _)) => {
                    let render = render.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(tcp, &render).await {
                            tracing::debug!(error = %e, "metrics request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
        tracing::debug!(addr = %local, "metrics listener stopped");
    });
    Ok((local, handle))
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Metrics,
    NotFound,
    MethodNotAllowed,
    Bad,
}

/// Classifies a request head (`GET /metrics HTTP/1.1`, query string ignored).
pub fn classify(head: &[u8]) -> Request {
    let Some(line) = head.split(|b| *b == b'\n').next() else {
        return Request::Bad;
    };
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Request::Bad;
    }
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => Request::Metrics,
        ("GET" | "HEAD", _) => Request::NotFound,
        _ => Request::MethodNotAllowed,
    }
}

fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

async fn read_head(tcp: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if head_complete(&buf) {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Some(Vec::new()));
        }
    }
}

async fn answer(mut tcp: TcpStream, render: &Render) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut tcp)).await {
        Ok(r) => r?,
        Err(_) => Some(Vec::new()),
    };
    let Some(head) = head else { return Ok(()) };
    let is_head = head.starts_with(b"HEAD ");
    let (status, ctype, body) = match classify(&head) {
        Request::Metrics => ("200 OK", CONTENT_TYPE, render()),
        Request::NotFound => (
            "404 Not Found",
            "text/plain",
            "only /metrics is served\n".into(),
        ),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET is allowed\n".into(),
        ),
        Request::Bad => ("400 Bad Request", "text/plain", "bad request\n".into()),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !is_head {
        resp.extend_from_slice(body.as_bytes());
    }
    tcp.write_all(&resp).await?;
    tcp.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified() {
        assert_eq!(
            classify(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(
            classify(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(classify(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(
            classify(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        assert_eq!(classify(b"garbage\r\n\r\n"), Request::Bad);
        assert_eq!(classify(b""), Request::Bad);
        assert_eq!(classify(b"GET /metrics SPDY/3\r\n\r\n"), Request::Bad);
    }

    #[tokio::test]
    async fn serves_metrics_and_stops() {
        let (stop_tx, stop_rx) = watch::channel(false);
        let render: Render = Arc::new(|| "# HELP m h\n# TYPE m counter\nm 1\n".to_string());
        let (addr, handle) = serve("127.0.0.1:0", render, stop_rx).await.unwrap();
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(
            ok.ends_with("\r\n\r\n# HELP m h\n# TYPE m counter\nm 1\n"),
            "{ok}"
        );
        assert!(get("/other").await.starts_with("HTTP/1.1 404"));
        // An oversized head is refused, not buffered without bound.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&vec![b'a'; MAX_HEAD + 2048]).await;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("listener stops")
            .unwrap();
    }
}
