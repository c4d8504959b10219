//! When to send a keep-alive and when to give up on a silent peer, sans-IO.

use std::time::{Duration, Instant};

/// Tracks the last byte sent and received on a connection (BEP 3: peers send
/// a keep-alive when idle and drop a connection silent for two minutes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Liveness {
    last_received: Instant,
    last_sent: Instant,
    keep_alive_after: Duration,
    idle_timeout: Duration,
}

/// What the driver must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LivenessAction {
    /// Nothing until the next deadline.
    Wait,
    /// Send a keep-alive.
    SendKeepAlive,
    /// Drop the peer.
    Drop,
}

impl Liveness {
    pub(crate) fn new(now: Instant, keep_alive_after: Duration, idle_timeout: Duration) -> Self {
        Self {
            last_received: now,
            last_sent: now,
            keep_alive_after,
            idle_timeout,
        }
    }

    pub(crate) fn handle_received(&mut self, now: Instant) {
        self.last_received = now;
    }

    pub(crate) fn handle_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// The next instant at which [`poll`](Self::poll) may act.
    pub(crate) fn poll_timeout(&self) -> Instant {
        (self.last_sent + self.keep_alive_after).min(self.last_received + self.idle_timeout)
    }

    pub(crate) fn poll(&self, now: Instant) -> LivenessAction {
        if now >= self.last_received + self.idle_timeout {
            LivenessAction::Drop
        } else if now >= self.last_sent + self.keep_alive_after {
            LivenessAction::SendKeepAlive
        } else {
            LivenessAction::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_then_drop_in_virtual_time() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Liveness::new(t0, s(90), s(120));
        assert_eq!(l.poll(t0 + s(89)), LivenessAction::Wait);
        assert_eq!(l.poll_timeout(), t0 + s(90));
        assert_eq!(l.poll(t0 + s(90)), LivenessAction::SendKeepAlive);
        l.handle_sent(t0 + s(90));
        assert_eq!(l.poll_timeout(), t0 + s(120));
        assert_eq!(l.poll(t0 + s(119)), LivenessAction::Wait);
        assert_eq!(l.poll(t0 + s(120)), LivenessAction::Drop);
        l.handle_received(t0 + s(119));
        assert_eq!(l.poll(t0 + s(120)), LivenessAction::Wait);
    }
}
