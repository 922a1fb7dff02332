//! The `sync` step: push secrets to an external secret manager.
//!
//! gsec calls it several times per sync, each time in a fresh instance:
//! [`Action::List`] first (every secret the target holds, with the
//! fingerprint gsec stored beside it), then [`Action::Put`] or
//! [`Action::Delete`] once per name that changed. The plugin stores the
//! fingerprint it is given next to the value (Vault custom metadata, an
//! AWS tag…) and returns it from `list`; it never computes one: the
//! fingerprint is keyed with a key only gsec holds, so the backend cannot
//! test guesses of a value against it.
//!
//! The value itself comes in [`crate::Request::value`], the plugin's
//! settings in `config` and its credentials in `inputs`, as for rotation.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What one call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    List,
    Put,
    Delete,
}

/// The `sync`-specific fields of a request (the rest is in
/// [`crate::Request`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Sync {
    pub action: Action,
    /// `put`, `delete`: the secret's name.
    #[serde(default)]
    pub name: Option<String>,
    /// `put`: the fingerprint to store with the value.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// `put`, `delete`: the [`Entry::version`] `list` returned for this
    /// name (absent when it did not exist): write only if it still is.
    #[serde(default)]
    pub version: Option<Value>,
}

impl Sync {
    /// The name, or an error (`put`/`delete` always carry one).
    pub fn name(&self) -> crate::Result<&str> {
        self.name
            .as_deref()
            .ok_or_else(|| crate::Error::new("sync request without a name"))
    }
}

/// One secret the target holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub name: String,
    /// What gsec stored with it; `None` for a secret gsec did not write
    /// (gsec then overwrites it when it has one of that name, and never
    /// deletes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Anything that lets `put` and `delete` check the secret did not
    /// change since `list` (Vault's `current_version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
}

/// What written secret was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
}

/// A `sync` call's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Synced {
    Listed(Vec<Entry>),
    Written(Outcome),
    Deleted,
}

impl Synced {
    #[doc(hidden)]
    pub fn into_json(self) -> Value {
        match self {
            Synced::Listed(entries) => json!({"entries": entries}),
            Synced::Written(o) => json!({"outcome": o}),
            Synced::Deleted => json!({"ok": true}),
        }
    }
}
