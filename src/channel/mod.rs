//! Channels (Fabric's `gossip/gossip/channel` and the channel parts of `gossip_impl.go`)
//! as a sans-IO state machine: join and reconfigure, the own StateInfo, received
//! StateInfo, the StateInfo pull, and the peers of each channel.
//!
//! - [`state_info`]: the timestamp rule, reading and signing StateInfo, the store.
//! - `gossip_channel`: one joined channel's state.
//! - [`registry`]: [`Channels`], every channel together: timers, acceptance, routing.
//! - [`view`]: what the registry borrows from the node: membership and verification
//!   ([`MapperVerifier`] over the identity mapper and the crypto contract).
//! - [`events`]: join messages, received messages, outputs, channel peers.
//!
//! # Driving it
//!
//! - Build with [`Channels::new`] (own PKI-ID, org, external endpoint; a
//!   [`Signer`](crate::discovery::Signer) for the own StateInfo; a [`StateInfoVerifier`]
//!   such as [`MapperVerifier`]; the clock; an RNG seed).
//! - Call `handle(now, &discovery, Input::Tick)` whenever [`Channels::next_deadline`] passes.
//! - Host calls: `Input::Join`, `Leave`, `UpdateLedgerHeight`, `UpdateChaincodes`; join
//!   outputs `AddAnchor` for discovery.
//! - Received envelopes with content `state_info`, `state_info_pull_req` or `state_snapshot`:
//!   decode into a `SignedGossipMessage` (keeping the envelope) and feed
//!   `Input::Message(Box::new(Received{from, from_org, message}))` with the handshake's PKI-ID and
//!   org. The registry finds the channel (by MAC, or by the `channel` field for
//!   snapshots) and verifies signatures itself through the verifier.
//! - `Output::Send`: send the envelope to the target (dial `endpoint` when no connection
//!   to the PKI-ID exists).

pub mod config;
pub mod counters;
pub mod error;
pub mod events;
mod gossip_channel;
pub mod registry;
pub mod state_info;
pub mod view;

#[cfg(test)]
mod tests;

pub use config::ChannelConfig;
pub use counters::ChannelCounters;
pub use error::ChannelError;
pub use events::{AnchorPeer, ChannelPeer, JoinChannelMessage, OrdererEndpoint, Output, Received};
pub use registry::{ChannelSelf, Channels, Input};
pub use state_info::{compare_time, Freshness, StateInfoStore, StoredStateInfo};
pub use view::{MapperVerifier, MembershipView, StateInfoVerifier};
