//! Compiled-module cache: compiling a plugin with cranelift takes hundreds
//! of milliseconds, loading the compiled artefact takes about one. Entries
//! live in `$GSEC_CACHE_DIR/plugins`, else `$XDG_CACHE_HOME/gsec/plugins`,
//! else `~/.cache/gsec/plugins`, named by the wasm's sha256, the wasmtime
//! version and a hash of the engine's compilation settings, so a changed
//! plugin, a gsec upgrade or another CPU never loads a stale entry.
//!
//! Loading an entry maps native code into the process, so the cache is
//! only used when its directory is private to this user (0700; we set it,
//! which fails unless we own it). Any entry that fails to load is
//! recompiled and overwritten; a cache that cannot be written is skipped.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::Digest;
use wasmtime::{Engine, Module};

/// The directory for compiled plugins, created private, or `None` when no
/// safe location exists (then every load compiles).
pub fn dir() -> Option<PathBuf> {
    let base = match std::env::var_os("GSEC_CACHE_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d).join("gsec"),
            None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?)
                .join(".cache/gsec"),
        },
    };
    let dir = base.join("plugins");
    std::fs::create_dir_all(&dir).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    Some(dir)
}

/// The cache file for a module with this hash under this engine.
pub fn entry(dir: &Path, engine: &Engine, sha256: &str) -> PathBuf {
    // DefaultHasher::new() has fixed keys: the same engine settings give the
    // same name in every process of this build.
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{sha256}-wasmtime48-{:016x}.cwasm", h.finish()))
}

/// Load a cached compiled module.
///
/// The only `unsafe` in gsec: `Module::deserialize_file` trusts that the
/// file is a wasmtime artefact, because it maps its code as executable.
#[allow(unsafe_code)]
pub fn load(engine: &Engine, path: &Path) -> Option<Module> {
    if !path.is_file() {
        return None;
    }
    // The entry must be byte for byte what `store` wrote: a corrupted or
    // truncated copy (a bit flip, a partial CI cache restore) is recompiled,
    // never mapped.
    let bytes = std::fs::read(path).ok()?;
    let want = std::fs::read_to_string(digest_path(path)).ok()?;
    if want.trim() != hex::encode(sha2::Sha256::digest(&bytes)) {
        return None;
    }
    // SAFETY: the bytes are our own `Module::serialize` output (checked
    // against the digest written beside them), stored atomically (temp file
    // + rename) in a 0700 directory only this user can write (see `dir`),
    // and named by the sha256 of the wasm it was compiled from plus the
    // wasmtime version and engine settings. wasmtime additionally checks
    // its header and engine compatibility and returns an error (we then
    // recompile) on mismatch.
    unsafe { Module::deserialize(engine, &bytes) }.ok()
}

/// The sha256 of an entry's bytes, kept beside it.
fn digest_path(entry: &Path) -> PathBuf {
    entry.with_extension("cwasm.sha256")
}

/// Forget an entry (it loaded but misbehaved): the next load recompiles.
pub fn evict(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(digest_path(path));
}

/// Entries kept; older ones (by modification time) are removed when a new
/// one is stored, so upgrades of plugins and gsec do not pile up.
const KEEP: usize = 32;

/// Store a compiled module; failures only cost a recompile next time.
pub fn store(module: &Module, path: &Path) {
    if let Ok(bytes) = module.serialize()
        && crate::fsutil::write_atomic(
            &digest_path(path),
            hex::encode(sha2::Sha256::digest(&bytes)).as_bytes(),
            Some(0o600),
        )
        .is_ok()
        && crate::fsutil::write_atomic(path, &bytes, Some(0o600)).is_ok()
        && let Some(dir) = path.parent()
    {
        prune(dir, KEEP);
    }
}

/// Remove all but the `keep` newest `.cwasm` entries.
fn prune(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    if entries.len() <= keep {
        return;
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, p) in entries.into_iter().skip(keep) {
        evict(&p);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prune_keeps_the_newest() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..5u64 {
            let p = d.path().join(format!("{i}.cwasm"));
            std::fs::write(&p, b"x").unwrap();
            let t =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        std::fs::write(d.path().join("other.lock"), b"").unwrap();
        super::prune(d.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["3.cwasm", "4.cwasm", "other.lock"]);
    }
}
