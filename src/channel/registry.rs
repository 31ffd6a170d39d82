//! The channel registry: every joined channel as a sans-IO machine, plus the node-level
//! store of StateInfo for channels we have not joined.
//!
//! Events come in through [`Channels::handle`]; actions go out as [`Output`]s. Membership is
//! lent for each call ([`MembershipView`]); time (`Instant` plus a wall-clock anchor for the
//! StateInfo timestamps) and randomness are injected, so runs are reproducible.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tracing::{debug, warn};

use super::config::ChannelConfig;
use super::counters::ChannelCounters;
use super::error::ChannelError;
use super::events::{AnchorPeer, ChannelPeer, JoinChannelMessage, Output, Received};
use super::gossip_channel::GossipChannel;
use super::state_info::{
    read_state_info, AddOutcome, Freshness, StateInfoError, StateInfoFields, StoredStateInfo,
};
use super::view::{MembershipView, StateInfoVerifier};
use crate::discovery::{MemberView, Signer};
use crate::message::{
    channel_mac, is_tag_legal, state_info_pull_req_msg, state_snapshot_msg, Content,
    SignedGossipMessage,
};
use crate::proto::gossip::{Chaincode, Envelope};
use crate::types::RemotePeer;
use crate::types::{OrgId, PkiId};

/// Who this peer is, for the channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSelf {
    pub pki_id: PkiId,
    pub org: OrgId,
    /// External endpoint; empty = our StateInfo stays in our org.
    pub endpoint: String,
}

/// An event for the registry.
#[derive(Debug, Clone)]
pub enum Input {
    /// Time passed; call at least as often as [`Channels::next_deadline`] says.
    Tick,
    /// Join a channel, or reconfigure a joined one (Fabric's `JoinChan`).
    Join {
        channel: String,
        msg: JoinChannelMessage,
    },
    /// Leave a channel: publish `left_channel = true` and stop its work.
    Leave { channel: String },
    /// The ledger of the channel reached this height; published with the next round.
    UpdateLedgerHeight { channel: String, height: u64 },
    /// The chaincodes installed on the channel changed; published at once.
    UpdateChaincodes {
        channel: String,
        chaincodes: Vec<Chaincode>,
    },
    /// A StateInfo, StateInfoPullRequest or StateInfoSnapshot from a peer.
    Message(Box<Received>),
}

/// Per-channel StateInfo and the peers of each channel, as Fabric's `gossipChannel`.
///
/// Rules and deviations:
/// - the first own StateInfo is pushed as soon as the channel is joined (and membership is
///   not empty), later ones every `publishStateInfoInterval` when changed; an unchanged
///   ledger height makes no new message;
/// - a join with an older sequence is ignored (counted); an equal or newer one reconfigures
///   (Fabric applies equal sequences too); a join that leaves our own org out is refused;
/// - a StateInfo naming (by MAC) a channel we have not joined is stored in a bounded,
///   expiring node-level store and forwarded to our org only when the *sender* is of our
///   org, as Fabric does; from other orgs it is dropped. It is checked with a plain
///   signature check, since no channel policy is known;
/// - a pushed StateInfo is forwarded to `propagatePeerNum` peers: channel members when its
///   originator has an external endpoint, else peers of our org; never back to the sender
///   nor to the originator;
/// - snapshot elements that fail a check are skipped one by one (Fabric abandons the rest of
///   the snapshot), and entries about ourselves are ignored: our own is authoritative;
/// - after leaving, a channel still answers StateInfo pull requests, with our own (left)
///   StateInfo only, so the others learn we left even if the push missed them; it pulls
///   nothing, accepts nothing and reports no peers.
pub struct Channels {
    cfg: ChannelConfig,
    me: ChannelSelf,
    signer: Box<dyn Signer>,
    verifier: Box<dyn StateInfoVerifier>,
    rng: StdRng,
    clock_at: Instant,
    clock_ns: u64,
    channels: BTreeMap<String, GossipChannel>,
    /// StateInfo of channels we have not joined, keyed by (MAC, PKI-ID).
    unjoined: BTreeMap<(Vec<u8>, PkiId), StoredStateInfo>,
    next_unjoined_expiry: Instant,
    counters: ChannelCounters,
}

impl Channels {
    /// Builds the registry. `now_ns` is the wall clock (ns since the Unix epoch) at `now`;
    /// StateInfo timestamps are taken from it as time advances.
    pub fn new(
        cfg: ChannelConfig,
        me: ChannelSelf,
        signer: Box<dyn Signer>,
        verifier: Box<dyn StateInfoVerifier>,
        now: Instant,
        now_ns: u64,
        rng_seed: u64,
    ) -> Result<Self, ChannelError> {
        cfg.validate()?;
        if me.pki_id.is_empty() {
            return Err(ChannelError::InvalidSelf("empty PKI-ID".into()));
        }
        if me.org.is_empty() {
            return Err(ChannelError::InvalidSelf("empty organization".into()));
        }
        Ok(Channels {
            next_unjoined_expiry: now + cfg.unjoined_ttl / 100,
            cfg,
            me,
            signer,
            verifier,
            rng: StdRng::seed_from_u64(rng_seed),
            clock_at: now,
            clock_ns: now_ns,
            channels: BTreeMap::new(),
            unjoined: BTreeMap::new(),
            counters: ChannelCounters::default(),
        })
    }

    /// Feeds one event; returns the actions to perform, in order. Due timers run on every
    /// successful call. Only the calls of the host (join, leave, updates) return errors;
    /// bad messages from the network are counted and dropped.
    pub fn handle(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        input: Input,
    ) -> Result<Vec<Output>, ChannelError> {
        let mut out = Vec::new();
        let res = match input {
            Input::Tick => Ok(()),
            Input::Join { channel, msg } => self.join(now, &channel, msg, &mut out),
            Input::Leave { channel } => self.leave(now, view, &channel, &mut out),
            Input::UpdateLedgerHeight { channel, height } => {
                self.update_ledger_height(&channel, height)
            }
            Input::UpdateChaincodes {
                channel,
                chaincodes,
            } => self.update_chaincodes(now, view, &channel, chaincodes, &mut out),
            Input::Message(rcv) => {
                self.on_message(now, view, *rcv, &mut out);
                Ok(())
            }
        };
        // A refused call changes nothing; due timers wait for the next call, so no output
        // is lost with the error.
        res?;
        self.run_timers(now, view, &mut out);
        Ok(out)
    }

    /// When the next timer is due.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self.next_unjoined_expiry;
        for ch in self.channels.values() {
            t = t.min(ch.next_publish).min(ch.next_sweep);
            if !ch.left {
                t = t.min(ch.next_pull);
            }
        }
        t
    }

    pub fn counters(&self) -> ChannelCounters {
        self.counters.clone()
    }

    /// Names of the joined channels (left ones included), sorted.
    pub fn channel_names(&self) -> Vec<String> {
        self.channels.keys().cloned().collect()
    }

    pub fn is_joined(&self, channel: &str) -> bool {
        self.channels.contains_key(channel)
    }

    pub fn has_left(&self, channel: &str) -> bool {
        self.channels.get(channel).is_some_and(|c| c.left)
    }

    /// The member orgs of a joined channel.
    pub fn member_orgs(&self, channel: &str) -> Option<Vec<OrgId>> {
        self.channels
            .get(channel)
            .map(|c| c.orgs.iter().cloned().collect())
    }

    /// The config sequence of a joined channel.
    pub fn sequence(&self, channel: &str) -> Option<u64> {
        self.channels.get(channel).map(|c| c.sequence)
    }

    /// Whether `org` is a member of `channel` (Fabric's `IsOrgInChannel`).
    pub fn is_org_in_channel(&self, channel: &str, org: &str) -> bool {
        self.channels.get(channel).is_some_and(|c| c.has_org(org))
    }

    /// The own ledger height published for the channel.
    pub fn ledger_height(&self, channel: &str) -> Option<u64> {
        self.channels.get(channel).map(|c| c.props.ledger_height)
    }

    /// The current own StateInfo of the channel, signed.
    pub fn own_state_info(&self, channel: &str) -> Option<&SignedGossipMessage> {
        self.channels.get(channel)?.own.as_ref()
    }

    /// The StateInfo held for a peer of a joined channel.
    pub fn state_info(&self, channel: &str, pki_id: &PkiId) -> Option<&StoredStateInfo> {
        self.channels.get(channel)?.store.get(pki_id)
    }

    /// The joined channel a StateInfo MAC of `pki_id` names (Fabric looks channels up this
    /// way for StateInfo and pull requests).
    pub fn channel_of_mac(&self, pki_id: &PkiId, mac: &[u8]) -> Option<&str> {
        self.channels
            .values()
            .find(|c| c.mac(pki_id) == mac)
            .map(|c| c.name.as_str())
    }

    /// Drops every StateInfo `pki_id` published, in every channel and in the store of
    /// channels not joined (its identity was cut off). Returns how many were dropped.
    pub fn remove_peer(&mut self, pki_id: &PkiId) -> usize {
        if *pki_id == self.me.pki_id {
            return 0;
        }
        let mut dropped = 0;
        for ch in self.channels.values_mut() {
            dropped += ch.store.retain(|e| e.fields.pki_id != *pki_id);
        }
        let before = self.unjoined.len();
        self.unjoined.retain(|(_, p), _| p != pki_id);
        dropped + before - self.unjoined.len()
    }

    /// How many StateInfo of channels we have not joined are held.
    pub fn unjoined_len(&self) -> usize {
        self.unjoined.len()
    }

    /// Fabric's `PeersOfChannel`: alive members with a StateInfo for the channel that have
    /// not left it, ordered by PKI-ID. Empty once we left the channel.
    pub fn peers_of_channel(&self, view: &dyn MembershipView, channel: &str) -> Vec<ChannelPeer> {
        let Some(ch) = self.channels.get(channel) else {
            return Vec::new();
        };
        if ch.left {
            return Vec::new();
        }
        view.alive_members()
            .into_iter()
            .filter(|m| m.pki_id != self.me.pki_id)
            .filter_map(|m| {
                let si = ch.store.get(&m.pki_id)?;
                if si.fields.properties.left_channel || !ch.has_org(&si.org) {
                    return None;
                }
                Some(ChannelPeer {
                    pki_id: m.pki_id,
                    endpoint: m.endpoint,
                    internal_endpoint: m.internal_endpoint,
                    org: si.org.clone(),
                    ledger_height: si.fields.properties.ledger_height,
                    chaincodes: si.fields.properties.chaincodes.clone(),
                    left_channel: false,
                    envelope: si.envelope.clone(),
                })
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------
    // Host calls.

    fn join(
        &mut self,
        now: Instant,
        channel: &str,
        msg: JoinChannelMessage,
        out: &mut Vec<Output>,
    ) -> Result<(), ChannelError> {
        let invalid = |reason: &str| ChannelError::InvalidJoin {
            channel: channel.to_string(),
            reason: reason.to_string(),
        };
        let check = if channel.is_empty() {
            Err(invalid("empty channel name"))
        } else if msg.members.is_empty() || msg.members.iter().any(|o| o.is_empty()) {
            Err(invalid("no member orgs, or an empty org name"))
        } else {
            Ok(())
        };
        if let Err(e) = check {
            self.counters.join_invalid += 1;
            warn!(channel, error = %e, "join refused");
            return Err(e);
        }
        // An older config is ignored whatever it says.
        if let Some(ch) = self.channels.get(channel) {
            if msg.sequence < ch.sequence {
                self.counters.join_stale += 1;
                debug!(
                    channel,
                    got = msg.sequence,
                    current = ch.sequence,
                    "ignoring join message with an older sequence"
                );
                return Ok(());
            }
        }
        if !msg.members.contains(&self.me.org) {
            let e = ChannelError::NotInChannel {
                channel: channel.to_string(),
                org: self.me.org.clone(),
            };
            self.counters.join_invalid += 1;
            warn!(channel, error = %e, "join refused");
            return Err(e);
        }
        if let Some(ch) = self.channels.get_mut(channel) {
            let dropped = ch.reconfigure(&msg);
            // What is stored was accepted under the previous config: check it again under
            // the new one (`VerifyByChannel`), as the readers policy may have changed.
            let me = &self.me.pki_id;
            let verifier = &self.verifier;
            let refused = ch.store.retain(|e| {
                e.fields.pki_id == *me
                    || verifier
                        .verify(
                            Some(channel),
                            &e.fields.pki_id,
                            &e.envelope.signature,
                            &e.envelope.payload,
                        )
                        .is_ok()
            });
            self.counters.reconfigured += 1;
            self.counters.revalidation_dropped += (dropped + refused) as u64;
            if ch.left {
                // Rejoin after leave: the channel works again and says so at once.
                ch.left = false;
                ch.props.left_channel = false;
                ch.needs_sign = true;
                ch.next_publish = now;
                ch.next_pull = now;
                self.counters.joined += 1;
                debug!(channel, "rejoined after leaving");
            }
        } else {
            let inc = self.wall_ns(now);
            let mut ch = GossipChannel::new(
                channel,
                &msg,
                inc,
                now,
                now + self.cfg.request_state_info_interval,
                now + self.cfg.sweep_interval(),
            );
            if let Err(e) = ch.sign_own(&self.me.pki_id, &self.me.org, now, inc, &*self.signer) {
                // Retried before each publish round.
                self.counters.sign_failed += 1;
                warn!(channel, error = %e, "signing the own StateInfo failed");
            } else {
                self.counters.state_info_signed += 1;
            }
            self.channels.insert(channel.to_string(), ch);
            self.counters.joined += 1;
        }
        self.emit_anchors(&msg.anchor_peers, out);
        Ok(())
    }

    fn emit_anchors(&mut self, anchors: &[AnchorPeer], out: &mut Vec<Output>) {
        for a in anchors {
            let host = a.host.trim();
            if host.is_empty() || a.port == 0 || a.org.is_empty() {
                self.counters.anchor_invalid += 1;
                continue;
            }
            // An IPv6 literal needs brackets to be a host:port endpoint.
            let endpoint = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{}", a.port)
            } else {
                format!("{host}:{}", a.port)
            };
            out.push(Output::AddAnchor {
                endpoint,
                org: a.org.clone(),
            });
        }
    }

    fn leave(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        channel: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), ChannelError> {
        let ch = self
            .channels
            .get(channel)
            .ok_or_else(|| ChannelError::UnknownChannel(channel.to_string()))?;
        if ch.left {
            return Ok(());
        }
        if let Some(c) = self.channels.get_mut(channel) {
            c.set_left();
        }
        self.counters.left += 1;
        self.sign_and_publish_now(now, view, channel, out);
        Ok(())
    }

    fn update_ledger_height(&mut self, channel: &str, height: u64) -> Result<(), ChannelError> {
        // Signed when it is next published or pulled, not per commit: a peer committing
        // a hundred blocks a second would otherwise sign a hundred StateInfo that nobody
        // sees before the next round.
        Self::usable_channel(&mut self.channels, channel)?.set_ledger_height(height);
        Ok(())
    }

    /// Signs the own StateInfo of `channel` if what it should say changed since.
    fn sign_if_needed(&mut self, now: Instant, channel: &str) {
        let ns = self.wall_ns(now);
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        if ch.needs_sign {
            let r = ch.sign_own(&self.me.pki_id, &self.me.org, now, ns, &*self.signer);
            self.count_sign(channel, r);
        }
    }

    fn update_chaincodes(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        channel: &str,
        chaincodes: Vec<Chaincode>,
        out: &mut Vec<Output>,
    ) -> Result<(), ChannelError> {
        Self::usable_channel(&mut self.channels, channel)?.set_chaincodes(chaincodes);
        self.sign_and_publish_now(now, view, channel, out);
        Ok(())
    }

    fn usable_channel<'a>(
        channels: &'a mut BTreeMap<String, GossipChannel>,
        channel: &str,
    ) -> Result<&'a mut GossipChannel, ChannelError> {
        match channels.get_mut(channel) {
            None => Err(ChannelError::UnknownChannel(channel.to_string())),
            Some(c) if c.left => Err(ChannelError::LeftChannel(channel.to_string())),
            Some(c) => Ok(c),
        }
    }

    fn count_sign(&mut self, channel: &str, r: Result<(), crate::crypto::CryptoError>) {
        match r {
            Ok(()) => self.counters.state_info_signed += 1,
            Err(e) => {
                self.counters.sign_failed += 1;
                warn!(channel, error = %e, "signing the own StateInfo failed");
            }
        }
    }

    /// Signs the own StateInfo of `channel` and pushes it now rather than at the next round.
    fn sign_and_publish_now(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        channel: &str,
        out: &mut Vec<Output>,
    ) {
        let ns = self.wall_ns(now);
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        let r = ch.sign_own(&self.me.pki_id, &self.me.org, now, ns, &*self.signer);
        self.count_sign(channel, r);
        self.publish(view, channel, out);
    }

    // -----------------------------------------------------------------------------------
    // Timers.

    fn run_timers(&mut self, now: Instant, view: &dyn MembershipView, out: &mut Vec<Output>) {
        let names: Vec<String> = self.channels.keys().cloned().collect();
        for name in names {
            let Some(ch) = self.channels.get_mut(&name) else {
                continue;
            };
            if now >= ch.next_publish {
                ch.next_publish = now + self.cfg.publish_state_info_interval;
                self.sign_if_needed(now, &name);
                self.publish(view, &name, out);
            }
            let Some(ch) = self.channels.get_mut(&name) else {
                continue;
            };
            if now >= ch.next_pull {
                ch.next_pull = now + self.cfg.request_state_info_interval;
                if !ch.left {
                    self.request_state_info(view, &name, out);
                }
            }
            let Some(ch) = self.channels.get_mut(&name) else {
                continue;
            };
            if now >= ch.next_sweep {
                ch.next_sweep = now + self.cfg.sweep_interval();
                let me = &self.me.pki_id;
                let swept = ch
                    .store
                    .retain(|e| &e.fields.pki_id == me || view.lookup(&e.fields.pki_id).is_some());
                self.counters.swept += swept as u64;
            }
        }
        if now >= self.next_unjoined_expiry {
            self.next_unjoined_expiry = now + self.cfg.unjoined_ttl / 100;
            let ttl = self.cfg.unjoined_ttl;
            self.unjoined
                .retain(|_, e| now.saturating_duration_since(e.stored_at) < ttl);
        }
    }

    /// Pushes the own StateInfo if it changed since the last push and someone can get it.
    fn publish(&mut self, view: &dyn MembershipView, channel: &str, out: &mut Vec<Output>) {
        let Some(ch) = self.channels.get(channel) else {
            return;
        };
        let Some(own) = ch.own.as_ref() else {
            return;
        };
        if !ch.dirty {
            return;
        }
        let envelope = own.envelope.clone();
        let has_ext = !self.me.endpoint.is_empty();
        let me = self.me.pki_id.clone();
        let targets = self.state_info_targets(view, channel, has_ext, &[&me]);
        if targets.is_empty() {
            // Nobody to tell yet: stays pending for the next round.
            return;
        }
        self.counters.state_info_published += targets.len() as u64;
        for to in targets {
            out.push(Output::Send {
                to,
                envelope: envelope.clone(),
            });
        }
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.dirty = false;
        }
    }

    fn request_state_info(
        &mut self,
        view: &dyn MembershipView,
        channel: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(ch) = self.channels.get(channel) else {
            return;
        };
        let candidates: Vec<MemberView> = view
            .alive_members()
            .into_iter()
            .filter(|m| m.pki_id != self.me.pki_id && ch.has_org(&m.org))
            .collect();
        let req = SignedGossipMessage::unsigned(state_info_pull_req_msg(ch.mac(&self.me.pki_id)));
        let targets = self.pick(candidates, self.cfg.pull_peer_num);
        self.counters.pull_req_sent += targets.len() as u64;
        for to in targets {
            out.push(Output::Send {
                to,
                envelope: req.envelope.clone(),
            });
        }
    }

    /// Fabric's StateInfo routing: `propagatePeerNum` alive peers among the channel's
    /// members when the originator has an external endpoint, else among our org.
    fn state_info_targets(
        &mut self,
        view: &dyn MembershipView,
        channel: &str,
        originator_has_ext: bool,
        exclude: &[&PkiId],
    ) -> Vec<RemotePeer> {
        let orgs: Option<BTreeSet<OrgId>> = self.channels.get(channel).map(|c| c.orgs.clone());
        let candidates: Vec<MemberView> = view
            .alive_members()
            .into_iter()
            .filter(|m| m.pki_id != self.me.pki_id && !exclude.contains(&&m.pki_id))
            .filter(|m| match (&orgs, originator_has_ext) {
                (Some(orgs), true) => orgs.contains(&m.org),
                _ => m.org == self.me.org,
            })
            .collect();
        self.pick(candidates, self.cfg.propagate_peer_num)
    }

    fn pick(&mut self, candidates: Vec<MemberView>, n: usize) -> Vec<RemotePeer> {
        candidates
            .choose_multiple(&mut self.rng, n)
            .map(|m| RemotePeer {
                pki_id: m.pki_id.clone(),
                endpoint: m.preferred_endpoint().to_string(),
            })
            .collect()
    }

    fn wall_ns(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.clock_at).as_nanos();
        self.clock_ns
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    fn target_of(&self, view: &dyn MembershipView, pki_id: &PkiId) -> RemotePeer {
        RemotePeer {
            pki_id: pki_id.clone(),
            endpoint: view
                .lookup(pki_id)
                .map(|m| m.preferred_endpoint().to_string())
                .unwrap_or_default(),
        }
    }

    fn has_external_endpoint(&self, view: &dyn MembershipView, pki_id: &PkiId) -> bool {
        if *pki_id == self.me.pki_id {
            return !self.me.endpoint.is_empty();
        }
        view.lookup(pki_id).is_some_and(|m| !m.endpoint.is_empty())
    }

    // -----------------------------------------------------------------------------------
    // Messages.

    fn on_message(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        rcv: Received,
        out: &mut Vec<Output>,
    ) {
        match &rcv.message.msg.content {
            Some(Content::StateInfo(_)) => self.on_state_info(now, view, rcv, out),
            Some(Content::StateInfoPullReq(_)) => self.on_pull_request(now, view, rcv, out),
            Some(Content::StateSnapshot(_)) => self.on_snapshot(now, view, rcv),
            _ => self.counters.not_channel_state += 1,
        }
    }

    fn count_malformed(&mut self, e: &StateInfoError) {
        self.counters.state_info_malformed += 1;
        debug!(error = %e, "dropping malformed StateInfo");
    }

    /// The checks a StateInfo of a joined channel must pass, pushed or in a snapshot:
    /// originator's org in the channel, newer than held, signature by channel policy.
    fn check_state_info(
        &mut self,
        channel: &str,
        fields: &StateInfoFields,
        envelope: &Envelope,
    ) -> Option<OrgId> {
        let ch = self.channels.get(channel)?;
        let Some(org) = self.verifier.org_of(&fields.pki_id) else {
            self.counters.state_info_unknown_org += 1;
            return None;
        };
        if !ch.has_org(&org) {
            self.counters.state_info_org_not_in_channel += 1;
            return None;
        }
        if let Some(held) = ch.store.get(&fields.pki_id) {
            let fresh = super::state_info::compare_time(&fields.timestamp, &held.fields.timestamp);
            if fresh != Freshness::Newer {
                self.counters.state_info_stale += 1;
                return None;
            }
        }
        if let Err(e) = self.verifier.verify(
            Some(channel),
            &fields.pki_id,
            &envelope.signature,
            &envelope.payload,
        ) {
            self.counters.state_info_bad_signature += 1;
            debug!(channel, pki_id = %fields.pki_id, error = %e, "StateInfo signature refused");
            return None;
        }
        Some(org)
    }

    fn on_state_info(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        rcv: Received,
        out: &mut Vec<Output>,
    ) {
        self.counters.state_info_received += 1;
        let fields = match read_state_info(&rcv.message) {
            Ok(f) => f,
            Err(e) => return self.count_malformed(&e),
        };
        if fields.pki_id == self.me.pki_id {
            self.counters.state_info_about_self += 1;
            return;
        }
        let Some(channel) = self
            .channel_of_mac(&fields.pki_id, &fields.channel_mac)
            .map(str::to_string)
        else {
            return self.on_unjoined_state_info(now, view, rcv, fields, out);
        };
        let ch = &self.channels[&channel];
        if ch.left {
            self.counters.after_leave += 1;
            return;
        }
        if !ch.has_org(&rcv.from_org) {
            self.counters.sender_not_in_channel += 1;
            return;
        }
        let envelope = rcv.message.envelope;
        let Some(org) = self.check_state_info(&channel, &fields, &envelope) else {
            return;
        };
        let originator = fields.pki_id.clone();
        let entry = StoredStateInfo {
            org,
            fields,
            envelope: envelope.clone(),
            stored_at: now,
        };
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if ch.store.add(entry) != AddOutcome::Added {
            self.counters.state_info_stale += 1;
            return;
        }
        self.counters.state_info_accepted += 1;
        let has_ext = self.has_external_endpoint(view, &originator);
        let targets = self.state_info_targets(view, &channel, has_ext, &[&rcv.from, &originator]);
        self.counters.state_info_forwarded += targets.len() as u64;
        for to in targets {
            out.push(Output::Send {
                to,
                envelope: envelope.clone(),
            });
        }
    }

    /// A StateInfo whose MAC names no joined channel: kept and passed on inside our org
    /// when a peer of our org sent it (Fabric's node-level StateInfo store).
    fn on_unjoined_state_info(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        rcv: Received,
        fields: StateInfoFields,
        out: &mut Vec<Output>,
    ) {
        if rcv.from_org != self.me.org {
            self.counters.state_info_unknown_channel += 1;
            return;
        }
        let key = (fields.channel_mac.clone(), fields.pki_id.clone());
        if let Some(held) = self.unjoined.get(&key) {
            if super::state_info::compare_time(&fields.timestamp, &held.fields.timestamp)
                != Freshness::Newer
            {
                self.counters.state_info_stale += 1;
                return;
            }
        } else if self.unjoined.len() >= self.cfg.unjoined_max {
            self.counters.state_info_unjoined_full += 1;
            return;
        }
        let Some(org) = self.verifier.org_of(&fields.pki_id) else {
            self.counters.state_info_unknown_org += 1;
            return;
        };
        let envelope = rcv.message.envelope;
        if let Err(e) =
            self.verifier
                .verify(None, &fields.pki_id, &envelope.signature, &envelope.payload)
        {
            self.counters.state_info_bad_signature += 1;
            debug!(pki_id = %fields.pki_id, error = %e, "StateInfo signature refused");
            return;
        }
        let originator = fields.pki_id.clone();
        self.unjoined.insert(
            key,
            StoredStateInfo {
                org,
                fields,
                envelope: envelope.clone(),
                stored_at: now,
            },
        );
        self.counters.state_info_unjoined_stored += 1;
        // No channel known: our org only, whatever the originator's endpoint.
        let targets = self.state_info_targets(view, "", false, &[&rcv.from, &originator]);
        self.counters.state_info_forwarded += targets.len() as u64;
        for to in targets {
            out.push(Output::Send {
                to,
                envelope: envelope.clone(),
            });
        }
    }

    fn on_pull_request(
        &mut self,
        now: Instant,
        view: &dyn MembershipView,
        rcv: Received,
        out: &mut Vec<Output>,
    ) {
        self.counters.pull_req_received += 1;
        let mac = match &rcv.message.msg.content {
            Some(Content::StateInfoPullReq(r)) => r.channel_mac.clone(),
            _ => return,
        };
        if is_tag_legal(&rcv.message.msg).is_err() {
            self.counters.state_info_malformed += 1;
            return;
        }
        // The requester names the channel with its own PKI-ID.
        let Some(channel) = self.channel_of_mac(&rcv.from, &mac).map(str::to_string) else {
            self.counters.pull_req_unknown_channel += 1;
            return;
        };
        if !self.channels[&channel].has_org(&rcv.from_org) {
            self.counters.sender_not_in_channel += 1;
            return;
        }
        // The snapshot carries our current height, signed now if it changed since.
        self.sign_if_needed(now, &channel);
        let ch = &self.channels[&channel];
        let same_org = rcv.from_org == self.me.org;
        let elements: Vec<Envelope> = if ch.left {
            ch.own.iter().map(|o| o.envelope.clone()).collect()
        } else {
            ch.store
                .iter()
                .filter(|e| {
                    // A foreign requester sees our org's peers only if they have an
                    // external endpoint.
                    same_org
                        || e.org != self.me.org
                        || self.has_external_endpoint(view, &e.fields.pki_id)
                })
                .map(|e| e.envelope.clone())
                .collect()
        };
        let snapshot =
            SignedGossipMessage::unsigned(state_snapshot_msg(channel.as_bytes(), elements));
        self.counters.snapshot_sent += 1;
        out.push(Output::Send {
            to: self.target_of(view, &rcv.from),
            envelope: snapshot.envelope,
        });
    }

    fn on_snapshot(&mut self, now: Instant, view: &dyn MembershipView, rcv: Received) {
        self.counters.snapshot_received += 1;
        let elements = match &rcv.message.msg.content {
            Some(Content::StateSnapshot(s)) => s.elements.clone(),
            _ => return,
        };
        if is_tag_legal(&rcv.message.msg).is_err() {
            self.counters.state_info_malformed += 1;
            return;
        }
        let channel = match std::str::from_utf8(&rcv.message.msg.channel) {
            Ok(c) if self.channels.contains_key(c) => c.to_string(),
            _ => {
                self.counters.snapshot_unknown_channel += 1;
                return;
            }
        };
        let ch = &self.channels[&channel];
        if ch.left {
            self.counters.after_leave += 1;
            return;
        }
        if !ch.has_org(&rcv.from_org) {
            self.counters.sender_not_in_channel += 1;
            return;
        }
        for env in elements {
            self.counters.state_info_received += 1;
            let sm = match SignedGossipMessage::from_envelope(env) {
                Ok(sm) => sm,
                Err(_) => {
                    self.counters.state_info_malformed += 1;
                    continue;
                }
            };
            let fields = match read_state_info(&sm) {
                Ok(f) => f,
                Err(e) => {
                    self.count_malformed(&e);
                    continue;
                }
            };
            if fields.pki_id == self.me.pki_id {
                self.counters.state_info_about_self += 1;
                continue;
            }
            if fields.channel_mac != channel_mac(&fields.pki_id, channel.as_bytes()) {
                self.counters.state_info_bad_mac += 1;
                continue;
            }
            if view.lookup(&fields.pki_id).is_none() {
                self.counters.snapshot_not_member += 1;
                continue;
            }
            let Some(org) = self.check_state_info(&channel, &fields, &sm.envelope) else {
                continue;
            };
            let entry = StoredStateInfo {
                org,
                fields,
                envelope: sm.envelope,
                stored_at: now,
            };
            if let Some(ch) = self.channels.get_mut(&channel) {
                match ch.store.add(entry) {
                    AddOutcome::Added => self.counters.state_info_accepted += 1,
                    AddOutcome::Stale => self.counters.state_info_stale += 1,
                }
            }
        }
    }
}
