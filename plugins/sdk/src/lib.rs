//! gsec plugin SDK: write a rotation plugin as ordinary Rust.
//!
//! A plugin is a core WebAssembly module (`wasm32-unknown-unknown`) that
//! speaks gsec's JSON message ABI (documented in `docs/plugins.md`). This
//! crate hides that ABI: implement [`Plugin`] and call
//! [`export_plugin!`]; use [`http`], [`random_bytes`], [`rng`], [`now_ms`]
//! and [`log`] for the only capabilities the host gives a plugin.
//!
//! ```ignore
//! use gsec_plugin_sdk::{export_plugin, Created, Info, Plugin, Request, Result};
//! struct Mine;
//! impl Plugin for Mine {
//!     fn info() -> Info { Info::new("mine", env!("CARGO_PKG_VERSION")) }
//!     fn create(req: &Request) -> Result<Created> { Ok(Created::new("s3cret")) }
//! }
//! export_plugin!(Mine);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
pub use serde_json::{self, Map, Value, json};

/// The ABI version this SDK speaks. The host refuses a plugin whose version
/// it does not support, before calling anything else.
pub const ABI_VERSION: i32 = 1;

/// What `info` returns: who the plugin is and what it needs.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub name: String,
    pub version: String,
    /// Filled in by the SDK.
    pub abi: i32,
    /// One line for `gsec plugin inspect`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// HTTP hosts the plugin may call: `api.example.com` (https, port 443),
    /// an origin `https://host:port` / `http://127.0.0.1:8080`, or `*` for
    /// "whatever the user grants" (plugins with a configurable API URL).
    /// The user must also grant each host in `.gsec.yaml`.
    pub hosts: Vec<String>,
    /// JSON Schema of the plugin's `config` object.
    pub config_schema: Value,
    /// The steps the plugin implements (gsec calls no other): by default
    /// the rotation steps (`create`, `verify`, `revoke`); a plugin that also
    /// mints leases or syncs lists them all, e.g.
    /// `.steps(&["create", "verify", "revoke", "lease"])` (see
    /// [`Plugin::lease`], [`sync`]).
    pub steps: Vec<String>,
}

impl Info {
    pub fn new(name: &str, version: &str) -> Info {
        Info {
            name: name.into(),
            version: version.into(),
            abi: ABI_VERSION,
            description: String::new(),
            hosts: vec![],
            config_schema: json!({"type": "object"}),
            steps: ["create", "verify", "revoke"].map(String::from).to_vec(),
        }
    }
    /// Declare the steps the plugin implements: the whole set, rotation's
    /// included when it has them. gsec calls no step that is not listed.
    pub fn steps(mut self, steps: &[&str]) -> Info {
        self.steps = steps.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn description(mut self, d: &str) -> Info {
        self.description = d.into();
        self
    }
    pub fn hosts(mut self, hosts: &[&str]) -> Info {
        self.hosts = hosts.iter().map(|h| h.to_string()).collect();
        self
    }
    pub fn config_schema(mut self, schema: Value) -> Info {
        self.config_schema = schema;
        self
    }
}

/// A `create`, `verify` or `revoke` request. Which fields are set depends on
/// the step (see `docs/plugins.md`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Request {
    /// `rotation.config` from `.gsec.yaml`.
    pub config: Map<String, Value>,
    /// Values of the secrets named in `rotation.inputs`.
    pub inputs: BTreeMap<String, String>,
    /// `create`: the value being replaced, if any.
    pub current: Option<String>,
    /// `verify`: the new value; `revoke`: the old value.
    pub value: Option<String>,
    /// What `create` returned as `state`, carried between steps.
    pub state: Option<Value>,
    /// `revoke`: the provider's id of the credential to retire; `create`:
    /// the id of the credential being replaced, when gsec's journal has it
    /// (from the rotation that made it).
    pub id: Option<String>,
    /// The rotation's idempotency token: the same on every retry of one
    /// rotation; name or tag created credentials with it so a retried
    /// `create` can find what an interrupted one made.
    pub token: Option<String>,
}

impl Request {
    /// A config string, or an error naming the key.
    pub fn config_str(&self, key: &str) -> Result<&str> {
        match self.config.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(Error::new(format!("config.{key} must be a string"))),
            None => Err(Error::new(format!("config.{key} is required"))),
        }
    }
    /// An optional config string.
    pub fn config_str_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.config.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::new(format!("config.{key} must be a string"))),
        }
    }
    /// An optional http(s) base URL (an `api_url`, an `address`), without
    /// its trailing `/`.
    pub fn config_url_opt(&self, key: &str) -> Result<Option<String>> {
        match self.config_str_opt(key)? {
            None => Ok(None),
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                Ok(Some(u.trim_end_matches('/').to_string()))
            }
            Some(_) => Err(Error::new(format!("config.{key} must be an http(s) URL"))),
        }
    }
    /// Refuse a `config` key the plugin does not know: a misspelt setting
    /// must not be silently ignored.
    pub fn config_known(&self, plugin: &str, known: &[&str]) -> Result<()> {
        match self.config.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(Error::new(format!(
                "config.{k} is not a setting of the {plugin} plugin (settings: {})",
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }
    /// An optional non-negative integer.
    pub fn config_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.config.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::new(format!("config.{key} must be a non-negative integer"))),
        }
    }
    /// An input secret's value, or an error naming it (never its value).
    pub fn input(&self, name: &str) -> Result<&str> {
        self.inputs.get(name).map(String::as_str).ok_or_else(|| {
            Error::new(format!(
                "input secret '{name}' is required (list it in rotation.inputs)"
            ))
        })
    }
}

/// What `create` returns.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    /// The new secret value; gsec stores it encrypted.
    pub value: String,
    /// Anything to carry to `verify`/`revoke` (never put secrets here that
    /// are not also in `value`: state is stored encrypted, but shown to the
    /// plugin's later steps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// The provider's identifier of the new credential (key id, hook id…),
    /// used for idempotency and to revoke it later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Created {
    pub fn new(value: impl Into<String>) -> Created {
        Created {
            value: value.into(),
            state: None,
            id: None,
        }
    }
    pub fn id(mut self, id: impl Into<String>) -> Created {
        self.id = Some(id.into());
        self
    }
    pub fn state(mut self, state: Value) -> Created {
        self.state = Some(state);
        self
    }
}

/// What the optional `lease` step returns: a short-lived credential as
/// named fields (`.gsec.yaml`'s `lease.env` maps them to environment
/// variables), and when it expires. gsec never stores it.
#[derive(Debug, Clone, Serialize)]
pub struct Lease {
    /// Field name → secret value, in order.
    pub values: BTreeMap<String, String>,
    /// RFC 3339 time after which the provider refuses it (`gsec run`
    /// warns or stops the command before then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The provider's identifier of the lease (shown, never secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Lease {
    /// A lease of one field.
    pub fn new(field: &str, value: impl Into<String>) -> Lease {
        Lease {
            values: BTreeMap::from([(field.to_string(), value.into())]),
            expires_at: None,
            id: None,
        }
    }
    /// Add a field.
    pub fn field(mut self, field: &str, value: impl Into<String>) -> Lease {
        self.values.insert(field.to_string(), value.into());
        self
    }
    pub fn expires_at(mut self, rfc3339: impl Into<String>) -> Lease {
        self.expires_at = Some(rfc3339.into());
        self
    }
    pub fn id(mut self, id: impl Into<String>) -> Lease {
        self.id = Some(id.into());
        self
    }
}

/// A plugin error: one line, shown to the user as
/// `plugin 'NAME' (PATH): <message>`. Never put secret values in it.
///
/// [`Error::retry`] marks an error as "could not reach an answer" (provider
/// unreachable, rate limited, 5xx): gsec then keeps the step for
/// `gsec rotate --resume` instead of treating it as a no (see the ABI's
/// `"retry": true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    retry: bool,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error {
            message: msg.into(),
            retry: false,
        }
    }
    /// An error meaning "try again later", not "no".
    pub fn retry(msg: impl Into<String>) -> Error {
        Error {
            message: msg.into(),
            retry: true,
        }
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn is_retry(&self) -> bool {
        self.retry
    }
    /// The same error with `context: ` in front, keeping the retry flag.
    pub fn context(self, context: &str) -> Error {
        Error {
            message: format!("{context}: {}", self.message),
            retry: self.retry,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error::new(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Error {
        Error::new(s)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::new(format!("JSON: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A rotation plugin. `verify` and `revoke` default to "nothing to do".
pub trait Plugin {
    fn info() -> Info;
    /// Make a new credential. Must be safe to retry: when `current`/`state`
    /// show a previous attempt, reuse or replace it rather than leaking one.
    fn create(req: &Request) -> Result<Created>;
    /// Check that `req.value` works.
    fn verify(_req: &Request) -> Result<()> {
        Ok(())
    }
    /// Retire the old credential (`req.value`, `req.id`). Must succeed when
    /// it is already gone.
    fn revoke(_req: &Request) -> Result<()> {
        Ok(())
    }
    /// Optional: mint a short-lived credential from the root credential(s)
    /// in `req.inputs` (`lease.inputs`), configured by `req.config`
    /// (`lease.config`). List `"lease"` in [`Info::steps`].
    fn lease(_req: &Request) -> Result<Lease> {
        Err(Error::new("this plugin does not mint leases"))
    }
    /// The `sync` step (list it in [`Info::steps`]): see [`sync`].
    fn sync(_req: &Request, _sync: &sync::Sync) -> Result<sync::Synced> {
        Err(Error::new("this plugin has no 'sync' step"))
    }
}

/// Host imports (module `gsec`). Only these exist: no filesystem, sockets,
/// clock other than `now`, or environment.
#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "gsec")]
    unsafe extern "C" {
        #[link_name = "http"]
        fn http_raw(req_ptr: *const u8, req_len: usize) -> u64;
        #[link_name = "random"]
        fn random_raw(ptr: *mut u8, len: usize);
        #[link_name = "now"]
        fn now_raw() -> i64;
        #[link_name = "log"]
        fn log_raw(level: i32, ptr: *const u8, len: usize);
    }

    pub fn http(req: &[u8]) -> Vec<u8> {
        // SAFETY: the host reads `len` bytes at `ptr` and returns a buffer
        // it allocated in our memory with `gsec_alloc`.
        let packed = unsafe { http_raw(req.as_ptr(), req.len()) };
        let ptr = (packed >> 32) as usize as *mut u8;
        let len = (packed & 0xffff_ffff) as usize;
        // SAFETY: the host allocated this buffer with `gsec_alloc(len)` and
        // filled all of it.
        unsafe { super::__rt::take(ptr, len) }
    }
    pub fn random(buf: &mut [u8]) {
        // SAFETY: the host writes exactly `len` bytes at `ptr`, inside our memory.
        unsafe { random_raw(buf.as_mut_ptr(), buf.len()) }
    }
    pub fn now() -> i64 {
        // SAFETY: no arguments.
        unsafe { now_raw() }
    }
    pub fn log(level: i32, msg: &str) {
        // SAFETY: the host reads `len` bytes at `ptr`.
        unsafe { log_raw(level, msg.as_ptr(), msg.len()) }
    }
    /// There is no sleep import: wait by watching the clock (the call's
    /// time budget still bounds it).
    pub fn sleep(ms: u64) {
        let end = now().saturating_add(ms as i64);
        while now() < end {
            std::hint::spin_loop();
        }
    }
}

/// Natively (unit tests), host functions go to the [`testing::Harness`]
/// running the plugin; outside one they refuse.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    pub fn http(req: &[u8]) -> Vec<u8> {
        crate::testing::with_host(|h| h.http(req))
    }
    pub fn random(buf: &mut [u8]) {
        crate::testing::with_host(|h| h.random(buf))
    }
    pub fn now() -> i64 {
        crate::testing::with_host(|h| h.now())
    }
    pub fn log(level: i32, msg: &str) {
        crate::testing::try_with_host(|h| h.log(level, msg));
    }
    pub fn sleep(ms: u64) {
        crate::testing::with_host(|h| h.sleep(ms))
    }
}

/// Random bytes from the host's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    fill_random(&mut v);
    v
}

fn fill_random(buf: &mut [u8]) {
    if !buf.is_empty() {
        host::random(buf)
    }
}

/// A `rand_core` RNG over the host's CSPRNG, for crates that take
/// `RngCore + CryptoRng` (ed25519 keys, sealed boxes…).
pub fn rng() -> HostRng {
    HostRng
}

/// See [`rng`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HostRng;

impl rand_core::RngCore for HostRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        fill_random(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        fill_random(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        fill_random(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
        fill_random(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for HostRng {}

/// Milliseconds since the Unix epoch, from the host.
pub fn now_ms() -> i64 {
    host::now()
}

/// Wait `ms` milliseconds. The ABI has no sleep, so inside gsec this watches
/// the clock (the call's time budget bounds it like any work); keep waits
/// short and prefer [`Error::retry`] for long ones. Under
/// [`testing::Harness`] it advances the harness's clock at once.
pub fn sleep_ms(ms: u64) {
    host::sleep(ms)
}

/// Log lines go to the user's terminal, prefixed with the plugin's name.
/// The host truncates long lines and redacts the secret values it passed
/// in or got back; still, never log a secret.
pub mod log {
    fn emit(level: i32, msg: &str) {
        super::host::log(level, msg)
    }
    pub fn error(msg: &str) {
        emit(0, msg)
    }
    pub fn warn(msg: &str) {
        emit(1, msg)
    }
    pub fn info(msg: &str) {
        emit(2, msg)
    }
    pub fn debug(msg: &str) {
        emit(3, msg)
    }
}

/// HTTP through the host: only to hosts the plugin declares in `info` and
/// the user grants; redirects are not followed; the timeout is the rest of
/// the plugin's time budget; bodies are capped (8 MiB).
pub mod http {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Serialize};

    use super::{Error, Result};

    /// An HTTP response.
    #[derive(Debug, Clone)]
    pub struct Response {
        pub status: u16,
        /// Header names are lower-case.
        pub headers: BTreeMap<String, String>,
        pub body: Vec<u8>,
    }

    impl Response {
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
        pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
            serde_json::from_slice(&self.body).map_err(|e| {
                Error::new(format!(
                    "HTTP {}: response is not the expected JSON: {e}",
                    self.status
                ))
            })
        }
        /// `Ok(self)` for 2xx, else an error with the status (and no body:
        /// bodies can echo credentials). 429 and 5xx are [`Error::retry`]
        /// errors: the provider gave no answer about the credential.
        pub fn error_for_status(self) -> Result<Response> {
            if (200..300).contains(&self.status) {
                Ok(self)
            } else if self.is_transient() {
                Err(Error::retry(format!("HTTP {}", self.status)))
            } else {
                Err(Error::new(format!("HTTP {}", self.status)))
            }
        }
        /// 429 (rate limited) or a 5xx: worth retrying later.
        pub fn is_transient(&self) -> bool {
            self.status == 429 || (500..600).contains(&self.status)
        }
        /// A header's value (names are matched case-insensitively).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    #[derive(Serialize)]
    struct WireRequest<'a> {
        method: &'a str,
        url: &'a str,
        headers: BTreeMap<&'a str, &'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    }

    #[derive(Deserialize)]
    struct WireResponse {
        #[serde(default)]
        status: u16,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: String,
        #[serde(default)]
        error: Option<String>,
    }

    /// Send a request. Transport failures (refused, timeout, DNS) are
    /// `Err`; any HTTP status is `Ok` (see [`Response::error_for_status`]).
    pub fn request(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response> {
        let req = WireRequest {
            method,
            url,
            headers: headers.iter().copied().collect(),
            body: body.map(|b| STANDARD.encode(b)),
        };
        let bytes = serde_json::to_vec(&req)?;
        let out = super::host::http(&bytes);
        let resp: WireResponse = serde_json::from_slice(&out)?;
        if let Some(e) = resp.error {
            // A transport failure (refused, DNS, timeout): no answer, so
            // "retry later" rather than "no".
            return Err(Error::retry(format!("{method} {}: {e}", strip_query(url))));
        }
        let body = STANDARD
            .decode(resp.body.as_bytes())
            .map_err(|e| Error::new(format!("host sent a bad body: {e}")))?;
        Ok(Response {
            status: resp.status,
            headers: resp.headers,
            body,
        })
    }

    /// URLs in errors lose their query string (it may carry tokens).
    fn strip_query(url: &str) -> &str {
        url.split(['?', '#']).next().unwrap_or(url)
    }

    pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response> {
        request("GET", url, headers, None)
    }
    pub fn delete(url: &str, headers: &[(&str, &str)]) -> Result<Response> {
        request("DELETE", url, headers, None)
    }
    pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response> {
        request("POST", url, headers, Some(body))
    }
    pub fn put(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response> {
        request("PUT", url, headers, Some(body))
    }
    pub fn patch(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response> {
        request("PATCH", url, headers, Some(body))
    }
}

pub mod jsonpath;
pub mod retry;
pub mod sigv4;
pub mod sync;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod xml;

pub use jsonpath::json_path;

/// Implementation detail of [`export_plugin!`]: one JSON request in, one
/// JSON response out.
#[doc(hidden)]
pub mod __rt {
    use super::*;

    /// A buffer of exactly `len` bytes (a boxed slice, so its allocation
    /// size is known to be `len` when [`take`] frees it).
    pub fn alloc(len: usize) -> *mut u8 {
        Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut u8
    }

    /// Take back ownership of a buffer from [`alloc`].
    ///
    /// # Safety
    /// `ptr` must come from `alloc(len)` with this `len`, and not be taken twice.
    pub unsafe fn take(ptr: *mut u8, len: usize) -> Vec<u8> {
        // SAFETY: per the contract, this is the boxed slice `alloc` leaked.
        unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) }.into_vec()
    }

    #[derive(Deserialize)]
    struct Envelope {
        op: String,
        #[serde(flatten)]
        rest: Value,
    }

    pub fn dispatch<P: Plugin>(input: &[u8]) -> Value {
        let env: Envelope = match serde_json::from_slice(input) {
            Ok(e) => e,
            Err(e) => return json!({"error": format!("bad request from host: {e}")}),
        };
        let req = || -> Result<Request> { Ok(serde_json::from_value(env.rest.clone())?) };
        let res: Result<Value> = match env.op.as_str() {
            "info" => serde_json::to_value(P::info()).map_err(Error::from),
            "create" => req()
                .and_then(|r| P::create(&r))
                .and_then(|c| Ok(serde_json::to_value(c)?)),
            "verify" => req()
                .and_then(|r| P::verify(&r))
                .map(|()| json!({"ok": true})),
            "revoke" => req()
                .and_then(|r| P::revoke(&r))
                .map(|()| json!({"ok": true})),
            "lease" => req()
                .and_then(|r| P::lease(&r))
                .and_then(|l| Ok(serde_json::to_value(l)?)),
            "sync" => req().and_then(|r| {
                let s: sync::Sync = serde_json::from_value(env.rest.clone())?;
                P::sync(&r, &s).map(sync::Synced::into_json)
            }),
            other => Err(Error::new(format!("unknown op '{other}'"))),
        };
        match res {
            Ok(v) => v,
            Err(e) if e.retry => json!({"error": e.message, "retry": true}),
            Err(e) => json!({"error": e.message}),
        }
    }

    /// # Safety
    /// `ptr..ptr+len` must be a buffer from [`alloc`]`(len)`, fully
    /// written; it is consumed. The host guarantees this (see the ABI).
    pub unsafe fn call<P: Plugin>(ptr: *mut u8, len: usize) -> u64 {
        // A panic aborts (a trap); log its message first so the user sees
        // why instead of just "unreachable".
        std::panic::set_hook(Box::new(|p| log::error(&format!("panic: {p}"))));
        // SAFETY: the host wrote `len` bytes into a buffer it got from
        // `gsec_alloc(len)`; we own it now.
        let input = unsafe { take(ptr, len) };
        let out = serde_json::to_vec(&dispatch::<P>(&input))
            .unwrap_or_else(|_| br#"{"error":"cannot encode response"}"#.to_vec());
        let out = out.into_boxed_slice();
        let len = out.len() as u64;
        let p = Box::into_raw(out) as *mut u8 as usize as u64;
        (p << 32) | len
    }
}

/// Export the ABI entry points for a [`Plugin`] type: `gsec_abi_version`,
/// `gsec_alloc` and `gsec_call`. Use once, in a `cdylib` crate.
#[macro_export]
macro_rules! export_plugin {
    ($t:ty) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn gsec_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn gsec_alloc(len: usize) -> *mut u8 {
            $crate::__rt::alloc(len)
        }
        #[unsafe(no_mangle)]
        #[allow(clippy::not_unsafe_ptr_arg_deref)] // called by the host only
        pub extern "C" fn gsec_call(ptr: *mut u8, len: usize) -> u64 {
            // SAFETY: the host passes a buffer it got from gsec_alloc(len).
            unsafe { $crate::__rt::call::<$t>(ptr, len) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T;
    impl Plugin for T {
        fn info() -> Info {
            Info::new("t", "1.2.3").hosts(&["api.example.com"])
        }
        fn create(req: &Request) -> Result<Created> {
            match req.config_str("k")? {
                "x" => Ok(Created::new("v").id("i").state(json!({"n": 1}))),
                _ => Err("nope".into()),
            }
        }
    }

    fn call(req: &str) -> Value {
        __rt::dispatch::<T>(req.as_bytes())
    }

    #[test]
    fn dispatch_speaks_the_abi_messages() {
        let info = call(r#"{"op":"info"}"#);
        assert_eq!(info["name"], "t");
        assert_eq!(info["abi"], ABI_VERSION);
        assert_eq!(info["hosts"], json!(["api.example.com"]));
        assert_eq!(info["config_schema"], json!({"type": "object"}));
        assert_eq!(
            call(r#"{"op":"create","config":{"k":"x"},"inputs":{}}"#),
            json!({"value": "v", "id": "i", "state": {"n": 1}})
        );
        assert_eq!(
            call(r#"{"op":"create","config":{"k":"y"}}"#),
            json!({"error": "nope"})
        );
        assert_eq!(
            call(r#"{"op":"create"}"#),
            json!({"error": "config.k is required"})
        );
        assert_eq!(
            call(r#"{"op":"create","config":{"k":1}}"#),
            json!({"error": "config.k must be a string"})
        );
        assert_eq!(call(r#"{"op":"verify","value":"v"}"#), json!({"ok": true}));
        assert_eq!(call(r#"{"op":"revoke","id":"i"}"#), json!({"ok": true}));
        assert_eq!(
            call(r#"{"op":"explode"}"#),
            json!({"error": "unknown op 'explode'"})
        );
        assert!(
            call("not json")["error"]
                .as_str()
                .unwrap()
                .starts_with("bad request from host")
        );
        // Unknown fields are ignored (forward compatibility within an ABI version).
        assert_eq!(
            call(r#"{"op":"verify","future_field":true}"#),
            json!({"ok": true})
        );
    }

    struct Leaser;
    impl Plugin for Leaser {
        fn info() -> Info {
            Info::new("l", "1.0.0").steps(&["lease"])
        }
        fn create(_: &Request) -> Result<Created> {
            Err("rotation is not supported".into())
        }
        fn lease(req: &Request) -> Result<Lease> {
            Ok(Lease::new("token", format!("t-{}", req.input("ROOT")?))
                .field("user", "u")
                .expires_at("2030-01-01T00:00:00Z"))
        }
    }

    struct S;
    impl Plugin for S {
        fn info() -> Info {
            Info::new("s", "1.0.0").steps(&["sync"])
        }
        fn create(_req: &Request) -> Result<Created> {
            Err("no".into())
        }
        fn sync(req: &Request, s: &sync::Sync) -> Result<sync::Synced> {
            Ok(match s.action {
                sync::Action::List => sync::Synced::Listed(vec![sync::Entry {
                    name: "A".into(),
                    fingerprint: Some("v1:00".into()),
                    version: Some(json!(3)),
                }]),
                sync::Action::Put => {
                    assert_eq!(req.value.as_deref(), Some("v"));
                    assert_eq!(s.version, Some(json!(3)));
                    sync::Synced::Written(sync::Outcome::Updated)
                }
                sync::Action::Delete => sync::Synced::Deleted,
            })
        }
    }

    #[test]
    fn lease_is_an_optional_step_listed_in_info() {
        // Without it: not listed, and a call says so.
        assert_eq!(
            call(r#"{"op":"info"}"#)["steps"],
            json!(["create", "verify", "revoke"])
        );
        assert_eq!(
            call(r#"{"op":"lease"}"#),
            json!({"error": "this plugin does not mint leases"})
        );
        let call = |r: &str| __rt::dispatch::<Leaser>(r.as_bytes());
        assert_eq!(call(r#"{"op":"info"}"#)["steps"], json!(["lease"]));
        assert_eq!(
            call(r#"{"op":"lease","config":{},"inputs":{"ROOT":"r"}}"#),
            json!({"values": {"token": "t-r", "user": "u"}, "expires_at": "2030-01-01T00:00:00Z"})
        );
    }

    #[test]
    fn sync_step_speaks_its_messages_and_is_absent_by_default() {
        assert_eq!(
            call(r#"{"op":"info"}"#)["steps"],
            json!(["create", "verify", "revoke"])
        );
        assert_eq!(
            call(r#"{"op":"sync","action":"list"}"#),
            json!({"error": "this plugin has no 'sync' step"})
        );
        let d = |r: &str| __rt::dispatch::<S>(r.as_bytes());
        assert_eq!(d(r#"{"op":"info"}"#)["steps"], json!(["sync"]));
        assert_eq!(
            d(r#"{"op":"sync","action":"list","config":{}}"#),
            json!({"entries": [{"name": "A", "fingerprint": "v1:00", "version": 3}]})
        );
        assert_eq!(
            d(
                r#"{"op":"sync","action":"put","name":"A","value":"v","fingerprint":"v1:01","version":3,"token":"t"}"#
            ),
            json!({"outcome": "updated"})
        );
        assert_eq!(
            d(r#"{"op":"sync","action":"delete","name":"A"}"#),
            json!({"ok": true})
        );
        assert!(d(r#"{"op":"sync","action":"explode"}"#)["error"].is_string());
    }

    #[test]
    fn request_helpers_name_what_is_missing() {
        let r: Request = serde_json::from_value(
            json!({"config": {"n": 5, "s": "a"}, "inputs": {"KEY": "secret"}}),
        )
        .unwrap();
        assert_eq!(r.config_u64("n").unwrap(), Some(5));
        assert_eq!(r.config_u64("absent").unwrap(), None);
        assert!(r.config_u64("s").is_err());
        assert_eq!(r.config_str_opt("s").unwrap(), Some("a"));
        assert_eq!(r.input("KEY").unwrap(), "secret");
        let e = r.input("OTHER").unwrap_err();
        assert_eq!(
            e.message(),
            "input secret 'OTHER' is required (list it in rotation.inputs)"
        );
    }
}
