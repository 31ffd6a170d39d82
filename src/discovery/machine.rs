//! The discovery state machine: events in, actions out; time and randomness injected.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tracing::{debug, info, warn};

use super::alive::{
    sign_secret, sign_self_alive, without_secret, PeerTime, SelfAliveParts, VerifiedAlive,
};
use super::config::DiscoveryConfig;
use super::connect::{is_own_endpoint, port_of, ConnectAttempt, ConnectKind, Phase};
use super::counters::DiscoveryCounters;
use super::disclosure::{keeps_secret, may_disclose, may_forward};
use super::error::DiscoveryError;
use super::events::{Input, Output};
use super::membership::{Learned, Liveness, MemberView, Membership};
use super::membership_msg::{mem_req_envelope, mem_res_envelope};
use super::signer::Signer;
use crate::proto::gossip::{Envelope, SecretEnvelope};
use crate::types::RemotePeer;
use crate::types::{OrgId, PkiId};

/// Who this peer is, as it announces itself in its alive messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfInfo {
    pub pki_id: PkiId,
    pub org: OrgId,
    /// External endpoint (`peer.gossip.externalEndpoint`); empty = invisible to other orgs.
    pub endpoint: String,
    /// Internal endpoint (`peer.gossip.endpoint` or `peer.address`), `host:port`.
    pub internal_endpoint: String,
    /// Serialized identity, carried in the alive during `publishCertPeriod`.
    pub identity: Vec<u8>,
    pub metadata: Vec<u8>,
}

/// How an alive message reached us; decides forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Push,
    MemReq,
    MemRes,
}

/// Fabric's membership protocol as a deterministic machine.
///
/// Deviations from Fabric, all to converge faster with the same messages:
/// - a bootstrap or anchor peer gets a membership request as soon as its probe succeeds,
///   and a probe failure is retried after 0.5 s, 1 s, 2 s … up to `reconnectInterval`;
/// - a connection from an unknown or dead peer triggers a membership request at once;
/// - an alive that teaches us a new (or resurrected) member through a membership request
///   is forwarded like a pushed one, so a joining peer is known everywhere in a few hops;
/// - learning a new member from a third party makes us send it our current alive, so it
///   knows us without waiting for the next alive round;
/// - membership requests carry the internal endpoint only to peers of our org, and go to
///   foreign peers only when we have an external endpoint (they would refuse us otherwise);
/// - the internal endpoint of a peer of another org is dropped on receipt (Fabric keeps it,
///   and would dial it);
/// - a bootstrap peer of a foreign org is re-probed with the same backoff, up to
///   `maxConnectionAttempts`, and never asked for membership.
pub struct Discovery {
    cfg: DiscoveryConfig,
    me: SelfInfo,
    my_port: Option<u16>,
    inc_num: u64,
    seq_num: u64,
    started: Instant,
    signer: Box<dyn Signer>,
    rng: StdRng,
    members: Membership,
    /// Bootstrap and anchor peers, in the order they were given.
    attempts: Vec<ConnectAttempt>,
    /// When a membership request last went to a peer (avoids duplicates on connect).
    recent_mem_req: BTreeMap<PkiId, Instant>,
    /// Signed once: the internal endpoint does not change.
    secret: Option<SecretEnvelope>,
    /// The latest own alive; `None` after a metadata or endpoint change.
    self_alive: Option<Envelope>,
    next_alive: Instant,
    next_check: Instant,
    next_reconnect: Instant,
    next_mem_req: Instant,
    counters: DiscoveryCounters,
}

impl Discovery {
    /// Builds the machine. `inc_num` is the start time in ns since the Unix epoch (the
    /// incarnation number of the own alive); `now` is the injected clock. Call
    /// `handle(now, Input::Tick)` right away so bootstrap probes go out.
    pub fn new(
        cfg: DiscoveryConfig,
        me: SelfInfo,
        bootstrap: Vec<String>,
        signer: Box<dyn Signer>,
        now: Instant,
        inc_num: u64,
        rng_seed: u64,
    ) -> Result<Self, DiscoveryError> {
        cfg.validate()?;
        if me.pki_id.is_empty() {
            return Err(DiscoveryError::InvalidSelf("empty PKI-ID".into()));
        }
        if me.org.is_empty() {
            return Err(DiscoveryError::InvalidSelf("empty organization".into()));
        }
        let my_port = port_of(&me.internal_endpoint);
        if my_port.is_none() {
            return Err(DiscoveryError::InvalidSelf(format!(
                "internal endpoint {:?} is not host:port",
                me.internal_endpoint
            )));
        }
        let max_members = cfg.max_members;
        let mut d = Discovery {
            next_alive: now + cfg.alive_time_interval,
            next_check: now + cfg.alive_expiration_check_interval,
            next_reconnect: now + cfg.reconnect_interval,
            next_mem_req: now + cfg.mem_req_interval,
            cfg,
            me,
            my_port,
            inc_num,
            seq_num: 0,
            started: now,
            signer,
            rng: StdRng::seed_from_u64(rng_seed),
            members: Membership::with_capacity(max_members),
            attempts: Vec::new(),
            recent_mem_req: BTreeMap::new(),
            secret: None,
            self_alive: None,
            counters: DiscoveryCounters::default(),
        };
        for ep in bootstrap {
            let ep = ep.trim().to_string();
            if ep.is_empty() || d.attempts.iter().any(|a| a.endpoint == ep) {
                continue;
            }
            if d.is_own(&ep) {
                debug!(endpoint = %ep, "skipping own endpoint among bootstrap peers");
                d.counters.connect_to_self += 1;
                continue;
            }
            let backoff = d.cfg.connect_backoff_min;
            d.attempts.push(ConnectAttempt::new(
                ep,
                ConnectKind::Bootstrap,
                now,
                backoff,
            ));
        }
        Ok(d)
    }

    /// Feeds one event; returns the actions to perform, in order. Due timers run on every
    /// call, whatever the event.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => {}
            Input::Connected {
                pki_id,
                org,
                endpoint,
            } => self.on_connected(now, pki_id, org, endpoint, &mut out),
            // A request in flight on that connection may be lost: let the next one through.
            Input::Disconnected { pki_id } => {
                self.recent_mem_req.remove(&pki_id);
            }
            Input::PresumedDead { pki_id } => {
                self.recent_mem_req.remove(&pki_id);
                self.expire(&pki_id, &mut out)
            }
            Input::IdentitySwitch { old_pki_id } => {
                info!(pki_id = %old_pki_id, "peer switched identity; forgetting the old PKI-ID");
                self.purge(&old_pki_id, &mut out);
            }
            Input::Alive { from, alive } => {
                self.on_alive(now, &from, alive, Source::Push, &mut out)
            }
            Input::MemReq {
                from,
                from_org,
                nonce,
                alive,
            } => self.on_mem_req(now, from, from_org, nonce, alive, &mut out),
            Input::MemRes {
                from,
                nonce,
                alive,
                dead,
            } => self.on_mem_res(now, from, nonce, alive, dead, &mut out),
            Input::ProbeResult { endpoint, result } => {
                self.on_probe_result(now, endpoint, result, &mut out)
            }
            Input::PingResult { pki_id, ok } => self.on_ping_result(now, pki_id, ok, &mut out),
            Input::AddAnchor { endpoint, org } => self.on_add_anchor(now, endpoint, org),
        }
        self.run_timers(now, &mut out);
        out
    }

    /// The earliest instant at which a timer needs `handle(.., Input::Tick)`.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self
            .next_alive
            .min(self.next_check)
            .min(self.next_reconnect)
            .min(self.next_mem_req);
        for a in &self.attempts {
            if let Some(d) = a.deadline() {
                t = t.min(d);
            }
        }
        t
    }

    /// Every known member, alive and dead, ordered by PKI-ID.
    pub fn members(&self) -> Vec<MemberView> {
        self.members.iter().map(|m| m.view.clone()).collect()
    }

    /// The alive members (Fabric's `GetMembership`), ordered by PKI-ID.
    pub fn alive_members(&self) -> Vec<MemberView> {
        self.members.alive().map(|m| m.view.clone()).collect()
    }

    /// How many members are alive.
    pub fn alive_count(&self) -> usize {
        self.members.alive_count()
    }

    pub fn lookup(&self, pki_id: &PkiId) -> Option<MemberView> {
        self.members.get(pki_id).map(|m| m.view.clone())
    }

    /// Whether an alive of `pki_id` stamped `ts` could change membership: it is about us
    /// (checked for a conflict), about a peer not held, or newer than the alive held.
    /// Callers skip the signature check of the others.
    pub fn alive_is_news(&self, pki_id: &PkiId, ts: &PeerTime) -> bool {
        *pki_id == self.me.pki_id
            || self
                .members
                .get(pki_id)
                .is_none_or(|m| ts.is_newer_than(&m.view.timestamp))
    }

    /// Whether a dead report about `pki_id` could add a member: only a peer not held, never
    /// ourselves (see [`Membership::learn_dead`]).
    pub fn dead_is_news(&self, pki_id: &PkiId) -> bool {
        *pki_id != self.me.pki_id && self.members.get(pki_id).is_none()
    }

    /// The latest alive envelope held for a member, as received.
    pub fn alive_envelope(&self, pki_id: &PkiId) -> Option<&Envelope> {
        self.members.get(pki_id).map(|m| &m.envelope)
    }

    pub fn counters(&self) -> DiscoveryCounters {
        self.counters.clone()
    }

    pub fn self_info(&self) -> &SelfInfo {
        &self.me
    }

    /// New metadata goes out with the next alive.
    pub fn update_metadata(&mut self, metadata: Vec<u8>) {
        self.me.metadata = metadata;
        self.self_alive = None;
    }

    /// New external endpoint goes out with the next alive.
    pub fn update_external_endpoint(&mut self, endpoint: String) {
        self.me.endpoint = endpoint;
        self.self_alive = None;
    }

    // ---- events ----

    fn on_connected(
        &mut self,
        now: Instant,
        pki_id: PkiId,
        org: OrgId,
        endpoint: String,
        out: &mut Vec<Output>,
    ) {
        if pki_id == self.me.pki_id {
            return;
        }
        let known_alive = self
            .members
            .get(&pki_id)
            .is_some_and(|m| m.view.liveness == Liveness::Alive);
        if known_alive || self.requested_recently(&pki_id, now) {
            return;
        }
        // Our alive would not be disclosed to a foreign peer if we have no external endpoint,
        // and it would close the connection: do not ask.
        if !may_ask(&self.me, &org) {
            return;
        }
        let target = RemotePeer { pki_id, endpoint };
        self.send_mem_req(now, target, &org, out);
    }

    fn on_alive(
        &mut self,
        now: Instant,
        from: &PkiId,
        a: VerifiedAlive,
        source: Source,
        out: &mut Vec<Output>,
    ) {
        self.counters.alive_received += 1;
        if a.pki_id == self.me.pki_id {
            self.counters.alive_about_self += 1;
            let other_internal = a
                .internal_endpoint
                .as_deref()
                .is_some_and(|ep| ep != self.me.internal_endpoint);
            if a.endpoint != self.me.endpoint || other_internal {
                self.counters.self_conflict += 1;
                warn!(
                    endpoint = %a.endpoint,
                    internal = ?a.internal_endpoint,
                    "alive message with our PKI-ID but other endpoints: bad configuration"
                );
            }
            return;
        }
        let mut a = a;
        if a.org != self.me.org && a.envelope.secret_envelope.is_some() {
            // Fabric peers put their internal endpoint in every membership request, even to
            // other orgs. Another org's internal endpoint is neither ours to dial nor to pass on.
            a.envelope.secret_envelope = None;
            a.internal_endpoint = None;
        }
        let learned = self.members.learn_alive(&a, now);
        match learned {
            Learned::New => {
                self.counters.alive_new += 1;
                info!(pki_id = %a.pki_id, org = %a.org, endpoint = %a.endpoint, "learned new member");
                out.push(Output::PeerUp(a.pki_id.clone()));
            }
            Learned::Updated => self.counters.alive_updated += 1,
            Learned::Resurrected => {
                self.counters.resurrected += 1;
                info!(pki_id = %a.pki_id, "member is alive again");
                out.push(Output::PeerUp(a.pki_id.clone()));
            }
            Learned::Duplicate => self.counters.alive_duplicate += 1,
            Learned::Stale => self.counters.alive_stale += 1,
            Learned::Full => {
                self.counters.members_full += 1;
                warn!(pki_id = %a.pki_id, org = %a.org, "membership is full; new member refused");
            }
        }
        let news = matches!(learned, Learned::New | Learned::Resurrected);
        let forward = match source {
            Source::Push => learned.is_fresh(),
            Source::MemReq => news,
            Source::MemRes => false,
        };
        if forward {
            self.forward_alive(&a, from, out);
        }
        if news && source != Source::MemReq && *from != a.pki_id {
            self.introduce(now, &a.pki_id, out);
        }
    }

    fn on_mem_req(
        &mut self,
        now: Instant,
        from: PkiId,
        from_org: OrgId,
        nonce: u64,
        alive: VerifiedAlive,
        out: &mut Vec<Output>,
    ) {
        self.counters.mem_req_received += 1;
        if alive.pki_id != from {
            self.counters.mem_req_spoofed += 1;
            warn!(
                connection = %from,
                claimed = %alive.pki_id,
                "membership request carries another peer's alive; dropped"
            );
            return;
        }
        let requester_endpoint = alive.endpoint.clone();
        self.on_alive(now, &from, alive, Source::MemReq, out);

        let my_org = self.me.org.clone();
        if !may_disclose(
            &my_org,
            &my_org,
            &self.me.endpoint,
            &from_org,
            &requester_endpoint,
        ) {
            self.counters.mem_req_not_disclosable += 1;
            warn!(
                pki_id = %from,
                org = %from_org,
                "membership request from a peer that may not know us; closing the connection"
            );
            out.push(Output::CloseConn { pki_id: from });
            return;
        }
        let Some(own) = self.current_self_alive(now) else {
            return;
        };
        let mut alive_envs = Vec::new();
        let mut dead_envs = Vec::new();
        for m in self.members.iter() {
            if m.view.pki_id == from
                || !may_disclose(
                    &my_org,
                    &m.view.org,
                    &m.view.endpoint,
                    &from_org,
                    &requester_endpoint,
                )
            {
                continue;
            }
            let env = for_target(&m.envelope, &my_org, &from_org);
            match m.view.liveness {
                Liveness::Alive => alive_envs.push(env),
                Liveness::Dead => dead_envs.push(env),
            }
        }
        alive_envs.push(for_target(&own, &my_org, &from_org));
        let endpoint = self
            .members
            .get(&from)
            .map(|m| m.view.preferred_endpoint().to_string())
            .unwrap_or(requester_endpoint);
        self.counters.mem_res_sent += 1;
        out.push(Output::Send {
            to: RemotePeer {
                pki_id: from,
                endpoint,
            },
            envelope: mem_res_envelope(nonce, alive_envs, dead_envs),
        });
    }

    fn on_mem_res(
        &mut self,
        now: Instant,
        from: PkiId,
        nonce: u64,
        alive: Vec<VerifiedAlive>,
        dead: Vec<VerifiedAlive>,
        out: &mut Vec<Output>,
    ) {
        self.counters.mem_res_received += 1;
        for a in self.attempts.iter_mut() {
            let awaited = matches!(a.phase, Phase::AwaitingMemRes { nonce: n, .. } if n == nonce);
            if awaited && a.pki_id.as_ref() == Some(&from) {
                debug!(endpoint = %a.endpoint, "membership response from bootstrap/anchor peer");
                a.phase = Phase::Done;
            }
        }
        for a in alive {
            self.on_alive(now, &from, a, Source::MemRes, out);
        }
        for d in dead {
            if d.pki_id == self.me.pki_id {
                continue;
            }
            if self.members.learn_dead(&d, now) {
                self.counters.dead_learned += 1;
            }
        }
    }

    fn on_probe_result(
        &mut self,
        now: Instant,
        endpoint: String,
        result: Result<(PkiId, OrgId), String>,
        out: &mut Vec<Output>,
    ) {
        let Some(i) = self
            .attempts
            .iter()
            .position(|a| a.endpoint == endpoint && matches!(a.phase, Phase::Probing { .. }))
        else {
            self.counters.unexpected_result += 1;
            return;
        };
        let (pki_id, org) = match result {
            Ok(r) => r,
            Err(e) => {
                self.counters.probe_failed += 1;
                debug!(endpoint = %endpoint, error = %e, "probe failed");
                self.retry(i, now);
                return;
            }
        };
        if pki_id == self.me.pki_id {
            self.counters.connect_to_self += 1;
            self.attempts[i].phase = Phase::Done;
            return;
        }
        let wrong_org = match &self.attempts[i].kind {
            ConnectKind::Bootstrap => org != self.me.org,
            ConnectKind::Anchor { org: claimed } => *claimed == self.me.org && org != self.me.org,
        };
        if wrong_org {
            self.counters.probe_wrong_org += 1;
            warn!(endpoint = %endpoint, org = %org, "peer is not of our organization; not asking it for membership");
            self.retry(i, now);
            return;
        }
        if org != self.me.org && self.me.endpoint.is_empty() {
            self.counters.anchor_skipped += 1;
            self.attempts[i].phase = Phase::GaveUp;
            return;
        }
        self.attempts[i].pki_id = Some(pki_id.clone());
        let nonce = self.send_mem_req(now, RemotePeer { pki_id, endpoint }, &org, out);
        self.attempts[i].phase = match nonce {
            Some(nonce) => Phase::AwaitingMemRes {
                nonce,
                deadline: now + self.cfg.mem_res_timeout,
            },
            None => Phase::Waiting {
                at: now + self.cfg.connect_backoff_min,
            },
        };
    }

    fn on_ping_result(&mut self, now: Instant, pki_id: PkiId, ok: bool, out: &mut Vec<Output>) {
        let Some(m) = self.members.get(&pki_id) else {
            self.counters.unexpected_result += 1;
            return;
        };
        if !ok || m.view.liveness != Liveness::Dead {
            return;
        }
        debug!(pki_id = %pki_id, "dead peer answers ping; asking it for membership");
        let org = m.view.org.clone();
        let target = RemotePeer {
            pki_id,
            endpoint: m.view.preferred_endpoint().to_string(),
        };
        self.send_mem_req(now, target, &org, out);
    }

    fn on_add_anchor(&mut self, now: Instant, endpoint: String, org: OrgId) {
        let endpoint = endpoint.trim().to_string();
        if endpoint.is_empty() {
            return;
        }
        if self.is_own(&endpoint) {
            self.counters.connect_to_self += 1;
            return;
        }
        if org != self.me.org && self.me.endpoint.is_empty() {
            self.counters.anchor_skipped += 1;
            debug!(endpoint = %endpoint, org = %org, "no external endpoint: not connecting to a foreign anchor peer");
            return;
        }
        if let Some(a) = self.attempts.iter_mut().find(|a| a.endpoint == endpoint) {
            if a.phase == Phase::GaveUp {
                *a = ConnectAttempt::new(
                    endpoint,
                    ConnectKind::Anchor { org },
                    now,
                    self.cfg.connect_backoff_min,
                );
            }
            return;
        }
        let backoff = self.cfg.connect_backoff_min;
        self.attempts.push(ConnectAttempt::new(
            endpoint,
            ConnectKind::Anchor { org },
            now,
            backoff,
        ));
    }

    // ---- timers ----

    fn run_timers(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.run_attempts(now, out);
        if now >= self.next_alive {
            self.next_alive = now + self.cfg.alive_time_interval;
            self.push_self_alive(now, out);
        }
        if now >= self.next_check {
            self.next_check = now + self.cfg.alive_expiration_check_interval;
            self.check_alive(now, out);
        }
        if now >= self.next_reconnect {
            self.next_reconnect = now + self.cfg.reconnect_interval;
            let me = &self.me;
            let pingable = self
                .members
                .dead()
                .filter(|m| !m.view.preferred_endpoint().is_empty() && may_ask(me, &m.view.org));
            for m in pingable {
                self.counters.ping_sent += 1;
                out.push(Output::Ping {
                    pki_id: m.view.pki_id.clone(),
                    endpoint: m.view.preferred_endpoint().to_string(),
                });
            }
        }
        if now >= self.next_mem_req {
            self.next_mem_req = now + self.cfg.mem_req_interval;
            self.sync(now, out);
        }
    }

    fn run_attempts(&mut self, now: Instant, out: &mut Vec<Output>) {
        for i in 0..self.attempts.len() {
            let a = &mut self.attempts[i];
            match a.phase {
                Phase::Waiting { at } if at <= now => {
                    a.attempts += 1;
                    a.phase = Phase::Probing {
                        deadline: now + self.cfg.probe_timeout,
                    };
                    self.counters.probe_sent += 1;
                    out.push(Output::Probe {
                        endpoint: a.endpoint.clone(),
                    });
                }
                Phase::Probing { deadline } if deadline <= now => {
                    self.counters.probe_failed += 1;
                    debug!(endpoint = %a.endpoint, "probe timed out");
                    self.retry(i, now);
                }
                Phase::AwaitingMemRes { deadline, .. } if deadline <= now => {
                    debug!(endpoint = %self.attempts[i].endpoint, "no membership response; retrying");
                    self.retry(i, now);
                }
                _ => {}
            }
        }
    }

    fn retry(&mut self, i: usize, now: Instant) {
        let a = &mut self.attempts[i];
        if !a.fail(
            now,
            self.cfg.max_connection_attempts,
            self.cfg.reconnect_interval,
        ) {
            self.counters.connect_gave_up += 1;
            warn!(endpoint = %a.endpoint, attempts = a.attempts, "giving up on bootstrap/anchor peer");
        }
    }

    /// Dead on silence; forgotten after expiration × factor unless bootstrap or anchor.
    fn check_alive(&mut self, now: Instant, out: &mut Vec<Output>) {
        for pki_id in self
            .members
            .silent_since(now, self.cfg.alive_expiration_timeout)
        {
            warn!(pki_id = %pki_id, "no alive message for too long; peer is dead");
            self.expire(&pki_id, out);
        }
        for pki_id in self.members.forgotten_since(now, self.cfg.purge_after()) {
            if !self.is_pinned(&pki_id) {
                self.purge(&pki_id, out);
            }
        }
        let keep = self.cfg.mem_res_timeout;
        self.recent_mem_req
            .retain(|_, t| now.saturating_duration_since(*t) < keep);
    }

    fn expire(&mut self, pki_id: &PkiId, out: &mut Vec<Output>) {
        if self.members.mark_dead(pki_id) {
            self.counters.expired += 1;
            out.push(Output::PeerDead(pki_id.clone()));
            out.push(Output::CloseConn {
                pki_id: pki_id.clone(),
            });
        }
    }

    fn purge(&mut self, pki_id: &PkiId, out: &mut Vec<Output>) {
        self.recent_mem_req.remove(pki_id);
        if self.members.remove(pki_id).is_some() {
            self.counters.purged += 1;
            info!(pki_id = %pki_id, "purged from membership");
            out.push(Output::PeerPurged(pki_id.clone()));
        }
    }

    /// Membership request to `mem_req_peers` random alive peers (Fabric's `InitiateSync`).
    fn sync(&mut self, now: Instant, out: &mut Vec<Output>) {
        let me = &self.me;
        let alive: Vec<(RemotePeer, OrgId)> = self
            .members
            .alive()
            .filter(|m| may_ask(me, &m.view.org))
            .map(|m| (target_of(&m.view), m.view.org.clone()))
            .collect();
        let chosen: Vec<_> = alive
            .choose_multiple(&mut self.rng, self.cfg.mem_req_peers)
            .cloned()
            .collect();
        for (target, org) in chosen {
            self.send_mem_req(now, target, &org, out);
        }
    }

    // ---- sending ----

    /// Signs a new own alive and pushes it to `propagate_peer_num` peers allowed to see it.
    fn push_self_alive(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.members.alive_count() == 0 {
            return;
        }
        let Some(env) = self.fresh_self_alive(now) else {
            return;
        };
        let my_org = self.me.org.clone();
        let candidates: Vec<(RemotePeer, OrgId)> = self
            .members
            .alive()
            .filter(|m| {
                may_forward(
                    &my_org,
                    &my_org,
                    &self.me.endpoint,
                    &m.view.org,
                    &m.view.endpoint,
                )
            })
            .map(|m| (target_of(&m.view), m.view.org.clone()))
            .collect();
        let chosen: Vec<_> = candidates
            .choose_multiple(&mut self.rng, self.cfg.propagate_peer_num)
            .cloned()
            .collect();
        for (to, org) in chosen {
            self.counters.alive_sent += 1;
            out.push(Output::Send {
                to,
                envelope: for_target(&env, &my_org, &org),
            });
        }
    }

    /// Forwards the original alive bytes to `propagate_peer_num` random peers allowed to see
    /// it, never back to the sender or to the peer it describes.
    fn forward_alive(&mut self, a: &VerifiedAlive, from: &PkiId, out: &mut Vec<Output>) {
        let my_org = self.me.org.clone();
        let candidates: Vec<(RemotePeer, OrgId)> = self
            .members
            .alive()
            .filter(|m| m.view.pki_id != a.pki_id && m.view.pki_id != *from)
            .filter(|m| may_forward(&my_org, &a.org, &a.endpoint, &m.view.org, &m.view.endpoint))
            .map(|m| (target_of(&m.view), m.view.org.clone()))
            .collect();
        let chosen: Vec<_> = candidates
            .choose_multiple(&mut self.rng, self.cfg.propagate_peer_num)
            .cloned()
            .collect();
        for (to, org) in chosen {
            self.counters.alive_sent += 1;
            out.push(Output::Send {
                to,
                envelope: for_target(&a.envelope, &my_org, &org),
            });
        }
    }

    /// Sends our current alive to a member we just learned of through someone else.
    fn introduce(&mut self, now: Instant, pki_id: &PkiId, out: &mut Vec<Output>) {
        let Some(m) = self.members.get(pki_id) else {
            return;
        };
        let my_org = self.me.org.clone();
        if !may_forward(
            &my_org,
            &my_org,
            &self.me.endpoint,
            &m.view.org,
            &m.view.endpoint,
        ) {
            return;
        }
        let (to, org) = (target_of(&m.view), m.view.org.clone());
        let Some(env) = self.current_self_alive(now) else {
            return;
        };
        self.counters.alive_sent += 1;
        out.push(Output::Send {
            to,
            envelope: for_target(&env, &my_org, &org),
        });
    }

    /// Sends a membership request with a random nonce; returns the nonce, or `None` when the
    /// own alive could not be signed.
    fn send_mem_req(
        &mut self,
        now: Instant,
        to: RemotePeer,
        org: &str,
        out: &mut Vec<Output>,
    ) -> Option<u64> {
        // A fresh alive, as in Fabric: it resurrects us at a peer that took us for dead.
        let own = self.fresh_self_alive(now)?;
        let nonce: u64 = self.rng.gen();
        self.recent_mem_req.insert(to.pki_id.clone(), now);
        self.counters.mem_req_sent += 1;
        let self_info = for_target(&own, &self.me.org, org);
        out.push(Output::Send {
            to,
            envelope: mem_req_envelope(nonce, self_info),
        });
        Some(nonce)
    }

    fn current_self_alive(&mut self, now: Instant) -> Option<Envelope> {
        match &self.self_alive {
            Some(env) => Some(env.clone()),
            None => self.fresh_self_alive(now),
        }
    }

    /// Signs a new own alive with the next sequence number and keeps it as the current one.
    fn fresh_self_alive(&mut self, now: Instant) -> Option<Envelope> {
        if self.secret.is_none() {
            match sign_secret(&self.me.internal_endpoint, self.signer.as_ref()) {
                Ok(s) => self.secret = Some(s),
                Err(e) => {
                    self.counters.sign_failed += 1;
                    warn!(error = %e, "cannot sign the internal endpoint");
                    return None;
                }
            }
        }
        self.seq_num += 1;
        let in_cert_period =
            now.saturating_duration_since(self.started) < self.cfg.publish_cert_period;
        let parts = SelfAliveParts {
            pki_id: &self.me.pki_id,
            endpoint: &self.me.endpoint,
            metadata: &self.me.metadata,
            timestamp: PeerTime {
                inc_num: self.inc_num,
                seq_num: self.seq_num,
            },
            identity: in_cert_period.then_some(self.me.identity.as_slice()),
        };
        match sign_self_alive(&parts, self.secret.as_ref(), self.signer.as_ref()) {
            Ok(env) => {
                self.self_alive = Some(env.clone());
                Some(env)
            }
            Err(e) => {
                self.counters.sign_failed += 1;
                warn!(error = %e, "cannot sign our alive message");
                None
            }
        }
    }

    // ---- helpers ----

    fn is_own(&self, endpoint: &str) -> bool {
        is_own_endpoint(
            endpoint,
            &self.me.endpoint,
            &self.me.internal_endpoint,
            self.my_port,
        )
    }

    fn requested_recently(&self, pki_id: &PkiId, now: Instant) -> bool {
        self.recent_mem_req
            .get(pki_id)
            .is_some_and(|t| now.saturating_duration_since(*t) < self.cfg.mem_res_timeout)
    }

    /// Bootstrap and anchor peers are never purged (matched by PKI-ID or endpoint).
    fn is_pinned(&self, pki_id: &PkiId) -> bool {
        let m = self.members.get(pki_id);
        self.attempts.iter().any(|a| {
            a.pki_id.as_ref() == Some(pki_id)
                || m.is_some_and(|m| {
                    a.endpoint == m.view.endpoint || a.endpoint == m.view.internal_endpoint
                })
        })
    }
}

/// A foreign peer refuses (closes the connection on) a membership request from a peer
/// without an external endpoint, since our alive may not be disclosed to it.
fn may_ask(me: &SelfInfo, target_org: &str) -> bool {
    target_org == me.org || !me.endpoint.is_empty()
}

fn target_of(v: &MemberView) -> RemotePeer {
    RemotePeer {
        pki_id: v.pki_id.clone(),
        endpoint: v.preferred_endpoint().to_string(),
    }
}

/// The envelope as a peer of `target_org` may see it: without the secret when foreign.
fn for_target(env: &Envelope, my_org: &str, target_org: &str) -> Envelope {
    if keeps_secret(my_org, target_org) {
        env.clone()
    } else {
        without_secret(env)
    }
}
