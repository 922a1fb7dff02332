//! WASM rotation plugins: a small sandbox for third-party code that mints
//! credentials.
//!
//! A plugin is a core wasm module speaking the JSON message ABI of
//! `docs/plugins.md` (types in [`abi`]). It gets exactly four host functions
//! (`gsec.http`, `gsec.random`, `gsec.now`, `gsec.log`) and nothing else: no
//! WASI, files, sockets or environment. Each call runs in a fresh instance
//! with its own wall-clock budget (epoch interruption) and memory limit, so
//! one call can neither hang gsec nor leave state for the next.
//!
//! Library use (the rotation engine):
//! ```ignore
//! let host = plugin::Host::new()?;
//! let p = host.load(&project.root, "random", &decl)?; // pin check, cache
//! let created = p.create(&StepRequest { config, ..Default::default() })?;
//! p.verify(&StepRequest { value: Some(created.value.clone()), ..req })?;
//! ```
//!
//! Pieces: [`abi`] (messages), [`http`] (host allow-list and transport),
//! [`cache`] (compiled modules on disk), [`error`] (typed failures); this
//! module holds the engine, limits and the call protocol.

pub mod abi;
pub mod cache;
pub mod error;
pub mod http;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use wasmtime::{Caller, Engine, ExternType, InstancePre, Linker, Module, Store, Trap, ValType};
use zeroize::Zeroizing;

pub use abi::{ABI_VERSION, Created, Info, Op, StepRequest};
pub use error::{ErrorKind, PluginError};

// The rotation engine may run plugins from worker threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Host>();
    send_sync::<Plugin>();
};

use crate::config::PluginDecl;

/// Default wall-clock budget of one call.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Longest budget honoured (a day): larger settings are clamped.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Default linear-memory limit.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// Plugins larger than this are refused before compiling.
const MAX_WASM_BYTES: u64 = 64 << 20;
/// Largest JSON response read back from a plugin.
const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Largest `random` request in one host call.
const MAX_RANDOM_BYTES: usize = 1 << 20;
/// Epoch tick: the granularity of the time budget.
const TICK: Duration = Duration::from_millis(10);
/// Log limits per call: line length and number of lines.
const LOG_LINE_MAX: usize = 500;
const LOG_LINES_MAX: usize = 100;

/// The wasm runtime: one engine (compiled code is shared by every plugin),
/// the host functions, and the epoch ticker. Cheap to clone; make one per
/// process and clone it (each `Host::new` builds an engine and its own epoch
/// thread). `Host` and `Plugin` are `Send + Sync`.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    engine: Engine,
    linker: Linker<State>,
    ticker: Arc<Ticker>,
}

impl Host {
    pub fn new() -> Result<Host, crate::Error> {
        let mut cfg = wasmtime::Config::new();
        cfg.epoch_interruption(true);
        // Deep recursion traps instead of taking the process's stack.
        cfg.max_wasm_stack(1 << 20);
        let engine = Engine::new(&cfg)
            .map_err(|e| crate::Error::msg(format!("cannot start the wasm engine: {e}")))?;
        let linker = linker(&engine)
            .map_err(|e| crate::Error::msg(format!("cannot link host functions: {e}")))?;
        Ok(Host {
            inner: Arc::new(HostInner {
                engine,
                linker,
                ticker: Arc::new(Ticker::default()),
            }),
        })
    }

    /// Load a configured plugin: check its sha256 pin, compile (or load
    /// from cache), check its imports, exports and ABI version, and ask
    /// for its `info`. `decl.path` is relative to `root`.
    pub fn load(&self, root: &Path, name: &str, decl: &PluginDecl) -> Result<Plugin, PluginError> {
        let limits = Limits {
            // Clamped so deadline arithmetic cannot overflow.
            budget: Duration::from_secs(
                decl.timeout_secs
                    .unwrap_or(DEFAULT_TIMEOUT_SECS)
                    .clamp(1, MAX_TIMEOUT_SECS),
            ),
            memory_mb: decl.memory_mb.unwrap_or(DEFAULT_MEMORY_MB).max(1),
        };
        self.load_file(
            name,
            Path::new(&decl.path),
            &root.join(&decl.path),
            Some(&decl.sha256),
            &decl.hosts,
            limits,
        )
    }

    /// Load a plugin file that is not configured (for `gsec plugin inspect`):
    /// no pin, no hosts granted, default limits.
    pub fn inspect(&self, path: &Path) -> Result<Plugin, PluginError> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.load_file(&name, path, path, None, &[], Limits::default())
    }

    fn load_file(
        &self,
        name: &str,
        shown: &Path,
        path: &Path,
        pin: Option<&str>,
        granted: &[String],
        limits: Limits,
    ) -> Result<Plugin, PluginError> {
        let fail = |kind| PluginError {
            name: name.to_string(),
            path: shown.to_path_buf(),
            kind,
        };
        let started = Instant::now();
        let bytes = read_wasm(path).map_err(|e| fail(ErrorKind::Read(e)))?;
        let sha = hex::encode(Sha256::digest(&bytes));
        if let Some(pin) = pin
            && !pin.eq_ignore_ascii_case(&sha)
        {
            return Err(fail(ErrorKind::PinMismatch {
                name: name.to_string(),
                expected: pin.to_ascii_lowercase(),
                actual: sha,
            }));
        }
        let t_read = started.elapsed();
        let (module, cached) = self.module(&bytes, &sha).map_err(fail)?;
        let t_module = started.elapsed();
        check_shape(&module).map_err(fail)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&module)
            .map_err(|e| fail(ErrorKind::Abi(format!("cannot link: {e}"))))?;
        let mut plugin = Plugin {
            host: self.clone(),
            name: name.to_string(),
            path: shown.to_path_buf(),
            sha256: sha,
            pre,
            limits,
            policy: Arc::new(http::Policy::default()),
            info: None,
            cached,
        };
        let info = plugin.info_uncached()?;
        if info.abi != ABI_VERSION {
            return Err(fail(ErrorKind::Abi(format!(
                "info.abi is {}, but the plugin exports ABI version {ABI_VERSION}",
                info.abi
            ))));
        }
        info.check().map_err(|e| fail(ErrorKind::Abi(e)))?;
        let policy = http::Policy::new(name, &info.hosts, granted).map_err(|e| {
            fail(ErrorKind::Config(match e.strip_prefix("granted hosts: ") {
                Some(rest) => format!(".gsec.yaml plugins.{name}.hosts: {rest}"),
                None => e,
            }))
        })?;
        plugin.policy = Arc::new(policy);
        plugin.info = Some(info);
        if debug_enabled() {
            eprintln!(
                "gsec: plugin '{name}': loaded in {:.2} ms (read+sha256 {:.2}, {} {:.2}, link+info {:.2})",
                ms(started.elapsed()),
                ms(t_read),
                if cached { "cache hit" } else { "compile" },
                ms(t_module - t_read),
                ms(started.elapsed() - t_module),
            );
        }
        Ok(plugin)
    }

    /// Compile, or load from the cache; `true` when it came from the cache.
    fn module(&self, bytes: &[u8], sha: &str) -> Result<(Module, bool), ErrorKind> {
        let engine = &self.inner.engine;
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

/// Time and memory limits of one plugin.
#[derive(Debug, Clone, Copy)]
struct Limits {
    budget: Duration,
    memory_mb: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            budget: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            memory_mb: DEFAULT_MEMORY_MB,
        }
    }
}

/// A loaded plugin. Every call instantiates it afresh: no state survives
/// between calls except what the plugin returns.
pub struct Plugin {
    host: Host,
    name: String,
    path: PathBuf,
    sha256: String,
    pre: InstancePre<State>,
    limits: Limits,
    policy: Arc<http::Policy>,
    info: Option<Info>,
    cached: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path as configured.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the compiled module came from the on-disk cache.
    pub fn was_cached(&self) -> bool {
        self.cached
    }

    /// What the plugin said about itself when loaded.
    pub fn info(&self) -> &Info {
        self.info.as_ref().expect("info is set by load")
    }

    /// Origins the plugin may actually reach (declared and granted).
    pub fn reachable_hosts(&self) -> Vec<String> {
        self.policy
            .granted
            .iter()
            .filter(|g| self.policy.check(g).is_ok())
            .map(|g| g.to_string())
            .collect()
    }

    fn fail(&self, kind: ErrorKind) -> PluginError {
        PluginError {
            name: self.name.clone(),
            path: self.path.clone(),
            kind,
        }
    }

    fn info_uncached(&self) -> Result<Info, PluginError> {
        let out = self.call(Op::Info, &Zeroizing::new(br#"{"op":"info"}"#.to_vec()), &[])?;
        serde_json::from_slice(&out)
            .map_err(|e| self.fail(ErrorKind::Protocol(format!("bad 'info' response: {e}"))))
    }

    /// Make a new credential.
    pub fn create(&self, req: &StepRequest) -> Result<Created, PluginError> {
        let out = self.step(Op::Create, req)?;
        let c = serde_json::from_slice::<Created>(&out).map_err(|e| {
            self.fail(ErrorKind::Protocol(format!(
                "bad 'create' response: {}",
                serde_error(&e)
            )))
        })?;
        // An empty value would be stored as the new secret and lose the
        // old one's replacement; no credential is empty.
        if c.value.is_empty() {
            return Err(self.fail(ErrorKind::Protocol(
                "'create' returned an empty value".into(),
            )));
        }
        Ok(c)
    }

    /// Check that `req.value` works.
    pub fn verify(&self, req: &StepRequest) -> Result<(), PluginError> {
        self.step(Op::Verify, req).map(drop)
    }

    /// Retire the old credential (`req.value`, `req.id`).
    pub fn revoke(&self, req: &StepRequest) -> Result<(), PluginError> {
        self.step(Op::Revoke, req).map(drop)
    }

    fn step(&self, op: Op, req: &StepRequest) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            op: &'static str,
            #[serde(flatten)]
            req: &'a StepRequest,
        }
        let msg = serde_json::to_vec(&Envelope {
            op: op.as_str(),
            req,
        })
        .map_err(|e| self.fail(ErrorKind::Protocol(format!("cannot encode request: {e}"))))?;
        self.call(op, &Zeroizing::new(msg), &req.secrets())
    }

    /// One ABI call in a fresh instance: write the request into guest
    /// memory, run `gsec_call` under the time and memory limits, read the
    /// response. `secrets` are redacted from the plugin's log lines.
    fn call(
        &self,
        op: Op,
        request: &[u8],
        secrets: &[Zeroizing<String>],
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let inner = &self.host.inner;
        let started = Instant::now();
        let deadline = started + self.limits.budget;
        let mut store = Store::new(
            &inner.engine,
            State {
                limiter: Limiter {
                    max_bytes: (self.limits.memory_mb as usize).saturating_mul(1 << 20),
                    hit: false,
                },
                policy: if op == Op::Info {
                    Arc::new(http::Policy::default())
                } else {
                    self.policy.clone()
                },
                deadline,
                budget: self.limits.budget,
                violation: None,
                logs: Vec::new(),
                dropped_logs: 0,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(ticks(self.limits.budget));
        store.epoch_deadline_trap();
        let _ticking = inner.ticker.start(&inner.engine);

        let result = run(&mut store, &self.pre, request);
        let mut logs = std::mem::take(&mut store.data_mut().logs);
        let dropped = store.data().dropped_logs;
        let result = result.map_err(|e| self.classify(e, &mut store, op, started));
        let out = result.and_then(|out| {
            // `{"error": …}` is the plugin saying no.
            #[derive(serde::Deserialize)]
            struct MaybeError {
                error: Option<String>,
            }
            match serde_json::from_slice::<MaybeError>(&out) {
                // Plugins should never put secrets in errors; if one does,
                // the values gsec gave it are still not shown.
                Ok(MaybeError { error: Some(msg) }) => Err(self.fail(ErrorKind::Failed {
                    op: op.as_str(),
                    msg: one_line(&redact(&msg, secrets), 300),
                })),
                Ok(_) => Ok(out),
                Err(e) => Err(self.fail(ErrorKind::Protocol(format!(
                    "'{}' response is not a JSON object: {}",
                    op.as_str(),
                    serde_error(&e)
                )))),
            }
        });
        // The new value is a secret too: redact it from the logs.
        let mut secrets: Vec<Zeroizing<String>> = secrets.to_vec();
        if let (Op::Create, Ok(out)) = (op, &out)
            && let Ok(c) = serde_json::from_slice::<Created>(out)
        {
            secrets.push(c.value);
        }
        self.flush_logs(&mut logs, dropped, &secrets);
        if debug_enabled() && op != Op::Info {
            eprintln!(
                "gsec: plugin '{}': '{}' took {:.2} ms",
                self.name,
                op.as_str(),
                ms(started.elapsed())
            );
        }
        out
    }

    /// Turn a wasmtime failure into what happened, most specific first.
    fn classify(
        &self,
        e: wasmtime::Error,
        store: &mut Store<State>,
        op: Op,
        started: Instant,
    ) -> PluginError {
        if let Some(v) = store.data_mut().violation.take() {
            return self.fail(v);
        }
        if store.data().limiter.hit {
            return self.fail(ErrorKind::Memory {
                mb: self.limits.memory_mb,
            });
        }
        if let Some(k) = e.downcast_ref::<CallError>() {
            return self.fail(k.0.clone());
        }
        let trap = e.downcast_ref::<Trap>().copied();
        if trap == Some(Trap::Interrupt) || started.elapsed() >= self.limits.budget {
            return self.fail(ErrorKind::Timeout {
                secs: self.limits.budget.as_secs(),
            });
        }
        self.fail(ErrorKind::Trap {
            op: op.as_str(),
            trap: match trap {
                Some(t) => t.to_string(),
                None => root_cause(&e),
            },
        })
    }

    /// Print the call's log lines on stderr as `gsec: plugin 'NAME': …`.
    fn flush_logs(
        &self,
        logs: &mut Vec<(i32, String)>,
        dropped: usize,
        secrets: &[Zeroizing<String>],
    ) {
        let lines = render_logs(
            &self.name,
            std::mem::take(logs),
            dropped,
            secrets,
            debug_enabled(),
        );
        let mut err = std::io::stderr().lock();
        for l in lines.iter() {
            let _ = writeln!(err, "{}", l.as_str());
        }
    }
}

/// `text` with every secret value replaced by `[REDACTED]`. Short values
/// would redact ordinary words; 4+ characters is where a credential starts
/// to look like one.
fn redact(text: &str, secrets: &[Zeroizing<String>]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.chars().count() >= 4) {
        if out.contains(s.as_str()) {
            let replaced = out.replace(s.as_str(), "[REDACTED]");
            zeroize::Zeroize::zeroize(&mut out);
            out = replaced;
        }
    }
    out
}

/// Log lines as shown: prefixed with the plugin's name, secrets redacted,
/// control characters neutralised, long lines cut, debug only on request.
fn render_logs(
    name: &str,
    logs: Vec<(i32, String)>,
    dropped: usize,
    secrets: &[Zeroizing<String>],
    debug: bool,
) -> Vec<Zeroizing<String>> {
    let mut out = Vec::new();
    for (level, line) in logs {
        if level >= 3 && !debug {
            continue;
        }
        let line = Zeroizing::new(redact(&Zeroizing::new(line), secrets));
        let tag = match level {
            0 => "error: ",
            1 => "warning: ",
            _ => "",
        };
        out.push(Zeroizing::new(format!(
            "gsec: plugin '{name}': {tag}{}",
            one_line(&line, LOG_LINE_MAX)
        )));
    }
    if dropped > 0 {
        out.push(Zeroizing::new(format!(
            "gsec: plugin '{name}': ({dropped} more log lines dropped)"
        )));
    }
    out
}

/// Per-call store data.
struct State {
    limiter: Limiter,
    policy: Arc<http::Policy>,
    deadline: Instant,
    budget: Duration,
    /// A policy violation seen by a host function; it ends the call and is
    /// reported instead of the trap it causes.
    violation: Option<ErrorKind>,
    logs: Vec<(i32, String)>,
    dropped_logs: usize,
}

/// Memory limit that remembers it was hit, so the error can say "memory
/// limit" rather than a generic trap.
struct Limiter {
    max_bytes: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            // An error (not `false`) traps at once, instead of letting the
            // guest see -1 from memory.grow and maybe limp on.
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// An ABI breach detected by the host while driving the call.
#[derive(Debug)]
struct CallError(ErrorKind);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CallError {}

fn protocol(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(CallError(ErrorKind::Protocol(msg.into())))
}

/// Instantiate, check the ABI version, pass the request, return the
/// response bytes.
fn run(
    store: &mut Store<State>,
    pre: &InstancePre<State>,
    request: &[u8],
) -> wasmtime::Result<Zeroizing<Vec<u8>>> {
    let instance = pre.instantiate(&mut *store)?;
    let version = instance
        .get_typed_func::<(), i32>(&mut *store, "gsec_abi_version")?
        .call(&mut *store, ())?;
    if version != ABI_VERSION {
        return Err(wasmtime::Error::new(CallError(ErrorKind::Abi(format!(
            "built for plugin ABI version {version}, but this gsec speaks version {ABI_VERSION} ({})",
            if version > ABI_VERSION {
                "upgrade gsec"
            } else {
                "rebuild the plugin with a current gsec-plugin-sdk"
            }
        )))));
    }
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| protocol("no memory export"))?;
    let len = i32::try_from(request.len()).map_err(|_| protocol("request too large"))?;
    let ptr = instance
        .get_typed_func::<i32, i32>(&mut *store, "gsec_alloc")?
        .call(&mut *store, len)?;
    memory
        .write(&mut *store, ptr as u32 as usize, request)
        .map_err(|_| {
            protocol(format!(
                "gsec_alloc({len}) returned an out-of-bounds pointer"
            ))
        })?;
    let packed = instance
        .get_typed_func::<(i32, i32), i64>(&mut *store, "gsec_call")?
        .call(&mut *store, (ptr, len))?;
    let (rptr, rlen) = unpack(packed);
    if rlen > MAX_RESPONSE_BYTES {
        return Err(protocol(format!(
            "response of {rlen} bytes is over the {} MiB limit",
            MAX_RESPONSE_BYTES >> 20
        )));
    }
    let data = memory.data(&*store);
    let out = rptr
        .checked_add(rlen)
        .and_then(|end| data.get(rptr..end))
        .ok_or_else(|| protocol("gsec_call returned an out-of-bounds response"))?;
    Ok(Zeroizing::new(out.to_vec()))
}

fn unpack(packed: i64) -> (usize, usize) {
    let p = packed as u64;
    ((p >> 32) as usize, (p & 0xffff_ffff) as usize)
}

fn ticks(budget: Duration) -> u64 {
    (budget.as_millis() / TICK.as_millis()) as u64 + 1
}

/// Guest memory of the calling instance.
fn guest_memory(caller: &mut Caller<'_, State>) -> wasmtime::Result<wasmtime::Memory> {
    caller
        .get_export("memory")
        .and_then(|e| e.into_memory())
        .ok_or_else(|| protocol("no memory export"))
}

/// Copy `len` bytes at `ptr` out of guest memory.
fn read_guest(
    caller: &mut Caller<'_, State>,
    ptr: i32,
    len: i32,
    max: usize,
    what: &str,
) -> wasmtime::Result<Vec<u8>> {
    let mem = guest_memory(caller)?;
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > max {
        return Err(protocol(format!(
            "{what}: {len} bytes is over the {max}-byte limit"
        )));
    }
    mem.data(&*caller)
        .get(ptr..ptr + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| protocol(format!("{what}: pointer out of bounds")))
}

/// Place `data` in guest memory via the guest's own allocator; returns the
/// packed (ptr << 32 | len) the ABI uses.
fn give_guest(caller: &mut Caller<'_, State>, data: &[u8]) -> wasmtime::Result<i64> {
    let alloc = caller
        .get_export("gsec_alloc")
        .and_then(|e| e.into_func())
        .ok_or_else(|| protocol("no gsec_alloc export"))?
        .typed::<i32, i32>(&*caller)?;
    let len = i32::try_from(data.len()).map_err(|_| protocol("host response too large"))?;
    let ptr = alloc.call(&mut *caller, len)?;
    guest_memory(caller)?
        .write(&mut *caller, ptr as u32 as usize, data)
        .map_err(|_| protocol("gsec_alloc returned an out-of-bounds pointer"))?;
    Ok(((ptr as u32 as u64) << 32 | len as u32 as u64) as i64)
}

/// The four host functions, and nothing else.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    let mut l = Linker::new(engine);
    l.func_wrap(
        "gsec",
        "http",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<i64> {
            // Requests and responses carry tokens: keep them in buffers that
            // are wiped when dropped.
            let raw = Zeroizing::new(read_guest(&mut caller, ptr, len, 16 << 20, "http request")?);
            let req: abi::HttpRequest = serde_json::from_slice(&raw)
                .map_err(|e| protocol(format!("http: bad request JSON: {}", serde_error(&e))))?;
            let (policy, deadline) = (caller.data().policy.clone(), caller.data().deadline);
            let verdict = match http::perform(&policy, &req, deadline) {
                // A request cut off by the budget ends the call: the plugin
                // has no time left to use the answer.
                Ok(_) if Instant::now() >= deadline => Err(ErrorKind::Timeout {
                    secs: caller.data().budget.as_secs(),
                }),
                other => other,
            };
            let resp = match verdict {
                Ok(r) => r,
                Err(violation) => {
                    caller.data_mut().violation = Some(violation);
                    return Err(wasmtime::Error::msg("stopped by host policy"));
                }
            };
            let out =
                Zeroizing::new(serde_json::to_vec(&resp).map_err(|e| protocol(e.to_string()))?);
            give_guest(&mut caller, &out)
        },
    )?;
    l.func_wrap(
        "gsec",
        "random",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let n = len as u32 as usize;
            if n > MAX_RANDOM_BYTES {
                return Err(protocol(format!(
                    "random: {n} bytes in one call is over the 1 MiB limit"
                )));
            }
            let mut buf = Zeroizing::new(vec![0u8; n]);
            rand::rngs::OsRng.fill_bytes(&mut buf);
            guest_memory(&mut caller)?
                .write(&mut caller, ptr as u32 as usize, &buf)
                .map_err(|_| protocol("random: pointer out of bounds"))
        },
    )?;
    l.func_wrap("gsec", "now", || -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })?;
    l.func_wrap(
        "gsec",
        "log",
        |mut caller: Caller<'_, State>, level: i32, ptr: i32, len: i32| -> wasmtime::Result<()> {
            if caller.data().logs.len() >= LOG_LINES_MAX {
                caller.data_mut().dropped_logs += 1;
                return Ok(());
            }
            // Read at most a little more than we print; the rest is ignored.
            let take = (len as u32).min(LOG_LINE_MAX as u32 * 4) as i32;
            let raw = read_guest(&mut caller, ptr, take, usize::MAX, "log")?;
            let line = String::from_utf8_lossy(&raw).into_owned();
            caller.data_mut().logs.push((level, line));
            Ok(())
        },
    )?;
    Ok(l)
}

/// Drives `Engine::increment_epoch` every tick while at least one call
/// runs, from one lazily started thread; idle otherwise. Ticks follow the
/// wall clock (late wake-ups catch up), so a budget is seconds, not sleeps.
#[derive(Default)]
struct Ticker {
    state: Mutex<TickerState>,
    wake: Condvar,
}

#[derive(Default)]
struct TickerState {
    active: usize,
    spawned: bool,
}

struct Ticking(Arc<Ticker>);

impl Drop for Ticking {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.active -= 1;
        }
    }
}

impl Ticker {
    fn start(self: &Arc<Self>, engine: &Engine) -> Ticking {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.active += 1;
        if !s.spawned {
            s.spawned = true;
            let (me, engine) = (self.clone(), engine.clone());
            std::thread::Builder::new()
                .name("gsec-plugin-epoch".into())
                .spawn(move || me.run(&engine))
                .ok();
        }
        self.wake.notify_all();
        Ticking(self.clone())
    }

    fn run(&self, engine: &Engine) {
        loop {
            {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                while s.active == 0 {
                    s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
            let mut next = Instant::now() + TICK;
            loop {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                // Catch up on ticks missed while the machine was busy.
                while Instant::now() >= next {
                    engine.increment_epoch();
                    next += TICK;
                }
                if self.state.lock().map(|s| s.active == 0).unwrap_or(true) {
                    break;
                }
            }
        }
    }
}

/// `GSEC_PLUGIN_DEBUG` set: show plugins' debug log lines and the host's
/// timings (load phases, each step).
fn debug_enabled() -> bool {
    std::env::var_os("GSEC_PLUGIN_DEBUG").is_some_and(|v| !v.is_empty())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The innermost cause of an error, on one line.
fn root_cause(e: &wasmtime::Error) -> String {
    // wasmparser's messages may continue with a multi-line dump of the
    // bytes it expected; the first line says what is wrong.
    let msg = e.root_cause().to_string();
    let first = msg.lines().next().unwrap_or_default();
    one_line(first.split(" - expected=").next().unwrap_or(first), 300)
}

/// serde_json's message without any input excerpt (it has none, but keep
/// it short and single-line).
fn serde_error(e: &serde_json::Error) -> String {
    one_line(&e.to_string(), 200)
}

/// One line of at most `max` characters, with control characters shown as
/// `?` so a plugin cannot move the cursor or forge gsec's own lines.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
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
