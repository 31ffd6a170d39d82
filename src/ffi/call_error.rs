//! Error detail of the calls that change a channel (`err_out`): a refused call returns its
//! status and writes a sentence saying why into the host's `fg_bytes`.
//!
//! The detail travels in the same call rather than through a thread-local "last error"
//! because a Go host's goroutine may move to another OS thread between two cgo calls, so a
//! thread-local read after the call could return another goroutine's error.

use std::ffi::c_char;

use crate::channel::ChannelError;
use crate::ffi::counters;
use crate::ffi::status::*;
use crate::node::ChannelCallError;

/// A refused call: the status it returns and the detail for `err_out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallError {
    pub status: fg_status,
    pub detail: String,
}

impl CallError {
    pub(crate) fn new(status: fg_status, detail: impl Into<String>) -> CallError {
        CallError {
            status,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid_arg(detail: impl Into<String>) -> CallError {
        CallError::new(FG_STATUS_INVALID_ARG, detail)
    }

    /// A failure that is the library's own (e.g. serializing a reply).
    pub(crate) fn internal(e: impl std::fmt::Display) -> CallError {
        CallError::new(FG_STATUS_INTERNAL, e.to_string())
    }

    pub(crate) fn not_initialized() -> CallError {
        CallError::new(
            FG_STATUS_NOT_INITIALIZED,
            "the gossip service is not running (call fg_init first)",
        )
    }
}

impl From<ChannelCallError> for CallError {
    fn from(e: ChannelCallError) -> CallError {
        let status = match &e {
            ChannelCallError::Stopped => FG_STATUS_SHUTDOWN,
            ChannelCallError::Channel(
                ChannelError::UnknownChannel(_) | ChannelError::LeftChannel(_),
            ) => FG_STATUS_NOT_FOUND,
            ChannelCallError::Channel(_) => FG_STATUS_INVALID_ARG,
            ChannelCallError::Ledger(_) => FG_STATUS_IO,
            ChannelCallError::InvalidBlock(_) => FG_STATUS_CRYPTO,
            ChannelCallError::ConfigBlock(_) => FG_STATUS_INVALID_ARG,
            ChannelCallError::TooFarAhead { .. } => FG_STATUS_BUSY,
        };
        CallError::new(status, e.to_string())
    }
}

/// Refuses a call made from inside a library callback, with its detail.
pub(crate) fn refuse_reentry(call: &str) -> Result<(), CallError> {
    if crate::ffi::reentry::inside_callback() {
        counters::bump(&counters::counters().reentrant_refused);
        return Err(CallError::new(
            FG_STATUS_REENTRANT,
            format!("{call} was called from inside a library callback; call it from a host thread"),
        ));
    }
    Ok(())
}

/// A `(ptr, len)` text argument named `what`: NULL, empty and non-UTF-8 are refused.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn text_arg<'a>(
    what: &str,
    ptr: *const c_char,
    len: usize,
) -> Result<&'a str, CallError> {
    if ptr.is_null() || len == 0 {
        return Err(CallError::invalid_arg(format!("{what} is NULL or empty")));
    }
    // SAFETY: not NULL, so `len` readable bytes by this function's contract.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes)
        .map_err(|e| CallError::invalid_arg(format!("{what} is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_errors_map_to_stable_statuses_with_their_text() {
        let cases = [
            (
                ChannelCallError::Channel(ChannelError::UnknownChannel("c".into())),
                FG_STATUS_NOT_FOUND,
                "channel \"c\" is not joined",
            ),
            (
                ChannelCallError::TooFarAhead {
                    seq: 500,
                    height: 3,
                },
                FG_STATUS_BUSY,
                "block 500 is too far ahead of the ledger height 3",
            ),
            (
                ChannelCallError::InvalidBlock("bad data hash".into()),
                FG_STATUS_CRYPTO,
                "invalid block: bad data hash",
            ),
            (
                ChannelCallError::Stopped,
                FG_STATUS_SHUTDOWN,
                "the gossip service is stopped",
            ),
        ];
        for (e, status, text) in cases {
            let c = CallError::from(e);
            assert_eq!((c.status, c.detail.as_str()), (status, text));
        }
    }

    #[test]
    fn text_arguments_are_checked() {
        // SAFETY: locals and static byte strings with their lengths; `fg_bytes` the library wrote.
        unsafe {
            assert!(text_arg("channel", std::ptr::null(), 3)
                .unwrap_err()
                .detail
                .contains("NULL"));
            assert!(text_arg("channel", b"x".as_ptr().cast(), 0).is_err());
            let e = text_arg("channel", b"\xff".as_ptr().cast(), 1).unwrap_err();
            assert_eq!(e.status, FG_STATUS_INVALID_ARG);
            assert!(e.detail.contains("UTF-8"), "{}", e.detail);
            assert_eq!(text_arg("channel", b"ch".as_ptr().cast(), 2), Ok("ch"));
        }
    }
}
