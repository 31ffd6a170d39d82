//! Comm over real loopback: handshake, message exchange, negatives, one connection per
//! PKI-ID, overflow, shutdown. Run: `cargo test --test handshake`.

mod comm_support;

use std::time::{Duration, Instant};

use comm_support::*;
use ed25519_dalek::{Signature, Verifier};
use fabgossip::comm::{CommConfig, CommEvent, HandshakeFailure, RemotePeer};
use fabgossip::proto::gossip::{
    gossip_message, AliveMessage, Envelope, GossipMessage, Member, PeerTime,
};
use fabgossip::types::PkiId;
use sha2::{Digest, Sha256};

fn random_pki() -> PkiId {
    PkiId(rand::random::<[u8; 32]>().to_vec())
}

fn is_message(ev: &CommEvent, from: &PkiId, seq: u64) -> bool {
    match ev {
        CommEvent::Message(m) => {
            &m.conn.pki_id == from
                && matches!(&m.msg.content, Some(gossip_message::Content::DataMsg(d))
                    if d.payload.as_ref().map(|p| p.seq_num) == Some(seq))
        }
        _ => false,
    }
}

async fn exchange(tls: bool) {
    let cfg_a = config(tls);
    let a_cert_hash = cfg_a
        .tls
        .as_ref()
        .map(|t| t.cert_hash())
        .unwrap_or_default();
    let mut a = Node::start("Org1MSP", cfg_a).await;
    let mut b = Node::start("Org2MSP", config(tls)).await;

    let sent = data_envelope(1, b"hello".to_vec());
    a.comm.send(sent.clone(), &b.remote());
    let ev = b
        .wait_event("Connected(a) at b", |e| is_connected(e, &a.peer.pki_id))
        .await;
    let info = connection_info(&ev).unwrap().clone();
    assert_eq!(info.identity, a.peer.identity);

    // The credential kept is a's signed ConnEstablish, with the TLS binding when TLS is on.
    let ce = as_conn(&Envelope {
        payload: info.auth.signed_data.clone().into(),
        ..Default::default()
    });
    assert_eq!(ce.pki_id, a.peer.pki_id.0);
    assert_eq!(ce.tls_cert_hash, a_cert_hash);
    assert!(!ce.probe);
    let sig = Signature::from_slice(&info.auth.signature).unwrap();
    a.peer
        .key
        .verifying_key()
        .verify(&info.auth.signed_data, &sig)
        .unwrap();

    let ev = b
        .wait_event("message 1 at b", |e| is_message(e, &a.peer.pki_id, 1))
        .await;
    let CommEvent::Message(m) = ev else {
        unreachable!()
    };
    assert_eq!(m.envelope, sent, "envelope delivered byte for byte");

    // The reply rides the same connection: no second dial.
    b.comm
        .send(data_envelope(2, b"world".to_vec()), &a.remote());
    a.wait_event("Connected(b) at a", |e| is_connected(e, &b.peer.pki_id))
        .await;
    a.wait_event("message 2 at a", |e| is_message(e, &b.peer.pki_id, 2))
        .await;

    assert_eq!(a.comm.connected(), vec![b.peer.pki_id.clone()]);
    assert_eq!(b.comm.connected(), vec![a.peer.pki_id.clone()]);
    let (ma, mb) = (a.comm.metrics(), b.comm.metrics());
    assert_eq!((ma.connections_opened, mb.connections_opened), (1, 1));
    assert_eq!((ma.messages_sent, ma.messages_received), (1, 1));
    assert_eq!((mb.messages_sent, mb.messages_received), (1, 1));
    assert_eq!(
        ma.handshake_failures.total() + mb.handshake_failures.total(),
        0
    );

    a.comm.stop().await;
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_handshake_and_messages() {
    exchange(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshake_and_messages() {
    exchange(true).await;
}

/// Starts a plaintext node and opens a raw stream to it; returns the node's ConnEstablish too.
async fn raw_to(node: &Node, tls: Option<&fabgossip::comm::TlsIdentity>) -> (RawStream, Envelope) {
    let mut client = raw_client(&node.endpoint(), tls).await;
    let mut s = raw_stream(&mut client).await;
    let theirs = s
        .next()
        .await
        .expect("server ConnEstablish")
        .expect("not EOF");
    (s, theirs)
}

/// Sends `first` on a raw stream to a fresh node and expects the handshake to fail with `reason`.
async fn expect_rejected(first: Envelope, reason: HandshakeFailure) {
    let mut b = Node::start("Org2MSP", config(false)).await;
    let (mut s, theirs) = raw_to(&b, None).await;
    assert_eq!(as_conn(&theirs).pki_id, b.peer.pki_id.0);
    s.tx.send(first).await.unwrap();
    let status = s.expect_end().await.expect("stream ends with a status");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains(reason.as_str()), "{status:?}");
    let m = b.comm.metrics();
    assert_eq!(
        m.handshake_failures.get(reason),
        1,
        "{:?}",
        m.handshake_failures
    );
    assert_eq!(m.handshake_failures.total(), 1);
    assert!(b.comm.connected().is_empty());
    b.assert_no_event(Duration::from_millis(200), "Connected", |e| {
        matches!(e, CommEvent::Connected(_))
    })
    .await;
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_rejected() {
    let p = TestPeer::new("Org1MSP");
    let mut env = p.conn_establish(vec![], false, |_| {});
    env.signature[0] ^= 0x01;
    expect_rejected(env, HandshakeFailure::BadSignature).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pki_id_not_matching_identity_is_rejected() {
    let p = TestPeer::new("Org1MSP");
    let env = p.conn_establish(vec![], false, |ce| ce.pki_id = random_pki().0);
    expect_rejected(env, HandshakeFailure::PkiIdMismatch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_pki_id_and_untrusted_org_are_rejected() {
    let p = TestPeer::new("Org1MSP");
    expect_rejected(
        p.conn_establish(vec![], false, |ce| ce.pki_id.clear()),
        HandshakeFailure::MissingPkiId,
    )
    .await;
    let stranger = TestPeer::new("Org3MSP");
    expect_rejected(
        stranger.conn_establish(vec![], false, |_| {}),
        HandshakeFailure::InvalidIdentity,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_payload_in_handshake_is_rejected() {
    let env = Envelope {
        payload: vec![0xff, 0xff, 0xff, 0x07].into(),
        signature: vec![1; 64],
        secret_envelope: None,
    };
    expect_rejected(env, HandshakeFailure::BadMessage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_conn_first_message_is_rejected() {
    let p = TestPeer::new("Org1MSP");
    let alive = GossipMessage {
        nonce: 0,
        channel: vec![],
        tag: gossip_message::Tag::Empty as i32,
        content: Some(gossip_message::Content::AliveMsg(AliveMessage {
            membership: Some(Member {
                endpoint: "127.0.0.1:1".into(),
                metadata: vec![],
                pki_id: p.pki_id.0.clone(),
            }),
            timestamp: Some(PeerTime {
                inc_num: 1,
                seq_num: 1,
            }),
            identity: vec![],
        })),
    };
    expect_rejected(p.sign(alive), HandshakeFailure::BadMessage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_times_out() {
    let cfg = CommConfig {
        conn_timeout: Duration::from_millis(300),
        ..config(false)
    };
    let mut b = Node::start("Org2MSP", cfg).await;
    let (mut s, _) = raw_to(&b, None).await;
    let t0 = Instant::now();
    let status = s.expect_end().await.expect("stream ends with a status");
    assert!(status.message().contains("timeout"), "{status:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "ended after {:?}",
        t0.elapsed()
    );
    assert_eq!(b.comm.metrics().handshake_failures.timeout, 1);
    assert!(b.comm.connected().is_empty());
    b.assert_no_event(Duration::from_millis(100), "Connected", |e| {
        matches!(e, CommEvent::Connected(_))
    })
    .await;
    drop(s);
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tls_cert_hash_is_rejected_and_right_one_accepted() {
    let cfg = config(true);
    let server_hash = cfg.tls.as_ref().unwrap().cert_hash();
    let mut b = Node::start("Org2MSP", cfg).await;
    let raw_tls = tls_identity();
    let p = TestPeer::new("Org1MSP");

    // The hash of another certificate than the one presented.
    let (mut s, theirs) = raw_to(&b, Some(&raw_tls)).await;
    assert_eq!(
        as_conn(&theirs).tls_cert_hash,
        server_hash,
        "server binds its own certificate"
    );
    let other = Sha256::digest(tls_identity().cert_der).to_vec();
    s.tx.send(p.conn_establish(other, false, |_| {}))
        .await
        .unwrap();
    let status = s.expect_end().await.expect("status");
    assert!(
        status.message().contains("cert_hash_mismatch"),
        "{status:?}"
    );
    assert_eq!(b.comm.metrics().handshake_failures.cert_hash_mismatch, 1);
    assert!(b.comm.connected().is_empty());

    // No hash at all.
    let (mut s, _) = raw_to(&b, Some(&raw_tls)).await;
    s.tx.send(p.conn_establish(vec![], false, |_| {}))
        .await
        .unwrap();
    s.expect_end().await.expect("status");
    assert_eq!(b.comm.metrics().handshake_failures.cert_hash_mismatch, 2);

    // The same raw client with the right hash is accepted: the rejections were about the hash.
    let (s, _) = raw_to(&b, Some(&raw_tls)).await;
    s.tx.send(p.conn_establish(raw_tls.cert_hash(), false, |_| {}))
        .await
        .unwrap();
    b.wait_event("Connected(raw)", |e| is_connected(e, &p.pki_id))
        .await;
    assert_eq!(b.comm.connected(), vec![p.pki_id.clone()]);
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_without_certificate_is_rejected() {
    // Client auth optional at the TLS layer: TLS succeeds, the gossip handshake refuses.
    let mut b = Node::start("Org2MSP", config(true)).await;
    let mut client = try_raw_client(&b.endpoint(), RawTls::NoCert)
        .await
        .expect("TLS without client cert");
    client
        .ping(fabgossip::proto::gossip::Empty {})
        .await
        .expect("Ping needs no certificate");
    let (tx, rx) = tokio::sync::mpsc::channel::<Envelope>(1);
    let status = client
        .gossip_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect_err("GossipStream refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(b.comm.metrics().handshake_failures.no_tls_cert, 1);
    drop(tx);

    // A plaintext client cannot talk to a TLS server at all.
    let plain = try_raw_client(&b.endpoint(), RawTls::Off).await;
    if let Ok(mut c) = plain {
        assert!(c.ping(fabgossip::proto::gossip::Empty {}).await.is_err());
    }
    eventually("the failed TLS handshake is counted", || {
        b.comm.metrics().handshake_failures.transport >= 1
    })
    .await;
    b.assert_no_event(Duration::from_millis(100), "Connected", |e| {
        matches!(e, CommEvent::Connected(_))
    })
    .await;
    b.comm.stop().await;

    // Client auth required: the TLS handshake itself fails.
    let b = Node::start(
        "Org2MSP",
        CommConfig {
            client_auth_required: true,
            ..config(true)
        },
    )
    .await;
    let refused = match try_raw_client(&b.endpoint(), RawTls::NoCert).await {
        Err(_) => true,
        Ok(mut c) => c.ping(fabgossip::proto::gossip::Empty {}).await.is_err(),
    };
    assert!(refused, "a certificate is required");
    // With a certificate it works.
    let mut c = try_raw_client(&b.endpoint(), RawTls::Cert(&tls_identity()))
        .await
        .expect("TLS with cert");
    c.ping(fabgossip::proto::gossip::Empty {})
        .await
        .expect("Ping");
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_handshake_closes_only_that_stream() {
    let mut b = Node::start("Org2MSP", config(false)).await;
    let p = TestPeer::new("Org1MSP");
    let (mut s, _) = raw_to(&b, None).await;
    s.tx.send(p.conn_establish(vec![], false, |_| {}))
        .await
        .unwrap();
    b.wait_event("Connected(raw)", |e| is_connected(e, &p.pki_id))
        .await;
    s.tx.send(data_envelope(7, vec![1, 2, 3])).await.unwrap();
    b.wait_event("message 7", |e| is_message(e, &p.pki_id, 7))
        .await;
    s.tx.send(Envelope {
        payload: vec![0xff; 5].into(),
        signature: vec![],
        secret_envelope: None,
    })
    .await
    .unwrap();
    b.wait_event("Disconnected(raw)", |e| is_disconnected(e, &p.pki_id))
        .await;
    assert!(
        s.expect_end().await.is_none(),
        "server ends the stream cleanly"
    );
    let m = b.comm.metrics();
    assert_eq!(m.bad_messages, 1);
    // Every envelope read from the stream counts, the one that closed it too.
    assert_eq!(m.messages_received, 2);
    assert_eq!(m.handshake_failures.total(), 0);
    assert!(b.comm.connected().is_empty());
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_closes_the_stream() {
    let mut a = Node::start("Org1MSP", config(false)).await;
    let mut b = Node::start(
        "Org2MSP",
        CommConfig {
            max_message_size: 4096,
            ..config(false)
        },
    )
    .await;
    a.comm.send(data_envelope(1, vec![0; 100]), &b.remote());
    b.wait_event("message 1", |e| is_message(e, &a.peer.pki_id, 1))
        .await;
    // b refuses to send what exceeds its own limit, and keeps the connection.
    b.comm.send(data_envelope(9, vec![0; 8192]), &a.remote());
    assert_eq!(b.comm.metrics().send_failures, 1);
    b.comm.send(data_envelope(10, vec![]), &a.remote());
    a.wait_event("message 10", |e| is_message(e, &b.peer.pki_id, 10))
        .await;
    // a does not know b's limit: b's decoder refuses the message and the stream closes.
    a.comm
        .send(data_envelope(2, vec![0; 64 * 1024]), &b.remote());
    b.wait_event("Disconnected(a)", |e| is_disconnected(e, &a.peer.pki_id))
        .await;
    a.wait_event("Disconnected(b) at a", |e| {
        is_disconnected(e, &b.peer.pki_id)
    })
    .await;
    assert_eq!(b.comm.metrics().messages_received, 1);
    a.comm.stop().await;
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_handshake_does_not_register() {
    let mut a = Node::start("Org1MSP", config(true)).await;
    let mut b = Node::start("Org2MSP", config(true)).await;
    let info = a.comm.handshake(&b.endpoint()).await.expect("handshake");
    assert_eq!(info.pki_id, b.peer.pki_id);
    assert_eq!(info.identity, b.peer.identity);
    assert_eq!(info.endpoint, b.endpoint());
    a.comm.probe(&b.endpoint()).await.expect("probe");
    b.assert_no_event(Duration::from_millis(300), "Connected", |e| {
        matches!(e, CommEvent::Connected(_))
    })
    .await;
    a.assert_no_event(Duration::from_millis(10), "Connected", |e| {
        matches!(e, CommEvent::Connected(_))
    })
    .await;
    assert!(a.comm.connected().is_empty());
    assert!(b.comm.connected().is_empty());
    assert_eq!(b.comm.metrics().connections_opened, 0);

    // Nobody listening: both fail with an error, quickly.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    assert!(a.comm.probe(&dead).await.is_err());
    assert!(a.comm.handshake(&dead).await.is_err());
    assert!(matches!(
        a.comm.handshake("not an endpoint").await,
        Err(fabgossip::comm::CommError::InvalidEndpoint(_))
    ));
    a.comm.stop().await;
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_dial_keeps_one_connection_per_pki_id() {
    for round in 0..5u64 {
        let mut a = Node::start("Org1MSP", config(round % 2 == 1)).await;
        let mut b = Node::start("Org1MSP", config(round % 2 == 1)).await;
        a.comm.send(data_envelope(1, vec![]), &b.remote());
        b.comm.send(data_envelope(1, vec![]), &a.remote());
        // Messages queued on a stream that loses the race are lost (as in Fabric); what
        // matters is that both sides settle on the same single stream.
        let (ca, cb) = (a.comm.clone(), b.comm.clone());
        let (pa, pb) = (a.peer.pki_id.clone(), b.peer.pki_id.clone());
        eventually("both sides connected", || {
            ca.connected() == vec![pb.clone()] && cb.connected() == vec![pa.clone()]
        })
        .await;
        // Let the losing streams close, then the survivors must be stable and agree.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            a.comm.connected(),
            vec![b.peer.pki_id.clone()],
            "round {round}"
        );
        assert_eq!(
            b.comm.connected(),
            vec![a.peer.pki_id.clone()],
            "round {round}"
        );
        let (ma, mb) = (a.comm.metrics(), b.comm.metrics());
        assert_eq!(
            ma.connections_opened - ma.connections_closed,
            1,
            "round {round}: {ma:?}"
        );
        assert_eq!(
            mb.connections_opened - mb.connections_closed,
            1,
            "round {round}: {mb:?}"
        );
        for seq in 2..5 {
            a.comm.send(data_envelope(seq, vec![]), &b.remote());
            b.comm.send(data_envelope(seq, vec![]), &a.remote());
            b.wait_event("message from a", |e| is_message(e, &a.peer.pki_id, seq))
                .await;
            a.wait_event("message from b", |e| is_message(e, &b.peer.pki_id, seq))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            a.comm.metrics().connections_opened,
            ma.connections_opened,
            "no reconnection"
        );
        assert_eq!(
            b.comm.metrics().connections_opened,
            mb.connections_opened,
            "no reconnection"
        );
        a.comm.stop().await;
        b.comm.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_queue_overflow_counts_drops() {
    let mut a = Node::start(
        "Org1MSP",
        CommConfig {
            send_buff_size: 4,
            ..config(false)
        },
    )
    .await;
    // A peer that authenticates and then never reads.
    let p = TestPeer::new("Org2MSP");
    let (s, _) = raw_to(&a, None).await;
    s.tx.send(p.conn_establish(vec![], false, |_| {}))
        .await
        .unwrap();
    a.wait_event("Connected(raw)", |e| is_connected(e, &p.pki_id))
        .await;

    let to = RemotePeer {
        endpoint: "127.0.0.1:1".into(),
        pki_id: p.pki_id.clone(),
    };
    let big = data_envelope(1, vec![7; 1 << 20]);
    let t0 = Instant::now();
    for _ in 0..60 {
        a.comm.send(big.clone(), &to);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "send must not block: {:?}",
        t0.elapsed()
    );
    let m = a.comm.metrics();
    assert!(m.overflow_count >= 40, "{m:?}");
    assert!(m.overflow_count < 60, "some were queued: {m:?}");
    assert_eq!(
        a.comm.connected(),
        vec![p.pki_id.clone()],
        "overflow does not close the connection"
    );
    drop(s);
    a.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_events_channel_drops_messages_with_a_counter() {
    let a = Node::start("Org1MSP", config(false)).await;
    let a2 = Node::start("Org1MSP", config(false)).await;
    // recv_buff_size 1 → 50 events; nobody reads b's events.
    let mut b = Node::start(
        "Org2MSP",
        CommConfig {
            recv_buff_size: 1,
            ..config(false)
        },
    )
    .await;
    for seq in 0..200 {
        a.comm.send(data_envelope(seq, vec![]), &b.remote());
        if seq % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eventually("all 200 arrive", || {
        b.comm.metrics().messages_received == 200
    })
    .await;
    let m = b.comm.metrics();
    // One slot went to Connected.
    assert_eq!(m.events_dropped, 200 - 49, "{m:?}");
    assert_eq!(b.comm.connected(), vec![a.peer.pki_id.clone()]);

    // Connection events are never dropped nor reordered, even with the channel full.
    a.comm.stop().await;
    a2.comm.send(data_envelope(0, vec![]), &b.remote());
    eventually("a2 connected", || {
        b.comm.connected() == vec![a2.peer.pki_id.clone()]
    })
    .await;
    a2.comm.stop().await;
    eventually("a2 gone", || b.comm.connected().is_empty()).await;
    let mut kinds = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(300), b.events.recv()).await
    {
        kinds.push(match ev {
            CommEvent::Message(_) => "message".to_string(),
            CommEvent::Connected(i) => format!("connected {}", i.pki_id),
            CommEvent::Disconnected(p) => format!("disconnected {p}"),
            CommEvent::PresumedDead(p) => format!("presumed dead {p}"),
        });
    }
    let control: Vec<&String> = kinds.iter().filter(|k| *k != "message").collect();
    let (pa, pa2) = (a.peer.pki_id.to_hex(), a2.peer.pki_id.to_hex());
    assert_eq!(
        control,
        vec![
            &format!("connected {pa}"),
            &format!("disconnected {pa}"),
            &format!("connected {pa2}"),
            &format!("disconnected {pa2}"),
        ]
    );
    assert_eq!(kinds.len(), 4 + 49, "{kinds:?}");
    assert_eq!(
        b.comm.metrics().events_dropped,
        200 - 49 + 1,
        "a2's message found no room"
    );
    b.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_pki_id_is_accepted_only_from_the_same_org() {
    let mut a = Node::start("Org1MSP", config(false)).await;
    let b1 = Node::start("Org1MSP", config(false)).await;
    let b2 = Node::start("Org1MSP", config(false)).await;
    let c = Node::start("Org2MSP", config(false)).await;

    // Expecting a PKI-ID never seen: its org is unknown, so whoever answers is refused.
    let ghost = random_pki();
    a.comm.send(
        data_envelope(1, vec![]),
        &RemotePeer {
            endpoint: c.endpoint(),
            pki_id: ghost.clone(),
        },
    );
    a.wait_event("PresumedDead(ghost)", |e| is_presumed_dead(e, &ghost))
        .await;
    assert_eq!(a.comm.metrics().handshake_failures.unexpected_peer, 1);
    assert!(a.comm.connected().is_empty());

    // b1 is known (Org1). A peer of Org1 answering at another endpoint for b1 is b1 with a new identity.
    a.comm.send(data_envelope(2, vec![]), &b1.remote());
    a.wait_event("Connected(b1)", |e| is_connected(e, &b1.peer.pki_id))
        .await;
    a.comm.close_conn(&b1.peer.pki_id);
    assert!(a.comm.connected().is_empty());
    a.comm.send(
        data_envelope(3, vec![]),
        &RemotePeer {
            endpoint: b2.endpoint(),
            pki_id: b1.peer.pki_id.clone(),
        },
    );
    a.wait_event("Disconnected(b1) on identity switch", |e| {
        is_disconnected(e, &b1.peer.pki_id)
    })
    .await;
    a.wait_event("Connected(b2)", |e| is_connected(e, &b2.peer.pki_id))
        .await;
    assert_eq!(a.comm.connected(), vec![b2.peer.pki_id.clone()]);

    // c (Org2) answering for b1 (Org1) is refused.
    a.comm.send(
        data_envelope(4, vec![]),
        &RemotePeer {
            endpoint: c.endpoint(),
            pki_id: b1.peer.pki_id.clone(),
        },
    );
    a.wait_event("PresumedDead(b1) on refusal", |e| {
        is_presumed_dead(e, &b1.peer.pki_id)
    })
    .await;
    assert_eq!(a.comm.metrics().handshake_failures.unexpected_peer, 2);
    assert_eq!(a.comm.connected(), vec![b2.peer.pki_id.clone()]);

    // An identity learned elsewhere (never connected) counts too; a forged one is ignored.
    let known = TestPeer::new("Org2MSP");
    a.comm.learn_identity(&known.pki_id, &b1.peer.identity);
    a.comm.send(
        data_envelope(5, vec![]),
        &RemotePeer {
            endpoint: c.endpoint(),
            pki_id: known.pki_id.clone(),
        },
    );
    a.wait_event("PresumedDead(known) on refusal", |e| {
        is_presumed_dead(e, &known.pki_id)
    })
    .await;
    assert_eq!(a.comm.metrics().handshake_failures.unexpected_peer, 3);
    a.comm.learn_identity(&known.pki_id, &known.identity);
    a.comm.send(
        data_envelope(6, vec![]),
        &RemotePeer {
            endpoint: c.endpoint(),
            pki_id: known.pki_id.clone(),
        },
    );
    a.wait_event("Connected(c) as known's new identity", |e| {
        is_connected(e, &c.peer.pki_id)
    })
    .await;
    for n in [&a, &b1, &b2, &c] {
        n.comm.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_is_idempotent_and_the_other_side_sees_disconnected() {
    let a = Node::start("Org1MSP", config(true)).await;
    let mut b = Node::start("Org2MSP", config(true)).await;
    a.comm.send(data_envelope(1, vec![]), &b.remote());
    b.wait_event("message", |e| is_message(e, &a.peer.pki_id, 1))
        .await;

    let t0 = Instant::now();
    a.comm.stop().await;
    // Well under the 5 s grace: every task ended by itself, none was aborted.
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t0.elapsed()
    );
    b.wait_event("Disconnected(a)", |e| is_disconnected(e, &a.peer.pki_id))
        .await;
    assert!(b.comm.connected().is_empty());

    let t1 = Instant::now();
    a.comm.stop().await;
    a.comm.clone().stop().await;
    assert!(t1.elapsed() < Duration::from_millis(100));
    assert!(a.comm.connected().is_empty());

    // Stopped: nothing is sent, nothing answers.
    let before = a.comm.metrics().send_failures;
    a.comm.send(data_envelope(2, vec![]), &b.remote());
    assert_eq!(a.comm.metrics().send_failures, before + 1);
    assert!(matches!(
        a.comm.handshake(&b.endpoint()).await,
        Err(fabgossip::comm::CommError::Stopped)
    ));
    assert!(
        b.comm.probe(&a.endpoint()).await.is_err(),
        "listener closed"
    );

    // Dropping the last handle without stop() still closes connections and the listener.
    let c = Node::start("Org1MSP", config(true)).await;
    c.comm.send(data_envelope(3, vec![]), &b.remote());
    b.wait_event("message from c", |e| is_message(e, &c.peer.pki_id, 3))
        .await;
    let (c_pki, c_endpoint) = (c.peer.pki_id.clone(), c.endpoint());
    drop(c);
    b.wait_event("Disconnected(c)", |e| is_disconnected(e, &c_pki))
        .await;
    eventually("c's listener is closed", || {
        std::net::TcpStream::connect(&c_endpoint).is_err()
    })
    .await;
    b.comm.stop().await;
}

/// Server-side sockets of `port` still ESTABLISHED (Linux `/proc/net/tcp*`).
fn established_on(port: u16) -> usize {
    let mut n = 0;
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && cols.get(3) == Some(&"01") {
                n += 1;
            }
        }
    }
    n
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_cuts_a_peer_that_never_reads() {
    let a = Node::start(
        "Org1MSP",
        CommConfig {
            send_buff_size: 4,
            ..config(false)
        },
    )
    .await;
    let port = a.comm.local_addr().port();
    let p = TestPeer::new("Org2MSP");
    let (mut s, _) = raw_to(&a, None).await;
    s.tx.send(p.conn_establish(vec![], false, |_| {}))
        .await
        .unwrap();
    let mut a = a;
    a.wait_event("Connected(raw)", |e| is_connected(e, &p.pki_id))
        .await;
    let to = RemotePeer {
        endpoint: "127.0.0.1:1".into(),
        pki_id: p.pki_id.clone(),
    };
    for _ in 0..20 {
        a.comm.send(data_envelope(1, vec![7; 1 << 20]), &to);
    }
    assert_eq!(established_on(port), 1);
    let t0 = Instant::now();
    a.comm.stop().await;
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "stop took {:?}",
        t0.elapsed()
    );
    // The HTTP/2 connection, stuck on a full window, was cut rather than left behind.
    eventually("the stuck connection is closed", || {
        established_on(port) == 0
    })
    .await;
    s.expect_end().await;
}

fn seq_of(ev: &CommEvent) -> Option<u64> {
    match ev {
        CommEvent::Message(m) => match &m.msg.content {
            Some(gossip_message::Content::DataMsg(d)) => d.payload.as_ref().map(|p| p.seq_num),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_before_the_connection_is_up_share_one_dial_in_order() {
    for by_endpoint_only in [false, true] {
        let a = Node::start("Org1MSP", config(true)).await;
        let mut b = Node::start("Org2MSP", config(true)).await;
        let to = if by_endpoint_only {
            RemotePeer {
                endpoint: b.endpoint(),
                pki_id: PkiId::default(),
            }
        } else {
            b.remote()
        };
        for seq in 0..50 {
            a.comm.send(data_envelope(seq, vec![]), &to);
        }
        let mut got = Vec::new();
        while got.len() < 50 {
            let ev = b.wait_event("messages", |e| seq_of(e).is_some()).await;
            got.push(seq_of(&ev).unwrap());
        }
        assert_eq!(
            got,
            (0..50).collect::<Vec<_>>(),
            "queued on the dial, delivered in order"
        );
        // Later sends reuse the connection, found by PKI-ID or by the endpoint dialed.
        a.comm.send(data_envelope(50, vec![]), &to);
        b.wait_event("message 50", |e| seq_of(e) == Some(50)).await;
        let m = a.comm.metrics();
        assert_eq!(
            (m.connections_opened, m.dial_failures, m.overflow_count),
            (1, 0, 0),
            "{m:?}"
        );
        assert_eq!(a.comm.connected(), vec![b.peer.pki_id.clone()]);
        a.comm.stop().await;
        b.comm.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_dial_reports_the_peer_and_counts_the_queued_envelopes() {
    let mut a = Node::start("Org1MSP", config(false)).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let ghost = random_pki();
    let to = RemotePeer {
        endpoint: dead,
        pki_id: ghost.clone(),
    };
    for seq in 0..3 {
        a.comm.send(data_envelope(seq, vec![]), &to);
    }
    a.wait_event("PresumedDead(ghost)", |e| is_presumed_dead(e, &ghost))
        .await;
    // Every envelope fails: queued behind the first dial, or, when that dial failed before
    // the loop sent it, behind a dial of its own (the refused connect can be that fast).
    eventually("the 3 envelopes are counted as failed", || {
        a.comm.metrics().send_failures == 3
    })
    .await;
    let m = a.comm.metrics();
    assert!((1..=3).contains(&m.dial_failures), "{m:?}");
    eventually("each failed dial presumes the peer dead", || {
        a.comm.metrics().presumed_dead == m.dial_failures
    })
    .await;
    // A malformed endpoint fails the same way, without a panic.
    a.comm.send(
        data_envelope(9, vec![]),
        &RemotePeer {
            endpoint: "no port".into(),
            pki_id: ghost.clone(),
        },
    );
    eventually("the malformed endpoint's dial failed", || {
        a.comm.metrics().dial_failures == m.dial_failures + 1
    })
    .await;
    a.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_fails_cleanly_on_a_used_port_or_a_bad_config() {
    use fabgossip::comm::{Comm, CommError};
    let a = Node::start("Org1MSP", config(false)).await;
    let p = TestPeer::new("Org1MSP");
    let used = CommConfig {
        listen_addr: a.comm.local_addr(),
        ..config(false)
    };
    let err = Comm::start(used, p.crypto(ORGS))
        .await
        .err()
        .expect("port in use");
    assert!(matches!(err, CommError::Bind { .. }), "{err}");
    for bad in [
        CommConfig {
            send_buff_size: 0,
            ..config(false)
        },
        CommConfig {
            recv_buff_size: 0,
            ..config(false)
        },
        CommConfig {
            conn_timeout: Duration::ZERO,
            ..config(false)
        },
        CommConfig {
            max_message_size: 0,
            ..config(false)
        },
    ] {
        let err = Comm::start(bad, p.crypto(ORGS))
            .await
            .err()
            .expect("bad config");
        assert!(matches!(err, CommError::Config(_)), "{err}");
    }
    let broken_tls = fabgossip::comm::TlsIdentity {
        cert_der: vec![1, 2, 3],
        key_der: vec![4, 5, 6],
    };
    let cfg = CommConfig {
        tls: Some(broken_tls),
        ..config(false)
    };
    let err = Comm::start(cfg, p.crypto(ORGS))
        .await
        .err()
        .expect("bad TLS material");
    assert!(matches!(err, CommError::Tls(_)), "{err}");
    a.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_never_connects_to_itself() {
    let mut a = Node::start("Org1MSP", config(true)).await;
    // A probe handshake tells who is there: ourselves (how a peer spots itself in a bootstrap list).
    let me = a
        .comm
        .handshake(&a.endpoint())
        .await
        .expect("probe ourselves");
    assert_eq!(me.pki_id, a.peer.pki_id);
    // A gossip stream to ourselves is refused on both ends.
    let to = RemotePeer {
        endpoint: a.endpoint(),
        pki_id: PkiId::default(),
    };
    a.comm.send(data_envelope(1, vec![]), &to);
    eventually("the dial to ourselves fails", || {
        a.comm.metrics().dial_failures == 1
    })
    .await;
    a.assert_no_event(Duration::from_millis(200), "Connected", |e| {
        matches!(e, CommEvent::Connected(_))
    })
    .await;
    assert!(a.comm.connected().is_empty());
    a.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_issued_certificate_with_a_sec1_or_pkcs8_key_works() {
    // A CA-issued ECDSA P-256 leaf (chain file: leaf then CA), as Fabric's tooling produces,
    // with its key in SEC1 ("EC PRIVATE KEY") and PKCS#8 form.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/comm_support/fixtures");
    let chain = dir.join("org1-peer0-tls-chain.pem");
    let sec1 =
        fabgossip::comm::TlsIdentity::from_pem_files(&chain, &dir.join("org1-peer0-tls-sec1.key"))
            .expect("SEC1 key");
    let pkcs8 =
        fabgossip::comm::TlsIdentity::from_pem_files(&chain, &dir.join("org1-peer0-tls-pkcs8.key"))
            .expect("PKCS#8 key");
    assert_eq!(
        sec1.cert_der, pkcs8.cert_der,
        "the leaf is the first certificate"
    );

    for id in [sec1, pkcs8] {
        let hash = id.cert_hash();
        let a = Node::start(
            "Org1MSP",
            CommConfig {
                tls: Some(id),
                ..CommConfig::default()
            },
        )
        .await;
        let mut b = Node::start("Org2MSP", config(true)).await;
        a.comm.send(data_envelope(1, vec![]), &b.remote());
        let ev = b
            .wait_event("Connected(a)", |e| is_connected(e, &a.peer.pki_id))
            .await;
        let info = connection_info(&ev).unwrap();
        let ce = as_conn(&Envelope {
            payload: info.auth.signed_data.clone().into(),
            ..Default::default()
        });
        assert_eq!(ce.tls_cert_hash, hash);
        b.wait_event("message", |e| is_message(e, &a.peer.pki_id, 1))
            .await;
        a.comm.stop().await;
        b.comm.stop().await;
    }
}
