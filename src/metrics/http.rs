//! The optional operations listener, as a Fabric peer's: `GET /metrics`, `GET /healthz`,
//! `GET /version`, `GET`/`PUT /logspec`. A minimal HTTP/1.1 responder on the service's
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

use std::time::SystemTime;

use super::exposition::CONTENT_TYPE;
use super::health::{self, FailedCheck};
use super::logspec::{self, LogSpec};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Largest `PUT /logspec` body accepted.
pub const MAX_BODY: usize = 4 * 1024;

/// Renders the metrics text at each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;
/// Runs the health checks at each `/healthz` probe.
pub type Health = Arc<dyn Fn() -> Vec<FailedCheck> + Send + Sync>;

/// What the listener answers from.
#[derive(Clone)]
pub struct Operations {
    pub render: Render,
    pub health: Health,
}

/// Binds `addr` and serves the operations endpoints until `stop` turns true.
pub async fn serve(
    addr: &str,
    ops: Operations,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "operations listener serving /metrics, /healthz, /version, /logspec");
    let handle = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((tcp, _)) => {
                    let ops = ops.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(tcp, &ops).await {
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
    Healthz,
    Version,
    LogspecGet,
    LogspecPut,
    /// Fabric answers any other method on `/logspec` with 400 and an error body.
    LogspecBadMethod,
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
        ("GET" | "HEAD", "/healthz") => Request::Healthz,
        ("GET" | "HEAD", "/version") => Request::Version,
        ("GET" | "HEAD", "/logspec") => Request::LogspecGet,
        ("PUT", "/logspec") => Request::LogspecPut,
        (_, "/logspec") => Request::LogspecBadMethod,
        ("GET" | "HEAD", _) => Request::NotFound,
        _ => Request::MethodNotAllowed,
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The `Content-Length` of a request head (0 when absent; `None` when malformed).
fn content_length(head: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(head);
    for line in text.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                return value.trim().parse().ok();
            }
        }
    }
    Some(0)
}

/// Reads the head and, for a body-carrying request, its body. `Ok(None)`: the client left;
/// an empty head: too large or malformed.
async fn read_request(tcp: &mut TcpStream) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let end = loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Ok(Some((Vec::new(), Vec::new())));
        }
    };
    let mut body = buf.split_off(end);
    let Some(len) = content_length(&buf).filter(|l| *l <= MAX_BODY) else {
        return Ok(Some((Vec::new(), Vec::new())));
    };
    while body.len() < len {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Some((buf, body)))
}

fn json(status: &'static str, value: serde_json::Value) -> (&'static str, &'static str, String) {
    (status, "application/json", format!("{value}\n"))
}

fn put_logspec(body: &[u8]) -> (&'static str, &'static str, String) {
    #[derive(serde::Deserialize)]
    struct Put {
        // Fabric takes a missing spec as the empty spec, which means `info`.
        #[serde(default)]
        spec: String,
    }
    let put: Put = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => {
            return json(
                "400 Bad Request",
                serde_json::json!({ "error": format!("invalid request body: {e}") }),
            )
        }
    };
    match LogSpec::parse(&put.spec) {
        Ok(spec) => {
            tracing::info!(spec = %spec.text, "log spec changed through /logspec");
            logspec::set_active(Some(spec));
            ("204 No Content", "application/json", String::new())
        }
        Err(e) => json(
            "400 Bad Request",
            serde_json::json!({ "error": e.to_string() }),
        ),
    }
}

async fn answer(mut tcp: TcpStream, ops: &Operations) -> std::io::Result<()> {
    let req = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut tcp)).await {
        Ok(r) => r?,
        Err(_) => Some((Vec::new(), Vec::new())),
    };
    let Some((head, body)) = req else {
        return Ok(());
    };
    let is_head = head.starts_with(b"HEAD ");
    let (status, ctype, body) = match classify(&head) {
        Request::Metrics => ("200 OK", CONTENT_TYPE, (ops.render)()),
        Request::Healthz => {
            let (code, body) = health::body(&(ops.health)(), SystemTime::now());
            let status = if code == 200 {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, "application/json", body + "\n")
        }
        Request::Version => json(
            "200 OK",
            serde_json::json!({
                "CommitSHA": option_env!("FABGOSSIP_COMMIT_SHA").unwrap_or("development build"),
                "Version": env!("CARGO_PKG_VERSION"),
            }),
        ),
        Request::LogspecGet => json(
            "200 OK",
            serde_json::json!({ "spec": logspec::current_text() }),
        ),
        Request::LogspecPut => put_logspec(&body),
        Request::LogspecBadMethod => {
            let method = String::from_utf8_lossy(head.split(|b| *b == b' ').next().unwrap_or(b""))
                .into_owned();
            json(
                "400 Bad Request",
                serde_json::json!({ "error": format!("invalid request method: {method}") }),
            )
        }
        Request::NotFound => (
            "404 Not Found",
            "text/plain",
            "served: /metrics, /healthz, /version, /logspec\n".into(),
        ),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".into(),
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
        assert_eq!(classify(b"GET /healthz HTTP/1.1\r\n\r\n"), Request::Healthz);
        assert_eq!(classify(b"GET /version HTTP/1.1\r\n\r\n"), Request::Version);
        assert_eq!(
            classify(b"GET /logspec HTTP/1.1\r\n\r\n"),
            Request::LogspecGet
        );
        assert_eq!(
            classify(b"PUT /logspec HTTP/1.1\r\n\r\n"),
            Request::LogspecPut
        );
        assert_eq!(
            classify(b"POST /logspec HTTP/1.1\r\n\r\n"),
            Request::LogspecBadMethod
        );
        assert_eq!(classify(b"garbage\r\n\r\n"), Request::Bad);
        assert_eq!(classify(b""), Request::Bad);
        assert_eq!(classify(b"GET /metrics SPDY/3\r\n\r\n"), Request::Bad);
    }

    #[tokio::test]
    async fn serves_metrics_and_stops() {
        let (stop_tx, stop_rx) = watch::channel(false);
        let render: Render = Arc::new(|| "# HELP m h\n# TYPE m counter\nm 1\n".to_string());
        let health: Health = Arc::new(|| {
            vec![FailedCheck {
                component: "gossip.comm".into(),
                reason: "stopped".into(),
            }]
        });
        let (addr, handle) = serve("127.0.0.1:0", Operations { render, health }, stop_rx)
            .await
            .unwrap();
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
        let h = get("/healthz").await;
        assert!(h.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{h}");
        assert!(
            h.contains(r#""failed_checks":[{"component":"gossip.comm","reason":"stopped"}]"#),
            "{h}"
        );
        let v = get("/version").await;
        assert!(
            v.contains(&format!(r#""Version":"{}""#, env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
        // A bad spec is refused with a JSON error; the body is read by its Content-Length.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let body = r#"{"spec":"gossip=loud"}"#;
        s.write_all(
            format!(
                "PUT /logspec HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(out.contains("loud"), "{out}");
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
