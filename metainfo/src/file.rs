//! One file of a torrent, with its place in the torrent's byte stream.

use crate::path::FilePath;

/// BEP 47 file attributes, from the `attr` string (`p`, `x`, `h`, `l`).
///
/// Unknown letters are ignored, as BEP 47 asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileAttributes {
    /// `p`: a pad file, zeros that align the next file to a piece boundary.
    /// Never written to disk.
    pub pad: bool,
    /// `x`: executable.
    pub executable: bool,
    /// `h`: hidden.
    pub hidden: bool,
    /// `l`: a symbolic link; its target is
    /// [`FileEntry::symlink_target`].
    pub symlink: bool,
}

impl FileAttributes {
    /// Reads an `attr` string.
    pub fn parse(attr: &[u8]) -> Self {
        Self {
            pad: attr.contains(&b'p'),
            executable: attr.contains(&b'x'),
            hidden: attr.contains(&b'h'),
            symlink: attr.contains(&b'l'),
        }
    }

    /// The `attr` string, letters in BEP 47's order; empty when none is set.
    pub fn to_attr_string(&self) -> String {
        let mut s = String::new();
        for (set, letter) in [
            (self.pad, 'p'),
            (self.executable, 'x'),
            (self.hidden, 'h'),
            (self.symlink, 'l'),
        ] {
            if set {
                s.push(letter);
            }
        }
        s
    }

    /// Whether no attribute is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One file of a torrent: where its bytes are in the torrent's byte
/// stream, where it goes on disk, and what BEP 47 and BEP 52 say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub(crate) path: FilePath,
    pub(crate) length: u64,
    pub(crate) offset: u64,
    pub(crate) attributes: FileAttributes,
    pub(crate) symlink_target: Option<FilePath>,
    pub(crate) sha1: Option<[u8; 20]>,
    pub(crate) pieces_root: Option<[u8; 32]>,
}

impl FileEntry {
    /// The path relative to the download folder's torrent root: for a
    /// multi-file torrent relative to the folder `info.name`, for a
    /// single-file torrent the name itself.
    pub fn path(&self) -> &FilePath {
        &self.path
    }

    /// The length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Where the file's first byte is in the torrent's byte stream: the
    /// concatenation of all files in order (BEP 3). In a v2-only torrent each
    /// file starts on a piece boundary (BEP 52), as in a hybrid torrent
    /// whose pad files make that alignment explicit.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// One past the file's last byte in the torrent's byte stream.
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }

    /// BEP 47 attributes.
    pub fn attributes(&self) -> FileAttributes {
        self.attributes
    }

    /// Whether this is a BEP 47 pad file (zeros, never written to disk).
    pub fn is_pad(&self) -> bool {
        self.attributes.pad
    }

    /// For a BEP 47 symlink, its target relative to the torrent root. The
    /// parser guarantees it names a path inside the torrent.
    pub fn symlink_target(&self) -> Option<&FilePath> {
        self.symlink_target.as_ref()
    }

    /// The BEP 47 `sha1` of the whole file, when the torrent gives one.
    pub fn sha1(&self) -> Option<&[u8; 20]> {
        self.sha1.as_ref()
    }

    /// The BEP 52 `pieces root` (merkle root) of a non-empty file of a v2 or
    /// hybrid torrent.
    pub fn pieces_root(&self) -> Option<&[u8; 32]> {
        self.pieces_root.as_ref()
    }
}
