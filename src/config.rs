//! Peer configuration: the `peer.gossip` keys of Fabric's `core.yaml` with the same names, units
//! and defaults, the few `peer.*` keys gossip needs (MSP ID, addresses, TLS, data directory), and a
//! `fabgossip` section for what only this library has (trusted orgs of the built-in crypto, a fixed
//! identity seed, static anchor peers).
//!
//! The text is YAML or JSON. An unknown key, or a value of the wrong kind, is an error that names
//! the full key (`peer.gossip.aliveTimeInterval: ...`), so a typo never silently falls back to a
//! default.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml_ng::Value;

mod admission;
mod env;
mod fabric_core;
mod paths;

pub use admission::AdmissionConfig;
pub use env::EnvOverrides;
pub use paths::ConfigOrigin;

/// `fabgossip.pushPolicy`: which block fan-out rule push follows (push turns it into its
/// `PushPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushPolicyConfig {
    /// `fabric`: Fabric's `propagatePeerNum` random peers and burst window.
    Fabric,
    /// `adaptive`: the fan-out from the channel view (see `push::policy`).
    #[default]
    Adaptive,
}

/// A configuration error; the text names the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(key: &str, what: impl std::fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("{key}: {what}")))
}

/// The whole configuration of one peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub peer: PeerConfig,
    pub gossip: GossipConfig,
    pub fabgossip: LibConfig,
    /// core.yaml's top-level `operations.listenAddress` and `metrics.provider`.
    pub operations: OperationsConfig,
}

/// Fabric's operations endpoint keys, used here for the `GET /metrics` listener only: it runs
/// when `metrics.provider` is `prometheus`, on `operations.listenAddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationsConfig {
    /// `operations.listenAddress`, Fabric's default `127.0.0.1:9443`.
    pub listen_address: String,
    /// `metrics.provider`: `prometheus` or `disabled` (Fabric's default; `statsd` is refused).
    pub metrics_provider: String,
}

impl OperationsConfig {
    /// The address to serve `GET /metrics` on, when the provider is `prometheus`.
    pub fn metrics_listen_address(&self) -> Option<&str> {
        (self.metrics_provider == "prometheus").then_some(self.listen_address.as_str())
    }
}

/// The `peer.*` keys outside `peer.gossip` that gossip reads.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// `peer.id`: a name for logs.
    pub id: String,
    /// `peer.localMspId`: this peer's organization.
    pub local_msp_id: String,
    /// `peer.listenAddress`: where the gossip gRPC server listens (port 0 picks a free port).
    pub listen_address: String,
    /// `peer.address`: the internal endpoint when `peer.gossip.endpoint` is empty.
    pub address: String,
    /// `peer.fileSystemPath`: the data directory.
    pub file_system_path: PathBuf,
    /// `peer.mspConfigPath`: where the built-in identity's seed lives (default: `<fileSystemPath>/msp`).
    pub msp_config_path: Option<PathBuf>,
    pub tls: TlsConfig,
    /// `peer.deliveryclient.*`.
    pub deliveryclient: DeliveryClientConfig,
}

/// One `peer.deliveryclient.addressOverrides` entry: dial `to` (trusting `ca_certs_file`
/// when given) wherever the channel names the orderer `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdererAddressOverride {
    pub from: String,
    pub to: String,
    pub ca_certs_file: Option<PathBuf>,
}

/// `peer.deliveryclient.*`: how the delivery service pulls blocks from the orderers.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryClientConfig {
    /// `blockGossipEnabled`: blocks from the orderer are also pushed to the org (Fabric's code
    /// default when the key is unset: true).
    pub block_gossip_enabled: bool,
    /// `reconnectTotalTimeThreshold` (3600s): after this long without reaching any orderer
    /// the service reports itself unreachable (a leader then yields).
    pub reconnect_total_time_threshold: Duration,
    /// `connTimeout` (3s): one dial attempt.
    pub conn_timeout: Duration,
    /// `reConnectBackoffThreshold` (3600s): the cap of the wait between attempts.
    pub reconnect_backoff_threshold: Duration,
    /// `minimalReconnectInterval` (100ms): the first wait, and the floor of every wait.
    pub minimal_reconnect_interval: Duration,
    /// `blockCensorshipTimeoutKey` (30s): read for BFT delivery, which is not implemented.
    pub block_censorship_timeout: Duration,
    /// `policy` ("cluster"): only the CFT behaviour (one orderer at a time) is implemented.
    pub policy: String,
    /// `addressOverrides`.
    pub address_overrides: Vec<OrdererAddressOverride>,
}

impl Default for DeliveryClientConfig {
    fn default() -> Self {
        DeliveryClientConfig {
            block_gossip_enabled: true,
            reconnect_total_time_threshold: Duration::from_secs(3600),
            conn_timeout: Duration::from_secs(3),
            reconnect_backoff_threshold: Duration::from_secs(3600),
            minimal_reconnect_interval: Duration::from_millis(100),
            block_censorship_timeout: Duration::from_secs(30),
            policy: "cluster".into(),
            address_overrides: Vec::new(),
        }
    }
}

/// `peer.tls.*`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    pub enabled: bool,
    /// `peer.tls.cert.file`; with TLS on and no file, a self-signed certificate is generated.
    pub cert_file: Option<PathBuf>,
    /// `peer.tls.key.file`.
    pub key_file: Option<PathBuf>,
    pub client_auth_required: bool,
    /// `peer.tls.clientCert.file`: the certificate presented to orderers that ask for one
    /// (mutual TLS); `peer.tls.cert.file` when unset.
    pub client_cert_file: Option<PathBuf>,
    /// `peer.tls.clientKey.file`; `peer.tls.key.file` when unset.
    pub client_key_file: Option<PathBuf>,
    /// `peer.tls.rootcert.file`: the CA that signs the TLS certificates of the peers and
    /// orderers this peer dials.
    pub root_cert_file: Option<PathBuf>,
    /// `peer.tls.clientRootCAs.files`: the CAs that sign the client certificates this peer
    /// accepts.
    pub client_root_cas: Vec<PathBuf>,
}

/// `peer.gossip.election.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct ElectionConfig {
    pub startup_grace_period: Duration,
    pub membership_sample_interval: Duration,
    pub leader_alive_threshold: Duration,
    pub leader_election_duration: Duration,
}

/// `peer.gossip.pvtData.implicitCollectionDisseminationPolicy.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImplicitCollectionPolicy {
    pub required_peer_count: u32,
    pub max_peer_count: u32,
}

/// `peer.gossip.pvtData.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct PvtDataConfig {
    pub pull_retry_threshold: Duration,
    pub transientstore_max_block_retention: u64,
    pub push_ack_timeout: Duration,
    pub btl_pull_margin: u64,
    pub reconcile_batch_size: u32,
    pub reconcile_sleep_interval: Duration,
    pub reconciliation_enabled: bool,
    pub skip_pulling_invalid_transactions_during_commit: bool,
    pub implicit_collection_dissemination_policy: ImplicitCollectionPolicy,
}

/// `peer.gossip.state.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateConfig {
    pub enabled: bool,
    pub check_interval: Duration,
    pub response_timeout: Duration,
    pub batch_size: u64,
    pub block_buffer_size: u64,
    pub max_retries: u32,
}

/// `peer.gossip.*`, every key of Fabric's `core.yaml` with its default.
#[derive(Debug, Clone, PartialEq)]
pub struct GossipConfig {
    /// Same-org peers contacted at start. core.yaml writes them space separated.
    pub bootstrap: Vec<String>,
    pub use_leader_election: bool,
    pub org_leader: bool,
    pub membership_tracker_interval: Duration,
    /// Internal endpoint override (empty: `peer.address`).
    pub endpoint: String,
    pub max_block_count_to_store: u64,
    pub max_propagation_burst_latency: Duration,
    pub max_propagation_burst_size: u32,
    pub propagate_iterations: u32,
    pub propagate_peer_num: u32,
    pub pull_interval: Duration,
    pub pull_peer_num: u32,
    pub request_state_info_interval: Duration,
    pub publish_state_info_interval: Duration,
    /// Accepted for compatibility; Fabric does not read it either.
    pub state_info_retention_interval: Option<Duration>,
    pub publish_cert_period: Duration,
    pub skip_block_verification: bool,
    pub dial_timeout: Duration,
    pub conn_timeout: Duration,
    pub recv_buff_size: u32,
    pub send_buff_size: u32,
    pub digest_wait_time: Duration,
    pub request_wait_time: Duration,
    pub response_wait_time: Duration,
    pub alive_time_interval: Duration,
    pub alive_expiration_timeout: Duration,
    pub reconnect_interval: Duration,
    pub max_connection_attempts: u32,
    pub msg_expiration_factor: u32,
    /// Endpoint published to other orgs; empty keeps this peer invisible to them.
    pub external_endpoint: String,
    pub election: ElectionConfig,
    pub pvt_data: PvtDataConfig,
    pub state: StateConfig,
}

/// An anchor peer named in the configuration (channels bring theirs through join messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorPeerConfig {
    pub host: String,
    pub port: u16,
    pub mspid: String,
}

impl AnchorPeerConfig {
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The `fabgossip` section: settings this library has and Fabric's `core.yaml` does not.
#[derive(Debug, Clone, PartialEq)]
pub struct LibConfig {
    /// Orgs the built-in crypto trusts besides this peer's own.
    pub trusted_orgs: Vec<String>,
    /// A fixed Ed25519 seed for the built-in identity (tests, interop); otherwise the seed is
    /// loaded from or generated into `peer.mspConfigPath`.
    pub identity_seed: Option<[u8; 32]>,
    pub anchor_peers: Vec<AnchorPeerConfig>,
    /// Largest gossip message accepted or sent, in bytes (Fabric: 100 MiB).
    pub max_message_size: usize,
    /// Most members (alive and dead) a peer holds; new ones beyond are refused and counted.
    pub max_members: usize,
    /// `fdatasync` the embedded file ledger after every commit (off: a machine crash may lose
    /// the last blocks, which the peer then pulls again).
    pub ledger_fsync: bool,
    /// `ledgerVerifyOnOpen`: check every record's checksum when the embedded file ledger
    /// opens (off: headers and the index only; a damaged body is found when it is read).
    pub ledger_verify_on_open: bool,
    /// `pushPolicy`: `adaptive` (default: a wide first hop from the channel view, relays at
    /// `propagatePeerNum`, the ring successor always a target, no burst window) or `fabric`
    /// (Fabric's `propagatePeerNum` random peers and burst window), for comparison.
    pub push_policy: PushPolicyConfig,
    /// `identityRevalidationInterval`: how often every stored identity is re-validated
    /// through the crypto contract (`Expiration`, `ValidateIdentity`), which catches
    /// revocations the host did not announce. Must be greater than zero.
    pub identity_revalidation_interval: Duration,
    /// `admission`: limits on inbound connections (handshake deadline, unauthenticated and
    /// per-address caps, file-descriptor reserve).
    pub admission: AdmissionConfig,
    /// `maxIdentities`: most peer identities the identity mapper holds; new ones beyond are
    /// refused and counted.
    pub max_identities: usize,
    /// `recvRateLimit`: messages per second one connection may deliver; the surplus is
    /// dropped and counted. 0 = no limit.
    pub recv_rate_limit: u32,
    /// `floodDisconnectDrops`: a connection with more messages dropped within one second is
    /// closed as a flooder. 0 = never.
    pub flood_disconnect_drops: u32,
    /// `callTimeout`: how long a C call waits for the gossip service's answer before it
    /// returns `FG_STATUS_TIMEOUT` (join, leave, add payload, ...). Must be greater than zero.
    pub call_timeout: Duration,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            bootstrap: vec!["127.0.0.1:7051".into()],
            use_leader_election: false,
            org_leader: true,
            membership_tracker_interval: Duration::from_secs(5),
            endpoint: String::new(),
            max_block_count_to_store: 10,
            max_propagation_burst_latency: Duration::from_millis(10),
            max_propagation_burst_size: 10,
            propagate_iterations: 1,
            propagate_peer_num: 3,
            pull_interval: Duration::from_secs(4),
            pull_peer_num: 3,
            request_state_info_interval: Duration::from_secs(4),
            publish_state_info_interval: Duration::from_secs(4),
            state_info_retention_interval: None,
            publish_cert_period: Duration::from_secs(10),
            skip_block_verification: false,
            dial_timeout: Duration::from_secs(3),
            conn_timeout: Duration::from_secs(2),
            recv_buff_size: 20,
            send_buff_size: 200,
            digest_wait_time: Duration::from_secs(1),
            request_wait_time: Duration::from_millis(1500),
            response_wait_time: Duration::from_secs(2),
            alive_time_interval: Duration::from_secs(5),
            alive_expiration_timeout: Duration::from_secs(25),
            reconnect_interval: Duration::from_secs(25),
            max_connection_attempts: 120,
            msg_expiration_factor: 20,
            external_endpoint: String::new(),
            election: ElectionConfig {
                startup_grace_period: Duration::from_secs(15),
                membership_sample_interval: Duration::from_secs(1),
                leader_alive_threshold: Duration::from_secs(10),
                leader_election_duration: Duration::from_secs(5),
            },
            pvt_data: PvtDataConfig {
                pull_retry_threshold: Duration::from_secs(60),
                transientstore_max_block_retention: 20000,
                push_ack_timeout: Duration::from_secs(3),
                btl_pull_margin: 10,
                reconcile_batch_size: 10,
                reconcile_sleep_interval: Duration::from_secs(60),
                reconciliation_enabled: true,
                skip_pulling_invalid_transactions_during_commit: false,
                implicit_collection_dissemination_policy: ImplicitCollectionPolicy {
                    required_peer_count: 0,
                    max_peer_count: 1,
                },
            },
            state: StateConfig {
                enabled: false,
                check_interval: Duration::from_secs(10),
                response_timeout: Duration::from_secs(3),
                batch_size: 10,
                block_buffer_size: 20,
                max_retries: 3,
            },
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            peer: PeerConfig {
                id: "peer0".into(),
                local_msp_id: "SampleOrg".into(),
                listen_address: "0.0.0.0:7051".into(),
                address: "0.0.0.0:7051".into(),
                file_system_path: PathBuf::from("/var/hyperledger/production"),
                msp_config_path: None,
                tls: TlsConfig::default(),
                deliveryclient: DeliveryClientConfig::default(),
            },
            gossip: GossipConfig::default(),
            fabgossip: LibConfig {
                trusted_orgs: Vec::new(),
                identity_seed: None,
                anchor_peers: Vec::new(),
                max_message_size: 100 * 1024 * 1024,
                max_members: 10_000,
                ledger_fsync: true,
                ledger_verify_on_open: false,
                push_policy: PushPolicyConfig::Adaptive,
                identity_revalidation_interval: Duration::from_secs(5),
                admission: AdmissionConfig::default(),
                max_identities: crate::identity::DEFAULT_MAX_IDENTITIES,
                recv_rate_limit: 5000,
                flood_disconnect_drops: 5000,
                call_timeout: Duration::from_secs(60),
            },
            operations: OperationsConfig {
                listen_address: "127.0.0.1:9443".into(),
                metrics_provider: "disabled".into(),
            },
        }
    }
}

impl Config {
    /// Parses YAML or JSON text. Keys that are absent keep Fabric's defaults. No environment
    /// overrides apply and relative paths stay relative (to the working directory); see
    /// [`Config::load`] for Fabric's rules.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Self::parse_with(text, &EnvOverrides::none(), None)
    }

    /// Parses config text as a Fabric peer reads its `core.yaml`: `CORE_*` overrides from
    /// `origin.env`, relative paths against `origin.base_dir`.
    pub fn load(text: &str, origin: &ConfigOrigin) -> Result<Config, ConfigError> {
        Self::parse_with(text, &origin.env, Some(&origin.base_dir))
    }

    /// Reads and parses the config file at `path` (relative paths against its folder, the
    /// process's `CORE_*` variables).
    pub fn load_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Self::load(&text, &ConfigOrigin::for_file(path)?)
    }

    fn parse_with(
        text: &str,
        env: &EnvOverrides,
        base_dir: Option<&std::path::Path>,
    ) -> Result<Config, ConfigError> {
        let root: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| ConfigError(format!("config is not valid YAML or JSON: {e}")))?;
        if matches!(root, Value::Null) {
            return Err(ConfigError(
                "config: the document is empty (or null); give a mapping with at least a \
                 `peer` section"
                    .into(),
            ));
        }
        let _env = env::install(env);
        let mut cfg = Config::default();
        let mut root = Section::new("", root)?;
        fabric_core::skip_unused(&mut root, fabric_core::UNUSED_SECTIONS);
        if let Some(v) = root.take("peer") {
            let mut peer = Section::new("peer", v)?;
            fabric_core::skip_unused(&mut peer, fabric_core::UNUSED_PEER_KEYS);
            cfg.parse_peer(&mut peer)?;
            peer.finish()?;
        }
        if let Some(v) = root.take("fabgossip") {
            let mut lib = Section::new("fabgossip", v)?;
            cfg.parse_lib(&mut lib)?;
            lib.finish()?;
        }
        if let Some(v) = root.take("operations") {
            let mut ops = Section::new("operations", v)?;
            ops.string("listenAddress", &mut cfg.operations.listen_address)?;
            // The TLS and auth keys of Fabric's operations server do not apply here.
            fabric_core::skip_unused(&mut ops, fabric_core::UNUSED_OPERATIONS_KEYS);
            ops.finish()?;
        }
        if let Some(v) = root.take("metrics") {
            let mut m = Section::new("metrics", v)?;
            m.string("provider", &mut cfg.operations.metrics_provider)?;
            fabric_core::skip_unused(&mut m, fabric_core::UNUSED_METRICS_KEYS);
            m.finish()?;
        }
        root.finish()?;
        if let Some(base) = base_dir {
            cfg.resolve_paths(base);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The internal endpoint other same-org peers reach this peer at.
    pub fn internal_endpoint(&self) -> &str {
        if self.gossip.endpoint.is_empty() {
            &self.peer.address
        } else {
            &self.gossip.endpoint
        }
    }

    /// Where the built-in identity's seed lives.
    pub fn msp_dir(&self) -> PathBuf {
        self.peer
            .msp_config_path
            .clone()
            .unwrap_or_else(|| self.peer.file_system_path.join("msp"))
    }

    fn parse_peer(&mut self, s: &mut Section) -> Result<(), ConfigError> {
        let p = &mut self.peer;
        s.string("id", &mut p.id)?;
        s.string("localMspId", &mut p.local_msp_id)?;
        s.string("listenAddress", &mut p.listen_address)?;
        s.string("address", &mut p.address)?;
        s.path("fileSystemPath", &mut p.file_system_path)?;
        s.opt_path("mspConfigPath", &mut p.msp_config_path)?;
        if let Some(v) = s.take("tls") {
            let mut t = s.child("tls", v)?;
            t.bool("enabled", &mut p.tls.enabled)?;
            t.bool("clientAuthRequired", &mut p.tls.client_auth_required)?;
            for (key, slot) in [
                ("cert", &mut p.tls.cert_file),
                ("key", &mut p.tls.key_file),
                ("clientCert", &mut p.tls.client_cert_file),
                ("clientKey", &mut p.tls.client_key_file),
            ] {
                if let Some(v) = t.take(key) {
                    let mut f = t.child(key, v)?;
                    f.opt_path("file", slot)?;
                    f.finish()?;
                }
            }
            if let Some(v) = t.take("rootcert") {
                let mut f = t.child("rootcert", v)?;
                f.opt_path("file", &mut p.tls.root_cert_file)?;
                f.finish()?;
            }
            if let Some(v) = t.take("clientRootCAs") {
                let mut f = t.child("clientRootCAs", v)?;
                if let Some(v) = f.take("files") {
                    p.tls.client_root_cas = string_list(&f.key("files"), v)?
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .map(PathBuf::from)
                        .collect();
                }
                f.finish()?;
            }
            t.finish()?;
        }
        if let Some(v) = s.take("gossip") {
            let mut g = s.child("gossip", v)?;
            parse_gossip(&mut g, &mut self.gossip)?;
            g.finish()?;
        }
        if let Some(v) = s.take("deliveryclient") {
            let mut d = s.child("deliveryclient", v)?;
            parse_deliveryclient(&mut d, &mut p.deliveryclient)?;
            d.finish()?;
        }
        Ok(())
    }

    fn parse_lib(&mut self, s: &mut Section) -> Result<(), ConfigError> {
        let l = &mut self.fabgossip;
        if let Some(v) = s.take("trustedOrgs") {
            l.trusted_orgs = string_list(&s.key("trustedOrgs"), v)?;
        }
        if let Some(v) = s.take("identitySeed") {
            let key = s.key("identitySeed");
            match v {
                Value::Null => {}
                Value::String(h) if h.is_empty() => {}
                Value::String(h) => {
                    let bytes =
                        hex::decode(h.trim()).or_else(|e| err(&key, format!("not hex: {e}")))?;
                    let seed: [u8; 32] = bytes
                        .try_into()
                        .or_else(|_| err(&key, "must be 32 bytes (64 hex digits)"))?;
                    l.identity_seed = Some(seed);
                }
                _ => return err(&key, "expected a hex string"),
            }
        }
        if let Some(v) = s.take("anchorPeers") {
            let key = s.key("anchorPeers");
            let Value::Sequence(items) = v else {
                return err(&key, "expected a list of {host, port, mspid}");
            };
            for (i, item) in items.into_iter().enumerate() {
                let mut a = Section::new(&format!("{key}[{i}]"), item)?;
                let mut anchor = AnchorPeerConfig {
                    host: String::new(),
                    port: 0,
                    mspid: String::new(),
                };
                a.string("host", &mut anchor.host)?;
                let mut port = 0u32;
                a.uint("port", &mut port)?;
                anchor.port = u16::try_from(port)
                    .ok()
                    .filter(|p| *p != 0)
                    .map_or_else(|| err(&a.key("port"), "expected a port in 1..65535"), Ok)?;
                a.string("mspid", &mut anchor.mspid)?;
                if anchor.host.is_empty() || anchor.mspid.is_empty() {
                    return err(&a.path, "an anchor peer needs host, port and mspid");
                }
                a.finish()?;
                l.anchor_peers.push(anchor);
            }
        }
        let mut max = l.max_message_size as u64;
        s.uint("maxMessageSize", &mut max)?;
        l.max_message_size = usize::try_from(max).unwrap_or(usize::MAX);
        s.uint("maxMembers", &mut l.max_members)?;
        s.uint("maxIdentities", &mut l.max_identities)?;
        if let Some(v) = s.take("admission") {
            let a = &mut l.admission;
            let mut c = s.child("admission", v)?;
            c.duration("handshakeTimeout", &mut a.handshake_timeout)?;
            c.uint("maxUnauthenticated", &mut a.max_unauthenticated)?;
            c.uint("maxPerAddress", &mut a.max_per_address)?;
            c.uint("fdReserve", &mut a.fd_reserve)?;
            c.finish()?;
        }
        s.bool("ledgerFsync", &mut l.ledger_fsync)?;
        s.bool("ledgerVerifyOnOpen", &mut l.ledger_verify_on_open)?;
        s.uint("recvRateLimit", &mut l.recv_rate_limit)?;
        s.uint("floodDisconnectDrops", &mut l.flood_disconnect_drops)?;
        s.duration("callTimeout", &mut l.call_timeout)?;
        let mut policy = String::new();
        s.string("pushPolicy", &mut policy)?;
        match policy.trim().to_ascii_lowercase().as_str() {
            "" => {}
            "adaptive" => l.push_policy = PushPolicyConfig::Adaptive,
            "fabric" => l.push_policy = PushPolicyConfig::Fabric,
            other => {
                return err(
                    &s.key("pushPolicy"),
                    format!("expected adaptive or fabric, got {other:?}"),
                )
            }
        }
        if let Some(v) = s.take("identityRevalidationInterval") {
            let key = s.key("identityRevalidationInterval");
            // Go durations may be negative; say what is wrong rather than "not a duration".
            if matches!(&v, Value::String(t) if t.trim_start().starts_with('-')) {
                return err(&key, "must be greater than zero");
            }
            if !matches!(v, Value::Null) {
                l.identity_revalidation_interval = duration_value(&key, v)?;
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let g = &self.gossip;
        if self.peer.local_msp_id.is_empty() {
            return err("peer.localMspId", "must not be empty");
        }
        if g.use_leader_election && g.org_leader {
            return err(
                "peer.gossip.useLeaderElection",
                "useLeaderElection and orgLeader are both true; choose one",
            );
        }
        for (key, d) in [
            ("peer.gossip.aliveTimeInterval", g.alive_time_interval),
            (
                "peer.gossip.aliveExpirationTimeout",
                g.alive_expiration_timeout,
            ),
            ("peer.gossip.reconnectInterval", g.reconnect_interval),
            ("peer.gossip.pullInterval", g.pull_interval),
            ("peer.gossip.dialTimeout", g.dial_timeout),
            ("peer.gossip.connTimeout", g.conn_timeout),
            (
                "peer.deliveryclient.connTimeout",
                self.peer.deliveryclient.conn_timeout,
            ),
            (
                "peer.deliveryclient.minimalReconnectInterval",
                self.peer.deliveryclient.minimal_reconnect_interval,
            ),
        ] {
            if d.is_zero() {
                return err(key, "must be greater than zero");
            }
        }
        if g.send_buff_size == 0 {
            return err("peer.gossip.sendBuffSize", "must be greater than zero");
        }
        if self.fabgossip.identity_revalidation_interval.is_zero() {
            return err(
                "fabgossip.identityRevalidationInterval",
                "must be greater than zero",
            );
        }
        if let Err((key, why)) = self.fabgossip.admission.check() {
            return err(&format!("fabgossip.admission.{key}"), why);
        }
        if self.fabgossip.call_timeout.is_zero() {
            return err("fabgossip.callTimeout", "must be greater than zero");
        }
        if self.fabgossip.max_identities == 0 {
            return err("fabgossip.maxIdentities", "must be greater than zero");
        }
        if self.fabgossip.max_members == 0 {
            return err("fabgossip.maxMembers", "must be greater than zero");
        }
        match self.operations.metrics_provider.as_str() {
            "disabled" => {}
            "prometheus" if self.operations.listen_address.is_empty() => {
                return err(
                    "operations.listenAddress",
                    "must not be empty with prometheus",
                )
            }
            "prometheus" => {}
            other => {
                return err(
                    "metrics.provider",
                    format!("{other:?} is not supported; use prometheus or disabled"),
                )
            }
        }
        if self.fabgossip.max_message_size < 1024 {
            return err("fabgossip.maxMessageSize", "must be at least 1024 bytes");
        }
        Ok(())
    }
}

fn parse_deliveryclient(s: &mut Section, d: &mut DeliveryClientConfig) -> Result<(), ConfigError> {
    s.bool("blockGossipEnabled", &mut d.block_gossip_enabled)?;
    s.duration(
        "reconnectTotalTimeThreshold",
        &mut d.reconnect_total_time_threshold,
    )?;
    s.duration("connTimeout", &mut d.conn_timeout)?;
    s.duration(
        "reConnectBackoffThreshold",
        &mut d.reconnect_backoff_threshold,
    )?;
    s.duration(
        "minimalReconnectInterval",
        &mut d.minimal_reconnect_interval,
    )?;
    s.duration("blockCensorshipTimeoutKey", &mut d.block_censorship_timeout)?;
    s.string("policy", &mut d.policy)?;
    if let Some(v) = s.take("addressOverrides") {
        let key = s.key("addressOverrides");
        let items = match v {
            Value::Null => Vec::new(),
            Value::Sequence(items) => items,
            _ => return err(&key, "expected a list of {from, to, caCertsFile}"),
        };
        d.address_overrides.clear();
        for (i, item) in items.into_iter().enumerate() {
            let mut o = Section::new(&format!("{key}[{i}]"), item)?;
            let mut ov = OrdererAddressOverride {
                from: String::new(),
                to: String::new(),
                ca_certs_file: None,
            };
            o.string("from", &mut ov.from)?;
            o.string("to", &mut ov.to)?;
            o.opt_path("caCertsFile", &mut ov.ca_certs_file)?;
            let k = o.key("from");
            o.finish()?;
            if ov.from.is_empty() || ov.to.is_empty() {
                return err(&k, "an address override needs both from and to");
            }
            d.address_overrides.push(ov);
        }
    }
    Ok(())
}

fn parse_gossip(s: &mut Section, g: &mut GossipConfig) -> Result<(), ConfigError> {
    if let Some(v) = s.take("bootstrap") {
        let key = s.key("bootstrap");
        g.bootstrap = match v {
            Value::Null => Vec::new(),
            // core.yaml lists bootstrap peers separated by spaces.
            Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
            seq @ Value::Sequence(_) => string_list(&key, seq)?,
            _ => {
                return err(
                    &key,
                    "expected a space-separated string or a list of endpoints",
                )
            }
        };
    }
    s.bool("useLeaderElection", &mut g.use_leader_election)?;
    s.bool("orgLeader", &mut g.org_leader)?;
    s.duration(
        "membershipTrackerInterval",
        &mut g.membership_tracker_interval,
    )?;
    s.string("endpoint", &mut g.endpoint)?;
    s.uint("maxBlockCountToStore", &mut g.max_block_count_to_store)?;
    s.duration(
        "maxPropagationBurstLatency",
        &mut g.max_propagation_burst_latency,
    )?;
    s.uint("maxPropagationBurstSize", &mut g.max_propagation_burst_size)?;
    s.uint("propagateIterations", &mut g.propagate_iterations)?;
    s.uint("propagatePeerNum", &mut g.propagate_peer_num)?;
    s.duration("pullInterval", &mut g.pull_interval)?;
    s.uint("pullPeerNum", &mut g.pull_peer_num)?;
    s.duration(
        "requestStateInfoInterval",
        &mut g.request_state_info_interval,
    )?;
    s.duration(
        "publishStateInfoInterval",
        &mut g.publish_state_info_interval,
    )?;
    if let Some(v) = s.take("stateInfoRetentionInterval") {
        let key = s.key("stateInfoRetentionInterval");
        g.state_info_retention_interval = match v {
            Value::Null => None,
            v => Some(duration_value(&key, v)?),
        };
    }
    s.duration("publishCertPeriod", &mut g.publish_cert_period)?;
    s.bool("skipBlockVerification", &mut g.skip_block_verification)?;
    s.duration("dialTimeout", &mut g.dial_timeout)?;
    s.duration("connTimeout", &mut g.conn_timeout)?;
    s.uint("recvBuffSize", &mut g.recv_buff_size)?;
    s.uint("sendBuffSize", &mut g.send_buff_size)?;
    s.duration("digestWaitTime", &mut g.digest_wait_time)?;
    s.duration("requestWaitTime", &mut g.request_wait_time)?;
    s.duration("responseWaitTime", &mut g.response_wait_time)?;
    s.duration("aliveTimeInterval", &mut g.alive_time_interval)?;
    s.duration("aliveExpirationTimeout", &mut g.alive_expiration_timeout)?;
    s.duration("reconnectInterval", &mut g.reconnect_interval)?;
    s.uint("maxConnectionAttempts", &mut g.max_connection_attempts)?;
    s.uint("msgExpirationFactor", &mut g.msg_expiration_factor)?;
    s.string("externalEndpoint", &mut g.external_endpoint)?;
    if let Some(v) = s.take("election") {
        let e = &mut g.election;
        let mut c = s.child("election", v)?;
        c.duration("startupGracePeriod", &mut e.startup_grace_period)?;
        c.duration(
            "membershipSampleInterval",
            &mut e.membership_sample_interval,
        )?;
        c.duration("leaderAliveThreshold", &mut e.leader_alive_threshold)?;
        c.duration("leaderElectionDuration", &mut e.leader_election_duration)?;
        c.finish()?;
    }
    if let Some(v) = s.take("pvtData") {
        let p = &mut g.pvt_data;
        let mut c = s.child("pvtData", v)?;
        c.duration("pullRetryThreshold", &mut p.pull_retry_threshold)?;
        c.uint(
            "transientstoreMaxBlockRetention",
            &mut p.transientstore_max_block_retention,
        )?;
        c.duration("pushAckTimeout", &mut p.push_ack_timeout)?;
        c.uint("btlPullMargin", &mut p.btl_pull_margin)?;
        c.uint("reconcileBatchSize", &mut p.reconcile_batch_size)?;
        c.duration("reconcileSleepInterval", &mut p.reconcile_sleep_interval)?;
        c.bool("reconciliationEnabled", &mut p.reconciliation_enabled)?;
        c.bool(
            "skipPullingInvalidTransactionsDuringCommit",
            &mut p.skip_pulling_invalid_transactions_during_commit,
        )?;
        if let Some(v) = c.take("implicitCollectionDisseminationPolicy") {
            let i = &mut p.implicit_collection_dissemination_policy;
            let mut ic = c.child("implicitCollectionDisseminationPolicy", v)?;
            ic.uint("requiredPeerCount", &mut i.required_peer_count)?;
            ic.uint("maxPeerCount", &mut i.max_peer_count)?;
            ic.finish()?;
        }
        c.finish()?;
    }
    if let Some(v) = s.take("state") {
        let st = &mut g.state;
        let mut c = s.child("state", v)?;
        c.bool("enabled", &mut st.enabled)?;
        c.duration("checkInterval", &mut st.check_interval)?;
        c.duration("responseTimeout", &mut st.response_timeout)?;
        c.uint("batchSize", &mut st.batch_size)?;
        c.uint("blockBufferSize", &mut st.block_buffer_size)?;
        c.uint("maxRetries", &mut st.max_retries)?;
        c.finish()?;
    }
    Ok(())
}

/// One mapping of the config tree. Keys are taken out as they are read, so whatever is left at
/// `finish` is unknown and reported by its full name.
struct Section {
    path: String,
    entries: BTreeMap<String, Value>,
}

impl Section {
    fn new(path: &str, v: Value) -> Result<Section, ConfigError> {
        let entries = match v {
            Value::Null => BTreeMap::new(),
            Value::Mapping(m) => {
                let mut entries = BTreeMap::new();
                for (k, v) in m {
                    let Value::String(k) = k else {
                        return err(path, "keys must be strings");
                    };
                    entries.insert(k, v);
                }
                entries
            }
            _ => {
                let path = if path.is_empty() { "config" } else { path };
                return err(path, "expected a mapping of keys");
            }
        };
        Ok(Section {
            path: path.to_owned(),
            entries,
        })
    }

    fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_owned()
        } else {
            format!("{}.{k}", self.path)
        }
    }

    fn child(&self, k: &str, v: Value) -> Result<Section, ConfigError> {
        Section::new(&self.key(k), v)
    }

    /// The value of `k`, a `CORE_*` override first; removed so `finish` sees it as read.
    fn take(&mut self, k: &str) -> Option<Value> {
        let v = self.entries.remove(k);
        env::apply(&self.key(k), v)
    }

    fn finish(self) -> Result<(), ConfigError> {
        match self.entries.keys().next() {
            Some(k) => err(&self.key(k), "unknown key"),
            None => Ok(()),
        }
    }

    fn string(&mut self, k: &str, slot: &mut String) -> Result<(), ConfigError> {
        match self.take(k) {
            None => Ok(()),
            Some(Value::Null) => {
                slot.clear();
                Ok(())
            }
            Some(Value::String(s)) => {
                *slot = s;
                Ok(())
            }
            Some(_) => err(&self.key(k), "expected a string"),
        }
    }

    fn path(&mut self, k: &str, slot: &mut PathBuf) -> Result<(), ConfigError> {
        match self.take(k) {
            None => Ok(()),
            Some(Value::String(s)) if !s.is_empty() => {
                *slot = PathBuf::from(s);
                Ok(())
            }
            Some(Value::String(_) | Value::Null) => err(&self.key(k), "must not be empty"),
            Some(_) => err(&self.key(k), "expected a string"),
        }
    }

    fn opt_path(&mut self, k: &str, slot: &mut Option<PathBuf>) -> Result<(), ConfigError> {
        match self.take(k) {
            None => Ok(()),
            Some(Value::Null) => {
                *slot = None;
                Ok(())
            }
            Some(Value::String(s)) => {
                *slot = (!s.is_empty()).then(|| PathBuf::from(s));
                Ok(())
            }
            Some(_) => err(&self.key(k), "expected a string"),
        }
    }

    fn bool(&mut self, k: &str, slot: &mut bool) -> Result<(), ConfigError> {
        match self.take(k) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Bool(b)) => {
                *slot = b;
                Ok(())
            }
            // Text such as an environment override, read as Go reads a boolean.
            Some(Value::String(t)) => match env::parse_bool(&t) {
                Some(b) => {
                    *slot = b;
                    Ok(())
                }
                None => err(&self.key(k), "expected true or false"),
            },
            Some(_) => err(&self.key(k), "expected true or false"),
        }
    }

    fn uint<T: TryFrom<u64>>(&mut self, k: &str, slot: &mut T) -> Result<(), ConfigError> {
        let key = self.key(k);
        match self.take(k) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| T::try_from(n).ok()) {
                Some(v) => {
                    *slot = v;
                    Ok(())
                }
                None => err(&key, format!("{n} is not a non-negative integer in range")),
            },
            Some(Value::String(t)) => match t
                .trim()
                .parse::<u64>()
                .ok()
                .and_then(|n| T::try_from(n).ok())
            {
                Some(v) => {
                    *slot = v;
                    Ok(())
                }
                None => err(
                    &key,
                    format!("{t:?} is not a non-negative integer in range"),
                ),
            },
            Some(_) => err(&key, "expected a non-negative integer"),
        }
    }

    fn duration(&mut self, k: &str, slot: &mut Duration) -> Result<(), ConfigError> {
        let key = self.key(k);
        match self.take(k) {
            None | Some(Value::Null) => Ok(()),
            Some(v) => {
                *slot = duration_value(&key, v)?;
                Ok(())
            }
        }
    }
}

fn string_list(key: &str, v: Value) -> Result<Vec<String>, ConfigError> {
    match v {
        Value::Null => Ok(Vec::new()),
        // A space-separated list, as an environment override gives one.
        Value::String(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Value::Sequence(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                _ => err(key, "expected a list of strings"),
            })
            .collect(),
        _ => err(key, "expected a list of strings"),
    }
}

fn duration_value(key: &str, v: Value) -> Result<Duration, ConfigError> {
    match v {
        Value::String(s) => parse_duration(&s).map_err(|e| ConfigError(format!("{key}: {e}"))),
        _ => err(key, "expected a duration such as \"5s\" or \"1500ms\""),
    }
}

/// Parses Go's duration syntax as core.yaml uses it: a sequence of decimal numbers with units
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` ("1m30s", "1500ms", "2.5s").
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as \"5s\" or \"1500ms\"");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    // Go's durations are i64 nanoseconds (about 292 years); like Go, refuse what does not fit,
    // so that no deadline computed from a configured duration overflows the clock.
    if total > i64::MAX as f64 / 1e9 {
        return Err(format!(
            "{text:?} is out of range (at most about 292 years)"
        ));
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_core_yaml_defaults() {
        let c = Config::parse("{}").unwrap();
        assert_eq!(c.gossip, GossipConfig::default());
        assert_eq!(c.gossip.send_buff_size, 200);
        assert_eq!(c.gossip.alive_expiration_timeout, Duration::from_secs(25));
        assert_eq!(c.gossip.request_wait_time, Duration::from_millis(1500));
        assert!(c.gossip.org_leader && !c.gossip.use_leader_election);
    }

    #[test]
    fn tls_client_certificate_keys() {
        let c = Config::parse(
            "peer:\n  tls:\n    clientCert:\n      file: /tmp/cc.pem\n    clientKey:\n      file: /tmp/ck.pem\n",
        )
        .unwrap();
        assert_eq!(
            c.peer.tls.client_cert_file,
            Some(PathBuf::from("/tmp/cc.pem"))
        );
        assert_eq!(
            c.peer.tls.client_key_file,
            Some(PathBuf::from("/tmp/ck.pem"))
        );
        let e = Config::parse("peer:\n  tls:\n    clientCert:\n      path: /x\n").unwrap_err();
        assert!(e.to_string().contains("peer.tls.clientCert.path"), "{e}");
    }

    #[test]
    fn yaml_keys_override_defaults() {
        let c = Config::parse(
            "peer:\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:0\n  tls:\n    enabled: true\n    cert:\n      file: /tmp/c.pem\n  gossip:\n    bootstrap: 127.0.0.1:7052 127.0.0.1:7053\n    aliveTimeInterval: 200ms\n    externalEndpoint:\n    election:\n      leaderAliveThreshold: 1m30s\n    state:\n      batchSize: 40\nfabgossip:\n  trustedOrgs: [Org2MSP]\n  anchorPeers:\n    - {host: 127.0.0.1, port: 7051, mspid: Org1MSP}\n",
        )
        .unwrap();
        assert_eq!(c.peer.local_msp_id, "Org1MSP");
        assert!(c.peer.tls.enabled);
        assert_eq!(c.peer.tls.cert_file, Some(PathBuf::from("/tmp/c.pem")));
        assert_eq!(c.gossip.bootstrap, vec!["127.0.0.1:7052", "127.0.0.1:7053"]);
        assert_eq!(c.gossip.alive_time_interval, Duration::from_millis(200));
        assert_eq!(c.gossip.external_endpoint, "");
        assert_eq!(
            c.gossip.election.leader_alive_threshold,
            Duration::from_secs(90)
        );
        assert_eq!(c.gossip.state.batch_size, 40);
        assert_eq!(c.fabgossip.trusted_orgs, vec!["Org2MSP"]);
        assert_eq!(c.fabgossip.anchor_peers[0].endpoint(), "127.0.0.1:7051");
    }

    #[test]
    fn deliveryclient_keys() {
        let d = Config::parse("{}").unwrap().peer.deliveryclient;
        assert_eq!(d, DeliveryClientConfig::default());
        assert!(d.block_gossip_enabled);
        assert_eq!(d.reconnect_total_time_threshold, Duration::from_secs(3600));
        assert_eq!(d.conn_timeout, Duration::from_secs(3));
        let c = Config::parse(
            "peer:\n  deliveryclient:\n    blockGossipEnabled: false\n    reconnectTotalTimeThreshold: 5s\n    connTimeout: 1s\n    reConnectBackoffThreshold: 2s\n    minimalReconnectInterval: 50ms\n    blockCensorshipTimeoutKey: 10s\n    policy: simple\n    addressOverrides:\n      - {from: 'o1:7050', to: '127.0.0.1:7050', caCertsFile: /tmp/ca.pem}\n",
        )
        .unwrap();
        let d = c.peer.deliveryclient;
        assert!(!d.block_gossip_enabled);
        assert_eq!(d.reconnect_total_time_threshold, Duration::from_secs(5));
        assert_eq!(d.reconnect_backoff_threshold, Duration::from_secs(2));
        assert_eq!(d.minimal_reconnect_interval, Duration::from_millis(50));
        assert_eq!(d.policy, "simple");
        assert_eq!(d.address_overrides[0].to, "127.0.0.1:7050");
        let e = Config::parse("peer:\n  deliveryclient:\n    connTimeot: 1s\n").unwrap_err();
        assert!(e.0.contains("peer.deliveryclient.connTimeot"), "{e}");
        let e =
            Config::parse("peer:\n  deliveryclient:\n    addressOverrides:\n      - {from: a}\n")
                .unwrap_err();
        assert!(e.0.contains("addressOverrides"), "{e}");
    }

    #[test]
    fn json_is_accepted() {
        let c = Config::parse(
            r#"{"peer": {"gossip": {"bootstrap": ["a:1", "b:2"], "sendBuffSize": 5}}}"#,
        )
        .unwrap();
        assert_eq!(c.gossip.bootstrap, vec!["a:1", "b:2"]);
        assert_eq!(c.gossip.send_buff_size, 5);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("peer:\n  gossip:\n    aliveTimeIntervall: 5s\n").unwrap_err();
        assert_eq!(e.0, "peer.gossip.aliveTimeIntervall: unknown key");
        let e = Config::parse("peers: {}\n").unwrap_err();
        assert_eq!(e.0, "peers: unknown key");
        let e = Config::parse("peer:\n  gossip:\n    state:\n      enable: true\n").unwrap_err();
        assert_eq!(e.0, "peer.gossip.state.enable: unknown key");
    }

    #[test]
    fn malformed_values_are_named() {
        let e = Config::parse("peer:\n  gossip:\n    aliveTimeInterval: 5 seconds\n").unwrap_err();
        assert!(e.0.starts_with("peer.gossip.aliveTimeInterval: "), "{e}");
        let e = Config::parse("peer:\n  gossip:\n    sendBuffSize: -1\n").unwrap_err();
        assert!(e.0.starts_with("peer.gossip.sendBuffSize: "), "{e}");
        let e = Config::parse("peer:\n  gossip:\n    orgLeader: yes please\n").unwrap_err();
        assert!(e.0.starts_with("peer.gossip.orgLeader: "), "{e}");
        let e = Config::parse("fabgossip:\n  identitySeed: abcd\n").unwrap_err();
        assert!(e.0.starts_with("fabgossip.identitySeed: "), "{e}");
        let e = Config::parse("fabgossip:\n  anchorPeers: [{host: h, port: 70000, mspid: O}]\n")
            .unwrap_err();
        assert!(e.0.starts_with("fabgossip.anchorPeers[0].port: "), "{e}");
        let e = Config::parse("[1, 2]").unwrap_err();
        assert!(e.0.starts_with("config: "), "{e}");
        let e = Config::parse("peer: {gossip: {aliveTimeInterval: 0s}}").unwrap_err();
        assert!(e.0.starts_with("peer.gossip.aliveTimeInterval: "), "{e}");
    }

    #[test]
    fn leader_election_and_org_leader_conflict() {
        let e = Config::parse("peer: {gossip: {useLeaderElection: true}}").unwrap_err();
        assert!(e.0.contains("useLeaderElection"), "{e}");
        Config::parse("peer: {gossip: {useLeaderElection: true, orgLeader: false}}").unwrap();
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2.5s").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "s", "5x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_beyond_go_range_are_refused() {
        // 2562047h is within Go's i64 nanoseconds; 10^19 s once overflowed the timers' clock.
        assert!(parse_duration("2562047h").is_ok());
        for huge in ["2562048h", "10000000000000000000s", "99999999999999999999h"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        let e = Config::parse(
            "peer: {localMspId: Org1MSP, gossip: {aliveTimeInterval: 10000000000000000000s}}",
        )
        .unwrap_err();
        assert!(e.0.contains("aliveTimeInterval"), "{e}");
    }

    #[test]
    fn internal_endpoint_prefers_gossip_endpoint() {
        let c = Config::parse("peer: {address: 'a:1'}").unwrap();
        assert_eq!(c.internal_endpoint(), "a:1");
        let c = Config::parse("peer: {address: 'a:1', gossip: {endpoint: 'b:2'}}").unwrap();
        assert_eq!(c.internal_endpoint(), "b:2");
    }

    #[test]
    fn push_policy_key() {
        let c = Config::parse("{}").unwrap();
        assert_eq!(c.fabgossip.push_policy, PushPolicyConfig::Adaptive);
        let c = Config::parse("fabgossip: {pushPolicy: fabric}").unwrap();
        assert_eq!(c.fabgossip.push_policy, PushPolicyConfig::Fabric);
        let c = Config::parse("fabgossip: {pushPolicy: Adaptive}").unwrap();
        assert_eq!(c.fabgossip.push_policy, PushPolicyConfig::Adaptive);
        let e = Config::parse("fabgossip: {pushPolicy: eager}").unwrap_err();
        assert!(e.0.starts_with("fabgossip.pushPolicy: "), "{e}");
        assert!(Config::parse("fabgossip: {pushPolicy: [fabric]}").is_err());
    }

    #[test]
    fn admission_and_max_identities_keys() {
        let c = Config::parse("{}").unwrap();
        assert_eq!(c.fabgossip.admission, AdmissionConfig::default());
        assert_eq!(
            c.fabgossip.max_identities,
            crate::identity::DEFAULT_MAX_IDENTITIES
        );
        let c = Config::parse(
            "fabgossip: {maxIdentities: 7, admission: {handshakeTimeout: 1500ms, \
             maxUnauthenticated: 3, maxPerAddress: 2, fdReserve: 0}}",
        )
        .unwrap();
        assert_eq!(c.fabgossip.max_identities, 7);
        let a = c.fabgossip.admission;
        assert_eq!(a.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(
            (a.max_unauthenticated, a.max_per_address, a.fd_reserve),
            (3, 2, 0)
        );
        for (text, key) in [
            (
                "fabgossip: {admission: {handshakeTimeout: 0s}}",
                "fabgossip.admission.handshakeTimeout: ",
            ),
            (
                "fabgossip: {admission: {maxPerAddress: 0}}",
                "fabgossip.admission.maxPerAddress: ",
            ),
            (
                "fabgossip: {admission: {maxUnauthenticated: 0}}",
                "fabgossip.admission.maxUnauthenticated: ",
            ),
            (
                "fabgossip: {admission: {maxConns: 5}}",
                "fabgossip.admission.maxConns",
            ),
            ("fabgossip: {maxIdentities: 0}", "fabgossip.maxIdentities: "),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.0.starts_with(key), "{text}: {e}");
        }
    }

    #[test]
    fn identity_revalidation_interval_key() {
        let c = Config::parse("{}").unwrap();
        assert_eq!(
            c.fabgossip.identity_revalidation_interval,
            Duration::from_secs(5)
        );
        let c = Config::parse("fabgossip: {identityRevalidationInterval: 1m30s}").unwrap();
        assert_eq!(
            c.fabgossip.identity_revalidation_interval,
            Duration::from_secs(90)
        );
        for bad in ["0", "0s", "-5s", " -1ms", "soon", "[5s]"] {
            let text = format!("fabgossip: {{identityRevalidationInterval: '{bad}'}}");
            let e = Config::parse(&text).unwrap_err();
            assert!(
                e.0.starts_with("fabgossip.identityRevalidationInterval: "),
                "{bad}: {e}"
            );
        }
        let e = Config::parse("fabgossip: {identityRevalidationInterval: 0s}").unwrap_err();
        assert!(e.0.contains("greater than zero"), "{e}");
        let e = Config::parse("fabgossip: {identityRevalidationInterval: -2s}").unwrap_err();
        assert!(e.0.contains("greater than zero"), "{e}");
    }
}

#[cfg(test)]
mod operations_tests {
    use super::*;

    #[test]
    fn metrics_listener_keys() {
        let c = Config::parse("peer: {localMspId: Org1MSP}").unwrap();
        assert_eq!(
            c.operations.metrics_listen_address(),
            None,
            "disabled by default"
        );
        let c = Config::parse(
            "peer: {localMspId: Org1MSP}\noperations: {listenAddress: '127.0.0.1:0'}\n\
             metrics: {provider: prometheus}",
        )
        .unwrap();
        assert_eq!(c.operations.metrics_listen_address(), Some("127.0.0.1:0"));
        let c =
            Config::parse("peer: {localMspId: Org1MSP}\nmetrics: {provider: prometheus}").unwrap();
        assert_eq!(
            c.operations.metrics_listen_address(),
            Some("127.0.0.1:9443")
        );
        let e =
            Config::parse("peer: {localMspId: Org1MSP}\nmetrics: {provider: statsd}").unwrap_err();
        assert!(e.0.starts_with("metrics.provider"), "{e}");
        let e = Config::parse("peer: {localMspId: Org1MSP}\noperations: {listenAdress: x}")
            .unwrap_err();
        assert!(e.0.contains("operations.listenAdress"), "{e}");
    }
}
