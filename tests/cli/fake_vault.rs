//! A fake HashiCorp Vault (KV secrets engine version 2, one mount) on
//! 127.0.0.1 for the vault plugin's sync tests.
//!
//! It checks what Vault checks, from Vault's "KV secrets engine - version
//! 2 (API)" reference: the `X-Vault-Token` header; paths of the form
//! `/v1/<mount>/data/<path>` and `/v1/<mount>/metadata/<path>`; a write's
//! `options.cas` against the key's current version (0: the key must not
//! exist; a mismatch is a 400 "check-and-set parameter did not match the
//! current version"); `LIST` (or `GET ?list=true`) of a folder's keys (404
//! when there are none); custom metadata replaced by `POST` and merged by
//! `PATCH` (merge patch); `DELETE` of metadata removing every version.
//! It also insists that gsec sends `cas` on every write (the plugin's
//! promise), records every request, and keeps problems it saw.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::common::{FakeServer, Recorder, Reply};

pub const MOUNT: &str = "kv";
pub const TOKEN: &str = "hvs.fake-vault-token-0123456789";

#[derive(Debug, Clone, Default)]
pub struct Secret {
    /// Every version's data, oldest first (version n is `versions[n-1]`).
    pub versions: Vec<Value>,
    pub custom_metadata: BTreeMap<String, String>,
}

impl Secret {
    pub fn current(&self) -> u64 {
        self.versions.len() as u64
    }
    /// The current version's `value` field.
    pub fn value(&self) -> Option<String> {
        self.versions.last()?["value"].as_str().map(str::to_string)
    }
}

#[derive(Default)]
struct State {
    /// Path under the mount (`app/prod/DB_URL`) → secret.
    secrets: BTreeMap<String, Secret>,
    /// Calls are `METHOD /v1/…` of every request.
    rec: Recorder,
    /// Request bodies, to check no value went where it should not.
    bodies: Vec<String>,
    /// Writes to this path get 403 (a policy without `update`).
    denied: String,
}

pub struct FakeVault {
    pub url: String,
    state: Arc<Mutex<State>>,
    rec: Recorder,
    _server: FakeServer,
}

/// `calls()` (`METHOD /v1/…`), `writes()`, `problems()`.
impl std::ops::Deref for FakeVault {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

impl FakeVault {
    pub fn start() -> FakeVault {
        let rec = Recorder::default();
        let state = Arc::new(Mutex::new(State {
            rec: rec.clone(),
            ..State::default()
        }));
        let st = state.clone();
        let server = FakeServer::start("application/json", move |req| {
            let (status, out) = handle(
                &st,
                &req.method,
                &req.url,
                req.header("x-vault-token"),
                &req.body,
            );
            Reply::new(status, out)
        });
        FakeVault {
            url: server.url.clone(),
            state,
            rec,
            _server: server,
        }
    }

    /// The secret at `path` under the mount.
    pub fn secret(&self, path: &str) -> Option<Secret> {
        self.state.lock().unwrap().secrets.get(path).cloned()
    }

    /// Paths under the mount that hold a secret.
    pub fn paths(&self) -> Vec<String> {
        self.state.lock().unwrap().secrets.keys().cloned().collect()
    }

    /// Put a secret as someone else would (no gsec fingerprint).
    pub fn put_by_hand(&self, path: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        s.secrets
            .entry(path.to_string())
            .or_default()
            .versions
            .push(json!({ "value": value }));
    }

    /// Forget the calls and their bodies (the recorder's `clear_calls`,
    /// and the bodies this fake also keeps).
    pub fn clear_calls(&self) {
        let mut s = self.state.lock().unwrap();
        s.rec.clear_calls();
        s.bodies.clear();
    }

    pub fn bodies(&self) -> Vec<String> {
        self.state.lock().unwrap().bodies.clone()
    }

    /// Answer writes of `path`'s data with 403 ("" to stop).
    pub fn deny_writes(&self, path: &str) {
        self.state.lock().unwrap().denied = path.to_string();
    }
}

fn errors(msg: &str) -> String {
    json!({ "errors": [msg] }).to_string()
}

fn handle(
    st: &Mutex<State>,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut s = st.lock().unwrap();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    s.rec.record(format!("{method} {path}"));
    s.bodies.push(String::from_utf8_lossy(body).into_owned());
    if token != Some(TOKEN) {
        s.rec
            .problem(format!("{method} {path}: bad or missing X-Vault-Token"));
        return (403, errors("permission denied"));
    }
    let prefix = format!("/v1/{MOUNT}/");
    let Some(rest) = path.strip_prefix(&prefix) else {
        s.rec
            .problem(format!("{method} {path}: not under the mount"));
        return (404, errors("no handler for route"));
    };
    let (kind, key) = rest.split_once('/').unwrap_or((rest, ""));
    let list = method == "LIST" || (method == "GET" && query.split('&').any(|q| q == "list=true"));
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match (kind, method) {
        ("metadata", _) if list => {
            let folder = if key.is_empty() {
                String::new()
            } else {
                format!("{}/", key.trim_end_matches('/'))
            };
            let mut keys: Vec<String> = s
                .secrets
                .keys()
                .filter_map(|p| p.strip_prefix(&folder))
                .map(|k| match k.split_once('/') {
                    Some((dir, _)) => format!("{dir}/"),
                    None => k.to_string(),
                })
                .collect();
            keys.dedup();
            if keys.is_empty() {
                return (404, errors(""));
            }
            (200, json!({ "data": { "keys": keys } }).to_string())
        }
        ("metadata", "GET") => match s.secrets.get(key) {
            None => (404, errors("")),
            Some(sec) => {
                let versions: serde_json::Map<String, Value> = (1..=sec.current())
                    .map(|v| {
                        (
                            v.to_string(),
                            json!({"created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": false}),
                        )
                    })
                    .collect();
                (
                    200,
                    json!({"data": {
                        "current_version": sec.current(),
                        "oldest_version": 1,
                        "cas_required": false,
                        "custom_metadata": sec.custom_metadata,
                        "versions": versions,
                    }})
                    .to_string(),
                )
            }
        },
        ("metadata", "POST" | "PATCH") => {
            let Some(v) = parsed else {
                s.rec.problem(format!("{method} {path}: body is not JSON"));
                return (400, errors("failed to parse JSON input"));
            };
            if method == "PATCH" && !s.secrets.contains_key(key) {
                return (404, errors(""));
            }
            let sec = s.secrets.entry(key.to_string()).or_default();
            if let Some(m) = v["custom_metadata"].as_object() {
                if method == "POST" {
                    sec.custom_metadata.clear();
                }
                for (k, val) in m {
                    match val.as_str() {
                        Some(t) => {
                            sec.custom_metadata.insert(k.clone(), t.to_string());
                        }
                        None if val.is_null() && method == "PATCH" => {
                            sec.custom_metadata.remove(k);
                        }
                        None => return (400, errors("custom_metadata values must be strings")),
                    }
                }
            }
            (204, String::new())
        }
        ("metadata", "DELETE") => {
            s.secrets.remove(key);
            (204, String::new())
        }
        ("data", "POST" | "PUT") if !s.denied.is_empty() && key == s.denied => {
            (403, errors("1 error occurred:\n\t* permission denied\n\n"))
        }
        ("data", "POST" | "PUT") => {
            let Some(v) = parsed else {
                s.rec.problem(format!("{method} {path}: body is not JSON"));
                return (400, errors("failed to parse JSON input"));
            };
            if !v["data"].is_object() {
                return (400, errors("no data provided"));
            }
            let current = s.secrets.get(key).map_or(0, Secret::current);
            match v["options"]["cas"].as_u64() {
                None => {
                    s.rec
                        .problem(format!("{method} {path}: write without options.cas"));
                }
                Some(cas) if cas != current => {
                    return (
                        400,
                        errors("check-and-set parameter did not match the current version"),
                    );
                }
                Some(_) => {}
            }
            let sec = s.secrets.entry(key.to_string()).or_default();
            sec.versions.push(v["data"].clone());
            let version = sec.current();
            (
                200,
                json!({"data": {"version": version, "created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": false}})
                    .to_string(),
            )
        }
        ("data", "GET") => match s.secrets.get(key).and_then(|x| x.versions.last().cloned()) {
            None => (404, errors("")),
            Some(d) => (200, json!({"data": {"data": d}}).to_string()),
        },
        _ => {
            s.rec.problem(format!("{method} {path}: unsupported"));
            (405, errors("unsupported operation"))
        }
    }
}
