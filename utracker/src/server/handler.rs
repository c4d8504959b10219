//! What a tracker operator plugs in: the policy and the store behind the protocol.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::client::AnnounceReply;
use crate::wire::{AnnounceRequest, ScrapeRequest, ScrapeStats};

/// An announce that passed the connection-id check.
#[derive(Debug, Clone, Copy)]
pub struct Announce<'a> {
    /// The request as received, with its BEP 41 URL data.
    pub request: &'a AnnounceRequest,
    /// The datagram's source (an IPv4-mapped IPv6 source is given as IPv4).
    pub source: SocketAddr,
    /// Where the peer listens: the source's IP with the request's port.
    pub peer: SocketAddr,
}

/// A scrape that passed the connection-id check.
#[derive(Debug, Clone, Copy)]
pub struct Scrape<'a> {
    /// The request as received.
    pub request: &'a ScrapeRequest,
    /// The datagram's source.
    pub source: SocketAddr,
}

/// A refusal, sent to the client as a BEP 15 error packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub Cow<'static, str>);

impl Refusal {
    /// A refusal with a fixed message.
    pub const fn new(message: &'static str) -> Self {
        Self(Cow::Borrowed(message))
    }
}

/// Counts a handler can report for statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Torrents with at least one peer.
    pub swarms: usize,
    /// Peers held, both address families.
    pub peers: usize,
    /// An estimate of the heap bytes the store holds.
    pub heap_bytes: usize,
}

/// The tracker's policy and store: everything after the protocol has checked
/// the connection id. Implementations are shared by every worker, so they take
/// `&self` and lock inside. Wrap [`MemoryStore`](crate::MemoryStore) to add an
/// allow list or BEP 41 authentication, or implement it over your own store.
pub trait Handler: Send + Sync {
    /// Answers an announce: fill `reply` (cleared by the caller) or refuse.
    /// Peers not of the request's address family are not sent.
    fn announce(
        &self,
        now: Instant,
        announce: &Announce<'_>,
        reply: &mut AnnounceReply,
    ) -> Result<(), Refusal>;

    /// Answers a scrape: push one entry per requested info-hash, in order, or refuse.
    fn scrape(
        &self,
        now: Instant,
        scrape: &Scrape<'_>,
        reply: &mut Vec<ScrapeStats>,
    ) -> Result<(), Refusal>;

    /// Periodic upkeep such as expiring peers; the server calls it every few seconds.
    fn tick(&self, _now: Instant) {}

    /// Counts for statistics, if the handler keeps any.
    fn stats(&self) -> Option<StoreStats> {
        None
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn announce(
        &self,
        now: Instant,
        announce: &Announce<'_>,
        reply: &mut AnnounceReply,
    ) -> Result<(), Refusal> {
        (**self).announce(now, announce, reply)
    }

    fn scrape(
        &self,
        now: Instant,
        scrape: &Scrape<'_>,
        reply: &mut Vec<ScrapeStats>,
    ) -> Result<(), Refusal> {
        (**self).scrape(now, scrape, reply)
    }

    fn tick(&self, now: Instant) {
        (**self).tick(now);
    }

    fn stats(&self) -> Option<StoreStats> {
        (**self).stats()
    }
}
