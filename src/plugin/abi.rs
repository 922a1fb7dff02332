//! The plugin ABI's messages, host side. `docs/plugins.md` is the one place
//! the ABI is specified; these types are its serde form, and the SDK
//! (`plugins/sdk`) is the guest side.
//!
//! A plugin is a core wasm module exporting `memory`,
//! `gsec_abi_version() -> i32`, `gsec_alloc(len: i32) -> i32` and
//! `gsec_call(ptr: i32, len: i32) -> i64`; each call takes one JSON request
//! (`{"op": …}`) and returns one JSON response (`{"error": "…"}` on failure).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The ABI version this host speaks. Bump it on any incompatible change
/// to the exports, imports or messages; a plugin built for another version
/// is refused before any of its code runs.
pub const ABI_VERSION: i32 = 1;

/// The only imports a plugin may have, all in module `gsec`.
pub const IMPORT_MODULE: &str = "gsec";
pub const IMPORTS: [&str; 4] = ["http", "random", "now", "log"];

/// `info`: who the plugin is and what it needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub abi: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Hosts it may call over HTTP (`api.example.com`, an origin
    /// `https://host:port`, or `*` = whatever the user grants).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// JSON Schema of `rotation.config`.
    #[serde(default = "object_schema")]
    pub config_schema: Value,
    /// The steps the plugin implements: rotation's `create`, `verify` and
    /// `revoke`, `lease` (mint a short-lived credential), `sync` (push to a
    /// secret manager). Absent in plugins built before the list existed:
    /// those implement the rotation steps only. gsec calls no step that is
    /// not listed.
    #[serde(default = "rotation_steps")]
    pub steps: Vec<String>,
}

impl Info {
    /// What gsec prints must be printable: a plugin's name, version and
    /// hosts end up on terminals, so they are short and free of control
    /// characters (escape sequences could forge or hide output).
    pub fn check(&self) -> Result<(), String> {
        let field = |what: &str, v: &str, max: usize| {
            if printable(v, max) {
                Ok(())
            } else {
                Err(format!(
                    "info.{what} must be 1 to {max} printable characters"
                ))
            }
        };
        field("name", &self.name, 64)?;
        field("version", &self.version, 64)?;
        if self.description.chars().count() > 500 || self.description.chars().any(char::is_control)
        {
            return Err("info.description must be at most 500 printable characters".into());
        }
        if self.hosts.len() > 64 {
            return Err("info.hosts: at most 64 entries".into());
        }
        for h in &self.hosts {
            field("hosts", h, 255)?;
        }
        if self.steps.len() > 32 {
            return Err("info.steps: at most 32 entries".into());
        }
        for s in &self.steps {
            field("steps", s, 32)?;
        }
        Ok(())
    }

    /// Does the plugin implement `op` (`info` always; any other step when
    /// `info.steps` lists it)?
    pub fn supports(&self, op: Op) -> bool {
        op == Op::Info || self.steps.iter().any(|s| s == op.as_str())
    }
}

/// What a plugin that does not list its steps implements.
fn rotation_steps() -> Vec<String> {
    ["create", "verify", "revoke"].map(String::from).to_vec()
}

fn object_schema() -> Value {
    serde_json::json!({"type": "object"})
}

/// The request of a `create`, `verify` or `revoke` step. Which optional
/// fields are set depends on the step (see `docs/plugins.md`). Secret
/// values are zeroized on drop and never printed by `Debug`.
#[derive(Clone, Default, Serialize)]
pub struct StepRequest {
    /// `rotation.config` from `.gsec.yaml`.
    pub config: Map<String, Value>,
    /// Values of the secrets named in `rotation.inputs`.
    #[serde(serialize_with = "ser_map")]
    pub inputs: IndexMap<String, Zeroizing<String>>,
    /// `create`: the value being replaced.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt")]
    pub current: Option<Zeroizing<String>>,
    /// `verify`: the new value; `revoke`: the old one.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt")]
    pub value: Option<Zeroizing<String>>,
    /// What `create` returned as `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// `revoke`: the provider's id of the credential to retire; `create`:
    /// the id of the credential being replaced, when the journal has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The rotation's idempotency token: the same on every retry of one
    /// rotation (after a crash), different for the next rotation. A plugin
    /// that creates credentials names or tags them with it, so a retried
    /// `create` finds what an interrupted one made instead of adding a
    /// second live credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for StepRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepRequest")
            .field("config", &self.config)
            .field("inputs", &self.inputs.keys().collect::<Vec<_>>())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl StepRequest {
    /// Every secret this request carries, for redacting plugin log lines.
    pub(crate) fn secrets(&self) -> Vec<Zeroizing<String>> {
        let mut v: Vec<Zeroizing<String>> = self.inputs.values().cloned().collect();
        v.extend(self.current.iter().cloned());
        v.extend(self.value.iter().cloned());
        v
    }
}

/// What `create` returns.
#[derive(Clone, Deserialize)]
pub struct Created {
    /// The new secret value.
    #[serde(deserialize_with = "de_secret")]
    pub value: Zeroizing<String>,
    /// Anything the plugin wants back in `verify`/`revoke`.
    #[serde(default)]
    pub state: Option<Value>,
    /// The provider's identifier of the new credential.
    #[serde(default)]
    pub id: Option<String>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("value", &"[REDACTED]")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

// Zeroizing<String> has no serde impls without zeroize's `serde` feature;
// these keep the values in zeroizing buffers on both sides of JSON.
pub(super) fn ser_map<S: serde::Serializer>(
    m: &IndexMap<String, Zeroizing<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut out = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        out.serialize_entry(k, v.as_str())?;
    }
    out.end()
}

pub(super) fn ser_opt<S: serde::Serializer>(
    v: &Option<Zeroizing<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(v.as_str()),
        None => s.serialize_none(),
    }
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

/// The operations of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Info,
    Create,
    Verify,
    Revoke,
    /// Mint a short-lived credential (`lease:` secrets).
    Lease,
    /// Push secrets to an external secret manager (`plugin::sync_step`).
    Sync,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Info => "info",
            Op::Create => "create",
            Op::Verify => "verify",
            Op::Revoke => "revoke",
            Op::Lease => "lease",
            Op::Sync => "sync",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        [
            Op::Info,
            Op::Create,
            Op::Verify,
            Op::Revoke,
            Op::Lease,
            Op::Sync,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

// ---- the optional `lease` step ---------------------------------------------
//
// Request: a [`StepRequest`] with `config` (`lease.config`) and `inputs`
// (the values of `lease.inputs`, the root credentials). Response:
// [`Leased`]. Nothing of a lease is ever stored by gsec.

/// What `lease` returns: a short-lived credential as named fields (an AWS
/// session is three: `AccessKeyId`, `SecretAccessKey`, `SessionToken`),
/// when it expires, and the provider's id for it. Every field value is a
/// secret: zeroized on drop, never shown by `Debug`.
#[derive(Clone, Deserialize)]
pub struct Leased {
    /// Field name → secret value; at least one.
    #[serde(deserialize_with = "de_secret_map")]
    pub values: IndexMap<String, Zeroizing<String>>,
    /// RFC 3339 time after which the provider refuses the credential.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The provider's identifier of the lease (for messages only).
    #[serde(default)]
    pub id: Option<String>,
}

/// 1 to `max` characters, none of them a control character: what a
/// plugin says that gsec prints (names, versions, hosts, lease fields).
pub fn printable(v: &str, max: usize) -> bool {
    !v.is_empty() && v.chars().count() <= max && !v.chars().any(char::is_control)
}

impl Leased {
    /// What gsec relies on and prints: at least one field, no empty value,
    /// and field names, id and expiry that are short and printable (they
    /// appear in messages and map to environment variables).
    pub fn check(&self) -> Result<(), String> {
        if self.values.is_empty() || self.values.values().any(|v| v.is_empty()) {
            return Err("'lease' returned no value, or an empty one".into());
        }
        if self.values.keys().any(|k| !printable(k, 64)) {
            return Err("'lease' field names must be 1 to 64 printable characters".into());
        }
        if self.id.as_deref().is_some_and(|v| !printable(v, 255)) {
            return Err("'lease' id must be 1 to 255 printable characters".into());
        }
        if self
            .expires_at
            .as_deref()
            .is_some_and(|v| !printable(v, 64))
        {
            return Err("'lease' expires_at must be 1 to 64 printable characters".into());
        }
        Ok(())
    }
}

impl std::fmt::Debug for Leased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leased")
            .field("fields", &self.values.keys().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .field("id", &self.id)
            .finish()
    }
}

fn de_secret_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, Zeroizing<String>>, D::Error> {
    let m = IndexMap::<String, String>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, Zeroizing::new(v))).collect())
}

/// The `http` import's request, as the guest sends it. Headers and body
/// carry credentials: `Debug` shows only the method, URL and header names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Base64 (standard alphabet, padded).
    #[serde(default)]
    pub body: Option<String>,
}

/// The `http` import's response: either `status`/`headers`/`body`, or
/// `error` for a transport failure (refused, timeout, DNS). `Debug` shows
/// the status, header names, body length and error, never their values.
#[derive(Serialize)]
pub struct HttpResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.as_ref().map(String::len))
            .finish()
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.as_ref().map(String::len))
            .field("error", &self.error)
            .finish()
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn info_without_steps_is_a_rotation_plugin_and_steps_list_the_rest() {
        // What plugins built before `steps` existed send.
        let old: Info =
            serde_json::from_str(r#"{"name":"random","version":"0.1.0","abi":1,"hosts":[]}"#)
                .unwrap();
        assert!(old.check().is_ok());
        for op in [Op::Info, Op::Create, Op::Verify, Op::Revoke] {
            assert!(old.supports(op));
        }
        assert!(!old.supports(Op::Lease) && !old.supports(Op::Sync));
        let new: Info = serde_json::from_str(
            r#"{"name":"aws","version":"0.2.0","abi":1,"steps":["lease","future-step"]}"#,
        )
        .unwrap();
        assert!(new.supports(Op::Lease) && new.check().is_ok());
        assert!(!new.supports(Op::Create), "a listed set is the whole set");
        let bad = Info {
            steps: vec!["le\u{1b}[2Jase".into()],
            ..new
        };
        assert!(bad.check().is_err(), "steps are shown: printable only");
    }

    #[test]
    fn leased_fields_id_and_expiry_must_be_printable() {
        let l = |json: &str| serde_json::from_str::<Leased>(json).unwrap().check();
        assert!(
            l(r#"{"values":{"token":"v"},"id":"i","expires_at":"2030-01-01T00:00:00Z"}"#).is_ok()
        );
        assert!(l(r#"{"values":{}}"#).is_err());
        assert!(l(r#"{"values":{"token":""}}"#).is_err());
        assert!(l(r#"{"values":{"to\u001b[2Jken":"v"}}"#).is_err());
        assert!(l(r#"{"values":{"":"v"}}"#).is_err());
        assert!(l(r#"{"values":{"token":"v"},"id":"a\nb"}"#).is_err());
        assert!(l(r#"{"values":{"token":"v"},"expires_at":"\u0007"}"#).is_err());
    }

    #[test]
    fn leased_debug_shows_field_names_only() {
        let l: Leased = serde_json::from_str(
            r#"{"values":{"token":"ghs_secretvalue"},"expires_at":"2030-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let shown = format!("{l:?}");
        assert!(
            shown.contains("token") && !shown.contains("ghs_secretvalue"),
            "{shown}"
        );
    }

    #[test]
    fn http_messages_debug_without_credentials() {
        let mut headers = IndexMap::new();
        headers.insert(
            "Authorization".to_string(),
            "Bearer ghp_secretvalue".to_string(),
        );
        let req = HttpRequest {
            method: "POST".into(),
            url: "https://api.example.com/x".into(),
            headers: headers.clone(),
            body: Some("c2VjcmV0LWJvZHk=".into()),
        };
        let resp = HttpResponse {
            status: Some(200),
            headers,
            body: Some("c2VjcmV0LWJvZHk=".into()),
            error: None,
        };
        for shown in [format!("{req:?}"), format!("{resp:?}")] {
            assert!(shown.contains("Authorization"), "{shown}");
            assert!(
                !shown.contains("ghp_secretvalue") && !shown.contains("c2VjcmV0"),
                "{shown}"
            );
        }
    }
}
