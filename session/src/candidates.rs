//! Addresses to connect to: bounded, deduplicated, with a growing backoff
//! for addresses that failed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Candidates kept per torrent at most; more are ignored until some go.
pub(crate) const MAX_CANDIDATES: usize = 2000;
/// Failures after which an address is forgotten.
const MAX_FAILURES: u32 = 5;
/// The first backoff after a failure; it doubles with every failure.
const BASE_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
struct Candidate {
    failures: u32,
    next_try: Instant,
}

/// A torrent's peer addresses that are not connected.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    entries: HashMap<SocketAddr, Candidate>,
}

impl Candidates {
    /// Adds an address, ready now; a known one keeps its backoff unless
    /// `urgent` (a user asked for it).
    pub(crate) fn add(&mut self, addr: SocketAddr, now: Instant, urgent: bool) {
        if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast() {
            return;
        }
        if let Some(c) = self.entries.get_mut(&addr) {
            if urgent {
                c.next_try = now;
                c.failures = 0;
            }
            return;
        }
        if self.entries.len() >= MAX_CANDIDATES {
            return;
        }
        self.entries.insert(
            addr,
            Candidate {
                failures: 0,
                next_try: now,
            },
        );
    }

    /// The address most worth trying now (fewest failures) for which
    /// `skip` is false; it stays a candidate until it connects or fails.
    pub(crate) fn next_ready(
        &mut self,
        now: Instant,
        skip: impl Fn(&SocketAddr) -> bool,
    ) -> Option<SocketAddr> {
        let addr = self
            .entries
            .iter()
            .filter(|(a, c)| c.next_try <= now && !skip(a))
            .min_by_key(|(_, c)| (c.failures, c.next_try))
            .map(|(a, _)| *a)?;
        // Not tried again until it fails or connects.
        if let Some(c) = self.entries.get_mut(&addr) {
            c.next_try = now + Duration::from_secs(3600);
        }
        Some(addr)
    }

    /// The address could not be connected: back off, or forget it after
    /// too many failures.
    pub(crate) fn failed(&mut self, addr: SocketAddr, now: Instant) {
        let Some(c) = self.entries.get_mut(&addr) else {
            return;
        };
        c.failures += 1;
        if c.failures >= MAX_FAILURES {
            self.entries.remove(&addr);
            return;
        }
        c.next_try = now + BASE_BACKOFF * 2u32.pow(c.failures - 1);
    }

    /// The address is connected (or banned): no longer a candidate.
    pub(crate) fn remove(&mut self, addr: &SocketAddr) {
        self.entries.remove(addr);
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn bounded_and_deduplicated() {
        let now = Instant::now();
        let mut c = Candidates::default();
        for port in 1..=(MAX_CANDIDATES as u16 + 100) {
            c.add(addr(port), now, false);
            c.add(addr(port), now, false);
        }
        assert_eq!(c.len(), MAX_CANDIDATES);
        c.add(addr(0), now, false);
        assert_eq!(c.len(), MAX_CANDIDATES);
    }

    #[test]
    fn failed_addresses_back_off_then_go() {
        let now = Instant::now();
        let mut c = Candidates::default();
        c.add(addr(1), now, false);
        assert_eq!(c.next_ready(now, |_| false), Some(addr(1)));
        // Taken: not offered twice.
        assert_eq!(c.next_ready(now, |_| false), None);
        c.failed(addr(1), now);
        assert_eq!(c.next_ready(now, |_| false), None);
        assert_eq!(c.next_ready(now + BASE_BACKOFF, |_| false), Some(addr(1)));
        for _ in 1..MAX_FAILURES {
            c.failed(addr(1), now);
        }
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn urgent_resets_backoff_and_skip_is_honoured() {
        let now = Instant::now();
        let mut c = Candidates::default();
        c.add(addr(1), now, false);
        c.failed(addr(1), now);
        c.add(addr(1), now, true);
        assert_eq!(c.next_ready(now, |a| *a == addr(1)), None);
        assert_eq!(c.next_ready(now, |_| false), Some(addr(1)));
    }
}
