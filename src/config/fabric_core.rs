//! The parts of Fabric's `core.yaml` the gossip service does not read. A peer hands over its
//! whole `core.yaml`; these keys are accepted and listed at debug level, while unknown keys
//! elsewhere (a typo in `peer.gossip`, say) stay errors that name the key.

use super::Section;

/// `peer.*` keys of Fabric's `core.yaml` (2.x) that configure the rest of a Fabric peer.
pub(super) const UNUSED_PEER_KEYS: &[&str] = &[
    "networkId",
    "addressAutoDetect",
    "chaincodeListenAddress",
    "chaincodeAddress",
    "gateway",
    "keepalive",
    "authentication",
    "BCCSP",
    "client",
    "localMspType",
    "profile",
    "handlers",
    "validatorPoolSize",
    "discovery",
    "limits",
    "maxRecvMsgSize",
    "maxSendMsgSize",
];

/// Top-level sections of `core.yaml` with nothing for gossip.
pub(super) const UNUSED_SECTIONS: &[&str] = &["vm", "chaincode", "ledger"];

/// `operations.*` keys for Fabric's operations server (TLS, client auth); the metrics
/// listener here serves plain HTTP.
pub(super) const UNUSED_OPERATIONS_KEYS: &[&str] = &["tls"];

/// `metrics.*` keys of the StatsD provider, which is not supported.
pub(super) const UNUSED_METRICS_KEYS: &[&str] = &["statsd"];

/// Takes `keys` out of `section` and lists those present at debug level.
pub(super) fn skip_unused(section: &mut Section, keys: &[&str]) {
    let mut skipped = Vec::new();
    for k in keys {
        if section.entries.remove(*k).is_some() {
            skipped.push(section.key(k));
        }
    }
    if !skipped.is_empty() {
        tracing::debug!(
            target: "fabgossip::config",
            "core.yaml keys the gossip service does not use, ignored: {}",
            skipped.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigOrigin, EnvOverrides};

    /// The shape of Fabric's sample `core.yaml`: every section and `peer.*` key gossip does
    /// not use, with values of their kinds.
    const CORE_YAML_SHAPE: &str = "
peer:
  id: jdoe
  networkId: dev
  listenAddress: 0.0.0.0:7051
  address: 0.0.0.0:7051
  addressAutoDetect: false
  gateway: {enabled: true, endorsementTimeout: 30s}
  keepalive: {interval: 7200s, client: {interval: 60s}}
  gossip: {bootstrap: 127.0.0.1:7051, endpoint: , externalEndpoint: }
  tls:
    enabled: false
    clientAuthRequired: false
    cert: {file: tls/server.crt}
    key: {file: tls/server.key}
    rootcert: {file: tls/ca.crt}
    clientRootCAs: {files: [tls/ca.crt]}
    clientKey: {file: }
    clientCert: {file: }
  authentication: {timewindow: 15m}
  fileSystemPath: /var/hyperledger/production
  BCCSP: {Default: SW, SW: {Hash: SHA2, Security: 256}}
  mspConfigPath: msp
  localMspId: SampleOrg
  client: {connTimeout: 3s}
  deliveryclient: {blockGossipEnabled: true, addressOverrides: }
  localMspType: bccsp
  profile: {enabled: false, listenAddress: 0.0.0.0:6060}
  handlers: {authFilters: [{name: DefaultAuth}]}
  validatorPoolSize:
  discovery: {enabled: true}
  limits: {concurrency: {endorserService: 2500}}
  maxRecvMsgSize: 104857600
  maxSendMsgSize: 104857600
vm: {endpoint: unix:///var/run/docker.sock}
chaincode: {mode: net, system: {cscc: enable}}
ledger: {state: {stateDatabase: goleveldb}}
operations:
  listenAddress: 127.0.0.1:9443
  tls: {enabled: false, clientRootCAs: {files: []}}
metrics: {provider: disabled, statsd: {network: udp}}
";

    #[test]
    fn core_yaml_shape_is_accepted() {
        let c = Config::parse(CORE_YAML_SHAPE).unwrap();
        assert_eq!(c.peer.local_msp_id, "SampleOrg");
        assert_eq!(c.peer.id, "jdoe");
        assert_eq!(
            c.peer.tls.root_cert_file,
            Some(std::path::PathBuf::from("tls/ca.crt"))
        );
        assert_eq!(c.peer.tls.client_root_cas.len(), 1);
    }

    #[test]
    fn unknown_keys_stay_errors() {
        for (text, key) in [
            (
                "peer: {gossip: {bootstrapp: a:1}}",
                "peer.gossip.bootstrapp",
            ),
            ("peer: {listenAdress: a:1}", "peer.listenAdress"),
            (
                "peer: {tls: {rootcert: {path: x}}}",
                "peer.tls.rootcert.path",
            ),
            ("fabgossip: {maxMember: 3}", "fabgossip.maxMember"),
            ("orderer: {}", "orderer"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert_eq!(e.0, format!("{key}: unknown key"), "{text}");
        }
    }

    #[test]
    fn tls_files_are_not_read_with_tls_off() {
        let c = Config::parse(CORE_YAML_SHAPE).unwrap();
        assert!(crate::deliver::ClientTlsIdentity::from_config(&c.peer.tls)
            .unwrap()
            .is_none());
        let on = ConfigOrigin {
            base_dir: "/nonexistent".into(),
            env: EnvOverrides::from_pairs([("CORE_PEER_TLS_ENABLED", "true")]),
        };
        let c = Config::load(CORE_YAML_SHAPE, &on).unwrap();
        let e = crate::deliver::ClientTlsIdentity::from_config(&c.peer.tls).unwrap_err();
        assert!(e.contains("/nonexistent/tls/server.crt"), "{e}");
    }

    #[test]
    fn empty_null_and_non_mapping_documents_are_errors() {
        for text in ["", "null", "~", "# a comment only\n", "---\n"] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.0.contains("empty"), "{text:?}: {e}");
        }
        for text in ["42", "[peer]", "just text"] {
            let e = Config::parse(text).unwrap_err();
            assert!(
                e.0.starts_with("config: expected a mapping"),
                "{text:?}: {e}"
            );
        }
    }
}
