//! Private data calls of the C ABI: `fg_distribute_private_data`, `fg_set_collection_config`,
//! `fg_explain_private_data`.

use std::ffi::c_char;

use crate::ffi::bytes::fg_bytes;
use crate::ffi::call::{self, Out};
use crate::ffi::call_error::{text_arg, CallError};
use crate::ffi::channel_name::channel_arg;
use crate::ffi::counters::CallId;
use crate::ffi::service::current;
use crate::ffi::status::*;
use crate::node::{DistributeError, PvtExplainError};

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
/// member org of the collection (the org of `_implicit_org_<MSPID>`, or an org named by the
/// principals of the collection's member-orgs signature policy) and, in a channel joined
/// with a config block, the member-orgs policy holds over its identity under the channel's
/// MSPs; it also needs an endpoint. A collection the private data carries no config for is
/// looked up in the configs set with `fg_set_collection_config`. Each target is awaited up
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
    const CALL: CallId = CallId::named("fg_distribute_private_data");
    // SAFETY: `result_out` and `err_out` are NULL or writable, as this function requires.
    let (result, err) = unsafe { (Out::new(result_out), Out::new(err_out)) };
    call::run(CALL, err, || {
        // SAFETY: `channel` and `tx_id` point to as many readable bytes as their lengths say
        // (this function's contract).
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        // SAFETY: as above.
        let tx = unsafe { text_arg("tx_id", tx_id, tx_id_len) }?;
        if pvt_data.is_null() || pvt_data_len == 0 {
            return Err(CallError::invalid_arg("pvt_data is NULL or empty"));
        }
        result.required("result_out")?;
        // SAFETY: not NULL, and `pvt_data_len` readable bytes by this function's contract.
        let bytes = unsafe { std::slice::from_raw_parts(pvt_data, pvt_data_len) };
        let service = current().ok_or_else(CallError::not_initialized)?;
        let report = crate::ffi::wait::wait(
            CALL.name(),
            service.distribute_private_data(ch, tx, bytes, block_height),
        )??;
        result.write_bytes(serde_json::to_vec(&report).map_err(CallError::internal)?);
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
    })
}

/// Sets the collection configs of one chaincode namespace in `channel`: the marshaled
/// `protos.CollectionConfigPackage` a Fabric peer reads from its ledger (`_lifecycle` or
/// `lscc` state), copied. It replaces the namespace's previous configs; an empty package
/// (`package_len` 0, or no configs) removes them. Kept in memory: set them again after
/// `fg_init`.
///
/// These configs decide explicit collections of the namespace when private data is pushed to
/// this peer and when a peer asks it for private data: over the config a push carries
/// (which the sender chose: the host's comes from its committed ledger), and a collection
/// missing from them is unknown. Without them, the config that came with the data is used.
/// `fg_distribute_private_data` uses them for collections the private data it is given
/// carries no config for. `_implicit_org_<MSPID>` collections need no config.
///
/// `err_out`: NULL, or receives why the call failed, in an `fg_bytes` to free with
/// `fg_bytes_free`; untouched on `FG_STATUS_OK`.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (bad channel or namespace, a package that
/// does not decode, a config that is not a static collection config, has no member orgs
/// policy or a negative peer count, a collection named twice, or more than 4096 namespaces
/// in the channel), `FG_STATUS_NOT_FOUND` (channel not joined), `FG_STATUS_NOT_INITIALIZED`,
/// `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `namespace` to `namespace_len`,
/// `package` to `package_len` (or is NULL when `package_len` is 0); `err_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn fg_set_collection_config(
    channel: *const c_char,
    channel_len: usize,
    namespace: *const c_char,
    namespace_len: usize,
    package: *const u8,
    package_len: usize,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_set_collection_config");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    call::run(CALL, err, || {
        // SAFETY: `channel` and `namespace` point to as many readable bytes as their lengths
        // say (this function's contract).
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        // SAFETY: as above.
        let ns = unsafe { text_arg("namespace", namespace, namespace_len) }?;
        let bytes: &[u8] = match (package.is_null(), package_len) {
            (_, 0) => &[],
            (true, _) => return Err(CallError::invalid_arg("package is NULL")),
            // SAFETY: not NULL, and `n` readable bytes by this function's contract.
            (false, n) => unsafe { std::slice::from_raw_parts(package, n) },
        };
        let service = current().ok_or_else(CallError::not_initialized)?;
        if service.peers_of_channel(ch).is_none() {
            return Err(CallError::new(
                FG_STATUS_NOT_FOUND,
                format!("channel {ch} is not joined"),
            ));
        }
        service
            .set_collection_config(ch, ns, bytes)
            .map_err(|e| CallError::invalid_arg(format!("namespace {ns}: {e}")))
    })
}

impl From<PvtExplainError> for CallError {
    fn from(e: PvtExplainError) -> CallError {
        let status = match &e {
            PvtExplainError::UnknownChannel(_) => FG_STATUS_NOT_FOUND,
            PvtExplainError::InvalidInput(_) => FG_STATUS_INVALID_ARG,
        };
        CallError::new(status, e.to_string())
    }
}

/// Explains why the peer named by `query` — an endpoint `host:port` or a PKI-ID in hex — is
/// or is not a target for the private data of `namespace`/`collection` in `channel`, by the
/// rules `fg_distribute_private_data` applies. `block_height`: 0, or a ledger height the
/// peer must have reached (the height private data was simulated at).
///
/// Writes JSON to `out_json` (free with `fg_bytes_free`): `channel`, `namespace`,
/// `collection`, `query`, `reason` — `eligible`, `is_self`, `not_in_channel`,
/// `unknown_collection` (an explicit collection with no config set), `identity_unknown`,
/// `not_eligible` (its org is not a member org, or the member orgs policy does not hold over
/// its identity), `no_endpoint`, `below_block_height` — `detail` (a sentence), `pki_id`,
/// `org`, `endpoint`, `ledger_height`, `member_orgs`, `required_peer_count`,
/// `max_peer_count` and `membership` (`msp_policy` when the channel's MSPs evaluate the
/// policy, `msp_id` when only the org is compared). Unknown values are `null`. Never blocks
/// on the network.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (bad channel, empty namespace, collection
/// or query, NULL `out_json`), `FG_STATUS_NOT_FOUND` (channel not joined),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_REENTRANT`, `FG_STATUS_INTERNAL` or
/// `FG_STATUS_PANIC`; `err_out` (NULL or writable) says why on failure.
///
/// # Safety
/// Each `(pointer, length)` pair points to that many readable bytes; `out_json` and
/// `err_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_explain_private_data(
    channel: *const c_char,
    channel_len: usize,
    namespace: *const c_char,
    namespace_len: usize,
    collection: *const c_char,
    collection_len: usize,
    query: *const c_char,
    query_len: usize,
    block_height: u64,
    out_json: *mut fg_bytes,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_explain_private_data");
    // SAFETY: `out_json` and `err_out` are NULL or writable, as this function requires.
    let (out, err) = unsafe { (Out::new(out_json), Out::new(err_out)) };
    call::run(CALL, err, || {
        // SAFETY: each `(pointer, length)` pair points to that many readable bytes (this
        // function's contract).
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        // SAFETY: as above.
        let ns = unsafe { text_arg("namespace", namespace, namespace_len) }?;
        // SAFETY: as above.
        let coll = unsafe { text_arg("collection", collection, collection_len) }?;
        // SAFETY: as above.
        let q = unsafe { text_arg("query", query, query_len) }?;
        out.required("out_json")?;
        let service = current().ok_or_else(CallError::not_initialized)?;
        let e = service.explain_private_data(ch, ns, coll, q, block_height)?;
        out.write_bytes(serde_json::to_vec(&e).map_err(CallError::internal)?);
        Ok(())
    })
}
