//! The `sync` step for AWS Secrets Manager, written from its API reference
//! (JSON 1.1 protocol: `POST /` with `X-Amz-Target:
//! secretsmanager.<Action>`, SigV4 for service `secretsmanager`).
//!
//! Each gsec secret is the Secrets Manager secret `<prefix><NAME>`; gsec's
//! keyed fingerprint is its tag `gsec-fingerprint`.
//!
//! - `list`: `ListSecrets` filtered by name prefix (paged), with tags.
//!   Secrets scheduled for deletion are not listed.
//! - `put`: an absent secret is made by `CreateSecret` (value and tag at
//!   once); an existing one gets `PutSecretValue` with `VersionStages:
//!   ["AWSCURRENT"]`, then `TagResource`. Both carry gsec's token as
//!   `ClientRequestToken`, which becomes the version id: AWS ignores a
//!   repeat with the same token and value, so a put retried after a crash
//!   (gsec's journal keeps the token) makes no second version.
//! - `delete`: `DeleteSecret` with `RecoveryWindowInDays`
//!   (`config.recovery_window_days`, default 30): recoverable until then.
//!   Already gone is success.
//!
//! The signing key pair is the input secret named by
//! `config.credentials_input` (the same JSON the rotation stores).

use gsec_plugin_sdk::http::Response;
use gsec_plugin_sdk::retry::{Policy, Verdict};
use gsec_plugin_sdk::sigv4::{self, Credentials};
use gsec_plugin_sdk::sync::{Action, Entry, Outcome, Sync, Synced};
use gsec_plugin_sdk::{Error, Request, Result, Value, http, json, now_ms};

use super::{KeyPair, endpoint, region_ok};

const TAG: &str = "gsec-fingerprint";
const JSON: &str = "application/x-amz-json-1.1";

/// The sync half of the plugin's config schema.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["credentials_input"],
        "additionalProperties": false,
        "properties": {
            "credentials_input": {"type": "string", "description": "input secret holding the key pair (JSON) that signs"},
            "region": {"type": "string", "default": "us-east-1"},
            "secretsmanager_endpoint": {"type": "string", "default": "https://secretsmanager.<region>.amazonaws.com"},
            "prefix": {"type": "string", "description": "put before every name, e.g. myapp/production/"},
            "recovery_window_days": {"type": "integer", "minimum": 7, "maximum": 30, "default": 30}
        }
    })
}

struct Sm {
    creds: Credentials,
    region: String,
    url: String,
    prefix: String,
    recovery_days: u64,
}

impl Sm {
    fn new(req: &Request) -> Result<Sm> {
        let input = req.config_str("credentials_input")?;
        let pair = KeyPair::parse(req.input(input)?, &format!("input secret '{input}'"))?;
        let region = req
            .config_str_opt("region")?
            .unwrap_or("us-east-1")
            .to_string();
        if !region_ok(&region) {
            return Err(Error::new("config.region must be an AWS region name"));
        }
        let url = endpoint(
            req,
            "secretsmanager_endpoint",
            &format!("https://secretsmanager.{region}.amazonaws.com"),
        )?;
        let prefix = req.config_str_opt("prefix")?.unwrap_or("").to_string();
        // Secret names: letters, digits and /_+=.@- (Secrets Manager's set).
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
        {
            return Err(Error::new(
                "config.prefix may hold letters, digits and /_+=.@- only",
            ));
        }
        let recovery_days = req.config_u64("recovery_window_days")?.unwrap_or(30);
        if !(7..=30).contains(&recovery_days) {
            return Err(Error::new(
                "config.recovery_window_days must be 7 to 30 (Secrets Manager's range)",
            ));
        }
        Ok(Sm {
            creds: pair.creds(),
            region,
            url: format!("{url}/"),
            prefix,
            recovery_days,
        })
    }

    /// One signed call, retried on throttling and 5xx.
    fn call(&self, action: &str, body: &Value) -> Result<Response> {
        let body = body.to_string();
        let target = format!("secretsmanager.{action}");
        let headers = [("content-type", JSON), ("x-amz-target", target.as_str())];
        Policy::default().run_with(
            || {
                let signed = sigv4::sign(
                    &self.creds,
                    &self.region,
                    "secretsmanager",
                    "POST",
                    &self.url,
                    &headers,
                    body.as_bytes(),
                    now_ms(),
                )?;
                http::request(
                    "POST",
                    &self.url,
                    &signed.headers(&headers),
                    Some(body.as_bytes()),
                )
            },
            |r| match r {
                Ok(resp) if resp.is_transient() || code(resp) == "ThrottlingException" => {
                    Verdict::Retry
                }
                Err(e) if e.is_retry() => Verdict::Retry,
                _ => Verdict::Done,
            },
        )
    }
}

/// The error type of a JSON-protocol answer (`__type`, maybe prefixed
/// with a namespace and `#`).
fn code(r: &Response) -> String {
    r.json::<Value>()
        .ok()
        .and_then(|v| v["__type"].as_str().map(str::to_string))
        .map(|t| t.rsplit('#').next().unwrap_or(&t).to_string())
        .unwrap_or_default()
}

/// An error answer as one line: status, type and AWS's message (which
/// names resources, never secret values).
fn failure(r: &Response, what: &str) -> Error {
    let msg: String = r
        .json::<Value>()
        .ok()
        .and_then(|v| {
            v["message"]
                .as_str()
                .or(v["Message"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let c = code(r);
    let text = format!(
        "{what}: HTTP {} {}{}",
        r.status,
        if c.is_empty() { "(no error code)" } else { &c },
        if msg.is_empty() {
            String::new()
        } else {
            format!(": {msg}")
        }
    );
    if r.is_transient() || c == "ThrottlingException" {
        Error::retry(text)
    } else {
        Error::new(text)
    }
}

fn ok(r: Response, what: &str) -> Result<Value> {
    if (200..300).contains(&r.status) && r.body.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null) // TagResource answers with an empty body
    } else if (200..300).contains(&r.status) {
        r.json()
    } else {
        Err(failure(&r, what))
    }
}

fn list(sm: &Sm) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..1000 {
        let mut body = json!({"MaxResults": 100, "IncludePlannedDeletion": false});
        if !sm.prefix.is_empty() {
            body["Filters"] = json!([{"Key": "name", "Values": [sm.prefix]}]);
        }
        if let Some(t) = &next {
            body["NextToken"] = json!(t);
        }
        let v = ok(sm.call("ListSecrets", &body)?, "ListSecrets")?;
        for s in v["SecretList"].as_array().into_iter().flatten() {
            let Some(full) = s["Name"].as_str() else {
                continue;
            };
            // The name filter matches prefixes of words too: keep exact
            // prefix matches only.
            let Some(name) = full
                .strip_prefix(sm.prefix.as_str())
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            if s.get("DeletedDate").is_some_and(|d| !d.is_null()) {
                continue;
            }
            let fp = s["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["Key"] == TAG)
                .and_then(|t| t["Value"].as_str())
                .map(str::to_string);
            out.push(Entry {
                name: name.to_string(),
                fingerprint: fp,
                // It exists: `put` updates rather than creates.
                version: Some(json!("exists")),
            });
        }
        match v["NextToken"].as_str() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
    Err(Error::new("ListSecrets: more than 1000 pages"))
}

fn put(sm: &Sm, req: &Request, s: &Sync) -> Result<Outcome> {
    let name = format!("{}{}", sm.prefix, s.name()?);
    let value = req.value.as_deref().ok_or("sync put without a value")?;
    let fp = s
        .fingerprint
        .as_deref()
        .ok_or("sync put without a fingerprint")?;
    let token = req
        .token
        .as_deref()
        .filter(|t| (32..=64).contains(&t.len()))
        .ok_or("sync put without a 32-64 character token")?;
    if s.version.is_none() {
        let r = sm.call(
            "CreateSecret",
            &json!({"Name": name, "SecretString": value, "ClientRequestToken": token,
                    "Tags": [{"Key": TAG, "Value": fp}]}),
        )?;
        if (200..300).contains(&r.status) {
            return Ok(Outcome::Created);
        }
        // Made since the listing (or by an interrupted run): update it.
        if code(&r) != "ResourceExistsException" {
            return Err(failure(&r, &format!("CreateSecret {name}")));
        }
    }
    ok(
        sm.call(
            "PutSecretValue",
            &json!({"SecretId": name, "SecretString": value, "ClientRequestToken": token,
                    "VersionStages": ["AWSCURRENT"]}),
        )?,
        &format!("PutSecretValue {name}"),
    )?;
    ok(
        sm.call(
            "TagResource",
            &json!({"SecretId": name, "Tags": [{"Key": TAG, "Value": fp}]}),
        )?,
        &format!("TagResource {name}"),
    )?;
    Ok(Outcome::Updated)
}

fn delete(sm: &Sm, s: &Sync) -> Result<()> {
    let name = format!("{}{}", sm.prefix, s.name()?);
    let r = sm.call(
        "DeleteSecret",
        &json!({"SecretId": name, "RecoveryWindowInDays": sm.recovery_days}),
    )?;
    if (200..300).contains(&r.status) || code(&r) == "ResourceNotFoundException" {
        return Ok(());
    }
    Err(failure(&r, &format!("DeleteSecret {name}")))
}

pub fn sync(req: &Request, s: &Sync) -> Result<Synced> {
    let sm = Sm::new(req)?;
    match s.action {
        Action::List => list(&sm).map(Synced::Listed),
        Action::Put => put(&sm, req, s).map(Synced::Written),
        Action::Delete => delete(&sm, s).map(|()| Synced::Deleted),
    }
}
