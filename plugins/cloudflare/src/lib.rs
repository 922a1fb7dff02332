//! gsec plugin `cloudflare`: rotate a Cloudflare API token through the
//! Cloudflare v4 API (user tokens, or account-owned tokens with
//! `config.account_id`).
//!
//! `mode: dual` (the default) is a dual-phase rotation: `create` reads the
//! old token's policies (`GET …/tokens/{id}`) and creates a new token with
//! the same policies and condition; `verify` calls `GET …/tokens/verify`
//! with the **new** token; gsec promotes it; `revoke` deletes the old token
//! (after `rotation.grace`). Both tokens work in between.
//!
//! `mode: roll` is single-phase: `PUT …/tokens/{id}/value` gives the same
//! token a new value, and the old value stops working at that moment.
//!
//! Who signs: the token being rotated manages itself (it needs the "API
//! Tokens Write" permission), or, with `config.admin_input`, another token
//! does.
//!
//! Idempotency (dual): the new token is named `<old name> gsec-<token>`.
//! A `create` retried with the same rotation token (gsec was killed after
//! Cloudflare made the token but before the journal stored its value)
//! deletes the tokens carrying that name first: their value is lost. A roll
//! retried rolls again, which kills the lost value.
//!
//! `revoke` asks Cloudflare whether the value to retire still works
//! (`…/tokens/verify` with it): if it does not, it is already dead (rolled,
//! deleted, expired) and nothing is deleted — which is what makes the step
//! safe in roll mode, where the old and the new value share one token id.

use gsec_plugin_sdk::http::{self, Response};
use gsec_plugin_sdk::retry::Policy;
use gsec_plugin_sdk::{
    Created, Error, Info, Plugin, Request, Result, Value, export_plugin, json, json_path, log,
    now_ms, serde_json, sigv4,
};

const DEFAULT_API: &str = "https://api.cloudflare.com/client/v4";
/// Cloudflare's limit on token names.
const NAME_MAX: usize = 120;

struct Cloudflare;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dual,
    Roll,
}

/// Settings from `config`, checked once.
struct Cfg {
    /// `…/user/tokens` or `…/accounts/{id}/tokens`.
    tokens: String,
    mode: Mode,
    token_id: Option<String>,
    expires_in_days: Option<u64>,
}

fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Cfg {
    fn new(req: &Request) -> Result<Cfg> {
        const KNOWN: &[&str] = &[
            "mode",
            "admin_input",
            "account_id",
            "token_id",
            "expires_in_days",
            "api_url",
        ];
        req.config_known("cloudflare", KNOWN)?;
        let api = req
            .config_url_opt("api_url")?
            .unwrap_or_else(|| DEFAULT_API.to_string());
        let tokens = match req.config_str_opt("account_id")? {
            Some(a) if id_ok(a) => format!("{api}/accounts/{a}/tokens"),
            Some(_) => {
                return Err(Error::new(
                    "config.account_id must be a Cloudflare account id (letters and digits)",
                ));
            }
            None => format!("{api}/user/tokens"),
        };
        let mode = match req.config_str_opt("mode")?.unwrap_or("dual") {
            "dual" => Mode::Dual,
            "roll" => Mode::Roll,
            _ => return Err(Error::new("config.mode must be 'dual' or 'roll'")),
        };
        let token_id = req.config_str_opt("token_id")?.map(str::to_string);
        if token_id.as_deref().is_some_and(|t| !id_ok(t)) {
            return Err(Error::new(
                "config.token_id must be a Cloudflare token id (letters and digits)",
            ));
        }
        let expires_in_days = req.config_u64("expires_in_days")?;
        match (mode, expires_in_days) {
            (_, Some(0)) => return Err(Error::new("config.expires_in_days must be at least 1")),
            (Mode::Roll, Some(_)) => {
                return Err(Error::new(
                    "config.expires_in_days applies to mode 'dual' only: a roll keeps the token's expiry",
                ));
            }
            _ => {}
        }
        Ok(Cfg {
            tokens,
            mode,
            token_id,
            expires_in_days,
        })
    }

    fn verify_url(&self) -> String {
        format!("{}/verify", self.tokens)
    }
}

/// The managing token from `config.admin_input`, if configured.
fn admin(req: &Request) -> Result<Option<&str>> {
    match req.config_str_opt("admin_input")? {
        Some(name) => req.input(name).map(Some),
        None => Ok(None),
    }
}

/// One API call, retried on 429 (honouring `Retry-After`), 5xx and
/// transport failures. Errors name `what`, never a token.
fn call(
    method: &str,
    url: &str,
    token: &str,
    body: Option<&Value>,
    what: &str,
) -> Result<Response> {
    let auth = format!("Bearer {token}");
    let bytes = body.map(|b| b.to_string().into_bytes());
    let mut headers = vec![("authorization", auth.as_str())];
    if bytes.is_some() {
        headers.push(("content-type", "application/json"));
    }
    Policy::default()
        .run(|| http::request(method, url, &headers, bytes.as_deref()))
        .map_err(|e| context(e, what))
}

fn context(e: Error, what: &str) -> Error {
    let msg = format!("{what}: {}", e.message());
    if e.is_retry() {
        Error::retry(msg)
    } else {
        Error::new(msg)
    }
}

/// Cloudflare's first error, `code: message` (messages name resources and
/// permissions, not credentials; the host redacts values anyway).
fn cf_error(r: &Response) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let code = json_path(&v, "errors[0].code").map(|c| c.to_string());
    let msg = json_path(&v, "errors[0].message").and_then(Value::as_str);
    match (code, msg) {
        (Some(c), Some(m)) => format!(
            " (Cloudflare error {c}: {})",
            m.chars().take(200).collect::<String>()
        ),
        (Some(c), None) => format!(" (Cloudflare error {c})"),
        _ => String::new(),
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => "; the token was rejected",
        403 => "; the token lacks permission (managing tokens needs 'API Tokens Write')",
        404 => "; not found",
        _ => "",
    }
}

/// The `result` of a 2xx answer with `success: true`, or an error naming
/// the request. 429 and 5xx (after retries) are "retry later".
fn result(r: Response, what: &str) -> Result<Value> {
    if (200..300).contains(&r.status) {
        let v: Value = r.json().map_err(|e| context(e, what))?;
        if v.get("success") == Some(&Value::Bool(false)) {
            return Err(Error::new(format!(
                "{what}: Cloudflare answered success: false{}",
                cf_error(&r)
            )));
        }
        return Ok(v.get("result").cloned().unwrap_or(Value::Null));
    }
    let text = format!(
        "{what}: HTTP {}{}{}",
        r.status,
        hint(r.status),
        cf_error(&r)
    );
    if r.is_transient() {
        Err(Error::retry(text))
    } else {
        Err(Error::new(text))
    }
}

/// What `…/tokens/verify` says about a token value: `Some((id, status))`
/// when Cloudflare knows it, `None` when it rejects it (401: invalid,
/// deleted or rolled).
fn whoami(cfg: &Cfg, token: &str, what: &str) -> Result<Option<(String, String)>> {
    let r = call("GET", &cfg.verify_url(), token, None, what)?;
    if r.status == 401 {
        return Ok(None);
    }
    let v = result(r, what)?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| id_ok(i))
        .ok_or_else(|| Error::new(format!("{what}: the answer has no token id")))?;
    let status = v
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(Some((id.to_string(), status)))
}

fn token_ok(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `<base> gsec-<token>`, the base being the old name without an earlier
/// rotation's suffix, cut (by characters) to fit Cloudflare's limit.
fn new_name(old: &str, token: &str) -> String {
    let base = match old.rfind(" gsec-") {
        Some(i)
            if old[i + 6..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            &old[..i]
        }
        _ => old,
    };
    let suffix = format!(" gsec-{token}");
    let keep = NAME_MAX.saturating_sub(suffix.chars().count());
    let base: String = base.chars().take(keep).collect();
    format!("{base}{suffix}")
}

/// RFC 3339 (UTC, seconds) of `now_ms` plus `days`.
fn expiry(days: u64) -> String {
    let secs = now_ms().div_euclid(1000) + (days as i64) * 86_400;
    let (y, m, d) = sigv4::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// The policies of an existing token as `POST …/tokens` takes them: the
/// effect, the resources and the permission groups by id (with their
/// `meta`), without the read-only ids and names.
fn copy_policies(old: &Value) -> Result<Value> {
    let ps = old
        .get("policies")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or("the old token has no policies to copy")?;
    let mut out = Vec::new();
    for p in ps {
        let groups: Vec<Value> = p
            .get("permission_groups")
            .and_then(Value::as_array)
            .ok_or("a policy of the old token has no permission groups")?
            .iter()
            .map(|g| {
                let mut n = json!({"id": g.get("id").cloned().unwrap_or(Value::Null)});
                if let Some(m) = g.get("meta").filter(|m| !m.is_null()) {
                    n["meta"] = m.clone();
                }
                n
            })
            .collect();
        out.push(json!({
            "effect": p.get("effect").cloned().unwrap_or(json!("allow")),
            "resources": p.get("resources").cloned().unwrap_or(json!({})),
            "permission_groups": groups,
        }));
    }
    Ok(Value::Array(out))
}

/// The id of the token being replaced: `config.token_id`, else what
/// Cloudflare says the current value is, else the id gsec's journal kept.
fn old_id(cfg: &Cfg, req: &Request) -> Result<String> {
    let current = req.current.as_deref().filter(|c| !c.trim().is_empty());
    let known = match current {
        Some(c) => whoami(cfg, c, "GET tokens/verify (the current token)")?.map(|(id, _)| id),
        None => None,
    };
    match (&cfg.token_id, known) {
        (Some(t), Some(k)) if *t != k => Err(Error::new(format!(
            "the secret holds token {k}, not config.token_id {t}"
        ))),
        (Some(t), _) => Ok(t.clone()),
        (None, Some(k)) => Ok(k),
        (None, None) => match req.id.as_deref().filter(|i| id_ok(i)) {
            Some(i) if admin(req)?.is_some() => Ok(i.to_string()),
            _ => Err(Error::new(if current.is_some() {
                "Cloudflare rejects the current token (invalid, expired or already rolled). If an interrupted rotation rolled it, its new value was lost: roll or create it in the dashboard, `gsec set` it, then `gsec rotate --abort` (with config.admin_input and config.token_id gsec rolls it again itself)"
            } else {
                "no token to replace: store the current token in the secret first, or set config.token_id (with config.admin_input)"
            })),
        },
    }
}

fn signer(req: &Request) -> Result<&str> {
    match (
        admin(req)?,
        req.current.as_deref().filter(|c| !c.trim().is_empty()),
    ) {
        (Some(a), _) => Ok(a),
        (None, Some(c)) => Ok(c),
        (None, None) => Err(Error::new(
            "no token to call Cloudflare with: store the current token in the secret first, or set config.admin_input",
        )),
    }
}

fn create(req: &Request) -> Result<Created> {
    let cfg = Cfg::new(req)?;
    let auth = signer(req)?;
    let id = old_id(&cfg, req)?;
    match cfg.mode {
        Mode::Roll => {
            let what = format!("PUT tokens/{id}/value");
            let v = result(
                call(
                    "PUT",
                    &format!("{}/{id}/value", cfg.tokens),
                    auth,
                    Some(&json!({})),
                    &what,
                )?,
                &what,
            )?;
            let value = v
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::new(format!("{what}: the answer has no token value")))?;
            log::info(&format!("rolled token {id}: its old value no longer works"));
            Ok(Created::new(value).id(id).state(json!({"mode": "roll"})))
        }
        Mode::Dual => {
            let what = format!("GET tokens/{id}");
            let old = result(
                call("GET", &format!("{}/{id}", cfg.tokens), auth, None, &what)?,
                &what,
            )?;
            let old_name = old.get("name").and_then(Value::as_str).unwrap_or("token");
            let token = req.token.as_deref().filter(|t| token_ok(t));
            let name = match token {
                Some(t) => new_name(old_name, t),
                None => new_name(old_name, &format!("{:x}", now_ms())),
            };
            if token.is_some() {
                for orphan in list(&cfg, auth)?
                    .into_iter()
                    .filter(|(i, n)| *n == name && *i != id)
                {
                    log::info(&format!(
                        "deleting token {} left by an interrupted attempt (its value was lost)",
                        orphan.0
                    ));
                    delete(&cfg, auth, &orphan.0)?;
                }
            }
            let mut body = json!({"name": name, "policies": copy_policies(&old)?});
            if let Some(c) = old
                .get("condition")
                .filter(|c| c.as_object().is_some_and(|o| !o.is_empty()))
            {
                body["condition"] = c.clone();
            }
            if let Some(days) = cfg.expires_in_days {
                body["expires_on"] = json!(expiry(days));
            }
            let made = result(
                call("POST", &cfg.tokens, auth, Some(&body), "POST tokens")?,
                "POST tokens",
            )?;
            let (Some(new_id), Some(value)) = (
                made.get("id").and_then(Value::as_str).filter(|i| id_ok(i)),
                made.get("value")
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty()),
            ) else {
                return Err(Error::new(
                    "POST tokens: the answer has no token id or value",
                ));
            };
            log::info(&format!(
                "created token {new_id} with the policies of token {id}"
            ));
            Ok(Created::new(value)
                .id(new_id)
                .state(json!({"mode": "dual"})))
        }
    }
}

/// Every token the signer can list: (id, name).
fn list(cfg: &Cfg, auth: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for page in 1..=50 {
        let url = format!("{}?page={page}&per_page=50", cfg.tokens);
        let r = call("GET", &url, auth, None, "GET tokens")?;
        let info: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let total = json_path(&info, "result_info.total_pages").and_then(Value::as_u64);
        let v = result(r, "GET tokens")?;
        let items = v.as_array().cloned().unwrap_or_default();
        let n = items.len();
        out.extend(items.iter().filter_map(|t| {
            Some((
                t.get("id")?.as_str()?.to_string(),
                t.get("name")?.as_str()?.to_string(),
            ))
        }));
        if n == 0 || total.is_none_or(|t| page as u64 >= t) {
            break;
        }
    }
    Ok(out)
}

/// Delete a token; already gone counts as done.
fn delete(cfg: &Cfg, auth: &str, id: &str) -> Result<()> {
    let what = format!("DELETE tokens/{id}");
    let r = call("DELETE", &format!("{}/{id}", cfg.tokens), auth, None, &what)?;
    if r.status == 404 {
        return Ok(());
    }
    result(r, &what).map(drop)
}

fn verify(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let value = req.value.as_deref().ok_or("verify: no value given")?;
    let res = (|| match whoami(&cfg, value, "GET tokens/verify (the new token)")? {
        None => Err(Error::new(
            "Cloudflare rejects the new token (GET tokens/verify: HTTP 401)",
        )),
        Some((id, status)) => {
            if let Some(want) = req.id.as_deref()
                && want != id
            {
                return Err(Error::new(format!(
                    "the new value belongs to token {id}, not to token {want}"
                )));
            }
            if status != "active" {
                return Err(Error::new(format!(
                    "the new token {id} is '{status}', not active"
                )));
            }
            log::info(&format!("token {id} is active"));
            Ok(())
        }
    })();
    match (res, cfg.mode) {
        (Ok(()), _) => Ok(()),
        // A roll already killed the old value: rolling back would leave no
        // working token, so no answer here is a "no".
        (Err(e), Mode::Roll) => Err(Error::retry(format!(
            "{} (the roll already retired the old value, so gsec keeps the new one pending instead of revoking it: `gsec rotate --resume` checks again, `--abort` deletes the token)",
            e.message()
        ))),
        (Err(e), Mode::Dual) => Err(e),
    }
}

fn revoke(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let value = req.value.as_deref().filter(|v| !v.trim().is_empty());
    let want = req.id.as_deref().filter(|i| !i.is_empty());
    let id = match value {
        Some(v) => match whoami(&cfg, v, "GET tokens/verify (the token to retire)")? {
            None => {
                log::info(&format!(
                    "token {} no longer works (rolled, deleted or expired): nothing to delete",
                    want.unwrap_or("(id unknown)")
                ));
                return Ok(());
            }
            Some((id, _)) => {
                if let Some(w) = want
                    && w != id
                {
                    return Err(Error::new(format!(
                        "revoke: the value to retire belongs to token {id}, not to token {w}: not deleting either"
                    )));
                }
                id
            }
        },
        None => match want {
            Some(w) if id_ok(w) => w.to_string(),
            Some(_) => return Err(Error::new("revoke: the token id is not alphanumeric")),
            None => return Ok(()), // nothing to retire
        },
    };
    let auth = match (admin(req)?, value) {
        (Some(a), _) => a,
        (None, Some(v)) => v, // the token deletes itself
        (None, None) => {
            return Err(Error::new(
                "revoke: without config.admin_input the old token deletes itself, but its value was not given",
            ));
        }
    };
    delete(&cfg, auth, &id)?;
    log::info(&format!("deleted token {id}"));
    Ok(())
}

impl Plugin for Cloudflare {
    fn info() -> Info {
        Info::new("cloudflare", env!("CARGO_PKG_VERSION"))
            .description("Cloudflare API tokens: a new token with the old one's policies, verified, then the old one deleted (or a single-phase roll)")
            // `*`: api_url is configurable; the user grants the hosts.
            .hosts(&["api.cloudflare.com", "*"])
            .config_schema(json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "mode": {"enum": ["dual", "roll"], "default": "dual", "description": "dual: new token, verify, delete the old (overlap); roll: PUT …/value, the old value dies at once (no overlap)"},
                    "admin_input": {"type": "string", "description": "input secret with a token that has 'API Tokens Write'; default: the rotated token manages itself"},
                    "account_id": {"type": "string", "description": "rotate an account-owned token (/accounts/{id}/tokens); default: a user token (/user/tokens)"},
                    "token_id": {"type": "string", "description": "the token the secret holds (default: asked from Cloudflare with the token itself); in dual mode it changes every rotation, so leave it unset there"},
                    "expires_in_days": {"type": "integer", "minimum": 1, "description": "dual mode: the new token expires this many days after its creation (default: no expiry)"},
                    "api_url": {"type": "string", "default": DEFAULT_API}
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

export_plugin!(Cloudflare);

#[cfg(test)]
mod tests {
    use super::*;
    use gsec_plugin_sdk::testing::{Harness, reply};

    const OLD: &str = "old-token-value-0000000000000000000000000";
    const API: &str = "https://api.cloudflare.com/client/v4";

    fn ok(result: Value) -> String {
        json!({"success": true, "errors": [], "messages": [], "result": result}).to_string()
    }

    #[test]
    fn names_keep_their_base_and_fit_the_limit() {
        assert_eq!(new_name("ci deploy", "abc"), "ci deploy gsec-abc");
        assert_eq!(new_name("ci deploy gsec-abc", "def"), "ci deploy gsec-def");
        let long = "é".repeat(200);
        let n = new_name(&long, &"f".repeat(32));
        assert_eq!(n.chars().count(), NAME_MAX);
        assert!(n.ends_with(&format!(" gsec-{}", "f".repeat(32))));
    }

    #[test]
    fn dual_create_copies_the_policies_and_replaces_an_orphan() {
        let policies = json!([{"id": "p1", "effect": "allow", "resources": {"com.cloudflare.api.account.zone.z1": "*"},
            "permission_groups": [{"id": "g1", "name": "DNS Write"}, {"id": "g2", "name": "Zone Read", "meta": {"key": "k", "value": "v"}}]}]);
        let h = Harness::new()
            .expect_with(
                &format!("GET {API}/user/tokens/verify"),
                |r| assert_eq!(r.header("authorization"), Some(format!("Bearer {OLD}").as_str())),
                reply(200, &ok(json!({"id": "old1", "status": "active"}))),
            )
            .expect(&format!("GET {API}/user/tokens/old1"), reply(200, &ok(json!({"id": "old1", "name": "deploy", "policies": policies, "condition": {}}))))
            .expect(
                &format!("GET {API}/user/tokens?page=1&per_page=50"),
                reply(200, &json!({"success": true, "result": [{"id": "old1", "name": "deploy"}, {"id": "orph", "name": "deploy gsec-t0k"}], "result_info": {"total_pages": 1}}).to_string()),
            )
            .expect(&format!("DELETE {API}/user/tokens/orph"), reply(200, &ok(json!({"id": "orph"}))))
            .expect_with(
                &format!("POST {API}/user/tokens"),
                |r| {
                    let b: Value = serde_json::from_slice(&r.body).unwrap();
                    assert_eq!(
                        b,
                        json!({"name": "deploy gsec-t0k", "policies": [{"effect": "allow", "resources": {"com.cloudflare.api.account.zone.z1": "*"},
                            "permission_groups": [{"id": "g1"}, {"id": "g2", "meta": {"key": "k", "value": "v"}}]}]})
                    );
                },
                reply(200, &ok(json!({"id": "new1", "value": "new-token-value"}))),
            );
        let out = h.call::<Cloudflare>(
            json!({"op": "create", "config": {}, "current": OLD, "token": "t0k"}),
        );
        h.finish();
        assert_eq!(out["id"], "new1", "{out}");
        assert_eq!(out["value"], "new-token-value");
    }

    #[test]
    fn throttling_waits_for_retry_after_and_errors_name_the_request() {
        let h = Harness::new()
            .expect(
                &format!("GET {API}/user/tokens/verify"),
                reply(429, "").header("retry-after", "2"),
            )
            .expect(
                &format!("GET {API}/user/tokens/verify"),
                reply(
                    401,
                    r#"{"success":false,"errors":[{"code":1000,"message":"Invalid API Token"}]}"#,
                ),
            );
        let out =
            h.call::<Cloudflare>(json!({"op": "revoke", "config": {}, "value": OLD, "id": "old1"}));
        assert_eq!(
            out,
            json!({"ok": true}),
            "a rejected old value is already dead"
        );
        assert_eq!(h.slept_ms(), vec![2000]);
        h.finish();
        let h = Harness::new()
            .expect(&format!("GET {API}/user/tokens/verify"), reply(200, &ok(json!({"id": "abc", "status": "active"}))))
            .respond(|_| reply(403, r#"{"success":false,"errors":[{"code":9109,"message":"Unauthorized to access requested resource"}]}"#));
        let out = h.call::<Cloudflare>(
            json!({"op": "create", "config": {"mode": "roll", "token_id": "abc"}, "current": OLD}),
        );
        let e = out["error"].as_str().unwrap();
        assert!(
            e.starts_with("PUT tokens/abc/value: HTTP 403; the token lacks permission")
                && e.contains("9109"),
            "{e}"
        );
        assert!(out.get("retry").is_none());
        // A misspelt setting is an error, not ignored.
        let h = Harness::new();
        let out = h
            .call::<Cloudflare>(json!({"op": "create", "config": {"mod": "roll"}, "current": OLD}));
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .starts_with("config.mod is not a setting of the cloudflare plugin"),
            "{out}"
        );
        assert!(h.requests().is_empty());
    }

    #[test]
    fn a_roll_that_cannot_be_verified_stays_pending() {
        let h = Harness::new().respond(|_| reply(401, ""));
        let out = h.call::<Cloudflare>(
            json!({"op": "verify", "config": {"mode": "roll"}, "value": "v", "id": "t1"}),
        );
        assert_eq!(out["retry"], true, "{out}");
        let h = Harness::new().respond(|_| reply(401, ""));
        let out =
            h.call::<Cloudflare>(json!({"op": "verify", "config": {}, "value": "v", "id": "t1"}));
        assert!(
            out.get("retry").is_none()
                && out["error"]
                    .as_str()
                    .unwrap()
                    .contains("rejects the new token"),
            "{out}"
        );
    }
}
