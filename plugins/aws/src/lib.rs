//! gsec plugin `aws`: rotate an IAM user's access key through the IAM and
//! STS Query APIs, signed with SigV4 inside the plugin (no AWS SDK fits in
//! the sandbox).
//!
//! IAM allows two access keys per user, which is the natural dual-phase
//! rotation: `create` adds the second key, `verify` calls
//! `sts:GetCallerIdentity` with it, gsec promotes it, and `revoke` retires
//! the old one (after `rotation.grace`): deactivated, then deleted.
//!
//! The secret's value is the key pair as the JSON that AWS's
//! `credential_process` reads:
//! `{"Version":1,"AccessKeyId":"AKIA…","SecretAccessKey":"…"}`, so the pair
//! changes atomically and `credential_process = gsec get NAME --env E` hands
//! it to every AWS SDK and the CLI.
//!
//! Who signs: the credential being rotated manages itself (it needs
//! `iam:ListAccessKeys`, `iam:CreateAccessKey`, `iam:DeleteAccessKey`,
//! `iam:UpdateAccessKey`, `iam:TagUser`, `iam:ListUserTags` on its own
//! user), or, with `config.admin_input`, another credential does.
//!
//! Idempotency: access keys cannot be named or tagged, so before creating a
//! key `create` records on the user a tag `gsec-rotation` = `<token> <ids of
//! the keys that existed>`. A `create` retried with the same token (gsec was
//! killed after IAM made the key but before the journal stored its secret)
//! deletes the keys that are not in that list: their secret is lost.

use gsec_plugin_sdk::http::Response;
use gsec_plugin_sdk::retry::{Policy, Verdict};
use gsec_plugin_sdk::sigv4::{self, Credentials};
use gsec_plugin_sdk::{
    Created, Error, Info, Lease, Plugin, Request, Result, export_plugin, http, json, log, now_ms,
    serde_json, xml,
};
use serde::{Deserialize, Serialize};

const IAM_VERSION: &str = "2010-05-08";
const STS_VERSION: &str = "2011-06-15";
const DEFAULT_IAM: &str = "https://iam.amazonaws.com";
const MARKER_TAG: &str = "gsec-rotation";

struct Aws;

/// The stored value: AWS's `credential_process` JSON.
#[derive(Clone, Serialize, Deserialize)]
struct KeyPair {
    #[serde(rename = "Version", default = "one")]
    version: u32,
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: String,
    #[serde(
        rename = "SessionToken",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    session_token: Option<String>,
}

fn one() -> u32 {
    1
}

impl KeyPair {
    /// Parse a stored value; `what` names it in errors (never its content).
    fn parse(s: &str, what: &str) -> Result<KeyPair> {
        serde_json::from_str::<KeyPair>(s.trim())
            .ok()
            .filter(|k| !k.access_key_id.is_empty() && !k.secret_access_key.is_empty())
            .ok_or_else(|| {
                Error::new(format!(
                    "{what} is not an AWS key pair as JSON ({{\"Version\":1,\"AccessKeyId\":\"AKIA…\",\"SecretAccessKey\":\"…\"}})"
                ))
            })
    }
    fn creds(&self) -> Credentials {
        let c = Credentials::new(&self.access_key_id, &self.secret_access_key);
        match &self.session_token {
            Some(t) => c.session_token(t),
            None => c,
        }
    }
}

/// Settings from `config`, checked once.
struct Cfg {
    user: String,
    iam: String,
    iam_region: String,
    sts: String,
    region: String,
    delete: bool,
}

fn endpoint(req: &Request, key: &str, default: &str) -> Result<String> {
    Ok(req
        .config_url_opt(key)?
        .unwrap_or_else(|| default.to_string()))
}

fn region_ok(r: &str) -> bool {
    !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Cfg {
    fn new(req: &Request) -> Result<Cfg> {
        let user = req.config_str("user_name")?.to_string();
        if user.is_empty()
            || user.len() > 64
            || !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        {
            return Err(Error::new(
                "config.user_name must be an IAM user name (letters, digits and +=,.@_-)",
            ));
        }
        let region = req
            .config_str_opt("region")?
            .unwrap_or("us-east-1")
            .to_string();
        let iam_region = req
            .config_str_opt("iam_region")?
            .unwrap_or("us-east-1")
            .to_string();
        if !region_ok(&region) || !region_ok(&iam_region) {
            return Err(Error::new(
                "config.region and config.iam_region must be AWS region names",
            ));
        }
        let delete = match req.config_str_opt("on_revoke")?.unwrap_or("delete") {
            "delete" => true,
            "deactivate" => false,
            _ => {
                return Err(Error::new(
                    "config.on_revoke must be 'delete' or 'deactivate'",
                ));
            }
        };
        Ok(Cfg {
            user,
            iam: endpoint(req, "iam_endpoint", DEFAULT_IAM)?,
            iam_region,
            sts: endpoint(
                req,
                "sts_endpoint",
                &format!("https://sts.{region}.amazonaws.com"),
            )?,
            region,
            delete,
        })
    }
}

/// The managing credential from `config.admin_input`, if configured.
fn admin(req: &Request) -> Result<Option<KeyPair>> {
    match req.config_str_opt("admin_input")? {
        Some(name) => KeyPair::parse(req.input(name)?, &format!("input secret '{name}'")).map(Some),
        None => Ok(None),
    }
}

/// An AWS error answer: `<Error><Code>…</Code><Message>…</Message></Error>`.
struct AwsError {
    status: u16,
    code: String,
    message: String,
}

impl AwsError {
    fn of(r: &Response) -> AwsError {
        let body = r.text();
        AwsError {
            status: r.status,
            code: xml::text(&body, "Code").unwrap_or_default(),
            // AWS messages name resources and quotas, not credentials.
            message: xml::text(&body, "Message")
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect(),
        }
    }
    fn throttled(&self) -> bool {
        matches!(
            self.code.as_str(),
            "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "ServiceUnavailable"
        )
    }
    fn into_error(self, action: &str) -> Error {
        let text = format!(
            "{action}: HTTP {} {}{}",
            self.status,
            if self.code.is_empty() {
                "(no error code)"
            } else {
                &self.code
            },
            if self.message.is_empty() {
                String::new()
            } else {
                format!(": {}", self.message)
            }
        );
        if self.status == 429 || self.status >= 500 || self.throttled() {
            Error::retry(text)
        } else {
            Error::new(text)
        }
    }
}

/// One signed Query API call (POST, form body), retried on throttling and
/// 5xx. Returns the answer whatever its status; see [`ok`].
fn query(
    creds: &Credentials,
    endpoint: &str,
    region: &str,
    service: &str,
    params: &[(&str, &str)],
) -> Result<Response> {
    let body = sigv4::form(params);
    let url = format!("{endpoint}/");
    let headers = [("content-type", sigv4::FORM)];
    Policy::default().run_with(
        || {
            let signed = sigv4::sign(
                creds,
                region,
                service,
                "POST",
                &url,
                &headers,
                body.as_bytes(),
                now_ms(),
            )?;
            http::request(
                "POST",
                &url,
                &signed.headers(&headers),
                Some(body.as_bytes()),
            )
        },
        |r| match r {
            Ok(resp) if resp.is_transient() || AwsError::of(resp).throttled() => Verdict::Retry,
            Err(e) if e.is_retry() => Verdict::Retry,
            _ => Verdict::Done,
        },
    )
}

/// A 2xx answer's body, or the AWS error.
fn ok(r: Response, action: &str) -> Result<String> {
    if (200..300).contains(&r.status) {
        Ok(r.text())
    } else {
        Err(AwsError::of(&r).into_error(action))
    }
}

struct Iam<'a> {
    cfg: &'a Cfg,
    creds: Credentials,
}

#[derive(Debug, Clone)]
struct KeyMeta {
    id: String,
    active: bool,
}

impl Iam<'_> {
    fn call(&self, action: &str, extra: &[(&str, &str)]) -> Result<Response> {
        let mut params = vec![
            ("Action", action),
            ("Version", IAM_VERSION),
            ("UserName", self.cfg.user.as_str()),
        ];
        params.extend_from_slice(extra);
        query(
            &self.creds,
            &self.cfg.iam,
            &self.cfg.iam_region,
            "iam",
            &params,
        )
    }

    fn list_keys(&self) -> Result<Vec<KeyMeta>> {
        let body = ok(self.call("ListAccessKeys", &[])?, "ListAccessKeys")?;
        let meta = xml::inner(&body, "AccessKeyMetadata").unwrap_or_default();
        Ok(xml::all(meta, "member")
            .into_iter()
            .filter_map(|m| {
                Some(KeyMeta {
                    id: xml::text(m, "AccessKeyId")?,
                    active: xml::text(m, "Status").as_deref() == Some("Active"),
                })
            })
            .collect())
    }

    fn marker(&self) -> Result<Option<String>> {
        let body = ok(self.call("ListUserTags", &[])?, "ListUserTags")?;
        let tags = xml::inner(&body, "Tags").unwrap_or_default();
        Ok(xml::all(tags, "member")
            .into_iter()
            .find(|m| xml::text(m, "Key").as_deref() == Some(MARKER_TAG))
            .and_then(|m| xml::text(m, "Value")))
    }

    fn set_marker(&self, value: &str) -> Result<()> {
        ok(
            self.call(
                "TagUser",
                &[
                    ("Tags.member.1.Key", MARKER_TAG),
                    ("Tags.member.1.Value", value),
                ],
            )?,
            "TagUser",
        )
        .map(drop)
    }

    /// Delete a key; already gone counts as done.
    fn delete(&self, id: &str) -> Result<()> {
        let r = self.call("DeleteAccessKey", &[("AccessKeyId", id)])?;
        gone_is_fine(r, "DeleteAccessKey")
    }

    fn deactivate(&self, id: &str) -> Result<()> {
        let r = self.call(
            "UpdateAccessKey",
            &[("AccessKeyId", id), ("Status", "Inactive")],
        )?;
        gone_is_fine(r, "UpdateAccessKey")
    }
}

fn gone_is_fine(r: Response, action: &str) -> Result<()> {
    if (200..300).contains(&r.status) {
        return Ok(());
    }
    let e = AwsError::of(&r);
    if e.code == "NoSuchEntity" {
        return Ok(());
    }
    Err(e.into_error(action))
}

fn token_ok(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn create(req: &Request) -> Result<Created> {
    let cfg = Cfg::new(req)?;
    let current = match req.current.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => Some(KeyPair::parse(c, "the secret's current value")?),
        None => None,
    };
    let signer = match (admin(req)?, &current) {
        (Some(a), _) => a,
        (None, Some(c)) => c.clone(),
        (None, None) => {
            return Err(Error::new(
                "no credential to sign with: store the user's existing key pair in the secret first, or set config.admin_input",
            ));
        }
    };
    let iam = Iam {
        cfg: &cfg,
        creds: signer.creds(),
    };
    let current_id = current.as_ref().map(|c| c.access_key_id.as_str());
    let token = req.token.as_deref().filter(|t| token_ok(t));

    let mut keys = iam.list_keys()?;
    let marker = match token {
        Some(_) => iam.marker()?,
        None => None,
    };
    // A retry of this very rotation: keys that did not exist before its
    // first attempt, other than the current one, were made by that attempt
    // and their secret never reached the journal.
    let earlier: Option<Vec<&str>> = match (token, marker.as_deref()) {
        (Some(t), Some(m)) => {
            let mut it = m.split(' ');
            (it.next() == Some(t)).then(|| it.collect())
        }
        _ => None,
    };
    if let Some(pre) = &earlier {
        for k in keys
            .iter()
            .filter(|k| Some(k.id.as_str()) != current_id && !pre.contains(&k.id.as_str()))
        {
            log::info(&format!(
                "deleting access key {} left by an interrupted attempt",
                k.id
            ));
            iam.delete(&k.id)?;
        }
        keys.retain(|k| Some(k.id.as_str()) == current_id || pre.contains(&k.id.as_str()));
    }
    // Inactive keys are not live credentials (`on_revoke: deactivate` left
    // them for this rotation to delete): free their slot.
    for k in keys
        .iter()
        .filter(|k| !k.active && Some(k.id.as_str()) != current_id)
    {
        log::info(&format!("deleting inactive access key {}", k.id));
        iam.delete(&k.id)?;
    }
    keys.retain(|k| k.active || Some(k.id.as_str()) == current_id);
    if keys.len() >= 2 {
        let others: Vec<&str> = keys
            .iter()
            .filter(|k| Some(k.id.as_str()) != current_id)
            .map(|k| k.id.as_str())
            .collect();
        return Err(Error::new(format!(
            "IAM user {} already has two access keys (the limit) and {} is not the one this secret holds: delete or deactivate it, then `gsec rotate --resume`",
            cfg.user,
            others.join(" and ")
        )));
    }
    if let (Some(t), None) = (token, &earlier) {
        let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        let mut v = t.to_string();
        for id in ids {
            v.push(' ');
            v.push_str(id);
        }
        iam.set_marker(&v)?;
    }
    let body = ok(iam.call("CreateAccessKey", &[])?, "CreateAccessKey")?;
    let made = xml::inner(&body, "AccessKey").unwrap_or_default();
    let (Some(id), Some(secret)) = (
        xml::text(made, "AccessKeyId"),
        xml::text(made, "SecretAccessKey"),
    ) else {
        return Err(Error::new(
            "CreateAccessKey: the answer has no AccessKeyId or SecretAccessKey",
        ));
    };
    log::info(&format!(
        "created access key {id} for IAM user {}",
        cfg.user
    ));
    let pair = KeyPair {
        version: 1,
        access_key_id: id.clone(),
        secret_access_key: secret,
        session_token: None,
    };
    Ok(Created::new(serde_json::to_string(&pair)?).id(id))
}

fn verify(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let pair = KeyPair::parse(
        req.value.as_deref().ok_or("verify: no value given")?,
        "the new value",
    )?;
    // A new key takes a few seconds to work everywhere (IAM is eventually
    // consistent): wait for it, then leave it to `--resume`.
    let policy = Policy::default().attempts(5).base_ms(1_000);
    let mut attempt = 0;
    let r = loop {
        attempt += 1;
        let r = query(
            &pair.creds(),
            &cfg.sts,
            &cfg.region,
            "sts",
            &[("Action", "GetCallerIdentity"), ("Version", STS_VERSION)],
        )?;
        if r.status == 403
            && AwsError::of(&r).code == "InvalidClientTokenId"
            && attempt < policy.attempts
        {
            log::debug(&format!(
                "key {} not accepted yet (attempt {attempt})",
                pair.access_key_id
            ));
            gsec_plugin_sdk::sleep_ms(policy.base_ms << (attempt - 1).min(3));
            continue;
        }
        break r;
    };
    if r.status == 403 && AwsError::of(&r).code == "InvalidClientTokenId" {
        return Err(Error::retry(format!(
            "STS does not accept the new key {} yet (InvalidClientTokenId); IAM may still be propagating it",
            pair.access_key_id
        )));
    }
    let body = ok(r, "GetCallerIdentity")?;
    let arn = xml::text(&body, "Arn").unwrap_or_default();
    // arn:aws:iam::123456789012:user/path/NAME
    let user = arn
        .rsplit_once(":user/")
        .map(|(_, p)| p.rsplit('/').next().unwrap_or(p));
    if user != Some(cfg.user.as_str()) {
        return Err(Error::new(format!(
            "the new key belongs to {arn}, not to IAM user {}",
            cfg.user
        )));
    }
    log::info(&format!("key {} works for {arn}", pair.access_key_id));
    Ok(())
}

fn revoke(req: &Request) -> Result<()> {
    let cfg = Cfg::new(req)?;
    let pair = match req.value.as_deref().filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(KeyPair::parse(v, "the value to retire")?),
        None => None,
    };
    let Some(id) = req
        .id
        .clone()
        .filter(|i| !i.is_empty())
        .or_else(|| pair.as_ref().map(|p| p.access_key_id.clone()))
    else {
        return Ok(()); // nothing to retire
    };
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::new("revoke: the access key id is not alphanumeric"));
    }
    match admin(req)? {
        Some(a) => {
            let iam = Iam {
                cfg: &cfg,
                creds: a.creds(),
            };
            iam.deactivate(&id)?;
            log::info(&format!("deactivated access key {id}"));
            if cfg.delete {
                iam.delete(&id)?;
                log::info(&format!("deleted access key {id}"));
            }
            Ok(())
        }
        None => {
            // The key retires itself: an inactive key cannot sign, so it is
            // deleted at once (or only deactivated, and the next rotation's
            // `create` deletes it).
            let Some(pair) = pair else {
                return Err(Error::new(
                    "revoke: without config.admin_input the old key signs its own deletion, but its value was not given",
                ));
            };
            let iam = Iam {
                cfg: &cfg,
                creds: pair.creds(),
            };
            let action = if cfg.delete {
                "DeleteAccessKey"
            } else {
                "UpdateAccessKey"
            };
            let r = if cfg.delete {
                iam.call("DeleteAccessKey", &[("AccessKeyId", &id)])?
            } else {
                iam.call(
                    "UpdateAccessKey",
                    &[("AccessKeyId", &id), ("Status", "Inactive")],
                )?
            };
            let e = AwsError::of(&r);
            // A deleted (or deactivated) key can no longer sign: that is the
            // state we want.
            if (200..300).contains(&r.status)
                || e.code == "NoSuchEntity"
                || (r.status == 403 && e.code == "InvalidClientTokenId")
            {
                log::info(&format!(
                    "{} access key {id}",
                    if cfg.delete { "deleted" } else { "deactivated" }
                ));
                Ok(())
            } else {
                Err(e.into_error(action))
            }
        }
    }
}

// ---- lease: STS AssumeRole ------------------------------------------------

/// Settings of the `lease` step, from `lease.config`.
struct LeaseCfg {
    role_arn: String,
    session_name: String,
    duration: u64,
    external_id: Option<String>,
    region: String,
    sts: String,
}

impl LeaseCfg {
    fn new(req: &Request) -> Result<LeaseCfg> {
        let role_arn = req.config_str("role_arn")?.to_string();
        // arn:PARTITION:iam::ACCOUNT:role/PATH/NAME
        let ok_arn = role_arn.starts_with("arn:")
            && role_arn.contains(":iam::")
            && role_arn.contains(":role/")
            && role_arn.len() <= 2048
            && !role_arn
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        if !ok_arn {
            return Err(Error::new(
                "config.role_arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            ));
        }
        // AWS: 2 to 64 characters of [\w+=,.@-].
        let session_name = match req.config_str_opt("session_name")? {
            Some(n) => n.to_string(),
            None => format!("gsec-{}", now_ms()),
        };
        if !(2..=64).contains(&session_name.len())
            || !session_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        {
            return Err(Error::new(
                "config.session_name must be 2 to 64 letters, digits or _+=,.@-",
            ));
        }
        let duration = req.config_u64("duration_secs")?.unwrap_or(3600);
        if !(900..=43_200).contains(&duration) {
            return Err(Error::new(
                "config.duration_secs must be between 900 (15 minutes) and 43200 (12 hours)",
            ));
        }
        let external_id = req.config_str_opt("external_id")?.map(str::to_string);
        let region = req
            .config_str_opt("region")?
            .unwrap_or("us-east-1")
            .to_string();
        if !region_ok(&region) {
            return Err(Error::new("config.region must be an AWS region name"));
        }
        Ok(LeaseCfg {
            role_arn,
            session_name,
            duration,
            external_id,
            sts: endpoint(
                req,
                "sts_endpoint",
                &format!("https://sts.{region}.amazonaws.com"),
            )?,
            region,
        })
    }
}

/// The root credential: the input named by `config.root_input`, or the
/// only input given.
fn lease_root(req: &Request) -> Result<KeyPair> {
    let name = match req.config_str_opt("root_input")? {
        Some(n) => n.to_string(),
        None => {
            let mut names = req.inputs.keys();
            match (names.next(), names.next()) {
                (Some(n), None) => n.clone(),
                _ => {
                    return Err(Error::new(
                        "name the root key pair with config.root_input (lease.inputs has several, or none)",
                    ));
                }
            }
        }
    };
    KeyPair::parse(req.input(&name)?, &format!("root credential '{name}'"))
}

/// `sts:AssumeRole` signed with the root key pair: the role's temporary
/// credentials (AccessKeyId, SecretAccessKey, SessionToken) until their
/// Expiration. AWS deletes nothing at expiry; the credentials just stop
/// working, so there is nothing to revoke.
fn lease(req: &Request) -> Result<Lease> {
    let cfg = LeaseCfg::new(req)?;
    let root = lease_root(req)?;
    let duration = cfg.duration.to_string();
    let mut params = vec![
        ("Action", "AssumeRole"),
        ("Version", STS_VERSION),
        ("RoleArn", cfg.role_arn.as_str()),
        ("RoleSessionName", cfg.session_name.as_str()),
        ("DurationSeconds", duration.as_str()),
    ];
    if let Some(x) = &cfg.external_id {
        params.push(("ExternalId", x));
    }
    let r = query(&root.creds(), &cfg.sts, &cfg.region, "sts", &params)?;
    let body = ok(r, "AssumeRole")?;
    let creds = xml::inner(&body, "Credentials").unwrap_or_default();
    let field = |n: &str| {
        xml::text(creds, n)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::new(format!("AssumeRole: the answer has no Credentials.{n}")))
    };
    let (id, secret, token, expiration) = (
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        field("SessionToken")?,
        field("Expiration")?,
    );
    let arn = xml::inner(&body, "AssumedRoleUser")
        .and_then(|u| xml::text(u, "Arn"))
        .unwrap_or_default();
    log::info(&format!(
        "assumed {} as {arn} (key {id}) until {expiration}",
        cfg.role_arn
    ));
    Ok(Lease::new("AccessKeyId", id)
        .field("SecretAccessKey", secret)
        .field("SessionToken", token)
        .expires_at(expiration)
        .id(arn))
}

mod secretsmanager;

impl Plugin for Aws {
    fn info() -> Info {
        Info::new("aws", env!("CARGO_PKG_VERSION"))
            .description("AWS IAM access keys: create the second key, verify it with STS, retire the old one; leases: STS AssumeRole sessions")
            // `*`: STS is regional and both endpoints are configurable; the
            // user grants the hosts in `.gsec.yaml`.
            .hosts(&["iam.amazonaws.com", "sts.amazonaws.com", "*"])
            .steps(&["create", "verify", "revoke", "lease", "sync"])
            .config_schema(json!({"oneOf": [{
                "type": "object",
                // rotation.config needs user_name, lease.config role_arn.
                "anyOf": [{"required": ["user_name"]}, {"required": ["role_arn"]}],
                "additionalProperties": false,
                "properties": {
                    "user_name": {"type": "string", "description": "the IAM user whose access key the secret holds"},
                    "admin_input": {"type": "string", "description": "input secret with another key pair (same JSON) that manages the user's keys; default: the key manages itself"},
                    "region": {"type": "string", "default": "us-east-1", "description": "STS region (verify)"},
                    "iam_region": {"type": "string", "default": "us-east-1", "description": "IAM's signing region (us-east-1; cn-north-1 or us-gov-west-1 in other partitions)"},
                    "iam_endpoint": {"type": "string", "default": DEFAULT_IAM},
                    "sts_endpoint": {"type": "string", "default": "https://sts.<region>.amazonaws.com"},
                    "on_revoke": {"enum": ["delete", "deactivate"], "default": "delete", "description": "deactivate: keep the old key inactive until the next rotation deletes it"},
                    "role_arn": {"type": "string", "description": "lease: the IAM role to assume"},
                    "session_name": {"type": "string", "description": "lease: RoleSessionName (default gsec-<unix ms>)"},
                    "duration_secs": {"type": "integer", "minimum": 900, "maximum": 43200, "default": 3600, "description": "lease: DurationSeconds"},
                    "external_id": {"type": "string", "description": "lease: ExternalId, when the role's trust policy requires one"},
                    "root_input": {"type": "string", "description": "lease: the input holding the root key pair (default: the only input)"}
                }
            }, secretsmanager::schema()]}))
    }

    fn sync(
        req: &Request,
        s: &gsec_plugin_sdk::sync::Sync,
    ) -> Result<gsec_plugin_sdk::sync::Synced> {
        secretsmanager::sync(req, s)
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

    fn lease(req: &Request) -> Result<Lease> {
        lease(req)
    }
}

export_plugin!(Aws);

#[cfg(test)]
mod tests {
    use super::*;
    use gsec_plugin_sdk::testing::{Harness, HttpRequest, reply};
    use gsec_plugin_sdk::{Value, json};

    const OLD: &str =
        r#"{"Version":1,"AccessKeyId":"AKIAOLD0000000000000","SecretAccessKey":"old-secret"}"#;
    const IAM: &str = "POST https://iam.amazonaws.com/";
    const STS: &str = "POST https://sts.eu-west-1.amazonaws.com/";

    fn config() -> Value {
        json!({"user_name": "app", "region": "eu-west-1"})
    }

    /// The request is an IAM/STS Query call signed by `key` for `service`.
    fn signed(r: &HttpRequest, key: &str, service: &str, action: &str) {
        let auth = r.header("authorization").unwrap();
        assert!(
            auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={key}/20260101/")),
            "{auth}"
        );
        assert!(auth.contains(&format!(
            "/{service}/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
        )));
        assert!(r.header("x-amz-date").unwrap().starts_with("20260101T0000"));
        assert!(
            r.text().starts_with(&format!("Action={action}&")),
            "{}",
            r.text()
        );
    }

    fn list(keys: &[(&str, &str)]) -> String {
        let m: String = keys
            .iter()
            .map(|(id, st)| format!("<member><UserName>app</UserName><AccessKeyId>{id}</AccessKeyId><Status>{st}</Status></member>"))
            .collect();
        format!(
            "<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata>{m}</AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult></ListAccessKeysResponse>"
        )
    }

    #[test]
    fn create_records_a_marker_then_makes_the_second_key() {
        let h = Harness::new()
            .expect_with(IAM, |r| signed(r, "AKIAOLD0000000000000", "iam", "ListAccessKeys"), reply(200, &list(&[("AKIAOLD0000000000000", "Active")])))
            .expect_with(IAM, |r| signed(r, "AKIAOLD0000000000000", "iam", "ListUserTags"), reply(200, "<ListUserTagsResult><Tags></Tags></ListUserTagsResult>"))
            .expect_with(
                IAM,
                |r| assert_eq!(r.text(), "Action=TagUser&Version=2010-05-08&UserName=app&Tags.member.1.Key=gsec-rotation&Tags.member.1.Value=t0k%20AKIAOLD0000000000000"),
                reply(200, "<TagUserResponse/>"),
            )
            .expect_with(
                IAM,
                |r| assert_eq!(r.text(), "Action=CreateAccessKey&Version=2010-05-08&UserName=app"),
                reply(200, "<CreateAccessKeyResult><AccessKey><UserName>app</UserName><AccessKeyId>AKIANEW</AccessKeyId><Status>Active</Status><SecretAccessKey>s/e+c&amp;r</SecretAccessKey></AccessKey></CreateAccessKeyResult>"),
            );
        let out = h.call::<Aws>(
            json!({"op": "create", "config": config(), "current": OLD, "token": "t0k"}),
        );
        h.finish();
        assert_eq!(out["id"], "AKIANEW");
        let v: Value = serde_json::from_str(out["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"Version": 1, "AccessKeyId": "AKIANEW", "SecretAccessKey": "s/e+c&r"})
        );
    }

    #[test]
    fn create_retried_with_its_token_deletes_the_orphan_first() {
        let h = Harness::new()
            .expect(IAM, reply(200, &list(&[("AKIAOLD0000000000000", "Active"), ("AKIAORPHAN", "Active")])))
            .expect(IAM, reply(200, "<Tags><member><Key>gsec-rotation</Key><Value>t0k AKIAOLD0000000000000</Value></member></Tags>"))
            .expect_with(IAM, |r| assert!(r.text().ends_with("UserName=app&AccessKeyId=AKIAORPHAN")), reply(200, ""))
            .expect_with(IAM, |r| signed(r, "AKIAOLD0000000000000", "iam", "CreateAccessKey"), reply(200, "<AccessKey><AccessKeyId>AKIANEW</AccessKeyId><SecretAccessKey>x</SecretAccessKey></AccessKey>"));
        let out = h.call::<Aws>(
            json!({"op": "create", "config": config(), "current": OLD, "token": "t0k"}),
        );
        h.finish();
        assert_eq!(out["id"], "AKIANEW", "{out}");
    }

    #[test]
    fn create_refuses_to_touch_a_key_it_does_not_know() {
        let h = Harness::new()
            .expect(
                IAM,
                reply(
                    200,
                    &list(&[("AKIAOLD0000000000000", "Active"), ("AKIAHUMAN", "Active")]),
                ),
            )
            .expect(IAM, reply(200, "<Tags></Tags>"));
        let out = h.call::<Aws>(
            json!({"op": "create", "config": config(), "current": OLD, "token": "t0k"}),
        );
        h.finish();
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("AKIAHUMAN is not the one this secret holds"),
            "{out}"
        );
    }

    #[test]
    fn verify_waits_for_a_new_key_to_propagate() {
        let denied = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></ErrorResponse>";
        let who = "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/team/app</Arn></GetCallerIdentityResult>";
        let h = Harness::new().expect(STS, reply(403, denied)).expect_with(
            STS,
            |r| signed(r, "AKIAOLD0000000000000", "sts", "GetCallerIdentity"),
            reply(200, who),
        );
        let out = h.call::<Aws>(json!({"op": "verify", "config": config(), "value": OLD}));
        assert_eq!(out, json!({"ok": true}));
        assert_eq!(h.slept_ms(), vec![1000]);
        // Never accepted: no verdict ("retry"), not a rejection.
        let h = Harness::new().respond(move |_| reply(403, denied));
        let out = h.call::<Aws>(json!({"op": "verify", "config": config(), "value": OLD}));
        assert_eq!(out["retry"], true, "{out}");
        // Another user's key: a rejection.
        let h = Harness::new().expect(STS, reply(200, &who.replace("team/app", "other")));
        let out = h.call::<Aws>(json!({"op": "verify", "config": config(), "value": OLD}));
        assert!(
            out.get("retry").is_none()
                && out["error"]
                    .as_str()
                    .unwrap()
                    .contains("not to IAM user app"),
            "{out}"
        );
    }

    #[test]
    fn lease_assumes_the_role_signed_by_the_root_key() {
        let answer = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deploy/ci</Arn><AssumedRoleId>AROA:ci</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>ASIATEMP</AccessKeyId><SecretAccessKey>t/s+e&amp;c</SecretAccessKey><SessionToken>FwoGZX</SessionToken><Expiration>2026-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let h = Harness::new().expect_with(
            STS,
            |r| {
                signed(r, "AKIAOLD0000000000000", "sts", "AssumeRole");
                assert_eq!(
                    r.text(),
                    "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdeploy&RoleSessionName=ci&DurationSeconds=900"
                );
            },
            reply(200, answer),
        );
        let cfg = json!({"role_arn": "arn:aws:iam::123456789012:role/deploy", "session_name": "ci", "duration_secs": 900, "region": "eu-west-1"});
        let out = h.call::<Aws>(json!({"op": "lease", "config": cfg, "inputs": {"AWS_ROOT": OLD}}));
        h.finish();
        assert_eq!(
            out,
            json!({"values": {"AccessKeyId": "ASIATEMP", "SecretAccessKey": "t/s+e&c", "SessionToken": "FwoGZX"},
                   "expires_at": "2026-01-01T01:00:00Z", "id": "arn:aws:sts::123456789012:assumed-role/deploy/ci"})
        );
        // Two inputs and no root_input: which one is the root is not guessed.
        let h = Harness::new();
        let out =
            h.call::<Aws>(json!({"op": "lease", "config": cfg, "inputs": {"A": OLD, "B": OLD}}));
        assert!(
            out["error"].as_str().unwrap().contains("config.root_input"),
            "{out}"
        );
        assert!(Aws::info().steps.iter().any(|s| s == "lease"));
    }

    #[test]
    fn throttling_is_retried_and_gone_keys_are_revoked() {
        let throttled = "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        let h = Harness::new()
            .expect(IAM, reply(400, throttled))
            .expect_with(
                IAM,
                |r| signed(r, "AKIAOLD0000000000000", "iam", "DeleteAccessKey"),
                reply(403, "<Error><Code>InvalidClientTokenId</Code></Error>"),
            );
        let out = h.call::<Aws>(
            json!({"op": "revoke", "config": config(), "value": OLD, "id": "AKIAOLD0000000000000"}),
        );
        assert_eq!(out, json!({"ok": true}));
        h.finish();
        // With an admin: deactivate, then delete, signed by the admin.
        let admin = r#"{"Version":1,"AccessKeyId":"AKIAADMIN","SecretAccessKey":"a"}"#;
        let h = Harness::new()
            .expect_with(
                IAM,
                |r| {
                    signed(r, "AKIAADMIN", "iam", "UpdateAccessKey");
                    assert!(
                        r.text()
                            .ends_with("AccessKeyId=AKIAOLD0000000000000&Status=Inactive")
                    );
                },
                reply(200, ""),
            )
            .expect_with(
                IAM,
                |r| signed(r, "AKIAADMIN", "iam", "DeleteAccessKey"),
                reply(404, "<Error><Code>NoSuchEntity</Code></Error>"),
            );
        let mut cfg = config();
        cfg["admin_input"] = json!("AWS_ADMIN");
        let out = h.call::<Aws>(json!({"op": "revoke", "config": cfg, "inputs": {"AWS_ADMIN": admin}, "id": "AKIAOLD0000000000000"}));
        assert_eq!(out, json!({"ok": true}));
        h.finish();
    }
}
