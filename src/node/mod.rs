//! `GossipService`: one gossip peer. It owns comm, the membership machine and the channel
//! registry and runs them on the caller's Tokio runtime. Everything is a plain value: a test
//! can run many services in one process; the process-wide singleton lives only in the FFI
//! layer.
//!
//! One owner task (`driver`) holds the machines. Host calls that change state reach it as
//! commands with a oneshot reply (`command`); queries read snapshots it publishes, so they
//! never wait on the network.

pub mod alive_check;
mod blocks;
mod builtin;
mod channel_info;
mod command;
mod config_block;
mod counters;
mod driver;
pub mod explain;
mod privdata;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::info;

pub use alive_check::{verify_alive, AliveReject};
pub use blocks::{BlockCounters, ChannelBlockStats, PvtCommitMetrics};
pub use builtin::builtin_crypto;
pub use channel_info::{ChaincodeInfo, ChannelPeerInfo};
pub use counters::NodeCounters;
pub use driver::election::{
    LeadershipCounters, LeadershipEvent, LeadershipListener, LeadershipShared,
};
pub use explain::{Explanation, PeerTracker, QueryError, Reason};
pub use privdata::{
    DistributeError, DistributionReport, PvtExplainError, PvtExplanation, PvtReason,
};

use crate::channel::{
    ChannelConfig, ChannelCounters, ChannelError, ChannelSelf, Channels, JoinChannelMessage,
    MapperVerifier,
};
use crate::comm::{Comm, CommConfig, CommMetricsSnapshot, TlsIdentity, TlsRoots};
use crate::config::Config;
use crate::crypto::ed25519::Ed25519Crypto;
use crate::crypto::CryptoContext;
use crate::deliver::{ClientTlsIdentity, DeliveryFactory, DeliveryStats, OrdererDeliveryFactory};
use crate::discovery::{Discovery, DiscoveryConfig, Input, SelfInfo};
use crate::election::LeadershipMode;
use crate::identity::{CertStore, IdentityMapper, IdentityStats};
use crate::ledger::{FileLedgerOptions, FileLedgerProvider, LedgerProvider};
use crate::pull::PullConfig;
use crate::push::{PushConfig, PushEmitter};
use crate::state::McsVerifier;
use crate::sync::{MutexExt, RwLockExt};
use command::Command;
use driver::election::Elections;
use driver::{ChannelSnapshot, Deliveries, DeliveryTable, Driver};

/// Why the service could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("config: {0}")]
    Config(String),
    #[error("io: {0}")]
    Io(String),
    #[error("crypto: {0}")]
    Crypto(String),
    #[error("comm: {0}")]
    Comm(String),
}

/// Why a channel call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelCallError {
    /// The registry refused the call (bad join message, unknown or left channel).
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The service is stopped or stopping.
    #[error("the gossip service is stopped")]
    Stopped,
    /// The channel's ledger could not be opened.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The block failed verification; it was dropped and not forwarded.
    #[error("invalid block: {0}")]
    InvalidBlock(String),
    /// The block is too far above the ledger height; offer it again once commits progress.
    #[error("block {seq} is too far ahead of the ledger height {height}")]
    TooFarAhead { seq: u64, height: u64 },
    /// The config block given to join is not a readable config block of the channel.
    #[error("config block: {0}")]
    ConfigBlock(crate::channelconfig::ConfigError),
}

/// Why the ledger provider could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerProviderError {
    /// Ledgers of these channels are open; the provider applies to channels joined later,
    /// so it may change only while none is joined.
    #[error("channels {0:?} are joined; set the ledger before joining or after leaving them")]
    ChannelsJoined(Vec<String>),
    /// The service is stopped or stopping.
    #[error("the gossip service is stopped")]
    Stopped,
}

/// Liveness of a member as reported to hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerState {
    Alive,
    Dead,
}

/// One member of the view, as `fg_peers` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerInfo {
    /// Lowercase hex.
    pub pki_id: String,
    /// External endpoint; empty when the peer publishes none.
    pub endpoint: String,
    /// Internal endpoint; known only for peers of this org.
    pub internal_endpoint: String,
    pub org: String,
    pub state: PeerState,
}

/// What a metrics scrape reads: shared handles to the snapshots, cheap to clone into the
/// metrics listener.
#[derive(Clone)]
struct MetricsParts {
    comm: Comm,
    tracker: Arc<PeerTracker>,
    channel_view: Arc<RwLock<ChannelSnapshot>>,
    counters: Arc<NodeCounters>,
    leadership: Arc<LeadershipShared>,
    deliveries: DeliveryTable,
    identity_view: Arc<RwLock<IdentityStats>>,
    /// The crypto, for the built-in MSP's decisions.
    mcs: Arc<dyn crate::crypto::MessageCryptoService>,
}

impl MetricsParts {
    fn snapshot(&self) -> crate::metrics::Snapshot {
        use crate::metrics::ChannelMetrics;
        let leaders = self.leadership.snapshot.read_locked().leaders.clone();
        let (channel_registry, channels) = {
            let view = self.channel_view.read_locked();
            let mut names: Vec<&String> = view.peers.keys().chain(view.blocks.keys()).collect();
            names.sort();
            names.dedup();
            let channels = names
                .into_iter()
                .map(|name| {
                    let blocks = view.blocks.get(name).cloned();
                    let delivery = driver::delivery_stats(&self.deliveries, name).map(|mut d| {
                        d.lag = d
                            .next_block
                            .saturating_sub(blocks.as_ref().map_or(0, |b| b.height));
                        d
                    });
                    ChannelMetrics {
                        name: name.clone(),
                        blocks,
                        peers_known: view.peers.get(name).map_or(0, Vec::len),
                        leader: leaders.get(name).copied(),
                        delivery,
                        privdata: view.privdata.get(name).map(|p| p.stats()),
                    }
                })
                .collect();
            (view.counters.clone(), channels)
        };
        crate::metrics::Snapshot {
            comm: self.comm.metrics(),
            connected: self.comm.connected(),
            contacts: self.comm.peer_history().endpoints(),
            members: self.tracker.members(),
            discovery: self.tracker.discovery_counters(),
            node: self.counters.snapshot(),
            config_blocks_applied: self
                .counters
                .config_block_applied
                .load(std::sync::atomic::Ordering::Relaxed),
            channel_registry,
            channels,
            identity: self.identity_view.read_locked().clone(),
            msp: self.mcs.as_msp().map(|m| m.decisions()),
        }
    }

    fn text(&self) -> String {
        crate::metrics::encode(&crate::metrics::families(&self.snapshot()))
    }
}

/// A running gossip peer.
pub struct GossipService {
    comm: Comm,
    crypto: CryptoContext,
    self_info: PeerInfo,
    view: Arc<RwLock<Vec<PeerInfo>>>,
    channel_view: Arc<RwLock<ChannelSnapshot>>,
    leadership: Arc<LeadershipShared>,
    identity_view: Arc<RwLock<IdentityStats>>,
    commands: mpsc::Sender<Command>,
    counters: Arc<NodeCounters>,
    tracker: Arc<PeerTracker>,
    metrics: MetricsParts,
    /// The `GET /metrics` listener, when the config names one: its address and task.
    metrics_listener: Mutex<Option<(SocketAddr, JoinHandle<()>)>>,
    stop_tx: watch::Sender<bool>,
    driver: Mutex<Option<JoinHandle<()>>>,
    stopped: AtomicBool,
    deliveries: DeliveryTable,
    /// Private data distribution: `peer.gossip.pvtData.*` and its random choices.
    pvt: privdata::Distribution,
}

impl GossipService {
    /// Binds the listener and starts every task on the current Tokio runtime, with host
    /// crypto (which applies its own channel policy in `verify_by_channel`).
    pub async fn start(config: Config, crypto: CryptoContext) -> Result<GossipService, NodeError> {
        Self::start_inner(config, crypto, None, Arc::new(OrdererDeliveryFactory)).await
    }

    /// Like [`start`](Self::start), with delivery services from `factory` instead of the
    /// built-in orderer client.
    pub async fn start_with_delivery(
        config: Config,
        crypto: CryptoContext,
        factory: Arc<dyn DeliveryFactory>,
    ) -> Result<GossipService, NodeError> {
        Self::start_inner(config, crypto, None, factory).await
    }

    /// Starts with the built-in Ed25519 crypto of the configuration
    /// ([`builtin_crypto`]); joined channels set its channel member orgs.
    pub async fn start_builtin(config: Config) -> Result<GossipService, NodeError> {
        let (ed, ctx) = builtin_crypto(&config)?;
        Self::start_inner(config, ctx, Some(ed), Arc::new(OrdererDeliveryFactory)).await
    }

    /// Like [`start_builtin`](Self::start_builtin), with delivery services from `factory`.
    pub async fn start_builtin_with_delivery(
        config: Config,
        factory: Arc<dyn DeliveryFactory>,
    ) -> Result<GossipService, NodeError> {
        let (ed, ctx) = builtin_crypto(&config)?;
        Self::start_inner(config, ctx, Some(ed), factory).await
    }

    /// Like [`start`](Self::start) with crypto from [`builtin_crypto`]: `builtin` is told
    /// the member orgs of each joined channel.
    pub async fn start_with_builtin(
        config: Config,
        builtin: Arc<Ed25519Crypto>,
    ) -> Result<GossipService, NodeError> {
        let ctx = builtin.context();
        Self::start_inner(config, ctx, Some(builtin), Arc::new(OrdererDeliveryFactory)).await
    }

    async fn start_inner(
        config: Config,
        crypto: CryptoContext,
        builtin: Option<Arc<Ed25519Crypto>>,
        delivery_factory: Arc<dyn DeliveryFactory>,
    ) -> Result<GossipService, NodeError> {
        let listen_addr = resolve(&config.peer.listen_address).await?;
        let tls = if config.peer.tls.enabled {
            let tls = match (&config.peer.tls.cert_file, &config.peer.tls.key_file) {
                (Some(cert), Some(key)) => TlsIdentity::from_pem_files(cert, key),
                (None, None) => TlsIdentity::self_signed(&config.peer.file_system_path),
                _ => {
                    return Err(NodeError::Config(
                        "peer.tls.cert.file and peer.tls.key.file go together".into(),
                    ))
                }
            };
            Some(tls.map_err(|e| NodeError::Comm(e.to_string()))?)
        } else {
            None
        };
        let tls_roots = if tls.is_some() {
            let t = &config.peer.tls;
            // As a Fabric peer, the client root CAs are read only when client certificates
            // are required (Fabric's sample core.yaml names a file that is often absent).
            let client_cas = if t.client_auth_required {
                &t.client_root_cas[..]
            } else {
                &[]
            };
            let files: Vec<_> = t.root_cert_file.iter().chain(client_cas).cloned().collect();
            TlsRoots::from_files(&files).map_err(|e| NodeError::Config(e.to_string()))?
        } else {
            TlsRoots::default()
        };
        let g = &config.gossip;
        let pvt_data = g.pvt_data.clone();
        let comm_cfg = CommConfig {
            listen_addr,
            tls,
            client_auth_required: config.peer.tls.client_auth_required,
            tls_roots: Arc::new(tls_roots),
            dial_timeout: g.dial_timeout,
            conn_timeout: g.conn_timeout,
            send_buff_size: g.send_buff_size as usize,
            recv_buff_size: g.recv_buff_size as usize,
            max_message_size: config.fabgossip.max_message_size,
            admission: config.fabgossip.admission,
            recv_rate_limit: config.fabgossip.recv_rate_limit,
            recv_buff_per_conn: (g.recv_buff_size as usize).saturating_mul(10),
            flood_disconnect_drops: config.fabgossip.flood_disconnect_drops,
        };
        let (comm, events) = Comm::start(comm_cfg, crypto.clone())
            .await
            .map_err(|e| NodeError::Comm(e.to_string()))?;
        let bound = comm.local_addr();

        let internal_endpoint = effective_endpoint(config.internal_endpoint(), bound);
        let external_endpoint = if g.external_endpoint.is_empty() {
            String::new()
        } else {
            effective_endpoint(&g.external_endpoint, bound)
        };
        let me = SelfInfo {
            pki_id: crypto.self_pki_id.clone(),
            org: crypto.self_org.clone(),
            endpoint: external_endpoint.clone(),
            internal_endpoint: internal_endpoint.clone(),
            identity: crypto.self_identity.clone(),
            metadata: Vec::new(),
        };
        let mcs = crypto.mcs.clone();
        let signer = Box::new(move |payload: &[u8]| mcs.sign(payload));
        let now = Instant::now();
        let inc_num = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed =
            inc_num ^ u64::from_le_bytes(crypto.self_pki_id.0[..8].try_into().unwrap_or([0; 8]));
        let discovery = Discovery::new(
            discovery_config(&config),
            me,
            g.bootstrap.clone(),
            signer,
            now,
            inc_num,
            seed,
        )
        .map_err(|e| NodeError::Config(e.to_string()))?;
        // Fed through the driver so the probes they cause are carried out.
        let initial: Vec<Input> = config
            .fabgossip
            .anchor_peers
            .iter()
            .map(|a| Input::AddAnchor {
                endpoint: a.endpoint(),
                org: a.mspid.clone(),
            })
            .collect();
        let mapper = Arc::new(
            IdentityMapper::new(crypto.mcs.clone(), &crypto.self_identity)
                .map_err(|e| NodeError::Crypto(e.to_string()))?
                .with_max_identities(config.fabgossip.max_identities),
        );
        let pvt_mapper = mapper.clone();
        let collections = Arc::new(RwLock::new(crate::privdata::CollectionRegistry::new()));
        let mcs = crypto.mcs.clone();
        let channels = Channels::new(
            ChannelConfig::from_gossip(g),
            ChannelSelf {
                pki_id: crypto.self_pki_id.clone(),
                org: crypto.self_org.clone(),
                endpoint: external_endpoint.clone(),
            },
            Box::new(move |payload: &[u8]| mcs.sign(payload)),
            Box::new(MapperVerifier {
                mapper: mapper.clone(),
                mcs: crypto.mcs.clone(),
                advisor: crypto.advisor.clone(),
            }),
            now,
            inc_num,
            seed.rotate_left(17),
        )
        .map_err(|e| NodeError::Config(e.to_string()))?;

        let view = Arc::new(RwLock::new(Vec::new()));
        let channel_view = Arc::new(RwLock::new(ChannelSnapshot::default()));
        let counters = Arc::new(NodeCounters::default());
        let tracker = Arc::new(PeerTracker::default());
        let (results_tx, results_rx) = mpsc::channel(256);
        let (commands_tx, commands_rx) = mpsc::channel(64);
        let (block_job_tx, block_job_rx) = mpsc::channel(64);
        let cert_store = CertStore::new(
            PullConfig::identities(g),
            mapper.clone(),
            crypto.mcs.clone(),
            crypto.advisor.clone(),
            now,
            seed.rotate_left(41),
        )
        .map_err(|e| NodeError::Crypto(e.to_string()))?;
        let identity_view = Arc::new(RwLock::new(cert_store.stats()));
        let push = PushEmitter::new(
            PushConfig::from_gossip(g, config.fabgossip.push_policy.into()),
            seed ^ 0x5eed,
        )
        .map_err(|e| NodeError::Config(e.to_string()))?;
        let leadership_mode = LeadershipMode::of(g).map_err(NodeError::Config)?;
        let leadership = LeadershipShared::new();
        let (stop_tx, stop_rx) = watch::channel(false);
        // The embedded default until the host installs its own (`set_ledger_provider`).
        let file_ledgers: Arc<dyn LedgerProvider> = Arc::new(FileLedgerProvider::new(
            &config.peer.file_system_path,
            FileLedgerOptions {
                fsync: config.fabgossip.ledger_fsync,
                verify_on_open: config.fabgossip.ledger_verify_on_open,
            },
        ));
        let client_tls =
            ClientTlsIdentity::from_config(&config.peer.tls).map_err(NodeError::Config)?;
        let delivery = Deliveries::new(&config, delivery_factory, client_tls);
        let deliveries = delivery.table.clone();
        let driver = Driver {
            delivery,
            discovery,
            channels,
            builtin,
            channel_view: channel_view.clone(),
            blocks: BTreeMap::new(),
            push,
            gossip_cfg: g.clone(),
            file_ledgers: file_ledgers.clone(),
            privdata: BTreeMap::new(),
            collections: collections.clone(),
            pvt_root: config.peer.file_system_path.join("transientstore"),
            ledger_provider: file_ledgers,
            block_verifier: Arc::new(McsVerifier(crypto.mcs.clone())),
            self_endpoint: external_endpoint.clone(),
            block_job_tx,
            block_job_rx,
            seed: seed.rotate_left(29),
            comm: comm.clone(),
            crypto: crypto.clone(),
            mapper,
            counters: counters.clone(),
            tracker: tracker.clone(),
            view: view.clone(),
            results_tx,
            results_rx,
            next_view_refresh: now,
            views_dirty: false,
            routing: None,
            election: Elections::new(leadership_mode, g.election.clone(), leadership.clone()),
            cert_store,
            identity_view: identity_view.clone(),
            next_expiry_check: now,
            next_revalidation: now + config.fabgossip.identity_revalidation_interval,
            revalidation_interval: config.fabgossip.identity_revalidation_interval,
        };
        let metrics = MetricsParts {
            comm: comm.clone(),
            tracker: tracker.clone(),
            channel_view: channel_view.clone(),
            counters: counters.clone(),
            leadership: leadership.clone(),
            deliveries: deliveries.clone(),
            identity_view: identity_view.clone(),
            mcs: crypto.mcs.clone(),
        };
        // Cleared when the owner task ends, for any reason: `/healthz` reports it.
        let driver_running = Arc::new(AtomicBool::new(true));
        let metrics_listener = match config.operations.metrics_listen_address() {
            None => None,
            Some(addr) => {
                let parts = metrics.clone();
                let render: crate::metrics::http::Render = Arc::new(move || parts.text());
                let parts = metrics.clone();
                let running = driver_running.clone();
                let checker = crate::metrics::health::HealthChecker::default();
                let health: crate::metrics::http::Health = Arc::new(move || {
                    checker.check(&parts.snapshot(), running.load(Ordering::Acquire))
                });
                let ops = crate::metrics::http::Operations { render, health };
                match crate::metrics::http::serve(addr, ops, stop_rx.clone()).await {
                    Ok(l) => Some(l),
                    Err(e) => {
                        comm.stop().await;
                        return Err(NodeError::Io(format!(
                            "operations.listenAddress {addr:?}: {e}"
                        )));
                    }
                }
            }
        };
        let handle = tokio::spawn(async move {
            let ran = driver.run(initial, events, commands_rx, stop_rx).await;
            driver_running.store(false, Ordering::Release);
            ran
        });
        info!(pki_id = %crypto.self_pki_id, org = %crypto.self_org, listen = %bound,
              endpoint = %internal_endpoint, "gossip service started");
        Ok(GossipService {
            comm,
            self_info: PeerInfo {
                pki_id: crypto.self_pki_id.to_hex(),
                endpoint: external_endpoint,
                internal_endpoint,
                org: crypto.self_org.clone(),
                state: PeerState::Alive,
            },
            crypto,
            view,
            channel_view,
            leadership,
            identity_view,
            commands: commands_tx,
            counters,
            tracker,
            metrics,
            metrics_listener: Mutex::new(metrics_listener),
            stop_tx,
            driver: Mutex::new(Some(handle)),
            stopped: AtomicBool::new(false),
            deliveries,
            pvt: privdata::Distribution::new(
                pvt_data,
                seed.rotate_left(53),
                pvt_mapper,
                collections,
            ),
        })
    }

    /// The membership view (self excluded); a snapshot, never blocks on the network.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.view.read_locked().clone()
    }

    /// Joins `channel`, or reconfigures it when `msg.sequence` is newer (an older one is
    /// ignored). Anchor peers are handed to membership, the own StateInfo is published.
    pub async fn join_channel(
        &self,
        channel: &str,
        msg: JoinChannelMessage,
    ) -> Result<(), ChannelCallError> {
        self.call(|reply| Command::JoinChannel {
            channel: channel.to_string(),
            msg,
            reply,
        })
        .await
    }

    /// Leaves `channel`: publishes `left_channel` and stops the channel's work.
    pub async fn leave_channel(&self, channel: &str) -> Result<(), ChannelCallError> {
        self.call(|reply| Command::LeaveChannel {
            channel: channel.to_string(),
            reply,
        })
        .await
    }

    /// The ledger of `channel` reached `height`; published with the next StateInfo round.
    pub async fn update_ledger_height(
        &self,
        channel: &str,
        height: u64,
    ) -> Result<(), ChannelCallError> {
        self.call(|reply| Command::UpdateLedgerHeight {
            channel: channel.to_string(),
            height,
            reply,
        })
        .await
    }

    /// The chaincodes installed on `channel`; published at once.
    pub async fn update_chaincodes(
        &self,
        channel: &str,
        chaincodes: &[ChaincodeInfo],
    ) -> Result<(), ChannelCallError> {
        let chaincodes = chaincodes.iter().map(Into::into).collect();
        self.call(|reply| Command::UpdateChaincodes {
            channel: channel.to_string(),
            chaincodes,
            reply,
        })
        .await
    }

    /// The alive peers of a joined channel with their StateInfo (self excluded); empty
    /// after leaving it; `None` for a channel never joined. A snapshot, never blocks on
    /// the network.
    pub fn peers_of_channel(&self, channel: &str) -> Option<Vec<ChannelPeerInfo>> {
        self.channel_view.read_locked().peers.get(channel).cloned()
    }

    /// Adds a block the host obtained (Fabric's `AddPayload`): verified, committed in order
    /// to the channel's ledger, and pushed to the org's channel peers when new. Adding a
    /// block held already is OK; a block failing verification is dropped and counted.
    pub async fn add_payload(
        &self,
        channel: &str,
        seq: u64,
        block: Vec<u8>,
    ) -> Result<(), ChannelCallError> {
        self.call(|reply| Command::AddPayload {
            channel: channel.to_string(),
            seq,
            block,
            reply,
        })
        .await
    }

    /// Sets where the ledgers of channels joined from now on come from; `None` goes back to
    /// the embedded file ledger under `peer.fileSystemPath`. Refused while a channel is
    /// joined (its ledger is open): call it before joining, or after leaving every channel.
    pub async fn set_ledger_provider(
        &self,
        provider: Option<Arc<dyn LedgerProvider>>,
    ) -> Result<(), LedgerProviderError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::SetLedgerProvider { provider, reply })
            .await
            .map_err(|_| LedgerProviderError::Stopped)?;
        rx.await.map_err(|_| LedgerProviderError::Stopped)?
    }

    /// The committed height of a joined channel's ledger (`None` when not joined or left).
    pub fn ledger_height(&self, channel: &str) -> Option<u64> {
        self.block_stats(channel).map(|s| s.height)
    }

    /// Ledger height and block counters of a joined channel, as of the last snapshot.
    pub fn block_stats(&self, channel: &str) -> Option<ChannelBlockStats> {
        self.channel_view.read_locked().blocks.get(channel).cloned()
    }

    /// The delivery service of `channel` when this peer pulls its blocks from an orderer
    /// (`None` otherwise), with `lag`: blocks handed over but not yet committed.
    pub fn delivery_stats(&self, channel: &str) -> Option<DeliveryStats> {
        let mut s = driver::delivery_stats(&self.deliveries, channel)?;
        s.lag = s
            .next_block
            .saturating_sub(self.ledger_height(channel).unwrap_or(0));
        Some(s)
    }

    /// The channel registry's counters, as of the last snapshot.
    pub fn channel_counters(&self) -> ChannelCounters {
        self.channel_view.read_locked().counters.clone()
    }

    /// Whether this peer leads `channel` (elected, or a static `orgLeader`); a snapshot,
    /// never blocks. A channel not joined (or left) is `ChannelError::UnknownChannel`.
    pub fn is_leader(&self, channel: &str) -> Result<bool, ChannelCallError> {
        self.leadership
            .snapshot
            .read_locked()
            .leaders
            .get(channel)
            .copied()
            .ok_or_else(|| ChannelError::UnknownChannel(channel.to_string()).into())
    }

    /// Every leadership change from now on, in order. A receiver that falls more than
    /// 1024 events behind gets `Lagged` and skips ahead.
    pub fn subscribe_leadership(&self) -> tokio::sync::broadcast::Receiver<LeadershipEvent> {
        self.leadership.events.subscribe()
    }

    /// Sets (or with `None` clears) the hook called on the owner task, in order, at every
    /// leadership change; it must return quickly. Changes already reported are not replayed.
    pub fn set_leadership_listener(&self, listener: Option<LeadershipListener>) {
        *self.leadership.listener.write_locked() = listener;
    }

    /// Leadership counters (messages sent, received, refused; changes), as of the last
    /// snapshot.
    pub fn leadership_counters(&self) -> LeadershipCounters {
        self.leadership.snapshot.read_locked().counters.clone()
    }

    /// Gives up leadership of `channel` (Fabric's `Yield`, e.g. when no orderer can be
    /// reached): another peer is elected and this one stays out of elections for six
    /// `leaderAliveThreshold`s or until another peer declares. Without leader election
    /// (static or never-leader mode) the channel is `UnknownChannel`.
    pub async fn yield_leadership(&self, channel: &str) -> Result<(), ChannelCallError> {
        self.call(|reply| Command::YieldLeadership {
            channel: channel.to_string(),
            reply,
        })
        .await
    }

    /// Re-validates every identity this peer holds through the crypto contract
    /// (`Expiration`, `ValidateIdentity`) now, as Fabric's `SuspectPeers` with every peer
    /// suspected: a host calls it when its MSP config changed (a revocation). Peers whose
    /// identity is refused are cut off at once. The node also does this every few seconds.
    pub async fn revalidate_identities(&self) -> Result<(), ChannelCallError> {
        self.call(|reply| Command::RevalidateIdentities { reply })
            .await
    }

    /// The identity mapper's, the cert store's and the identity pull's counters, as of the
    /// last snapshot (refreshed every driver tick).
    pub fn identity_stats(&self) -> IdentityStats {
        self.identity_view.read_locked().clone()
    }

    async fn call(
        &self,
        command: impl FnOnce(command::Reply) -> Command,
    ) -> Result<(), ChannelCallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(command(tx))
            .await
            .map_err(|_| ChannelCallError::Stopped)?;
        rx.await.map_err(|_| ChannelCallError::Stopped)??;
        Ok(())
    }

    /// This peer: PKI-ID, the endpoints it announces, org.
    pub fn self_info(&self) -> PeerInfo {
        self.self_info.clone()
    }

    /// The address the gossip server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.comm.local_addr()
    }

    pub fn crypto(&self) -> &CryptoContext {
        &self.crypto
    }

    pub fn comm_metrics(&self) -> CommMetricsSnapshot {
        self.comm.metrics()
    }

    pub fn node_counters(&self) -> &NodeCounters {
        &self.counters
    }

    /// Membership facts for diagnostics and metrics (members with liveness times, purged
    /// members, discovery counters), as of the last view refresh.
    pub fn peer_tracker(&self) -> &PeerTracker {
        &self.tracker
    }

    /// Why the peer at `query` (endpoint `host:port` or PKI-ID hex) is or is not in the view:
    /// what membership and comm know of it and one reason code. Never blocks on the network.
    pub fn explain_peer(&self, query: &str) -> Result<Explanation, QueryError> {
        let me = explain::SelfFacts {
            org: self.self_info.org.clone(),
            external_endpoint: self.self_info.endpoint.clone(),
        };
        explain::explain(
            query,
            &self.tracker,
            self.comm.peer_history(),
            &me,
            SystemTime::now(),
        )
    }

    /// Every metric of this peer in Prometheus text exposition format 0.0.4, built now from
    /// the current snapshots. Never blocks on the network.
    pub fn metrics_text(&self) -> String {
        self.metrics.text()
    }

    /// The metrics snapshot [`metrics_text`](Self::metrics_text) encodes, for hosts that
    /// add their own families.
    pub fn metrics_snapshot(&self) -> crate::metrics::Snapshot {
        self.metrics.snapshot()
    }

    /// Where the `GET /metrics` listener is bound, when the config names one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.locked().as_ref().map(|(a, _)| *a)
    }

    /// The comm layer, for diagnostics (peer history, connected PKI-IDs).
    pub fn comm(&self) -> &Comm {
        &self.comm
    }

    /// Stops every task and closes every connection. Idempotent.
    pub async fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.stop_tx.send(true);
        let handle = self.driver.locked().take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        let listener = self.metrics_listener.locked().take();
        if let Some((_, handle)) = listener {
            let _ = handle.await;
        }
        self.comm.stop().await;
        info!(pki_id = %self.crypto.self_pki_id, "gossip service stopped");
    }
}

/// Membership timers from the `peer.gossip` keys; what core.yaml does not name keeps the
/// machine's defaults.
fn discovery_config(config: &Config) -> DiscoveryConfig {
    let g = &config.gossip;
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
        max_members: config.fabgossip.max_members,
        ..DiscoveryConfig::default()
    };
    // Re-probe a silent bootstrap peer no slower than the reconnect interval.
    d.connect_backoff_min = d.connect_backoff_min.min(g.reconnect_interval);
    d
}

/// A configured endpoint whose port is 0 (or that is empty) means "where the server is bound".
fn effective_endpoint(configured: &str, bound: SocketAddr) -> String {
    match configured.rsplit_once(':') {
        Some((host, "0")) if !host.is_empty() => format!("{host}:{}", bound.port()),
        Some(_) => configured.to_owned(),
        None if configured.is_empty() => bound.to_string(),
        None => format!("{configured}:{}", bound.port()),
    }
}

async fn resolve(addr: &str) -> Result<SocketAddr, NodeError> {
    let mut addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| NodeError::Config(format!("peer.listenAddress {addr:?}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| NodeError::Config(format!("peer.listenAddress {addr:?}: no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_with_port_zero_takes_the_bound_port() {
        let bound: SocketAddr = "127.0.0.1:4567".parse().unwrap();
        assert_eq!(effective_endpoint("127.0.0.1:0", bound), "127.0.0.1:4567");
        assert_eq!(effective_endpoint("peer0:7051", bound), "peer0:7051");
        assert_eq!(effective_endpoint("", bound), "127.0.0.1:4567");
        assert_eq!(effective_endpoint("peer0", bound), "peer0:4567");
    }
}
