//! The tokio driver: one task per connection, reading and writing at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::liveness::{Liveness, LivenessAction};
use crate::{Error, Message, PeerCodec, RateMeter, WriteBatch};

/// How a [`PeerManager`] behaves.
#[derive(Clone, Debug)]
pub struct PeerManagerConfig {
    /// Messages queued per peer before `send` waits (backpressure).
    pub send_queue: usize,
    /// Events queued before connections stop reading (backpressure).
    pub event_capacity: usize,
    /// Send a keep-alive after this long without sending anything.
    pub keep_alive_after: Duration,
    /// Drop a peer after this long without receiving anything (BEP 3: two minutes).
    pub idle_timeout: Duration,
    /// Bytes gathered into one vectored write at most.
    pub write_batch: usize,
    /// Bytes read from the socket at once.
    pub read_chunk: usize,
}

impl Default for PeerManagerConfig {
    fn default() -> Self {
        Self {
            send_queue: 256,
            event_capacity: 1024,
            keep_alive_after: Duration::from_secs(90),
            idle_timeout: Duration::from_secs(120),
            write_batch: 256 * 1024,
            read_chunk: 256 * 1024,
        }
    }
}

/// Identifies a connection within one manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);

/// What the manager needs to know about a new connection.
#[derive(Clone, Copy, Debug)]
pub struct PeerInfo {
    /// The remote address, for logs.
    pub addr: SocketAddr,
    /// The codec, with the torrent's bound and piece count.
    pub codec: PeerCodec,
}

/// Why a connection ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// [`PeerManagerHandle::disconnect`] was called.
    Requested,
    /// The peer closed the connection.
    Closed,
    /// Nothing received for [`PeerManagerConfig::idle_timeout`].
    IdleTimeout,
    /// A protocol or socket error.
    Error(Error),
}

/// What the manager's stream yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A message arrived.
    Message {
        /// From whom.
        peer: PeerKey,
        /// The message.
        message: Message,
    },
    /// A connection ended; the key is no longer valid.
    Disconnected {
        /// Which.
        peer: PeerKey,
        /// Why.
        reason: DisconnectReason,
    },
}

/// Byte counters and rates of one connection, for the choker.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PeerStats {
    /// Bytes received, framing included.
    pub bytes_received: u64,
    /// Bytes sent, framing included.
    pub bytes_sent: u64,
    /// Block data received (`piece` payloads).
    pub payload_received: u64,
    /// Block data sent.
    pub payload_sent: u64,
    /// Block data received per second, over the last seconds.
    pub download_rate: f64,
    /// Block data sent per second, over the last seconds.
    pub upload_rate: f64,
}

#[derive(Debug)]
struct Counters {
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    payload_received: AtomicU64,
    payload_sent: AtomicU64,
    down: Mutex<RateMeter>,
    up: Mutex<RateMeter>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn payload_len(m: &Message) -> u64 {
    match m {
        Message::Piece(b) => b.data.len() as u64,
        _ => 0,
    }
}

struct PeerEntry {
    tx: mpsc::Sender<Message>,
    cancel: CancellationToken,
    counters: Arc<Counters>,
}

struct Shared {
    config: PeerManagerConfig,
    peers: Mutex<HashMap<PeerKey, PeerEntry>>,
    next_key: AtomicU64,
    events: mpsc::Sender<PeerEvent>,
    cancel: CancellationToken,
}

struct Guard(CancellationToken);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs peer connections: [`PeerManager::start`] returns a cloneable
/// [`PeerManagerHandle`] and the [`PeerEvents`] stream.
#[derive(Debug)]
pub struct PeerManager;

impl PeerManager {
    /// Starts a manager on the current tokio runtime.
    pub fn start(config: PeerManagerConfig) -> (PeerManagerHandle, PeerEvents) {
        let (tx, rx) = mpsc::channel(config.event_capacity.max(1));
        let cancel = CancellationToken::new();
        let events = PeerEvents {
            rx,
            cancelled: Box::pin(cancel.clone().cancelled_owned()),
        };
        let shared = Arc::new(Shared {
            config,
            peers: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(0),
            events: tx,
            cancel: cancel.clone(),
        });
        (
            PeerManagerHandle {
                shared,
                _guard: Arc::new(Guard(cancel)),
            },
            events,
        )
    }
}

/// The command side of a [`PeerManager`]. Dropping every clone shuts it down.
#[derive(Clone)]
pub struct PeerManagerHandle {
    shared: Arc<Shared>,
    _guard: Arc<Guard>,
}

impl std::fmt::Debug for PeerManagerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerManagerHandle").finish_non_exhaustive()
    }
}

impl PeerManagerHandle {
    /// Takes over a connection whose handshake is done. Call it within the
    /// tokio runtime the manager runs on.
    pub fn add<T>(&self, transport: T, info: PeerInfo) -> Result<PeerKey, Error>
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        self.add_guarded(transport, info, ())
    }

    /// Like [`add`](Self::add), and keeps `guard` alive as long as the
    /// connection: pass the handshake's connection-limit permit here so the
    /// slot frees when the peer goes.
    pub fn add_guarded<T, G>(
        &self,
        transport: T,
        info: PeerInfo,
        guard: G,
    ) -> Result<PeerKey, Error>
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
        G: Send + 'static,
    {
        if self.shared.cancel.is_cancelled() {
            return Err(Error::Shutdown);
        }
        let key = PeerKey(self.shared.next_key.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(self.shared.config.send_queue.max(1));
        let cancel = self.shared.cancel.child_token();
        let now = Instant::now();
        let counters = Arc::new(Counters {
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            payload_received: AtomicU64::new(0),
            payload_sent: AtomicU64::new(0),
            down: Mutex::new(RateMeter::new(now)),
            up: Mutex::new(RateMeter::new(now)),
        });
        lock(&self.shared.peers).insert(
            key,
            PeerEntry {
                tx: tx.clone(),
                cancel: cancel.clone(),
                counters: counters.clone(),
            },
        );
        let conn = Connection {
            key,
            info,
            shared: self.shared.clone(),
            counters,
            liveness: Mutex::new(Liveness::new(
                now,
                self.shared.config.keep_alive_after,
                self.shared.config.idle_timeout,
            )),
        };
        tokio::spawn(conn.run(transport, rx, tx, cancel, Box::new(guard)));
        Ok(key)
    }

    fn sender(&self, peer: PeerKey) -> Result<mpsc::Sender<Message>, Error> {
        if self.shared.cancel.is_cancelled() {
            return Err(Error::Shutdown);
        }
        lock(&self.shared.peers)
            .get(&peer)
            .map(|e| e.tx.clone())
            .ok_or(Error::NoSuchPeer)
    }

    /// Queues a message, waiting while the peer's send queue is full.
    pub async fn send(&self, peer: PeerKey, message: Message) -> Result<(), Error> {
        self.sender(peer)?
            .send(message)
            .await
            .map_err(|_| Error::NoSuchPeer)
    }

    /// Queues a message if there is room now.
    pub fn try_send(&self, peer: PeerKey, message: Message) -> Result<(), Error> {
        self.sender(peer)?.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Error::NoSuchPeer,
        })
    }

    /// Closes a connection; a `Disconnected` event with
    /// [`DisconnectReason::Requested`] follows.
    pub fn disconnect(&self, peer: PeerKey) {
        if let Some(e) = lock(&self.shared.peers).get(&peer) {
            e.cancel.cancel();
        }
    }

    /// The counters and rates of a connection.
    pub fn stats(&self, peer: PeerKey) -> Option<PeerStats> {
        let counters = lock(&self.shared.peers).get(&peer)?.counters.clone();
        let now = Instant::now();
        Some(PeerStats {
            bytes_received: counters.bytes_received.load(Ordering::Relaxed),
            bytes_sent: counters.bytes_sent.load(Ordering::Relaxed),
            payload_received: counters.payload_received.load(Ordering::Relaxed),
            payload_sent: counters.payload_sent.load(Ordering::Relaxed),
            download_rate: lock(&counters.down).rate(now),
            upload_rate: lock(&counters.up).rate(now),
        })
    }

    /// Keys of the live connections.
    pub fn peers(&self) -> Vec<PeerKey> {
        let mut keys: Vec<_> = lock(&self.shared.peers).keys().copied().collect();
        keys.sort();
        keys
    }

    /// Closes every connection; the event stream ends.
    pub fn shutdown(&self) {
        self.shared.cancel.cancel();
    }
}

struct Connection {
    key: PeerKey,
    info: PeerInfo,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    liveness: Mutex<Liveness>,
}

impl Connection {
    async fn run<T>(
        self,
        transport: T,
        rx: mpsc::Receiver<Message>,
        keep_alive: mpsc::Sender<Message>,
        cancel: CancellationToken,
        guard: Box<dyn std::any::Any + Send>,
    ) where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(transport);
        let reason = tokio::select! {
            () = cancel.cancelled() => DisconnectReason::Requested,
            r = self.read_loop(rd) => r,
            r = self.write_loop(wr, rx) => r,
            r = self.timer_loop(keep_alive) => r,
        };
        lock(&self.shared.peers).remove(&self.key);
        drop(guard);
        if self.shared.cancel.is_cancelled() {
            return;
        }
        tracing::debug!(peer = ?self.key, addr = %self.info.addr, ?reason, "disconnected");
        let event = PeerEvent::Disconnected {
            peer: self.key,
            reason,
        };
        tokio::select! {
            () = self.shared.cancel.cancelled() => {}
            _ = self.shared.events.send(event) => {}
        }
    }

    async fn read_loop<T: AsyncRead>(&self, mut rd: ReadHalf<T>) -> DisconnectReason {
        let mut codec = self.info.codec;
        let chunk = self.shared.config.read_chunk.max(4096);
        let mut buf = BytesMut::with_capacity(chunk);
        loop {
            loop {
                let before = buf.len();
                let message = match codec.decode(&mut buf) {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => return DisconnectReason::Error(e),
                };
                let now = Instant::now();
                let payload = payload_len(&message);
                self.counters
                    .bytes_received
                    .fetch_add((before - buf.len()) as u64, Ordering::Relaxed);
                if payload > 0 {
                    self.counters
                        .payload_received
                        .fetch_add(payload, Ordering::Relaxed);
                    lock(&self.counters.down).record(payload, now);
                }
                let event = PeerEvent::Message {
                    peer: self.key,
                    message,
                };
                if self.shared.events.send(event).await.is_err() {
                    return DisconnectReason::Requested;
                }
            }
            if buf.capacity() - buf.len() < chunk / 4 {
                buf.reserve(chunk);
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) if buf.is_empty() => return DisconnectReason::Closed,
                Ok(0) => {
                    return DisconnectReason::Error(Error::Truncated {
                        buffered: buf.len(),
                    });
                }
                Ok(_) => lock(&self.liveness).handle_received(Instant::now()),
                Err(e) => return DisconnectReason::Error(Error::Io(e)),
            }
        }
    }

    async fn write_loop<T: AsyncWrite>(
        &self,
        mut wr: WriteHalf<T>,
        mut rx: mpsc::Receiver<Message>,
    ) -> DisconnectReason {
        let mut batch = WriteBatch::default();
        let limit = self.shared.config.write_batch;
        loop {
            let Some(first) = rx.recv().await else {
                return DisconnectReason::Requested;
            };
            let mut payload = payload_len(&first);
            batch.push(&first);
            while batch.len() < limit {
                match rx.try_recv() {
                    Ok(m) => {
                        payload += payload_len(&m);
                        batch.push(&m);
                    }
                    Err(_) => break,
                }
            }
            let total = batch.len() as u64;
            while !batch.is_empty() {
                let slices = batch.io_slices(64);
                match wr.write_vectored(&slices).await {
                    Ok(0) => {
                        return DisconnectReason::Error(Error::Io(
                            std::io::ErrorKind::WriteZero.into(),
                        ));
                    }
                    Ok(n) => batch.advance(n),
                    Err(e) => return DisconnectReason::Error(Error::Io(e)),
                }
            }
            if let Err(e) = wr.flush().await {
                return DisconnectReason::Error(Error::Io(e));
            }
            let now = Instant::now();
            lock(&self.liveness).handle_sent(now);
            self.counters.bytes_sent.fetch_add(total, Ordering::Relaxed);
            if payload > 0 {
                self.counters
                    .payload_sent
                    .fetch_add(payload, Ordering::Relaxed);
                lock(&self.counters.up).record(payload, now);
            }
        }
    }

    async fn timer_loop(&self, keep_alive: mpsc::Sender<Message>) -> DisconnectReason {
        loop {
            let deadline = lock(&self.liveness).poll_timeout();
            tokio::time::sleep_until(deadline.into()).await;
            let now = Instant::now();
            let action = lock(&self.liveness).poll(now);
            match action {
                LivenessAction::Wait => {}
                LivenessAction::Drop => return DisconnectReason::IdleTimeout,
                LivenessAction::SendKeepAlive => {
                    // A full queue means messages are already on their way.
                    let _ = keep_alive.try_send(Message::KeepAlive);
                    lock(&self.liveness).handle_sent(now);
                }
            }
        }
    }
}

/// The stream of [`PeerEvent`]s; it ends after shutdown.
pub struct PeerEvents {
    rx: mpsc::Receiver<PeerEvent>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl std::fmt::Debug for PeerEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerEvents").finish_non_exhaustive()
    }
}

impl PeerEvents {
    /// The next event; `None` after shutdown.
    pub async fn next_event(&mut self) -> Option<PeerEvent> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for PeerEvents {
    type Item = PeerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PeerEvent>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(e) => Poll::Ready(e),
            Poll::Pending => match self.cancelled.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
