//! Shared helpers: a temporary project with its own HOME and identity, and
//! a way to run the built binary in it with a controlled environment.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_gsec");

/// A scratch project: `dir` is the repository root, `home` a private HOME
/// (so no developer key is ever used), `key` an identity file.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub home: PathBuf,
    pub key: PathBuf,
    pub recipient: String,
}

impl Env {
    /// A new empty directory with a HOME and one generated identity.
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let key = tmp.path().join("key.txt");
        let mut e = Env {
            tmp,
            dir,
            home,
            key: key.clone(),
            recipient: String::new(),
        };
        let out = e
            .cmd(&["keygen", "-o", key.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        e.recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
        e
    }

    /// `Env::new()` plus `git init` and `gsec init`.
    pub fn project() -> Env {
        let e = Env::new();
        e.git(&["init", "-q", "-b", "main"]);
        e.ok(&["init"]);
        e
    }

    /// A command with a clean environment: private HOME, the identity in
    /// GSEC_AGE_KEY_FILE, no inherited SOPS/GSEC variables.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(&self.dir);
        self.clean_env(&mut c);
        c.env("GSEC_AGE_KEY_FILE", &self.key);
        c
    }

    pub fn clean_env(&self, c: &mut Command) {
        for (k, _) in std::env::vars() {
            if k.starts_with("GSEC_")
                || k.starts_with("SOPS_")
                || k.starts_with("GITHUB_")
                || k == "XDG_CONFIG_HOME"
            {
                c.env_remove(k);
            }
        }
        c.env("HOME", &self.home).env("NO_COLOR", "1");
    }

    /// Run with stdin, return the output.
    pub fn run_in(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run_cmd(self.cmd(args), stdin)
    }

    pub fn run_cmd(&self, mut c: Command, stdin: &[u8]) -> Output {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The child may exit (e.g. on a usage error) before reading stdin.
        match child.stdin.take().unwrap().write_all(stdin) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => panic!("writing stdin: {e}"),
        }
        child.wait_with_output().unwrap()
    }

    /// Run, assert exit 0, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_in(args, b"")
    }

    pub fn ok_in(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.run_in(args, stdin);
        assert!(
            out.status.success(),
            "gsec {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run, assert the exit code, return stderr.
    pub fn fails(&self, args: &[&str], stdin: &[u8], code: i32) -> String {
        expect_code(&self.run_in(args, stdin), args, code)
    }

    /// `gsec set NAME --env ENV` with the value on stdin.
    pub fn set(&self, name: &str, env: &str, value: &str) {
        self.ok_in(&["set", name, "--env", env], value.as_bytes());
    }

    pub fn get(&self, name: &str, env: &str) -> String {
        self.ok(&["get", "-n", name, "--env", env])
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("HOME", &self.home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A second identity (another person).
    pub fn other_key(&self, name: &str) -> (PathBuf, String) {
        let p = self.tmp.path().join(format!("{name}.txt"));
        let out = self
            .cmd(&["keygen", "-o", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
        (p, String::from_utf8(out.stdout).unwrap().trim().to_string())
    }
}

/// Is an external tool on PATH? Interop tests require it: the README's test
/// command installs every tool, so a missing one is a failure, not a skip.
pub fn tool(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| {
        panic!("{name} not found on PATH: run the README's test command, which installs it")
    })
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

pub fn assert_no_secret(haystack: &str, secret: &str) {
    assert!(
        !haystack.contains(secret),
        "secret value leaked into output: {haystack}"
    );
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// A fake GitHub personal access token with a valid checksum (CRC32 of the
/// random part, base62 in the last 6 characters), so the scanner's
/// validator accepts it. Random each call; never a real credential.
pub fn fake_github_token() -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body: String = (0..30)
        .map(|_| B62[rand::random::<u8>() as usize % 62] as char)
        .collect();
    let mut crc = crc32fast::hash(body.as_bytes()) as u64;
    let mut sum = [b'0'; 6];
    for i in (0..6).rev() {
        sum[i] = B62[(crc % 62) as usize];
        crc /= 62;
    }
    format!("ghp_{body}{}", std::str::from_utf8(&sum).unwrap())
}

/// Validate a SARIF file against the official SARIF 2.1.0 schema (copied
/// into tests/fixtures/scan/) with Python's `jsonschema` (installed with
/// check-jsonschema). check-jsonschema's own CLI refuses that schema: its
/// metaschema check rejects the `language` pattern. Returns the errors.
pub fn sarif_errors(sarif: &Path) -> Result<(), String> {
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan/sarif-schema-2.1.0.json");
    let script = "import json,sys,jsonschema\n\
        s=json.load(open(sys.argv[1])); d=json.load(open(sys.argv[2]))\n\
        errs=list(jsonschema.Draft7Validator(s).iter_errors(d))\n\
        [print(e.json_path, e.message) for e in errs]\n\
        sys.exit(1 if errs else 0)\n";
    let out = Command::new(tool("python3"))
        .args(["-c", script])
        .arg(schema)
        .arg(sarif)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The real `sops decrypt FILE` in the project, with `key` as its age key.
pub fn sops_decrypt(e: &Env, key: &Path, file: &str) -> Output {
    let mut c = Command::new(tool("sops"));
    c.args(["decrypt", file]).current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", key);
    c.output().unwrap()
}

/// Assert a run of `gsec ARGS` exited with `code`; returns its stderr.
pub fn expect_code(out: &Output, args: &[&str], code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "gsec {args:?}: stdout={} stderr={err}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

/// A request a fake provider (tests/cli/fake_*.rs) received.
pub struct Incoming {
    pub method: String,
    /// Path and query, as sent.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Incoming {
    /// A header's value (names match case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or(&self.url)
    }

    /// A query parameter (no decoding: the fakes' parameters are plain).
    pub fn query(&self, key: &str) -> Option<&str> {
        let q = self.url.split_once('?')?.1;
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

/// A fake provider's answer.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
            headers: vec![],
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// The serve loop every fake provider shares: an HTTP server on
/// 127.0.0.1 (a free port) whose thread hands each request to `handle`
/// and stops when the server is dropped.
pub struct FakeServer {
    pub url: String,
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    /// Serve with `content_type` on every answer.
    pub fn start(
        content_type: &'static str,
        mut handle: impl FnMut(&Incoming) -> Reply + Send + 'static,
    ) -> FakeServer {
        use std::sync::atomic::Ordering;
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sp = stop.clone();
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                if let Ok(Some(mut req)) = server.recv_timeout(std::time::Duration::from_millis(50))
                {
                    let mut body = Vec::new();
                    let _ = std::io::Read::read_to_end(req.as_reader(), &mut body);
                    let inc = Incoming {
                        method: req.method().as_str().to_string(),
                        url: req.url().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|h| (h.field.to_string(), h.value.to_string()))
                            .collect(),
                        body,
                    };
                    let out = handle(&inc);
                    let mut resp = tiny_http::Response::from_string(out.body)
                        .with_status_code(out.status)
                        .with_header(
                            format!("Content-Type: {content_type}")
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        );
                    for (k, v) in out.headers {
                        resp = resp.with_header(
                            tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                        );
                    }
                    let _ = req.respond(resp);
                }
            }
        });
        FakeServer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a fake provider (tests/cli/fake_*.rs) records, shared by all of
/// them: every call in the fake's own one-line form, every malformed
/// request it saw (a test asserts `problems()` is empty), and an armed
/// failure. A fake keeps one (cloned into its serve thread) and derefs to
/// it, so `fake.calls()`, `fake.count(…)`, `fake.fail(…)` are the same
/// everywhere.
#[derive(Clone, Default)]
pub struct Recorder(std::sync::Arc<std::sync::Mutex<Recorded>>);

#[derive(Default)]
struct Recorded {
    calls: Vec<String>,
    problems: Vec<String>,
    fail: Option<Fail>,
}

/// Answer the next `times` calls whose line starts with `prefix` with
/// `status` (and `Retry-After: retry_after`).
struct Fail {
    prefix: String,
    status: u16,
    retry_after: Option<u32>,
    times: u32,
}

/// `times` for a failure that lasts until `clear_fail`.
pub const UNTIL_CLEARED: u32 = u32::MAX;

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.0.lock().unwrap()
    }

    /// Record a call.
    pub fn record(&self, line: impl Into<String>) {
        self.lock().calls.push(line.into());
    }

    /// Record a problem: something a real provider would refuse, or the
    /// plugin must not do.
    pub fn problem(&self, what: impl Into<String>) {
        self.lock().problems.push(what.into());
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Calls whose line starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    /// Calls that change something (not `GET …`).
    pub fn writes(&self) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|c| !c.starts_with("GET "))
            .cloned()
            .collect()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// Answer the next `times` calls (or all, with [`UNTIL_CLEARED`]) whose
    /// line starts with `prefix` with `status`, and `Retry-After`.
    pub fn fail(&self, prefix: &str, status: u16, retry_after: Option<u32>, times: u32) {
        self.lock().fail = Some(Fail {
            prefix: prefix.into(),
            status,
            retry_after,
            times,
        });
    }

    pub fn clear_fail(&self) {
        self.lock().fail = None;
    }

    /// The armed failure for a call with this line, if any: its status and
    /// `Retry-After`. Counts the call against `times`.
    pub fn injected(&self, line: &str) -> Option<(u16, Option<u32>)> {
        let mut r = self.lock();
        let f = r
            .fail
            .as_mut()
            .filter(|f| f.times > 0 && line.starts_with(&f.prefix))?;
        if f.times != UNTIL_CLEARED {
            f.times -= 1;
        }
        Some((f.status, f.retry_after))
    }
}
