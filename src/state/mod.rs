//! The per-channel state provider (Fabric's `gossip/state`) as a sans-IO machine: a bounded
//! reorder buffer of verified payloads, in-order commit through the host ledger, commit
//! retries, and gap detection so missing blocks are pulled at once.
//!
//! - [`payload`]: the payload, its source and its verification.
//! - [`buffer`]: the reorder buffer.
//! - [`gap`]: when to report missing blocks.
//! - [`events`]: inputs and outputs; [`error`]: why a payload is refused.
//! - [`machine`]: the provider itself.
//! - [`commit`]: the commit batch and carrying it out on a [`crate::ledger::Ledger`].
//! - [`transfer`]: anti-entropy state transfer (`RemoteStateRequest`/`Response`);
//!   [`transfer_config`]: its settings and counters; [`transfer_access`]: who may use it.
//!
//! # Driving it
//!
//! - Build with [`StateProvider::new`] and the ledger's height ([`crate::ledger::Ledger::height`]).
//! - Every block obtained (host/deliverer, gossip push or pull, state transfer) goes to
//!   [`StateProvider::add_payload`] (or [`StateProvider::add_verified`] if the gossip layer
//!   already ran `VerifyBlock`; [`check_response`] then [`StateProvider::add_checked`] for a
//!   state response verified on a blocking thread). The `Result` says why a payload was
//!   refused: a deliverer that gets [`Rejected::TooFarAhead`] should offer it again after
//!   commits progress.
//! - [`Output::Commit`]: commit the batch (a run of consecutive blocks, one batch at a
//!   time) to the ledger, then feed `Input::Committed{first, height}` or
//!   `Input::CommitFailed{first, height, error}` (partial progress included);
//!   [`commit_batch`] does both for a [`crate::ledger::Ledger`].
//! - [`Output::Forward`]: push the block to the org's channel peers.
//! - [`Output::PullGap`]: start a block pull now (hello to channel peers of the org).
//! - Feed `Input::RemoteHeight` for each StateInfo height received, `Input::LedgerHeight`
//!   when the host ledger moved by itself, and `Input::Tick` when
//!   [`StateProvider::next_deadline`] passes.

pub mod buffer;
pub mod commit;
pub mod config;
pub mod counters;
pub mod error;
pub mod events;
pub mod gap;
pub mod machine;
pub mod payload;
pub mod transfer;
pub mod transfer_access;
pub mod transfer_config;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transfer_tests;

pub use commit::{commit_batch, CommitBatch};
pub use config::StateProviderConfig;
pub use counters::StateCounters;
pub use error::Rejected;
pub use events::{Input, Output};
pub use machine::StateProvider;
pub use payload::{
    check_response, BlockVerifier, CheckedPayload, McsVerifier, Payload, Source, VerifiedPayload,
};
pub use transfer::{ServePlan, StateRequest, StateTransfer, TransferConfig, TransferCounters};
pub use transfer_access::check_state_access;
