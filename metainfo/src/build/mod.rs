//! Creating torrents: [`TorrentBuilder`].

mod hash;
mod walk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bitswarm_bencode::{DictBuilder, Encode, ListBuilder};
use bytes::Bytes;

use crate::Error;
use crate::limits::Limits;
use crate::merkle::{self, MERKLE_BLOCK_SIZE, Node};
use crate::metainfo::{Metainfo, Version};
use crate::path::check_component;

pub use hash::CancelToken;
pub use walk::Symlinks;

use hash::{Control, DataFile, Scheme};
use walk::{SourceFile, WalkOptions};

/// The smallest piece length chosen or accepted: 16 KiB (BEP 52's minimum).
pub const MIN_PIECE_LENGTH: u64 = MERKLE_BLOCK_SIZE as u64;
/// The largest piece length [`TorrentBuilder`] chooses by itself: 16 MiB.
pub const MAX_AUTO_PIECE_LENGTH: u64 = 16 << 20;
/// The number of pieces the automatic piece length aims to stay under.
pub const AUTO_PIECE_TARGET: u64 = 2048;

/// The piece length [`TorrentBuilder`] picks when none is given: the
/// smallest power of two from 16 KiB to 16 MiB that cuts `total_length`
/// bytes into at most 2048 pieces (16 MiB when even that gives more).
///
/// ```
/// use bitswarm_metainfo::auto_piece_length;
///
/// assert_eq!(auto_piece_length(1_000), 16 * 1024);
/// assert_eq!(auto_piece_length(1 << 30), 512 * 1024); // 1 GiB: 2048 pieces
/// assert_eq!(auto_piece_length(1 << 40), 16 << 20);
/// ```
pub fn auto_piece_length(total_length: u64) -> u64 {
    let mut pl = MIN_PIECE_LENGTH;
    while pl < MAX_AUTO_PIECE_LENGTH && total_length.div_ceil(pl) > AUTO_PIECE_TARGET {
        pl *= 2;
    }
    pl
}

type Progress = Box<dyn Fn(u64) + Send + Sync>;
type Filter = Box<dyn Fn(&Path) -> bool + Send + Sync>;

/// Makes a `.torrent` of a file or a folder: v1, v2 or hybrid (BEP 3, 52).
///
/// - **File order** is deterministic, sorted by path bytes: for v1 by the
///   `/`-joined path, as `mktorrent` sorts; for v2 and hybrid component by
///   component, the order of the v2 `file tree` (and of libtorrent's hybrid
///   output). Where the two orders agree, a v1 torrent of ours has the same
///   info-hash as `mktorrent`'s, and a hybrid one as libtorrent's.
/// - **Hybrid** torrents get a BEP 47 pad file (`.pad/<size>`, attribute
///   `p`) after every file whose length is not a multiple of the piece
///   length, the last one included, as libtorrent does, so that v1 and v2
///   pieces coincide. A single-file torrent needs none.
/// - **Attributes** (BEP 47): executable files get `x`; with
///   [`Symlinks::Record`] links get `l` and a `symlink path`.
/// - **Hashing** reads each file once, in large sequential reads, and hashes
///   on all cores (SHA-1 and the SHA-256 merkle trees in the same pass for a
///   hybrid), reporting bytes hashed to [`TorrentBuilder::progress`] and
///   stopping when its [`CancelToken`] is cancelled.
///
/// ```
/// use bitswarm_metainfo::{TorrentBuilder, Version};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("hello.txt"), b"hello, swarm")?;
/// let torrent = TorrentBuilder::new(dir.path().join("hello.txt"))
///     .version(Version::Hybrid)
///     .tracker("udp://tracker.example:6969/announce")
///     .creation_date(None)
///     .build()?;
/// assert_eq!(torrent.name(), "hello.txt");
/// assert!(torrent.info_hash_v1().is_some() && torrent.info_hash_v2().is_some());
/// // Write it out: the bytes are a complete .torrent file.
/// std::fs::write(dir.path().join("hello.torrent"), torrent.as_bytes())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TorrentBuilder {
    root: PathBuf,
    version: Version,
    piece_length: Option<u64>,
    name: Option<String>,
    private: bool,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    comment: Option<String>,
    source: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    skip_hidden: bool,
    filter: Option<Filter>,
    symlinks: Symlinks,
    threads: usize,
    progress: Option<Progress>,
    cancel: Option<CancelToken>,
}

impl std::fmt::Debug for TorrentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorrentBuilder")
            .field("root", &self.root)
            .field("version", &self.version)
            .field("piece_length", &self.piece_length)
            .field("private", &self.private)
            .field("trackers", &self.trackers)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl TorrentBuilder {
    /// A builder for the file or folder at `path`. Defaults: hybrid, the
    /// [automatic piece length](auto_piece_length), public, no trackers, the
    /// current time as creation date, every file included, symlinks
    /// followed, one thread per core.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            root: path.into(),
            version: Version::Hybrid,
            piece_length: None,
            name: None,
            private: false,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            source: None,
            created_by: Some(concat!("bitswarm ", env!("CARGO_PKG_VERSION")).to_owned()),
            creation_date: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok()),
            skip_hidden: false,
            filter: None,
            symlinks: Symlinks::Follow,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            progress: None,
            cancel: None,
        }
    }

    /// v1, v2 or hybrid.
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// The piece length: a power of two of at least 16 KiB. Without it, see
    /// [`auto_piece_length`].
    pub fn piece_length(mut self, bytes: u64) -> Self {
        self.piece_length = Some(bytes);
        self
    }

    /// The torrent's name, instead of the file or folder's own name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Marks the torrent private (BEP 27).
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Adds a tracker in a tier of its own (BEP 12).
    pub fn tracker(mut self, url: impl Into<String>) -> Self {
        self.trackers.push(vec![url.into()]);
        self
    }

    /// Adds a tier of trackers tried in turn (BEP 12).
    pub fn tracker_tier<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tier: Vec<String> = urls.into_iter().map(Into::into).collect();
        if !tier.is_empty() {
            self.trackers.push(tier);
        }
        self
    }

    /// Adds a web seed (BEP 19).
    pub fn web_seed(mut self, url: impl Into<String>) -> Self {
        self.web_seeds.push(url.into());
        self
    }

    /// Sets `comment`.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Sets `info.source`; it changes the info-hash.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets `created by`, or leaves it out with `None`.
    pub fn created_by(mut self, created_by: Option<String>) -> Self {
        self.created_by = created_by;
        self
    }

    /// Sets `creation date` (seconds since the Unix epoch), or leaves it
    /// out with `None` so that the output depends on the content only.
    pub fn creation_date(mut self, date: Option<i64>) -> Self {
        self.creation_date = date;
        self
    }

    /// Skips files and folders whose name starts with a dot.
    pub fn skip_hidden(mut self, skip: bool) -> Self {
        self.skip_hidden = skip;
        self
    }

    /// Includes only the files and folders for which `keep` returns true;
    /// it gets paths relative to the folder given to [`TorrentBuilder::new`].
    /// A folder left out is not entered.
    pub fn filter(mut self, keep: impl Fn(&Path) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    /// What to do with symbolic links (see [`Symlinks`]).
    pub fn symlinks(mut self, symlinks: Symlinks) -> Self {
        self.symlinks = symlinks;
        self
    }

    /// How many threads hash (at least one).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Called with the number of bytes hashed so far, from the hashing
    /// threads, after each batch of pieces.
    pub fn progress(mut self, progress: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Lets another thread stop the build.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Lists the files, in torrent order, and returns their total length:
    /// what [`TorrentBuilder::build`] will hash (to size a progress bar).
    pub fn total_length(&self) -> Result<u64, Error> {
        Ok(self.files()?.0.iter().map(|f| f.length).sum())
    }

    fn files(&self) -> Result<(Vec<SourceFile>, bool), Error> {
        let limits = Limits::default();
        let opts = WalkOptions {
            skip_hidden: self.skip_hidden,
            filter: self.filter.as_deref(),
            symlinks: self.symlinks,
            // A v2 file tree nests two levels per component.
            max_components: (limits.max_depth - 6) / 2,
        };
        let (mut files, single) = walk::collect(&self.root, &opts)?;
        if self.version == Version::V1 {
            // mktorrent's order: the `/`-joined path.
            files.sort_by_cached_key(|f| f.components.join("/").into_bytes());
        } else {
            files.sort_by(|a, b| a.components.cmp(&b.components));
        }
        Ok((files, single))
    }

    /// Lists, hashes and encodes the torrent, and returns it parsed: the
    /// result went through the same validation as any torrent read from
    /// disk. [`Metainfo::as_bytes`] gives the `.torrent` file.
    pub fn build(&self) -> Result<Metainfo, Error> {
        let (mut files, single) = self.files()?;
        if files.is_empty() {
            return Err(Error::Build {
                reason: format!("{} holds no file", self.root.display()),
            });
        }
        let total: u64 = files.iter().map(|f| f.length).sum();
        if total == 0 {
            return Err(Error::Build {
                reason: "every file is empty; a torrent needs some data".into(),
            });
        }
        let piece_length = match self.piece_length {
            Some(pl) if pl < MIN_PIECE_LENGTH || !pl.is_power_of_two() => {
                return Err(Error::Build {
                    reason: format!("piece length {pl} is not a power of two of at least 16 KiB"),
                });
            }
            Some(pl) if pl > Limits::default().max_piece_length => {
                return Err(Error::Build {
                    reason: format!("piece length {pl} is over the limit"),
                });
            }
            Some(pl) => pl,
            None => auto_piece_length(total),
        };
        let name = match &self.name {
            Some(n) => n.clone(),
            None if single => files[0].components[0].clone(),
            None => self
                .root
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
                .ok_or_else(|| Error::Build {
                    reason: format!("{} has no usable folder name", self.root.display()),
                })?,
        };
        check_component(name.as_bytes()).map_err(|p| Error::Build {
            reason: format!("the name {name:?} {p}"),
        })?;
        if single {
            // The one file of a single-file torrent is called by the name.
            files[0].components = vec![name.clone()];
        }

        let has_v1 = self.version.has_v1();
        let has_v2 = self.version.has_v2();
        let scheme = match self.version {
            Version::V1 => Scheme::V1,
            _ => Scheme::Aligned {
                v1: has_v1,
                v2: has_v2,
                pad: has_v1 && !single,
            },
        };
        let data: Vec<DataFile<'_>> = files
            .iter()
            .filter(|f| f.length > 0)
            .map(|f| DataFile {
                path: &f.disk_path,
                length: f.length,
            })
            .collect();
        let control = Control {
            threads: self.threads,
            progress: self.progress.as_deref(),
            cancel: self.cancel.as_ref(),
        };
        let hashes = hash::hash(&data, piece_length, scheme, &control)?;

        // Roots and layers per file, in file order.
        let mut layers = hashes.v2_layers.into_iter();
        let mut roots: Vec<Option<Node>> = Vec::with_capacity(files.len());
        let mut piece_layers = DictBuilder::new();
        if has_v2 {
            for f in &files {
                if f.length == 0 {
                    roots.push(None);
                    continue;
                }
                let layer = layers.next().unwrap_or_default();
                let root = if f.length <= piece_length {
                    layer.first().copied().unwrap_or_default()
                } else {
                    let root = merkle::root_from_piece_layer(&layer, piece_length);
                    piece_layers.insert(root, layer.concat());
                    root
                };
                roots.push(Some(root));
            }
        }

        let mut info = DictBuilder::new();
        info.insert("name", name.as_str());
        info.insert("piece length", piece_length);
        if self.private {
            info.insert("private", 1);
        }
        if let Some(source) = &self.source {
            info.insert("source", source.as_str());
        }
        if has_v1 {
            info.insert("pieces", hashes.v1.concat());
            if single {
                info.insert("length", files[0].length);
                if files[0].executable {
                    info.insert("attr", "x");
                }
            } else {
                info.insert("files", v1_file_list(&files, piece_length, has_v2));
            }
        }
        if has_v2 {
            info.insert("meta version", 2);
            info.insert("file tree", file_tree(&files, &roots)?);
        }

        let mut torrent = DictBuilder::new();
        torrent.insert("info", info);
        if let Some(first) = self.trackers.first().and_then(|t| t.first()) {
            torrent.insert("announce", first.as_str());
        }
        if self.trackers.iter().map(Vec::len).sum::<usize>() > 1 {
            let tiers: ListBuilder = self
                .trackers
                .iter()
                .map(|tier| tier.iter().map(String::as_str).collect::<ListBuilder>())
                .collect();
            torrent.insert("announce-list", tiers);
        }
        if !self.web_seeds.is_empty() {
            let seeds: ListBuilder = self.web_seeds.iter().map(String::as_str).collect();
            torrent.insert("url-list", seeds);
        }
        torrent.insert_opt("comment", self.comment.as_deref());
        torrent.insert_opt("created by", self.created_by.as_deref());
        torrent.insert_opt("creation date", self.creation_date);
        if !piece_layers.is_empty() {
            torrent.insert("piece layers", piece_layers);
        }
        Metainfo::from_shared(Bytes::from(torrent.to_bencode()), &Limits::default())
    }
}

/// BEP 47 attributes of a file we create.
fn attr_of(f: &SourceFile) -> Option<&'static str> {
    match (f.symlink_target.is_some(), f.executable) {
        (true, _) => Some("l"),
        (false, true) => Some("x"),
        (false, false) => None,
    }
}

/// `info.files`: with pad files after each unaligned file in a hybrid.
fn v1_file_list(files: &[SourceFile], piece_length: u64, pads: bool) -> ListBuilder {
    let mut list = ListBuilder::new();
    for f in files {
        let mut entry = DictBuilder::new();
        entry.insert("length", f.length);
        let path: ListBuilder = f.components.iter().map(String::as_str).collect();
        entry.insert("path", path);
        entry.insert_opt("attr", attr_of(f));
        if let Some(target) = &f.symlink_target {
            let target: ListBuilder = target.iter().map(String::as_str).collect();
            entry.insert("symlink path", target);
        }
        list.push(entry);
        let tail = f.length % piece_length;
        if pads && tail != 0 {
            let pad = piece_length - tail;
            let mut entry = DictBuilder::new();
            entry.insert("attr", "p");
            entry.insert("length", pad);
            let size = pad.to_string();
            entry.insert("path", bitswarm_bencode::list![".pad", size.as_str()]);
            list.push(entry);
        }
    }
    list
}

/// A folder of the v2 file tree under construction.
#[derive(Default)]
struct Folder {
    entries: BTreeMap<String, TreeNode>,
}

enum TreeNode {
    Folder(Folder),
    File(DictBuilder),
}

impl Encode for Folder {
    fn encode<B: bytes::BufMut + ?Sized>(&self, out: &mut B) {
        let mut d = DictBuilder::new();
        for (name, node) in &self.entries {
            match node {
                TreeNode::Folder(folder) => d.insert(name, folder),
                TreeNode::File(leaf) => d.insert(name, bitswarm_bencode::dict! { "" => leaf }),
            };
        }
        d.encode(out);
    }
}

/// `info.file tree` (BEP 52).
fn file_tree(files: &[SourceFile], roots: &[Option<Node>]) -> Result<Folder, Error> {
    let mut top = Folder::default();
    for (f, root) in files.iter().zip(roots) {
        let mut leaf = DictBuilder::new();
        leaf.insert("length", f.length);
        if let Some(root) = root {
            leaf.insert("pieces root", &root[..]);
        }
        leaf.insert_opt("attr", attr_of(f));
        if let Some(target) = &f.symlink_target {
            let target: ListBuilder = target.iter().map(String::as_str).collect();
            leaf.insert("symlink path", target);
        }
        let Some((file_name, folders)) = f.components.split_last() else {
            continue;
        };
        let mut folder = &mut top;
        for c in folders {
            let node = folder
                .entries
                .entry(c.clone())
                .or_insert_with(|| TreeNode::Folder(Folder::default()));
            folder = match node {
                TreeNode::Folder(inner) => inner,
                // A name cannot be both a file and a folder on disk.
                TreeNode::File(_) => {
                    return Err(Error::Build {
                        reason: format!("{} is both a file and a folder", f.disk_path.display()),
                    });
                }
            };
        }
        folder
            .entries
            .insert(file_name.clone(), TreeNode::File(leaf));
    }
    Ok(top)
}
