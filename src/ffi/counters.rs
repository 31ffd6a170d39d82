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

/// Counts and returns `FG_STATUS_INVALID_ARG`.
pub(crate) fn invalid_arg() -> crate::ffi::status::fg_status {
    bump(&COUNTERS.invalid_args);
    crate::ffi::status::FG_STATUS_INVALID_ARG
}
