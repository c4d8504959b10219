//! Deterministic test content: the same seed always gives the same bytes,
//! so no test downloads or commits data.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::Error;

/// A small, fast, seeded generator (SplitMix64): test data, not cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&n[..chunk.len()]);
        }
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.fill(&mut v);
        v
    }
}

/// Writes a file of `len` bytes derived from `seed`, creating parent folders.
pub fn write_file(path: &Path, len: u64, seed: u64) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io("creating a folder", e))?;
    }
    let mut rng = Rng::new(seed);
    let mut file = fs::File::create(path).map_err(|e| Error::io("creating a file", e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| Error::io("writing a file", e))?;
        left -= n as u64;
    }
    Ok(())
}

/// Writes a multi-file tree under `root`: `(relative path, length)` pairs,
/// each file's bytes seeded by `seed` and its position.
pub fn write_tree(root: &Path, files: &[(&str, u64)], seed: u64) -> Result<(), Error> {
    for (i, (rel, len)) in files.iter().enumerate() {
        write_file(&root.join(rel), *len, seed.wrapping_add(i as u64))?;
    }
    Ok(())
}

/// A tree with the shapes that trip torrent tools: nested folders, a space in
/// a name, an empty file, a file smaller than a piece and one spanning several.
pub const AWKWARD_TREE: &[(&str, u64)] = &[
    ("a/b/deep.bin", 70_000),
    ("a/with space.txt", 1_234),
    ("empty.dat", 0),
    ("z-last.bin", 300_001),
    ("a/b/c/tiny", 1),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        assert_eq!(Rng::new(7).bytes(100), Rng::new(7).bytes(100));
        assert_ne!(Rng::new(7).bytes(100), Rng::new(8).bytes(100));
    }
}
