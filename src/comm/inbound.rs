//! Per-connection inbound limits: no single peer may take more than its share of the node.
//!
//! Each connection has a message rate (a token bucket refilled at `recv_rate` messages per
//! second, holding at most one second's worth) and a receive buffer (at most
//! `recv_buff_per_conn` of its messages waiting for the node at once). What exceeds either is
//! dropped and counted; a connection that has more than `flood_drops` messages dropped within
//! one second is closed as a flooder. Fabric gives each connection a receive buffer of
//! `recvBuffSize` messages as well; there the reader then waits, here the surplus is dropped
//! so that the node never waits for one peer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why an inbound message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The connection sent faster than `recv_rate`.
    RateExceeded,
    /// The connection already had `recv_buff_per_conn` messages waiting for the node.
    BufferFull,
}

/// What to do with one inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Deliver,
    Drop(Refusal),
    /// Dropped, and the connection has now dropped more than `flood_drops` in one second.
    Disconnect(Refusal),
}

/// The window over which dropped messages are added up.
const FLOOD_WINDOW: Duration = Duration::from_secs(1);

/// The limits of one connection. Not shared: its read loop owns it.
pub(crate) struct InboundLimit {
    /// Messages per second; 0 = no rate limit.
    rate: u32,
    /// Drops per `FLOOD_WINDOW` tolerated before the connection is closed; 0 = never closed.
    flood_drops: u32,
    tokens: f64,
    refilled: Instant,
    window_start: Instant,
    window_drops: u32,
    slots: RecvSlots,
}

impl InboundLimit {
    pub(crate) fn new(rate: u32, buffer: usize, flood_drops: u32, now: Instant) -> Self {
        InboundLimit {
            rate,
            flood_drops,
            tokens: f64::from(rate),
            refilled: now,
            window_start: now,
            window_drops: 0,
            slots: RecvSlots::new(buffer),
        }
    }

    /// Judges one message received at `now`; on `Deliver` the returned slot holds its place in
    /// the connection's receive buffer until the node takes the message.
    pub(crate) fn admit(&mut self, now: Instant) -> (Verdict, Option<RecvSlot>) {
        if self.rate > 0 {
            let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
            self.refilled = now;
            self.tokens = (self.tokens + elapsed * f64::from(self.rate)).min(f64::from(self.rate));
            if self.tokens < 1.0 {
                return (self.dropped(now, Refusal::RateExceeded), None);
            }
        }
        match self.slots.take() {
            Some(slot) => {
                if self.rate > 0 {
                    self.tokens -= 1.0;
                }
                (Verdict::Deliver, Some(slot))
            }
            None => (self.dropped(now, Refusal::BufferFull), None),
        }
    }

    fn dropped(&mut self, now: Instant, why: Refusal) -> Verdict {
        if now.saturating_duration_since(self.window_start) >= FLOOD_WINDOW {
            self.window_start = now;
            self.window_drops = 0;
        }
        self.window_drops = self.window_drops.saturating_add(1);
        if self.flood_drops > 0 && self.window_drops > self.flood_drops {
            Verdict::Disconnect(why)
        } else {
            Verdict::Drop(why)
        }
    }
}

/// A connection's receive buffer: how many of its messages wait for the node.
#[derive(Clone)]
struct RecvSlots {
    used: Arc<AtomicUsize>,
    max: usize,
}

impl RecvSlots {
    fn new(max: usize) -> Self {
        RecvSlots {
            used: Arc::default(),
            max: max.max(1),
        }
    }

    fn take(&self) -> Option<RecvSlot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < self.max).then_some(u + 1)
            })
            .ok()?;
        Some(RecvSlot {
            used: Some(self.used.clone()),
            released: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A message's place in its connection's receive buffer, freed when the node takes the
/// message (`release`) or drops it. A clone holds no place: only the original counts.
pub struct RecvSlot {
    used: Option<Arc<AtomicUsize>>,
    released: Arc<AtomicBool>,
}

impl RecvSlot {
    /// Frees the place; later calls do nothing.
    pub fn release(&self) {
        if let Some(used) = &self.used {
            if !self.released.swap(true, Ordering::AcqRel) {
                used.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

impl Clone for RecvSlot {
    fn clone(&self) -> Self {
        RecvSlot {
            used: None,
            released: Arc::new(AtomicBool::new(true)),
        }
    }
}

impl Drop for RecvSlot {
    fn drop(&mut self) {
        self.release();
    }
}

impl std::fmt::Debug for RecvSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecvSlot")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_drops_the_surplus_and_refills_over_time() {
        let t0 = Instant::now();
        let mut l = InboundLimit::new(10, 1000, 0, t0);
        let mut kept = Vec::new();
        for _ in 0..15 {
            if let (Verdict::Deliver, Some(s)) = l.admit(t0) {
                kept.push(s);
            }
        }
        assert_eq!(kept.len(), 10, "one second's worth is the burst");
        assert_eq!(
            l.admit(t0).0,
            Verdict::Drop(Refusal::RateExceeded),
            "no token left"
        );
        let (v, _s) = l.admit(t0 + Duration::from_millis(150));
        assert_eq!(v, Verdict::Deliver, "150 ms refill one token");
    }

    #[test]
    fn a_full_buffer_drops_until_the_node_takes_a_message() {
        let t0 = Instant::now();
        let mut l = InboundLimit::new(0, 2, 0, t0);
        let (_, a) = l.admit(t0);
        let (_, b) = l.admit(t0);
        assert_eq!(l.admit(t0).0, Verdict::Drop(Refusal::BufferFull));
        let a = a.unwrap();
        let copy = a.clone();
        drop(copy);
        assert_eq!(
            l.admit(t0).0,
            Verdict::Drop(Refusal::BufferFull),
            "a clone frees nothing"
        );
        a.release();
        a.release();
        let (v, c) = l.admit(t0);
        assert_eq!(v, Verdict::Deliver);
        assert_eq!(
            l.admit(t0).0,
            Verdict::Drop(Refusal::BufferFull),
            "released once"
        );
        drop((a, b, c));
        assert_eq!(l.admit(t0).0, Verdict::Deliver, "dropping frees the places");
    }

    #[test]
    fn more_drops_than_the_limit_in_one_second_disconnect() {
        let t0 = Instant::now();
        let mut l = InboundLimit::new(5, 1000, 3, t0);
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(l.admit(t0).1.unwrap());
        }
        for _ in 0..3 {
            assert_eq!(l.admit(t0).0, Verdict::Drop(Refusal::RateExceeded));
        }
        assert_eq!(l.admit(t0).0, Verdict::Disconnect(Refusal::RateExceeded));
        // A new window starts the count again.
        let later = t0 + FLOOD_WINDOW;
        for _ in 0..5 {
            assert_eq!(l.admit(later).0, Verdict::Deliver);
        }
        for _ in 0..3 {
            assert_eq!(l.admit(later).0, Verdict::Drop(Refusal::RateExceeded));
        }
    }
}
