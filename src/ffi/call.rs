//! The one shape of an `fg_*` call that returns an `fg_status`.
//!
//! [`run`] is the whole boundary: it refuses a call made from inside a library callback,
//! catches a panic of the body, turns the body's `Result` into the status, writes the
//! refusal's detail to `err_out`, logs it, bumps the refusal counters and counts the call
//! by name and status (`fabgossip_ffi_calls`). A function only checks its arguments and
//! does its work:
//!
//! ```ignore
//! const CALL: CallId = CallId::named("fg_leave_channel");
//! // SAFETY: `err_out` is NULL or writable, as this function's contract requires.
//! let err = unsafe { Out::new(err_out) };
//! call::run(CALL, err, || {
//!     // SAFETY: `channel` points to `channel_len` readable bytes (the contract).
//!     let ch = unsafe { channel_arg(channel, channel_len) }?;
//!     ...
//! })
//! ```
//!
//! Out-params are [`Out`]s: written only on success, by the body.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::ffi::bytes::fg_bytes;
use crate::ffi::call_error::{refuse_reentry, CallError};
use crate::ffi::counters::{self, CallId};
use crate::ffi::status::*;

/// An out-parameter of an `fg_*` call: NULL, or writable for one `T` during the call.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// # Safety
    /// `ptr` is NULL or points to memory writable for one `T` until the call returns.
    pub(crate) unsafe fn new(ptr: *mut T) -> Out<T> {
        Out(ptr)
    }

    /// No out-parameter: what is written goes nowhere.
    pub(crate) fn none() -> Out<T> {
        Out(std::ptr::null_mut())
    }

    /// Refuses a NULL out-parameter named `what` as an invalid argument.
    pub(crate) fn required(&self, what: &str) -> Result<(), CallError> {
        if self.0.is_null() {
            return Err(CallError::invalid_arg(format!("{what} is NULL")));
        }
        Ok(())
    }

    /// Writes `value` when not NULL, without reading or dropping what was there (the host's
    /// memory holds no Rust value).
    pub(crate) fn write(&self, value: T) {
        if !self.0.is_null() {
            // SAFETY: not NULL, so writable for one `T` by the contract of `Out::new`.
            unsafe { std::ptr::write(self.0, value) };
        }
    }
}

impl Out<fg_bytes> {
    /// Writes `data` as a library-owned `fg_bytes` when not NULL.
    pub(crate) fn write_bytes(&self, data: Vec<u8>) {
        if !self.0.is_null() {
            self.write(fg_bytes::from_vec(data));
        }
    }
}

/// Runs the body of the `fg_*` call `call` at the C ABI boundary and returns its status; see
/// the module docs. `err_out` receives the detail of a refusal or a caught panic and is
/// untouched on success.
pub(crate) fn run(
    call: CallId,
    err_out: Out<fg_bytes>,
    body: impl FnOnce() -> Result<(), CallError>,
) -> fg_status {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let result = refuse_reentry(call.name()).and_then(|()| body());
        finish(call, &err_out, result)
    }));
    let status = outcome.unwrap_or_else(|payload| {
        crate::ffi::panic::report(&*payload);
        err_out.write_bytes(
            format!(
                "{}: internal error (a panic was caught; the log has its message)",
                call.name()
            )
            .into_bytes(),
        );
        FG_STATUS_PANIC
    });
    counters::count_call(call, status);
    status
}

/// The status of `result`; a refusal is counted when it is an invalid argument, logged, and
/// its detail written to `err_out`.
fn finish(call: CallId, err_out: &Out<fg_bytes>, result: Result<(), CallError>) -> fg_status {
    let e = match result {
        Ok(()) => return FG_STATUS_OK,
        Err(e) => e,
    };
    if e.status == FG_STATUS_INVALID_ARG {
        counters::bump(&counters::counters().invalid_args);
    }
    let (name, label) = (call.name(), status_label(e.status));
    // Answers a host asks for and acts on are not warnings.
    if matches!(e.status, FG_STATUS_NOT_FOUND | FG_STATUS_NOT_INITIALIZED) {
        tracing::debug!(target: "fabgossip::ffi", "{name}: {label}: {}", e.detail);
    } else {
        tracing::warn!(target: "fabgossip::ffi", "{name} refused ({label}): {}", e.detail);
    }
    err_out.write_bytes(e.detail.into_bytes());
    e.status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::bytes::fg_bytes_free;
    use crate::ffi::reentry::CallbackScope;

    const CALL: CallId = CallId::named("fg_leave_channel");

    fn empty() -> fg_bytes {
        fg_bytes {
            ptr: std::ptr::null_mut(),
            len: 0,
        }
    }

    /// Runs `body` as `CALL` with an `err_out`: the status and the detail written, if any.
    fn call_with_err(body: impl FnOnce() -> Result<(), CallError>) -> (fg_status, Option<String>) {
        let mut err = empty();
        // SAFETY: `err` is a local `fg_bytes`, writable during the call.
        let status = run(CALL, unsafe { Out::new(&mut err) }, body);
        let detail = (!err.ptr.is_null()).then(|| {
            // SAFETY: written by `run` through `fg_bytes::from_vec`: `len` readable bytes.
            let text = unsafe { std::slice::from_raw_parts(err.ptr, err.len) };
            String::from_utf8_lossy(text).into_owned()
        });
        // SAFETY: `err` is zeroed or was written by the library.
        unsafe { fg_bytes_free(&mut err) };
        (status, detail)
    }

    fn calls(status: fg_status) -> u64 {
        counters::call_counts()
            .into_iter()
            .find(|c| c.call == CALL.name() && c.status == status)
            .map_or(0, |c| c.count)
    }

    #[test]
    fn success_leaves_err_out_untouched_and_is_counted() {
        let before = calls(FG_STATUS_OK);
        assert_eq!(call_with_err(|| Ok(())), (FG_STATUS_OK, None));
        assert!(calls(FG_STATUS_OK) > before);
    }

    #[test]
    fn a_refusal_returns_its_status_and_detail() {
        let before = counters::counters().snapshot().invalid_args;
        assert_eq!(
            call_with_err(|| Err(CallError::invalid_arg("channel is NULL or empty"))),
            (
                FG_STATUS_INVALID_ARG,
                Some("channel is NULL or empty".to_string())
            )
        );
        assert!(counters::counters().snapshot().invalid_args > before);
        assert_eq!(
            call_with_err(|| Err(CallError::new(FG_STATUS_BUSY, "later"))),
            (FG_STATUS_BUSY, Some("later".to_string()))
        );
        // No err_out: the status alone.
        let st = run(CALL, Out::none(), || {
            Err(CallError::new(FG_STATUS_NOT_FOUND, "no"))
        });
        assert_eq!(st, FG_STATUS_NOT_FOUND);
    }

    #[test]
    fn a_panic_becomes_fg_status_panic_with_a_detail() {
        let before = counters::counters().snapshot().panics_caught;
        let (st, detail) = call_with_err(|| panic!("boom"));
        assert_eq!(st, FG_STATUS_PANIC);
        assert!(detail
            .unwrap()
            .starts_with("fg_leave_channel: internal error"));
        assert!(counters::counters().snapshot().panics_caught > before);
        assert!(calls(FG_STATUS_PANIC) > 0);
    }

    #[test]
    fn a_call_inside_a_callback_is_refused_before_its_body_runs() {
        let _scope = CallbackScope::enter();
        let (st, detail) = call_with_err(|| panic!("the body must not run"));
        assert_eq!(st, FG_STATUS_REENTRANT);
        assert!(detail.unwrap().contains("inside a library callback"));
    }

    #[test]
    fn out_params_are_written_only_when_given() {
        let mut v = 0u64;
        // SAFETY: `v` is a local, writable during the call.
        let out = unsafe { Out::new(&mut v) };
        assert_eq!(out.required("out"), Ok(()));
        out.write(7);
        assert_eq!(v, 7);
        let none = Out::<u64>::none();
        assert_eq!(
            none.required("out").unwrap_err().detail,
            "out is NULL".to_string()
        );
        none.write(8);
    }
}
