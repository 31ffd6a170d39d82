use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::config::GossipConfig;
use crate::crypto::ed25519::Ed25519Crypto;
use crate::identity::test_authority::{Authority, TestMcs};
use crate::message::{data_update_msg, SignedGossipMessage};
use crate::proto::gossip::PullMsgType;
use crate::pull::pull_input;

/// One peer: its crypto, identity, PKI-ID and cert store.
struct Peer {
    ed: Arc<Ed25519Crypto>,
    pki: PkiId,
    id: Vec<u8>,
    store: CertStore,
}

/// Every peer has an external endpoint and is alive, unless listed.
struct Endpoints(BTreeSet<PkiId>);

impl IdentityDisclosure for Endpoints {
    fn has_external_endpoint(&self, pki_id: &PkiId) -> bool {
        !self.0.contains(pki_id)
    }
}

const ALL: &[&str] = &["Org1MSP", "Org2MSP", "Org3MSP"];

fn cfg() -> PullConfig {
    PullConfig::identities(&GossipConfig::default())
}

fn peer(auth: &Arc<Authority>, org: &str, n: u8, t0: Instant) -> Peer {
    let trusted = ALL.iter().map(|s| s.to_string()).collect();
    let ed = Ed25519Crypto::new(org.into(), [n; 32], trusted);
    let mcs = Arc::new(TestMcs {
        inner: ed.clone(),
        auth: auth.clone(),
    });
    let id = ed.serialized_identity();
    let mapper = Arc::new(IdentityMapper::new(mcs.clone(), &id).unwrap());
    let pki = mapper.self_pki_id().clone();
    let store = CertStore::new(cfg(), mapper, mcs, ed.clone(), t0, n as u64).unwrap();
    Peer { ed, pki, id, store }
}

/// What comm does at handshake: each side's mapper knows the other.
fn connect(a: &Peer, b: &Peer) {
    a.store.mapper.put(&b.pki, &b.id).unwrap();
    b.store.mapper.put(&a.pki, &a.id).unwrap();
}

/// Delivers `out` of peer `from` to the addressed peers, recursively, at `now`; returns
/// the outputs other than sends (rejections), per peer index.
fn deliver(
    peers: &mut [Peer],
    from: usize,
    out: Vec<Output>,
    now: Instant,
    eps: &Endpoints,
) -> Vec<(usize, Output)> {
    let mut queue: Vec<(usize, Output)> = out.into_iter().map(|o| (from, o)).collect();
    let mut rest = Vec::new();
    while let Some((src, o)) = queue.pop() {
        let Output::Send { to, msg } = o else {
            rest.push((src, o));
            continue;
        };
        let Some(dst) = peers.iter().position(|p| p.pki == to) else {
            continue;
        };
        let input = pull_input(peers[src].pki.clone(), &msg, PullMsgType::IdentityMsg, &[])
            .expect("identity pull message");
        let more = peers[dst].store.handle(now, input, eps);
        queue.extend(more.into_iter().map(|o| (dst, o)));
    }
    rest
}

/// One full pull round of `i` with `targets`, letting the digest wait pass.
fn round(peers: &mut [Peer], i: usize, targets: &[usize], t: &mut Instant, eps: &Endpoints) {
    let pk: Vec<PkiId> = targets.iter().map(|&j| peers[j].pki.clone()).collect();
    *t += cfg().pull_interval;
    let out = peers[i].store.handle(*t, Input::Tick { peers: pk }, eps);
    let rest = deliver(peers, i, out, *t, eps);
    assert!(rest.is_empty(), "{rest:?}");
    // Digests all came in, so requests went out at once; the wait ends the round.
    *t += cfg().digest_wait_time + cfg().response_wait_time;
    let out = peers[i]
        .store
        .handle(*t, Input::Tick { peers: vec![] }, eps);
    let rest = deliver(peers, i, out, *t, eps);
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn identities_spread_transitively_by_pull() {
    let auth = Arc::new(Authority::default());
    let mut t = Instant::now();
    let mut peers = vec![
        peer(&auth, "Org1MSP", 1, t),
        peer(&auth, "Org1MSP", 2, t),
        peer(&auth, "Org1MSP", 3, t),
    ];
    // A—B and B—C are connected; A and C never meet.
    connect(&peers[0], &peers[1]);
    connect(&peers[1], &peers[2]);
    let eps = Endpoints(BTreeSet::new());
    assert!(peers[2].store.mapper.peek(&peers[0].pki).is_none());
    // B pulls from A: learns nothing new (it knows A by handshake) but now offers A's
    // signed PeerIdentity.
    round(&mut peers, 1, &[0], &mut t, &eps);
    assert!(peers[1].store.offers(&peers[0].pki));
    assert_eq!(peers[1].store.stats().store.learned, 1);
    // C pulls from B: learns A's identity without ever meeting A.
    round(&mut peers, 2, &[1], &mut t, &eps);
    assert_eq!(
        peers[2].store.mapper.peek(&peers[0].pki),
        Some(peers[0].id.clone())
    );
    assert!(peers[2].store.offers(&peers[0].pki));
    let s = peers[2].store.stats();
    assert_eq!(s.store.learned, 2, "A's identity and B's own message");
    assert_eq!(s.known, 3);
    assert_eq!(s.store.invalid_updates, 0);
}

#[test]
fn other_orgs_get_only_their_own_and_our_identities_of_reachable_peers() {
    let auth = Arc::new(Authority::default());
    let t = Instant::now();
    let me = peer(&auth, "Org1MSP", 1, t);
    let same = peer(&auth, "Org1MSP", 2, t);
    let org2 = peer(&auth, "Org2MSP", 3, t);
    let org2_hidden = peer(&auth, "Org2MSP", 4, t);
    let org3 = peer(&auth, "Org3MSP", 5, t);
    for p in [&same, &org2, &org2_hidden, &org3] {
        me.store.mapper.put(&p.pki, &p.id).unwrap();
    }
    let eps = Endpoints([org2_hidden.pki.clone()].into_iter().collect());
    let policy = IdentityPullPolicy {
        mapper: &me.store.mapper,
        mcs: &*me.store.mcs,
        advisor: &*me.store.advisor,
        self_org: &me.store.self_org,
        cut_off: &me.store.cut_off,
        disclosure: &eps,
        refused_cut_off: 0,
    };
    let all = [&me, &same, &org2, &org2_hidden, &org3];
    let offered = |to: &Peer| -> Vec<bool> {
        all.iter()
            .map(|p| policy.egress(&to.pki, &p.pki.0))
            .collect()
    };
    // Our org sees everything.
    assert_eq!(offered(&same), vec![true; 5]);
    // Org2: our org's identities and Org2's reachable ones; not Org3, not a peer without
    // an external endpoint.
    assert_eq!(offered(&org2), vec![true, true, true, false, false]);
    assert_eq!(offered(&org3), vec![true, true, false, false, true]);
    // A peer whose identity we do not hold (org unknown) gets nothing.
    let stranger = peer(&auth, "Org2MSP", 9, t);
    assert_eq!(offered(&stranger), vec![false; 5]);
}

/// B greets A; a forged A answers with `digest` and then `items`. Returns B's outputs to
/// the update.
fn forged_update(
    b: &mut Peer,
    a: &Peer,
    t: &mut Instant,
    digest: &[u8],
    items: Vec<Envelope>,
) -> Vec<Output> {
    let eps = Endpoints(BTreeSet::new());
    *t += cfg().pull_interval;
    let t = *t;
    let out = b.store.handle(
        t,
        Input::Tick {
            peers: vec![a.pki.clone()],
        },
        &eps,
    );
    let [Output::Send { msg, .. }] = out.as_slice() else {
        panic!("one hello expected, got {out:?}");
    };
    let Some(Content::Hello(h)) = &msg.content else {
        panic!("hello expected");
    };
    let digest_in = Input::Digest {
        from: a.pki.clone(),
        nonce: h.nonce,
        digests: vec![digest.to_vec()],
    };
    // The only greeted peer answered: the request goes out at once.
    let out = b.store.handle(t, digest_in, &eps);
    let [Output::Send { msg, .. }] = out.as_slice() else {
        panic!("one request expected, got {out:?}");
    };
    let Some(Content::DataReq(r)) = &msg.content else {
        panic!("request expected");
    };
    let update = data_update_msg(&[], r.nonce, PullMsgType::IdentityMsg, items);
    let input = pull_input(a.pki.clone(), &update, PullMsgType::IdentityMsg, &[]).unwrap();
    b.store.handle(t, input, &eps)
}

fn identity_envelope(signer: &Ed25519Crypto, pki: &PkiId, cert: &[u8]) -> Envelope {
    SignedGossipMessage::sign(peer_identity_msg(pki, cert), |p| signer.sign(p))
        .unwrap()
        .envelope
}

#[test]
fn forged_or_invalid_identities_refuse_the_update() {
    let auth = Arc::new(Authority::default());
    let mut t = Instant::now();
    let a = peer(&auth, "Org1MSP", 1, t);
    let mut b = peer(&auth, "Org1MSP", 2, t);
    connect(&a, &b);
    let x = peer(&auth, "Org1MSP", 3, t);
    let y = peer(&auth, "Org1MSP", 4, t);
    let untrusted = Ed25519Crypto::new("Org9MSP".into(), [9; 32], vec![]);
    let u_id = untrusted.serialized_identity();
    let u_pki = untrusted.pki_id_of(&u_id).unwrap();
    let cases = vec![
        // X's identity claimed under Y's PKI-ID.
        (y.pki.clone(), identity_envelope(&x.ed, &y.pki, &x.id)),
        // Signed by someone else than the identity's owner.
        (x.pki.clone(), identity_envelope(&a.ed, &x.pki, &x.id)),
        // Unsigned.
        (
            x.pki.clone(),
            SignedGossipMessage::unsigned(peer_identity_msg(&x.pki, &x.id)).envelope,
        ),
        // An org the MSP does not trust.
        (u_pki.clone(), identity_envelope(&untrusted, &u_pki, &u_id)),
        // Not an identity at all.
        (
            x.pki.clone(),
            SignedGossipMessage::unsigned(crate::message::data_msg(b"ch", 1, vec![1])).envelope,
        ),
    ];
    let n = cases.len() as u64;
    for (digest, env) in cases {
        let out = forged_update(&mut b, &a, &mut t, &digest.0, vec![env]);
        assert!(
            matches!(out.as_slice(), [Output::UpdateRejected { .. }]),
            "{out:?}"
        );
    }
    let s = b.store.stats();
    assert_eq!(s.store.invalid_updates, n);
    assert_eq!(s.store.learned, 0);
    assert_eq!(s.known, 2);
    // A genuine one is taken.
    let out = forged_update(
        &mut b,
        &a,
        &mut t,
        &x.pki.0,
        vec![identity_envelope(&x.ed, &x.pki, &x.id)],
    );
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(b.store.mapper.peek(&x.pki), Some(x.id.clone()));
    assert_eq!(b.store.stats().store.learned, 1);
}

#[test]
fn expired_pulled_identity_is_not_stored_nor_offered() {
    let auth = Arc::new(Authority::default());
    let mut t = Instant::now();
    let a = peer(&auth, "Org1MSP", 1, t);
    let mut b = peer(&auth, "Org1MSP", 2, t);
    connect(&a, &b);
    let x = peer(&auth, "Org1MSP", 3, t);
    auth.expiry
        .lock()
        .unwrap()
        .insert(x.id.clone(), SystemTime::now() - Duration::from_secs(1));
    let out = forged_update(
        &mut b,
        &a,
        &mut t,
        &x.pki.0,
        vec![identity_envelope(&x.ed, &x.pki, &x.id)],
    );
    assert!(out.is_empty());
    assert!(b.store.mapper.peek(&x.pki).is_none());
    assert!(!b.store.offers(&x.pki));
    assert_eq!(b.store.stats().store.store_refused, 1);
}

#[test]
fn revoked_identity_is_cut_off_and_not_pulled_again_until_valid() {
    let auth = Arc::new(Authority::default());
    let mut t = Instant::now();
    let mut peers = vec![
        peer(&auth, "Org1MSP", 1, t),
        peer(&auth, "Org1MSP", 2, t),
        peer(&auth, "Org1MSP", 3, t),
    ];
    connect(&peers[0], &peers[1]);
    connect(&peers[1], &peers[2]);
    let eps = Endpoints(BTreeSet::new());
    round(&mut peers, 1, &[0], &mut t, &eps);
    round(&mut peers, 2, &[1], &mut t, &eps);
    let a = peers[0].pki.clone();
    assert!(peers[2].store.mapper.peek(&a).is_some());

    auth.revoked.lock().unwrap().insert(peers[0].id.clone());
    // Only C notices; B still offers A.
    assert_eq!(peers[2].store.revalidate(), vec![a.clone()]);
    assert!(peers[2].store.mapper.peek(&a).is_none());
    assert!(!peers[2].store.offers(&a));
    assert!(peers[2].store.is_cut_off(&a));
    assert!(peers[2].store.revalidate().is_empty(), "reported once");
    round(&mut peers, 2, &[1], &mut t, &eps);
    assert!(
        peers[2].store.mapper.peek(&a).is_none(),
        "not re-learned from B"
    );
    let s = peers[2].store.stats();
    assert_eq!(s.store.cut_off_revoked, 1);
    assert_eq!(s.store.invalid_updates, 0, "A's digest was never requested");
    assert!(s.pull.digests_filtered_ingress >= 1);
    assert_eq!(s.mapper.revoked, 1);

    // Reinstated by the authority: learned again on the next round.
    auth.revoked.lock().unwrap().clear();
    peers[2].store.revalidate();
    assert!(!peers[2].store.is_cut_off(&a));
    round(&mut peers, 2, &[1], &mut t, &eps);
    assert!(peers[2].store.mapper.peek(&a).is_some());
    assert_eq!(peers[2].store.stats().store.reinstated, 1);
}

#[test]
fn expiration_is_caught_by_the_stored_date_and_by_revalidation() {
    let auth = Arc::new(Authority::default());
    let t = Instant::now();
    let me = peer(&auth, "Org1MSP", 1, t);
    let mut me = me;
    let soon = peer(&auth, "Org1MSP", 2, t);
    let later = peer(&auth, "Org1MSP", 3, t);
    // `soon` is known to expire at once: the cheap check finds it without the contract.
    auth.expiry.lock().unwrap().insert(
        soon.id.clone(),
        SystemTime::now() + Duration::from_millis(50),
    );
    me.store.mapper.put(&soon.pki, &soon.id).unwrap();
    me.store.mapper.put(&later.pki, &later.id).unwrap();
    assert!(me.store.check_expired().is_empty());
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(me.store.check_expired(), vec![soon.pki.clone()]);
    // `later` gets an expiration date after it was stored: only re-validation sees it.
    auth.expiry
        .lock()
        .unwrap()
        .insert(later.id.clone(), SystemTime::now() - Duration::from_secs(1));
    assert!(me.store.check_expired().is_empty());
    assert_eq!(me.store.revalidate(), vec![later.pki.clone()]);
    let s = me.store.stats();
    assert_eq!(s.store.cut_off_expired, 2);
    assert_eq!(s.mapper.purged_expired, 2);
    assert_eq!(s.known, 1);
    assert!(me.store.mapper.put(&later.pki, &later.id).is_err());
    // Our own identity is never cut off.
    me.store
        .cut_off(&me.pki.clone(), None, CutOffReason::Revoked);
    assert!(me.store.mapper.peek(&me.pki).is_some());
}
