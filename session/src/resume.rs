//! Resume files: one bencoded file per torrent, `<info-hash hex>.resume`
//! in the session's resume directory, written atomically (a temporary file
//! renamed over the old one).
//!
//! ```text
//! d
//!   4:disk     d 4:have <bitfield bytes> 5:files l (l <length> <mtime ns or -1> e | 0:) ... e 6:pieces <count> e
//!   6:magnet   <magnet link, while the metadata is not known>
//!   6:paused   i0e | i1e
//!   10:priorities l i4e ... e
//!   9:save_path <path>
//!   10:sequential i0e | i1e
//!   7:torrent  <the .torrent bytes, once known>
//! e
//! ```

use std::path::{Path, PathBuf};

use bitswarm_bencode::{DictBuilder, Encode, ListBuilder, Value};
use bitswarm_core::{Bitfield, InfoHash};
use bitswarm_disk::ResumeData;
use bytes::Bytes;

use crate::Error;

/// What a resume file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResumeFile {
    /// The .torrent bytes, when the metadata is known.
    pub(crate) torrent: Option<Bytes>,
    /// The magnet link of a torrent still fetching its metadata.
    pub(crate) magnet: Option<String>,
    pub(crate) save_path: PathBuf,
    pub(crate) paused: bool,
    pub(crate) sequential: bool,
    pub(crate) priorities: Vec<u8>,
    /// What the storage had verified.
    pub(crate) disk: Option<ResumeData>,
}

/// Resume files larger than this are refused (a .torrent is far smaller).
const MAX_RESUME_FILE: u64 = 128 << 20;

impl ResumeFile {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut d = DictBuilder::new();
        if let Some(t) = &self.torrent {
            d.insert("torrent", t.clone());
        }
        if let Some(m) = &self.magnet {
            d.insert("magnet", m.as_str());
        }
        d.insert("save_path", self.save_path.to_string_lossy().as_ref());
        d.insert("paused", i64::from(self.paused));
        d.insert("sequential", i64::from(self.sequential));
        let mut prios = ListBuilder::new();
        for p in &self.priorities {
            prios.push(i64::from(*p));
        }
        d.insert("priorities", prios);
        if let Some(rd) = &self.disk {
            let mut files = ListBuilder::new();
            for f in &rd.files {
                match f {
                    Some((len, mtime)) => {
                        let mut l = ListBuilder::new();
                        l.push(i64::try_from(*len).unwrap_or(i64::MAX));
                        l.push(mtime.and_then(|m| i64::try_from(m).ok()).unwrap_or(-1));
                        files.push(l);
                    }
                    None => {
                        files.push("");
                    }
                }
            }
            let mut disk = DictBuilder::new();
            disk.insert("have", rd.have.as_bytes());
            disk.insert("pieces", i64::from(rd.have.len()));
            disk.insert("files", files);
            d.insert("disk", disk);
        }
        d.to_bencode()
    }

    /// Reads a resume file's bytes; `info_hash` fills the storage part's
    /// identity once the torrent is parsed.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let v = bitswarm_bencode::decode(bytes).map_err(|e| e.to_string())?;
        let torrent = v
            .get("torrent")
            .and_then(Value::as_bytes)
            .map(Bytes::copy_from_slice);
        let magnet = v.get("magnet").and_then(Value::as_str).map(str::to_owned);
        if torrent.is_none() && magnet.is_none() {
            return Err("neither a torrent nor a magnet link".into());
        }
        let save_path = v
            .get("save_path")
            .and_then(Value::as_str)
            .ok_or("no save_path")?
            .into();
        let flag = |k: &str| v.get(k).and_then(Value::as_int).unwrap_or(0) != 0;
        let priorities = v
            .get("priorities")
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .map(|p| p.as_int().and_then(|n| u8::try_from(n).ok()).unwrap_or(4))
                    .collect()
            })
            .unwrap_or_default();
        let disk = v.get("disk").map(decode_disk).transpose()?;
        Ok(Self {
            torrent,
            magnet,
            save_path,
            paused: flag("paused"),
            sequential: flag("sequential"),
            priorities,
            disk,
        })
    }
}

/// The storage part, with a placeholder info-hash (set by the caller).
fn decode_disk(v: &Value<'_>) -> Result<ResumeData, String> {
    let pieces = v
        .get("pieces")
        .and_then(Value::as_int)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("disk: no piece count")?;
    let have = v
        .get("have")
        .and_then(Value::as_bytes)
        .ok_or("disk: no have bitfield")?;
    let have = Bitfield::from_payload(have, pieces).map_err(|e| format!("disk: {e}"))?;
    let mut files = Vec::new();
    for f in v.get("files").and_then(Value::as_list).unwrap_or_default() {
        let entry = f.as_list().and_then(|l| {
            let len = u64::try_from(l.first()?.as_int()?).ok()?;
            let mtime = l.get(1)?.as_int()?;
            Some((len, u128::try_from(mtime).ok()))
        });
        files.push(entry);
    }
    Ok(ResumeData {
        info_hash: InfoHash::V1(bitswarm_core::InfoHashV1([0; 20])),
        have,
        files,
    })
}

/// `<dir>/<id hex>.resume`.
pub(crate) fn path_for(dir: &Path, id: crate::TorrentId) -> PathBuf {
    dir.join(format!("{id}.resume"))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) async fn write_atomic(path: PathBuf, bytes: Vec<u8>) -> Result<(), Error> {
    let tmp = path.with_extension("resume.tmp");
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    tokio::fs::write(&tmp, &bytes)
        .await
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))
}

/// Every `*.resume` file of `dir` with its contents; unreadable ones are
/// reported and skipped.
pub(crate) async fn load_dir(dir: &Path) -> Vec<(PathBuf, Result<ResumeFile, Error>)> {
    let mut out = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return out;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("resume") {
            continue;
        }
        let result = read_one(&path).await;
        out.push((path, result));
    }
    out
}

async fn read_one(path: &Path) -> Result<ResumeFile, Error> {
    let bad = |reason: String| Error::Resume {
        path: path.display().to_string(),
        reason,
    };
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if meta.len() > MAX_RESUME_FILE {
        return Err(bad("too large".into()));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    ResumeFile::from_bytes(&bytes).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut have = Bitfield::new(10);
        let _ = have.set(bitswarm_core::PieceIndex(3), true);
        let file = ResumeFile {
            torrent: Some(Bytes::from_static(b"d4:infod4:name1:aee")),
            magnet: None,
            save_path: "/tmp/x".into(),
            paused: true,
            sequential: false,
            priorities: vec![4, 0, 7],
            disk: Some(ResumeData {
                info_hash: InfoHash::V1(bitswarm_core::InfoHashV1([0; 20])),
                have: have.clone(),
                files: vec![Some((5, Some(123))), None, Some((0, None))],
            }),
        };
        let back = ResumeFile::from_bytes(&file.to_bytes()).unwrap();
        assert_eq!(back.torrent, file.torrent);
        assert_eq!(back.save_path, file.save_path);
        assert!(back.paused);
        assert_eq!(back.priorities, vec![4, 0, 7]);
        let disk = back.disk.unwrap();
        assert_eq!(disk.have, have);
        assert_eq!(
            disk.files,
            vec![Some((5, Some(123))), None, Some((0, None))]
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ResumeFile::from_bytes(b"not bencode").is_err());
        assert!(ResumeFile::from_bytes(b"de").is_err());
        assert!(ResumeFile::from_bytes(b"d4:disk0:6:magnet1:m9:save_path1:/e").is_err());
    }
}
