//! Exponential backoff with full jitter ("AWS full jitter"): the n-th delay is
//! uniform in `[0, min(max, initial · 2ⁿ)]`. The caller resets it once a
//! connection has been healthy for a while.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The ceiling of the next delay (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay, drawn from `rng`; advances the attempt count.
    pub fn next_with<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let ceil = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceil.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }

    /// The next delay with the thread-local RNG.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(&mut rand::rng())
    }

    /// The next ceiling itself, without jitter; advances the attempt count.
    /// For a gate that all callers share (one schedule, nothing to spread).
    pub fn next_ceiling(&mut self) -> Duration {
        let ceil = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceil
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    proptest! {
        #[test]
        fn delays_stay_within_the_ceiling(seed: u64, init_ms in 1u64..5_000, max_ms in 1u64..120_000, n in 1usize..80) {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let initial = Duration::from_millis(init_ms);
            let max = Duration::from_millis(max_ms);
            let mut b = Backoff::new(initial, max);
            let mut last_ceiling = Duration::ZERO;
            for _ in 0..n {
                let ceil = b.ceiling();
                prop_assert!(ceil >= last_ceiling, "ceilings never shrink");
                prop_assert!(ceil <= max.max(initial));
                let d = b.next_with(&mut rng);
                prop_assert!(d <= ceil);
                last_ceiling = ceil;
            }
            b.reset();
            prop_assert_eq!(b.ceiling(), initial.min(max.max(initial)));
        }
    }

    #[test]
    fn ceiling_doubles_until_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut ceilings = vec![];
        for _ in 0..6 {
            ceilings.push(b.ceiling().as_millis());
            b.next_with(&mut rng);
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        let ds: Vec<_> = (0..50).map(|_| b.next_with(&mut rng)).collect();
        let distinct: std::collections::BTreeSet<_> = ds.iter().collect();
        assert!(
            distinct.len() > 45,
            "full jitter must not synchronise reconnects"
        );
    }
}
