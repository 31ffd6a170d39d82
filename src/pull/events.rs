//! What the caller feeds the pull engine and what the engine asks it to do.

use super::digest::Digest;
use crate::message::Content;
use crate::proto::gossip::{Envelope, GossipMessage, PullMsgType};
use crate::types::PkiId;

/// An event for the engine. `from` is the PKI-ID of the connection the message came on.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Time passed. `peers` are the candidates for a scheduled round (for blocks: channel
    /// members of my org with a StateInfo); read only when [`round_due`] is true, so the
    /// caller may pass an empty list otherwise.
    ///
    /// [`round_due`]: super::PullEngine::round_due
    Tick {
        peers: Vec<PkiId>,
    },
    /// Start a round now with these peers, outside the schedule (a later block or a higher
    /// StateInfo height revealed a gap). With a non-empty `hint` only those digests are
    /// requested.
    PullNow {
        peers: Vec<PkiId>,
        hint: Vec<Digest>,
    },
    Hello {
        from: PkiId,
        nonce: u64,
    },
    Digest {
        from: PkiId,
        nonce: u64,
        digests: Vec<Digest>,
    },
    Request {
        from: PkiId,
        nonce: u64,
        digests: Vec<Digest>,
    },
    Update {
        from: PkiId,
        nonce: u64,
        items: Vec<Envelope>,
    },
}

/// An action for the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `msg` to `to` over its existing connection; pull messages are sent unsigned
    /// (`SignedGossipMessage::unsigned`).
    Send { to: PkiId, msg: GossipMessage },
    /// A pulled item passed validation and is now held by the engine: store it (block store,
    /// ledger, identity mapper). If the caller's store refuses it, call
    /// [`remove_item`](super::PullEngine::remove_item).
    Received {
        from: PkiId,
        digest: Digest,
        item: Envelope,
    },
    /// A `DataUpdate` from `from` held an invalid item; none of its items were taken.
    UpdateRejected { from: PkiId, reason: String },
}

/// Why a gossip message is not a pull message for this engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullInputError {
    #[error("not a pull message")]
    NotPull,
    #[error("pull message of type {got:?}, engine pulls {expected:?}")]
    WrongType { expected: PullMsgType, got: i32 },
    #[error("pull message for another channel")]
    WrongChannel,
}

/// Turns a received pull message into an [`Input`], checking its message type and channel
/// against the engine's (`channel` empty for identity pull).
pub fn pull_input(
    from: PkiId,
    msg: &GossipMessage,
    msg_type: PullMsgType,
    channel: &[u8],
) -> Result<Input, PullInputError> {
    let (got, input) = match &msg.content {
        Some(Content::Hello(h)) => (
            h.msg_type,
            Input::Hello {
                from,
                nonce: h.nonce,
            },
        ),
        Some(Content::DataDig(d)) => (
            d.msg_type,
            Input::Digest {
                from,
                nonce: d.nonce,
                digests: d.digests.clone(),
            },
        ),
        Some(Content::DataReq(r)) => (
            r.msg_type,
            Input::Request {
                from,
                nonce: r.nonce,
                digests: r.digests.clone(),
            },
        ),
        Some(Content::DataUpdate(u)) => (
            u.msg_type,
            Input::Update {
                from,
                nonce: u.nonce,
                items: u.data.clone(),
            },
        ),
        _ => return Err(PullInputError::NotPull),
    };
    if got != msg_type as i32 {
        return Err(PullInputError::WrongType {
            expected: msg_type,
            got,
        });
    }
    if msg.channel != channel {
        return Err(PullInputError::WrongChannel);
    }
    Ok(input)
}
