//! The tokio driver: a [`Node`] on UDP sockets, behind a cloneable [`Dht`] handle.
//!
//! One task owns the sockets and the node. It feeds the node every datagram
//! and every expired timer, sends what the node wants sent, and hands each
//! lookup's events to whoever started it. Commands reach it through a bounded
//! channel; when every handle is dropped, or on [`Dht::shutdown`], it stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::Error;
use crate::bep44::Item;
use crate::id::NodeId;
use crate::krpc::{CompactNode, MAX_MESSAGE_LEN};
use crate::node::{Config, Event, LookupStats, Node, QueryId, Stats};

/// Where the driver listens, and how its node behaves.
#[derive(Debug, Clone)]
pub struct DhtConfig {
    /// The IPv4 address to bind, if any (e.g. `127.0.0.1:0`).
    pub bind_v4: Option<SocketAddr>,
    /// The IPv6 address to bind, if any (e.g. `[::1]:0`).
    pub bind_v6: Option<SocketAddr>,
    /// The node's configuration; `ipv4`/`ipv6` are set from the sockets.
    pub node: Config,
}

impl Default for DhtConfig {
    fn default() -> Self {
        Self {
            bind_v4: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            bind_v6: None,
            node: Config::default(),
        }
    }
}

/// Peers of a `get_peers` lookup as they arrive; ends when the lookup does.
pub type PeerStream = std::pin::Pin<Box<dyn Stream<Item = SocketAddr> + Send>>;

enum Waiter {
    Done(oneshot::Sender<LookupStats>),
    Peers(mpsc::Sender<SocketAddr>),
    Item(Option<Item>, oneshot::Sender<Option<Item>>),
    Samples(Vec<NodeId>, oneshot::Sender<Vec<NodeId>>),
}

enum Command {
    Bootstrap(oneshot::Sender<LookupStats>),
    AddNode(SocketAddr),
    FindNode(NodeId, oneshot::Sender<LookupStats>),
    GetPeers(NodeId, mpsc::Sender<SocketAddr>),
    Announce(NodeId, Option<u16>, oneshot::Sender<LookupStats>),
    GetImmutable(NodeId, oneshot::Sender<Option<Item>>),
    GetMutable([u8; 32], Vec<u8>, oneshot::Sender<Option<Item>>),
    Put(Item, oneshot::Sender<Result<LookupStats, Error>>),
    Sample(NodeId, oneshot::Sender<Vec<NodeId>>),
    Stats(oneshot::Sender<Stats>),
    ExportTable(oneshot::Sender<Vec<u8>>),
    ImportTable(Vec<u8>, oneshot::Sender<Result<usize, Error>>),
    Shutdown,
}

/// A handle on a running DHT node. Clone it freely; the node stops when
/// the last handle is dropped or [`shutdown`](Self::shutdown) is called.
///
/// ```no_run
/// # async fn demo() -> Result<(), bitswarm_dht::Error> {
/// use bitswarm_dht::{Dht, DhtConfig, NodeId};
/// use futures::StreamExt;
///
/// let mut config = DhtConfig::default();
/// config.node.bootstrap = vec!["127.0.0.1:6881".parse().unwrap()];
/// let dht = Dht::bind(config).await?;
/// dht.bootstrap().await?;
/// let mut peers = dht.get_peers(NodeId([0xab; 20]));
/// while let Some(peer) = peers.next().await {
///     println!("{peer}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Dht {
    commands: mpsc::Sender<Command>,
    local_v4: Option<SocketAddr>,
    local_v6: Option<SocketAddr>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Io {
        what,
        message: e.to_string(),
    }
}

impl Dht {
    /// Binds the sockets and starts the node on the current tokio runtime.
    pub async fn bind(config: DhtConfig) -> Result<Self, Error> {
        let v4 = match config.bind_v4 {
            Some(a) => Some(Arc::new(
                UdpSocket::bind(a).await.map_err(io("binding IPv4"))?,
            )),
            None => None,
        };
        let v6 = match config.bind_v6 {
            Some(a) => Some(Arc::new(
                UdpSocket::bind(a).await.map_err(io("binding IPv6"))?,
            )),
            None => None,
        };
        if v4.is_none() && v6.is_none() {
            return Err(Error::InvalidArgument {
                what: "bind at least one of bind_v4 and bind_v6",
            });
        }
        let local_v4 = v4.as_ref().and_then(|s| s.local_addr().ok());
        let local_v6 = v6.as_ref().and_then(|s| s.local_addr().ok());
        let mut node_config = config.node;
        node_config.ipv4 = v4.is_some();
        node_config.ipv6 = v6.is_some();
        let node = Node::new(node_config, Instant::now());
        let (tx, rx) = mpsc::channel(256);
        let span = tracing::info_span!("dht", v4 = ?local_v4, v6 = ?local_v6, id = %node.id());
        let driver = Driver {
            node,
            v4,
            v6,
            waiters: HashMap::new(),
        };
        tokio::spawn(driver.run(rx).instrument(span));
        Ok(Self {
            commands: tx,
            local_v4,
            local_v6,
        })
    }

    /// The bound IPv4 address.
    pub fn local_addr_v4(&self) -> Option<SocketAddr> {
        self.local_v4
    }

    /// The bound IPv6 address.
    pub fn local_addr_v6(&self) -> Option<SocketAddr> {
        self.local_v6
    }

    async fn send(&self, c: Command) -> Result<(), Error> {
        self.commands.send(c).await.map_err(|_| Error::Shutdown)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| Error::Shutdown)
    }

    /// Joins the network through the configured bootstrap nodes and the
    /// routing table; returns when the lookup for our own id is over.
    pub async fn bootstrap(&self) -> Result<LookupStats, Error> {
        self.ask(Command::Bootstrap).await
    }

    /// Pings `addr`; it enters the routing table if it answers.
    pub async fn add_node(&self, addr: SocketAddr) -> Result<(), Error> {
        self.send(Command::AddNode(addr)).await
    }

    /// The k closest nodes to `target` that answered.
    pub async fn find_node(&self, target: NodeId) -> Result<Vec<CompactNode>, Error> {
        self.ask(|tx| Command::FindNode(target, tx))
            .await
            .map(|s| s.closest)
    }

    /// Peers of `info_hash`, each once, as lookups find them. The stream
    /// ends when the lookup is over.
    pub fn get_peers(&self, info_hash: NodeId) -> PeerStream {
        let (tx, rx) = mpsc::channel(256);
        let commands = self.commands.clone();
        let start = async move {
            let _ = commands.send(Command::GetPeers(info_hash, tx)).await;
            rx
        };
        Box::pin(futures::stream::unfold(
            Start::Pending(Box::pin(start)),
            |state| async move {
                let mut rx = match state {
                    Start::Pending(f) => f.await,
                    Start::Running(rx) => rx,
                };
                rx.recv().await.map(|p| (p, Start::Running(rx)))
            },
        ))
    }

    /// Announces us as a peer of `info_hash` on `port` (`None`: the UDP
    /// source port, BEP 5 `implied_port`) to the k closest nodes.
    pub async fn announce(
        &self,
        info_hash: NodeId,
        port: Option<u16>,
    ) -> Result<LookupStats, Error> {
        self.ask(|tx| Command::Announce(info_hash, port, tx)).await
    }

    /// Gets the immutable BEP 44 item stored under `target`.
    pub async fn get_immutable(&self, target: NodeId) -> Result<Option<Item>, Error> {
        self.ask(|tx| Command::GetImmutable(target, tx)).await
    }

    /// Gets the newest mutable BEP 44 item of `key` and `salt`.
    pub async fn get_mutable(&self, key: [u8; 32], salt: &[u8]) -> Result<Option<Item>, Error> {
        let salt = salt.to_vec();
        self.ask(|tx| Command::GetMutable(key, salt, tx)).await
    }

    /// Stores a BEP 44 item on the k closest nodes.
    pub async fn put(&self, item: Item) -> Result<LookupStats, Error> {
        self.ask(|tx| Command::Put(item, tx)).await?
    }

    /// BEP 51: info-hashes sampled from the nodes on the way to `target`.
    pub async fn sample_infohashes(&self, target: NodeId) -> Result<Vec<NodeId>, Error> {
        self.ask(|tx| Command::Sample(target, tx)).await
    }

    /// The node's counters.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.ask(Command::Stats).await
    }

    /// The routing table, bencoded, for [`import_table`](Self::import_table) after a restart.
    pub async fn export_table(&self) -> Result<Vec<u8>, Error> {
        self.ask(Command::ExportTable).await
    }

    /// Adds the nodes of a saved table; returns how many were taken.
    pub async fn import_table(&self, saved: Vec<u8>) -> Result<usize, Error> {
        self.ask(|tx| Command::ImportTable(saved, tx)).await?
    }

    /// Stops the node.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

enum Start {
    Pending(std::pin::Pin<Box<dyn Future<Output = mpsc::Receiver<SocketAddr>> + Send>>),
    Running(mpsc::Receiver<SocketAddr>),
}

struct Driver {
    node: Node,
    v4: Option<Arc<UdpSocket>>,
    v6: Option<Arc<UdpSocket>>,
    waiters: HashMap<QueryId, (Waiter, tracing::Span)>,
}

async fn recv(
    sock: &Option<Arc<UdpSocket>>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf4 = vec![0u8; 65_536];
        let mut buf6 = vec![0u8; 65_536];
        let v4 = self.v4.clone();
        let v6 = self.v6.clone();
        loop {
            self.flush().await;
            let deadline = self.node.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                c = commands.recv() => match c {
                    None | Some(Command::Shutdown) => break,
                    Some(c) => self.command(c),
                },
                r = recv(&v4, &mut buf4) => self.datagram(r, &buf4),
                r = recv(&v6, &mut buf6) => self.datagram(r, &buf6),
                () = sleep => self.node.handle_timeout(Instant::now()),
            }
        }
        tracing::debug!("DHT driver stopped");
    }

    fn datagram(&mut self, r: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        match r {
            Ok((n, from)) if n <= MAX_MESSAGE_LEN => {
                let from = match from {
                    SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                        Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                        None => from,
                    },
                    v4 => v4,
                };
                self.node.handle_datagram(Instant::now(), from, &buf[..n]);
            }
            Ok((n, from)) => tracing::trace!(%from, n, "oversized datagram dropped"),
            // ICMP errors surface as recv errors on some systems: not fatal.
            Err(e) => tracing::trace!(error = %e, "receive error"),
        }
    }

    fn watch(&mut self, q: QueryId, w: Waiter, kind: &'static str, target: NodeId) {
        let span = tracing::debug_span!("lookup", kind, %target, query = q.0);
        span.in_scope(|| tracing::debug!("started"));
        self.waiters.insert(q, (w, span));
    }

    fn command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Bootstrap(tx) => {
                let q = self.node.bootstrap(now);
                let id = self.node.id();
                self.watch(q, Waiter::Done(tx), "bootstrap", id);
            }
            Command::AddNode(addr) => self.node.add_node(now, addr),
            Command::FindNode(t, tx) => {
                let q = self.node.find_node(now, t);
                self.watch(q, Waiter::Done(tx), "find_node", t);
            }
            Command::GetPeers(h, tx) => {
                let q = self.node.get_peers(now, h);
                self.watch(q, Waiter::Peers(tx), "get_peers", h);
            }
            Command::Announce(h, port, tx) => {
                let q = self.node.announce(now, h, port);
                self.watch(q, Waiter::Done(tx), "announce", h);
            }
            Command::GetImmutable(t, tx) => {
                let q = self.node.get_immutable(now, t);
                self.watch(q, Waiter::Item(None, tx), "get", t);
            }
            Command::GetMutable(key, salt, tx) => {
                let q = self.node.get_mutable(now, key, &salt, None);
                let t = crate::bep44::mutable_target(&key, &salt);
                self.watch(q, Waiter::Item(None, tx), "get", t);
            }
            Command::Put(item, tx) => {
                let t = item.target();
                match self.node.put(now, item) {
                    Ok(q) => {
                        let (done_tx, done_rx) = oneshot::channel();
                        self.watch(q, Waiter::Done(done_tx), "put", t);
                        tokio::spawn(async move {
                            let r = done_rx.await.map_err(|_| Error::Shutdown);
                            let _ = tx.send(r);
                        });
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            }
            Command::Sample(t, tx) => {
                let q = self.node.sample_infohashes(now, t);
                self.watch(q, Waiter::Samples(Vec::new(), tx), "sample_infohashes", t);
            }
            Command::Stats(tx) => {
                let _ = tx.send(self.node.stats());
            }
            Command::ExportTable(tx) => {
                let _ = tx.send(self.node.export_table());
            }
            Command::ImportTable(saved, tx) => {
                let _ = tx.send(self.node.import_table(now, &saved));
            }
            Command::Shutdown => {}
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.node.poll_transmit() {
            let sock = if t.destination.is_ipv6() {
                &self.v6
            } else {
                &self.v4
            };
            if let Some(s) = sock
                && let Err(e) = s.send_to(&t.payload, t.destination).await
            {
                tracing::trace!(to = %t.destination, error = %e, "send failed");
            }
        }
        while let Some(e) = self.node.poll_event() {
            self.event(e);
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Peers { query, peers } => {
                if let Some((Waiter::Peers(tx), span)) = self.waiters.get(&query) {
                    span.in_scope(|| tracing::debug!(count = peers.len(), "peers"));
                    for p in peers {
                        if tx.try_send(p).is_err() {
                            break;
                        }
                    }
                }
            }
            Event::Item { query, item } => {
                if let Some((Waiter::Item(best, _), _)) = self.waiters.get_mut(&query) {
                    *best = Some(item);
                }
            }
            Event::Samples { query, samples, .. } => {
                if let Some((Waiter::Samples(all, _), _)) = self.waiters.get_mut(&query) {
                    for s in samples {
                        if all.len() < 10_000 && !all.contains(&s) {
                            all.push(s);
                        }
                    }
                }
            }
            Event::Done { query, stats } => {
                if let Some((w, span)) = self.waiters.remove(&query) {
                    span.in_scope(|| {
                        tracing::debug!(
                            messages = stats.messages,
                            hops = stats.hops,
                            stored = stats.stored,
                            "done"
                        );
                    });
                    match w {
                        Waiter::Done(tx) => {
                            let _ = tx.send(stats);
                        }
                        Waiter::Peers(_) => {}
                        Waiter::Item(best, tx) => {
                            let _ = tx.send(best);
                        }
                        Waiter::Samples(all, tx) => {
                            let _ = tx.send(all);
                        }
                    }
                }
            }
            Event::ExternalAddress { ip, new_id } => {
                tracing::info!(%ip, ?new_id, "external address");
            }
        }
    }
}
