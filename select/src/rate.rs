use std::time::{Duration, Instant};

/// Bytes per second over a rolling window, fed with the `now` of each input.
///
/// The window is split into [`RateMeter::BUCKETS`] buckets of
/// `window / BUCKETS`; a transfer lands in the bucket of its time and
/// buckets older than the window are dropped. Time must not go backwards;
/// an earlier `now` is counted in the current bucket.
#[derive(Debug, Clone)]
pub struct RateMeter {
    buckets: [u64; Self::BUCKETS],
    bucket_len: Duration,
    /// Start of the current bucket, `None` until the first input.
    current_start: Option<Instant>,
    current: usize,
    total: u64,
}

impl RateMeter {
    /// Number of buckets in the window.
    pub const BUCKETS: usize = 10;

    /// A meter over `window` (at least one millisecond per bucket).
    pub fn new(window: Duration) -> Self {
        Self {
            buckets: [0; Self::BUCKETS],
            bucket_len: (window / Self::BUCKETS as u32).max(Duration::from_millis(1)),
            current_start: None,
            current: 0,
            total: 0,
        }
    }

    fn advance(&mut self, now: Instant) {
        let Some(start) = self.current_start else {
            self.current_start = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        let steps = (elapsed.as_nanos() / self.bucket_len.as_nanos()) as u64;
        if steps == 0 {
            return;
        }
        for _ in 0..steps.min(Self::BUCKETS as u64) {
            self.current = (self.current + 1) % Self::BUCKETS;
            self.buckets[self.current] = 0;
        }
        self.total = self.buckets.iter().sum();
        // `steps` fits: it is below elapsed / 1 ms.
        self.current_start = Some(start + self.bucket_len * steps.min(u64::from(u32::MAX)) as u32);
    }

    /// Counts `bytes` transferred at `now`.
    pub fn record(&mut self, now: Instant, bytes: u64) {
        self.advance(now);
        self.buckets[self.current] = self.buckets[self.current].saturating_add(bytes);
        self.total = self.total.saturating_add(bytes);
    }

    /// Bytes per second over the window ending at `now`.
    pub fn rate(&mut self, now: Instant) -> u64 {
        self.advance(now);
        let window = self.bucket_len * Self::BUCKETS as u32;
        (u128::from(self.total) * 1_000_000 / window.as_micros().max(1)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_window_then_decays() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(Duration::from_secs(10));
        for s in 0..10 {
            m.record(t0 + Duration::from_secs(s), 1000);
        }
        assert_eq!(m.rate(t0 + Duration::from_millis(9_500)), 1000);
        // Five seconds later half the window has gone by.
        assert_eq!(m.rate(t0 + Duration::from_millis(14_500)), 500);
        assert_eq!(m.rate(t0 + Duration::from_secs(60)), 0);
        // Time going backwards does not panic.
        m.record(t0, 10);
        assert_eq!(m.rate(t0 + Duration::from_secs(60)), 1);
    }
}
