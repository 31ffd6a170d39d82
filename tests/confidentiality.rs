//! Fabric's confidentiality scenario (`TestConfidentiality`) over loopback gRPC, in process:
//! orgs A–D with two peers each (all with external endpoints) and channels
//! C0 = {A, B}, C1 = {A, C}, C2 = {B, C}, C3 = {B, D}:
//!
//! ```text
//!   [A]-C0-[B]-C3-[D]
//!    |     /
//!    C1  C2
//!    |  /
//!   [C]
//! ```
//!
//! Orgs meet only through the anchor peers of the channels they join, and membership is
//! disclosed org by org (an alive about org O goes to a peer of org R only when O is R's org
//! or the discloser's own), so every peer ends up knowing exactly its own org and the orgs it
//! shares a channel with: only B knows D, and D knows only B. StateInfo of a channel stays
//! with the channel's orgs.

mod support;
use support::{free_port, tempdir, wait_until};

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fabgossip::channel::{AnchorPeer, JoinChannelMessage};
use fabgossip::config::Config;
use fabgossip::node::GossipService;

const ORGS: [&str; 4] = ["OrgAMSP", "OrgBMSP", "OrgCMSP", "OrgDMSP"];
const PEERS_PER_ORG: usize = 2;
/// Channel name and member orgs (indices into ORGS).
const CHANNELS: [(&str, [usize; 2]); 4] = [
    ("c0", [0, 1]),
    ("c1", [0, 2]),
    ("c2", [1, 2]),
    ("c3", [1, 3]),
];

fn org_of(i: usize) -> usize {
    i / PEERS_PER_ORG
}

/// Peer `i`; the second peer of an org bootstraps from the first (bootstrap stays in the org).
async fn start(i: usize, ports: &[u16], dir: &std::path::Path) -> GossipService {
    let port = ports[i];
    let org = ORGS[org_of(i)];
    let first = org_of(i) * PEERS_PER_ORG;
    let boot = if i == first {
        String::new()
    } else {
        format!("127.0.0.1:{}", ports[first])
    };
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: [{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 3s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    publishCertPeriod: 2s\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\nfabgossip:\n  trustedOrgs: [{orgs}]\n  identitySeed: '{seed}'\n",
        dir = dir.join(format!("p{i}")).display(),
        orgs = ORGS.join(", "),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    let cfg = Config::parse(&text).unwrap();
    GossipService::start_builtin(cfg).await.unwrap()
}

/// The orgs (indices) peer `i` should know: its own and those sharing a channel with it.
fn orgs_to_know(i: usize) -> BTreeSet<usize> {
    let me = org_of(i);
    let mut s = BTreeSet::from([me]);
    for (_, members) in CHANNELS {
        if members.contains(&me) {
            s.extend(members);
        }
    }
    s
}

fn channels_of(i: usize) -> Vec<(&'static str, [usize; 2])> {
    CHANNELS
        .into_iter()
        .filter(|(_, m)| m.contains(&org_of(i)))
        .collect()
}

/// The PKI-IDs of all peers of `orgs` other than `me`.
fn ids_of_orgs(ids: &[String], orgs: &BTreeSet<usize>, me: usize) -> BTreeSet<String> {
    (0..ids.len())
        .filter(|&j| j != me && orgs.contains(&org_of(j)))
        .map(|j| ids[j].clone())
        .collect()
}

/// Fails at once when a peer knows a peer of an org it shares no channel with; returns
/// whether every peer knows exactly the peers it should.
fn membership_settled(peers: &[GossipService], ids: &[String]) -> bool {
    let org_index: BTreeMap<&str, usize> = ORGS.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    let mut settled = true;
    for (i, p) in peers.iter().enumerate() {
        let allowed = orgs_to_know(i);
        let known = p.peers();
        for k in &known {
            let org = org_index.get(k.org.as_str()).copied();
            assert!(
                org.is_some_and(|o| allowed.contains(&o)),
                "peer {i} ({}) knows {} of {} ({k:?}), an org it shares no channel with",
                ORGS[org_of(i)],
                k.pki_id,
                k.org
            );
            if org != Some(org_of(i)) {
                assert!(
                    k.internal_endpoint.is_empty(),
                    "peer {i} learned the internal endpoint of a foreign peer: {k:?}"
                );
            }
        }
        let got: BTreeSet<String> = known.into_iter().map(|k| k.pki_id).collect();
        settled &= got == ids_of_orgs(ids, &allowed, i);
    }
    settled
}

/// Every peer lists, for each channel it joined, exactly the other peers of the channel's orgs
/// (and nobody of another org); channels it did not join are unknown to it.
fn channel_views_settled(peers: &[GossipService], ids: &[String]) -> bool {
    let mut settled = true;
    for (i, p) in peers.iter().enumerate() {
        for (ch, members) in CHANNELS {
            let view = p.peers_of_channel(ch);
            if !members.contains(&org_of(i)) {
                assert_eq!(view, None, "peer {i} knows channel {ch}");
                continue;
            }
            let view = view.expect("joined channel");
            let allowed: BTreeSet<&str> = members.iter().map(|&o| ORGS[o]).collect();
            for c in &view {
                assert!(
                    allowed.contains(c.org.as_str()),
                    "peer {i} lists {c:?} in {ch}, whose orgs are {allowed:?}"
                );
            }
            let got: BTreeSet<String> = view.into_iter().map(|c| c.pki_id).collect();
            settled &= got == ids_of_orgs(ids, &members.iter().copied().collect(), i);
        }
    }
    settled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_peer_learns_an_org_it_shares_no_channel_with() {
    let dir = tempdir("confidentiality");
    let n = ORGS.len() * PEERS_PER_ORG;
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    for i in 0..n {
        peers.push(start(i, &ports, &dir).await);
    }
    let ids: Vec<String> = peers.iter().map(|p| p.self_info().pki_id).collect();

    // Phase 1: every peer joins its channels without anchor peers, so no org meets another
    // before every peer has joined all its channels (a StateInfo reaching a peer that has not
    // joined yet would be counted as "unknown channel" and blur the checks below).
    let join = |sequence: u64, members: [usize; 2], anchors: bool| JoinChannelMessage {
        sequence,
        members: members.iter().map(|&o| ORGS[o].to_string()).collect(),
        anchor_peers: if anchors {
            members
                .iter()
                .map(|&o| AnchorPeer {
                    org: ORGS[o].into(),
                    host: "127.0.0.1".into(),
                    port: ports[o * PEERS_PER_ORG],
                })
                .collect()
        } else {
            Vec::new()
        },
        orderers: Vec::new(),
    };
    for (i, p) in peers.iter().enumerate() {
        for (ch, members) in channels_of(i) {
            p.join_channel(ch, join(1, members, false)).await.unwrap();
        }
    }
    wait_until(
        "each org's two peers see each other",
        Duration::from_secs(30),
        || {
            peers.iter().enumerate().all(|(i, p)| {
                let v = p.peers();
                v.len() == 1 && v[0].org == ORGS[org_of(i)]
            })
        },
    )
    .await;

    // Phase 2: the channel configs gain their anchor peers (one per member org).
    for (i, p) in peers.iter().enumerate() {
        for (ch, members) in channels_of(i) {
            p.join_channel(ch, join(2, members, true)).await.unwrap();
        }
    }
    wait_until(
        "every peer knows exactly its org and the orgs it shares a channel with",
        Duration::from_secs(60),
        || membership_settled(&peers, &ids),
    )
    .await;
    wait_until(
        "every channel's peers see each other, and only them",
        Duration::from_secs(60),
        || channel_views_settled(&peers, &ids),
    )
    .await;

    // Give alive forwarding, membership pulls and StateInfo rounds time to leak, then check
    // again: still nobody knows a third org, and no channel state crossed to outsiders.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(membership_settled(&peers, &ids));
    assert!(channel_views_settled(&peers, &ids));
    for (i, p) in peers.iter().enumerate() {
        let c = p.channel_counters();
        assert!(c.state_info_accepted > 0, "peer {i}: {c:?}");
        assert_eq!(c.state_info_unknown_channel, 0, "peer {i}: {c:?}");
        assert_eq!(c.state_info_org_not_in_channel, 0, "peer {i}: {c:?}");
        assert_eq!(c.snapshot_unknown_channel, 0, "peer {i}: {c:?}");
        assert_eq!(c.pull_req_unknown_channel, 0, "peer {i}: {c:?}");
        assert_eq!(c.sender_not_in_channel, 0, "peer {i}: {c:?}");
    }
    // D knows B's peers and its own only; B is the only org that knows D.
    let d_peer = &peers[3 * PEERS_PER_ORG];
    let d_orgs: BTreeSet<String> = d_peer.peers().into_iter().map(|k| k.org).collect();
    assert_eq!(
        d_orgs,
        BTreeSet::from(["OrgBMSP".to_string(), "OrgDMSP".to_string()])
    );
    for (i, p) in peers.iter().enumerate() {
        let knows_d = p.peers().iter().any(|k| k.org == "OrgDMSP");
        assert_eq!(
            knows_d,
            matches!(org_of(i), 1 | 3),
            "peer {i} of {}",
            ORGS[org_of(i)]
        );
    }
    for p in &peers {
        p.stop().await;
    }
}
