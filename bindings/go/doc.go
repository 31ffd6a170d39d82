// Package fabgossip runs Hyperledger Fabric's gossip service, as implemented by the
// libfabgossip C library, inside a Go process.
//
// One gossip service runs per process: Init (or Open) starts it from config text (YAML or
// JSON with the `peer` keys of Fabric's core.yaml and a `fabgossip` section), Shutdown (or
// Service.Close) stops it, and Init may be called again afterwards.
//
// Identities are the library's built-in Ed25519 ones unless the host passes a
// MessageCryptoService, whose methods the library then calls from its worker threads (see
// MessageCryptoService for the contract). SetLogger routes the library's log lines to Go.
//
// Linking: by default the package links libfabgossip.so from ../../target/release with an
// rpath; `-tags fabgossip_static` links libfabgossip.a instead. See link_dynamic.go and
// link_static.go for the flags and how to point them at an installed library.
package fabgossip
