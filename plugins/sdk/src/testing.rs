//! Run a plugin natively, in `cargo test`, against a fake provider.
//!
//! Inside gsec a plugin's `http`, `random`, `now` and `log` are host
//! imports; natively they go to the [`Harness`] that runs the code. A
//! harness replays recorded exchanges in order (`expect`: the exact method
//! and URL, optional checks on the request, then the canned reply) and/or
//! answers from a handler (`respond`); it has a virtual clock that
//! [`crate::sleep_ms`] advances at once, deterministic random bytes, and
//! keeps every request and log line for assertions.
//!
//! ```ignore
//! use gsec_plugin_sdk::testing::{Harness, reply};
//! let h = Harness::new()
//!     .expect("POST https://api.example.com/tokens", reply(201, r#"{"id":"7","token":"t"}"#));
//! let out = h.call::<MyPlugin>(json!({"op": "create", "config": {}}));
//! assert_eq!(out["id"], "7");
//! h.finish(); // every recorded exchange happened
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::http::Response;
use crate::{Plugin, Value, json};

/// A request the plugin sent, as the host would see it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    /// Names lower-case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// `METHOD URL`
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Http(Response),
    /// A transport failure (`{"error": …}` from the host).
    Fail(String),
}

/// An HTTP answer with `status` and `body`.
pub fn reply(status: u16, body: &str) -> Reply {
    Reply::Http(Response {
        status,
        headers: BTreeMap::new(),
        body: body.as_bytes().to_vec(),
    })
}

/// A transport failure ("connection refused").
pub fn fail(msg: &str) -> Reply {
    Reply::Fail(msg.into())
}

impl Reply {
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        if let Reply::Http(r) = &mut self {
            r.headers.insert(k.to_ascii_lowercase(), v.into());
        }
        self
    }
    /// The response (panics for a transport failure).
    pub fn into_response(self) -> Response {
        match self {
            Reply::Http(r) => r,
            Reply::Fail(e) => panic!("not an HTTP reply: {e}"),
        }
    }
}

type Check = Box<dyn Fn(&HttpRequest)>;
type Handler = Box<dyn FnMut(&HttpRequest) -> Reply>;

struct Expected {
    line: String,
    check: Option<Check>,
    reply: Reply,
}

struct State {
    expected: VecDeque<Expected>,
    handler: Option<Handler>,
    requests: Vec<HttpRequest>,
    logs: Vec<(i32, String)>,
    slept: Vec<u64>,
    now: i64,
    rng: u64,
}

/// A fake host for one test. See the module docs.
pub struct Harness {
    state: Rc<RefCell<State>>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    static CURRENT: RefCell<Vec<Rc<RefCell<State>>>> = const { RefCell::new(Vec::new()) };
}

pub(crate) struct HostRef<'a>(&'a Rc<RefCell<State>>);

pub(crate) fn with_host<T>(f: impl FnOnce(&HostRef) -> T) -> T {
    try_with_host(f).unwrap_or_else(|| {
        panic!("gsec host functions exist only inside gsec (or a testing::Harness)")
    })
}

pub(crate) fn try_with_host<T>(f: impl FnOnce(&HostRef) -> T) -> Option<T> {
    let top = CURRENT.with(|c| c.borrow().last().cloned())?;
    Some(f(&HostRef(&top)))
}

#[derive(Deserialize)]
struct Wire {
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

impl HostRef<'_> {
    pub(crate) fn http(&self, raw: &[u8]) -> Vec<u8> {
        let w: Wire = serde_json::from_slice(raw).expect("the SDK sent a malformed http request");
        let req = HttpRequest {
            method: w.method,
            url: w.url,
            headers: w
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body: w
                .body
                .map(|b| STANDARD.decode(b).expect("body is base64"))
                .unwrap_or_default(),
        };
        let reply = {
            let mut s = self.0.borrow_mut();
            s.requests.push(req.clone());
            match s.expected.pop_front() {
                Some(e) => {
                    assert_eq!(
                        req.line(),
                        e.line,
                        "request {} is not the one recorded next",
                        s.requests.len()
                    );
                    drop(s);
                    if let Some(check) = &e.check {
                        check(&req);
                    }
                    e.reply
                }
                None => {
                    // The handler may itself look at the harness: call it
                    // without holding the borrow.
                    let mut h = s.handler.take().unwrap_or_else(|| {
                        panic!(
                            "unexpected request {} (nothing recorded is left)",
                            req.line()
                        )
                    });
                    drop(s);
                    let r = h(&req);
                    self.0.borrow_mut().handler = Some(h);
                    r
                }
            }
        };
        let out = match reply {
            Reply::Http(r) => json!({
                "status": r.status,
                "headers": r.headers,
                "body": STANDARD.encode(&r.body),
            }),
            Reply::Fail(e) => json!({"error": e}),
        };
        serde_json::to_vec(&out).unwrap_or_default()
    }
    pub(crate) fn random(&self, buf: &mut [u8]) {
        let mut s = self.0.borrow_mut();
        for b in buf {
            // xorshift64*: deterministic, so tests are reproducible.
            s.rng ^= s.rng >> 12;
            s.rng ^= s.rng << 25;
            s.rng ^= s.rng >> 27;
            *b = (s.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
    pub(crate) fn now(&self) -> i64 {
        self.0.borrow().now
    }
    pub(crate) fn log(&self, level: i32, msg: &str) {
        self.0.borrow_mut().logs.push((level, msg.to_string()));
    }
    pub(crate) fn sleep(&self, ms: u64) {
        let mut s = self.0.borrow_mut();
        s.slept.push(ms);
        s.now += ms as i64;
    }
}

impl Harness {
    /// A harness at 2026-01-01T00:00:00Z with nothing recorded.
    pub fn new() -> Harness {
        Harness {
            state: Rc::new(RefCell::new(State {
                expected: VecDeque::new(),
                handler: None,
                requests: vec![],
                logs: vec![],
                slept: vec![],
                now: 1_767_225_600_000,
                rng: 0x9e37_79b9_7f4a_7c15,
            })),
        }
    }

    /// The next request must be `line` (`"METHOD URL"`, exactly); answer it
    /// with `reply`.
    pub fn expect(self, line: &str, reply: Reply) -> Harness {
        self.push(line, None, reply)
    }

    /// Like [`Harness::expect`], with `check` run on the request first
    /// (assert on headers and body there).
    pub fn expect_with(
        self,
        line: &str,
        check: impl Fn(&HttpRequest) + 'static,
        reply: Reply,
    ) -> Harness {
        self.push(line, Some(Box::new(check)), reply)
    }

    fn push(self, line: &str, check: Option<Check>, reply: Reply) -> Harness {
        self.state.borrow_mut().expected.push_back(Expected {
            line: line.into(),
            check,
            reply,
        });
        self
    }

    /// Answer requests beyond the recorded ones with `handler` (a stateful
    /// fake provider).
    pub fn respond(self, handler: impl FnMut(&HttpRequest) -> Reply + 'static) -> Harness {
        self.state.borrow_mut().handler = Some(Box::new(handler));
        self
    }

    /// Set the clock (Unix ms).
    pub fn at(self, now_ms: i64) -> Harness {
        self.state.borrow_mut().now = now_ms;
        self
    }

    /// Run `f` with this harness as the host.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                CURRENT.with(|c| c.borrow_mut().pop());
            }
        }
        CURRENT.with(|c| c.borrow_mut().push(self.state.clone()));
        let _pop = Pop;
        f()
    }

    /// One ABI call (`{"op": "create", …}`) to plugin `P`, as gsec makes
    /// it; returns the plugin's JSON answer.
    pub fn call<P: Plugin>(&self, request: Value) -> Value {
        let bytes = serde_json::to_vec(&request).unwrap_or_default();
        self.run(|| crate::__rt::dispatch::<P>(&bytes))
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.state.borrow().requests.clone()
    }

    /// Log lines so far, `(level, line)`: 0 error … 3 debug.
    pub fn logs(&self) -> Vec<(i32, String)> {
        self.state.borrow().logs.clone()
    }

    /// Every wait, in ms.
    pub fn slept_ms(&self) -> Vec<u64> {
        self.state.borrow().slept.clone()
    }

    pub fn now_ms(&self) -> i64 {
        self.state.borrow().now
    }

    /// Panics unless every recorded exchange happened.
    pub fn finish(&self) {
        let s = self.state.borrow();
        let left: Vec<&str> = s.expected.iter().map(|e| e.line.as_str()).collect();
        assert!(left.is_empty(), "recorded requests never sent: {left:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Created, Info, Request, Result, http};

    struct Echo;
    impl Plugin for Echo {
        fn info() -> Info {
            Info::new("echo", "1")
        }
        fn create(req: &Request) -> Result<Created> {
            let r = http::post(
                "https://api.example.com/t",
                &[("x-k", "v")],
                req.config_str("body")?.as_bytes(),
            )?
            .error_for_status()?;
            crate::log::info("made one");
            Ok(Created::new(r.text()).id(crate::now_ms().to_string()))
        }
    }

    #[test]
    fn replays_checks_and_records() {
        let h = Harness::new().at(42).expect_with(
            "POST https://api.example.com/t",
            |r| {
                assert_eq!(r.header("X-K"), Some("v"));
                assert_eq!(r.text(), "hi");
            },
            reply(201, "tok"),
        );
        let out = h.call::<Echo>(json!({"op": "create", "config": {"body": "hi"}}));
        assert_eq!(out, json!({"value": "tok", "id": "42"}));
        assert_eq!(h.logs(), vec![(2, "made one".to_string())]);
        h.finish();
        // Transport failures and 5xx are "retry later" answers.
        let h = Harness::new().respond(|_| fail("connection refused"));
        let out = h.call::<Echo>(json!({"op": "create", "config": {"body": "x"}}));
        assert_eq!(
            out,
            json!({"error": "POST https://api.example.com/t: connection refused", "retry": true})
        );
        let h = Harness::new().respond(|_| reply(502, ""));
        let out = h.call::<Echo>(json!({"op": "create", "config": {"body": "x"}}));
        assert_eq!(out, json!({"error": "HTTP 502", "retry": true}));
        let h = Harness::new().respond(|_| reply(403, ""));
        let out = h.call::<Echo>(json!({"op": "create", "config": {"body": "x"}}));
        assert_eq!(out, json!({"error": "HTTP 403"}));
    }

    #[test]
    #[should_panic(expected = "not the one recorded next")]
    fn a_request_out_of_order_fails_the_test() {
        let h = Harness::new().expect("GET https://api.example.com/other", reply(200, ""));
        h.call::<Echo>(json!({"op": "create", "config": {"body": "x"}}));
    }

    #[test]
    #[should_panic(expected = "only inside gsec")]
    fn host_functions_outside_a_harness_refuse() {
        crate::now_ms();
    }
}
