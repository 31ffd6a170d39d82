//! `fg_explain_peer`: why a peer is or is not in this peer's view, as JSON.

use std::ffi::c_char;

use crate::ffi::bytes::fg_bytes;
use crate::ffi::call::{self, Out};
use crate::ffi::call_error::{text_arg, CallError};
use crate::ffi::counters::CallId;
use crate::ffi::service::current;
use crate::ffi::status::*;

/// Explains what this peer knows of the peer named by `query` — an endpoint `host:port` or a
/// PKI-ID in hex — and why it is or is not in the view. Writes a JSON object to `*out_json`
/// (free it with `fg_bytes_free`): `query`, `reason` (one of `alive`, `never_dialed`,
/// `dial_failed`, `handshake_failed`, `other_org_no_external_endpoint`, `identity_expired`,
/// `dead`, `purged`, `handshaken_not_in_view`, `unknown`), `detail` (a sentence),
/// `in_view`, `pki_id`, `org`, `endpoint`, `internal_endpoint`, `state`,
/// `alive_since_unix_ms`, `last_alive_unix_ms`, `dead_since_unix_ms`, `purged_at_unix_ms`,
/// `last_contact` (the last dial or handshake: `endpoint`, `direction`, `outcome`
/// (`handshaken`, `dial_failed` with `error`, `handshake_failed` with `reason` and
/// `detail`), `at_unix_ms`, `since_unix_ms`, `repeats`) and `self` (`org`,
/// `external_endpoint`). Unknown values are `null`. Never blocks on the network.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (NULL or empty query, not UTF-8, neither
/// `host:port` nor hex, or `out_json` NULL), `FG_STATUS_NOT_INITIALIZED`,
/// `FG_STATUS_INTERNAL`, `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `query` points to `query_len` readable bytes; `out_json` is NULL or points to a writable
/// `fg_bytes`.
#[no_mangle]
pub unsafe extern "C" fn fg_explain_peer(
    query: *const c_char,
    query_len: usize,
    out_json: *mut fg_bytes,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_explain_peer");
    // SAFETY: `out_json` is NULL or writable, as this function requires.
    let out = unsafe { Out::new(out_json) };
    call::run(CALL, Out::none(), || {
        out.required("out_json")?;
        // SAFETY: `query` points to `query_len` readable bytes (this function's contract).
        let text = unsafe { text_arg("query", query, query_len) }?;
        let service = current().ok_or_else(CallError::not_initialized)?;
        let explanation = service
            .explain_peer(text)
            .map_err(|e| CallError::invalid_arg(e.to_string()))?;
        out.write_bytes(serde_json::to_vec(&explanation).map_err(CallError::internal)?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_are_refused() {
        let mut out = fg_bytes {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        let q = b"127.0.0.1:7051";
        assert_eq!(
            unsafe { fg_explain_peer(std::ptr::null(), 3, &mut out) },
            FG_STATUS_INVALID_ARG
        );
        assert_eq!(
            unsafe { fg_explain_peer(q.as_ptr().cast(), 0, &mut out) },
            FG_STATUS_INVALID_ARG
        );
        assert_eq!(
            unsafe { fg_explain_peer(q.as_ptr().cast(), q.len(), std::ptr::null_mut()) },
            FG_STATUS_INVALID_ARG
        );
        assert!(out.ptr.is_null(), "nothing written on failure");
    }
}
