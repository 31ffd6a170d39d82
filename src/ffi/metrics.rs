//! `fg_metrics`: the service's metrics in Prometheus text exposition, plus the C ABI's own
//! counters (caught panics, refused calls, calls by status), which only exist in a library
//! host.

use crate::ffi::bytes::fg_bytes;
use crate::ffi::call::{self, Out};
use crate::ffi::call_error::CallError;
use crate::ffi::counters::{self, CallCount, CallId, FfiCountersSnapshot};
use crate::ffi::service::current;
use crate::ffi::status::*;
use crate::metrics::{encode, families, Family, Kind};

/// The C ABI's counters as families.
fn ffi_families(c: FfiCountersSnapshot) -> Vec<Family> {
    let mut f = Family::new(
        "fabgossip_ffi_refusals",
        "Calls and callbacks at the C ABI that failed, by reason",
        Kind::Counter,
    );
    for (reason, v) in [
        ("panic_caught", c.panics_caught),
        ("reentrant", c.reentrant_refused),
        ("invalid_arg", c.invalid_args),
        ("host_callback_failed", c.host_callback_failures),
        ("init_failed", c.init_failures),
        ("leadership_event_dropped", c.leadership_events_dropped),
    ] {
        f.sample(&[("reason", reason)], v as f64);
    }
    vec![f]
}

/// The `fg_*` calls made, by name and status.
fn call_families(counts: &[CallCount]) -> Vec<Family> {
    let mut f = Family::new(
        "fabgossip_ffi_calls",
        "Calls of the C ABI's fg_* functions, by function and returned status",
        Kind::Counter,
    );
    for c in counts {
        f.sample(
            &[("call", c.call), ("status", status_label(c.status))],
            c.count as f64,
        );
    }
    vec![f]
}

/// Writes every metric of the running service as Prometheus text exposition (format 0.0.4:
/// `# HELP`, `# TYPE`, one sample per line) to `*out_text`; free it with `fg_bytes_free`.
/// Fabric's gossip metric names where Fabric has the metric (`gossip_comm_messages_sent`,
/// `gossip_state_height{channel}`, ...), `fabgossip_*` for the rest. Built from snapshots:
/// never blocks on the network.
///
/// Returns `FG_STATUS_OK`, `FG_STATUS_INVALID_ARG` (`out_text` is NULL),
/// `FG_STATUS_NOT_INITIALIZED`, `FG_STATUS_REENTRANT` or `FG_STATUS_PANIC`.
///
/// # Safety
/// `out_text` is NULL or points to a writable `fg_bytes`.
#[no_mangle]
pub unsafe extern "C" fn fg_metrics(out_text: *mut fg_bytes) -> fg_status {
    const CALL: CallId = CallId::named("fg_metrics");
    // SAFETY: `out_text` is NULL or writable, as this function requires.
    let out = unsafe { Out::new(out_text) };
    call::run(CALL, Out::none(), || {
        out.required("out_text")?;
        let service = current().ok_or_else(CallError::not_initialized)?;
        let mut fams = families(&service.metrics_snapshot());
        fams.extend(ffi_families(counters::counters().snapshot()));
        fams.extend(call_families(&counters::call_counts()));
        out.write_bytes(encode(&fams).into_bytes());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_out_is_refused_and_nothing_running_is_reported() {
        assert_eq!(
            // SAFETY: a NULL out-param is allowed.
            unsafe { fg_metrics(std::ptr::null_mut()) },
            FG_STATUS_INVALID_ARG
        );
    }

    #[test]
    fn ffi_counters_have_one_sample_per_reason() {
        let text = encode(&ffi_families(FfiCountersSnapshot {
            panics_caught: 2,
            ..Default::default()
        }));
        assert!(
            text.contains("fabgossip_ffi_refusals{reason=\"panic_caught\"} 2\n"),
            "{text}"
        );
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 6);
    }

    #[test]
    fn calls_are_counted_by_function_and_status() {
        let text = encode(&call_families(&[
            CallCount {
                call: "fg_add_payload",
                status: FG_STATUS_BUSY,
                count: 3,
            },
            CallCount {
                call: "fg_peers",
                status: 999,
                count: 1,
            },
        ]));
        assert!(
            text.contains(
                "fabgossip_ffi_calls{call=\"fg_add_payload\",status=\"FG_STATUS_BUSY\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "fabgossip_ffi_calls{call=\"fg_peers\",status=\"FG_STATUS_UNKNOWN\"} 1\n"
            ),
            "{text}"
        );
    }
}
