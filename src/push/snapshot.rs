//! What the router knows about the network: the caller's view of membership and channels,
//! taken at flush time (no state is kept between flushes).

use std::collections::{BTreeMap, BTreeSet};

use crate::discovery::MemberView;
use crate::types::RemotePeer;
use crate::types::{OrgId, PkiId};

/// This peer, as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPeer {
    pub pki_id: PkiId,
    pub org: OrgId,
    /// External endpoint; empty = invisible to other orgs.
    pub endpoint: String,
    /// Channels this peer has joined (finds the channel of a StateInfo by its MAC).
    pub channels: BTreeSet<Vec<u8>>,
}

/// One alive member of the membership view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePeer {
    pub pki_id: PkiId,
    pub org: OrgId,
    /// External endpoint (`Member.endpoint`), may be empty.
    pub endpoint: String,
    /// Internal endpoint from the secret envelope, empty when unknown.
    pub internal_endpoint: String,
    /// Channels whose organizations include this peer's org (Fabric's `IsMemberInChan`),
    /// each with whether a StateInfo of the peer is held for it (Fabric's
    /// `EligibleForChannel`).
    pub channels: BTreeMap<Vec<u8>, bool>,
}

impl RoutePeer {
    /// A member with no channel information yet; add it with [`RoutePeer::in_channel`].
    pub fn from_member(m: &MemberView) -> Self {
        RoutePeer {
            pki_id: m.pki_id.clone(),
            org: m.org.clone(),
            endpoint: m.endpoint.clone(),
            internal_endpoint: m.internal_endpoint.clone(),
            channels: BTreeMap::new(),
        }
    }

    /// Marks the peer's org as a member of `channel`, with or without a StateInfo held.
    pub fn in_channel(mut self, channel: &[u8], has_state_info: bool) -> Self {
        self.channels.insert(channel.to_vec(), has_state_info);
        self
    }

    /// The peer's org is one of the channel's organizations.
    pub fn is_member_of(&self, channel: &[u8]) -> bool {
        self.channels.contains_key(channel)
    }

    /// Member of the channel and its StateInfo is held: it may receive blocks.
    pub fn is_eligible_for(&self, channel: &[u8]) -> bool {
        self.channels.get(channel).copied().unwrap_or(false)
    }

    /// Where to send: the internal endpoint when known (discovery keeps it for peers of my
    /// org only), else the external one.
    pub fn target(&self) -> RemotePeer {
        let endpoint = if self.internal_endpoint.is_empty() {
            &self.endpoint
        } else {
            &self.internal_endpoint
        };
        RemotePeer {
            pki_id: self.pki_id.clone(),
            endpoint: endpoint.clone(),
        }
    }
}

/// The view a flush routes over: this peer and the alive members (self excluded; an entry
/// with our own PKI-ID is ignored anyway).
#[derive(Debug, Clone, Copy)]
pub struct RoutingSnapshot<'a> {
    pub me: &'a LocalPeer,
    pub peers: &'a [RoutePeer],
}

impl<'a> RoutingSnapshot<'a> {
    pub fn new(me: &'a LocalPeer, peers: &'a [RoutePeer]) -> Self {
        RoutingSnapshot { me, peers }
    }

    /// Org and external endpoint of a PKI-ID: ours, or a member's; `None` when unknown.
    pub fn lookup(&self, pki_id: &PkiId) -> Option<(&'a str, &'a str)> {
        if *pki_id == self.me.pki_id {
            return Some((&self.me.org, &self.me.endpoint));
        }
        self.peers
            .iter()
            .find(|p| p.pki_id == *pki_id)
            .map(|p| (p.org.as_str(), p.endpoint.as_str()))
    }
}
