//! The DiskManager: a handle for commands and a stream of events.
//!
//! The manager is an actor: one tokio task owns every torrent's state; a
//! [`DiskHandle`] sends it commands over a bounded channel and awaits a
//! oneshot reply; [`DiskEvents`] receives what it reports. Hashing,
//! reading and writing run on tokio's blocking pool, at most one job per
//! hashing thread at a time, so the actor itself never blocks on a disk.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bitswarm_core::{BLOCK_SIZE, Bitfield, BlockRef, InfoHash, PieceIndex};
use bitswarm_metainfo::Info;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::cache::ReadCache;
use crate::check::{self, mtime_ns};
use crate::piece::{Expected, PieceHasher, Span, TorrentFiles, Verdict, blocks_in, index};
pub use crate::resume::ResumeData;
use crate::{Error, FileSystem};

/// How many commands may wait for the manager.
const COMMAND_CAPACITY: usize = 256;
/// How many events may wait for the consumer of [`DiskEvents`].
pub const EVENT_CAPACITY: usize = 1024;
/// How many job results may wait for the manager.
const DONE_CAPACITY: usize = 256;
/// How many contiguous blocks wait before a hashing job runs on them
/// (a complete piece is hashed whatever is left).
const HASH_RUN_BLOCKS: usize = 4;
/// How many reads of the read path may run at once.
const READ_JOBS: usize = 16;

/// Limits and sizes of a `DiskManager`.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    /// The most bytes of blocks held in the write cache, all torrents together.
    pub write_cache_bytes: usize,
    /// The most bytes of pieces held in the read cache.
    pub read_cache_bytes: usize,
    /// Threads that hash; 0 means one per core.
    pub hash_threads: usize,
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self {
            write_cache_bytes: 64 << 20,
            read_cache_bytes: 32 << 20,
            hash_threads: 0,
        }
    }
}

impl DiskConfig {
    /// The number of hashing threads: `hash_threads`, or one per core.
    fn threads(&self) -> usize {
        if self.hash_threads > 0 {
            self.hash_threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

/// A caller's tag on a written block, given back when its piece fails the
/// hash check: the session puts the sending peer's key here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockTag(pub u64);

/// Where a torrent's files live and what they should hold.
#[derive(Debug, Clone)]
pub struct TorrentStorage {
    /// The info dictionary: layout and piece hashes.
    pub info: Arc<Info>,
    /// The storage of its files. Each file's path given to it is relative:
    /// the layout's root folder (multi-file torrents) then the file's
    /// components, sanitised for the host (`FilePath::to_path_in("")`).
    pub fs: Arc<dyn FileSystem>,
}

/// How `DiskHandle::check` decides which pieces are present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckMode {
    /// Trust resume data for files whose size and modification time are
    /// unchanged; hash the pieces of other files.
    Resume(ResumeData),
    /// Hash every piece whose files exist.
    Full,
}

/// What the manager reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiskEvent {
    /// A piece passed every hash check and is on disk.
    PieceVerified {
        /// The torrent.
        info_hash: InfoHash,
        /// The piece.
        piece: PieceIndex,
    },
    /// A piece failed its hash check; its blocks were dropped.
    PieceFailed {
        /// The torrent.
        info_hash: InfoHash,
        /// The piece.
        piece: PieceIndex,
        /// Every block of the piece with the tag it was written with.
        blocks: Vec<(BlockRef, BlockTag)>,
    },
    /// Progress of a check.
    CheckProgress {
        /// The torrent.
        info_hash: InfoHash,
        /// Pieces checked so far.
        checked: u32,
        /// Pieces to check.
        total: u32,
    },
    /// An error. An `Error::Io` paused the torrent (writes return
    /// `Error::Paused` until `DiskHandle::resume_io`); an
    /// `Error::PieceHashUnknown` dropped the blocks of a piece that cannot
    /// be verified, and an `Error::BadResumeData` made a check hash
    /// everything: neither pauses.
    TorrentError {
        /// The torrent.
        info_hash: InfoHash,
        /// What failed.
        error: Error,
    },
}

/// Starts managers.
#[derive(Debug)]
pub struct DiskManager;

/// The write cache's byte budget, shared by the handles and the manager.
#[derive(Debug)]
struct Budget {
    semaphore: Arc<Semaphore>,
    total: usize,
    /// Bytes that callers of `write_block` are waiting for.
    waiting: AtomicUsize,
}

/// Commands to a running manager; cloneable. The manager stops when every
/// handle is dropped, or on [`DiskHandle::shutdown`].
#[derive(Debug, Clone)]
pub struct DiskHandle {
    commands: mpsc::Sender<Command>,
    budget: Arc<Budget>,
}

/// The manager's events: a `Stream` backed by a channel of
/// [`EVENT_CAPACITY`] events.
///
/// Keep reading it: when it is full the manager waits for room, and so do
/// the replies to every handle's commands. Dropping it discards events.
#[derive(Debug)]
pub struct DiskEvents {
    events: mpsc::Receiver<DiskEvent>,
}

impl futures::Stream for DiskEvents {
    type Item = DiskEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<DiskEvent>> {
        self.events.poll_recv(cx)
    }
}

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A read waiting for its piece to be loaded into the read cache.
type ReadWaiter = (BlockRef, Reply<Bytes>);

#[derive(Debug)]
enum Command {
    Add {
        info_hash: InfoHash,
        storage: TorrentStorage,
        reply: Reply<()>,
    },
    Check {
        info_hash: InfoHash,
        mode: CheckMode,
        reply: Reply<Bitfield>,
    },
    Write {
        info_hash: InfoHash,
        block: BlockRef,
        data: Bytes,
        tag: BlockTag,
        permit: OwnedSemaphorePermit,
        reply: Reply<()>,
    },
    Read {
        info_hash: InfoHash,
        block: BlockRef,
        reply: Reply<Bytes>,
    },
    Flush {
        info_hash: InfoHash,
        reply: Reply<()>,
    },
    ResumeData {
        info_hash: InfoHash,
        reply: Reply<ResumeData>,
    },
    ResumeIo {
        info_hash: InfoHash,
        reply: Reply<()>,
    },
    Remove {
        info_hash: InfoHash,
        delete_files: bool,
        reply: Reply<()>,
    },
    Have {
        info_hash: InfoHash,
        reply: Reply<Bitfield>,
    },
    /// A caller waits for room in the write cache.
    Pressure,
    Shutdown {
        reply: Reply<()>,
    },
}

impl DiskHandle {
    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)?
    }

    /// Starts serving a torrent. Nothing is read or created on disk until
    /// a check, a verified piece or a read needs it.
    pub async fn add_torrent(
        &self,
        info_hash: InfoHash,
        storage: TorrentStorage,
    ) -> Result<(), Error> {
        self.request(|reply| Command::Add {
            info_hash,
            storage,
            reply,
        })
        .await
    }

    /// Finds which pieces are present, with `CheckProgress` events; returns the verified pieces.
    ///
    /// The torrent's verified pieces are forgotten while it runs (reads of
    /// them fail) and are what the check found, plus pieces verified by
    /// writes meanwhile, when it ends. Resume data that does not belong to
    /// the torrent is reported as a `TorrentError` with
    /// `Error::BadResumeData` and a full check runs instead.
    pub async fn check(&self, info_hash: InfoHash, mode: CheckMode) -> Result<Bitfield, Error> {
        self.request(|reply| Command::Check {
            info_hash,
            mode,
            reply,
        })
        .await
    }

    /// Takes a block; waits while the write cache is full.
    ///
    /// Blocks are the standard ones of `BlockRef::blocks_of`: the offset a
    /// multiple of 16 KiB, the length 16 KiB or what is left of the piece.
    /// `Ok` means the block is held (acknowledged): it is hashed with its
    /// piece and written once the piece verifies, or given back in
    /// `PieceFailed`. A block of a piece already verified, or a second copy
    /// of a block held, is dropped (its tag is kept for `PieceFailed`).
    pub async fn write_block(
        &self,
        info_hash: InfoHash,
        block: BlockRef,
        data: Bytes,
        tag: BlockTag,
    ) -> Result<(), Error> {
        let length = data.len();
        let budget = &self.budget;
        let Some(permits) = u32::try_from(length)
            .ok()
            .filter(|_| length <= budget.total)
        else {
            return Err(Error::BlockTooLarge {
                length,
                budget: budget.total,
            });
        };
        let permit = match Arc::clone(&budget.semaphore).try_acquire_many_owned(permits) {
            Ok(permit) => permit,
            Err(_) => {
                let waiting = WaitingGuard::new(budget, length);
                // The manager makes room (see the crate docs): it may not
                // know yet that anyone waits.
                let _ = self.commands.try_send(Command::Pressure);
                let permit = Arc::clone(&budget.semaphore)
                    .acquire_many_owned(permits)
                    .await
                    .map_err(|_| Error::Shutdown)?;
                drop(waiting);
                permit
            }
        };
        self.request(|reply| Command::Write {
            info_hash,
            block,
            data,
            tag,
            permit,
            reply,
        })
        .await
    }

    /// Reads a block of a verified piece.
    pub async fn read_block(&self, info_hash: InfoHash, block: BlockRef) -> Result<Bytes, Error> {
        self.request(|reply| Command::Read {
            info_hash,
            block,
            reply,
        })
        .await
    }

    /// Writes out everything cached and syncs.
    ///
    /// Waits for the writes of pieces that verified before the call, then
    /// syncs every file written. Blocks of incomplete pieces stay in the
    /// write cache (they are not part of resume data). A paused torrent
    /// returns `Error::Paused`.
    pub async fn flush(&self, info_hash: InfoHash) -> Result<(), Error> {
        self.request(|reply| Command::Flush { info_hash, reply })
            .await
    }

    /// The resume data of a torrent now.
    ///
    /// Flushes first, then takes each file's length and modification time.
    pub async fn resume_data(&self, info_hash: InfoHash) -> Result<ResumeData, Error> {
        self.request(|reply| Command::ResumeData { info_hash, reply })
            .await
    }

    /// Clears the pause an I/O error put on a torrent. Pieces whose write
    /// failed are written again.
    pub async fn resume_io(&self, info_hash: InfoHash) -> Result<(), Error> {
        self.request(|reply| Command::ResumeIo { info_hash, reply })
            .await
    }

    /// Stops serving a torrent, deleting its files when asked.
    ///
    /// Waits for writes under way; blocks of pieces not yet written are
    /// dropped.
    pub async fn remove_torrent(
        &self,
        info_hash: InfoHash,
        delete_files: bool,
    ) -> Result<(), Error> {
        self.request(|reply| Command::Remove {
            info_hash,
            delete_files,
            reply,
        })
        .await
    }

    /// Bytes of blocks held in the write cache now, all torrents together:
    /// never more than `DiskConfig::write_cache_bytes`.
    pub fn write_cache_used(&self) -> usize {
        self.budget.total - self.budget.semaphore.available_permits()
    }

    /// The pieces of a torrent verified now.
    pub async fn have(&self, info_hash: InfoHash) -> Result<Bitfield, Error> {
        self.request(|reply| Command::Have { info_hash, reply })
            .await
    }

    /// Stops the manager: waits for writes under way, syncs every file
    /// written, and ends the event stream. Blocks of pieces not yet
    /// verified are dropped. Later commands return `Error::Shutdown`.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.request(|reply| Command::Shutdown { reply }).await
    }
}

/// Counts a caller's bytes in `Budget::waiting` while it waits.
struct WaitingGuard<'a> {
    budget: &'a Budget,
    bytes: usize,
}

impl<'a> WaitingGuard<'a> {
    fn new(budget: &'a Budget, bytes: usize) -> Self {
        budget.waiting.fetch_add(bytes, Ordering::SeqCst);
        Self { budget, bytes }
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.budget.waiting.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

impl DiskManager {
    /// Starts a manager; call it inside a tokio runtime.
    pub fn start(config: DiskConfig) -> (DiskHandle, DiskEvents) {
        let (commands, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let (done_tx, done_rx) = mpsc::channel(DONE_CAPACITY);
        let total = config.write_cache_bytes.min(Semaphore::MAX_PERMITS);
        let budget = Arc::new(Budget {
            semaphore: Arc::new(Semaphore::new(total)),
            total,
            waiting: AtomicUsize::new(0),
        });
        let threads = config.threads();
        let actor = Actor {
            commands: command_rx,
            events: events_tx,
            done_tx,
            done_rx,
            budget: Arc::clone(&budget),
            hash_jobs: Arc::new(Semaphore::new(threads)),
            read_jobs: Arc::new(Semaphore::new(READ_JOBS)),
            threads,
            read_cache: ReadCache::new(config.read_cache_bytes),
            pending_reads: HashMap::new(),
            torrents: HashMap::new(),
            next_job: 0,
            next_generation: 0,
            next_seq: 0,
            spilling: 0,
            shutdown: None,
        };
        tokio::spawn(actor.run());
        (DiskHandle { commands, budget }, DiskEvents { events })
    }
}

/// A block slot of a piece being received.
#[derive(Debug)]
enum Slot {
    Missing,
    /// Held in memory; the permit is its share of the write cache.
    Held {
        data: Bytes,
        _permit: OwnedSemaphorePermit,
    },
    /// Written to its files before the piece completed, to make room.
    Spilled,
}

/// A piece being received.
#[derive(Debug)]
struct Piece {
    /// Arrival order, oldest first, for spilling.
    seq: u64,
    size: u64,
    spans: Arc<Vec<Span>>,
    slots: Vec<Slot>,
    /// Every (block, tag) written, distinct, at most `max_tags`.
    tags: Vec<(BlockRef, BlockTag)>,
    /// `None` while a job has it.
    hasher: Option<Box<PieceHasher>>,
    /// Blocks hashed so far (a prefix).
    hashed: usize,
    /// A job works on the piece.
    busy: bool,
    /// Its hashes matched; its write failed and waits for `resume_io`.
    good: bool,
}

impl Piece {
    fn max_tags(&self) -> usize {
        self.slots.len() * 4 + 16
    }

    fn complete(&self) -> bool {
        self.slots.iter().all(|s| !matches!(s, Slot::Missing))
    }

    fn block_len(&self, i: usize) -> usize {
        let start = i as u64 * u64::from(BLOCK_SIZE);
        (self.size - start).min(u64::from(BLOCK_SIZE)) as usize
    }

    fn held(&self) -> Vec<(usize, Bytes)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Held { data, .. } => Some((i, data.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Work to do once every job started before it has ended.
#[derive(Debug)]
enum Barrier {
    Flush(Reply<()>),
    Resume(Reply<ResumeData>),
    Remove {
        delete_files: bool,
        reply: Reply<()>,
    },
}

#[derive(Debug)]
struct Torrent {
    files: Arc<TorrentFiles>,
    generation: u64,
    have: Bitfield,
    pieces: HashMap<u32, Piece>,
    paused: bool,
    removing: bool,
    checking: bool,
    cancel_check: Arc<AtomicBool>,
    /// Jobs under way, by id.
    in_flight: BTreeSet<u64>,
    /// Each waits for every job with a smaller id.
    barriers: Vec<(u64, Barrier)>,
}

/// What a job on a piece found.
#[derive(Debug)]
enum PieceOutcome {
    /// More blocks hashed; the piece is not complete.
    Hashed {
        hasher: Box<PieceHasher>,
        hashed: usize,
    },
    /// Hashes matched and the data is written.
    Verified,
    /// A hash did not match.
    Failed,
    /// A v2-only piece without a known hash.
    Unknown,
    /// Reading back a spilled block failed.
    ReadBack {
        hasher: Box<PieceHasher>,
        hashed: usize,
        error: Error,
    },
    /// Hashes matched; the write failed.
    WriteFailed(Error),
}

#[derive(Debug)]
enum DoneKind {
    Piece {
        piece: u32,
        outcome: PieceOutcome,
    },
    Spilled {
        piece: u32,
        blocks: Vec<usize>,
        bytes: usize,
        result: Result<(), Error>,
    },
    Check {
        result: Result<Bitfield, Error>,
        reply: Reply<Bitfield>,
    },
    /// A whole piece read for the read cache and its waiters.
    ReadPiece {
        piece: u32,
        result: Result<Bytes, Error>,
    },
    /// A block read past the cache.
    ReadBlock {
        result: Result<Bytes, Error>,
        reply: Reply<Bytes>,
    },
    /// A job that replied itself, maybe with an I/O error that pauses.
    Finished {
        error: Option<Error>,
    },
    /// A job panicked (a `FileSystem` bug): what it held is lost.
    Panicked {
        piece: Option<u32>,
    },
}

#[derive(Debug)]
struct Done {
    info_hash: InfoHash,
    generation: u64,
    /// The job's id when it counts for barriers.
    job: Option<u64>,
    kind: DoneKind,
}

struct Actor {
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<DiskEvent>,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    budget: Arc<Budget>,
    hash_jobs: Arc<Semaphore>,
    read_jobs: Arc<Semaphore>,
    threads: usize,
    read_cache: ReadCache,
    pending_reads: HashMap<(InfoHash, u32), Vec<ReadWaiter>>,
    torrents: HashMap<InfoHash, Torrent>,
    next_job: u64,
    next_generation: u64,
    next_seq: u64,
    /// Bytes being spilled now.
    spilling: usize,
    shutdown: Option<Reply<()>>,
}

impl Actor {
    async fn run(mut self) {
        loop {
            tokio::select! {
                biased;
                Some(done) = self.done_rx.recv() => self.on_done(done).await,
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    None => break,
                },
            }
            if self.shutdown.is_some() && self.try_finish_shutdown() {
                break;
            }
        }
        // Callers still waiting for room in the write cache get `Shutdown`.
        self.budget.semaphore.close();
        tracing::debug!("disk manager stopped");
    }

    async fn emit(&self, events: Vec<DiskEvent>) {
        for event in events {
            // A dropped DiskEvents discards events.
            let _ = self.events.send(event).await;
        }
    }

    /// A live torrent (not being removed).
    fn torrent(&mut self, info_hash: InfoHash) -> Result<&mut Torrent, Error> {
        match self.torrents.get_mut(&info_hash) {
            Some(t) if !t.removing => Ok(t),
            _ => Err(Error::UnknownTorrent(info_hash)),
        }
    }

    async fn on_command(&mut self, command: Command) {
        if self.shutdown.is_some() {
            reply_shutdown(command);
            return;
        }
        match command {
            Command::Add {
                info_hash,
                storage,
                reply,
            } => {
                let _ = reply.send(self.add(info_hash, storage));
            }
            Command::Check {
                info_hash,
                mode,
                reply,
            } => self.check(info_hash, mode, reply).await,
            Command::Write {
                info_hash,
                block,
                data,
                tag,
                permit,
                reply,
            } => {
                let result = self.write(info_hash, block, data, tag, permit);
                let _ = reply.send(result);
                self.advance(info_hash, block.piece.0);
                self.relieve();
            }
            Command::Read {
                info_hash,
                block,
                reply,
            } => self.read(info_hash, block, reply),
            Command::Flush { info_hash, reply } => {
                let state = self.torrent(info_hash).and_then(|t| {
                    if t.paused {
                        Err(Error::Paused(info_hash))
                    } else {
                        Ok(())
                    }
                });
                match state {
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                    Ok(()) => self.add_barrier(info_hash, Barrier::Flush(reply)),
                }
            }
            Command::ResumeData { info_hash, reply } => match self.torrent(info_hash).map(|_| ()) {
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
                Ok(()) => self.add_barrier(info_hash, Barrier::Resume(reply)),
            },
            Command::ResumeIo { info_hash, reply } => {
                let pieces = self.torrent(info_hash).map(|t| {
                    t.paused = false;
                    t.pieces.keys().copied().collect::<Vec<u32>>()
                });
                match pieces {
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                    Ok(pieces) => {
                        let _ = reply.send(Ok(()));
                        for piece in pieces {
                            self.advance(info_hash, piece);
                        }
                        self.relieve();
                    }
                }
            }
            Command::Remove {
                info_hash,
                delete_files,
                reply,
            } => {
                let state = self.torrent(info_hash).map(|t| {
                    t.removing = true;
                    t.cancel_check.store(true, Ordering::Relaxed);
                });
                match state {
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                    Ok(()) => self.add_barrier(
                        info_hash,
                        Barrier::Remove {
                            delete_files,
                            reply,
                        },
                    ),
                }
            }
            Command::Have { info_hash, reply } => {
                let _ = reply.send(self.torrent(info_hash).map(|t| t.have.clone()));
            }
            Command::Pressure => self.relieve(),
            Command::Shutdown { reply } => {
                for t in self.torrents.values() {
                    t.cancel_check.store(true, Ordering::Relaxed);
                }
                self.shutdown = Some(reply);
            }
        }
    }

    fn add(&mut self, info_hash: InfoHash, storage: TorrentStorage) -> Result<(), Error> {
        if self.torrents.contains_key(&info_hash) {
            return Err(Error::DuplicateTorrent(info_hash));
        }
        let files = TorrentFiles::new(storage.info, storage.fs)?;
        let have = Bitfield::new(files.num_pieces());
        self.next_generation += 1;
        self.torrents.insert(
            info_hash,
            Torrent {
                files: Arc::new(files),
                generation: self.next_generation,
                have,
                pieces: HashMap::new(),
                paused: false,
                removing: false,
                checking: false,
                cancel_check: Arc::new(AtomicBool::new(false)),
                in_flight: BTreeSet::new(),
                barriers: Vec::new(),
            },
        );
        Ok(())
    }

    async fn check(&mut self, info_hash: InfoHash, mode: CheckMode, reply: Reply<Bitfield>) {
        let threads = self.threads;
        let events = self.events.clone();
        let done = self.done_tx.clone();
        let t = match self.torrent(info_hash) {
            Ok(t) => t,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if t.checking {
            let _ = reply.send(Err(Error::CheckInProgress(info_hash)));
            return;
        }
        let mut rejected = None;
        let resume = match mode {
            CheckMode::Full => None,
            CheckMode::Resume(data) => {
                let num_pieces = t.files.num_pieces();
                let num_files = t.files.info.layout().files().len();
                if data.info_hash != info_hash {
                    rejected = Some("it belongs to another torrent".to_owned());
                    None
                } else if data.have.len() != num_pieces {
                    rejected = Some(format!(
                        "{} pieces, the torrent has {num_pieces}",
                        data.have.len()
                    ));
                    None
                } else if data.files.len() != num_files {
                    rejected = Some(format!(
                        "{} files, the torrent has {num_files}",
                        data.files.len()
                    ));
                    None
                } else {
                    Some(data)
                }
            }
        };
        t.checking = true;
        t.have = Bitfield::new(t.files.num_pieces());
        let files = Arc::clone(&t.files);
        let cancel = Arc::clone(&t.cancel_check);
        let generation = t.generation;
        self.read_cache.remove_torrent(info_hash);
        if let Some(why) = rejected {
            tracing::warn!(%info_hash, "resume data rejected: {why}");
            self.emit(vec![DiskEvent::TorrentError {
                info_hash,
                error: Error::BadResumeData(why),
            }])
            .await;
        }
        tokio::spawn(async move {
            let job = tokio::task::spawn_blocking(move || {
                let progress = |checked, total| {
                    let _ = events.blocking_send(DiskEvent::CheckProgress {
                        info_hash,
                        checked,
                        total,
                    });
                };
                check::check(&files, resume.as_ref(), threads, &cancel, &progress)
            });
            let result = match job.await {
                Ok(result) => result,
                Err(_) => Err(panicked_io("check")),
            };
            let _ = done
                .send(Done {
                    info_hash,
                    generation,
                    job: None,
                    kind: DoneKind::Check { result, reply },
                })
                .await;
        });
    }

    fn write(
        &mut self,
        info_hash: InfoHash,
        block: BlockRef,
        data: Bytes,
        tag: BlockTag,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), Error> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let t = self.torrent(info_hash)?;
        if t.paused {
            return Err(Error::Paused(info_hash));
        }
        let out_of_range = Error::BlockOutOfRange {
            piece: block.piece,
            offset: block.offset,
            length: block.length,
        };
        let piece = block.piece.0;
        let size = t.files.piece_size(piece);
        let standard = size > 0
            && block.offset % BLOCK_SIZE == 0
            && u64::from(block.offset) < size
            && u64::from(block.length)
                == (size - u64::from(block.offset)).min(u64::from(BLOCK_SIZE))
            && data.len() == block.length as usize;
        if !standard {
            return Err(out_of_range);
        }
        if t.have.get(block.piece) {
            return Ok(());
        }
        let files = Arc::clone(&t.files);
        let p = t.pieces.entry(piece).or_insert_with(|| Piece {
            seq,
            size,
            spans: Arc::new(files.spans(piece)),
            slots: (0..blocks_in(size)).map(|_| Slot::Missing).collect(),
            tags: Vec::new(),
            hasher: Some(Box::new(PieceHasher::new(Expected::of(&files, piece)))),
            hashed: 0,
            busy: false,
            good: false,
        });
        if !p.tags.contains(&(block, tag)) && p.tags.len() < p.max_tags() {
            p.tags.push((block, tag));
        }
        let i = (block.offset / BLOCK_SIZE) as usize;
        if let Some(slot @ Slot::Missing) = p.slots.get_mut(i) {
            *slot = Slot::Held {
                data,
                _permit: permit,
            };
        }
        Ok(())
    }

    /// Starts the next job a piece needs, if any.
    fn advance(&mut self, info_hash: InfoHash, piece: u32) {
        let job = self.next_job;
        let Some(t) = self.torrents.get_mut(&info_hash) else {
            return;
        };
        if t.paused || t.removing {
            return;
        }
        let Some(p) = t.pieces.get_mut(&piece) else {
            return;
        };
        if p.busy {
            return;
        }
        let files = Arc::clone(&t.files);
        let spans = Arc::clone(&p.spans);
        let work: Box<dyn FnOnce() -> PieceOutcome + Send> = if p.good {
            let writes = p.held();
            Box::new(move || write_piece(&files, &spans, &writes))
        } else {
            let mut end = p.hashed;
            while end < p.slots.len() && !matches!(p.slots[end], Slot::Missing) {
                end += 1;
            }
            let complete = end == p.slots.len() && p.complete();
            // Hash in runs of a few blocks, not one job per block.
            if !complete && end - p.hashed < HASH_RUN_BLOCKS {
                return;
            }
            let Some(mut hasher) = p.hasher.take() else {
                return;
            };
            let from = p.hashed;
            let segments: Vec<(usize, usize, Option<Bytes>)> = (from..end)
                .map(|i| {
                    let data = match &p.slots[i] {
                        Slot::Held { data, .. } => Some(data.clone()),
                        _ => None,
                    };
                    (i, p.block_len(i), data)
                })
                .collect();
            let writes = if complete { p.held() } else { Vec::new() };
            Box::new(move || {
                let mut hashed = from;
                let mut buf = Vec::new();
                for (i, len, data) in segments {
                    let bytes: &[u8] = match &data {
                        Some(b) => b,
                        None => {
                            buf.resize(len, 0);
                            let at = i as u64 * u64::from(BLOCK_SIZE);
                            if let Err(error) = files.read(&spans, at, &mut buf, true) {
                                return PieceOutcome::ReadBack {
                                    hasher,
                                    hashed,
                                    error,
                                };
                            }
                            &buf
                        }
                    };
                    hasher.update(bytes);
                    hashed = i + 1;
                }
                if !complete {
                    return PieceOutcome::Hashed { hasher, hashed };
                }
                match hasher.finish() {
                    Verdict::Good => write_piece(&files, &spans, &writes),
                    Verdict::Bad => PieceOutcome::Failed,
                    Verdict::Unknown => PieceOutcome::Unknown,
                }
            })
        };
        p.busy = true;
        t.in_flight.insert(job);
        self.next_job += 1;
        let generation = t.generation;
        self.spawn(
            Arc::clone(&self.hash_jobs),
            info_hash,
            generation,
            Some(job),
            Some(piece),
            move || DoneKind::Piece {
                piece,
                outcome: work(),
            },
        );
    }

    /// Runs `work` on the blocking pool under a permit of `limit`, and
    /// sends what it did back to the actor.
    fn spawn(
        &self,
        limit: Arc<Semaphore>,
        info_hash: InfoHash,
        generation: u64,
        job: Option<u64>,
        piece: Option<u32>,
        work: impl FnOnce() -> DoneKind + Send + 'static,
    ) {
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let permit = limit.acquire_owned().await;
            let kind = match tokio::task::spawn_blocking(work).await {
                Ok(kind) => kind,
                Err(_) => DoneKind::Panicked { piece },
            };
            drop(permit);
            let _ = done
                .send(Done {
                    info_hash,
                    generation,
                    job,
                    kind,
                })
                .await;
        });
    }

    /// While callers wait for more of the write cache than is free, writes
    /// the blocks of the oldest incomplete pieces to their files (they are
    /// read back to be hashed when their piece completes).
    fn relieve(&mut self) {
        loop {
            let waiting = self.budget.waiting.load(Ordering::SeqCst);
            if waiting == 0 || waiting <= self.budget.semaphore.available_permits() + self.spilling
            {
                return;
            }
            let oldest = self
                .torrents
                .iter()
                .filter(|(_, t)| !t.paused && !t.removing)
                .flat_map(|(ih, t)| {
                    t.pieces.iter().filter_map(move |(&piece, p)| {
                        let spillable = !p.busy
                            && !p.good
                            && !p.complete()
                            && p.slots.iter().any(|s| matches!(s, Slot::Held { .. }));
                        spillable.then_some((p.seq, *ih, piece))
                    })
                })
                .min();
            let Some((_, info_hash, piece)) = oldest else {
                return;
            };
            let job = self.next_job;
            let Some(t) = self.torrents.get_mut(&info_hash) else {
                return;
            };
            let Some(p) = t.pieces.get_mut(&piece) else {
                return;
            };
            let writes = p.held();
            let bytes: usize = writes.iter().map(|(_, b)| b.len()).sum();
            let blocks: Vec<usize> = writes.iter().map(|(i, _)| *i).collect();
            p.busy = true;
            t.in_flight.insert(job);
            self.next_job += 1;
            self.spilling += bytes;
            let files = Arc::clone(&t.files);
            let spans = Arc::clone(&p.spans);
            let generation = t.generation;
            tracing::debug!(%info_hash, piece, bytes, "write cache full: spilling a piece");
            self.spawn(
                Arc::clone(&self.hash_jobs),
                info_hash,
                generation,
                Some(job),
                Some(piece),
                move || {
                    let result = writes.iter().try_for_each(|(i, data)| {
                        files.write(&spans, *i as u64 * u64::from(BLOCK_SIZE), data)
                    });
                    DoneKind::Spilled {
                        piece,
                        blocks,
                        bytes,
                        result,
                    }
                },
            );
        }
    }

    fn read(&mut self, info_hash: InfoHash, block: BlockRef, reply: Reply<Bytes>) {
        let t = match self.torrent(info_hash) {
            Ok(t) => t,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let piece = block.piece.0;
        let size = t.files.piece_size(piece);
        let fits = size > 0
            && block.length > 0
            && u64::from(block.offset) + u64::from(block.length) <= size;
        if !fits {
            let _ = reply.send(Err(Error::BlockOutOfRange {
                piece: block.piece,
                offset: block.offset,
                length: block.length,
            }));
            return;
        }
        if !t.have.get(block.piece) {
            let _ = reply.send(Err(Error::PieceNotVerified(block.piece)));
            return;
        }
        let files = Arc::clone(&t.files);
        let generation = t.generation;
        let key = (info_hash, piece);
        if !self.read_cache.fits(size as usize) {
            self.spawn(
                Arc::clone(&self.read_jobs),
                info_hash,
                generation,
                None,
                None,
                move || {
                    let spans = files.spans(piece);
                    let mut buf = vec![0; block.length as usize];
                    let result = files
                        .read(&spans, u64::from(block.offset), &mut buf, true)
                        .map(|()| Bytes::from(buf));
                    DoneKind::ReadBlock { result, reply }
                },
            );
            return;
        }
        if let Some(data) = self.read_cache.get(key) {
            let _ = reply.send(Ok(slice_block(&data, block)));
            return;
        }
        let waiters = self.pending_reads.entry(key).or_default();
        waiters.push((block, reply));
        if waiters.len() > 1 {
            return;
        }
        self.spawn(
            Arc::clone(&self.read_jobs),
            info_hash,
            generation,
            None,
            None,
            move || {
                let spans = files.spans(piece);
                let mut buf = vec![0; size as usize];
                let result = files
                    .read(&spans, 0, &mut buf, true)
                    .map(|()| Bytes::from(buf));
                DoneKind::ReadPiece { piece, result }
            },
        );
    }

    fn add_barrier(&mut self, info_hash: InfoHash, barrier: Barrier) {
        let job = self.next_job;
        self.next_job += 1;
        if let Some(t) = self.torrents.get_mut(&info_hash) {
            t.barriers.push((job, barrier));
        }
        self.fire_barriers(info_hash);
    }

    /// Runs the barriers of a torrent that no job under way holds back.
    fn fire_barriers(&mut self, info_hash: InfoHash) {
        loop {
            let Some(t) = self.torrents.get_mut(&info_hash) else {
                return;
            };
            let oldest_job = t.in_flight.first().copied().unwrap_or(u64::MAX);
            let Some(pos) = t.barriers.iter().position(|(id, _)| *id < oldest_job) else {
                return;
            };
            let (_, barrier) = t.barriers.remove(pos);
            let files = Arc::clone(&t.files);
            let generation = t.generation;
            match barrier {
                Barrier::Flush(reply) => {
                    self.spawn(
                        Arc::clone(&self.read_jobs),
                        info_hash,
                        generation,
                        None,
                        None,
                        move || {
                            let result = sync_all(&files);
                            let error = result.as_ref().err().map(Error::duplicate);
                            let _ = reply.send(result);
                            DoneKind::Finished { error }
                        },
                    );
                }
                Barrier::Resume(reply) => {
                    let have = t.have.clone();
                    self.spawn(
                        Arc::clone(&self.read_jobs),
                        info_hash,
                        generation,
                        None,
                        None,
                        move || {
                            let result = sync_all(&files).and_then(|()| {
                                let meta = check::file_metadata(&files)?;
                                Ok(ResumeData {
                                    info_hash,
                                    have,
                                    files: meta
                                        .iter()
                                        .map(|m| m.as_ref().map(|m| (m.length, mtime_ns(m))))
                                        .collect(),
                                })
                            });
                            let error = result.as_ref().err().map(Error::duplicate);
                            let _ = reply.send(result);
                            DoneKind::Finished { error }
                        },
                    );
                }
                Barrier::Remove {
                    delete_files,
                    reply,
                } => {
                    // Replies waiting on the torrent get an answer.
                    if let Some(t) = self.torrents.remove(&info_hash) {
                        for (_, b) in t.barriers {
                            reply_barrier_gone(b, info_hash);
                        }
                    }
                    self.read_cache.remove_torrent(info_hash);
                    let keys: Vec<_> = self
                        .pending_reads
                        .keys()
                        .filter(|(ih, _)| *ih == info_hash)
                        .copied()
                        .collect();
                    for key in keys {
                        for (_, waiter) in self.pending_reads.remove(&key).unwrap_or_default() {
                            let _ = waiter.send(Err(Error::UnknownTorrent(info_hash)));
                        }
                    }
                    if !delete_files {
                        let _ = reply.send(Ok(()));
                        return;
                    }
                    self.spawn(
                        Arc::clone(&self.read_jobs),
                        info_hash,
                        generation,
                        None,
                        None,
                        move || {
                            let _ = reply.send(delete_all(&files));
                            DoneKind::Finished { error: None }
                        },
                    );
                    return;
                }
            }
        }
    }

    async fn on_done(&mut self, done: Done) {
        let info_hash = done.info_hash;
        let mut events = Vec::new();
        let Some(t) = self
            .torrents
            .get_mut(&info_hash)
            .filter(|t| t.generation == done.generation)
        else {
            // The torrent is gone: answer who waits.
            match done.kind {
                DoneKind::Check { reply, .. } => {
                    let _ = reply.send(Err(Error::UnknownTorrent(info_hash)));
                }
                DoneKind::ReadBlock { reply, .. } => {
                    let _ = reply.send(Err(Error::UnknownTorrent(info_hash)));
                }
                DoneKind::Spilled { bytes, .. } => self.spilling -= bytes,
                _ => {}
            }
            return;
        };
        if let Some(job) = done.job {
            t.in_flight.remove(&job);
        }
        let mut to_advance = None;
        match done.kind {
            DoneKind::Piece { piece, outcome } => {
                if let Some(p) = t.pieces.get_mut(&piece) {
                    p.busy = false;
                    match outcome {
                        PieceOutcome::Hashed { hasher, hashed } => {
                            p.hasher = Some(hasher);
                            p.hashed = hashed;
                            to_advance = Some(piece);
                        }
                        PieceOutcome::Verified => {
                            t.pieces.remove(&piece);
                            let _ = t.have.set(index(piece), true);
                            events.push(DiskEvent::PieceVerified {
                                info_hash,
                                piece: index(piece),
                            });
                        }
                        PieceOutcome::Failed => {
                            if let Some(p) = t.pieces.remove(&piece) {
                                tracing::debug!(%info_hash, piece, "piece failed its hash check");
                                events.push(DiskEvent::PieceFailed {
                                    info_hash,
                                    piece: index(piece),
                                    blocks: p.tags,
                                });
                            }
                        }
                        PieceOutcome::Unknown => {
                            t.pieces.remove(&piece);
                            events.push(DiskEvent::TorrentError {
                                info_hash,
                                error: Error::PieceHashUnknown(index(piece)),
                            });
                        }
                        PieceOutcome::ReadBack {
                            hasher,
                            hashed,
                            error,
                        } => {
                            p.hasher = Some(hasher);
                            p.hashed = hashed;
                            pause(t, info_hash, error, &mut events);
                        }
                        PieceOutcome::WriteFailed(error) => {
                            p.good = true;
                            p.hasher = None;
                            pause(t, info_hash, error, &mut events);
                        }
                    }
                }
            }
            DoneKind::Spilled {
                piece,
                blocks,
                bytes,
                result,
            } => {
                self.spilling -= bytes;
                if let Some(p) = t.pieces.get_mut(&piece) {
                    p.busy = false;
                    match result {
                        Ok(()) => {
                            for i in blocks {
                                p.slots[i] = Slot::Spilled;
                            }
                            to_advance = Some(piece);
                        }
                        Err(error) => pause(t, info_hash, error, &mut events),
                    }
                }
            }
            DoneKind::Check { result, reply } => {
                t.checking = false;
                match result {
                    Ok(found) => {
                        for piece in found.iter_ones() {
                            let _ = t.have.set(piece, true);
                        }
                        let _ = reply.send(Ok(t.have.clone()));
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error.duplicate()));
                        pause(t, info_hash, error, &mut events);
                    }
                }
            }
            DoneKind::ReadPiece { piece, result } => {
                let waiters = self
                    .pending_reads
                    .remove(&(info_hash, piece))
                    .unwrap_or_default();
                match result {
                    Ok(data) => {
                        for (block, reply) in waiters {
                            let _ = reply.send(Ok(slice_block(&data, block)));
                        }
                        if t.have.get(index(piece)) {
                            self.read_cache.insert((info_hash, piece), data);
                        }
                    }
                    Err(error) => {
                        for (_, reply) in waiters {
                            let _ = reply.send(Err(error.duplicate()));
                        }
                        pause(t, info_hash, error, &mut events);
                    }
                }
            }
            DoneKind::ReadBlock { result, reply } => {
                if let Err(error) = &result {
                    pause(t, info_hash, error.duplicate(), &mut events);
                }
                let _ = reply.send(result);
            }
            DoneKind::Finished { error } => {
                if let Some(error) = error {
                    pause(t, info_hash, error, &mut events);
                }
            }
            DoneKind::Panicked { piece } => {
                if let Some(piece) = piece {
                    t.pieces.remove(&piece);
                }
                pause(t, info_hash, panicked_io("job"), &mut events);
            }
        }
        if let Some(piece) = to_advance {
            self.advance(info_hash, piece);
        }
        self.fire_barriers(info_hash);
        self.relieve();
        self.emit(events).await;
    }

    /// Ends a shutdown once no job is under way: syncs and replies.
    fn try_finish_shutdown(&mut self) -> bool {
        if self.torrents.values().any(|t| !t.in_flight.is_empty()) {
            return false;
        }
        let Some(reply) = self.shutdown.take() else {
            return false;
        };
        // Barriers still waiting get `Error::Shutdown` when the actor drops them.
        let all: Vec<Arc<TorrentFiles>> = self
            .torrents
            .values()
            .map(|t| Arc::clone(&t.files))
            .collect();
        tokio::task::spawn_blocking(move || {
            let result = all.iter().try_for_each(|f| sync_all(f));
            let _ = reply.send(result);
        });
        true
    }
}

/// Pauses a torrent after an I/O error and reports it.
fn pause(t: &mut Torrent, info_hash: InfoHash, error: Error, events: &mut Vec<DiskEvent>) {
    tracing::warn!(%info_hash, "torrent paused: {error}");
    t.paused = true;
    events.push(DiskEvent::TorrentError { info_hash, error });
}

fn panicked_io(what: &str) -> Error {
    Error::Io {
        op: "job",
        path: String::new(),
        source: std::io::Error::other(format!("the file system panicked in a {what}")),
    }
}

/// Writes the held blocks of a verified piece and creates its empty files.
fn write_piece(files: &TorrentFiles, spans: &[Span], writes: &[(usize, Bytes)]) -> PieceOutcome {
    let result = files.create_empty_files(spans).and_then(|()| {
        writes
            .iter()
            .try_for_each(|(i, data)| files.write(spans, *i as u64 * u64::from(BLOCK_SIZE), data))
    });
    match result {
        Ok(()) => PieceOutcome::Verified,
        Err(e) => PieceOutcome::WriteFailed(e),
    }
}

fn sync_all(files: &TorrentFiles) -> Result<(), Error> {
    for i in files.opened_files() {
        let path = &files.paths[i];
        files
            .fs
            .sync(path)
            .map_err(|e| Error::io("sync", path, e))?;
    }
    Ok(())
}

fn delete_all(files: &TorrentFiles) -> Result<(), Error> {
    let entries = files.info.layout().files();
    for (f, path) in entries.iter().zip(&files.paths) {
        if f.is_pad() {
            continue;
        }
        files
            .fs
            .remove(path)
            .map_err(|e| Error::io("remove", path, e))?;
    }
    files.forget_opened();
    Ok(())
}

fn slice_block(piece: &Bytes, block: BlockRef) -> Bytes {
    let from = (block.offset as usize).min(piece.len());
    let to = (from + block.length as usize).min(piece.len());
    piece.slice(from..to)
}

fn reply_barrier_gone(barrier: Barrier, info_hash: InfoHash) {
    let gone = || Error::UnknownTorrent(info_hash);
    match barrier {
        Barrier::Flush(reply) => {
            let _ = reply.send(Err(gone()));
        }
        Barrier::Resume(reply) => {
            let _ = reply.send(Err(gone()));
        }
        Barrier::Remove { reply, .. } => {
            let _ = reply.send(Err(gone()));
        }
    }
}

fn reply_shutdown(command: Command) {
    fn no<T>(reply: Reply<T>) {
        let _ = reply.send(Err(Error::Shutdown));
    }
    match command {
        Command::Add { reply, .. }
        | Command::Write { reply, .. }
        | Command::Flush { reply, .. }
        | Command::ResumeIo { reply, .. }
        | Command::Remove { reply, .. }
        | Command::Shutdown { reply } => no(reply),
        Command::Check { reply, .. } | Command::Have { reply, .. } => no(reply),
        Command::Read { reply, .. } => no(reply),
        Command::ResumeData { reply, .. } => no(reply),
        Command::Pressure => {}
    }
}
