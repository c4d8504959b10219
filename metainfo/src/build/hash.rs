//! Hashing a new torrent's content on all cores.
//!
//! The content is cut into jobs of whole pieces, about [`JOB_BYTES`] each.
//! Worker threads take jobs in stream order from a shared counter, read each
//! job's bytes with large sequential reads into a buffer they reuse, and
//! hash them: every byte is read once and hashed while it is hot in cache,
//! SHA-1 and SHA-256 in the same pass for a hybrid torrent.

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
        let job_len = (JOB_BYTES / self.piece_length).max(1) * self.piece_length;
        let mut buf = vec![0u8; usize::try_from(job_len).unwrap_or(usize::MAX)];
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
            let out = match self.scheme {
                Scheme::V1 => self.v1_job(job, &mut buf, &mut open)?,
                Scheme::Aligned { v1, v2, pad } => {
                    self.aligned_job(job, &mut buf, &mut open, v1, v2, pad)?
                }
            };
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

    /// v1 pieces across files: reads the job's stream range file by file.
    fn v1_job(
        &self,
        job: Job,
        buf: &mut [u8],
        open: &mut Option<OpenFile>,
    ) -> Result<JobOutput, Error> {
        let start = job.first * self.piece_length;
        let end = (start + job.count * self.piece_length).min(self.total);
        let len = (end - start) as usize;
        let mut at = start;
        let mut i = self
            .starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        while at < end {
            let f_start = self.starts[i];
            let f_end = f_start + self.files[i].length;
            if f_end <= at {
                i += 1;
                continue;
            }
            let take = f_end.min(end) - at;
            let dst = (at - start) as usize;
            self.read(open, i, at - f_start, &mut buf[dst..dst + take as usize])?;
            at += take;
            i += 1;
        }
        let data = &buf[..len];
        let v1 = data
            .chunks(self.piece_length as usize)
            .map(|piece| Sha1::digest(piece).into())
            .collect();
        self.report(len as u64);
        Ok(JobOutput { v1, v2: Vec::new() })
    }

    /// Pieces of one file, each starting on a piece boundary.
    fn aligned_job(
        &self,
        job: Job,
        buf: &mut [u8],
        open: &mut Option<OpenFile>,
        v1: bool,
        v2: bool,
        pad: bool,
    ) -> Result<JobOutput, Error> {
        let file_len = self.files[job.file].length;
        let start = job.first * self.piece_length;
        let end = (start + job.count * self.piece_length).min(file_len);
        let len = (end - start) as usize;
        self.read(open, job.file, start, &mut buf[..len])?;
        let pl = self.piece_length as usize;
        let per_piece = pl / MERKLE_BLOCK_SIZE;
        let mut out = JobOutput::default();
        let mut leaves = Vec::with_capacity(per_piece);
        for piece in buf[..len].chunks(pl) {
            let mut sha1 = v1.then(Sha1::new);
            leaves.clear();
            for block in piece.chunks(MERKLE_BLOCK_SIZE) {
                if let Some(h) = sha1.as_mut() {
                    h.update(block);
                }
                if v2 {
                    leaves.push(merkle::leaf(block));
                }
            }
            if let Some(mut h) = sha1 {
                if pad {
                    let mut missing = pl - piece.len();
                    while missing > 0 {
                        let n = missing.min(ZEROS.len());
                        h.update(&ZEROS[..n]);
                        missing -= n;
                    }
                }
                out.v1.push(h.finalize().into());
            }
            if v2 {
                // A file of one piece is its own tree; a piece of a larger
                // file is a subtree of `per_piece` leaves.
                let width = if file_len <= self.piece_length {
                    leaves.len().next_power_of_two()
                } else {
                    per_piece
                };
                out.v2.push(merkle::root_of(&leaves, 0, width));
            }
        }
        self.report(len as u64);
        Ok(out)
    }
}
