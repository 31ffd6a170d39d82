//! Routes the library's `tracing` events to a host log callback.
//!
//! A global `tracing` subscriber is installed once, on the first `fg_set_log_callback`;
//! after that the callback and the level can be swapped at any time. Swapping waits for a
//! running callback to finish, so the old callback never runs after the swap returns.

use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::ffi::call::{self, Out};
use crate::ffi::call_error::CallError;
use crate::ffi::counters::CallId;
use crate::ffi::reentry::{inside_callback, CallbackScope};
use crate::ffi::status::*;
use crate::metrics::logspec;
use crate::sync::RwLockExt;

/// Log level passed to `fg_set_log_callback` as `max_level`: no logging.
pub const FG_LOG_OFF: i32 = 0;
/// Log level: errors.
pub const FG_LOG_ERROR: i32 = 1;
/// Log level: warnings.
pub const FG_LOG_WARN: i32 = 2;
/// Log level: informational lines.
pub const FG_LOG_INFO: i32 = 3;
/// Log level: debugging detail.
pub const FG_LOG_DEBUG: i32 = 4;
/// Log level: everything.
pub const FG_LOG_TRACE: i32 = 5;

/// Receives one log line. `level` is `FG_LOG_ERROR`..`FG_LOG_TRACE`; `target` (the module,
/// e.g. `fabgossip::discovery`) and `msg` are UTF-8, borrowed for the call only, and not
/// NUL-terminated. Called from any library thread, concurrently; it must not block for
/// long, and `fg_*` calls inside it return `FG_STATUS_REENTRANT`.
pub type fg_log_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: i32,
        target: *const c_char,
        target_len: usize,
        msg: *const c_char,
        msg_len: usize,
    ),
>;

struct Sink {
    cb: unsafe extern "C" fn(*mut c_void, i32, *const c_char, usize, *const c_char, usize),
    user_data: *mut c_void,
}

// SAFETY: `fg_set_log_callback` makes the host promise that `cb` may be called with
// `user_data` from any thread, concurrently, until it is replaced; the library holds
// nothing else.
unsafe impl Send for Sink {}
// SAFETY: as for `Send`: concurrent calls from several threads are part of that promise.
unsafe impl Sync for Sink {}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static MAX_LEVEL: AtomicI32 = AtomicI32::new(FG_LOG_OFF);
static INSTALL: Once = Once::new();
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn level_number(level: &Level) -> i32 {
    match *level {
        Level::ERROR => FG_LOG_ERROR,
        Level::WARN => FG_LOG_WARN,
        Level::INFO => FG_LOG_INFO,
        Level::DEBUG => FG_LOG_DEBUG,
        Level::TRACE => FG_LOG_TRACE,
    }
}

fn level_filter(max: i32) -> LevelFilter {
    match max {
        FG_LOG_ERROR => LevelFilter::ERROR,
        FG_LOG_WARN => LevelFilter::WARN,
        FG_LOG_INFO => LevelFilter::INFO,
        FG_LOG_DEBUG => LevelFilter::DEBUG,
        FG_LOG_TRACE => LevelFilter::TRACE,
        _ => LevelFilter::OFF,
    }
}

/// The `tracing` layer that forwards events to the host sink.
struct HostLogLayer;

impl<S: Subscriber> Layer<S> for HostLogLayer {
    fn register_callsite(&self, _meta: &'static Metadata<'static>) -> Interest {
        // The level can change at run time, so ask `enabled` on every event.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        let host = MAX_LEVEL.load(Ordering::Relaxed);
        if host == FG_LOG_OFF {
            return false;
        }
        // A spec set through the operations `/logspec` overrides the host's level.
        match logspec::active() {
            Some(spec) => spec.level_for(meta.target()) >= *meta.level(),
            None => level_number(meta.level()) <= host,
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let host = level_filter(MAX_LEVEL.load(Ordering::Relaxed));
        match logspec::active() {
            Some(spec) if host != LevelFilter::OFF => Some(spec.max_level()),
            _ => Some(host),
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // An event raised while this thread runs host code would re-lock the sink.
        if inside_callback() {
            return;
        }
        let meta = event.metadata();
        let mut line = LineVisitor(String::new());
        event.record(&mut line);
        let sink = SINK.read_locked();
        if let Some(sink) = sink.as_ref() {
            let target = meta.target();
            let _scope = CallbackScope::enter();
            // SAFETY: the host registered `cb` for exactly these arguments and promised it
            // may run on any thread with `user_data`; the strings outlive the call, and the
            // read lock keeps the sink from being swapped out while it runs.
            unsafe {
                (sink.cb)(
                    sink.user_data,
                    level_number(meta.level()),
                    target.as_ptr().cast(),
                    target.len(),
                    line.0.as_ptr().cast(),
                    line.0.len(),
                )
            };
        }
    }
}

/// Renders `message` first, then the other fields as ` key=value`.
struct LineVisitor(String);

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }
}

fn install_subscriber() -> bool {
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(HostLogLayer);
        INSTALLED.store(
            tracing::subscriber::set_global_default(subscriber).is_ok(),
            Ordering::Release,
        );
    });
    INSTALLED.load(Ordering::Acquire)
}

/// Sends the library's log lines at `max_level` and more severe (`FG_LOG_ERROR`..
/// `FG_LOG_TRACE`) to `cb`, replacing any previous callback. `cb == NULL` or
/// `max_level == FG_LOG_OFF` turns logging off. When this returns, the previous callback is
/// not running and will not run again. May be called before `fg_init` and after
/// `fg_shutdown`; the callback stays registered across restarts.
///
/// Returns `FG_STATUS_INVALID_ARG` for a level outside 0..=5, `FG_STATUS_INTERNAL` when
/// another `tracing` subscriber already owns the process, `FG_STATUS_REENTRANT` inside a
/// callback.
///
/// # Safety
/// `cb` must be safe to call from any thread with `user_data` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn fg_set_log_callback(
    cb: fg_log_fn,
    user_data: *mut c_void,
    max_level: i32,
) -> fg_status {
    const CALL: CallId = CallId::named("fg_set_log_callback");
    call::run(CALL, Out::none(), || {
        if !(FG_LOG_OFF..=FG_LOG_TRACE).contains(&max_level) {
            return Err(CallError::invalid_arg(format!(
                "max_level {max_level} is outside FG_LOG_OFF..FG_LOG_TRACE (0..5)"
            )));
        }
        let new_sink = match cb {
            Some(cb) if max_level > FG_LOG_OFF => Some(Sink { cb, user_data }),
            _ => None,
        };
        if new_sink.is_some() && !install_subscriber() {
            return Err(CallError::new(
                FG_STATUS_INTERNAL,
                "another tracing subscriber already owns the process",
            ));
        }
        let level = if new_sink.is_some() {
            max_level
        } else {
            FG_LOG_OFF
        };
        {
            let mut sink = SINK.write_locked();
            *sink = new_sink;
            MAX_LEVEL.store(level, Ordering::Release);
        }
        // The host's new level replaces any `/logspec` spec; this also re-evaluates cached
        // callsite interest against the new level.
        logspec::set_host_level(level_filter(level));
        Ok(())
    })
}
