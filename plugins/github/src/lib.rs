//! gsec plugin `github`: rotate GitHub credentials through the REST API.
//!
//! `config.kind` picks the credential:
//! - `deploy-key`: a new ed25519 key pair made inside the plugin; the public
//!   half is added to `config.repo` with the title `gsec-<token>`, the
//!   private half (OpenSSH PEM) becomes the secret's value; `revoke` deletes
//!   the old key (by id, or by matching the old private key's public half).
//! - `webhook-secret`: a random secret set on hook `config.hook_id`.
//! - `app-installation-token`: an installation token minted with a JWT that
//!   is signed (RS256) with the App's private key, an input secret;
//!   `revoke` retires the old token.
//! - `actions-secret`: push a value to the repository Actions secret
//!   `config.secret_name`, sealed (libsodium sealed box) to the repository's
//!   public key: the value of input `config.source`, or a new random one.
//!
//! Idempotency: gsec passes its journal token as the request's `token`.
//! A retried `create` with the same token first deletes any deploy key this
//! token already added (its private half never reached the journal, so it
//! can only be replaced), so a crash never leaves an orphaned key behind.
//!
//! `sync` (see [`sync`]): GitHub Actions secrets of `config.repo` (or of
//! its environment `config.environment`) as a `gsec sync` target, with
//! gsec's keyed fingerprints in one Actions variable.
//!
//! `config.api_url` (default `https://api.github.com`) serves GitHub
//! Enterprise Server and tests; its host must be granted in `.gsec.yaml`.

mod jwt;
mod sshkey;
mod sync;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gsec_plugin_sdk::http::{self, Response};
use gsec_plugin_sdk::{
    Created, Error, Info, Lease, Plugin, Request, Result, Value, export_plugin, json, log, now_ms,
    random_bytes, rng, serde_json,
};
use serde::Deserialize;

const DEFAULT_API: &str = "https://api.github.com";

struct Github;

/// What a step needs from `config` and `inputs`, checked once.
struct Api<'a> {
    base: String,
    req: &'a Request,
}

impl<'a> Api<'a> {
    fn new(req: &'a Request) -> Result<Api<'a>> {
        let base = req
            .config_url_opt("api_url")?
            .unwrap_or_else(|| DEFAULT_API.to_string());
        Ok(Api { base, req })
    }

    fn repo(&self) -> Result<&'a str> {
        let repo = self.req.config_str("repo")?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        match repo.split_once('/') {
            Some((o, r)) if ok(o) && ok(r) => Ok(repo),
            _ => Err(Error::new("config.repo must be OWNER/NAME")),
        }
    }

    /// The API token: the input named by `config.token_input` (default
    /// `GITHUB_TOKEN`).
    fn token(&self) -> Result<&'a str> {
        let name = self
            .req
            .config_str_opt("token_input")?
            .unwrap_or("GITHUB_TOKEN");
        self.req.input(name)
    }

    fn call(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> Result<Response> {
        let url = format!("{}{path}", self.base);
        let headers = [
            ("accept", "application/vnd.github+json"),
            ("x-github-api-version", "2022-11-28"),
            ("user-agent", "gsec-plugin-github"),
            ("authorization", auth),
            ("content-type", "application/json"),
        ];
        let bytes = body.map(|b| b.to_string().into_bytes());
        // Transport errors already name the method and URL (without query).
        http::request(method, &url, &headers, bytes.as_deref())
    }

    /// Like `call`, with an error naming the request for non-2xx statuses.
    fn ok(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> Result<Response> {
        let r = self.call(method, path, auth, body)?;
        if (200..300).contains(&r.status) {
            Ok(r)
        } else {
            Err(Error::new(format!(
                "{method} {path}: HTTP {}{}",
                r.status,
                hint(r.status)
            )))
        }
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the token was rejected)",
        403 => " (the token lacks permission)",
        404 => " (not found, or the token cannot see it)",
        422 => " (GitHub refused the request)",
        _ => "",
    }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// The rotation's idempotency token (the ABI's `token` field).
fn idempotency_token(req: &Request) -> Option<String> {
    let t = req.token.as_deref()?;
    t.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        .then(|| t.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_secret(req: &Request) -> Result<String> {
    let n = req.config_u64("length")?.unwrap_or(32);
    if !(16..=256).contains(&n) {
        return Err(Error::new(
            "config.length must be between 16 and 256 (bytes of randomness)",
        ));
    }
    Ok(hex(&random_bytes(n as usize)))
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn config_id(req: &Request, key: &str) -> Result<String> {
    req.config
        .get(key)
        .and_then(id_string)
        .ok_or_else(|| Error::new(format!("config.{key} must be a number")))
}

// ---- deploy keys -----------------------------------------------------------

#[derive(Deserialize)]
struct DeployKey {
    id: u64,
    key: String,
    #[serde(default)]
    title: String,
}

fn list_keys(api: &Api, auth: &str) -> Result<Vec<DeployKey>> {
    let repo = api.repo()?;
    api.ok(
        "GET",
        &format!("/repos/{repo}/keys?per_page=100"),
        auth,
        None,
    )?
    .json()
}

fn delete_key(api: &Api, auth: &str, id: u64) -> Result<()> {
    let repo = api.repo()?;
    let r = api.call("DELETE", &format!("/repos/{repo}/keys/{id}"), auth, None)?;
    match r.status {
        200..=299 | 404 => Ok(()),
        s => Err(Error::new(format!(
            "DELETE /repos/{repo}/keys/{id}: HTTP {s}{}",
            hint(s)
        ))),
    }
}

fn deploy_key_create(api: &Api, req: &Request) -> Result<Created> {
    let auth = bearer(api.token()?);
    let repo = api.repo()?;
    let title = match idempotency_token(req) {
        Some(t) => format!("gsec-{t}"),
        None => format!("gsec-{}", now_ms()),
    };
    // A key with our title is from an earlier attempt of this same rotation
    // whose private half was lost in a crash: replace it, never keep two.
    for k in list_keys(api, &auth)?
        .into_iter()
        .filter(|k| k.title == title)
    {
        log::info(&format!(
            "deleting deploy key {} left by an interrupted attempt",
            k.id
        ));
        delete_key(api, &auth, k.id)?;
    }
    let seed: [u8; 32] = random_bytes(32)
        .try_into()
        .map_err(|_| "host returned too few random bytes")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let read_only = req
        .config
        .get("read_only")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let body =
        json!({"title": title, "key": sshkey::public_line(&key, ""), "read_only": read_only});
    let made: DeployKey = api
        .ok("POST", &format!("/repos/{repo}/keys"), &auth, Some(&body))?
        .json()?;
    let check = u32::from_le_bytes(random_bytes(4).try_into().unwrap_or([0; 4]));
    Ok(Created::new(sshkey::private_pem(&key, &title, check)).id(made.id.to_string()))
}

fn deploy_key_verify(api: &Api, req: &Request) -> Result<()> {
    let auth = bearer(api.token()?);
    let pk = sshkey::public_of_private(req.value.as_deref().ok_or("verify: no value given")?)?;
    let repo = api.repo()?;
    let live = match req.id.as_deref().and_then(|i| i.parse::<u64>().ok()) {
        Some(id) => vec![
            api.ok("GET", &format!("/repos/{repo}/keys/{id}"), &auth, None)?
                .json::<DeployKey>()?,
        ],
        None => list_keys(api, &auth)?,
    };
    if live
        .iter()
        .any(|k| sshkey::parse_public_line(&k.key) == Some(pk))
    {
        Ok(())
    } else {
        Err(Error::new(format!(
            "the new key is not among the deploy keys of {repo}"
        )))
    }
}

fn deploy_key_revoke(api: &Api, req: &Request) -> Result<()> {
    let auth = bearer(api.token()?);
    if let Some(id) = req.id.as_deref().and_then(|i| i.parse::<u64>().ok()) {
        return delete_key(api, &auth, id);
    }
    // No id (a key added by hand before gsec managed it): find it by the
    // public half of the old private key.
    let Some(old) = req.value.as_deref() else {
        return Err(Error::new(
            "revoke: neither the old key's id nor its value was given",
        ));
    };
    let pk = sshkey::public_of_private(old)?;
    for k in list_keys(api, &auth)?
        .into_iter()
        .filter(|k| sshkey::parse_public_line(&k.key) == Some(pk))
    {
        delete_key(api, &auth, k.id)?;
    }
    Ok(())
}

// ---- webhook secrets -------------------------------------------------------

fn webhook_create(api: &Api, req: &Request) -> Result<Created> {
    let auth = bearer(api.token()?);
    let (repo, hook) = (api.repo()?, config_id(req, "hook_id")?);
    let secret = random_secret(req)?;
    // Only `secret` is sent: PATCH leaves the hook's URL and content type.
    api.ok(
        "PATCH",
        &format!("/repos/{repo}/hooks/{hook}/config"),
        &auth,
        Some(&json!({"secret": secret})),
    )?;
    Ok(Created::new(secret).id(hook))
}

fn webhook_verify(api: &Api, req: &Request) -> Result<()> {
    let auth = bearer(api.token()?);
    let (repo, hook) = (api.repo()?, config_id(req, "hook_id")?);
    // GitHub never returns the secret itself, only that one is set.
    let cfg: Value = api
        .ok(
            "GET",
            &format!("/repos/{repo}/hooks/{hook}/config"),
            &auth,
            None,
        )?
        .json()?;
    match cfg.get("secret").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(()),
        _ => Err(Error::new(format!(
            "hook {hook} of {repo} has no secret set"
        ))),
    }
}

// ---- App installation tokens ------------------------------------------------

#[derive(Deserialize)]
struct Minted {
    token: String,
    #[serde(default)]
    expires_at: String,
}

/// A new installation token: a JWT signed (RS256) with the App's private
/// key (input `config.private_key_input`), then `POST
/// /app/installations/{id}/access_tokens`, with `body` (narrower
/// repositories or permissions) when given.
fn mint_installation_token(api: &Api, req: &Request, body: Option<&Value>) -> Result<Minted> {
    let app_id = config_id(req, "app_id")?;
    let inst = config_id(req, "installation_id")?;
    let key_input = req
        .config_str_opt("private_key_input")?
        .unwrap_or("GITHUB_APP_PRIVATE_KEY");
    let jwt = jwt::app_jwt(req.input(key_input)?, &app_id, now_ms() / 1000).map_err(Error::new)?;
    api.ok(
        "POST",
        &format!("/app/installations/{inst}/access_tokens"),
        &bearer(&jwt),
        body,
    )?
    .json()
}

fn installation_create(api: &Api, req: &Request) -> Result<Created> {
    let m = mint_installation_token(api, req, None)?;
    Ok(Created::new(m.token).state(json!({"expires_at": m.expires_at})))
}

/// The `lease` step: a fresh installation token (GitHub makes them valid
/// for one hour), optionally narrowed to `config.repositories` and
/// `config.permissions` (the request body GitHub documents for this
/// endpoint). Nothing to clean up: it expires by itself.
fn installation_lease(api: &Api, req: &Request) -> Result<Lease> {
    let mut body = serde_json::Map::new();
    match req.config.get("repositories") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            body.insert("repositories".into(), Value::Array(a.clone()));
        }
        Some(_) => return Err(Error::new("config.repositories must be a list of names")),
    }
    match req.config.get("permissions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) if o.values().all(Value::is_string) => {
            body.insert("permissions".into(), Value::Object(o.clone()));
        }
        Some(_) => {
            return Err(Error::new(
                "config.permissions must map permission names to read or write",
            ));
        }
    }
    let body = Value::Object(body);
    let m = mint_installation_token(
        api,
        req,
        (!body.as_object().is_some_and(|o| o.is_empty())).then_some(&body),
    )?;
    log::info(&format!(
        "minted an installation token for installation {} valid until {}",
        config_id(req, "installation_id")?,
        m.expires_at
    ));
    let lease = Lease::new("token", m.token);
    Ok(if m.expires_at.is_empty() {
        lease
    } else {
        lease.expires_at(m.expires_at)
    })
}

fn installation_verify(api: &Api, req: &Request) -> Result<()> {
    let t = req.value.as_deref().ok_or("verify: no value given")?;
    api.ok(
        "GET",
        "/installation/repositories?per_page=1",
        &bearer(t),
        None,
    )
    .map(drop)
}

fn installation_revoke(api: &Api, req: &Request) -> Result<()> {
    let Some(t) = req.value.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let r = api.call("DELETE", "/installation/token", &bearer(t), None)?;
    match r.status {
        // 401: already expired or revoked, which is what we want.
        200..=299 | 401 => Ok(()),
        s => Err(Error::new(format!(
            "DELETE /installation/token: HTTP {s}{}",
            hint(s)
        ))),
    }
}

// ---- Actions secrets --------------------------------------------------------

/// GitHub's rule for secret (and variable) names: letters, digits and
/// `_`, not starting with a digit, and not with `GITHUB_`.
fn valid_secret_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !n.as_bytes()[0].is_ascii_digit()
        && !n.to_ascii_uppercase().starts_with("GITHUB_")
}

fn secret_name(req: &Request) -> Result<&str> {
    let n = req.config_str("secret_name")?;
    if !valid_secret_name(n) {
        return Err(Error::new(
            "config.secret_name must be letters, digits and '_', not starting with a digit or GITHUB_",
        ));
    }
    Ok(n)
}

/// The body of `PUT {secrets}/{name}`: `value` sealed (libsodium sealed
/// box) to the public key of `secrets` (`/repos/O/R/actions/secrets`, or an
/// environment's `/repos/O/R/environments/E/secrets`), with its `key_id`.
fn sealed_body(api: &Api, auth: &str, secrets: &str, value: &str) -> Result<Value> {
    #[derive(Deserialize)]
    struct RepoKey {
        key_id: String,
        key: String,
    }
    let pk: RepoKey = api
        .ok("GET", &format!("{secrets}/public-key"), auth, None)?
        .json()?;
    let raw: [u8; 32] = STANDARD
        .decode(&pk.key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the repository public key is not 32 bytes of base64")?;
    let sealed = crypto_box::PublicKey::from(raw)
        .seal(&mut rng(), value.as_bytes())
        .map_err(|_| "cannot seal the value")?;
    Ok(json!({"encrypted_value": STANDARD.encode(sealed), "key_id": pk.key_id}))
}

fn actions_create(api: &Api, req: &Request) -> Result<Created> {
    let auth = bearer(api.token()?);
    let (repo, name) = (api.repo()?, secret_name(req)?);
    let value = match req.config_str_opt("source")? {
        Some(src) => req.input(src)?.to_string(),
        None => random_secret(req)?,
    };
    let secrets = format!("/repos/{repo}/actions/secrets");
    let body = sealed_body(api, &auth, &secrets, &value)?;
    api.ok("PUT", &format!("{secrets}/{name}"), &auth, Some(&body))?;
    Ok(Created::new(value).id(name))
}

fn actions_verify(api: &Api, req: &Request) -> Result<()> {
    let auth = bearer(api.token()?);
    let (repo, name) = (api.repo()?, secret_name(req)?);
    api.ok(
        "GET",
        &format!("/repos/{repo}/actions/secrets/{name}"),
        &auth,
        None,
    )
    .map(drop)
}

// ---- dispatch ---------------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    DeployKey,
    Webhook,
    Installation,
    Actions,
}

fn kind(req: &Request) -> Result<Kind> {
    Ok(match req.config_str("kind")? {
        "deploy-key" => Kind::DeployKey,
        "webhook-secret" => Kind::Webhook,
        "app-installation-token" => Kind::Installation,
        "actions-secret" => Kind::Actions,
        other => {
            return Err(Error::new(format!(
                "config.kind '{other}' is not one of deploy-key, webhook-secret, app-installation-token, actions-secret"
            )));
        }
    })
}

impl Plugin for Github {
    fn info() -> Info {
        Info::new("github", env!("CARGO_PKG_VERSION"))
            .description("GitHub deploy keys, webhook secrets, App installation tokens, Actions secrets; leases: App installation tokens; sync: Actions secrets")
            .steps(&["create", "verify", "revoke", "lease", "sync"])
            // `*`: the host of `config.api_url` (GitHub Enterprise Server),
            // which the user must grant in `.gsec.yaml` like any host.
            .hosts(&["api.github.com", "*"])
            .config_schema(json!({
                "type": "object",
                // `kind` picks a rotation; a lease is always an installation token.
                "additionalProperties": false,
                "properties": {
                    "kind": {"enum": ["deploy-key", "webhook-secret", "app-installation-token", "actions-secret"]},
                    "api_url": {"type": "string", "default": DEFAULT_API},
                    "repo": {"type": "string", "description": "OWNER/NAME (deploy-key, webhook-secret, actions-secret)"},
                    "token_input": {"type": "string", "default": "GITHUB_TOKEN", "description": "input secret holding the API token"},
                    "read_only": {"type": "boolean", "default": true},
                    "hook_id": {"type": ["integer", "string"]},
                    "length": {"type": "integer", "minimum": 16, "maximum": 256, "default": 32},
                    "app_id": {"type": ["integer", "string"]},
                    "installation_id": {"type": ["integer", "string"]},
                    "private_key_input": {"type": "string", "default": "GITHUB_APP_PRIVATE_KEY"},
                    "secret_name": {"type": "string"},
                    "source": {"type": "string", "description": "input secret whose value is pushed (default: a new random value)"},
                    "repositories": {"type": "array", "items": {"type": "string"}, "description": "lease: only these repositories of the installation"},
                    "permissions": {"type": "object", "additionalProperties": {"type": "string"}, "description": "lease: narrower permissions, e.g. {contents: read}"},
                    "environment": {"type": "string", "description": "sync: the repository's deployment environment whose secrets are written (default: repository secrets)"},
                    "fingerprints_variable": {"type": "string", "default": "GSEC_SYNC_FINGERPRINTS", "description": "sync: the Actions variable holding gsec's keyed fingerprints"}
                }
            }))
    }

    fn create(req: &Request) -> Result<Created> {
        let api = Api::new(req)?;
        match kind(req)? {
            Kind::DeployKey => deploy_key_create(&api, req),
            Kind::Webhook => webhook_create(&api, req),
            Kind::Installation => installation_create(&api, req),
            Kind::Actions => actions_create(&api, req),
        }
    }

    fn verify(req: &Request) -> Result<()> {
        let api = Api::new(req)?;
        match kind(req)? {
            Kind::DeployKey => deploy_key_verify(&api, req),
            Kind::Webhook => webhook_verify(&api, req),
            Kind::Installation => installation_verify(&api, req),
            Kind::Actions => actions_verify(&api, req),
        }
    }

    fn lease(req: &Request) -> Result<Lease> {
        let api = Api::new(req)?;
        match req.config_str_opt("kind")? {
            None | Some("app-installation-token") => installation_lease(&api, req),
            Some(other) => Err(Error::new(format!(
                "config.kind '{other}' cannot be leased: only app-installation-token can"
            ))),
        }
    }

    fn sync(
        req: &Request,
        s: &gsec_plugin_sdk::sync::Sync,
    ) -> Result<gsec_plugin_sdk::sync::Synced> {
        sync::sync(req, s)
    }

    fn revoke(req: &Request) -> Result<()> {
        let api = Api::new(req)?;
        match kind(req)? {
            Kind::DeployKey => deploy_key_revoke(&api, req),
            Kind::Installation => installation_revoke(&api, req),
            // One secret per hook / per Actions secret: the new value
            // already replaced the old one.
            Kind::Webhook | Kind::Actions => Ok(()),
        }
    }
}

export_plugin!(Github);
