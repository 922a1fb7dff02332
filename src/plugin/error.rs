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
    /// A step the plugin does not list in `info.steps`.
    #[error(
        "does not support the '{op}' step (its info.steps does not list it; use a plugin version that does)"
    )]
    Unsupported { op: &'static str },
    /// The plugin ran and reported an error (`{"error": …}`): its answer
    /// is no.
    #[error("'{op}' failed: {msg}")]
    Failed { op: &'static str, msg: String },
    /// The plugin ran but could not reach an answer, and said so
    /// (`{"error": …, "retry": true}`: provider unreachable, rate limited).
    #[error("'{op}' could not finish: {msg} (the plugin asks to retry later)")]
    Unavailable { op: &'static str, msg: String },
}

impl ErrorKind {
    /// The same error with `secrets` removed from every text the plugin
    /// could have chosen: a URL's host, a protocol complaint, a trap
    /// message (a plugin can build any of them from a value it was given;
    /// the fuzzer sent a secret as a denied request's host name).
    pub(crate) fn redacted(self, secrets: &[zeroize::Zeroizing<String>]) -> ErrorKind {
        let r = |s: String| super::log::redact(&s, secrets);
        match self {
            ErrorKind::HostDenied { origin, why } => ErrorKind::HostDenied {
                origin: r(origin),
                why: r(why),
            },
            ErrorKind::ResponseTooLarge { origin, limit_mib } => ErrorKind::ResponseTooLarge {
                origin: r(origin),
                limit_mib,
            },
            ErrorKind::Protocol(m) => ErrorKind::Protocol(r(m)),
            ErrorKind::Trap { op, trap } => ErrorKind::Trap { op, trap: r(trap) },
            ErrorKind::Failed { op, msg } => ErrorKind::Failed { op, msg: r(msg) },
            ErrorKind::Unavailable { op, msg } => ErrorKind::Unavailable { op, msg: r(msg) },
            ErrorKind::Abi(m) => ErrorKind::Abi(r(m)),
            ErrorKind::Config(m) => ErrorKind::Config(r(m)),
            other => other,
        }
    }

    /// Did the plugin run and answer *no*? Only then is a failed `verify`
    /// a verdict on the new credential (roll back). Everything else — the
    /// budget ran out, it crashed, it hit a sandbox limit, it could not be
    /// loaded, it said "try later" — tells nothing about the credential,
    /// so the step is kept for a retry.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ErrorKind::Failed { .. })
    }
}

/// A serde_json error as a message that cannot leak input: serde_json's
/// own messages quote what they read (`invalid type: string "hunter2"`), and
/// what a plugin or a journal holds may be a secret. This is the one place
/// JSON errors about untrusted or secret input are phrased.
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "cannot read",
        Category::Syntax => "not valid JSON",
        Category::Data => "wrong type or missing field",
        Category::Eof => "JSON ends early",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The innermost cause of a wasmtime error, on one line. wasmparser's
/// messages may continue with a multi-line dump of the bytes it expected;
/// the first line says what is wrong.
pub(super) fn root_cause(e: &wasmtime::Error) -> String {
    let msg = e.root_cause().to_string();
    let first = msg.lines().next().unwrap_or_default();
    super::log::one_line(first.split(" - expected=").next().unwrap_or(first), 300)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_secret_in_a_denied_host_or_a_trap_is_redacted() {
        use super::ErrorKind;
        let secrets = [zeroize::Zeroizing::new("s3cr3t-canary-9f2c".to_string())];
        let e = ErrorKind::HostDenied {
            origin: "https://s3cr3t-canary-9f2c.evil.example:443".into(),
            why: "no hosts are granted".into(),
        }
        .redacted(&secrets)
        .to_string();
        assert!(
            !e.contains("s3cr3t-canary-9f2c") && e.contains("[REDACTED]"),
            "{e}"
        );
        let t = ErrorKind::Trap {
            op: "create",
            trap: "panicked: s3cr3t-canary-9f2c".into(),
        }
        .redacted(&secrets)
        .to_string();
        assert!(!t.contains("s3cr3t"), "{t}");
    }

    #[test]
    fn json_errors_never_quote_their_input() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            n: u16,
        }
        let quoted = serde_json::from_str::<T>(r#"{"n": "hunter2-secret"}"#).unwrap_err();
        assert!(
            quoted.to_string().contains("hunter2"),
            "serde quotes input, which is why json_error exists: {quoted}"
        );
        for bad in [
            r#"{"n": "hunter2-secret"}"#,
            r#"{"hunter2-secret": 1}"#,
            r#"{"n": 1, "#,
            "hunter2-secret",
        ] {
            let e = serde_json::from_str::<T>(bad).unwrap_err();
            let msg = super::json_error(&e);
            assert!(!msg.contains("hunter2") && msg.contains("line 1"), "{msg}");
        }
    }
}
