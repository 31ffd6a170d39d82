//! Anti-entropy state transfer at the owner task: channel peers' heights and ticks in,
//! `RemoteStateRequest`s out; responses go through the access check to the state
//! provider; requests from channel members are served from the ledger off the owner task.
//!
//! As in Fabric, requests and responses are unsigned (tag CHAN_OR_ORG, point to point,
//! the nonce matches them) and both directions require the sender's handshake credential
//! to pass `VerifyByChannel` (the channel's readers policy).

use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::{debug, warn};

use super::super::counters::NodeCounters;
use super::channels::ChannelViews;
use super::{BlockJobReport, Driver};
use crate::comm::{ConnectionInfo, ReceivedMessage, RemotePeer};
use crate::message::{state_request_msg, state_response_msg, SignedGossipMessage};
use crate::proto::gossip::gossip_message::Content;
use crate::proto::gossip::Payload as GossipPayload;
use crate::state::{
    check_response, check_state_access, CheckedPayload, Payload, ServePlan, Source, StateRequest,
};
use crate::sync::MutexExt;
use crate::types::PkiId;

/// Requests served at once per channel (ledger reads on blocking threads); more are
/// dropped and counted, as Fabric drops requests beyond its request queue.
const MAX_SERVING: usize = 8;

impl Driver {
    /// A `RemoteStateRequest`: answered with the blocks of the range the ledger holds.
    pub(super) fn on_state_request(&mut self, m: ReceivedMessage) {
        let Some(Content::StateRequest(req)) = &m.msg.content else {
            return;
        };
        let Some(channel) = self.joined_channel(&m) else {
            return;
        };
        let allowed = self.state_access(&channel, &m.conn);
        let Some(b) = self.blocks.get_mut(&channel) else {
            return;
        };
        if !allowed {
            b.transfer.refused_request();
            warn!(channel, peer = %m.conn.pki_id, "state request from a peer outside the channel refused");
            return;
        }
        let nonce = m.msg.nonce;
        let to = RemotePeer {
            endpoint: m.conn.endpoint.clone(),
            pki_id: m.conn.pki_id.clone(),
        };
        let (start, end) = match b
            .transfer
            .serve(req.start_seq_num, req.end_seq_num, b.height())
        {
            ServePlan::Ignore => {
                debug!(channel, peer = %to.pki_id, "malformed state request ignored");
                return;
            }
            ServePlan::Empty => {
                let msg = state_response_msg(channel.as_bytes(), nonce, Vec::new());
                self.comm
                    .send(SignedGossipMessage::unsigned(msg).envelope, &to);
                return;
            }
            ServePlan::Blocks { start, end } => (start, end),
        };
        let serving = b.serving.clone();
        if serving.in_progress.fetch_add(1, Ordering::AcqRel) >= MAX_SERVING {
            serving.in_progress.fetch_sub(1, Ordering::AcqRel);
            b.transfer.busy();
            return;
        }
        let ledger = b.ledger.clone();
        let comm = self.comm.clone();
        // Ledger reads stay off the async workers.
        tokio::task::spawn_blocking(move || {
            let read = {
                let l = ledger.locked();
                l.get_blocks(start, end)
            };
            match read {
                Ok(blocks) => {
                    serving
                        .blocks_served
                        .fetch_add(blocks.len() as u64, Ordering::Relaxed);
                    let payloads = blocks
                        .into_iter()
                        .zip(start..)
                        .map(|(data, seq_num)| GossipPayload {
                            seq_num,
                            data: data.into(),
                            private_data: Vec::new(),
                        })
                        .collect();
                    let msg = state_response_msg(channel.as_bytes(), nonce, payloads);
                    comm.send(SignedGossipMessage::unsigned(msg).envelope, &to);
                }
                Err(e) => {
                    serving.read_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(channel, start, end, error = %e, "reading blocks for a state request failed");
                }
            }
            serving.in_progress.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// A `RemoteStateResponse`: matched by nonce to our request, its blocks verified on a
    /// blocking thread (several responses at once, beside the owner task), then buffered by
    /// the state provider ([`on_verified_response`](Self::on_verified_response)).
    pub(super) fn on_state_response(&mut self, m: ReceivedMessage) {
        let now = Instant::now();
        let Some(channel) = self.joined_channel(&m) else {
            return;
        };
        let allowed = self.state_access(&channel, &m.conn);
        let Some(b) = self.blocks.get_mut(&channel) else {
            return;
        };
        if !allowed {
            b.transfer.refused_response();
            warn!(channel, peer = %m.conn.pki_id, "state response from a peer outside the channel refused");
            return;
        }
        let nonce = m.msg.nonce;
        let Some(Content::StateResponse(resp)) = m.msg.content else {
            return;
        };
        let payloads: Vec<Payload> = resp
            .payloads
            .into_iter()
            .map(|p| Payload::from_proto(p, Source::StateTransfer))
            .collect();
        let from = m.conn.pki_id.clone();
        let Some(range) = b
            .transfer
            .awaited(nonce, &from)
            .filter(|_| !payloads.is_empty())
        else {
            // Unsolicited or empty: nothing to verify; the state transfer counts it and
            // asks elsewhere.
            let mut out = Vec::new();
            let reqs = b.transfer_response(now, &from, nonce, payloads, &mut out);
            self.execute_state(&channel, out);
            self.send_state_requests(&channel, reqs);
            return;
        };
        let verifier = self.block_verifier.clone();
        let tx = self.block_job_tx.clone();
        tokio::task::spawn_blocking(move || {
            let payloads = check_response(&*verifier, &channel, range, payloads);
            let _ = tx.blocking_send(BlockJobReport::Verified {
                channel,
                from,
                nonce,
                payloads,
            });
        });
    }

    /// A state response's payloads back from verification: matched to the request (it may
    /// have timed out meanwhile) and buffered.
    pub(super) fn on_verified_response(
        &mut self,
        channel: &str,
        from: &PkiId,
        nonce: u64,
        payloads: Vec<CheckedPayload>,
    ) {
        let now = Instant::now();
        let Some(b) = self.blocks.get_mut(channel) else {
            return;
        };
        let mut out = Vec::new();
        let reqs = b.transfer_response_checked(now, from, nonce, payloads, &mut out);
        self.execute_state(channel, out);
        self.send_state_requests(channel, reqs);
    }

    /// Feeds every channel's state transfer the heights its peers advertise.
    pub(super) fn feed_transfer_heights(&mut self, now: Instant, views: &ChannelViews) {
        for name in self.transfer_channels() {
            let heights: Vec<_> = views
                .get(&name)
                .into_iter()
                .flatten()
                .map(|p| (p.pki_id.clone(), p.ledger_height))
                .collect();
            let Some(b) = self.blocks.get_mut(&name) else {
                continue;
            };
            let reqs = b.transfer.set_peer_heights(now, heights);
            self.send_state_requests(&name, reqs);
        }
    }

    /// A StateInfo advertising `height` arrived: when it is above what some channel's state
    /// transfer knows, the heights are fed now rather than at the next view refresh, so a
    /// round starts as soon as the height is learned.
    pub(super) fn on_height_hint(&mut self, now: Instant, height: u64) {
        let news = self.blocks.values().any(|b| {
            b.transfer.config().enabled && height > b.height() && height > b.transfer.target()
        });
        if news {
            let views = self.channel_views_of(self.transfer_channels());
            self.feed_transfer_heights(now, &views);
        }
    }

    /// The channels whose state transfer is on.
    fn transfer_channels(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter(|(_, b)| b.transfer.config().enabled)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Due timeouts and retries of every channel's state transfer.
    pub(super) fn transfer_tick(&mut self, now: Instant) {
        let names: Vec<String> = self.blocks.keys().cloned().collect();
        for name in names {
            let Some(b) = self.blocks.get_mut(&name) else {
                continue;
            };
            let reqs = b.transfer.tick(now);
            self.send_state_requests(&name, reqs);
        }
    }

    /// The ledger of `channel` moved: state transfer asks for the next ranges.
    pub(super) fn transfer_height(&mut self, channel: &str, now: Instant) {
        let Some(b) = self.blocks.get_mut(channel) else {
            return;
        };
        let height = b.height();
        let reqs = b.transfer.set_height(now, height);
        self.send_state_requests(channel, reqs);
    }

    fn send_state_requests(&self, channel: &str, reqs: Vec<StateRequest>) {
        for r in reqs {
            let endpoint = self
                .discovery
                .lookup(&r.to)
                .map(|m| {
                    if m.internal_endpoint.is_empty() {
                        m.endpoint
                    } else {
                        m.internal_endpoint
                    }
                })
                .unwrap_or_default();
            debug!(channel, peer = %r.to, start = r.start, end = r.end, "requesting blocks by state transfer");
            let msg = state_request_msg(channel.as_bytes(), r.nonce, r.start, r.end);
            self.comm.send(
                SignedGossipMessage::unsigned(msg).envelope,
                &RemotePeer {
                    endpoint,
                    pki_id: r.to,
                },
            );
        }
    }

    /// The joined channel a state message names; counted when unknown.
    fn joined_channel(&self, m: &ReceivedMessage) -> Option<String> {
        let channel = std::str::from_utf8(&m.msg.channel)
            .ok()
            .filter(|c| self.blocks.contains_key(*c));
        if channel.is_none() {
            NodeCounters::inc(&self.counters.block_unknown_channel);
        }
        channel.map(str::to_owned)
    }

    /// Fabric's check on state messages: the sender's handshake credential must pass
    /// `VerifyByChannel` (the channel's readers policy).
    fn state_access(&self, channel: &str, conn: &ConnectionInfo) -> bool {
        check_state_access(&*self.crypto.mcs, channel, &conn.identity, &conn.auth).is_ok()
    }
}
