//! Re-entrancy detection: the one thread-local of the C ABI.
//!
//! Each call into host code (crypto callbacks, the log callback) runs inside a
//! [`CallbackScope`]; an `fg_*` function called while the depth is non-zero on the same
//! thread returns `FG_STATUS_REENTRANT` instead of deadlocking on the library's own locks.
//! The counter carries no error state.

use std::cell::Cell;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// True when the current thread is inside a library-to-host callback.
pub(crate) fn inside_callback() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Marks the current thread as inside a callback until dropped (also on unwind).
pub(crate) struct CallbackScope(());

impl CallbackScope {
    pub(crate) fn enter() -> CallbackScope {
        DEPTH.with(|d| d.set(d.get().saturating_add(1)));
        CallbackScope(())
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_unwind() {
        assert!(!inside_callback());
        {
            let _a = CallbackScope::enter();
            let _b = CallbackScope::enter();
            assert!(inside_callback());
        }
        assert!(!inside_callback());
        let r = std::panic::catch_unwind(|| {
            let _s = CallbackScope::enter();
            panic!("host code unwound");
        });
        assert!(r.is_err());
        assert!(!inside_callback());
    }
}
