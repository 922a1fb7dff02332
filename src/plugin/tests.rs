//! Library-level tests of the plugin host: what the binary tests cannot see
//! (created values, instance freshness, budget accuracy, log rendering).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use super::log::{LOG_LINE_MAX, render_logs};
use super::*;
use sha2::{Digest, Sha256};

/// `scripts/build-plugins.sh`, once per test process.
fn built(name: &str) -> PathBuf {
    static BUILT: OnceLock<bool> = OnceLock::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = *BUILT.get_or_init(|| {
        std::process::Command::new(root.join("scripts/build-plugins.sh"))
            .env("GSEC_BUILD_QUIET", "1")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(ok, "scripts/build-plugins.sh failed");
    root.join("target/plugins").join(format!("{name}.wasm"))
}

/// A plugin from wat text, pinned, in a temp dir.
fn load_wat(wat: &str, timeout_secs: u64, memory_mb: u64) -> Result<Plugin, PluginError> {
    let bytes = wat::parse_str(wat).unwrap();
    load_bytes(&bytes, timeout_secs, memory_mb)
}

fn load_bytes(bytes: &[u8], timeout_secs: u64, memory_mb: u64) -> Result<Plugin, PluginError> {
    load_on(&Host::new().unwrap(), bytes, timeout_secs, memory_mb)
}

fn load_on(
    host: &Host,
    bytes: &[u8],
    timeout_secs: u64,
    memory_mb: u64,
) -> Result<Plugin, PluginError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.wasm"), bytes).unwrap();
    let decl = PluginDecl {
        path: "p.wasm".into(),
        sha256: hex::encode(Sha256::digest(bytes)),
        hosts: vec![],
        timeout_secs: Some(timeout_secs),
        memory_mb: Some(memory_mb),
    };
    host.load(dir.path(), "t", &decl)
}

fn cfg(v: serde_json::Value) -> StepRequest {
    StepRequest {
        config: v.as_object().unwrap().clone(),
        ..Default::default()
    }
}

/// Exports every ABI function; `gsec_call` answers `info`, and every other
/// op with `{"value":"N"}` where N counts calls in this instance.
const COUNTER: &str = r#"(module
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 0) "{\"name\":\"c\",\"version\":\"1\",\"abi\":1,\"hosts\":[]}")
  (data (i32.const 100) "{\"value\":\"0\"}")
  (func (export "gsec_abi_version") (result i32) (i32.const 1))
  (func (export "gsec_alloc") (param i32) (result i32)
    (global.get $heap) (global.set $heap (i32.add (global.get $heap) (local.get 0))))
  (func (export "gsec_call") (param $p i32) (param $l i32) (result i64)
    (if (i32.eq (i32.load8_u offset=7 (local.get $p)) (i32.const 105))
      (then (return (i64.const 45))))
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store8 offset=110 (i32.const 0) (i32.add (i32.const 48) (global.get $n)))
    (i64.or (i64.shl (i64.const 100) (i64.const 32)) (i64.const 13))))"#;

#[test]
fn random_plugin_values_have_the_configured_shape_and_spread() {
    let host = Host::new().unwrap();
    let path = built("random");
    let dir = path.parent().unwrap();
    let decl = PluginDecl {
        path: "random.wasm".into(),
        sha256: file_sha256(&path).unwrap(),
        ..Default::default()
    };
    let p = host.load(dir, "random", &decl).unwrap();
    assert_eq!(p.info().name, "random");
    assert!(p.info().hosts.is_empty());

    let c = p.create(&cfg(serde_json::json!({}))).unwrap();
    assert_eq!(c.value.len(), 32);
    assert!(c.value.chars().all(|c| c.is_ascii_alphanumeric()));

    let req = cfg(serde_json::json!({"length": 3000, "alphabet": "xyz", "prefix": "k_"}));
    let c = p.create(&req).unwrap();
    let body = c.value.strip_prefix("k_").unwrap();
    assert_eq!(body.len(), 3000);
    for ch in ['x', 'y', 'z'] {
        // 1000 expected, sd ~26: a broken sampler lands far outside.
        let n = body.chars().filter(|&c| c == ch).count();
        assert!((850..1150).contains(&n), "{ch}: {n}");
    }
    let again = p.create(&req).unwrap();
    assert_ne!(again.value, c.value);

    let mut v = req.clone();
    v.value = Some(c.value.clone());
    p.verify(&v).unwrap();
    v.value = Some(Zeroizing::new("k_abc".into()));
    let e = p.verify(&v).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Failed { op: "verify", .. }),
        "{e}"
    );

    // Refused by the plugin's config_schema before the plugin runs.
    let e = p
        .create(&cfg(serde_json::json!({"length": 0})))
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Config(_)), "{e}");
    assert!(
        e.to_string()
            .contains("config.length: 0 is below the minimum 1"),
        "{e}"
    );
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let p = load_wat(COUNTER, 5, 16).unwrap();
    for _ in 0..3 {
        assert_eq!(
            p.create(&StepRequest::default()).unwrap().value.as_str(),
            "1"
        );
    }
}

/// The budget is counted in epoch ticks, not measured: with a ticker the
/// test drives, a looping call runs on one tick short of its budget and is
/// interrupted by the last one. No wall-clock bound to flake on a busy
/// machine (the timeouts below only keep a broken build from hanging).
#[test]
fn time_budget_is_counted_in_epoch_ticks() {
    let wat = COUNTER.replace(
        "(global.set $n (i32.add",
        "(loop $l (br $l)) (global.set $n (i32.add",
    );
    let host = Host::with_ticker(ticker::Ticker::manual()).unwrap();
    let p = load_on(&host, &wat::parse_str(&wat).unwrap(), 1, 16).unwrap();
    let ticks = limits::Limits::new(Some(1), None).ticks();
    assert_eq!(ticks, 101, "1 s in 10 ms ticks, plus the partial one");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| tx.send(p.create(&StepRequest::default())).unwrap());
        // The deadline counts from the call's start: wait for it.
        while host.inner.ticker.active() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..ticks - 1 {
            host.engine().increment_epoch();
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "stopped before its budget"
        );
        host.engine().increment_epoch();
        let e = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the last tick of the budget interrupts the call")
            .unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Timeout { secs: 1 }), "{e}");
        assert!(!e.kind.is_rejection(), "a timeout is no verdict");
        assert_eq!(
            e.to_string(),
            "plugin 't' (p.wasm): exceeded its 1 s time budget"
        );
    });
}

#[test]
fn initial_memory_over_the_limit_is_refused() {
    let wat = COUNTER.replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") 300)",
    );
    let e = load_wat(&wat, 5, 16).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Memory { mb: 16 }), "{e}");
}

#[test]
fn shape_is_checked_before_anything_runs() {
    let e = load_wat(&COUNTER.replace("\"gsec_alloc\"", "\"alloc\""), 5, 16).unwrap_err();
    assert!(e.to_string().contains("missing export 'gsec_alloc'"), "{e}");
    let wat = COUNTER.replace("(result i32) (i32.const 1))", "(result i64) (i64.const 1))");
    let e = load_wat(&wat, 5, 16).unwrap_err();
    assert!(
        e.to_string()
            .contains("missing export 'gsec_abi_version' with the ABI's signature"),
        "{e}"
    );
    // A start function that loops would hang an unchecked loader; ours
    // runs it under the budget.
    let wat = COUNTER.replace(
        "(global $n",
        "(func $s (loop $l (br $l))) (start $s) (global $n",
    );
    let e = load_wat(&wat, 1, 16).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Timeout { .. }), "{e}");
}

#[test]
fn bad_responses_are_protocol_errors() {
    // Out-of-bounds response pointer.
    let wat = COUNTER.replace(
        "(i64.const 100) (i64.const 32)",
        "(i64.const 99999) (i64.const 32)",
    );
    let e = load_wat(&wat, 5, 16)
        .unwrap()
        .create(&StepRequest::default())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("broke the plugin ABI: gsec_call returned an out-of-bounds response"),
        "{e}"
    );
    // Not JSON.
    let wat = COUNTER.replace(r#"{\"value\":\"0\"}"#, "not json at all");
    let e = load_wat(&wat, 5, 16)
        .unwrap()
        .create(&StepRequest::default())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("'create' response is not a JSON object"),
        "{e}"
    );
}

#[test]
fn logs_are_prefixed_redacted_neutralised_and_capped() {
    let secrets = [
        Zeroizing::new("hunter2-token".to_string()),
        Zeroizing::new("ab".to_string()),
    ];
    let logs = vec![
        (2, "using hunter2-token now".to_string()),
        (0, "bad\x1b[2Jthing\nsecond line".to_string()),
        (3, "debug detail".to_string()),
        (1, "x".repeat(2000)),
        (2, "ab stays: too short to be a credential".to_string()),
    ];
    let out = render_logs("p", logs.clone(), 7, &secrets, false);
    let out: Vec<&str> = out.iter().map(|s| s.as_str()).collect();
    assert_eq!(out[0], "plugin 'p': using [REDACTED] now");
    assert_eq!(out[1], "plugin 'p': error: bad?[2Jthing?second line");
    assert!(out[2].starts_with("plugin 'p': warning: xxx") && out[2].ends_with('…'));
    assert!(out[2].chars().count() < LOG_LINE_MAX + 40);
    assert_eq!(out[3], "plugin 'p': ab stays: too short to be a credential");
    assert_eq!(out[4], "plugin 'p': (7 more log lines dropped)");
    assert_eq!(out.len(), 5, "debug lines hidden by default");
    assert_eq!(render_logs("p", logs, 0, &secrets, true).len(), 5);
}

#[test]
fn step_request_debug_hides_values() {
    let mut r = StepRequest::default();
    r.inputs
        .insert("KEY".into(), Zeroizing::new("s3cr3t-input".into()));
    r.value = Some(Zeroizing::new("s3cr3t-value".into()));
    let d = format!("{r:?}");
    assert!(d.contains("KEY") && !d.contains("s3cr3t"), "{d}");
    let json = String::from_utf8(serde_json::to_vec(&r).unwrap()).unwrap();
    assert!(
        json.contains(r#""inputs":{"KEY":"s3cr3t-input"}"#)
            && json.contains(r#""value":"s3cr3t-value""#),
        "{json}"
    );
}

#[test]
fn a_bad_grant_names_the_config_key() {
    let bytes = wat::parse_str(COUNTER).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.wasm"), &bytes).unwrap();
    let decl = PluginDecl {
        path: "p.wasm".into(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        hosts: vec!["ftp://files.example".into()],
        ..Default::default()
    };
    let e = Host::new()
        .unwrap()
        .load(dir.path(), "t", &decl)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin 't' (p.wasm): .gsec.yaml plugins.t.hosts: scheme 'ftp' is not allowed (only http and https)"
    );
}

#[test]
fn info_must_be_printable() {
    let wat = COUNTER.replace(r#"{\"name\":\"c\""#, r#"{\"name\":\"\\u001b\""#);
    assert_ne!(wat, COUNTER);
    let wat = wat.replace("(i64.const 45)", "(i64.const 50)");
    let e = load_wat(&wat, 5, 16).unwrap_err();
    assert!(
        e.to_string()
            .contains("info.name must be 1 to 64 printable characters"),
        "{e}"
    );
}

#[test]
fn absurd_limits_are_clamped_not_fatal() {
    let bytes = wat::parse_str(COUNTER).unwrap();
    let p = load_bytes(&bytes, u64::MAX, u64::MAX).unwrap();
    assert_eq!(
        p.create(&StepRequest::default()).unwrap().value.as_str(),
        "1"
    );
    // 0 s and 0 MiB round up to 1 s and 1 MiB (this module needs 64 KiB).
    let p = load_bytes(&bytes, 0, 0).unwrap();
    assert_eq!(
        p.create(&StepRequest::default()).unwrap().value.as_str(),
        "1"
    );
}

#[test]
fn secrets_are_redacted_from_plugin_errors() {
    let wat = COUNTER
        .replace(
            r#"{\"value\":\"0\"}"#,
            r#"{\"error\":\"key hunter22 rejected\"}"#,
        )
        .replace("(i64.const 13)", "(i64.const 33)")
        .replace("(i32.store8 offset=110", "(i32.store8 offset=200");
    let p = load_wat(&wat, 5, 16).unwrap();
    let mut req = StepRequest::default();
    req.inputs
        .insert("K".into(), Zeroizing::new("hunter22".into()));
    let e = p.verify(&req).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin 't' (p.wasm): 'verify' failed: key [REDACTED] rejected"
    );
}

#[test]
fn an_error_marked_retry_is_no_verdict() {
    let answer = r#"{\"error\":\"rate limited\",\"retry\":true}"#;
    let len = answer.replace('\\', "").len();
    let wat = COUNTER
        .replace(r#"{\"value\":\"0\"}"#, answer)
        .replace("(i64.const 13)", &format!("(i64.const {len})"))
        .replace("(i32.store8 offset=110", "(i32.store8 offset=300");
    let e = load_wat(&wat, 5, 16)
        .unwrap()
        .verify(&StepRequest::default())
        .unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Unavailable { op: "verify", .. }),
        "{e}"
    );
    assert!(!e.kind.is_rejection());
    assert_eq!(
        e.to_string(),
        "plugin 't' (p.wasm): 'verify' could not finish: rate limited (the plugin asks to retry later)"
    );
}

/// serde_json quotes what it cannot parse; a plugin's malformed `http`
/// request is reported by position only.
#[test]
fn a_malformed_http_request_is_reported_without_its_content() {
    let req = r#"{\"method\":\"GET\",\"url\":\"http://x/\",\"hunter2-secret\":1}"#;
    let len = req.replace('\\', "").len();
    let wat = format!(
        r#"(module
  (import "gsec" "http" (func $http (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 0) "{{\"name\":\"c\",\"version\":\"1\",\"abi\":1,\"hosts\":[]}}")
  (data (i32.const 200) "{req}")
  (func (export "gsec_abi_version") (result i32) (i32.const 1))
  (func (export "gsec_alloc") (param i32) (result i32)
    (global.get $heap) (global.set $heap (i32.add (global.get $heap) (local.get 0))))
  (func (export "gsec_call") (param $p i32) (param $l i32) (result i64)
    (if (i32.eq (i32.load8_u offset=7 (local.get $p)) (i32.const 105))
      (then (return (i64.const 45))))
    (drop (call $http (i32.const 200) (i32.const {len})))
    (i64.const 45)))"#
    );
    let e = load_wat(&wat, 5, 16)
        .unwrap()
        .verify(&StepRequest::default())
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("broke the plugin ABI: http: bad request JSON: wrong type or missing field at line 1 column"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
}

/// Log lines go to the caller's diagnostics sink, never to stderr directly.
#[test]
fn log_lines_go_to_the_diagnostics_sink() {
    let wat = COUNTER
        .replace(
            "(module",
            r#"(module (import "gsec" "log" (func $log (param i32 i32 i32)))"#,
        )
        .replace(
            "(global.set $n (i32.add",
            "(call $log (i32.const 2) (i32.const 20) (i32.const 4)) (global.set $n (i32.add",
        );
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = lines.clone();
    let host = Host::new()
        .unwrap()
        .diagnostics(false, move |l| seen.lock().unwrap().push(l.to_string()));
    let p = load_on(&host, &wat::parse_str(&wat).unwrap(), 5, 16).unwrap();
    p.create(&StepRequest::default()).unwrap();
    // Bytes 20..24 of the info JSON (`":"1`, after "version").
    assert_eq!(
        *lines.lock().unwrap(),
        vec![r#"plugin 't': ":"1"#.to_string()]
    );
}
