//! Private data calls of the C ABI: `fg_distribute_private_data`.

use std::ffi::c_char;

use crate::ffi::bytes::fg_bytes;
use crate::ffi::call_error::{finish, panicked, refuse_reentry, text_arg, CallError};
use crate::ffi::channel_name::channel_arg;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::service::current;
use crate::ffi::status::*;
use crate::node::DistributeError;

impl From<DistributeError> for CallError {
    fn from(e: DistributeError) -> CallError {
        let status = match &e {
            DistributeError::UnknownChannel(_) => FG_STATUS_NOT_FOUND,
            DistributeError::InvalidInput(_) => FG_STATUS_INVALID_ARG,
            DistributeError::Stopped => FG_STATUS_SHUTDOWN,
        };
        CallError::new(status, e.to_string())
    }
}

/// Pushes an endorsed transaction's private data to eligible peers of `channel` and waits
/// for their acks (Fabric's private data distributor).
///
/// `pvt_data` is a marshaled `transientstore.TxPvtReadWriteSetWithConfigInfo` (the endorser's
/// private simulation results: `pvt_rwset` and, per namespace, its `CollectionConfigPackage`),
/// copied. `block_height` is the ledger height the transaction was simulated at.
///
/// For each namespace × collection, a `PrivateDataMessage` goes to one eligible peer of each
/// member org first, then to other eligible peers up to the collection's `maxPeerCount`
/// (`peer.gossip.pvtData.implicitCollectionDisseminationPolicy` for this org's own
/// implicit collection); this peer is never a target. A peer is eligible when its org is a
/// member of the collection: the org of `_implicit_org_<MSPID>`, or an org named by the
/// principals of the collection's member-orgs signature policy. Each target is awaited up
/// to `peer.gossip.pvtData.pushAckTimeout` (3 s), so the call blocks at most about that
/// long.
///
/// `result_out` (required) receives JSON: `{"channel", "tx_id", "required_met": bool,
/// "collections": [{"namespace", "collection", "required_peer_count", "max_peer_count",
/// "acked": [peer...], "failed": [peer...], "required_met": bool, "error"?: text}]}` with
/// each peer `{"pki_id", "endpoint", "org", "ack_required", "result": "acked" | "nacked" |
/// "timeout" | "send_failed", "error"?: text}`. Unlike other out-params it is also written
/// with `FG_STATUS_INCOMPLETE`, since the host needs to know which peers hold the data.
///
/// `err_out`: NULL, or receives why the call failed, in an `fg_bytes` to free with
/// `fg_bytes_free`; untouched on `FG_STATUS_OK`.
///
/// Returns `FG_STATUS_OK` (every collection got `requiredPeerCount` acks),
/// `FG_STATUS_INCOMPLETE` (some did not, or could not be planned: too few eligible peers,
/// no collection config; `result_out` and `err_out` say which), `FG_STATUS_INVALID_ARG`
/// (bad channel, empty transaction ID, undecodable private data, NULL `result_out`),
/// `FG_STATUS_NOT_FOUND` (channel not joined), `FG_STATUS_NOT_INITIALIZED`,
/// `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `tx_id` to `tx_id_len`, `pvt_data` to
/// `pvt_data_len`; `result_out` and `err_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_distribute_private_data(
    channel: *const c_char,
    channel_len: usize,
    tx_id: *const c_char,
    tx_id_len: usize,
    pvt_data: *const u8,
    pvt_data_len: usize,
    block_height: u64,
    result_out: *mut fg_bytes,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: &str = "fg_distribute_private_data";
    ffi_boundary!(panicked(CALL, err_out), {
        let result = (|| {
            refuse_reentry(CALL)?;
            let ch = channel_arg(channel, channel_len)?;
            let tx = text_arg("tx_id", tx_id, tx_id_len)?;
            if pvt_data.is_null() || pvt_data_len == 0 {
                return Err(CallError::invalid_arg("pvt_data is NULL or empty"));
            }
            if result_out.is_null() {
                return Err(CallError::invalid_arg("result_out is NULL"));
            }
            let bytes = std::slice::from_raw_parts(pvt_data, pvt_data_len);
            let service = current().ok_or_else(CallError::not_initialized)?;
            let report = crate::ffi::wait::wait(
                CALL,
                service.distribute_private_data(ch, tx, bytes, block_height),
            )??;
            let json = serde_json::to_vec(&report)
                .map_err(|e| CallError::new(FG_STATUS_INTERNAL, e.to_string()))?;
            fg_bytes::write_to(result_out, json);
            if report.required_met {
                Ok(())
            } else {
                Err(CallError::new(
                    FG_STATUS_INCOMPLETE,
                    format!(
                        "requiredPeerCount not met for {}",
                        report.failed_collections().join(", ")
                    ),
                ))
            }
        })();
        finish(CALL, err_out, result)
    })
}
