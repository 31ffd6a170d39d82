//! `fg_metrics`: the service's metrics in Prometheus text exposition, plus the C ABI's own
//! counters (caught panics, refused calls), which only exist in a library host.

use crate::ffi::bytes::fg_bytes;
use crate::ffi::counters::{self, FfiCountersSnapshot};
use crate::ffi::panic::ffi_boundary;
use crate::ffi::reentry::reject_reentry;
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
    ffi_boundary!(FG_STATUS_PANIC, {
        reject_reentry!();
        if out_text.is_null() {
            return counters::invalid_arg();
        }
        let Some(service) = current() else {
            return FG_STATUS_NOT_INITIALIZED;
        };
        let mut fams = families(&service.metrics_snapshot());
        fams.extend(ffi_families(counters::counters().snapshot()));
        fg_bytes::write_to(out_text, encode(&fams).into_bytes());
        FG_STATUS_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_out_is_refused_and_nothing_running_is_reported() {
        assert_eq!(
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
}
