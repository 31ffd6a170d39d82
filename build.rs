//! Compiles `proto/` into Rust with prost and tonic. The schema is parsed by
//! protox (pure Rust), so a fresh machine needs no `protoc`. Also gives the shared
//! library its versioned SONAME.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    soname();
    let files = [
        "proto/gossip/message.proto",
        "proto/common/common.proto",
        "proto/common/configtx.proto",
        "proto/common/configuration.proto",
        "proto/msp/identities.proto",
        "proto/msp/msp_config.proto",
        "proto/orderer/ab.proto",
        "proto/orderer/configuration.proto",
        "proto/orderer/etcdraft/configuration.proto",
        "proto/peer/collection.proto",
        "proto/peer/configuration.proto",
        "proto/peer/chaincode.proto",
        "proto/peer/proposal.proto",
        "proto/peer/proposal_response.proto",
        "proto/peer/transaction.proto",
        "proto/ledger/rwset/rwset.proto",
        "proto/ledger/rwset/kvrwset/kv_rwset.proto",
        "proto/transientstore/transientstore.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Block bytes are shared, not copied: an envelope's payload is cut from the received
        // buffer, the block inside it is cut from the payload, and every copy kept (message
        // store, pull engine, emitter, each send) is a reference count.
        .bytes(".gossip.Envelope.payload")
        .bytes(".gossip.Payload.data")
        // Config trees in name order: orgs, members and anchor peers come out the same on
        // every peer and every run.
        .btree_map(".common")
        .compile_fds(fds)?;
    Ok(())
}

/// `libfabgossip.so` carries the SONAME `libfabgossip.so.ABI`, ABI being the part of the crate
/// version that semver keeps compatible: `MAJOR`, or `0.MINOR` while the major is 0 (0.1 and 0.2
/// may differ). An installed host keeps loading an ABI-compatible library across releases.
///
/// A program linked with `-lfabgossip` records that SONAME as NEEDED, so the loader looks for
/// `libfabgossip.so.ABI`; cargo only writes `libfabgossip.so`. The symlink
/// `libfabgossip.so.ABI -> libfabgossip.so` next to it keeps in-tree hosts (the Go binding's
/// rpath, `tests/c`) working straight after `cargo build`. `make install` lays out the real
/// versioned names.
fn soname() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| "0".into());
    let major = var("CARGO_PKG_VERSION_MAJOR");
    let abi = if major == "0" {
        format!("0.{}", var("CARGO_PKG_VERSION_MINOR"))
    } else {
        major
    };
    let name = format!("libfabgossip.so.{abi}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{name}");
    // OUT_DIR is <artifact dir>/build/<pkg>-<hash>/out; the library lands in <artifact dir>.
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return;
    };
    if let Some(artifacts) = Path::new(&out_dir).ancestors().nth(3) {
        let link = artifacts.join(&name);
        if std::fs::read_link(&link).is_err() {
            // Best effort: a failure only matters to in-tree dynamic hosts, which then say so.
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink("libfabgossip.so", &link);
        }
    }
}
