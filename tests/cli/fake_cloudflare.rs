//! A fake Cloudflare v4 API (API tokens, user and account-owned) on
//! 127.0.0.1 for the cloudflare plugin's tests.
//!
//! It checks what Cloudflare checks: a `Authorization: Bearer` token that is
//! live, and that only a token with the "API Tokens Write" permission group
//! manages tokens (403, error 9109, otherwise). It checks what the plugin
//! must get right: a new token's policies equal those of the token it read
//! before (`GET …/tokens/{id}`), no read-only fields are sent back, a roll's
//! body is a JSON object. It keeps every token (value, policies, deleted or
//! not) so tests can assert "exactly one live credential", records every
//! call as `METHOD path by <id of the calling token>`, and every problem.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::common::{FakeServer, Incoming, Recorder, Reply};

pub const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
/// The permission group that may manage tokens.
pub const TOKENS_WRITE: &str = "686d18d5ac6c441c867cbf6771e58a0a";
pub const DNS_WRITE: &str = "4755a26eedb94da69e1066d98aa820be";

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub value: String,
    /// `None`: a user token; `Some(account)`: account-owned.
    pub account: Option<String>,
    pub policies: Value,
    pub condition: Value,
    pub expires_on: Option<String>,
    pub deleted: bool,
}

impl Token {
    fn can_manage(&self) -> bool {
        self.policies.to_string().contains(TOKENS_WRITE)
    }
    fn public(&self) -> Value {
        json!({"id": self.id, "name": self.name, "status": "active", "policies": self.policies,
               "condition": self.condition, "expires_on": self.expires_on, "issued_on": "2026-01-01T00:00:00Z"})
    }
}

struct State {
    tokens: Vec<Token>,
    rec: Recorder,
    /// The policies of the token last read with `GET …/tokens/{id}`.
    last_read: Option<Value>,
}

pub struct FakeCloudflare {
    /// The API base the plugin is configured with (`…/client/v4`).
    pub api: String,
    pub url: String,
    state: Arc<Mutex<State>>,
    rec: Recorder,
    _server: FakeServer,
}

/// `calls()`, `count()`, `problems()`, `fail()`: calls are `METHOD path by
/// <id of the calling token>`, failures match `METHOD path`.
impl std::ops::Deref for FakeCloudflare {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

fn random(n: usize) -> String {
    use rand::Rng;
    let abc = b"0123456789abcdef";
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| abc[r.gen_range(0..abc.len())] as char)
        .collect()
}

fn err(status: u16, code: u32, msg: &str) -> Reply {
    Reply::new(
        status,
        json!({"success": false, "errors": [{"code": code, "message": msg}], "messages": [], "result": null}).to_string(),
    )
}

fn ok(result: Value) -> Reply {
    Reply::new(
        200,
        json!({"success": true, "errors": [], "messages": [], "result": result}).to_string(),
    )
}

/// Policies compared as Cloudflare applies them: effect, resources and
/// permission-group ids (with meta); ids and names of the policy itself are
/// Cloudflare's own.
pub fn normalize(policies: &Value) -> Value {
    Value::Array(
        policies
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let groups: Vec<Value> = p["permission_groups"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|g| json!({"id": g["id"], "meta": g.get("meta").cloned().unwrap_or(Value::Null)}))
                    .collect();
                json!({"effect": p["effect"], "resources": p["resources"], "permission_groups": groups})
            })
            .collect(),
    )
}

impl FakeCloudflare {
    pub fn start() -> FakeCloudflare {
        let rec = Recorder::default();
        let state = Arc::new(Mutex::new(State {
            tokens: vec![],
            rec: rec.clone(),
            last_read: None,
        }));
        let st = state.clone();
        let server = FakeServer::start("application/json", move |r: &Incoming| handle(&st, r));
        FakeCloudflare {
            api: format!("{}/client/v4", server.url),
            url: server.url.clone(),
            state,
            rec,
            _server: server,
        }
    }

    /// A token made outside gsec: `manage` gives it "API Tokens Write".
    pub fn add_token(&self, name: &str, account: Option<&str>, manage: bool) -> Token {
        let mut groups = vec![json!({"id": DNS_WRITE, "name": "DNS Write"})];
        if manage {
            groups.push(json!({"id": TOKENS_WRITE, "name": "API Tokens Write"}));
        }
        let t = Token {
            id: random(32),
            name: name.into(),
            value: random(40),
            account: account.map(str::to_string),
            policies: json!([{"id": random(32), "effect": "allow",
                "resources": {"com.cloudflare.api.account.zone.eb78d65290b24279ba6f44721b3ea3c4": "*"},
                "permission_groups": groups}]),
            condition: json!({"request_ip": {"in": ["192.0.2.0/24"], "not_in": []}}),
            expires_on: None,
            deleted: false,
        };
        self.state.lock().unwrap().tokens.push(t.clone());
        t
    }

    pub fn live(&self) -> Vec<Token> {
        self.state
            .lock()
            .unwrap()
            .tokens
            .iter()
            .filter(|t| !t.deleted)
            .cloned()
            .collect()
    }

    pub fn token(&self, id: &str) -> Option<Token> {
        self.state
            .lock()
            .unwrap()
            .tokens
            .iter()
            .find(|t| t.id == id)
            .cloned()
    }
}

fn handle(st: &Mutex<State>, r: &Incoming) -> Reply {
    let mut s = st.lock().unwrap();
    let path = r.path().to_string();
    let line = format!("{} {}", r.method, path);
    // Who is calling: a live token's id, `dead` for a value Cloudflare no
    // longer accepts, `none` without a bearer token.
    let bearer = r
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "));
    if r.header("authorization").is_some() && bearer.is_none() {
        s.rec
            .problem(format!("{line}: Authorization is not a Bearer token"));
    }
    let caller = bearer.and_then(|b| {
        s.tokens
            .iter()
            .find(|t| t.value == b && !t.deleted)
            .cloned()
    });
    let who = match (&caller, bearer) {
        (Some(t), _) => t.id.clone(),
        (None, Some(_)) => "dead".into(),
        (None, None) => "none".into(),
    };
    let shown = if r.method == "GET" && r.url.contains("?") && !path.ends_with("/verify") {
        r.url.clone()
    } else {
        path.clone()
    };
    s.rec.record(format!("{} {shown} by {who}", r.method));
    if let Some((status, ra)) = s.rec.injected(&line) {
        let mut rep = err(
            status,
            if status == 429 { 971 } else { 1000 },
            "injected failure",
        );
        if let Some(sec) = ra {
            rep = rep.header("Retry-After", &sec.to_string());
        }
        return rep;
    }
    let Some(rest) = path.strip_prefix("/client/v4/") else {
        return err(404, 7000, "No route for that URI");
    };
    // `user/tokens…` or `accounts/<id>/tokens…`
    let (account, rest) = match rest.strip_prefix("accounts/") {
        Some(a) => match a.split_once('/') {
            Some((acc, rest)) => (Some(acc.to_string()), rest.to_string()),
            None => return err(404, 7000, "No route for that URI"),
        },
        None => match rest.strip_prefix("user/") {
            Some(rest) => (None, rest.to_string()),
            None => return err(404, 7000, "No route for that URI"),
        },
    };
    let Some(caller) = caller else {
        return err(401, 1000, "Invalid API Token");
    };
    if caller.account != account {
        return err(403, 9109, "Unauthorized to access requested resource");
    }
    let segs: Vec<&str> = rest.split('/').collect();
    if segs == ["tokens", "verify"] && r.method == "GET" {
        return ok(json!({"id": caller.id, "status": "active", "expires_on": caller.expires_on}));
    }
    if !caller.can_manage() {
        return err(403, 9109, "Unauthorized to access requested resource");
    }
    let body: Option<Value> = if r.body.is_empty() {
        None
    } else {
        serde_json::from_slice(&r.body).ok()
    };
    if !r.body.is_empty() && body.is_none() {
        s.rec.problem(format!("{line}: body is not JSON"));
        return err(400, 6007, "Malformed JSON in request body");
    }
    let mine = |t: &Token| t.account == account && !t.deleted;
    match (r.method.as_str(), segs.as_slice()) {
        ("GET", ["tokens"]) => {
            let list: Vec<Value> = s
                .tokens
                .iter()
                .filter(|t| mine(t))
                .map(Token::public)
                .collect();
            let per_page: usize = r
                .query("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(20);
            let page: usize = r.query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let total_pages = list.len().div_ceil(per_page).max(1);
            let items: Vec<Value> = list
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            Reply::new(
                200,
                json!({"success": true, "errors": [], "messages": [], "result": items,
                       "result_info": {"page": page, "per_page": per_page, "total_pages": total_pages}})
                .to_string(),
            )
        }
        ("POST", ["tokens"]) => {
            let b = body.unwrap_or(Value::Null);
            let name = b["name"].as_str().unwrap_or_default().to_string();
            if name.is_empty() || name.chars().count() > 120 {
                s.rec.problem(format!("POST tokens: bad name {name:?}"));
                return err(400, 1001, "name is required (at most 120 characters)");
            }
            let policies = b["policies"].clone();
            for p in policies.as_array().cloned().unwrap_or_default() {
                if p.get("id").is_some() {
                    s.rec
                        .problem("POST tokens: a policy carries its read-only id");
                }
                for g in p["permission_groups"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    if g.get("name").is_some() {
                        s.rec
                            .problem("POST tokens: a permission group carries its read-only name");
                    }
                }
            }
            match &s.last_read {
                Some(old) if normalize(old) == normalize(&policies) => {}
                _ => s
                    .rec
                    .problem("POST tokens: the policies differ from the token read before"),
            }
            let t = Token {
                id: random(32),
                name,
                value: random(40),
                account: account.clone(),
                policies: Value::Array(
                    policies
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|mut p| {
                            p["id"] = json!(random(32));
                            p
                        })
                        .collect(),
                ),
                condition: b.get("condition").cloned().unwrap_or(json!({})),
                expires_on: b["expires_on"].as_str().map(str::to_string),
                deleted: false,
            };
            s.tokens.push(t.clone());
            let mut out = t.public();
            out["value"] = json!(t.value);
            ok(out)
        }
        ("GET", ["tokens", id]) => {
            match s.tokens.iter().find(|t| t.id == *id && mine(t)).cloned() {
                Some(t) => {
                    s.last_read = Some(t.policies.clone());
                    ok(t.public())
                }
                None => err(404, 1003, "Token not found"),
            }
        }
        ("DELETE", ["tokens", id]) => match s
            .tokens
            .iter_mut()
            .find(|t| t.id == *id && t.account == account && !t.deleted)
        {
            Some(t) => {
                t.deleted = true;
                ok(json!({"id": id}))
            }
            None => err(404, 1003, "Token not found"),
        },
        ("PUT", ["tokens", id, "value"]) => {
            if !body.as_ref().is_some_and(Value::is_object) {
                s.rec
                    .problem("PUT tokens/{id}/value: the body is not a JSON object");
            }
            match s
                .tokens
                .iter_mut()
                .find(|t| t.id == *id && t.account == account && !t.deleted)
            {
                Some(t) => {
                    t.value = random(40);
                    ok(json!(t.value))
                }
                None => err(404, 1003, "Token not found"),
            }
        }
        _ => err(404, 7000, "No route for that URI"),
    }
}
