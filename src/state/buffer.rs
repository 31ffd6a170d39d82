//! The reorder buffer (Fabric's `payloads_buffer.go`): verified payloads waiting for the
//! ones before them. Bounded by the caller, which admits only seqs within a window above
//! the ledger height.

use std::collections::BTreeMap;

use super::payload::Payload;

#[derive(Debug, Default)]
pub struct PayloadBuffer {
    entries: BTreeMap<u64, Payload>,
    bytes: usize,
}

impl PayloadBuffer {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Block and private-data bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.entries.contains_key(&seq)
    }

    /// The payload for `seq`, if held.
    pub fn get(&self, seq: u64) -> Option<&Payload> {
        self.entries.get(&seq)
    }

    /// Stores `payload` unless its seq is already held; returns whether it was stored.
    pub fn insert(&mut self, payload: Payload) -> bool {
        if self.entries.contains_key(&payload.seq) {
            return false;
        }
        self.bytes += size_of(&payload);
        self.entries.insert(payload.seq, payload);
        true
    }

    /// Takes the payload for `seq`, if held.
    pub fn take(&mut self, seq: u64) -> Option<Payload> {
        let p = self.entries.remove(&seq)?;
        self.bytes -= size_of(&p);
        Some(p)
    }

    /// Takes the run of consecutive payloads from `seq` on: at most `max_count` (at least
    /// one), and no more than `max_bytes` unless the first alone is larger.
    pub fn take_run(&mut self, seq: u64, max_count: usize, max_bytes: usize) -> Vec<Payload> {
        let mut run = Vec::new();
        let mut bytes = 0usize;
        let mut next = Some(seq);
        while let Some(s) = next {
            if run.len() >= max_count.max(1) {
                break;
            }
            let Some(size) = self.entries.get(&s).map(size_of) else {
                break;
            };
            if !run.is_empty() && bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            run.extend(self.take(s));
            next = s.checked_add(1);
        }
        run
    }

    /// Drops every payload below `seq` (committed by other means); returns how many.
    pub fn drop_below(&mut self, seq: u64) -> usize {
        let keep = self.entries.split_off(&seq);
        let dropped = std::mem::replace(&mut self.entries, keep);
        for p in dropped.values() {
            self.bytes -= size_of(p);
        }
        dropped.len()
    }

    /// The first seq in `lo..=hi` not held, and the last one, if any seq there is missing.
    pub fn missing_span(&self, lo: u64, hi: u64) -> Option<(u64, u64)> {
        if lo > hi {
            return None;
        }
        let mut from = lo;
        for &seq in self.entries.range(lo..=hi).map(|(k, _)| k) {
            if seq != from {
                break;
            }
            if seq == hi {
                return None;
            }
            from = seq + 1;
        }
        let mut to = hi;
        for &seq in self.entries.range(from..=hi).rev().map(|(k, _)| k) {
            if seq != to {
                break;
            }
            to = seq - 1; // seq > from here, so no underflow
        }
        Some((from, to))
    }
}

fn size_of(p: &Payload) -> usize {
    p.block.len() + p.private_data.iter().map(Vec::len).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Source;

    fn p(seq: u64) -> Payload {
        Payload::new(seq, vec![1u8; 10], vec![vec![2u8; 5]], Source::Gossip)
    }

    #[test]
    fn insert_take_and_bytes() {
        let mut b = PayloadBuffer::default();
        assert!(b.insert(p(3)));
        assert!(!b.insert(p(3)));
        assert!(b.insert(p(5)));
        assert_eq!((b.len(), b.bytes()), (2, 30));
        assert!(b.take(4).is_none());
        assert_eq!(b.take(3).unwrap().seq, 3);
        assert_eq!(b.bytes(), 15);
        assert!(b.insert(p(1)));
        assert_eq!(b.drop_below(5), 1);
        assert_eq!((b.len(), b.bytes()), (1, 15));
        assert!(b.contains(5));
    }

    #[test]
    fn take_run_stops_at_a_hole_the_count_or_the_bytes() {
        let mut b = PayloadBuffer::default();
        for s in [3, 4, 5, 6, 8] {
            b.insert(p(s));
        }
        assert!(b.take_run(2, 10, 1000).is_empty());
        let seqs = |run: Vec<Payload>| run.iter().map(|p| p.seq).collect::<Vec<_>>();
        assert_eq!(seqs(b.take_run(3, 2, 1000)), vec![3, 4]);
        // Each payload is 15 bytes: 20 bytes allow one.
        assert_eq!(seqs(b.take_run(5, 10, 20)), vec![5]);
        // The first is taken even when larger than the byte bound; 0 is read as 1.
        assert_eq!(seqs(b.take_run(6, 0, 1)), vec![6]);
        assert_eq!((b.len(), b.bytes()), (1, 15));
        let mut top = PayloadBuffer::default();
        top.insert(p(u64::MAX - 1));
        top.insert(p(u64::MAX));
        assert_eq!(
            seqs(top.take_run(u64::MAX - 1, 10, 1000)),
            vec![u64::MAX - 1, u64::MAX]
        );
    }

    #[test]
    fn missing_span_finds_first_and_last_hole() {
        let mut b = PayloadBuffer::default();
        assert_eq!(b.missing_span(0, 9), Some((0, 9)));
        assert_eq!(b.missing_span(5, 4), None);
        for s in [0, 1, 4, 6, 8, 9] {
            b.insert(p(s));
        }
        assert_eq!(b.missing_span(0, 9), Some((2, 7)));
        assert_eq!(b.missing_span(0, 1), None);
        assert_eq!(b.missing_span(4, 4), None);
        assert_eq!(b.missing_span(5, 5), Some((5, 5)));
        assert_eq!(b.missing_span(8, 12), Some((10, 12)));
        assert_eq!(b.missing_span(0, 0), None);
    }
}
