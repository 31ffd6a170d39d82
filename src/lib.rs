//! fabgossip: Hyperledger Fabric's gossip service as a library with a C ABI.
//!
//! # Map of the modules
//!
//! - [`proto`]: the wire schema (gossip, common, msp, orderer, protos), generated from `proto/`.
//! - [`types`]: PKI-ID and other small values shared by every part.
//! - `sync`: taking a lock whether or not a caught panic poisoned it.
//! - [`config`]: the `peer.gossip` keys of Fabric's `core.yaml`, parsed from YAML or JSON text.
//! - [`message`]: signed gossip messages: sign, verify, tag rules, envelope helpers.
//! - [`crypto`]: the `MessageCryptoService` and `SecurityAdvisor` contracts, the built-in Ed25519
//!   default and Fabric's block hashing and orderer-signature rules.
//! - [`msp`]: Fabric's X.509 MSP, sans-IO: MSPs from `FabricMSPConfig`, identity validation,
//!   principals, the MSP manager of a channel, the local MSP from an MSP folder.
//! - [`identity`]: the PKI-ID → identity mapper with expiration and purge, and the cert store
//!   (identity pull, cut-off of expired and revoked identities).
//! - [`comm`]: authenticated gRPC comm: the `gossip.Gossip` server, the dialer, the handshake,
//!   TLS binding and one connection per PKI-ID.
//! - [`channel`]: channels as a sans-IO state machine: join, StateInfo, the peers of a channel.
//! - [`channelconfig`]: a channel from its config blocks: orgs, MSPs, anchor peers, orderers,
//!   policies and their evaluation, the join message (sans-IO).
//! - [`discovery`]: membership as a sans-IO state machine: alive, membership request/response,
//!   expiration, resurrection, purge, disclosure between orgs.
//! - [`election`]: leader election per channel as a sans-IO state machine (Fabric's algorithm).
//! - [`msgstore`]: Fabric's message store: replacing rules per kind, block window, TTL expiry.
//! - [`push`]: the push emitter and its routing, sans-IO (batching, Fabric's or adaptive fan-out).
//! - [`pull`]: Fabric's pull engine (hello, digest, request, update) as a sans-IO machine.
//! - [`ledger`]: the `Ledger` contract and the embedded append-only file ledger per channel.
//! - [`privdata`]: private data, receiving side: collections, transient store, push receiver,
//!   request responder (sans-IO).
//! - [`state`]: the per-channel state provider: payload buffer, in-order commit, gap detection.
//! - [`deliver`]: the orderer delivery service: `AtomicBroadcast.Deliver` client with
//!   verification, backoff and fail-over, behind the `DeliveryFactory` trait.
//! - [`privdata`]: private data, sans-IO: the distributor's plan (eligible peers, one per
//!   member org first, required and maximum counts) and its verdict from the acks.
//! - [`node`]: `GossipService`, the value that drives the state machines over comm.
//! - [`metrics`]: Prometheus text exposition of the counters and snapshots, and the optional
//!   `GET /metrics` listener.
//! - [`ffi`]: the process-wide singleton and the `fg_*` C ABI.
//!
//! The node drives `discovery`, `identity` (the cert store's identity pull), `channel`
//! (StateInfo), and per joined channel `state` (with state transfer), `msgstore`, block `pull`,
//! `ledger`, `election` and, while leading, `deliver`; `push` carries blocks.
//!
//! # Import rules (checked by `tests/import_rules.rs`)
//!
//! - Only `ffi` knows the C ABI; the host's crypto and ledger callbacks become the `crypto`
//!   and `ledger` contracts there (`ffi::host_crypto`, `ffi::host_ledger`).
//! - The protocol cores (`channel`, `channelconfig`, `discovery`, `election`, `identity`,
//!   `message`, `msgstore`, `msp`, `privdata`, `pull`, `push`, `state`) import neither `comm`, `node`,
//!   `deliver`, `ffi` nor tokio: time, randomness and the peer's credential come in as values.
//! - Only `node` combines transport, delivery and cores; only `ffi` and `metrics` (its
//!   snapshot) import `node`.
//! - `config` holds plain values (`AdmissionConfig`, `PushPolicyConfig`, ...) and imports none
//!   of the parts that read them; they convert what they need.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod channel;
pub mod channelconfig;
pub mod comm;
pub mod config;
pub mod crypto;
pub mod deliver;
pub mod discovery;
pub mod election;
pub mod ffi;
pub mod identity;
pub mod ledger;
pub mod message;
pub mod metrics;
pub mod msgstore;
pub mod msp;
pub mod node;
pub mod privdata;
pub mod proto;
pub mod pull;
pub mod push;
pub mod state;
pub(crate) mod sync;
pub mod types;
