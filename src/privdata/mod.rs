//! Private data (Fabric's `gossip/privdata`) as sans-IO parts the node drives.
//!
//! - [`distributor`]: which peers get a collection's private write set and the verdict from
//!   their acks.

pub mod distributor;
