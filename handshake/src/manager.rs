//! The tokio driver: listeners, outgoing connections, timeouts, filters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bitswarm_core::{InfoHash, InfoHashV1, PeerId};
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::exchange::{drive, initiate, send};
use crate::filter::{Direction, Filter, FilterDecision};
use crate::state::AwaitingPrefix;
use crate::{Error, Extensions, Handshake};

/// A byte stream a handshake can run over: TCP today, an encrypted stream or
/// uTP later.
pub trait PeerTransport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> PeerTransport for T {}

/// A boxed [`PeerTransport`], the transport of every [`Connection`].
pub type BoxedTransport = Box<dyn PeerTransport>;

/// How a [`HandshakeManager`] behaves.
#[derive(Clone, Debug)]
pub struct HandshakeConfig {
    /// Our peer id; also how connections to ourselves are recognised.
    pub peer_id: PeerId,
    /// The reserved bits we send.
    pub extensions: Extensions,
    /// The time a handshake may take from connect (or accept) to its last byte.
    pub timeout: Duration,
    /// Handshakes in progress at once, each direction.
    pub max_pending: usize,
    /// Completed connections alive at once (released when a [`Connection`]'s
    /// permit drops).
    pub max_connections: usize,
    /// Completed connections alive at once per torrent.
    pub max_connections_per_torrent: usize,
    /// Capacity of the event stream.
    pub event_capacity: usize,
}

impl HandshakeConfig {
    /// Defaults around `peer_id`: 10 s timeout, 32 pending, 500 connections,
    /// 100 per torrent.
    pub fn new(peer_id: PeerId) -> Self {
        Self {
            peer_id,
            extensions: Extensions::BITSWARM,
            timeout: Duration::from_secs(10),
            max_pending: 32,
            max_connections: 500,
            max_connections_per_torrent: 100,
            event_capacity: 64,
        }
    }
}

/// What is known about a completed handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeInfo {
    /// The remote address.
    pub addr: SocketAddr,
    /// Who connected.
    pub direction: Direction,
    /// The torrent, as registered (v1 or v2).
    pub info_hash: InfoHash,
    /// The remote's handshake as received.
    pub remote: Handshake,
    /// Extension bits both sides set.
    pub extensions: Extensions,
}

/// Holds one slot of the connection limits; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionPermit {
    counts: Arc<Mutex<Counts>>,
    torrent: InfoHashV1,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_torrent.get_mut(&self.torrent) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_torrent.remove(&self.torrent);
            }
        }
    }
}

/// A connection whose handshake is complete: keep the permit as long as the
/// transport lives.
pub struct Connection {
    /// The byte stream, positioned just after the handshake.
    pub transport: BoxedTransport,
    /// The handshake.
    pub info: HandshakeInfo,
    /// The connection-limit slot.
    pub permit: ConnectionPermit,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("info", &self.info)
            .finish()
    }
}

/// What the manager's stream yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeEvent {
    /// A handshake completed.
    Connected(Connection),
    /// A handshake failed; the connection is closed.
    Failed {
        /// The remote address.
        addr: SocketAddr,
        /// Who connected.
        direction: Direction,
        /// Why.
        error: Error,
    },
}

/// Something that can start handshakes: the seam where peer sources (a
/// tracker, the DHT, PEX, a user) hand over addresses.
pub trait Handshaker: Send + Sync {
    /// Our peer id.
    fn peer_id(&self) -> PeerId;
    /// Starts connecting to `addr` for `info_hash`; the result arrives on the
    /// event stream. Waits while too many handshakes are in progress.
    fn connect(
        &self,
        addr: SocketAddr,
        info_hash: InfoHash,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_torrent: HashMap<InfoHashV1, usize>,
}

struct Inner {
    config: HandshakeConfig,
    torrents: RwLock<HashMap<InfoHashV1, InfoHash>>,
    filters: Vec<Arc<dyn Filter>>,
    events: mpsc::Sender<HandshakeEvent>,
    outgoing: Arc<Semaphore>,
    incoming: Arc<Semaphore>,
    counts: Arc<Mutex<Counts>>,
    cancel: CancellationToken,
}

/// Cancels everything when the last handle drops.
struct Guard(CancellationToken);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Starts handshakes: [`HandshakeManager::start`] returns a cloneable
/// [`HandshakeHandle`] and the [`Connections`] stream.
#[derive(Debug)]
pub struct HandshakeManager;

impl HandshakeManager {
    /// Starts a manager on the current tokio runtime.
    pub fn start(
        config: HandshakeConfig,
        filters: Vec<Arc<dyn Filter>>,
    ) -> (HandshakeHandle, Connections) {
        let (tx, rx) = mpsc::channel(config.event_capacity.max(1));
        let cancel = CancellationToken::new();
        let cancelled = Box::pin(cancel.clone().cancelled_owned());
        let inner = Arc::new(Inner {
            outgoing: Arc::new(Semaphore::new(config.max_pending.max(1))),
            incoming: Arc::new(Semaphore::new(config.max_pending.max(1))),
            config,
            torrents: RwLock::new(HashMap::new()),
            filters,
            events: tx,
            counts: Arc::default(),
            cancel: cancel.clone(),
        });
        (
            HandshakeHandle {
                inner,
                _guard: Arc::new(Guard(cancel)),
            },
            Connections { rx, cancelled },
        )
    }
}

/// The command side of a [`HandshakeManager`]. Dropping every clone shuts it down.
#[derive(Clone)]
pub struct HandshakeHandle {
    inner: Arc<Inner>,
    _guard: Arc<Guard>,
}

impl std::fmt::Debug for HandshakeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeHandle")
            .field("peer_id", &self.inner.config.peer_id)
            .finish()
    }
}

impl HandshakeHandle {
    /// Accepts incoming handshakes for this torrent (v1, or v2 by its
    /// truncated hash as BEP 52 says).
    pub fn register(&self, info_hash: InfoHash) {
        self.inner
            .torrents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(info_hash.wire(), info_hash);
    }

    /// Stops accepting handshakes for this torrent.
    pub fn unregister(&self, info_hash: InfoHash) {
        self.inner
            .torrents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&info_hash.wire());
    }

    /// Listens on `addr` (IPv4 or IPv6) and returns the bound address.
    pub async fn listen(&self, addr: SocketAddr) -> Result<SocketAddr, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(Some(addr), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io(Some(addr), e))?;
        let inner = self.inner.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = inner.cancel.cancelled() => return,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((stream, remote)) => {
                        let _ = stream.set_nodelay(true);
                        inner.clone().spawn_incoming(Box::new(stream), remote).await;
                    }
                    Err(e) => {
                        tracing::warn!(%local, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(local)
    }

    /// Runs the responder's side of a handshake over a transport accepted by
    /// other means (an encrypted stream, uTP). Waits while too many incoming
    /// handshakes are in progress.
    pub async fn accept_transport(&self, transport: BoxedTransport, addr: SocketAddr) {
        self.inner.clone().spawn_incoming(transport, addr).await;
    }

    /// Runs the initiator's side over a transport connected by other means.
    pub async fn initiate_transport(
        &self,
        transport: BoxedTransport,
        addr: SocketAddr,
        info_hash: InfoHash,
    ) -> Result<(), Error> {
        self.spawn_outgoing(addr, info_hash, Some(transport)).await
    }

    async fn spawn_outgoing(
        &self,
        addr: SocketAddr,
        info_hash: InfoHash,
        transport: Option<BoxedTransport>,
    ) -> Result<(), Error> {
        let inner = self.inner.clone();
        let permit = tokio::select! {
            () = inner.cancel.cancelled() => return Err(Error::Shutdown),
            p = inner.outgoing.clone().acquire_owned() => p.map_err(|_| Error::Shutdown)?,
        };
        tokio::spawn(async move {
            let result = tokio::select! {
                () = inner.cancel.cancelled() => return,
                r = tokio::time::timeout(
                    inner.config.timeout,
                    inner.outgoing_handshake(addr, info_hash, transport),
                ) => r.unwrap_or(Err(Error::Timeout { addr })),
            };
            drop(permit);
            inner.report(result, addr, Direction::Outgoing).await;
        });
        Ok(())
    }

    /// Stops listeners and pending handshakes; the stream ends.
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }
}

impl Handshaker for HandshakeHandle {
    fn peer_id(&self) -> PeerId {
        self.inner.config.peer_id
    }

    async fn connect(&self, addr: SocketAddr, info_hash: InfoHash) -> Result<(), Error> {
        self.spawn_outgoing(addr, info_hash, None).await
    }
}

impl Inner {
    fn check(
        &self,
        addr: SocketAddr,
        f: impl Fn(&dyn Filter) -> FilterDecision,
    ) -> Result<(), Error> {
        for filter in &self.filters {
            if let FilterDecision::Block(reason) = f(filter.as_ref()) {
                return Err(Error::Filtered { addr, reason });
            }
        }
        Ok(())
    }

    fn ours(&self, info_hash: InfoHashV1) -> Handshake {
        Handshake {
            extensions: self.config.extensions,
            info_hash,
            peer_id: self.config.peer_id,
        }
    }

    fn take_permit(
        &self,
        addr: SocketAddr,
        torrent: InfoHashV1,
    ) -> Result<ConnectionPermit, Error> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if c.total >= self.config.max_connections {
            return Err(Error::Filtered {
                addr,
                reason: "global connection limit",
            });
        }
        let n = c.per_torrent.entry(torrent).or_insert(0);
        if *n >= self.config.max_connections_per_torrent {
            return Err(Error::Filtered {
                addr,
                reason: "per-torrent connection limit",
            });
        }
        *n += 1;
        c.total += 1;
        Ok(ConnectionPermit {
            counts: self.counts.clone(),
            torrent,
        })
    }

    fn check_peer_id(&self, addr: SocketAddr, remote: &Handshake) -> Result<(), Error> {
        if remote.peer_id == self.config.peer_id {
            return Err(Error::SelfConnection);
        }
        self.check(addr, |f| f.on_peer_id(addr, &remote.peer_id))
    }

    async fn outgoing_handshake(
        &self,
        addr: SocketAddr,
        info_hash: InfoHash,
        transport: Option<BoxedTransport>,
    ) -> Result<Connection, Error> {
        self.check(addr, |f| f.on_addr(addr, Direction::Outgoing))?;
        self.check(addr, |f| f.on_info_hash(addr, &info_hash))?;
        let permit = self.take_permit(addr, info_hash.wire())?;
        let mut transport = match transport {
            Some(t) => t,
            None => {
                let s = TcpStream::connect(addr)
                    .await
                    .map_err(|e| Error::io(Some(addr), e))?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
        };
        let ours = self.ours(info_hash.wire());
        let remote = initiate(&mut transport, &ours, addr).await?;
        self.check_peer_id(addr, &remote)?;
        Ok(Connection {
            transport,
            info: HandshakeInfo {
                addr,
                direction: Direction::Outgoing,
                info_hash,
                remote,
                extensions: remote.extensions.common(self.config.extensions),
            },
            permit,
        })
    }

    async fn incoming_handshake(
        &self,
        mut transport: BoxedTransport,
        addr: SocketAddr,
    ) -> Result<Connection, Error> {
        self.check(addr, |f| f.on_addr(addr, Direction::Incoming))?;
        let received = drive(&mut transport, AwaitingPrefix::new(), addr).await?;
        let prefix = received.prefix();
        let info_hash = self
            .torrents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&prefix.info_hash)
            .copied()
            .ok_or(Error::UnknownInfoHash {
                info_hash: prefix.info_hash,
            })?;
        self.check(addr, |f| f.on_info_hash(addr, &info_hash))?;
        let permit = self.take_permit(addr, prefix.info_hash)?;
        // BEP 3: the responder answers once it has seen the info-hash.
        let (ours, state) = received.accept(self.config.extensions, self.config.peer_id);
        send(&mut transport, &ours, addr).await?;
        let remote = drive(&mut transport, state, addr).await?;
        self.check_peer_id(addr, &remote)?;
        Ok(Connection {
            transport,
            info: HandshakeInfo {
                addr,
                direction: Direction::Incoming,
                info_hash,
                remote,
                extensions: remote.extensions.common(self.config.extensions),
            },
            permit,
        })
    }

    async fn spawn_incoming(self: Arc<Self>, transport: BoxedTransport, addr: SocketAddr) {
        let permit = tokio::select! {
            () = self.cancel.cancelled() => return,
            p = self.incoming.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        tokio::spawn(async move {
            let result = tokio::select! {
                () = self.cancel.cancelled() => return,
                r = tokio::time::timeout(
                    self.config.timeout,
                    self.incoming_handshake(transport, addr),
                ) => r.unwrap_or(Err(Error::Timeout { addr })),
            };
            drop(permit);
            self.report(result, addr, Direction::Incoming).await;
        });
    }

    async fn report(
        &self,
        result: Result<Connection, Error>,
        addr: SocketAddr,
        direction: Direction,
    ) {
        let event = match result {
            Ok(c) => {
                tracing::debug!(%addr, ?direction, "handshake complete");
                HandshakeEvent::Connected(c)
            }
            Err(error) => {
                tracing::debug!(%addr, ?direction, %error, "handshake failed");
                HandshakeEvent::Failed {
                    addr,
                    direction,
                    error,
                }
            }
        };
        tokio::select! {
            () = self.cancel.cancelled() => {}
            _ = self.events.send(event) => {}
        }
    }
}

/// The stream of [`HandshakeEvent`]s. It ends after shutdown.
pub struct Connections {
    rx: mpsc::Receiver<HandshakeEvent>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").finish_non_exhaustive()
    }
}

impl Connections {
    /// The next event; `None` after shutdown.
    pub async fn next_event(&mut self) -> Option<HandshakeEvent> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for Connections {
    type Item = HandshakeEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<HandshakeEvent>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(e) => Poll::Ready(e),
            Poll::Pending => match self.cancelled.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
