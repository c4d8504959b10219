//! Transfer rates, sans-IO: callers pass the time.

use std::time::{Duration, Instant};

/// Bytes per second over a sliding window of one-second buckets.
///
/// ```
/// use std::time::{Duration, Instant};
/// use bitswarm_peer::RateMeter;
///
/// let start = Instant::now();
/// let mut meter = RateMeter::new(start);
/// for s in 0..5 {
///     meter.record(1000, start + Duration::from_secs(s));
/// }
/// assert_eq!(meter.rate(start + Duration::from_secs(5)), 1000.0);
/// ```
#[derive(Clone, Debug)]
pub struct RateMeter {
    buckets: [u64; Self::WINDOW],
    /// The start of bucket 0 of the current window position.
    epoch: Instant,
    /// Whole seconds since `epoch` of the newest bucket.
    head: u64,
}

impl RateMeter {
    /// Seconds in the window.
    pub const WINDOW: usize = 5;

    /// A meter starting at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            buckets: [0; Self::WINDOW],
            epoch: now,
            head: 0,
        }
    }

    fn advance(&mut self, now: Instant) {
        let sec = now.saturating_duration_since(self.epoch).as_secs();
        if sec <= self.head {
            return;
        }
        let steps = (sec - self.head).min(Self::WINDOW as u64);
        for i in 1..=steps {
            self.buckets[((self.head + i) % Self::WINDOW as u64) as usize] = 0;
        }
        self.head = sec;
    }

    /// Counts `bytes` transferred at `now`.
    pub fn record(&mut self, bytes: u64, now: Instant) {
        self.advance(now);
        let i = (self.head % Self::WINDOW as u64) as usize;
        self.buckets[i] = self.buckets[i].saturating_add(bytes);
    }

    /// Bytes per second over the last [`WINDOW`](Self::WINDOW) whole seconds
    /// before `now` (less at the start).
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let current = (self.head % Self::WINDOW as u64) as usize;
        let complete = self.head.min(Self::WINDOW as u64 - 1).max(1);
        let sum: u64 = (0..Self::WINDOW)
            .filter(|i| *i != current)
            .map(|i| self.buckets[i])
            .sum();
        let secs = Duration::from_secs(complete).as_secs_f64();
        if self.head == 0 {
            return 0.0;
        }
        sum as f64 / secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_seconds_leave_the_window() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        m.record(4000, t0);
        assert_eq!(m.rate(t0), 0.0);
        assert_eq!(m.rate(t0 + Duration::from_secs(1)), 4000.0);
        assert_eq!(m.rate(t0 + Duration::from_secs(30)), 0.0);
        m.record(800, t0 + Duration::from_secs(31));
        assert_eq!(m.rate(t0 + Duration::from_secs(32)), 200.0);
    }
}
