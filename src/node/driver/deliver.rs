//! The orderer delivery service at the owner task: which channels pull blocks from an
//! orderer, and what happens to the blocks (the `add_payload` path: state provider, in-order
//! commit, push to the org when `peer.deliveryclient.blockGossipEnabled`).
//!
//! A static leader (`peer.gossip.orgLeader`) delivers from join to leave; with leader
//! election, leadership changes call [`Driver::start_deliver`] and [`Driver::stop_deliver`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::Driver;
use crate::channel::OrdererEndpoint;
use crate::config::{Config, DeliveryClientConfig};
use crate::deliver::{
    ClientTlsIdentity, Delivered, DeliveryEvent, DeliveryFactory, DeliveryRequest, DeliveryService,
    DeliveryStats,
};
use crate::message::{data_msg, SignedGossipMessage};
use crate::state::{Rejected, Source, StateProviderConfig, VerifiedPayload};
use crate::sync::MutexExt;

/// The running delivery services by channel; `GossipService::delivery_stats` reads it.
pub(in crate::node) type DeliveryTable = Arc<Mutex<BTreeMap<String, Box<dyn DeliveryService>>>>;

/// Reads the services' counters without waiting on the owner task.
pub(in crate::node) fn delivery_stats(
    table: &DeliveryTable,
    channel: &str,
) -> Option<DeliveryStats> {
    table.locked().get(channel).map(|s| s.stats())
}

/// The delivery state the owner task keeps.
pub(in crate::node) struct Deliveries {
    pub factory: Arc<dyn DeliveryFactory>,
    pub config: DeliveryClientConfig,
    /// `orgLeader` without election: deliver from join to leave, never give up.
    pub static_leader: bool,
    /// Per joined channel: the config sequence the orderers came with, and the orderers.
    pub orderers: BTreeMap<String, (u64, Vec<OrdererEndpoint>)>,
    pub table: DeliveryTable,
    /// Per running service: its id and the committed height it seeks from and paces by.
    pub running: BTreeMap<String, (u64, watch::Sender<u64>)>,
    pub next_id: u64,
    pub tx: mpsc::Sender<Delivered>,
    pub rx: mpsc::Receiver<Delivered>,
    /// Delivery events of stopped services, dropped.
    pub stale_events: u64,
    /// Services the factory failed to start.
    pub start_failures: u64,
    /// This peer's TLS client identity towards orderers.
    pub client_tls: Option<ClientTlsIdentity>,
}

impl Deliveries {
    pub fn new(
        config: &Config,
        factory: Arc<dyn DeliveryFactory>,
        client_tls: Option<ClientTlsIdentity>,
    ) -> Self {
        // Enough to keep a stream busy while the owner task commits; the service holds
        // further blocks itself.
        let (tx, rx) = mpsc::channel(64);
        Deliveries {
            factory,
            config: config.peer.deliveryclient.clone(),
            static_leader: config.gossip.org_leader && !config.gossip.use_leader_election,
            orderers: BTreeMap::new(),
            table: Arc::new(Mutex::new(BTreeMap::new())),
            running: BTreeMap::new(),
            next_id: 1,
            tx,
            rx,
            stale_events: 0,
            start_failures: 0,
            client_tls,
        }
    }
}

impl Driver {
    /// A join message was applied (`accepted`): record the channel's orderers when its
    /// sequence is newer, trust their keys in the built-in crypto, and (static leader) start
    /// delivering, or restart when the orderers changed.
    pub(super) fn join_orderers(
        &mut self,
        channel: &str,
        sequence: u64,
        orderers: Vec<OrdererEndpoint>,
    ) {
        let newer = self
            .delivery
            .orderers
            .get(channel)
            .is_none_or(|(seq, _)| sequence > *seq);
        if !newer {
            return;
        }
        if let Some(ed) = &self.builtin {
            ed.set_orderer_keys(
                channel,
                orderers.iter().filter_map(|o| o.public_key).collect(),
            );
        }
        let changed = self
            .delivery
            .orderers
            .get(channel)
            .is_none_or(|(_, old)| *old != orderers);
        self.delivery
            .orderers
            .insert(channel.to_string(), (sequence, orderers));
        if self.delivery.running.contains_key(channel) {
            if changed {
                self.stop_deliver(channel);
                self.start_deliver(channel);
            }
        } else if self.delivery.static_leader {
            self.start_deliver(channel);
        }
    }

    /// The channel was left: delivery stops and its orderers are forgotten.
    pub(super) fn leave_orderers(&mut self, channel: &str) {
        self.stop_deliver(channel);
        self.delivery.orderers.remove(channel);
    }

    /// Starts pulling `channel`'s blocks from its orderers, from the ledger height. Does
    /// nothing when it runs already, the channel is not joined or names no orderer.
    pub fn start_deliver(&mut self, channel: &str) {
        if self.delivery.running.contains_key(channel) {
            return;
        }
        let Some(b) = self.blocks.get(channel) else {
            debug!(channel, "not joined: no delivery");
            return;
        };
        let orderers = match self.delivery.orderers.get(channel) {
            Some((_, o)) if !o.is_empty() => o.clone(),
            _ => {
                debug!(channel, "the channel names no orderer: no delivery");
                return;
            }
        };
        let id = self.delivery.next_id;
        self.delivery.next_id += 1;
        let (height_tx, height_rx) = watch::channel(b.height());
        let request = DeliveryRequest {
            id,
            channel: channel.to_string(),
            orderers,
            config: self.delivery.config.clone(),
            mcs: self.crypto.mcs.clone(),
            self_identity: self.crypto.self_identity.clone(),
            height: height_rx,
            max_ahead: StateProviderConfig::from_gossip(&self.gossip_cfg).window(Source::Deliverer),
            keep_trying: self.delivery.static_leader,
            sink: self.delivery.tx.clone(),
            seed: self.seed ^ id.rotate_left(32),
            client_tls: self.delivery.client_tls.clone(),
        };
        match self.delivery.factory.start(request) {
            Ok(service) => {
                info!(channel, "delivery service started");
                self.delivery
                    .table
                    .locked()
                    .insert(channel.to_string(), service);
                self.delivery
                    .running
                    .insert(channel.to_string(), (id, height_tx));
            }
            Err(e) => {
                self.delivery.start_failures += 1;
                warn!(channel, "delivery service not started: {e}");
            }
        }
    }

    /// Stops pulling `channel`'s blocks; the service stops within a second and its later
    /// events are dropped.
    pub fn stop_deliver(&mut self, channel: &str) {
        self.delivery.running.remove(channel);
        let service = self.delivery.table.locked().remove(channel);
        if let Some(mut s) = service {
            s.stop();
            info!(channel, "delivery service stopped");
        }
    }

    /// Stops every delivery service (the node stops).
    pub(super) fn stop_all_deliveries(&mut self) {
        let channels: Vec<String> = self.delivery.running.keys().cloned().collect();
        for ch in channels {
            self.stop_deliver(&ch);
        }
    }

    /// An event of a delivery service.
    pub(super) fn on_delivered(&mut self, ev: Delivered) {
        let current = self
            .delivery
            .running
            .get(&ev.channel)
            .is_some_and(|(id, _)| *id == ev.id);
        if !current {
            self.delivery.stale_events += 1;
            return;
        }
        match ev.event {
            DeliveryEvent::Block { seq, block } => {
                self.deliver_block(&ev.channel, seq, block.into(), None)
            }
            DeliveryEvent::Verified(v) => {
                let (seq, block) = (v.payload().seq, v.payload().block.clone());
                self.deliver_block(&ev.channel, seq, block, Some(v))
            }
            DeliveryEvent::Unreachable { down_for } => {
                warn!(channel = %ev.channel, ?down_for, "no orderer reachable");
                // A static leader keeps trying; an elected one gives leadership to a peer
                // that may reach an orderer.
                if !self.delivery.static_leader {
                    self.stop_deliver(&ev.channel);
                    self.yield_leadership(&ev.channel);
                }
            }
        }
    }

    /// A block from the orderer: the `add_payload` path (verified there unless the delivery
    /// service did), pushed to the org only when block gossip is on.
    fn deliver_block(
        &mut self,
        channel: &str,
        seq: u64,
        block: bytes::Bytes,
        verified: Option<VerifiedPayload>,
    ) {
        let now = Instant::now();
        let gossip = self.delivery.config.block_gossip_enabled;
        let Some(b) = self.blocks.get_mut(channel) else {
            return;
        };
        let msg = SignedGossipMessage::unsigned(data_msg(channel.as_bytes(), seq, block));
        let mut out = Vec::new();
        match b.accept_delivered(now, msg, verified, &mut out) {
            Ok(Some(new)) => {
                if gossip {
                    b.counters.forwarded += 1;
                    self.push_block(now, new.msg, None);
                }
            }
            // Held already (a reconnection seeks from the committed height).
            Ok(None) => {}
            Err(Rejected::TooFarAhead { seq, height, .. }) => {
                // The service paces by the height it is told, so this means a commit went
                // backwards; the block comes again after a reconnection.
                warn!(
                    channel,
                    seq, height, "block from the orderer too far ahead, dropped"
                );
            }
            Err(e) => warn!(channel, seq, "block from the orderer refused: {e}"),
        }
        self.execute_state(channel, out);
    }

    /// The committed height of `channel` moved: the delivery service may hand over more.
    pub(super) fn deliver_height(&mut self, channel: &str) {
        let (Some((_, tx)), Some(b)) =
            (self.delivery.running.get(channel), self.blocks.get(channel))
        else {
            return;
        };
        let h = b.height();
        tx.send_if_modified(|cur| {
            let moved = *cur != h;
            *cur = h;
            moved
        });
    }
}
