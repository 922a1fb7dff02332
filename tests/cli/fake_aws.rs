//! A fake AWS (IAM and STS Query APIs, and Secrets Manager's JSON API) on
//! 127.0.0.1 for the aws plugin's tests.
//!
//! It checks what AWS checks, for real: every request's SigV4 signature is
//! recomputed here — from the request as received and the secret key the
//! test made — with a verifier written from AWS's "Create a signed AWS API
//! request" independently of the plugin SDK's signer; the credential
//! scope's date, region and service; the clock skew (15 minutes); that a
//! key is active; that a user's key manages only its own user; and IAM's
//! limit of two access keys per user (`LimitExceeded`); and `sts:AssumeRole`
//! for leases (trust policy, session name and duration rules, temporary
//! credentials with an Expiration). It keeps the keys
//! with their status so tests can assert "exactly one live credential",
//! records every call, and every problem it saw in `problems()`.
//!
//! Secrets Manager (`X-Amz-Target: secretsmanager.<Action>`, from its API
//! reference): `ListSecrets` (name-prefix filter, tags, secrets scheduled
//! for deletion hidden), `CreateSecret`, `PutSecretValue` (the
//! `ClientRequestToken` is the version id: the same token with the same
//! value is ignored, with another value refused; `AWSCURRENT` moves to the
//! new version and the old one becomes `AWSPREVIOUS`), `TagResource` and
//! `DeleteSecret` (a 7 to 30 day recovery window). It insists that every
//! write carries a token and that `PutSecretValue` stages `AWSCURRENT`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::common::{FakeServer, Incoming, Recorder, Reply};

pub const ACCOUNT: &str = "123456789012";
/// The user whose key the tests rotate, and the one that manages it.
pub const USER: &str = "app";
pub const ADMIN: &str = "gsec-admin";
pub const REGION: &str = "eu-west-1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub user: String,
    pub id: String,
    pub secret: String,
    pub active: bool,
}

impl Key {
    /// The value gsec stores: AWS's `credential_process` JSON.
    pub fn json(&self) -> String {
        serde_json::json!({"Version": 1, "AccessKeyId": self.id, "SecretAccessKey": self.secret})
            .to_string()
    }
}

/// Temporary credentials `AssumeRole` handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role_arn: String,
    pub session_name: String,
    pub duration: u64,
    /// Who signed the AssumeRole (the root key's user).
    pub by: String,
    pub access_key_id: String,
    pub secret: String,
    pub token: String,
    pub expiration: String,
}

struct State {
    /// Roles that may be assumed: ARN → the users their trust policy names.
    roles: BTreeMap<String, Vec<String>>,
    sessions: Vec<Session>,
    /// Report sessions as expiring this many seconds from now instead of
    /// after their DurationSeconds (tests of gsec's expiry handling).
    session_ttl: Option<u64>,
    keys: Vec<Key>,
    tags: BTreeMap<String, BTreeMap<String, String>>,
    rec: Recorder,
    /// Answer calls of this action with (status, code). AWS's own switch,
    /// not the recorder's: it matches the action exactly, lasts until
    /// cleared, and answers with an AWS error code.
    fail: Option<(String, u16, String)>,
    /// Keys made by `CreateAccessKey` that STS does not know yet (IAM is
    /// eventually consistent): this many more `GetCallerIdentity` calls
    /// with them get `InvalidClientTokenId`.
    unpropagated: u32,
    created: Vec<String>,
    /// Secrets Manager, by name.
    sm: BTreeMap<String, SmSecret>,
}

/// One version of a Secrets Manager secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmVersion {
    pub id: String,
    pub value: String,
    pub stages: Vec<String>,
}

/// A Secrets Manager secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmSecret {
    pub versions: Vec<SmVersion>,
    pub tags: BTreeMap<String, String>,
    /// `DeleteSecret`'s recovery window, once scheduled for deletion.
    pub deleted_days: Option<u64>,
}

impl SmSecret {
    /// The `AWSCURRENT` version's value.
    pub fn current(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == "AWSCURRENT"))
            .map(|v| v.value.as_str())
    }
}

pub struct FakeAws {
    pub url: String,
    state: Arc<Mutex<State>>,
    rec: Recorder,
    _server: FakeServer,
}

/// `calls()` (`service Action Param=value… by USER`), `count()`,
/// `problems()`. Failures are AWS's own [`FakeAws::fail`], which takes the
/// place of the recorder's.
impl std::ops::Deref for FakeAws {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

impl FakeAws {
    pub fn start() -> FakeAws {
        let rec = Recorder::default();
        let state = Arc::new(Mutex::new(State {
            roles: BTreeMap::new(),
            sessions: vec![],
            session_ttl: None,
            keys: vec![],
            tags: BTreeMap::new(),
            rec: rec.clone(),
            fail: None,
            unpropagated: 0,
            created: vec![],
            sm: BTreeMap::new(),
        }));
        let st = state.clone();
        let server = FakeServer::start("text/xml", move |r: &Incoming| {
            let (status, out) = handle(&st, &r.method, &r.url, &r.headers, &r.body);
            Reply::new(status, out)
        });
        FakeAws {
            url: server.url.clone(),
            state,
            rec,
            _server: server,
        }
    }

    /// A key made outside gsec (the credential before the first rotation,
    /// or one a human made).
    pub fn add_key(&self, user: &str) -> Key {
        let mut s = self.state.lock().unwrap();
        new_key(&mut s, user)
    }

    /// A role `user` may assume; returns its ARN.
    pub fn add_role(&self, name: &str, user: &str) -> String {
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
        let mut s = self.state.lock().unwrap();
        s.roles.entry(arn.clone()).or_default().push(user.into());
        arn
    }

    /// Every session `AssumeRole` handed out, oldest first.
    pub fn sessions(&self) -> Vec<Session> {
        self.state.lock().unwrap().sessions.clone()
    }

    /// Sessions expire `secs` from when they are made (whatever their
    /// DurationSeconds).
    pub fn session_ttl(&self, secs: u64) {
        self.state.lock().unwrap().session_ttl = Some(secs);
    }

    /// A user's keys, oldest first.
    pub fn keys(&self, user: &str) -> Vec<Key> {
        let s = self.state.lock().unwrap();
        s.keys.iter().filter(|k| k.user == user).cloned().collect()
    }

    pub fn active_keys(&self, user: &str) -> Vec<Key> {
        self.keys(user).into_iter().filter(|k| k.active).collect()
    }

    pub fn set_active(&self, id: &str, active: bool) {
        let mut s = self.state.lock().unwrap();
        if let Some(k) = s.keys.iter_mut().find(|k| k.id == id) {
            k.active = active;
        }
    }

    /// The Secrets Manager secret `name`.
    pub fn sm_secret(&self, name: &str) -> Option<SmSecret> {
        self.state.lock().unwrap().sm.get(name).cloned()
    }

    /// A Secrets Manager secret made outside gsec (no tags).
    pub fn sm_put_by_hand(&self, name: &str, value: &str) {
        self.state.lock().unwrap().sm.insert(
            name.to_string(),
            SmSecret {
                versions: vec![SmVersion {
                    id: "by-hand-0000000000000000000000000000".into(),
                    value: value.into(),
                    stages: vec!["AWSCURRENT".into()],
                }],
                ..Default::default()
            },
        );
    }

    /// Answer every call of `action` with `status` and the error `code`
    /// until [`FakeAws::clear_fail`].
    pub fn fail(&self, action: &str, status: u16, code: &str) {
        self.state.lock().unwrap().fail = Some((action.into(), status, code.into()));
    }

    /// New keys are refused by STS for the next `n` calls.
    pub fn propagation_delay(&self, n: u32) {
        self.state.lock().unwrap().unpropagated = n;
    }

    pub fn clear_fail(&self) {
        self.state.lock().unwrap().fail = None;
    }

    /// An IAM call signed by `key` straight from the test (SigV4 computed
    /// with this file's verifier): `(status, body)`.
    pub fn call_as(&self, key: &Key, params: &[(&str, &str)]) -> (u16, String) {
        let body: String = params
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let amz_date = format_amz_date(now);
        let host = self.url.trim_start_matches("http://").to_string();
        let ct = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = vec![
            ("content-type".to_string(), ct.to_string()),
            ("host".to_string(), host),
            ("x-amz-date".to_string(), amz_date.clone()),
        ];
        let mut a = Authorization {
            key_id: key.id.clone(),
            date: amz_date[..8].to_string(),
            region: "us-east-1".into(),
            service: "iam".into(),
            signed_headers: vec!["content-type".into(), "host".into(), "x-amz-date".into()],
            signature: String::new(),
        };
        a.signature = signature(
            &key.secret,
            &a,
            "POST",
            "/",
            &headers,
            body.as_bytes(),
            &amz_date,
        )
        .unwrap();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={}",
            key.id, a.date, a.signature
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .post(&format!("{}/", self.url))
            .header("content-type", ct)
            .header("x-amz-date", &amz_date)
            .header("authorization", &auth)
            .send(body.as_bytes())
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }
}

fn random_string(n: usize, abc: &[u8]) -> String {
    use rand::Rng;
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| abc[r.gen_range(0..abc.len())] as char)
        .collect()
}

fn new_key(s: &mut State, user: &str) -> Key {
    let k = Key {
        user: user.into(),
        id: format!(
            "AKIA{}",
            random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        ),
        // Real secret keys are 40 characters of base64: '/' and '+' included.
        secret: random_string(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        ),
        active: true,
    };
    s.keys.push(k.clone());
    k
}

fn error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>0b6c7f1d-fake</RequestId></ErrorResponse>",
            xml_escape(message)
        ),
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn ok(action: &str, ns: &str, result: &str) -> (u16, String) {
    (
        200,
        format!(
            "<?xml version=\"1.0\"?>\n<{action}Response xmlns=\"{ns}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>7a62c49f-fake</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// `%XX` decoded, `+` as a space (application/x-www-form-urlencoded).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(
    st: &Mutex<State>,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = st.lock().unwrap();
    let header = |n: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    if let Some(target) = header("x-amz-target").into_iter().next() {
        return secrets_manager(&mut s, method, url, headers, body, &target);
    }
    let text = String::from_utf8_lossy(body).into_owned();
    let params: BTreeMap<String, String> = text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    if method != "POST" || !url.starts_with('/') {
        s.rec
            .problem(format!("{method} {url}: not a Query API POST"));
        return error(400, "InvalidAction", "expected POST /");
    }
    if header("content-type").first().map(String::as_str)
        != Some("application/x-www-form-urlencoded; charset=utf-8")
    {
        s.rec.problem(format!("{action}: wrong content-type"));
    }

    // ---- authentication: SigV4, verified from the spec ----
    let auth = header("authorization")
        .into_iter()
        .next()
        .unwrap_or_default();
    let parsed = match parse_authorization(&auth) {
        Some(p) => p,
        None => {
            s.rec
                .problem(format!("{action}: no SigV4 Authorization header"));
            return error(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            );
        }
    };
    let Some(key) = s.keys.iter().find(|k| k.id == parsed.key_id).cloned() else {
        return error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        );
    };
    if !key.active {
        return error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        );
    }
    let amz_date = header("x-amz-date").into_iter().next().unwrap_or_default();
    let service = match action.as_str() {
        "GetCallerIdentity" | "AssumeRole" => "sts",
        _ => "iam",
    };
    let want_region = if service == "sts" {
        REGION
    } else {
        "us-east-1"
    };
    if let Err(e) = check_scope(&parsed, &amz_date, service, want_region) {
        s.rec.problem(format!("{action}: {e}"));
        return error(403, "SignatureDoesNotMatch", &e);
    }
    let expected = signature(&key.secret, &parsed, method, url, headers, body, &amz_date);
    match expected {
        Ok(sig) if sig == parsed.signature => {}
        Ok(_) => {
            s.rec
                .problem(format!("{action}: signature does not verify"));
            return error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            );
        }
        Err(e) => {
            s.rec.problem(format!("{action}: {e}"));
            return error(403, "SignatureDoesNotMatch", &e);
        }
    }

    let mut line = format!("{service} {action}");
    for (k, v) in &params {
        if k != "Action" && k != "Version" {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    line.push_str(&format!(" by {}", key.user));
    s.rec.record(line);
    let version = params.get("Version").map(String::as_str);
    let want_version = if service == "sts" {
        "2011-06-15"
    } else {
        "2010-05-08"
    };
    if version != Some(want_version) {
        s.rec.problem(format!("{action}: Version {version:?}"));
        return error(400, "InvalidParameterValue", "bad Version");
    }
    if let Some((a, status, code)) = &s.fail
        && *a == action
    {
        return error(*status, code, "injected failure");
    }

    if action == "GetCallerIdentity" {
        if s.unpropagated > 0 && s.created.contains(&key.id) {
            s.unpropagated -= 1;
            return error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            );
        }
        return ok(
            "GetCallerIdentity",
            STS_NS,
            &format!(
                "<Arn>arn:aws:iam::{ACCOUNT}:user/{}</Arn><UserId>AIDAFAKE{}</UserId><Account>{ACCOUNT}</Account>",
                key.user,
                key.user.len()
            ),
        );
    }

    if action == "AssumeRole" {
        return assume_role(&mut s, &params, &key);
    }

    // ---- IAM: who may manage whose keys ----
    let user = params.get("UserName").cloned().unwrap_or(key.user.clone());
    if key.user != ADMIN && user != key.user {
        return error(
            403,
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::{ACCOUNT}:user/{} is not authorized to perform: iam:{action} on resource: user {user}",
                key.user
            ),
        );
    }
    let owned = |s: &State, id: &str| s.keys.iter().position(|k| k.id == id && k.user == user);
    match action.as_str() {
        "ListAccessKeys" => {
            let members: String = s
                .keys
                .iter()
                .filter(|k| k.user == user)
                .map(|k| {
                    format!(
                        "<member><UserName>{user}</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status><CreateDate>2026-01-01T00:00:00Z</CreateDate></member>",
                        k.id,
                        if k.active { "Active" } else { "Inactive" }
                    )
                })
                .collect();
            ok(
                "ListAccessKeys",
                IAM_NS,
                &format!(
                    "<UserName>{user}</UserName><AccessKeyMetadata>{members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>"
                ),
            )
        }
        "CreateAccessKey" => {
            if s.keys.iter().filter(|k| k.user == user).count() >= 2 {
                s.rec.problem("CreateAccessKey past the two-key limit");
                return error(
                    409,
                    "LimitExceeded",
                    "Cannot exceed quota for AccessKeysPerUser: 2",
                );
            }
            let k = new_key(&mut s, &user);
            s.created.push(k.id.clone());
            ok(
                "CreateAccessKey",
                IAM_NS,
                &format!(
                    "<AccessKey><UserName>{user}</UserName><AccessKeyId>{}</AccessKeyId><Status>Active</Status><SecretAccessKey>{}</SecretAccessKey><CreateDate>2026-01-01T00:00:00Z</CreateDate></AccessKey>",
                    k.id,
                    xml_escape(&k.secret)
                ),
            )
        }
        "UpdateAccessKey" => {
            let id = params.get("AccessKeyId").cloned().unwrap_or_default();
            let active = match params.get("Status").map(String::as_str) {
                Some("Active") => true,
                Some("Inactive") => false,
                _ => return error(400, "ValidationError", "Status must be Active or Inactive"),
            };
            match owned(&s, &id) {
                Some(i) => {
                    s.keys[i].active = active;
                    ok("UpdateAccessKey", IAM_NS, "")
                }
                None => error(
                    404,
                    "NoSuchEntity",
                    &format!("The Access Key with id {id} cannot be found."),
                ),
            }
        }
        "DeleteAccessKey" => {
            let id = params.get("AccessKeyId").cloned().unwrap_or_default();
            match owned(&s, &id) {
                Some(i) => {
                    s.keys.remove(i);
                    ok("DeleteAccessKey", IAM_NS, "")
                }
                None => error(
                    404,
                    "NoSuchEntity",
                    &format!("The Access Key with id {id} cannot be found."),
                ),
            }
        }
        "TagUser" => {
            let mut n = 1;
            while let Some(k) = params.get(&format!("Tags.member.{n}.Key")) {
                let v = params
                    .get(&format!("Tags.member.{n}.Value"))
                    .cloned()
                    .unwrap_or_default();
                let ok_chars = |t: &str| {
                    t.chars()
                        .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c))
                };
                if !ok_chars(k) || !ok_chars(&v) || v.len() > 256 {
                    s.rec.problem(format!("TagUser: invalid tag {k}"));
                    return error(
                        400,
                        "InvalidInput",
                        "tag values may contain letters, digits, spaces and _.:/=+-@",
                    );
                }
                s.tags.entry(user.clone()).or_default().insert(k.clone(), v);
                n += 1;
            }
            ok("TagUser", IAM_NS, "")
        }
        "ListUserTags" => {
            let members: String = s
                .tags
                .get(&user)
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| format!("<member><Key>{k}</Key><Value>{v}</Value></member>"))
                        .collect()
                })
                .unwrap_or_default();
            ok(
                "ListUserTags",
                IAM_NS,
                &format!("<Tags>{members}</Tags><IsTruncated>false</IsTruncated>"),
            )
        }
        _ => error(
            400,
            "InvalidAction",
            &format!("Could not find operation {action}"),
        ),
    }
}

/// `sts:AssumeRole` as AWS documents it: RoleArn of a role whose trust
/// policy names the caller, RoleSessionName of 2 to 64 `[\w+=,.@-]`,
/// DurationSeconds from 900 to 43200 (default 3600); the answer carries
/// new temporary credentials and their Expiration.
fn assume_role(s: &mut State, params: &BTreeMap<String, String>, key: &Key) -> (u16, String) {
    let arn = params.get("RoleArn").cloned().unwrap_or_default();
    let name = params.get("RoleSessionName").cloned().unwrap_or_default();
    let duration: u64 = match params.get("DurationSeconds") {
        None => 3600,
        Some(d) => match d.parse() {
            Ok(n) if (900..=43_200).contains(&n) => n,
            _ => {
                s.rec.problem(format!("AssumeRole: DurationSeconds {d}"));
                return error(400, "ValidationError", "DurationSeconds out of range");
            }
        },
    };
    if !(2..=64).contains(&name.len())
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    {
        s.rec
            .problem(format!("AssumeRole: RoleSessionName {name:?}"));
        return error(400, "ValidationError", "invalid RoleSessionName");
    }
    if !s.roles.get(&arn).is_some_and(|u| u.contains(&key.user)) {
        return error(
            403,
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::{ACCOUNT}:user/{} is not authorized to perform: sts:AssumeRole on resource: {arn}",
                key.user
            ),
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ttl = s.session_ttl.unwrap_or(duration) as i64;
    let d = format_amz_date(now + ttl);
    let expiration = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    );
    let session = Session {
        role_arn: arn.clone(),
        session_name: name.clone(),
        duration,
        by: key.user.clone(),
        access_key_id: format!(
            "ASIA{}",
            random_string(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        ),
        secret: random_string(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        ),
        token: random_string(
            120,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        ),
        expiration: expiration.clone(),
    };
    s.sessions.push(session.clone());
    let role = arn.rsplit('/').next().unwrap_or_default();
    ok(
        "AssumeRole",
        STS_NS,
        &format!(
            "<AssumedRoleUser><Arn>arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}</Arn><AssumedRoleId>AROAFAKE:{name}</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{expiration}</Expiration></Credentials><PackedPolicySize>6</PackedPolicySize>",
            session.access_key_id,
            xml_escape(&session.secret),
            xml_escape(&session.token)
        ),
    )
}

pub struct Authorization {
    pub key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=hex`
fn sm_error(code: &str, message: &str) -> (u16, String) {
    (
        400,
        serde_json::json!({"__type": code, "message": message}).to_string(),
    )
}

/// Secrets Manager's JSON 1.1 API: SigV4 checked as for IAM (service
/// `secretsmanager`, region [`REGION`], `x-amz-target` signed too).
fn secrets_manager(
    s: &mut State,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    target: &str,
) -> (u16, String) {
    use serde_json::{Value, json};
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let Some(action) = target.strip_prefix("secretsmanager.").map(str::to_string) else {
        s.rec.problem(format!("unknown X-Amz-Target {target}"));
        return sm_error("UnknownOperationException", "unknown target");
    };
    if method != "POST" || url != "/" {
        s.rec
            .problem(format!("{action}: {method} {url}, not POST /"));
    }
    if header("content-type") != "application/x-amz-json-1.1" {
        s.rec.problem(format!("{action}: wrong content-type"));
    }
    let Some(parsed) = parse_authorization(&header("authorization")) else {
        s.rec
            .problem(format!("{action}: no SigV4 Authorization header"));
        return sm_error(
            "MissingAuthenticationTokenException",
            "missing authentication",
        );
    };
    let Some(key) = s
        .keys
        .iter()
        .find(|k| k.id == parsed.key_id && k.active)
        .cloned()
    else {
        return sm_error(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        );
    };
    let amz_date = header("x-amz-date");
    let scope = check_scope(&parsed, &amz_date, "secretsmanager", REGION).and_then(|()| {
        if parsed.signed_headers.iter().any(|h| h == "x-amz-target") {
            Ok(())
        } else {
            Err("x-amz-target is not signed".to_string())
        }
    });
    if let Err(e) = scope {
        s.rec.problem(format!("{action}: {e}"));
        return sm_error("InvalidSignatureException", &e);
    }
    match signature(&key.secret, &parsed, method, url, headers, body, &amz_date) {
        Ok(sig) if sig == parsed.signature => {}
        _ => {
            s.rec
                .problem(format!("{action}: signature does not verify"));
            return sm_error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            );
        }
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        s.rec.problem(format!("{action}: body is not JSON"));
        return sm_error("SerializationException", "bad JSON");
    };
    let id = req["SecretId"]
        .as_str()
        .or(req["Name"].as_str())
        .unwrap_or("")
        .to_string();
    s.rec
        .record(format!("secretsmanager {action} {id} by {}", key.user));
    if let Some((a, status, code)) = &s.fail
        && *a == action
    {
        return (
            *status,
            json!({"__type": code, "message": "injected failure"}).to_string(),
        );
    }
    let token = req["ClientRequestToken"].as_str().map(str::to_string);
    let value = req["SecretString"].as_str().map(str::to_string);
    let tags = |v: &Value| -> BTreeMap<String, String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some((
                    t["Key"].as_str()?.to_string(),
                    t["Value"].as_str()?.to_string(),
                ))
            })
            .collect()
    };
    let arn = |n: &str| format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{n}-AbCdEf");
    match action.as_str() {
        "ListSecrets" => {
            let prefixes: Vec<String> = req["Filters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["Key"] == "name")
                .flat_map(|f| f["Values"].as_array().cloned().unwrap_or_default())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let planned = req["IncludePlannedDeletion"].as_bool() == Some(true);
            let list: Vec<Value> =
                s.sm.iter()
                    .filter(|(n, _)| {
                        prefixes.is_empty() || prefixes.iter().any(|p| n.starts_with(p.as_str()))
                    })
                    .filter(|(_, x)| planned || x.deleted_days.is_none())
                    .map(|(n, x)| {
                        let tags: Vec<Value> = x
                            .tags
                            .iter()
                            .map(|(k, v)| json!({"Key": k, "Value": v}))
                            .collect();
                        json!({"Name": n, "ARN": arn(n), "Tags": tags})
                    })
                    .collect();
            (200, json!({"SecretList": list}).to_string())
        }
        "CreateSecret" => {
            let (Some(token), Some(value)) = (token, value) else {
                s.rec.problem(format!(
                    "CreateSecret {id}: no ClientRequestToken or SecretString"
                ));
                return sm_error("InvalidParameterException", "missing parameter");
            };
            if s.sm.contains_key(&id) {
                return sm_error(
                    "ResourceExistsException",
                    &format!("The operation failed because the secret {id} already exists."),
                );
            }
            s.sm.insert(
                id.clone(),
                SmSecret {
                    versions: vec![SmVersion {
                        id: token.clone(),
                        value,
                        stages: vec!["AWSCURRENT".into()],
                    }],
                    tags: tags(&req["Tags"]),
                    deleted_days: None,
                },
            );
            (
                200,
                json!({"ARN": arn(&id), "Name": id, "VersionId": token}).to_string(),
            )
        }
        "PutSecretValue" => {
            let (Some(token), Some(value)) = (token, value) else {
                s.rec.problem(format!(
                    "PutSecretValue {id}: no ClientRequestToken or SecretString"
                ));
                return sm_error("InvalidParameterException", "missing parameter");
            };
            let stages: Vec<String> = req["VersionStages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if !stages.iter().any(|x| x == "AWSCURRENT") {
                s.rec.problem(format!(
                    "PutSecretValue {id}: VersionStages {stages:?} without AWSCURRENT"
                ));
            }
            let Some(sec) = s.sm.get_mut(&id) else {
                return sm_error(
                    "ResourceNotFoundException",
                    "Secrets Manager can't find the specified secret.",
                );
            };
            if sec.deleted_days.is_some() {
                return sm_error(
                    "InvalidRequestException",
                    "the secret is scheduled for deletion",
                );
            }
            if let Some(v) = sec.versions.iter().find(|v| v.id == token) {
                if v.value == value {
                    // The same token and value: a retry, ignored.
                    return (200, json!({"ARN": arn(&id), "Name": id, "VersionId": token, "VersionStages": v.stages}).to_string());
                }
                return sm_error(
                    "ResourceExistsException",
                    "a version with this ClientRequestToken already exists with another value",
                );
            }
            for v in &mut sec.versions {
                v.stages.retain(|x| x != "AWSPREVIOUS");
                if let Some(i) = v.stages.iter().position(|x| x == "AWSCURRENT")
                    && stages.iter().any(|x| x == "AWSCURRENT")
                {
                    v.stages[i] = "AWSPREVIOUS".into();
                }
            }
            sec.versions.push(SmVersion {
                id: token.clone(),
                value,
                stages: stages.clone(),
            });
            (
                200,
                json!({"ARN": arn(&id), "Name": id, "VersionId": token, "VersionStages": stages})
                    .to_string(),
            )
        }
        "TagResource" => match s.sm.get_mut(&id) {
            None => sm_error(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
            ),
            Some(sec) => {
                sec.tags.extend(tags(&req["Tags"]));
                (200, String::new())
            }
        },
        "DeleteSecret" => {
            let days = req["RecoveryWindowInDays"].as_u64().unwrap_or(30);
            if !(7..=30).contains(&days) {
                return sm_error(
                    "InvalidParameterException",
                    "RecoveryWindowInDays must be 7 to 30",
                );
            }
            match s.sm.get_mut(&id) {
                None => sm_error(
                    "ResourceNotFoundException",
                    "Secrets Manager can't find the specified secret.",
                ),
                Some(sec) => {
                    sec.deleted_days = Some(days);
                    (
                        200,
                        json!({"ARN": arn(&id), "Name": id, "DeletionDate": 1.8e9}).to_string(),
                    )
                }
            }
        }
        other => {
            s.rec
                .problem(format!("unsupported Secrets Manager action {other}"));
            sm_error("UnknownOperationException", "unsupported")
        }
    }
}

pub fn parse_authorization(h: &str) -> Option<Authorization> {
    let rest = h.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => return None,
        }
    }
    let c: Vec<&str> = cred?.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = c.as_slice() else {
        return None;
    };
    Some(Authorization {
        key_id: key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed?.split(';').map(str::to_string).collect(),
        signature: sig?.to_string(),
    })
}

fn check_scope(
    a: &Authorization,
    amz_date: &str,
    service: &str,
    region: &str,
) -> Result<(), String> {
    if a.service != service || a.region != region {
        return Err(format!(
            "credential scope {}/{} should be {region}/{service}",
            a.region, a.service
        ));
    }
    if amz_date.len() != 16 || !amz_date.starts_with(&a.date) {
        return Err("x-amz-date does not match the credential scope's date".into());
    }
    for must in ["host", "x-amz-date"] {
        if !a.signed_headers.iter().any(|h| h == must) {
            return Err(format!("{must} is not signed"));
        }
    }
    // AWS refuses requests signed more than 15 minutes away from its clock.
    let t = parse_amz_date(amz_date).ok_or("bad x-amz-date")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (t - now).abs() > 15 * 60 {
        return Err("Signature expired or not yet valid (more than 15 minutes of skew)".into());
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` to Unix seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (hh, mm, ss) = (n(9..11)?, n(11..13)?, n(13..15)?);
    // Days from civil (proleptic Gregorian).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Unix seconds to `YYYYMMDDTHHMMSSZ`.
fn format_amz_date(t: i64) -> String {
    let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// HMAC-SHA256, RFC 2104.
pub fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// AWS's UriEncode (unreserved bytes kept, the rest `%XX`).
fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The signature the request should carry, recomputed from what arrived:
/// the canonical request (method, URI, query, the signed headers' values as
/// received, the body's hash), the string to sign, the derived key.
fn signature(
    secret: &str,
    a: &Authorization,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    amz_date: &str,
) -> Result<String, String> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let uri: String = path
        .split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/");
    let mut q: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&form_decode(k)), uri_encode(&form_decode(v)))
        })
        .collect();
    q.sort();
    let q: Vec<String> = q.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut canon_headers = String::new();
    for name in &a.signed_headers {
        let values: Vec<String> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(format!("signed header {name} is missing"));
        }
        canon_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let creq = format!(
        "{method}\n{uri}\n{}\n{canon_headers}\n{}\n{}",
        q.join("&"),
        a.signed_headers.join(";"),
        hex(&Sha256::digest(body))
    );
    let scope = format!("{}/{}/{}/aws4_request", a.date, a.region, a.service);
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), a.date.as_bytes());
    let k = hmac(&k, a.region.as_bytes());
    let k = hmac(&k, a.service.as_bytes());
    let k = hmac(&k, b"aws4_request");
    Ok(hex(&hmac(&k, sts.as_bytes())))
}

/// The verifier itself against AWS's documented example (IAM `ListUsers`,
/// 2015-08-30T12:36:00Z), so the fake cannot agree with a wrong signer.
#[test]
fn fake_aws_verifier_matches_the_documented_example() {
    let a = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    )
    .unwrap();
    let headers = vec![
        ("Host".to_string(), "iam.amazonaws.com".to_string()),
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
        ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
    ];
    let sig = signature(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        &a,
        "GET",
        "/?Action=ListUsers&Version=2010-05-08",
        &headers,
        b"",
        "20150830T123600Z",
    )
    .unwrap();
    assert_eq!(sig, a.signature);
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
    assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
}
