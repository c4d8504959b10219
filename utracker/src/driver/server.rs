//! [`TrackerServer`]: the server core on UDP sockets, one task per worker.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::std_udp_socket;
use crate::error::Error;
use crate::server::{Handled, Handler, Server, ServerConfig};
use crate::wire::MAX_DATAGRAM;

/// How several workers share one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerMode {
    /// Each worker binds its own socket with `SO_REUSEPORT`; the kernel
    /// spreads clients over them by address hash.
    #[default]
    ReusePort,
    /// All workers receive from one shared socket.
    SharedSocket,
}

/// How a [`TrackerServer`] binds and runs.
#[derive(Debug, Clone)]
pub struct TrackerServerConfig {
    /// The addresses to serve, IPv4 and/or IPv6 (IPv6 sockets are IPv6-only).
    pub binds: Vec<SocketAddr>,
    /// Workers per address.
    pub workers: usize,
    /// How the workers of one address share it.
    pub mode: WorkerMode,
    /// The protocol settings.
    pub server: ServerConfig,
    /// How often the handler's upkeep ([`Handler::tick`]) runs.
    pub tick_interval: Duration,
    /// Socket buffer size asked of the kernel, bytes.
    pub socket_buffer: Option<usize>,
}

impl Default for TrackerServerConfig {
    fn default() -> Self {
        Self {
            binds: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            mode: WorkerMode::ReusePort,
            server: ServerConfig::default(),
            tick_interval: Duration::from_secs(10),
            socket_buffer: Some(4 << 20),
        }
    }
}

/// Counters of one worker, kept apart so that workers never write to the
/// same cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    connects: AtomicU64,
    announces: AtomicU64,
    scrapes: AtomicU64,
    refused: AtomicU64,
    invalid: AtomicU64,
    bad_connection_id: AtomicU64,
    send_errors: AtomicU64,
}

/// What a [`TrackerServer`] has done since it started, and what its handler holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connect requests answered.
    pub connects: u64,
    /// Announces answered.
    pub announces: u64,
    /// Scrapes answered.
    pub scrapes: u64,
    /// Requests the handler refused (answered with an error packet).
    pub refused: u64,
    /// Datagrams that were not requests.
    pub invalid: u64,
    /// Requests dropped for a bad connection id.
    pub bad_connection_id: u64,
    /// Replies the socket would not take.
    pub send_errors: u64,
    /// Swarms held by the handler, if it counts them.
    pub swarms: usize,
    /// Peers held by the handler, if it counts them.
    pub peers: usize,
}

impl ServerStats {
    /// Every datagram received.
    pub fn datagrams(&self) -> u64 {
        self.connects
            + self.announces
            + self.scrapes
            + self.refused
            + self.invalid
            + self.bad_connection_id
    }
}

/// A running UDP tracker: workers on every bound address, sharing one
/// [`Handler`]. Stop it with [`shutdown`](Self::shutdown); dropping it stops
/// the workers too, without waiting.
pub struct TrackerServer {
    local: Vec<SocketAddr>,
    counters: Vec<Arc<Counters>>,
    stop: watch::Sender<bool>,
    stopping: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    stats: Arc<dyn Fn() -> Option<crate::server::StoreStats> + Send + Sync>,
}

impl std::fmt::Debug for TrackerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackerServer")
            .field("local", &self.local)
            .field("workers", &self.counters.len())
            .finish_non_exhaustive()
    }
}

impl TrackerServer {
    /// Binds every address and starts the workers on the current tokio runtime.
    pub async fn bind<H: Handler + 'static>(
        config: TrackerServerConfig,
        handler: H,
    ) -> Result<Self, Error> {
        if config.binds.is_empty() {
            return Err(Error::InvalidRequest("a server needs an address to bind"));
        }
        let handler = Arc::new(handler);
        let mut server_config = config.server.clone();
        // Every worker must issue and accept the same connection ids.
        server_config.secret = Some(server_config.secret.unwrap_or_else(rand::random));
        let epoch = Instant::now();
        let (stop, stopped) = watch::channel(false);
        let workers = config.workers.max(1);
        let reuse = config.mode == WorkerMode::ReusePort && workers > 1;
        let stopping = Arc::new(AtomicBool::new(false));
        let mut local = Vec::new();
        let mut counters = Vec::new();
        let mut tasks = Vec::new();
        for bind in &config.binds {
            let first = std_udp_socket(*bind, reuse, config.socket_buffer)?;
            let addr = first
                .local_addr()
                .map_err(|e| Error::io("reading the bound address", e))?;
            local.push(addr);
            let mut sockets = Vec::with_capacity(workers);
            for _ in 1..workers {
                sockets.push(match config.mode {
                    WorkerMode::ReusePort => std_udp_socket(addr, true, config.socket_buffer)?,
                    WorkerMode::SharedSocket => first
                        .try_clone()
                        .map_err(|e| Error::io("sharing a UDP socket", e))?,
                });
            }
            sockets.push(first);
            for socket in sockets {
                // A blocking receive with a short timeout, so that the worker
                // notices a shutdown: blocking calls on a thread of tokio's
                // blocking pool cost two system calls a request, where an
                // async socket adds readiness polling and task wake-ups.
                socket
                    .set_read_timeout(Some(POLL_STOP))
                    .map_err(|e| Error::io("setting a receive timeout", e))?;
                let c = Arc::new(Counters::default());
                counters.push(Arc::clone(&c));
                let core = Server::new(&server_config, Arc::clone(&handler), epoch);
                let stopping = Arc::clone(&stopping);
                tasks.push(tokio::task::spawn_blocking(move || {
                    worker(&socket, core, &c, &stopping);
                }));
            }
            tracing::info!(%addr, workers, mode = ?config.mode, "UDP tracker listening");
        }
        let ticker = Arc::clone(&handler);
        let mut tick_stop = stopped;
        let every = config.tick_interval.max(Duration::from_millis(10));
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = interval.tick() => {
                        ticker.tick(Instant::now());
                        if let Some(s) = ticker.stats() {
                            tracing::debug!(swarms = s.swarms, peers = s.peers, heap_bytes = s.heap_bytes, "store upkeep done");
                        }
                    }
                    _ = tick_stop.changed() => break,
                }
            }
        }));
        let stats_handler = Arc::clone(&handler);
        Ok(Self {
            local,
            counters,
            stop,
            stopping,
            tasks,
            stats: Arc::new(move || stats_handler.stats()),
        })
    }

    /// The bound addresses, one per configured address (with the real port
    /// when port 0 was asked).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The counts so far.
    pub fn stats(&self) -> ServerStats {
        let mut s = ServerStats::default();
        for c in &self.counters {
            s.connects += c.connects.load(Ordering::Relaxed);
            s.announces += c.announces.load(Ordering::Relaxed);
            s.scrapes += c.scrapes.load(Ordering::Relaxed);
            s.refused += c.refused.load(Ordering::Relaxed);
            s.invalid += c.invalid.load(Ordering::Relaxed);
            s.bad_connection_id += c.bad_connection_id.load(Ordering::Relaxed);
            s.send_errors += c.send_errors.load(Ordering::Relaxed);
        }
        if let Some(store) = (self.stats)() {
            s.swarms = store.swarms;
            s.peers = store.peers;
        }
        s
    }

    /// Stops the workers and waits until they have.
    pub async fn shutdown(mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        tracing::info!("UDP tracker stopped");
    }
}

impl Drop for TrackerServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.stop.send(true);
    }
}

/// How often a worker blocked on an idle socket checks for shutdown.
const POLL_STOP: Duration = Duration::from_millis(50);

fn worker<H: Handler>(
    socket: &UdpSocket,
    mut core: Server<H>,
    counters: &Counters,
    stopping: &AtomicBool,
) {
    let mut buf = vec![0; MAX_DATAGRAM];
    let mut out = Vec::with_capacity(2048);
    while !stopping.load(Ordering::Relaxed) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::trace!(error = %e, "UDP receive error");
                continue;
            }
        };
        let handled = core.handle_datagram(Instant::now(), from, &buf[..n], &mut out);
        count(counters, &handled);
        if handled.has_reply() && socket.send_to(&out, from).is_err() {
            counters.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn count(c: &Counters, handled: &Handled) {
    let counter = match handled {
        Handled::Connect => &c.connects,
        Handled::Announce => &c.announces,
        Handled::Scrape => &c.scrapes,
        Handled::Refused => &c.refused,
        Handled::Invalid(e) => {
            tracing::trace!(error = %e, "invalid datagram");
            &c.invalid
        }
        Handled::BadConnectionId => &c.bad_connection_id,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}
