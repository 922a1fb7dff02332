//! gsec plugin `gitlab`: rotate a GitLab personal, project or group access
//! token through GitLab's rotate endpoints (GitLab.com or self-managed,
//! `config.api_url`).
//!
//! GitLab's rotation is single-phase: the rotate call revokes the old token
//! and returns a new one (same name, scopes and role; a new id and
//! `expires_at`) in one step. There is no overlap, so `rotation.grace`
//! changes nothing, and the one answer that carries the new value is the
//! only copy of it.
//!
//! Who rotates:
//! - by default the token rotates itself: `POST
//!   /personal_access_tokens/self/rotate` with the token (it needs the `api`
//!   or `self_rotate` scope; works for project and group tokens too);
//! - with `config.admin_input`, another token (the user's, a project or
//!   group Maintainer/Owner's, an administrator's) calls `POST
//!   /personal_access_tokens/:id/rotate`, `/projects/:id/access_tokens/:token_id/rotate`
//!   or `/groups/:id/access_tokens/:token_id/rotate` per `config.kind`.
//!
//! Crash safety: gsec stores the new value in its journal right after
//! `create` returns, but a crash between GitLab's answer and that write
//! loses the new token while the old one is already revoked. A retried
//! `create` (same rotation) then finds the current token rejected (401):
//! - with `admin_input` and the old token's id (gsec's journal passes it
//!   once gsec has rotated the token before), it finds the token GitLab
//!   made in its place (active, same owner and name, a higher id) and
//!   rotates that one: the lost value dies, the new one reaches the journal;
//! - otherwise nothing can authenticate as, or find, the lost token. The
//!   plugin calls the rotate endpoint with the revoked token once more:
//!   GitLab's automatic reuse detection then revokes the token family's
//!   active token, so no unknown token stays live. It reports that a new
//!   token must be made by hand.
//!
//! `verify` never rejects: the old token is already gone, so rolling back
//! (revoking the new one) would leave nothing that works. A failing check
//! keeps the rotation pending (`--resume` retries, `--abort` revokes).
//! `revoke` checks that the old token no longer works and revokes it
//! (`DELETE /personal_access_tokens/self` with it) if it somehow does.

use gsec_plugin_sdk::http::{self, Response};
use gsec_plugin_sdk::retry::Policy;
use gsec_plugin_sdk::{
    Created, Error, Info, Plugin, Request, Result, Value, export_plugin, json, log, now_ms,
    serde_json, sigv4,
};

const DEFAULT_API: &str = "https://gitlab.com/api/v4";

struct Gitlab;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Personal,
    Project,
    Group,
}

/// Settings from `config`, checked once.
struct Cfg {
    api: String,
    kind: Kind,
    /// `projects/<id>` or `groups/<id>` (URL-encoded), for those kinds.
    owner: Option<String>,
    expires_in_days: Option<u64>,
}

/// A project or group id, or its full path URL-encoded.
fn path_param(s: &str) -> Option<String> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        || s.starts_with('/')
        || s.ends_with('/')
    {
        return None;
    }
    Some(s.replace('/', "%2F"))
}

impl Cfg {
    fn new(req: &Request) -> Result<Cfg> {
        const KNOWN: &[&str] = &[
            "kind",
            "project",
            "group",
            "admin_input",
            "expires_in_days",
            "api_url",
        ];
        req.config_known("gitlab", KNOWN)?;
        let api = req
            .config_url_opt("api_url")?
            .unwrap_or_else(|| DEFAULT_API.to_string());
        let kind = match req.config_str_opt("kind")?.unwrap_or("personal") {
            "personal" => Kind::Personal,
            "project" => Kind::Project,
            "group" => Kind::Group,
            _ => {
                return Err(Error::new(
                    "config.kind must be 'personal', 'project' or 'group'",
                ));
            }
        };
        let owner = match kind {
            Kind::Personal => None,
            Kind::Project | Kind::Group => {
                let key = if kind == Kind::Project {
                    "project"
                } else {
                    "group"
                };
                let v = match req.config.get(key) {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => {
                        return Err(Error::new(format!(
                            "config.{key} is required for kind '{key}' (an id or a full path)"
                        )));
                    }
                };
                let p = path_param(&v).ok_or_else(|| {
                    Error::new(format!(
                        "config.{key} must be an id or a path like acme/app"
                    ))
                })?;
                Some(format!("{key}s/{p}"))
            }
        };
        let expires_in_days = req.config_u64("expires_in_days")?;
        if expires_in_days.is_some_and(|d| !(1..=400).contains(&d)) {
            return Err(Error::new(
                "config.expires_in_days must be between 1 and 400 (GitLab caps it at the instance's maximum lifetime)",
            ));
        }
        Ok(Cfg {
            api,
            kind,
            owner,
            expires_in_days,
        })
    }

    /// The collection a token of this kind lives in, as an API path.
    fn collection(&self) -> String {
        match &self.owner {
            Some(o) => format!("/{o}/access_tokens"),
            None => "/personal_access_tokens".into(),
        }
    }

    /// `expires_at` for the rotate call: today (UTC) plus the configured days.
    fn expires_at(&self) -> Option<String> {
        let days = self.expires_in_days?;
        let today = now_ms().div_euclid(86_400_000);
        let (y, m, d) = sigv4::civil_from_days(today + days as i64);
        Some(format!("{y:04}-{m:02}-{d:02}"))
    }
}

/// The managing token from `config.admin_input`, if configured.
fn admin(req: &Request) -> Result<Option<&str>> {
    match req.config_str_opt("admin_input")? {
        Some(name) => req.input(name).map(Some),
        None => Ok(None),
    }
}

/// One API call with `PRIVATE-TOKEN`, retried on 429 (honouring
/// `Retry-After`), 5xx and transport failures. Errors name the request
/// (`path` carries ids, never a token).
fn call(
    cfg: &Cfg,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<Response> {
    let url = format!("{}{path}", cfg.api);
    let bytes = body.map(|b| b.to_string().into_bytes());
    let mut headers = vec![("private-token", token)];
    if bytes.is_some() {
        headers.push(("content-type", "application/json"));
    }
    Policy::default()
        .run(|| http::request(method, &url, &headers, bytes.as_deref()))
        .map_err(|e| {
            let msg = format!("{method} {}: {}", strip_query(path), e.message());
            if e.is_retry() {
                Error::retry(msg)
            } else {
                Error::new(msg)
            }
        })
}

fn strip_query(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}

/// A non-2xx answer as an error: status, a hint, GitLab's `message`.
fn failure(r: &Response, method: &str, path: &str) -> Error {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let msg = match v.get("message").or_else(|| v.get("error")) {
        Some(Value::String(s)) => format!(": {}", s.chars().take(200).collect::<String>()),
        Some(m @ Value::Object(_)) => {
            format!(": {}", m.to_string().chars().take(200).collect::<String>())
        }
        _ => String::new(),
    };
    let hint = match r.status {
        401 => " (the token was rejected: revoked, expired or wrong)",
        403 => " (the token lacks permission or scope)",
        404 => " (not found, or the token cannot see it)",
        400 => " (GitLab refused the request)",
        _ => "",
    };
    let text = format!(
        "{method} {}: HTTP {}{hint}{msg}",
        strip_query(path),
        r.status
    );
    if r.is_transient() {
        Error::retry(text)
    } else {
        Error::new(text)
    }
}

fn ok_json(r: Response, method: &str, path: &str) -> Result<Value> {
    if (200..300).contains(&r.status) {
        r.json()
    } else {
        Err(failure(&r, method, path))
    }
}

/// What GitLab says about a token, from the token itself:
/// `GET /personal_access_tokens/self`; `None` when it rejects it (401).
fn whoami(cfg: &Cfg, token: &str) -> Result<Option<Value>> {
    let path = "/personal_access_tokens/self";
    let r = call(cfg, "GET", path, token, None)?;
    if r.status == 401 {
        return Ok(None);
    }
    ok_json(r, "GET", path).map(Some)
}

fn num_id(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// The rotated token's answer as what `create` returns.
fn created(v: &Value, what: &str) -> Result<Created> {
    let (Some(id), Some(token)) = (
        num_id(v, "id"),
        v.get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty()),
    ) else {
        return Err(Error::new(format!("{what}: the answer has no token or id")));
    };
    let expires = v.get("expires_at").cloned().unwrap_or(Value::Null);
    log::info(&format!(
        "rotated to token {id} (expires {}); the old token is revoked",
        expires.as_str().unwrap_or("never")
    ));
    Ok(Created::new(token)
        .id(id.to_string())
        .state(json!({"expires_at": expires})))
}

fn rotate_body(cfg: &Cfg) -> Value {
    match cfg.expires_at() {
        Some(d) => json!({"expires_at": d}),
        None => json!({}),
    }
}

/// Rotate token `id` with the managing token.
fn rotate_by_id(cfg: &Cfg, admin: &str, id: u64) -> Result<Created> {
    let path = format!("{}/{id}/rotate", cfg.collection());
    let v = ok_json(
        call(cfg, "POST", &path, admin, Some(&rotate_body(cfg)))?,
        "POST",
        &path,
    )?;
    created(&v, &format!("POST {path}"))
}

/// The old token is revoked and its replacement's value never reached gsec:
/// make sure no unknown token stays live, then say what to do.
/// `tried`: the rotate call was already made with the old token.
fn dead_end(cfg: &Cfg, old: &str, why: &str, tried: bool) -> Error {
    // GitLab's automatic reuse detection: a rotate call made with an
    // already rotated token revokes the newest token of its family.
    let killed = tried || {
        let path = "/personal_access_tokens/self/rotate";
        let r = call(cfg, "POST", path, old, Some(&json!({})));
        matches!(&r, Ok(r) if r.status == 401 || r.status == 400 || r.status == 403)
    };
    Error::new(format!(
        "the current token is rejected by GitLab (revoked, expired, or rotated by an interrupted attempt whose new value was lost){why}. {}Make a new token in GitLab, `gsec set` it, then `gsec rotate --abort` this rotation",
        if killed {
            "A token made by such an attempt is revoked by GitLab's reuse detection now. "
        } else {
            ""
        }
    ))
}

fn create(req: &Request) -> Result<Created> {
    let cfg = Cfg::new(req)?;
    let current = req.current.as_deref().filter(|c| !c.trim().is_empty());
    let admin = admin(req)?;
    let Some(admin) = admin else {
        let Some(cur) = current else {
            return Err(Error::new(
                "no token to rotate: store the current token in the secret first (it rotates itself), or set config.admin_input",
            ));
        };
        let path = "/personal_access_tokens/self/rotate";
        let r = call(&cfg, "POST", path, cur, Some(&rotate_body(&cfg)))?;
        if r.status == 401 {
            return Err(dead_end(
                &cfg,
                cur,
                " and there is no config.admin_input to look for its replacement",
                true,
            ));
        }
        let v = ok_json(r, "POST", path)?;
        return created(&v, &format!("POST {path}"));
    };
    // The old token's id: from the token itself while it works, else the
    // one gsec's journal kept.
    if let Some(cur) = current
        && let Some(me) = whoami(&cfg, cur)?
    {
        let id =
            num_id(&me, "id").ok_or("GET /personal_access_tokens/self: the answer has no id")?;
        return rotate_by_id(&cfg, admin, id);
    }
    let Some(old_id) = req.id.as_deref().and_then(|i| i.parse::<u64>().ok()) else {
        return match current {
            Some(cur) => Err(dead_end(
                &cfg,
                cur,
                ", and gsec does not know its id to look for its replacement",
                false,
            )),
            None => Err(Error::new(
                "no token to rotate: store the current token in the secret first",
            )),
        };
    };
    recover(&cfg, admin, old_id, current)
}

/// After a crash between GitLab's rotation and gsec's journal: token
/// `old_id` is revoked; rotate the token GitLab made in its place (same
/// owner and name, a higher id, active) so that its lost value dies.
fn recover(cfg: &Cfg, admin: &str, old_id: u64, current: Option<&str>) -> Result<Created> {
    let path = format!("{}/{old_id}", cfg.collection());
    let old = ok_json(call(cfg, "GET", &path, admin, None)?, "GET", &path)?;
    if old.get("active") == Some(&Value::Bool(true)) {
        return Err(Error::new(format!(
            "token {old_id} is active but rejects the value in the secret: the secret does not hold it (`gsec set` the right value)"
        )));
    }
    let name = old
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let user = num_id(&old, "user_id");
    let list = match cfg.kind {
        Kind::Personal => format!(
            "/personal_access_tokens?state=active&per_page=100&user_id={}",
            user.ok_or("the old token has no user_id")?
        ),
        _ => format!("{}?state=active&per_page=100", cfg.collection()),
    };
    let all = ok_json(call(cfg, "GET", &list, admin, None)?, "GET", &list)?;
    let succ: Vec<u64> = all
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|t| {
            t.get("name").and_then(Value::as_str) == Some(name.as_str())
                && num_id(t, "user_id") == user
                && t.get("active") != Some(&Value::Bool(false))
                && num_id(t, "id").is_some_and(|i| i > old_id)
        })
        .filter_map(|t| num_id(t, "id"))
        .collect();
    match succ.as_slice() {
        [id] => {
            log::info(&format!(
                "token {old_id} was rotated by an interrupted attempt into token {id}, whose value was lost: rotating {id}"
            ));
            rotate_by_id(cfg, admin, *id)
        }
        [] => match current {
            Some(cur) => Err(dead_end(
                cfg,
                cur,
                &format!(" and no active token named '{name}' replaced token {old_id}"),
                false,
            )),
            None => Err(Error::new(format!(
                "token {old_id} is revoked and no active token named '{name}' replaced it"
            ))),
        },
        many => Err(Error::new(format!(
            "token {old_id} is revoked and several active tokens named '{name}' could have replaced it ({}): revoke the wrong ones in GitLab, then `gsec rotate --resume`",
            many.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn verify(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let value = req.value.as_deref().ok_or("verify: no value given")?;
    let check = || -> Result<()> {
        let me = whoami(&cfg, value)?
            .ok_or("GitLab rejects the new token (GET /personal_access_tokens/self: HTTP 401)")?;
        let id =
            num_id(&me, "id").ok_or("GET /personal_access_tokens/self: the answer has no id")?;
        if let Some(want) = req.id.as_deref()
            && want != id.to_string()
        {
            return Err(Error::new(format!(
                "the new value is token {id}, not token {want}"
            )));
        }
        if me.get("active") != Some(&Value::Bool(true))
            || me.get("revoked") == Some(&Value::Bool(true))
        {
            return Err(Error::new(format!("the new token {id} is not active")));
        }
        let want_exp = req
            .state
            .as_ref()
            .and_then(|s| s.get("expires_at"))
            .filter(|e| !e.is_null());
        if let Some(w) = want_exp
            && me.get("expires_at") != Some(w)
        {
            return Err(Error::new(format!(
                "the new token {id} expires {}, not {w}",
                me.get("expires_at").cloned().unwrap_or(Value::Null)
            )));
        }
        log::info(&format!("token {id} is active"));
        Ok(())
    };
    check().map_err(|e| {
        Error::retry(format!(
            "{} (the rotation already revoked the old token, so gsec keeps the new one pending instead of revoking it: `gsec rotate --resume` checks again, `--abort` revokes it)",
            e.message()
        ))
    })
}

fn revoke(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let Some(value) = req.value.as_deref().filter(|v| !v.trim().is_empty()) else {
        return match (
            req.id.as_deref().and_then(|i| i.parse::<u64>().ok()),
            admin(req)?,
        ) {
            (None, _) => Ok(()), // nothing to retire
            (Some(id), Some(a)) => {
                let path = format!("{}/{id}", cfg.collection());
                let r = call(&cfg, "DELETE", &path, a, None)?;
                if matches!(r.status, 200..=299 | 404) {
                    Ok(())
                } else {
                    Err(failure(&r, "DELETE", &path))
                }
            }
            (Some(_), None) => Err(Error::new(
                "revoke: the old token's value was not given and there is no config.admin_input to revoke it by id",
            )),
        };
    };
    let Some(me) = whoami(&cfg, value)? else {
        log::info(&format!(
            "token {} no longer works (revoked by the rotation)",
            req.id.as_deref().unwrap_or("(id unknown)")
        ));
        return Ok(());
    };
    if me.get("active") != Some(&Value::Bool(true)) {
        return Ok(());
    }
    // Still live (e.g. a value stored by hand that was never rotated):
    // the token revokes itself.
    let path = "/personal_access_tokens/self";
    let r = call(&cfg, "DELETE", path, value, None)?;
    if matches!(r.status, 200..=299 | 401 | 404) {
        log::info(&format!("revoked token {}", num_id(&me, "id").unwrap_or(0)));
        Ok(())
    } else {
        Err(failure(&r, "DELETE", path))
    }
}

impl Plugin for Gitlab {
    fn info() -> Info {
        Info::new("gitlab", env!("CARGO_PKG_VERSION"))
            .description("GitLab personal, project and group access tokens: rotated in place (single-phase: GitLab revokes the old token at once)")
            // `*`: api_url is configurable (self-managed GitLab).
            .hosts(&["gitlab.com", "*"])
            .config_schema(json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "kind": {"enum": ["personal", "project", "group"], "default": "personal", "description": "which rotate endpoint admin_input uses"},
                    "project": {"type": ["string", "integer"], "description": "kind project: the project's id or full path"},
                    "group": {"type": ["string", "integer"], "description": "kind group: the group's id or full path"},
                    "admin_input": {"type": "string", "description": "input secret with a token that may rotate this one (needed to recover from a crash mid-rotation); default: the token rotates itself (/personal_access_tokens/self/rotate)"},
                    "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 400, "description": "the new token's expires_at, in days from today (UTC); default: GitLab's (one week)"},
                    "api_url": {"type": "string", "default": DEFAULT_API, "description": "self-managed: https://HOST/api/v4"}
                }
            }))
    }

    fn create(req: &Request) -> Result<Created> {
        create(req)
    }

    fn verify(req: &Request) -> Result<()> {
        verify(req)
    }

    fn revoke(req: &Request) -> Result<()> {
        revoke(req)
    }
}

export_plugin!(Gitlab);

#[cfg(test)]
mod tests {
    use super::*;
    use gsec_plugin_sdk::testing::{Harness, reply};

    const API: &str = "https://gitlab.com/api/v4";

    #[test]
    fn self_rotation_sends_expires_at_and_returns_the_new_token() {
        let h = Harness::new().expect_with(
            &format!("POST {API}/personal_access_tokens/self/rotate"),
            |r| {
                assert_eq!(r.header("private-token"), Some("glpat-old"));
                // The harness clock starts at 2026-01-01.
                assert_eq!(r.text(), r#"{"expires_at":"2026-01-31"}"#);
            },
            reply(200, r#"{"id": 43, "name": "ci", "token": "glpat-new", "expires_at": "2026-01-31", "active": true}"#),
        );
        let out = h.call::<Gitlab>(
            json!({"op": "create", "config": {"expires_in_days": 30}, "current": "glpat-old"}),
        );
        h.finish();
        assert_eq!(
            out,
            json!({"value": "glpat-new", "id": "43", "state": {"expires_at": "2026-01-31"}})
        );
    }

    #[test]
    fn admin_recovery_rotates_the_successor_of_a_revoked_token() {
        let h = Harness::new()
            .expect(&format!("GET {API}/personal_access_tokens/self"), reply(401, r#"{"message":"401 Unauthorized"}"#))
            .expect(&format!("GET {API}/projects/acme%2Fapp/access_tokens/42"), reply(200, r#"{"id": 42, "name": "ci", "user_id": 7, "active": false, "revoked": true}"#))
            .expect(
                &format!("GET {API}/projects/acme%2Fapp/access_tokens?state=active&per_page=100"),
                reply(200, r#"[{"id": 40, "name": "ci", "user_id": 7, "active": true}, {"id": 43, "name": "ci", "user_id": 7, "active": true}, {"id": 44, "name": "other", "user_id": 8, "active": true}]"#),
            )
            .expect_with(
                &format!("POST {API}/projects/acme%2Fapp/access_tokens/43/rotate"),
                |r| assert_eq!(r.header("private-token"), Some("glpat-admin")),
                reply(200, r#"{"id": 45, "token": "glpat-newer", "expires_at": null}"#),
            );
        let out = h.call::<Gitlab>(json!({"op": "create", "config": {"kind": "project", "project": "acme/app", "admin_input": "ADM"},
            "inputs": {"ADM": "glpat-admin"}, "current": "glpat-old", "id": "42"}));
        h.finish();
        assert_eq!(out["id"], "45", "{out}");
    }

    #[test]
    fn verify_never_rejects_and_errors_are_redacted_lines() {
        let h = Harness::new().respond(|_| reply(401, ""));
        let out = h.call::<Gitlab>(
            json!({"op": "verify", "config": {}, "value": "glpat-new", "id": "43"}),
        );
        assert_eq!(out["retry"], true, "{out}");
        let h = Harness::new().respond(|_| reply(503, ""));
        let out = h.call::<Gitlab>(json!({"op": "create", "config": {}, "current": "glpat-old"}));
        assert_eq!(out["retry"], true);
        assert_eq!(
            out["error"],
            "POST /personal_access_tokens/self/rotate: HTTP 503 (after 4 attempts)"
        );
        let out = h.call::<Gitlab>(
            json!({"op": "create", "config": {"expire_in_days": 3}, "current": "glpat-old"}),
        );
        assert_eq!(
            out["error"],
            "config.expire_in_days is not a setting of the gitlab plugin (settings: kind, project, group, admin_input, expires_in_days, api_url)"
        );
        let h = Harness::new().respond(|_| reply(403, r#"{"message": "403 Forbidden"}"#));
        let out = h.call::<Gitlab>(json!({"op": "create", "config": {}, "current": "glpat-old"}));
        assert_eq!(
            out["error"],
            "POST /personal_access_tokens/self/rotate: HTTP 403 (the token lacks permission or scope): 403 Forbidden"
        );
    }
}
