//! File paths inside a torrent: which components are refused, and how the
//! ones that are only dangerous on Windows are made safe there.
//!
//! The rule that keeps every file inside the download folder is simple: a
//! [`FilePath`] is a list of components, none of which is empty, `.` or `..`,
//! or contains `/`, `\` or NUL. Joined under a root, such a list can only name
//! something below that root, whatever the platform. The parser refuses a
//! torrent with any other component (see [`PathProblem`]); nothing is
//! silently rewritten in the torrent's own view of its files.
//!
//! Windows gives meaning to more names than that: drive prefixes (`C:`),
//! alternate data streams (`name:stream`), device names (`CON`, `NUL`,
//! `COM1.txt`...) and names ending in a dot or a space. Those are ordinary
//! names on Unix, and real torrents use them (the Linux sources have a file
//! called `aux.c`), so they are not refused: [`FilePath::to_path_in`]
//! sanitises them when the path is made for Windows ([`PathStyle`]).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::PathProblem;

/// Checks one component of a file path, as written in the torrent.
pub(crate) fn check_component(bytes: &[u8]) -> Result<(), PathProblem> {
    match bytes {
        b"" => Err(PathProblem::Empty),
        b"." => Err(PathProblem::CurrentDir),
        b".." => Err(PathProblem::ParentDir),
        _ if bytes.contains(&b'/') => Err(PathProblem::Slash),
        _ if bytes.contains(&b'\\') => Err(PathProblem::Backslash),
        _ if bytes.contains(&0) => Err(PathProblem::Nul),
        _ => Ok(()),
    }
}

/// A component as text: UTF-8 as is, anything else lossily decoded (invalid
/// sequences become U+FFFD). Checked components stay safe after decoding: the
/// replacement character is never `/`, `\`, NUL or a dot.
pub(crate) fn component_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The path of a file inside a torrent, as a list of checked components.
///
/// For a multi-file torrent the path is relative to the torrent's folder
/// (`info.name`); for a single-file torrent it is the one component
/// `info.name`. No component is empty, `.` or `..`, or contains `/`, `\` or
/// NUL, so the path can never leave the folder it is joined to.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath(Vec<String>);

/// The path conventions of the platform a file is written on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathStyle {
    /// Any component that passed the parser's checks is a valid name.
    Unix,
    /// Device names (`CON`, `AUX.c`, `COM1`...) get a `_` prefix; the
    /// characters `<>:"|?*` and control characters become `_`; trailing dots
    /// and spaces become `_`.
    Windows,
}

impl PathStyle {
    /// The style of the platform this code runs on.
    pub const fn host() -> Self {
        if cfg!(windows) {
            Self::Windows
        } else {
            Self::Unix
        }
    }
}

impl FilePath {
    /// Builds a path from components, checking each one.
    ///
    /// ```
    /// use bitswarm_metainfo::FilePath;
    ///
    /// assert!(FilePath::new(["music", "01 intro.flac"]).is_ok());
    /// assert!(FilePath::new(["..", "etc", "passwd"]).is_err());
    /// assert!(FilePath::new(["a/b"]).is_err());
    /// assert!(FilePath::new(Vec::<String>::new()).is_err());
    /// ```
    pub fn new<I, S>(components: I) -> Result<Self, PathProblem>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let components: Vec<String> = components.into_iter().map(Into::into).collect();
        if components.is_empty() {
            return Err(PathProblem::Empty);
        }
        for c in &components {
            check_component(c.as_bytes())?;
        }
        Ok(Self(components))
    }

    /// A path whose components the caller has already checked.
    pub(crate) fn from_checked(components: Vec<String>) -> Self {
        debug_assert!(!components.is_empty());
        debug_assert!(
            components
                .iter()
                .all(|c| check_component(c.as_bytes()).is_ok())
        );
        Self(components)
    }

    /// The components, outermost first.
    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// The last component: the file's own name.
    pub fn file_name(&self) -> &str {
        self.0.last().map_or("", String::as_str)
    }

    /// Whether `self` is a strict prefix of `other` (`a` of `a/b`).
    pub fn is_folder_of(&self, other: &Self) -> bool {
        self.0.len() < other.0.len() && other.0.starts_with(&self.0)
    }

    /// The components made safe for `style` (see [`PathStyle`]).
    pub fn sanitized(&self, style: PathStyle) -> Vec<String> {
        match style {
            PathStyle::Unix => self.0.clone(),
            PathStyle::Windows => self.0.iter().map(|c| windows_component(c)).collect(),
        }
    }

    /// The path of this file under `root`, sanitised for the host platform.
    /// The result is always below `root`.
    pub fn to_path_in(&self, root: &Path) -> PathBuf {
        self.to_path_in_style(root, PathStyle::host())
    }

    /// The path of this file under `root`, sanitised for `style`.
    pub fn to_path_in_style(&self, root: &Path, style: PathStyle) -> PathBuf {
        let mut path = root.to_path_buf();
        for c in self.sanitized(style) {
            path.push(c);
        }
        path
    }
}

impl fmt::Display for FilePath {
    /// The components joined with `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(c)?;
        }
        Ok(())
    }
}

impl fmt::Debug for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FilePath({:?})", self.to_string())
    }
}

/// Device names that Windows resolves in every folder, whatever the extension.
const WINDOWS_DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6",
    "LPT7", "LPT8", "LPT9",
];

/// Whether Windows treats `name` as a device (`aux`, `COM1.txt`, `nul .tar.gz`).
pub(crate) fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    WINDOWS_DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem))
}

/// One component made safe for Windows.
fn windows_component(c: &str) -> String {
    let mut out: String = c
        .chars()
        .map(|ch| match ch {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            ch if ch.is_control() => '_',
            ch => ch,
        })
        .collect();
    // Windows drops trailing dots and spaces, so `a.` and `a` would collide.
    let kept = out.trim_end_matches(['.', ' ']).len();
    let dropped = out.len() - kept;
    out.truncate(kept);
    out.extend(std::iter::repeat_n('_', dropped));
    if is_windows_device(&out) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refused_components() {
        assert_eq!(check_component(b""), Err(PathProblem::Empty));
        assert_eq!(check_component(b"."), Err(PathProblem::CurrentDir));
        assert_eq!(check_component(b".."), Err(PathProblem::ParentDir));
        assert_eq!(check_component(b"/etc"), Err(PathProblem::Slash));
        assert_eq!(check_component(b"a\\..\\b"), Err(PathProblem::Backslash));
        assert_eq!(check_component(b"a\0b"), Err(PathProblem::Nul));
        assert_eq!(check_component(b"..."), Ok(()));
        assert_eq!(check_component(b".hidden"), Ok(()));
        assert_eq!(check_component(b"C:"), Ok(()));
    }

    #[test]
    fn windows_sanitising() {
        let p = FilePath::new(["C:", "aux.c", "con", "a?b", "trail. ", "ok.txt"]).unwrap();
        assert_eq!(
            p.sanitized(PathStyle::Windows),
            ["C_", "_aux.c", "_con", "a_b", "trail__", "ok.txt"]
        );
        assert_eq!(p.sanitized(PathStyle::Unix), p.components());
        assert!(is_windows_device("COM1.txt"));
        assert!(is_windows_device("nul .tar.gz"));
        assert!(!is_windows_device("console"));
        assert!(!is_windows_device("COM10"));
    }

    #[test]
    fn joins_below_root() {
        let p = FilePath::new(["a b", "c"]).unwrap();
        assert_eq!(
            p.to_path_in_style(Path::new("/dl"), PathStyle::Unix),
            Path::new("/dl/a b/c")
        );
        assert_eq!(p.to_string(), "a b/c");
    }

    proptest! {
        /// Whatever bytes a torrent puts in its components, a path that passes
        /// the checks stays below the root, in both styles.
        #[test]
        fn checked_paths_stay_below_root(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..6)) {
            let texts: Vec<String> = parts.iter().map(|p| component_text(p)).collect();
            if let Ok(path) = FilePath::new(texts) {
                let root = Path::new("/download/here");
                for style in [PathStyle::Unix, PathStyle::Windows] {
                    let joined = path.to_path_in_style(root, style);
                    prop_assert!(joined.starts_with(root));
                    let depth = joined.components().count() - root.components().count();
                    prop_assert_eq!(depth, path.components().len());
                    for c in joined.components().skip(root.components().count()) {
                        prop_assert!(matches!(c, std::path::Component::Normal(_)), "{:?}", joined);
                    }
                }
            }
        }
    }
}
