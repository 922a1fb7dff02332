//! Loading a plugin: read the file, check its sha256 pin, compile it (or
//! load it from the cache), check its imports and exports, link it, and ask
//! for its `info` — a [`Plugin`] exists only once all of that passed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::{ExternType, Module, ValType};
use zeroize::Zeroizing;

use super::abi::{self, ABI_VERSION, Info, Op};
use super::call::Linked;
use super::error::{ErrorKind, PluginError, json_error, root_cause};
use super::limits::Limits;
use super::{Host, Plugin, cache, http};

/// Plugins larger than this are refused before compiling.
const MAX_WASM_BYTES: u64 = 64 << 20;

/// What to load and under which terms.
pub(super) struct Request<'a> {
    pub name: &'a str,
    /// The path as shown in messages (as configured).
    pub shown: &'a Path,
    /// The path to read.
    pub path: &'a Path,
    /// The sha256 the file must have (`None`: `gsec plugin inspect`).
    pub pin: Option<&'a str>,
    /// Hosts the user granted.
    pub granted: &'a [String],
    pub limits: Limits,
}

impl Host {
    pub(super) fn load_file(&self, r: Request<'_>) -> Result<Plugin, PluginError> {
        let fail = |kind| PluginError {
            name: r.name.to_string(),
            path: r.shown.to_path_buf(),
            kind,
        };
        let started = Instant::now();
        let bytes = read_wasm(r.path).map_err(|e| fail(ErrorKind::Read(e)))?;
        let sha = hex::encode(Sha256::digest(&bytes));
        if let Some(pin) = r.pin
            && !pin.eq_ignore_ascii_case(&sha)
        {
            return Err(fail(ErrorKind::PinMismatch {
                name: r.name.to_string(),
                expected: pin.to_ascii_lowercase(),
                actual: sha,
            }));
        }
        let t_read = started.elapsed();
        let (mut module, mut cached) = self.module(&bytes, &sha).map_err(fail)?;
        let t_module = started.elapsed();
        let (linked, info) = loop {
            let attempt = (|| {
                check_shape(&module).map_err(fail)?;
                let pre = self
                    .linker()
                    .instantiate_pre(&module)
                    .map_err(|e| fail(ErrorKind::Abi(format!("cannot link: {e}"))))?;
                let linked = Linked {
                    host: self.clone(),
                    name: r.name.to_string(),
                    path: r.shown.to_path_buf(),
                    pre,
                    limits: r.limits,
                };
                let info = ask_info(&linked)?;
                Ok::<_, PluginError>((linked, info))
            })();
            match attempt {
                Ok(ok) => break ok,
                // A cached artefact that misbehaves is not trusted again:
                // forget it and compile from the (pinned) wasm once.
                Err(_) if cached => {
                    if let Some(d) = cache::dir() {
                        cache::evict(&cache::entry(&d, self.engine(), &sha));
                    }
                    module = Module::from_binary(self.engine(), &bytes)
                        .map_err(|e| fail(ErrorKind::Compile(root_cause(&e))))?;
                    if let Some(d) = cache::dir() {
                        cache::store(&module, &cache::entry(&d, self.engine(), &sha));
                    }
                    cached = false;
                }
                Err(e) => return Err(e),
            }
        };
        let policy = http::Policy::new(r.name, &info.hosts, r.granted).map_err(|e| {
            fail(ErrorKind::Config(match e.strip_prefix("granted hosts: ") {
                Some(rest) => format!(".gsec.yaml plugins.{}.hosts: {rest}", r.name),
                None => e,
            }))
        })?;
        if self.debug() {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            self.note(&format!(
                "plugin '{}': loaded in {:.2} ms (read+sha256 {:.2}, {} {:.2}, link+info {:.2})",
                r.name,
                ms(started.elapsed()),
                ms(t_read),
                if cached { "cache hit" } else { "compile" },
                ms(t_module - t_read),
                ms(started.elapsed() - t_module),
            ));
        }
        Ok(Plugin {
            linked,
            sha256: sha,
            policy: Arc::new(policy),
            info,
            cached,
        })
    }

    /// Compile, or load from the cache; `true` when it came from the cache.
    fn module(&self, bytes: &[u8], sha: &str) -> Result<(Module, bool), ErrorKind> {
        let engine = self.engine();
        let entry = cache::dir().map(|d| cache::entry(&d, engine, sha));
        if let Some(m) = entry.as_deref().and_then(|p| cache::load(engine, p)) {
            return Ok((m, true));
        }
        let module =
            Module::from_binary(engine, bytes).map_err(|e| ErrorKind::Compile(root_cause(&e)))?;
        if let Some(p) = &entry {
            cache::store(&module, p);
        }
        Ok((module, false))
    }
}

/// Ask a linked plugin who it is, with no hosts granted, and check the
/// answer: the ABI version it claims and printable fields.
fn ask_info(linked: &Linked) -> Result<Info, PluginError> {
    let out = linked.call(
        Op::Info,
        &Zeroizing::new(br#"{"op":"info"}"#.to_vec()),
        Arc::new(http::Policy::default()),
        &[],
    )?;
    let info: Info = serde_json::from_slice(&out).map_err(|e| {
        linked.fail(ErrorKind::Protocol(format!(
            "bad 'info' response: {}",
            json_error(&e)
        )))
    })?;
    if info.abi != ABI_VERSION {
        return Err(linked.fail(ErrorKind::Abi(format!(
            "info.abi is {}, but the plugin exports ABI version {ABI_VERSION}",
            info.abi
        ))));
    }
    info.check().map_err(|e| linked.fail(ErrorKind::Abi(e)))?;
    Ok(info)
}

/// Refuse, before any plugin code runs, a module that imports anything but
/// our four functions or lacks the ABI's exports.
fn check_shape(module: &Module) -> Result<(), ErrorKind> {
    for imp in module.imports() {
        if imp.module() != abi::IMPORT_MODULE || !abi::IMPORTS.contains(&imp.name()) {
            return Err(ErrorKind::Import {
                module: imp.module().to_string(),
                field: imp.name().to_string(),
            });
        }
    }
    let func = |name: &str, params: &[ValType], results: &[ValType]| -> Result<(), ErrorKind> {
        let wrong = || {
            ErrorKind::Abi(format!(
                "missing export '{name}' with the ABI's signature (is this a gsec plugin? build it with gsec-plugin-sdk)"
            ))
        };
        match module.get_export(name) {
            Some(ExternType::Func(f)) => {
                let p: Vec<ValType> = f.params().collect();
                let r: Vec<ValType> = f.results().collect();
                let same = |a: &[ValType], b: &[ValType]| {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| ValType::eq(x, y))
                };
                if same(&p, params) && same(&r, results) {
                    Ok(())
                } else {
                    Err(wrong())
                }
            }
            _ => Err(wrong()),
        }
    };
    func("gsec_abi_version", &[], &[ValType::I32])?;
    func("gsec_alloc", &[ValType::I32], &[ValType::I32])?;
    func("gsec_call", &[ValType::I32, ValType::I32], &[ValType::I64])?;
    match module.get_export("memory") {
        Some(ExternType::Memory(m)) if !m.is_64() => Ok(()),
        _ => Err(ErrorKind::Abi(
            "missing export 'memory' (a 32-bit linear memory)".into(),
        )),
    }
}

/// A plugin's bytes: a regular file (not `/dev/zero`) of at most
/// `MAX_WASM_BYTES`. The error says why, without the path.
pub fn read_wasm(path: &Path) -> Result<Vec<u8>, String> {
    crate::fsutil::read_regular_required(path, MAX_WASM_BYTES).map_err(|e| match e {
        crate::Error::File { what, .. } => what,
        crate::Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    })
}

/// Hex sha256 of a plugin file, for `gsec plugin list` and pin instructions.
pub fn file_sha256(path: &Path) -> Result<String, String> {
    Ok(hex::encode(Sha256::digest(read_wasm(path)?)))
}

/// Whether a declared plugin's file (relative to the project `root`)
/// matches its sha256 pin, without running it: what `check`, `plugin list`
/// and `rotate --dry-run` report (loading refuses a mismatch itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    Ok,
    Mismatch,
    /// The file cannot be read (why, without the path).
    Unreadable(String),
}

pub fn pin_status(root: &Path, decl: &crate::config::PluginDecl) -> Pin {
    match file_sha256(&root.join(&decl.path)) {
        Ok(h) if h.eq_ignore_ascii_case(&decl.sha256) => Pin::Ok,
        Ok(_) => Pin::Mismatch,
        Err(e) => Pin::Unreadable(e),
    }
}
