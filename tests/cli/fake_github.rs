//! A fake GitHub REST API on 127.0.0.1 for the github plugin's tests.
//!
//! It checks what real GitHub checks, for real: the App JWT's RS256
//! signature against the App's public key and its `iat`/`exp`/`iss`; that a
//! posted deploy key is a valid `ssh-ed25519` public key; that an Actions
//! secret is a libsodium sealed box that opens with the repository's private
//! key (repository and environment secrets alike, each scope with its own
//! key pair), and keeps Actions variables, so the `sync` step's secrets and
//! its fingerprint variable can be checked. It keeps the live credentials so tests can assert "exactly one", and
//! records every problem it saw in `problems()` (a test asserts it is empty).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{FakeServer, Incoming, Recorder, Reply};

pub const OWNER_REPO: &str = "acme/app";
pub const APP_ID: u64 = 4242;
pub const INSTALLATION_ID: u64 = 77;
pub const HOOK_ID: u64 = 9;
pub const ACTIONS_KEY_ID: &str = "568250167242549743";

#[derive(Debug, Clone)]
pub struct DeployKey {
    pub id: u64,
    pub title: String,
    pub key: String,
    pub read_only: bool,
}

struct State {
    /// The personal access token repository endpoints accept.
    pat: String,
    app_public: RsaPublicKey,
    /// Installation tokens and whether each is still live.
    installation_tokens: Vec<(String, bool)>,
    deploy_keys: Vec<DeployKey>,
    next_id: u64,
    hook_secret: Option<String>,
    repo_secret: crypto_box::SecretKey,
    /// Environments' secrets are sealed to this other key.
    env_secret: crypto_box::SecretKey,
    /// Repository Actions secrets, as the fake opened them.
    actions: BTreeMap<String, String>,
    /// Environment secrets: environment → name → plaintext.
    env_actions: BTreeMap<String, BTreeMap<String, String>>,
    /// Actions variables: scope ("" for the repository, else the
    /// environment) → name → value.
    variables: BTreeMap<String, BTreeMap<String, String>>,
    /// At most this many secrets per listed page (GitHub: 100).
    max_per_page: usize,
    rec: Recorder,
    /// Installation tokens expire this many seconds after they are made
    /// (GitHub: one hour; tests of gsec's expiry handling shorten it).
    token_ttl: i64,
    /// The JSON bodies of the access-token requests, in order.
    token_requests: Vec<Value>,
}

pub struct FakeGithub {
    pub url: String,
    pub port: u16,
    /// The App's private key (PKCS#1 PEM), to store as a gsec secret.
    pub app_private_pem: String,
    pub pat: String,
    state: Arc<Mutex<State>>,
    rec: Recorder,
    _server: FakeServer,
}

/// `calls()` and `writes()` (`METHOD /path`, the query left out),
/// `problems()` (everything the fake refused as malformed: bad JWT, bad
/// key…), `fail()` (matching `METHOD /path`).
impl std::ops::Deref for FakeGithub {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

impl FakeGithub {
    pub fn start() -> FakeGithub {
        let mut rng = rand::thread_rng();
        let app_key = RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let app_private_pem = app_key
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        let pat = format!("ghp_{}", random_token(36));
        let rec = Recorder::default();
        let state = Arc::new(Mutex::new(State {
            pat: pat.clone(),
            app_public: app_key.to_public_key(),
            installation_tokens: vec![],
            deploy_keys: vec![],
            next_id: 1000,
            hook_secret: None,
            repo_secret: crypto_box::SecretKey::generate(&mut rng),
            env_secret: crypto_box::SecretKey::generate(&mut rng),
            actions: BTreeMap::new(),
            env_actions: BTreeMap::new(),
            variables: BTreeMap::new(),
            max_per_page: 100,
            rec: rec.clone(),
            token_ttl: 3600,
            token_requests: vec![],
        }));
        let st = state.clone();
        let server = FakeServer::start("application/json", move |r: &Incoming| {
            let auth = r.header("Authorization").unwrap_or_default();
            let (status, out) = handle(&st, &r.method, &r.url, auth, &r.body);
            Reply::new(status, out.to_string())
        });
        FakeGithub {
            url: server.url.clone(),
            port: server.port,
            app_private_pem,
            pat,
            state,
            rec,
            _server: server,
        }
    }

    pub fn deploy_keys(&self) -> Vec<DeployKey> {
        self.state.lock().unwrap().deploy_keys.clone()
    }

    /// A key added outside gsec (the credential before the first rotation).
    pub fn add_deploy_key(&self, title: &str, public_line: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.deploy_keys.push(DeployKey {
            id,
            title: title.into(),
            key: public_line.into(),
            read_only: true,
        });
        id
    }

    pub fn live_installation_tokens(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .installation_tokens
            .iter()
            .filter(|t| t.1)
            .map(|t| t.0.clone())
            .collect()
    }

    pub fn minted_installation_tokens(&self) -> usize {
        self.state.lock().unwrap().installation_tokens.len()
    }

    /// Installation tokens minted from now on expire `secs` after.
    pub fn token_ttl(&self, secs: i64) {
        self.state.lock().unwrap().token_ttl = secs;
    }

    /// The bodies of every access-token request (`null` when empty).
    pub fn token_requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().token_requests.clone()
    }

    pub fn hook_secret(&self) -> Option<String> {
        self.state.lock().unwrap().hook_secret.clone()
    }

    /// The plaintext of an Actions secret, as the fake opened it.
    pub fn actions_secret(&self, name: &str) -> Option<String> {
        self.state.lock().unwrap().actions.get(name).cloned()
    }

    /// The plaintext of an environment's secret.
    pub fn env_secret(&self, env: &str, name: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.env_actions.get(env)?.get(name).cloned()
    }

    /// A repository Actions secret set outside gsec.
    pub fn put_actions_secret_by_hand(&self, name: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        s.actions.insert(name.into(), value.into());
    }

    /// The names of the repository's Actions secrets.
    pub fn actions_secret_names(&self) -> Vec<String> {
        self.state.lock().unwrap().actions.keys().cloned().collect()
    }

    /// An Actions variable of the repository (`env` None) or of an
    /// environment.
    pub fn variable(&self, env: Option<&str>, name: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.variables.get(env.unwrap_or(""))?.get(name).cloned()
    }

    /// List pages hold at most `n` secrets from now on.
    pub fn max_per_page(&self, n: usize) {
        self.state.lock().unwrap().max_per_page = n;
    }
}

fn random_token(n: usize) -> String {
    use rand::Rng;
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| abc[r.gen_range(0..abc.len())] as char)
        .collect()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn bearer(auth: &str) -> Option<&str> {
    auth.strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
}

fn handle(st: &Mutex<State>, method: &str, url: &str, auth: &str, body: &[u8]) -> (u16, Value) {
    let mut s = st.lock().unwrap();
    let path = url.split('?').next().unwrap_or(url).to_string();
    let line = format!("{method} {path}");
    s.rec.record(line.clone());
    if let Some((status, _)) = s.rec.injected(&line) {
        return (status, json!({"message": "injected failure"}));
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    let token = bearer(auth).unwrap_or("").to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    // App endpoints: authenticated by the App JWT or an installation token.
    match (method, parts.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            if *id != INSTALLATION_ID.to_string() {
                return (404, json!({"message": "Not Found"}));
            }
            if let Err(e) = check_jwt(&s.app_public, &token) {
                s.rec.problem(format!("JWT refused: {e}"));
                return (
                    401,
                    json!({"message": format!("A JSON web token could not be decoded: {e}")}),
                );
            }
            let t = format!("ghs_{}", random_token(36));
            s.installation_tokens.push((t.clone(), true));
            s.token_requests.push(body.clone());
            let expires_at = humantime::format_rfc3339_seconds(
                UNIX_EPOCH + Duration::from_secs((now() + s.token_ttl).max(0) as u64),
            );
            return (
                201,
                json!({"token": t, "expires_at": expires_at.to_string(), "permissions": {"contents": "read"}}),
            );
        }
        ("GET", ["installation", "repositories"]) => {
            return if s
                .installation_tokens
                .iter()
                .any(|(t, live)| *live && *t == token)
            {
                (
                    200,
                    json!({"total_count": 1, "repositories": [{"full_name": OWNER_REPO}]}),
                )
            } else {
                (401, json!({"message": "Bad credentials"}))
            };
        }
        ("DELETE", ["installation", "token"]) => {
            return match s
                .installation_tokens
                .iter_mut()
                .find(|(t, live)| *live && *t == token)
            {
                Some(t) => {
                    t.1 = false;
                    (204, Value::Null)
                }
                None => (401, json!({"message": "Bad credentials"})),
            };
        }
        _ => {}
    }

    // Repository endpoints: a PAT or a live installation token.
    let authed = token == s.pat
        || s.installation_tokens
            .iter()
            .any(|(t, live)| *live && *t == token);
    if !authed {
        return (401, json!({"message": "Bad credentials"}));
    }
    let [_, owner, repo, rest @ ..] = parts.as_slice() else {
        return (404, json!({"message": "Not Found"}));
    };
    if parts[0] != "repos" || format!("{owner}/{repo}") != OWNER_REPO {
        return (404, json!({"message": "Not Found"}));
    }
    match (method, rest) {
        ("GET", ["keys"]) => (
            200,
            Value::Array(s.deploy_keys.iter().map(key_json).collect()),
        ),
        ("GET", ["keys", id]) => match s.deploy_keys.iter().find(|k| k.id.to_string() == *id) {
            Some(k) => (200, key_json(k)),
            None => (404, json!({"message": "Not Found"})),
        },
        ("POST", ["keys"]) => {
            let key = body["key"].as_str().unwrap_or("").to_string();
            let title = body["title"].as_str().unwrap_or("").to_string();
            if let Err(e) = check_ssh_ed25519(&key) {
                s.rec.problem(format!("deploy key refused: {e}"));
                return (422, json!({"message": format!("key is invalid: {e}")}));
            }
            if s.deploy_keys.iter().any(|k| same_key(&k.key, &key)) {
                return (422, json!({"message": "key is already in use"}));
            }
            s.next_id += 1;
            let k = DeployKey {
                id: s.next_id,
                title,
                key,
                read_only: body["read_only"].as_bool().unwrap_or(true),
            };
            s.deploy_keys.push(k.clone());
            (201, key_json(&k))
        }
        ("DELETE", ["keys", id]) => {
            let before = s.deploy_keys.len();
            s.deploy_keys.retain(|k| k.id.to_string() != *id);
            if s.deploy_keys.len() < before {
                (204, Value::Null)
            } else {
                (404, json!({"message": "Not Found"}))
            }
        }
        ("PATCH", ["hooks", id, "config"]) | ("GET", ["hooks", id, "config"])
            if *id != HOOK_ID.to_string() =>
        {
            (404, json!({"message": "Not Found"}))
        }
        ("PATCH", ["hooks", _, "config"]) => {
            match body["secret"].as_str() {
                Some(sec) => s.hook_secret = Some(sec.to_string()),
                None => s.rec.problem("hook config PATCH without a secret"),
            }
            (200, hook_json(&s))
        }
        ("GET", ["hooks", _, "config"]) => (200, hook_json(&s)),
        ("GET", ["actions", "secrets", name]) if *name != "public-key" => {
            match s.actions.contains_key(*name) {
                true => (
                    200,
                    json!({"name": name, "created_at": "2026-01-01T00:00:00Z"}),
                ),
                false => (404, json!({"message": "Not Found"})),
            }
        }
        (_, ["actions", kind, tail @ ..]) => scoped(&mut s, method, "", kind, tail, url, &body),
        (_, ["environments", env, kind, tail @ ..]) => {
            let env = percent_decode(env);
            scoped(&mut s, method, &env, kind, tail, url, &body)
        }
        _ => (404, json!({"message": "Not Found"})),
    }
}

/// `%XX` escapes of a path segment decoded (environment names).
fn percent_decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_usize(url: &str, key: &str) -> Option<usize> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?
        .parse()
        .ok()
}

/// Secrets and variables of the repository (`env` "") or of an
/// environment: `kind` is `secrets` or `variables`, as GitHub's paths
/// `/repos/O/R/actions/{kind}/…` and `/repos/O/R/environments/E/{kind}/…`.
fn scoped(
    s: &mut State,
    method: &str,
    env: &str,
    kind: &str,
    tail: &[&str],
    url: &str,
    body: &Value,
) -> (u16, Value) {
    let not_found = (404, json!({"message": "Not Found"}));
    match (method, kind, tail) {
        ("GET", "secrets", ["public-key"]) => {
            let key = if env.is_empty() {
                &s.repo_secret
            } else {
                &s.env_secret
            };
            (
                200,
                json!({"key_id": ACTIONS_KEY_ID, "key": STANDARD.encode(key.public_key().as_bytes())}),
            )
        }
        ("GET", "secrets", []) => {
            let names: Vec<String> = if env.is_empty() {
                s.actions.keys().cloned().collect()
            } else {
                s.env_actions
                    .get(env)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let per = query_usize(url, "per_page")
                .unwrap_or(30)
                .clamp(1, 100)
                .min(s.max_per_page);
            let page = query_usize(url, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = names
                .iter()
                .skip((page - 1) * per)
                .take(per)
                .map(|n| json!({"name": n, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}))
                .collect();
            (200, json!({"total_count": names.len(), "secrets": items}))
        }
        ("PUT", "secrets", [name]) => {
            if body["key_id"].as_str() != Some(ACTIONS_KEY_ID) {
                s.rec.problem("Actions secret PUT with a wrong key_id");
                return (422, json!({"message": "bad key_id"}));
            }
            let key = if env.is_empty() {
                &s.repo_secret
            } else {
                &s.env_secret
            };
            let opened = STANDARD
                .decode(body["encrypted_value"].as_str().unwrap_or(""))
                .ok()
                .and_then(|ct| key.unseal(&ct).ok())
                .and_then(|pt| String::from_utf8(pt).ok());
            let Some(pt) = opened else {
                s.rec.problem(format!(
                    "Actions secret {name} is not a sealed box for the {} key",
                    if env.is_empty() {
                        "repository"
                    } else {
                        "environment"
                    }
                ));
                return (
                    422,
                    json!({"message": "encrypted_value could not be decrypted"}),
                );
            };
            // GitHub keeps secret names in upper case.
            let name = name.to_ascii_uppercase();
            let map = if env.is_empty() {
                &mut s.actions
            } else {
                s.env_actions.entry(env.to_string()).or_default()
            };
            let created = map.insert(name, pt).is_none();
            (if created { 201 } else { 204 }, Value::Null)
        }
        ("DELETE", "secrets", [name]) => {
            let map = if env.is_empty() {
                Some(&mut s.actions)
            } else {
                s.env_actions.get_mut(env)
            };
            match map.and_then(|m| m.remove(&name.to_ascii_uppercase())) {
                Some(_) => (204, Value::Null),
                None => not_found,
            }
        }
        ("GET", "variables", [name]) => match s.variables.get(env).and_then(|m| m.get(*name)) {
            Some(v) => (
                200,
                json!({"name": name, "value": v, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}),
            ),
            None => not_found,
        },
        ("POST", "variables", []) | ("PATCH", "variables", [_]) => {
            let (Some(name), Some(value)) = (body["name"].as_str(), body["value"].as_str()) else {
                s.rec
                    .problem(format!("{method} variable without name and value"));
                return (422, json!({"message": "name and value are required"}));
            };
            if value.len() > 48 * 1024 {
                s.rec.problem(format!("variable {name} over 48 KB"));
                return (422, json!({"message": "value too large"}));
            }
            let name = name.to_ascii_uppercase();
            let vars = s.variables.entry(env.to_string()).or_default();
            let exists = vars.contains_key(&name);
            match (method, exists, tail) {
                ("POST", true, _) => (409, json!({"message": "Already exists"})),
                ("PATCH", false, _) => not_found,
                ("PATCH", true, [path_name]) if path_name.to_ascii_uppercase() != name => {
                    s.rec.problem("variable PATCH renames it");
                    (422, json!({"message": "rename refused by the fake"}))
                }
                _ => {
                    vars.insert(name, value.to_string());
                    (if method == "POST" { 201 } else { 204 }, Value::Null)
                }
            }
        }
        _ => not_found,
    }
}

fn key_json(k: &DeployKey) -> Value {
    json!({"id": k.id, "key": k.key, "title": k.title, "read_only": k.read_only, "verified": true})
}

fn hook_json(s: &State) -> Value {
    json!({"url": "https://example.com/hook", "content_type": "json", "secret": s.hook_secret.as_ref().map(|_| "********")})
}

/// Verify an App JWT as GitHub does: RS256 over `header.claims` with the
/// App's public key, `iss` the App id, issued not in the future (60 s of
/// drift allowed) and valid for at most 10 minutes.
fn check_jwt(public: &RsaPublicKey, jwt: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Err("not three parts".into());
    };
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", header["alg"]));
    }
    let sig = Signature::try_from(
        URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|e| e.to_string())?
            .as_slice(),
    )
    .map_err(|e| e.to_string())?;
    VerifyingKey::<Sha256>::new(public.clone())
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "signature does not verify with the App's public key".to_string())?;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let (iat, exp) = (
        claims["iat"].as_i64().ok_or("no iat")?,
        claims["exp"].as_i64().ok_or("no exp")?,
    );
    let now = now();
    if iat > now + 60 {
        return Err("iat is in the future".into());
    }
    if exp <= now || exp - iat > 600 + 60 {
        return Err("exp is in the past or more than 10 minutes after iat".into());
    }
    if claims["iss"].as_u64() != Some(APP_ID) && claims["iss"].as_str() != Some(&APP_ID.to_string())
    {
        return Err("iss is not the App id".into());
    }
    Ok(())
}

/// The 32-byte point of an `ssh-ed25519 AAAA…` line, checked to be a valid
/// curve point (what GitHub's "key is invalid" catches).
pub fn check_ssh_ed25519(line: &str) -> Result<[u8; 32], String> {
    let mut it = line.split_whitespace();
    if it.next() != Some("ssh-ed25519") {
        return Err("not an ssh-ed25519 key".into());
    }
    let blob = STANDARD
        .decode(it.next().ok_or("no key data")?)
        .map_err(|e| e.to_string())?;
    let mut r = SshReader(&blob);
    if r.string() != Some(b"ssh-ed25519".as_slice()) {
        return Err("key blob type is not ssh-ed25519".into());
    }
    let pk: [u8; 32] = r
        .string()
        .ok_or("truncated")?
        .try_into()
        .map_err(|_| "key is not 32 bytes")?;
    if !r.0.is_empty() {
        return Err("trailing bytes in key blob".into());
    }
    ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| "not a valid ed25519 point")?;
    Ok(pk)
}

fn same_key(a: &str, b: &str) -> bool {
    matches!((check_ssh_ed25519(a), check_ssh_ed25519(b)), (Ok(x), Ok(y)) if x == y)
}

struct SshReader<'a>(&'a [u8]);

impl<'a> SshReader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (h, t) = self.0.split_at_checked(4)?;
        self.0 = t;
        Some(u32::from_be_bytes(h.try_into().ok()?))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        let (h, t) = self.0.split_at_checked(n)?;
        self.0 = t;
        Some(h)
    }
}

/// The public key derived from an unencrypted OpenSSH ed25519 private key
/// (derived from the private seed, not read from the file's public copy).
pub fn public_of_openssh_private(pem: &str) -> [u8; 32] {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    let blob = STANDARD.decode(body).expect("base64");
    let rest = blob
        .strip_prefix(b"openssh-key-v1\0".as_slice())
        .expect("openssh magic");
    let mut r = SshReader(rest);
    assert_eq!(r.string(), Some(b"none".as_slice()), "unencrypted");
    r.string();
    r.string();
    assert_eq!(r.u32(), Some(1));
    r.string();
    let mut p = SshReader(r.string().expect("private section"));
    assert_eq!(p.u32(), p.u32(), "check ints");
    assert_eq!(p.string(), Some(b"ssh-ed25519".as_slice()));
    p.string();
    let sk = p.string().expect("sk");
    let seed: [u8; 32] = sk[..32].try_into().unwrap();
    ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes()
}

/// An `ssh-ed25519` public line for a key made in the test.
pub fn public_line(pk: &[u8; 32]) -> String {
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), pk.as_slice()] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!("ssh-ed25519 {}", STANDARD.encode(blob))
}
