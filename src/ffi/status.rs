//! `fg_status`: the result of every fallible `fg_*` call.
//!
//! The numbers are part of the ABI: they are explicit, stable and never reused. A retired
//! status keeps its number as a comment here.

use std::ffi::c_char;

/// Result of a fallible `fg_*` call and of a host callback. `FG_STATUS_OK` (0) is success;
/// every other value is an error. Unknown values are treated as errors, never as success.
pub type fg_status = u32;

/// Success.
pub const FG_STATUS_OK: fg_status = 0;
/// A required pointer was NULL, a length was zero or text was not UTF-8.
pub const FG_STATUS_INVALID_ARG: fg_status = 1;
/// The gossip service is not running (call `fg_init` first).
pub const FG_STATUS_NOT_INITIALIZED: fg_status = 2;
/// `fg_init` was called while the service is running.
pub const FG_STATUS_ALREADY_INITIALIZED: fg_status = 3;
/// The thing asked for does not exist.
pub const FG_STATUS_NOT_FOUND: fg_status = 4;
/// The operation did not finish in time.
pub const FG_STATUS_TIMEOUT: fg_status = 5;
/// The service is shutting down.
pub const FG_STATUS_SHUTDOWN: fg_status = 6;
/// An `fg_*` function was called from inside a library callback.
pub const FG_STATUS_REENTRANT: fg_status = 7;
/// The library hit an internal bug; it caught the panic before it crossed the ABI.
pub const FG_STATUS_PANIC: fg_status = 8;
/// The config text is invalid; the error detail names the key.
pub const FG_STATUS_CONFIG: fg_status = 9;
/// An I/O error (socket bind, file system).
pub const FG_STATUS_IO: fg_status = 10;
/// A crypto operation or an identity was refused.
pub const FG_STATUS_CRYPTO: fg_status = 11;
/// An internal error that is not a panic (runtime creation, broken invariant).
pub const FG_STATUS_INTERNAL: fg_status = 12;
/// A caller-provided output buffer is too small; the needed length was written.
pub const FG_STATUS_BUFFER_TOO_SMALL: fg_status = 13;
/// A host callback reported a failure (generic error status for host code).
pub const FG_STATUS_CALLBACK_FAILED: fg_status = 14;
/// The library cannot take this now (e.g. a block too far ahead of the ledger height);
/// offer it again later.
pub const FG_STATUS_BUSY: fg_status = 15;
/// The call ran but fell short of its goal (e.g. a collection of private data did not get
/// `requiredPeerCount` acks); its result out-param says what was done.
pub const FG_STATUS_INCOMPLETE: fg_status = 16;

/// A static, NUL-terminated name for `status` (`"FG_STATUS_OK"`, ...). Unknown values give
/// `"FG_STATUS_UNKNOWN"`. Never NULL; the string must not be freed.
#[no_mangle]
pub extern "C" fn fg_status_str(status: fg_status) -> *const c_char {
    // No panic boundary needed: a match over integers with static strings cannot panic.
    status_name(status).as_ptr().cast()
}

/// The name of a status without its NUL, for error text.
pub(crate) fn status_label(status: fg_status) -> &'static str {
    status_name(status).trim_end_matches('\0')
}

/// The NUL-terminated static name of a status.
pub(crate) fn status_name(status: fg_status) -> &'static str {
    match status {
        FG_STATUS_OK => "FG_STATUS_OK\0",
        FG_STATUS_INVALID_ARG => "FG_STATUS_INVALID_ARG\0",
        FG_STATUS_NOT_INITIALIZED => "FG_STATUS_NOT_INITIALIZED\0",
        FG_STATUS_ALREADY_INITIALIZED => "FG_STATUS_ALREADY_INITIALIZED\0",
        FG_STATUS_NOT_FOUND => "FG_STATUS_NOT_FOUND\0",
        FG_STATUS_TIMEOUT => "FG_STATUS_TIMEOUT\0",
        FG_STATUS_SHUTDOWN => "FG_STATUS_SHUTDOWN\0",
        FG_STATUS_REENTRANT => "FG_STATUS_REENTRANT\0",
        FG_STATUS_PANIC => "FG_STATUS_PANIC\0",
        FG_STATUS_CONFIG => "FG_STATUS_CONFIG\0",
        FG_STATUS_IO => "FG_STATUS_IO\0",
        FG_STATUS_CRYPTO => "FG_STATUS_CRYPTO\0",
        FG_STATUS_INTERNAL => "FG_STATUS_INTERNAL\0",
        FG_STATUS_BUFFER_TOO_SMALL => "FG_STATUS_BUFFER_TOO_SMALL\0",
        FG_STATUS_CALLBACK_FAILED => "FG_STATUS_CALLBACK_FAILED\0",
        FG_STATUS_BUSY => "FG_STATUS_BUSY\0",
        FG_STATUS_INCOMPLETE => "FG_STATUS_INCOMPLETE\0",
        _ => "FG_STATUS_UNKNOWN\0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_status_has_a_distinct_name() {
        let mut seen = std::collections::HashSet::new();
        for s in 0..=FG_STATUS_INCOMPLETE {
            // SAFETY: `fg_status_str` returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(fg_status_str(s)) }
                .to_str()
                .unwrap();
            assert!(
                name.starts_with("FG_STATUS_") && name != "FG_STATUS_UNKNOWN",
                "{s}: {name}"
            );
            assert!(seen.insert(name), "duplicate name {name}");
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(fg_status_str(9999)) };
        assert_eq!(unknown.to_str().unwrap(), "FG_STATUS_UNKNOWN");
    }
}
