//! A wrapper that injects faults (to come).

/// A fault to inject.
#[derive(Debug, Clone)]
pub enum Fault {}

/// Wraps a file system and injects faults.
#[derive(Debug)]
pub struct FaultyFileSystem {}
