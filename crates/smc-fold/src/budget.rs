//! A per-family cap on the number of exported series, shared by every table
//! that folds into the family, and the family's counts of what the cap
//! refused and of label values cut to [`super::MAX_LABEL_VALUE_BYTES`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counts live series of one family against a cap.
#[derive(Debug)]
pub struct SeriesBudget {
    cap: usize,
    used: AtomicUsize,
    dropped: AtomicU64,
    truncated: AtomicU64,
}

impl SeriesBudget {
    pub fn new(cap: usize) -> Self {
        SeriesBudget {
            cap,
            used: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
        }
    }

    /// Take one series from the budget. False when the family is at its cap;
    /// the refusal is counted in [`SeriesBudget::dropped`].
    pub fn try_acquire(&self) -> bool {
        let ok = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < self.cap).then_some(u + 1)
            })
            .is_ok();
        if !ok {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Give back `n` series.
    pub fn release(&self, n: usize) {
        // Saturating: a release never takes the count below zero.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Records that needed a new series while the family was at its cap.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Count `n` record field values cut to become label values.
    pub fn note_truncated(&self, n: u64) {
        self.truncated.fetch_add(n, Ordering::Relaxed);
    }

    /// Record field values cut to [`super::MAX_LABEL_VALUE_BYTES`] to become
    /// label values of this family.
    pub fn truncated(&self) -> u64 {
        self.truncated.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_enforced_and_counted() {
        let b = SeriesBudget::new(2);
        assert!(b.try_acquire());
        assert!(b.try_acquire());
        assert!(!b.try_acquire());
        assert_eq!(b.dropped(), 1);
        b.release(1);
        assert!(b.try_acquire());
        b.release(5);
        assert_eq!(b.used(), 0);
    }
}
