//! The wait between two attempts to reach an orderer: Fabric's 1.2ⁿ⁻¹ × 100 ms growth,
//! capped, with jitter so the leaders of many channels do not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

/// Growth factor per consecutive failure, as in Fabric's blocks provider.
const FACTOR: f64 = 1.2;

/// Capped, jittered exponential backoff. Pure: the caller brings the failure count and RNG.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first wait and the floor of every wait (`minimalReconnectInterval`).
    pub min: Duration,
    /// The cap (`reConnectBackoffThreshold`); a cap below `min` is read as `min`.
    pub max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
        }
    }

    /// The wait after `failures` consecutive failures (1 = the first): `min × 1.2^(failures−1)`,
    /// capped at `max`. 0 failures: no wait.
    pub fn nominal(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        // Beyond ~300 steps the power overflows f64's useful range; the cap applies long before.
        let exp = (failures - 1).min(300) as i32;
        let secs = self.min.as_secs_f64() * FACTOR.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(secs).clamp(self.min, self.max)
    }

    /// The nominal wait with jitter: uniform in `[nominal/2, nominal]`, never below `min`.
    pub fn delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let n = self.nominal(failures);
        if n.is_zero() {
            return n;
        }
        let half = n / 2;
        let extra = rng.gen_range(0..=(n - half).as_nanos().min(u64::MAX as u128) as u64);
        (half + Duration::from_nanos(extra)).max(self.min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn grows_by_one_point_two_from_the_minimum() {
        let b = Backoff::new(ms(100), Duration::from_secs(3600));
        assert_eq!(b.nominal(0), Duration::ZERO);
        assert_eq!(b.nominal(1), ms(100));
        assert_eq!(b.nominal(2), ms(120));
        assert_eq!(b.nominal(3), ms(144));
        let tenth = b.nominal(10).as_secs_f64();
        assert!((tenth - 0.1 * 1.2f64.powi(9)).abs() < 1e-6, "{tenth}");
        // Monotonic up to the cap.
        let mut prev = Duration::ZERO;
        for f in 1..200 {
            let d = b.nominal(f);
            assert!(d >= prev, "failure {f}: {d:?} < {prev:?}");
            prev = d;
        }
    }

    #[test]
    fn is_capped_even_after_very_many_failures() {
        let b = Backoff::new(ms(100), ms(2000));
        assert_eq!(b.nominal(30), ms(2000));
        assert_eq!(b.nominal(u32::MAX), ms(2000));
        // A cap below the minimum is the minimum.
        let b = Backoff::new(ms(100), ms(10));
        assert_eq!(b.max, ms(100));
        assert_eq!(b.nominal(50), ms(100));
    }

    #[test]
    fn jitter_stays_within_half_to_full_and_above_min() {
        let b = Backoff::new(ms(100), ms(5000));
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen_low = false;
        let mut seen_high = false;
        for f in [1u32, 5, 20, 100] {
            let n = b.nominal(f);
            for _ in 0..500 {
                let d = b.delay(f, &mut rng);
                assert!(d <= n && d >= n / 2 && d >= b.min, "{f}: {d:?} vs {n:?}");
                if f == 100 {
                    seen_low |= d < n * 6 / 10;
                    seen_high |= d > n * 9 / 10;
                }
            }
        }
        assert!(
            seen_low && seen_high,
            "jitter should spread over the whole range"
        );
        assert_eq!(b.delay(0, &mut rng), Duration::ZERO);
    }
}
