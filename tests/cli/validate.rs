//! `gsec scan --validate`: live validation against a fake provider on
//! 127.0.0.1 (mapped with `scan.validate.endpoints`), which records and
//! checks every request it gets: method, path, query, headers, body.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::common::{Env, assert_no_secret, expect_code, fake_github_token};
use crate::scan::{scan_json, with_scan};

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    /// Path and query, as sent (`host:port` for a CONNECT).
    pub(crate) url: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Reply {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
    delay: Duration,
}

pub(crate) fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.to_string(),
        headers: vec![],
        delay: Duration::ZERO,
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A fake provider: answers with `handler` (each request on its own
/// thread, so slow answers overlap as a real provider's would) and keeps
/// what it saw.
pub(crate) struct Fake {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    pub(crate) fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Fake {
        let handler: Handler = Arc::new(handler);
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sn, sp) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(20)) else {
                    continue;
                };
                let mut body = String::new();
                let _ = std::io::Read::read_to_string(req.as_reader(), &mut body);
                let s = Seen {
                    method: req.method().as_str().to_string(),
                    url: req.url().to_string(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
                        .collect(),
                    body,
                };
                sn.lock().unwrap().push(s.clone());
                let h = handler.clone();
                std::thread::spawn(move || {
                    let r = h(&s);
                    std::thread::sleep(r.delay);
                    let mut resp = tiny_http::Response::from_string(r.body)
                        .with_status_code(r.status)
                        .with_header(
                            "Content-Type: application/json"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        );
                    for (k, v) in r.headers {
                        resp = resp.with_header(
                            tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                        );
                    }
                    let _ = req.respond(resp);
                });
            }
        });
        Fake {
            url: format!("http://127.0.0.1:{port}"),
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Random characters from `alphabet`, never a placeholder word the
/// scanner would ignore.
fn random(alphabet: &[u8], n: usize) -> String {
    loop {
        let s: String = (0..n)
            .map(|_| alphabet[rand::random::<u8>() as usize % alphabet.len()] as char)
            .collect();
        let low = s.to_ascii_lowercase();
        if !["test", "xxxx", "example", "sample", "dummy", "changeme"]
            .iter()
            .any(|w| low.contains(w))
        {
            return s;
        }
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &[u8] = b"0123456789";

fn slack_token() -> String {
    format!(
        "xoxb-{}-{}-{}",
        random(DIGITS, 12),
        random(DIGITS, 13),
        random(ALNUM, 24)
    )
}

fn stripe_key() -> String {
    format!("sk_live_{}", random(ALNUM, 32))
}

fn anthropic_key() -> String {
    format!("sk-ant-api03-{}AA", random(ALNUM, 93))
}

fn google_token() -> String {
    format!("ya29.{}", random(ALNUM, 80))
}

/// A project whose `.gsec.yaml` maps `hosts` to `base` and adds `more`
/// (indented `scan.validate` lines).
pub(crate) fn project(hosts: &[&str], base: &str, more: &str) -> Env {
    let e = Env::project();
    let mut s = String::from("  validate:\n    endpoints:\n");
    for h in hosts {
        s.push_str(&format!("      {h}: {base}\n"));
    }
    s.push_str(more);
    e.write(".gsec.yaml", &with_scan(&e, &s));
    e
}

fn findings(v: &Value) -> Vec<Value> {
    v["findings"].as_array().cloned().unwrap_or_default()
}

/// The finding in `file`.
fn finding<'a>(v: &'a [Value], file: &str) -> &'a Value {
    v.iter()
        .find(|f| f["file"] == file)
        .unwrap_or_else(|| panic!("no finding in {file}: {v:?}"))
}

/// Bearer header (GitHub), live and revoked, the exact request checked;
/// the candidate never in any output format.
#[test]
fn bearer_live_and_invalid_with_the_exact_request() {
    let live = fake_github_token();
    let revoked = fake_github_token();
    let (l, _r) = (live.clone(), revoked.clone());
    let fake = Fake::start(move |s| {
        if s.header("Authorization") == Some(&format!("Bearer {l}")) {
            reply(200, r#"{"login":"octocat"}"#)
        } else {
            reply(401, r#"{"message":"Bad credentials"}"#)
        }
    });
    let e = project(&["api.github.com"], &fake.url, "");
    e.write("live.env", &format!("GITHUB_TOKEN={live}\n"));
    e.write("old.env", &format!("GITHUB_TOKEN={revoked}\n"));
    let (code, v, err) = scan_json(&e, &["--validate", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    let fs = findings(&v);
    let a = finding(&fs, "live.env");
    assert_eq!(a["validation"], "live", "{a}");
    assert!(
        a["validation_reason"]
            .as_str()
            .unwrap()
            .contains("answered 200"),
        "{a}"
    );
    let b = finding(&fs, "old.env");
    assert_eq!(b["validation"], "invalid", "{b}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for s in &seen {
        assert_eq!(s.method, "GET");
        assert_eq!(s.url, "/user");
        assert_eq!(s.header("Accept"), Some("application/vnd.github+json"));
        assert!(s.header("User-Agent").unwrap().starts_with("gsec/"));
        assert!(s.body.is_empty());
    }
    let auths: Vec<&str> = seen
        .iter()
        .map(|s| s.header("Authorization").unwrap())
        .collect();
    assert!(auths.contains(&format!("Bearer {live}").as_str()));
    assert!(auths.contains(&format!("Bearer {revoked}").as_str()));
    for t in [&live, &revoked] {
        assert_no_secret(&v.to_string(), t);
        assert_no_secret(&err, t);
    }
    // The other formats carry the verdict too, and never the candidate.
    for fmt in ["sarif", "github", "human"] {
        let out = e.run_in(
            &["scan", "--validate", "--no-managed", "--format", fmt],
            b"",
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{fmt}: {text}");
        for t in [&live, &revoked] {
            assert_no_secret(&text, t);
        }
        match fmt {
            "sarif" => {
                let s: Value = serde_json::from_slice(&out.stdout).unwrap();
                let results = s["runs"][0]["results"].as_array().unwrap();
                let mut got: Vec<&str> = results
                    .iter()
                    .map(|r| r["properties"]["validation"].as_str().unwrap())
                    .collect();
                got.sort();
                assert_eq!(got, ["invalid", "live"]);
                assert!(
                    results
                        .iter()
                        .all(|r| r["properties"]["validationReason"].is_string())
                );
                let path = e.tmp.path().join("v.sarif");
                std::fs::write(&path, &out.stdout).unwrap();
                crate::common::sarif_errors(&path).unwrap();
            }
            "github" => {
                assert!(text.contains("validation: live ("), "{text}");
                assert!(text.contains("validation: invalid ("), "{text}");
            }
            _ => {
                assert!(text.contains("validation: live"), "{text}");
                assert!(text.contains("1 live, 1 invalid, 0 unknown"), "{text}");
            }
        }
    }
}

/// Every family: custom headers (Anthropic), basic auth (Stripe), a query
/// parameter (Google's tokeninfo), a form body with a JSON verdict (Slack,
/// `ok` true or false) — each request exactly as the rule declares it.
#[test]
fn every_validator_family_sends_the_declared_request() {
    let (ant, stripe, google, slack_live, slack_dead) = (
        anthropic_key(),
        stripe_key(),
        google_token(),
        slack_token(),
        slack_token(),
    );
    let cf = random(ALNUM, 40);
    let c = cf.clone();
    let (a, st, g, sl) = (
        ant.clone(),
        stripe.clone(),
        google.clone(),
        slack_live.clone(),
    );
    let fake = Fake::start(move |s| match (s.method.as_str(), s.url.as_str()) {
        ("GET", "/v1/models")
            if s.header("x-api-key") == Some(a.as_str())
                && s.header("anthropic-version") == Some("2023-06-01")
                && s.header("Authorization").is_none() =>
        {
            reply(200, r#"{"data":[]}"#)
        }
        ("GET", "/v1/balance") => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{st}:"))
            );
            if s.header("Authorization") == Some(want.as_str()) {
                reply(401, r#"{"error":{"type":"invalid_request_error"}}"#)
            } else {
                reply(500, "{}")
            }
        }
        ("GET", u) if u == format!("/tokeninfo?access_token={g}") => {
            reply(400, r#"{"error":"invalid_token"}"#)
        }
        ("GET", "/client/v4/user/tokens/verify")
            if s.header("Authorization") == Some(format!("Bearer {c}").as_str()) =>
        {
            reply(
                200,
                r#"{"success":true,"result":{"id":"x","status":"expired"}}"#,
            )
        }
        ("POST", "/api/auth.test")
            if s.header("Content-Type") == Some("application/x-www-form-urlencoded")
                && s.header("Authorization").is_none() =>
        {
            if s.body == format!("token={sl}") {
                reply(200, r#"{"ok":true,"team":"acme"}"#)
            } else {
                reply(200, r#"{"ok":false,"error":"invalid_auth"}"#)
            }
        }
        _ => reply(418, "{}"),
    });
    let e = project(
        &[
            "api.anthropic.com",
            "api.stripe.com",
            "oauth2.googleapis.com",
            "slack.com",
            "api.cloudflare.com",
        ],
        &fake.url,
        "",
    );
    e.write("ant.env", &format!("ANTHROPIC_API_KEY={ant}\n"));
    e.write("stripe.env", &format!("STRIPE_KEY={stripe}\n"));
    e.write("google.txt", &format!("token = \"{google}\"\n"));
    e.write("slack.env", &format!("SLACK_BOT_TOKEN={slack_live}\n"));
    e.write("slack2.env", &format!("SLACK_BOT_TOKEN={slack_dead}\n"));
    e.write("cf.env", &format!("CLOUDFLARE_API_TOKEN={cf}\n"));
    let (code, v, err) = scan_json(&e, &["--validate", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    let fs = findings(&v);
    let verdict = |file: &str| {
        finding(&fs, file)["validation"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict("ant.env"), "live", "{fs:?}");
    assert_eq!(verdict("stripe.env"), "invalid", "{fs:?}");
    assert_eq!(verdict("google.txt"), "invalid", "{fs:?}");
    assert_eq!(verdict("slack.env"), "live", "{fs:?}");
    assert_eq!(verdict("slack2.env"), "invalid", "{fs:?}");
    // A nested JSON field decides a 200: an expired Cloudflare token.
    assert_eq!(verdict("cf.env"), "invalid", "{fs:?}");
    assert!(
        finding(&fs, "slack.env")["validation_reason"]
            .as_str()
            .unwrap()
            .contains("ok true"),
        "{fs:?}"
    );
    assert_eq!(fake.seen().len(), 6, "{:?}", fake.seen());
    for t in [&ant, &stripe, &google, &slack_live, &slack_dead, &cf] {
        assert_no_secret(&v.to_string(), t);
        assert_no_secret(&err, t);
    }
}

/// Validators added or fixed in the review against the providers' own
/// documentation (docs/rules.md): Cloudflare's scannable `cfut_` user token
/// goes to the token-verify endpoint and its `result.status` decides;
/// Pulumi's check carries the `Accept` header its REST API requires on
/// every call (without it the fake answers 406, which would be `unknown`).
#[test]
fn reviewed_validators_send_what_the_provider_documents() {
    let cf = format!("cfut_{}", random(ALNUM, 48));
    let pul = format!("pul-{}", random(b"0123456789abcdef", 40));
    let (c, p) = (cf.clone(), pul.clone());
    let fake = Fake::start(move |s| match (s.method.as_str(), s.url.as_str()) {
        ("GET", "/client/v4/user/tokens/verify")
            if s.header("Authorization") == Some(format!("Bearer {c}").as_str()) =>
        {
            reply(
                200,
                r#"{"success":true,"result":{"id":"x","status":"active"}}"#,
            )
        }
        ("GET", "/api/user") if s.header("Accept") != Some("application/vnd.pulumi+8") => {
            reply(406, "{}")
        }
        ("GET", "/api/user")
            if s.header("Authorization") == Some(format!("token {p}").as_str()) =>
        {
            reply(401, r#"{"code":401,"message":"Unauthorized"}"#)
        }
        _ => reply(418, "{}"),
    });
    let e = project(&["api.cloudflare.com", "api.pulumi.com"], &fake.url, "");
    e.write("cf.env", &format!("CLOUDFLARE_API_TOKEN={cf}\n"));
    e.write("pulumi.env", &format!("PULUMI_ACCESS_TOKEN={pul}\n"));
    let (code, v, err) = scan_json(&e, &["--validate", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    let fs = findings(&v);
    let cf_finding = finding(&fs, "cf.env");
    assert_eq!(cf_finding["rule"], "cloudflare-user-api-token", "{fs:?}");
    assert_eq!(cf_finding["validation"], "live", "{fs:?}");
    let pulumi = finding(&fs, "pulumi.env");
    assert_eq!(pulumi["rule"], "pulumi-access-token", "{fs:?}");
    assert_eq!(pulumi["validation"], "invalid", "{fs:?}");
    assert_eq!(fake.seen().len(), 2, "{:?}", fake.seen());
    for t in [&cf, &pul] {
        assert_no_secret(&v.to_string(), t);
        assert_no_secret(&err, t);
    }
}

/// One request per distinct credential, however often it occurs; a
/// 500-finding report takes about as long as the slowest answer, not the
/// sum (16 distinct tokens, each answered after 1 s, 8 at a time).
#[test]
fn one_request_per_credential_and_bounded_by_the_slowest_answer() {
    let fake = Fake::start(|_| Reply {
        delay: Duration::from_secs(1),
        ..reply(200, "{}")
    });
    let e = project(&["api.github.com"], &fake.url, "");
    let tokens: Vec<String> = (0..16).map(|_| fake_github_token()).collect();
    for f in 0..5 {
        let text: String = (0..100)
            .map(|i| format!("GITHUB_TOKEN_{i}={}\n", tokens[(f * 100 + i) % 16]))
            .collect();
        e.write(&format!("f{f}.env"), &text);
    }
    let started = Instant::now();
    let (code, v, err) = scan_json(&e, &["--validate", "--no-managed"]);
    let took = started.elapsed();
    assert_eq!(code, 1, "{err}");
    let fs = findings(&v);
    assert_eq!(fs.len(), 500);
    assert!(fs.iter().all(|f| f["validation"] == "live"));
    assert_eq!(fake.seen().len(), 16, "one request per distinct token");
    // 16 s one after the other; 2 s with 8 in flight.
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

/// A redirect is not followed (its target sees nothing; the verdict is
/// `unknown`), and a candidate crafted to look like a URL stays a query
/// value: the request goes to the rule's host only.
#[test]
fn a_validator_never_sends_the_candidate_to_another_host() {
    let elsewhere = Fake::start(|_| reply(200, "{}"));
    let target = format!("{}/steal", elsewhere.url);
    let fake = Fake::start(move |s| {
        if s.url == "/user" {
            Reply {
                headers: vec![("Location".into(), target.clone())],
                ..reply(302, "")
            }
        } else {
            reply(401, "{}")
        }
    });
    let other_port = elsewhere.url.rsplit(':').next().unwrap().to_string();
    let e = project(&["api.github.com", "api.acme.dev"], &fake.url, "");
    // A custom rule whose candidate may hold URL syntax.
    let cfg = e.read(".gsec.yaml").replace(
        "\nscan:\n",
        "\nscan:\n  rules:\n  - id: acme-token\n    description: Acme token\n    keywords: [acme_]\n    pattern: 'acme_([A-Za-z0-9@:/.#?&=%]{12,80})'\n    verify:\n      url: https://api.acme.dev/v1/check\n      query: {key: '{secret}'}\n      live: [200]\n      invalid: [401]\n",
    );
    e.write(".gsec.yaml", &cfg);
    let gh = fake_github_token();
    let crafted = format!("x@127.0.0.1:{other_port}/steal?#&a=b");
    e.write("a.env", &format!("GITHUB_TOKEN={gh}\n"));
    e.write("b.txt", &format!("acme_{crafted}\n"));
    let (code, v, err) = scan_json(&e, &["--validate", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    let fs = findings(&v);
    let a = finding(&fs, "a.env");
    assert_eq!(a["validation"], "unknown", "{a}");
    assert!(
        a["validation_reason"]
            .as_str()
            .unwrap()
            .contains("redirect"),
        "{a}"
    );
    let b = finding(&fs, "b.txt");
    assert_eq!(b["validation"], "invalid", "{b}");
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let q = seen
        .iter()
        .find(|s| s.url.starts_with("/v1/check"))
        .unwrap();
    assert_eq!(
        q.url,
        format!("/v1/check?key=x%40127.0.0.1%3A{other_port}%2Fsteal%3F%23%26a%3Db")
    );
    assert_no_secret(&v.to_string(), &gh);
    assert_no_secret(&v.to_string(), &crafted);
}

/// A declaration that could send the candidate elsewhere, or cannot work,
/// is an error before anything is scanned (exit 2), as is a bad endpoint.
#[test]
fn a_broken_validator_or_endpoint_is_an_error() {
    for (verify, why) in [
        ("{url: 'https://{secret}.acme.dev/', live: [200]}", "URL"),
        (
            "{url: 'http://api.acme.dev/', headers: {A: '{secret}'}, live: [200]}",
            "https://",
        ),
        (
            "{url: 'https://api.acme.dev/', live: [200]}",
            "appears nowhere",
        ),
        (
            "{url: 'https://api.acme.dev/', headers: {A: '{secret}'}, live: [301]}",
            "redirect",
        ),
    ] {
        let e = Env::project();
        let cfg = with_scan(
            &e,
            &format!(
                "  rules:\n  - id: acme-token\n    description: Acme\n    keywords: [acme_]\n    pattern: 'acme_([a-z0-9]{{12}})'\n    verify: {verify}\n"
            ),
        );
        e.write(".gsec.yaml", &cfg);
        e.write("a.txt", "acme_q7vk2mx9pl4w\n");
        let err = expect_code(&e.run_in(&["scan"], b""), &["scan"], 2);
        assert!(
            err.contains("acme-token") && err.contains(why),
            "{verify}: {err}"
        );
    }
    let e = project(&["api.github.com"], "ftp://127.0.0.1:1", "");
    let err = expect_code(
        &e.run_in(&["scan", "--validate"], b""),
        &["scan", "--validate"],
        2,
    );
    assert!(
        err.contains("scan.validate.endpoints.api.github.com"),
        "{err}"
    );
}

/// An unreachable provider and one that never answers are `unknown`: the
/// scan itself succeeds (exit 1 for its findings, not 2).
#[test]
fn unreachable_or_silent_providers_are_unknown() {
    // Nothing listens on a port just released.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = project(
        &["api.github.com"],
        &format!("http://127.0.0.1:{closed}"),
        "",
    );
    let gh = fake_github_token();
    e.write("a.env", &format!("GITHUB_TOKEN={gh}\n"));
    let (code, v, err) = scan_json(&e, &["--validate", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    let f = &findings(&v)[0];
    assert_eq!(f["validation"], "unknown", "{f}");
    assert!(
        f["validation_reason"]
            .as_str()
            .unwrap()
            .contains("connection failed"),
        "{f}"
    );

    let slow = Fake::start(|_| Reply {
        delay: Duration::from_secs(5),
        ..reply(200, "{}")
    });
    let e = project(&["api.github.com"], &slow.url, "    timeout_secs: 1\n");
    e.write("a.env", &format!("GITHUB_TOKEN={gh}\n"));
    let started = Instant::now();
    let (code, v, err) = scan_json(&e, &["--validate", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    assert!(started.elapsed() < Duration::from_secs(4));
    let f = &findings(&v)[0];
    assert_eq!(f["validation"], "unknown", "{f}");
    assert!(
        f["validation_reason"]
            .as_str()
            .unwrap()
            .contains("no answer within 1 s"),
        "{f}"
    );
    assert_no_secret(&v.to_string(), &gh);
}

/// Off by default; the pre-commit hook (`--staged`) validates only with
/// `scan.validate.hook: true`; `--only-live` keeps live findings only.
#[test]
fn off_by_default_and_in_the_hook_only_when_configured() {
    let live = fake_github_token();
    let dead = fake_github_token();
    let l = live.clone();
    let fake = Fake::start(move |s| {
        if s.header("Authorization") == Some(&format!("Bearer {l}")) {
            reply(200, "{}")
        } else {
            reply(401, "{}")
        }
    });
    let e = project(&["api.github.com"], &fake.url, "");
    e.write("a.env", &format!("GITHUB_TOKEN={live}\n"));
    e.write("b.env", &format!("GITHUB_TOKEN={dead}\n"));
    e.git(&["add", "a.env", "b.env"]);

    let (code, v, _) = scan_json(&e, &["--no-managed"]);
    assert_eq!(code, 1);
    assert!(findings(&v).iter().all(|f| f.get("validation").is_none()));
    let (code, v, _) = scan_json(&e, &["--staged", "--no-managed"]);
    assert_eq!(code, 1);
    assert!(findings(&v).iter().all(|f| f.get("validation").is_none()));
    assert!(fake.seen().is_empty(), "no request unless asked");

    let cfg = e
        .read(".gsec.yaml")
        .replace("  validate:\n", "  validate:\n    hook: true\n");
    e.write(".gsec.yaml", &cfg);
    let (code, v, err) = scan_json(&e, &["--staged", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        findings(&v).iter().all(|f| f["validation"].is_string()),
        "{v}"
    );
    assert_eq!(fake.seen().len(), 2);

    let (code, v, err) = scan_json(&e, &["--only-live", "--no-managed"]);
    assert_eq!(code, 1, "{err}");
    let fs = findings(&v);
    assert_eq!(fs.len(), 1, "{fs:?}");
    assert_eq!(fs[0]["file"], "a.env");
    std::fs::remove_file(e.path("a.env")).unwrap();
    let (code, v, err) = scan_json(&e, &["--only-live", "--no-managed"]);
    assert_eq!(code, 0, "no live finding: {err}");
    assert!(findings(&v).is_empty());
}
