//! Files in memory (to come).

/// Files held in memory, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryFileSystem {}
