//! The session's shared parts and the routing between them.
//!
//! ```text
//!  HandshakeManager ──Connection──┐
//!                                 ├─► dispatcher ──Input──► torrent task (one per torrent)
//!  DiskManager ─────DiskEvent─────┘        by info-hash        │ Selector, PeerManager,
//!                                                               │ candidates, trackers, DHT, PEX
//!  Session API ──────────────────Command──────────────────────►┘
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bitswarm_core::{InfoHash, InfoHashV1};
use bitswarm_dht::{Dht, DhtConfig};
use bitswarm_disk::{DiskEvent, DiskEvents, DiskHandle, DiskManager};
use bitswarm_handshake::{
    Connection, Connections, Direction, Extensions, HandshakeConfig, HandshakeEvent,
    HandshakeHandle, HandshakeManager,
};
use bitswarm_metainfo::{Magnet, Metainfo};
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::api::{
    AddTorrent, FileStatus, PeerStatus, SessionConfig, SessionEvent, TorrentId, TorrentSource,
    TorrentStatus,
};
use crate::ratelimit::RateLimiter;
use crate::resume::{self, ResumeFile};
use crate::torrent::{self, TorrentInit};
use crate::tracker::TrackerClient;
use crate::{EVENT_BUFFER, Error};

/// Inputs queued per torrent task.
const TORRENT_QUEUE: usize = 1024;
/// Outgoing handshakes remembered with their torrent.
const MAX_DIALING: usize = 4096;
/// How long shutdown waits for each torrent (resume data, `stopped` announces).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// What the torrent tasks share: never the torrent map, so that dropping
/// the last [`crate::Session`] ends every task.
#[derive(Debug)]
pub(crate) struct Services {
    pub(crate) config: SessionConfig,
    pub(crate) handshake: HandshakeHandle,
    pub(crate) disk: DiskHandle,
    pub(crate) trackers: Option<TrackerClient>,
    pub(crate) dht: Option<Dht>,
    pub(crate) dht_addr: Option<SocketAddr>,
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) events: broadcast::Sender<SessionEvent>,
    /// Turns true at shutdown; ends every event subscription.
    pub(crate) closed: watch::Sender<bool>,
    pub(crate) upload: RateLimiter,
    pub(crate) download: RateLimiter,
    /// Outgoing handshakes in progress and their torrent, so that a failure
    /// (which names only the address) reaches the torrent at once.
    pub(crate) dialing: Mutex<HashMap<SocketAddr, InfoHashV1>>,
}

impl Services {
    /// Publishes an event; nobody listening is fine.
    pub(crate) fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    /// The port we tell trackers, the DHT and peers.
    pub(crate) fn listen_port(&self) -> u16 {
        self.listen.first().map_or(0, SocketAddr::port)
    }

    /// Notes an outgoing handshake of torrent `wire` to `addr`.
    pub(crate) fn dialing(&self, addr: SocketAddr, wire: InfoHashV1) {
        let mut d = self.dialing.lock().unwrap_or_else(PoisonError::into_inner);
        // Past the bound the torrent learns of failures by its own timeout.
        if d.len() < MAX_DIALING {
            d.insert(addr, wire);
        }
    }

    /// The torrent that dialled `addr`, forgotten.
    pub(crate) fn dialed(&self, addr: SocketAddr) -> Option<InfoHashV1> {
        self.dialing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&addr)
    }

    /// Whether `addr` is one of our own listeners (trackers return us).
    pub(crate) fn is_own(&self, addr: &SocketAddr) -> bool {
        self.listen.iter().any(|l| {
            l.port() == addr.port()
                && (l.ip() == addr.ip() || l.ip().is_unspecified() && addr.ip().is_loopback())
        })
    }
}

/// A command to one torrent task; each carries its reply.
#[derive(Debug)]
pub(crate) enum Command {
    Pause {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Resume {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Remove {
        delete_files: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Recheck {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SetFilePriorities {
        priorities: Vec<u8>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SetSequential {
        sequential: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    AddPeers {
        peers: Vec<SocketAddr>,
        reply: oneshot::Sender<()>,
    },
    Status {
        reply: oneshot::Sender<TorrentStatus>,
    },
    Files {
        reply: oneshot::Sender<Vec<FileStatus>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerStatus>>,
    },
    Metainfo {
        reply: oneshot::Sender<Option<Metainfo>>,
    },
    SaveResume {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Everything a torrent task is fed from outside.
#[derive(Debug)]
pub(crate) enum Input {
    Command(Command),
    Connection(Connection),
    /// An outgoing handshake to this address failed.
    ConnectFailed(SocketAddr),
    Disk(DiskEvent),
}

#[derive(Debug)]
struct TorrentHandle {
    tx: mpsc::Sender<Input>,
    info_hash: InfoHash,
}

/// The session behind every [`crate::Session`] clone.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) services: Arc<Services>,
    torrents: Mutex<HashMap<TorrentId, TorrentHandle>>,
    /// Serialises adds so that a duplicate is seen before its task starts.
    adding: tokio::sync::Mutex<()>,
}

/// Starts every part and the dispatcher, then re-adds saved torrents.
pub(crate) async fn start(config: SessionConfig) -> Result<Arc<Shared>, Error> {
    let mut hs_config = HandshakeConfig::new(config.peer_id);
    hs_config.max_connections = config.max_connections.max(1);
    hs_config.max_connections_per_torrent = config.max_connections_per_torrent.max(1);
    if config.dht_bind.is_some() {
        hs_config.extensions = hs_config.extensions | Extensions::DHT;
    }
    let (handshake, connections) = HandshakeManager::start(hs_config, Vec::new());
    let mut listen = Vec::new();
    for (i, addr) in config.listen.iter().enumerate() {
        match handshake.listen(*addr).await {
            Ok(bound) => listen.push(bound),
            // A dual-stack `[::]` after `0.0.0.0` on the same port fails:
            // only the first listener is required.
            Err(e) if i > 0 => tracing::warn!(%addr, error = %e, "listener skipped"),
            Err(e) => return Err(e.into()),
        }
    }

    let (disk, disk_events) = DiskManager::start(config.disk.clone());

    let trackers = if config.trackers {
        let mut binds: Vec<SocketAddr> = Vec::new();
        for l in &listen {
            let any = if l.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            if !binds.contains(&any) {
                binds.push(any);
            }
        }
        Some(TrackerClient::new(&binds).await?)
    } else {
        None
    };

    let (dht, dht_addr) = match config.dht_bind {
        Some(bind) => {
            let mut bootstrap = Vec::new();
            for host in &config.dht_bootstrap {
                match tokio::net::lookup_host(host.as_str()).await {
                    Ok(addrs) => bootstrap.extend(addrs.take(4)),
                    Err(e) => tracing::warn!(%host, error = %e, "DHT bootstrap node not resolved"),
                }
            }
            let mut dht_config = DhtConfig {
                bind_v4: None,
                bind_v6: None,
                node: bitswarm_dht::Config::default(),
            };
            if bind.is_ipv4() {
                dht_config.bind_v4 = Some(bind);
            } else {
                dht_config.bind_v6 = Some(bind);
            }
            dht_config.node.bootstrap = bootstrap;
            let dht = Dht::bind(dht_config).await?;
            let addr = dht.local_addr_v4().or(dht.local_addr_v6());
            let node = dht.clone();
            tokio::spawn(async move {
                match node.bootstrap().await {
                    Ok(_) => tracing::debug!("DHT bootstrapped"),
                    Err(e) => tracing::warn!(error = %e, "DHT bootstrap failed"),
                }
            });
            (Some(dht), addr)
        }
        None => (None, None),
    };

    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let services = Arc::new(Services {
        upload: RateLimiter::new(config.upload_rate_limit),
        download: RateLimiter::new(config.download_rate_limit),
        config,
        handshake,
        disk,
        trackers,
        dht,
        dht_addr,
        listen,
        events,
        closed: watch::channel(false).0,
        dialing: Mutex::new(HashMap::new()),
    });
    let shared = Arc::new(Shared {
        services,
        torrents: Mutex::new(HashMap::new()),
        adding: tokio::sync::Mutex::new(()),
    });
    tokio::spawn(dispatch(Arc::downgrade(&shared), connections, disk_events));
    shared.load_resume_dir().await;
    Ok(shared)
}

/// Routes completed handshakes and storage events to their torrent's task.
async fn dispatch(shared: Weak<Shared>, mut connections: Connections, mut disk: DiskEvents) {
    let mut disk_open = true;
    loop {
        tokio::select! {
            c = connections.next() => match c {
                Some(HandshakeEvent::Connected(conn)) => {
                    let Some(shared) = shared.upgrade() else { return };
                    if conn.info.direction == Direction::Outgoing {
                        shared.services.dialed(conn.info.addr);
                    }
                    let wire = conn.info.info_hash.wire();
                    if let Some(tx) = shared.route(wire) {
                        // A full queue means a busy torrent: drop the peer.
                        let _ = tx.try_send(Input::Connection(conn));
                    }
                }
                Some(HandshakeEvent::Failed { addr, error, direction }) => {
                    tracing::debug!(%addr, %error, "handshake failed");
                    let Some(shared) = shared.upgrade() else { return };
                    if direction == Direction::Outgoing {
                        let torrent = shared.services.dialed(addr);
                        if let Some(tx) = torrent.and_then(|wire| shared.route(wire)) {
                            let _ = tx.try_send(Input::ConnectFailed(addr));
                        }
                    }
                }
                Some(_) => {}
                None => return,
            },
            e = disk.next(), if disk_open => match e {
                Some(event) => {
                    let Some(shared) = shared.upgrade() else { return };
                    let info_hash = match &event {
                        DiskEvent::PieceVerified { info_hash, .. }
                        | DiskEvent::PieceFailed { info_hash, .. }
                        | DiskEvent::CheckProgress { info_hash, .. }
                        | DiskEvent::TorrentError { info_hash, .. } => *info_hash,
                        _ => continue,
                    };
                    if let Some(tx) = shared.route(info_hash.wire()) {
                        drop(shared);
                        // Torrent tasks never wait on the dispatcher, so this
                        // wait is short; a gone task closes the channel.
                        let _ = tx.send(Input::Disk(event)).await;
                    }
                }
                None => disk_open = false,
            },
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TorrentId, TorrentHandle>> {
        self.torrents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn route(&self, wire: InfoHashV1) -> Option<mpsc::Sender<Input>> {
        self.lock().get(&TorrentId(wire)).map(|h| h.tx.clone())
    }

    /// `Err(Shutdown)` once [`Shared::shutdown`] has run.
    fn check_open(&self) -> Result<(), Error> {
        if *self.services.closed.borrow() {
            Err(Error::Shutdown)
        } else {
            Ok(())
        }
    }

    pub(crate) fn ids(&self) -> Vec<TorrentId> {
        let mut ids: Vec<_> = self.lock().keys().copied().collect();
        ids.sort();
        ids
    }

    /// Sends a command made around a reply channel and waits for the reply.
    pub(crate) async fn ask<T>(
        &self,
        id: TorrentId,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        self.check_open()?;
        let tx = self
            .lock()
            .get(&id)
            .map(|h| h.tx.clone())
            .ok_or(Error::UnknownTorrent(id))?;
        let (reply, rx) = oneshot::channel();
        tx.send(Input::Command(make(reply)))
            .await
            .map_err(|_| Error::UnknownTorrent(id))?;
        rx.await.map_err(|_| Error::UnknownTorrent(id))
    }

    /// Adds a torrent; `resume` carries what a resume file said.
    pub(crate) async fn add_torrent(
        &self,
        add: AddTorrent,
        resume: Option<ResumeFile>,
    ) -> Result<TorrentId, Error> {
        let (info_hash, metainfo, magnet) = match add.source {
            TorrentSource::Torrent(m) => (m.info_hash(), Some(Arc::new(*m)), None),
            TorrentSource::Magnet(m) => {
                let ih = m.info_hash().ok_or_else(|| {
                    Error::InvalidArgument("magnet link without an info-hash".into())
                })?;
                (ih, None, Some(*m))
            }
        };
        let id = TorrentId(info_hash.wire());
        let _guard = self.adding.lock().await;
        self.check_open()?;
        if self.lock().contains_key(&id) {
            return Err(Error::DuplicateTorrent(id));
        }
        let save_path = add
            .output
            .clone()
            .unwrap_or_else(|| self.services.config.download_dir.clone());
        let (tx, rx) = mpsc::channel(TORRENT_QUEUE);
        let init = TorrentInit {
            id,
            info_hash,
            metainfo,
            magnet,
            save_path,
            paused: add.paused,
            sequential: add.sequential,
            peers: add.peers,
            resume,
        };
        self.services.handshake.register(info_hash);
        self.lock().insert(id, TorrentHandle { tx, info_hash });
        tokio::spawn(torrent::run(self.services.clone(), init, rx));
        self.services.emit(SessionEvent::TorrentAdded(id));
        Ok(id)
    }

    pub(crate) async fn remove(&self, id: TorrentId, delete_files: bool) -> Result<(), Error> {
        let result = self
            .ask(id, |reply| Command::Remove {
                delete_files,
                reply,
            })
            .await;
        if let Some(h) = self.lock().remove(&id) {
            self.services.handshake.unregister(h.info_hash);
        }
        if let Some(dir) = &self.services.config.resume_dir {
            let _ = tokio::fs::remove_file(resume::path_for(dir, id)).await;
        }
        result??;
        self.services.emit(SessionEvent::TorrentRemoved(id));
        Ok(())
    }

    pub(crate) async fn shutdown(&self) -> Result<(), Error> {
        let ids = self.ids();
        let waits = ids.into_iter().map(|id| async move {
            let _ = tokio::time::timeout(
                SHUTDOWN_WAIT,
                self.ask(id, |reply| Command::Shutdown { reply }),
            )
            .await;
        });
        futures::future::join_all(waits).await;
        self.lock().clear();
        self.services.handshake.shutdown();
        if let Err(e) = self.services.disk.shutdown().await {
            tracing::debug!(error = %e, "storage shutdown");
        }
        self.services.closed.send_replace(true);
        if let Some(dht) = &self.services.dht {
            dht.shutdown().await;
        }
        Ok(())
    }

    async fn load_resume_dir(&self) {
        let Some(dir) = self.services.config.resume_dir.clone() else {
            return;
        };
        for (path, file) in resume::load_dir(&dir).await {
            if let Err(e) = self.add_resumed(file).await {
                tracing::warn!(path = %path.display(), error = %e, "resume file skipped");
            }
        }
    }

    async fn add_resumed(&self, file: Result<ResumeFile, Error>) -> Result<TorrentId, Error> {
        let file = file?;
        let source = match (&file.torrent, &file.magnet) {
            (Some(bytes), _) => TorrentSource::Torrent(Box::new(Metainfo::from_bytes(bytes)?)),
            (None, Some(link)) => TorrentSource::Magnet(Box::new(Magnet::parse(link)?)),
            (None, None) => return Err(Error::InvalidArgument("empty resume file".into())),
        };
        let add = AddTorrent {
            source,
            output: Some(PathBuf::from(&file.save_path)),
            paused: file.paused,
            sequential: file.sequential,
            peers: Vec::new(),
        };
        self.add_torrent(add, Some(file)).await
    }
}
