//! The outcome of comparing a new message with one already stored.

/// How a new message relates to a stored one (Fabric's `InvalidationResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Unrelated: both may be kept.
    NoAction,
    /// The new message replaces the stored one, which is dropped.
    Invalidates,
    /// The stored message makes the new one stale or a duplicate: the new one is refused.
    Invalidated,
}

/// Decides which of two messages of the same store survives.
pub trait ReplacingPolicy<T> {
    /// Compares `new` (being added) with `stored` (already held).
    fn judge(&self, new: &T, stored: &T) -> Verdict;

    /// Whether `new` may be stored at all; malformed messages are refused here, before any
    /// comparison, so a store never holds an entry the comparison cannot read.
    fn admissible(&self, _new: &T) -> bool {
        true
    }
}

impl<T, F> ReplacingPolicy<T> for F
where
    F: Fn(&T, &T) -> Verdict,
{
    fn judge(&self, new: &T, stored: &T) -> Verdict {
        self(new, stored)
    }
}
