//! Gap detection (our deviation from Fabric, which waits for the next pull round): when a
//! later block or a higher StateInfo height shows that blocks are missing, report the hole
//! once so the node pulls it at once, and again only if it stays open.

use std::time::{Duration, Instant};

/// The reported hole and when it was reported.
#[derive(Debug, Clone, Copy)]
struct Reported {
    to: u64,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct GapTracker {
    /// The highest seq known to exist (from a verified payload or a remote height).
    known_tip: Option<u64>,
    /// The first missing seq and since when it has been missing.
    open_since: Option<(u64, Instant)>,
    reported: Option<Reported>,
}

/// What to do about the current hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapAction {
    /// Report `from..=to`.
    Report { from: u64, to: u64 },
    /// Nothing now; look again at this time.
    WaitUntil(Instant),
    /// No hole.
    None,
}

impl GapTracker {
    /// A block numbered `seq` exists.
    pub fn saw(&mut self, seq: u64) {
        self.known_tip = Some(self.known_tip.map_or(seq, |t| t.max(seq)));
    }

    pub fn known_tip(&self) -> Option<u64> {
        self.known_tip
    }

    /// Decides, given the current hole `missing` (first and last missing seq, found by the
    /// caller within its window), whether to report it now.
    pub fn poll(
        &mut self,
        now: Instant,
        missing: Option<(u64, u64)>,
        grace: Duration,
        retry: Duration,
    ) -> GapAction {
        let Some((from, to)) = missing else {
            self.open_since = None;
            self.reported = None;
            return GapAction::None;
        };
        let since = match self.open_since {
            Some((f, t)) if f == from => t,
            _ => {
                self.open_since = Some((from, now));
                now
            }
        };
        if now < since + grace {
            return GapAction::WaitUntil(since + grace);
        }
        match self.reported {
            Some(r) if now < r.at + retry => {
                if to > r.to {
                    // The hole grew: report only the new part; the old part keeps its timer.
                    let new_from = from.max(r.to.saturating_add(1));
                    self.reported = Some(Reported { to, at: r.at });
                    GapAction::Report { from: new_from, to }
                } else {
                    GapAction::WaitUntil(r.at + retry)
                }
            }
            _ => {
                self.reported = Some(Reported { to, at: now });
                GapAction::Report { from, to }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_then_retries_and_extends() {
        let t0 = Instant::now();
        let retry = Duration::from_secs(2);
        let mut g = GapTracker::default();
        let z = Duration::ZERO;
        assert_eq!(
            g.poll(t0, Some((3, 5)), z, retry),
            GapAction::Report { from: 3, to: 5 }
        );
        assert_eq!(
            g.poll(t0, Some((3, 5)), z, retry),
            GapAction::WaitUntil(t0 + retry)
        );
        assert_eq!(
            g.poll(t0, Some((4, 5)), z, retry),
            GapAction::WaitUntil(t0 + retry)
        );
        assert_eq!(
            g.poll(t0, Some((4, 8)), z, retry),
            GapAction::Report { from: 6, to: 8 }
        );
        assert_eq!(
            g.poll(t0 + retry, Some((4, 8)), z, retry),
            GapAction::Report { from: 4, to: 8 }
        );
        assert_eq!(g.poll(t0 + retry, None, z, retry), GapAction::None);
        // A new hole after the old one closed is reported at once.
        assert_eq!(
            g.poll(t0 + retry, Some((9, 9)), z, retry),
            GapAction::Report { from: 9, to: 9 }
        );
    }

    #[test]
    fn grace_delays_the_report() {
        let t0 = Instant::now();
        let grace = Duration::from_millis(50);
        let mut g = GapTracker::default();
        let r = Duration::from_secs(2);
        assert_eq!(
            g.poll(t0, Some((3, 3)), grace, r),
            GapAction::WaitUntil(t0 + grace)
        );
        assert_eq!(
            g.poll(t0 + grace, Some((3, 3)), grace, r),
            GapAction::Report { from: 3, to: 3 }
        );
        g.saw(9);
        g.saw(4);
        assert_eq!(g.known_tip(), Some(9));
    }
}
