//! A duration histogram with fixed buckets, kept by the owner task and copied into snapshots.

use std::time::Duration;

use super::HistogramValue;

/// Upper bounds in seconds: Fabric's commit-duration buckets reach 10 s; the lower ones show
/// where fabgossip's commits (well under a millisecond) fall.
const BOUNDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DurationHistogram {
    /// Per bucket of `BOUNDS`, not cumulative.
    counts: [u64; BOUNDS.len()],
    sum: f64,
    count: u64,
}

impl DurationHistogram {
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| s <= *b) {
            self.counts[i] += 1;
        }
        self.sum += s;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exposition form: cumulative bucket counts.
    pub fn value(&self) -> HistogramValue {
        let mut acc = 0;
        let buckets = BOUNDS
            .iter()
            .zip(self.counts)
            .map(|(b, c)| {
                acc += c;
                (*b, acc)
            })
            .collect();
        HistogramValue {
            buckets,
            sum: self.sum,
            count: self.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let mut h = DurationHistogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let v = h.value();
        assert_eq!(v.count, 3);
        assert_eq!(v.buckets[0], (0.0001, 1));
        // 3 ms is above 2.5 ms and within 5 ms.
        assert_eq!(v.buckets[4], (0.0025, 1));
        assert_eq!(v.buckets[5], (0.005, 2));
        // 60 s is beyond every bound: only in +Inf (the count).
        assert_eq!(v.buckets.last(), Some(&(10.0, 2)));
        assert!((v.sum - 60.00305).abs() < 1e-9);
    }
}
