//! Why a plugin call failed, typed so callers (rotation) can tell a plugin
//! that said no from one that was stopped, and phrased as one line naming
//! the plugin: `plugin 'random' (plugins/random.wasm): exceeded its 2 s time
//! budget`. No variant carries a secret value.

use std::path::PathBuf;

/// A failed plugin load or call: which plugin, and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("plugin '{name}' ({}): {kind}", path.display())]
pub struct PluginError {
    /// The name the plugin is configured under (or its file stem).
    pub name: String,
    /// Its `.wasm` file as configured (relative to the project root).
    pub path: PathBuf,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Read(String),
    /// `.gsec.yaml` pins another hash.
    #[error(
        "sha256 mismatch: .gsec.yaml pins {expected}, the file is {actual} (if you updated the plugin on purpose, update plugins.{name}.sha256)"
    )]
    PinMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    /// The plugin's settings in `.gsec.yaml` (or its own `info`) are wrong.
    #[error("{0}")]
    Config(String),
    /// Not a wasm module wasmtime can compile.
    #[error("not a valid WebAssembly module: {0}")]
    Compile(String),
    /// Imports something the sandbox does not provide (WASI, …).
    #[error(
        "imports '{module}.{field}', which gsec does not provide (plugins may import only gsec.http, gsec.random, gsec.now and gsec.log; WASI is not available)"
    )]
    Import { module: String, field: String },
    /// Missing exports or an ABI version this host does not speak.
    #[error("{0}")]
    Abi(String),
    /// The wall-clock budget ran out.
    #[error("exceeded its {secs} s time budget")]
    Timeout { secs: u64 },
    /// Linear memory would exceed the limit.
    #[error("exceeded its {mb} MiB memory limit")]
    Memory { mb: u64 },
    /// An HTTP request to a host the plugin does not declare or the user
    /// did not grant.
    #[error("HTTP request to {origin} denied: {why}")]
    HostDenied { origin: String, why: String },
    /// An HTTP response body larger than the cap.
    #[error("HTTP response from {origin} exceeds the {limit_mib} MiB limit")]
    ResponseTooLarge { origin: String, limit_mib: u64 },
    /// The plugin broke the ABI at run time (bad pointers, bad JSON, bad
    /// argument to a host function).
    #[error("broke the plugin ABI: {0}")]
    Protocol(String),
    /// A wasm trap (panic, unreachable, out-of-bounds access, stack overflow).
    #[error("crashed during '{op}': {trap}")]
    Trap { op: &'static str, trap: String },
    /// The plugin ran and reported an error (`{"error": …}`).
    #[error("'{op}' failed: {msg}")]
    Failed { op: &'static str, msg: String },
}

impl From<PluginError> for crate::Error {
    fn from(e: PluginError) -> crate::Error {
        crate::Error::msg(e.to_string())
    }
}
