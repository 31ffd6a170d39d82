//! The gossip join message a channel config yields: member orgs, anchor peers, orderer
//! endpoints with their TLS CAs, at the config's sequence.

use super::channel::ChannelConfig;
use super::org::pem_bundle;
use crate::channel::{AnchorPeer, JoinChannelMessage, OrdererEndpoint};

impl ChannelConfig {
    /// Fabric's join message for this config. Orderer endpoints are the orderer orgs' own
    /// `Endpoints` with each org's TLS CAs; when no org names any, the channel's global
    /// `OrdererAddresses` with the TLS CAs of every orderer org (as Fabric's delivery
    /// client does).
    pub fn join_message(&self) -> JoinChannelMessage {
        let anchor_peers = self
            .application_orgs
            .iter()
            .flat_map(|o| {
                o.anchor_peers.iter().map(|a| AnchorPeer {
                    org: o.msp.msp_id.clone(),
                    host: a.host.clone(),
                    port: a.port,
                })
            })
            .collect();
        let tls = |pem: String| Some(pem).filter(|p| !p.is_empty());
        let mut orderers: Vec<OrdererEndpoint> = self
            .orderer
            .orgs
            .iter()
            .flat_map(|o| {
                let pem = o.msp.tls_ca_pem();
                o.endpoints.iter().map(move |e| OrdererEndpoint {
                    endpoint: e.clone(),
                    tls_root_cert: tls(pem.clone()),
                    public_key: None,
                })
            })
            .collect();
        if orderers.is_empty() {
            let all = pem_bundle(self.orderer.orgs.iter().flat_map(|o| {
                o.msp
                    .tls_root_certs
                    .iter()
                    .chain(&o.msp.tls_intermediate_certs)
            }));
            orderers = self
                .orderer_addresses
                .iter()
                .map(|e| OrdererEndpoint {
                    endpoint: e.clone(),
                    tls_root_cert: tls(all.clone()),
                    public_key: None,
                })
                .collect();
        }
        JoinChannelMessage {
            sequence: self.sequence,
            members: self.member_orgs(),
            anchor_peers,
            orderers,
        }
    }
}
