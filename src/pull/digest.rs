//! Item digests as they travel in `DataDigest` and `DataRequest`.
//!
//! Blocks are named by their sequence number in decimal ASCII ("100"), identities by their
//! raw PKI-ID bytes.

use crate::message::Content;
use crate::proto::gossip::{Envelope, GossipMessage};
use prost::Message;

/// An item's name in the pull protocol.
pub type Digest = Vec<u8>;

/// The digest of block `seq`: decimal ASCII.
pub fn block_digest(seq: u64) -> Digest {
    seq.to_string().into_bytes()
}

/// Reads a block digest; `None` unless it is a canonical decimal number (no sign, no
/// leading zeros), so one block has exactly one digest.
pub fn parse_block_digest(d: &[u8]) -> Option<u64> {
    if d.is_empty() || (d.len() > 1 && d[0] == b'0') || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(d).ok()?.parse().ok()
}

/// The digest of a block envelope (a `DataMessage`): its sequence number.
pub fn block_envelope_digest(env: &Envelope) -> Option<Digest> {
    let msg = GossipMessage::decode(env.payload.clone()).ok()?;
    match msg.content {
        Some(Content::DataMsg(d)) => d.payload.map(|p| block_digest(p.seq_num)),
        _ => None,
    }
}

/// The digest of an identity envelope (a `PeerIdentity`): its PKI-ID.
pub fn identity_envelope_digest(env: &Envelope) -> Option<Digest> {
    let msg = GossipMessage::decode(env.payload.clone()).ok()?;
    match msg.content {
        Some(Content::PeerIdentity(p)) if !p.pki_id.is_empty() => Some(p.pki_id),
        _ => None,
    }
}
