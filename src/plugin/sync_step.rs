//! The `sync` step: push secrets to an external secret manager (Vault,
//! AWS Secrets Manager…). Its own messages, kept apart from the rotation
//! steps' [`super::abi::StepRequest`]; `docs/plugins.md` ("The `sync` step")
//! specifies them.
//!
//! A plugin offers the step by listing `"sync"` in `info.steps`. One sync
//! is several calls, each in a fresh instance: `list` (what the backend
//! holds under the target, with the fingerprint gsec stored beside each
//! value), then one `put` or `delete` per name. gsec decides what changed
//! by comparing keyed fingerprints; the plugin never sees the key.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::Plugin;
// Names and fingerprints are printed: short and printable only.
use super::abi::{Op, printable, ser_map, ser_opt};
use super::error::{ErrorKind, PluginError, json_error};

/// What one `sync` call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncAction {
    /// Name every secret the target holds, with its stored fingerprint.
    List,
    /// Create or replace one secret's value and fingerprint.
    Put,
    /// Delete one secret (already gone is success).
    Delete,
}

/// A `sync` request. `value` is secret: zeroized on drop, never printed by
/// `Debug`.
#[derive(Clone, Default, Serialize)]
pub struct SyncRequest {
    pub action: Option<SyncAction>,
    /// `sync.NAME.config` from `.gsec.yaml`.
    pub config: Map<String, Value>,
    /// Values of the secrets named in `sync.NAME.inputs` (credentials).
    #[serde(serialize_with = "ser_map")]
    pub inputs: IndexMap<String, Zeroizing<String>>,
    /// `put`, `delete`: the secret's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `put`: the value.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt")]
    pub value: Option<Zeroizing<String>>,
    /// `put`: the keyed fingerprint to store beside the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// `put`, `delete`: the version `list` reported (check-and-set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    /// `put`: idempotency token, the same when an interrupted put of the
    /// same value is retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for SyncRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRequest")
            .field("action", &self.action)
            .field("config", &self.config)
            .field("inputs", &self.inputs.keys().collect::<Vec<_>>())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SyncRequest {
    fn secrets(&self) -> Vec<Zeroizing<String>> {
        let mut v: Vec<Zeroizing<String>> = self.inputs.values().cloned().collect();
        v.extend(self.value.iter().cloned());
        v
    }
}

/// One secret the target holds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SyncEntry {
    pub name: String,
    /// The fingerprint gsec stored with it; `None`: not written by gsec.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Opaque to gsec; passed back in `put`/`delete`.
    #[serde(default)]
    pub version: Option<Value>,
}

/// What a `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Written {
    Created,
    Updated,
}

impl Plugin {
    /// Refuse a plugin that does not offer `sync`, with the reason.
    pub fn require_sync(&self) -> Result<(), PluginError> {
        if self.info().supports(super::abi::Op::Sync) {
            return Ok(());
        }
        Err(self.linked.fail(ErrorKind::Config(format!(
            "has no 'sync' step (its info.steps: {}), so it cannot be a sync target",
            if self.info().steps.is_empty() {
                "none".to_string()
            } else {
                self.info().steps.join(", ")
            }
        ))))
    }

    fn sync_call(
        &self,
        action: SyncAction,
        req: &SyncRequest,
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        self.require_sync()?;
        let mut req = req.clone();
        req.action = Some(action);
        self.send(Op::Sync, &req, &req.config, &req.secrets())
    }

    fn bad(&self, what: String) -> PluginError {
        self.linked.fail(ErrorKind::Protocol(what))
    }

    /// Every secret the target holds (names unique).
    pub fn sync_list(&self, req: &SyncRequest) -> Result<Vec<SyncEntry>, PluginError> {
        #[derive(Deserialize)]
        struct Listed {
            entries: Vec<SyncEntry>,
        }
        let out = self.sync_call(SyncAction::List, req)?;
        let l: Listed = serde_json::from_slice(&out)
            .map_err(|e| self.bad(format!("bad 'sync' list response: {}", json_error(&e))))?;
        let mut seen = std::collections::HashSet::new();
        for (i, e) in l.entries.iter().enumerate() {
            if !printable(&e.name, 512) {
                return Err(self.bad(format!(
                    "'sync' list entry {i}: name must be 1 to 512 printable characters"
                )));
            }
            if e.fingerprint.as_deref().is_some_and(|f| !printable(f, 128)) {
                return Err(self.bad(format!(
                    "'sync' list entry {i}: fingerprint must be 1 to 128 printable characters"
                )));
            }
            if !seen.insert(e.name.as_str()) {
                return Err(self.bad(format!("'sync' list names entry {i} twice")));
            }
        }
        Ok(l.entries)
    }

    /// Write one secret and its fingerprint.
    pub fn sync_put(&self, req: &SyncRequest) -> Result<Written, PluginError> {
        #[derive(Deserialize)]
        struct Put {
            outcome: Written,
        }
        let out = self.sync_call(SyncAction::Put, req)?;
        serde_json::from_slice::<Put>(&out)
            .map(|p| p.outcome)
            .map_err(|e| self.bad(format!("bad 'sync' put response: {}", json_error(&e))))
    }

    /// Delete one secret.
    pub fn sync_delete(&self, req: &SyncRequest) -> Result<(), PluginError> {
        self.sync_call(SyncAction::Delete, req).map(drop)
    }
}
