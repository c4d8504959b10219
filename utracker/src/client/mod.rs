//! The client side of BEP 15 as a sans-IO state machine.
//!
//! ```text
//!   announce/scrape ──► [tracker connected?] ──no──► connect ──► connect response
//!                               │ yes                                  │
//!                               ▼                                      ▼
//!                        request (conn id) ◄───────────────────────────┘
//!                               │
//!                   response / error / timeout ──► ClientEvent
//! ```

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bitswarm_core::{InfoHashV1, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{DecodeError, Error, PacketKind};
use crate::wire::{
    AddressFamily, AnnounceEvent, AnnounceRequest, ConnectRequest, ConnectionId, MAX_SCRAPE_HASHES,
    Request, Response, ScrapeRequest, ScrapeStats, TransactionId, UrlData,
};

/// How a [`Client`] retries and how much it holds.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The first retransmission timeout; BEP 15 says 15 s, doubled after each try.
    pub timeout: Duration,
    /// How many times a packet is sent again before giving up (BEP 15: up to 8,
    /// so the last wait is 15·2⁸ s).
    pub max_retransmissions: u32,
    /// How long a connection id is used (BEP 15: one minute).
    pub connection_id_lifetime: Duration,
    /// The most requests waiting for an answer at once.
    pub max_in_flight: usize,
    /// Seeds the transaction-id generator, for reproducible tests; `None`
    /// seeds it from the operating system.
    pub rng_seed: Option<u64>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            max_retransmissions: 8,
            connection_id_lifetime: Duration::from_secs(60),
            max_in_flight: 100_000,
            rng_seed: None,
        }
    }
}

/// Identifies a request made to a [`Client`] in its [`ClientEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Everything an announce says about the announcing peer (BEP 15 fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceParams {
    /// The torrent.
    pub info_hash: InfoHashV1,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Bytes downloaded so far.
    pub downloaded: u64,
    /// Bytes still missing; 0 announces a seeder.
    pub left: u64,
    /// Bytes uploaded so far.
    pub uploaded: u64,
    /// What happened since the last announce.
    pub event: AnnounceEvent,
    /// An address to announce instead of the packet's source; most trackers ignore it.
    pub ip: Option<Ipv4Addr>,
    /// A random key that stays the same across our announces.
    pub key: u32,
    /// How many peers we want; `None` lets the tracker decide.
    pub num_want: Option<u32>,
    /// Our listening port.
    pub port: u16,
}

impl AnnounceParams {
    /// A `started` announce of a leecher missing `left` bytes, other fields zero.
    pub fn new(info_hash: InfoHashV1, peer_id: PeerId, port: u16, left: u64) -> Self {
        Self {
            info_hash,
            peer_id,
            downloaded: 0,
            left,
            uploaded: 0,
            event: AnnounceEvent::Started,
            ip: None,
            key: 0,
            num_want: None,
            port,
        }
    }
}

/// A tracker's answer to an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Seconds to wait before the next regular announce.
    pub interval: u32,
    /// Peers still downloading.
    pub leechers: u32,
    /// Peers with the whole torrent.
    pub seeders: u32,
    /// Other peers of the swarm.
    pub peers: Vec<SocketAddr>,
}

/// A finished request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The answer to an announce.
    Announce(AnnounceReply),
    /// The counts of a scrape, one per info-hash in the request's order.
    Scrape(Vec<ScrapeStats>),
}

/// What [`Client::poll_event`] reports: a request finished, well or not.
#[derive(Debug)]
pub struct ClientEvent {
    /// The request.
    pub id: RequestId,
    /// Its outcome.
    pub result: Result<Reply, Error>,
}

/// A datagram to send, written by [`Client::poll_transmit`] into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The tracker to send it to.
    pub destination: SocketAddr,
}

#[derive(Debug)]
enum Body {
    Announce(AnnounceParams, UrlData),
    Scrape(Vec<InfoHashV1>),
}

#[derive(Debug)]
enum RequestState {
    AwaitingConnection,
    Sent {
        transaction_id: TransactionId,
        connection_id: ConnectionId,
        deadline: Instant,
    },
}

#[derive(Debug)]
struct Pending {
    tracker: SocketAddr,
    body: Body,
    state: RequestState,
    /// Timeouts so far: the `n` of BEP 15's 15·2ⁿ.
    retries: u32,
}

#[derive(Debug)]
enum Connection {
    Idle,
    Connecting {
        transaction_id: TransactionId,
        deadline: Instant,
        retries: u32,
    },
    Connected {
        id: ConnectionId,
        expires: Instant,
    },
}

#[derive(Debug)]
struct Tracker {
    connection: Connection,
    waiting: Vec<RequestId>,
}

#[derive(Debug, Clone, Copy)]
enum Transaction {
    Connect,
    Request(RequestId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Connect(SocketAddr),
    Request(RequestId),
    Expiry(SocketAddr),
}

#[derive(Debug, Clone, Copy)]
enum Outgoing {
    Connect(TransactionId),
    Request(RequestId),
}

/// A UDP tracker client for many trackers and torrents at once, with no
/// sockets and no clock: the caller feeds it datagrams and time and sends
/// what it asks to send.
///
/// The call order, in a loop:
/// 1. commands ([`announce`](Self::announce), [`scrape`](Self::scrape),
///    [`cancel`](Self::cancel)) and inputs ([`handle_datagram`](Self::handle_datagram),
///    [`handle_timeout`](Self::handle_timeout) when the deadline passed);
/// 2. [`poll_transmit`](Self::poll_transmit) until `None`, sending each datagram;
/// 3. [`poll_event`](Self::poll_event) until `None`;
/// 4. [`poll_timeout`](Self::poll_timeout) for the next deadline.
///
/// `now` must never go backwards. Each tracker gets one connect exchange per
/// minute that all requests share (BEP 15); every packet is retransmitted
/// after 15·2ⁿ seconds, n up to 8, then the request fails with
/// [`Error::Timeout`]. Replies are matched by transaction id *and* source
/// address, so a datagram from elsewhere is ignored.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    rng: StdRng,
    next_id: u64,
    trackers: HashMap<SocketAddr, Tracker>,
    pending: HashMap<RequestId, Pending>,
    transactions: HashMap<(SocketAddr, TransactionId), Transaction>,
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    outgoing: VecDeque<(SocketAddr, Outgoing)>,
    events: VecDeque<ClientEvent>,
    ignored_datagrams: u64,
}

impl Client {
    /// A client with no trackers yet.
    pub fn new(config: ClientConfig) -> Self {
        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Self {
            config,
            rng,
            next_id: 0,
            trackers: HashMap::new(),
            pending: HashMap::new(),
            transactions: HashMap::new(),
            timers: BinaryHeap::new(),
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            ignored_datagrams: 0,
        }
    }

    /// Announces to the tracker at `tracker`, with the BEP 41 `url_data` of its URL.
    pub fn announce(
        &mut self,
        now: Instant,
        tracker: SocketAddr,
        url_data: UrlData,
        params: AnnounceParams,
    ) -> Result<RequestId, Error> {
        self.start(now, tracker, Body::Announce(params, url_data))
    }

    /// Asks the tracker at `tracker` for the counts of up to
    /// [`MAX_SCRAPE_HASHES`] torrents.
    pub fn scrape(
        &mut self,
        now: Instant,
        tracker: SocketAddr,
        info_hashes: Vec<InfoHashV1>,
    ) -> Result<RequestId, Error> {
        if info_hashes.is_empty() {
            return Err(Error::InvalidRequest(
                "a scrape needs at least one info-hash",
            ));
        }
        if info_hashes.len() > MAX_SCRAPE_HASHES {
            return Err(Error::InvalidRequest(
                "a scrape carries at most 74 info-hashes; split it",
            ));
        }
        self.start(now, tracker, Body::Scrape(info_hashes))
    }

    /// Forgets a request; no event will report it.
    pub fn cancel(&mut self, id: RequestId) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        match p.state {
            RequestState::Sent { transaction_id, .. } => {
                self.transactions.remove(&(p.tracker, transaction_id));
            }
            RequestState::AwaitingConnection => {
                if let Some(t) = self.trackers.get_mut(&p.tracker) {
                    t.waiting.retain(|w| *w != id);
                }
            }
        }
    }

    /// How many requests have not finished.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Datagrams dropped because they matched no request from their sender.
    pub fn ignored_datagrams(&self) -> u64 {
        self.ignored_datagrams
    }

    fn start(&mut self, now: Instant, tracker: SocketAddr, body: Body) -> Result<RequestId, Error> {
        if self.pending.len() >= self.config.max_in_flight {
            return Err(Error::Busy {
                limit: self.config.max_in_flight,
            });
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.pending.insert(
            id,
            Pending {
                tracker,
                body,
                state: RequestState::AwaitingConnection,
                retries: 0,
            },
        );
        self.dispatch(now, id);
        Ok(id)
    }

    /// Sends `id` if its tracker has a fresh connection id; otherwise queues
    /// it behind a connect.
    fn dispatch(&mut self, now: Instant, id: RequestId) {
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        let tracker = p.tracker;
        let entry = self.trackers.entry(tracker).or_insert(Tracker {
            connection: Connection::Idle,
            waiting: Vec::new(),
        });
        match entry.connection {
            Connection::Connected { id: conn, expires } if now < expires => {
                self.send_request(now, id, conn);
            }
            Connection::Connecting { .. } => entry.waiting.push(id),
            _ => {
                entry.waiting.push(id);
                self.send_connect(now, tracker, 0);
            }
        }
    }

    fn fresh_transaction_id(&mut self, tracker: SocketAddr) -> TransactionId {
        loop {
            let t = TransactionId(self.rng.r#gen());
            if !self.transactions.contains_key(&(tracker, t)) {
                return t;
            }
        }
    }

    fn backoff(&self, retries: u32) -> Duration {
        self.config.timeout.saturating_mul(1 << retries.min(30))
    }

    fn send_connect(&mut self, now: Instant, tracker: SocketAddr, retries: u32) {
        let transaction_id = self.fresh_transaction_id(tracker);
        let deadline = now + self.backoff(retries);
        if let Some(t) = self.trackers.get_mut(&tracker) {
            if let Connection::Connecting {
                transaction_id: old,
                ..
            } = t.connection
            {
                self.transactions.remove(&(tracker, old));
            }
            t.connection = Connection::Connecting {
                transaction_id,
                deadline,
                retries,
            };
        }
        self.transactions
            .insert((tracker, transaction_id), Transaction::Connect);
        self.timers
            .push(Reverse((deadline, TimerKey::Connect(tracker))));
        self.outgoing
            .push_back((tracker, Outgoing::Connect(transaction_id)));
    }

    fn send_request(&mut self, now: Instant, id: RequestId, connection_id: ConnectionId) {
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        let tracker = p.tracker;
        let deadline = now + self.backoff(p.retries);
        let transaction_id = match p.state {
            // A retransmission keeps its transaction id, so a late answer to
            // the first copy still counts.
            RequestState::Sent { transaction_id, .. } => transaction_id,
            RequestState::AwaitingConnection => self.fresh_transaction_id(tracker),
        };
        if let Some(p) = self.pending.get_mut(&id) {
            p.state = RequestState::Sent {
                transaction_id,
                connection_id,
                deadline,
            };
        }
        self.transactions
            .insert((tracker, transaction_id), Transaction::Request(id));
        self.timers.push(Reverse((deadline, TimerKey::Request(id))));
        self.outgoing.push_back((tracker, Outgoing::Request(id)));
    }

    fn finish(&mut self, id: RequestId, result: Result<Reply, Error>) {
        if let Some(p) = self.pending.remove(&id) {
            if let RequestState::Sent { transaction_id, .. } = p.state {
                self.transactions.remove(&(p.tracker, transaction_id));
            }
            self.events.push_back(ClientEvent { id, result });
        }
    }

    /// Fails every request waiting for `tracker`'s connection.
    fn fail_waiting(&mut self, tracker: SocketAddr, error: impl Fn() -> Error) {
        let waiting = match self.trackers.get_mut(&tracker) {
            Some(t) => {
                t.connection = Connection::Idle;
                std::mem::take(&mut t.waiting)
            }
            None => return,
        };
        for id in waiting {
            self.finish(id, Err(error()));
        }
    }

    /// Feeds a datagram received from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Ok((action, transaction_id)) = Response::peek_header(data) else {
            self.ignored_datagrams += 1;
            return;
        };
        let Some(transaction) = self.transactions.remove(&(from, transaction_id)) else {
            self.ignored_datagrams += 1;
            tracing::trace!(%from, ?transaction_id, "datagram matches no request");
            return;
        };
        let decoded = Response::decode(data, AddressFamily::of(&from));
        match transaction {
            Transaction::Connect => self.on_connect_reply(now, from, action, decoded),
            Transaction::Request(id) => self.on_request_reply(from, id, action, decoded),
        }
    }

    fn on_connect_reply(
        &mut self,
        now: Instant,
        tracker: SocketAddr,
        action: u32,
        decoded: Result<Response, DecodeError>,
    ) {
        match decoded {
            Ok(Response::Connect(c)) => {
                let expires = now + self.config.connection_id_lifetime;
                let waiting = match self.trackers.get_mut(&tracker) {
                    Some(t) => {
                        t.connection = Connection::Connected {
                            id: c.connection_id,
                            expires,
                        };
                        std::mem::take(&mut t.waiting)
                    }
                    None => return,
                };
                self.timers
                    .push(Reverse((expires, TimerKey::Expiry(tracker))));
                for id in waiting {
                    self.send_request(now, id, c.connection_id);
                }
            }
            Ok(Response::Error(e)) => self.fail_waiting(tracker, || Error::Tracker {
                tracker,
                message: e.message.clone(),
            }),
            Ok(_) => self.fail_waiting(tracker, || Error::UnexpectedAction {
                tracker,
                expected: PacketKind::ConnectResponse,
                action,
            }),
            Err(reason) => self.fail_waiting(tracker, || Error::BadReply {
                tracker,
                reason: reason.clone(),
            }),
        }
    }

    fn on_request_reply(
        &mut self,
        tracker: SocketAddr,
        id: RequestId,
        action: u32,
        decoded: Result<Response, DecodeError>,
    ) {
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        let result = match (&p.body, decoded) {
            (Body::Announce(..), Ok(Response::Announce(a))) => Ok(Reply::Announce(AnnounceReply {
                interval: a.interval,
                leechers: a.leechers,
                seeders: a.seeders,
                peers: a.peers,
            })),
            (Body::Scrape(hashes), Ok(Response::Scrape(mut s))) => {
                if s.stats.len() < hashes.len() {
                    Err(Error::BadReply {
                        tracker,
                        reason: DecodeError::Truncated {
                            packet: PacketKind::ScrapeResponse,
                            field: "torrent counts",
                            offset: 8 + 12 * s.stats.len(),
                            len: 8 + 12 * s.stats.len(),
                        },
                    })
                } else {
                    s.stats.truncate(hashes.len());
                    Ok(Reply::Scrape(s.stats))
                }
            }
            (_, Ok(Response::Error(e))) => Err(Error::Tracker {
                tracker,
                message: e.message,
            }),
            (body, Ok(_)) => Err(Error::UnexpectedAction {
                tracker,
                expected: match body {
                    Body::Announce(..) => PacketKind::AnnounceResponse,
                    Body::Scrape(_) => PacketKind::ScrapeResponse,
                },
                action,
            }),
            (_, Err(reason)) => Err(Error::BadReply { tracker, reason }),
        };
        // The transaction entry is gone already; mark the request unsent so
        // `finish` does not remove a reused id.
        if let Some(p) = self.pending.get_mut(&id) {
            p.state = RequestState::AwaitingConnection;
        }
        self.finish(id, result);
    }

    /// Runs what is due at `now`: retransmissions, timeouts, expired
    /// connection ids. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((deadline, key))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            match key {
                TimerKey::Connect(tracker) => self.connect_timed_out(now, tracker, deadline),
                TimerKey::Request(id) => self.request_timed_out(now, id, deadline),
                TimerKey::Expiry(tracker) => self.connection_expired(now, tracker),
            }
        }
    }

    fn connect_timed_out(&mut self, now: Instant, tracker: SocketAddr, deadline: Instant) {
        let Some(t) = self.trackers.get(&tracker) else {
            return;
        };
        let Connection::Connecting {
            deadline: d,
            retries,
            ..
        } = t.connection
        else {
            return;
        };
        if d != deadline {
            return;
        }
        if retries >= self.config.max_retransmissions {
            if let Connection::Connecting { transaction_id, .. } = t.connection {
                self.transactions.remove(&(tracker, transaction_id));
            }
            let attempts = retries + 1;
            self.fail_waiting(tracker, || Error::Timeout { tracker, attempts });
            self.trackers.remove(&tracker);
        } else {
            self.send_connect(now, tracker, retries + 1);
        }
    }

    fn request_timed_out(&mut self, now: Instant, id: RequestId, deadline: Instant) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let RequestState::Sent {
            transaction_id,
            connection_id,
            deadline: d,
        } = p.state
        else {
            return;
        };
        if d != deadline {
            return;
        }
        let tracker = p.tracker;
        if p.retries >= self.config.max_retransmissions {
            let attempts = p.retries + 1;
            self.finish(id, Err(Error::Timeout { tracker, attempts }));
            return;
        }
        p.retries += 1;
        let fresh = matches!(
            self.trackers.get(&tracker).map(|t| &t.connection),
            Some(Connection::Connected { id, expires }) if *id == connection_id && now < *expires
        );
        if fresh {
            self.send_request(now, id, connection_id);
        } else {
            // The connection id is too old to use again: connect first.
            self.transactions.remove(&(tracker, transaction_id));
            p.state = RequestState::AwaitingConnection;
            self.dispatch(now, id);
        }
    }

    fn connection_expired(&mut self, now: Instant, tracker: SocketAddr) {
        if let Some(t) = self.trackers.get(&tracker)
            && let Connection::Connected { expires, .. } = t.connection
            && expires <= now
            && t.waiting.is_empty()
        {
            // Forget idle trackers so that the map stays as small as the
            // set of trackers in use.
            self.trackers.remove(&tracker);
        }
    }

    /// The next datagram to send, written into `buf` (cleared first).
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some((destination, what)) = self.outgoing.pop_front() {
            let request = match what {
                Outgoing::Connect(transaction_id) => {
                    // Skip a connect that a retransmission replaced.
                    match self.trackers.get(&destination).map(|t| &t.connection) {
                        Some(Connection::Connecting {
                            transaction_id: t, ..
                        }) if *t == transaction_id => {}
                        _ => continue,
                    }
                    Request::Connect(ConnectRequest { transaction_id })
                }
                Outgoing::Request(id) => {
                    let Some(p) = self.pending.get(&id) else {
                        continue;
                    };
                    let RequestState::Sent {
                        transaction_id,
                        connection_id,
                        ..
                    } = p.state
                    else {
                        continue;
                    };
                    match &p.body {
                        Body::Announce(a, url_data) => Request::Announce(AnnounceRequest {
                            connection_id,
                            transaction_id,
                            info_hash: a.info_hash,
                            peer_id: a.peer_id,
                            downloaded: a.downloaded,
                            left: a.left,
                            uploaded: a.uploaded,
                            event: a.event,
                            ip: a.ip,
                            key: a.key,
                            num_want: a.num_want,
                            port: a.port,
                            url_data: url_data.clone(),
                        }),
                        Body::Scrape(hashes) => Request::Scrape(ScrapeRequest {
                            connection_id,
                            transaction_id,
                            info_hashes: hashes.clone(),
                        }),
                    }
                }
            };
            buf.clear();
            request.encode(buf);
            return Some(Transmit { destination });
        }
        None
    }

    /// The next finished request.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop timers that no longer guard anything, so the deadline we
        // report is a real one whenever possible.
        while let Some(Reverse((deadline, key))) = self.timers.peek().copied() {
            if self.timer_is_live(deadline, key) {
                return Some(deadline);
            }
            self.timers.pop();
        }
        None
    }

    fn timer_is_live(&self, deadline: Instant, key: TimerKey) -> bool {
        match key {
            TimerKey::Connect(t) => matches!(
                self.trackers.get(&t).map(|t| &t.connection),
                Some(Connection::Connecting { deadline: d, .. }) if *d == deadline
            ),
            TimerKey::Request(id) => matches!(
                self.pending.get(&id).map(|p| &p.state),
                Some(RequestState::Sent { deadline: d, .. }) if *d == deadline
            ),
            TimerKey::Expiry(t) => matches!(
                self.trackers.get(&t).map(|t| &t.connection),
                Some(Connection::Connected { expires, .. }) if *expires == deadline
            ),
        }
    }
}
