//! The panic boundary: no Rust panic ever unwinds into the host.
//!
//! Every exported function runs its body inside [`boundary`] (the status-returning calls
//! through [`crate::ffi::call::run`]); a panic becomes a return value (`FG_STATUS_PANIC`
//! for status-returning functions), a counter and an error log line. [`ffi_boundary!`] is
//! the same boundary as a macro, for the calls not yet on `call::run`.

/// Runs `body` and returns its value, or `on_panic` when it panics.
pub(crate) fn boundary<R>(on_panic: R, body: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            report(&*payload);
            on_panic
        }
    }
}

/// Runs `$body` and returns its value, or `$on_panic` when it panics.
/// `return` inside `$body` returns from the body, as in a closure.
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(payload) => {
                $crate::ffi::panic::report(&*payload);
                $on_panic
            }
        }
    }};
}
pub(crate) use ffi_boundary;

/// Logs a caught panic with its message.
pub(crate) fn report(payload: &(dyn std::any::Any + Send)) {
    crate::ffi::counters::bump(&crate::ffi::counters::counters().panics_caught);
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    tracing::error!(target: "fabgossip::ffi", "panic caught at the C ABI boundary: {msg}");
}

#[cfg(test)]
mod tests {
    use crate::ffi::status::*;

    fn body_that_panics(p: bool) -> fg_status {
        ffi_boundary!(FG_STATUS_PANIC, {
            if p {
                panic!("boom");
            }
            FG_STATUS_OK
        })
    }

    #[test]
    fn panic_becomes_status() {
        assert_eq!(body_that_panics(false), FG_STATUS_OK);
        assert_eq!(body_that_panics(true), FG_STATUS_PANIC);
        assert_eq!(super::boundary(1, || 2), 2);
        assert_eq!(super::boundary(1, || panic!("boom")), 1);
    }
}
