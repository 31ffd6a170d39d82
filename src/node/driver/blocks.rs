//! Blocks at the owner task: host payloads, pushed blocks, block pull, the state
//! provider's commits and push routing.

use std::collections::BTreeSet;
use std::time::Instant;

use tracing::{debug, warn};

use super::super::blocks::ChannelBlocks;
use super::super::counters::NodeCounters;
use super::super::ChannelCallError;
use super::channels::ChannelViews;
use super::{BlockJobReport, Driver};
use crate::channel::{self, ChannelError};
use crate::comm::{ReceivedMessage, RemotePeer};
use crate::message::{data_msg, SignedGossipMessage};
use crate::proto::gossip::PullMsgType;
use crate::pull::pull_input;
use crate::push::{LocalPeer, RoutePeer, RoutingSnapshot};
use crate::state::{self, commit_batch, Rejected, Source};
use crate::sync::{MutexExt, RwLockExt};
use crate::types::PkiId;

impl Driver {
    /// A block from the host: verified, buffered, committed in order and pushed to the org.
    pub(super) fn add_payload(
        &mut self,
        channel: &str,
        seq: u64,
        block: Vec<u8>,
    ) -> Result<(), ChannelCallError> {
        let now = Instant::now();
        let Some(b) = self.blocks.get_mut(channel) else {
            return Err(ChannelError::UnknownChannel(channel.to_string()).into());
        };
        let msg = SignedGossipMessage::unsigned(data_msg(channel.as_bytes(), seq, block));
        let mut out = Vec::new();
        let res = b.accept(now, msg, Source::Deliverer, false, &mut out);
        let res = match res {
            Ok(Some(new)) => {
                b.counters.forwarded += 1;
                self.push_block(now, new.msg, None);
                Ok(())
            }
            // Already held: adding a block twice is harmless.
            Ok(None) => Ok(()),
            Err(Rejected::TooFarAhead { seq, height, .. }) => {
                Err(ChannelCallError::TooFarAhead { seq, height })
            }
            Err(e) => Err(ChannelCallError::InvalidBlock(e.to_string())),
        };
        self.execute_state(channel, out);
        res
    }

    /// A pushed block: taken when new and valid, then pushed on (never back to the sender).
    pub(super) fn on_block_message(&mut self, m: ReceivedMessage) {
        let now = Instant::now();
        let from = m.conn.pki_id.clone();
        let Some((channel, org_ok)) = self.channel_of(&m, false) else {
            NodeCounters::inc(&self.counters.block_unknown_channel);
            return;
        };
        let Some(b) = self.blocks.get_mut(&channel) else {
            return;
        };
        b.counters.pushed_in += 1;
        if !org_ok {
            b.counters.refused += 1;
            return;
        }
        let msg = SignedGossipMessage {
            envelope: m.envelope,
            msg: m.msg,
        };
        let mut out = Vec::new();
        if let Ok(Some(new)) = b.accept(now, msg, Source::Gossip, false, &mut out) {
            b.counters.forwarded += 1;
            self.push_block(now, new.msg, Some(from));
        }
        self.execute_state(&channel, out);
    }

    /// A block pull message (hello, digest, request, update) from a peer of our org.
    pub(super) fn on_pull_message(&mut self, m: ReceivedMessage) {
        let now = Instant::now();
        let Some((channel, org_ok)) = self.channel_of(&m, true) else {
            NodeCounters::inc(&self.counters.block_unknown_channel);
            return;
        };
        let Some(b) = self.blocks.get_mut(&channel) else {
            return;
        };
        if !org_ok {
            b.counters.refused += 1;
            return;
        }
        let input = match pull_input(
            m.conn.pki_id.clone(),
            &m.msg,
            PullMsgType::BlockMsg,
            channel.as_bytes(),
        ) {
            Ok(input) => input,
            Err(e) => {
                // Identity pull went to the cert store before this; what is left is malformed.
                debug!(peer = %m.conn.pki_id, error = %e, "pull message dropped");
                NodeCounters::inc(&self.counters.unhandled);
                return;
            }
        };
        let out = b.pull_input(now, input);
        self.execute_pull(&channel, out);
    }

    /// The joined channel a block or pull message names, and whether its sender may send
    /// it: an org of the channel for blocks, our own org for block pull.
    pub(super) fn channel_of(
        &self,
        m: &ReceivedMessage,
        own_org_only: bool,
    ) -> Option<(String, bool)> {
        let channel = std::str::from_utf8(&m.msg.channel).ok()?;
        if !self.blocks.contains_key(channel) {
            return None;
        }
        let org = self.crypto.advisor.org_by_peer_identity(&m.conn.identity);
        let ok = org.is_some_and(|o| {
            if own_org_only {
                o == self.crypto.self_org
            } else {
                self.channels.is_org_in_channel(channel, &o)
            }
        });
        Some((channel.to_string(), ok))
    }

    /// Pushes a new block: relayed when it came `from` a peer (never sent back to it),
    /// else this peer's own (host or orderer).
    pub(super) fn push_block(
        &mut self,
        now: Instant,
        msg: SignedGossipMessage,
        from: Option<PkiId>,
    ) {
        let relayed = from.is_some();
        let input = crate::push::Input::Add {
            msg,
            exclude: from.into_iter().collect(),
            relayed,
        };
        let out = self.push_handle(now, input);
        self.execute_push(out);
    }

    /// Feeds the push emitter with the routing view, built once per view refresh rather
    /// than per block (it walks every alive member).
    fn push_handle(&mut self, now: Instant, input: crate::push::Input) -> Vec<crate::push::Output> {
        let (me, peers) = match self.routing.take() {
            Some(view) => view,
            None => self.routing_view(),
        };
        let out = self
            .push
            .handle(now, input, RoutingSnapshot::new(&me, &peers));
        self.routing = Some((me, peers));
        out
    }

    /// This peer and the alive members as push routing sees them: per joined channel,
    /// whether the member's org is in it and whether its StateInfo (not left) is held.
    fn routing_view(&self) -> (LocalPeer, Vec<RoutePeer>) {
        let names: Vec<&String> = self.blocks.keys().collect();
        let me = LocalPeer {
            pki_id: self.crypto.self_pki_id.clone(),
            org: self.crypto.self_org.clone(),
            endpoint: self.self_endpoint.clone(),
            channels: names
                .iter()
                .map(|n| n.as_bytes().to_vec())
                .collect::<BTreeSet<_>>(),
        };
        let peers = self
            .discovery
            .alive_members()
            .iter()
            .map(|m| {
                let mut p = RoutePeer::from_member(m);
                for name in &names {
                    if self.channels.is_org_in_channel(name, &m.org) {
                        let has_state_info = self
                            .channels
                            .state_info(name, &m.pki_id)
                            .is_some_and(|si| !si.fields.properties.left_channel);
                        p = p.in_channel(name.as_bytes(), has_state_info);
                    }
                }
                p
            })
            .collect();
        (me, peers)
    }

    pub(super) fn execute_push(&self, out: Vec<crate::push::Output>) {
        for crate::push::Output::Send { to, envelope } in out {
            for t in to {
                self.comm.send(
                    (*envelope).clone(),
                    &RemotePeer {
                        endpoint: t.endpoint,
                        pki_id: t.pki_id,
                    },
                );
            }
        }
    }

    /// Carries out the state provider's outputs for `channel`.
    pub(super) fn execute_state(&mut self, channel: &str, out: Vec<state::Output>) {
        for o in out {
            match o {
                state::Output::Commit(batch) => {
                    let Some(b) = self.blocks.get(channel) else {
                        return;
                    };
                    let ledger = b.ledger.clone();
                    let scan_configs = b.config_from_blocks;
                    let tx = self.block_job_tx.clone();
                    let ch = channel.to_string();
                    let pvt = self.pvt_commit(channel);
                    // Ledger I/O (fsync, host callbacks) stays off the async workers: the
                    // whole batch in one blocking job, one report back.
                    tokio::task::spawn_blocking(move || {
                        // A batch with private data to gather commits from its own task.
                        if let Some(pvt) = pvt {
                            if let Some(needs) = super::pvt_commit::batch_needs(&batch) {
                                tokio::runtime::Handle::current().spawn(pvt.run(
                                    batch,
                                    needs,
                                    ledger,
                                    tx,
                                    scan_configs,
                                ));
                                return;
                            }
                        }
                        let started = std::time::Instant::now();
                        let report = {
                            let mut l = ledger.locked();
                            commit_batch(&mut **l, &batch)
                        };
                        let took = started.elapsed();
                        let configs = if scan_configs {
                            super::join::committed_configs(&ch, &batch, &report)
                        } else {
                            Vec::new()
                        };
                        let _ = tx.blocking_send(BlockJobReport::Commit {
                            channel: ch,
                            report,
                            took,
                            configs,
                            pvt: None,
                        });
                    });
                }
                // New blocks were pushed when the block store took them, with their
                // original envelope; the provider's forward request is met already.
                state::Output::Forward { .. } => {}
                state::Output::PullGap { from, to } => {
                    let now = Instant::now();
                    let peers = self.org_channel_peers(channel);
                    let Some(b) = self.blocks.get_mut(channel) else {
                        return;
                    };
                    let hint = ChannelBlocks::gap_digests(from, to);
                    debug!(channel, from, to, "pulling missing blocks now");
                    let out = b.pull_input(now, crate::pull::Input::PullNow { peers, hint });
                    self.execute_pull(channel, out);
                }
            }
        }
    }

    /// Carries out the block pull engine's outputs for `channel`.
    pub(super) fn execute_pull(&mut self, channel: &str, out: Vec<crate::pull::Output>) {
        let now = Instant::now();
        for o in out {
            match o {
                crate::pull::Output::Send { to, msg } => {
                    let endpoint = self
                        .discovery
                        .lookup(&to)
                        .map(|m| {
                            if m.internal_endpoint.is_empty() {
                                m.endpoint
                            } else {
                                m.internal_endpoint
                            }
                        })
                        .unwrap_or_default();
                    self.comm.send(
                        SignedGossipMessage::unsigned(msg).envelope,
                        &RemotePeer {
                            endpoint,
                            pki_id: to,
                        },
                    );
                }
                crate::pull::Output::Received { digest, item, .. } => {
                    let Some(b) = self.blocks.get_mut(channel) else {
                        return;
                    };
                    let Ok(msg) = SignedGossipMessage::from_envelope(item) else {
                        b.forget_pulled(&digest);
                        continue;
                    };
                    let mut st = Vec::new();
                    match b.accept(now, msg, Source::Gossip, true, &mut st) {
                        Ok(_) => {}
                        // Let the engine ask for it again later.
                        Err(_) => b.forget_pulled(&digest),
                    }
                    self.execute_state(channel, st);
                }
                crate::pull::Output::UpdateRejected { from, reason } => {
                    warn!(channel, peer = %from, reason, "pulled blocks refused");
                }
            }
        }
    }

    /// Channel members of our org with a StateInfo: the block pull's candidates.
    pub(super) fn org_channel_peers(&self, channel: &str) -> Vec<PkiId> {
        self.channels
            .peers_of_channel(&self.discovery, channel)
            .into_iter()
            .filter(|p| p.org == self.crypto.self_org)
            .map(|p| p.pki_id)
            .collect()
    }

    /// Due timers of every channel's state provider and block pull, and of push.
    pub(super) fn blocks_tick(&mut self) {
        let now = Instant::now();
        let names: Vec<String> = self.blocks.keys().cloned().collect();
        for name in names {
            let Some(b) = self.blocks.get_mut(&name) else {
                continue;
            };
            let out = b.state_input(now, state::Input::Tick);
            self.execute_state(&name, out);
            let due = self
                .blocks
                .get(&name)
                .is_some_and(|b| b.pull_round_due(now));
            let peers = if due {
                self.org_channel_peers(&name)
            } else {
                Vec::new()
            };
            if let Some(b) = self.blocks.get_mut(&name) {
                let out = b.pull_input(now, crate::pull::Input::Tick { peers });
                self.execute_pull(&name, out);
            }
        }
        if self.push.next_deadline().is_some_and(|d| d <= now) {
            let out = self.push_handle(now, crate::push::Input::Tick);
            self.execute_push(out);
        }
        self.transfer_tick(now);
    }

    /// A blocking-thread job of the block path finished.
    pub(super) fn on_block_job(&mut self, job: BlockJobReport) {
        match job {
            BlockJobReport::Commit {
                channel,
                report,
                took,
                configs,
                pvt,
            } => {
                if let Some(b) = self.blocks.get_mut(&channel) {
                    b.commit_duration.observe(took);
                    if let Some(t) = pvt {
                        let m = &mut b.privdata;
                        t.fetch.iter().for_each(|d| m.fetch_duration.observe(*d));
                        t.commit_block
                            .iter()
                            .for_each(|d| m.commit_block_duration.observe(*d));
                        if let Some(d) = t.purge {
                            m.purge_duration.observe(d);
                        }
                        m.missing += t.missing;
                    }
                }
                self.on_commit_report(&channel, report);
                self.privdata_committed(&channel);
                self.apply_committed_configs(&channel, configs);
                self.deliver_height(&channel);
            }
            BlockJobReport::Verified {
                channel,
                from,
                nonce,
                payloads,
            } => self.on_verified_response(&channel, &from, nonce, payloads),
        }
    }

    /// A ledger commit finished: the provider moves on, the StateInfo height follows.
    pub(super) fn on_commit_report(&mut self, channel: &str, report: state::Input) {
        let now = Instant::now();
        let Some(b) = self.blocks.get_mut(channel) else {
            return;
        };
        if let state::Input::CommitFailed {
            first,
            height,
            error,
        } = &report
        {
            warn!(
                channel,
                first, height, error, "commit failed at block {height}; it is retried"
            );
        }
        let before = b.height();
        let out = b.state_input(now, report);
        let height = b.height();
        if height != before {
            b.prune_pull();
        }
        let stats = b.stats();
        self.channel_view
            .write_locked()
            .blocks
            .insert(channel.to_string(), stats);
        self.execute_state(channel, out);
        if height != before {
            let _ = self.channel_step(channel::Input::UpdateLedgerHeight {
                channel: channel.to_string(),
                height,
            });
            self.transfer_height(channel, now);
        }
    }

    /// The highest ledger height a channel peer of our org advertises reveals blocks we
    /// miss; the state provider turns it into a pull at once.
    pub(super) fn feed_remote_heights(&mut self, now: Instant, views: &ChannelViews) {
        let names: Vec<String> = self.blocks.keys().cloned().collect();
        for name in names {
            let max = views
                .get(&name)
                .into_iter()
                .flatten()
                .filter(|p| p.org == self.crypto.self_org)
                .map(|p| p.ledger_height)
                .max();
            let (Some(height), Some(b)) = (max, self.blocks.get_mut(&name)) else {
                continue;
            };
            if height > b.height() {
                let out = b.state_input(now, state::Input::RemoteHeight { height });
                self.execute_state(&name, out);
            }
        }
        self.feed_transfer_heights(now, views);
    }
}
