//! gsec plugin `vault`: the `sync` step for HashiCorp Vault's KV secrets
//! engine, version 2, written from Vault's "KV secrets engine - version 2
//! (API)" reference.
//!
//! Each gsec secret is one KV secret, `<mount>/data/<path>/<NAME>`, holding
//! `{"value": "…"}`; gsec's keyed fingerprint is the custom metadata field
//! `gsec-fingerprint` of `<mount>/metadata/<path>/<NAME>`.
//!
//! - `list`: `LIST <mount>/metadata/<path>` (sent as `GET …?list=true`),
//!   then `GET <mount>/metadata/<path>/<NAME>` for each key: its
//!   `current_version` and custom metadata. A secret whose current version
//!   is deleted or destroyed counts as holding no fingerprint (rewritten).
//! - `put`: `POST <mount>/data/<path>/<NAME>` with `options.cas` = the
//!   version `list` saw (0: must not exist yet), so a value someone changed
//!   in between is not overwritten blindly; then `PATCH` the metadata's
//!   `custom_metadata` (a JSON merge patch: other fields are kept). A crash
//!   between the two leaves the old fingerprint, so the next sync writes
//!   the value again (a new version, same value) and converges.
//! - `delete`: `DELETE <mount>/metadata/<path>/<NAME>`: every version and
//!   the metadata; already gone is success.
//!
//! The token (`X-Vault-Token`) is the input secret named by
//! `config.token_input` (default `VAULT_TOKEN`); `config.namespace` sets
//! `X-Vault-Namespace` (Vault Enterprise / HCP).

use gsec_plugin_sdk::http::Response;
use gsec_plugin_sdk::retry::Policy;
use gsec_plugin_sdk::sync::{Action, Entry, Outcome, Sync, Synced};
use gsec_plugin_sdk::{
    Created, Error, Info, Plugin, Request, Result, Value, export_plugin, http, json,
};

/// Custom metadata key holding gsec's fingerprint.
const FINGERPRINT: &str = "gsec-fingerprint";

struct Vault;

/// Settings from `config`, checked once per call.
struct Cfg {
    /// `https://vault.example.com:8200`, no trailing slash.
    address: String,
    mount: String,
    /// Empty or `a/b/` (with the trailing slash).
    prefix: String,
    token: String,
    namespace: Option<String>,
}

/// A path segment list: letters, digits and `_-.`, no empty, `.` or `..`
/// segment (nothing that changes which Vault path is meant).
fn path_ok(p: &str) -> bool {
    p.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    })
}

impl Cfg {
    fn new(req: &Request) -> Result<Cfg> {
        let address = req
            .config_url_opt("address")?
            .ok_or_else(|| Error::new("config.address is required"))?;
        let mount = req
            .config_str_opt("mount")?
            .unwrap_or("secret")
            .trim_matches('/')
            .to_string();
        if !path_ok(&mount) {
            return Err(Error::new(
                "config.mount must be a Vault path (letters, digits, '_', '-', '.', separated by '/')",
            ));
        }
        let path = req.config_str_opt("path")?.unwrap_or("").trim_matches('/');
        if !path.is_empty() && !path_ok(path) {
            return Err(Error::new(
                "config.path must be a Vault path (letters, digits, '_', '-', '.', separated by '/')",
            ));
        }
        let input = req.config_str_opt("token_input")?.unwrap_or("VAULT_TOKEN");
        let token = req.input(input)?.trim().to_string();
        if token.is_empty() {
            return Err(Error::new(format!("input secret '{input}' is empty")));
        }
        let namespace = req.config_str_opt("namespace")?.map(str::to_string);
        if namespace
            .as_deref()
            .is_some_and(|n| !path_ok(n.trim_matches('/')))
        {
            return Err(Error::new(
                "config.namespace must be a Vault namespace path",
            ));
        }
        Ok(Cfg {
            address,
            mount,
            prefix: if path.is_empty() {
                String::new()
            } else {
                format!("{path}/")
            },
            token,
            namespace,
        })
    }

    fn url(&self, kind: &str, name: &str) -> String {
        format!(
            "{}/v1/{}/{kind}/{}{name}",
            self.address, self.mount, self.prefix
        )
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Response> {
        let body = body.map(|b| b.to_string());
        let mut headers: Vec<(&str, &str)> = vec![("x-vault-token", &self.token)];
        if let Some(ns) = &self.namespace {
            headers.push(("x-vault-namespace", ns));
        }
        if body.is_some() {
            headers.push((
                "content-type",
                if method == "PATCH" {
                    "application/merge-patch+json"
                } else {
                    "application/json"
                },
            ));
        }
        Policy::default()
            .run(|| http::request(method, url, &headers, body.as_deref().map(str::as_bytes)))
    }
}

/// Vault's error answer `{"errors": ["…"]}` as one line with the status
/// (Vault's messages name paths and policies, never stored values).
fn vault_error(r: &Response, what: &str) -> Error {
    let first = r
        .json::<Value>()
        .ok()
        .and_then(|v| v["errors"][0].as_str().map(str::to_string))
        .unwrap_or_default();
    let first: String = first
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let text = if first.is_empty() {
        format!("{what}: HTTP {}", r.status)
    } else {
        format!("{what}: HTTP {}: {first}", r.status)
    };
    if r.is_transient() {
        Error::retry(text)
    } else {
        Error::new(text)
    }
}

fn list(cfg: &Cfg) -> Result<Vec<Entry>> {
    let url = format!("{}?list=true", cfg.url("metadata", ""));
    let r = cfg.send("GET", &url, None)?;
    if r.status == 404 {
        return Ok(vec![]); // nothing under the path yet
    }
    if !(200..300).contains(&r.status) {
        return Err(vault_error(&r, "listing the secrets"));
    }
    let v: Value = r.json()?;
    let keys = v["data"]["keys"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for k in keys.iter().filter_map(Value::as_str) {
        if k.ends_with('/') || !path_ok(k) {
            continue; // a folder, or a name gsec never writes
        }
        let r = cfg.send("GET", &cfg.url("metadata", k), None)?;
        if r.status == 404 {
            continue; // deleted since the list
        }
        if !(200..300).contains(&r.status) {
            return Err(vault_error(&r, &format!("reading the metadata of {k}")));
        }
        let m: Value = r.json()?;
        let d = &m["data"];
        let current = d["current_version"].as_u64().unwrap_or(0);
        let live = d["versions"][current.to_string()]
            .as_object()
            .is_some_and(|ver| {
                ver.get("destroyed").and_then(Value::as_bool) != Some(true)
                    && ver
                        .get("deletion_time")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
            });
        out.push(Entry {
            name: k.to_string(),
            fingerprint: d["custom_metadata"][FINGERPRINT]
                .as_str()
                .filter(|_| live)
                .map(str::to_string),
            version: Some(json!(current)),
        });
    }
    Ok(out)
}

fn put(cfg: &Cfg, req: &Request, s: &Sync) -> Result<Outcome> {
    let name = s.name()?;
    let value = req.value.as_deref().ok_or("sync put without a value")?;
    let fp = s
        .fingerprint
        .as_deref()
        .ok_or("sync put without a fingerprint")?;
    let cas = s.version.as_ref().and_then(Value::as_u64).unwrap_or(0);
    let r = cfg.send(
        "POST",
        &cfg.url("data", name),
        Some(&json!({"options": {"cas": cas}, "data": {"value": value}})),
    )?;
    if !(200..300).contains(&r.status) {
        let e = vault_error(&r, &format!("writing {name}"));
        if r.status == 400 && e.message().contains("check-and-set") {
            return Err(Error::new(format!(
                "writing {name}: it changed at Vault since gsec listed it (check-and-set failed); run gsec sync again"
            )));
        }
        return Err(e);
    }
    let r = cfg.send(
        "PATCH",
        &cfg.url("metadata", name),
        Some(&json!({"custom_metadata": {FINGERPRINT: fp}})),
    )?;
    if !(200..300).contains(&r.status) {
        return Err(vault_error(
            &r,
            &format!("storing the fingerprint of {name}"),
        ));
    }
    Ok(if cas == 0 {
        Outcome::Created
    } else {
        Outcome::Updated
    })
}

fn delete(cfg: &Cfg, s: &Sync) -> Result<()> {
    let name = s.name()?;
    let r = cfg.send("DELETE", &cfg.url("metadata", name), None)?;
    match r.status {
        200..=299 | 404 => Ok(()),
        _ => Err(vault_error(&r, &format!("deleting {name}"))),
    }
}

impl Plugin for Vault {
    fn info() -> Info {
        Info::new("vault", env!("CARGO_PKG_VERSION"))
            .description("Sync secrets to HashiCorp Vault's KV v2 engine")
            // The address is configurable: the user's grant list decides.
            .hosts(&["*"])
            .steps(&["sync"])
            .config_schema(json!({
                "type": "object",
                "required": ["address"],
                "properties": {
                    "address": {"type": "string", "description": "Vault's URL, e.g. https://vault.example.com:8200"},
                    "mount": {"type": "string", "default": "secret"},
                    "path": {"type": "string", "description": "folder under the mount, e.g. myapp/production"},
                    "token_input": {"type": "string", "default": "VAULT_TOKEN"},
                    "namespace": {"type": "string"}
                },
                "additionalProperties": false
            }))
    }

    fn create(_req: &Request) -> Result<Created> {
        Err(Error::new(
            "the vault plugin syncs secrets (gsec sync); it does not rotate them",
        ))
    }

    fn sync(req: &Request, s: &Sync) -> Result<Synced> {
        let cfg = Cfg::new(req)?;
        match s.action {
            Action::List => list(&cfg).map(Synced::Listed),
            Action::Put => put(&cfg, req, s).map(Synced::Written),
            Action::Delete => delete(&cfg, s).map(|()| Synced::Deleted),
        }
    }
}

export_plugin!(Vault);
