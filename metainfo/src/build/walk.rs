//! Finding the files a new torrent holds.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::path::check_component;

/// What to do with symbolic links met while listing a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Symlinks {
    /// Read through them, like `mktorrent`: a link to a file adds that
    /// file's content, a link to a folder adds the folder. A folder reached
    /// twice through links is an error (a loop).
    #[default]
    Follow,
    /// Record them as BEP 47 symlinks (attribute `l` with a `symlink path`,
    /// no data). Only links whose target lies inside the torrent's folder
    /// can be recorded; any other link is an error, never followed.
    Record,
}

/// A file found on disk, with its path inside the torrent.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub(crate) disk_path: PathBuf,
    pub(crate) components: Vec<String>,
    pub(crate) length: u64,
    pub(crate) executable: bool,
    pub(crate) symlink_target: Option<Vec<String>>,
}

pub(crate) struct WalkOptions<'a> {
    pub(crate) skip_hidden: bool,
    pub(crate) filter: Option<&'a (dyn Fn(&Path) -> bool + Send + Sync)>,
    pub(crate) symlinks: Symlinks,
    /// Paths deeper than this cannot be read back by the parser's depth limit.
    pub(crate) max_components: usize,
}

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn build_error(reason: String) -> Error {
    Error::Build { reason }
}

/// Lists the files of `root` (a file or a folder), unsorted. Returns them
/// and whether `root` is a single file.
pub(crate) fn collect(
    root: &Path,
    opts: &WalkOptions<'_>,
) -> Result<(Vec<SourceFile>, bool), Error> {
    let meta = fs::metadata(root).map_err(|e| io_error("reading", root, e))?;
    if meta.is_file() {
        let name = file_name(root)?;
        return Ok((
            vec![SourceFile {
                disk_path: root.to_path_buf(),
                components: vec![name],
                length: meta.len(),
                executable: is_executable(&meta),
                symlink_target: None,
            }],
            true,
        ));
    }
    if !meta.is_dir() {
        return Err(build_error(format!(
            "{} is neither a file nor a folder",
            root.display()
        )));
    }
    let canonical_root = fs::canonicalize(root).map_err(|e| io_error("resolving", root, e))?;
    let mut visited = HashSet::from([canonical_root.clone()]);
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| io_error("listing", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
            let disk_path = entry.path();
            let name = file_name(&disk_path)?;
            if opts.skip_hidden && name.starts_with('.') {
                continue;
            }
            let mut components = rel.clone();
            components.push(name);
            if components.len() > opts.max_components {
                return Err(build_error(format!(
                    "{} is more than {} folders deep",
                    disk_path.display(),
                    opts.max_components
                )));
            }
            let rel_path: PathBuf = components.iter().collect();
            if let Some(filter) = opts.filter {
                if !filter(&rel_path) {
                    continue;
                }
            }
            let link_meta =
                fs::symlink_metadata(&disk_path).map_err(|e| io_error("reading", &disk_path, e))?;
            if link_meta.file_type().is_symlink() && opts.symlinks == Symlinks::Record {
                let target = recorded_target(&disk_path, &canonical_root)?;
                out.push(SourceFile {
                    disk_path,
                    components,
                    length: 0,
                    executable: false,
                    symlink_target: Some(target),
                });
                continue;
            }
            // Follows a link to what it points at.
            let meta = fs::metadata(&disk_path).map_err(|e| io_error("reading", &disk_path, e))?;
            if meta.is_dir() {
                if link_meta.file_type().is_symlink() {
                    let canonical = fs::canonicalize(&disk_path)
                        .map_err(|e| io_error("resolving", &disk_path, e))?;
                    if !visited.insert(canonical) {
                        return Err(build_error(format!(
                            "{} leads to a folder already listed (a symlink loop?)",
                            disk_path.display()
                        )));
                    }
                }
                stack.push((disk_path, components));
            } else if meta.is_file() {
                out.push(SourceFile {
                    disk_path,
                    components,
                    length: meta.len(),
                    executable: is_executable(&meta),
                    symlink_target: None,
                });
            }
            // Sockets, pipes and devices hold no content to share.
        }
    }
    Ok((out, false))
}

/// A path's last component as a valid torrent path component.
fn file_name(path: &Path) -> Result<String, Error> {
    let name = path
        .file_name()
        .ok_or_else(|| build_error(format!("{} has no file name", path.display())))?;
    let name = name
        .to_str()
        .ok_or_else(|| build_error(format!("{} is not valid UTF-8", path.display())))?;
    check_component(name.as_bytes())
        .map_err(|p| build_error(format!("{}: the name {p}", path.display())))?;
    Ok(name.to_owned())
}

/// The target of a link to record, relative to the torrent's folder.
fn recorded_target(link: &Path, canonical_root: &Path) -> Result<Vec<String>, Error> {
    let target = fs::canonicalize(link).map_err(|e| io_error("resolving the symlink", link, e))?;
    let inside = target
        .strip_prefix(canonical_root)
        .ok()
        .filter(|rel| rel.components().next().is_some())
        .ok_or_else(|| {
            build_error(format!(
                "the symlink {} points outside the torrent's folder",
                link.display()
            ))
        })?;
    inside
        .components()
        .map(|c| {
            c.as_os_str()
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| build_error(format!("{} is not valid UTF-8", target.display())))
        })
        .collect()
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}
