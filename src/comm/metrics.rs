//! Counters of the comm layer. Plain atomics: cheap to bump from any task,
//! read as a consistent-enough snapshot by `Comm::metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a handshake (ConnEstablish exchange, or the TLS/transport part before it) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeFailure {
    /// The envelope did not decode, or the first message was not a ConnEstablish.
    BadMessage,
    /// The ConnEstablish carried no PKI-ID.
    MissingPkiId,
    /// `validate_identity` refused the identity, or its PKI-ID could not be computed.
    InvalidIdentity,
    /// The claimed PKI-ID is not the PKI-ID of the claimed identity.
    PkiIdMismatch,
    /// TLS is on but the remote presented no certificate.
    NoTlsCert,
    /// The ConnEstablish's `tls_cert_hash` is not the hash of the certificate seen.
    CertHashMismatch,
    /// The envelope signature did not verify with the claimed identity.
    BadSignature,
    /// No ConnEstablish arrived within `conn_timeout`.
    Timeout,
    /// Dialing an expected PKI-ID reached a peer of another organization.
    UnexpectedPeer,
    /// The stream ended, the TLS handshake or the transport failed.
    Transport,
}

impl HandshakeFailure {
    /// Short stable name, used in logs and by tests.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::BadMessage => "bad_message",
            HandshakeFailure::MissingPkiId => "missing_pki_id",
            HandshakeFailure::InvalidIdentity => "invalid_identity",
            HandshakeFailure::PkiIdMismatch => "pki_id_mismatch",
            HandshakeFailure::NoTlsCert => "no_tls_cert",
            HandshakeFailure::CertHashMismatch => "cert_hash_mismatch",
            HandshakeFailure::BadSignature => "bad_signature",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::UnexpectedPeer => "unexpected_peer",
            HandshakeFailure::Transport => "transport",
        }
    }
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Handshake failures, one counter per reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandshakeFailureCounts {
    pub bad_message: u64,
    pub missing_pki_id: u64,
    pub invalid_identity: u64,
    pub pki_id_mismatch: u64,
    pub no_tls_cert: u64,
    pub cert_hash_mismatch: u64,
    pub bad_signature: u64,
    pub timeout: u64,
    pub unexpected_peer: u64,
    pub transport: u64,
}

impl HandshakeFailureCounts {
    pub fn get(&self, reason: HandshakeFailure) -> u64 {
        match reason {
            HandshakeFailure::BadMessage => self.bad_message,
            HandshakeFailure::MissingPkiId => self.missing_pki_id,
            HandshakeFailure::InvalidIdentity => self.invalid_identity,
            HandshakeFailure::PkiIdMismatch => self.pki_id_mismatch,
            HandshakeFailure::NoTlsCert => self.no_tls_cert,
            HandshakeFailure::CertHashMismatch => self.cert_hash_mismatch,
            HandshakeFailure::BadSignature => self.bad_signature,
            HandshakeFailure::Timeout => self.timeout,
            HandshakeFailure::UnexpectedPeer => self.unexpected_peer,
            HandshakeFailure::Transport => self.transport,
        }
    }

    pub fn total(&self) -> u64 {
        self.bad_message
            + self.missing_pki_id
            + self.invalid_identity
            + self.pki_id_mismatch
            + self.no_tls_cert
            + self.cert_hash_mismatch
            + self.bad_signature
            + self.timeout
            + self.unexpected_peer
            + self.transport
    }
}

/// Why admission refused or closed an inbound connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Accepting it would leave fewer than `fd_reserve` free file descriptors.
    FdReserve,
    /// Its remote IP address already held `max_per_address` connections.
    PerAddress,
    /// Closed unauthenticated to make room for a newer connection under
    /// `max_unauthenticated`.
    UnauthenticatedEvicted,
    /// Not authenticated within `handshake_timeout` of its accept.
    HandshakeDeadline,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [
        Refusal::FdReserve,
        Refusal::PerAddress,
        Refusal::UnauthenticatedEvicted,
        Refusal::HandshakeDeadline,
    ];

    /// Short stable name: the `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::FdReserve => "fd_reserve",
            Refusal::PerAddress => "per_address",
            Refusal::UnauthenticatedEvicted => "unauthenticated_evicted",
            Refusal::HandshakeDeadline => "handshake_deadline",
        }
    }
}

/// Inbound connections refused or closed by admission, one counter per reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusalCounts {
    pub fd_reserve: u64,
    pub per_address: u64,
    pub unauthenticated_evicted: u64,
    pub handshake_deadline: u64,
}

impl RefusalCounts {
    pub fn get(&self, reason: Refusal) -> u64 {
        match reason {
            Refusal::FdReserve => self.fd_reserve,
            Refusal::PerAddress => self.per_address,
            Refusal::UnauthenticatedEvicted => self.unauthenticated_evicted,
            Refusal::HandshakeDeadline => self.handshake_deadline,
        }
    }

    pub fn total(&self) -> u64 {
        Refusal::ALL.iter().map(|r| self.get(*r)).sum()
    }
}

/// A point-in-time copy of the comm counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommMetricsSnapshot {
    /// Envelopes handed to gRPC for sending (Fabric: `gossip_comm_messages_sent`).
    pub messages_sent: u64,
    /// Envelopes received on an authenticated stream (Fabric: `gossip_comm_messages_received`).
    pub messages_received: u64,
    /// Encoded size of the envelopes counted in `messages_sent`.
    pub bytes_sent: u64,
    /// Encoded size of the envelopes counted in `messages_received`.
    pub bytes_received: u64,
    /// Envelopes dropped because a send queue was full (Fabric: `gossip_comm_overflow_count`).
    pub overflow_count: u64,
    /// Streams closed because an envelope's payload was not a GossipMessage.
    pub bad_messages: u64,
    /// Message events dropped because the events channel was full.
    pub events_dropped: u64,
    /// Envelopes dropped because the connection they were queued on closed first, or the
    /// dial they waited for failed.
    pub send_failures: u64,
    /// Dials (TCP/TLS connect, Ping, stream open, handshake) that failed.
    pub dial_failures: u64,
    /// Connections registered after a successful handshake, both directions.
    pub connections_opened: u64,
    /// Registered connections that were closed, for any reason.
    pub connections_closed: u64,
    /// Handshake failures by reason, both directions.
    pub handshake_failures: HandshakeFailureCounts,
    /// Inbound connections refused or closed by admission, by reason.
    pub connections_refused: RefusalCounts,
    /// Inbound connections holding an admission ticket now (gauge).
    pub admitted_connections: u64,
    /// Of those, the ones not yet authenticated (gauge).
    pub unauthenticated_connections: u64,
    /// Inbound messages dropped because their connection exceeded `fabgossip.recvRateLimit`.
    pub recv_rate_exceeded: u64,
    /// Inbound messages dropped because their connection's receive buffer was full.
    pub recv_buffer_full: u64,
    /// Connections closed for dropping more than `fabgossip.floodDisconnectDrops` messages
    /// within one second.
    pub flood_disconnects: u64,
    /// Peers reported presumed dead: a dial for `send` or a send failed.
    pub presumed_dead: u64,
    /// Send-with-ack outcomes and acks nobody waited for (`fabgossip_comm_acks{result}`).
    pub acks: super::AckCounts,
    /// TLS certificates refused for not chaining to a TLS CA (`fabgossip_comm_tls_refused`).
    pub tls_refused: super::TlsRefusalCounts,
}

#[derive(Default)]
pub(crate) struct CommMetrics {
    messages_sent: AtomicU64,
    messages_received: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    overflow_count: AtomicU64,
    bad_messages: AtomicU64,
    events_dropped: AtomicU64,
    send_failures: AtomicU64,
    dial_failures: AtomicU64,
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
    hs_bad_message: AtomicU64,
    hs_missing_pki_id: AtomicU64,
    hs_invalid_identity: AtomicU64,
    hs_pki_id_mismatch: AtomicU64,
    hs_no_tls_cert: AtomicU64,
    hs_cert_hash_mismatch: AtomicU64,
    hs_bad_signature: AtomicU64,
    hs_timeout: AtomicU64,
    hs_unexpected_peer: AtomicU64,
    hs_transport: AtomicU64,
    refused_fd_reserve: AtomicU64,
    refused_per_address: AtomicU64,
    refused_unauthenticated_evicted: AtomicU64,
    refused_handshake_deadline: AtomicU64,
    admitted: AtomicU64,
    unauthenticated: AtomicU64,
    recv_rate_exceeded: AtomicU64,
    recv_buffer_full: AtomicU64,
    flood_disconnects: AtomicU64,
    presumed_dead: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl CommMetrics {
    pub(crate) fn sent(&self, bytes: usize) {
        bump(&self.messages_sent);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn received(&self, bytes: usize) {
        bump(&self.messages_received);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn overflow(&self) {
        bump(&self.overflow_count)
    }
    pub(crate) fn bad_message(&self) {
        bump(&self.bad_messages)
    }
    pub(crate) fn event_dropped(&self) {
        bump(&self.events_dropped)
    }
    pub(crate) fn send_failed(&self) {
        bump(&self.send_failures)
    }
    pub(crate) fn send_failed_n(&self, n: usize) {
        self.send_failures.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn dial_failed(&self) {
        bump(&self.dial_failures)
    }
    pub(crate) fn conn_opened(&self) {
        bump(&self.connections_opened)
    }
    pub(crate) fn conn_closed(&self) {
        bump(&self.connections_closed)
    }

    pub(crate) fn recv_refused(&self, why: super::inbound::Refusal) {
        bump(match why {
            super::inbound::Refusal::RateExceeded => &self.recv_rate_exceeded,
            super::inbound::Refusal::BufferFull => &self.recv_buffer_full,
        })
    }
    pub(crate) fn flood_disconnect(&self) {
        bump(&self.flood_disconnects)
    }
    pub(crate) fn presumed_dead(&self) {
        bump(&self.presumed_dead)
    }

    pub(crate) fn handshake_failed(&self, reason: HandshakeFailure) {
        bump(match reason {
            HandshakeFailure::BadMessage => &self.hs_bad_message,
            HandshakeFailure::MissingPkiId => &self.hs_missing_pki_id,
            HandshakeFailure::InvalidIdentity => &self.hs_invalid_identity,
            HandshakeFailure::PkiIdMismatch => &self.hs_pki_id_mismatch,
            HandshakeFailure::NoTlsCert => &self.hs_no_tls_cert,
            HandshakeFailure::CertHashMismatch => &self.hs_cert_hash_mismatch,
            HandshakeFailure::BadSignature => &self.hs_bad_signature,
            HandshakeFailure::Timeout => &self.hs_timeout,
            HandshakeFailure::UnexpectedPeer => &self.hs_unexpected_peer,
            HandshakeFailure::Transport => &self.hs_transport,
        })
    }

    pub(crate) fn refused(&self, reason: Refusal) {
        bump(match reason {
            Refusal::FdReserve => &self.refused_fd_reserve,
            Refusal::PerAddress => &self.refused_per_address,
            Refusal::UnauthenticatedEvicted => &self.refused_unauthenticated_evicted,
            Refusal::HandshakeDeadline => &self.refused_handshake_deadline,
        })
    }

    pub(crate) fn set_admitted(&self, admitted: u64, unauthenticated: u64) {
        self.admitted.store(admitted, Ordering::Relaxed);
        self.unauthenticated
            .store(unauthenticated, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CommMetricsSnapshot {
        CommMetricsSnapshot {
            messages_sent: load(&self.messages_sent),
            messages_received: load(&self.messages_received),
            bytes_sent: load(&self.bytes_sent),
            bytes_received: load(&self.bytes_received),
            overflow_count: load(&self.overflow_count),
            bad_messages: load(&self.bad_messages),
            events_dropped: load(&self.events_dropped),
            send_failures: load(&self.send_failures),
            dial_failures: load(&self.dial_failures),
            connections_opened: load(&self.connections_opened),
            connections_closed: load(&self.connections_closed),
            handshake_failures: HandshakeFailureCounts {
                bad_message: load(&self.hs_bad_message),
                missing_pki_id: load(&self.hs_missing_pki_id),
                invalid_identity: load(&self.hs_invalid_identity),
                pki_id_mismatch: load(&self.hs_pki_id_mismatch),
                no_tls_cert: load(&self.hs_no_tls_cert),
                cert_hash_mismatch: load(&self.hs_cert_hash_mismatch),
                bad_signature: load(&self.hs_bad_signature),
                timeout: load(&self.hs_timeout),
                unexpected_peer: load(&self.hs_unexpected_peer),
                transport: load(&self.hs_transport),
            },
            connections_refused: RefusalCounts {
                fd_reserve: load(&self.refused_fd_reserve),
                per_address: load(&self.refused_per_address),
                unauthenticated_evicted: load(&self.refused_unauthenticated_evicted),
                handshake_deadline: load(&self.refused_handshake_deadline),
            },
            admitted_connections: load(&self.admitted),
            unauthenticated_connections: load(&self.unauthenticated),
            recv_rate_exceeded: load(&self.recv_rate_exceeded),
            recv_buffer_full: load(&self.recv_buffer_full),
            flood_disconnects: load(&self.flood_disconnects),
            presumed_dead: load(&self.presumed_dead),
            acks: Default::default(),
            tls_refused: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_counter() {
        let m = CommMetrics::default();
        let all = [
            HandshakeFailure::BadMessage,
            HandshakeFailure::MissingPkiId,
            HandshakeFailure::InvalidIdentity,
            HandshakeFailure::PkiIdMismatch,
            HandshakeFailure::NoTlsCert,
            HandshakeFailure::CertHashMismatch,
            HandshakeFailure::BadSignature,
            HandshakeFailure::Timeout,
            HandshakeFailure::UnexpectedPeer,
            HandshakeFailure::Transport,
        ];
        for (i, r) in all.iter().enumerate() {
            for _ in 0..=i {
                m.handshake_failed(*r);
            }
        }
        let s = m.snapshot().handshake_failures;
        for (i, r) in all.iter().enumerate() {
            assert_eq!(s.get(*r), i as u64 + 1, "{r}");
        }
        assert_eq!(s.total(), (1..=all.len() as u64).sum::<u64>());
    }
}
