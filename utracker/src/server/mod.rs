//! The tracker side of BEP 15 as a sans-IO function of datagrams: stateless
//! connection ids, then announces and scrapes handed to a [`Handler`].

mod connection_id;
mod handler;

use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use bytes::BufMut;

use self::connection_id::ConnectionIds;
use crate::client::AnnounceReply;
use crate::error::DecodeError;
use crate::wire::{
    ACTION_ANNOUNCE, ACTION_CONNECT, ACTION_ERROR, ACTION_SCRAPE, AddressFamily, ConnectionId,
    Request, ScrapeStats, TransactionId, encode_peers,
};

pub use handler::{Announce, Handler, Refusal, Scrape, StoreStats};

/// Protocol settings shared by every worker of one tracker.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The connection-id window: an id is accepted in the window it was issued
    /// in and the next (BEP 15: clients use an id for one minute).
    pub connection_id_window: Duration,
    /// The key of the connection-id hash. Workers that share a port must
    /// share it; `None` draws a random one when the server starts.
    pub secret: Option<[u8; 16]>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            connection_id_window: Duration::from_secs(60),
            secret: None,
        }
    }
}

/// What [`Server::handle_datagram`] did with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Handled {
    /// A connect request; the reply carries a connection id.
    Connect,
    /// An announce; the reply carries peers.
    Announce,
    /// A scrape; the reply carries counts.
    Scrape,
    /// The handler refused; the reply is an error packet.
    Refused,
    /// Not a request; dropped without a reply.
    Invalid(DecodeError),
    /// An announce or scrape with a connection id that is spoofed, stale or
    /// from another address; dropped without a reply, so that a forged
    /// source address cannot aim replies at a victim.
    BadConnectionId,
}

impl Handled {
    /// Whether the output buffer holds a reply to send back to the source.
    pub fn has_reply(&self) -> bool {
        matches!(
            self,
            Self::Connect | Self::Announce | Self::Scrape | Self::Refused
        )
    }
}

/// One worker's protocol state: the connection-id key, the handler, and
/// reusable reply buffers. It holds no per-client state; run one per socket
/// or thread, all with the same [`ServerConfig`] and handler.
#[derive(Debug)]
pub struct Server<H> {
    ids: ConnectionIds,
    handler: H,
    announce: AnnounceReply,
    scrape: Vec<ScrapeStats>,
}

/// An IPv4-mapped IPv6 address (from a dual-stack socket) as plain IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::V4(SocketAddrV4::new(ip, a.port())),
            None => addr,
        },
        v4 => v4,
    }
}

impl<H: Handler> Server<H> {
    /// A worker over `handler`. `epoch` anchors the connection-id windows:
    /// workers sharing a port must be given the same one.
    pub fn new(config: &ServerConfig, handler: H, epoch: Instant) -> Self {
        let key = config.secret.unwrap_or_else(rand::random);
        Self {
            ids: ConnectionIds::new(key, epoch, config.connection_id_window),
            handler,
            announce: AnnounceReply {
                interval: 0,
                leechers: 0,
                seeders: 0,
                peers: Vec::new(),
            },
            scrape: Vec::new(),
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Handles one datagram from `from`; when the result
    /// [`has_reply`](Handled::has_reply), `out` (cleared first) holds the
    /// datagram to send back to `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Handled {
        out.clear();
        let request = match Request::decode(data) {
            Ok(r) => r,
            Err(e) => return Handled::Invalid(e),
        };
        let source = canonical(from);
        let family = AddressFamily::of(&source);
        match request {
            Request::Connect(c) => {
                header(out, ACTION_CONNECT, c.transaction_id);
                out.put_u64(self.ids.issue(now, &source).0);
                Handled::Connect
            }
            Request::Announce(a) => {
                if !self.valid(now, &source, a.connection_id) {
                    return Handled::BadConnectionId;
                }
                let reply = &mut self.announce;
                reply.interval = 0;
                reply.leechers = 0;
                reply.seeders = 0;
                reply.peers.clear();
                let mut peer = source;
                peer.set_port(a.port);
                let ctx = Announce {
                    request: &a,
                    source,
                    peer,
                };
                match self.handler.announce(now, &ctx, reply) {
                    Ok(()) => {
                        header(out, ACTION_ANNOUNCE, a.transaction_id);
                        out.put_u32(reply.interval);
                        out.put_u32(reply.leechers);
                        out.put_u32(reply.seeders);
                        encode_peers(&reply.peers, family, out);
                        Handled::Announce
                    }
                    Err(refusal) => refuse(out, a.transaction_id, &refusal),
                }
            }
            Request::Scrape(s) => {
                if !self.valid(now, &source, s.connection_id) {
                    return Handled::BadConnectionId;
                }
                self.scrape.clear();
                let ctx = Scrape {
                    request: &s,
                    source,
                };
                match self.handler.scrape(now, &ctx, &mut self.scrape) {
                    Ok(()) => {
                        // One entry per hash, whatever the handler pushed.
                        self.scrape
                            .resize(s.info_hashes.len(), ScrapeStats::default());
                        header(out, ACTION_SCRAPE, s.transaction_id);
                        for st in &self.scrape {
                            out.put_u32(st.seeders);
                            out.put_u32(st.completed);
                            out.put_u32(st.leechers);
                        }
                        Handled::Scrape
                    }
                    Err(refusal) => refuse(out, s.transaction_id, &refusal),
                }
            }
        }
    }

    fn valid(&self, now: Instant, source: &SocketAddr, id: ConnectionId) -> bool {
        self.ids.is_valid(now, source, id)
    }
}

fn header(out: &mut Vec<u8>, action: u32, transaction_id: TransactionId) {
    out.put_u32(action);
    out.put_u32(transaction_id.0);
}

fn refuse(out: &mut Vec<u8>, transaction_id: TransactionId, refusal: &Refusal) -> Handled {
    out.clear();
    header(out, ACTION_ERROR, transaction_id);
    // Keep the datagram small whatever the handler wrote.
    let message = refusal.0.as_bytes();
    out.put_slice(&message[..message.len().min(512)]);
    Handled::Refused
}

#[cfg(test)]
mod tests;
