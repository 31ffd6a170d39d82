//! Targets of the host's text inputs: the JSON join message and chaincode list of the channel
//! calls, and the YAML/JSON config of `fg_init`. Bytes that are not UTF-8 never reach these
//! parsers (the C ABI refuses them first), so the input is read as UTF-8 with replacement.

use fabgossip::config::Config;
use fabgossip::ffi::join_json::{parse_chaincodes, parse_join};

use super::channel;
use super::engine::{Cov, Target};

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
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn run_config(data: &[u8], cov: &mut Cov) {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text) {
        Ok(cfg) => {
            cov.hit("config");
            let _ = cfg.internal_endpoint();
            let _ = cfg.msp_dir();
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
