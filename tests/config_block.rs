//! Joining with a channel's config block (made by Fabric's configtxgen, `tests/channelconfig`)
//! on whole nodes over loopback gRPC: block 0 is committed without an orderer signature, a
//! committed config block reconfigures the channel (its anchor peers) without a restart.

mod support;
use support::{free_port, tempdir, wait_until};

use std::time::Duration;

use fabgossip::channelconfig::ConfigBlock;
use fabgossip::config::Config;
use fabgossip::crypto::block::{block_header_hash, new_block, orderer_block_metadata};
use fabgossip::node::{ChannelCallError, GossipService};
use fabgossip::proto::common::{
    BlockMetadataIndex, ChannelHeader, ConfigEnvelope, Envelope, Header, HeaderType, Metadata,
    Payload,
};
use fabgossip::proto::protos::{AnchorPeer, AnchorPeers};
use prost::Message;

const CH: &str = "fixturechannel";
const GENESIS: &[u8] = include_bytes!("channelconfig/genesis.block");
const UPDATE: &[u8] = include_bytes!("channelconfig/anchor-update.block");
const LONG: Duration = Duration::from_secs(30);

async fn start(org: &str, port: u16, dir: &std::path::Path, seed: u8) -> GossipService {
    let text = format!(
        "peer:\n  id: {org}-{seed}\n  localMspId: {org}\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  gossip:\n    externalEndpoint: '127.0.0.1:{port}'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\nfabgossip:\n  trustedOrgs: [{org}]\n  identitySeed: '{seed}'\n",
        dir = dir.join(format!("p{seed}")).display(),
        seed = hex::encode([seed; 32]),
    );
    GossipService::start_builtin(Config::parse(&text).unwrap())
        .await
        .unwrap()
}

/// The config block after `prev` (a config block) with org `org`'s anchor peers set to
/// `anchor`, at the next sequence, as the ordering service would cut it (unsigned).
fn next_config_block(prev: &[u8], org: &str, anchor: (&str, u16)) -> Vec<u8> {
    let prev_block = fabgossip::proto::common::Block::decode(prev).unwrap();
    let meta = ConfigBlock::decode(prev).unwrap();
    let mut config = meta.config;
    config.sequence += 1;
    let value = config
        .channel_group
        .as_mut()
        .unwrap()
        .groups
        .get_mut("Application")
        .unwrap()
        .groups
        .get_mut(org)
        .unwrap()
        .values
        .get_mut("AnchorPeers")
        .unwrap();
    value.version += 1;
    value.value = AnchorPeers {
        anchor_peers: vec![AnchorPeer {
            host: anchor.0.into(),
            port: anchor.1.into(),
        }],
    }
    .encode_to_vec();
    let ch = ChannelHeader {
        r#type: HeaderType::Config as i32,
        channel_id: CH.into(),
        ..Default::default()
    };
    let payload = Payload {
        header: Some(Header {
            channel_header: ch.encode_to_vec(),
            signature_header: Vec::new(),
        }),
        data: ConfigEnvelope {
            config: Some(config),
            last_update: None,
        }
        .encode_to_vec(),
    };
    let env = Envelope {
        payload: payload.encode_to_vec(),
        signature: Vec::new(),
    };
    let header = prev_block.header.unwrap();
    let number = header.number + 1;
    let mut b = new_block(
        number,
        block_header_hash(&header),
        vec![env.encode_to_vec()],
    );
    b.metadata.as_mut().unwrap().metadata[BlockMetadataIndex::Signatures as usize] = Metadata {
        value: orderer_block_metadata(number),
        signatures: Vec::new(),
    }
    .encode_to_vec();
    b.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genesis_join_then_a_committed_config_block_moves_an_anchor_peer() {
    let dir = tempdir("config-block-anchor");
    let (pa, pb) = (free_port(), free_port());
    let alpha = start("AlphaMSP", pa, &dir, 1).await;
    let beta = start("BetaMSP", pb, &dir, 2).await;
    for p in [&alpha, &beta] {
        let config = p
            .join_channel_with_block(CH, GENESIS.to_vec())
            .await
            .unwrap();
        assert_eq!(config.sequence, 0);
        assert_eq!(config.member_orgs(), ["AlphaMSP", "BetaMSP"]);
    }
    // Block 0 is committed without any orderer signature.
    wait_until("both committed block 0", LONG, || {
        alpha.ledger_height(CH) == Some(1) && beta.ledger_height(CH) == Some(1)
    })
    .await;
    // The genesis anchor peers do not resolve: the peers cannot find each other.
    assert!(alpha.peers().is_empty());

    // Block 1 moves Beta's anchor peer to the Beta peer; Alpha commits it and dials it.
    let update = next_config_block(GENESIS, "Beta", ("127.0.0.1", pb));
    alpha.add_payload(CH, 1, update).await.unwrap();
    wait_until("alpha committed block 1", LONG, || {
        alpha.ledger_height(CH) == Some(2)
    })
    .await;
    wait_until("alpha found beta through the new anchor peer", LONG, || {
        alpha
            .peers()
            .iter()
            .any(|p| p.endpoint == format!("127.0.0.1:{pb}") && p.org == "BetaMSP")
    })
    .await;
    let applied = |p: &GossipService| {
        p.node_counters()
            .config_block_applied
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(applied(&alpha), 1);
    // Beta sees Alpha in the channel once both exchange StateInfo.
    wait_until("beta sees alpha in the channel", LONG, || {
        beta.peers_of_channel(CH)
            .is_some_and(|ps| ps.iter().any(|p| p.org == "AlphaMSP"))
    })
    .await;
    alpha.stop().await;
    beta.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configtxgen_update_block_reconfigures_and_a_latest_config_block_joins() {
    let dir = tempdir("config-block-fixture");
    let alpha = start("AlphaMSP", free_port(), &dir, 3).await;
    alpha
        .join_channel_with_block(CH, GENESIS.to_vec())
        .await
        .unwrap();
    alpha.add_payload(CH, 1, UPDATE.to_vec()).await.unwrap();
    wait_until("block 1 committed", LONG, || {
        alpha.ledger_height(CH) == Some(2)
    })
    .await;
    wait_until("the update applied", LONG, || {
        alpha
            .node_counters()
            .config_block_applied
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    // Joining again with the genesis block changes nothing: it is older, and block 0 is
    // held already.
    alpha
        .join_channel_with_block(CH, GENESIS.to_vec())
        .await
        .unwrap();
    assert_eq!(alpha.ledger_height(CH), Some(2));
    alpha.stop().await;

    // A new peer joins with the latest config block: configured at sequence 1, nothing
    // committed (block 0 comes from the orderer or the other peers).
    let beta = start("BetaMSP", free_port(), &dir, 4).await;
    let config = beta
        .join_channel_with_block(CH, UPDATE.to_vec())
        .await
        .unwrap();
    assert_eq!(config.sequence, 1);
    assert_eq!(beta.ledger_height(CH), Some(0));
    beta.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_block_is_refused_with_the_reason() {
    let dir = tempdir("config-block-bad");
    let gamma = start("GammaMSP", free_port(), &dir, 5).await;
    let e = gamma
        .join_channel_with_block(CH, b"\x0a\x02\x08".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelCallError::ConfigBlock(_)), "{e}");
    let e = gamma
        .join_channel_with_block("otherchannel", GENESIS.to_vec())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not \"otherchannel\""), "{e}");
    // An org outside the channel's application orgs is refused by the registry.
    let e = gamma
        .join_channel_with_block(CH, GENESIS.to_vec())
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelCallError::Channel(_)), "{e}");
    gamma.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_takes_the_config_of_its_ledgers_latest_config_block() {
    let dir = tempdir("config-block-restart");
    let (pa, pb) = (free_port(), free_port());
    let beta = start("BetaMSP", pb, &dir, 7).await;
    beta.join_channel_with_block(CH, GENESIS.to_vec())
        .await
        .unwrap();
    let alpha = start("AlphaMSP", pa, &dir, 6).await;
    alpha
        .join_channel_with_block(CH, GENESIS.to_vec())
        .await
        .unwrap();
    let update = next_config_block(GENESIS, "Beta", ("127.0.0.1", pb));
    alpha.add_payload(CH, 1, update).await.unwrap();
    wait_until("alpha committed block 1", LONG, || {
        alpha.ledger_height(CH) == Some(2)
    })
    .await;
    alpha.stop().await;
    beta.stop().await;

    // Both restarted (Beta forgets Alpha) and joined with the genesis block again, as a host
    // does at every start: Alpha's config is block 1's, whose anchor peer is the only way to
    // find Beta.
    let beta = start("BetaMSP", pb, &dir, 7).await;
    beta.join_channel_with_block(CH, GENESIS.to_vec())
        .await
        .unwrap();
    let alpha = start("AlphaMSP", pa, &dir, 6).await;
    alpha
        .join_channel_with_block(CH, GENESIS.to_vec())
        .await
        .unwrap();
    assert_eq!(alpha.ledger_height(CH), Some(2));
    wait_until(
        "alpha found beta through block 1's anchor peer",
        LONG,
        || {
            alpha
                .peers()
                .iter()
                .any(|p| p.endpoint == format!("127.0.0.1:{pb}") && p.org == "BetaMSP")
        },
    )
    .await;
    let invalid = alpha
        .node_counters()
        .config_block_invalid
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(invalid, 0);
    alpha.stop().await;
    beta.stop().await;
}
