//! Fuzzing of every decoder and of the sans-IO state machines, on stable Rust (see
//! `tests/fuzz/engine.rs` for the engine and its knobs). `cargo test --release --test fuzz` runs a
//! short seeded pass over every target; `make fuzz FUZZ_SECS=600` runs a long one.

#[path = "fuzz/mod.rs"]
mod fuzz;

use fuzz::engine::check;

#[test]
fn envelope() {
    check(&fuzz::wire::ENVELOPE);
}

#[test]
fn gossip_message() {
    check(&fuzz::wire::GOSSIP_MESSAGE);
}

#[test]
fn conn_establish() {
    check(&fuzz::wire::CONN_ESTABLISH);
}

#[test]
fn block() {
    check(&fuzz::blocks::BLOCK);
}

#[test]
fn deliver_response() {
    check(&fuzz::blocks::DELIVER_RESPONSE);
}

#[test]
fn seek() {
    check(&fuzz::blocks::SEEK);
}

#[test]
fn join_json() {
    check(&fuzz::text::JOIN_JSON);
}

#[test]
fn config() {
    check(&fuzz::text::CONFIG);
}

#[test]
fn ledger() {
    check(&fuzz::ledger::LEDGER);
}

#[test]
fn discovery() {
    check(&fuzz::discovery::DISCOVERY);
}

#[test]
fn channel() {
    check(&fuzz::channel::CHANNEL_TARGET);
}

#[test]
fn pull() {
    check(&fuzz::pull::PULL);
}

#[test]
fn push() {
    check(&fuzz::push::PUSH);
}

#[test]
fn state() {
    check(&fuzz::state::STATE);
}

#[test]
fn election() {
    check(&fuzz::election::ELECTION);
}

#[test]
fn msgstore() {
    check(&fuzz::msgstore::MSGSTORE);
}

#[test]
fn cert_store() {
    check(&fuzz::cert_store::CERT_STORE);
}
