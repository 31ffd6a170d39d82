//! The C ABI: `fg_*` functions over one process-wide gossip service.
//!
//! Conventions (see `include/fabgossip.h`):
//! - every fallible call runs through one boundary, `call::run` (re-entry refusal, panic
//!   catch, status, `err_out`, counters);
//! - every fallible call returns an [`fg_status`](status::fg_status) with a stable number;
//!   out-params are written only on success, and error detail comes back in the same call
//!   (`err_out` of `fg_init` and of the calls that change a channel; `call_error`);
//! - byte inputs are `(ptr, len)` and copied; library-owned outputs are
//!   [`fg_bytes`](bytes::fg_bytes), freed with `fg_bytes_free`;
//! - no panic crosses the boundary ([`panic`]); an `fg_*` call from inside a library
//!   callback returns `FG_STATUS_REENTRANT` ([`reentry`]);
//! - the library owns its Tokio runtime and installs no signal handler; its threads block
//!   SIGPIPE in their own masks.
//!
//! Files: [`status`], [`bytes`], [`panic`], [`reentry`], [`callbacks`] (host crypto
//! table) and [`host_crypto`] (the crypto contracts over it), [`ledger`] (host ledger table)
//! and [`host_ledger`] (the ledger contract over it), [`log`] (tracing → host), [`service`] (the singleton and its calls),
//! [`channel`] (join, leave, heights, chaincodes, peers of a channel), `channel_name`
//! (Fabric's channel name rule), `join_json` (the
//! channel calls' JSON, read field by field), `wait` (a host thread waits for the owner
//! task),
//! [`election`] (`fg_is_leader`, `fg_yield_leadership`, the leadership callback),
//! `leadership_queue` (leadership changes handed to their own thread),
//! [`counters`] (refusals, caught panics, calls by status), `sigpipe` (library threads block SIGPIPE),
//! `runtime` (the library's Tokio runtime: one scheduler thread and the blocking pool),
//! [`metrics`] (`fg_metrics`), [`explain`] (`fg_explain_peer`).

#![allow(non_camel_case_types)]

pub mod bytes;
pub(crate) mod call;
pub(crate) mod call_error;
pub mod callbacks;
pub mod channel;
mod channel_name;
pub mod counters;
pub mod election;
pub mod explain;
pub(crate) mod host_call;
pub mod host_crypto;
pub mod host_ledger;
pub mod join_json;
mod leadership_queue;
pub mod ledger;
pub mod log;
pub mod metrics;
pub mod panic;
pub mod privdata;
pub mod reentry;
mod runtime;
pub mod service;
mod sigpipe;
pub mod status;
mod wait;

use std::ffi::c_char;

/// The crate version as a NUL-terminated string, e.g. `"0.2.0"`; equals the
/// `FG_VERSION_MAJOR.FG_VERSION_MINOR.FG_VERSION_PATCH` the header was generated for.
/// Static; never NULL; do not free.
#[no_mangle]
pub extern "C" fn fg_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
