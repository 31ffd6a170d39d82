//! Leadership across several `GossipService`s of one org in one process over loopback gRPC:
//! leader election elects exactly one leader, a stopped leader is replaced in time, a yield
//! hands leadership over; the static modes lead every channel or none.

mod support;
use support::{free_port, tempdir, wait_for, wait_until};

use std::time::{Duration, Instant};

use fabgossip::channel::{ChannelError, JoinChannelMessage};
use fabgossip::config::Config;
use fabgossip::node::{ChannelCallError, GossipService, LeadershipEvent};
use tokio::sync::broadcast;

const THRESHOLD: Duration = Duration::from_millis(2000);
const DURATION: Duration = Duration::from_millis(1000);

/// Peer `i` of Org1MSP with fast membership timers and the given leadership keys.
async fn start(
    i: usize,
    boot: u16,
    port: u16,
    dir: &std::path::Path,
    leadership: &str,
) -> GossipService {
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    bootstrap: ['127.0.0.1:{boot}']\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 1500ms\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n{leadership}fabgossip:\n  trustedOrgs: [Org1MSP]\n  identitySeed: '{seed}'\n",
        dir = dir.join(format!("p{i}")).display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    let cfg = Config::parse(&text).unwrap();
    GossipService::start_builtin(cfg).await.unwrap()
}

fn election_keys() -> String {
    format!(
        "    useLeaderElection: true\n    orgLeader: false\n    election:\n      startupGracePeriod: 3s\n      membershipSampleInterval: 500ms\n      leaderAliveThreshold: {}ms\n      leaderElectionDuration: {}ms\n",
        THRESHOLD.as_millis(),
        DURATION.as_millis()
    )
}

fn join_msg() -> JoinChannelMessage {
    JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into()],
        anchor_peers: Vec::new(),
    }
}

/// Indices of the running peers that lead `ch`.
fn leaders(peers: &[Option<GossipService>], ch: &str) -> Vec<usize> {
    peers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.as_ref().is_some_and(|p| p.is_leader(ch) == Ok(true)))
        .map(|(i, _)| i)
        .collect()
}

/// Waits until exactly one peer leads and that holds for a whole declaration cycle.
async fn one_stable_leader(peers: &[Option<GossipService>], ch: &str, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        wait_until("exactly one leader", deadline - Instant::now(), || {
            leaders(peers, ch).len() == 1
        })
        .await;
        let leader = leaders(peers, ch)[0];
        let changed = wait_for(THRESHOLD, || leaders(peers, ch) != vec![leader]).await;
        if !changed {
            return leader;
        }
        assert!(Instant::now() < deadline, "leadership never settled");
    }
}

fn drain(rx: &mut broadcast::Receiver<LeadershipEvent>) -> Vec<bool> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        assert_eq!(e.channel, "ch");
        v.push(e.leader);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_is_elected_replaced_when_stopped_and_handed_over_on_yield() {
    let dir = tempdir("election");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut peers = Vec::new();
    let mut events = Vec::new();
    for i in 0..4 {
        let boot = if i == 0 { ports[1] } else { ports[0] };
        let p = start(i, boot, ports[i], &dir, &election_keys()).await;
        events.push(p.subscribe_leadership());
        peers.push(Some(p));
    }
    for p in peers.iter().flatten() {
        p.join_channel("ch", join_msg()).await.unwrap();
        assert_eq!(
            p.is_leader("ch"),
            Ok(false),
            "nobody leads before the election"
        );
    }
    let first = one_stable_leader(&peers, "ch", Duration::from_secs(40)).await;
    for (i, rx) in events.iter_mut().enumerate() {
        let got = drain(rx);
        if i == first {
            assert_eq!(got.last(), Some(&true), "peer {i}: {got:?}");
        } else {
            assert!(got.last() != Some(&true), "peer {i}: {got:?}");
        }
    }
    let c = peers[first].as_ref().unwrap().leadership_counters();
    assert!(c.election.declarations_sent > 0, "{c:?}");
    assert_eq!(c.bad_signature + c.foreign_org + c.malformed, 0, "{c:?}");

    // The leader stops: another takes over within threshold + duration (plus slack for
    // a loaded machine), measured from the stop.
    let stopped_at = Instant::now();
    peers[first].take().unwrap().stop().await;
    wait_until(
        "a new leader after the old one stopped",
        Duration::from_secs(30),
        || leaders(&peers, "ch").len() == 1,
    )
    .await;
    let took = stopped_at.elapsed();
    eprintln!("leader takeover took {took:?}");
    assert!(
        took <= THRESHOLD + DURATION + Duration::from_secs(3),
        "takeover took {took:?}"
    );
    let second = one_stable_leader(&peers, "ch", Duration::from_secs(30)).await;
    for rx in events.iter_mut() {
        drain(rx);
    }

    // The new leader yields: someone else leads, and the yielder stays out.
    let yielder = peers[second].as_ref().unwrap();
    yielder.yield_leadership("ch").await.unwrap();
    assert_eq!(yielder.is_leader("ch"), Ok(false));
    assert_eq!(drain(&mut events[second]), vec![false]);
    let third = one_stable_leader(&peers, "ch", Duration::from_secs(30)).await;
    assert_ne!(third, second);
    assert_eq!(
        peers[second]
            .as_ref()
            .unwrap()
            .leadership_counters()
            .election
            .yields,
        1
    );

    // Leaving the channel stops its election and reports the lost leadership.
    let leader = peers[third].as_ref().unwrap();
    drain(&mut events[third]);
    leader.leave_channel("ch").await.unwrap();
    assert!(matches!(
        leader.is_leader("ch"),
        Err(ChannelCallError::Channel(ChannelError::UnknownChannel(_)))
    ));
    assert_eq!(drain(&mut events[third]), vec![false]);
    for p in peers.iter().flatten() {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_org_leader_leads_every_channel_and_never_leader_none() {
    let dir = tempdir("election-static");
    let (pa, pb) = (free_port(), free_port());
    // The embedded defaults: orgLeader on, no election.
    let lead = start(0, pb, pa, &dir, "").await;
    let never = start(
        1,
        pa,
        pb,
        &dir,
        "    useLeaderElection: false\n    orgLeader: false\n",
    )
    .await;
    let mut rx = lead.subscribe_leadership();
    for ch in ["ch1", "ch2"] {
        assert!(matches!(
            lead.is_leader(ch),
            Err(ChannelCallError::Channel(ChannelError::UnknownChannel(_)))
        ));
        lead.join_channel(ch, join_msg()).await.unwrap();
        never.join_channel(ch, join_msg()).await.unwrap();
        assert_eq!(
            lead.is_leader(ch),
            Ok(true),
            "a static leader leads at join"
        );
        assert_eq!(never.is_leader(ch), Ok(false));
        let e = rx.try_recv().unwrap();
        assert_eq!((e.channel.as_str(), e.leader), (ch, true));
    }
    // A static leader never yields; a second join changes nothing.
    assert!(lead.yield_leadership("ch1").await.is_err());
    lead.join_channel("ch1", join_msg()).await.unwrap();
    assert!(rx.try_recv().is_err());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(lead.is_leader("ch1"), Ok(true));
    assert_eq!(never.is_leader("ch2"), Ok(false));
    assert_eq!(never.leadership_counters().election.proposals_sent, 0);
    lead.leave_channel("ch2").await.unwrap();
    let e = rx.try_recv().unwrap();
    assert_eq!((e.channel.as_str(), e.leader), ("ch2", false));
    assert!(lead.is_leader("ch2").is_err());
    lead.stop().await;
    never.stop().await;
}

#[test]
fn election_and_org_leader_together_is_a_config_error() {
    let e =
        Config::parse("peer: {gossip: {useLeaderElection: true, orgLeader: true}}").unwrap_err();
    assert!(e.to_string().contains("useLeaderElection"), "{e}");
}
