//! Crash-safe file writes.
//!
//! Every file gsec changes is written to a temporary file in the same
//! directory, fsynced, and renamed over the target, so a reader (or a crash)
//! sees either the old file or the new one, never half of each. Writers of the
//! same file serialise on an exclusive lock of a sibling `.<name>.lock` file;
//! the lock file is never removed, so two processes can never lock different
//! inodes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// An exclusive advisory lock held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Path of the lock file guarding `target`.
pub fn lock_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.lock"))
}

/// Take the exclusive lock for `target`, creating its directory if needed.
/// Blocks until other gsec processes writing the same file are done.
pub fn lock(target: &Path) -> Result<Lock> {
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).at(dir)?;
    }
    let lp = lock_path(target);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lp)
        .at(&lp)?;
    file.lock().at(&lp)?;
    Ok(Lock { _file: file })
}

/// Atomically replace `target` with `data`. `mode` applies on Unix (0o600 for
/// anything holding plaintext); an existing file's mode is kept otherwise.
pub fn write_atomic(target: &Path, data: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).at(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".gsec-tmp-")
        .tempfile_in(&dir)
        .at(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = match mode {
            Some(m) => Some(m),
            None => fs::metadata(target)
                .ok()
                .map(|md| md.permissions().mode() & 0o7777),
        };
        if let Some(m) = m {
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(m)).at(tmp.path())?;
        } else {
            // tempfile creates 0600; a new committed file should be 0644.
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).at(tmp.path())?;
        }
    }
    tmp.write_all(data).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    tmp.persist(target)
        .map_err(|e| Error::io(target, e.error))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Write a new file that must not exist yet (keys, configs): fails rather than
/// overwrite, and creates the file with `mode` from the start.
pub fn write_new(target: &Path, data: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).at(dir)?;
    }
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::file(target, "already exists; refusing to overwrite it")
        } else {
            Error::io(target, e)
        }
    })?;
    f.write_all(data).at(target)?;
    f.sync_all().at(target)?;
    Ok(())
}
