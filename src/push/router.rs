//! Where a pushed message goes (Fabric's `gossipBatch` routing, reference §4.5), as pure
//! functions of the message, the exclude list, a [`RoutingSnapshot`] and an RNG.
//!
//! Rules, by content:
//! - block (`DataMsg`) and leadership: peers of my org whose org is in the channel and whose
//!   StateInfo is held; blocks to the policy's fan-out, leadership to all;
//! - StateInfo: `propagatePeerNum` channel members if the originator has an external
//!   endpoint (and the MAC names a channel we joined), else `propagatePeerNum` peers of my org;
//! - alive: `propagatePeerNum` peers the alive may be forwarded to (see
//!   [`may_forward`]); the secret envelope is stripped for other orgs;
//! - any other org-restricted message: `propagatePeerNum` peers of my org;
//! - requests, responses and pull messages are refused (they go to one peer, not by push).
//!
//! Never to ourselves, the originator (the PKI-ID in an alive, StateInfo or leadership
//! message) or anyone on the exclude list (the sender).
//!
//! Deviation from Fabric: exclusions are applied before the random choice, so a forwarded
//! message still reaches the full fan-out (Fabric picks, then drops the sender, one batch-wide
//! choice per channel).

use rand::seq::SliceRandom;
use rand::Rng;

use super::error::RouteError;
use super::policy::PushPolicy;
use super::snapshot::{RoutePeer, RoutingSnapshot};
use crate::discovery::disclosure::{keeps_secret, may_forward};
use crate::message::{channel_mac, is_org_restricted, kind_name, Content};
use crate::proto::gossip::GossipMessage;
use crate::types::PkiId;
use crate::types::RemotePeer;

/// Which rule placed a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Block,
    Leadership,
    StateInfo,
    Alive,
    Org,
}

/// The targets of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: RouteKind,
    /// Targets that get the envelope as it is.
    pub full: Vec<RemotePeer>,
    /// Targets of other orgs that get the envelope without its secret (alives only).
    pub stripped: Vec<RemotePeer>,
}

impl Route {
    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.stripped.is_empty()
    }

    pub fn len(&self) -> usize {
        self.full.len() + self.stripped.len()
    }
}

/// The knobs routing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteParams {
    /// `propagatePeerNum`.
    pub propagate_peer_num: usize,
    pub policy: PushPolicy,
}

/// Chooses the targets of `msg`. `exclude` holds peers that must not get it (the sender);
/// `relayed`: the message came from another peer and is forwarded on.
pub fn route<R: Rng + ?Sized>(
    msg: &GossipMessage,
    exclude: &[PkiId],
    relayed: bool,
    snap: RoutingSnapshot<'_>,
    params: &RouteParams,
    rng: &mut R,
) -> Result<Route, RouteError> {
    let content = msg.content.as_ref().ok_or(RouteError::NoContent)?;
    match content {
        Content::DataMsg(_) => route_block(msg, exclude, relayed, snap, params, rng),
        Content::LeadershipMsg(l) => {
            let originator = PkiId(l.pki_id.clone());
            if originator.is_empty() {
                return Err(RouteError::NoOriginator("leadership"));
            }
            let channel = joined_channel(msg, snap)?;
            let full = candidates(snap, exclude, Some(&originator), |p| {
                in_my_org_and_channel(p, snap, channel)
            })
            .into_iter()
            .map(RoutePeer::target)
            .collect();
            Ok(Route {
                kind: RouteKind::Leadership,
                full,
                stripped: Vec::new(),
            })
        }
        Content::StateInfo(si) => {
            let originator = PkiId(si.pki_id.clone());
            if originator.is_empty() {
                return Err(RouteError::NoOriginator("StateInfo"));
            }
            let channel = snap
                .me
                .channels
                .iter()
                .find(|ch| channel_mac(&originator, ch) == si.channel_mac);
            let external = snap
                .lookup(&originator)
                .is_some_and(|(_, endpoint)| !endpoint.is_empty());
            let pool = match channel {
                Some(ch) if external => {
                    candidates(snap, exclude, Some(&originator), |p| p.is_member_of(ch))
                }
                _ => candidates(snap, exclude, Some(&originator), |p| p.org == snap.me.org),
            };
            Ok(Route {
                kind: RouteKind::StateInfo,
                full: pick(pool, params.propagate_peer_num, rng),
                stripped: Vec::new(),
            })
        }
        Content::AliveMsg(a) => {
            let member = a
                .membership
                .as_ref()
                .filter(|m| !m.pki_id.is_empty())
                .ok_or(RouteError::NoOriginator("alive"))?;
            let originator = PkiId(member.pki_id.clone());
            // An alive of a peer whose org we cannot tell goes nowhere (Fabric's
            // SelectNonePolicy).
            let origin_org = snap
                .lookup(&originator)
                .map(|(org, _)| org)
                .unwrap_or_default();
            let my_org = snap.me.org.as_str();
            let pool = candidates(snap, exclude, Some(&originator), |p| {
                may_forward(my_org, origin_org, &member.endpoint, &p.org, &p.endpoint)
            });
            let mut route = Route {
                kind: RouteKind::Alive,
                full: Vec::new(),
                stripped: Vec::new(),
            };
            for p in pool.choose_multiple(rng, params.propagate_peer_num) {
                if keeps_secret(my_org, &p.org) {
                    route.full.push(p.target());
                } else {
                    route.stripped.push(p.target());
                }
            }
            Ok(route)
        }
        // Requests, responses and pull rounds go to one peer, never through push.
        Content::MemReq(_)
        | Content::MemRes(_)
        | Content::Conn(_)
        | Content::Ack(_)
        | Content::StateInfoPullReq(_)
        | Content::StateSnapshot(_)
        | Content::StateRequest(_)
        | Content::StateResponse(_)
        | Content::PrivateReq(_)
        | Content::PrivateRes(_)
        | Content::Hello(_)
        | Content::DataDig(_)
        | Content::DataReq(_)
        | Content::DataUpdate(_) => Err(RouteError::NotPushed(kind_name(msg))),
        _ if is_org_restricted(msg) => {
            let pool = candidates(snap, exclude, None, |p| p.org == snap.me.org);
            Ok(Route {
                kind: RouteKind::Org,
                full: pick(pool, params.propagate_peer_num, rng),
                stripped: Vec::new(),
            })
        }
        _ => Err(RouteError::NotPushed(kind_name(msg))),
    }
}

/// Blocks: my org ∧ channel org ∧ StateInfo held, fan-out from the policy, the ring
/// successor first under the adaptive policy.
fn route_block<R: Rng + ?Sized>(
    msg: &GossipMessage,
    exclude: &[PkiId],
    relayed: bool,
    snap: RoutingSnapshot<'_>,
    params: &RouteParams,
    rng: &mut R,
) -> Result<Route, RouteError> {
    let channel = joined_channel(msg, snap)?;
    let eligible: Vec<&RoutePeer> = snap
        .peers
        .iter()
        .filter(|p| p.pki_id != snap.me.pki_id && in_my_org_and_channel(p, snap, channel))
        .collect();
    let mut fanout = params
        .policy
        .block_fanout(params.propagate_peer_num, eligible.len(), relayed);
    let mut full = Vec::with_capacity(fanout);
    let mut skip: Option<&PkiId> = None;
    if params.policy.uses_ring_successor() && fanout > 0 {
        if let Some(next) = ring_successor(&snap.me.pki_id, &eligible) {
            // An excluded successor (the sender) has the block already: its slot is used.
            if !exclude.contains(&next.pki_id) {
                full.push(next.target());
            }
            skip = Some(&next.pki_id);
            fanout -= 1;
        }
    }
    let pool: Vec<&RoutePeer> = eligible
        .into_iter()
        .filter(|p| !exclude.contains(&p.pki_id) && Some(&p.pki_id) != skip)
        .collect();
    full.extend(pick(pool, fanout, rng));
    Ok(Route {
        kind: RouteKind::Block,
        full,
        stripped: Vec::new(),
    })
}

/// The eligible peer with the next larger PKI-ID after ours, wrapping to the smallest.
pub fn ring_successor<'p>(me: &PkiId, eligible: &[&'p RoutePeer]) -> Option<&'p RoutePeer> {
    let mut above: Option<&RoutePeer> = None;
    let mut lowest: Option<&RoutePeer> = None;
    for &p in eligible {
        if p.pki_id > *me && above.is_none_or(|a| p.pki_id < a.pki_id) {
            above = Some(p);
        }
        if lowest.is_none_or(|l| p.pki_id < l.pki_id) {
            lowest = Some(p);
        }
    }
    above.or(lowest)
}

/// The channel of a block or leadership message, if we joined it.
fn joined_channel<'a>(
    msg: &'a GossipMessage,
    snap: RoutingSnapshot<'_>,
) -> Result<&'a [u8], RouteError> {
    if snap.me.channels.contains(&msg.channel) {
        Ok(&msg.channel)
    } else {
        Err(RouteError::NotInChannel(
            String::from_utf8_lossy(&msg.channel).into_owned(),
        ))
    }
}

fn in_my_org_and_channel(p: &RoutePeer, snap: RoutingSnapshot<'_>, channel: &[u8]) -> bool {
    p.org == snap.me.org && p.is_eligible_for(channel)
}

/// Members passing `keep`, minus ourselves, the originator and the excluded.
fn candidates<'p>(
    snap: RoutingSnapshot<'p>,
    exclude: &[PkiId],
    originator: Option<&PkiId>,
    keep: impl Fn(&RoutePeer) -> bool,
) -> Vec<&'p RoutePeer> {
    snap.peers
        .iter()
        .filter(|p| {
            p.pki_id != snap.me.pki_id
                && Some(&p.pki_id) != originator
                && !exclude.contains(&p.pki_id)
                && keep(p)
        })
        .collect()
}

/// `k` distinct random members of `pool` (all of it when smaller).
fn pick<R: Rng + ?Sized>(pool: Vec<&RoutePeer>, k: usize, rng: &mut R) -> Vec<RemotePeer> {
    pool.choose_multiple(rng, k).map(|p| p.target()).collect()
}
