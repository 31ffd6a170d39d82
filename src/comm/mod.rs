//! Authenticated gRPC comm (reference §4.1): the `gossip.Gossip` server, the dialer, the
//! ConnEstablish handshake with its TLS-certificate binding, and one connection per PKI-ID.
//!
//! - [`tls`]: TLS material and the verifiers of both roles.
//! - [`handshake`]: building and checking ConnEstablish.
//! - `conn`: one stream: send queue, close signal, read loop.
//! - `conn_store`: one connection per PKI-ID, dials in flight.
//! - `dialer` / `server`: the client and server sides; `io`: the byte streams under gRPC.
//! - `shared`: state shared by the tasks; [`metrics`]: counters; [`peer_history`]: the last
//!   dial/handshake outcome per peer, for diagnostics and rate-limited logs.
//!
//! # Events
//!
//! [`Comm::start`] returns the receiving end of a bounded channel of [`CommEvent`]s. Nothing
//! in comm ever waits for its consumer: a message that finds the channel full is dropped and
//! counted (`events_dropped`); a `Connected` or `Disconnected` that finds it full waits, in
//! order, in a backlog one task forwards as room frees (up to 10 000 events, then counted as
//! dropped), so connection state is neither lost nor reordered.
//!
//! - `Connected(info)` after every successful non-probe handshake that registers a stream,
//!   either direction, including one that replaces an older stream to the same PKI-ID.
//! - `Message` for every envelope received on a registered stream whose payload decodes and
//!   that its connection's limits admit (`inbound`: rate and receive buffer per connection,
//!   the surplus dropped and counted, a flooder closed); an envelope that does not decode
//!   closes that stream (`bad_messages`).
//! - `Disconnected(pki_id)` when the registered stream ends (remote closed, transport error,
//!   bad message, flood), and for the old PKI-ID when a peer of the same org answers for it
//!   (Fabric's identity switch). Not after [`Comm::close_conn`], nor for a stream replaced by
//!   a newer one.
//! - `PresumedDead(pki_id)` when comm cannot reach a known peer: a dial for `send` failed, or
//!   an envelope found the peer's connection closed (Fabric's `PresumedDead`).
//!
//! # Deviation from Fabric
//!
//! When two peers dial each other at the same moment, Fabric's rule (inbound replaces, late
//! outbound discarded) can leave each side keeping the stream the other closed. Here, while the
//! existing stream is younger than `dial_timeout + conn_timeout`, both sides keep the stream
//! dialed by the smaller PKI-ID. Against a Fabric peer this never does worse than Fabric's own
//! rule. Envelopes queued on the losing stream are lost, as in Fabric.

pub mod ack;
mod admission;
mod conn;
mod conn_store;
mod dialer;
pub mod handshake;
mod inbound;
mod io;
pub mod metrics;
pub mod peer_history;
mod server;
mod shared;
pub mod tls;
mod tls_roots;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use crate::config::AdmissionConfig;
pub use ack::{AckCounts, AckOutcome, AckResult};
pub use handshake::HandshakeError;
pub use inbound::RecvSlot;
pub use metrics::{
    CommMetricsSnapshot, HandshakeFailure, HandshakeFailureCounts, Refusal, RefusalCounts,
};
pub use peer_history::{ContactDirection, ContactOutcome, ContactRecord};
pub use tls::TlsIdentity;
pub use tls_roots::{ChannelCas, TlsRefusal, TlsRefusalCounts, TlsRoots};

use crate::crypto::{CryptoContext, CryptoError};
use crate::proto::gossip::{Envelope, GossipMessage};
use crate::types::PkiId;
use shared::{Shared, TlsContext};

/// Comm settings; defaults are Fabric's (`peer.gossip.*` of core.yaml).
#[derive(Debug, Clone)]
pub struct CommConfig {
    /// Where the gossip gRPC server listens; port 0 picks a free port (see `Comm::local_addr`).
    pub listen_addr: SocketAddr,
    /// `None` = plaintext. With TLS, the same certificate is the server and the client cert.
    pub tls: Option<TlsIdentity>,
    /// Refuse TLS clients that present no certificate (`peer.tls.clientAuthRequired`).
    pub client_auth_required: bool,
    /// The TLS CAs remote certificates must chain to (with TLS on, once it holds one); the
    /// owner updates it as channels are joined and reconfigured.
    pub tls_roots: Arc<TlsRoots>,
    /// `peer.gossip.dialTimeout`, 3 s.
    pub dial_timeout: Duration,
    /// `peer.gossip.connTimeout`, 2 s: Ping and ConnEstablish deadlines.
    pub conn_timeout: Duration,
    /// `peer.gossip.sendBuffSize`, 200: envelopes queued per connection before dropping.
    pub send_buff_size: usize,
    /// `peer.gossip.recvBuffSize`, 20. The events channel holds
    /// `recv_buff_size × EVENTS_PER_RECV_SLOT` events (1000 by default), shared by all
    /// connections.
    pub recv_buff_size: usize,
    /// Largest gRPC message sent or accepted, 100 MiB.
    pub max_message_size: usize,
    /// Limits on inbound connections before and while they authenticate.
    pub admission: AdmissionConfig,
    /// `fabgossip.recvRateLimit`, 5000: messages per second one connection may deliver (a
    /// burst of one second's worth); the surplus is dropped and counted. 0 = no limit.
    pub recv_rate_limit: u32,
    /// Messages of one connection that may wait for the consumer at once (its receive
    /// buffer, 10 × Fabric's default `recvBuffSize`); the surplus is dropped and counted.
    pub recv_buff_per_conn: usize,
    /// `fabgossip.floodDisconnectDrops`, 5000: a connection with more messages dropped within
    /// one second is closed as a flooder. 0 = never.
    pub flood_disconnect_drops: u32,
}

/// Events channel capacity per unit of `recv_buff_size`.
pub const EVENTS_PER_RECV_SLOT: usize = 50;

impl Default for CommConfig {
    fn default() -> Self {
        CommConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            client_auth_required: false,
            tls_roots: Arc::default(),
            dial_timeout: Duration::from_secs(3),
            conn_timeout: Duration::from_secs(2),
            send_buff_size: 200,
            recv_buff_size: 20,
            max_message_size: 100 * 1024 * 1024,
            admission: AdmissionConfig::default(),
            recv_rate_limit: 5000,
            recv_buff_per_conn: 200,
            flood_disconnect_drops: 5000,
        }
    }
}

/// Why a comm operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CommError {
    #[error("invalid comm config: {0}")]
    Config(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid endpoint {0}")]
    InvalidEndpoint(String),
    #[error("dialing {endpoint}: {reason}")]
    Dial { endpoint: String, reason: String },
    #[error("handshake with {endpoint} failed: {error}")]
    Handshake {
        endpoint: String,
        error: HandshakeError,
    },
    #[error("{0} is this peer")]
    SelfConnection(String),
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    #[error("comm is stopped")]
    Stopped,
}

impl CommError {
    /// The handshake failure reason, when this is a handshake failure.
    pub fn handshake_failure(&self) -> Option<HandshakeFailure> {
        match self {
            CommError::Handshake { error, .. } => Some(error.reason),
            _ => None,
        }
    }
}

pub use crate::types::{AuthInfo, RemotePeer};

/// An authenticated remote peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub pki_id: PkiId,
    /// Serialized identity (`msp.SerializedIdentity` bytes).
    pub identity: Vec<u8>,
    /// The endpoint we dialed, or the remote socket address of an inbound stream.
    pub endpoint: String,
    pub auth: AuthInfo,
}

/// A gossip message received on an authenticated stream.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub conn: Arc<ConnectionInfo>,
    /// The envelope exactly as received (forward these bytes, never a re-encoding).
    pub envelope: Envelope,
    /// `envelope.payload` decoded.
    pub msg: GossipMessage,
    /// The message's place in its connection's receive buffer: release it once taken.
    pub slot: RecvSlot,
}

/// What comm reports. Messages are the common case and stay unboxed: one allocation less
/// per message outweighs the larger channel slots.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CommEvent {
    Message(ReceivedMessage),
    /// After a successful non-probe handshake, either direction.
    Connected(Arc<ConnectionInfo>),
    /// The connection closed, or the peer switched identity.
    Disconnected(PkiId),
    /// Comm could not reach the peer: a dial for `send` or a send failed.
    PresumedDead(PkiId),
}

/// The comm service. Cheap to clone. Call [`Comm::stop`] to shut it down; dropping the last
/// handle without it still closes the listener and connections, without waiting.
#[derive(Clone)]
pub struct Comm {
    shared: Arc<Shared>,
    _last_handle: Arc<StopOnDrop>,
}

/// Held only by `Comm` handles (never by comm's own tasks), so it drops with the last one.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop_detached();
    }
}

impl Comm {
    /// Binds the listener and starts serving. Must be called within a Tokio runtime.
    pub async fn start(
        cfg: CommConfig,
        crypto: CryptoContext,
    ) -> Result<(Comm, mpsc::Receiver<CommEvent>), CommError> {
        if cfg.send_buff_size == 0 || cfg.recv_buff_size == 0 {
            return Err(CommError::Config(
                "sendBuffSize and recvBuffSize must be positive".into(),
            ));
        }
        if cfg.max_message_size == 0 || cfg.dial_timeout.is_zero() || cfg.conn_timeout.is_zero() {
            return Err(CommError::Config(
                "timeouts and max message size must be positive".into(),
            ));
        }
        if let Err((key, why)) = cfg.admission.check() {
            return Err(CommError::Config(format!("admission {key} {why}")));
        }
        let tls = match &cfg.tls {
            None => None,
            Some(id) => Some(TlsContext {
                server: id.server_config(cfg.client_auth_required, cfg.tls_roots.clone())?,
                client: id.client_config(cfg.tls_roots.clone())?,
                cert_hash: id.cert_hash(),
            }),
        };
        let listener = tokio::net::TcpListener::bind(cfg.listen_addr)
            .await
            .map_err(|source| CommError::Bind {
                addr: cfg.listen_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| CommError::Bind {
            addr: cfg.listen_addr,
            source,
        })?;
        let (tx, rx) = mpsc::channel(cfg.recv_buff_size.saturating_mul(EVENTS_PER_RECV_SLOT));
        let shared = Arc::new(Shared::new(
            cfg,
            crypto,
            tls,
            local_addr,
            tx,
            tokio::runtime::Handle::current(),
        ));
        server::spawn(&shared, listener);
        tracing::info!(
            addr = %local_addr,
            tls = shared.tls.is_some(),
            pki_id = %shared.crypto.self_pki_id,
            "comm listening"
        );
        let guard = Arc::new(StopOnDrop(shared.clone()));
        Ok((
            Comm {
                shared,
                _last_handle: guard,
            },
            rx,
        ))
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Non-blocking. Uses the existing connection to `to.pki_id` if any, otherwise dials
    /// `to.endpoint` in the background (concurrent dials deduplicated) and sends once
    /// connected. A full queue drops the envelope (`overflow_count`).
    pub fn send(&self, env: Envelope, to: &RemotePeer) {
        self.shared.send(env, to);
    }

    /// Fabric's `SendWithAck`: sends `msg` unsigned, with a fresh random nonce, to each of
    /// `peers` and waits up to `timeout` for each one's `Acknowledgement` of that nonce.
    /// Returns one result per distinct peer (acked, NACKed with the error text, timed out,
    /// or never sent), or returns early once `min_ack` peers acked (0: wait for every peer),
    /// leaving out the peers still awaited then. Acks are matched by nonce and by the PKI-ID
    /// of the connection they arrive on, before any other handling, and never reach the
    /// events channel.
    pub async fn send_with_ack(
        &self,
        msg: GossipMessage,
        timeout: Duration,
        min_ack: usize,
        peers: &[RemotePeer],
    ) -> Vec<AckResult> {
        // Runs on comm's runtime, so any executor (or a plain poll loop) may await it.
        let shared = self.shared.clone();
        let owned = peers.to_vec();
        let task = self
            .shared
            .runtime
            .spawn(async move { shared.send_with_ack(msg, timeout, min_ack, &owned).await });
        match task.await {
            Ok(results) => results,
            Err(_) => peers
                .iter()
                .map(|p| AckResult {
                    peer: p.clone(),
                    outcome: AckOutcome::SendFailed("comm is stopping".into()),
                })
                .collect(),
        }
    }

    /// Answers a message received from `peer` that asked for an ack (Fabric's
    /// `msg.Respond(ack)`): an `Acknowledgement{error}` with the message's `nonce`, tag
    /// UNDEFINED, unsigned, on the connection the peer has (a reply never dials). `error`
    /// empty is an ack, any text a NACK. Returns false when it could not be queued.
    pub fn send_ack(&self, peer: &PkiId, nonce: u64, error: &str) -> bool {
        self.shared.send_ack(peer, nonce, error)
    }

    /// Counters of `fabgossip_comm_acks{result}`.
    pub fn ack_counts(&self) -> AckCounts {
        self.shared.acks.counts()
    }

    /// Messages sent with ack whose acks are awaited now.
    pub fn pending_acks(&self) -> usize {
        self.shared.acks.len()
    }

    /// Dial + handshake with probe=true: learns who is at `endpoint` without registering.
    pub async fn handshake(&self, endpoint: &str) -> Result<ConnectionInfo, CommError> {
        self.shared.handshake(endpoint).await
    }

    /// Dial + Ping only.
    pub async fn probe(&self, endpoint: &str) -> Result<(), CommError> {
        self.shared.probe(endpoint).await
    }

    /// Closes the connection to `pki_id`, if any. No `Disconnected` event follows.
    pub fn close_conn(&self, pki_id: &PkiId) {
        self.shared.close_conn(pki_id)
    }

    /// Tells comm the identity of a peer learned elsewhere (alive message, identity pull).
    /// Dialing that PKI-ID and reaching another one is accepted only when both are of the
    /// same org (Fabric's identity switch); comm otherwise knows only the orgs of the peers it
    /// has handshaken with. Ignored when `identity` does not hash to `pki_id` or has no org.
    pub fn learn_identity(&self, pki_id: &PkiId, identity: &[u8]) {
        let crypto = &self.shared.crypto;
        match crypto.mcs.pki_id_of(identity) {
            Ok(p) if &p == pki_id => {}
            _ => return,
        }
        if let Some(org) = crypto.advisor.org_by_peer_identity(identity) {
            self.shared.store.learn_org(pki_id.clone(), org);
        }
    }

    /// PKI-IDs with a registered connection.
    pub fn connected(&self) -> Vec<PkiId> {
        self.shared.store.connected()
    }

    pub fn metrics(&self) -> CommMetricsSnapshot {
        let mut s = self.shared.metrics.snapshot();
        s.acks = self.shared.acks.counts();
        s.tls_refused = self.shared.cfg.tls_roots.refusals();
        s
    }

    /// The TLS CAs remote certificates must chain to.
    pub fn tls_roots(&self) -> &Arc<TlsRoots> {
        &self.shared.cfg.tls_roots
    }

    /// The last dial/handshake outcome per endpoint and per PKI-ID (bounded).
    pub fn peer_history(&self) -> &peer_history::PeerHistory {
        &self.shared.history
    }

    /// Closes the listener, every connection and task. Idempotent.
    pub async fn stop(&self) {
        self.shared.stop().await
    }
}
