//! The fuzz targets and their engine; `tests/fuzz.rs` runs one test per target.

pub mod actors;
pub mod blocks;
pub mod cert_store;
pub mod channel;
pub mod discovery;
pub mod election;
pub mod engine;
pub mod ledger;
pub mod msgstore;
pub mod pull;
pub mod push;
pub mod seeds;
pub mod state;
pub mod text;
pub mod wire;
