//! Compiles `proto/` into Rust with prost and tonic. The schema is parsed by
//! protox (pure Rust), so a fresh machine needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/gossip/message.proto",
        "proto/common/common.proto",
        "proto/msp/identities.proto",
        "proto/orderer/ab.proto",
        "proto/peer/collection.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
