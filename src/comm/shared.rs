//! State shared by every comm task: config, crypto, connection store, counters, events,
//! shutdown signal and the set of tasks `stop()` waits for.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::ack::{AckOutcome, AckResult, PendingAcks, PendingGuard};
use super::conn::{read_loop, Connection, Direction, MessageSink, QueueResult, ReadEnd};
use super::conn_store::{ConnStore, DialKey, Flush, Register, Route};
use super::dialer;
use super::inbound::InboundLimit;
use super::io::IoKills;
use super::metrics::{CommMetrics, HandshakeFailure};
use super::peer_history::PeerHistory;
use super::{CommConfig, CommError, CommEvent, ConnectionInfo, ReceivedMessage, RemotePeer};
use crate::crypto::CryptoContext;
use crate::proto::gossip::gossip_message::Content;
use crate::proto::gossip::{Envelope, GossipMessage};
use crate::sync::MutexExt;
use crate::types::{OrgId, PkiId};

/// TLS material ready for both roles.
pub(crate) struct TlsContext {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
    pub cert_hash: Vec<u8>,
}

pub(crate) struct Shared {
    pub cfg: CommConfig,
    pub crypto: CryptoContext,
    pub tls: Option<TlsContext>,
    pub store: ConnStore,
    pub metrics: Arc<CommMetrics>,
    /// Last dial/handshake outcome per endpoint and PKI-ID (diagnostics, log rate limits).
    pub history: PeerHistory,
    pub local_addr: SocketAddr,
    /// Kill switches of every TCP stream, server and client side.
    pub io_kills: IoKills,
    /// Senders waiting for acks (send with ack).
    pub acks: PendingAcks,
    events: mpsc::Sender<CommEvent>,
    stopping: AtomicBool,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
    next_id: AtomicU64,
    pub runtime: tokio::runtime::Handle,
    stop_lock: tokio::sync::Mutex<()>,
    backlog: Mutex<Backlog>,
}

/// Connection events waiting for room in the events channel.
#[derive(Default)]
struct Backlog {
    queue: std::collections::VecDeque<CommEvent>,
    /// A task is draining `queue`; new events queue behind it to keep their order.
    forwarding: bool,
}

/// Connection events kept while the consumer does not read; beyond, they are dropped.
const CONTROL_BACKLOG_MAX: usize = 10_000;

impl Shared {
    pub(crate) fn new(
        cfg: CommConfig,
        crypto: CryptoContext,
        tls: Option<TlsContext>,
        local_addr: SocketAddr,
        events: mpsc::Sender<CommEvent>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Shared {
            cfg,
            crypto,
            tls,
            store: ConnStore::default(),
            metrics: Arc::default(),
            history: PeerHistory::default(),
            local_addr,
            io_kills: IoKills::default(),
            acks: PendingAcks::default(),
            events,
            stopping: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            tasks: Mutex::new(JoinSet::new()),
            next_id: AtomicU64::new(1),
            runtime,
            stop_lock: tokio::sync::Mutex::new(()),
            backlog: Mutex::default(),
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Hash of our TLS certificate; empty without TLS.
    pub(crate) fn self_cert_hash(&self) -> Vec<u8> {
        self.tls
            .as_ref()
            .map(|t| t.cert_hash.clone())
            .unwrap_or_default()
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Two peers dialing each other overlap at most for a dial plus a handshake.
    fn concurrency_window(&self) -> Duration {
        self.cfg.dial_timeout + self.cfg.conn_timeout
    }

    /// Resolves when shutdown starts.
    pub(crate) fn wait_shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Spawns a task `stop()` will wait for. Refused once stopping.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = self.tasks.locked();
        if self.is_stopping() {
            return;
        }
        // Reap finished tasks so the set stays as small as the live ones.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(fut, &self.runtime);
    }

    /// Connection-state events must not be lost, reordered, or make the network wait for the
    /// consumer: when the channel is full they queue, in order, behind one forwarding task.
    fn emit(self: &Arc<Self>, ev: CommEvent) {
        if self.is_stopping() {
            return;
        }
        let mut backlog = self.backlog.locked();
        if backlog.forwarding {
            if backlog.queue.len() >= CONTROL_BACKLOG_MAX {
                self.metrics.event_dropped();
                tracing::warn!("events consumer stalled: connection event dropped");
            } else {
                backlog.queue.push_back(ev);
            }
            return;
        }
        match self.events.try_send(ev) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => {
                backlog.queue.push_back(ev);
                backlog.forwarding = true;
                drop(backlog);
                let s = self.clone();
                self.spawn(async move { s.forward_backlog().await });
            }
        }
    }

    async fn forward_backlog(self: Arc<Self>) {
        let stop = self.wait_shutdown();
        tokio::pin!(stop);
        loop {
            let next = {
                let mut backlog = self.backlog.locked();
                let next = backlog.queue.pop_front();
                if next.is_none() {
                    backlog.forwarding = false;
                }
                next
            };
            let Some(ev) = next else { return };
            tokio::select! {
                _ = &mut stop => return,
                r = self.events.send(ev) => if r.is_err() { return },
            }
        }
    }

    fn emit_disconnected(self: &Arc<Self>, pki_id: PkiId) {
        self.emit(CommEvent::Disconnected(pki_id))
    }

    /// Fabric reports a peer it cannot reach (its dial or a send failed) to membership, which
    /// declares it dead at once instead of waiting for its alive messages to expire.
    fn emit_presumed_dead(self: &Arc<Self>, pki_id: PkiId) {
        self.metrics.presumed_dead();
        self.emit(CommEvent::PresumedDead(pki_id))
    }

    /// Queues `env` on the connection, counting overflow; a closed connection is reported.
    /// Returns why the envelope was dropped, if it was.
    fn queue_on(self: &Arc<Self>, conn: &Arc<Connection>, env: Envelope) -> Option<&'static str> {
        let env = match conn.try_send_or_return(env) {
            Ok(QueueResult::Queued) => return None,
            Ok(_) => {
                self.metrics.overflow();
                return Some(SEND_OVERFLOW);
            }
            Err(env) => env,
        };
        let pki = &conn.info.pki_id;
        if self.store.remove_if_current(pki, conn.id).is_some() {
            // Fabric: a send error closes the connection and reports the peer dead.
            self.metrics.send_failed();
            conn.close();
            tracing::info!(pki_id = %pki, "connection lost on send");
            self.acks.fail_peer(pki, CONN_LOST);
            self.emit_presumed_dead(pki.clone());
            return Some(CONN_LOST);
        }
        // It was just replaced: the envelope goes to its successor, if that one is open.
        match self.store.get(pki).map(|c| c.try_send(env)) {
            Some(QueueResult::Queued) => None,
            Some(QueueResult::Overflow) => {
                self.metrics.overflow();
                Some(SEND_OVERFLOW)
            }
            Some(QueueResult::Closed) | None => {
                self.metrics.send_failed();
                Some(CONN_LOST)
            }
        }
    }

    /// Sends `env` to `to`; returns why it was dropped at once, if it was. A dial started
    /// for it that fails later fails the acks awaited from `to` instead.
    pub(crate) fn send(self: &Arc<Self>, env: Envelope, to: &RemotePeer) -> Option<&'static str> {
        // The remote would reset the stream for it: refuse it here, the connection lives on.
        let size = prost::Message::encoded_len(&env);
        if size > self.cfg.max_message_size {
            self.metrics.send_failed();
            tracing::warn!(size, max = self.cfg.max_message_size, pki_id = %to.pki_id, "envelope too large, dropped");
            return Some("message larger than the maximum message size");
        }
        let queue_max = self.cfg.send_buff_size;
        match self.store.route(env, &to.pki_id, &to.endpoint, queue_max) {
            Route::Conn(conn, env) => return self.queue_on(&conn, env),
            Route::Queued => {}
            Route::Overflow => {
                self.metrics.overflow();
                return Some(SEND_OVERFLOW);
            }
            Route::Stopping => {
                self.metrics.send_failed();
                return Some("comm is stopping");
            }
            Route::StartDial if to.endpoint.is_empty() => {
                // Nothing to dial (a member that publishes no endpoint reachable from here):
                // only an existing connection could carry it. Comm never tried to reach the
                // peer, so it is not presumed dead.
                let key = if to.pki_id.is_empty() {
                    DialKey::Endpoint(String::new())
                } else {
                    DialKey::Pki(to.pki_id.clone())
                };
                let (_, flush) = self.store.fail_dial(&key, &to.pki_id);
                self.count_flush(&flush);
                return Some("not connected and no endpoint to dial");
            }
            Route::StartDial => {
                let key = if to.pki_id.is_empty() {
                    DialKey::Endpoint(to.endpoint.clone())
                } else {
                    DialKey::Pki(to.pki_id.clone())
                };
                let (s, to) = (self.clone(), to.clone());
                self.spawn(async move { s.dial_task(key, to).await });
            }
        }
        None
    }

    /// Fabric's `SendWithAck`: `msg` (its nonce replaced by a random one) goes unsigned to
    /// every peer of `peers`; returns each peer's outcome, once all are known, or as soon as
    /// `min_ack` peers acked (`min_ack` 0: wait for all). Peers not awaited by then are left
    /// out of the result.
    pub(crate) async fn send_with_ack(
        self: &Arc<Self>,
        mut msg: GossipMessage,
        timeout: Duration,
        min_ack: usize,
        peers: &[RemotePeer],
    ) -> Vec<AckResult> {
        use futures::stream::{FuturesUnordered, StreamExt};
        msg.nonce = rand::random();
        let nonce = msg.nonce;
        let env = Envelope {
            payload: prost::Message::encode_to_vec(&msg).into(),
            signature: Vec::new(),
            secret_envelope: None,
        };
        let mut results = Vec::with_capacity(peers.len());
        let mut waits = FuturesUnordered::new();
        let mut seen = std::collections::HashSet::new();
        for peer in peers {
            if !seen.insert(peer.pki_id.clone()) {
                continue;
            }
            let failed = |why: &str| AckResult {
                peer: peer.clone(),
                outcome: AckOutcome::SendFailed(why.to_string()),
            };
            if peer.pki_id.is_empty() {
                results.push(failed(
                    "the peer's PKI-ID is unknown: its ack could not be matched",
                ));
                continue;
            }
            if peer.pki_id == self.crypto.self_pki_id {
                results.push(failed("the peer is this peer"));
                continue;
            }
            let Some(rx) = self.acks.register(nonce, &peer.pki_id) else {
                results.push(failed("nonce already awaited"));
                continue;
            };
            let guard = PendingGuard {
                acks: &self.acks,
                nonce,
                peer: peer.pki_id.clone(),
            };
            if let Some(why) = self.send(env.clone(), peer) {
                drop(guard);
                results.push(failed(why));
                continue;
            }
            let peer = peer.clone();
            waits.push(async move {
                let outcome = match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => AckOutcome::SendFailed("comm is stopping".into()),
                    Err(_) => {
                        guard.acks.timed_out();
                        AckOutcome::TimedOut
                    }
                };
                drop(guard);
                AckResult { peer, outcome }
            });
        }
        let enough = |results: &[AckResult]| {
            min_ack > 0 && results.iter().filter(|r| r.outcome.is_ack()).count() >= min_ack
        };
        while !enough(&results) {
            match waits.next().await {
                Some(r) => results.push(r),
                None => break,
            }
        }
        results
    }

    /// Sends an `Acknowledgement` of `nonce` to `peer` on the connection it has (a reply never
    /// dials). `error` empty acks, anything else is a NACK with that text.
    pub(crate) fn send_ack(self: &Arc<Self>, peer: &PkiId, nonce: u64, error: &str) -> bool {
        let msg = crate::message::ack_msg(nonce, (!error.is_empty()).then_some(error));
        let env = Envelope {
            payload: prost::Message::encode_to_vec(&msg).into(),
            signature: Vec::new(),
            secret_envelope: None,
        };
        let to = RemotePeer {
            endpoint: String::new(),
            pki_id: peer.clone(),
        };
        self.send(env, &to).is_none()
    }

    fn count_flush(&self, f: &Flush) {
        for _ in 0..f.overflow {
            self.metrics.overflow();
        }
        self.metrics.send_failed_n(f.dropped);
    }

    fn dial_failed(self: &Arc<Self>, key: &DialKey, to: &RemotePeer, err: &CommError) {
        self.metrics.dial_failed();
        let (has_conn, flush) = self.store.fail_dial(key, &to.pki_id);
        self.count_flush(&flush);
        if has_conn {
            return;
        }
        // The dialer logged its own failures, rate-limited per peer (`peer_history`).
        let from_dialer = !matches!(err, CommError::SelfConnection(_))
            && err.handshake_failure() != Some(HandshakeFailure::UnexpectedPeer);
        if from_dialer {
            tracing::debug!(endpoint = %to.endpoint, pki_id = %to.pki_id, error = %err, "dial failed");
        } else {
            tracing::warn!(endpoint = %to.endpoint, pki_id = %to.pki_id, error = %err, "dial failed");
        }
        if !to.pki_id.is_empty() {
            self.acks.fail_peer(&to.pki_id, DIAL_FAILED);
            self.emit_presumed_dead(to.pki_id.clone());
        }
    }

    /// Dials for `send`, then registers the connection and serves it.
    async fn dial_task(self: Arc<Self>, key: DialKey, to: RemotePeer) {
        let dialed = tokio::select! {
            _ = self.wait_shutdown() => return,
            d = dialer::dial(&self, &to.endpoint, false) => d,
        };
        let dialed = match dialed {
            Ok(d) => d,
            Err(e) => return self.dial_failed(&key, &to, &e),
        };
        let actual = dialed.info.pki_id.clone();
        if actual == self.crypto.self_pki_id {
            let e = CommError::SelfConnection(to.endpoint.clone());
            return self.dial_failed(&key, &to, &e);
        }
        let org = self
            .crypto
            .advisor
            .org_by_peer_identity(&dialed.info.identity);
        if !to.pki_id.is_empty() && actual != to.pki_id {
            if let Err(e) = self.identity_switch(&to, &actual, org.as_ref()) {
                return self.dial_failed(&key, &to, &e);
            }
        }
        let conn = Arc::new(Connection::new(
            self.next_conn_id(),
            Arc::new(dialed.info),
            Direction::Outbound,
            dialed.pipe,
        ));
        let (outcome, flush) = self.store.register_dialed(
            conn.clone(),
            &key,
            &self.crypto.self_pki_id,
            org,
            self.concurrency_window(),
        );
        self.count_flush(&flush);
        self.serve_outcome(conn, outcome, dialed.inbound, Some(dialed.channel))
            .await;
    }

    /// Dialing `to.pki_id` reached `actual`: accepted only when both are of the same org, as a
    /// peer that changed its identity; the old PKI-ID is then reported gone.
    fn identity_switch(
        self: &Arc<Self>,
        to: &RemotePeer,
        actual: &PkiId,
        actual_org: Option<&OrgId>,
    ) -> Result<(), CommError> {
        let expected_org = self.store.org_of(&to.pki_id);
        if expected_org.is_none() || expected_org.as_ref() != actual_org {
            self.metrics
                .handshake_failed(HandshakeFailure::UnexpectedPeer);
            return Err(CommError::Handshake {
                endpoint: to.endpoint.clone(),
                error: super::HandshakeError::new(
                    HandshakeFailure::UnexpectedPeer,
                    format!(
                        "expected {} but reached {} of org {:?}",
                        to.pki_id, actual, actual_org
                    ),
                ),
            });
        }
        tracing::info!(endpoint = %to.endpoint, old = %to.pki_id, new = %actual, "peer changed identity");
        if let Some(old) = self.store.remove(&to.pki_id) {
            old.close();
        }
        self.emit_disconnected(to.pki_id.clone());
        Ok(())
    }

    /// Registers an authenticated inbound connection and serves it until it ends.
    pub(crate) async fn serve_registered(
        self: Arc<Self>,
        conn: Arc<Connection>,
        org: Option<OrgId>,
        inbound: tonic::Streaming<Envelope>,
        channel: Option<tonic::transport::Channel>,
    ) {
        let outcome = self.store.register(
            conn.clone(),
            &self.crypto.self_pki_id,
            org,
            self.concurrency_window(),
        );
        self.serve_outcome(conn, outcome, inbound, channel).await;
    }

    async fn serve_outcome(
        self: &Arc<Self>,
        conn: Arc<Connection>,
        outcome: Register,
        inbound: tonic::Streaming<Envelope>,
        channel: Option<tonic::transport::Channel>,
    ) {
        let dir = conn.direction;
        match outcome {
            Register::Rejected { existing } => {
                tracing::debug!(pki_id = %conn.info.pki_id, ?dir, kept = existing.id, "duplicate connection discarded");
                conn.close();
                return;
            }
            Register::Registered { replaced } => {
                self.metrics.conn_opened();
                tracing::info!(
                    pki_id = %conn.info.pki_id,
                    endpoint = %conn.info.endpoint,
                    ?dir,
                    replaced = replaced.is_some(),
                    "connected"
                );
                self.emit(CommEvent::Connected(conn.info.clone()));
            }
        }
        let sink = EventSink(self.clone());
        let limit = InboundLimit::new(
            self.cfg.recv_rate_limit,
            self.cfg.recv_buff_per_conn,
            self.cfg.flood_disconnect_drops,
            std::time::Instant::now(),
        );
        let end = read_loop(&conn, inbound, &self.metrics, &sink, limit).await;
        drop(channel);
        conn.close();
        self.metrics.conn_closed();
        let pki = conn.info.pki_id.clone();
        match &end {
            ReadEnd::BadMessage(why) => tracing::warn!(pki_id = %pki, "closing stream: {why}"),
            ReadEnd::Error(status) => {
                tracing::info!(pki_id = %pki, code = ?status.code(), "stream failed: {}", status.message())
            }
            ReadEnd::Flood => tracing::warn!(
                pki_id = %pki,
                limit = self.cfg.flood_disconnect_drops,
                "closing stream: more messages dropped within one second than the flood limit"
            ),
            ReadEnd::Eof | ReadEnd::Closed => {}
        }
        if self.store.remove_if_current(&pki, conn.id).is_some() {
            tracing::info!(pki_id = %pki, ?dir, "disconnected");
            self.emit_disconnected(pki);
        } else {
            tracing::debug!(pki_id = %pki, ?dir, "connection closed (replaced or closed locally)");
        }
    }

    /// Dial + handshake with probe=true: the remote does not register us.
    pub(crate) async fn handshake(&self, endpoint: &str) -> Result<ConnectionInfo, CommError> {
        if self.is_stopping() {
            return Err(CommError::Stopped);
        }
        let d = tokio::select! {
            _ = self.wait_shutdown() => return Err(CommError::Stopped),
            d = dialer::dial(self, endpoint, true) => d,
        };
        match d {
            Ok(d) => {
                d.pipe.close();
                Ok(d.info)
            }
            Err(e) => {
                self.metrics.dial_failed();
                Err(e)
            }
        }
    }

    pub(crate) async fn probe(&self, endpoint: &str) -> Result<(), CommError> {
        if self.is_stopping() {
            return Err(CommError::Stopped);
        }
        tokio::select! {
            _ = self.wait_shutdown() => Err(CommError::Stopped),
            r = dialer::probe(self, endpoint) => r,
        }
    }

    pub(crate) fn close_conn(&self, pki_id: &PkiId) {
        if let Some(c) = self.store.remove(pki_id) {
            tracing::info!(pki_id = %pki_id, "closing connection on request");
            c.close();
        }
    }

    /// Refuses new work, closes every connection and signals every task to end.
    /// Returns false if shutdown had already begun.
    pub(crate) fn begin_stop(&self) -> bool {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return false;
        }
        tracing::info!(addr = %self.local_addr, "comm stopping");
        self.acks.fail_all("comm is stopping");
        let (conns, queued) = self.store.shutdown();
        self.metrics.send_failed_n(queued);
        for c in &conns {
            c.close();
        }
        self.shutdown.send_replace(true);
        true
    }

    /// For a stop nobody waits for (the last handle dropped): shut down now, cut the streams
    /// still open after the grace period.
    pub(crate) fn stop_detached(self: &Arc<Self>) {
        if !self.begin_stop() {
            return;
        }
        let s = self.clone();
        // Not tracked: stopping refuses tracked spawns, and nobody would join it.
        self.runtime.spawn(async move {
            tokio::time::sleep(STOP_GRACE).await;
            s.io_kills.kill_all();
        });
    }

    /// Closes everything and waits (bounded) for every task. Only the first call does work;
    /// later ones wait for it to finish.
    pub(crate) async fn stop(&self) {
        let _serial = self.stop_lock.lock().await;
        self.begin_stop();
        let mut tasks = {
            let mut g = self.tasks.locked();
            std::mem::take(&mut *g)
        };
        // Closed streams end with a status and GOAWAY; give them a moment to go out.
        let drained = tokio::time::timeout(STOP_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        // What is still open (HTTP/2 connections tonic runs in its own tasks, or ours) waits
        // on a peer that does not read: cut every stream.
        let killed = self.io_kills.kill_all();
        if drained.is_err() {
            let ended = tokio::time::timeout(STOP_GRACE, async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            if ended.is_err() {
                tracing::warn!(
                    left = tasks.len(),
                    killed,
                    "comm tasks did not end in time; aborting them"
                );
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
        tracing::info!(addr = %self.local_addr, "comm stopped");
    }
}

/// How long `stop()` lets tasks finish on their own, first before cutting the TCP streams, then
/// before aborting the tasks.
const STOP_GRACE: Duration = Duration::from_secs(1);

const SEND_OVERFLOW: &str = "send buffer overflow";
const CONN_LOST: &str = "connection lost";
const DIAL_FAILED: &str = "could not connect";

/// Delivers received messages as events; a full channel drops them (counted).
struct EventSink(Arc<Shared>);

impl MessageSink for EventSink {
    fn deliver(&self, msg: ReceivedMessage) {
        if self.0.is_stopping() {
            return;
        }
        // Acks go to their senders, never to the node (Fabric intercepts them the same way).
        if let Some(Content::Ack(ack)) = &msg.msg.content {
            if !self
                .0
                .acks
                .on_ack(msg.msg.nonce, &msg.conn.pki_id, &ack.error)
            {
                tracing::debug!(pki_id = %msg.conn.pki_id, nonce = msg.msg.nonce, "ack for no waiting sender dropped");
            }
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.0.events.try_send(CommEvent::Message(msg))
        {
            self.0.metrics.event_dropped();
        }
    }
}
