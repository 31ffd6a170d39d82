//! Admission of inbound connections: bounded resources at the network edge.
//!
//! Every accepted TCP connection gets a ticket before any byte is read, or is closed at once:
//! - when the process is within `fd_reserve` file descriptors of its `RLIMIT_NOFILE` soft
//!   limit, so joins, ledgers and dials still find descriptors (`fd_reserve`);
//! - when its remote IP address already holds `max_per_address` connections (`per_address`).
//!
//! A connection is *unauthenticated* until a gossip stream on it passes the ConnEstablish
//! check. Unauthenticated connections are bounded by `max_unauthenticated`: a new one evicts
//! the oldest (`unauthenticated_evicted`), so a flood of silent connections cannot keep an
//! honest peer, whose handshake takes milliseconds, from joining. Each must authenticate within
//! `handshake_timeout` of its accept (TLS handshake, HTTP/2 preface, first stream and
//! ConnEstablish together), or it is closed (`handshake_deadline`).
//!
//! Enforcement lives in [`Admitted`], the byte stream under the HTTP/2 server: once evicted or
//! past its deadline, every read and write fails and the server drops the connection. Its
//! ticket returns the slot when the stream is dropped.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::metrics::{CommMetrics, Refusal};
use crate::config::AdmissionConfig;
use crate::sync::MutexExt;

/// The shared fate of one admitted connection.
#[derive(Default)]
struct Gate {
    authenticated: AtomicBool,
    evicted: AtomicBool,
    /// Set once the deadline closed it, so it is counted once.
    expired: AtomicBool,
    /// The task polling the stream, woken on eviction.
    waker: AtomicWaker,
    /// The TLS handshake task, woken on eviction.
    notify: Notify,
}

impl Gate {
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.waker.wake();
        self.notify.notify_waiters();
    }

    async fn wait_evicted(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.evicted.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

struct Entry {
    seq: u64,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Table {
    per_ip: HashMap<IpAddr, usize>,
    /// Unauthenticated connections, oldest first.
    pending: BTreeMap<u64, SocketAddr>,
    by_addr: HashMap<SocketAddr, Entry>,
    next_seq: u64,
}

/// The admission state of one listener.
pub(crate) struct Admission {
    cfg: AdmissionConfig,
    table: Mutex<Table>,
    fds: FdBudget,
    metrics: Arc<CommMetrics>,
}

impl Admission {
    pub(crate) fn new(cfg: AdmissionConfig, metrics: Arc<CommMetrics>) -> Arc<Self> {
        Arc::new(Admission {
            cfg,
            table: Mutex::new(Table::default()),
            fds: FdBudget::new(cfg.fd_reserve),
            metrics,
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.locked()
    }

    /// Decides on a connection just accepted from `remote`.
    pub(crate) fn admit(self: &Arc<Self>, remote: SocketAddr) -> Result<Ticket, Refusal> {
        let ip = remote.ip().to_canonical();
        let mut t = self.table();
        if !self.fds.has_room(t.by_addr.len()) {
            self.metrics.refused(Refusal::FdReserve);
            return Err(Refusal::FdReserve);
        }
        if t.per_ip.get(&ip).copied().unwrap_or(0) >= self.cfg.max_per_address {
            self.metrics.refused(Refusal::PerAddress);
            return Err(Refusal::PerAddress);
        }
        while t.pending.len() >= self.cfg.max_unauthenticated {
            let Some((_, oldest)) = t.pending.pop_first() else {
                break;
            };
            if let Some(e) = t.by_addr.get(&oldest) {
                e.gate.evict();
                self.metrics.refused(Refusal::UnauthenticatedEvicted);
            }
        }
        let gate = Arc::new(Gate::default());
        let seq = t.next_seq;
        t.next_seq += 1;
        // A reused remote address means the old connection's ticket is gone or about to go:
        // the newer one takes the slot, the older one's release then finds nothing to undo.
        if let Some(old) = t.by_addr.insert(
            remote,
            Entry {
                seq,
                gate: gate.clone(),
            },
        ) {
            t.pending.remove(&old.seq);
            old.gate.evict();
            Self::dec_ip(&mut t, ip);
        }
        t.pending.insert(seq, remote);
        *t.per_ip.entry(ip).or_insert(0) += 1;
        self.publish(&t);
        Ok(Ticket {
            admission: self.clone(),
            remote,
            seq,
            gate,
            deadline: Instant::now() + self.cfg.handshake_timeout,
        })
    }

    /// A gossip stream from `remote` passed the ConnEstablish check: its connection is no
    /// longer bound by the handshake deadline nor counted as unauthenticated.
    pub(crate) fn authenticated(&self, remote: Option<SocketAddr>) {
        let Some(remote) = remote else { return };
        let mut t = self.table();
        let Some(e) = t.by_addr.get(&remote) else {
            return;
        };
        e.gate.authenticated.store(true, Ordering::Release);
        let seq = e.seq;
        t.pending.remove(&seq);
        self.publish(&t);
    }

    fn release(&self, remote: SocketAddr, seq: u64) {
        let mut t = self.table();
        if t.by_addr.get(&remote).is_none_or(|e| e.seq != seq) {
            return;
        }
        t.by_addr.remove(&remote);
        t.pending.remove(&seq);
        Self::dec_ip(&mut t, remote.ip().to_canonical());
        self.publish(&t);
    }

    fn dec_ip(t: &mut Table, ip: IpAddr) {
        if let Some(n) = t.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                t.per_ip.remove(&ip);
            }
        }
    }

    fn publish(&self, t: &Table) {
        self.metrics
            .set_admitted(t.by_addr.len() as u64, t.pending.len() as u64);
    }
}

/// An admitted connection's slot; returned when dropped.
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    remote: SocketAddr,
    seq: u64,
    gate: Arc<Gate>,
    deadline: Instant,
}

impl Ticket {
    /// When the connection must have authenticated.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Resolves if the connection is evicted (for the TLS handshake, before [`Admitted`]).
    pub(crate) async fn evicted(&self) {
        self.gate.wait_evicted().await
    }

    /// Counts a deadline that expired before the stream was wrapped (TLS handshake).
    pub(crate) fn expired(&self) {
        if !self.gate.expired.swap(true, Ordering::AcqRel) {
            self.admission.metrics.refused(Refusal::HandshakeDeadline);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.remote, self.seq);
    }
}

/// A byte stream bound by its ticket: reads and writes fail once the connection is evicted
/// or its handshake deadline passes unauthenticated.
pub(crate) struct Admitted<T> {
    inner: T,
    deadline: Pin<Box<Sleep>>,
    ticket: Ticket,
}

impl<T> Admitted<T> {
    pub(crate) fn new(inner: T, ticket: Ticket) -> Self {
        Admitted {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(ticket.deadline)),
            ticket,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let gate = &self.ticket.gate;
        if gate.evicted.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "evicted: too many unauthenticated connections",
            ));
        }
        if gate.authenticated.load(Ordering::Acquire) {
            return Ok(());
        }
        gate.waker.register(cx.waker());
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.ticket.expired();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no authenticated gossip stream within the handshake deadline",
            ));
        }
        Ok(())
    }
}

impl tonic::transport::server::Connected for Admitted<super::io::ServerIo> {
    type ConnectInfo = super::io::PeerConnInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Admitted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Admitted<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A refused stream is done: report success so the server drops it and the socket.
        if this.check(cx).is_err() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// How close the process is to its file-descriptor limit. Counting `/proc/self/fd` costs
/// a directory read, so it is sampled at most every [`FD_SAMPLE_INTERVAL`]; in between, the
/// estimate follows the connections admitted since.
struct FdBudget {
    reserve: usize,
    sample: Mutex<Option<FdSample>>,
}

const FD_SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Clone, Copy)]
struct FdSample {
    at: Instant,
    open: usize,
    limit: usize,
    /// Admitted connections when sampled.
    admitted: usize,
}

impl FdBudget {
    fn new(reserve: usize) -> Self {
        FdBudget {
            reserve,
            sample: Mutex::new(None),
        }
    }

    /// Whether one more connection (already accepted, so already holding its descriptor)
    /// leaves `reserve` descriptors free. `admitted` = connections held before this one.
    fn has_room(&self, admitted: usize) -> bool {
        if self.reserve == 0 {
            return true;
        }
        let mut slot = self.sample.locked();
        let now = Instant::now();
        let fresh = match *slot {
            Some(s) if now.duration_since(s.at) < FD_SAMPLE_INTERVAL => s,
            _ => {
                let Some((open, limit)) = fd_usage() else {
                    return true;
                };
                let s = FdSample {
                    at: now,
                    open,
                    limit,
                    admitted,
                };
                *slot = Some(s);
                s
            }
        };
        let open = (fresh.open + admitted).saturating_sub(fresh.admitted);
        open.saturating_add(self.reserve) <= fresh.limit
    }
}

/// Open descriptors and the soft `RLIMIT_NOFILE`, where the platform tells.
#[cfg(target_os = "linux")]
fn fd_usage() -> Option<(usize, usize)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    let limit = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    // The directory handle itself is one of the entries.
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count();
    Some((open, limit))
}

#[cfg(not(target_os = "linux"))]
fn fd_usage() -> Option<(usize, usize)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    fn admission(max_unauth: usize, per_addr: usize) -> (Arc<Admission>, Arc<CommMetrics>) {
        let m = Arc::new(CommMetrics::default());
        let cfg = AdmissionConfig {
            handshake_timeout: Duration::from_secs(60),
            max_unauthenticated: max_unauth,
            max_per_address: per_addr,
            fd_reserve: 0,
        };
        (Admission::new(cfg, m.clone()), m)
    }

    #[tokio::test]
    async fn per_address_cap_refuses_and_frees_on_drop() {
        let (a, m) = admission(100, 2);
        let t1 = a.admit(addr([10, 0, 0, 1], 1)).unwrap();
        let _t2 = a.admit(addr([10, 0, 0, 1], 2)).unwrap();
        assert_eq!(
            a.admit(addr([10, 0, 0, 1], 3)).err(),
            Some(Refusal::PerAddress)
        );
        // Another address is not affected.
        let _t3 = a.admit(addr([10, 0, 0, 2], 1)).unwrap();
        drop(t1);
        let _t4 = a.admit(addr([10, 0, 0, 1], 4)).unwrap();
        let s = m.snapshot();
        assert_eq!(s.connections_refused.per_address, 1);
        assert_eq!(s.admitted_connections, 3);
    }

    #[tokio::test]
    async fn full_pending_set_evicts_the_oldest() {
        let (a, m) = admission(2, 100);
        let t1 = a.admit(addr([10, 0, 0, 1], 1)).unwrap();
        let t2 = a.admit(addr([10, 0, 0, 2], 1)).unwrap();
        a.authenticated(Some(addr([10, 0, 0, 2], 1)));
        let t3 = a.admit(addr([10, 0, 0, 3], 1)).unwrap();
        assert!(!t1.gate.evicted.load(Ordering::Acquire));
        let _t4 = a.admit(addr([10, 0, 0, 4], 1)).unwrap();
        // t2 authenticated, so t1 was the oldest unauthenticated one.
        assert!(t1.gate.evicted.load(Ordering::Acquire));
        assert!(!t2.gate.evicted.load(Ordering::Acquire));
        assert!(!t3.gate.evicted.load(Ordering::Acquire));
        let s = m.snapshot();
        assert_eq!(s.connections_refused.unauthenticated_evicted, 1);
        assert_eq!(s.unauthenticated_connections, 2);
        assert_eq!(s.admitted_connections, 4);
        drop(t1);
        assert_eq!(m.snapshot().admitted_connections, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn unauthenticated_stream_fails_at_the_deadline() {
        let (a, m) = admission(10, 10);
        let (client, server) = tokio::io::duplex(64);
        let ticket = a.admit(addr([10, 0, 0, 1], 1)).unwrap();
        let mut s = Admitted::new(server, ticket);
        let mut buf = [0u8; 8];
        let read = tokio::io::AsyncReadExt::read(&mut s, &mut buf);
        let err = read.await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(m.snapshot().connections_refused.handshake_deadline, 1);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn authenticated_stream_outlives_the_deadline() {
        let (a, m) = admission(10, 10);
        let (mut client, server) = tokio::io::duplex(64);
        let ticket = a.admit(addr([10, 0, 0, 1], 1)).unwrap();
        let mut s = Admitted::new(server, ticket);
        a.authenticated(Some(addr([10, 0, 0, 1], 1)));
        tokio::time::sleep(Duration::from_secs(120)).await;
        tokio::io::AsyncWriteExt::write_all(&mut client, b"hi")
            .await
            .unwrap();
        let mut buf = [0u8; 2];
        tokio::io::AsyncReadExt::read_exact(&mut s, &mut buf)
            .await
            .unwrap();
        assert_eq!(&buf, b"hi");
        let snap = m.snapshot();
        assert_eq!(snap.connections_refused.handshake_deadline, 0);
        assert_eq!(snap.unauthenticated_connections, 0);
    }

    #[tokio::test]
    async fn evicted_stream_fails_a_pending_read() {
        let (a, _m) = admission(1, 10);
        let (_client, server) = tokio::io::duplex(64);
        let ticket = a.admit(addr([10, 0, 0, 1], 1)).unwrap();
        let mut s = Admitted::new(server, ticket);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            tokio::io::AsyncReadExt::read(&mut s, &mut buf).await
        });
        tokio::task::yield_now().await;
        let _newer = a.admit(addr([10, 0, 0, 2], 1)).unwrap();
        let err = reader.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[test]
    fn fd_reserve_beyond_the_limit_refuses() {
        let Some((_, limit)) = fd_usage() else {
            return;
        };
        let b = FdBudget::new(limit);
        assert!(!b.has_room(0));
        let b = FdBudget::new(1);
        assert!(b.has_room(0));
    }

    #[test]
    fn zero_limits_are_config_errors() {
        let ok = AdmissionConfig::default();
        assert!(ok.check().is_ok());
        for bad in [
            AdmissionConfig {
                handshake_timeout: Duration::ZERO,
                ..ok
            },
            AdmissionConfig {
                max_unauthenticated: 0,
                ..ok
            },
            AdmissionConfig {
                max_per_address: 0,
                ..ok
            },
        ] {
            assert!(bad.check().is_err());
        }
    }
}
