//! A token bucket shared by every torrent of a session: bytes per second
//! with a burst of one second.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A token bucket that may go into debt: taking more than is there is
/// allowed, and the caller waits the returned delay before taking more.
/// With no rate it never delays.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: Option<u64>,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens (bytes) available; negative is debt.
    tokens: f64,
    last: Instant,
}

/// The longest single wait, so that a huge debt (a tiny rate) never parks a
/// task for hours.
const MAX_DELAY: Duration = Duration::from_secs(10);

impl RateLimiter {
    /// A bucket refilled at `rate` bytes per second; `None` or 0 is unlimited.
    pub(crate) fn new(rate: Option<u64>) -> Self {
        let rate = rate.filter(|r| *r > 0);
        Self {
            rate,
            state: Mutex::new(Bucket {
                tokens: rate.map_or(0.0, |r| r as f64),
                last: Instant::now(),
            }),
        }
    }

    /// Takes `bytes` tokens at `now`; returns how long to wait before the
    /// bucket is out of debt again (zero when it is not in debt).
    pub(crate) fn consume(&self, bytes: u64, now: Instant) -> Duration {
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        let rate = rate as f64;
        let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = b.last.max(now);
        // A burst of one second at most.
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.tokens -= bytes as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate).min(MAX_DELAY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let r = RateLimiter::new(None);
        assert_eq!(r.consume(u64::MAX, Instant::now()), Duration::ZERO);
        let r = RateLimiter::new(Some(0));
        assert_eq!(r.consume(1 << 40, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn debt_is_repaid_at_the_rate() {
        let r = RateLimiter::new(Some(1000));
        let t0 = Instant::now();
        // The first second's burst is free.
        assert_eq!(r.consume(1000, t0), Duration::ZERO);
        // 500 more bytes are half a second of debt.
        assert_eq!(r.consume(500, t0), Duration::from_millis(500));
        // Half a second later the debt is gone.
        assert_eq!(
            r.consume(0, t0 + Duration::from_millis(500)),
            Duration::ZERO
        );
    }

    #[test]
    fn burst_is_capped_at_one_second() {
        let r = RateLimiter::new(Some(1000));
        let t0 = Instant::now();
        // A long idle time does not store more than one second of tokens.
        let later = t0 + Duration::from_secs(100);
        assert_eq!(r.consume(1000, later), Duration::ZERO);
        assert!(r.consume(1000, later) > Duration::ZERO);
    }

    #[test]
    fn delay_is_bounded() {
        let r = RateLimiter::new(Some(1));
        assert_eq!(r.consume(1 << 30, Instant::now()), MAX_DELAY);
    }
}
