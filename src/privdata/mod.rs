//! Private data, the receiving side: what a peer does with private write sets pushed to it
//! and with requests for them. Sans-IO: no comm, node, ffi or tokio here; the node's driver
//! feeds messages in and sends the answers.
//!
//! - [`collection`]: a collection's access (member orgs, MemberOnlyRead/Write, peer counts,
//!   block-to-live) and a peer's eligibility; implicit per-org collections.
//! - [`transient_store`]: private write sets awaiting their block, on disk per channel.
//! - [`receiver`]: a pushed `PrivateDataMessage`: checked, stored, acknowledged.
//! - [`responder`]: a `RemotePvtDataRequest` answered for eligible requesters only.
//! - [`stats`]: a channel's counters for metrics.

pub mod collection;
pub mod receiver;
pub mod responder;
pub mod stats;
pub mod transient_store;

pub use collection::{CollectionAccess, CollectionError};
pub use receiver::{receive, LocalPeer, Outcome};
pub use responder::{respond, Answered};
pub use stats::PrivDataStats;
pub use transient_store::{
    TransientEntry, TransientStore, TransientStoreError, TransientStoreLimits, TransientStoreStats,
};
