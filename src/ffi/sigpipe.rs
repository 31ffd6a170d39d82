//! Keeps SIGPIPE away from the host.
//!
//! A write to a socket the peer closed raises SIGPIPE in the writing thread. Rust and Python
//! programs ignore it, but a C program's default action is to die, and `writev` (used by the
//! HTTP/2 stack) cannot be told `MSG_NOSIGNAL`. The library installs no signal handler (that
//! would change the host's process-wide state); instead every thread it runs blocks SIGPIPE
//! in its own signal mask, so the write just fails with `EPIPE` and the signal stays pending
//! on that thread, never delivered.

/// Blocks SIGPIPE for the calling thread only.
pub(crate) fn block_on_this_thread() {
    // SAFETY: plain libc calls on a local sigset; all-zero bytes are a valid `sigset_t`,
    // and `sigemptyset` initialises it before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Whether SIGPIPE is blocked on the calling thread.
#[cfg(test)]
pub(crate) fn blocked_on_this_thread() -> bool {
    // SAFETY: reads the current mask into a local sigset.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut old);
        libc::sigismember(&old, libc::SIGPIPE) == 1
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocking_is_per_thread() {
        let outside = std::thread::spawn(super::blocked_on_this_thread)
            .join()
            .unwrap();
        let inside = std::thread::spawn(|| {
            super::block_on_this_thread();
            super::blocked_on_this_thread()
        })
        .join()
        .unwrap();
        assert!(inside);
        assert!(!outside, "a fresh thread starts with SIGPIPE unblocked");
    }
}
