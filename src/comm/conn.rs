//! One authenticated gossip stream to a remote peer: its bounded send queue, its close
//! signal and the task that reads it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use prost::Message;
use tokio::sync::{mpsc, watch};
use tonic::Status;

use super::inbound::{InboundLimit, Verdict};
use super::metrics::CommMetrics;
use super::{ConnectionInfo, ReceivedMessage};
use crate::proto::gossip::{Envelope, GossipMessage};

/// Who opened the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The remote dialed us.
    Inbound,
    /// We dialed the remote.
    Outbound,
}

/// An item of a stream's outbound queue. `Err` ends a server stream with that status.
pub(crate) type OutItem = Result<Envelope, Status>;

/// Outcome of queueing an envelope on a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QueueResult {
    Queued,
    /// The queue is full: the envelope was dropped.
    Overflow,
    /// The connection is closing: the envelope was dropped.
    Closed,
}

/// The sending half of a stream and its close signal, created before the handshake so that
/// the ConnEstablish goes out first on the very queue later used for gossip.
pub(crate) struct Pipe {
    pub out: mpsc::Sender<OutItem>,
    pub closed: watch::Sender<bool>,
}

impl Pipe {
    /// Creates the queue (`capacity` envelopes plus one for the ConnEstablish) and returns the
    /// stream gRPC sends from. The stream ends when the pipe is closed.
    pub(crate) fn new(
        capacity: usize,
        metrics: Arc<CommMetrics>,
    ) -> (Pipe, impl Stream<Item = OutItem> + Send + 'static) {
        let (out, rx) = mpsc::channel(capacity.max(1) + 1);
        let (closed, closed_rx) = watch::channel(false);
        let mut first = true;
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
            .take_until(wait_closed(closed_rx))
            .inspect(move |item: &OutItem| {
                // The first item is our ConnEstablish, not gossip traffic.
                if first {
                    first = false;
                } else if let Ok(envelope) = item {
                    metrics.sent(envelope.encoded_len());
                }
            });
        (Pipe { out, closed }, stream)
    }

    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// Resolves once the close signal is raised. Dropping the pipe instead lets the queue drain
/// first (used to deliver a final error status).
pub(crate) async fn wait_closed(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn wait_closed_ref(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A registered (or about to be registered) connection.
pub(crate) struct Connection {
    /// Unique per process, so a closing stream removes itself and never its replacement.
    pub id: u64,
    pub info: Arc<ConnectionInfo>,
    pub direction: Direction,
    pub established: Instant,
    pipe: Pipe,
    closing: AtomicBool,
}

impl Connection {
    pub(crate) fn new(
        id: u64,
        info: Arc<ConnectionInfo>,
        direction: Direction,
        pipe: Pipe,
    ) -> Self {
        Connection {
            id,
            info,
            direction,
            established: Instant::now(),
            pipe,
            closing: AtomicBool::new(false),
        }
    }

    /// Never blocks.
    pub(crate) fn try_send(&self, env: Envelope) -> QueueResult {
        if self.is_closing() {
            return QueueResult::Closed;
        }
        match self.pipe.out.try_send(Ok(env)) {
            Ok(()) => QueueResult::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => QueueResult::Overflow,
            Err(mpsc::error::TrySendError::Closed(_)) => QueueResult::Closed,
        }
    }

    /// As `try_send`, but hands the envelope back when the connection is closing.
    pub(crate) fn try_send_or_return(&self, env: Envelope) -> Result<QueueResult, Envelope> {
        if self.is_closing() {
            return Err(env);
        }
        match self.pipe.out.try_send(Ok(env)) {
            Ok(()) => Ok(QueueResult::Queued),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(QueueResult::Overflow),
            Err(mpsc::error::TrySendError::Closed(Ok(env))) => Err(env),
            // Only `Ok` items are sent here.
            Err(mpsc::error::TrySendError::Closed(Err(_))) => Ok(QueueResult::Closed),
        }
    }

    /// Ends both directions of the stream. Idempotent; returns true the first time.
    pub(crate) fn close(&self) -> bool {
        let first = !self.closing.swap(true, Ordering::AcqRel);
        self.pipe.close();
        first
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn closed_signal(&self) -> watch::Receiver<bool> {
        self.pipe.closed.subscribe()
    }
}

/// Why a connection's read loop ended.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// We closed it (replaced, `close_conn`, send error, shutdown).
    Closed,
    /// The remote ended the stream.
    Eof,
    /// gRPC or transport error.
    Error(Status),
    /// An envelope whose payload is not a GossipMessage.
    BadMessage(String),
    /// The remote sent far more than its connection's limits admit.
    Flood,
}

/// What the read loop does with each message; implemented by the comm core.
pub(crate) trait MessageSink: Send + Sync + 'static {
    fn deliver(&self, msg: ReceivedMessage);
}

/// Payloads shorter than this get their own allocation on receipt. A received payload is a
/// slice of the stream's read buffer and keeps all of it alive: fine for a block, which is
/// most of that buffer, but an alive or StateInfo held for seconds would pin the blocks that
/// arrived with it.
const SHARE_PAYLOAD_FROM: usize = 4096;

/// Gives a payload under [`SHARE_PAYLOAD_FROM`] bytes its own allocation.
fn own_small_payload(envelope: &mut Envelope) {
    if envelope.payload.len() < SHARE_PAYLOAD_FROM {
        envelope.payload = bytes::Bytes::copy_from_slice(&envelope.payload);
    }
}

/// Reads envelopes until the stream ends or the connection is closed. What `limit` refuses is
/// dropped before it is decoded.
pub(crate) async fn read_loop(
    conn: &Connection,
    mut inbound: tonic::Streaming<Envelope>,
    metrics: &CommMetrics,
    sink: &dyn MessageSink,
    mut limit: InboundLimit,
) -> ReadEnd {
    let mut closed = conn.closed_signal();
    loop {
        let next = tokio::select! {
            _ = wait_closed_ref(&mut closed) => return ReadEnd::Closed,
            next = inbound.message() => next,
        };
        match next {
            Ok(Some(mut envelope)) => {
                metrics.received(envelope.encoded_len());
                let slot = match limit.admit(Instant::now()) {
                    (Verdict::Deliver, Some(slot)) => slot,
                    (Verdict::Disconnect(why), _) => {
                        metrics.recv_refused(why);
                        metrics.flood_disconnect();
                        return ReadEnd::Flood;
                    }
                    (Verdict::Drop(why), _) => {
                        metrics.recv_refused(why);
                        continue;
                    }
                    (Verdict::Deliver, None) => continue,
                };
                own_small_payload(&mut envelope);
                match GossipMessage::decode(envelope.payload.clone()) {
                    Ok(msg) => {
                        sink.deliver(ReceivedMessage {
                            conn: conn.info.clone(),
                            envelope,
                            msg,
                            slot,
                        });
                    }
                    Err(e) => {
                        metrics.bad_message();
                        return ReadEnd::BadMessage(format!("payload is not a GossipMessage: {e}"));
                    }
                }
            }
            Ok(None) => return ReadEnd::Eof,
            Err(status) => return ReadEnd::Error(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(buffer: &bytes::Bytes, len: usize) -> Envelope {
        Envelope {
            payload: buffer.slice(..len),
            signature: Vec::new(),
            secret_envelope: None,
        }
    }

    #[test]
    fn small_payloads_leave_the_read_buffer_blocks_stay_in_it() {
        let buffer = bytes::Bytes::from(vec![1u8; 64 * 1024]);
        let inside = |e: &Envelope| buffer.as_ptr_range().contains(&e.payload.as_ptr());

        let mut alive = received(&buffer, 300);
        own_small_payload(&mut alive);
        assert!(
            !inside(&alive),
            "a small payload would pin the whole buffer"
        );
        assert_eq!(&alive.payload[..], &buffer[..300]);

        let mut block = received(&buffer, SHARE_PAYLOAD_FROM);
        own_small_payload(&mut block);
        assert!(inside(&block), "a block is shared, not copied");
    }
}
