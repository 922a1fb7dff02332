//! A fake Neon on 127.0.0.1 for the neon plugin's tests: the API v2 calls
//! the plugin makes and the endpoint's SQL-over-HTTP `/sql`.
//!
//! It checks what Neon checks: the `Authorization: Bearer` API key on every
//! API call (401 otherwise), the project and branch in every path, that
//! `reset_password` is a bodiless POST, and, on `/sql`, the role and
//! password in `Neon-Connection-String` (400 with SQLSTATE 28P01 when they
//! do not match). It keeps each role's password and, as Neon documents,
//! applies a reset when its operation finishes (the old password works
//! until then). Every call is recorded in a short form (`reset app_b`,
//! `operation`, `get app_b`, `sql app_b ok`), every malformed request in
//! `problems()`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::common::{FakeServer, Recorder, Reply};

pub const PROJECT: &str = "aged-wildflower-123456";
pub const BRANCH: &str = "br-young-forest-a5b6c7d8";
pub const HOST: &str = "ep-cool-darkness-a5b6c7d8.us-east-2.aws.neon.tech";
pub const DATABASE: &str = "neondb";

struct Op {
    id: String,
    role: String,
    status: &'static str,
    /// GETs that still answer `running`.
    polls_left: u32,
    /// Applied when the operation finishes.
    password: String,
}

struct State {
    api_key: String,
    roles: BTreeMap<String, String>,
    ops: Vec<Op>,
    rec: Recorder,
    running_polls: u32,
    fail_next_op: bool,
    /// The next reset answers with a password other than the one it sets.
    wrong_next_password: bool,
}

pub struct FakeNeon {
    pub url: String,
    pub api_key: String,
    state: Arc<Mutex<State>>,
    rec: Recorder,
    _server: FakeServer,
}

/// `calls()`, `count()`, `problems()`, `fail()`: calls and failures are in
/// the short form (`reset app_b`); an injected failure is recorded as
/// `reset app_b -> 429`.
impl std::ops::Deref for FakeNeon {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

fn random_string(n: usize) -> String {
    use rand::Rng;
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| abc[r.gen_range(0..abc.len())] as char)
        .collect()
}

/// `postgres://ROLE:PASSWORD@HOST/DB?…` → (role, password, host, db).
pub fn parse_url(s: &str) -> Option<(String, String, String, String)> {
    let rest = s.strip_prefix("postgres://")?;
    let (auth, tail) = rest.split_once('@')?;
    let (user, pw) = auth.split_once(':')?;
    let (host, path) = tail.split_once('/')?;
    let db = path.split('?').next()?;
    Some((
        percent_decode(user)?,
        percent_decode(pw)?,
        host.to_string(),
        db.to_string(),
    ))
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl FakeNeon {
    /// A fake with `roles`, each with a random password.
    pub fn start(roles: &[&str]) -> FakeNeon {
        let api_key = format!("napi_{}", random_string(40));
        let rec = Recorder::default();
        let state = Arc::new(Mutex::new(State {
            api_key: api_key.clone(),
            roles: roles
                .iter()
                .map(|r| (r.to_string(), format!("npg_{}", random_string(12))))
                .collect(),
            ops: vec![],
            rec: rec.clone(),
            running_polls: 0,
            fail_next_op: false,
            wrong_next_password: false,
        }));
        let st = state.clone();
        let server = FakeServer::start("application/json", move |req| {
            let headers = ["authorization", "neon-connection-string", "content-type"]
                .map(|n| req.header(n).map(str::to_string));
            let (status, out, retry_after) =
                handle(&st, &req.method, &req.url, &headers, &req.body);
            let reply = Reply::new(status, out.to_string());
            match retry_after {
                Some(ra) => reply.header("Retry-After", &ra),
                None => reply,
            }
        });
        FakeNeon {
            url: server.url.clone(),
            api_key,
            state,
            rec,
            _server: server,
        }
    }

    /// A role's current password.
    pub fn password(&self, role: &str) -> String {
        self.state.lock().unwrap().roles[role].clone()
    }

    /// `postgres://` URL for a role with its current password.
    pub fn url_for(&self, role: &str) -> String {
        format!(
            "postgres://{role}:{}@{HOST}/{DATABASE}?sslmode=require",
            self.password(role)
        )
    }

    /// Would Postgres accept this connection string?
    pub fn logs_in(&self, url: &str) -> bool {
        let s = self.state.lock().unwrap();
        parse_url(url).is_some_and(|(role, pw, host, db)| {
            host == HOST && db == DATABASE && s.roles.get(&role) == Some(&pw)
        })
    }

    /// The next reset's operation fails (the password is not applied).
    pub fn fail_next_operation(&self) {
        self.state.lock().unwrap().fail_next_op = true;
    }

    /// The next reset tells the plugin a password it did not set (so the
    /// login check refuses it).
    pub fn wrong_next_password(&self) {
        self.state.lock().unwrap().wrong_next_password = true;
    }

    /// New operations answer `running` to this many GETs first.
    pub fn running_polls(&self, n: u32) {
        self.state.lock().unwrap().running_polls = n;
    }
}

fn error(status: u16, message: &str) -> (u16, Value, Option<String>) {
    (
        status,
        json!({"request_id": "fake", "code": "", "message": message}),
        None,
    )
}

fn finish(s: &mut State, i: usize) {
    s.ops[i].status = "finished";
    let (role, pw) = (s.ops[i].role.clone(), s.ops[i].password.clone());
    s.roles.insert(role, pw);
}

fn handle(
    st: &Mutex<State>,
    method: &str,
    url: &str,
    [auth, conn, ctype]: &[Option<String>; 3],
    body: &[u8],
) -> (u16, Value, Option<String>) {
    let mut s = st.lock().unwrap();
    if url == "/sql" {
        let Some((role, pw, host, db)) = conn.as_deref().and_then(parse_url) else {
            s.rec.problem("sql: no parsable Neon-Connection-String");
            return error(400, "missing connection string");
        };
        let q: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if method != "POST"
            || ctype.as_deref() != Some("application/json")
            || q != json!({"query": "SELECT 1", "params": []})
            || host != HOST
            || db != DATABASE
        {
            s.rec
                .problem(format!("sql: unexpected {method} request as {role}"));
        }
        let short = format!("sql {role}");
        if let Some(r) = injected(&s, &short) {
            return r;
        }
        if s.roles.get(&role) == Some(&pw) {
            s.rec.record(format!("{short} ok"));
            return (
                200,
                json!({"command": "SELECT", "rowCount": 1, "rowAsArray": true,
                       "fields": [{"name": "?column?", "dataTypeID": 23}], "rows": [["1"]]}),
                None,
            );
        }
        s.rec.record(format!("{short} refused"));
        return (
            400,
            json!({"message": format!("password authentication failed for user \"{role}\""),
                   "code": "28P01", "severity": "FATAL"}),
            None,
        );
    }
    let Some(path) = url.strip_prefix("/api/v2/projects/") else {
        s.rec.problem(format!("{method} {url}: unknown path"));
        return error(404, "not found");
    };
    if auth.as_deref() != Some(&format!("Bearer {}", s.api_key)) {
        s.rec.record(format!("unauthorized {method} {url}"));
        return error(401, "authentication required");
    }
    let parts: Vec<&str> = path.split('/').collect();
    let (short, role) = match (method, parts.as_slice()) {
        ("POST", [p, "branches", b, "roles", r, "reset_password"])
            if *p == PROJECT && *b == BRANCH =>
        {
            if !body.is_empty() {
                s.rec.problem(format!("reset {r}: unexpected body"));
            }
            (format!("reset {r}"), r.to_string())
        }
        ("GET", [p, "branches", b, "roles", r]) if *p == PROJECT && *b == BRANCH => {
            (format!("get {r}"), r.to_string())
        }
        ("GET", [p, "operations", id]) if *p == PROJECT => {
            ("operation".to_string(), id.to_string())
        }
        _ => {
            s.rec.problem(format!(
                "{method} {url}: not an API call the plugin should make"
            ));
            return error(404, "not found");
        }
    };
    if let Some(r) = injected(&s, &short) {
        return r;
    }
    s.rec.record(short.clone());
    if short == "operation" {
        let Some(i) = s.ops.iter().position(|o| o.id == role) else {
            return error(404, "operation not found");
        };
        if s.ops[i].status == "running" {
            if s.ops[i].polls_left == 0 {
                finish(&mut s, i);
            } else {
                s.ops[i].polls_left -= 1;
            }
        }
        let o = &s.ops[i];
        let mut op = json!({"id": o.id, "project_id": PROJECT, "branch_id": BRANCH,
            "endpoint_id": "ep-cool-darkness-a5b6c7d8", "action": "apply_config",
            "status": o.status, "failures_count": 0});
        if o.status == "failed" {
            op["error"] = json!("compute could not apply the configuration");
        }
        return (200, json!({"operation": op}), None);
    }
    if !s.roles.contains_key(&role) {
        return error(404, &format!("role {role} not found"));
    }
    let role_json = json!({"branch_id": BRANCH, "name": role, "protected": false,
        "authentication_method": "password", "created_at": "2026-01-15T10:30:00Z"});
    if short.starts_with("get ") {
        return (200, json!({"role": role_json}), None);
    }
    // reset: a newer reset supersedes a running one.
    for o in s
        .ops
        .iter_mut()
        .filter(|o| o.role == role && o.status == "running")
    {
        o.status = "skipped";
    }
    let password = format!("npg_{}", random_string(12));
    let id = format!(
        "{}-0000-4000-8000-{}",
        random_string(8).to_lowercase(),
        s.ops.len()
    );
    let failed = std::mem::take(&mut s.fail_next_op);
    let polls_left = s.running_polls;
    s.ops.push(Op {
        id: id.clone(),
        role: role.clone(),
        status: if failed { "failed" } else { "running" },
        polls_left,
        password: password.clone(),
    });
    if !failed && polls_left == 0 {
        let i = s.ops.len() - 1;
        finish(&mut s, i);
    }
    let mut r = role_json;
    r["password"] = json!(if std::mem::take(&mut s.wrong_next_password) {
        format!("npg_{}", random_string(12))
    } else {
        password
    });
    (
        200,
        json!({"role": r, "operations": [{"id": id, "project_id": PROJECT, "branch_id": BRANCH,
            "action": "apply_config", "status": "running", "failures_count": 0}]}),
        None,
    )
}

/// An injected failure for this call, if one is armed.
fn injected(s: &State, short: &str) -> Option<(u16, Value, Option<String>)> {
    let (status, ra) = s.rec.injected(short)?;
    s.rec.record(format!("{short} -> {status}"));
    let (st, body, _) = error(status, "injected failure");
    Some((st, body, ra.map(|sec| sec.to_string())))
}
