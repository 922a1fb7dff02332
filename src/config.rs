//! `.gsec.yaml`: the project configuration, its types, validation and JSON
//! Schema.
//!
//! The schema in `schemas/gsec.schema.json` is generated from these types
//! (a test fails when they drift), so editors can validate the file and the
//! binary and the schema can never disagree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::Recipient;

pub const FILE_NAME: &str = ".gsec.yaml";
pub const LOCAL_FILE_NAME: &str = ".gsec.local.yaml";

/// gsec project configuration (`.gsec.yaml` at the repository root).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Configuration format version. Always 1.
    #[serde(default = "one")]
    pub version: u32,
    /// Named recipient groups. Each member is an `age1…` public key, an
    /// `age1NAME1…` age-plugin recipient (a hardware token or KMS key,
    /// wrapped by `age-plugin-NAME` on PATH) or an `ssh-ed25519`/`ssh-rsa`
    /// public key.
    #[serde(default)]
    pub recipients: IndexMap<String, Vec<String>>,
    /// Environments, each with its own encrypted file and recipients.
    pub environments: IndexMap<String, Environment>,
    /// Which secret names are accepted: `env` (default), `rfc1123`, `any`.
    #[serde(default, skip_serializing_if = "Naming::is_default")]
    pub naming: Naming,
    /// The environment commands use when neither `--env` nor `GSEC_ENV`
    /// names one. Default: `development`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_env: Option<String>,
    /// Declared secrets: what they are for, where they are required, how
    /// they are exported and rotated.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, SecretDecl>,
    /// Template files (paths relative to the project root) that use secrets:
    /// `gsec check` validates their placeholders and `gsec rm` refuses to
    /// delete a secret they use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
    /// Leak-scanner settings.
    #[serde(default, skip_serializing_if = "ScanConfig::is_default")]
    pub scan: ScanConfig,
    /// Rotation plugins, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub plugins: IndexMap<String, PluginDecl>,
    /// Services and the secrets each is granted (`gsec run|export
    /// --service S`). A service with its own `recipients` gets a derived
    /// file per environment holding only its secrets, encrypted to them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub services: IndexMap<String, Service>,
    /// External secret managers `gsec sync --to NAME` pushes secrets to,
    /// each through a plugin with a `sync` step.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sync: IndexMap<String, SyncTarget>,
}

/// A sync target: which plugin pushes there, with what settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncTarget {
    /// Name of a plugin declared under `plugins` that offers the `sync`
    /// step (e.g. `vault`).
    pub plugin: String,
    /// Plugin-specific settings (address, mount, path…), validated by the
    /// plugin.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Secrets the plugin needs to reach the target (e.g. `VAULT_TOKEN`),
    /// read from the environment being synced. They are not pushed
    /// themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

/// A service: the secrets it may read, and optionally its own key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Names of the secrets granted to the service (case-insensitive).
    pub secrets: Vec<String>,
    /// The service's own recipients (group names or public keys, e.g. its
    /// deploy key). With them, every environment file has a derived file
    /// (`secrets/<env>.<service>.yaml`) holding only the granted secrets,
    /// encrypted to these recipients and the environment's, kept in sync
    /// by every write. Without them, `--service` only filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// Environments the service runs in (derived files are kept for these
    /// only). Default: every environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
}

impl Service {
    /// Is `name` granted (case-insensitively)?
    pub fn grants(&self, name: &str) -> bool {
        self.secrets.iter().any(|s| s.eq_ignore_ascii_case(name))
    }

    /// Does the service run in `env`?
    pub fn runs_in(&self, env: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e == env)
    }
}

fn one() -> u32 {
    1
}

/// One environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Recipient group names or literal public keys. Empty: the recipients
    /// of the environment this one inherits from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// Environment whose values apply when this one has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<String>,
    /// Encrypted file, relative to the project root. Default
    /// `secrets/<environment>.yaml`. Its name gives its sops format, as
    /// for sops: `.yaml`/`.yml`, `.json` or `.env` (dotenv: flat values
    /// only); other names are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Where a declared secret must have a value.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum Required {
    /// `true`: in every environment; `false`: nowhere.
    All(bool),
    /// In these environments.
    Envs(Vec<String>),
}

impl Default for Required {
    fn default() -> Self {
        Required::All(false)
    }
}

impl Required {
    pub fn applies_to(&self, env: &str) -> bool {
        match self {
            Required::All(b) => *b,
            Required::Envs(v) => v.iter().any(|e| e == env),
        }
    }

    fn is_default(&self) -> bool {
        *self == Required::All(false)
    }
}

/// A declared secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretDecl {
    /// What the secret is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Environments where the secret must have a value (after inheritance).
    #[serde(default, skip_serializing_if = "Required::is_default")]
    pub required: Required,
    /// Environment-variable name for `run` and `export`. Default: the name
    /// with `-` turned into `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// How the secret is rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Shown once, when set (`gsec set NAME --generate` prints it), then
    /// only used: `get` and `export` to a terminal refuse, `run`, `render`
    /// and `export -o FILE` work. A guard rail for recipients (they hold
    /// the key); cryptographic for encrypt-only contributors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub write_only: bool,
    /// A lease instead of a stored value: `gsec run` and the Action's
    /// `load` ask the plugin to mint a short-lived credential from the
    /// root credential(s) in `inputs`, and give it to the command only
    /// (never stored). See README "Leases".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// `secrets.NAME.lease`: how a short-lived credential is minted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    /// Name of a plugin declared under `plugins` whose `info` lists the
    /// `lease` step.
    pub plugin: String,
    /// The root credential(s): other secrets whose values the plugin mints
    /// the lease with (an IAM user's key pair, a GitHub App private key).
    pub inputs: Vec<String>,
    /// Plugin-specific settings (a role ARN, an installation id…).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The lease's fields, each mapped to the environment variable it is
    /// given as, e.g. `AccessKeyId: AWS_ACCESS_KEY_ID`. Fields not listed
    /// are not given. Without it the lease must have exactly one field,
    /// given as the secret's own variable.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// What `gsec run` does when the command is still running `margin`
    /// before the lease expires: `warn` (default; a warning on stderr, and
    /// another at expiry) or `terminate` (SIGTERM to the command then,
    /// SIGKILL at expiry). A variable already given cannot be renewed.
    #[serde(default, skip_serializing_if = "OnExpiry::is_default")]
    pub on_expiry: OnExpiry,
    /// How long before the expiry `on_expiry` acts, e.g. `2m`. Default
    /// `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<String>,
}

/// `lease.on_expiry`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnExpiry {
    /// Warn on stderr at `margin` before the expiry and at the expiry.
    #[default]
    Warn,
    /// SIGTERM the command at `margin` before the expiry, SIGKILL at it.
    Terminate,
}

impl OnExpiry {
    fn is_default(&self) -> bool {
        *self == OnExpiry::Warn
    }
}

/// Default `lease.margin`.
pub const DEFAULT_LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

impl Lease {
    /// `margin`, parsed (validated when the configuration was loaded).
    pub fn margin(&self) -> std::time::Duration {
        self.margin
            .as_deref()
            .and_then(|m| humantime::parse_duration(m).ok())
            .unwrap_or(DEFAULT_LEASE_MARGIN)
    }
}

/// Rotation settings for one secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Name of a plugin declared under `plugins`.
    pub plugin: String,
    /// How often to rotate, e.g. `30d`, `12h` (used by `gsec rotate --due`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// How long the previous credential stays valid before it is revoked,
    /// e.g. `1h`. Default: revoke at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
    /// Plugin-specific settings, validated against the plugin's schema.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Other secrets the plugin needs (e.g. a GitHub App private key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

/// Leak-scanner settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// Path globs never scanned (globset syntax, relative to the root).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_paths: Vec<String>,
    /// Files larger than this many bytes are not scanned, and are named in
    /// the report's warnings. Default 100 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<u64>,
    /// How many layers of base64/hex/percent encoding to decode. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_depth: Option<u32>,
    /// Rule ids to disable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_rules: Vec<String>,
    /// Key (64 hex digits) under which finding fingerprints are computed,
    /// so that a fingerprint in a CI log or SARIF report is not a hash of
    /// the secret anyone can test guesses against. `gsec init` writes one;
    /// `GSEC_FINGERPRINT_KEY` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_key: Option<String>,
    /// Baseline file (relative to the project root) whose findings every
    /// scan accepts, as `gsec scan --baseline FILE` does: directory,
    /// staged (the pre-commit hook), history, stdin and `gsec action scan`.
    /// `--baseline` on the command line replaces it; `--baseline-write`
    /// ignores it, so a rewritten baseline keeps every accepted finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Custom rules, in the schema of the built-in rule pack
    /// (`src/scan/rules/*.toml`), with optional `tp`/`fp` samples that
    /// `gsec scan --check-rules` runs. A rule with the id of a built-in one
    /// replaces it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::scan::rules::Rule>,
    /// Live validation (`gsec scan --validate`).
    #[serde(default, skip_serializing_if = "ValidateConfig::is_default")]
    pub validate: ValidateConfig,
}

/// `scan.validate`: how `gsec scan --validate` checks found credentials at
/// their providers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// Validate in the pre-commit hook (`gsec scan --staged`) too. Off by
    /// default: the hook stays offline and fast.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hook: bool,
    /// A provider host mapped to another base URL, e.g. `api.github.com:
    /// https://ghe.acme.com/api/v3` (GitHub Enterprise) or
    /// `http://127.0.0.1:8080` (a test double): the only way a check
    /// reaches another host, plain http or loopback.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, String>,
    /// Seconds each request may take. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_secs: Option<u64>,
    /// Requests in flight at most. Default 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: Option<usize>,
}

impl ValidateConfig {
    fn is_default(&self) -> bool {
        *self == ValidateConfig::default()
    }
}

impl ScanConfig {
    fn is_default(&self) -> bool {
        *self == ScanConfig::default()
    }
}

/// A rotation plugin, pinned by hash (see docs/plugins.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginDecl {
    /// Path of the `.wasm` file, relative to the project root.
    pub path: String,
    /// Hex SHA-256 of the `.wasm` file (`gsec plugin inspect` prints it); a
    /// different file is refused before it is compiled.
    pub sha256: String,
    /// Origins the plugin may reach over HTTP: `api.github.com` (https on
    /// 443) or `https://host:port` / `http://127.0.0.1:8080` (plain http only
    /// when written out). The plugin must also declare them in its `info`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Wall-clock budget of each plugin call, in seconds, HTTP included.
    /// Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Linear-memory limit of the plugin, in MiB. Default 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

/// Secret names: a letter, then letters, digits, `_` or `-`; at most 128.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic())
        && name.len() <= 128
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Names a secret cannot have, with why: a top-level `sops` key collides
/// with the metadata block, and the file could never be read again.
fn reserved_name(name: &str) -> Option<&'static str> {
    name.eq_ignore_ascii_case("sops")
        .then_some("sops files keep their metadata under the top-level key `sops`")
}

/// Which secret names a project accepts (`naming:` in `.gsec.yaml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// Letters, digits, `_` and `-`, starting with a letter, at most 128
    /// characters: usable as an environment variable after `-` → `_`.
    #[default]
    Env,
    /// RFC 1123 labels (Koyeb, Kubernetes): lowercase letters, digits and
    /// `-`, starting and ending with a letter or digit, at most 63.
    Rfc1123,
    /// Any printable name without `:` (sops joins key paths with it), at
    /// most 256 characters.
    Any,
}

impl Naming {
    fn is_default(&self) -> bool {
        *self == Naming::Env
    }

    /// Why `name` breaks this policy, if it does.
    pub fn violation(self, name: &str) -> Option<&'static str> {
        let ok = match self {
            Naming::Env => valid_name(name),
            Naming::Rfc1123 => {
                let b = name.as_bytes();
                !b.is_empty()
                    && b.len() <= 63
                    && b.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                    && b[0] != b'-'
                    && b[b.len() - 1] != b'-'
            }
            Naming::Any => {
                !name.trim().is_empty()
                    && name.trim() == name
                    && name.chars().count() <= 256
                    && !name.contains(':')
                    && !name.chars().any(char::is_control)
            }
        };
        (!ok).then_some(match self {
            Naming::Env => "use letters, digits, '_' and '-', starting with a letter, at most 128 characters",
            Naming::Rfc1123 => "naming: rfc1123 allows lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
            Naming::Any => "naming: any allows any printable name without ':' or surrounding spaces, at most 256 characters",
        })
    }

    /// The environment variable a secret is exported as, when its
    /// declaration does not say (`env:`): `api-key` → `api_key` under the
    /// default policy (as before); under `rfc1123` and `any`, upper case
    /// with every other character `_` (`db-password` → `DB_PASSWORD`).
    pub fn var_name(self, name: &str) -> String {
        match self {
            Naming::Env => name.replace('-', "_"),
            Naming::Rfc1123 | Naming::Any => {
                let mut v: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    v.insert(0, '_');
                }
                v
            }
        }
    }
}

pub fn check_name(name: &str, naming: Naming) -> Result<()> {
    if let Some(rule) = naming.violation(name) {
        return Err(Error::usage(format!(
            "invalid secret name '{name}': {rule}"
        )));
    }
    if let Some(why) = reserved_name(name) {
        return Err(Error::usage(format!(
            "'{name}' cannot be a secret name: {why}"
        )));
    }
    Ok(())
}

/// An environment's `file:` must stay inside the project and out of
/// `.git`: a relative path of plain components (symlinks are checked
/// against the filesystem by `Project::load`).
fn check_env_file(rel: &str) -> std::result::Result<(), String> {
    use std::path::Component;
    let p = Path::new(rel);
    if rel.is_empty() {
        return Err("is empty".into());
    }
    for c in p.components() {
        match c {
            Component::Normal(n) if n.eq_ignore_ascii_case(".git") => {
                return Err(format!("'{rel}' is inside .git; refusing it"));
            }
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "'{rel}' uses `..`; environment files must stay inside the project root"
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "'{rel}' is absolute; use a path relative to the project root"
                ));
            }
        }
    }
    Ok(())
}

impl Config {
    /// Parse and validate. Errors name the file and, where the YAML parser
    /// knows it, the line and column.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        // Bounded and free of duplicate keys first: typed maps
        // (`recipients`, `environments`, …) would silently keep the last of
        // two equal keys, so a hidden second `team:` could add a recipient.
        crate::yaml::parse_value(text.as_bytes()).map_err(|e| Error::file(path, e))?;
        let cfg: Config = serde_norway::from_str(text)
            .map_err(|e| Error::file(path, crate::yaml::elide_values(&e.to_string())))?;
        cfg.validate().map_err(|what| {
            let line = locate(text, &what);
            Error::file(
                path,
                match line {
                    Some(l) => format!("line {l}: {what}"),
                    None => what,
                },
            )
        })?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Config> {
        let text = crate::fsutil::read_text(path, crate::fsutil::MAX_CONFIG_FILE)?;
        Self::parse(path, &text)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.version != 1 {
            return Err(format!(
                "version: unsupported config version {} (this gsec reads 1)",
                self.version
            ));
        }
        for (g, keys) in &self.recipients {
            for k in keys {
                Recipient::parse(k).map_err(|e| format!("recipients.{g}: {e}"))?;
            }
        }
        if self.environments.is_empty() {
            return Err("environments: at least one environment is required".into());
        }
        for (name, env) in &self.environments {
            if !valid_name(name) {
                return Err(format!("environments.{name}: invalid environment name"));
            }
            for r in &env.recipients {
                if !self.recipients.contains_key(r) {
                    Recipient::parse(r).map_err(|_| {
                        format!("environments.{name}.recipients: '{r}' is neither a recipient group nor a public key")
                    })?;
                }
            }
            if let Some(f) = &env.file {
                check_env_file(f).map_err(|e| format!("environments.{name}.file: {e}"))?;
            }
            if let Some(p) = &env.inherit
                && !self.environments.contains_key(p)
            {
                return Err(format!(
                    "environments.{name}.inherit: unknown environment '{p}'"
                ));
            }
        }
        self.check_inheritance()?;
        if let Some(d) = &self.default_env
            && !self.environments.contains_key(d)
        {
            return Err(format!("default_env: unknown environment '{d}'"));
        }
        let mut lower: Vec<String> = Vec::new();
        for (name, decl) in &self.secrets {
            if let Some(rule) = self.naming.violation(name) {
                return Err(format!("secrets.{name}: invalid secret name ({rule})"));
            }
            if let Some(why) = reserved_name(name) {
                return Err(format!("secrets.{name}: reserved name ({why})"));
            }
            let l = name.to_ascii_lowercase();
            if lower.contains(&l) {
                return Err(format!(
                    "secrets.{name}: differs only in case from another declared secret"
                ));
            }
            lower.push(l);
            if let Required::Envs(envs) = &decl.required {
                for e in envs {
                    if !self.environments.contains_key(e) {
                        return Err(format!(
                            "secrets.{name}.required: unknown environment '{e}'"
                        ));
                    }
                }
            }
            if let Some(r) = &decl.rotation {
                if !self.plugins.contains_key(&r.plugin) {
                    return Err(format!(
                        "secrets.{name}.rotation.plugin: unknown plugin '{}'",
                        r.plugin
                    ));
                }
                for d in [&r.every, &r.grace].into_iter().flatten() {
                    humantime::parse_duration(d)
                        .map_err(|e| format!("secrets.{name}.rotation: bad duration '{d}': {e}"))?;
                }
            }
        }
        self.validate_leases()?;
        self.validate_services()?;
        for (name, t) in &self.sync {
            if !valid_name(name) {
                return Err(format!(
                    "sync.{name}: invalid target name (letters, digits, '_' and '-', starting with a letter)"
                ));
            }
            if !self.plugins.contains_key(&t.plugin) {
                return Err(format!("sync.{name}.plugin: unknown plugin '{}'", t.plugin));
            }
            for i in &t.inputs {
                if let Some(rule) = self.naming.violation(i) {
                    return Err(format!(
                        "sync.{name}.inputs: invalid secret name '{i}' ({rule})"
                    ));
                }
            }
        }
        for (name, p) in &self.plugins {
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("plugins.{name}.sha256: expected 64 hex characters"));
            }
        }
        if let Some(k) = &self.scan.fingerprint_key
            && (k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err("scan.fingerprint_key: expected 64 hex characters (`gsec scan --migrate-ignores` writes one)".into());
        }
        for g in &self.scan.allow_paths {
            globset::Glob::new(g).map_err(|e| format!("scan.allow_paths: bad glob '{g}': {e}"))?;
        }
        if self
            .scan
            .baseline
            .as_deref()
            .is_some_and(|b| b.trim().is_empty())
        {
            return Err("scan.baseline: is empty".into());
        }
        crate::scan::verify::Options::from_config(&self.scan.validate)?;
        // Patterns are compiled when a scan starts (`Rule::check`), not on
        // every command that reads the configuration.
        let mut ids = HashSet::new();
        for (i, r) in self.scan.rules.iter().enumerate() {
            if r.id.trim().is_empty() {
                return Err(format!("scan.rules[{i}].id: is empty"));
            }
            if !ids.insert(r.id.as_str()) {
                return Err(format!("scan.rules[{i}].id: duplicate rule id '{}'", r.id));
            }
        }
        Ok(())
    }

    /// Lease secrets: a known plugin, inputs that are other declared-able
    /// names (not the lease itself, not another lease), variable names
    /// that a process environment can hold, a margin that parses.
    fn validate_leases(&self) -> std::result::Result<(), String> {
        for (name, decl) in &self.secrets {
            let Some(l) = &decl.lease else { continue };
            let at = format!("secrets.{name}.lease");
            if decl.rotation.is_some() {
                return Err(format!(
                    "secrets.{name}: has both `rotation` and `lease`; a lease is minted on use and has nothing stored to rotate (rotate its root credential instead)"
                ));
            }
            if decl.write_only {
                return Err(format!(
                    "secrets.{name}: `write_only` does not apply to a lease (nothing is stored)"
                ));
            }
            if !self.plugins.contains_key(&l.plugin) {
                return Err(format!("{at}.plugin: unknown plugin '{}'", l.plugin));
            }
            if l.inputs.is_empty() {
                return Err(format!(
                    "{at}.inputs: name the root credential (another secret) the lease is minted from"
                ));
            }
            for i in &l.inputs {
                if let Some(rule) = self.naming.violation(i) {
                    return Err(format!("{at}.inputs: invalid secret name '{i}' ({rule})"));
                }
                if i.eq_ignore_ascii_case(name) {
                    return Err(format!("{at}.inputs: a lease cannot be its own root"));
                }
                if self.secret(i).is_some_and(|(_, d)| d.lease.is_some()) {
                    return Err(format!(
                        "{at}.inputs: '{i}' is a lease itself; a root credential must be a stored secret"
                    ));
                }
            }
            for (field, var) in &l.env {
                if field.is_empty() || !crate::export::valid_var_name(var) {
                    return Err(format!(
                        "{at}.env: '{var}' (for field '{field}') is not a valid environment variable name"
                    ));
                }
            }
            if let Some(m) = &l.margin {
                humantime::parse_duration(m)
                    .map_err(|e| format!("{at}.margin: bad duration '{m}': {e}"))?;
            }
        }
        Ok(())
    }

    /// Service names, their grants (valid, unique names), recipients and
    /// environments; a derived file must not be another environment's file.
    fn validate_services(&self) -> std::result::Result<(), String> {
        for (name, svc) in &self.services {
            if !valid_name(name) {
                return Err(format!(
                    "services.{name}: invalid service name (letters, digits, '_' and '-', starting with a letter)"
                ));
            }
            let mut lower: Vec<String> = Vec::new();
            for s in &svc.secrets {
                if let Some(rule) = self.naming.violation(s) {
                    return Err(format!(
                        "services.{name}.secrets: invalid secret name '{s}' ({rule})"
                    ));
                }
                let l = s.to_ascii_lowercase();
                if lower.contains(&l) {
                    return Err(format!("services.{name}.secrets: '{s}' is granted twice"));
                }
                lower.push(l);
            }
            for r in &svc.recipients {
                if !self.recipients.contains_key(r) {
                    Recipient::parse(r).map_err(|_| {
                        format!("services.{name}.recipients: '{r}' is neither a recipient group nor a public key")
                    })?;
                }
            }
            for e in &svc.environments {
                if !self.environments.contains_key(e) {
                    return Err(format!(
                        "services.{name}.environments: unknown environment '{e}'"
                    ));
                }
            }
            if svc.recipients.is_empty() {
                continue;
            }
            for env in self.environments.keys().filter(|e| svc.runs_in(e)) {
                let derived = crate::services::derived_rel(&self.env_file_rel(env), name);
                if let Some(other) = self
                    .environments
                    .keys()
                    .find(|o| Path::new(&self.env_file_rel(o)) == Path::new(&derived))
                {
                    return Err(format!(
                        "services.{name}: its derived file for {env}, {derived}, is the file of environment '{other}'; rename the service or that file"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every inheritance chain ends, and ends at an environment with
    /// recipients. Linear in the number of environments: each is walked
    /// once, and a walk stops at the first environment already settled.
    fn check_inheritance(&self) -> std::result::Result<(), String> {
        // For each settled environment: does its chain reach recipients?
        let mut settled: HashMap<&str, bool> = HashMap::with_capacity(self.environments.len());
        for name in self.environments.keys() {
            let mut path: Vec<&str> = Vec::new();
            let mut on_path: HashSet<&str> = HashSet::new();
            let mut cur = Some(name.as_str());
            let mut reached = false;
            while let Some(e) = cur {
                if let Some(&r) = settled.get(e) {
                    reached = r;
                    break;
                }
                if !on_path.insert(e) {
                    let start = path.iter().position(|p| *p == e).unwrap_or(0);
                    let cycle = &path[start..];
                    let shown = if cycle.len() > 8 {
                        format!(
                            "{} -> … ({} environments) -> {}",
                            cycle[..3].join(" -> "),
                            cycle.len(),
                            cycle[cycle.len() - 1]
                        )
                    } else {
                        cycle.join(" -> ")
                    };
                    return Err(format!(
                        "environments.{e}.inherit: inheritance cycle {shown} -> {e}"
                    ));
                }
                path.push(e);
                let env = &self.environments[e];
                if !env.recipients.is_empty() {
                    reached = true;
                    break;
                }
                cur = env.inherit.as_deref();
            }
            for e in path {
                settled.insert(e, reached);
            }
            if !reached {
                return Err(format!(
                    "environments.{name}.recipients: no recipients (directly or inherited)"
                ));
            }
        }
        Ok(())
    }

    /// Recipient entries (group names or keys) of an environment, following
    /// `inherit` when it names none itself.
    pub fn recipient_names(&self, env: &str) -> Vec<String> {
        let mut cur = Some(env);
        let mut hops = 0;
        while let Some(e) = cur.and_then(|n| self.environments.get(n)) {
            if !e.recipients.is_empty() {
                return e.recipients.clone();
            }
            cur = e.inherit.as_deref();
            hops += 1;
            if hops > self.environments.len() {
                break;
            }
        }
        vec![]
    }

    /// Expanded recipients of an environment, without duplicates.
    pub fn recipients_for(&self, env: &str) -> Result<Vec<Recipient>> {
        self.expand_recipients(&self.recipient_names(env))
    }

    /// The chain `env`, its parent, … (for value lookup).
    pub fn chain(&self, env: &str) -> Vec<String> {
        let mut out = vec![];
        let mut seen = HashSet::new();
        let mut cur = Some(env);
        while let Some(e) = cur {
            if !seen.insert(e) {
                break;
            }
            cur = self.environments.get(e).and_then(|x| x.inherit.as_deref());
            out.push(e.to_string());
        }
        out
    }

    /// An environment's file, relative to the project root.
    pub fn env_file_rel(&self, env: &str) -> String {
        self.environments
            .get(env)
            .and_then(|e| e.file.clone())
            .unwrap_or_else(|| format!("secrets/{env}.yaml"))
    }

    /// Expanded recipients of a list of entries (group names or keys),
    /// without duplicates.
    pub fn expand_recipients(&self, entries: &[String]) -> Result<Vec<Recipient>> {
        let mut out: Vec<Recipient> = Vec::new();
        for entry in entries {
            let keys = match self.recipients.get(entry) {
                Some(keys) => keys.clone(),
                None => vec![entry.clone()],
            };
            for k in keys {
                let r = Recipient::parse(&k).map_err(Error::msg)?;
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// Declared secret, by case-insensitive name.
    pub fn secret(&self, name: &str) -> Option<(&String, &SecretDecl)> {
        self.secrets
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// Environment-variable name for a secret.
    pub fn env_var(&self, name: &str) -> String {
        self.secret(name)
            .and_then(|(_, d)| d.env.clone())
            .unwrap_or_else(|| self.naming.var_name(name))
    }

    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("config serialises")
    }
}

/// Best-effort line of the key a validation message is about
/// (`environments.prod.inherit: …` → the line of `inherit:` under `prod:`).
fn locate(text: &str, what: &str) -> Option<usize> {
    let path = what.split(':').next()?;
    let mut want = path.split('.').peekable();
    let mut line_no = None;
    let mut key = want.next()?;
    let mut min_indent = 0usize;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start().trim_start_matches("- ");
        if indent < min_indent && line_no.is_some() && !t.is_empty() && !t.starts_with('#') {
            break;
        }
        if indent >= min_indent
            && (t.starts_with(&format!("{key}:")) || t.starts_with(&format!("\"{key}\":")))
        {
            line_no = Some(i + 1);
            match want.next() {
                Some(k) => {
                    key = k;
                    min_indent = indent + 1;
                }
                None => return line_no,
            }
        }
    }
    line_no
}

/// The JSON Schema of `.gsec.yaml`, as committed in `schemas/`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Config);
    let mut s = serde_json::to_string_pretty(&schema).expect("schema serialises");
    s.push('\n');
    s
}

/// The default configuration `gsec init` writes.
pub fn default_config(recipients: Vec<String>) -> Config {
    let env = |inherit: Option<&str>, recips: bool| Environment {
        recipients: if recips { vec!["team".into()] } else { vec![] },
        inherit: inherit.map(str::to_string),
        file: None,
    };
    let mut environments = IndexMap::new();
    environments.insert("development".into(), env(None, true));
    environments.insert("local".into(), env(Some("development"), false));
    environments.insert("preview".into(), env(Some("development"), false));
    environments.insert("production".into(), env(None, true));
    let mut groups = IndexMap::new();
    groups.insert("team".into(), recipients);
    Config {
        version: 1,
        recipients: groups,
        environments,
        scan: ScanConfig {
            fingerprint_key: Some(crate::scan::allow::Key::generate_hex()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed schema must be exactly what the types generate. Run
    /// with GSEC_BLESS=1 to rewrite it after changing the types.
    #[test]
    fn committed_schema_matches_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/gsec.schema.json");
        let generated = json_schema();
        if std::env::var_os("GSEC_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/gsec.schema.json is stale: run GSEC_BLESS=1 cargo test --lib config"
        );
    }

    #[test]
    fn names() {
        for ok in ["a", "DB_PASSWORD", "api-key", &"a".repeat(128)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "1a", "_a", "a b", "a.b", "ä", &"a".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn errors_name_line() {
        let p = Path::new(".gsec.yaml");
        let e = Config::parse(
            p,
            "environments:\n  dev:\n    recipients: [age1x]\n    bogus: 1\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with(".gsec.yaml: ") && s.contains("bogus") && s.contains("line 4"),
            "{s}"
        );
        let (_, pk) = crate::keys::generate();
        let text = format!(
            "recipients:\n  team: [{pk}]\nenvironments:\n  dev:\n    recipients: [team]\n  prod:\n    inherit: nope\n"
        );
        let s = Config::parse(p, &text).unwrap_err().to_string();
        assert!(
            s.contains("line 7") && s.contains("unknown environment 'nope'"),
            "{s}"
        );
    }
}
