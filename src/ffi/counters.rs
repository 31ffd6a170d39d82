//! Counters of what went wrong at the C ABI, for logs and metrics: bad input from the host
//! is refused with a status and counted, never a crash.

use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counts since the library was loaded.
#[derive(Debug, Default)]
pub struct FfiCounters {
    /// Panics caught at the boundary and turned into `FG_STATUS_PANIC`.
    pub panics_caught: AtomicU64,
    /// Calls refused with `FG_STATUS_REENTRANT`.
    pub reentrant_refused: AtomicU64,
    /// Calls refused with `FG_STATUS_INVALID_ARG`.
    pub invalid_args: AtomicU64,
    /// Host callbacks that returned a non-OK status or a malformed output.
    pub host_callback_failures: AtomicU64,
    /// `fg_init` calls that failed.
    pub init_failures: AtomicU64,
    /// Leadership changes dropped because the host's leadership callback fell too far
    /// behind.
    pub leadership_events_dropped: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct FfiCountersSnapshot {
    pub panics_caught: u64,
    pub reentrant_refused: u64,
    pub invalid_args: u64,
    pub host_callback_failures: u64,
    pub init_failures: u64,
    pub leadership_events_dropped: u64,
}

static COUNTERS: FfiCounters = FfiCounters {
    panics_caught: AtomicU64::new(0),
    reentrant_refused: AtomicU64::new(0),
    invalid_args: AtomicU64::new(0),
    host_callback_failures: AtomicU64::new(0),
    init_failures: AtomicU64::new(0),
    leadership_events_dropped: AtomicU64::new(0),
};

/// The process-wide counters.
pub fn counters() -> &'static FfiCounters {
    &COUNTERS
}

/// Adds one to `c`.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl FfiCounters {
    pub fn snapshot(&self) -> FfiCountersSnapshot {
        FfiCountersSnapshot {
            panics_caught: self.panics_caught.load(Ordering::Relaxed),
            reentrant_refused: self.reentrant_refused.load(Ordering::Relaxed),
            invalid_args: self.invalid_args.load(Ordering::Relaxed),
            host_callback_failures: self.host_callback_failures.load(Ordering::Relaxed),
            init_failures: self.init_failures.load(Ordering::Relaxed),
            leadership_events_dropped: self.leadership_events_dropped.load(Ordering::Relaxed),
        }
    }
}

/// Every `fg_*` call that returns an `fg_status`; `fabgossip_ffi_calls` counts each by
/// name and status.
const CALLS: [&str; 22] = [
    "fg_init",
    "fg_init_from_file",
    "fg_shutdown",
    "fg_peers",
    "fg_self",
    "fg_join_channel",
    "fg_leave_channel",
    "fg_update_ledger_height",
    "fg_update_chaincodes",
    "fg_peers_of_channel",
    "fg_add_payload",
    "fg_ledger_height",
    "fg_set_leadership_callback",
    "fg_is_leader",
    "fg_yield_leadership",
    "fg_set_log_callback",
    "fg_metrics",
    "fg_explain_peer",
    "fg_distribute_private_data",
    "fg_set_collection_config",
    "fg_explain_private_data",
    "fg_set_ledger_callbacks",
];

/// One slot per known status, and a last one for any other value.
const STATUS_SLOTS: usize = crate::ffi::status::FG_STATUS_INCOMPLETE as usize + 2;

static CALL_COUNTS: [[AtomicU64; STATUS_SLOTS]; CALLS.len()] =
    [const { [const { AtomicU64::new(0) }; STATUS_SLOTS] }; CALLS.len()];

/// An `fg_*` call of [`CALLS`], found by name when the program is compiled: a call missing
/// from the list does not build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallId(usize);

impl CallId {
    pub(crate) const fn named(name: &str) -> CallId {
        let mut i = 0;
        while i < CALLS.len() {
            if same(CALLS[i].as_bytes(), name.as_bytes()) {
                return CallId(i);
            }
            i += 1;
        }
        panic!("an fg_* call is missing from ffi::counters::CALLS");
    }

    pub(crate) fn name(self) -> &'static str {
        CALLS[self.0]
    }
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Counts one call of `call` that returned `status`.
pub(crate) fn count_call(call: CallId, status: crate::ffi::status::fg_status) {
    let slot = usize::try_from(status).map_or(STATUS_SLOTS - 1, |s| s.min(STATUS_SLOTS - 1));
    bump(&CALL_COUNTS[call.0][slot]);
}

/// How often one call returned one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallCount {
    pub call: &'static str,
    /// The status returned; `FG_STATUS_INCOMPLETE + 1` stands for any unknown value.
    pub status: crate::ffi::status::fg_status,
    pub count: u64,
}

/// The calls made since the library was loaded, by name and status (non-zero counts only).
pub fn call_counts() -> Vec<CallCount> {
    let mut out = Vec::new();
    for (i, by_status) in CALL_COUNTS.iter().enumerate() {
        for (slot, c) in by_status.iter().enumerate() {
            let count = c.load(Ordering::Relaxed);
            if count > 0 {
                out.push(CallCount {
                    call: CALLS[i],
                    status: slot as crate::ffi::status::fg_status,
                    count,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{FG_STATUS_INCOMPLETE, FG_STATUS_OK};

    fn count(call: &str, status: crate::ffi::status::fg_status) -> u64 {
        call_counts()
            .into_iter()
            .find(|c| c.call == call && c.status == status)
            .map_or(0, |c| c.count)
    }

    #[test]
    fn every_call_has_its_own_name() {
        for (i, name) in CALLS.iter().enumerate() {
            assert_eq!(CallId::named(name), CallId(i));
            assert_eq!(CallId::named(name).name(), *name);
        }
    }

    #[test]
    fn calls_are_counted_by_status_and_unknown_statuses_share_a_slot() {
        const CALL: CallId = CallId::named("fg_init_from_file");
        let (ok, unknown) = (
            count("fg_init_from_file", FG_STATUS_OK),
            count("fg_init_from_file", FG_STATUS_INCOMPLETE + 1),
        );
        count_call(CALL, FG_STATUS_OK);
        count_call(CALL, 999);
        count_call(CALL, u32::MAX);
        assert_eq!(count("fg_init_from_file", FG_STATUS_OK), ok + 1);
        assert_eq!(
            count("fg_init_from_file", FG_STATUS_INCOMPLETE + 1),
            unknown + 2
        );
    }
}
