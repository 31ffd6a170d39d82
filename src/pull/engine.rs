//! The pull engine: events in, actions out; time and randomness injected.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tracing::{debug, warn};

use super::config::{PullConfig, PullConfigError};
use super::counters::PullCounters;
use super::digest::Digest;
use super::events::{Input, Output};
use super::policy::PullPolicy;
use super::round::{Greeted, Phase, Round, RoundKind};
use crate::message::{data_dig_msg, data_req_msg, data_update_msg, hello_msg};
use crate::proto::gossip::Envelope;
use crate::types::PkiId;

/// Nonces of ended rounds remembered, to tell a late answer from a made-up one.
const ENDED_MEMORY: usize = 256;

/// A hello's nonce the responder honours.
#[derive(Debug, Clone)]
struct Honoured {
    peer: PkiId,
    until: Instant,
    answered: bool,
}

/// Fabric's pull engine (`algo/pull.go` with the `pull/pullstore.go` mediator) as a
/// deterministic machine: it is both initiator (hello → digest → request → update) and
/// responder, over the items the caller gives it.
///
/// Deviations from Fabric, all with the same messages:
/// - a nonce is honoured only for the peer whose hello brought it, and answers one request;
/// - digests and updates are accepted only from the peer greeted with that nonce, and an
///   update only for what was requested from that peer (other items are ignored);
/// - requests go out as soon as every greeted peer has sent its digest, and a round ends
///   as soon as every peer asked has answered;
/// - [`Input::PullNow`] starts an extra round at once (bounded), for a known gap.
pub struct PullEngine {
    cfg: PullConfig,
    rng: StdRng,
    items: BTreeMap<Digest, Envelope>,
    incoming: HashMap<u64, Honoured>,
    rounds: Vec<Round>,
    ended: VecDeque<u64>,
    next_round: Instant,
    counters: PullCounters,
}

impl PullEngine {
    /// Builds the engine; the first scheduled round is due one pull interval after `now`.
    pub fn new(cfg: PullConfig, now: Instant, rng_seed: u64) -> Result<Self, PullConfigError> {
        cfg.validate()?;
        Ok(PullEngine {
            next_round: now + cfg.pull_interval,
            cfg,
            rng: StdRng::seed_from_u64(rng_seed),
            items: BTreeMap::new(),
            incoming: HashMap::new(),
            rounds: Vec::new(),
            ended: VecDeque::new(),
            counters: PullCounters::default(),
        })
    }

    pub fn config(&self) -> &PullConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &PullCounters {
        &self.counters
    }

    /// Offers an item to peers (Fabric's `Add`). Returns false if the digest was held.
    pub fn add_item(&mut self, digest: Digest, item: Envelope) -> bool {
        use std::collections::btree_map::Entry;
        match self.items.entry(digest) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(item);
                true
            }
        }
    }

    /// Stops offering an item (Fabric's `Remove`: the block store evicted or expired it).
    pub fn remove_item(&mut self, digest: &[u8]) -> Option<Envelope> {
        self.items.remove(digest)
    }

    pub fn contains(&self, digest: &[u8]) -> bool {
        self.items.contains_key(digest)
    }

    pub fn item(&self, digest: &[u8]) -> Option<&Envelope> {
        self.items.get(digest)
    }

    /// The digests held, in byte order.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> + '_ {
        self.items.keys()
    }

    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// Whether a scheduled round is due: the next `Tick` should carry the candidate peers.
    pub fn round_due(&self, now: Instant) -> bool {
        now >= self.next_round
    }

    /// The earliest instant at which a `Tick` has work to do.
    pub fn next_deadline(&self) -> Instant {
        self.rounds
            .iter()
            .map(Round::deadline)
            .fold(self.next_round, Instant::min)
    }

    /// Rounds in progress (scheduled and on demand).
    pub fn rounds_in_progress(&self) -> usize {
        self.rounds.len()
    }

    /// Shorthand for `handle(now, Input::PullNow { peers, hint }, policy)`.
    pub fn pull_now(
        &mut self,
        now: Instant,
        peers: Vec<PkiId>,
        hint: Vec<Digest>,
        policy: &mut dyn PullPolicy,
    ) -> Vec<Output> {
        self.handle(now, Input::PullNow { peers, hint }, policy)
    }

    /// Feeds one event; returns the actions to perform, in order. Due timers run first, so
    /// an answer arriving after its window is counted late whatever the tick rate.
    pub fn handle(
        &mut self,
        now: Instant,
        input: Input,
        policy: &mut dyn PullPolicy,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        self.run_timers(now, policy, &mut out);
        match input {
            Input::Tick { peers } => {
                if self.round_due(now) {
                    self.next_round = now + self.cfg.pull_interval;
                    self.start_round(now, RoundKind::Scheduled, peers, &mut out);
                }
            }
            Input::PullNow { peers, hint } => {
                let hint: BTreeSet<Digest> = hint.into_iter().collect();
                self.start_round(now, RoundKind::OnDemand { hint }, peers, &mut out);
            }
            Input::Hello { from, nonce } => self.on_hello(now, from, nonce, policy, &mut out),
            Input::Digest {
                from,
                nonce,
                digests,
            } => self.on_digest(now, from, nonce, digests, policy, &mut out),
            Input::Request {
                from,
                nonce,
                digests,
            } => self.on_request(from, nonce, digests, policy, &mut out),
            Input::Update { from, nonce, items } => {
                self.on_update(from, nonce, items, policy, &mut out)
            }
        }
        self.drop_finished();
        out
    }

    fn run_timers(&mut self, now: Instant, policy: &mut dyn PullPolicy, out: &mut Vec<Output>) {
        self.incoming.retain(|_, h| h.until > now);
        for i in 0..self.rounds.len() {
            match self.rounds[i].phase {
                Phase::Digests { until } if now >= until => self.dispatch(i, now, policy, out),
                Phase::Responses { until } if now >= until => self.rounds[i].finished = true,
                _ => {}
            }
        }
        self.drop_finished();
    }

    /// Removes finished rounds, remembering their nonces for a while.
    fn drop_finished(&mut self) {
        let ended = &mut self.ended;
        self.rounds.retain(|r| {
            if r.finished {
                ended.extend(r.greeted.keys().copied());
            }
            !r.finished
        });
        while self.ended.len() > ENDED_MEMORY {
            self.ended.pop_front();
        }
    }

    fn start_round(
        &mut self,
        now: Instant,
        kind: RoundKind,
        peers: Vec<PkiId>,
        out: &mut Vec<Output>,
    ) {
        let on_demand = matches!(kind, RoundKind::OnDemand { .. });
        if on_demand {
            let running = self.rounds.iter().filter(|r| r.is_on_demand()).count();
            if running >= self.cfg.max_on_demand_rounds {
                self.counters.on_demand_refused += 1;
                debug!(running, "pull on demand refused: too many rounds running");
                return;
            }
        } else {
            // Fabric clears the previous round's nonces when the next one starts.
            for r in self.rounds.iter_mut().filter(|r| !r.is_on_demand()) {
                r.finished = true;
                self.counters.rounds_superseded += 1;
            }
            self.drop_finished();
        }
        let mut unique = Vec::with_capacity(peers.len());
        for p in peers {
            if !p.is_empty() && !unique.contains(&p) {
                unique.push(p);
            }
        }
        let chosen: Vec<PkiId> = unique
            .choose_multiple(&mut self.rng, self.cfg.pull_peer_num)
            .cloned()
            .collect();
        if chosen.is_empty() {
            return;
        }
        let mut round = Round::new(kind, now + self.cfg.digest_wait_time);
        for peer in chosen {
            let nonce = self.fresh_nonce(&round);
            out.push(Output::Send {
                to: peer.clone(),
                msg: hello_msg(&self.cfg.channel, nonce, self.cfg.msg_type),
            });
            self.counters.hellos_sent += 1;
            round.greeted.insert(
                nonce,
                Greeted {
                    peer,
                    digest_seen: false,
                    requested: BTreeSet::new(),
                    answered: false,
                },
            );
        }
        self.counters.rounds_started += 1;
        if on_demand {
            self.counters.on_demand_rounds += 1;
        }
        self.rounds.push(round);
    }

    /// A random nonce not used by any live or recently ended round (0 is avoided: it is
    /// what an absent field decodes to).
    fn fresh_nonce(&mut self, pending: &Round) -> u64 {
        loop {
            let n: u64 = self.rng.gen();
            let taken = n == 0
                || pending.greeted.contains_key(&n)
                || self.rounds.iter().any(|r| r.greeted.contains_key(&n))
                || self.ended.contains(&n);
            if !taken {
                return n;
            }
        }
    }

    fn round_of(&self, nonce: u64) -> Option<usize> {
        self.rounds
            .iter()
            .position(|r| !r.finished && r.greeted.contains_key(&nonce))
    }

    fn on_hello(
        &mut self,
        now: Instant,
        from: PkiId,
        nonce: u64,
        policy: &mut dyn PullPolicy,
        out: &mut Vec<Output>,
    ) {
        self.counters.hellos_received += 1;
        if let Some(h) = self.incoming.get(&nonce) {
            if h.peer == from {
                self.counters.hello_duplicate += 1;
            } else {
                self.counters.hello_nonce_conflict += 1;
                debug!(peer = %from, nonce, "hello reuses a nonce honoured for another peer");
            }
            return;
        }
        if self.incoming.len() >= self.cfg.max_incoming_nonces {
            self.counters.hello_dropped_full += 1;
            return;
        }
        self.incoming.insert(
            nonce,
            Honoured {
                peer: from.clone(),
                until: now + self.cfg.request_wait_time,
                answered: false,
            },
        );
        let mut digests = Vec::new();
        for d in self.items.keys() {
            if policy.egress(&from, d) {
                digests.push(d.clone());
            } else {
                self.counters.digests_filtered_egress += 1;
            }
        }
        // Fabric sends nothing when there is nothing to offer.
        if digests.is_empty() {
            return;
        }
        out.push(Output::Send {
            to: from,
            msg: data_dig_msg(&self.cfg.channel, nonce, self.cfg.msg_type, digests),
        });
        self.counters.digests_sent += 1;
    }

    fn on_digest(
        &mut self,
        now: Instant,
        from: PkiId,
        nonce: u64,
        digests: Vec<Digest>,
        policy: &mut dyn PullPolicy,
        out: &mut Vec<Output>,
    ) {
        self.counters.digests_received += 1;
        let Some(i) = self.round_of(nonce) else {
            if self.ended.contains(&nonce) {
                self.counters.digest_late += 1;
            } else {
                self.counters.digest_unknown_nonce += 1;
            }
            return;
        };
        let round = &mut self.rounds[i];
        let Some(g) = round.greeted.get_mut(&nonce) else {
            return;
        };
        if g.peer != from {
            self.counters.digest_wrong_peer += 1;
            return;
        }
        if !matches!(round.phase, Phase::Digests { .. }) {
            self.counters.digest_late += 1;
            return;
        }
        if g.digest_seen {
            self.counters.digest_duplicate += 1;
            return;
        }
        g.digest_seen = true;
        let max = self.cfg.max_digests_per_message;
        let mut taken = 0usize;
        for (k, d) in digests.iter().enumerate() {
            if self.items.contains_key(d) || !round.wants(d) {
                continue;
            }
            // Held items are skipped before the cap, so a long list is read over rounds.
            if taken == max {
                self.counters.digests_truncated += (digests.len() - k) as u64;
                break;
            }
            if !policy.ingress(d) {
                self.counters.digests_filtered_ingress += 1;
                continue;
            }
            taken += 1;
            let owners = round.owners.entry(d.clone()).or_default();
            if !owners.contains(&nonce) {
                owners.push(nonce);
            }
        }
        if round.all_digests_in() {
            self.dispatch(i, now, policy, out);
        }
    }

    /// Ends the digest phase of round `i`: asks a random owner for each missing item.
    fn dispatch(
        &mut self,
        i: usize,
        now: Instant,
        policy: &mut dyn PullPolicy,
        out: &mut Vec<Output>,
    ) {
        let round = &mut self.rounds[i];
        let mut per_nonce: BTreeMap<u64, Vec<Digest>> = BTreeMap::new();
        for (d, owners) in std::mem::take(&mut round.owners) {
            // Pushed meanwhile, or the ledger moved past it.
            if self.items.contains_key(&d) || !policy.ingress(&d) || owners.is_empty() {
                continue;
            }
            let owner = owners[self.rng.gen_range(0..owners.len())];
            per_nonce.entry(owner).or_default().push(d);
        }
        if per_nonce.is_empty() {
            round.finished = true;
            return;
        }
        for (nonce, digests) in per_nonce {
            let Some(g) = round.greeted.get_mut(&nonce) else {
                continue;
            };
            g.requested = digests.iter().cloned().collect();
            out.push(Output::Send {
                to: g.peer.clone(),
                msg: data_req_msg(&self.cfg.channel, nonce, self.cfg.msg_type, digests),
            });
            self.counters.requests_sent += 1;
        }
        round.phase = Phase::Responses {
            until: now + self.cfg.response_wait_time,
        };
    }

    fn on_request(
        &mut self,
        from: PkiId,
        nonce: u64,
        digests: Vec<Digest>,
        policy: &mut dyn PullPolicy,
        out: &mut Vec<Output>,
    ) {
        self.counters.requests_received += 1;
        let Some(h) = self.incoming.get_mut(&nonce) else {
            self.counters.request_unknown_nonce += 1;
            return;
        };
        if h.peer != from {
            self.counters.request_wrong_peer += 1;
            return;
        }
        if h.answered {
            self.counters.request_duplicate += 1;
            return;
        }
        h.answered = true;
        let max = self.cfg.max_digests_per_message;
        let mut seen = BTreeSet::new();
        let mut items = Vec::new();
        for (k, d) in digests.iter().enumerate() {
            if items.len() == max {
                self.counters.digests_truncated += (digests.len() - k) as u64;
                break;
            }
            if !seen.insert(d.clone()) {
                continue;
            }
            let Some(env) = self.items.get(d) else {
                continue;
            };
            if policy.egress(&from, d) {
                items.push(env.clone());
            } else {
                self.counters.digests_filtered_egress += 1;
            }
        }
        if items.is_empty() {
            return;
        }
        out.push(Output::Send {
            to: from,
            msg: data_update_msg(&self.cfg.channel, nonce, self.cfg.msg_type, items),
        });
        self.counters.updates_sent += 1;
    }

    fn on_update(
        &mut self,
        from: PkiId,
        nonce: u64,
        items: Vec<Envelope>,
        policy: &mut dyn PullPolicy,
        out: &mut Vec<Output>,
    ) {
        self.counters.updates_received += 1;
        let Some(i) = self.round_of(nonce) else {
            if self.ended.contains(&nonce) {
                self.counters.update_late += 1;
            } else {
                self.counters.update_unknown_nonce += 1;
            }
            return;
        };
        let round = &mut self.rounds[i];
        let Some(g) = round.greeted.get_mut(&nonce) else {
            return;
        };
        if g.peer != from {
            self.counters.update_wrong_peer += 1;
            return;
        }
        if !matches!(round.phase, Phase::Responses { .. }) || g.requested.is_empty() || g.answered {
            self.counters.update_unsolicited += 1;
            return;
        }
        g.answered = true;
        let requested = std::mem::take(&mut g.requested);

        // Check everything first: one bad item means none are taken (Fabric's rule).
        let mut accepted: Vec<(Digest, Envelope)> = Vec::new();
        let mut rejection = None;
        for env in items {
            let Some(d) = policy.digest_of(&env) else {
                rejection = Some("malformed item".to_string());
                break;
            };
            if !requested.contains(&d) {
                self.counters.unrequested_items += 1;
                continue;
            }
            if accepted.iter().any(|(a, _)| *a == d) {
                continue;
            }
            if self.items.contains_key(&d) {
                self.counters.items_already_held += 1;
                continue;
            }
            if let Err(e) = policy.validate(&from, &d, &env) {
                rejection = Some(format!("item {}: {e}", String::from_utf8_lossy(&d)));
                break;
            }
            accepted.push((d, env));
        }
        if let Some(reason) = rejection {
            self.counters.bad_items += 1;
            self.counters.updates_rejected += 1;
            warn!(peer = %from, %reason, "pulled update rejected whole");
            out.push(Output::UpdateRejected { from, reason });
        } else {
            for (d, env) in accepted {
                self.items.insert(d.clone(), env.clone());
                self.counters.items_received += 1;
                out.push(Output::Received {
                    from: from.clone(),
                    digest: d,
                    item: env,
                });
            }
        }
        // Keep the requested set for the record of what this peer owed.
        if let Some(g) = round.greeted.get_mut(&nonce) {
            g.requested = requested;
        }
        if round.all_answered() {
            round.finished = true;
        }
    }
}
