//! fabgossip: Hyperledger Fabric's gossip service as a library with a C ABI.
//!
//! # Map of the modules
//!
//! - [`proto`]: the wire schema (gossip, common, msp, orderer, protos), generated from `proto/`.
//! - [`types`]: PKI-ID and other small values shared by every part.
//! - [`config`]: the `peer.gossip` keys of Fabric's `core.yaml`, parsed from YAML or JSON text.
//! - [`message`]: signed gossip messages: sign, verify, tag rules, envelope helpers.
//! - [`crypto`]: the `MessageCryptoService` and `SecurityAdvisor` contracts, the built-in Ed25519
//!   default and Fabric's block hashing and orderer-signature rules.
//! - [`identity`]: the PKI-ID → identity mapper with expiration and purge.
//! - [`comm`]: authenticated gRPC comm: the `gossip.Gossip` server, the dialer, the handshake,
//!   TLS binding and one connection per PKI-ID.
//! - [`discovery`]: membership as a sans-IO state machine: alive, membership request/response,
//!   expiration, resurrection, purge, disclosure between orgs.
//! - [`push`]: the push emitter and its routing, sans-IO (batching, Fabric's or adaptive fan-out).
//! - [`node`]: `GossipService`, the value that drives the state machines over comm.
//! - [`ffi`]: the process-wide singleton and the `fg_*` C ABI.

pub mod comm;
pub mod config;
pub mod crypto;
pub mod discovery;
pub mod ffi;
pub mod identity;
pub mod message;
pub mod node;
pub mod proto;
pub mod push;
pub mod types;
