//! Send with ack over real loopback: acks, NACKs, timeouts, unreachable peers, `min_ack`,
//! and acks nobody waits for. Run: `cargo test --release --test comm_ack`.

mod comm_support;

use std::time::{Duration, Instant};

use comm_support::*;
use fabgossip::comm::{AckOutcome, CommEvent, RemotePeer};
use fabgossip::proto::gossip::gossip_message::{Content, Tag};
use fabgossip::proto::gossip::{Envelope, GossipMessage, PrivateDataMessage, PrivatePayload};
use fabgossip::types::PkiId;
use prost::Message;

fn private_data_msg(tx: &str) -> GossipMessage {
    GossipMessage {
        nonce: 0,
        channel: b"mychannel".to_vec(),
        tag: Tag::ChanOnly as i32,
        content: Some(Content::PrivateData(PrivateDataMessage {
            payload: Some(PrivatePayload {
                tx_id: tx.into(),
                ..Default::default()
            }),
        })),
    }
}

/// Answers every private data message `node` receives with `error` ("" acks), forever.
fn answer(node: Node, error: &'static str) -> tokio::task::JoinHandle<Node> {
    tokio::spawn(async move {
        let mut node = node;
        while let Some(ev) = node.events.recv().await {
            if let CommEvent::Message(m) = ev {
                if matches!(m.msg.content, Some(Content::PrivateData(_))) {
                    assert!(node.comm.send_ack(&m.conn.pki_id, m.msg.nonce, error));
                }
            }
        }
        node
    })
}

fn outcome_of<'a>(r: &'a [fabgossip::comm::AckResult], p: &PkiId) -> &'a AckOutcome {
    &r.iter()
        .find(|r| &r.peer.pki_id == p)
        .expect("a result")
        .outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_nacks_timeouts_and_unreachable_peers() {
    let a = Node::start("Org1MSP", config(false)).await;
    let acker = Node::start("Org2MSP", config(false)).await;
    let nacker = Node::start("Org2MSP", config(false)).await;
    let mut silent = Node::start("Org1MSP", config(false)).await;
    let (acker_p, nacker_p, silent_p) = (acker.remote(), nacker.remote(), silent.remote());
    let dead = RemotePeer {
        endpoint: {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        },
        pki_id: PkiId(vec![9; 32]),
    };
    let no_endpoint = RemotePeer {
        endpoint: String::new(),
        pki_id: PkiId(vec![8; 32]),
    };
    let _acker = answer(acker, "");
    let _nacker = answer(nacker, "no room");

    let timeout = Duration::from_millis(1500);
    let started = Instant::now();
    let peers = [
        acker_p.clone(),
        nacker_p.clone(),
        silent_p.clone(),
        dead.clone(),
        no_endpoint.clone(),
        acker_p.clone(),
    ];
    let r = a
        .comm
        .send_with_ack(private_data_msg("tx1"), timeout, 0, &peers)
        .await;
    assert_eq!(r.len(), 5, "one result per distinct peer: {r:?}");
    assert_eq!(outcome_of(&r, &acker_p.pki_id), &AckOutcome::Acked);
    assert_eq!(
        outcome_of(&r, &nacker_p.pki_id),
        &AckOutcome::Nacked("no room".into())
    );
    assert_eq!(outcome_of(&r, &silent_p.pki_id), &AckOutcome::TimedOut);
    assert!(
        matches!(outcome_of(&r, &dead.pki_id), AckOutcome::SendFailed(_)),
        "{r:?}"
    );
    assert!(matches!(
        outcome_of(&r, &no_endpoint.pki_id),
        AckOutcome::SendFailed(_)
    ));
    assert!(started.elapsed() >= timeout, "the silent peer was awaited");

    // The silent peer got the message, with the sender's random nonce, unsigned.
    let ev = silent
        .wait_event("private data at the silent peer", |e| {
            matches!(e, CommEvent::Message(m) if matches!(m.msg.content, Some(Content::PrivateData(_))))
        })
        .await;
    let CommEvent::Message(m) = ev else {
        unreachable!()
    };
    assert!(m.envelope.signature.is_empty());
    assert_ne!(m.msg.nonce, 0);

    // A late ack finds no sender: counted, dropped, nothing kept.
    assert!(silent.comm.send_ack(&a.peer.pki_id, m.msg.nonce, ""));
    eventually("the late ack is counted", || {
        a.comm.metrics().acks.unknown_nonce == 1
    })
    .await;
    let c = a.comm.metrics().acks;
    assert_eq!((c.acked, c.nacked, c.timeout), (1, 1, 1), "{c:?}");
    assert_eq!(a.comm.pending_acks(), 0);
    a.comm.stop().await;
    silent.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_ack_ends_the_wait_early() {
    let a = Node::start("Org1MSP", config(false)).await;
    let acker = Node::start("Org1MSP", config(false)).await;
    let silent = Node::start("Org1MSP", config(false)).await;
    let (acker_p, silent_p) = (acker.remote(), silent.remote());
    let _acker = answer(acker, "");
    let long = Duration::from_secs(60);
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        a.comm.send_with_ack(
            private_data_msg("tx2"),
            long,
            1,
            &[silent_p, acker_p.clone()],
        ),
    )
    .await
    .expect("returns once one peer acked, long before the timeout");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].peer, acker_p);
    assert_eq!(r[0].outcome, AckOutcome::Acked);
    assert_eq!(
        a.comm.pending_acks(),
        0,
        "the silent peer's entry is dropped"
    );
    a.comm.stop().await;
    silent.comm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_acks_are_counted_dropped_and_never_reach_the_node() {
    let mut b = Node::start("Org2MSP", config(false)).await;
    let p = TestPeer::new("Org1MSP");
    let mut client = raw_client(&b.endpoint(), None).await;
    let s = raw_stream(&mut client).await;
    s.tx.send(p.conn_establish(vec![], false, |_| {}))
        .await
        .unwrap();
    b.wait_event("Connected(raw)", |e| is_connected(e, &p.pki_id))
        .await;
    let n = 2000u64;
    for nonce in 0..n {
        let ack = fabgossip::message::ack_msg(nonce, None);
        s.tx.send(Envelope {
            payload: ack.encode_to_vec().into(),
            signature: vec![],
            secret_envelope: None,
        })
        .await
        .unwrap();
    }
    s.tx.send(data_envelope(5, vec![])).await.unwrap();
    // Messages keep their order on a stream: when the data message is out, every ack before
    // it was handled, and none of them came out as an event.
    let ev = b
        .wait_event("the data message after the acks", |e| {
            matches!(e, CommEvent::Message(_))
        })
        .await;
    let CommEvent::Message(m) = ev else {
        unreachable!()
    };
    assert!(matches!(m.msg.content, Some(Content::DataMsg(_))), "{m:?}");
    let m = b.comm.metrics();
    assert_eq!(
        m.acks.unknown_nonce + m.recv_rate_exceeded + m.recv_buffer_full,
        n,
        "{m:?}"
    );
    assert!(m.acks.unknown_nonce > 0);
    assert_eq!(b.comm.pending_acks(), 0);
    b.comm.stop().await;
}
