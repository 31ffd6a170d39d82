//! What the driver feeds the discovery machine and what the machine asks the driver to do.

use super::alive::VerifiedAlive;
use crate::proto::gossip::Envelope;
use crate::types::{OrgId, PkiId, RemotePeer};

/// An event for the machine. Signatures are checked by the driver before it builds one.
#[derive(Debug, Clone)]
pub enum Input {
    /// Time passed; call at least as often as [`next_deadline`](super::Discovery::next_deadline) says.
    Tick,
    /// A handshake completed, in either direction, and the connection is registered.
    Connected {
        pki_id: PkiId,
        org: OrgId,
        endpoint: String,
    },
    /// A registered connection closed.
    Disconnected { pki_id: PkiId },
    /// Comm gave up on a peer (a send failed): Fabric's `PresumedDead`.
    PresumedDead { pki_id: PkiId },
    /// A peer reconnected under another PKI-ID of the same org: forget the old one
    /// (Fabric's `IdentitySwitch`).
    IdentitySwitch { old_pki_id: PkiId },
    /// A pushed alive message (tag EMPTY), received from `from`.
    Alive { from: PkiId, alive: VerifiedAlive },
    /// A membership request from `from` (the handshake PKI-ID and its org).
    MemReq {
        from: PkiId,
        from_org: OrgId,
        nonce: u64,
        alive: VerifiedAlive,
    },
    /// A membership response; entries that failed verification are left out by the driver.
    MemRes {
        from: PkiId,
        nonce: u64,
        alive: Vec<VerifiedAlive>,
        dead: Vec<VerifiedAlive>,
    },
    /// Answer to [`Output::Probe`]: the PKI-ID and org from the probe handshake, or why it failed.
    ProbeResult {
        endpoint: String,
        result: Result<(PkiId, OrgId), String>,
    },
    /// Answer to [`Output::Ping`].
    PingResult { pki_id: PkiId, ok: bool },
    /// An anchor peer of a joined channel.
    AddAnchor { endpoint: String, org: OrgId },
}

/// An action for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this envelope (already signed where needed; forwarded alives are the original
    /// bytes) to the target.
    Send { to: RemotePeer, envelope: Envelope },
    /// Handshake with `probe = true` to learn who listens there; answer with `ProbeResult`.
    Probe { endpoint: String },
    /// Dial + `Ping` only; answer with `PingResult`.
    Ping { pki_id: PkiId, endpoint: String },
    /// Close the connection to this peer.
    CloseConn { pki_id: PkiId },
    /// A peer became alive (new or resurrected).
    PeerUp(PkiId),
    /// A peer became dead.
    PeerDead(PkiId),
    /// A peer was forgotten.
    PeerPurged(PkiId),
}
