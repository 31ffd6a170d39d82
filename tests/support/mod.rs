//! What the in-process multi-peer tests share: ports, data directories, polling with deadlines.
//! Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A free port below the kernel's ephemeral range, so an outgoing connection of a peer already
/// running cannot take it before the peer meant to listen on it binds it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Test binaries start at different places (by process id) and walk upwards.
    let start = 10_000 + (std::process::id() % 2_000) as u16 * 10;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(
            port < 32_000,
            "no free loopback port below the ephemeral range"
        );
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A new directory under the system temp dir, named after the test and this process.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "fabgossip-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `cond` until it holds; false when `limit` passed first.
pub async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` until it holds; fails the test, naming `what`, when `limit` passes first.
pub async fn wait_until(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    assert!(
        wait_for(limit, cond).await,
        "timed out waiting until {what}"
    );
}
