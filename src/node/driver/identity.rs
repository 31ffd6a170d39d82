//! Identities at the owner task: the identity pull (cert store), the periodic expiration
//! check and re-validation, and cutting off a peer whose identity expired or was revoked:
//! its connection closes, membership forgets it, its StateInfo is dropped in every channel
//! and its messages are refused while the crypto contract refuses its identity.

use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::super::counters::NodeCounters;
use super::Driver;
use crate::comm::{ReceivedMessage, RemotePeer};
use crate::discovery::{Discovery, Input, Liveness};
use crate::identity::IdentityDisclosure;
use crate::message::SignedGossipMessage;
use crate::proto::gossip::PullMsgType;
use crate::pull::pull_input;
use crate::sync::RwLockExt;
use crate::types::PkiId;

/// How often stored expiration dates are checked (no crypto call; Fabric arms a timer per
/// identity instead).
pub(super) const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Disclosure facts from membership for the identity pull's egress rule.
struct Endpoints<'a> {
    discovery: &'a Discovery,
    self_pki_id: &'a PkiId,
    self_endpoint: &'a str,
}

impl IdentityDisclosure for Endpoints<'_> {
    fn has_external_endpoint(&self, pki_id: &PkiId) -> bool {
        if pki_id == self.self_pki_id {
            return !self.self_endpoint.is_empty();
        }
        self.discovery
            .lookup(pki_id)
            .is_some_and(|m| m.liveness == Liveness::Alive && !m.endpoint.is_empty())
    }
}

impl Driver {
    /// An identity pull message (hello, digest, request, update with IDENTITY_MSG).
    pub(super) fn on_identity_pull_message(&mut self, m: ReceivedMessage) {
        let input = match pull_input(m.conn.pki_id.clone(), &m.msg, PullMsgType::IdentityMsg, &[]) {
            Ok(input) => input,
            Err(e) => {
                debug!(peer = %m.conn.pki_id, error = %e, "identity pull message dropped");
                NodeCounters::inc(&self.counters.unhandled);
                return;
            }
        };
        self.identity_pull(Instant::now(), input);
    }

    fn identity_pull(&mut self, now: Instant, input: crate::pull::Input) {
        let disclosure = Endpoints {
            discovery: &self.discovery,
            self_pki_id: &self.crypto.self_pki_id,
            self_endpoint: &self.self_endpoint,
        };
        let out = self.cert_store.handle(now, input, &disclosure);
        for o in out {
            match o {
                crate::pull::Output::Send { to, msg } => {
                    let endpoint = self
                        .discovery
                        .lookup(&to)
                        .map(|m| m.preferred_endpoint().to_string())
                        .unwrap_or_default();
                    self.comm.send(
                        SignedGossipMessage::unsigned(msg).envelope,
                        &RemotePeer {
                            endpoint,
                            pki_id: to,
                        },
                    );
                }
                crate::pull::Output::UpdateRejected { from, reason } => {
                    debug!(peer = %from, reason, "pulled identities refused");
                }
                crate::pull::Output::Received { .. } => {}
            }
        }
    }

    /// The identity pull's due round and timers, the expiration check and the periodic
    /// re-validation.
    pub(super) fn identity_tick(&mut self, now: Instant) {
        let peers = if self.cert_store.round_due(now) {
            // Fabric greets any alive member; the responder's egress rule limits what
            // another org is offered.
            self.discovery
                .alive_members()
                .into_iter()
                .map(|m| m.pki_id)
                .collect()
        } else {
            Vec::new()
        };
        self.identity_pull(now, crate::pull::Input::Tick { peers });
        if now >= self.next_revalidation {
            self.next_revalidation = now + self.revalidation_interval;
            self.next_expiry_check = now + EXPIRY_CHECK_INTERVAL;
            self.revalidate_identities();
        } else if now >= self.next_expiry_check {
            self.next_expiry_check = now + EXPIRY_CHECK_INTERVAL;
            let cut = self.cert_store.check_expired();
            self.cut_off_peers(cut);
        }
        self.publish_identity_stats();
    }

    /// The earliest identity timer.
    pub(super) fn identity_deadline(&self) -> Instant {
        self.cert_store
            .next_deadline()
            .min(self.next_expiry_check)
            .min(self.next_revalidation)
    }

    /// Re-validates every stored identity now (Fabric's `SuspectPeers` with every peer
    /// suspected) and cuts off those refused.
    pub(super) fn revalidate_identities(&mut self) {
        let cut = self.cert_store.revalidate();
        self.cut_off_peers(cut);
    }

    /// Whether a message or connection of `pki_id` must be refused: its identity was cut
    /// off and is still refused.
    pub(super) fn refuse_cut_off(&mut self, pki_id: &PkiId) -> bool {
        if !self.cert_store.is_cut_off(pki_id) {
            return false;
        }
        self.cert_store.count_refused_message();
        self.comm.close_conn(pki_id);
        true
    }

    /// Cuts the peers off at once: connection closed, membership entry purged, StateInfo
    /// dropped in every channel. Their identity already left the mapper and the pull.
    fn cut_off_peers(&mut self, cut: Vec<PkiId>) {
        if cut.is_empty() {
            return;
        }
        for pki_id in cut {
            info!(peer = %pki_id, "identity expired or revoked: peer cut off");
            self.comm.close_conn(&pki_id);
            // Discovery's way to forget a PKI-ID at once (no dead period, no resurrection
            // from an old alive).
            self.step(Input::IdentitySwitch {
                old_pki_id: pki_id.clone(),
            });
            let dropped = self.channels.remove_peer(&pki_id);
            debug!(peer = %pki_id, dropped, "StateInfo of a cut-off peer dropped");
        }
        self.refresh_views(Instant::now(), true);
        self.publish_identity_stats();
    }

    pub(super) fn publish_identity_stats(&self) {
        *self.identity_view.write_locked() = self.cert_store.stats();
    }
}
