//! Checking which pieces are on disk: resume data trusted where the files
//! are unchanged, everything else read in large sequential chunks and
//! hashed on every core.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bitswarm_core::{Bitfield, PieceIndex};

use crate::fs::FileMetadata;
use crate::piece::{Span, TorrentFiles, Verdict, verify};
use crate::{Error, ResumeData};

/// How many bytes a check worker reads in one batch of consecutive pieces
/// (at least one piece): large sequential reads that still fit a core's
/// cache while they are hashed.
pub(crate) const CHECK_BATCH_BYTES: u64 = 1 << 20;

/// A file's modification time in nanoseconds since the Unix epoch.
pub(crate) fn mtime_ns(meta: &FileMetadata) -> Option<u128> {
    meta.modified
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
}

/// The metadata of every file (`None` for pad files and missing files).
pub(crate) fn file_metadata(files: &TorrentFiles) -> Result<Vec<Option<FileMetadata>>, Error> {
    let layout = files.info.layout();
    layout
        .files()
        .iter()
        .zip(&files.paths)
        .map(|(f, path)| {
            if f.is_pad() {
                return Ok(None);
            }
            files
                .fs
                .metadata(path)
                .map_err(|e| Error::io("metadata", path, e))
        })
        .collect()
}

/// Checks which pieces are present. With `resume`, pieces all of whose
/// files have the saved length and modification time take their bit from
/// it; the others are hashed. `progress(checked, total)` is called after
/// each batch, from one thread at a time, with `checked` increasing.
pub(crate) fn check(
    files: &TorrentFiles,
    resume: Option<&ResumeData>,
    threads: usize,
    cancel: &AtomicBool,
    progress: &(dyn Fn(u32, u32) + Sync),
) -> Result<Bitfield, Error> {
    let num_pieces = files.num_pieces();
    let meta = file_metadata(files)?;
    let layout = files.info.layout();
    let file_entries = layout.files();
    // Per file: whether its saved state is its current state.
    let unchanged: Vec<bool> = (0..file_entries.len())
        .map(|i| {
            let saved = resume.and_then(|r| r.files.get(i).copied().flatten());
            match (saved, &meta[i]) {
                (Some((length, Some(mtime))), Some(now)) => {
                    now.length == length && mtime_ns(now) == Some(mtime)
                }
                _ => false,
            }
        })
        .collect();
    let mut have = Bitfield::new(num_pieces);
    let mut to_hash = Vec::new();
    for piece in 0..num_pieces {
        let spans = files.spans(piece);
        let real = spans.iter().filter(|s| !s.pad);
        if let Some(r) = resume {
            if real.clone().all(|s| unchanged[s.file]) {
                // A set bit is trusted; so is a clear one.
                let _ = have.set(PieceIndex(piece), r.have.get(PieceIndex(piece)));
                continue;
            }
        }
        let readable = real.clone().all(|s| {
            s.length == 0
                || meta[s.file]
                    .as_ref()
                    .is_some_and(|m| m.length >= s.file_offset + s.length)
        });
        if readable {
            to_hash.push(piece);
        }
    }
    let total = num_pieces;
    let done_without_hashing = total - to_hash.len() as u32;
    let counter = Mutex::new(done_without_hashing);
    progress(done_without_hashing, total);

    // Batches of pieces in order, each about CHECK_BATCH_BYTES.
    let mut batches: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &piece) in to_hash.iter().enumerate() {
        bytes += files.piece_size(piece);
        if bytes >= CHECK_BATCH_BYTES {
            batches.push((start, i + 1));
            start = i + 1;
            bytes = 0;
        }
    }
    if start < to_hash.len() {
        batches.push((start, to_hash.len()));
    }
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Vec::new());
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let threads = threads.clamp(1, batches.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = Vec::new();
                let mut good = Vec::new();
                loop {
                    if stop.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(from, to)) = batches.get(b) else {
                        break;
                    };
                    let pieces = &to_hash[from..to];
                    match read_batch(files, pieces, &mut buf) {
                        Ok(offsets) => {
                            for (k, &piece) in pieces.iter().enumerate() {
                                let data = &buf[offsets[k]..offsets[k + 1]];
                                if verify(files, piece, data) == Verdict::Good {
                                    good.push(piece);
                                }
                            }
                        }
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            break;
                        }
                    }
                    if let Ok(mut c) = counter.lock() {
                        *c += pieces.len() as u32;
                        progress(*c, total);
                    }
                }
                if let Ok(mut f) = found.lock() {
                    f.extend(good);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    for piece in found.into_inner().unwrap_or_default() {
        let _ = have.set(PieceIndex(piece), true);
    }
    Ok(have)
}

/// Reads consecutive `pieces` into `buf`; returns where each starts (and
/// the end). Reads of one file that follow each other are merged into one.
fn read_batch(
    files: &TorrentFiles,
    pieces: &[u32],
    buf: &mut Vec<u8>,
) -> Result<Vec<usize>, Error> {
    let mut offsets = Vec::with_capacity(pieces.len() + 1);
    // (span, where it goes in buf)
    let mut reads: Vec<(Span, usize)> = Vec::new();
    let mut at = 0usize;
    for &piece in pieces {
        offsets.push(at);
        for s in files.spans(piece) {
            if s.length == 0 {
                continue;
            }
            let dest = at + s.piece_offset as usize;
            match reads.last_mut() {
                Some((last, last_dest))
                    if !s.pad
                        && !last.pad
                        && last.file == s.file
                        && last.file_offset + last.length == s.file_offset
                        && *last_dest + last.length as usize == dest =>
                {
                    last.length += s.length;
                }
                _ => reads.push((s, dest)),
            }
        }
        at += files.piece_size(piece) as usize;
    }
    offsets.push(at);
    // Every byte is overwritten below (pads with zeros): no need to clear.
    if buf.len() != at {
        buf.resize(at, 0);
    }
    for (s, dest) in reads {
        let chunk = &mut buf[dest..dest + s.length as usize];
        if s.pad {
            chunk.fill(0);
        } else {
            crate::piece::read_exact(&*files.fs, &files.paths[s.file], s.file_offset, chunk)?;
        }
    }
    Ok(offsets)
}
