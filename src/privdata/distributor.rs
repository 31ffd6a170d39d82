//! The distributor's plan (Fabric's `distributor.go`, sans-IO): which channel peers get a
//! collection's private write set, which of them must ack, and the verdict once the acks are
//! in.
//!
//! Per collection: the eligible peers are the channel's peers (never this peer) that pass the
//! collection's eligibility predicate; fewer than `requiredPeerCount` of them is an error.
//! One random peer of each member org is chosen first, then random extras up to
//! `maxPeerCount`; a chosen peer is marked ack-required while the required count is not yet
//! covered. The collection succeeds once `requiredPeerCount` of its targets acked.
//!
//! Deviation from Fabric: Fabric fails a collection when one of its ack-required peers fails
//! even if an extra peer acked; here any `requiredPeerCount` acks succeed, the same guarantee
//! (that many peers hold the data) with fewer false failures.
//!
//! Eligibility is the collection's one rule ([`CollectionAccess::is_eligible`]) over each
//! candidate's identity; the counts come from the same [`CollectionAccess`].

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use super::collection::CollectionAccess;
use crate::types::PkiId;

/// A channel peer the plan may choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pki_id: PkiId,
    pub endpoint: String,
    pub org: String,
    /// Its serialized identity, which eligibility is evaluated over.
    pub identity: Vec<u8>,
}

/// How many peers must and may get a collection's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DisseminationPolicy {
    pub required_peer_count: usize,
    pub max_peer_count: usize,
}

/// A chosen peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub peer: Candidate,
    /// Chosen while the required count was not yet covered (Fabric's `MinAck: 1`).
    pub ack_required: bool,
}

impl DisseminationPolicy {
    /// The collection's `requiredPeerCount` and `maxPeerCount`.
    pub fn of(access: &CollectionAccess) -> Self {
        DisseminationPolicy {
            required_peer_count: access.required_peer_count as usize,
            max_peer_count: access.max_peer_count as usize,
        }
    }
}

/// Why no plan could be made for a collection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("required to disseminate to at least {required} peers, but know of only {eligible} eligible peers")]
    NotEnoughPeers { required: usize, eligible: usize },
    #[error("requiredPeerCount {required} exceeds maxPeerCount {max}")]
    RequiredAboveMax { required: usize, max: usize },
}

/// Chooses the targets of one collection. `channel_peers` are the channel's peers as this
/// peer knows them; `self_pki` is never chosen.
pub fn plan<R: Rng>(
    policy: DisseminationPolicy,
    channel_peers: &[Candidate],
    self_pki: &PkiId,
    eligible: impl Fn(&Candidate) -> bool,
    rng: &mut R,
) -> Result<Vec<Target>, PlanError> {
    let (required, max) = (policy.required_peer_count, policy.max_peer_count);
    if required > max {
        return Err(PlanError::RequiredAboveMax { required, max });
    }
    let mut seen = BTreeSet::new();
    let eligible: Vec<&Candidate> = channel_peers
        .iter()
        .filter(|c| &c.pki_id != self_pki && seen.insert(c.pki_id.clone()) && eligible(c))
        .collect();
    if eligible.len() < required {
        return Err(PlanError::NotEnoughPeers {
            required,
            eligible: eligible.len(),
        });
    }
    let mut by_org: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for c in &eligible {
        by_org.entry(c.org.as_str()).or_default().push(c);
    }
    let mut orgs: Vec<Vec<&Candidate>> = by_org.into_values().collect();
    orgs.shuffle(rng);

    let mut targets = Vec::new();
    let mut rest = Vec::new();
    let choose = |peer: &Candidate, targets: &mut Vec<Target>| {
        let ack_required = targets.len() < required;
        targets.push(Target {
            peer: peer.clone(),
            ack_required,
        });
    };
    for mut org in orgs {
        if targets.len() == max {
            break;
        }
        let i = rng.gen_range(0..org.len());
        let first = org.swap_remove(i);
        choose(first, &mut targets);
        rest.extend(org);
    }
    rest.shuffle(rng);
    for peer in rest {
        if targets.len() == max {
            break;
        }
        choose(peer, &mut targets);
    }
    Ok(targets)
}

/// What became of the message sent to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerResult {
    Acked,
    /// The peer answered with this error.
    Nacked(String),
    TimedOut,
    /// The message never reached the peer.
    SendFailed(String),
}

/// One target in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerReport {
    /// Lowercase hex.
    pub pki_id: String,
    pub endpoint: String,
    pub org: String,
    pub ack_required: bool,
    /// `acked`, `nacked`, `timeout` or `send_failed`.
    pub result: &'static str,
    /// The NACK's text, or why the send failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of one collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionReport {
    pub namespace: String,
    pub collection: String,
    pub required_peer_count: usize,
    pub max_peer_count: usize,
    pub acked: Vec<PeerReport>,
    pub failed: Vec<PeerReport>,
    /// At least `required_peer_count` targets acked.
    pub required_met: bool,
    /// Why no plan could be made (then nothing was sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CollectionReport {
    /// A collection that could not be planned: nothing sent, required not met unless 0.
    pub fn unplanned(
        namespace: &str,
        collection: &str,
        policy: Option<DisseminationPolicy>,
        error: String,
    ) -> Self {
        let policy = policy.unwrap_or(DisseminationPolicy {
            required_peer_count: 0,
            max_peer_count: 0,
        });
        CollectionReport {
            namespace: namespace.into(),
            collection: collection.into(),
            required_peer_count: policy.required_peer_count,
            max_peer_count: policy.max_peer_count,
            acked: Vec::new(),
            failed: Vec::new(),
            required_met: false,
            error: Some(error),
        }
    }
}

/// The verdict of one collection from its targets' results (`None`: no result known, which
/// counts as a timeout).
pub fn tally(
    namespace: &str,
    collection: &str,
    policy: DisseminationPolicy,
    targets: &[Target],
    result_of: impl Fn(&PkiId) -> Option<PeerResult>,
) -> CollectionReport {
    let mut report = CollectionReport {
        namespace: namespace.into(),
        collection: collection.into(),
        required_peer_count: policy.required_peer_count,
        max_peer_count: policy.max_peer_count,
        acked: Vec::new(),
        failed: Vec::new(),
        required_met: false,
        error: None,
    };
    for t in targets {
        let (result, error) = match result_of(&t.peer.pki_id).unwrap_or(PeerResult::TimedOut) {
            PeerResult::Acked => ("acked", None),
            PeerResult::Nacked(e) => ("nacked", Some(e)),
            PeerResult::TimedOut => ("timeout", None),
            PeerResult::SendFailed(e) => ("send_failed", Some(e)),
        };
        let r = PeerReport {
            pki_id: t.peer.pki_id.to_hex(),
            endpoint: t.peer.endpoint.clone(),
            org: t.peer.org.clone(),
            ack_required: t.ack_required,
            result,
            error,
        };
        if result == "acked" {
            report.acked.push(r);
        } else {
            report.failed.push(r);
        }
    }
    report.required_met = report.acked.len() >= policy.required_peer_count;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn peer(org: &str, i: u8) -> Candidate {
        Candidate {
            pki_id: PkiId(vec![org.len() as u8, org.as_bytes()[3], i]),
            endpoint: format!("{org}-peer{i}:7051"),
            org: org.into(),
            identity: Vec::new(),
        }
    }

    /// 3 orgs × 3 peers.
    fn channel() -> Vec<Candidate> {
        ["Org1MSP", "Org2MSP", "Org3MSP"]
            .iter()
            .flat_map(|o| (0..3).map(move |i| peer(o, i)))
            .collect()
    }

    fn pol(required: usize, max: usize) -> DisseminationPolicy {
        DisseminationPolicy {
            required_peer_count: required,
            max_peer_count: max,
        }
    }

    fn orgs_of(t: &[Target]) -> Vec<&str> {
        t.iter().map(|t| t.peer.org.as_str()).collect()
    }

    #[test]
    fn one_peer_per_org_first_then_extras_up_to_max() {
        let peers = channel();
        let me = peer("Org1MSP", 0).pki_id;
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let t = plan(pol(2, 5), &peers, &me, |_| true, &mut rng).unwrap();
            assert_eq!(t.len(), 5);
            let first: BTreeSet<&str> = orgs_of(&t[..3]).into_iter().collect();
            assert_eq!(first.len(), 3, "the first three cover every org: {t:?}");
            let required: Vec<bool> = t.iter().map(|t| t.ack_required).collect();
            assert_eq!(required, [true, true, false, false, false]);
            assert!(t.iter().all(|t| t.peer.pki_id != me), "never this peer");
            let distinct: BTreeSet<_> = t.iter().map(|t| &t.peer.pki_id).collect();
            assert_eq!(distinct.len(), 5);
        }
    }

    #[test]
    fn choices_vary_with_the_seed_and_repeat_with_it() {
        let peers = channel();
        let me = PkiId(vec![0]);
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            plan(pol(1, 3), &peers, &me, |_| true, &mut rng).unwrap()
        };
        assert_eq!(run(7), run(7));
        let distinct: BTreeSet<Vec<PkiId>> = (0..20)
            .map(|s| run(s).into_iter().map(|t| t.peer.pki_id).collect())
            .collect();
        assert!(distinct.len() > 5, "random choice: {distinct:?}");
    }

    #[test]
    fn max_smaller_than_the_org_count_stops_in_the_first_round() {
        let peers = channel();
        let mut rng = StdRng::seed_from_u64(1);
        let t = plan(pol(1, 2), &peers, &PkiId(vec![0]), |_| true, &mut rng).unwrap();
        assert_eq!(t.len(), 2);
        assert_ne!(t[0].peer.org, t[1].peer.org);
        assert_eq!((t[0].ack_required, t[1].ack_required), (true, false));
        let t = plan(pol(0, 0), &peers, &PkiId(vec![0]), |_| true, &mut rng).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn only_eligible_peers_and_not_enough_of_them_is_an_error() {
        let peers = channel();
        let me = peer("Org2MSP", 0).pki_id;
        let only_org2 = |c: &Candidate| c.org == "Org2MSP";
        let mut rng = StdRng::seed_from_u64(3);
        let t = plan(pol(2, 10), &peers, &me, only_org2, &mut rng).unwrap();
        assert_eq!(orgs_of(&t), ["Org2MSP", "Org2MSP"], "self excluded: {t:?}");
        assert_eq!(
            plan(pol(3, 10), &peers, &me, only_org2, &mut rng),
            Err(PlanError::NotEnoughPeers {
                required: 3,
                eligible: 2
            })
        );
        assert_eq!(
            plan(pol(3, 2), &peers, &me, |_| true, &mut rng),
            Err(PlanError::RequiredAboveMax {
                required: 3,
                max: 2
            })
        );
        // A peer listed twice counts once.
        let twice = [peer("Org1MSP", 1), peer("Org1MSP", 1)];
        assert!(plan(pol(2, 2), &twice, &me, |_| true, &mut rng).is_err());
    }

    fn targets(n: u8) -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                peer: peer("Org1MSP", i),
                ack_required: i < 2,
            })
            .collect()
    }

    #[test]
    fn exactly_the_required_acks_succeed() {
        let t = targets(3);
        let acked = [t[0].peer.pki_id.clone(), t[2].peer.pki_id.clone()];
        let r = tally("cc", "col", pol(2, 3), &t, |p| {
            Some(if acked.contains(p) {
                PeerResult::Acked
            } else {
                PeerResult::TimedOut
            })
        });
        assert!(r.required_met, "{r:?}");
        assert_eq!(r.acked.len(), 2);
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].result, "timeout");
        assert!(r.failed[0].ack_required);
    }

    #[test]
    fn nacks_and_timeouts_below_required_fail_with_reasons() {
        let t = targets(3);
        let r = tally("cc", "col", pol(2, 3), &t, |p| {
            if p == &t[0].peer.pki_id {
                Some(PeerResult::Acked)
            } else if p == &t[1].peer.pki_id {
                Some(PeerResult::Nacked("not eligible".into()))
            } else {
                None
            }
        });
        assert!(!r.required_met);
        let reasons: Vec<_> = r
            .failed
            .iter()
            .map(|f| (f.result, f.error.clone()))
            .collect();
        assert_eq!(
            reasons,
            [("nacked", Some("not eligible".into())), ("timeout", None)]
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["failed"][0]["error"], "not eligible");
        assert_eq!(json["required_met"], false);
    }

    #[test]
    fn send_failures_count_as_failed_and_zero_required_always_succeeds() {
        let t = targets(2);
        let r = tally("cc", "col", pol(0, 2), &t, |_| {
            Some(PeerResult::SendFailed("could not connect".into()))
        });
        assert!(r.required_met);
        assert_eq!(r.failed.len(), 2);
        assert_eq!(r.failed[0].result, "send_failed");
    }

    #[test]
    fn counts_come_from_the_collection() {
        use crate::config::ImplicitCollectionPolicy;
        use crate::privdata::collection::resolve;
        let own = ImplicitCollectionPolicy {
            required_peer_count: 1,
            max_peer_count: 3,
        };
        let of = |name| DisseminationPolicy::of(&resolve(name, None, "Org1MSP", &own).unwrap());
        assert_eq!(of("_implicit_org_Org1MSP"), pol(1, 3));
        assert_eq!(of("_implicit_org_Org2MSP"), pol(0, 0));
    }
}
