//! The one error type every command returns.
//!
//! Each variant is a *kind* of failure a user can act on. Messages are one
//! line, name the file involved, and never contain a secret value: values are
//! only ever held in `Zeroizing` buffers and no variant has a field for one.

use std::path::{Path, PathBuf};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Wrong use of the command line that clap cannot catch (exit 2).
    #[error("{0}")]
    Usage(String),

    /// A file exists but its content is wrong (bad YAML, bad config value,
    /// tampered ciphertext…). `what` says what is wrong, without values.
    #[error("{}: {what}", path.display())]
    File { path: PathBuf, what: String },

    /// An I/O operation failed on a path.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// No available identity can decrypt a file; `looked` lists every place
    /// searched, so the user knows where to put a key.
    #[error("{}: no identity can decrypt this file (recipients: {recipients}); looked in: {looked}", path.display())]
    NoIdentity {
        path: PathBuf,
        recipients: String,
        looked: String,
    },

    /// The MAC or a value's authentication tag did not verify.
    #[error("{}: {what} (the file was modified outside gsec/sops, or is corrupt; use --ignore-mac only if you trust it)", path.display())]
    Tampered { path: PathBuf, what: String },

    /// A secret that was asked for does not exist.
    #[error("secret '{name}' not found in environment '{env}'{hint}")]
    NotFound {
        name: String,
        env: String,
        /// `; did you mean 'X'?`, or empty.
        hint: String,
    },

    /// Writing to standard output failed. A closed pipe (`gsec list | head`)
    /// is not an error worth a message: `cli::main` exits quietly on it.
    #[error("writing to stdout: {0}")]
    Stdout(#[source] std::io::Error),

    /// age could not wrap a data key for a recipient.
    #[error("cannot encrypt to {recipient}: {source}")]
    Encrypt {
        recipient: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// No `.gsec.yaml` from `start` up to the git root.
    #[error("no .gsec.yaml in {} or its parents (up to the git root); run `gsec init` first", start.display())]
    NoProject { start: PathBuf },

    /// An operating-system call that is not about a file failed (signal
    /// handlers, waiting for a child).
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Reading the git repository failed (gix's error kept as the source).
    #[error("git: {what}: {source}")]
    Git {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A plugin could not be loaded or a call failed. Kept typed, with its
    /// kind, so rotation can tell a plugin that answered no (roll back) from
    /// one that could not answer (retry later).
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),

    /// A rotation step stopped and stays in the rotation journal:
    /// `gsec rotate --resume` tries it again. `what` says what was left
    /// undone; the source says why.
    #[error("{what}: {source}; `gsec rotate --resume` retries")]
    Resumable {
        what: String,
        #[source]
        source: Box<Error>,
    },

    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    pub fn file(path: impl AsRef<Path>, what: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().to_path_buf(),
            what: what.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn msg(m: impl Into<String>) -> Self {
        Error::Msg(m.into())
    }

    pub fn usage(m: impl Into<String>) -> Self {
        Error::Usage(m.into())
    }

    /// The reader of our stdout went away (`gsec … | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Attach a path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
