//! Targets of the host's text inputs: the JSON join message and chaincode list of the channel
//! calls, and the YAML/JSON config of `fg_init`, whose values then start every state machine
//! the node builds from them. Bytes that are not UTF-8 never reach these parsers (the C ABI
//! refuses them first), so the input is read as UTF-8 with replacement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fabgossip::channel::{ChannelConfig, ChannelSelf, Channels, MapperVerifier};
use fabgossip::config::Config;
use fabgossip::crypto::{CryptoError, MessageCryptoService};
use fabgossip::discovery::{Discovery, DiscoveryConfig, Input as DiscInput, SelfInfo};
use fabgossip::election::{Input as ElectionInput, LeaderElection};
use fabgossip::ffi::join_json::{parse_chaincodes, parse_join};
use fabgossip::identity::IdentityMapper;
use fabgossip::message::SignedGossipMessage;
use fabgossip::msgstore::{GossipComparator, MessageStore};
use fabgossip::pull::{PullConfig, PullEngine};
use fabgossip::push::{PushConfig, PushEmitter};
use fabgossip::state::{
    BlockVerifier, Input as StateInput, StateProvider, StateProviderConfig, StateTransfer,
    TransferConfig,
};
use fabgossip::types::PkiId;

use super::channel;
use super::engine::{Cov, Target};
use super::seeds;

fn join_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"sequence":1,"members":["Org1MSP","Org2MSP"],"anchor_peers":[{"org":"Org1MSP","host":"peer0.org1","port":7051}],"orderers":[{"endpoint":"orderer:7050","tls_root_cert":null,"public_key":"fd4234df927a5f1a453c65de62d96774e80fd86388145a9f5a23af3619bac96f"}]}"#,
        r#"{"sequence":0,"members":["Org1MSP"]}"#,
        r#"{"sequence":18446744073709551615,"members":[],"anchor_peers":[],"orderers":[]}"#,
        r#"[{"name":"mycc","version":"1.0"},{"name":"other","version":""}]"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Parses the text both ways; a join message that parses is applied to a channel registry.
fn run_join_json(data: &[u8], cov: &mut Cov) {
    let text = String::from_utf8_lossy(data);
    match parse_join(&text) {
        Ok(msg) => {
            cov.hit((
                "join",
                msg.members.len().min(3),
                msg.anchor_peers.len().min(3),
            ));
            channel::apply_join(msg, cov);
        }
        Err(e) => cov.error(&e),
    }
    match parse_chaincodes(&text) {
        Ok(cc) => cov.hit(("chaincodes", cc.len().min(3))),
        Err(e) => cov.error(&e),
    }
}

pub const JOIN_JSON: Target = Target {
    name: "join_json",
    max_len: 4 << 10,
    seeds: join_seeds,
    run: run_join_json,
};

fn config_seeds() -> Vec<Vec<u8>> {
    [
        "peer:\n  id: p1\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:7051\n  address: 127.0.0.1:7051\n  fileSystemPath: /tmp/x\n  gossip:\n    bootstrap: 127.0.0.1:7052\n    externalEndpoint: '127.0.0.1:7051'\n    aliveTimeInterval: 200ms\n    aliveExpirationTimeout: 2s\n    reconnectInterval: 500ms\n    pullInterval: 500ms\n    digestWaitTime: 100ms\n    requestWaitTime: 200ms\n    responseWaitTime: 300ms\n    publishStateInfoInterval: 200ms\n    requestStateInfoInterval: 300ms\n    propagateIterations: 1\nfabgossip:\n  trustedOrgs: [Org1MSP]\n  identitySeed: '241ba616dfb9e26332812ff6c4e1783ff6181d8e42cb2f00f85584968585f2ff'\n",
        "peer:\n  id: p2\n  localMspId: Org2MSP\n  listenAddress: 127.0.0.1:7053\n  fileSystemPath: /tmp/y\n  deliveryclient:\n    minimalReconnectInterval: 50ms\n    reConnectBackoffThreshold: 400ms\n    connTimeout: 1s\n  gossip:\n    bootstrap: ['127.0.0.1:7051', '127.0.0.1:7052']\n    useLeaderElection: true\n    orgLeader: false\n    election:\n      startupGracePeriod: 3s\n      membershipSampleInterval: 500ms\n      leaderAliveThreshold: 800ms\n      leaderElectionDuration: 400ms\n    publishCertPeriod: 2s\n    state:\n      enabled: true\nfabgossip:\n  trustedOrgs: [Org1MSP, Org2MSP]\noperations:\n  listenAddress: 127.0.0.1:9443\nmetrics:\n  provider: prometheus\n",
        r#"{"peer":{"localMspId":"Org1MSP","gossip":{"bootstrap":"","maxBlockCountToStore":10}}}"#,
        "peer:\n  localMspId: Org1MSP\n  gossip:\n    aliveTimeInterval: 10000000000000000000s\n    aliveExpirationTimeout: 18000000000000000000s\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// `DiscoveryConfig` from the config, as the node maps it (`node::discovery_config`).
fn discovery_config(c: &Config) -> DiscoveryConfig {
    let g = &c.gossip;
    let mut d = DiscoveryConfig {
        alive_time_interval: g.alive_time_interval,
        alive_expiration_timeout: g.alive_expiration_timeout,
        alive_expiration_check_interval: g.alive_expiration_timeout / 10,
        reconnect_interval: g.reconnect_interval,
        msg_expiration_factor: g.msg_expiration_factor,
        max_connection_attempts: g.max_connection_attempts,
        publish_cert_period: g.publish_cert_period,
        mem_req_interval: g.pull_interval,
        mem_req_peers: g.pull_peer_num as usize,
        propagate_peer_num: g.propagate_peer_num as usize,
        max_members: c.fabgossip.max_members,
        ..DiscoveryConfig::default()
    };
    d.connect_backoff_min = d.connect_backoff_min.min(g.reconnect_interval);
    d
}

/// A config that parses must start every machine the node builds from it, or be refused by
/// that machine with an error: never a panic (an `Instant` overflow, a division by zero).
fn start_machines(c: &Config, cov: &mut Cov) {
    let crypto = seeds::receiver().clone();
    let ctx = crypto.context();
    let now = Instant::now();
    let later = now + Duration::from_secs(3600);
    let g = &c.gossip;
    let signer = move || {
        let crypto = crypto.clone();
        Box::new(move |p: &[u8]| -> Result<Vec<u8>, CryptoError> { crypto.sign(p) })
    };
    let me = SelfInfo {
        pki_id: ctx.self_pki_id.clone(),
        org: ctx.self_org.clone(),
        endpoint: g.external_endpoint.clone(),
        internal_endpoint: "10.0.0.1:7051".into(),
        identity: ctx.self_identity.clone(),
        metadata: Vec::new(),
    };
    match Discovery::new(
        discovery_config(c),
        me,
        g.bootstrap.clone(),
        signer(),
        now,
        1,
        1,
    ) {
        Ok(mut d) => {
            d.handle(now, DiscInput::Tick);
            d.handle(later, DiscInput::Tick);
            let _ = d.next_deadline();
        }
        Err(e) => cov.error(&e),
    }
    let view: Vec<PkiId> = Vec::new();
    match LeaderElection::new(
        g.election.clone(),
        "ch",
        ctx.self_pki_id.clone(),
        signer(),
        now,
        1,
    ) {
        Ok(mut e) => {
            e.handle(now, &view, ElectionInput::Tick);
            e.handle(later, &view, ElectionInput::Tick);
            let _ = e.next_deadline();
        }
        Err(e) => cov.error(&e),
    }
    for pcfg in [PullConfig::blocks(b"ch", g), PullConfig::identities(g)] {
        match PullEngine::new(pcfg, now, 1) {
            Ok(p) => {
                let _ = p.next_deadline();
                let _ = p.round_due(later);
            }
            Err(e) => cov.error(&e),
        }
    }
    match PushEmitter::new(
        PushConfig::from_gossip(g, c.fabgossip.push_policy.into()),
        1,
    ) {
        Ok(_) => cov.hit("push"),
        Err(e) => cov.error(&e),
    }
    let ccfg = ChannelConfig::from_gossip(g);
    let chself = ChannelSelf {
        pki_id: ctx.self_pki_id.clone(),
        org: ctx.self_org.clone(),
        endpoint: String::new(),
    };
    let verifier = MapperVerifier {
        mapper: Arc::new(IdentityMapper::new(ctx.mcs.clone(), &ctx.self_identity).unwrap()),
        mcs: ctx.mcs.clone(),
        advisor: ctx.advisor.clone(),
    };
    match Channels::new(ccfg, chself, signer(), Box::new(verifier), now, 1, 1) {
        Ok(ch) => {
            let _ = ch.next_deadline();
        }
        Err(e) => cov.error(&e),
    }
    let mut sp = StateProvider::new(
        "ch",
        0,
        StateProviderConfig::from_gossip(g),
        Arc::new(NoBlocks),
    );
    sp.handle(later, StateInput::RemoteHeight { height: 5 });
    let mut st = StateTransfer::new("ch", 0, TransferConfig::from_gossip(g), 1);
    let _ = st.tick(now);
    let _ = st.tick(later);
    let _ = MessageStore::<SignedGossipMessage, _>::with_ttl(
        GossipComparator::new(g.max_block_count_to_store),
        g.publish_state_info_interval.saturating_mul(100),
        now,
    );
}

struct NoBlocks;

impl BlockVerifier for NoBlocks {
    fn verify_block(&self, _: &str, _: u64, _: &[u8]) -> Result<(), CryptoError> {
        Err(CryptoError::InvalidBlock("none".into()))
    }
}

fn run_config(data: &[u8], cov: &mut Cov) {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text) {
        Ok(cfg) => {
            cov.hit("config");
            let _ = cfg.internal_endpoint();
            let _ = cfg.msp_dir();
            start_machines(&cfg, cov);
        }
        Err(e) => cov.error(&e),
    }
}

pub const CONFIG: Target = Target {
    name: "config",
    max_len: 8 << 10,
    seeds: config_seeds,
    run: run_config,
};
