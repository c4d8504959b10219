//! From bytes to a validated [`Metainfo`].
//!
//! Reading is lenient where a mistake cannot change which bytes are
//! downloaded or where they go (trackers, comment, dates, unknown keys) and
//! strict everywhere else. See the crate documentation for the rules.

use std::ops::Range;

use bitswarm_bencode::{DecodeOptions, Dict, Mode, Tolerated, Value};
use bitswarm_core::{InfoHash, InfoHashV1, InfoHashV2};
use bytes::Bytes;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::Error;
use crate::error::field_error;
use crate::file::{FileAttributes, FileEntry};
use crate::layout::Layout;
use crate::limits::Limits;
use crate::merkle::{self, MERKLE_BLOCK_SIZE};
use crate::metainfo::{DhtNode, Info, Metainfo, UnknownField, Version, Warning};
use crate::path::{FilePath, check_component, component_text};

/// Top-level keys this crate interprets.
const KNOWN_TOP: &[&[u8]] = &[
    b"announce",
    b"announce-list",
    b"comment",
    b"comment.utf-8",
    b"created by",
    b"creation date",
    b"encoding",
    b"info",
    b"nodes",
    b"piece layers",
    b"url-list",
];

/// Info dictionary keys this crate interprets.
const KNOWN_INFO: &[&[u8]] = &[
    b"attr",
    b"collections",
    b"file tree",
    b"files",
    b"length",
    b"meta version",
    b"name",
    b"name.utf-8",
    b"piece length",
    b"pieces",
    b"private",
    b"sha1",
    b"similar",
    b"source",
    b"symlink path",
];

/// The smallest v2 piece length (BEP 52).
const MIN_V2_PIECE_LENGTH: i64 = MERKLE_BLOCK_SIZE as i64;

/// Parses a whole torrent file. `require_layers` is false for metadata
/// received over BEP 9, which carries no `piece layers`.
pub(crate) fn parse(
    bytes: Bytes,
    limits: &Limits,
    require_layers: bool,
) -> Result<Metainfo, Error> {
    if bytes.len() > limits.max_input_len {
        return Err(Error::InputTooLarge {
            len: bytes.len(),
            limit: limits.max_input_len,
        });
    }
    let opts = DecodeOptions {
        mode: Mode::Lenient,
        max_depth: limits.max_depth,
        max_bytes_len: limits.max_input_len,
        max_values: limits.max_values,
    };
    let decoded = opts.decode(&bytes)?;
    let mut r = Reader {
        input: &bytes,
        shared: &bytes,
        limits,
        warnings: Vec::new(),
    };
    let root = &decoded.value;
    let top = r.dict(root, || "(torrent)".into())?;
    let info_value = top.get("info").ok_or_else(|| Error::MissingField {
        field: "info".into(),
    })?;
    r.dict(info_value, || "info".into())?;
    let info_span = r.span(info_value);

    for t in &decoded.tolerated {
        match *t {
            Tolerated::DuplicateKey { offset } if info_span.contains(&offset) => {
                // Two readers could pick different entries: refuse.
                return Err(field_error(
                    "info",
                    offset,
                    "repeats a key, which makes the info dictionary ambiguous",
                ));
            }
            Tolerated::DuplicateKey { offset } => {
                r.warn(
                    "(torrent)",
                    offset,
                    "a repeated key; the first entry is used",
                );
            }
            Tolerated::UnsortedKey { offset } => {
                r.warn("(torrent)", offset, "dictionary keys out of order");
            }
            _ => {}
        }
    }

    let info_raw = info_value.raw();
    let parsed = parse_info(&mut r, info_value)?;
    let info_hash_v1 = parsed
        .version
        .has_v1()
        .then(|| InfoHashV1(Sha1::digest(info_raw).into()));
    let info_hash_v2 = parsed
        .version
        .has_v2()
        .then(|| InfoHashV2(Sha256::digest(info_raw).into()));

    let mut layout = parsed.layout;
    let has_piece_layers = match top.get("piece layers") {
        Some(layers) if parsed.version.has_v2() => {
            let layers = r.dict(layers, || "piece layers".into())?;
            attach_piece_layers(&r, &mut layout, Some(layers), require_layers)?;
            true
        }
        Some(layers) => {
            r.warn(
                "piece layers",
                r.offset(layers),
                "ignored in a torrent without v2 files",
            );
            false
        }
        None => {
            if parsed.version.has_v2() {
                attach_piece_layers(&r, &mut layout, None, require_layers)?;
            }
            false
        }
    };

    let announce = r.opt_text(top, "announce");
    let announce_list = r.announce_list(top);
    let web_seeds = r.web_seeds(top);
    let nodes = r.nodes(top);
    let creation_date = r.opt_int(top, "creation date");
    let comment = r
        .opt_text(top, "comment.utf-8")
        .or_else(|| r.opt_text(top, "comment"));
    let created_by = r.opt_text(top, "created by");
    let encoding = r.opt_text(top, "encoding");
    let unknown = r.unknown(top, KNOWN_TOP);

    let info = Info {
        name: parsed.name,
        piece_length: parsed.piece_length,
        pieces: parsed
            .pieces
            .map(|range| bytes.slice(range))
            .unwrap_or_default(),
        private: parsed.private,
        source: parsed.source,
        similar: parsed.similar,
        collections: parsed.collections,
        layout,
        version: parsed.version,
        unknown: parsed.unknown,
    };
    let warnings = r.warnings;
    Ok(Metainfo {
        info_span,
        info_hash_v1,
        info_hash_v2,
        announce,
        announce_list,
        web_seeds,
        nodes,
        creation_date,
        comment,
        created_by,
        encoding,
        has_piece_layers,
        info,
        unknown,
        warnings,
        bytes,
    })
}

/// The info dictionary, read and checked.
struct ParsedInfo {
    name: String,
    piece_length: u64,
    pieces: Option<Range<usize>>,
    private: bool,
    source: Option<String>,
    similar: Vec<InfoHash>,
    collections: Vec<String>,
    version: Version,
    layout: Layout,
    unknown: Vec<UnknownField>,
}

/// A file as read, before offsets are assigned.
struct RawFile {
    path: FilePath,
    length: u64,
    attributes: FileAttributes,
    symlink_target: Option<FilePath>,
    sha1: Option<[u8; 20]>,
    pieces_root: Option<[u8; 32]>,
}

fn parse_info(r: &mut Reader<'_>, info: &Value<'_>) -> Result<ParsedInfo, Error> {
    let dict = r.dict(info, || "info".into())?;

    // `name.utf-8` wins over `name` when it is present.
    let (name_field, name_value) = match dict.get("name.utf-8") {
        Some(v) => ("info.name.utf-8", v),
        None => (
            "info.name",
            dict.get("name").ok_or_else(|| Error::MissingField {
                field: "info.name".into(),
            })?,
        ),
    };
    let name_bytes = r.bytes(name_value, || name_field.into())?;
    check_component(name_bytes).map_err(|problem| Error::UnsafePath {
        field: name_field.into(),
        offset: r.offset(name_value),
        component: component_text(name_bytes),
        problem,
    })?;
    let name = component_text(name_bytes);

    let meta_version = match dict.get("meta version") {
        Some(v) => {
            let version = r.int(v, || "info.meta version".into())?;
            if version != 2 {
                return Err(Error::UnsupportedMetaVersion {
                    version,
                    offset: r.offset(v),
                });
            }
            Some(version)
        }
        None => None,
    };
    let has_v2 = meta_version.is_some();

    let pl_value = dict
        .get("piece length")
        .ok_or_else(|| Error::MissingField {
            field: "info.piece length".into(),
        })?;
    let pl = r.int(pl_value, || "info.piece length".into())?;
    let pl_offset = r.offset(pl_value);
    let bad_pl = |reason| Error::InvalidPieceLength {
        value: pl,
        offset: pl_offset,
        reason,
    };
    if pl <= 0 {
        return Err(bad_pl("must be positive"));
    }
    if pl as u64 > r.limits.max_piece_length {
        return Err(bad_pl("is over the limit"));
    }
    if has_v2 && (pl < MIN_V2_PIECE_LENGTH || !(pl as u64).is_power_of_two()) {
        return Err(bad_pl(
            "must be a power of two of at least 16 KiB in a v2 torrent (BEP 52)",
        ));
    }
    let piece_length = pl as u64;

    // `pieces`: checked for shape and size before anything is walked.
    let pieces = match dict.get("pieces") {
        Some(v) => {
            let p = r.bytes(v, || "info.pieces".into())?;
            let offset = r.offset(v);
            if p.len() % 20 != 0 {
                return Err(Error::PiecesNotMultipleOf20 {
                    offset,
                    len: p.len(),
                });
            }
            let count = (p.len() / 20) as u64;
            if count > r.limits.max_pieces {
                return Err(Error::LimitExceeded {
                    what: "pieces",
                    found: count,
                    limit: r.limits.max_pieces,
                });
            }
            // The hashes themselves, without the `<length>:` prefix.
            let start = r.slice_offset(p);
            Some((start..start + p.len(), offset, count))
        }
        None if has_v2 => None,
        None => {
            return Err(Error::MissingField {
                field: "info.pieces".into(),
            });
        }
    };
    let version = match (pieces.is_some(), has_v2) {
        (true, true) => Version::Hybrid,
        (false, true) => Version::V2,
        _ => Version::V1,
    };

    // The v1 file list, pads included.
    let v1 = if pieces.is_some() {
        Some(v1_files(r, dict, &name)?)
    } else {
        None
    };
    // The v2 file tree.
    let v2 = if has_v2 {
        let tree = dict.get("file tree").ok_or_else(|| Error::MissingField {
            field: "info.file tree".into(),
        })?;
        Some(v2_files(r, tree)?)
    } else {
        None
    };

    let (files, root_folder) = match (v1, v2) {
        (Some((v1_files, v1_single)), Some(v2_files)) => {
            let files = merge_hybrid(v1_files, v2_files, v1_single, &name, piece_length, r.limits)?;
            (files, (!v1_single).then(|| name.clone()))
        }
        (Some((files, single)), None) => {
            (place_v1(files, r.limits)?, (!single).then(|| name.clone()))
        }
        (None, Some(v2_files)) => {
            let single = v2_files.len() == 1
                && v2_files[0].path.components().len() == 1
                && v2_files[0].path.file_name() == name;
            (
                place_v2(v2_files, piece_length, r.limits)?,
                (!single).then(|| name.clone()),
            )
        }
        (None, None) => unreachable!("a torrent has v1 pieces or a v2 file tree"),
    };
    let stream_length = files.last().map_or(0, FileEntry::end);
    let num_pieces = stream_length.div_ceil(piece_length);
    if num_pieces > r.limits.max_pieces {
        return Err(Error::LimitExceeded {
            what: "pieces",
            found: num_pieces,
            limit: r.limits.max_pieces,
        });
    }
    if let Some((_, offset, found)) = pieces {
        if found != num_pieces {
            return Err(Error::PieceCountMismatch {
                offset,
                found,
                expected: num_pieces,
                total_length: stream_length,
                piece_length,
            });
        }
    }
    check_paths(&files)?;

    let private = match dict.get("private") {
        Some(v) => match r.int(v, || "info.private".into())? {
            0 => false,
            1 => true,
            _ => {
                return Err(field_error(
                    "info.private",
                    r.offset(v),
                    "must be 0 or 1 (BEP 27)",
                ));
            }
        },
        None => false,
    };
    let source = r.opt_text(dict, "source");
    let similar = r.similar(dict);
    let collections = r.text_list(dict, "collections");
    let unknown = r.unknown(dict, KNOWN_INFO);
    let num_files = files.len();
    Ok(ParsedInfo {
        name,
        piece_length,
        pieces: pieces.map(|(range, _, _)| range),
        private,
        source,
        similar,
        collections,
        version,
        layout: Layout {
            files,
            piece_length,
            // Bounded by `max_pieces` above, which is far below u32::MAX.
            num_pieces: u32::try_from(num_pieces).unwrap_or(u32::MAX),
            stream_length,
            root_folder,
            piece_layers: vec![None; num_files],
            v2: has_v2,
        },
        unknown,
    })
}

/// The v1 files: the one file of a single-file torrent, or `files`.
/// Returns them with whether the torrent is single-file.
fn v1_files(
    r: &mut Reader<'_>,
    info: &Dict<'_>,
    name: &str,
) -> Result<(Vec<RawFile>, bool), Error> {
    match (info.get("length"), info.get("files")) {
        (Some(_), Some(files)) => Err(field_error(
            "info.files",
            r.offset(files),
            "a torrent cannot have both `length` and `files`",
        )),
        (Some(length), None) => {
            let length = r.length(length, || "info.length".into())?;
            let path = FilePath::from_checked(vec![name.to_owned()]);
            let file = read_file_fields(r, info, path, length, || "info".into())?;
            Ok((vec![file], true))
        }
        (None, Some(files)) => {
            let list = r.list(files, || "info.files".into())?;
            if list.is_empty() {
                return Err(field_error("info.files", r.offset(files), "is empty"));
            }
            if list.len() > r.limits.max_files {
                return Err(Error::LimitExceeded {
                    what: "files",
                    found: list.len() as u64,
                    limit: r.limits.max_files as u64,
                });
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, entry) in list.iter().enumerate() {
                let d = r.dict(entry, || format!("info.files[{i}]"))?;
                let length = d.get("length").ok_or_else(|| Error::MissingField {
                    field: format!("info.files[{i}].length"),
                })?;
                let length = r.length(length, || format!("info.files[{i}].length"))?;
                let (key, path) = match d.get("path.utf-8") {
                    Some(p) => ("path.utf-8", p),
                    None => (
                        "path",
                        d.get("path").ok_or_else(|| Error::MissingField {
                            field: format!("info.files[{i}].path"),
                        })?,
                    ),
                };
                let path = r.path_list(path, || format!("info.files[{i}].{key}"))?;
                out.push(read_file_fields(r, d, path, length, || {
                    format!("info.files[{i}]")
                })?);
            }
            Ok((out, false))
        }
        (None, None) => Err(Error::MissingField {
            field: "info.length (or info.files)".into(),
        }),
    }
}

/// BEP 47 fields of a file dictionary (`attr`, `symlink path`, `sha1`).
fn read_file_fields(
    r: &mut Reader<'_>,
    d: &Dict<'_>,
    path: FilePath,
    length: u64,
    field: impl Fn() -> String,
) -> Result<RawFile, Error> {
    let attributes = match d.get("attr") {
        Some(v) => FileAttributes::parse(r.bytes(v, || format!("{}.attr", field()))?),
        None => FileAttributes::default(),
    };
    let symlink_target = match d.get("symlink path") {
        Some(v) if attributes.symlink => {
            Some(r.path_list(v, || format!("{}.symlink path", field()))?)
        }
        _ => None,
    };
    let sha1 = match d.get("sha1") {
        Some(v) => {
            let b = r.bytes(v, || format!("{}.sha1", field()))?;
            Some(b.try_into().map_err(|_| {
                field_error(format!("{}.sha1", field()), r.offset(v), "must be 20 bytes")
            })?)
        }
        None => None,
    };
    Ok(RawFile {
        path,
        length,
        attributes,
        symlink_target,
        sha1,
        pieces_root: None,
    })
}

/// The files of a BEP 52 `file tree`, in tree order, walked without recursion.
fn v2_files(r: &mut Reader<'_>, tree: &Value<'_>) -> Result<Vec<RawFile>, Error> {
    let root = r.dict(tree, || "info.file tree".into())?;
    let mut out = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut stack = vec![(root.entries(), 0usize)];
    while let Some((entries, next)) = stack.last_mut() {
        let Some((key, value)) = entries.get(*next) else {
            stack.pop();
            names.pop();
            continue;
        };
        *next += 1;
        let here = |names: &[String]| {
            let mut s = String::from("info.file tree");
            for n in names {
                s.push('/');
                s.push_str(n);
            }
            s.push('/');
            s.push_str(&component_text(key));
            s
        };
        check_component(key).map_err(|problem| Error::UnsafePath {
            field: here(&names),
            offset: r.slice_offset(key),
            component: component_text(key),
            problem,
        })?;
        let node = r.dict(value, || here(&names))?;
        if let Some(leaf) = node.get("") {
            if node.len() != 1 {
                return Err(field_error(
                    here(&names),
                    r.offset(value),
                    "is both a file and a folder",
                ));
            }
            if out.len() >= r.limits.max_files {
                return Err(Error::LimitExceeded {
                    what: "files",
                    found: out.len() as u64 + 1,
                    limit: r.limits.max_files as u64,
                });
            }
            let field = here(&names);
            let leaf_dict = r.dict(leaf, || field.clone())?;
            let length = leaf_dict.get("length").ok_or_else(|| Error::MissingField {
                field: format!("{field}/length"),
            })?;
            let length = r.length(length, || format!("{field}/length"))?;
            let mut components = names.clone();
            components.push(component_text(key));
            let path = FilePath::from_checked(components);
            let mut file = read_file_fields(r, leaf_dict, path, length, || field.clone())?;
            // Pad files belong to the v1 part only.
            file.attributes.pad = false;
            file.sha1 = None;
            if length > 0 {
                let root_value =
                    leaf_dict
                        .get("pieces root")
                        .ok_or_else(|| Error::MissingField {
                            field: format!("{field}/pieces root"),
                        })?;
                let root = r.bytes(root_value, || format!("{field}/pieces root"))?;
                file.pieces_root = Some(root.try_into().map_err(|_| {
                    field_error(
                        format!("{field}/pieces root"),
                        r.offset(root_value),
                        "must be 32 bytes",
                    )
                })?);
            }
            out.push(file);
        } else if !node.is_empty() {
            names.push(component_text(key));
            stack.push((node.entries(), 0));
        }
    }
    if out.is_empty() {
        return Err(field_error(
            "info.file tree",
            r.offset(tree),
            "holds no file",
        ));
    }
    Ok(out)
}

/// Offsets of v1 files: one after the other.
fn place_v1(files: Vec<RawFile>, limits: &Limits) -> Result<Vec<FileEntry>, Error> {
    let mut offset = 0u64;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let entry = entry_at(f, offset);
        offset = next_offset(offset, entry.length, limits)?;
        out.push(entry);
    }
    Ok(out)
}

/// Offsets of v2 files: each on a piece boundary (BEP 52).
fn place_v2(
    files: Vec<RawFile>,
    piece_length: u64,
    limits: &Limits,
) -> Result<Vec<FileEntry>, Error> {
    let mut offset = 0u64;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let entry = entry_at(f, offset);
        let aligned = entry.length.div_ceil(piece_length) * piece_length;
        offset = next_offset(offset, aligned, limits)?;
        out.push(entry);
    }
    Ok(out)
}

fn entry_at(f: RawFile, offset: u64) -> FileEntry {
    FileEntry {
        path: f.path,
        length: f.length,
        offset,
        attributes: f.attributes,
        symlink_target: f.symlink_target,
        sha1: f.sha1,
        pieces_root: f.pieces_root,
    }
}

fn next_offset(offset: u64, length: u64, limits: &Limits) -> Result<u64, Error> {
    offset
        .checked_add(length)
        .filter(|&end| end <= limits.max_total_length)
        .ok_or(Error::LimitExceeded {
            what: "total length",
            found: offset.saturating_add(length),
            limit: limits.max_total_length,
        })
}

/// A hybrid torrent: the v1 list (with pads) must describe the v2 tree's
/// files in the same order, each non-empty file on a piece boundary.
fn merge_hybrid(
    v1: Vec<RawFile>,
    v2: Vec<RawFile>,
    v1_single: bool,
    name: &str,
    piece_length: u64,
    limits: &Limits,
) -> Result<Vec<FileEntry>, Error> {
    let mut files = place_v1(v1, limits)?;
    let real = files.iter().filter(|f| !f.is_pad()).count();
    if real != v2.len() {
        return Err(Error::HybridMismatch {
            detail: format!("{real} files in v1, {} in v2", v2.len()),
        });
    }
    if v1_single && (v2[0].path.components().len() != 1 || v2[0].path.file_name() != name) {
        return Err(Error::HybridMismatch {
            detail: format!(
                "single file {name:?} in v1, {:?} in v2",
                v2[0].path.to_string()
            ),
        });
    }
    let mut v2 = v2.into_iter();
    for f in files.iter_mut().filter(|f| !f.is_pad()) {
        // Counted equal above.
        let Some(g) = v2.next() else { break };
        if f.path != g.path {
            return Err(Error::HybridMismatch {
                detail: format!(
                    "{:?} in v1 where v2 has {:?}",
                    f.path.to_string(),
                    g.path.to_string()
                ),
            });
        }
        if f.length != g.length {
            return Err(Error::HybridMismatch {
                detail: format!(
                    "{:?} is {} bytes in v1, {} in v2",
                    f.path.to_string(),
                    f.length,
                    g.length
                ),
            });
        }
        if f.attributes.symlink != g.attributes.symlink || f.symlink_target != g.symlink_target {
            return Err(Error::HybridMismatch {
                detail: format!(
                    "{:?} is a symlink in one part only, or to different targets",
                    f.path.to_string()
                ),
            });
        }
        if f.length > 0 && f.offset % piece_length != 0 {
            return Err(Error::HybridMismatch {
                detail: format!(
                    "{:?} starts at byte {} of the v1 stream, not on a piece boundary",
                    f.path.to_string(),
                    f.offset
                ),
            });
        }
        f.pieces_root = g.pieces_root;
    }
    Ok(files)
}

/// No two files share a path, no file is a folder of another, and symlinks
/// hold no data. Pad files are never written, so they may repeat.
fn check_paths(files: &[FileEntry]) -> Result<(), Error> {
    let mut order: Vec<usize> = (0..files.len()).filter(|&i| !files[i].is_pad()).collect();
    order.sort_by(|&a, &b| files[a].path.cmp(&files[b].path).then(a.cmp(&b)));
    for w in order.windows(2) {
        let (a, b) = (&files[w[0]], &files[w[1]]);
        if a.path == b.path {
            return Err(Error::DuplicatePath {
                path: a.path.to_string(),
                first: w[0],
                second: w[1],
            });
        }
        // In sorted order a folder comes right before the first path inside it.
        if a.path.is_folder_of(&b.path) {
            return Err(Error::FileIsFolder {
                file: w[0],
                file_path: a.path.to_string(),
                inner: w[1],
                inner_path: b.path.to_string(),
            });
        }
    }
    for (i, f) in files.iter().enumerate() {
        if f.attributes.symlink {
            let problem = if f.symlink_target.is_none() {
                Some("has no `symlink path` (BEP 47)")
            } else if f.length != 0 {
                Some("has data; a symlink's length must be 0")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Error::InvalidSymlink {
                    file: i,
                    path: f.path.to_string(),
                    problem,
                });
            }
        }
    }
    Ok(())
}

/// Checks `piece layers` against every v2 file and stores each file's layer.
fn attach_piece_layers(
    r: &Reader<'_>,
    layout: &mut Layout,
    layers: Option<&Dict<'_>>,
    required: bool,
) -> Result<(), Error> {
    let piece_length = layout.piece_length;
    for (i, f) in layout.files.iter().enumerate() {
        let Some(root) = f.pieces_root else { continue };
        if f.length <= piece_length {
            layout.piece_layers[i] = Some(vec![root]);
            continue;
        }
        let Some(value) = layers.and_then(|l| l.get(root)) else {
            if required {
                return Err(Error::MissingPieceLayer {
                    file: i,
                    path: f.path.to_string(),
                });
            }
            continue;
        };
        let bytes = r.bytes(value, || "piece layers".into())?;
        let expected = f.length.div_ceil(piece_length) * 32;
        if bytes.len() as u64 != expected {
            return Err(Error::PieceLayerSize {
                file: i,
                path: f.path.to_string(),
                offset: r.offset(value),
                found: bytes.len() as u64,
                expected,
            });
        }
        let layer: Vec<[u8; 32]> = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut node = [0u8; 32];
                node.copy_from_slice(c);
                node
            })
            .collect();
        if merkle::root_from_piece_layer(&layer, piece_length) != root {
            return Err(Error::PieceLayerMismatch {
                file: i,
                path: f.path.to_string(),
            });
        }
        layout.piece_layers[i] = Some(layer);
    }
    Ok(())
}

/// Typed access to decoded values, with field names and offsets for errors.
struct Reader<'i> {
    input: &'i [u8],
    shared: &'i Bytes,
    limits: &'i Limits,
    warnings: Vec<Warning>,
}

impl<'i> Reader<'i> {
    fn offset(&self, v: &Value<'_>) -> usize {
        v.span_in(self.input).map_or(0, |s| s.start)
    }

    fn span(&self, v: &Value<'_>) -> Range<usize> {
        v.span_in(self.input).unwrap_or(0..0)
    }

    /// Where a slice borrowed from the input starts.
    fn slice_offset(&self, s: &[u8]) -> usize {
        (s.as_ptr() as usize)
            .checked_sub(self.input.as_ptr() as usize)
            .filter(|&o| o <= self.input.len())
            .unwrap_or(0)
    }

    fn warn(&mut self, field: impl Into<String>, offset: usize, message: impl Into<String>) {
        self.warnings.push(Warning {
            field: field.into(),
            offset,
            message: message.into(),
        });
    }

    fn wrong_type(&self, v: &Value<'_>, field: String, expected: &'static str) -> Error {
        Error::WrongType {
            field,
            offset: self.offset(v),
            expected,
            found: v.type_name(),
        }
    }

    fn dict<'v, 'a>(
        &self,
        v: &'v Value<'a>,
        field: impl FnOnce() -> String,
    ) -> Result<&'v Dict<'a>, Error> {
        v.as_dict()
            .ok_or_else(|| self.wrong_type(v, field(), "dictionary"))
    }

    fn list<'v, 'a>(
        &self,
        v: &'v Value<'a>,
        field: impl FnOnce() -> String,
    ) -> Result<&'v [Value<'a>], Error> {
        v.as_list()
            .ok_or_else(|| self.wrong_type(v, field(), "list"))
    }

    fn bytes<'a>(&self, v: &Value<'a>, field: impl FnOnce() -> String) -> Result<&'a [u8], Error> {
        v.as_bytes()
            .ok_or_else(|| self.wrong_type(v, field(), "byte string"))
    }

    fn int(&self, v: &Value<'_>, field: impl FnOnce() -> String) -> Result<i64, Error> {
        v.as_int()
            .ok_or_else(|| self.wrong_type(v, field(), "integer"))
    }

    /// A file length: an integer, not negative, within the total limit.
    fn length(&self, v: &Value<'_>, field: impl Fn() -> String) -> Result<u64, Error> {
        let n = self.int(v, &field)?;
        let problem = if n < 0 {
            "negative"
        } else if n as u64 > self.limits.max_total_length {
            "too large"
        } else {
            return Ok(n as u64);
        };
        Err(Error::InvalidLength {
            field: field(),
            offset: self.offset(v),
            value: n,
            problem,
        })
    }

    /// A list of path components, each checked.
    fn path_list(&self, v: &Value<'_>, field: impl Fn() -> String) -> Result<FilePath, Error> {
        let items = self.list(v, &field)?;
        if items.is_empty() {
            return Err(Error::UnsafePath {
                field: field(),
                offset: self.offset(v),
                component: String::new(),
                problem: crate::PathProblem::Empty,
            });
        }
        let mut components = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            let c = self.bytes(item, || format!("{}[{j}]", field()))?;
            check_component(c).map_err(|problem| Error::UnsafePath {
                field: format!("{}[{j}]", field()),
                offset: self.offset(item),
                component: component_text(c),
                problem,
            })?;
            components.push(component_text(c));
        }
        Ok(FilePath::from_checked(components))
    }

    /// A decorative text field: `None`, with a warning, when it has the
    /// wrong type. Invalid UTF-8 is decoded lossily.
    fn opt_text(&mut self, d: &Dict<'_>, key: &'static str) -> Option<String> {
        let v = d.get(key)?;
        match v.as_bytes() {
            Some(b) => Some(String::from_utf8_lossy(b).into_owned()),
            None => {
                let offset = self.offset(v);
                self.warn(
                    key,
                    offset,
                    format!("is a {}, not a byte string; ignored", v.type_name()),
                );
                None
            }
        }
    }

    fn opt_int(&mut self, d: &Dict<'_>, key: &'static str) -> Option<i64> {
        let v = d.get(key)?;
        match v.as_int() {
            Some(n) => Some(n),
            None => {
                let offset = self.offset(v);
                self.warn(
                    key,
                    offset,
                    format!("is a {}, not an integer; ignored", v.type_name()),
                );
                None
            }
        }
    }

    /// A list of UTF-8 strings; other items are skipped with a warning.
    fn text_list(&mut self, d: &Dict<'_>, key: &'static str) -> Vec<String> {
        let Some(v) = d.get(key) else {
            return Vec::new();
        };
        let Some(items) = v.as_list() else {
            let offset = self.offset(v);
            self.warn(key, offset, "is not a list; ignored");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match item.as_str() {
                Some(s) => out.push(s.to_owned()),
                None => {
                    let offset = self.offset(item);
                    self.warn(key, offset, "an item that is not a UTF-8 string; skipped");
                }
            }
        }
        out
    }

    /// `announce-list` (BEP 12): tiers of tracker URLs, empty tiers dropped.
    fn announce_list(&mut self, d: &Dict<'_>) -> Vec<Vec<String>> {
        let Some(v) = d.get("announce-list") else {
            return Vec::new();
        };
        let Some(tiers) = v.as_list() else {
            let offset = self.offset(v);
            self.warn("announce-list", offset, "is not a list; ignored");
            return Vec::new();
        };
        let mut out = Vec::new();
        for tier in tiers {
            let Some(urls) = tier.as_list() else {
                let offset = self.offset(tier);
                self.warn(
                    "announce-list",
                    offset,
                    "a tier that is not a list; skipped",
                );
                continue;
            };
            let mut kept = Vec::new();
            for url in urls {
                match url.as_str() {
                    Some(s) if !s.is_empty() => kept.push(s.to_owned()),
                    _ => {
                        let offset = self.offset(url);
                        self.warn(
                            "announce-list",
                            offset,
                            "a tracker that is not a UTF-8 string; skipped",
                        );
                    }
                }
            }
            if !kept.is_empty() {
                out.push(kept);
            }
        }
        out
    }

    /// `url-list` (BEP 19): one URL or a list of them.
    fn web_seeds(&mut self, d: &Dict<'_>) -> Vec<String> {
        let Some(v) = d.get("url-list") else {
            return Vec::new();
        };
        if let Some(b) = v.as_bytes() {
            return match std::str::from_utf8(b) {
                Ok("") => Vec::new(),
                Ok(s) => vec![s.to_owned()],
                Err(_) => {
                    let offset = self.offset(v);
                    self.warn("url-list", offset, "not UTF-8; ignored");
                    Vec::new()
                }
            };
        }
        self.text_list(d, "url-list")
    }

    /// `nodes` (BEP 5): `[host, port]` pairs.
    fn nodes(&mut self, d: &Dict<'_>) -> Vec<DhtNode> {
        let Some(v) = d.get("nodes") else {
            return Vec::new();
        };
        let Some(items) = v.as_list() else {
            let offset = self.offset(v);
            self.warn("nodes", offset, "is not a list; ignored");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let pair = item.as_list().unwrap_or_default();
            let host = pair.first().and_then(Value::as_str);
            let port = pair
                .get(1)
                .and_then(Value::as_int)
                .and_then(|p| u16::try_from(p).ok());
            match (host, port, pair.len()) {
                (Some(host), Some(port), 2) => out.push(DhtNode {
                    host: host.to_owned(),
                    port,
                }),
                _ => {
                    let offset = self.offset(item);
                    self.warn("nodes", offset, "not a [host, port] pair; skipped");
                }
            }
        }
        out
    }

    /// `similar` (BEP 38): 20-byte v1 or 32-byte v2 info-hashes.
    fn similar(&mut self, d: &Dict<'_>) -> Vec<InfoHash> {
        let Some(v) = d.get("similar") else {
            return Vec::new();
        };
        let Some(items) = v.as_list() else {
            let offset = self.offset(v);
            self.warn("info.similar", offset, "is not a list; ignored");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let hash = item.as_bytes().and_then(|b| {
                InfoHashV1::from_slice(b)
                    .map(InfoHash::V1)
                    .or_else(|| InfoHashV2::from_slice(b).map(InfoHash::V2))
            });
            match hash {
                Some(h) => out.push(h),
                None => {
                    let offset = self.offset(item);
                    self.warn(
                        "info.similar",
                        offset,
                        "not a 20- or 32-byte info-hash; skipped",
                    );
                }
            }
        }
        out
    }

    /// The entries of `d` whose keys are not in `known`, as raw bencode.
    fn unknown(&self, d: &Dict<'_>, known: &[&[u8]]) -> Vec<UnknownField> {
        d.iter()
            .filter(|(k, _)| !known.contains(k))
            .map(|(k, v)| UnknownField {
                key: Bytes::copy_from_slice(k),
                raw_value: self.shared.slice(self.span(v)),
            })
            .collect()
    }
}
