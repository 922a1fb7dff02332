//! The rotation journal: a write-ahead log of rotations in progress, kept
//! as a sops file next to the environment's file and encrypted to the same
//! recipients, so a new credential is stored encrypted the moment it exists
//! and never touches disk in plaintext.
//!
//! One top-level key per secret; its value is a JSON [`Record`] (one
//! encrypted string, so sops and gsec read it alike). The journal file is
//! meant to be committed: whoever can decrypt the environment can finish a
//! rotation someone else started.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil::{self, Lock};
// Journal JSON holds secrets: its errors must not quote it.
use crate::plugin::error::json_error;
use crate::project::Project;
use crate::vault::{Node, Vault};

/// Where a rotation is. Each step is recorded *after* it is done, so
/// resuming redoes at most the step that was interrupted, and every step is
/// safe to redo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Started; `create` may or may not have run at the provider. Resuming
    /// calls `create` again with the same token (the idempotency key).
    Creating,
    /// The new credential exists and is stored here (AWSPENDING).
    Created,
    /// `verify` accepted it.
    Verified,
    /// It is in the environment file (AWSCURRENT); the old one
    /// (AWSPREVIOUS) is still live, to be revoked once `revoke_after` passes.
    Promoted,
    /// `verify` failed: the new credential is being revoked and the
    /// environment file was never touched.
    RollingBack,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Creating => "creating",
            Step::Created => "created",
            Step::Verified => "verified",
            Step::Promoted => "promoted",
            Step::RollingBack => "rolling-back",
        }
    }
}

/// A credential as the provider knows it. `value` is secret; `id` and
/// `state` are what the plugin returned to find it again.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Cred {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret_opt")]
    pub value: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// SHA-256 of the value, kept for the current credential only: if the
    /// environment file's value no longer matches (someone `gsec set` it
    /// by hand), `id` names some other credential and must not be revoked
    /// in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_sha256: Option<String>,
}

impl std::fmt::Debug for Cred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cred")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Cred {
    pub fn is_empty(&self) -> bool {
        self.value.is_none() && self.id.is_none() && self.state.is_none()
    }

    /// What the journal remembers of a credential once it is the one in
    /// the environment file: its provider id and state and a fingerprint of
    /// its value, not the value itself (that is in the environment file).
    pub fn as_current(&self) -> Cred {
        Cred {
            value: None,
            id: self.id.clone(),
            state: self.state.clone(),
            value_sha256: self.value.as_deref().map(|v| fingerprint(v)),
        }
    }

    /// Does this remembered credential describe `value`? Unknown (no
    /// fingerprint) counts as yes.
    pub fn describes(&self, value: Option<&str>) -> bool {
        match (&self.value_sha256, value) {
            (None, _) => true,
            (Some(f), Some(v)) => *f == fingerprint(v),
            (Some(_), None) => false,
        }
    }
}

fn fingerprint(v: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(v.as_bytes()))
}

/// A rotation in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// Random id of this rotation; passed to the plugin's `create` as
    /// the request's `token` so a retried `create` can find what an interrupted one
    /// made (e.g. the deploy key titled `gsec-<token>`).
    pub token: String,
    pub step: Step,
    /// RFC 3339.
    pub started: String,
    /// The plugin it was started with (informational).
    pub plugin: String,
    /// The credential being replaced (AWSPREVIOUS once promoted).
    #[serde(default, skip_serializing_if = "Cred::is_empty")]
    pub previous: Cred,
    /// The new credential, once `create` returned (AWSPENDING).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Cred>,
    /// Earliest time to revoke the previous credential (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_after: Option<String>,
    /// Why the last attempt stopped, for `gsec rotate --resume` to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Pending {
    /// `text` without either credential's value: for what the journal
    /// records and shows about a failure (`last_error`).
    pub fn redact(&self, text: &str) -> String {
        let values: Vec<Zeroizing<String>> =
            [&self.previous, self.new.as_ref().unwrap_or(&self.previous)]
                .into_iter()
                .filter_map(|c| c.value.clone())
                .collect();
        crate::plugin::redact(text, &values)
    }
}

/// Everything the journal knows about one secret in one environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Provider id/state of the credential in the environment file (value
    /// omitted: it is in the environment file), so the next rotation can
    /// revoke it by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Cred>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

impl Record {
    fn is_empty(&self) -> bool {
        self.current.as_ref().is_none_or(Cred::is_empty) && self.pending.is_none()
    }
}

/// An environment's journal, locked for as long as it is held: one
/// rotation per environment at a time.
pub struct Journal {
    vault: Vault,
    _lock: Lock,
}

/// `secrets/.gsec-rotation-<env>.yaml`, beside the environment's file.
pub fn path(project: &Project, env: &str) -> PathBuf {
    project
        .env_file(env)
        .with_file_name(format!(".gsec-rotation-{env}.yaml"))
}

/// Every journal file `env` may have: its rotation journal and one per
/// configured sync target (each encrypted to `env`'s recipients).
pub fn paths(project: &Project, env: &str) -> impl Iterator<Item = PathBuf> {
    std::iter::once(path(project, env)).chain(
        project
            .config
            .sync
            .keys()
            .map(move |t| crate::sync::journal_path(project, env, t)),
    )
}

impl Journal {
    /// Lock and open (an empty journal when the file does not exist).
    pub fn open(project: &Project, env: &str) -> Result<Journal> {
        Journal::open_at(project, env, path(project, env))
    }

    /// Lock and open the journal file `p` of `env` (encrypted to `env`'s
    /// recipients): the mechanism other crash-safe protocols (`gsec sync`)
    /// reuse with records of their own, through [`Journal::get_json`] and
    /// [`Journal::put_json`].
    pub fn open_at(project: &Project, env: &str, p: PathBuf) -> Result<Journal> {
        let lock = fsutil::lock(&p)?;
        let recipients = project.config.recipients_for(env)?;
        let vault = if p.exists() {
            let mut v = Vault::open(&p, project.identities()?, Default::default())?;
            // Follow the environment's recipients: the next write re-wraps
            // (and, when someone was removed, re-keys) the journal too.
            v.set_recipients(recipients);
            v
        } else {
            Vault::create(p, recipients)?
        };
        Ok(Journal { vault, _lock: lock })
    }

    /// Re-wrap an existing journal file `p` of `env` for the environment's
    /// current recipients (`gsec updatekeys`): a removed recipient must not
    /// keep reading a rotation's pending and previous values, and a new one
    /// must be able to finish an interrupted rotation or sync. No-op when
    /// there is no such file.
    pub fn rewrap_at(project: &Project, env: &str, p: PathBuf) -> Result<bool> {
        if !p.exists() {
            return Ok(false);
        }
        Journal::open_at(project, env, p)?.vault.save()
    }

    /// Secrets with a record.
    pub fn names(&self) -> Vec<String> {
        self.vault.names().map(str::to_string).collect()
    }

    pub fn get(&self, name: &str) -> Result<Record> {
        Ok(self.get_json(name)?.unwrap_or_default())
    }

    /// One record as JSON of type `T`; `None` when there is none.
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match self.vault.get(name) {
            None => Ok(None),
            Some((_, Node::Leaf(l))) => serde_json::from_str(&l.text()).map(Some).map_err(|e| {
                Error::file(
                    self.vault.path(),
                    format!("journal entry '{name}' is malformed: {}", json_error(&e)),
                )
            }),
            Some(_) => Err(Error::file(
                self.vault.path(),
                format!("journal entry '{name}' is not a gsec record"),
            )),
        }
    }

    /// Write one record and make it durable (atomic rename + fsync) before
    /// returning: the caller's next step may be irreversible.
    pub fn put(&mut self, name: &str, rec: &Record) -> Result<()> {
        self.put_json(name, (!rec.is_empty()).then_some(rec))
    }

    /// Write (`Some`) or forget (`None`) one record, durably; an empty
    /// journal's file is removed.
    pub fn put_json<T: Serialize>(&mut self, name: &str, rec: Option<&T>) -> Result<()> {
        match rec {
            None => {
                self.vault.remove(name);
            }
            Some(rec) => {
                let text = Zeroizing::new(
                    serde_json::to_string(rec)
                        .map_err(|e| Error::msg(format!("cannot encode journal: {e}")))?,
                );
                self.vault.set(name, &text)?;
            }
        }
        if self.vault.is_empty() {
            // Nothing left to remember: no empty file in the repository.
            return match std::fs::remove_file(self.vault.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::io(self.vault.path(), e))
                }
                _ => Ok(()),
            };
        }
        self.vault.save().map(drop)
    }
}

mod secret_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(
        v: &Option<Zeroizing<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(v.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Zeroizing<String>>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Zeroizing::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_cred() -> Cred {
        Cred {
            value: Some(Zeroizing::new("hunter2-secret".into())),
            id: Some("42".into()),
            ..Default::default()
        }
    }

    #[test]
    fn records_round_trip_and_debug_never_shows_values() {
        let rec = Record {
            current: Some(Cred {
                value: None,
                id: Some("41".into()),
                state: Some(serde_json::json!({"k": 1})),
                value_sha256: None,
            }),
            pending: Some(Pending {
                token: "ab".repeat(16),
                step: Step::Created,
                started: "2026-01-01T00:00:00Z".into(),
                plugin: "p".into(),
                previous: Cred::default(),
                new: Some(secret_cred()),
                revoke_after: None,
                last_error: None,
            }),
        };
        let text = serde_json::to_string(&rec).unwrap();
        assert!(text.contains(r#""step":"created""#), "{text}");
        let back: Record = serde_json::from_str(&text).unwrap();
        let p = back.pending.as_ref().unwrap();
        assert_eq!(
            p.new.as_ref().unwrap().value.as_deref().map(String::as_str),
            Some("hunter2-secret")
        );
        assert_eq!(back.current.as_ref().unwrap().id.as_deref(), Some("41"));
        assert!(
            !format!("{back:?}").contains("hunter2"),
            "Debug must not print secret values"
        );
    }

    #[test]
    fn a_remembered_credential_describes_only_its_own_value() {
        let cur = secret_cred().as_current();
        assert!(cur.value.is_none(), "the value itself is not kept");
        assert!(cur.describes(Some("hunter2-secret")));
        assert!(!cur.describes(Some("set-by-hand")));
        assert!(!cur.describes(None));
        assert!(
            Cred::default().describes(Some("anything")),
            "no fingerprint: trust the id"
        );
    }

    #[test]
    fn empty_records_are_dropped() {
        assert!(Record::default().is_empty());
        assert!(
            Record {
                current: Some(Cred::default()),
                pending: None
            }
            .is_empty()
        );
        assert!(
            !Record {
                current: Some(secret_cred()),
                pending: None
            }
            .is_empty()
        );
    }

    #[test]
    fn recorded_errors_lose_both_credentials() {
        let p = Pending {
            token: "ab".repeat(16),
            step: Step::Created,
            started: "2026-01-01T00:00:00Z".into(),
            plugin: "p".into(),
            previous: Cred {
                value: Some(Zeroizing::new("old-s3cret".into())),
                ..Default::default()
            },
            new: Some(secret_cred()),
            revoke_after: None,
            last_error: None,
        };
        assert_eq!(
            p.redact("provider said old-s3cret and hunter2-secret are bad"),
            "provider said [REDACTED] and [REDACTED] are bad"
        );
    }

    #[test]
    fn malformed_entries_are_reported_without_their_content() {
        let e: serde_json::Error =
            serde_json::from_str::<Record>(r#"{"pending": "hunter2"}"#).unwrap_err();
        let msg = json_error(&e);
        assert!(!msg.contains("hunter2") && msg.contains("line 1"), "{msg}");
    }
}
