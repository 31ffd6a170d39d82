//! Identities and channel configuration across `GossipService`s in one process over loopback
//! gRPC: identities spread by pull, an expired or revoked identity isolates its peer, a
//! channel reconfiguration removing an org drops its peers, leave then rejoin, and Fabric's
//! push fan-out still delivers every block with pull filling the gaps.

mod support;
use support::{free_port, tempdir, wait_for, wait_until};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use fabgossip::channel::{AnchorPeer, JoinChannelMessage};
use fabgossip::config::Config;
use fabgossip::crypto::block::{block_header_hash, new_block};
use fabgossip::crypto::ed25519::Ed25519Crypto;
use fabgossip::crypto::{CryptoContext, CryptoError, MessageCryptoService, SecurityAdvisor};
use fabgossip::node::GossipService;
use fabgossip::types::{OrgId, PkiId};
use prost::Message;

const CH: &str = "ident";

/// What the network's MSP says about identities, changed by the tests at runtime: a
/// revocation list and expiration dates.
#[derive(Default)]
struct Authority {
    revoked: Mutex<HashSet<Vec<u8>>>,
    expiry: Mutex<HashMap<Vec<u8>, SystemTime>>,
}

/// The built-in crypto of one peer, with the authority's revocations and expirations.
struct RevocableCrypto {
    inner: Arc<Ed25519Crypto>,
    auth: Arc<Authority>,
}

impl MessageCryptoService for RevocableCrypto {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        self.inner.pki_id_of(identity)
    }
    fn verify_block(&self, channel: &str, seq: u64, block: &[u8]) -> Result<(), CryptoError> {
        self.inner.verify_block(channel, seq, block)
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.sign(msg)
    }
    fn verify(&self, identity: &[u8], sig: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        self.inner.verify(identity, sig, msg)
    }
    fn verify_by_channel(
        &self,
        channel: &str,
        identity: &[u8],
        sig: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        self.validate_identity(identity)?;
        self.inner.verify_by_channel(channel, identity, sig, msg)
    }
    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        if self.auth.revoked.lock().unwrap().contains(identity) {
            return Err(CryptoError::UntrustedIdentity("revoked".into()));
        }
        self.inner.validate_identity(identity)
    }
    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        self.inner.expiration(identity)?;
        Ok(self.auth.expiry.lock().unwrap().get(identity).copied())
    }
}

impl SecurityAdvisor for RevocableCrypto {
    fn org_by_peer_identity(&self, identity: &[u8]) -> Option<OrgId> {
        self.inner.org_by_peer_identity(identity)
    }
}

/// Peer `i` of `org` bootstrapping from `boot`, fast timers; `extra` is appended to the
/// `peer.gossip` section, `lib` to the `fabgossip` section.
fn config(
    i: usize,
    org: &str,
    port: u16,
    boot: Option<u16>,
    dir: &std::path::Path,
    extra: &str,
    lib: &str,
) -> Config {
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: [{boot}]\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    digestWaitTime: 100ms\n    requestWaitTime: 200ms\n    responseWaitTime: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n{extra}fabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP]\n  identitySeed: '{seed}'\n{lib}",
        dir = dir.join(format!("p{i}")).display(),
        seed = hex::encode([i as u8 + 1; 32]),
        boot = boot.map(|b| format!("127.0.0.1:{b}")).unwrap_or_default(),
    );
    Config::parse(&text).unwrap()
}

fn ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

/// Peer 0 bootstraps from peer 1, every other peer from peer 0.
fn boot_of(ports: &[u16], i: usize) -> Option<u16> {
    Some(ports[if i == 0 { 1 } else { 0 }])
}

fn join_msg(seq: u64, orgs: &[&str]) -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: seq,
        members: orgs.iter().map(|o| o.to_string()).collect(),
        anchor_peers: Vec::new(),
        orderers: Vec::new(),
    }
}

/// As [`join_msg`] with one anchor peer per org: `(org, port)`.
fn join_with_anchors(seq: u64, anchors: &[(&str, u16)]) -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: seq,
        members: anchors.iter().map(|(o, _)| o.to_string()).collect(),
        anchor_peers: anchors
            .iter()
            .map(|(o, port)| AnchorPeer {
                org: o.to_string(),
                host: "127.0.0.1".into(),
                port: *port,
            })
            .collect(),
        orderers: Vec::new(),
    }
}

fn sees(p: &GossipService, other: &GossipService) -> bool {
    let id = other.self_info().pki_id;
    p.peers().iter().any(|m| m.pki_id == id)
}

fn sees_in_channel(p: &GossipService, other: &GossipService) -> bool {
    let id = other.self_info().pki_id;
    p.peers_of_channel(CH)
        .is_some_and(|v| v.iter().any(|c| c.pki_id == id))
}

/// Blocks 0..n chained by header hash, as marshaled `common.Block`s.
fn chain(n: u64) -> Vec<Vec<u8>> {
    let mut prev = Vec::new();
    (0..n)
        .map(|i| {
            let b = new_block(i, prev.clone(), vec![format!("tx {i}").into_bytes()]);
            prev = block_header_hash(b.header.as_ref().unwrap());
            b.encode_to_vec()
        })
        .collect()
}

async fn stop_all(peers: &[GossipService]) {
    for p in peers {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_spread_by_pull_without_a_direct_handshake() {
    let dir = tempdir("ident-pull");
    let ports = ports(3);
    // Alive messages never carry the identity: peers 0 and 2, which only know peer 1,
    // can verify each other's alive messages only once the identity pull brought the
    // identity through peer 1.
    let extra = "    publishCertPeriod: 0s\n";
    let mut peers = Vec::new();
    for i in 0..3 {
        let boot = Some(ports[if i == 1 { 0 } else { 1 }]);
        let cfg = config(i, "Org1MSP", ports[i], boot, &dir, extra, "");
        peers.push(GossipService::start_builtin(cfg).await.unwrap());
    }
    wait_until(
        "peers 0 and 2 see each other",
        Duration::from_secs(30),
        || sees(&peers[0], &peers[2]) && sees(&peers[2], &peers[0]),
    )
    .await;
    for i in [0, 2] {
        let s = peers[i].identity_stats();
        assert!(s.store.learned >= 1, "peer {i} learned by pull: {s:?}");
        assert_eq!(s.store.invalid_updates, 0);
        assert!(s.pull.rounds_started >= 1);
    }
    // Peer 1 serves the others' identities, its own included.
    assert!(peers[1].identity_stats().pull.updates_sent >= 1);
    stop_all(&peers).await;
}

/// Three Org1 peers on revocable crypto under one authority, in channel `CH`, seeing each
/// other in it.
async fn revocable_network(
    tag: &str,
) -> (Vec<GossipService>, Vec<Arc<Ed25519Crypto>>, Arc<Authority>) {
    let dir = tempdir(tag);
    let ports = ports(3);
    let auth = Arc::new(Authority::default());
    let mut peers = Vec::new();
    let mut eds = Vec::new();
    for i in 0..3 {
        let cfg = config(i, "Org1MSP", ports[i], boot_of(&ports, i), &dir, "", "");
        let ed = Ed25519Crypto::new("Org1MSP".into(), [i as u8 + 1; 32], vec!["Org1MSP".into()]);
        ed.set_channel_orgs(CH, vec!["Org1MSP".into()]);
        let crypto = Arc::new(RevocableCrypto {
            inner: ed.clone(),
            auth: auth.clone(),
        });
        let ctx = CryptoContext::new(crypto.clone(), crypto, ed.serialized_identity()).unwrap();
        peers.push(GossipService::start(cfg, ctx).await.unwrap());
        eds.push(ed);
    }
    for p in &peers {
        p.join_channel(CH, join_msg(1, &["Org1MSP"])).await.unwrap();
    }
    wait_until(
        "every peer sees the others in the channel",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == 2))
        },
    )
    .await;
    (peers, eds, auth)
}

/// Peers 0 and 1 no longer see peer 2, in membership or in the channel.
fn isolated(peers: &[GossipService]) -> bool {
    (0..2).all(|i| !sees(&peers[i], &peers[2]) && !sees_in_channel(&peers[i], &peers[2]))
}

/// Peer 2 stays cut off: nothing brings it back, and blocks reach peer 1 but not peer 2.
async fn stays_isolated(peers: &[GossipService]) {
    assert!(
        !wait_for(Duration::from_secs(3), || !isolated(peers)).await,
        "peer 2 came back"
    );
    for (seq, b) in chain(2).into_iter().enumerate() {
        peers[0].add_payload(CH, seq as u64, b).await.unwrap();
    }
    wait_until("peer 1 commits the blocks", Duration::from_secs(20), || {
        peers[1].ledger_height(CH) == Some(2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        peers[2].ledger_height(CH),
        Some(0),
        "no block reached peer 2"
    );
    assert!(isolated(peers));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_identity_isolates_the_peer_at_once() {
    let (peers, eds, auth) = revocable_network("ident-revoke").await;
    auth.revoked
        .lock()
        .unwrap()
        .insert(eds[2].serialized_identity());
    // The host tells peers 0 and 1 that the MSP config changed.
    for p in &peers[..2] {
        p.revalidate_identities().await.unwrap();
    }
    assert!(isolated(&peers), "cut off as soon as the call returns");
    for p in &peers[..2] {
        let s = p.identity_stats();
        assert_eq!(s.store.cut_off_revoked, 1, "{s:?}");
        assert_eq!(s.cut_off, 1);
    }
    stays_isolated(&peers).await;
    stop_all(&peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_identity_isolates_the_peer() {
    let (peers, eds, auth) = revocable_network("ident-expire").await;
    auth.expiry.lock().unwrap().insert(
        eds[2].serialized_identity(),
        SystemTime::now() + Duration::from_millis(500),
    );
    // Nobody is told: the periodic re-validation finds the new expiration date.
    wait_until(
        "peers 0 and 1 cut peer 2 off",
        Duration::from_secs(30),
        || isolated(&peers),
    )
    .await;
    for p in &peers[..2] {
        assert_eq!(p.identity_stats().store.cut_off_expired, 1);
    }
    stays_isolated(&peers).await;
    stop_all(&peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_reconfiguration_removing_an_org_drops_its_peers() {
    let dir = tempdir("ident-reconf");
    let ports = ports(3);
    // Bootstrap stays in the org; the orgs meet through the channel's anchor peers.
    let boots = [Some(ports[1]), Some(ports[0]), None];
    let orgs = ["Org1MSP", "Org1MSP", "Org2MSP"];
    let mut peers = Vec::new();
    for (i, org) in orgs.iter().enumerate() {
        let cfg = config(i, org, ports[i], boots[i], &dir, "", "");
        peers.push(GossipService::start_builtin(cfg).await.unwrap());
    }
    let both = [("Org1MSP", ports[0]), ("Org2MSP", ports[2])];
    for p in &peers {
        p.join_channel(CH, join_with_anchors(1, &both))
            .await
            .unwrap();
    }
    wait_until(
        "every peer sees the others in the channel",
        Duration::from_secs(30),
        || {
            peers
                .iter()
                .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == 2))
        },
    )
    .await;
    // Org2 leaves the channel's config at sequence 2.
    for p in &peers[..2] {
        p.join_channel(CH, join_with_anchors(2, &[("Org1MSP", ports[0])]))
            .await
            .unwrap();
    }
    for i in 0..2 {
        assert!(!sees_in_channel(&peers[i], &peers[2]), "dropped at once");
        assert!(peers[i].channel_counters().revalidation_dropped >= 1);
        assert!(sees_in_channel(&peers[i], &peers[1 - i]), "Org1 stays");
    }
    // An older config is ignored: Org2 stays out.
    peers[0]
        .join_channel(CH, join_with_anchors(1, &both))
        .await
        .unwrap();
    assert!(
        !wait_for(Duration::from_secs(3), || {
            peers[..2].iter().any(|p| sees_in_channel(p, &peers[2]))
        })
        .await,
        "the removed org's peer came back into the channel"
    );
    assert!(peers[0].channel_counters().join_stale >= 1);
    // Membership is not channel business: peer 2 is still a known member.
    assert!(sees(&peers[0], &peers[2]));
    stop_all(&peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_then_rejoin_works() {
    let dir = tempdir("ident-rejoin");
    let ports = ports(3);
    let mut peers = Vec::new();
    for i in 0..3 {
        let cfg = config(i, "Org1MSP", ports[i], boot_of(&ports, i), &dir, "", "");
        peers.push(GossipService::start_builtin(cfg).await.unwrap());
    }
    for p in &peers {
        p.join_channel(CH, join_msg(1, &["Org1MSP"])).await.unwrap();
    }
    let all_see_all = |peers: &[GossipService]| {
        peers
            .iter()
            .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == 2))
    };
    wait_until("all see each other", Duration::from_secs(30), || {
        all_see_all(&peers)
    })
    .await;
    let blocks = chain(2);
    peers[0]
        .add_payload(CH, 0, blocks[0].clone())
        .await
        .unwrap();
    wait_until("block 0 everywhere", Duration::from_secs(20), || {
        peers.iter().all(|p| p.ledger_height(CH) == Some(1))
    })
    .await;

    peers[2].leave_channel(CH).await.unwrap();
    assert_eq!(peers[2].peers_of_channel(CH), Some(Vec::new()));
    assert_eq!(
        peers[2].ledger_height(CH),
        None,
        "the channel's work stopped"
    );
    wait_until("the others see it gone", Duration::from_secs(20), || {
        !sees_in_channel(&peers[0], &peers[2]) && !sees_in_channel(&peers[1], &peers[2])
    })
    .await;

    peers[2]
        .join_channel(CH, join_msg(1, &["Org1MSP"]))
        .await
        .unwrap();
    // The ledger is open again where it was left.
    assert_eq!(peers[2].ledger_height(CH), Some(1));
    wait_until("all see each other again", Duration::from_secs(30), || {
        all_see_all(&peers)
    })
    .await;
    for c in peers[0].peers_of_channel(CH).unwrap() {
        assert!(!c.left_channel);
    }
    peers[0]
        .add_payload(CH, 1, blocks[1].clone())
        .await
        .unwrap();
    wait_until(
        "block 1 reaches the rejoined peer",
        Duration::from_secs(20),
        || peers[2].ledger_height(CH) == Some(2),
    )
    .await;
    stop_all(&peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fabric_push_policy_still_disseminates_and_pull_fills_the_gaps() {
    let dir = tempdir("ident-fabric-push");
    let n = 4;
    let ports = ports(n);
    let mut peers = Vec::new();
    for i in 0..n {
        let cfg = config(
            i,
            "Org1MSP",
            ports[i],
            boot_of(&ports, i),
            &dir,
            "    propagatePeerNum: 1\n",
            "  pushPolicy: fabric\n",
        );
        peers.push(GossipService::start_builtin(cfg).await.unwrap());
    }
    for p in &peers {
        p.join_channel(CH, join_msg(1, &["Org1MSP"])).await.unwrap();
    }
    wait_until("all see each other", Duration::from_secs(30), || {
        peers
            .iter()
            .all(|p| p.peers_of_channel(CH).is_some_and(|v| v.len() == n - 1))
    })
    .await;
    let blocks = chain(20);
    for (seq, b) in blocks.into_iter().enumerate() {
        peers[0].add_payload(CH, seq as u64, b).await.unwrap();
    }
    wait_until(
        "every peer commits 20 blocks",
        Duration::from_secs(60),
        || peers.iter().all(|p| p.ledger_height(CH) == Some(20)),
    )
    .await;
    // With one target per hop, a forwarder often picks a peer that has the block: the
    // others get it by pull.
    let pulled: u64 = peers[1..]
        .iter()
        .map(|p| p.block_stats(CH).unwrap().blocks.pulled_in)
        .sum();
    assert!(pulled > 0, "pull filled no gap");
    stop_all(&peers).await;
}
