//! gsec plugin `neon`: rotate a Neon Postgres role's password through the
//! Neon API (the sandbox has no sockets, so no Postgres wire protocol).
//!
//! Neon's `reset_password` is single-phase: the role's old password stops
//! working as soon as the reset's operations finish. So the default
//! strategy is **alternating roles** (AWS Secrets Manager's "alternating
//! users"): `config.roles` names two roles with the same grants; each
//! rotation resets the password of the role the secret does *not* hold,
//! `verify` checks it, gsec promotes it (the stored connection string
//! switches roles) and, after `rotation.grace`, `revoke` resets the old
//! role's password once more so the value that was in the vault stops
//! working. The running application keeps its old role until then.
//! `strategy: single` resets the one role in place: simpler, but every
//! holder of the old password is cut off at once.
//!
//! Written from Neon's API reference: "Reset role password"
//! (`POST /projects/{project_id}/branches/{branch_id}/roles/{role_name}/reset_password`:
//! "Returns a new password and operations. The new password is ready to use
//! when the last operation finishes. The old password remains valid until
//! last operation finishes."), "Retrieve operation details"
//! (`GET /projects/{project_id}/operations/{operation_id}`, `status` one of
//! scheduling, running, finished, failed, error, cancelling, cancelled,
//! skipped) and "Retrieve role details"; the password check uses the SQL
//! over HTTP endpoint of Neon's serverless driver (`POST https://<endpoint
//! host>/sql` with the connection string in `Neon-Connection-String`).

use gsec_plugin_sdk::http::Response;
use gsec_plugin_sdk::jsonpath::json_str;
use gsec_plugin_sdk::retry::Policy;
use gsec_plugin_sdk::{
    Created, Error, Info, Plugin, Request, Result, Value, export_plugin, http, json, json_path,
    log, now_ms, serde_json, sleep_ms,
};

const DEFAULT_API: &str = "https://console.neon.tech/api/v2";
const DEFAULT_KEY_INPUT: &str = "NEON_API_KEY";
const DEFAULT_WAIT_SECS: u64 = 20;

struct Neon;

enum Strategy {
    /// Two roles; the secret holds one of them.
    Alternating([String; 2]),
    /// One role, reset in place.
    Single(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `postgres://role:password@host/database?options`
    Url,
    /// The bare password.
    Password,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// `SELECT 1` through the SQL-over-HTTP endpoint with the new password.
    Sql,
    /// Only that the role exists (the password is not tried).
    Role,
}

/// Settings from `config`, checked once.
struct Cfg {
    api: String,
    project: String,
    branch: String,
    strategy: Strategy,
    format: Format,
    host: Option<String>,
    database: Option<String>,
    options: String,
    check: Check,
    sql_url: Option<String>,
    reset_on_revoke: bool,
    key_input: String,
    wait_ms: u64,
}

/// Neon ids (`aged-wildflower-123456`, `br-young-forest-a5b6c7d8`).
fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Role and database names this plugin accepts: Postgres identifiers that
/// need no quoting in a URL or an API path.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn host_ok(s: &str) -> bool {
    let (name, port) = match s.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (s, None),
    };
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl Cfg {
    fn new(req: &Request) -> Result<Cfg> {
        let project = req.config_str("project_id")?.to_string();
        let branch = req.config_str("branch_id")?.to_string();
        if !id_ok(&project) || !id_ok(&branch) {
            return Err(Error::new(
                "config.project_id and config.branch_id must be Neon ids (lower-case letters, digits and '-')",
            ));
        }
        let strategy = match req.config_str_opt("strategy")?.unwrap_or("alternating") {
            "alternating" => {
                let roles: Vec<&str> = match req.config.get("roles") {
                    Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                let [a, b] = roles.as_slice() else {
                    return Err(Error::new(
                        "config.roles must list two role names (strategy alternating), e.g. [app_a, app_b]",
                    ));
                };
                if a == b {
                    return Err(Error::new("config.roles must name two different roles"));
                }
                Strategy::Alternating([a.to_string(), b.to_string()])
            }
            "single" => Strategy::Single(req.config_str("role")?.to_string()),
            _ => {
                return Err(Error::new(
                    "config.strategy must be 'alternating' or 'single'",
                ));
            }
        };
        let roles = match &strategy {
            Strategy::Alternating(r) => r.to_vec(),
            Strategy::Single(r) => vec![r.clone()],
        };
        if !roles.iter().all(|r| name_ok(r)) {
            return Err(Error::new(
                "role names must be 1-63 letters, digits, '_', '.' or '-'",
            ));
        }
        let format = match req.config_str_opt("format")?.unwrap_or("url") {
            "url" => Format::Url,
            "password" => Format::Password,
            _ => return Err(Error::new("config.format must be 'url' or 'password'")),
        };
        if format == Format::Password && matches!(strategy, Strategy::Alternating(_)) {
            return Err(Error::new(
                "config.format password does not fit strategy alternating: the role changes with every rotation, and a bare password does not say which one; use format url (the role is in the URL) or strategy single",
            ));
        }
        let host = req.config_str_opt("host")?.map(str::to_string);
        if host.as_deref().is_some_and(|h| !host_ok(h)) {
            return Err(Error::new(
                "config.host must be the endpoint's host name (ep-…-123456.us-east-2.aws.neon.tech), no scheme or path",
            ));
        }
        let database = req.config_str_opt("database")?.map(str::to_string);
        if database.as_deref().is_some_and(|d| !name_ok(d)) {
            return Err(Error::new(
                "config.database must be 1-63 letters, digits, '_', '.' or '-'",
            ));
        }
        let options = req
            .config_str_opt("url_options")?
            .unwrap_or("sslmode=require")
            .to_string();
        if !options
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.=&".contains(&b))
        {
            return Err(Error::new(
                "config.url_options must be a query string like sslmode=require&channel_binding=require",
            ));
        }
        let check = match req.config_str_opt("verify")?.unwrap_or("sql") {
            "sql" => Check::Sql,
            "role" => Check::Role,
            _ => return Err(Error::new("config.verify must be 'sql' or 'role'")),
        };
        let needs_host = format == Format::Url || check == Check::Sql;
        if needs_host && (host.is_none() || database.is_none()) {
            return Err(Error::new(if format == Format::Url {
                "config.host and config.database are required: the stored value is a postgres:// URL built from them"
            } else {
                "config.host and config.database are required by verify: sql (the password is tried with SELECT 1); set verify: role to skip that check"
            }));
        }
        let reset_on_revoke = match req.config_str_opt("on_revoke")?.unwrap_or("reset") {
            "reset" => true,
            "keep" => false,
            _ => return Err(Error::new("config.on_revoke must be 'reset' or 'keep'")),
        };
        Ok(Cfg {
            api: req
                .config_url_opt("api_url")?
                .unwrap_or_else(|| DEFAULT_API.into()),
            project,
            branch,
            strategy,
            format,
            host,
            database,
            options,
            check,
            sql_url: req.config_url_opt("sql_url")?,
            reset_on_revoke,
            key_input: req
                .config_str_opt("api_key_input")?
                .unwrap_or(DEFAULT_KEY_INPUT)
                .to_string(),
            wait_ms: req
                .config_u64("wait_secs")?
                .unwrap_or(DEFAULT_WAIT_SECS)
                .saturating_mul(1000),
        })
    }

    fn roles(&self) -> Vec<&str> {
        match &self.strategy {
            Strategy::Alternating([a, b]) => vec![a, b],
            Strategy::Single(r) => vec![r],
        }
    }

    fn role_path(&self, role: &str) -> String {
        format!(
            "/projects/{}/branches/{}/roles/{role}",
            self.project, self.branch
        )
    }
}

/// A credential: the role and its password.
struct Cred {
    role: String,
    password: String,
}

/// `%XX` for everything but RFC 3986's unreserved characters.
fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Cred {
    /// The stored value.
    fn render(&self, cfg: &Cfg) -> String {
        match cfg.format {
            Format::Password => self.password.clone(),
            Format::Url => self.url(cfg),
        }
    }

    /// `postgres://role:password@host/database?options` (host and database
    /// are checked present by `Cfg::new` whenever this is needed).
    fn url(&self, cfg: &Cfg) -> String {
        let mut u = format!(
            "postgres://{}:{}@{}/{}",
            pct_encode(&self.role),
            pct_encode(&self.password),
            cfg.host.as_deref().unwrap_or_default(),
            cfg.database.as_deref().unwrap_or_default()
        );
        if !cfg.options.is_empty() {
            u.push('?');
            u.push_str(&cfg.options);
        }
        u
    }

    /// Parse a stored value; `what` names it in errors (never its content).
    fn parse(cfg: &Cfg, s: &str, what: &str) -> Result<Cred> {
        let s = s.trim();
        match (&cfg.strategy, cfg.format) {
            (Strategy::Single(role), Format::Password) => {
                if s.is_empty() {
                    return Err(Error::new(format!("{what} is empty")));
                }
                Ok(Cred {
                    role: role.clone(),
                    password: s.to_string(),
                })
            }
            _ => parse_url(s).ok_or_else(|| {
                Error::new(format!(
                    "{what} is not a postgres://ROLE:PASSWORD@HOST/DATABASE URL"
                ))
            }),
        }
    }
}

fn parse_url(s: &str) -> Option<Cred> {
    let rest = s
        .strip_prefix("postgres://")
        .or_else(|| s.strip_prefix("postgresql://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let at = authority.rfind('@')?;
    let (user, password) = authority[..at].split_once(':')?;
    let cred = Cred {
        role: pct_decode(user)?,
        password: pct_decode(password)?,
    };
    (!cred.role.is_empty() && !cred.password.is_empty()).then_some(cred)
}

/// Text from a provider's answer, made safe for a one-line message.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The Neon API, authenticated with the API key.
struct Api<'a> {
    cfg: &'a Cfg,
    auth: String,
}

impl<'a> Api<'a> {
    fn new(cfg: &'a Cfg, req: &Request) -> Result<Api<'a>> {
        let key = req.input(&cfg.key_input)?.trim();
        if key.is_empty() {
            return Err(Error::new(format!(
                "input secret '{}' (the Neon API key) is empty",
                cfg.key_input
            )));
        }
        Ok(Api {
            cfg,
            auth: format!("Bearer {key}"),
        })
    }

    /// One call, retried on 429 (honouring `Retry-After`), 5xx and
    /// transport failures. Any other status is returned.
    fn send(&self, method: &str, path: &str, what: &str) -> Result<Response> {
        let url = format!("{}{path}", self.cfg.api);
        let headers = [
            ("authorization", self.auth.as_str()),
            ("accept", "application/json"),
        ];
        Policy::default()
            .run(|| http::request(method, &url, &headers, None))
            .map_err(|e| e.context(&format!("Neon API, {what}")))
    }

    /// A 2xx answer's JSON, `None` for 404, else an error.
    fn json(&self, r: Response, what: &str) -> Result<Option<Value>> {
        match r.status {
            200..=299 => body_json(&r, what).map(Some),
            404 => Ok(None),
            _ => Err(self.error(&r, what)),
        }
    }

    fn error(&self, r: &Response, what: &str) -> Error {
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let code = json_path(&v, "code").and_then(Value::as_str).unwrap_or("");
        let message = json_path(&v, "message")
            .and_then(Value::as_str)
            .map(clean)
            .unwrap_or_default();
        let hint = match r.status {
            401 | 403 => format!(
                " (the API key in input secret '{}' was refused or may not manage project {})",
                self.cfg.key_input, self.cfg.project
            ),
            _ => String::new(),
        };
        let text = format!(
            "Neon API, {what}: HTTP {}{hint}{}{}",
            r.status,
            if code.is_empty() {
                String::new()
            } else {
                format!(" {}", clean(code))
            },
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        );
        if r.is_transient() {
            Error::retry(text)
        } else {
            Error::new(text)
        }
    }

    /// Reset `role`'s password: the new password and the operations that
    /// apply it, or `None` when the role does not exist.
    fn reset(&self, role: &str) -> Result<Option<(String, Vec<String>)>> {
        let what = format!("resetting the password of role {role}");
        let r = self.send(
            "POST",
            &format!("{}/reset_password", self.cfg.role_path(role)),
            &what,
        )?;
        let Some(v) = self.json(r, &what)? else {
            return Ok(None);
        };
        if json_str(&v, "role.name").ok() != Some(role) {
            return Err(Error::new(format!(
                "Neon API, {what}: the answer is not about role {role}"
            )));
        }
        let password = json_str(&v, "role.password")
            .map_err(|e| e.context(&format!("Neon API, {what}")))?
            .to_string();
        if password.is_empty() {
            return Err(Error::new(format!(
                "Neon API, {what}: the answer has an empty password"
            )));
        }
        Ok(Some((password, operation_ids(&v)?)))
    }

    /// Wait until the operations have finished (Neon: the new password is
    /// ready, and the old one stops working, when the last one finishes).
    /// A failed operation is an answer (no); still running after
    /// `wait_secs` is none (retry later).
    fn wait(&self, ids: &[String], what: &str) -> Result<()> {
        let deadline = now_ms().saturating_add(self.cfg.wait_ms as i64);
        let mut pending = ids.to_vec();
        let mut delay: u64 = 250;
        loop {
            let mut still = Vec::new();
            for id in &pending {
                let w = format!("operation {id}");
                let r = self.send(
                    "GET",
                    &format!("/projects/{}/operations/{id}", self.cfg.project),
                    &w,
                )?;
                let Some(v) = self.json(r, &w)? else {
                    return Err(Error::new(format!(
                        "{what}: Neon has no operation {id} (HTTP 404)"
                    )));
                };
                let status = json_str(&v, "operation.status")
                    .map_err(|e| e.context(&format!("Neon API, {w}")))?;
                let action = json_path(&v, "operation.action")
                    .and_then(Value::as_str)
                    .map(clean)
                    .unwrap_or_else(|| "?".into());
                match status {
                    "finished" | "skipped" => {}
                    "failed" | "error" | "cancelled" => {
                        let err = json_path(&v, "operation.error")
                            .and_then(Value::as_str)
                            .map(|e| format!(": {}", clean(e)))
                            .unwrap_or_default();
                        return Err(Error::new(format!(
                            "{what}: Neon operation {id} ({action}) {status}{err}"
                        )));
                    }
                    _ => still.push(id.clone()),
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            if now_ms().saturating_add(delay as i64) > deadline {
                return Err(Error::retry(format!(
                    "{what}: Neon operation {} still running after {} s",
                    still.join(", "),
                    self.cfg.wait_ms / 1000
                )));
            }
            log::debug(&format!(
                "operation {} not finished; polling again in {delay} ms",
                still.join(", ")
            ));
            sleep_ms(delay);
            delay = (delay * 2).min(2_000);
            pending = still;
        }
    }

    /// Does `role` exist on the branch?
    fn role_exists(&self, role: &str) -> Result<bool> {
        let what = format!("reading role {role}");
        let r = self.send("GET", &self.cfg.role_path(role), &what)?;
        match self.json(r, &what)? {
            None => Ok(false),
            Some(v) => Ok(json_str(&v, "role.name").ok() == Some(role)),
        }
    }
}

fn body_json(r: &Response, what: &str) -> Result<Value> {
    // serde's messages can quote the input; report the position only.
    serde_json::from_slice(&r.body).map_err(|e| {
        Error::new(format!(
            "Neon, {what}: HTTP {} answer is not JSON (line {} column {})",
            r.status,
            e.line(),
            e.column()
        ))
    })
}

fn operation_ids(v: &Value) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(ops) = json_path(v, "operations").and_then(Value::as_array) {
        for op in ops {
            let id = json_str(op, "id")?;
            if id.is_empty()
                || id.len() > 64
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(Error::new("Neon API: an operation id is not a UUID"));
            }
            out.push(id.to_string());
        }
    }
    Ok(out)
}

/// `SELECT 1` as the role, through the endpoint's SQL-over-HTTP API.
fn sql_check(cfg: &Cfg, cred: &Cred) -> Result<()> {
    let host = cfg.host.as_deref().unwrap_or_default();
    let url = cfg
        .sql_url
        .clone()
        .unwrap_or_else(|| format!("https://{host}/sql"));
    let conn = cred.url(cfg);
    let headers = [
        ("neon-connection-string", conn.as_str()),
        ("content-type", "application/json"),
        ("neon-array-mode", "true"),
    ];
    let body = json!({"query": "SELECT 1", "params": []}).to_string();
    let what = format!("SQL check (SELECT 1 as role {})", cred.role);
    let r = Policy::default()
        .run(|| http::post(&url, &headers, body.as_bytes()))
        .map_err(|e| e.context(&what))?;
    if (200..300).contains(&r.status) {
        let v = body_json(&r, &what)?;
        return match json_path(&v, "rows").and_then(Value::as_array) {
            Some(rows) if rows.len() == 1 => Ok(()),
            _ => Err(Error::new(format!("{what}: the answer has no row"))),
        };
    }
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let code = json_path(&v, "code")
        .and_then(Value::as_str)
        .map(clean)
        .unwrap_or_default();
    let message = json_path(&v, "message")
        .and_then(Value::as_str)
        .map(clean)
        .unwrap_or_default();
    if code.starts_with("28") {
        return Err(Error::new(format!(
            "{what}: Postgres refused the new password (SQLSTATE {code}: {message})"
        )));
    }
    Err(Error::new(format!(
        "{what}: HTTP {}{}{}",
        r.status,
        if code.is_empty() {
            String::new()
        } else {
            format!(" SQLSTATE {code}")
        },
        if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        }
    )))
}

fn create(req: &Request) -> Result<Created> {
    let cfg = Cfg::new(req)?;
    let api = Api::new(&cfg, req)?;
    let role = match &cfg.strategy {
        Strategy::Single(r) => r.clone(),
        Strategy::Alternating([a, b]) => {
            match req.current.as_deref().filter(|c| !c.trim().is_empty()) {
                None => {
                    log::info(&format!("no current value: starting with role {a}"));
                    a.clone()
                }
                Some(c) => {
                    let cur = Cred::parse(&cfg, c, "the secret's current value")?;
                    if cur.role == *a {
                        b.clone()
                    } else if cur.role == *b {
                        a.clone()
                    } else {
                        return Err(Error::new(format!(
                            "the secret's current value is for role '{}', which is neither of config.roles ({a}, {b})",
                            clean(&cur.role)
                        )));
                    }
                }
            }
        }
    };
    // Retried after a crash (same token), this resets the same role again:
    // the password the first attempt got never reached the journal and dies.
    let Some((password, ops)) = api.reset(&role)? else {
        return Err(Error::new(format!(
            "role {role} does not exist on branch {} of project {} (create it with the same grants as the other role)",
            cfg.branch, cfg.project
        )));
    };
    log::info(&format!(
        "reset the password of role {role} on branch {}{}",
        cfg.branch,
        if ops.is_empty() {
            String::new()
        } else {
            format!(" (operation {})", ops.join(", "))
        }
    ));
    let cred = Cred { role, password };
    Ok(Created::new(cred.render(&cfg))
        .id(cred.role.clone())
        .state(json!({"role": cred.role, "operations": ops})))
}

fn verify(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let api = Api::new(&cfg, req)?;
    let cred = Cred::parse(
        &cfg,
        req.value.as_deref().ok_or("verify: no value given")?,
        "the new value",
    )?;
    if !cfg.roles().contains(&cred.role.as_str()) {
        return Err(Error::new(format!(
            "the new value is for role '{}', which is not in the config",
            clean(&cred.role)
        )));
    }
    let ops: Vec<String> = req
        .state
        .as_ref()
        .and_then(|s| json_path(s, "operations"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    api.wait(&ops, &format!("the password reset of role {}", cred.role))?;
    if !api.role_exists(&cred.role)? {
        return Err(Error::new(format!(
            "role {} does not exist on branch {}",
            cred.role, cfg.branch
        )));
    }
    match cfg.check {
        Check::Sql => {
            sql_check(&cfg, &cred)?;
            log::info(&format!(
                "role {} logs in with the new password (SELECT 1 over HTTP)",
                cred.role
            ));
        }
        Check::Role => log::warn(&format!(
            "verify: role {} exists, but its new password was not tried (verify: role; the Neon API cannot test a password without a SQL connection)",
            cred.role
        )),
    }
    Ok(())
}

fn revoke(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let role = match req.id.as_deref().filter(|i| name_ok(i)) {
        Some(id) => id.to_string(),
        None => match req.value.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => Cred::parse(&cfg, v, "the value to retire")?.role,
            None => return Ok(()), // nothing to retire
        },
    };
    let Strategy::Alternating(pair) = &cfg.strategy else {
        // The reset in `create` already ended the old password; resetting
        // again would end the new one.
        log::info(&format!(
            "strategy single: the old password of role {role} stopped working at the reset; nothing to revoke"
        ));
        return Ok(());
    };
    if !pair.contains(&role) {
        return Err(Error::new(format!(
            "refusing to reset role '{}': it is not one of config.roles",
            clean(&role)
        )));
    }
    if !cfg.reset_on_revoke {
        log::info(&format!(
            "on_revoke: keep: role {role} keeps its password until the next rotation resets it"
        ));
        return Ok(());
    }
    let api = Api::new(&cfg, req)?;
    // The new password is discarded: nobody holds it, so the one that was
    // in the vault (and anywhere it leaked) no longer works.
    match api.reset(&role)? {
        None => log::info(&format!("role {role} no longer exists: nothing to revoke")),
        Some((_, ops)) => {
            api.wait(&ops, &format!("the password reset of role {role}"))?;
            log::info(&format!(
                "reset the password of role {role} again: the password it had no longer works"
            ));
        }
    }
    Ok(())
}

impl Plugin for Neon {
    fn info() -> Info {
        Info::new("neon", env!("CARGO_PKG_VERSION"))
            .description("Neon Postgres role passwords: alternate two roles (or reset one) through the Neon API, check with SELECT 1 over HTTP")
            // `*`: the SQL check goes to the project's own endpoint host
            // (ep-….neon.tech) and the API URL is configurable; the hosts
            // granted in `.gsec.yaml` decide.
            .hosts(&["console.neon.tech", "*"])
            .config_schema(json!({
                "type": "object",
                "required": ["project_id", "branch_id"],
                "additionalProperties": false,
                "properties": {
                    "project_id": {"type": "string", "description": "the Neon project id"},
                    "branch_id": {"type": "string", "description": "the branch that owns the roles (br-…)"},
                    "strategy": {"enum": ["alternating", "single"], "default": "alternating"},
                    "roles": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2, "description": "alternating: the two roles, with the same grants"},
                    "role": {"type": "string", "description": "single: the role"},
                    "format": {"enum": ["url", "password"], "default": "url", "description": "the stored value: postgres://ROLE:PASSWORD@HOST/DATABASE?OPTIONS, or the bare password (single only)"},
                    "host": {"type": "string", "description": "the endpoint's host (ep-….neon.tech); needed for format url and verify sql"},
                    "database": {"type": "string", "description": "the database in the URL"},
                    "url_options": {"type": "string", "default": "sslmode=require"},
                    "verify": {"enum": ["sql", "role"], "default": "sql", "description": "sql: SELECT 1 with the new password over https://HOST/sql; role: only check that the role exists"},
                    "on_revoke": {"enum": ["reset", "keep"], "default": "reset", "description": "alternating: after the grace period, reset the old role's password again (reset) or leave it (keep)"},
                    "api_key_input": {"type": "string", "default": DEFAULT_KEY_INPUT, "description": "input secret with the Neon API key"},
                    "api_url": {"type": "string", "default": DEFAULT_API},
                    "sql_url": {"type": "string", "default": "https://<host>/sql"},
                    "wait_secs": {"type": "integer", "minimum": 0, "default": DEFAULT_WAIT_SECS, "description": "how long to wait for Neon's operations before leaving the step to --resume"}
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

export_plugin!(Neon);

#[cfg(test)]
mod tests {
    use super::*;
    use gsec_plugin_sdk::testing::{Harness, reply};

    const API: &str = "https://console.neon.tech/api/v2/projects/p-1/branches/br-1/roles";
    const OPS: &str = "https://console.neon.tech/api/v2/projects/p-1/operations";
    const SQL: &str = "POST https://ep-x.neon.tech/sql";

    fn config() -> Value {
        json!({"project_id": "p-1", "branch_id": "br-1", "roles": ["app_a", "app_b"],
               "host": "ep-x.neon.tech", "database": "db"})
    }

    fn url(role: &str, pw: &str) -> String {
        format!("postgres://{role}:{pw}@ep-x.neon.tech/db?sslmode=require")
    }

    fn reset_answer(role: &str, pw: &str) -> String {
        json!({"role": {"branch_id": "br-1", "name": role, "password": pw, "protected": false},
               "operations": [{"id": "op-1", "action": "apply_config", "status": "running"}]})
        .to_string()
    }

    fn op(status: &str) -> String {
        json!({"operation": {"id": "op-1", "action": "apply_config", "status": status, "error": "compute restart failed"}}).to_string()
    }

    #[test]
    fn create_resets_the_role_not_in_use() {
        let h = Harness::new().expect_with(
            &format!("POST {API}/app_b/reset_password"),
            |r| {
                assert_eq!(r.header("authorization"), Some("Bearer k3y"));
                assert!(r.body.is_empty());
            },
            reply(200, &reset_answer("app_b", "n/w p@ss")),
        );
        let out = h.call::<Neon>(json!({"op": "create", "config": config(),
            "inputs": {"NEON_API_KEY": "k3y"}, "current": url("app_a", "old")}));
        h.finish();
        assert_eq!(out["value"], url("app_b", "n%2Fw%20p%40ss"), "{out}");
        assert_eq!(out["id"], "app_b");
        assert_eq!(
            out["state"],
            json!({"role": "app_b", "operations": ["op-1"]})
        );
        // Percent-encoding round-trips.
        let cfg = Cfg::new(&serde_json::from_value(json!({"config": config()})).unwrap()).unwrap();
        let c = Cred::parse(&cfg, out["value"].as_str().unwrap(), "v").unwrap();
        assert_eq!(
            (c.role.as_str(), c.password.as_str()),
            ("app_b", "n/w p@ss")
        );
        // No current value: the first role. A foreign role: refused.
        let h = Harness::new().expect(
            &format!("POST {API}/app_a/reset_password"),
            reply(200, &reset_answer("app_a", "x")),
        );
        let out = h.call::<Neon>(
            json!({"op": "create", "config": config(), "inputs": {"NEON_API_KEY": "k"}}),
        );
        assert_eq!(out["id"], "app_a", "{out}");
        let h = Harness::new();
        let out = h.call::<Neon>(json!({"op": "create", "config": config(),
            "inputs": {"NEON_API_KEY": "k"}, "current": url("owner", "secretpw")}));
        let e = out["error"].as_str().unwrap();
        assert!(e.contains("'owner', which is neither"), "{e}");
        assert!(!e.contains("secretpw"));
        assert!(h.requests().is_empty());
    }

    #[test]
    fn verify_waits_for_the_operation_then_logs_in() {
        let h = Harness::new()
            .expect(&format!("GET {OPS}/op-1"), reply(200, &op("running")))
            .expect(&format!("GET {OPS}/op-1"), reply(200, &op("finished")))
            .expect(
                &format!("GET {API}/app_b"),
                reply(200, r#"{"role": {"name": "app_b", "branch_id": "br-1"}}"#),
            )
            .expect_with(
                SQL,
                |r| {
                    assert_eq!(
                        r.header("neon-connection-string").unwrap(),
                        url("app_b", "pw")
                    );
                    assert_eq!(r.text(), r#"{"params":[],"query":"SELECT 1"}"#);
                },
                reply(
                    200,
                    r#"{"command": "SELECT", "rowCount": 1, "fields": [], "rows": [["1"]]}"#,
                ),
            );
        let out = h.call::<Neon>(
            json!({"op": "verify", "config": config(), "inputs": {"NEON_API_KEY": "k"},
            "value": url("app_b", "pw"), "state": {"role": "app_b", "operations": ["op-1"]}}),
        );
        assert_eq!(out, json!({"ok": true}));
        h.finish();
        assert_eq!(h.slept_ms(), vec![250]);
    }

    #[test]
    fn a_refused_password_and_a_failed_operation_are_answers() {
        let h = Harness::new()
            .expect(&format!("GET {API}/app_b"), reply(200, r#"{"role": {"name": "app_b"}}"#))
            .expect(
                SQL,
                reply(400, r#"{"message": "password authentication failed for user \"app_b\"", "code": "28P01"}"#),
            );
        let out = h.call::<Neon>(
            json!({"op": "verify", "config": config(), "inputs": {"NEON_API_KEY": "k"},
            "value": url("app_b", "pw")}),
        );
        assert!(out.get("retry").is_none(), "{out}");
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("Postgres refused the new password (SQLSTATE 28P01"),
            "{out}"
        );
        let h = Harness::new().expect(&format!("GET {OPS}/op-1"), reply(200, &op("failed")));
        let out = h.call::<Neon>(
            json!({"op": "verify", "config": config(), "inputs": {"NEON_API_KEY": "k"},
            "value": url("app_b", "pw"), "state": {"operations": ["op-1"]}}),
        );
        assert!(out.get("retry").is_none(), "{out}");
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("operation op-1 (apply_config) failed: compute restart failed"),
            "{out}"
        );
        // Never finishing: no answer, retry later.
        let h = Harness::new().respond(|_| reply(200, &op("running")));
        let out = h.call::<Neon>(
            json!({"op": "verify", "config": config(), "inputs": {"NEON_API_KEY": "k"},
            "value": url("app_b", "pw"), "state": {"operations": ["op-1"]}}),
        );
        assert_eq!(out["retry"], true, "{out}");
        assert!(h.slept_ms().iter().sum::<u64>() <= 20_000);
    }

    #[test]
    fn api_errors_are_clear_and_throttling_is_retried() {
        let h = Harness::new()
            .expect(
                &format!("POST {API}/app_a/reset_password"),
                reply(429, r#"{"code": "", "message": "rate limit exceeded"}"#)
                    .header("Retry-After", "2"),
            )
            .expect(
                &format!("POST {API}/app_a/reset_password"),
                reply(200, &reset_answer("app_a", "x")),
            );
        let out = h.call::<Neon>(
            json!({"op": "create", "config": config(), "inputs": {"NEON_API_KEY": "k"}}),
        );
        assert_eq!(out["id"], "app_a", "{out}");
        assert_eq!(h.slept_ms(), vec![2000], "Retry-After honoured");
        let h = Harness::new()
            .respond(|_| reply(401, r#"{"code": "", "message": "authentication required"}"#));
        let out = h.call::<Neon>(
            json!({"op": "create", "config": config(), "inputs": {"NEON_API_KEY": "k3y"}}),
        );
        let e = out["error"].as_str().unwrap();
        assert!(
            e.contains("HTTP 401 (the API key in input secret 'NEON_API_KEY' was refused"),
            "{e}"
        );
        assert!(!e.contains("k3y"));
        let h = Harness::new().respond(|_| reply(503, "upstream"));
        let out = h.call::<Neon>(
            json!({"op": "create", "config": config(), "inputs": {"NEON_API_KEY": "k"}}),
        );
        assert_eq!(out["retry"], true, "{out}");
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("HTTP 503 (after 4 attempts)"),
            "{out}"
        );
    }

    #[test]
    fn revoke_resets_the_old_role_except_in_single_mode() {
        let h = Harness::new()
            .expect(
                &format!("POST {API}/app_a/reset_password"),
                reply(200, &reset_answer("app_a", "gone")),
            )
            .expect(&format!("GET {OPS}/op-1"), reply(200, &op("finished")));
        let out = h.call::<Neon>(
            json!({"op": "revoke", "config": config(), "inputs": {"NEON_API_KEY": "k"},
            "value": url("app_a", "old"), "id": "app_a"}),
        );
        assert_eq!(out, json!({"ok": true}));
        h.finish();
        // Already gone.
        let h = Harness::new().expect(
            &format!("POST {API}/app_a/reset_password"),
            reply(404, r#"{"message": "not found"}"#),
        );
        let out = h.call::<Neon>(json!({"op": "revoke", "config": config(), "inputs": {"NEON_API_KEY": "k"}, "id": "app_a"}));
        assert_eq!(out, json!({"ok": true}));
        // Single: nothing to do (resetting would end the new password).
        let single = json!({"project_id": "p-1", "branch_id": "br-1", "strategy": "single", "role": "app",
                            "format": "password", "verify": "role"});
        let h = Harness::new();
        let out = h.call::<Neon>(json!({"op": "revoke", "config": single, "inputs": {"NEON_API_KEY": "k"}, "value": "old", "id": "app"}));
        assert_eq!(out, json!({"ok": true}));
        assert!(h.requests().is_empty());
        // A bare password cannot alternate.
        let mut bad = config();
        bad["format"] = json!("password");
        let out = Harness::new()
            .call::<Neon>(json!({"op": "create", "config": bad, "inputs": {"NEON_API_KEY": "k"}}));
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("does not fit strategy alternating"),
            "{out}"
        );
    }
}
