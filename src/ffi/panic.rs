//! The panic boundary: no Rust panic ever unwinds into the host.
//!
//! Every exported function runs its body inside [`boundary`] (the status-returning calls
//! through [`crate::ffi::call::run`]); a panic becomes a return value (`FG_STATUS_PANIC`
//! for status-returning functions), a counter and an error log line.

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
    #[test]
    fn panic_becomes_the_given_value() {
        assert_eq!(super::boundary(1, || 2), 2);
        assert_eq!(super::boundary(1, || panic!("boom")), 1);
    }
}
