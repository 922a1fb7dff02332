//! Live validation (`gsec scan --validate`): is a found credential live?
//!
//! A rule may declare, as data (`[rules.verify]` in `rules/*.toml`, or
//! `verify:` in a custom rule), one HTTP request that checks a candidate at
//! its provider, and which answers mean `live` and which `invalid`. The
//! request is fixed but for the candidate, which is substituted only into
//! header values, query values, a form body or basic-auth credentials —
//! never into the scheme, host, port or path, so no candidate can change
//! where the request goes. [`Verify::check`] enforces that (at build time
//! for the pack through its unit tests, before every scan for custom
//! rules: a broken declaration is an error, exit 2).
//!
//! At run time ([`run`]): one request per distinct (rule, candidate), at
//! most `concurrency` in flight (interleaved across providers, so the scan
//! takes about as long as its slowest provider, not the sum), each with a
//! timeout, redirects never followed (a redirect is `unknown`, and its
//! target is never contacted). The only way to reach another origin (GitHub
//! Enterprise, a fake provider in tests, plain http or loopback) is
//! `scan.validate.endpoints` in `.gsec.yaml`, which maps the rule's host to
//! a base URL. Anything but a declared answer — a transport error, a
//! timeout, a 5xx, a rate limit — is `unknown`, never a failure of the
//! scan. Reasons name the host and status only: never the candidate, the
//! URL's query or the response body.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Finding, Report};

/// The placeholder that stands for the candidate in a template.
pub const SECRET: &str = "{secret}";

/// Default per-request timeout (`scan.validate.timeout_secs`).
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// Default number of requests in flight (`scan.validate.concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 8;
/// The most of a response body read for a JSON condition.
const MAX_BODY: u64 = 256 << 10;

/// How to check a candidate of a rule at its provider: one HTTP request,
/// with the candidate (`{secret}`) in header values, query values, a form
/// body or basic-auth credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// `GET` (default), `POST` or `HEAD`. Only requests the provider
    /// documents as free of side effects belong here.
    #[serde(default, skip_serializing_if = "Method::is_get")]
    pub method: Method,
    /// `https://host/path[?fixed=query]`: fixed text, no `{secret}`, no
    /// port, no user info. The host is the only one the candidate is ever
    /// sent to (`scan.validate.endpoints` may map it to another base URL).
    pub url: String,
    /// Request headers; `{secret}` in a value is the candidate (e.g.
    /// `Authorization = "Bearer {secret}"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication (`user`/`password`, either may hold
    /// `{secret}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<Basic>,
    /// Query parameters added to the URL (values percent-encoded).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// An `application/x-www-form-urlencoded` body (POST only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub form: BTreeMap<String, String>,
    /// Status codes that mean the credential is live.
    pub live: Vec<u16>,
    /// Status codes that mean it is not (revoked, expired, never issued).
    /// Any other answer is `unknown`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<u16>,
    /// For a `live` status: a field of the JSON body that decides (Slack
    /// answers 200 with `"ok": false` for a revoked token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonCheck>,
}

/// HTTP basic credentials; `{secret}` in either is the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Basic {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: String,
}

/// A condition on the JSON body of a `live` status: the value at `field`
/// (a dot path, `result.status`) is one of `live` (live), one of `invalid`
/// (invalid), or anything else (unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    pub field: String,
    pub live: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Head,
}

impl Method {
    fn is_get(&self) -> bool {
        *self == Method::Get
    }

    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Head => "HEAD",
        }
    }
}

/// `{…}` placeholders other than `{secret}` (a typo would send the text).
fn other_placeholder(s: &str) -> Option<String> {
    let rest = s.replace(SECRET, "");
    let open = rest.find('{')?;
    let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
    Some(rest[open..close].to_string())
}

/// A header name: an RFC 9110 token.
fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Statuses a declaration may name: final answers, not redirects (which
/// are never followed).
fn status_ok(s: u16) -> bool {
    (100..=599).contains(&s) && !(300..400).contains(&s)
}

impl Verify {
    /// Is this declaration safe and usable? The URL is `https://` to a
    /// fixed host with no port, user info, fragment or placeholder; the
    /// candidate goes only into header values, query values, the form body
    /// or basic credentials, and somewhere; statuses are final answers and
    /// `live`/`invalid` do not overlap.
    pub fn check(&self) -> Result<(), String> {
        if self.url.contains('{') || self.url.contains('}') {
            return Err("verify.url: the candidate may not be part of the URL (put {secret} in a header, query, form or basic value)".into());
        }
        self.target()?;
        let mut uses = false;
        for (k, v) in &self.headers {
            if !header_name_ok(k) {
                return Err(format!("verify.headers: '{k}' is not a header name"));
            }
            if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("content-length") {
                return Err(format!("verify.headers: '{k}' is set by gsec"));
            }
            if v.bytes().any(|b| b.is_ascii_control()) {
                return Err(format!("verify.headers.{k}: control characters"));
            }
            uses |= v.contains(SECRET);
        }
        let maps = [("query", &self.query), ("form", &self.form)];
        for (what, map) in maps {
            for (k, v) in map {
                if k.contains('{') || k.is_empty() {
                    return Err(format!("verify.{what}: '{k}' is not a parameter name"));
                }
                uses |= v.contains(SECRET);
            }
        }
        if let Some(b) = &self.basic {
            if b.user.contains(':') {
                return Err("verify.basic.user: may not contain ':'".into());
            }
            uses |= b.user.contains(SECRET) || b.password.contains(SECRET);
        }
        let templates = self
            .headers
            .values()
            .chain(self.query.values())
            .chain(self.form.values())
            .chain(self.basic.iter().flat_map(|b| [&b.user, &b.password]));
        for t in templates {
            if let Some(p) = other_placeholder(t) {
                return Err(format!(
                    "verify: unknown placeholder {p} (only {SECRET} is substituted)"
                ));
            }
        }
        if !uses {
            return Err(format!(
                "verify: {SECRET} appears nowhere (in a header, query, form or basic value)"
            ));
        }
        if !self.form.is_empty() && self.method != Method::Post {
            return Err("verify.form: needs method = \"POST\"".into());
        }
        if self.live.is_empty() {
            return Err("verify.live: name at least one status".into());
        }
        if let Some(s) = self
            .live
            .iter()
            .chain(&self.invalid)
            .find(|s| !status_ok(**s))
        {
            return Err(format!(
                "verify: status {s} is not a final answer (100-599, redirects are never followed)"
            ));
        }
        if let Some(s) = self.live.iter().find(|s| self.invalid.contains(s)) {
            return Err(format!("verify: status {s} is both live and invalid"));
        }
        if let Some(j) = &self.json {
            if j.field.is_empty() || j.field.split('.').any(str::is_empty) {
                return Err("verify.json.field: a dot path such as result.status".into());
            }
            if j.live.is_empty() {
                return Err("verify.json.live: name at least one value".into());
            }
            if self.method == Method::Head {
                return Err("verify.json: a HEAD answer has no body".into());
            }
        }
        Ok(())
    }

    /// The rule's host and the URL's path and query (`/user?x=1`).
    pub fn target(&self) -> Result<(String, String), String> {
        let bad = |why: &str| Err(format!("verify.url '{}': {why}", self.url));
        let Some(rest) = self.url.strip_prefix("https://") else {
            return bad("must start with https://");
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return bad("user info is not allowed");
        }
        if authority.contains(':') {
            return bad("a port is not allowed (map the host with scan.validate.endpoints)");
        }
        if authority.is_empty()
            || !authority
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            || !authority.contains('.')
        {
            return bad("the host must be a lowercase DNS name");
        }
        if path.contains('#') {
            return bad("a fragment is not allowed");
        }
        if path.contains("/../") || path.ends_with("/..") || path.contains('\\') {
            return bad("the path must be plain");
        }
        if !path.is_empty() && !path.starts_with('/') {
            return bad("the path must start with /");
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || !b.is_ascii())
        {
            return bad("the path must be printable ASCII");
        }
        let path = if path.is_empty() || path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok((authority.to_string(), path))
    }

    /// The rule's host (`api.github.com`).
    pub fn host(&self) -> String {
        self.target().map(|(h, _)| h).unwrap_or_default()
    }
}

/// What validation concluded about one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The provider accepted the credential.
    Live,
    /// The provider rejected it: revoked, expired or never issued.
    Invalid,
    /// No verdict: unreachable, timed out, an unexpected answer.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Live => "live",
            Status::Invalid => "invalid",
            Status::Unknown => "unknown",
        }
    }
}

/// A verdict and why, in a few words that never hold the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub status: Status,
    pub reason: String,
}

/// The credential of a finding, kept only for validation (when the scan
/// validates and its rule declares how). Opaque: nothing outside this
/// module can read it, its `Debug` shows nothing, and [`run`] drops it.
#[derive(Clone)]
pub struct Candidate {
    rule: &'static str,
    verify: &'static Verify,
    secret: Arc<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Candidate({}, <hidden>)", self.rule)
    }
}

impl Candidate {
    pub(super) fn new(rule: &'static super::rules::Rule, secret: &[u8]) -> Option<Candidate> {
        let verify = rule.verify.as_ref()?;
        Some(Candidate {
            rule: rule.id.as_str(),
            verify,
            secret: Arc::new(Zeroizing::new(secret.to_vec())),
        })
    }
}

/// A base URL that `scan.validate.endpoints` maps a host to: scheme,
/// authority and an optional path prefix (`https://ghe.acme.com/api/v3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: String,
}

impl Endpoint {
    /// Parse an endpoint entry (`host` → `url`). Errors name the entry.
    pub fn parse(host: &str, url: &str) -> Result<Endpoint, String> {
        let what = |why: &str| format!("scan.validate.endpoints.{host}: {why}");
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return Err(what("the key must be a lowercase host name"));
        }
        let origin = crate::plugin::http::Origin::parse_url(url).map_err(|e| what(&e))?;
        let after = &url[url.find("://").map_or(0, |i| i + 3)..];
        let path = after.find('/').map_or("", |i| &after[i..]);
        if url.contains(['?', '#', '{', '}']) || path.contains("/..") {
            return Err(what("a base URL without query, fragment or placeholder"));
        }
        let base = format!(
            "{}://{}{}",
            origin.scheme,
            &after[..after.find('/').unwrap_or(after.len())],
            path.trim_end_matches('/')
        );
        // The URL parser and this split must agree on the host.
        let again = crate::plugin::http::Origin::parse_url(&base).map_err(|e| what(&e))?;
        if again != origin {
            return Err(what("not a plain base URL"));
        }
        Ok(Endpoint { base })
    }
}

/// How validation runs (from `scan.validate` in `.gsec.yaml`).
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoints: HashMap<String, Endpoint>,
    pub timeout: Duration,
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            endpoints: HashMap::new(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

impl Options {
    pub fn from_config(c: &crate::config::ValidateConfig) -> Result<Options, String> {
        let mut endpoints = HashMap::new();
        for (host, url) in &c.endpoints {
            endpoints.insert(host.clone(), Endpoint::parse(host, url)?);
        }
        Ok(Options {
            endpoints,
            timeout: Duration::from_secs(c.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1)),
            concurrency: c.concurrency.unwrap_or(DEFAULT_CONCURRENCY).clamp(1, 64),
        })
    }
}

/// One request: a rule's declaration and a distinct candidate.
struct Job {
    verify: &'static Verify,
    secret: Arc<Zeroizing<Vec<u8>>>,
    host: String,
}

/// Validate every finding that carries a candidate, in place: one request
/// per distinct (rule, candidate), `opts.concurrency` at a time, providers
/// interleaved. Candidates are dropped afterwards. Returns how many
/// requests were made.
pub fn run(report: &mut Report, opts: &Options) -> usize {
    let cands: Vec<Option<Candidate>> = report
        .findings
        .iter_mut()
        .map(|f| f.candidate.take())
        .collect();
    let mut index: HashMap<(&str, &[u8]), usize> = HashMap::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut of_finding: Vec<Option<usize>> = Vec::with_capacity(cands.len());
    for c in &cands {
        let Some(c) = c else {
            of_finding.push(None);
            continue;
        };
        let n = jobs.len();
        let i = *index.entry((c.rule, &c.secret[..])).or_insert_with(|| {
            jobs.push(Job {
                verify: c.verify,
                host: c.verify.host(),
                secret: c.secret.clone(),
            });
            n
        });
        of_finding.push(Some(i));
    }
    drop(index);
    let results = perform_all(&jobs, opts);
    for (f, i) in report.findings.iter_mut().zip(of_finding) {
        if let Some(i) = i {
            f.validation = Some(results[i].clone());
        }
    }
    jobs.len()
}

/// Run the jobs on a small pool: round-robin across hosts, so one slow
/// provider holds one worker per request in turn, not the whole queue.
fn perform_all(jobs: &[Job], opts: &Options) -> Vec<Validation> {
    let mut by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        by_host.entry(j.host.as_str()).or_default().push(i);
    }
    let mut order = Vec::with_capacity(jobs.len());
    let mut round = 0;
    while order.len() < jobs.len() {
        for list in by_host.values() {
            if let Some(&i) = list.get(round) {
                order.push(i);
            }
        }
        round += 1;
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .user_agent(concat!(
            "gsec/",
            env!("CARGO_PKG_VERSION"),
            " (secret validation)"
        ))
        .build()
        .into();
    let slots: Vec<std::sync::Mutex<Option<Validation>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = opts.concurrency.min(jobs.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    let v = perform(&agent, &jobs[i], opts);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| unknown("not checked".into()))
        })
        .collect()
}

fn unknown(reason: String) -> Validation {
    Validation {
        status: Status::Unknown,
        reason,
    }
}

/// Characters left as they are in query and form values.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode_pairs(map: &BTreeMap<String, String>, secret: &str) -> String {
    map.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, VALUE),
                utf8_percent_encode(&v.replace(SECRET, secret), VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The request URL: the rule's host or its endpoint, the rule's path, the
/// query. The candidate appears only percent-encoded, in query values.
fn request_url(job: &Job, opts: &Options, secret: &str) -> Result<(String, String), String> {
    let (host, path) = job.verify.target()?;
    let base = match opts.endpoints.get(&host) {
        Some(e) => e.base.clone(),
        None => format!("https://{host}"),
    };
    let mut url = format!("{base}{path}");
    if !job.verify.query.is_empty() {
        url.push(if path.contains('?') { '&' } else { '?' });
        url.push_str(&encode_pairs(&job.verify.query, secret));
    }
    // Belt and braces: whatever the templates hold, the request goes to
    // the origin the rule (or its endpoint) names.
    let want = crate::plugin::http::Origin::parse_url(&base)?;
    let got = crate::plugin::http::Origin::parse_url(&url)?;
    if want != got {
        return Err("the request URL left the rule's host".into());
    }
    let shown = match got.port {
        443 if got.scheme == "https" => got.host,
        80 if got.scheme == "http" => got.host,
        p => format!("{}:{p}", got.host),
    };
    Ok((url, shown))
}

/// One request and its verdict. Never panics, never fails the scan.
fn perform(agent: &ureq::Agent, job: &Job, opts: &Options) -> Validation {
    let Ok(secret) = std::str::from_utf8(&job.secret) else {
        return unknown("the credential is not text".into());
    };
    let secret = Zeroizing::new(secret.to_string());
    let v = job.verify;
    let (url, shown) = match request_url(job, opts, &secret) {
        Ok(u) => u,
        Err(e) => return unknown(format!("not sent: {e}")),
    };
    let url = Zeroizing::new(url);
    let mut b = ureq::http::Request::builder()
        .method(v.method.as_str())
        .uri(url.as_str());
    if !v.headers.keys().any(|k| k.eq_ignore_ascii_case("accept")) {
        b = b.header("Accept", "application/json");
    }
    for (k, t) in &v.headers {
        b = b.header(
            k.as_str(),
            Zeroizing::new(t.replace(SECRET, &secret)).as_str(),
        );
    }
    if let Some(basic) = &v.basic {
        let pair = Zeroizing::new(format!(
            "{}:{}",
            basic.user.replace(SECRET, &secret),
            basic.password.replace(SECRET, &secret)
        ));
        let token = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*pair));
        b = b.header("Authorization", format!("Basic {}", &*token));
    }
    let body = if v.form.is_empty() {
        Vec::new()
    } else {
        b = b.header("Content-Type", "application/x-www-form-urlencoded");
        encode_pairs(&v.form, &secret).into_bytes()
    };
    // The builder's error would not quote the value, but say nothing of
    // it anyway: a candidate with a line break cannot go in a header.
    let Ok(request) = b.body(Zeroizing::new(body).to_vec()) else {
        return unknown("not sent: the credential cannot be written into the request".into());
    };
    let mut resp = match agent.run(request) {
        Ok(r) => r,
        Err(e) => return unknown(format!("{shown}: {}", describe(&e, opts.timeout))),
    };
    let status = resp.status().as_u16();
    if (300..400).contains(&status) {
        return unknown(format!(
            "{shown} answered {status}, a redirect (not followed)"
        ));
    }
    let answered = format!("{shown} answered {status}");
    if v.invalid.contains(&status) {
        return Validation {
            status: Status::Invalid,
            reason: answered,
        };
    }
    if !v.live.contains(&status) {
        return unknown(answered);
    }
    let Some(j) = &v.json else {
        return Validation {
            status: Status::Live,
            reason: answered,
        };
    };
    let body = match resp.body_mut().with_config().limit(MAX_BODY).read_to_vec() {
        Ok(b) => Zeroizing::new(b),
        Err(e) => return unknown(format!("{answered}: {}", describe(&e, opts.timeout))),
    };
    let value = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|doc| j.field.split('.').try_fold(doc, |d, k| d.get(k).cloned()));
    match value {
        Some(x) if j.live.contains(&x) => Validation {
            status: Status::Live,
            reason: format!("{answered}, {} {x}", j.field),
        },
        Some(x) if j.invalid.contains(&x) => Validation {
            status: Status::Invalid,
            reason: format!("{answered}, {} {x}", j.field),
        },
        _ => unknown(format!("{answered} without an expected {}", j.field)),
    }
}

/// ureq's errors in fixed words: its messages can quote the URL, whose
/// query may hold the candidate.
fn describe(e: &ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("no answer within {} s", timeout.as_secs()),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::NotConnected
            | std::io::ErrorKind::AddrNotAvailable
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable => {
                format!("connection failed ({})", io.kind())
            }
            std::io::ErrorKind::TimedOut => format!("no answer within {} s", timeout.as_secs()),
            k => format!("I/O error ({k})"),
        },
        ureq::Error::BodyExceedsLimit(_) => "answer too large".into(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => "TLS error".into(),
        ureq::Error::ConnectProxyFailed(_) | ureq::Error::InvalidProxyUrl => "proxy error".into(),
        _ => "request failed".into(),
    }
}

/// Counts for the summary line: (live, invalid, unknown).
pub fn counts(findings: &[Finding]) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for v in findings.iter().filter_map(|f| f.validation.as_ref()) {
        match v.status {
            Status::Live => c.0 += 1,
            Status::Invalid => c.1 += 1,
            Status::Unknown => c.2 += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::rules::{FILES, builtin, parse};

    fn verify(toml_text: &str) -> Verify {
        toml::from_str(toml_text).unwrap()
    }

    const BASE: &str = "url = \"https://api.acme.com/v1/me\"\nlive = [200]\ninvalid = [401]\n";

    /// Every validator of the pack is https to a fixed host, with the
    /// candidate only where it cannot change the origin.
    #[test]
    fn every_pack_validator_is_safe() {
        let mut errors = Vec::new();
        let mut n = 0;
        for (name, text) in FILES {
            for r in parse(name, text).unwrap() {
                let Some(v) = &r.verify else { continue };
                n += 1;
                if let Err(e) = v.check() {
                    errors.push(format!("{}: {e}", r.id));
                }
                let (host, path) = v.target().unwrap_or_default();
                if !v.url.starts_with(&format!("https://{host}/")) || !path.starts_with('/') {
                    errors.push(format!("{}: url is not https to a fixed host", r.id));
                }
                if r.pattern.is_empty() {
                    errors.push(format!("{}: a validator needs a pattern", r.id));
                }
            }
        }
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        assert!(n >= 30, "only {n} rules have validators");
    }

    #[test]
    fn thirty_providers_have_validators() {
        let providers: std::collections::BTreeSet<&str> = builtin()
            .unwrap()
            .iter()
            .filter(|r| r.verify.is_some())
            .map(|r| r.provider.as_str())
            .collect();
        assert!(
            providers.len() >= 30,
            "{} providers: {providers:?}",
            providers.len()
        );
    }

    #[test]
    fn declarations_that_could_move_the_candidate_are_refused() {
        let bad = [
            // the candidate in the host, path or URL
            "url = \"https://{secret}.acme.com/\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://api.acme.com/v1/{secret}\"\nlive = [200]",
            "url = \"https://api.acme.com/v1?k={secret}\"\nlive = [200]",
            // not https, a port, user info, no dot, upper case
            "url = \"http://api.acme.com/\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://api.acme.com:8443/\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://u@api.acme.com/\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://localhost/\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://API.acme.com/\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://api.acme.com/a/../b\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://api.acme.com/#f\"\nlive = [200]\nheaders = { A = \"{secret}\" }",
            // the candidate nowhere, a typo, a header gsec sets
            "url = \"https://api.acme.com/\"\nlive = [200]",
            "url = \"https://api.acme.com/\"\nlive = [200]\nheaders = { A = \"{secert}\" }",
            "url = \"https://api.acme.com/\"\nlive = [200]\nheaders = { Host = \"{secret}\" }",
            // statuses
            "url = \"https://api.acme.com/\"\nlive = [302]\nheaders = { A = \"{secret}\" }",
            "url = \"https://api.acme.com/\"\nlive = [200]\ninvalid = [200]\nheaders = { A = \"{secret}\" }",
            "url = \"https://api.acme.com/\"\nlive = []\nheaders = { A = \"{secret}\" }",
            // a form needs POST
            "url = \"https://api.acme.com/\"\nlive = [200]\nform = { t = \"{secret}\" }",
        ];
        for b in bad {
            assert!(verify(b).check().is_err(), "accepted: {b}");
        }
        for good in [
            format!("{BASE}headers = {{ Authorization = \"Bearer {{secret}}\" }}"),
            format!("{BASE}basic = {{ user = \"{{secret}}\" }}"),
            format!("{BASE}query = {{ key = \"{{secret}}\" }}"),
            format!("{BASE}method = \"POST\"\nform = {{ token = \"{{secret}}\" }}"),
        ] {
            verify(&good).check().unwrap();
        }
    }

    #[test]
    fn a_crafted_candidate_stays_in_its_query_value() {
        let v: &'static Verify = Box::leak(Box::new(verify(&format!(
            "{BASE}query = {{ key = \"{{secret}}\" }}"
        ))));
        let job = Job {
            verify: v,
            secret: Arc::new(Zeroizing::new(Vec::new())),
            host: v.host(),
        };
        let (url, shown) =
            request_url(&job, &Options::default(), "x@evil.com/#?a=b&c=d%2F").unwrap();
        assert_eq!(
            url,
            "https://api.acme.com/v1/me?key=x%40evil.com%2F%23%3Fa%3Db%26c%3Dd%252F"
        );
        assert_eq!(shown, "api.acme.com");
    }

    #[test]
    fn endpoints_map_a_host_to_a_base_url() {
        let e = Endpoint::parse("api.github.com", "https://ghe.acme.com/api/v3/").unwrap();
        assert_eq!(e.base, "https://ghe.acme.com/api/v3");
        let e = Endpoint::parse("api.github.com", "http://127.0.0.1:8080").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:8080");
        for bad in [
            "ftp://x.com",
            "https://u:p@x.com",
            "https://x.com/?q=1",
            "x.com",
            "https://x.com/a/../b",
        ] {
            assert!(Endpoint::parse("api.github.com", bad).is_err(), "{bad}");
        }
        assert!(Endpoint::parse("API.github.com", "https://x.com").is_err());
    }

    #[test]
    fn candidates_do_not_show_in_debug_output() {
        let rule = builtin()
            .unwrap()
            .into_iter()
            .find(|r| r.verify.is_some())
            .unwrap();
        let c = Candidate::new(rule, b"s3cr3t-value-123").unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
