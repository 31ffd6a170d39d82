//! Membership at the owner task: connections, alive and membership messages into the
//! discovery machine, and what it asks for (send, probe, ping, close).

use std::time::{Instant, SystemTime};

use tracing::{debug, info, warn};

use super::super::alive_check::{verify_alive, AliveReject};
use super::super::counters::NodeCounters;
use super::super::{PeerInfo, PeerState};
use super::Driver;
use crate::comm::peer_history::{Contact, Notice};
use crate::comm::{ConnectionInfo, ContactDirection, ContactOutcome, ReceivedMessage, RemotePeer};
use crate::discovery::{AliveFields, Input, Liveness, Output, VerifiedAlive};
use crate::proto::gossip::gossip_message::Content;
use crate::sync::RwLockExt;

impl Driver {
    pub(super) fn on_connected(&self, info: &ConnectionInfo) -> Option<Input> {
        // Comm validated the identity during the handshake; the mapper keeps it so later
        // alives without an identity can be verified.
        if let Err(e) = self.mapper.put(&info.pki_id, &info.identity) {
            // A peer with an expired identity reconnects forever: log once per reason.
            let contact = Contact {
                endpoint: info.endpoint.clone(),
                pki_id: Some(info.pki_id.clone()),
                org: None,
                direction: ContactDirection::Inbound,
                outcome: ContactOutcome::HandshakeFailed {
                    reason: "identity_refused".into(),
                    detail: e.to_string(),
                },
                identity_expires_at: None,
            };
            match self.comm.peer_history().record(contact, SystemTime::now()) {
                Notice::Log => {
                    warn!(peer = %info.pki_id, error = %e, "connected peer's identity refused")
                }
                Notice::Repeat => {
                    debug!(peer = %info.pki_id, error = %e, "connected peer's identity refused")
                }
            }
            NodeCounters::inc(&self.counters.conn_rejected);
            self.comm.close_conn(&info.pki_id);
            return None;
        }
        let Some(org) = self.crypto.advisor.org_by_peer_identity(&info.identity) else {
            NodeCounters::inc(&self.counters.conn_rejected);
            self.comm.close_conn(&info.pki_id);
            return None;
        };
        Some(Input::Connected {
            pki_id: info.pki_id.clone(),
            org,
            endpoint: info.endpoint.clone(),
        })
    }

    pub(super) fn on_message(&self, m: ReceivedMessage) -> Option<Input> {
        let from = m.conn.pki_id.clone();
        match m.msg.content {
            Some(Content::AliveMsg(_)) => {
                let alive = self.check_alive(&m.envelope, |a| self.alive_is_news(a))?;
                Some(Input::Alive { from, alive })
            }
            Some(Content::MemReq(req)) => {
                let Some(env) = req.self_information else {
                    NodeCounters::inc(&self.counters.mem_req_malformed);
                    return None;
                };
                // Verified even when known: the request is answered from it.
                let alive = self.check_alive(&env, |_| true)?;
                let from_org = self.crypto.advisor.org_by_peer_identity(&m.conn.identity)?;
                Some(Input::MemReq {
                    from,
                    from_org,
                    nonce: m.msg.nonce,
                    alive,
                })
            }
            Some(Content::MemRes(res)) => {
                let alive = res
                    .alive
                    .iter()
                    .filter_map(|e| self.check_alive(e, |a| self.alive_is_news(a)))
                    .collect();
                let dead = res
                    .dead
                    .iter()
                    .filter_map(|e| self.check_alive(e, |a| self.discovery.dead_is_news(&a.pki_id)))
                    .collect();
                Some(Input::MemRes {
                    from,
                    nonce: m.msg.nonce,
                    alive,
                    dead,
                })
            }
            // Channels, pull, state and private data arrive with later parts of the node.
            _ => {
                NodeCounters::inc(&self.counters.unhandled);
                None
            }
        }
    }

    /// Whether membership would learn from this alive (see [`Discovery::alive_is_news`]).
    ///
    /// [`Discovery::alive_is_news`]: crate::discovery::Discovery::alive_is_news
    fn alive_is_news(&self, a: &AliveFields) -> bool {
        self.discovery.alive_is_news(&a.pki_id, &a.timestamp)
    }

    /// Verifies a received alive that `is_news` does not dismiss (see [`verify_alive`]).
    pub(super) fn check_alive(
        &self,
        env: &crate::proto::gossip::Envelope,
        is_news: impl FnOnce(&AliveFields) -> bool,
    ) -> Option<VerifiedAlive> {
        match verify_alive(env, &self.crypto, &self.mapper, is_news) {
            Ok((alive, bad_secret)) => {
                if bad_secret {
                    NodeCounters::inc(&self.counters.alive_bad_secret);
                }
                // Lets comm accept a same-org identity switch when it dials this peer.
                if let Some(identity) = &alive.identity {
                    self.comm.learn_identity(&alive.pki_id, identity);
                }
                Some(alive)
            }
            Err(reason) => {
                self.counters.alive_rejected(reason);
                if reason != AliveReject::Known {
                    debug!(reason = reason.as_str(), "alive message refused");
                }
                None
            }
        }
    }

    /// Feeds one input to the machine, carries out its outputs, refreshes the snapshot.
    pub(super) fn step(&mut self, input: Input) {
        let now = Instant::now();
        let outputs = self.discovery.handle(now, input);
        let mut changed = false;
        for out in outputs {
            changed |= self.execute(out);
        }
        self.refresh_views(now, changed);
    }

    /// Returns whether membership changed.
    pub(super) fn execute(&self, out: Output) -> bool {
        match out {
            Output::Send { to, envelope } => {
                self.comm.send(
                    envelope,
                    &RemotePeer {
                        endpoint: to.endpoint,
                        pki_id: to.pki_id,
                    },
                );
                false
            }
            Output::Probe { endpoint } => {
                let comm = self.comm.clone();
                let advisor = self.crypto.advisor.clone();
                let mapper = self.mapper.clone();
                let tx = self.results_tx.clone();
                tokio::spawn(async move {
                    let result = match comm.handshake(&endpoint).await {
                        Ok(info) => match advisor.org_by_peer_identity(&info.identity) {
                            Some(org) => {
                                // Known from now on, so its alive can be verified before the
                                // identity travels again.
                                let _ = mapper.put(&info.pki_id, &info.identity);
                                Ok((info.pki_id, org))
                            }
                            None => Err("the peer's identity has no organization".to_string()),
                        },
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Input::ProbeResult { endpoint, result }).await;
                });
                false
            }
            Output::Ping { pki_id, endpoint } => {
                let comm = self.comm.clone();
                let tx = self.results_tx.clone();
                tokio::spawn(async move {
                    let ok = comm.probe(&endpoint).await.is_ok();
                    let _ = tx.send(Input::PingResult { pki_id, ok }).await;
                });
                false
            }
            Output::CloseConn { pki_id } => {
                self.comm.close_conn(&pki_id);
                false
            }
            // One line per state change of a remote peer, with what identifies it.
            Output::PeerUp(pki_id) => {
                self.tracker.peer_up(&pki_id, SystemTime::now());
                let m = self.discovery.lookup(&pki_id);
                info!(peer = %pki_id, org = m.as_ref().map_or("", |m| m.org.as_str()),
                      endpoint = m.as_ref().map_or("", |m| m.preferred_endpoint()),
                      state = "up", "peer alive");
                true
            }
            Output::PeerDead(pki_id) => {
                self.tracker.peer_dead(&pki_id, SystemTime::now());
                let m = self.discovery.lookup(&pki_id);
                let silent = m.as_ref().map_or(0, |m| m.last_seen.elapsed().as_secs());
                info!(peer = %pki_id, org = m.as_ref().map_or("", |m| m.org.as_str()),
                      endpoint = m.as_ref().map_or("", |m| m.preferred_endpoint()),
                      state = "dead", silent_s = silent, "peer dead");
                true
            }
            Output::PeerPurged(pki_id) => {
                self.tracker.peer_purged(&pki_id, SystemTime::now());
                info!(peer = %pki_id, state = "purged", "peer purged from membership");
                self.mapper.remove(&pki_id);
                true
            }
        }
    }

    pub(super) fn publish_view(&self) {
        let members = self.discovery.members();
        self.tracker.refresh(
            &members,
            self.discovery.counters(),
            Instant::now(),
            SystemTime::now(),
        );
        let snapshot: Vec<PeerInfo> = members
            .into_iter()
            .map(|m| PeerInfo {
                pki_id: m.pki_id.to_hex(),
                endpoint: m.endpoint,
                internal_endpoint: m.internal_endpoint,
                org: m.org,
                state: if m.liveness == Liveness::Alive {
                    PeerState::Alive
                } else {
                    PeerState::Dead
                },
            })
            .collect();
        *self.view.write_locked() = snapshot;
    }
}
