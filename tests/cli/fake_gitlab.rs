//! A fake GitLab REST API (v4 access tokens) on 127.0.0.1 for the gitlab
//! plugin's tests.
//!
//! It does what GitLab documents: a rotate call revokes the token and makes
//! a new one with the same name, owner and scopes, a new id and the given
//! `expires_at` (else a week from today); `/personal_access_tokens/self`
//! answers for the token in `PRIVATE-TOKEN`, 401 for a revoked one; and its
//! automatic reuse detection: a rotate call made with an already rotated
//! token revokes the newest token of that family. It checks that callers
//! use `PRIVATE-TOKEN`, send JSON bodies and a `YYYY-MM-DD` `expires_at`,
//! that only the administrator token rotates other tokens, and that a token
//! is rotated through its own collection (project, group or personal). It
//! records every call as `METHOD path by <token id | revoked:<id> | none>`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::common::{FakeServer, Incoming, Recorder, Reply};

pub const PROJECT: &str = "acme%2Fapp";
pub const GROUP: &str = "acme";
pub const ADMIN_USER: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: u64,
    pub name: String,
    pub user_id: u64,
    /// `None`: a personal token; `Some("projects/acme%2Fapp")`…
    pub owner: Option<String>,
    pub value: String,
    pub revoked: bool,
    pub expires_at: Option<String>,
    /// The token this one replaced by a rotation.
    pub previous: Option<u64>,
    pub admin: bool,
}

impl Token {
    fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "user_id": self.user_id, "scopes": ["api"],
               "revoked": self.revoked, "active": !self.revoked, "expires_at": self.expires_at,
               "created_at": "2026-01-01T00:00:00.000Z", "last_used_at": null})
    }
}

struct State {
    tokens: Vec<Token>,
    next_id: u64,
    rec: Recorder,
    /// What "today" is for the default expiry.
    today: String,
}

pub struct FakeGitlab {
    /// The API base the plugin is configured with (`…/api/v4`).
    pub api: String,
    pub url: String,
    state: Arc<Mutex<State>>,
    rec: Recorder,
    _server: FakeServer,
}

/// `calls()`, `count()`, `problems()`, `fail()`: calls are `METHOD path by
/// <token id | revoked:<id> | none>`, failures match `METHOD path`.
impl std::ops::Deref for FakeGitlab {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

fn random(n: usize) -> String {
    use rand::Rng;
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| abc[r.gen_range(0..abc.len())] as char)
        .collect()
}

fn message(status: u16, msg: &str) -> Reply {
    Reply::new(status, json!({"message": msg}).to_string())
}

/// `YYYY-MM-DD` of today (UTC) plus `days`.
pub fn date_in(days: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let z = secs.div_euclid(86_400) + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn date_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl FakeGitlab {
    pub fn start() -> FakeGitlab {
        let rec = Recorder::default();
        let state = Arc::new(Mutex::new(State {
            tokens: vec![],
            next_id: 40,
            rec: rec.clone(),
            today: date_in(0),
        }));
        let st = state.clone();
        let server = FakeServer::start("application/json", move |r: &Incoming| handle(&st, r));
        FakeGitlab {
            api: format!("{}/api/v4", server.url),
            url: server.url.clone(),
            state,
            rec,
            _server: server,
        }
    }

    /// A token made outside gsec. `owner`: `None` (personal) or
    /// `Some("projects/acme%2Fapp")` / `Some("groups/acme")`.
    pub fn add_token(&self, name: &str, user_id: u64, owner: Option<&str>) -> Token {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let t = Token {
            id: s.next_id,
            name: name.into(),
            user_id,
            owner: owner.map(str::to_string),
            value: format!("glpat-{}", random(20)),
            revoked: false,
            expires_at: Some(date_in(30)),
            previous: None,
            admin: false,
        };
        s.tokens.push(t.clone());
        t
    }

    /// An administrator's personal token: may rotate, read and revoke any token.
    pub fn add_admin(&self) -> Token {
        let t = self.add_token("admin", ADMIN_USER, None);
        let mut s = self.state.lock().unwrap();
        s.tokens.iter_mut().find(|x| x.id == t.id).unwrap().admin = true;
        Token { admin: true, ..t }
    }

    pub fn tokens(&self) -> Vec<Token> {
        self.state.lock().unwrap().tokens.clone()
    }

    /// Live tokens of `user` (the rotated token's family and its siblings).
    pub fn live(&self, user: u64) -> Vec<Token> {
        self.tokens()
            .into_iter()
            .filter(|t| !t.revoked && t.user_id == user)
            .collect()
    }
}

/// Revoke `id` and make its successor.
fn rotate(s: &mut State, id: u64, body: &Value) -> Result<Token, Reply> {
    let expires = match body.get("expires_at") {
        None | Some(Value::Null) => date_in(7),
        Some(Value::String(d)) if date_ok(d) => d.clone(),
        Some(_) => {
            s.rec.problem("rotate: expires_at is not YYYY-MM-DD");
            return Err(message(400, "400 Bad request - expires_at is invalid"));
        }
    };
    let Some(old) = s.tokens.iter_mut().find(|t| t.id == id) else {
        return Err(message(404, "404 Not found"));
    };
    if old.revoked {
        return Err(message(400, "400 Bad request - token already revoked"));
    }
    old.revoked = true;
    let old = old.clone();
    s.next_id += 1;
    let new = Token {
        id: s.next_id,
        value: format!("glpat-{}", random(20)),
        expires_at: Some(expires),
        previous: Some(old.id),
        revoked: false,
        ..old
    };
    s.tokens.push(new.clone());
    Ok(new)
}

fn with_value(t: &Token) -> Reply {
    let mut v = t.json();
    v["token"] = json!(t.value);
    Reply::new(200, v.to_string())
}

fn handle(st: &Mutex<State>, r: &Incoming) -> Reply {
    let mut s = st.lock().unwrap();
    let path = r.path().to_string();
    let line = format!("{} {path}", r.method);
    if r.header("authorization").is_some() {
        s.rec
            .problem(format!("{line}: sent Authorization, not PRIVATE-TOKEN"));
    }
    let sent = r.header("private-token");
    let caller = sent.and_then(|v| s.tokens.iter().find(|t| t.value == v).cloned());
    let who = match (&caller, sent) {
        (Some(t), _) if t.revoked => format!("revoked:{}", t.id),
        (Some(t), _) => t.id.to_string(),
        (None, Some(_)) => "unknown".into(),
        (None, None) => "none".into(),
    };
    let shown = if r.method == "GET" && r.url.contains('?') {
        r.url.clone()
    } else {
        path.clone()
    };
    s.rec.record(format!("{} {shown} by {who}", r.method));
    if let Some((status, ra)) = s.rec.injected(&line) {
        let mut rep = message(status, "injected failure");
        if let Some(sec) = ra {
            rep = rep.header("Retry-After", &sec.to_string());
        }
        return rep;
    }
    let body: Value = if r.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&r.body) {
            Ok(v) => v,
            Err(_) => {
                s.rec.problem(format!("{line}: body is not JSON"));
                return message(400, "400 Bad request");
            }
        }
    };
    let Some(rest) = path.strip_prefix("/api/v4/") else {
        return message(404, "404 Not found");
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let Some(caller) = caller else {
        return message(401, "401 Unauthorized");
    };
    // Automatic reuse detection: a rotate call with a rotated token revokes
    // the newest live token of its family.
    if caller.revoked {
        if r.method == "POST" && segs.last() == Some(&"rotate") {
            let mut cur = caller.id;
            while let Some(next) = s
                .tokens
                .iter()
                .find(|t| t.previous == Some(cur))
                .map(|t| t.id)
            {
                cur = next;
            }
            if let Some(t) = s.tokens.iter_mut().find(|t| t.id == cur) {
                t.revoked = true;
            }
        }
        return message(401, "401 Unauthorized");
    }
    match (r.method.as_str(), segs.as_slice()) {
        ("GET", ["personal_access_tokens", "self"]) => Reply::new(200, caller.json().to_string()),
        ("POST", ["personal_access_tokens", "self", "rotate"]) => {
            match rotate(&mut s, caller.id, &body) {
                Ok(t) => with_value(&t),
                Err(e) => e,
            }
        }
        ("DELETE", ["personal_access_tokens", "self"]) => {
            if let Some(t) = s.tokens.iter_mut().find(|t| t.id == caller.id) {
                t.revoked = true;
            }
            Reply::new(204, "")
        }
        _ if !caller.admin => message(403, "403 Forbidden"),
        ("GET", ["personal_access_tokens"]) => {
            let user: Option<u64> = r.query("user_id").and_then(|u| u.parse().ok());
            let active = r.query("state") == Some("active");
            let list: Vec<Value> = s
                .tokens
                .iter()
                .filter(|t| {
                    t.owner.is_none()
                        && user.is_none_or(|u| t.user_id == u)
                        && (!active || !t.revoked)
                })
                .map(Token::json)
                .collect();
            Reply::new(200, Value::Array(list).to_string())
        }
        (m, ["personal_access_tokens", id, rest @ ..]) => {
            token_op(&mut s, m, None, id, rest, &body)
        }
        ("GET", [kind @ ("projects" | "groups"), owner, "access_tokens"]) => {
            let o = format!("{kind}/{owner}");
            let active = r.query("state") == Some("active");
            let list: Vec<Value> = s
                .tokens
                .iter()
                .filter(|t| t.owner.as_deref() == Some(o.as_str()) && (!active || !t.revoked))
                .map(Token::json)
                .collect();
            Reply::new(200, Value::Array(list).to_string())
        }
        (
            m,
            [
                kind @ ("projects" | "groups"),
                owner,
                "access_tokens",
                id,
                rest @ ..,
            ],
        ) => {
            let o = format!("{kind}/{owner}");
            token_op(&mut s, m, Some(&o), id, rest, &body)
        }
        _ => message(404, "404 Not found"),
    }
}

/// GET, DELETE or rotate one token of a collection (admin only).
fn token_op(
    s: &mut State,
    method: &str,
    owner: Option<&str>,
    id: &str,
    rest: &[&str],
    body: &Value,
) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return message(404, "404 Not found");
    };
    let Some(t) = s.tokens.iter().find(|t| t.id == id).cloned() else {
        return message(404, "404 Not found");
    };
    if t.owner.as_deref() != owner {
        s.rec
            .problem(format!("token {id} addressed through the wrong collection"));
        return message(404, "404 Not found");
    }
    match (method, rest) {
        ("GET", []) => Reply::new(200, t.json().to_string()),
        ("DELETE", []) => {
            if let Some(t) = s.tokens.iter_mut().find(|t| t.id == id) {
                t.revoked = true;
            }
            Reply::new(204, "")
        }
        ("POST", ["rotate"]) => match rotate(s, id, body) {
            Ok(t) => with_value(&t),
            Err(e) => e,
        },
        _ => message(404, "404 Not found"),
    }
}
