//! Hashing a new torrent's content on all cores.
//!
//! The content is cut into jobs of whole pieces, about [`JOB_BYTES`] each.
//! Worker threads take jobs in stream order from a shared counter and read
//! each job sequentially, [`READ_BYTES`] at a time, into a buffer they
//! reuse; every part is hashed as soon as it is read, while it is still in
//! the core's cache, SHA-1 and SHA-256 in the same pass for a hybrid.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use sha1::{Digest, Sha1};

use crate::Error;
use crate::merkle::{self, MERKLE_BLOCK_SIZE, Node};

/// The bytes a job covers when pieces are small: large enough for
/// efficient reads, small enough to keep both cores busy to the end.
const JOB_BYTES: u64 = 4 << 20;

/// Bytes read at a time: small enough that the hashes find them in the
/// core's own cache, large enough that system calls cost nothing. A
/// multiple of 16 KiB, so that reads never split a merkle block.
const READ_BYTES: usize = 256 << 10;

/// Zeros fed to SHA-1 for the pad bytes after a file in a hybrid torrent.
static ZEROS: [u8; MERKLE_BLOCK_SIZE] = [0; MERKLE_BLOCK_SIZE];

/// Stops a running [`TorrentBuilder::build`](crate::TorrentBuilder::build)
/// from another thread; the build then returns [`Error::Cancelled`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work to stop as soon as the current pieces are hashed.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A file with data to hash.
pub(crate) struct DataFile<'a> {
    pub(crate) path: &'a Path,
    pub(crate) length: u64,
}

/// What to compute.
#[derive(Clone, Copy)]
pub(crate) enum Scheme {
    /// v1: pieces run across file boundaries.
    V1,
    /// v2 or hybrid: every file starts on a piece boundary. `v1` adds SHA-1
    /// pieces; `pad` hashes the zeros of the pad file after each file into
    /// its last v1 piece.
    Aligned { v1: bool, v2: bool, pad: bool },
}

/// The hashes of a torrent's content.
#[derive(Debug, Default)]
pub(crate) struct Hashes {
    /// SHA-1 per piece, in stream order.
    pub(crate) v1: Vec<[u8; 20]>,
    /// Per data file (in the order given): its piece layer.
    pub(crate) v2_layers: Vec<Vec<Node>>,
}

/// Where the work is reported and stopped.
pub(crate) struct Control<'a> {
    pub(crate) threads: usize,
    pub(crate) progress: Option<&'a (dyn Fn(u64) + Send + Sync)>,
    pub(crate) cancel: Option<&'a CancelToken>,
}

/// One job: `count` pieces from piece `first` of a file (aligned) or of the
/// stream (v1).
#[derive(Clone, Copy)]
struct Job {
    file: usize,
    first: u64,
    count: u64,
}

pub(crate) fn hash(
    files: &[DataFile<'_>],
    piece_length: u64,
    scheme: Scheme,
    control: &Control<'_>,
) -> Result<Hashes, Error> {
    let per_job = (JOB_BYTES / piece_length).max(1);
    let mut jobs = Vec::new();
    // Stream offsets where each file starts (v1).
    let mut starts = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for f in files {
        starts.push(total);
        total += f.length;
    }
    match scheme {
        Scheme::V1 => {
            let pieces = total.div_ceil(piece_length);
            let mut first = 0;
            while first < pieces {
                let count = per_job.min(pieces - first);
                jobs.push(Job {
                    file: 0,
                    first,
                    count,
                });
                first += count;
            }
        }
        Scheme::Aligned { .. } => {
            for (i, f) in files.iter().enumerate() {
                let pieces = f.length.div_ceil(piece_length);
                let mut first = 0;
                while first < pieces {
                    let count = per_job.min(pieces - first);
                    jobs.push(Job {
                        file: i,
                        first,
                        count,
                    });
                    first += count;
                }
            }
        }
    }

    let ctx = Shared {
        files,
        starts: &starts,
        total,
        piece_length,
        scheme,
        jobs: &jobs,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        hashed: AtomicU64::new(0),
        control,
    };
    let threads = control.threads.clamp(1, jobs.len().max(1));
    let results: Vec<Result<Vec<(usize, JobOutput)>, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| ctx.work())).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut outputs = Vec::with_capacity(jobs.len());
    let mut first_error = None;
    for r in results {
        match r {
            Ok(done) => outputs.extend(done),
            Err(e) => {
                // A real failure says more than the cancellation it caused.
                if first_error.is_none() || matches!(first_error, Some(Error::Cancelled)) {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if control.cancel.is_some_and(CancelToken::is_cancelled) {
        return Err(Error::Cancelled);
    }
    outputs.sort_by_key(|(j, _)| *j);

    let mut hashes = Hashes {
        v1: Vec::new(),
        v2_layers: vec![Vec::new(); files.len()],
    };
    for (j, out) in outputs {
        hashes.v1.extend(out.v1);
        hashes.v2_layers[jobs[j].file].extend(out.v2);
    }
    Ok(hashes)
}

#[derive(Default)]
struct JobOutput {
    v1: Vec<[u8; 20]>,
    v2: Vec<Node>,
}

struct Shared<'a> {
    files: &'a [DataFile<'a>],
    starts: &'a [u64],
    total: u64,
    piece_length: u64,
    scheme: Scheme,
    jobs: &'a [Job],
    next: AtomicUsize,
    stop: AtomicBool,
    hashed: AtomicU64,
    control: &'a Control<'a>,
}

/// A worker's open file, kept while consecutive jobs read it.
struct OpenFile {
    index: usize,
    file: File,
    pos: u64,
}

impl Shared<'_> {
    fn work(&self) -> Result<Vec<(usize, JobOutput)>, Error> {
        let result = self.work_inner();
        if result.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        result
    }

    fn work_inner(&self) -> Result<Vec<(usize, JobOutput)>, Error> {
        let mut buf = vec![0u8; READ_BYTES];
        let mut open: Option<OpenFile> = None;
        let mut done = Vec::new();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(done);
            }
            if self.control.cancel.is_some_and(CancelToken::is_cancelled) {
                return Err(Error::Cancelled);
            }
            let j = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&job) = self.jobs.get(j) else {
                return Ok(done);
            };
            let out = self.run_job(job, &mut buf, &mut open)?;
            done.push((j, out));
        }
    }

    fn report(&self, bytes: u64) {
        let now = self.hashed.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(progress) = self.control.progress {
            progress(now);
        }
    }

    /// Reads `buf.len()` bytes of file `index` from `offset`.
    fn read(
        &self,
        open: &mut Option<OpenFile>,
        index: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let path = self.files[index].path;
        let io = |what, e| Error::Io {
            what,
            path: path.to_path_buf(),
            source: e,
        };
        if open.as_ref().is_none_or(|o| o.index != index) {
            let file = File::open(path).map_err(|e| io("opening", e))?;
            *open = Some(OpenFile {
                index,
                file,
                pos: 0,
            });
        }
        let Some(o) = open.as_mut() else {
            return Ok(());
        };
        if o.pos != offset {
            o.file
                .seek(SeekFrom::Start(offset))
                .map_err(|e| io("reading", e))?;
        }
        o.file
            .read_exact(buf)
            .map_err(|e| io("reading (did the file change while it was hashed?)", e))?;
        o.pos = offset + buf.len() as u64;
        Ok(())
    }

    /// Reads `buf.len()` bytes of the v1 stream (all files end to end) from `at`.
    fn read_stream(
        &self,
        open: &mut Option<OpenFile>,
        at: u64,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let end = at + buf.len() as u64;
        let mut pos = at;
        let mut i = self.starts.partition_point(|&s| s <= at).saturating_sub(1);
        while pos < end {
            let f_start = self.starts[i];
            let f_end = f_start + self.files[i].length;
            if f_end > pos {
                let take = f_end.min(end) - pos;
                let dst = (pos - at) as usize;
                self.read(open, i, pos - f_start, &mut buf[dst..dst + take as usize])?;
                pos += take;
            }
            i += 1;
        }
        Ok(())
    }

    /// Hashes one job, reading it [`READ_BYTES`] at a time and feeding each
    /// part to the piece hashes while it is in the core's cache.
    fn run_job(
        &self,
        job: Job,
        buf: &mut [u8],
        open: &mut Option<OpenFile>,
    ) -> Result<JobOutput, Error> {
        let pl = self.piece_length;
        let (v1, v2, pad, limit) = match self.scheme {
            Scheme::V1 => (true, false, false, self.total),
            Scheme::Aligned { v1, v2, pad } => (v1, v2, pad, self.files[job.file].length),
        };
        let start = job.first * pl;
        let end = (start + job.count * pl).min(limit);
        // A file of one piece is its own tree; a piece of a larger file is a
        // subtree of `per_piece` leaves (BEP 52).
        let per_piece = (pl / MERKLE_BLOCK_SIZE as u64) as usize;
        let single_piece_file = limit <= pl;

        let mut out = JobOutput::default();
        let mut sha1 = v1.then(Sha1::new);
        let mut leaves: Vec<Node> = Vec::with_capacity(if v2 { per_piece } else { 0 });
        let mut piece_start = start;
        let mut piece_end = (start + pl).min(end);
        let mut at = start;
        while at < end {
            let n = (end - at).min(buf.len() as u64) as usize;
            let chunk = &mut buf[..n];
            match self.scheme {
                Scheme::V1 => self.read_stream(open, at, chunk)?,
                Scheme::Aligned { .. } => self.read(open, job.file, at, chunk)?,
            }
            // Parts start on 16 KiB boundaries of the file: reads and pieces
            // are multiples of 16 KiB from the job's start.
            let mut data: &[u8] = chunk;
            while !data.is_empty() {
                let take = ((piece_end - at) as usize).min(data.len());
                let (part, rest) = data.split_at(take);
                if let Some(h) = sha1.as_mut() {
                    h.update(part);
                }
                if v2 {
                    leaves.extend(part.chunks(MERKLE_BLOCK_SIZE).map(merkle::leaf));
                }
                at += take as u64;
                data = rest;
                if at < piece_end {
                    continue;
                }
                if let Some(mut h) = sha1.take() {
                    if pad {
                        // The pad file after this file is zeros (BEP 47).
                        let mut missing = (pl - (piece_end - piece_start)) as usize;
                        while missing > 0 {
                            let z = missing.min(ZEROS.len());
                            h.update(&ZEROS[..z]);
                            missing -= z;
                        }
                    }
                    out.v1.push(h.finalize().into());
                    sha1 = Some(Sha1::new());
                }
                if v2 {
                    let width = if single_piece_file {
                        leaves.len().next_power_of_two()
                    } else {
                        per_piece
                    };
                    out.v2.push(merkle::root_of(&leaves, 0, width));
                    leaves.clear();
                }
                piece_start = piece_end;
                piece_end = (piece_start + pl).min(end);
            }
        }
        self.report(end - start);
        Ok(out)
    }
}
