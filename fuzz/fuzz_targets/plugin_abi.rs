//! The plugin ABI's message decoding, host side, through a real plugin:
//! a relay module (wat, loaded once with `Host::inspect`) that answers
//! `info` properly and, for every other call, hands the fuzz input back to
//! the host in one of three ways:
//! - as its response (decoded as `{"error": …}`, `Created`, …);
//! - as the request of a `gsec.http` call (decoded as `HttpRequest`,
//!   URL and host policy), whose answer it returns;
//! - as a `gsec.log` line (rendered and redacted), then as its response.
//!
//! The input reaches the relay hex-encoded in the request's `token` field.
//! The request also carries three secrets (`inputs`, `current`, `value`),
//! all the canary.
//!
//! Input: one selector byte (mode, step, log level), then the payload.
//! The `info` answer itself is decoded as `loader::ask_info` does.
//!
//! Invariants:
//! - no panic in the host;
//! - no error and no diagnostic line contains a secret gsec gave the
//!   plugin, nor the value a `create` returned;
//! - an error the host phrases itself (not the plugin's own `{"error"}`
//!   text, not the origin it was denied) quotes at most a few bytes of
//!   the plugin's message;
//! - diagnostic lines are one line without control characters;
//! - a `create` that succeeds returns a non-empty value.
#![no_main]

use std::sync::{Mutex, OnceLock};

use gsec::plugin::{ErrorKind, Host, Info, Plugin, PluginError, StepRequest};
use gsec_fuzz::{CANARY, assert_no_echo, scratch_dir};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

const T: &str = "plugin_abi";

const INFO: &str = r#"{"name":"relay","version":"1","abi":1,"hosts":["*"]}"#;

const RELAY: &str = r#"(module
  (import "gsec" "http" (func $http (param i32 i32) (result i64)))
  (import "gsec" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 0) "@INFO@")
  (data (i32.const 512) "{}")
  (func (export "gsec_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "gsec_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.const 1)
                (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
                           (i32.const 65536))))
              (i32.const 0))
          (then unreachable))))
    (local.get $p))
  (func $hex (param $c i32) (result i32)
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
      (then (return (i32.sub (local.get $c) (i32.const 48)))))
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 102)))
      (then (return (i32.sub (local.get $c) (i32.const 87)))))
    (i32.const -1))
  (func (export "gsec_call") (param $p i32) (param $l i32) (result i64)
    (local $i i32) (local $end i32) (local $out i32) (local $n i32)
    (local $hi i32) (local $lo i32) (local $mode i32) (local $level i32)
    ;; {"op":"info"}: byte 7 is 'i'.
    (if (i32.eq (i32.load8_u offset=7 (local.get $p)) (i32.const 105))
      (then (return (i64.const @INFOLEN@))))
    (local.set $end (i32.add (local.get $p) (local.get $l)))
    (local.set $i (local.get $p))
    ;; The payload follows the first 'Z' (only the token holds one).
    (block $found
      (loop $scan
        (if (i32.ge_u (local.get $i) (local.get $end))
          (then (return (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const 2)))))
        (br_if $found (i32.eq (i32.load8_u (local.get $i)) (i32.const 90)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (local.set $out (call $alloc (i32.add (i32.div_u (local.get $l) (i32.const 2)) (i32.const 8))))
    (local.set $n (i32.const 0))
    (block $done
      (loop $dec
        (br_if $done (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $end)))
        (local.set $hi (call $hex (i32.load8_u (local.get $i))))
        (local.set $lo (call $hex (i32.load8_u offset=1 (local.get $i))))
        (br_if $done (i32.or (i32.lt_s (local.get $hi) (i32.const 0))
                             (i32.lt_s (local.get $lo) (i32.const 0))))
        (i32.store8 (i32.add (local.get $out) (local.get $n))
          (i32.or (i32.shl (local.get $hi) (i32.const 4)) (local.get $lo)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $dec)))
    (if (i32.lt_u (local.get $n) (i32.const 2))
      (then (return (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const 2)))))
    (local.set $mode (i32.load8_u (local.get $out)))
    (local.set $level (i32.load8_u offset=1 (local.get $out)))
    (local.set $out (i32.add (local.get $out) (i32.const 2)))
    (local.set $n (i32.sub (local.get $n) (i32.const 2)))
    (if (i32.eq (local.get $mode) (i32.const 1))
      (then (return (call $http (local.get $out) (local.get $n)))))
    (if (i32.eq (local.get $mode) (i32.const 2))
      (then (call $log (local.get $level) (local.get $out) (local.get $n))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (local.get $n)))))"#;

fn lines() -> &'static Mutex<Vec<String>> {
    static L: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    L.get_or_init(Mutex::default)
}

fn relay() -> &'static Plugin {
    static P: OnceLock<Plugin> = OnceLock::new();
    P.get_or_init(|| {
        let dir = scratch_dir();
        // Compiled modules go to a scratch cache, not the user's.
        // SAFETY: set once, before the host (and any thread) starts.
        unsafe { std::env::set_var("GSEC_CACHE_DIR", dir.join("cache")) };
        let wat = RELAY
            .replace("@INFO@", &INFO.replace('"', "\\\""))
            .replace("@INFOLEN@", &INFO.len().to_string());
        let wasm = wat::parse_str(&wat).expect("relay wat");
        let path = dir.join("relay.wasm");
        std::fs::write(&path, wasm).expect("write relay");
        let host = Host::new()
            .expect("host")
            .diagnostics(true, |l| lines().lock().unwrap().push(l.to_string()));
        host.inspect(&path).expect("relay loads")
    })
}

/// One step with `payload` handed back by the relay: the step's result
/// (with the value `create` returned) and the diagnostic lines it produced.
fn call(
    mode: u8,
    step: u8,
    level: u8,
    payload: &[u8],
) -> (Result<Option<Zeroizing<String>>, PluginError>, Vec<String>) {
    let plugin = relay();
    lines().lock().unwrap().clear();
    let mut token = String::from("Z");
    for b in [mode, level].iter().chain(payload) {
        token.push_str(&format!("{b:02x}"));
    }
    let secret = || Some(Zeroizing::new(CANARY.to_string()));
    let mut req = StepRequest {
        token: Some(token),
        ..Default::default()
    };
    req.inputs
        .insert("IN".into(), Zeroizing::new(CANARY.to_string()));
    let result = match step {
        0 => {
            req.current = secret();
            plugin.create(&req).map(|c| {
                assert!(!c.value.is_empty(), "{T}: create returned an empty value");
                Some(c.value)
            })
        }
        1 => {
            req.value = secret();
            plugin.verify(&req).map(|()| None)
        }
        _ => {
            req.value = secret();
            req.id = Some("id-1".into());
            plugin.revoke(&req).map(|()| None)
        }
    };
    (result, std::mem::take(&mut *lines().lock().unwrap()))
}

/// The canary as given, or lowercased when gsec lowercases what it shows
/// (a denied URL's host). A plugin that transforms a secret itself can
/// always print it; what is checked is that gsec never shows one as given.
fn shows_canary(s: &str, lowercased: bool) -> bool {
    s.contains(CANARY) || (lowercased && s.contains(&CANARY.to_ascii_lowercase()))
}

fuzz_target!(|data: &[u8]| {
    gsec_fuzz::guarded(|| {
        let Some((&sel, payload)) = data.split_first() else {
            return;
        };
        let mode = sel % 4;
        let step = (sel / 4) % 3;
        let level = (sel / 12) % 5;
        if mode == 3 {
            return info_answer(payload);
        }
        let (result, logged) = call(mode, step, level, payload);
        let created = result.as_ref().ok().cloned().flatten();
        for l in &logged {
            assert!(
                !shows_canary(l, false),
                "{T}: a diagnostic line shows a secret: {l:?}"
            );
            assert!(
                !l.chars().any(char::is_control),
                "{T}: a diagnostic line has control characters: {l:?}"
            );
            // What the plugin logged, without the host's framing.
            let body = l.strip_prefix("plugin 'relay': ").unwrap_or(l);
            let body = ["error: ", "warning: "]
                .iter()
                .find_map(|t| body.strip_prefix(t))
                .unwrap_or(body);
            let timing = body.starts_with('\'') && body.ends_with(" ms");
            if let Some(v) = created.as_deref()
                && v.chars().count() >= 4
                && !timing
                && !"[REDACTED]".contains(v.as_str())
            {
                assert!(
                    !body.contains(v.as_str()),
                    "{T}: a diagnostic line shows the value create returned: {l:?}"
                );
            }
        }
        if let Err(e) = result {
            let msg = e.to_string();
            let denied = matches!(e.kind, ErrorKind::HostDenied { .. });
            assert!(
                !shows_canary(&msg, denied),
                "{T}: an error shows a secret: {msg:?}"
            );
            match &e.kind {
                // The plugin's own words (cut, redacted), and the origin it
                // was refused: shown by design.
                ErrorKind::Failed { .. }
                | ErrorKind::Unavailable { .. }
                | ErrorKind::HostDenied { .. } => {}
                _ => assert_no_echo(T, &msg, payload, &|b| {
                    call(mode, step, level, b).0.err().map(|e| e.to_string())
                }),
            }
        }
    })
});

/// `loader::ask_info`: the `info` answer as the host decodes and checks
/// it, then the host policy built from its `hosts`.
fn info_answer(payload: &[u8]) {
    let Ok(info) = serde_json::from_slice::<Info>(payload) else {
        return;
    };
    if info.check().is_ok() {
        for s in [&info.name, &info.version].into_iter().chain(&info.hosts) {
            assert!(
                !s.chars().any(char::is_control),
                "{T}: info.check passed a field with control characters"
            );
        }
        let _ = gsec::plugin::http::Policy::new("relay", &info.hosts, &info.hosts);
    }
}
