//! Stateless connection ids: a keyed hash of the client's address and the
//! current time window, so that a flood of connects costs no memory.

use std::hash::Hasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use siphasher::sip::SipHasher13;

use crate::wire::ConnectionId;

/// Issues and checks connection ids without remembering them (the way
/// opentracker and aquatic do). An id is the SipHash, under a secret key, of
/// the client's address and port and the number of the time window it was
/// issued in. It is accepted in that window and the next, so it lives between
/// one and two windows: BEP 15 has clients use an id for one minute and
/// servers accept it for two.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionIds {
    key: (u64, u64),
    epoch: Instant,
    window: Duration,
}

impl ConnectionIds {
    pub(crate) fn new(key: [u8; 16], epoch: Instant, window: Duration) -> Self {
        let (a, b) = key.split_at(8);
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
        Self {
            key: (word(a), word(b)),
            epoch,
            window: window.max(Duration::from_secs(1)),
        }
    }

    fn window_at(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_millis() / self.window.as_millis()) as u64
    }

    fn hash(&self, window: u64, addr: &SocketAddr) -> ConnectionId {
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write_u64(window);
        match addr {
            SocketAddr::V4(a) => h.write(&a.ip().octets()),
            SocketAddr::V6(a) => h.write(&a.ip().octets()),
        }
        h.write_u16(addr.port());
        ConnectionId(h.finish())
    }

    pub(crate) fn issue(&self, now: Instant, addr: &SocketAddr) -> ConnectionId {
        self.hash(self.window_at(now), addr)
    }

    pub(crate) fn is_valid(&self, now: Instant, addr: &SocketAddr, id: ConnectionId) -> bool {
        let w = self.window_at(now);
        self.hash(w, addr) == id || (w > 0 && self.hash(w - 1, addr) == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (ConnectionIds, Instant) {
        let epoch = Instant::now();
        (
            ConnectionIds::new([7; 16], epoch, Duration::from_secs(60)),
            epoch,
        )
    }

    #[test]
    fn valid_for_one_to_two_windows_then_stale() {
        let (ids, t0) = ids();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let issued = t0 + Duration::from_secs(59);
        let id = ids.issue(issued, &a);
        assert!(ids.is_valid(issued, &a, id));
        assert!(ids.is_valid(t0 + Duration::from_secs(119), &a, id));
        assert!(!ids.is_valid(t0 + Duration::from_secs(120), &a, id));
        let late = ids.issue(t0 + Duration::from_secs(60), &a);
        assert!(ids.is_valid(t0 + Duration::from_secs(179), &a, late));
    }

    #[test]
    fn bound_to_address_port_and_key() {
        let (ids, t0) = ids();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let id = ids.issue(t0, &a);
        assert!(!ids.is_valid(t0, &"127.0.0.1:5001".parse().unwrap(), id));
        assert!(!ids.is_valid(t0, &"127.0.0.2:5000".parse().unwrap(), id));
        assert!(!ids.is_valid(t0, &"[::1]:5000".parse().unwrap(), id));
        let other = ConnectionIds::new([8; 16], t0, Duration::from_secs(60));
        assert!(!other.is_valid(t0, &a, id));
        assert!(!ids.is_valid(t0, &a, ConnectionId(id.0 ^ 1)));
    }
}
