use std::io;

/// Why a real peer could not be started or did not do what a test needed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program is not installed; the message names the Debian package.
    #[error(
        "{program} is not installed (Debian package {package}); run scripts/test-all to install the peers"
    )]
    NotInstalled {
        /// The program looked for.
        program: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// The program could not be started.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The program ran but failed, hung, or printed something unexpected.
    #[error("{program} {what}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    Program {
        /// The program.
        program: String,
        /// What went wrong.
        what: String,
        /// The end of its standard output.
        stdout: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// A local file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's reason.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: &'static str, source: io::Error) -> Self {
        Self::Io { what, source }
    }
}
