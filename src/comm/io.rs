//! The byte streams gRPC runs over: plain TCP or TLS over TCP, for both roles, with what
//! the server needs to know about the remote (address, certificate actually presented).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use crate::sync::MutexExt;
use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What an accepted connection tells the gossip service: tonic puts it in every request's
/// extensions.
#[derive(Clone, Debug)]
pub(crate) struct PeerConnInfo {
    pub remote_addr: Option<SocketAddr>,
    /// DER of the first certificate the client presented, when TLS is on and it sent one.
    pub peer_cert: Option<Vec<u8>>,
}

/// The HTTP/2 connections under gRPC run in tasks tonic and hyper spawn, which a stop cannot
/// join. A peer that stops reading keeps such a task waiting forever; killing its stream makes
/// every read and write fail, so the task ends.
#[derive(Default)]
pub(crate) struct IoKill {
    killed: AtomicBool,
    waker: AtomicWaker,
}

impl IoKill {
    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Registers the polling task, then reports whether the stream is dead.
    fn check(&self, cx: &mut Context<'_>) -> Result<(), io::Error> {
        self.waker.register(cx.waker());
        if self.killed.load(Ordering::Acquire) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "gossip comm stopped",
            ))
        } else {
            Ok(())
        }
    }
}

/// Every live stream's kill switch.
#[derive(Default)]
pub(crate) struct IoKills {
    live: Mutex<Vec<Weak<IoKill>>>,
}

impl IoKills {
    pub(crate) fn register(&self) -> Arc<IoKill> {
        let k = Arc::new(IoKill::default());
        let mut live = self.live.locked();
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&k));
        k
    }

    pub(crate) fn kill_all(&self) -> usize {
        let live = std::mem::take(&mut *self.live.locked());
        let mut n = 0;
        for k in live.iter().filter_map(Weak::upgrade) {
            k.kill();
            n += 1;
        }
        n
    }
}

/// A byte stream that can be killed from outside.
pub(crate) struct Killable<T> {
    inner: T,
    kill: Arc<IoKill>,
}

impl<T> Killable<T> {
    pub(crate) fn new(inner: T, kill: Arc<IoKill>) -> Self {
        Killable { inner, kill }
    }
}

/// A server-side connection.
pub(crate) type ServerIo = Killable<ServerStream>;

pub(crate) enum ServerStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

pub(crate) enum ClientStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for ServerIo {
    type ConnectInfo = PeerConnInfo;

    fn connect_info(&self) -> PeerConnInfo {
        match &self.inner {
            ServerStream::Plain(s) => PeerConnInfo {
                remote_addr: s.peer_addr().ok(),
                peer_cert: None,
            },
            ServerStream::Tls(s) => {
                let (tcp, session) = s.get_ref();
                PeerConnInfo {
                    remote_addr: tcp.peer_addr().ok(),
                    peer_cert: session
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec()),
                }
            }
        }
    }
}

// Both variants are Unpin, so delegating through `Pin::new` is sound.
macro_rules! delegate_io {
    ($ty:ident) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_read(cx, buf),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
                }
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $ty::Plain(s) => s.is_write_vectored(),
                    $ty::Tls(s) => s.is_write_vectored(),
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_flush(cx),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_shutdown(cx),
                    $ty::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_io!(ServerStream);
delegate_io!(ClientStream);

impl<T: AsyncRead + Unpin> AsyncRead for Killable<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.kill.check(cx)?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Killable<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.kill.check(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.kill.check(cx)?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.kill.check(cx)?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A killed stream is done: report success so the caller drops it and the socket.
        if this.kill.check(cx).is_err() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
