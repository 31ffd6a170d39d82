//! What the driver feeds the election machine and what the machine asks it to do.

use crate::discovery::PeerTime;
use crate::message::SignedGossipMessage;
use crate::types::PkiId;

/// A leadership message whose signature, org and channel membership the driver checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadershipMsg {
    /// `LeadershipMessage.pki_id`: the peer proposing or declaring.
    pub pki_id: PkiId,
    pub timestamp: PeerTime,
    /// Declaration ("I lead") rather than proposal ("I would lead").
    pub is_declaration: bool,
}

/// An event for the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed; call at least as often as [`next_deadline`](super::LeaderElection::next_deadline) says.
    Tick,
    /// A verified leadership message.
    Message(LeadershipMsg),
    /// Give up leadership (e.g. the orderer cannot be reached) and stay out of elections
    /// for 6 × `leaderAliveThreshold` or until another peer declares.
    Yield,
}

/// An action for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this signed leadership message (tag CHAN_AND_ORG) to every candidate.
    Gossip(Box<SignedGossipMessage>),
    /// This peer became leader (`true`) or stopped leading (`false`).
    LeadershipChanged(bool),
}
