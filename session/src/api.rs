//! The session's public interface.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_metainfo::{Magnet, Metainfo};

use crate::Error;
use crate::engine::{self, Shared};

/// A torrent in the session: the 20-byte info-hash used on the wire (the
/// v1 hash, or the truncated v2 hash of a v2-only torrent). Shown as 40 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentId(pub InfoHashV1);

impl fmt::Display for TorrentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Addresses to accept peers on (IPv4 and/or IPv6); port 0 picks one.
    pub listen: Vec<SocketAddr>,
    /// Where torrents' files go unless a torrent says otherwise.
    pub download_dir: PathBuf,
    /// Where resume data is saved; `None` keeps none.
    pub resume_dir: Option<PathBuf>,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The most peer connections, all torrents together.
    pub max_connections: usize,
    /// The most peer connections of one torrent.
    pub max_connections_per_torrent: usize,
    /// Bytes per second sent to peers, all torrents together; `None` is unlimited.
    pub upload_rate_limit: Option<u64>,
    /// Bytes per second received from peers; `None` is unlimited.
    pub download_rate_limit: Option<u64>,
    /// Run a DHT node bound here; `None` runs none.
    pub dht_bind: Option<SocketAddr>,
    /// DHT bootstrap nodes (`host:port`).
    pub dht_bootstrap: Vec<String>,
    /// Announce to trackers.
    pub trackers: bool,
    /// Storage cache sizes and hashing threads.
    pub disk: bitswarm_disk::DiskConfig,
}

impl Default for SessionConfig {
    /// Listens on port 6881 of every IPv4 and IPv6 address (`0.0.0.0:6881`
    /// and `[::]:6881`; where the IPv6 socket is dual-stack the second bind
    /// fails and is skipped), downloads into `./downloads`, keeps no resume
    /// data, a random peer id, 200 connections (50 per torrent), no rate
    /// limits, no DHT, trackers on.
    fn default() -> Self {
        Self {
            listen: vec![
                SocketAddr::from(([0, 0, 0, 0], 6881)),
                SocketAddr::from(([0u16; 8], 6881)),
            ],
            download_dir: PathBuf::from("downloads"),
            resume_dir: None,
            peer_id: PeerId::random(),
            max_connections: 200,
            max_connections_per_torrent: 50,
            upload_rate_limit: None,
            download_rate_limit: None,
            dht_bind: None,
            dht_bootstrap: Vec::new(),
            trackers: true,
            disk: bitswarm_disk::DiskConfig::default(),
        }
    }
}

/// Where a torrent comes from.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    /// A parsed .torrent file.
    Torrent(Box<Metainfo>),
    /// A magnet link: metadata is fetched from peers (BEP 9).
    Magnet(Box<Magnet>),
}

/// A torrent to add.
#[derive(Debug, Clone)]
pub struct AddTorrent {
    /// Its metainfo or magnet.
    pub source: TorrentSource,
    /// Where its files go; the session's download directory when `None`.
    pub output: Option<PathBuf>,
    /// Add it paused.
    pub paused: bool,
    /// Download pieces in order (for streaming).
    pub sequential: bool,
    /// Peers to connect to besides those found by trackers, DHT and PEX.
    pub peers: Vec<SocketAddr>,
}

impl AddTorrent {
    /// A torrent from `source`, into the session's download directory,
    /// started, rarest first, with no extra peers.
    pub fn new(source: TorrentSource) -> Self {
        Self {
            source,
            output: None,
            paused: false,
            sequential: false,
            peers: Vec::new(),
        }
    }

    /// A torrent from a parsed .torrent file.
    pub fn torrent(metainfo: Metainfo) -> Self {
        Self::new(TorrentSource::Torrent(Box::new(metainfo)))
    }

    /// A torrent from a magnet link.
    pub fn magnet(magnet: Magnet) -> Self {
        Self::new(TorrentSource::Magnet(Box::new(magnet)))
    }
}

/// Where a torrent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TorrentState {
    /// Waiting for the info dictionary from peers.
    FetchingMetadata,
    /// Hashing what is on disk.
    Checking,
    /// Getting pieces.
    Downloading,
    /// Has every wanted piece; uploading.
    Seeding,
    /// Paused by the user.
    Paused,
    /// Stopped by an error (see `TorrentStatus::error`).
    Error,
}

/// A snapshot of one torrent, for UIs.
#[derive(Debug, Clone)]
pub struct TorrentStatus {
    /// The torrent.
    pub id: TorrentId,
    /// Its name; `None` until metadata arrives.
    pub name: Option<String>,
    /// Its state.
    pub state: TorrentState,
    /// Verified bytes over wanted bytes, 0.0 ..= 1.0.
    pub progress: f64,
    /// Payload bytes received from peers this session.
    pub downloaded: u64,
    /// Payload bytes sent to peers this session.
    pub uploaded: u64,
    /// Content length; `None` until metadata arrives.
    pub total_length: Option<u64>,
    /// Bytes per second received, recent.
    pub download_rate: u64,
    /// Bytes per second sent, recent.
    pub upload_rate: u64,
    /// Connected peers.
    pub peers: usize,
    /// Time left at the current rate.
    pub eta: Option<Duration>,
    /// The error that stopped it.
    pub error: Option<String>,
    /// Where its files are.
    pub save_path: PathBuf,
    /// Verified pieces and the number of pieces.
    pub pieces: (u32, u32),
}

/// One file of a torrent.
#[derive(Debug, Clone)]
pub struct FileStatus {
    /// Its path inside the torrent, components joined with `/`.
    pub path: String,
    /// Its length.
    pub length: u64,
    /// Verified bytes of it.
    pub downloaded: u64,
    /// Its priority: 0 skips it, 1..=7 (4 is normal).
    pub priority: u8,
}

/// One connected peer.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    /// Its address.
    pub addr: SocketAddr,
    /// Its client, from its peer id (BEP 20), when known.
    pub client: Option<String>,
    /// Bytes per second received from it.
    pub download_rate: u64,
    /// Bytes per second sent to it.
    pub upload_rate: u64,
    /// Its pieces over the torrent's pieces, 0.0 ..= 1.0.
    pub progress: f64,
}

/// Totals of the whole session.
#[derive(Debug, Clone, Default)]
pub struct SessionStats {
    /// Torrents in the session.
    pub torrents: usize,
    /// Connected peers.
    pub peers: usize,
    /// Bytes per second received.
    pub download_rate: u64,
    /// Bytes per second sent.
    pub upload_rate: u64,
    /// Payload bytes received.
    pub downloaded: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Nodes in the DHT routing table (0 without DHT).
    pub dht_nodes: usize,
}

/// What happens in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A torrent was added.
    TorrentAdded(TorrentId),
    /// A magnet torrent got and verified its metadata.
    MetadataReceived(TorrentId),
    /// A torrent changed state.
    StateChanged(TorrentId, TorrentState),
    /// A piece verified.
    PieceDone(TorrentId, u32),
    /// Every wanted piece is verified, after downloading (a torrent found
    /// complete by its check goes straight to `Seeding` without it).
    Finished(TorrentId),
    /// A torrent hit an error (it goes on where it can).
    TorrentError(TorrentId, String),
    /// A peer connected.
    PeerConnected(TorrentId, SocketAddr),
    /// A peer disconnected.
    PeerDisconnected(TorrentId, SocketAddr),
    /// A peer was banned (for example, its blocks failed a hash check).
    PeerBanned(TorrentId, SocketAddr),
    /// A peer was disconnected for breaking the protocol (a bitfield of
    /// the wrong size, repeated requests out of range, ...), and why.
    PeerMisbehaved(TorrentId, SocketAddr, String),
    /// A torrent was removed.
    TorrentRemoved(TorrentId),
    /// This subscriber fell behind and missed this many events.
    Lagged(u64),
}

/// A subscription to the session's events.
///
/// Each subscription has its own bounded buffer of
/// [`EVENT_BUFFER`](crate::EVENT_BUFFER) events; a subscriber that falls
/// further behind gets [`SessionEvent::Lagged`] with the number it missed,
/// then the newest events. The stream ends when the session shuts down.
pub struct SessionEvents {
    inner: Pin<Box<dyn futures::Stream<Item = SessionEvent> + Send>>,
}

impl fmt::Debug for SessionEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEvents").finish_non_exhaustive()
    }
}

impl SessionEvents {
    /// A subscription on `rx` that ends when `rx` closes or `closed`
    /// turns true (after the events already queued).
    pub(crate) fn new(
        rx: tokio::sync::broadcast::Receiver<SessionEvent>,
        closed: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        use tokio::sync::broadcast::error::{RecvError, TryRecvError};
        let queued = |rx: &mut tokio::sync::broadcast::Receiver<SessionEvent>| match rx.try_recv() {
            Ok(e) => Ok(e),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(_) => Err(RecvError::Closed),
        };
        let inner = futures::stream::unfold((rx, closed), move |(mut rx, mut closed)| async move {
            let next = if *closed.borrow() {
                // Shut down: what is queued, then the end.
                queued(&mut rx)
            } else {
                tokio::select! {
                    r = rx.recv() => r,
                    _ = closed.wait_for(|c| *c) => queued(&mut rx),
                }
            };
            match next {
                Ok(e) => Some((e, (rx, closed))),
                Err(RecvError::Lagged(n)) => Some((SessionEvent::Lagged(n), (rx, closed))),
                Err(RecvError::Closed) => None,
            }
        });
        Self {
            inner: Box::pin(inner),
        }
    }

    /// The next event; `None` once the session is gone.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        futures::StreamExt::next(self).await
    }
}

impl futures::Stream for SessionEvents {
    type Item = SessionEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// A running session; cloneable, every clone drives the same engine.
///
/// Dropping every clone without [`Session::shutdown`] stops the engine
/// too, but without saving resume data or announcing `stopped`.
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) shared: Arc<Shared>,
}

impl Session {
    /// Starts a session: binds its listeners, starts the DHT, loads resume data.
    pub async fn start(config: SessionConfig) -> Result<Self, Error> {
        let shared = engine::start(config).await?;
        Ok(Self { shared })
    }
    /// Where it accepts peers (ports resolved).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.shared.services.listen.clone()
    }
    /// The DHT's bound address, when it runs one.
    pub fn dht_addr(&self) -> Option<SocketAddr> {
        self.shared.services.dht_addr
    }
    /// A new subscription to events.
    pub fn events(&self) -> SessionEvents {
        SessionEvents::new(
            self.shared.services.events.subscribe(),
            self.shared.services.closed.subscribe(),
        )
    }
    /// Adds a torrent.
    pub async fn add_torrent(&self, add: AddTorrent) -> Result<TorrentId, Error> {
        self.shared.add_torrent(add, None).await
    }
    /// Pauses a torrent: peers disconnected, announces stopped.
    pub async fn pause(&self, id: TorrentId) -> Result<(), Error> {
        self.shared
            .ask(id, |reply| engine::Command::Pause { reply })
            .await?
    }
    /// Resumes a paused torrent.
    pub async fn resume(&self, id: TorrentId) -> Result<(), Error> {
        self.shared
            .ask(id, |reply| engine::Command::Resume { reply })
            .await?
    }
    /// Removes a torrent, deleting its files when asked.
    pub async fn remove(&self, id: TorrentId, delete_files: bool) -> Result<(), Error> {
        self.shared.remove(id, delete_files).await
    }
    /// Re-hashes everything on disk.
    pub async fn recheck(&self, id: TorrentId) -> Result<(), Error> {
        self.shared
            .ask(id, |reply| engine::Command::Recheck { reply })
            .await?
    }
    /// Sets file priorities (0 skips a file), one per file of the layout.
    pub async fn set_file_priorities(
        &self,
        id: TorrentId,
        priorities: Vec<u8>,
    ) -> Result<(), Error> {
        self.shared
            .ask(id, |reply| engine::Command::SetFilePriorities {
                priorities,
                reply,
            })
            .await?
    }
    /// Turns sequential download on or off.
    pub async fn set_sequential(&self, id: TorrentId, sequential: bool) -> Result<(), Error> {
        self.shared
            .ask(id, |reply| engine::Command::SetSequential {
                sequential,
                reply,
            })
            .await?
    }
    /// Connects to these peers.
    pub async fn add_peers(&self, id: TorrentId, peers: Vec<SocketAddr>) -> Result<(), Error> {
        self.shared
            .ask(id, |reply| engine::Command::AddPeers { peers, reply })
            .await
    }
    /// One torrent's status.
    pub async fn status(&self, id: TorrentId) -> Result<TorrentStatus, Error> {
        self.shared
            .ask(id, |reply| engine::Command::Status { reply })
            .await
    }
    /// Every torrent's status.
    pub async fn torrents(&self) -> Vec<TorrentStatus> {
        let mut out = Vec::new();
        for id in self.shared.ids() {
            if let Ok(s) = self.status(id).await {
                out.push(s);
            }
        }
        out.sort_by_key(|s| s.id);
        out
    }
    /// A torrent's files.
    pub async fn files(&self, id: TorrentId) -> Result<Vec<FileStatus>, Error> {
        self.shared
            .ask(id, |reply| engine::Command::Files { reply })
            .await
    }
    /// A torrent's connected peers.
    pub async fn peers(&self, id: TorrentId) -> Result<Vec<PeerStatus>, Error> {
        self.shared
            .ask(id, |reply| engine::Command::Peers { reply })
            .await
    }
    /// The torrent's .torrent bytes, once metadata is known (for saving a magnet's torrent).
    pub async fn metainfo(&self, id: TorrentId) -> Result<Option<Metainfo>, Error> {
        self.shared
            .ask(id, |reply| engine::Command::Metainfo { reply })
            .await
    }
    /// Session totals.
    pub async fn stats(&self) -> SessionStats {
        let torrents = self.torrents().await;
        let mut stats = SessionStats {
            torrents: torrents.len(),
            ..SessionStats::default()
        };
        for t in &torrents {
            stats.peers += t.peers;
            stats.download_rate += t.download_rate;
            stats.upload_rate += t.upload_rate;
            stats.downloaded += t.downloaded;
            stats.uploaded += t.uploaded;
        }
        if let Some(dht) = &self.shared.services.dht {
            if let Ok(s) = dht.stats().await {
                stats.dht_nodes = s.nodes_v4 + s.nodes_v6;
            }
        }
        stats
    }
    /// Saves resume data of every torrent now.
    pub async fn save_resume_data(&self) -> Result<(), Error> {
        let mut first_error = None;
        for id in self.shared.ids() {
            let result = self
                .shared
                .ask(id, |reply| engine::Command::SaveResume { reply })
                .await;
            if let Err(e) | Ok(Err(e)) = result {
                if !matches!(e, Error::UnknownTorrent(_)) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    /// Saves resume data, announces `stopped`, closes every connection.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.shared.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::InfoHashV1;

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_many_it_missed() {
        let (tx, rx) = tokio::sync::broadcast::channel(2);
        let (_closed_tx, closed) = tokio::sync::watch::channel(false);
        let mut events = SessionEvents::new(rx, closed);
        let id = TorrentId(InfoHashV1([1; 20]));
        for piece in 0..5 {
            tx.send(SessionEvent::PieceDone(id, piece)).unwrap();
        }
        assert_eq!(events.next_event().await, Some(SessionEvent::Lagged(3)));
        assert_eq!(
            events.next_event().await,
            Some(SessionEvent::PieceDone(id, 3))
        );
        assert_eq!(
            events.next_event().await,
            Some(SessionEvent::PieceDone(id, 4))
        );
        drop(tx);
        assert_eq!(events.next_event().await, None);
    }

    #[tokio::test]
    async fn subscriptions_end_at_shutdown_after_what_is_queued() {
        let (tx, rx) = tokio::sync::broadcast::channel(8);
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        let mut events = SessionEvents::new(rx, closed);
        let id = TorrentId(InfoHashV1([1; 20]));
        tx.send(SessionEvent::TorrentRemoved(id)).unwrap();
        closed_tx.send(true).unwrap();
        assert_eq!(
            events.next_event().await,
            Some(SessionEvent::TorrentRemoved(id))
        );
        // The sender is still alive; the closed flag ends the stream.
        assert_eq!(events.next_event().await, None);
        drop(tx);
    }

    #[test]
    fn defaults_listen_on_every_address() {
        let c = SessionConfig::default();
        assert_eq!(c.listen.len(), 2);
        assert!(
            c.listen
                .iter()
                .all(|a| a.port() == 6881 && a.ip().is_unspecified())
        );
        assert!(c.trackers && c.dht_bind.is_none() && c.resume_dir.is_none());
        let add = AddTorrent::new(TorrentSource::Magnet(Box::new(
            Magnet::parse("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567").unwrap(),
        )));
        assert!(!add.paused && !add.sequential && add.peers.is_empty() && add.output.is_none());
    }
}
