//! The channel calls of the C ABI: join, leave, ledger height, chaincodes, peers of a
//! channel. Calls that change state wait for the node's owner task to apply them (it never
//! waits on the network); the query reads its snapshot.

use std::ffi::c_char;

use serde::Deserialize;

use crate::channel::{AnchorPeer, ChannelError, JoinChannelMessage, OrdererEndpoint};
use crate::ffi::bytes::fg_bytes;
use crate::ffi::counters;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::reentry::reject_reentry;
use crate::ffi::service::current;
use crate::ffi::status::*;
use crate::node::{ChaincodeInfo, ChannelCallError};

/// The join message as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinJson {
    sequence: u64,
    members: Vec<String>,
    #[serde(default)]
    anchor_peers: Vec<AnchorJson>,
    #[serde(default)]
    orderers: Vec<OrdererJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrdererJson {
    endpoint: String,
    #[serde(default)]
    tls_root_cert: Option<String>,
    /// Hex of a 32-byte Ed25519 key.
    #[serde(default)]
    public_key: Option<String>,
}

impl OrdererJson {
    fn parse(self) -> Result<OrdererEndpoint, String> {
        if self.endpoint.is_empty() {
            return Err("an orderer needs an endpoint".into());
        }
        let public_key = match self.public_key {
            None => None,
            Some(h) => {
                let bytes = hex::decode(h.trim()).map_err(|e| {
                    format!("orderer {}: public_key is not hex: {e}", self.endpoint)
                })?;
                let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                    format!(
                        "orderer {}: public_key has {} bytes, an Ed25519 key has 32",
                        self.endpoint,
                        b.len()
                    )
                })?;
                Some(key)
            }
        };
        Ok(OrdererEndpoint {
            endpoint: self.endpoint,
            tls_root_cert: self.tls_root_cert.filter(|p| !p.trim().is_empty()),
            public_key,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorJson {
    org: String,
    host: String,
    port: u16,
}

/// A `(ptr, len)` text argument; `None` (counted) when NULL, empty or not UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
unsafe fn text_arg<'a>(what: &str, ptr: *const c_char, len: usize) -> Option<&'a str> {
    if ptr.is_null() || len == 0 {
        tracing::warn!(target: "fabgossip::ffi", "{what} is NULL or empty");
        return None;
    }
    let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
    match std::str::from_utf8(bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(target: "fabgossip::ffi", "{what} is not UTF-8: {e}");
            None
        }
    }
}

/// The status of a refused channel call; the detail goes to the log.
fn call_status(call: &str, channel: &str, res: Result<(), ChannelCallError>) -> fg_status {
    let e = match res {
        Ok(()) => return FG_STATUS_OK,
        Err(e) => e,
    };
    tracing::warn!(target: "fabgossip::ffi", channel, "{call} refused: {e}");
    match e {
        ChannelCallError::Stopped => FG_STATUS_SHUTDOWN,
        ChannelCallError::Channel(
            ChannelError::UnknownChannel(_) | ChannelError::LeftChannel(_),
        ) => FG_STATUS_NOT_FOUND,
        ChannelCallError::Channel(_) => counters::invalid_arg(),
        ChannelCallError::Ledger(_) => FG_STATUS_IO,
        ChannelCallError::InvalidBlock(_) => FG_STATUS_CRYPTO,
        ChannelCallError::TooFarAhead { .. } => FG_STATUS_BUSY,
    }
}

/// Runs one channel call on the running service, waiting for the owner task's answer.
fn run_call<F, Fut>(call: &str, channel: &str, f: F) -> fg_status
where
    F: FnOnce(std::sync::Arc<crate::node::GossipService>) -> Fut,
    Fut: std::future::Future<Output = Result<(), ChannelCallError>>,
{
    let Some(service) = current() else {
        return FG_STATUS_NOT_INITIALIZED;
    };
    // The owner task runs on the library's runtime, so waiting here cannot starve it, even
    // when the caller is itself a runtime thread of the host.
    let res = crate::ffi::wait::wait(f(service));
    call_status(call, channel, res)
}

/// Joins `channel` (or reconfigures it when the sequence is newer; an older one is
/// ignored). `join_json`: `{"sequence":N,"members":["Org1MSP",...],"anchor_peers":
/// [{"org":"Org1MSP","host":"peer0","port":7051},...],"orderers":[{"endpoint":
/// "127.0.0.1:7050","tls_root_cert":"<PEM>","public_key":"<hex Ed25519 key>"},...]}`
/// (`anchor_peers`, `orderers` and their `tls_root_cert`/`public_key` optional). Anchor
/// peers are dialed and never purged from membership. The delivery service pulls blocks from
/// the orderers (TLS when a root certificate is given); with the built-in crypto, blocks must
/// carry a signature by one of the public keys when any is given.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (NULL/empty/non-UTF-8 arguments, bad
/// JSON, no members, own org not a member), `FG_STATUS_NOT_INITIALIZED`,
/// `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `join_json` to `join_len`.
#[no_mangle]
pub unsafe extern "C" fn fg_join_channel(
    channel: *const c_char,
    channel_len: usize,
    join_json: *const c_char,
    join_len: usize,
) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let (Some(ch), Some(json)) = (
            text_arg("channel", channel, channel_len),
            text_arg("join_json", join_json, join_len),
        ) else {
            return counters::invalid_arg();
        };
        let join: JoinJson = match serde_json::from_str(json) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(target: "fabgossip::ffi", channel = ch, "join message: {e}");
                return counters::invalid_arg();
            }
        };
        let orderers = match join
            .orderers
            .into_iter()
            .map(OrdererJson::parse)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(target: "fabgossip::ffi", channel = ch, "join message: {e}");
                return counters::invalid_arg();
            }
        };
        let msg = JoinChannelMessage {
            orderers,
            sequence: join.sequence,
            members: join.members,
            anchor_peers: join
                .anchor_peers
                .into_iter()
                .map(|a| AnchorPeer {
                    org: a.org,
                    host: a.host,
                    port: a.port,
                })
                .collect(),
        };
        run_call("join", ch, |s| async move { s.join_channel(ch, msg).await })
    })
}

/// Leaves `channel`: publishes `left_channel` and stops its work; `fg_peers_of_channel`
/// then reports no peers. Leaving twice is OK.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_NOT_FOUND` (never joined),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or
/// `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn fg_leave_channel(channel: *const c_char, channel_len: usize) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let Some(ch) = text_arg("channel", channel, channel_len) else {
            return counters::invalid_arg();
        };
        run_call("leave", ch, |s| async move { s.leave_channel(ch).await })
    })
}

/// Sets the ledger height this peer publishes for `channel` (sent with the next StateInfo
/// round).
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_NOT_FOUND` (never joined or
/// left), `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_SHUTDOWN`, `FG_STATUS_REENTRANT` or
/// `FG_STATUS_PANIC`.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn fg_update_ledger_height(
    channel: *const c_char,
    channel_len: usize,
    height: u64,
) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let Some(ch) = text_arg("channel", channel, channel_len) else {
            return counters::invalid_arg();
        };
        run_call("ledger height update", ch, |s| async move {
            s.update_ledger_height(ch, height).await
        })
    })
}

/// Sets the chaincodes this peer publishes for `channel` (sent at once).
/// `chaincodes_json`: `[{"name":"mycc","version":"1.0"},...]`.
///
/// Returns the statuses of `fg_update_ledger_height`; `FG_STATUS_INVALID_ARG` also for bad
/// JSON.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `chaincodes_json` to `json_len`.
#[no_mangle]
pub unsafe extern "C" fn fg_update_chaincodes(
    channel: *const c_char,
    channel_len: usize,
    chaincodes_json: *const c_char,
    json_len: usize,
) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let (Some(ch), Some(json)) = (
            text_arg("channel", channel, channel_len),
            text_arg("chaincodes_json", chaincodes_json, json_len),
        ) else {
            return counters::invalid_arg();
        };
        let chaincodes: Vec<ChaincodeInfo> = match serde_json::from_str(json) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "fabgossip::ffi", channel = ch, "chaincodes: {e}");
                return counters::invalid_arg();
            }
        };
        run_call("chaincodes update", ch, |s| async move {
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
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let Some(ch) = text_arg("channel", channel, channel_len) else {
            return counters::invalid_arg();
        };
        if out_json.is_null() {
            return counters::invalid_arg();
        }
        let Some(service) = current() else {
            return FG_STATUS_NOT_INITIALIZED;
        };
        let Some(peers) = service.peers_of_channel(ch) else {
            return FG_STATUS_NOT_FOUND;
        };
        match serde_json::to_vec(&peers) {
            Ok(json) => {
                fg_bytes::write_to(out_json, json);
                FG_STATUS_OK
            }
            Err(_) => FG_STATUS_INTERNAL,
        }
    })
}

/// Adds block `seq` of `channel` that the host obtained (Fabric's `AddPayload`): it is
/// verified (`verify_block`), committed in order to the channel's ledger and gossiped to the
/// org's channel peers. `block` is a marshaled `common.Block`, copied. Adding a block held
/// already is OK.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG`, `FG_STATUS_NOT_FOUND` (channel not
/// joined, or left), `FG_STATUS_CRYPTO` (the block failed verification: dropped and
/// counted), `FG_STATUS_BUSY` (too far above the ledger height: offer it again after
/// commits progress), `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_SHUTDOWN`,
/// `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`. Returns once the block is buffered, not
/// committed; `fg_ledger_height` tells when it is.
///
/// # Safety
/// `channel` points to `channel_len` readable bytes, `block` to `block_len`.
#[no_mangle]
pub unsafe extern "C" fn fg_add_payload(
    channel: *const c_char,
    channel_len: usize,
    seq: u64,
    block: *const u8,
    block_len: usize,
) -> fg_status {
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let Some(ch) = text_arg("channel", channel, channel_len) else {
            return counters::invalid_arg();
        };
        if block.is_null() || block_len == 0 {
            tracing::warn!(target: "fabgossip::ffi", "block is NULL or empty");
            return counters::invalid_arg();
        }
        let bytes = std::slice::from_raw_parts(block, block_len).to_vec();
        run_call("add_payload", ch, |s| async move {
            s.add_payload(ch, seq, bytes).await
        })
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
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        let Some(ch) = text_arg("channel", channel, channel_len) else {
            return counters::invalid_arg();
        };
        if out.is_null() {
            return counters::invalid_arg();
        }
        let Some(service) = current() else {
            return FG_STATUS_NOT_INITIALIZED;
        };
        match service.ledger_height(ch) {
            Some(h) => {
                *out = h;
                FG_STATUS_OK
            }
            None => FG_STATUS_NOT_FOUND,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<OrdererEndpoint>, String> {
        let j: JoinJson = serde_json::from_str(json).map_err(|e| e.to_string())?;
        j.orderers.into_iter().map(OrdererJson::parse).collect()
    }

    #[test]
    fn orderers_of_the_join_message() {
        let key = hex::encode([3u8; 32]);
        let o = parse(&format!(
            r#"{{"sequence":1,"members":["Org1MSP"],"orderers":[
                {{"endpoint":"127.0.0.1:7050","tls_root_cert":"PEM","public_key":"{key}"}},
                {{"endpoint":"o2:7050","tls_root_cert":""}}]}}"#
        ))
        .unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].endpoint, "127.0.0.1:7050");
        assert_eq!(o[0].tls_root_cert.as_deref(), Some("PEM"));
        assert_eq!(o[0].public_key, Some([3; 32]));
        // An empty certificate means plain TCP.
        assert_eq!(o[1].tls_root_cert, None);
        assert_eq!(o[1].public_key, None);
        assert!(parse(r#"{"sequence":1,"members":["A"]}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_orderers_are_refused() {
        let bad = |o: &str| {
            parse(&format!(
                r#"{{"sequence":1,"members":["A"],"orderers":[{o}]}}"#
            ))
        };
        assert!(bad(r#"{"endpoint":""}"#).unwrap_err().contains("endpoint"));
        assert!(bad(r#"{"endpoint":"o:1","public_key":"zz"}"#)
            .unwrap_err()
            .contains("not hex"));
        assert!(bad(r#"{"endpoint":"o:1","public_key":"0102"}"#)
            .unwrap_err()
            .contains("2 bytes"));
        assert!(bad(r#"{"endpoint":"o:1","tls":"x"}"#).is_err());
    }
}
