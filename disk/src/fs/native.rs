//! Files on the local disk (to come).

/// A torrent's files on the local file system, below one root directory.
#[derive(Debug)]
pub struct NativeFileSystem {}
