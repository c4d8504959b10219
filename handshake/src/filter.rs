use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use bitswarm_core::{InfoHash, PeerId};

/// Which side opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We connected out.
    Outgoing,
    /// The peer connected to one of our listeners.
    Incoming,
}

/// What a [`Filter`] says about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterDecision {
    /// Go on.
    Allow,
    /// Close the connection, for this reason.
    Block(&'static str),
}

/// A pluggable check applied at each step of a handshake: the address before
/// any byte is exchanged, the info-hash once known, the peer id last.
/// Every method allows by default.
pub trait Filter: Send + Sync + 'static {
    /// Called before connecting out or right after accepting.
    fn on_addr(&self, _addr: SocketAddr, _direction: Direction) -> FilterDecision {
        FilterDecision::Allow
    }
    /// Called once the torrent is known.
    fn on_info_hash(&self, _addr: SocketAddr, _info_hash: &InfoHash) -> FilterDecision {
        FilterDecision::Allow
    }
    /// Called with the remote's peer id.
    fn on_peer_id(&self, _addr: SocketAddr, _peer_id: &PeerId) -> FilterDecision {
        FilterDecision::Allow
    }
}

/// A ban list of IP addresses, peer ids and info-hashes, editable while the
/// manager runs (clone it: the clones share the lists).
#[derive(Clone, Debug, Default)]
pub struct BanList {
    inner: Arc<Mutex<BanLists>>,
}

#[derive(Debug, Default)]
struct BanLists {
    ips: HashSet<IpAddr>,
    peer_ids: HashSet<PeerId>,
    info_hashes: HashSet<InfoHash>,
}

impl BanList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BanLists) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Bans every connection from or to `ip`.
    pub fn ban_ip(&self, ip: IpAddr) {
        self.with(|l| l.ips.insert(ip));
    }

    /// Bans a peer id.
    pub fn ban_peer_id(&self, id: PeerId) {
        self.with(|l| l.peer_ids.insert(id));
    }

    /// Bans a torrent.
    pub fn ban_info_hash(&self, hash: InfoHash) {
        self.with(|l| l.info_hashes.insert(hash));
    }
}

impl Filter for BanList {
    fn on_addr(&self, addr: SocketAddr, _: Direction) -> FilterDecision {
        if self.with(|l| l.ips.contains(&addr.ip())) {
            FilterDecision::Block("banned address")
        } else {
            FilterDecision::Allow
        }
    }

    fn on_info_hash(&self, _: SocketAddr, info_hash: &InfoHash) -> FilterDecision {
        if self.with(|l| l.info_hashes.contains(info_hash)) {
            FilterDecision::Block("banned info-hash")
        } else {
            FilterDecision::Allow
        }
    }

    fn on_peer_id(&self, _: SocketAddr, peer_id: &PeerId) -> FilterDecision {
        if self.with(|l| l.peer_ids.contains(peer_id)) {
            FilterDecision::Block("banned peer id")
        } else {
            FilterDecision::Allow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::InfoHashV1;

    #[test]
    fn ban_list_blocks_what_it_lists() {
        let bans = BanList::new();
        let addr: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let other: SocketAddr = "127.0.0.2:6881".parse().unwrap();
        bans.ban_ip(addr.ip());
        bans.ban_peer_id(PeerId([1; 20]));
        bans.ban_info_hash(InfoHash::V1(InfoHashV1([2; 20])));
        assert!(matches!(
            bans.on_addr(addr, Direction::Incoming),
            FilterDecision::Block(_)
        ));
        assert_eq!(
            bans.on_addr(other, Direction::Incoming),
            FilterDecision::Allow
        );
        assert!(matches!(
            bans.on_peer_id(other, &PeerId([1; 20])),
            FilterDecision::Block(_)
        ));
        assert_eq!(
            bans.on_peer_id(other, &PeerId([3; 20])),
            FilterDecision::Allow
        );
        assert!(matches!(
            bans.on_info_hash(other, &InfoHash::V1(InfoHashV1([2; 20]))),
            FilterDecision::Block(_)
        ));
    }
}
