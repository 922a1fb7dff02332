//! `gsec sync`: push an environment's secrets (or a service's grant set)
//! to an external secret manager through a plugin's `sync` step.
//!
//! Idempotent by **keyed fingerprints**: beside each value the backend
//! stores `v1:<HMAC-SHA256 under a key derived from the environment's data
//! key>` of (target, name, value) — the same length-prefixed keyed hash as
//! scan fingerprints (`scan::allow::keyed_hash`). Only whoever can decrypt
//! the environment can compute it, so the backend (or anyone reading its
//! metadata) cannot test guesses of a value against it, and an unchanged
//! value is recognised without reading it back. Re-keying the environment
//! (a recipient removed) changes every fingerprint: the next sync sends
//! every value once more.
//!
//! A secret the target holds with a gsec fingerprint but that the
//! environment no longer has is reported, and deleted only with `prune`.
//! One the target holds without a fingerprint (not written by gsec) is
//! overwritten when the environment has that name, and otherwise left
//! alone.
//!
//! Crash safety reuses the rotation journal's mechanism
//! ([`crate::rotate::journal::Journal`], a sops file encrypted to the
//! environment's recipients): before each write, a record with the
//! write's idempotency token and the fingerprint is made durable; after
//! it, the record is dropped. A rerun after a kill lists the target again
//! (a write that completed shows its new fingerprint and is not redone)
//! and retries an unfinished write of the same value with the same token
//! (AWS's `ClientRequestToken`). The journal holds no value.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::SyncTarget;
use crate::error::{Error, Result};
use crate::plugin::{Host, Plugin, SyncRequest, Written};
use crate::project::Project;
use crate::rotate::journal::Journal;

/// What a sync does (or, dry, would do) to one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    /// Written by gsec, gone from the environment: deleted (`prune`).
    Prune,
    /// Written by gsec, gone from the environment: kept (no `prune`).
    Keep,
}

/// One name's line in the report.
#[derive(Debug)]
pub struct Item {
    pub name: String,
    pub action: Action,
    /// Why its write or delete failed (nothing was changed for it, or the
    /// journal will finish it on the next run).
    pub error: Option<Error>,
}

/// One sync.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub env: &'a str,
    pub target: &'a str,
    pub service: Option<&'a str>,
    pub prune: bool,
    pub dry_run: bool,
}

/// An interrupted write, as the journal remembers it: no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InFlight {
    /// `put` or `delete`.
    op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    /// Idempotency token of the write, reused by a retry of the same write.
    token: String,
}

/// `secrets/.gsec-sync-<env>.<target>.yaml`, beside the environment's file
/// (`.` is in neither name, so no two pairs share a file).
pub fn journal_path(project: &Project, env: &str, target: &str) -> std::path::PathBuf {
    project
        .env_file(env)
        .with_file_name(format!(".gsec-sync-{env}.{target}.yaml"))
}

/// The configured target `name`.
pub fn target<'c>(project: &'c Project, name: &str) -> Result<&'c SyncTarget> {
    project.config.sync.get(name).ok_or_else(|| {
        let known: Vec<&str> = project.config.sync.keys().map(String::as_str).collect();
        Error::usage(format!(
            "no sync target '{name}' in {} ({})",
            project.rel(&project.config_path),
            if known.is_empty() {
                "add one under `sync:`, see docs/plugins.md".to_string()
            } else {
                format!("targets: {}", known.join(", "))
            }
        ))
    })
}

/// The fingerprint key of `env`: derived from the data key of the first
/// file in its inheritance chain (its own, when it has one).
fn fingerprint_key(project: &Project, env: &str) -> Result<Zeroizing<[u8; 32]>> {
    for e in project.config.chain(env) {
        if let Some(v) = project.open(&e)? {
            return Ok(v.derived_key("sync fingerprint"));
        }
    }
    Err(Error::usage(format!(
        "environment '{env}' has no file yet ({}): nothing to sync",
        project.config.env_file_rel(env)
    )))
}

fn fingerprint(key: &[u8], target: &str, name: &str, value: &str) -> String {
    let tag = crate::scan::allow::keyed_hash(
        key,
        &[
            b"gsec sync v1",
            target.as_bytes(),
            name.as_bytes(),
            value.as_bytes(),
        ],
    );
    format!("v1:{}", hex::encode(&tag[..16]))
}

/// 128 random bits, hex: a write's idempotency token.
fn new_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A planned write.
struct Planned {
    name: String,
    action: Action,
    value: Option<Zeroizing<String>>,
    fingerprint: Option<String>,
    version: Option<serde_json::Value>,
}

/// Run one sync (or plan it, with `dry_run`). `Err` means nothing could
/// be compared (config, decryption, the plugin, its `list`); per-name
/// write failures are in the items.
pub fn sync(project: &Project, host: &Host, req: &Request<'_>) -> Result<Vec<Item>> {
    let t = target(project, req.target)?;
    let decl = project.config.plugins.get(&t.plugin).ok_or_else(|| {
        Error::file(
            &project.config_path,
            format!("sync.{}.plugin: unknown plugin '{}'", req.target, t.plugin),
        )
    })?;
    project.check_env(req.env)?;
    let (vars, _missing) = crate::export::variables(project, req.env, req.service)?;
    // A target's own credentials are not pushed to it.
    let vars: Vec<_> = vars
        .into_iter()
        .filter(|v| !t.inputs.iter().any(|i| i.eq_ignore_ascii_case(&v.secret)))
        .collect();
    let key = fingerprint_key(project, req.env)?;
    let inputs = crate::rotate::resolve_inputs(
        project,
        req.env,
        &t.inputs,
        &format!("sync.{}.inputs", req.target),
    )?;
    let plugin = host.load(&project.root, &t.plugin, decl)?;
    plugin.require_sync()?;
    let base = SyncRequest {
        config: t.config.clone(),
        inputs,
        ..Default::default()
    };
    let remote = plugin.sync_list(&base)?;

    let mut plan: Vec<Planned> = Vec::new();
    for v in &vars {
        let fp = fingerprint(&key[..], req.target, &v.name, &v.value);
        let there = remote.iter().find(|e| e.name == v.name);
        let action = match there {
            None => Action::Create,
            Some(e) if e.fingerprint.as_deref() == Some(fp.as_str()) => Action::Unchanged,
            Some(_) => Action::Update,
        };
        plan.push(Planned {
            name: v.name.clone(),
            action,
            value: Some(v.value.clone()),
            fingerprint: Some(fp),
            version: there.and_then(|e| e.version.clone()),
        });
    }
    for e in &remote {
        let managed = e
            .fingerprint
            .as_deref()
            .is_some_and(|f| f.starts_with("v1:"));
        if managed && !vars.iter().any(|v| v.name == e.name) {
            plan.push(Planned {
                name: e.name.clone(),
                action: if req.prune {
                    Action::Prune
                } else {
                    Action::Keep
                },
                value: None,
                fingerprint: None,
                version: e.version.clone(),
            });
        }
    }
    plan.sort_by(|a, b| a.name.cmp(&b.name));

    if req.dry_run {
        return Ok(plan
            .into_iter()
            .map(|p| Item {
                name: p.name,
                action: p.action,
                error: None,
            })
            .collect());
    }
    let mut journal =
        Journal::open_at(project, req.env, journal_path(project, req.env, req.target))?;
    let mut items = Vec::new();
    for p in plan {
        let error = apply(&plugin, &base, &mut journal, &p).err();
        items.push(Item {
            name: p.name,
            action: p.action,
            error,
        });
    }
    // Records of writes that are no longer needed (the value changed back,
    // the name is gone): nothing to finish.
    for name in journal.names() {
        if items.iter().any(|i| i.name == name && i.error.is_some()) {
            continue;
        }
        journal.put_json::<InFlight>(&name, None)?;
    }
    Ok(items)
}

/// Carry out one planned write: journal it, do it, forget it.
fn apply(plugin: &Plugin, base: &SyncRequest, journal: &mut Journal, p: &Planned) -> Result<()> {
    let op = match p.action {
        Action::Create | Action::Update => "put",
        Action::Prune => "delete",
        Action::Unchanged | Action::Keep => return Ok(()),
    };
    // Retrying the very same write keeps its token.
    let token = match journal.get_json::<InFlight>(&p.name)? {
        Some(f) if f.op == op && f.fingerprint == p.fingerprint => f.token,
        _ => new_token(),
    };
    journal.put_json(
        &p.name,
        Some(&InFlight {
            op: op.to_string(),
            fingerprint: p.fingerprint.clone(),
            token: token.clone(),
        }),
    )?;
    crate::fsutil::crash_point("sync-journaled");
    let req = SyncRequest {
        name: Some(p.name.clone()),
        value: p.value.clone(),
        fingerprint: p.fingerprint.clone(),
        version: p.version.clone(),
        token: Some(token),
        ..base.clone()
    };
    if op == "put" {
        let _: Written = plugin.sync_put(&req)?;
    } else {
        plugin.sync_delete(&req)?;
    }
    crate::fsutil::crash_point("sync-sent");
    journal.put_json::<InFlight>(&p.name, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_records_hold_a_token_and_a_fingerprint_never_a_value() {
        let r = InFlight {
            op: "put".into(),
            fingerprint: Some("v1:00ff".into()),
            token: "ab".repeat(16),
        };
        let text = serde_json::to_string(&r).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, vec!["fingerprint", "op", "token"]);
        // A record with anything else (a value) is refused, not kept.
        assert!(
            serde_json::from_str::<InFlight>(r#"{"op":"put","token":"t","value":"x"}"#).is_err()
        );
    }

    #[test]
    fn fingerprints_are_keyed_and_separate_targets_names_and_values() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let f = fingerprint(&k1, "vault", "DB", "hunter2");
        assert!(f.starts_with("v1:") && f.len() == 35, "{f}");
        assert!(!f.contains("hunter2"));
        assert_eq!(f, fingerprint(&k1, "vault", "DB", "hunter2"));
        assert_ne!(f, fingerprint(&k2, "vault", "DB", "hunter2"), "keyed");
        assert_ne!(f, fingerprint(&k1, "aws", "DB", "hunter2"));
        assert_ne!(f, fingerprint(&k1, "vault", "DB2", "hunter2"));
        assert_ne!(f, fingerprint(&k1, "vault", "DB", "hunter3"));
        // Length prefixes: moving a boundary changes the hash.
        assert_ne!(
            fingerprint(&k1, "vault", "AB", "C"),
            fingerprint(&k1, "vault", "A", "BC")
        );
    }
}
