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
//! Each fingerprint also names its **scope**, `v1:<scope>:<hmac>`: a
//! public 8-hex tag of the environment and service that wrote it (not
//! keyed, so it survives re-keying). A sync owns only what its own scope
//! wrote: a secret the target holds from this scope that the environment
//! no longer has is reported, and deleted only with `prune`; one another
//! environment or service synced is never overwritten (that name fails,
//! naming the reason: `--env staging --to prod-vault` cannot replace
//! production's values) nor pruned. One the target holds without a
//! fingerprint (not written by gsec) is overwritten when the environment
//! has that name, and otherwise left alone. A required secret with no
//! value fails its name, and its copy at the target is kept.
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

/// The public tag of what one sync owns: its environment and service.
fn scope(env: &str, service: Option<&str>) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [
        b"gsec sync scope v1".as_slice(),
        env.as_bytes(),
        service.unwrap_or("").as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(&h.finalize()[..4])
}

fn fingerprint(key: &[u8], scope: &str, target: &str, name: &str, value: &str) -> String {
    let tag = crate::scan::allow::keyed_hash(
        key,
        &[
            b"gsec sync v1",
            target.as_bytes(),
            name.as_bytes(),
            value.as_bytes(),
        ],
    );
    format!("v1:{scope}:{}", hex::encode(&tag[..16]))
}

/// Whose a remote fingerprint is.
#[derive(Debug, PartialEq)]
enum Owner {
    /// None: not written by gsec.
    Nobody,
    Us,
    /// Another environment or service (or a format this gsec does not know).
    Other,
}

fn owner(fingerprint: Option<&str>, scope: &str) -> Owner {
    match fingerprint {
        None => Owner::Nobody,
        Some(f) => match f.strip_prefix("v1:").and_then(|r| r.split_once(':')) {
            Some((s, _)) if s == scope => Owner::Us,
            _ => Owner::Other,
        },
    }
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
    /// Why this name is not written (reported as its failure).
    refused: Option<String>,
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
    let (vars, missing) = crate::export::variables(project, req.env, req.service)?;
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

    let scope = scope(req.env, req.service);
    let scope_name = match req.service {
        Some(svc) => format!("environment '{}', service '{svc}'", req.env),
        None => format!("environment '{}'", req.env),
    };
    let mut plan: Vec<Planned> = Vec::new();
    for v in &vars {
        let fp = fingerprint(&key[..], &scope, req.target, &v.name, &v.value);
        let there = remote.iter().find(|e| e.name == v.name);
        let (action, refused) = match there {
            None => (Action::Create, None),
            Some(e) if e.fingerprint.as_deref() == Some(fp.as_str()) => (Action::Unchanged, None),
            Some(e) if owner(e.fingerprint.as_deref(), &scope) == Owner::Other => (
                Action::Update,
                Some(format!(
                    "the target holds a value another environment or service synced there: not overwritten by {scope_name} (use a target of its own, or delete it at the target)"
                )),
            ),
            Some(_) => (Action::Update, None),
        };
        plan.push(Planned {
            name: v.name.clone(),
            action,
            value: Some(v.value.clone()),
            fingerprint: Some(fp),
            version: there.and_then(|e| e.version.clone()),
            refused,
        });
    }
    for e in &remote {
        if owner(e.fingerprint.as_deref(), &scope) != Owner::Us
            || vars.iter().any(|v| v.name == e.name)
        {
            continue;
        }
        // A required secret without a value is a problem to fix, not a
        // removal: its copy stays.
        let refused = missing.iter().any(|m| m == &e.name).then(|| {
            format!("required, but has no value in {scope_name}: its copy at the target is kept")
        });
        plan.push(Planned {
            name: e.name.clone(),
            action: if req.prune && refused.is_none() {
                Action::Prune
            } else {
                Action::Keep
            },
            value: None,
            fingerprint: None,
            version: e.version.clone(),
            refused,
        });
    }
    for m in &missing {
        if !plan.iter().any(|p| &p.name == m) {
            plan.push(Planned {
                name: m.clone(),
                action: Action::Keep,
                value: None,
                fingerprint: None,
                version: None,
                refused: Some(format!("required, but has no value in {scope_name}")),
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
                error: p.refused.map(Error::msg),
            })
            .collect());
    }
    let mut journal =
        Journal::open_at(project, req.env, journal_path(project, req.env, req.target))?;
    let mut items = Vec::new();
    for p in plan {
        let error = match &p.refused {
            Some(why) => Some(Error::msg(why.clone())),
            None => apply(&plugin, &base, &mut journal, &p).err(),
        };
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
        let f = fingerprint(&k1, "0a1b2c3d", "vault", "DB", "hunter2");
        assert!(f.starts_with("v1:0a1b2c3d:") && f.len() == 44, "{f}");
        assert!(!f.contains("hunter2"));
        assert_eq!(f, fingerprint(&k1, "0a1b2c3d", "vault", "DB", "hunter2"));
        assert_ne!(
            f,
            fingerprint(&k2, "0a1b2c3d", "vault", "DB", "hunter2"),
            "keyed"
        );
        assert_ne!(f, fingerprint(&k1, "0a1b2c3d", "aws", "DB", "hunter2"));
        assert_ne!(f, fingerprint(&k1, "0a1b2c3d", "vault", "DB2", "hunter2"));
        assert_ne!(f, fingerprint(&k1, "0a1b2c3d", "vault", "DB", "hunter3"));
        // Length prefixes: moving a boundary changes the hash.
        assert_ne!(
            fingerprint(&k1, "0a1b2c3d", "vault", "AB", "C"),
            fingerprint(&k1, "0a1b2c3d", "vault", "A", "BC")
        );
    }

    #[test]
    fn a_sync_owns_only_what_its_environment_and_service_wrote() {
        let prod = scope("production", None);
        let staging = scope("staging", None);
        let svc = scope("production", Some("api"));
        assert_eq!(prod.len(), 8);
        assert!(prod != staging && prod != svc && staging != svc);
        assert_eq!(prod, scope("production", None), "stable: not keyed");
        let f = fingerprint(&[1u8; 32], &prod, "vault", "DB", "x");
        assert_eq!(owner(Some(&f), &prod), Owner::Us);
        assert_eq!(owner(Some(&f), &staging), Owner::Other);
        assert_eq!(owner(Some(&f), &svc), Owner::Other);
        assert_eq!(owner(Some("v1:00ff"), &prod), Owner::Other);
        assert_eq!(owner(None, &prod), Owner::Nobody);
    }
}
