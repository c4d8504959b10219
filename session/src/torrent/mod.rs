//! One task per torrent: it owns the torrent's [`Selector`], its
//! [`PeerManager`], the peers' state and the candidate addresses, and
//! executes what the selector decides.
//!
//! The task never awaits storage, trackers or the DHT itself: each such
//! call runs in a spawned task that reports back on a bounded internal
//! channel, so the task always keeps reading its inputs (and the
//! dispatcher never waits on it for long).

mod magnet;
mod peer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bitswarm_core::{Bitfield, BlockRef, InfoHash, PieceIndex};
use bitswarm_disk::{BlockTag, CheckMode, DiskEvent, NativeFileSystem, TorrentStorage};
use bitswarm_handshake::{Connection, Direction, Extensions, Handshaker};
use bitswarm_metainfo::{Magnet, Metainfo};
use bitswarm_peer::extension::{
    ExtendedMessage, ExtensionHandshake, ExtensionIds, METADATA_PIECE_SIZE, PexFlags, UtMetadata,
    UtPex,
};
use bitswarm_peer::{
    Block, DisconnectReason, Message, PeerCodec, PeerEvent, PeerInfo, PeerKey, PeerManager,
    PeerManagerConfig, PeerManagerHandle,
};
use bitswarm_select::{
    Action, BlockOutcome, PeerOptions, PieceLayout, Priority, RarestFirst, Revelation,
    SelectConfig, Selector, Sequential,
};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::api::{FileStatus, PeerStatus, SessionEvent, TorrentId, TorrentState, TorrentStatus};
use crate::candidates::Candidates;
use crate::engine::{Command, Input, Services};
use crate::resume::{self, ResumeFile};
use crate::tracker::{
    AnnounceEvent, AnnounceRequest, AnnounceResponse, TrackerError, TrackerTiers,
};

use magnet::{MetadataFetch, Received};
use peer::{MAX_EARLY_HAVES, PeerState};

/// Blocks handed to storage and not yet written; above it, peers are not read.
const MAX_WRITES_IN_FLIGHT: usize = 256;
/// Block reads queued per peer; more requests are rejected. Announced to
/// peers as `reqq` (BEP 10). libtorrent keeps as many requests in flight as
/// we announce, and on loopback it needs about 250 to run at full speed
/// (with 128 it got 0.5–0.7× of what a libtorrent seeder gives it). A peer
/// within this bound must never look like one that does not read, so the
/// answers to all its requests fit its send queue plus the waiting sends
/// (checked below).
const MAX_UPLOADS_PER_PEER: usize = 250;
const _: () = assert!(
    MAX_UPLOADS_PER_PEER + 16 <= SEND_QUEUE + MAX_WAITING_SENDS,
    "a peer within our reqq could be dropped as not reading"
);
/// Messages queued per peer connection (the peer manager's send queue).
const SEND_QUEUE: usize = 256;
/// The longest block a peer may request (BEP 3 clients ask 16 KiB).
const MAX_REQUEST: u32 = 32 * 1024;
/// Connection attempts in progress per torrent.
const MAX_CONNECTING: usize = 16;
/// A connection attempt older than this has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Protocol violations after which a peer is disconnected.
const MAX_VIOLATIONS: u32 = 20;
/// A peer neither side is interested in after this long may make room.
const USELESS_AFTER: Duration = Duration::from_secs(60);
/// Hash failures shared with other peers after which a peer is banned.
const BAN_STRIKES: u32 = 2;
/// Banned addresses and strike counts kept.
const MAX_BANNED: usize = 1024;
/// Peer keys remembered with their address, for blaming hash failures.
const MAX_TAGS: usize = 4096;
/// Addresses in one PEX message.
const MAX_PEX: usize = 50;
/// How often PEX goes out (BEP 11: at most once a minute).
const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// How often the DHT is asked for peers (and we announce to it).
const DHT_INTERVAL: Duration = Duration::from_secs(300);
/// How soon the DHT is asked again when it found nobody.
const DHT_RETRY: Duration = Duration::from_secs(10);
/// Peers taken from one DHT lookup.
const MAX_DHT_PEERS: usize = 200;
/// How long one DHT lookup may run.
const DHT_LOOKUP_TIME: Duration = Duration::from_secs(30);
/// How often resume data is saved while something changed.
const RESUME_INTERVAL: Duration = Duration::from_secs(30);
/// Tracker intervals are kept within these bounds.
const MIN_ANNOUNCE: Duration = Duration::from_secs(30);
const MAX_ANNOUNCE: Duration = Duration::from_secs(3600);
/// How long the `stopped` announce may take at shutdown.
const STOP_ANNOUNCE_TIME: Duration = Duration::from_secs(5);
/// Messages per peer waiting for room in its full send queue; a peer with
/// more does not read and is disconnected.
const MAX_WAITING_SENDS: usize = 32;
/// Peer events handled in one turn of the task's loop.
const PEER_EVENT_BATCH: usize = 64;
/// Reports of spawned work queued at most.
const INTERNAL_QUEUE: usize = 4096;

/// How a torrent starts.
#[derive(Debug)]
pub(crate) struct TorrentInit {
    pub(crate) id: TorrentId,
    pub(crate) info_hash: InfoHash,
    pub(crate) metainfo: Option<Arc<Metainfo>>,
    pub(crate) magnet: Option<Magnet>,
    pub(crate) save_path: PathBuf,
    pub(crate) paused: bool,
    pub(crate) sequential: bool,
    pub(crate) peers: Vec<SocketAddr>,
    pub(crate) resume: Option<ResumeFile>,
}

/// What spawned work reports back.
#[derive(Debug)]
enum Internal {
    Prepared {
        generation: u32,
        result: Result<Bitfield, Error>,
    },
    WriteDone {
        piece: PieceIndex,
        result: Result<(), bitswarm_disk::Error>,
    },
    ReadDone {
        peer: PeerKey,
        block: BlockRef,
        result: Result<Bytes, bitswarm_disk::Error>,
    },
    Announced {
        tiers: TrackerTiers,
        event: AnnounceEvent,
        result: Result<AnnounceResponse, TrackerError>,
    },
    DhtPeers(Vec<SocketAddr>),
    DhtDone {
        found: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    FetchingMetadata,
    Checking,
    Active,
}

/// Runs a torrent until it is removed, the session shuts down, or every
/// handle to the session is gone.
pub(crate) async fn run(
    services: Arc<Services>,
    init: TorrentInit,
    mut inputs: mpsc::Receiver<Input>,
) {
    let (pm, mut peer_events) = PeerManager::start(PeerManagerConfig {
        send_queue: SEND_QUEUE,
        ..PeerManagerConfig::default()
    });
    let (internal_tx, mut internal_rx) = mpsc::channel(INTERNAL_QUEUE);
    let mut t = Torrent::new(services, init, pm, internal_tx);
    t.start();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = Instant::now();
        let far = now + Duration::from_secs(86_400);
        let selector_deadline = t
            .selector
            .as_ref()
            .and_then(Selector::poll_timeout)
            .unwrap_or(far);
        let read_resume = t.read_paused_until.unwrap_or(far);
        let reading = t.reading_allowed(now);
        tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => {
                    if t.on_input(input) {
                        break;
                    }
                }
                None => break,
            },
            Some(event) = peer_events.next(), if reading => {
                t.on_peer_event(event);
                // Whatever else is queued goes in the same turn.
                for _ in 1..PEER_EVENT_BATCH {
                    if !t.reading_allowed(Instant::now()) {
                        break;
                    }
                    match peer_events.next().now_or_never() {
                        Some(Some(event)) => t.on_peer_event(event),
                        _ => break,
                    }
                }
            }
            Some(internal) = internal_rx.recv() => t.on_internal(internal),
            () = tokio::time::sleep_until(selector_deadline.into()) => {
                if let Some(sel) = t.selector.as_mut() {
                    sel.handle_timeout(Instant::now());
                }
            }
            () = tokio::time::sleep_until(read_resume.into()), if t.read_paused_until.is_some() => {
                t.read_paused_until = None;
            }
            _ = tick.tick() => t.on_tick(),
        }
        t.drain_actions();
        t.sync_state();
    }
    t.pm.shutdown();
}

/// The state of one torrent, owned by its task.
struct Torrent {
    id: TorrentId,
    info_hash: InfoHash,
    services: Arc<Services>,
    meta: Option<Arc<Metainfo>>,
    magnet: Option<Magnet>,
    save_path: PathBuf,
    phase: Phase,
    paused: bool,
    error: Option<String>,
    /// The state last published.
    published: Option<TorrentState>,
    selector: Option<Selector<StdRng>>,
    /// Increases at every (re)check; stale check results are ignored.
    generation: u32,
    resume: Option<ResumeFile>,
    file_priorities: Vec<u8>,
    sequential: bool,
    pm: PeerManagerHandle,
    peers: HashMap<PeerKey, PeerState>,
    addrs: HashMap<SocketAddr, PeerKey>,
    candidates: Candidates,
    connecting: HashMap<SocketAddr, Instant>,
    banned: HashSet<BanKey>,
    strikes: HashMap<BanKey, u32>,
    tags: BTreeMap<u64, SocketAddr>,
    writes_in_flight: usize,
    pending_uploads: HashSet<(PeerKey, BlockRef)>,
    read_paused_until: Option<Instant>,
    downloaded: u64,
    uploaded: u64,
    fetch: MetadataFetch,
    tiers: Option<TrackerTiers>,
    announce_next: Option<Instant>,
    announce_event: AnnounceEvent,
    announce_failures: u32,
    started_announced: bool,
    dht_next: Option<Instant>,
    dht_running: bool,
    pex_next: Instant,
    pex_last: HashSet<SocketAddr>,
    resume_next: Instant,
    dirty: bool,
    internal: mpsc::Sender<Internal>,
}

/// What a ban applies to: the IP address, except on loopback, where many
/// local peers share one address and only the socket address tells them
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BanKey {
    Ip(IpAddr),
    Addr(SocketAddr),
}

impl BanKey {
    fn of(addr: SocketAddr) -> Self {
        if addr.ip().is_loopback() {
            Self::Addr(addr)
        } else {
            Self::Ip(addr.ip())
        }
    }
}

/// Who to ban for a piece that failed its hash check, given the senders of
/// its blocks: a peer that sent every block at once, peers that shared it
/// at their second such piece. `strikes` is bounded by [`MAX_BANNED`].
fn to_ban(mut senders: Vec<SocketAddr>, strikes: &mut HashMap<BanKey, u32>) -> Vec<SocketAddr> {
    senders.sort();
    senders.dedup();
    let alone = senders.len() == 1;
    let mut out = Vec::new();
    for addr in senders {
        if strikes.len() >= MAX_BANNED {
            strikes.clear();
        }
        let s = strikes.entry(BanKey::of(addr)).or_insert(0);
        *s += 1;
        if alone || *s >= BAN_STRIKES {
            out.push(addr);
        }
    }
    out
}

fn sk(key: PeerKey) -> bitswarm_select::PeerKey {
    bitswarm_select::PeerKey(key.0)
}

fn pk(key: bitswarm_select::PeerKey) -> PeerKey {
    PeerKey(key.0)
}

impl Torrent {
    fn new(
        services: Arc<Services>,
        init: TorrentInit,
        pm: PeerManagerHandle,
        internal: mpsc::Sender<Internal>,
    ) -> Self {
        let now = Instant::now();
        let mut trackers: Vec<Vec<String>> = match (&init.metainfo, &init.magnet) {
            (Some(m), _) => m.trackers(),
            (None, Some(m)) => m.trackers.iter().map(|t| vec![t.clone()]).collect(),
            (None, None) => Vec::new(),
        };
        trackers.retain(|tier| !tier.is_empty());
        let tiers = (services.trackers.is_some() && !trackers.is_empty())
            .then(|| TrackerTiers::new(trackers));
        let file_priorities = init
            .resume
            .as_ref()
            .map(|r| r.priorities.clone())
            .unwrap_or_default();
        let mut t = Self {
            id: init.id,
            info_hash: init.info_hash,
            meta: init.metainfo,
            magnet: init.magnet,
            save_path: init.save_path,
            phase: Phase::FetchingMetadata,
            paused: init.paused,
            error: None,
            published: None,
            selector: None,
            generation: 0,
            resume: init.resume,
            file_priorities,
            sequential: init.sequential,
            pm,
            peers: HashMap::new(),
            addrs: HashMap::new(),
            candidates: Candidates::default(),
            connecting: HashMap::new(),
            banned: HashSet::new(),
            strikes: HashMap::new(),
            tags: BTreeMap::new(),
            writes_in_flight: 0,
            pending_uploads: HashSet::new(),
            read_paused_until: None,
            downloaded: 0,
            uploaded: 0,
            fetch: MetadataFetch::default(),
            tiers,
            announce_next: None,
            announce_event: AnnounceEvent::Started,
            announce_failures: 0,
            started_announced: false,
            dht_next: None,
            dht_running: false,
            pex_next: now + PEX_INTERVAL,
            pex_last: HashSet::new(),
            resume_next: now + RESUME_INTERVAL,
            dirty: true,
            services,
            internal,
        };
        for addr in init.peers {
            t.add_candidate(addr, now, true);
        }
        if let Some(m) = &t.magnet {
            let peers: Vec<SocketAddr> = m.peers.iter().filter_map(|p| p.parse().ok()).collect();
            for addr in peers {
                t.add_candidate(addr, now, true);
            }
        }
        t
    }

    fn private(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.private())
    }

    fn start(&mut self) {
        if self.meta.is_some() {
            self.prepare(false);
        } else {
            self.phase = Phase::FetchingMetadata;
            self.schedule_discovery(Instant::now());
        }
        self.connect_more(Instant::now());
    }

    /// Announces and DHT lookups start now.
    fn schedule_discovery(&mut self, now: Instant) {
        self.announce_next = Some(now);
        self.announce_event = AnnounceEvent::Started;
        self.dht_next = Some(now);
    }

    /// Registers the torrent with storage and checks what is on disk, in a
    /// spawned task; `full` ignores resume data.
    fn prepare(&mut self, full: bool) {
        let Some(meta) = self.meta.clone() else {
            return;
        };
        self.phase = Phase::Checking;
        self.selector = None;
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let info_hash = self.info_hash;
        let disk = self.services.disk.clone();
        let save_path = self.save_path.clone();
        let mode = match self.resume.as_ref().and_then(|r| r.disk.clone()) {
            Some(mut rd) if !full => {
                rd.info_hash = info_hash;
                CheckMode::Resume(rd)
            }
            _ => CheckMode::Full,
        };
        let first = generation == 1;
        let tx = self.internal.clone();
        tokio::spawn(async move {
            let result = async {
                if first {
                    let fs = Arc::new(NativeFileSystem::new(save_path));
                    let storage = TorrentStorage {
                        info: Arc::new(meta.info().clone()),
                        fs,
                    };
                    disk.add_torrent(info_hash, storage).await?;
                }
                Ok(disk.check(info_hash, mode).await?)
            }
            .await;
            let _ = tx.send(Internal::Prepared { generation, result }).await;
        });
    }

    // ---- state ---------------------------------------------------------

    fn is_complete(&self) -> bool {
        self.selector.as_ref().is_some_and(Selector::is_complete)
    }

    fn state(&self) -> TorrentState {
        if self.error.is_some() {
            TorrentState::Error
        } else if self.paused {
            TorrentState::Paused
        } else {
            match self.phase {
                Phase::FetchingMetadata => TorrentState::FetchingMetadata,
                Phase::Checking => TorrentState::Checking,
                Phase::Active if self.is_complete() => TorrentState::Seeding,
                Phase::Active => TorrentState::Downloading,
            }
        }
    }

    fn sync_state(&mut self) {
        let state = self.state();
        if self.published != Some(state) {
            self.published = Some(state);
            tracing::debug!(torrent = %self.id, ?state, "state");
            self.services
                .emit(SessionEvent::StateChanged(self.id, state));
        }
    }

    /// Whether peers may be connected and kept.
    fn running(&self) -> bool {
        !self.paused && self.error.is_none()
    }

    fn reading_allowed(&self, now: Instant) -> bool {
        self.writes_in_flight < MAX_WRITES_IN_FLIGHT
            && self.read_paused_until.is_none_or(|t| t <= now)
    }

    // ---- inputs --------------------------------------------------------

    /// Returns whether the task should end.
    fn on_input(&mut self, input: Input) -> bool {
        match input {
            Input::Connection(conn) => {
                self.on_connection(conn, Instant::now());
                false
            }
            Input::Disk(event) => {
                self.on_disk(event);
                false
            }
            Input::ConnectFailed(addr) => {
                let now = Instant::now();
                if self.connecting.remove(&addr).is_some() {
                    self.candidates.failed(addr, now);
                    self.connect_more(now);
                }
                false
            }
            Input::Command(c) => self.on_command(c),
        }
    }

    fn on_command(&mut self, command: Command) -> bool {
        let now = Instant::now();
        match command {
            Command::Pause { reply } => {
                self.pause();
                let _ = reply.send(Ok(()));
            }
            Command::Resume { reply } => {
                self.resume_torrent(now);
                let _ = reply.send(Ok(()));
            }
            Command::Remove {
                delete_files,
                reply,
            } => {
                self.disconnect_all();
                self.announce_stopped();
                let disk = self.services.disk.clone();
                let info_hash = self.info_hash;
                let registered = self.meta.is_some();
                tokio::spawn(async move {
                    let result = if registered {
                        match disk.remove_torrent(info_hash, delete_files).await {
                            Err(bitswarm_disk::Error::UnknownTorrent(_)) => Ok(()),
                            r => r.map_err(Error::from),
                        }
                    } else {
                        Ok(())
                    };
                    let _ = reply.send(result);
                });
                return true;
            }
            Command::Recheck { reply } => {
                if self.meta.is_none() {
                    let _ = reply.send(Err(Error::NoMetadata(self.id)));
                } else {
                    self.disconnect_all();
                    self.prepare(true);
                    let _ = reply.send(Ok(()));
                }
            }
            Command::SetFilePriorities { priorities, reply } => {
                let _ = reply.send(self.set_file_priorities(priorities));
            }
            Command::SetSequential { sequential, reply } => {
                self.sequential = sequential;
                self.apply_strategy();
                self.dirty = true;
                let _ = reply.send(Ok(()));
            }
            Command::AddPeers { peers, reply } => {
                for addr in peers {
                    self.add_candidate(addr, now, true);
                }
                self.connect_more(now);
                let _ = reply.send(());
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Files { reply } => {
                let _ = reply.send(self.files());
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_list());
            }
            Command::Metainfo { reply } => {
                let _ = reply.send(self.meta.as_deref().cloned());
            }
            Command::SaveResume { reply } => {
                self.save_resume(Some(reply));
            }
            Command::Shutdown { reply } => {
                self.disconnect_all();
                let stop = self.stop_announce_task();
                let save = self.resume_task();
                tokio::spawn(async move {
                    let save = async {
                        if let Some(save) = save {
                            if let Err(e) = save.await {
                                tracing::warn!(error = %e, "resume data not saved");
                            }
                        }
                    };
                    let stop = async {
                        if let Some(stop) = stop {
                            let _ = tokio::time::timeout(STOP_ANNOUNCE_TIME, stop).await;
                        }
                    };
                    futures::join!(save, stop);
                    let _ = reply.send(());
                });
                return true;
            }
        }
        false
    }

    fn pause(&mut self) {
        if self.paused {
            return;
        }
        self.paused = true;
        self.dirty = true;
        self.disconnect_all();
        self.connecting.clear();
        self.announce_stopped();
        self.announce_next = None;
        self.dht_next = None;
        self.save_resume(None);
    }

    fn resume_torrent(&mut self, now: Instant) {
        if self.error.take().is_some() {
            let disk = self.services.disk.clone();
            let info_hash = self.info_hash;
            tokio::spawn(async move {
                let _ = disk.resume_io(info_hash).await;
            });
        }
        if !self.paused {
            return;
        }
        self.paused = false;
        self.dirty = true;
        if self.phase != Phase::Checking {
            self.schedule_discovery(now);
        }
        self.connect_more(now);
    }

    fn set_file_priorities(&mut self, priorities: Vec<u8>) -> Result<(), Error> {
        let Some(meta) = &self.meta else {
            return Err(Error::NoMetadata(self.id));
        };
        let files = meta.files().len();
        if priorities.len() != files {
            return Err(Error::InvalidArgument(format!(
                "{} priorities for {files} files",
                priorities.len()
            )));
        }
        if let Some(bad) = priorities.iter().find(|p| **p > Priority::MAX.get()) {
            return Err(Error::InvalidArgument(format!("priority {bad} is above 7")));
        }
        self.file_priorities = priorities;
        self.dirty = true;
        self.apply_priorities();
        Ok(())
    }

    fn apply_priorities(&mut self) {
        let (Some(meta), Some(sel)) = (&self.meta, self.selector.as_mut()) else {
            return;
        };
        if self.file_priorities.len() != meta.files().len() {
            return;
        }
        let lengths: Vec<u64> = meta.files().iter().map(|f| f.length()).collect();
        let prios: Vec<Priority> = self
            .file_priorities
            .iter()
            .map(|p| Priority::new(*p).unwrap_or_default())
            .collect();
        if let Err(e) = sel.set_file_priorities(&lengths, &prios) {
            tracing::warn!(torrent = %self.id, error = %e, "file priorities not applied");
        }
    }

    fn apply_strategy(&mut self) {
        if let Some(sel) = self.selector.as_mut() {
            if self.sequential {
                sel.set_strategy(Box::new(Sequential::default()));
            } else {
                sel.set_strategy(Box::new(RarestFirst::default()));
            }
        }
    }

    // ---- storage -------------------------------------------------------

    fn on_internal(&mut self, internal: Internal) {
        let now = Instant::now();
        match internal {
            Internal::Prepared { generation, result } => {
                if generation == self.generation {
                    self.on_prepared(result, now);
                }
            }
            Internal::WriteDone { piece, result } => {
                self.writes_in_flight = self.writes_in_flight.saturating_sub(1);
                if let Err(e) = result {
                    tracing::warn!(torrent = %self.id, %piece, error = %e, "block not written");
                    if let Some(sel) = self.selector.as_mut() {
                        let _ = sel.piece_verified(now, piece, false);
                    }
                    if !matches!(e, bitswarm_disk::Error::Paused(_)) {
                        self.set_error(e.to_string());
                    }
                }
            }
            Internal::ReadDone {
                peer,
                block,
                result,
            } => self.on_read_done(peer, block, result, now),
            Internal::Announced {
                tiers,
                event,
                result,
            } => self.on_announced(tiers, event, result, now),
            Internal::DhtPeers(peers) => {
                for addr in peers {
                    self.add_candidate(addr, now, false);
                }
                self.connect_more(now);
            }
            Internal::DhtDone { found } => {
                self.dht_running = false;
                if self.running() {
                    let wait = if found == 0 { DHT_RETRY } else { DHT_INTERVAL };
                    self.dht_next = Some(now + wait);
                }
            }
        }
    }

    fn on_prepared(&mut self, result: Result<Bitfield, Error>, now: Instant) {
        let have = match result {
            Ok(have) => have,
            Err(e) => {
                self.set_error(format!("checking files: {e}"));
                return;
            }
        };
        let Some(meta) = self.meta.clone() else {
            return;
        };
        if !meta.version().has_v1() {
            // Each file's last piece is short in a v2-only torrent: one
            // piece layout does not describe it.
            self.set_error("v2-only torrents are not supported".into());
            return;
        }
        let Ok(piece_length) = u32::try_from(meta.piece_length()) else {
            self.set_error("piece length above 4 GiB".into());
            return;
        };
        let selector = PieceLayout::new(meta.layout().stream_length(), piece_length)
            .and_then(|layout| {
                Selector::new(SelectConfig::default(), layout, StdRng::from_entropy())
            })
            .and_then(|mut sel| sel.set_have(&have).map(|()| sel));
        let sel = match selector {
            Ok(sel) => sel,
            Err(e) => {
                self.set_error(format!("torrent shape: {e}"));
                return;
            }
        };
        tracing::debug!(torrent = %self.id, have = have.count_ones(), of = have.len(), "checked");
        self.selector = Some(sel);
        self.phase = Phase::Active;
        self.dirty = true;
        self.apply_priorities();
        self.apply_strategy();
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.register_peer(key, now);
        }
        if self.running() {
            self.schedule_discovery(now);
            self.connect_more(now);
        }
        self.save_resume(None);
    }

    fn set_error(&mut self, error: String) {
        tracing::warn!(torrent = %self.id, %error, "torrent stopped");
        self.services
            .emit(SessionEvent::TorrentError(self.id, error.clone()));
        self.error = Some(error);
        self.disconnect_all();
    }

    fn on_disk(&mut self, event: DiskEvent) {
        let now = Instant::now();
        match event {
            DiskEvent::PieceVerified { piece, .. } => {
                let Some(sel) = self.selector.as_mut() else {
                    return;
                };
                let was_complete = sel.is_complete();
                if sel.piece_verified(now, piece, true).is_err() {
                    return;
                }
                self.dirty = true;
                self.services
                    .emit(SessionEvent::PieceDone(self.id, piece.0));
                if !was_complete && sel.is_complete() {
                    tracing::info!(torrent = %self.id, "finished");
                    self.services.emit(SessionEvent::Finished(self.id));
                    // After an announce in flight, if any.
                    self.announce_event = AnnounceEvent::Completed;
                    self.announce_next = Some(now);
                    self.save_resume(None);
                }
            }
            DiskEvent::PieceFailed { piece, blocks, .. } => {
                if let Some(sel) = self.selector.as_mut() {
                    let _ = sel.piece_verified(now, piece, false);
                }
                self.blame(piece, &blocks);
            }
            DiskEvent::TorrentError { error, .. } => {
                self.set_error(error.to_string());
            }
            _ => {}
        }
    }

    /// A piece failed its hash check: a peer that sent all of it is
    /// banned at once; peers that shared it get a strike each.
    fn blame(&mut self, piece: PieceIndex, blocks: &[(BlockRef, BlockTag)]) {
        let senders: Vec<SocketAddr> = blocks
            .iter()
            .filter_map(|(_, tag)| self.tags.get(&tag.0).copied())
            .collect();
        tracing::info!(torrent = %self.id, %piece, ?senders, "piece failed its hash check");
        for addr in to_ban(senders, &mut self.strikes) {
            self.ban(addr);
        }
    }

    fn is_banned(&self, addr: SocketAddr) -> bool {
        self.banned.contains(&BanKey::of(addr))
    }

    fn ban(&mut self, addr: SocketAddr) {
        if self.banned.len() >= MAX_BANNED || !self.banned.insert(BanKey::of(addr)) {
            return;
        }
        tracing::info!(torrent = %self.id, %addr, "peer banned");
        self.services.emit(SessionEvent::PeerBanned(self.id, addr));
        self.candidates.remove(&addr);
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                BanKey::of(p.addr) == BanKey::of(addr)
                    || p.listen_addr().map(BanKey::of) == Some(BanKey::of(addr))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.pm.disconnect(key);
        }
    }

    // ---- peers -----------------------------------------------------------

    fn add_candidate(&mut self, addr: SocketAddr, now: Instant, urgent: bool) {
        if self.services.is_own(&addr) || self.is_banned(addr) {
            return;
        }
        self.candidates.add(addr, now, urgent);
    }

    fn connect_more(&mut self, now: Instant) {
        self.connecting.retain(|addr, at| {
            let alive = now.saturating_duration_since(*at) < CONNECT_TIMEOUT;
            if !alive {
                self.candidates.failed(*addr, now);
            }
            alive
        });
        if !self.running() {
            return;
        }
        let limit = self.services.config.max_connections_per_torrent.max(1);
        while self.peers.len() + self.connecting.len() < limit
            && self.connecting.len() < MAX_CONNECTING
        {
            let addrs = &self.addrs;
            let connecting = &self.connecting;
            let banned = &self.banned;
            let peers = &self.peers;
            let Some(addr) = self.candidates.next_ready(now, |a| {
                addrs.contains_key(a)
                    || connecting.contains_key(a)
                    || banned.contains(&BanKey::of(*a))
                    || peers.values().any(|p| p.listen_addr() == Some(*a))
            }) else {
                break;
            };
            self.connecting.insert(addr, now);
            self.services.dialing(addr, self.info_hash.wire());
            let services = self.services.clone();
            let info_hash = self.info_hash;
            tokio::spawn(async move {
                if let Err(e) = services.handshake.connect(addr, info_hash).await {
                    tracing::debug!(%addr, error = %e, "connect not started");
                    services.dialed(addr);
                }
            });
        }
    }

    fn on_connection(&mut self, conn: Connection, now: Instant) {
        let addr = conn.info.addr;
        self.connecting.remove(&addr);
        if !self.running() || self.is_banned(addr) {
            return;
        }
        let remote_id = conn.info.remote.peer_id;
        let duplicate = self
            .peers
            .iter()
            .find(|(_, p)| p.peer_id == remote_id)
            .map(|(k, _)| *k);
        if let Some(old) = duplicate {
            // Both sides keep the connection opened by the lower peer id.
            let we_are_lower = self.services.config.peer_id.0 < remote_id.0;
            let new_is_ours = conn.info.direction == Direction::Outgoing;
            if new_is_ours != we_are_lower {
                return;
            }
            self.pm.disconnect(old);
        }
        let codec = match &self.meta {
            Some(m) => PeerCodec::for_torrent(m.num_pieces()),
            None => PeerCodec::default(),
        };
        let extensions = conn.info.extensions;
        let direction = conn.info.direction;
        let key = match self
            .pm
            .add_guarded(conn.transport, PeerInfo { addr, codec }, conn.permit)
        {
            Ok(key) => key,
            Err(e) => {
                tracing::debug!(%addr, error = %e, "peer not added");
                return;
            }
        };
        tracing::debug!(torrent = %self.id, %addr, ?direction, "peer connected");
        self.candidates.remove(&addr);
        self.peers.insert(
            key,
            PeerState::new(addr, remote_id, direction, extensions, now),
        );
        self.addrs.insert(addr, key);
        self.tags.insert(key.0, addr);
        while self.tags.len() > MAX_TAGS {
            self.tags.pop_first();
        }
        self.services
            .emit(SessionEvent::PeerConnected(self.id, addr));
        if self.selector.is_some() {
            self.register_peer(key, now);
        } else {
            // Nothing to show yet; pieces found later go as `have`.
            if let Some(p) = self.peers.get_mut(&key) {
                p.revealed = true;
                if p.fast() {
                    self.send(key, Message::HaveNone);
                }
            }
        }
        if extensions.supports(Extensions::EXTENSION_PROTOCOL) {
            let mut hs = ExtensionHandshake::bitswarm(
                self.meta.as_ref().map(|m| m.info_bytes().len() as u64),
            );
            hs.p = Some(self.services.listen_port());
            hs.reqq = Some(MAX_UPLOADS_PER_PEER as u32);
            hs.yourip = Some(addr.ip());
            if self.private() {
                hs.m.remove(bitswarm_peer::extension::names::UT_PEX);
            }
            let msg = ExtendedMessage::Handshake(hs).to_message(&ExtensionIds::OURS);
            if let Some(msg) = msg {
                self.send(key, msg);
            }
        }
        if extensions.supports(Extensions::DHT) {
            if let Some(dht) = self.services.dht_addr {
                self.send(key, Message::Port(dht.port()));
            }
        }
    }

    /// Registers a connected peer with the selector and replays what it
    /// said before the selector existed.
    fn register_peer(&mut self, key: PeerKey, now: Instant) {
        let Some(sel) = self.selector.as_mut() else {
            return;
        };
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.in_selector {
            return;
        }
        let revelation = match sel.add_peer(now, sk(key), PeerOptions::fast(p.fast())) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(peer = %p.addr, error = %e, "peer not registered");
                self.pm.disconnect(key);
                return;
            }
        };
        p.in_selector = true;
        let mut out = Vec::new();
        if p.revealed {
            // Too late for a bitfield: every piece we have goes as `have`.
            if matches!(revelation, Revelation::Bitfield(_) | Revelation::HaveAll) {
                let have = sel.have_bitfield();
                out.extend(have.iter_ones().map(Message::Have));
            }
        } else {
            p.revealed = true;
            match revelation {
                Revelation::HaveAll => out.push(Message::HaveAll),
                Revelation::HaveNone => out.push(Message::HaveNone),
                Revelation::Bitfield(b) => out.push(Message::Bitfield(b.to_bytes())),
                _ => {}
            }
        }
        let n = sel.layout().piece_count();
        let mut bad = false;
        if p.early_have_all {
            bad |= sel.peer_have_all(sk(key)).is_err();
        } else if let Some(raw) = p.early_bitfield.take() {
            match Bitfield::from_payload(&raw, n) {
                Ok(b) => {
                    bad |= sel.peer_bitfield(sk(key), &b).is_err();
                    p.pieces = Some(b);
                }
                Err(_) => bad = true,
            }
        }
        for piece in std::mem::take(&mut p.early_haves) {
            bad |= sel.peer_have(sk(key), PieceIndex(piece)).is_err();
            if piece < n {
                p.note_have(piece, n);
            }
        }
        if !p.choking_us {
            let _ = sel.peer_unchoked_us(now, sk(key));
        }
        if p.interested_in_us {
            let _ = sel.peer_interested(now, sk(key));
        }
        for m in out {
            self.send(key, m);
        }
        if bad {
            self.drop_misbehaving(key, "piece information that does not fit the torrent");
        }
    }

    fn disconnect_all(&mut self) {
        for key in self.peers.keys() {
            self.pm.disconnect(*key);
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Message { peer, message } => self.on_message(peer, message),
            PeerEvent::Disconnected { peer, reason } => self.on_disconnected(peer, &reason),
            _ => {}
        }
    }

    fn on_disconnected(&mut self, key: PeerKey, reason: &DisconnectReason) {
        let now = Instant::now();
        let Some(p) = self.peers.remove(&key) else {
            return;
        };
        tracing::debug!(torrent = %self.id, addr = %p.addr, ?reason, "peer disconnected");
        // The codec refused what the peer sent: a protocol violation.
        if let DisconnectReason::Error(e) = reason {
            use bitswarm_peer::Error as E;
            if matches!(
                e,
                E::MessageTooLong { .. }
                    | E::UnknownMessage { .. }
                    | E::PayloadLength { .. }
                    | E::Bitfield(_)
                    | E::Bencode { .. }
                    | E::Field { .. }
            ) {
                self.services
                    .emit(SessionEvent::PeerMisbehaved(self.id, p.addr, e.to_string()));
            }
        }
        if self.addrs.get(&p.addr) == Some(&key) {
            self.addrs.remove(&p.addr);
        }
        if p.in_selector {
            if let Some(sel) = self.selector.as_mut() {
                let _ = sel.remove_peer(now, sk(key));
            }
        }
        self.pending_uploads.retain(|(k, _)| *k != key);
        self.fetch.forget_peer(key);
        // A peer that went away may come back: keep its address (with
        // backoff while we run; a paused torrent tries it at resume),
        // unless both of us are complete.
        let n = self.meta.as_ref().map_or(0, |m| m.num_pieces());
        let useless = n > 0 && p.have_count(n) == n && self.is_complete();
        if let Some(addr) = p.listen_addr().filter(|_| !useless) {
            if !self.is_banned(addr) {
                self.add_candidate(addr, now, false);
                if self.running() {
                    self.candidates.failed(addr, now);
                }
            }
        }
        self.services
            .emit(SessionEvent::PeerDisconnected(self.id, p.addr));
    }

    /// A protocol violation; too many and the peer goes.
    fn violation(&mut self, key: PeerKey, what: &str) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.violations += 1;
            tracing::debug!(peer = %p.addr, what, count = p.violations, "protocol violation");
            if p.violations == MAX_VIOLATIONS {
                self.drop_misbehaving(
                    key,
                    &format!("{MAX_VIOLATIONS} protocol violations, the last: {what}"),
                );
            }
        }
    }

    /// Disconnects a peer that broke the protocol, with an event saying why.
    fn drop_misbehaving(&self, key: PeerKey, why: &str) {
        if let Some(p) = self.peers.get(&key) {
            tracing::debug!(peer = %p.addr, why, "peer dropped");
            self.services.emit(SessionEvent::PeerMisbehaved(
                self.id,
                p.addr,
                why.to_owned(),
            ));
        }
        self.pm.disconnect(key);
    }

    /// Queues a message; when the peer's queue is full, a task waits for
    /// room. A peer with too many such waits does not read what it asks
    /// for and is disconnected.
    fn send(&self, key: PeerKey, message: Message) {
        tracing::trace!(torrent = %self.id, peer = key.0, kind = message.name(), "send");
        if let Err(bitswarm_peer::Error::QueueFull) = self.pm.try_send(key, message.clone()) {
            let Some(p) = self.peers.get(&key) else {
                return;
            };
            let waiting = p.waiting_sends.clone();
            let before = waiting.fetch_add(1, Ordering::Relaxed);
            if before >= MAX_WAITING_SENDS {
                // Left counted, so that only the first refusal reports.
                if before == MAX_WAITING_SENDS {
                    self.drop_misbehaving(key, "does not read what it asks for");
                }
                return;
            }
            let pm = self.pm.clone();
            tokio::spawn(async move {
                let _ = pm.send(key, message).await;
                waiting.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }

    fn on_message(&mut self, key: PeerKey, message: Message) {
        let now = Instant::now();
        if !self.peers.contains_key(&key) {
            return;
        }
        let registered = self.peers.get(&key).is_some_and(|p| p.in_selector);
        tracing::trace!(torrent = %self.id, peer = key.0, kind = message.name(), "received");
        match message {
            Message::KeepAlive => {}
            Message::Choke => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.choking_us = true;
                }
                if registered {
                    if let Some(sel) = self.selector.as_mut() {
                        let _ = sel.peer_choked_us(now, sk(key));
                    }
                }
            }
            Message::Unchoke => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.choking_us = false;
                }
                if registered {
                    if let Some(sel) = self.selector.as_mut() {
                        let _ = sel.peer_unchoked_us(now, sk(key));
                    }
                }
            }
            Message::Interested => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.interested_in_us = true;
                }
                if registered {
                    if let Some(sel) = self.selector.as_mut() {
                        let _ = sel.peer_interested(now, sk(key));
                    }
                }
            }
            Message::NotInterested => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.interested_in_us = false;
                }
                if registered {
                    if let Some(sel) = self.selector.as_mut() {
                        let _ = sel.peer_not_interested(now, sk(key));
                    }
                }
            }
            Message::Have(piece) => self.on_have(key, piece, registered),
            Message::Bitfield(raw) => self.on_bitfield(key, raw, registered),
            Message::HaveAll | Message::HaveNone
                if self.peers.get(&key).is_some_and(|p| !p.fast()) =>
            {
                self.violation(key, "BEP 6 message without the fast extension");
            }
            Message::HaveAll => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.early_have_all = !registered;
                    p.seed = true;
                    p.pieces = None;
                }
                if registered {
                    if let Some(sel) = self.selector.as_mut() {
                        let _ = sel.peer_have_all(sk(key));
                    }
                }
            }
            Message::HaveNone if registered => {
                if let Some(sel) = self.selector.as_mut() {
                    let _ = sel.peer_have_none(sk(key));
                }
            }
            Message::Request(block) => self.on_request(key, block, now),
            Message::Piece(block) => self.on_piece(key, block, now),
            Message::Cancel(block) => {
                self.pending_uploads.remove(&(key, block));
            }
            Message::Reject(block) if registered => {
                if let Some(sel) = self.selector.as_mut() {
                    if sel.peer_rejected(now, sk(key), block).is_err() {
                        self.violation(key, "reject out of range");
                    }
                }
            }
            Message::Suggest(piece) if registered => {
                if let Some(sel) = self.selector.as_mut() {
                    let _ = sel.peer_suggest(sk(key), piece);
                }
            }
            Message::AllowedFast(piece) if registered => {
                if let Some(sel) = self.selector.as_mut() {
                    let _ = sel.peer_allowed_fast(sk(key), piece);
                }
            }
            Message::Port(port) => {
                if let (Some(dht), Some(p)) = (&self.services.dht, self.peers.get(&key)) {
                    if port != 0 {
                        let node = SocketAddr::new(p.addr.ip(), port);
                        let dht = dht.clone();
                        tokio::spawn(async move {
                            let _ = dht.add_node(node).await;
                        });
                    }
                }
            }
            Message::Extended { id, payload } => self.on_extended(key, id, payload, now),
            _ => {}
        }
    }

    fn on_have(&mut self, key: PeerKey, piece: PieceIndex, registered: bool) {
        let n = self.meta.as_ref().map(|m| m.num_pieces());
        if n.is_some_and(|n| piece.0 >= n) {
            self.violation(key, "have out of range");
            return;
        }
        if let Some(p) = self.peers.get_mut(&key) {
            if let Some(n) = n {
                p.note_have(piece.0, n);
            }
            if !registered && p.early_haves.len() < MAX_EARLY_HAVES {
                p.early_haves.push(piece.0);
            }
        }
        if registered {
            if let Some(sel) = self.selector.as_mut() {
                if sel.peer_have(sk(key), piece).is_err() {
                    self.violation(key, "have refused");
                }
            }
        }
    }

    fn on_bitfield(&mut self, key: PeerKey, raw: Bytes, registered: bool) {
        let Some(meta) = &self.meta else {
            if let Some(p) = self.peers.get_mut(&key) {
                p.early_bitfield = Some(raw);
            }
            return;
        };
        let bitfield = match Bitfield::from_payload(&raw, meta.num_pieces()) {
            Ok(b) => b,
            Err(e) => {
                self.drop_misbehaving(key, &format!("bitfield: {e}"));
                return;
            }
        };
        if let Some(p) = self.peers.get_mut(&key) {
            p.seed = false;
            p.pieces = Some(bitfield.clone());
            if !registered {
                p.early_bitfield = Some(raw);
                p.early_have_all = false;
            }
        }
        if registered {
            if let Some(sel) = self.selector.as_mut() {
                if let Err(e) = sel.peer_bitfield(sk(key), &bitfield) {
                    self.drop_misbehaving(key, &e.to_string());
                }
            }
        }
    }

    // ---- upload ----------------------------------------------------------

    fn on_request(&mut self, key: PeerKey, block: BlockRef, now: Instant) {
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        let fast = p.fast();
        let Some(sel) = self.selector.as_ref() else {
            if fast {
                self.send(key, Message::Reject(block));
            }
            return;
        };
        let piece_size = self
            .meta
            .as_ref()
            .and_then(|m| m.layout().piece_size(block.piece.0))
            .and_then(|s| u32::try_from(s).ok());
        let valid = piece_size.is_some_and(|size| block.fits_in(size))
            && block.length > 0
            && block.length <= MAX_REQUEST;
        if !valid || !sel.has_piece(block.piece) {
            if fast {
                self.send(key, Message::Reject(block));
            }
            self.violation(key, "request out of range or for a piece we lack");
            return;
        }
        if sel.is_choking(sk(key)) || p.uploads_pending >= MAX_UPLOADS_PER_PEER {
            // Requests just after a choke cross it on the wire: no violation.
            tracing::trace!(
                peer = key.0,
                choked = sel.is_choking(sk(key)),
                queued = p.uploads_pending,
                "request refused"
            );
            if fast {
                self.send(key, Message::Reject(block));
            }
            return;
        }
        if !self.pending_uploads.insert((key, block)) {
            return;
        }
        if let Some(p) = self.peers.get_mut(&key) {
            p.uploads_pending += 1;
        }
        let delay = self.services.upload.consume(u64::from(block.length), now);
        let disk = self.services.disk.clone();
        let info_hash = self.info_hash;
        let tx = self.internal.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result = disk.read_block(info_hash, block).await;
            let _ = tx
                .send(Internal::ReadDone {
                    peer: key,
                    block,
                    result,
                })
                .await;
        });
    }

    fn on_read_done(
        &mut self,
        key: PeerKey,
        block: BlockRef,
        result: Result<Bytes, bitswarm_disk::Error>,
        now: Instant,
    ) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.uploads_pending = p.uploads_pending.saturating_sub(1);
        }
        if !self.pending_uploads.remove(&(key, block)) {
            return;
        }
        match result {
            Ok(data) if data.len() == block.length as usize => {
                let len = data.len() as u64;
                self.uploaded += len;
                if let Some(sel) = self.selector.as_mut() {
                    let _ = sel.block_sent(now, sk(key), len);
                }
                self.send(
                    key,
                    Message::Piece(Block {
                        piece: block.piece,
                        offset: block.offset,
                        data,
                    }),
                );
            }
            Ok(_) | Err(_) => {
                if let Err(e) = result {
                    tracing::warn!(torrent = %self.id, ?block, error = %e, "block not read");
                }
                if self.peers.get(&key).is_some_and(PeerState::fast) {
                    self.send(key, Message::Reject(block));
                }
            }
        }
    }

    // ---- download --------------------------------------------------------

    fn on_piece(&mut self, key: PeerKey, block: Block, now: Instant) {
        let len = block.data.len() as u64;
        let delay = self.services.download.consume(len, now);
        if !delay.is_zero() {
            self.read_paused_until = Some(now + delay);
        }
        let registered = self.peers.get(&key).is_some_and(|p| p.in_selector);
        let Some(sel) = self.selector.as_mut().filter(|_| registered) else {
            return;
        };
        let block_ref = block.block_ref();
        match sel.block_received(now, sk(key), block_ref) {
            Ok(BlockOutcome::Accepted { .. }) => {}
            Ok(_) => return,
            Err(_) => {
                self.violation(key, "block out of range");
                return;
            }
        }
        self.downloaded += len;
        self.writes_in_flight += 1;
        let disk = self.services.disk.clone();
        let info_hash = self.info_hash;
        let tx = self.internal.clone();
        tokio::spawn(async move {
            let result = disk
                .write_block(info_hash, block_ref, block.data, BlockTag(key.0))
                .await;
            let _ = tx
                .send(Internal::WriteDone {
                    piece: block_ref.piece,
                    result,
                })
                .await;
        });
    }

    /// Executes what the selector decided.
    fn drain_actions(&mut self) {
        let Some(sel) = self.selector.as_mut() else {
            return;
        };
        let now = Instant::now();
        let mut actions = Vec::new();
        while let Some(a) = sel.poll_action(now) {
            actions.push(a);
        }
        for action in actions {
            let key = pk(action.peer());
            let message = match action {
                Action::Request { block, .. } => Message::Request(block),
                Action::Cancel { block, .. } => Message::Cancel(block),
                Action::Have { piece, .. } => Message::Have(piece),
                Action::Interested { .. } => Message::Interested,
                Action::NotInterested { .. } => Message::NotInterested,
                Action::Choke { .. } => {
                    let fast = self.peers.get(&key).is_some_and(PeerState::fast);
                    let dropped: Vec<BlockRef> = self
                        .pending_uploads
                        .iter()
                        .filter(|(k, _)| *k == key)
                        .map(|(_, b)| *b)
                        .collect();
                    self.pending_uploads.retain(|(k, _)| *k != key);
                    self.send(key, Message::Choke);
                    if fast {
                        for b in dropped {
                            self.send(key, Message::Reject(b));
                        }
                    }
                    continue;
                }
                Action::Unchoke { .. } => Message::Unchoke,
                _ => continue,
            };
            self.send(key, message);
        }
    }

    // ---- extensions --------------------------------------------------------

    fn on_extended(&mut self, key: PeerKey, id: u8, payload: Bytes, now: Instant) {
        let Ok(message) = ExtendedMessage::decode(id, payload, &ExtensionIds::OURS) else {
            self.violation(key, "undecodable extended message");
            return;
        };
        match message {
            ExtendedMessage::Handshake(hs) => {
                let ids = ExtensionIds::from_handshake(&hs);
                let mut source = false;
                if self.meta.is_none() && ids.ut_metadata != 0 {
                    if let Some(size) = hs.metadata_size {
                        source = self.fetch.offer_size(size);
                    }
                }
                if let Some(p) = self.peers.get_mut(&key) {
                    p.their_ids = Some(ids);
                    p.listen_port = hs.p;
                    p.metadata_source = source;
                }
                if source {
                    self.request_metadata(now);
                }
                self.send_initial_pex(key);
            }
            ExtendedMessage::UtMetadata(m) => self.on_ut_metadata(key, m, now),
            ExtendedMessage::UtPex(pex) => {
                if self.private() {
                    return;
                }
                for (addr, _) in pex.added.into_iter().take(MAX_PEX) {
                    self.add_candidate(addr, now, false);
                }
                self.connect_more(now);
            }
            _ => {}
        }
    }

    fn send_extended(&self, key: PeerKey, message: &ExtendedMessage) {
        let Some(ids) = self.peers.get(&key).and_then(|p| p.their_ids) else {
            return;
        };
        if let Some(m) = message.to_message(&ids) {
            self.send(key, m);
        }
    }

    fn on_ut_metadata(&mut self, key: PeerKey, message: UtMetadata, now: Instant) {
        match message {
            UtMetadata::Request { piece } => {
                let reply = match &self.meta {
                    Some(meta) => {
                        let info = meta.info_bytes();
                        let start = piece as usize * METADATA_PIECE_SIZE;
                        if start < info.len() {
                            let end = (start + METADATA_PIECE_SIZE).min(info.len());
                            UtMetadata::Data {
                                piece,
                                total_size: info.len() as u64,
                                data: info.slice(start..end),
                            }
                        } else {
                            UtMetadata::Reject { piece }
                        }
                    }
                    None => UtMetadata::Reject { piece },
                };
                self.send_extended(key, &ExtendedMessage::UtMetadata(reply));
            }
            UtMetadata::Data {
                piece,
                total_size,
                data,
            } => {
                if self.meta.is_some() {
                    return;
                }
                match self.fetch.received(key, piece, total_size, data) {
                    Received::Stored => self.request_metadata(now),
                    Received::Refused(why) => self.violation(key, why),
                    Received::Complete(bytes) => self.on_metadata(&bytes),
                }
            }
            UtMetadata::Reject { .. } => {
                self.fetch.forget_peer(key);
                if let Some(p) = self.peers.get_mut(&key) {
                    p.metadata_source = false;
                }
                self.request_metadata(now);
            }
        }
    }

    fn request_metadata(&mut self, now: Instant) {
        if self.meta.is_some() || !self.running() {
            return;
        }
        let mut sources: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.metadata_source)
            .map(|(k, _)| *k)
            .collect();
        sources.sort();
        for (peer, piece) in self.fetch.next_requests(now, &sources) {
            self.send_extended(
                peer,
                &ExtendedMessage::UtMetadata(UtMetadata::Request { piece }),
            );
        }
    }

    fn on_metadata(&mut self, info: &[u8]) {
        let Some(magnet) = &self.magnet else {
            return;
        };
        match magnet.to_metainfo(info) {
            Ok(meta) => {
                tracing::info!(torrent = %self.id, name = meta.name(), "metadata received");
                self.meta = Some(Arc::new(meta));
                self.services.emit(SessionEvent::MetadataReceived(self.id));
                self.dirty = true;
                self.prepare(false);
            }
            Err(e) => {
                tracing::info!(torrent = %self.id, error = %e, "metadata refused");
                let senders = self.fetch.reset();
                let addrs: Vec<SocketAddr> = senders
                    .iter()
                    .filter_map(|k| self.peers.get(k).map(|p| p.addr))
                    .collect();
                if let [only] = addrs[..] {
                    self.ban(only);
                } else {
                    for k in senders {
                        self.violation(k, "sent metadata of another torrent");
                    }
                }
            }
        }
    }

    /// The first PEX message to a peer: every peer we know the listen
    /// address of, right after its extension handshake.
    fn send_initial_pex(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        if self.private() || p.pex_started || p.their_ids.is_none_or(|ids| ids.ut_pex == 0) {
            return;
        }
        let own = p.listen_addr();
        let added: Vec<(SocketAddr, PexFlags)> = self
            .peers
            .values()
            .filter_map(PeerState::listen_addr)
            .filter(|a| Some(*a) != own)
            .take(MAX_PEX)
            .map(|a| (a, PexFlags::default()))
            .collect();
        if added.is_empty() {
            return;
        }
        let pex = UtPex {
            added,
            dropped: Vec::new(),
        };
        self.send_extended(key, &ExtendedMessage::UtPex(pex));
        if let Some(p) = self.peers.get_mut(&key) {
            p.pex_started = true;
        }
    }

    fn send_pex(&mut self) {
        if self.private() {
            return;
        }
        let current: HashSet<SocketAddr> = self
            .peers
            .values()
            .filter_map(PeerState::listen_addr)
            .collect();
        let added: Vec<SocketAddr> = current.difference(&self.pex_last).copied().collect();
        let dropped: Vec<SocketAddr> = self.pex_last.difference(&current).copied().collect();
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let Some(p) = self.peers.get(&key) else {
                continue;
            };
            if p.their_ids.is_none_or(|ids| ids.ut_pex == 0) {
                continue;
            }
            let own = p.listen_addr();
            let (add, drop): (Vec<SocketAddr>, Vec<SocketAddr>) = if p.pex_started {
                (added.clone(), dropped.clone())
            } else {
                (current.iter().copied().collect(), Vec::new())
            };
            let pex = UtPex {
                added: add
                    .into_iter()
                    .filter(|a| Some(*a) != own)
                    .take(MAX_PEX)
                    .map(|a| (a, PexFlags::default()))
                    .collect(),
                dropped: drop.into_iter().take(MAX_PEX).collect(),
            };
            if pex.added.is_empty() && pex.dropped.is_empty() {
                continue;
            }
            self.send_extended(key, &ExtendedMessage::UtPex(pex));
            if let Some(p) = self.peers.get_mut(&key) {
                p.pex_started = true;
            }
        }
        self.pex_last = current;
    }

    // ---- timers ------------------------------------------------------------

    fn on_tick(&mut self) {
        let now = Instant::now();
        self.connect_more(now);
        if self.meta.is_none() {
            self.request_metadata(now);
        }
        self.maybe_announce(now);
        self.maybe_dht(now);
        if now >= self.pex_next {
            self.pex_next = now + PEX_INTERVAL;
            self.send_pex();
        }
        if now >= self.resume_next {
            self.resume_next = now + RESUME_INTERVAL;
            if self.dirty && self.phase == Phase::Active {
                self.save_resume(None);
            }
        }
        self.make_room(now);
        // While seeding, other seeds are of no use to anyone.
        if self.is_complete() {
            if let Some(n) = self.meta.as_ref().map(|m| m.num_pieces()) {
                let seeds: Vec<PeerKey> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| {
                        p.in_selector
                            && p.have_count(n) >= n
                            && now.saturating_duration_since(p.connected_at)
                                > Duration::from_secs(10)
                    })
                    .map(|(k, _)| *k)
                    .collect();
                if self.selector.as_ref().is_some_and(Selector::is_seed) {
                    for k in seeds {
                        self.pm.disconnect(k);
                    }
                }
            }
        }
    }

    /// At the connection limit with addresses waiting, the least useful
    /// peer (connected a while, neither side interested) makes room.
    fn make_room(&mut self, now: Instant) {
        let limit = self.services.config.max_connections_per_torrent.max(1);
        if self.peers.len() < limit || self.candidates.len() == 0 {
            return;
        }
        let Some(sel) = self.selector.as_ref() else {
            return;
        };
        let idle = self
            .peers
            .iter()
            .filter(|(k, p)| {
                now.saturating_duration_since(p.connected_at) > USELESS_AFTER
                    && !p.interested_in_us
                    && !sel.is_interested_in(sk(**k))
            })
            .min_by_key(|(_, p)| p.connected_at)
            .map(|(k, _)| *k);
        if let Some(key) = idle {
            tracing::debug!(torrent = %self.id, peer = key.0, "dropping an idle peer for a new one");
            self.pm.disconnect(key);
        }
    }

    fn announce_request(&self, event: AnnounceEvent) -> AnnounceRequest {
        let left = match (&self.meta, &self.selector) {
            (Some(meta), Some(sel)) => {
                let left_pieces = u64::from(sel.stats().wanted_left);
                (left_pieces * meta.piece_length()).min(meta.total_length())
            }
            (Some(meta), None) => meta.total_length(),
            (None, _) => 16 * 1024,
        };
        AnnounceRequest {
            info_hash: self.info_hash.wire(),
            peer_id: self.services.config.peer_id,
            port: self.services.listen_port(),
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            left,
            event,
            num_want: if event == AnnounceEvent::Stopped {
                0
            } else {
                50
            },
        }
    }

    fn maybe_announce(&mut self, now: Instant) {
        if !self.running() || self.phase == Phase::Checking {
            return;
        }
        if self.announce_next.is_none_or(|t| now < t) {
            return;
        }
        let (Some(client), Some(mut tiers)) = (self.services.trackers.clone(), self.tiers.take())
        else {
            return;
        };
        let event = self.announce_event;
        let request = self.announce_request(event);
        self.announce_next = None;
        let tx = self.internal.clone();
        tokio::spawn(async move {
            let result = tiers.announce(&client, &request).await;
            let _ = tx
                .send(Internal::Announced {
                    tiers,
                    event,
                    result,
                })
                .await;
        });
    }

    fn on_announced(
        &mut self,
        tiers: TrackerTiers,
        event: AnnounceEvent,
        result: Result<AnnounceResponse, TrackerError>,
        now: Instant,
    ) {
        self.tiers = Some(tiers);
        if event == AnnounceEvent::Stopped {
            return;
        }
        match result {
            Ok(response) => {
                tracing::debug!(torrent = %self.id, peers = response.peers.len(), "announced");
                self.announce_failures = 0;
                if event == AnnounceEvent::Started || event == AnnounceEvent::Completed {
                    self.started_announced = true;
                }
                if self.announce_event == event {
                    self.announce_event = AnnounceEvent::None;
                }
                let interval = response
                    .interval
                    .max(response.min_interval.unwrap_or_default())
                    .clamp(MIN_ANNOUNCE, MAX_ANNOUNCE);
                if self.running() {
                    self.announce_next = Some(self.announce_next.unwrap_or(now + interval));
                }
                for addr in response.peers {
                    self.add_candidate(addr, now, false);
                }
                self.connect_more(now);
            }
            Err(e) => {
                tracing::debug!(torrent = %self.id, error = %e, "announce failed");
                // Once per run of failures, not at every retry.
                if self.announce_failures == 0 {
                    self.services
                        .emit(SessionEvent::TorrentError(self.id, e.to_string()));
                }
                self.announce_failures = self.announce_failures.saturating_add(1);
                let backoff = Duration::from_secs(15)
                    .saturating_mul(2u32.saturating_pow(self.announce_failures.min(7)))
                    .min(Duration::from_secs(1800));
                if self.running() {
                    self.announce_next = Some(self.announce_next.unwrap_or(now + backoff));
                }
            }
        }
    }

    /// A task announcing `stopped`, when `started` was announced.
    fn stop_announce_task(&mut self) -> Option<impl Future<Output = ()> + Send + 'static> {
        if !self.started_announced {
            return None;
        }
        let client = self.services.trackers.clone()?;
        // An announce in flight has the tiers; a fresh copy serves as well.
        let mut tiers = self
            .tiers
            .clone()
            .unwrap_or_else(|| TrackerTiers::new(self.tracker_list()));
        self.started_announced = false;
        let request = self.announce_request(AnnounceEvent::Stopped);
        Some(async move {
            let _ = tiers.announce(&client, &request).await;
        })
    }

    fn announce_stopped(&mut self) {
        if let Some(task) = self.stop_announce_task() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(STOP_ANNOUNCE_TIME, task).await;
            });
        }
    }

    fn tracker_list(&self) -> Vec<Vec<String>> {
        let mut t = match (&self.meta, &self.magnet) {
            (Some(m), _) => m.trackers(),
            (None, Some(m)) => m.trackers.iter().map(|t| vec![t.clone()]).collect(),
            (None, None) => Vec::new(),
        };
        t.retain(|tier| !tier.is_empty());
        t
    }

    fn maybe_dht(&mut self, now: Instant) {
        if self.dht_running || !self.running() || self.private() {
            return;
        }
        if self.dht_next.is_none_or(|t| now < t) {
            return;
        }
        let Some(dht) = self.services.dht.clone() else {
            return;
        };
        self.dht_running = true;
        self.dht_next = None;
        let target = bitswarm_dht::NodeId(self.info_hash.wire().0);
        let port = self.services.listen_port();
        let tx = self.internal.clone();
        tokio::spawn(async move {
            let mut found = Vec::new();
            let mut stream = dht.get_peers(target);
            let lookup = async {
                while let Some(addr) = stream.next().await {
                    found.push(addr);
                    if found.len() >= MAX_DHT_PEERS {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DHT_LOOKUP_TIME, lookup).await;
            let count = found.len();
            let _ = tx.send(Internal::DhtPeers(found)).await;
            if let Err(e) = dht.announce(target, Some(port)).await {
                tracing::debug!(error = %e, "DHT announce failed");
            }
            let _ = tx.send(Internal::DhtDone { found: count }).await;
        });
    }

    // ---- resume data -------------------------------------------------------

    /// A task that writes the resume file, when the session keeps them.
    fn resume_task(&mut self) -> Option<impl Future<Output = Result<(), Error>> + Send + 'static> {
        let dir = self.services.config.resume_dir.clone()?;
        self.dirty = false;
        let mut file = ResumeFile {
            torrent: self.meta.as_ref().map(|m| m.as_bytes().clone()),
            magnet: match (&self.meta, &self.magnet) {
                (None, Some(m)) => Some(m.to_string()),
                _ => None,
            },
            save_path: self.save_path.clone(),
            paused: self.paused,
            sequential: self.sequential,
            priorities: self.file_priorities.clone(),
            disk: None,
        };
        let registered = self.meta.is_some() && self.generation > 0;
        let checked = self.phase == Phase::Active;
        // Until the first check is done, the old resume data still holds.
        let old = self.resume.as_ref().and_then(|r| r.disk.clone());
        let disk = self.services.disk.clone();
        let info_hash = self.info_hash;
        let path = resume::path_for(&dir, self.id);
        Some(async move {
            file.disk = if registered && checked {
                // Only what is on disk counts: write the cache out first.
                if let Err(e) = disk.flush(info_hash).await {
                    tracing::debug!(error = %e, "flush before resume data failed");
                }
                match disk.resume_data(info_hash).await {
                    Ok(rd) => Some(rd),
                    Err(e) => {
                        tracing::warn!(error = %e, "no resume data from storage");
                        old
                    }
                }
            } else {
                old
            };
            resume::write_atomic(path, file.to_bytes()).await
        })
    }

    fn save_resume(&mut self, reply: Option<oneshot::Sender<Result<(), Error>>>) {
        match self.resume_task() {
            Some(task) => {
                tokio::spawn(async move {
                    let result = task.await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "resume data not saved");
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                });
            }
            None => {
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(()));
                }
            }
        }
    }

    // ---- status --------------------------------------------------------------

    fn rates(&self) -> (u64, u64) {
        let mut down = 0.0;
        let mut up = 0.0;
        for key in self.peers.keys() {
            if let Some(s) = self.pm.stats(*key) {
                down += s.download_rate;
                up += s.upload_rate;
            }
        }
        (down as u64, up as u64)
    }

    fn status(&self) -> TorrentStatus {
        let (download_rate, upload_rate) = self.rates();
        let (have, count) = match (&self.selector, &self.meta) {
            (Some(sel), _) => (sel.stats().completed, sel.layout().piece_count()),
            (None, Some(m)) => (0, m.num_pieces()),
            (None, None) => (0, 0),
        };
        let (progress, left) = match (&self.selector, &self.meta) {
            (Some(sel), Some(meta)) => {
                let stats = sel.stats();
                let wanted_left = u64::from(stats.wanted_left);
                let done = u64::from(stats.completed);
                let progress = if wanted_left == 0 {
                    1.0
                } else {
                    done as f64 / (done + wanted_left) as f64
                };
                (
                    progress,
                    (wanted_left * meta.piece_length()).min(meta.total_length()),
                )
            }
            _ => (0.0, 0),
        };
        let eta =
            (download_rate > 0 && left > 0).then(|| Duration::from_secs(left / download_rate));
        TorrentStatus {
            id: self.id,
            name: self
                .meta
                .as_ref()
                .map(|m| m.name().to_owned())
                .or_else(|| self.magnet.as_ref().and_then(|m| m.display_name.clone())),
            state: self.state(),
            progress,
            downloaded: self.downloaded,
            uploaded: self.uploaded,
            total_length: self.meta.as_ref().map(|m| m.total_length()),
            download_rate,
            upload_rate,
            peers: self.peers.len(),
            eta,
            error: self.error.clone(),
            save_path: self.save_path.clone(),
            pieces: (have, count),
        }
    }

    fn files(&self) -> Vec<FileStatus> {
        let Some(meta) = &self.meta else {
            return Vec::new();
        };
        let have = self.selector.as_ref().map(Selector::have_bitfield);
        let layout = meta.layout();
        meta.files()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut downloaded = 0u64;
                if let (Some(have), Some(range)) = (&have, layout.pieces_of_file(i)) {
                    for piece in range {
                        if !have.get(PieceIndex(piece)) {
                            continue;
                        }
                        if let Some(spans) = layout.piece_spans(piece) {
                            downloaded +=
                                spans.filter(|s| s.file == i).map(|s| s.length).sum::<u64>();
                        }
                    }
                }
                FileStatus {
                    path: f.path().components().join("/"),
                    length: f.length(),
                    downloaded,
                    priority: self.file_priorities.get(i).copied().unwrap_or(4),
                }
            })
            .collect()
    }

    fn peer_list(&self) -> Vec<PeerStatus> {
        let n = self.meta.as_ref().map_or(0, |m| m.num_pieces());
        let mut out: Vec<PeerStatus> = self
            .peers
            .iter()
            .map(|(key, p)| {
                let stats = self.pm.stats(*key).unwrap_or_default();
                PeerStatus {
                    addr: p.addr,
                    client: p.peer_id.client().map(|c| match c.name {
                        Some(name) => format!("{name} {}", c.version),
                        None => format!("{} {}", c.code, c.version),
                    }),
                    download_rate: stats.download_rate as u64,
                    upload_rate: stats.upload_rate as u64,
                    progress: if n == 0 {
                        0.0
                    } else {
                        f64::from(p.have_count(n)) / f64::from(n)
                    },
                }
            })
            .collect();
        out.sort_by_key(|p| p.addr);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((host, port))
    }

    #[test]
    fn a_lone_sender_is_banned_at_once() {
        let mut strikes = HashMap::new();
        let a = addr([10, 0, 0, 1], 1);
        assert_eq!(to_ban(vec![a, a, a], &mut strikes), vec![a]);
    }

    #[test]
    fn shared_failures_ban_at_the_second_strike() {
        let mut strikes = HashMap::new();
        let (a, b, c) = (
            addr([10, 0, 0, 1], 1),
            addr([10, 0, 0, 2], 1),
            addr([10, 0, 0, 3], 1),
        );
        assert!(to_ban(vec![a, b], &mut strikes).is_empty());
        assert_eq!(to_ban(vec![a, c], &mut strikes), vec![a]);
        // The same host from another port shares its strikes off loopback.
        assert_eq!(
            to_ban(vec![addr([10, 0, 0, 2], 9), c], &mut strikes).len(),
            2
        );
    }

    #[test]
    fn loopback_peers_are_told_apart_by_port() {
        assert_ne!(
            BanKey::of(addr([127, 0, 0, 1], 1)),
            BanKey::of(addr([127, 0, 0, 1], 2))
        );
        assert_eq!(
            BanKey::of(addr([192, 0, 2, 1], 1)),
            BanKey::of(addr([192, 0, 2, 1], 2))
        );
    }

    #[test]
    fn strikes_stay_bounded() {
        let mut strikes = HashMap::new();
        for i in 0..(MAX_BANNED as u32 * 3) {
            let ip = i.to_be_bytes();
            let _ = to_ban(vec![addr(ip, 1), addr([10, 9, 9, 9], 1)], &mut strikes);
            assert!(strikes.len() <= MAX_BANNED);
        }
    }
}
