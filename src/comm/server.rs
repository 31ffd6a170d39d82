//! The server side: the listener (admission, then TLS accepted off the accept loop), the tonic
//! server and the `gossip.Gossip` service (`GossipStream`, `Ping`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::admission::{Admission, Admitted, Ticket};
use super::conn::{Connection, Direction, Pipe};
use super::handshake::{self, HandshakeError};
use super::io::{Killable, PeerConnInfo, ServerIo, ServerStream};
use super::metrics::{HandshakeFailure, Refusal};
use super::peer_history::{Contact, ContactDirection, ContactOutcome, Notice};
use super::shared::Shared;
use super::ConnectionInfo;
use crate::proto::gossip::gossip_server::{Gossip, GossipServer};
use crate::proto::gossip::{Empty, Envelope};

/// Fabric's `handshakeTimeout`: a TLS handshake that takes longer is abandoned (sooner when
/// the admission deadline comes first).
const TLS_ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Server keepalive as Fabric's peer server (7200 s interval, 20 s timeout).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(7200);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Streams one HTTP/2 connection may open at once: a gossip connection needs one stream and
/// a Ping at a time.
const MAX_STREAMS_PER_CONNECTION: u32 = 16;
/// The least time between two warnings about refused connections.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

type Incoming = Result<Admitted<ServerIo>, std::io::Error>;

/// Starts the accept loop and the gRPC server on `listener`, both as tracked tasks that end
/// on shutdown.
pub(crate) fn spawn(shared: &Arc<Shared>, listener: TcpListener) {
    let (tx, rx) = mpsc::channel::<Incoming>(64);
    let admission = Admission::new(shared.cfg.admission, shared.metrics.clone());
    let (s, a) = (shared.clone(), admission.clone());
    shared.spawn(async move { accept_loop(s, a, listener, tx).await });

    let s = shared.clone();
    shared.spawn(async move {
        let max = s.cfg.max_message_size;
        let svc = GossipServer::new(GossipService {
            shared: s.clone(),
            admission,
        })
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
        let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
        let result = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
            .add_service(svc)
            .serve_with_incoming_shutdown(incoming, s.wait_shutdown())
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "gossip gRPC server failed");
        }
    });
}

async fn accept_loop(
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    listener: TcpListener,
    tx: mpsc::Sender<Incoming>,
) {
    let acceptor = shared
        .tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(t.server.clone()));
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = shared.wait_shutdown() => return,
            a = listener.accept() => a,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let ticket = match admission.admit(remote) {
            Ok(t) => t,
            Err(reason) => {
                // Dropping the socket closes it before a byte is read.
                drop(tcp);
                let now = tokio::time::Instant::now();
                if last_warning.is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_INTERVAL) {
                    last_warning = Some(now);
                    tracing::warn!(%remote, reason = reason.as_str(), "inbound connection refused");
                } else {
                    tracing::debug!(%remote, reason = reason.as_str(), "inbound connection refused");
                }
                if reason == Refusal::FdReserve {
                    // Let descriptors free up instead of spinning on accept-and-close.
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        match &acceptor {
            None => {
                let io = Killable::new(ServerStream::Plain(tcp), shared.io_kills.register());
                if tx.send(Ok(Admitted::new(io, ticket))).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                // The TLS handshake runs in its own task so a slow client cannot stall accepts.
                let (acceptor, tx, s) = (acceptor.clone(), tx.clone(), shared.clone());
                shared.spawn(async move { accept_tls(s, acceptor, tcp, remote, ticket, tx).await });
            }
        }
    }
}

/// Runs the TLS handshake of an admitted connection, bounded by its admission deadline and
/// ended by its eviction, then hands the stream to the gRPC server.
async fn accept_tls(
    s: Arc<Shared>,
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    remote: std::net::SocketAddr,
    ticket: Ticket,
    tx: mpsc::Sender<Incoming>,
) {
    let deadline = ticket
        .deadline()
        .min(tokio::time::Instant::now() + TLS_ACCEPT_TIMEOUT);
    let hs = tokio::select! {
        _ = s.wait_shutdown() => return,
        _ = ticket.evicted() => return,
        r = tokio::time::timeout_at(deadline, acceptor.accept(tcp)) => r,
    };
    match hs {
        Ok(Ok(tls)) => {
            let io = Killable::new(ServerStream::Tls(Box::new(tls)), s.io_kills.register());
            let _ = tx.send(Ok(Admitted::new(io, ticket))).await;
        }
        Ok(Err(e)) => {
            s.metrics.handshake_failed(HandshakeFailure::Transport);
            let contact = Contact {
                endpoint: remote.to_string(),
                pki_id: None,
                org: None,
                direction: ContactDirection::Inbound,
                outcome: ContactOutcome::HandshakeFailed {
                    reason: "tls".into(),
                    detail: e.to_string(),
                },
                identity_expires_at: None,
            };
            match s.history.record(contact, std::time::SystemTime::now()) {
                Notice::Log => {
                    tracing::info!(%remote, error = %e, "TLS handshake failed")
                }
                Notice::Repeat => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed")
                }
            }
        }
        Err(_) => {
            s.metrics.handshake_failed(HandshakeFailure::Timeout);
            if tokio::time::Instant::now() >= ticket.deadline() {
                ticket.expired();
            }
            tracing::info!(%remote, "TLS handshake timed out");
        }
    }
}

struct GossipService {
    shared: Arc<Shared>,
    admission: Arc<Admission>,
}

type OutStream = Pin<Box<dyn Stream<Item = Result<Envelope, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Gossip for GossipService {
    type GossipStreamStream = OutStream;

    async fn gossip_stream(
        &self,
        request: Request<tonic::Streaming<Envelope>>,
    ) -> Result<Response<OutStream>, Status> {
        let shared = &self.shared;
        if shared.is_stopping() {
            return Err(Status::unavailable("shutting down"));
        }
        let peer = request
            .extensions()
            .get::<PeerConnInfo>()
            .cloned()
            .unwrap_or(PeerConnInfo {
                remote_addr: None,
                peer_cert: None,
            });
        let remote = peer.remote_addr.map(|a| a.to_string()).unwrap_or_default();
        if shared.tls.is_some() && peer.peer_cert.is_none() {
            shared.metrics.handshake_failed(HandshakeFailure::NoTlsCert);
            tracing::warn!(%remote, "handshake failed: no_tls_cert: client presented no TLS certificate");
            return Err(Status::unauthenticated("no TLS certificate"));
        }
        let own = handshake::conn_establish(&shared.crypto, shared.self_cert_hash(), false)
            .map_err(|e| Status::internal(format!("signing ConnEstablish: {e}")))?;
        let (pipe, outbound) = Pipe::new(shared.cfg.send_buff_size, shared.metrics.clone());
        // Cannot fail: the queue is empty and has room for the ConnEstablish.
        let _ = pipe.out.try_send(Ok(own));
        let inbound = request.into_inner();
        let (s, a) = (shared.clone(), self.admission.clone());
        shared.spawn(async move { serve_inbound(s, a, pipe, inbound, peer, remote).await });
        Ok(Response::new(Box::pin(outbound)))
    }

    async fn ping(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }
}

/// Reads and checks the remote's ConnEstablish, then registers and serves the stream.
async fn serve_inbound(
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    pipe: Pipe,
    mut inbound: tonic::Streaming<Envelope>,
    peer: PeerConnInfo,
    remote: String,
) {
    let timeout = shared.cfg.conn_timeout;
    let first = tokio::select! {
        _ = shared.wait_shutdown() => return,
        r = tokio::time::timeout(timeout, inbound.message()) => r,
    };
    let verified = match first {
        Ok(Ok(Some(env))) => handshake::verify_conn_establish(
            &shared.crypto,
            &env,
            shared.tls.is_some(),
            peer.peer_cert.as_deref(),
        ),
        Ok(Ok(None)) => Err(HandshakeError::new(
            HandshakeFailure::Transport,
            "stream ended before ConnEstablish",
        )),
        Ok(Err(status)) => Err(HandshakeError::new(
            handshake::read_failure(&status),
            format!("reading ConnEstablish: {}", status.message()),
        )),
        Err(_) => Err(HandshakeError::new(
            HandshakeFailure::Timeout,
            format!("no ConnEstablish within {timeout:?}"),
        )),
    };
    let remote_id = match verified {
        Ok(r) => r,
        Err(e) => {
            shared.metrics.handshake_failed(e.reason);
            let contact = Contact {
                endpoint: remote.clone(),
                pki_id: None,
                org: None,
                direction: ContactDirection::Inbound,
                outcome: ContactOutcome::HandshakeFailed {
                    reason: e.reason.as_str().into(),
                    detail: e.detail.clone(),
                },
                identity_expires_at: None,
            };
            // Once per remote host and reason, then again after a quiet period.
            match shared.history.record(contact, std::time::SystemTime::now()) {
                Notice::Log => {
                    tracing::warn!(%remote, reason = %e.reason, "inbound handshake failed: {}", e.detail)
                }
                Notice::Repeat => {
                    tracing::debug!(%remote, reason = %e.reason, "inbound handshake failed: {}", e.detail)
                }
            }
            // Queued after our ConnEstablish; dropping the pipe lets both drain, then ends the stream.
            let _ = pipe
                .out
                .try_send(Err(Status::unauthenticated(e.to_string())));
            return;
        }
    };
    // A verified ConnEstablish (probe or not) lifts the connection's handshake deadline.
    admission.authenticated(peer.remote_addr);
    if remote_id.probe {
        tracing::debug!(%remote, pki_id = %remote_id.pki_id, "probe handshake answered");
        return;
    }
    if remote_id.pki_id == shared.crypto.self_pki_id {
        tracing::warn!(%remote, "refusing a gossip stream from ourselves");
        let _ = pipe
            .out
            .try_send(Err(Status::failed_precondition("connection to self")));
        return;
    }
    let org = shared
        .crypto
        .advisor
        .org_by_peer_identity(&remote_id.identity);
    shared.history.record(
        Contact {
            endpoint: remote.clone(),
            pki_id: Some(remote_id.pki_id.clone()),
            org: org.clone(),
            direction: ContactDirection::Inbound,
            outcome: ContactOutcome::Handshaken,
            identity_expires_at: shared
                .crypto
                .mcs
                .expiration(&remote_id.identity)
                .ok()
                .flatten(),
        },
        std::time::SystemTime::now(),
    );
    let info = Arc::new(ConnectionInfo {
        pki_id: remote_id.pki_id,
        identity: remote_id.identity,
        endpoint: remote,
        auth: remote_id.auth,
    });
    let conn = Arc::new(Connection::new(
        shared.next_conn_id(),
        info,
        Direction::Inbound,
        pipe,
    ));
    shared.serve_registered(conn, org, inbound, None).await;
}
