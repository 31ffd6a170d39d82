//! A peer of a channel as the host sees it (`fg_peers_of_channel`).

use serde::{Deserialize, Serialize};

use crate::channel::ChannelPeer;
use crate::proto::gossip::Chaincode;

/// A chaincode installed on a channel, as published in StateInfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeInfo {
    pub name: String,
    pub version: String,
}

impl From<&Chaincode> for ChaincodeInfo {
    fn from(c: &Chaincode) -> Self {
        ChaincodeInfo {
            name: c.name.clone(),
            version: c.version.clone(),
        }
    }
}

impl From<&ChaincodeInfo> for Chaincode {
    fn from(c: &ChaincodeInfo) -> Self {
        Chaincode {
            name: c.name.clone(),
            version: c.version.clone(),
            metadata: Vec::new(),
        }
    }
}

/// One alive peer with a StateInfo for the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPeerInfo {
    /// Lowercase hex.
    pub pki_id: String,
    /// External endpoint; empty when the peer publishes none.
    pub endpoint: String,
    /// Internal endpoint; known only for peers of this org.
    pub internal_endpoint: String,
    pub org: String,
    pub ledger_height: u64,
    pub chaincodes: Vec<ChaincodeInfo>,
    pub left_channel: bool,
}

impl From<&ChannelPeer> for ChannelPeerInfo {
    fn from(p: &ChannelPeer) -> Self {
        ChannelPeerInfo {
            pki_id: p.pki_id.to_hex(),
            endpoint: p.endpoint.clone(),
            internal_endpoint: p.internal_endpoint.clone(),
            org: p.org.clone(),
            ledger_height: p.ledger_height,
            chaincodes: p.chaincodes.iter().map(ChaincodeInfo::from).collect(),
            left_channel: p.left_channel,
        }
    }
}
