//! Generated protobuf types, one module per protobuf package, named as in Fabric.

#![allow(clippy::all, missing_docs, rustdoc::all)]

/// `gossip` package: Envelope, GossipMessage and its contents, the Gossip service.
pub mod gossip {
    include!(concat!(env!("OUT_DIR"), "/gossip.rs"));
}

/// `common` package: Envelope, Payload, headers, Block, the config tree and policies.
pub mod common {
    include!(concat!(env!("OUT_DIR"), "/common.rs"));
}

/// `msp` package: SerializedIdentity.
pub mod msp {
    include!(concat!(env!("OUT_DIR"), "/msp.rs"));
}

/// `orderer` package: SeekInfo, DeliverResponse, the AtomicBroadcast service, the Orderer
/// group's config values.
pub mod orderer {
    include!(concat!(env!("OUT_DIR"), "/orderer.rs"));
}

/// `protos` package: collection configs, anchor peers, the Application group's config values,
/// the transaction, proposal and proposal-response messages a block's transactions carry.
pub mod protos {
    include!(concat!(env!("OUT_DIR"), "/protos.rs"));
}

/// `etcdraft` package: the consenters and options of an etcdraft orderer.
pub mod etcdraft {
    include!(concat!(env!("OUT_DIR"), "/etcdraft.rs"));
}

/// `rwset` package: a transaction's read-write sets, hashed and private.
pub mod rwset {
    include!(concat!(env!("OUT_DIR"), "/rwset.rs"));
}

/// `kvrwset` package: key-value reads and writes inside a read-write set.
pub mod kvrwset {
    include!(concat!(env!("OUT_DIR"), "/kvrwset.rs"));
}

/// `transientstore` package: a private read-write set with its collection configs, as an
/// endorser hands it over for distribution.
pub mod transientstore {
    include!(concat!(env!("OUT_DIR"), "/transientstore.rs"));
}
