//! Private data (Fabric's `gossip/privdata`): what a peer does with the private write sets it
//! distributes, those pushed to it, and requests for them. Sans-IO: no comm, node, ffi or
//! tokio here; the node feeds messages in and sends the answers.
//!
//! - [`collection`]: a collection's access (member orgs, MemberOnlyRead/Write, peer counts,
//!   block-to-live) and a peer's eligibility; implicit per-org collections.
//! - [`registry`]: the collection configs the host set per channel and namespace.
//! - [`transient_store`]: private write sets awaiting their block, on disk per channel.
//! - [`receiver`]: a pushed `PrivateDataMessage`: checked, stored, acknowledged.
//! - [`responder`]: a `RemotePvtDataRequest` answered for eligible requesters only.
//! - [`block_pvt`]: the private data a block's valid transactions need (their hashed
//!   read-write sets).
//! - [`coordinator`]: what a block commits with: present, fetched from eligible peers (fail
//!   fast), or missing.
//! - [`stats`]: a channel's counters for metrics.
//! - [`distributor`]: the sending side: which peers get a collection's private write set and
//!   the verdict from their acks.

pub mod block_pvt;
pub mod collection;
pub mod coordinator;
pub mod distributor;
pub mod receiver;
pub mod registry;
pub mod responder;
pub mod stats;
pub mod transient_store;

pub use collection::{CollectionAccess, CollectionError, Membership};
pub use receiver::{receive, LocalPeer, Outcome};
pub use registry::{CollectionRegistry, RegistryError};
pub use responder::{respond, Answered};
pub use stats::PrivDataStats;
pub use transient_store::{
    TransientEntry, TransientStore, TransientStoreError, TransientStoreLimits, TransientStoreStats,
};
