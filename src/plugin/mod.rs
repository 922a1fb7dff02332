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
//! let host = plugin::Host::new()?.diagnostics(false, |line| eprintln!("{line}"));
//! let p = host.load(&project.root, "random", &decl)?; // pin check, cache
//! let created = p.create(&StepRequest { config, ..Default::default() })?;
//! p.verify(&StepRequest { value: Some(created.value.clone()), ..req })?;
//! ```
//!
//! One job per file: [`abi`] (messages), [`http`] (host allow-list and
//! transport), [`cache`] (compiled modules on disk), [`error`] (typed
//! failures), `loader` (pin, compile, shape and `info` checks), `call` (one
//! call's protocol), `hostfns` (the four imports), `limits` (budget and
//! memory cap), `ticker` (the epoch clock), `log` (what a plugin logs, made
//! safe to show). This file holds the engine and the loaded plugin.
//!
//! The library never prints: the plugin's log lines and the host's debug
//! timings go to the [`Diagnostics`] sink the caller passes.

pub mod abi;
pub mod cache;
mod call;
pub mod error;
mod hostfns;
pub mod http;
mod limits;
mod loader;
mod log;
pub mod schema;
pub mod sync_step;
#[cfg(test)]
mod tests;
mod ticker;

use std::path::Path;
use std::sync::Arc;

use wasmtime::{Engine, Linker};
use zeroize::Zeroizing;

pub use abi::{ABI_VERSION, Created, Info, Leased, Op, StepRequest};
pub use error::{ErrorKind, PluginError};
pub use limits::{DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS};
pub use loader::{Pin, file_sha256, pin_status, read_wasm};
pub use log::one_line;
pub(crate) use log::redact;
pub use sync_step::{SyncAction, SyncEntry, SyncRequest, Written};

use crate::config::PluginDecl;
use call::{Linked, State};
use error::json_error;
use limits::Limits;
use ticker::{Ticker, Ticking};

// The rotation engine may run plugins from worker threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Host>();
    send_sync::<Plugin>();
};

/// Where the plugin host's remarks go: one line each, already redacted and
/// neutralised (`plugin 'NAME': …`) — what a plugin logged, and with debug
/// on, load and call timings. The CLI prints them on stderr.
pub type Diagnostics = Arc<dyn Fn(&str) + Send + Sync>;

/// The wasm runtime: one engine (compiled code is shared by every plugin),
/// the host functions, and the epoch ticker. Cheap to clone; make one per
/// process and clone it (each `Host::new` builds an engine and its own epoch
/// thread). `Host` and `Plugin` are `Send + Sync`.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
    notes: Diagnostics,
    /// Show plugins' debug log lines and the host's timings.
    debug: bool,
}

struct HostInner {
    engine: Engine,
    linker: Linker<State>,
    ticker: Arc<Ticker>,
}

impl Host {
    /// A host whose remarks go nowhere; see [`Host::diagnostics`].
    pub fn new() -> Result<Host, crate::Error> {
        Host::with_ticker(Ticker::default())
    }

    fn with_ticker(ticker: Ticker) -> Result<Host, crate::Error> {
        let mut cfg = wasmtime::Config::new();
        cfg.epoch_interruption(true);
        // Deep recursion traps instead of taking the process's stack.
        cfg.max_wasm_stack(1 << 20);
        let engine = Engine::new(&cfg)
            .map_err(|e| crate::Error::msg(format!("cannot start the wasm engine: {e}")))?;
        let linker = hostfns::linker(&engine)
            .map_err(|e| crate::Error::msg(format!("cannot link host functions: {e}")))?;
        Ok(Host {
            inner: Arc::new(HostInner {
                engine,
                linker,
                ticker: Arc::new(ticker),
            }),
            notes: Arc::new(|_| {}),
            debug: false,
        })
    }

    /// Send remarks to `sink`; `debug` adds plugins' debug log lines and
    /// the host's timings.
    pub fn diagnostics(mut self, debug: bool, sink: impl Fn(&str) + Send + Sync + 'static) -> Host {
        self.notes = Arc::new(sink);
        self.debug = debug;
        self
    }

    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn linker(&self) -> &Linker<State> {
        &self.inner.linker
    }

    fn start_ticking(&self) -> Ticking {
        self.inner.ticker.start(&self.inner.engine)
    }

    fn debug(&self) -> bool {
        self.debug
    }

    fn note(&self, line: &str) {
        (self.notes)(line)
    }

    /// Load a configured plugin: check its sha256 pin, compile (or load
    /// from cache), check its imports, exports and ABI version, and ask
    /// for its `info`. `decl.path` is relative to `root`.
    pub fn load(&self, root: &Path, name: &str, decl: &PluginDecl) -> Result<Plugin, PluginError> {
        self.load_file(loader::Request {
            name,
            shown: Path::new(&decl.path),
            path: &root.join(&decl.path),
            pin: Some(&decl.sha256),
            granted: &decl.hosts,
            limits: Limits::new(decl.timeout_secs, decl.memory_mb),
        })
    }

    /// Load a plugin file that is not configured (for `gsec plugin inspect`):
    /// no pin, no hosts granted, default limits.
    pub fn inspect(&self, path: &Path) -> Result<Plugin, PluginError> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.load_file(loader::Request {
            name: &name,
            shown: path,
            path,
            pin: None,
            granted: &[],
            limits: Limits::default(),
        })
    }
}

/// A loaded plugin whose `info` was checked. Every call instantiates it
/// afresh: no state survives between calls except what the plugin returns.
pub struct Plugin {
    linked: Linked,
    sha256: String,
    policy: Arc<http::Policy>,
    info: Info,
    cached: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.linked.name)
            .field("path", &self.linked.path)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.linked.name
    }

    /// The path as configured.
    pub fn path(&self) -> &Path {
        &self.linked.path
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
        &self.info
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

    /// Make a new credential.
    pub fn create(&self, req: &StepRequest) -> Result<Created, PluginError> {
        let out = self.step(Op::Create, req)?;
        let c = serde_json::from_slice::<Created>(&out).map_err(|e| {
            self.linked.fail(ErrorKind::Protocol(format!(
                "bad 'create' response: {}",
                json_error(&e)
            )))
        })?;
        // An empty value would be stored as the new secret and lose the
        // old one's replacement; no credential is empty.
        if c.value.is_empty() {
            return Err(self.linked.fail(ErrorKind::Protocol(
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

    /// Mint a short-lived credential (the optional `lease` step) from the
    /// root credentials in `req.inputs`. A plugin whose `info.steps` does
    /// not list `lease` is refused before it is called ([`Plugin::send`]).
    pub fn lease(&self, req: &StepRequest) -> Result<Leased, PluginError> {
        let out = self.step(Op::Lease, req)?;
        let l = serde_json::from_slice::<Leased>(&out).map_err(|e| {
            self.linked.fail(ErrorKind::Protocol(format!(
                "bad 'lease' response: {}",
                json_error(&e)
            )))
        })?;
        l.check()
            .map_err(|why| self.linked.fail(ErrorKind::Protocol(why)))?;
        Ok(l)
    }

    fn step(&self, op: Op, req: &StepRequest) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        self.send(op, req, &req.config, &req.secrets())
    }

    /// The config from `.gsec.yaml` against the plugin's `config_schema`
    /// ([`schema`]), before the plugin runs with it.
    fn check_config(
        &self,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), PluginError> {
        schema::check(&self.info.config_schema, config).map_err(|why| {
            self.linked.fail(ErrorKind::Config(format!(
                "{why} (the plugin's config_schema; `gsec plugin inspect {}` shows it)",
                self.linked.path.display()
            )))
        })
    }

    /// One call: `{"op": …}` followed by `req`'s fields, whose `config`
    /// must fit the plugin's `config_schema`; `secrets` are redacted from
    /// what the plugin logs or says in errors.
    fn send<R: serde::Serialize>(
        &self,
        op: Op,
        req: &R,
        config: &serde_json::Map<String, serde_json::Value>,
        secrets: &[Zeroizing<String>],
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        // gsec calls no step the plugin does not list (a sync-only plugin
        // named under `rotation:` is refused here, before any of its code runs).
        if !self.info.supports(op) {
            return Err(self.linked.fail(ErrorKind::Unsupported { op: op.as_str() }));
        }
        self.check_config(config)?;
        #[derive(serde::Serialize)]
        struct Envelope<'a, R> {
            op: &'static str,
            #[serde(flatten)]
            req: &'a R,
        }
        let msg = serde_json::to_vec(&Envelope {
            op: op.as_str(),
            req,
        })
        .map_err(|e| {
            self.linked.fail(ErrorKind::Protocol(format!(
                "cannot encode request: {}",
                json_error(&e)
            )))
        })?;
        self.linked
            .call(op, &Zeroizing::new(msg), self.policy.clone(), secrets)
    }
}
