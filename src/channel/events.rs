//! What the driver feeds the channel registry and what the registry asks the driver to do.

use crate::message::SignedGossipMessage;
use crate::proto::gossip::{Chaincode, Envelope};
use crate::types::RemotePeer;
use crate::types::{OrgId, PkiId};

/// An anchor peer of a channel's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorPeer {
    pub org: OrgId,
    pub host: String,
    pub port: u16,
}

/// An ordering service node of a channel's configuration, for the delivery service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrdererEndpoint {
    /// `host:port` of its `AtomicBroadcast` service.
    pub endpoint: String,
    /// PEM of the CA that signed its TLS certificate; `None`: dial without TLS.
    pub tls_root_cert: Option<String>,
    /// Its Ed25519 block-signing key; the built-in crypto accepts blocks signed by these.
    pub public_key: Option<[u8; 32]>,
}

/// Fabric's `JoinChannelMessage`: the channel's member orgs and anchor peers at a config
/// sequence number, and the orderers the delivery service pulls blocks from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinChannelMessage {
    pub sequence: u64,
    pub members: Vec<OrgId>,
    pub anchor_peers: Vec<AnchorPeer>,
    pub orderers: Vec<OrdererEndpoint>,
}

/// A message received from a peer, for the registry: a StateInfo (tag CHAN_OR_ORG, pushed),
/// a `StateInfoPullRequest` or a `StateInfoSnapshot`. `from` and `from_org` come from the
/// connection's handshake; the envelope is kept as received for forwarding.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: PkiId,
    pub from_org: OrgId,
    pub message: SignedGossipMessage,
}

/// An action for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this envelope to the target (own StateInfo signed; forwarded StateInfo are the
    /// original bytes; pull requests and snapshots unsigned, as Fabric sends them).
    Send { to: RemotePeer, envelope: Envelope },
    /// An anchor peer of a joined channel, for discovery (`discovery::Input::AddAnchor`).
    AddAnchor { endpoint: String, org: OrgId },
}

/// A peer of a channel as [`Channels::peers_of_channel`](super::Channels::peers_of_channel)
/// reports it: an alive member with a StateInfo for the channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPeer {
    pub pki_id: PkiId,
    /// External endpoint (may be empty for peers of our org).
    pub endpoint: String,
    /// Internal endpoint, when discovery knows it.
    pub internal_endpoint: String,
    pub org: OrgId,
    pub ledger_height: u64,
    pub chaincodes: Vec<Chaincode>,
    pub left_channel: bool,
    /// The StateInfo envelope as received (private data filters evaluate its signature).
    pub envelope: Envelope,
}
