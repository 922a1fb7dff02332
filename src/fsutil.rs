//! Crash-safe file writes.
//!
//! Every file gsec changes is written to a temporary file in the same
//! directory, fsynced, and renamed over the target, so a reader (or a crash)
//! sees either the old file or the new one, never half of each. Writers of the
//! same file serialise on an exclusive lock of a sibling `.<name>.lock` file;
//! the lock file is never removed, so two processes can never lock different
//! inodes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
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

/// How long `lock` waits for another process (seconds): `GSEC_LOCK_TIMEOUT`,
/// default 60. A stuck writer (an editor left open on a rotation, a hung
/// plugin) then ends in an error naming the lock instead of a silent hang.
fn lock_timeout() -> std::time::Duration {
    let secs = std::env::var("GSEC_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(60.0);
    std::time::Duration::from_secs_f64(secs.min(86_400.0))
}

/// Take the exclusive lock for `target`, creating its directory if needed.
/// Waits (up to `GSEC_LOCK_TIMEOUT`, default 60 s) while other gsec
/// processes write the same file.
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
    let deadline = std::time::Instant::now() + lock_timeout();
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {
                if std::time::Instant::now() >= deadline {
                    return Err(Error::file(
                        &lp,
                        "held by another process for too long (GSEC_LOCK_TIMEOUT); is another gsec still running?",
                    ));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lp, e)),
        }
    }
}

/// Largest environment file (or `.gsec.local.yaml`) gsec reads.
pub const MAX_SECRETS_FILE: u64 = 16 << 20;
/// Largest `.gsec.yaml` gsec reads.
pub const MAX_CONFIG_FILE: u64 = 1 << 20;
/// Largest template gsec reads.
pub const MAX_TEMPLATE_FILE: u64 = 16 << 20;

/// Read a file that a configuration (or a repository) points at: it must be
/// a regular file (not `/dev/zero`, a FIFO or a directory) of at most `max`
/// bytes. `Ok(None)` when it does not exist. The size is enforced on what is
/// actually read, so a file that grows while being read cannot exceed it.
pub fn read_regular(path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    // Checked before opening: opening a FIFO would block.
    match fs::metadata(path) {
        Ok(md) if !md.is_file() => return Err(not_regular(path)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    }
    let file = File::open(path).at(path)?;
    let md = file.metadata().at(path)?;
    if !md.is_file() {
        return Err(not_regular(path));
    }
    if md.len() > max {
        return Err(too_large(path, max));
    }
    let mut buf = Vec::with_capacity(md.len() as usize);
    file.take(max + 1).read_to_end(&mut buf).at(path)?;
    if buf.len() as u64 > max {
        return Err(too_large(path, max));
    }
    Ok(Some(buf))
}

/// Read a file the user named on the command line (a template, an import,
/// `--from-file`): any kind of file, so `<(cmd)` and `/dev/stdin` work, but
/// never more than `max` bytes (`/dev/zero` is refused, not read forever).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = File::open(path).at(path)?;
    let mut buf = Vec::new();
    file.take(max + 1).read_to_end(&mut buf).at(path)?;
    if buf.len() as u64 > max {
        return Err(too_large(path, max));
    }
    Ok(buf)
}

/// Largest fingerprint list (`.gsecignore`, a baseline) gsec reads.
pub const MAX_LIST_FILE: u64 = 16 << 20;

/// [`read_regular`] for a file that must exist.
pub fn read_regular_required(path: &Path, max: u64) -> Result<Vec<u8>> {
    read_regular(path, max)?
        .ok_or_else(|| Error::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)))
}

/// [`read_regular_required`] as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> Result<String> {
    String::from_utf8(read_regular_required(path, max)?).map_err(|e| {
        Error::file(
            path,
            format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

fn not_regular(path: &Path) -> Error {
    Error::file(path, "not a regular file; refusing to read it")
}

fn too_large(path: &Path, max: u64) -> Error {
    Error::file(
        path,
        format!(
            "larger than the {} limit; refusing to read it",
            human_size(max)
        ),
    )
}

fn human_size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// Atomically replace `target` with `data`. `mode` applies on Unix (0o600 for
/// anything holding plaintext); an existing file's mode is kept otherwise.
/// A target that is a device, FIFO, socket or directory is refused: renaming
/// over it would replace it (as root, even `/dev/null`). Outputs the user
/// names go through [`write_output`], which writes such targets in place.
pub fn write_atomic(target: &Path, data: &[u8], mode: Option<u32>) -> Result<()> {
    if let Ok(md) = fs::symlink_metadata(target)
        && !md.is_file()
        && !md.is_symlink()
    {
        return Err(Error::file(
            target,
            "not a regular file; refusing to replace it",
        ));
    }
    let tmp = temp_for(target, data, mode)?;
    tmp.persist(target)
        .map_err(|e| Error::io(target, e.error))?;
    sync_dir(target);
    Ok(())
}

/// Write an output the user named (`export -o`, `render -o`, a report):
/// a regular file (or a new one) is replaced atomically under its lock; a
/// device, FIFO or socket (`/dev/stdout`, `/dev/null`, a named pipe), or a
/// symlink to one, is written in place, as `>` would, never renamed over.
pub fn write_output(target: &Path, data: &[u8], mode: Option<u32>) -> Result<()> {
    if is_special(target) {
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(target)
            .at(target)?;
        f.write_all(data).at(target)?;
        return f.flush().at(target);
    }
    let _lock = lock(target)?;
    write_atomic(target, data, mode)
}

/// `target` exists (following symlinks) and is neither a regular file nor a
/// directory: a device, FIFO or socket.
fn is_special(target: &Path) -> bool {
    fs::metadata(target).is_ok_and(|md| !md.is_file() && !md.is_dir())
}

fn dir_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(target: &Path) {
    if let Ok(d) = File::open(dir_of(target)) {
        let _ = d.sync_all();
    }
}

/// `data` in a new, fsynced temporary file beside `target`, with the mode
/// `target` will have (`mode`, else the existing file's, else 0644).
fn temp_for(target: &Path, data: &[u8], mode: Option<u32>) -> Result<tempfile::NamedTempFile> {
    let dir = dir_of(target);
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
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(data).at(tmp.path())?;
    tmp.as_file().sync_all().at(tmp.path())?;
    Ok(tmp)
}

/// The commit journal of a group of files written together with `target`
/// (an environment file and its derived files): `.<name>.gsec-commit`.
pub fn commit_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.gsec-commit"))
}

/// What a commit journal holds: the renames still to do, as file names
/// inside the journal's directory (never contents: the temporary files
/// are as encrypted as the files they replace).
#[derive(serde::Serialize, serde::Deserialize)]
struct CommitJournal {
    renames: Vec<(String, String)>,
}

/// Replace several files of one directory so that a crash leaves either
/// all old or (after [`roll_forward`]) all new: every new content goes to
/// an fsynced temporary file, then the list of renames is written to the
/// `journal` (atomically), then the renames run in order, then the journal
/// is removed. A crash before the journal exists leaves the old files; a
/// crash after it is finished by [`roll_forward`]. The caller holds the
/// lock that guards all of them. One file is a plain [`write_atomic`].
pub fn write_all_atomic(journal: &Path, files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    match files {
        [] => return Ok(()),
        [(target, data)] => return write_atomic(target, data, None),
        _ => {}
    }
    let dir = dir_of(journal);
    let name = |p: &Path| -> Result<String> {
        match p.file_name() {
            Some(n) if dir_of(p) == dir => Ok(n.to_string_lossy().into_owned()),
            _ => Err(Error::file(
                p,
                format!(
                    "not in {}, so it cannot be committed with it",
                    dir.display()
                ),
            )),
        }
    };
    let mut temps = Vec::with_capacity(files.len());
    let mut renames = Vec::with_capacity(files.len());
    for (target, data) in files {
        let tmp = temp_for(target, data, None)?;
        renames.push((name(tmp.path())?, name(target)?));
        temps.push(tmp);
    }
    crash_point("commit-prepared");
    let text = serde_json::to_vec(&CommitJournal { renames })
        .map_err(|e| Error::msg(format!("cannot encode the commit journal: {e}")))?;
    write_atomic(journal, &text, Some(0o600))?;
    // From here the journal owns the temporary files.
    for t in temps {
        t.into_temp_path()
            .keep()
            .map_err(|e| Error::io(journal, e.error))?;
    }
    crash_point("commit-journaled");
    finish(journal)?;
    Ok(())
}

/// Finish an interrupted [`write_all_atomic`] whose journal is `journal`:
/// rename every temporary file still there over its target, then remove
/// the journal. Returns whether there was anything to finish. The caller
/// holds the lock the writer held.
pub fn roll_forward(journal: &Path) -> Result<bool> {
    if fs::symlink_metadata(journal).is_err() {
        return Ok(false);
    }
    finish(journal)?;
    Ok(true)
}

fn finish(journal: &Path) -> Result<()> {
    let dir = dir_of(journal);
    let bytes = read_regular_required(journal, MAX_LIST_FILE)?;
    let j: CommitJournal = serde_json::from_slice(&bytes).map_err(|e| {
        Error::file(
            journal,
            format!("unreadable commit journal ({e}); remove it after checking the files it names"),
        )
    })?;
    for (i, (tmp, target)) in j.renames.iter().enumerate() {
        let plain = |n: &str| !n.is_empty() && !n.contains(['/', '\\']) && n != "." && n != "..";
        if !plain(tmp) || !plain(target) {
            return Err(Error::file(
                journal,
                "commit journal names a path outside its directory",
            ));
        }
        let (from, to) = (dir.join(tmp), dir.join(target));
        match fs::rename(&from, &to) {
            Ok(()) => {}
            // Renamed before the interruption.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&to, e)),
        }
        if i == 0 {
            crash_point("commit-renamed-first");
        }
    }
    sync_dir(journal);
    fs::remove_file(journal).at(journal)?;
    sync_dir(journal);
    Ok(())
}

/// Test hook (debug builds only): with `GSEC_TEST_CRASH_AFTER=<point>`,
/// print a marker on stderr and wait at that point, so a test can SIGKILL
/// the process there. Compiled out of release builds.
pub fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("GSEC_TEST_CRASH_AFTER").is_ok_and(|p| p == point) {
        eprintln!("gsec-test: paused after {point}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
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
