//! The channel calls of the C ABI: join, leave, ledger height, chaincodes, peers of a
//! channel. Calls that change state wait for the node's owner task to apply them (it never
//! waits on the network); the query reads its snapshot.

use std::ffi::c_char;

use crate::ffi::bytes::fg_bytes;
use crate::ffi::call::{self, Out};
use crate::ffi::call_error::{text_arg, CallError};
use crate::ffi::channel_name::channel_arg;
use crate::ffi::counters::CallId;
use crate::ffi::join_json::{is_join_json, parse_chaincodes, parse_join};
use crate::ffi::service::current;
use crate::ffi::status::*;
use crate::node::ChannelCallError;

/// Runs one channel call on the running service, waiting for the owner task's answer.
fn run_call<F, Fut>(call: CallId, f: F) -> Result<(), CallError>
where
    F: FnOnce(std::sync::Arc<crate::node::GossipService>) -> Fut,
    Fut: std::future::Future<Output = Result<(), ChannelCallError>>,
{
    let service = current().ok_or_else(CallError::not_initialized)?;
    // The owner task runs on the library's runtime, so waiting here cannot starve it, even
    // when the caller is itself a runtime thread of the host.
    crate::ffi::wait::wait(call.name(), f(service))?.map_err(CallError::from)
}

/// Joins `channel` (or reconfigures it when the sequence is newer; an older one is
/// ignored).
///
/// `join_json` is either the channel's genesis block or latest config block (a marshaled
/// `common.Block`, as `peer channel join -b` takes it), or a JSON join message (text
/// starting with `{`).
///
/// With a config block, the join message is derived from the config: member orgs = the
/// application orgs' MSP ids, their anchor peers, the orderer orgs' endpoints with their TLS
/// CA certificates, sequence = the config sequence. A genesis block (block 0) is committed
/// to the empty ledger without an orderer signature check; every later block chains to it.
/// From then on each committed config block reconfigures the channel (orgs, anchor peers,
/// orderers) without a restart.
///
/// The JSON join message (networks on the built-in Ed25519 crypto): `{"sequence":N,"members":["Org1MSP",...],"anchor_peers":
/// [{"org":"Org1MSP","host":"peer0","port":7051},...],"orderers":[{"endpoint":
/// "127.0.0.1:7050","tls_root_cert":"<PEM>","public_key":"<hex Ed25519 key>"},...]}`
/// (`anchor_peers`, `orderers` and their `tls_root_cert`/`public_key` optional). Anchor
/// peers are dialed and never purged from membership. The delivery service pulls blocks from
/// the orderers (TLS when a root certificate is given); with the built-in crypto, blocks must
/// carry a signature by one of the public keys when any is given.
///
/// `err_out`: NULL, or receives why the call failed (for a bad join message, the field at
/// fault, e.g. `anchor_peers[1].port: ...`); free it with `fg_bytes_free`. Untouched on
/// success.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (NULL/empty/non-UTF-8 arguments, a
/// channel name outside Fabric's rule `[a-z][a-z0-9.-]*` of at most 249 characters, which
/// every call taking a channel refuses; bad JSON, a block that is not a readable config block
/// of `channel` (the detail names what is missing or malformed, and where), no members, own
/// org not a member), `FG_STATUS_CRYPTO` (the genesis block fails its checks: number, data
/// hash), `FG_STATUS_IO` (the channel's ledger cannot be opened), `FG_STATUS_NOT_INITIALIZED`,
/// `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `join_json` to `join_len`; `err_out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_join_channel(
    channel: *const c_char,
    channel_len: usize,
    join_json: *const c_char,
    join_len: usize,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_join_channel");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    call::run(CALL, err, || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        if !join_json.is_null() && join_len > 0 {
            // SAFETY: `join_json` points to `join_len` readable bytes, as this function
            // requires; the bytes are copied before return.
            let arg = unsafe { std::slice::from_raw_parts(join_json.cast::<u8>(), join_len) };
            if !is_join_json(arg) {
                let block = arg.to_vec();
                return run_call(CALL, |s| async move {
                    s.join_channel_with_block(ch, block).await.map(|_| ())
                });
            }
        }
        // SAFETY: as above.
        let json = unsafe { text_arg("join_json", join_json, join_len) }?;
        let msg =
            parse_join(json).map_err(|e| CallError::invalid_arg(format!("channel {ch:?}: {e}")))?;
        run_call(CALL, |s| async move { s.join_channel(ch, msg).await })
    })
}

/// Leaves `channel`: publishes `left_channel` and stops its work; `fg_peers_of_channel`
/// then reports no peers. Leaving twice is OK.
///
/// `err_out`: as for `fg_join_channel`.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_NOT_FOUND` (never joined),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or
/// `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes; `err_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_leave_channel(
    channel: *const c_char,
    channel_len: usize,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_leave_channel");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    call::run(CALL, err, || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        run_call(CALL, |s| async move { s.leave_channel(ch).await })
    })
}

/// Sets the ledger height this peer publishes for `channel` (sent with the next StateInfo
/// round).
///
/// `err_out`: as for `fg_join_channel`.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_NOT_FOUND` (never joined or
/// left), `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or
/// `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes; `err_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_update_ledger_height(
    channel: *const c_char,
    channel_len: usize,
    height: u64,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_update_ledger_height");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    call::run(CALL, err, || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        run_call(
            CALL,
            |s| async move { s.update_ledger_height(ch, height).await },
        )
    })
}

/// Sets the chaincodes this peer publishes for `channel` (sent at once).
/// `chaincodes_json`: `[{"name":"mycc","version":"1.0"},...]`.
///
/// `err_out`: as for `fg_join_channel` (for bad JSON, the entry at fault).
///
/// Returns the statuses of `fg_update_ledger_height`; `FG_STATUS_INVALID_ARG` also for bad
/// JSON.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `chaincodes_json` to `json_len`;
/// `err_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_update_chaincodes(
    channel: *const c_char,
    channel_len: usize,
    chaincodes_json: *const c_char,
    json_len: usize,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_update_chaincodes");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    call::run(CALL, err, || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        // SAFETY: `chaincodes_json` points to `json_len` readable bytes, as this function
        // requires.
        let json = unsafe { text_arg("chaincodes_json", chaincodes_json, json_len) }?;
        let chaincodes = parse_chaincodes(json)
            .map_err(|e| CallError::invalid_arg(format!("channel {ch:?}: {e}")))?;
        run_call(CALL, |s| async move {
            s.update_chaincodes(ch, &chaincodes).await
        })
    })
}

/// Writes the alive peers of `channel` (self excluded) to `*out_json` as a JSON array of
/// `{"pki_id","endpoint","internal_endpoint","org","ledger_height","chaincodes":[{"name",
/// "version"}],"left_channel"}`; an empty array after leaving the channel. Never blocks on
/// the network. Free the result with `fg_bytes_free`.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_NOT_FOUND` (never joined),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_REENTRANT`, `FG_STATUS_INTERNAL` or
/// `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes; `out_json` is NULL or points to a
/// writable `fg_bytes`.
#[no_mangle]
pub unsafe extern "C" fn fg_peers_of_channel(
    channel: *const c_char,
    channel_len: usize,
    out_json: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_peers_of_channel");
    // SAFETY: `out_json` is NULL or writable, as this function requires.
    let out = unsafe { Out::new(out_json) };
    call::run(CALL, Out::none(), || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        out.required("out_json")?;
        let service = current().ok_or_else(CallError::not_initialized)?;
        let peers = service.peers_of_channel(ch).ok_or_else(|| {
            CallError::new(FG_STATUS_NOT_FOUND, format!("channel {ch:?} is not joined"))
        })?;
        out.write_bytes(serde_json::to_vec(&peers).map_err(CallError::internal)?);
        Ok(())
    })
}

/// Adds block `seq` of `channel` that the host obtained (Fabric's `AddPayload`): it is
/// verified (`verify_block`), committed in order to the channel's ledger and gossiped to the
/// org's channel peers. `block` is a marshaled `common.Block`, copied. Adding a block held
/// already is OK.
///
/// `err_out`: as for `fg_join_channel` (why verification failed; for `FG_STATUS_BUSY`, the
/// block's number and the ledger height).
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_NOT_FOUND` (channel not
/// joined, or left), `FG_STATUS_CRYPTO` (the block failed verification: dropped and
/// counted), `FG_STATUS_BUSY` (too far above the ledger height: offer it again after
/// commits progress), `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_SHUTDOWN`,
/// `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`. Returns once the block is buffered, not
/// committed; `fg_ledger_height` tells when it is.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `block` to `block_len`; `err_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_add_payload(
    channel: *const c_char,
    channel_len: usize,
    seq: u64,
    block: *const u8,
    block_len: usize,
    err_out: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_add_payload");
    // SAFETY: `err_out` is NULL or writable, as this function requires.
    let err = unsafe { Out::new(err_out) };
    call::run(CALL, err, || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        if block.is_null() || block_len == 0 {
            return Err(CallError::invalid_arg("block is NULL or empty"));
        }
        // SAFETY: `block` points to `block_len` readable bytes, as this function requires;
        // they are copied before return.
        let bytes = unsafe { std::slice::from_raw_parts(block, block_len) }.to_vec();
        run_call(CALL, |s| async move { s.add_payload(ch, seq, bytes).await })
    })
}

/// Writes the committed height of `channel`'s ledger (the number of blocks) to `*out`.
/// Never blocks.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (NULL `out` or bad channel),
/// `FG_STATUS_NOT_FOUND` (not joined, or left), `FG_STATUS_NOT_INITIALIZED`,
/// `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fg_ledger_height(
    channel: *const c_char,
    channel_len: usize,
    out: *mut u64,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_ledger_height");
    // SAFETY: `out` is NULL or writable, as this function requires.
    let out = unsafe { Out::new(out) };
    call::run(CALL, Out::none(), || {
        // SAFETY: `channel` points to `channel_len` readable bytes, as this function requires.
        let ch = unsafe { channel_arg(channel, channel_len) }?;
        out.required("out")?;
        let service = current().ok_or_else(CallError::not_initialized)?;
        let height = service.ledger_height(ch).ok_or_else(|| {
            CallError::new(FG_STATUS_NOT_FOUND, format!("channel {ch:?} is not joined"))
        })?;
        out.write(height);
        Ok(())
    })
}
