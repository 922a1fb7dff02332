//! Per-service grants (`services:` in `.gsec.yaml`), enforced by
//! encryption.
//!
//! A service is granted some secrets. `gsec run|export --service S` exposes
//! only those. A service with its own recipients (its deploy key) also gets
//! a **derived file** per environment: a real sops file beside the
//! environment's (`secrets/production.yaml` → `secrets/production.api.yaml`,
//! same format) holding only the granted secrets of that environment's own
//! file, encrypted to the service's recipients *and* the environment's. The
//! environment's recipients can read everything anyway; being recipients of
//! the derived file lets every writer keep its unchanged ciphertext (minimal
//! diffs) and lets `gsec check` compare values. The service key opens its
//! derived files and nothing else.
//!
//! Derived files are written by [`crate::project::Project::update`], in the
//! same locked operation as the environment file and committed with it
//! through `fsutil::write_all_atomic` (a journal, rolled forward by the next
//! gsec command after a crash), so they cannot drift from it by any write
//! gsec makes; a change made elsewhere (a git merge, `sops`) is reported by
//! `gsec check` and repaired by the next write (`gsec updatekeys`).

use std::path::{Path, PathBuf};

use crate::check::Problem;
use crate::config::{Config, Service};
use crate::error::{Error, Result};
use crate::keys::Recipient;
use crate::project::Project;
use crate::vault::{Node, OpenOptions, Vault};

/// A derived file's path relative to the project root, from its
/// environment file's: the service's name before the extension
/// (`secrets/production.yaml` → `secrets/production.api.yaml`,
/// `secrets/ci.env` → `secrets/ci.api.env`), so sops picks the same format.
pub fn derived_rel(env_file_rel: &str, service: &str) -> String {
    let p = Path::new(env_file_rel);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let derived = match name.rfind('.') {
        Some(i) if i > 0 => format!("{}.{service}{}", &name[..i], &name[i..]),
        _ => format!("{name}.{service}"),
    };
    match p.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.join(derived).to_string_lossy().replace('\\', "/"),
        None => derived,
    }
}

/// The derived file of `service` in `env`.
pub fn derived_file(project: &Project, env: &str, service: &str) -> PathBuf {
    project
        .root
        .join(derived_rel(&project.config.env_file_rel(env), service))
}

/// Derived files of `env` (`<env file stem>.<service><ext>`, a sops file)
/// whose service has none for `env` any more, as (service, relative path).
/// Files of configured environments are never counted.
fn orphans(project: &Project, env: &str) -> Vec<(String, String)> {
    let cfg = &project.config;
    let env_rel = cfg.env_file_rel(env);
    let p = Path::new(&env_rel);
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let dir = project.root.join(p.parent().unwrap_or(Path::new("")));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let env_files: std::collections::HashSet<String> = cfg
        .environments
        .keys()
        .map(|e| cfg.env_file_rel(e))
        .collect();
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(f) = file_name.to_str() else {
            continue;
        };
        let Some(service) = f
            .strip_prefix(stem)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_suffix(ext))
        else {
            continue;
        };
        if service.is_empty() || service.contains('.') || has_derived(cfg, service, env) {
            continue;
        }
        let rel = derived_rel(&env_rel, service);
        if env_files.contains(&rel) || !matches!(crate::vault::peek(&entry.path()), Ok(Some(_))) {
            continue;
        }
        out.push((service.to_string(), rel));
    }
    out.sort();
    out
}

/// A configured service, or a usage error naming the configured ones.
pub fn service<'c>(cfg: &'c Config, name: &str) -> Result<&'c Service> {
    cfg.services.get(name).ok_or_else(|| {
        let known: Vec<&str> = cfg.services.keys().map(String::as_str).collect();
        Error::usage(format!(
            "unknown service '{name}' (configured in .gsec.yaml: {}){}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
            crate::suggest::hint(name, known.iter().copied())
        ))
    })
}

/// Services with their own recipients that keep a derived file of `env`.
pub fn derived_services<'c>(cfg: &'c Config, env: &str) -> Vec<(&'c str, &'c Service)> {
    cfg.services
        .iter()
        .filter(|(_, s)| !s.recipients.is_empty() && s.runs_in(env))
        .map(|(n, s)| (n.as_str(), s))
        .collect()
}

/// Does `service` read `env` through its derived file?
pub fn has_derived(cfg: &Config, service: &str, env: &str) -> bool {
    cfg.services
        .get(service)
        .is_some_and(|s| !s.recipients.is_empty() && s.runs_in(env))
}

/// Who a derived file is encrypted to: the service's recipients, then the
/// environment's (`env_recipients`, as the environment file will have them).
fn derived_recipients(
    cfg: &Config,
    svc: &Service,
    env_recipients: &[Recipient],
) -> Result<Vec<Recipient>> {
    let mut out = cfg.expand_recipients(&svc.recipients)?;
    for r in env_recipients {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

/// `source`'s entries granted to `svc`, in file order, without their
/// ciphertext (bound to `source`'s data key: equal values keep the derived
/// file's own ciphertext, see `Vault::replace_all`).
fn granted_entries(svc: &Service, source: &Vault) -> Vec<(String, Node)> {
    source
        .entries()
        .filter(|(k, _)| svc.grants(k))
        .map(|(k, n)| (k.to_string(), n.clone().without_ciphertext()))
        .collect()
}

/// The derived files of `env` as they must be after `source` (the
/// environment's file, as it will be saved) is written: each existing one
/// opened (keeping the ciphertext of unchanged values) or created, with
/// exactly the granted entries and recipients. Nothing is written here;
/// `Project::update` commits them with `source`. A derived file the
/// caller cannot open (tampered, or from before they were a recipient) is
/// rebuilt from `source` with a new data key.
pub fn derive(project: &Project, env: &str, source: &Vault) -> Result<Vec<Vault>> {
    let cfg = &project.config;
    let mut out = Vec::new();
    for (name, svc) in derived_services(cfg, env) {
        let path = derived_file(project, env, name);
        let recipients = derived_recipients(cfg, svc, source.wanted_recipients())?;
        let mut v =
            if crate::fsutil::read_regular(&path, crate::fsutil::MAX_SECRETS_FILE)?.is_some() {
                match Vault::open(path.clone(), project.identities()?, OpenOptions::default()) {
                    Ok(v) => v,
                    Err(e) => {
                        project.warnings.warn(&format!(
                            "{}: rebuilding the derived file of service {name} ({e})",
                            project.rel(&path)
                        ));
                        Vault::create(path, recipients.clone())?
                    }
                }
            } else {
                Vault::create(path, recipients.clone())?
            };
        v.set_recipients(recipients);
        v.replace_all(granted_entries(svc, source))?;
        out.push(v);
    }
    Ok(out)
}

/// Granted names that are no secret at all: not declared under `secrets:`
/// and in no environment's file, inbox or `.gsec.local.yaml` (read
/// without decrypting). `(service, name, hint)` each.
pub fn unknown_grants(project: &Project) -> Result<Vec<(String, String, String)>> {
    let cfg = &project.config;
    if cfg.services.is_empty() {
        return Ok(vec![]);
    }
    let mut known: Vec<String> = cfg.secrets.keys().cloned().collect();
    for env in cfg.environments.keys() {
        if let Ok(Some(p)) = project.peek(env) {
            known.extend(p.names().map(str::to_string));
        }
        if let Ok(entries) = crate::inbox::entries(project, env) {
            known.extend(entries.into_iter().map(|(_, e)| e.name));
        }
    }
    if let Ok(Some(local)) =
        crate::envs::load_local(&project.root.join(crate::config::LOCAL_FILE_NAME))
    {
        known.extend(local.into_iter().map(|(k, _)| k));
    }
    let mut out = Vec::new();
    for (sname, svc) in &cfg.services {
        for g in &svc.secrets {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(g)) {
                let hint = crate::suggest::hint(g, known.iter().map(String::as_str));
                out.push((sname.clone(), g.clone(), hint));
            }
        }
    }
    Ok(out)
}

/// Refuse to run or export for `service` when it is granted a secret that
/// does not exist (a typo in `.gsec.yaml` would otherwise silently give
/// the service less than intended).
pub fn check_grants(project: &Project, service: &str) -> Result<()> {
    if let Some((s, name, hint)) = unknown_grants(project)?
        .into_iter()
        .find(|(s, _, _)| s == service)
    {
        return Err(Error::file(
            &project.config_path,
            format!(
                "services.{s}.secrets: '{name}' is not a secret (not declared under `secrets:` and in no environment){hint}"
            ),
        ));
    }
    Ok(())
}

/// `gsec check`'s findings about services in `envs`: grants naming no
/// secret, and derived files that are missing, orphaned, hold a secret no
/// longer granted, lack or differ in a granted one, or have other
/// recipients than they should.
pub fn problems(project: &Project, envs: &[String]) -> Result<Vec<Problem>> {
    let cfg = &project.config;
    let mut out = Vec::new();
    let config_rel = project.rel(&project.config_path).into_owned();
    for (s, name, hint) in unknown_grants(project)? {
        out.push(Problem {
            environment: None,
            kind: "service-grant",
            secret: Some(name.clone()),
            file: Some(config_rel.clone()),
            line: None,
            message: format!(
                "{config_rel}: services.{s}.secrets: '{name}' is not a secret (not declared under `secrets:` and in no environment){hint}"
            ),
        });
    }
    for env in envs {
        // Derived files no configured service owns any more (the service
        // removed, its key dropped, the environment taken from it): they
        // still hold what was granted.
        for (orphan, rel) in orphans(project, env) {
            out.push(Problem {
                environment: Some(env.clone()),
                kind: "service-revoked",
                secret: None,
                file: Some(rel.clone()),
                line: None,
                message: format!(
                    "{rel}: derived file of service {orphan}, which no longer has one for {env}: `git rm` it, and rotate what it held (its key still reads it in history)"
                ),
            });
        }
        let derived = derived_services(cfg, env);
        if derived.is_empty() {
            continue;
        }
        let source = project.peek(env).ok().flatten();
        // Values are compared when this identity can read the environment.
        let opened = match &source {
            Some(_) if project.can_decrypt(env).unwrap_or(false) => {
                project.open(env).ok().flatten()
            }
            _ => None,
        };
        let env_recipients = cfg.recipients_for(env)?;
        for (sname, svc) in derived {
            let path = derived_file(project, env, sname);
            let rel = project.rel(&path).into_owned();
            let mut stale = |why: String, kind: &'static str, secret: Option<String>| {
                out.push(Problem {
                    environment: Some(env.clone()),
                    kind,
                    secret,
                    file: Some(rel.clone()),
                    line: None,
                    message: format!(
                        "{rel}: derived file of service {sname} {why}; `gsec updatekeys --env {env}` rewrites it"
                    ),
                });
            };
            let peek = match crate::vault::peek(&path) {
                Ok(p) => p,
                Err(e) => {
                    stale(format!("is unreadable ({e})"), "service-stale", None);
                    continue;
                }
            };
            let (source, peek) = match (&source, peek) {
                (None, None) => continue,
                (None, Some(_)) => {
                    stale(
                        format!("exists but {env} has no file"),
                        "service-stale",
                        None,
                    );
                    continue;
                }
                (Some(_), None) => {
                    stale("is missing".into(), "service-stale", None);
                    continue;
                }
                (Some(s), Some(p)) => (s, p),
            };
            let have: Vec<&str> = peek.names().collect();
            for n in &have {
                if !svc.grants(n) {
                    stale(
                        format!("holds {n}, which is no longer granted to it"),
                        "service-revoked",
                        Some(n.to_string()),
                    );
                } else if !source.names().any(|k| k == *n) {
                    stale(
                        format!("holds {n}, which {env} no longer has"),
                        "service-stale",
                        Some(n.to_string()),
                    );
                }
            }
            for n in source.names().filter(|n| svc.grants(n)) {
                if !have.contains(&n) {
                    stale(
                        format!("lacks {n}, granted to it"),
                        "service-stale",
                        Some(n.to_string()),
                    );
                }
            }
            let wanted: Vec<String> = derived_recipients(cfg, svc, &env_recipients)?
                .iter()
                .map(Recipient::canonical)
                .collect();
            let got = peek.recipients();
            let same = wanted.len() == got.len()
                && wanted
                    .iter()
                    .all(|w| got.iter().any(|g| crate::keys::same_recipient(g, w)));
            if !same {
                stale(
                    "has other recipients than the service and the environment".into(),
                    "service-stale",
                    None,
                );
            }
            let Some(env_vault) = &opened else { continue };
            let d = match Vault::open(path.clone(), project.identities()?, OpenOptions::default()) {
                Ok(d) => d,
                Err(e) => {
                    stale(
                        format!("does not decrypt and verify ({e})"),
                        "service-stale",
                        None,
                    );
                    continue;
                }
            };
            for (k, node) in d.entries() {
                if let Some((_, src)) = env_vault.get(k)
                    && svc.grants(k)
                    && !src.same(node)
                {
                    stale(
                        format!("holds another value of {k} than {env}"),
                        "service-stale",
                        Some(k.to_string()),
                    );
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_keep_the_format() {
        assert_eq!(
            derived_rel("secrets/production.yaml", "api"),
            "secrets/production.api.yaml"
        );
        assert_eq!(derived_rel("secrets/ci.env", "api"), "secrets/ci.api.env");
        assert_eq!(
            derived_rel("deploy/staging.secrets.json", "billing"),
            "deploy/staging.secrets.billing.json"
        );
        assert_eq!(derived_rel("prod.yaml", "api"), "prod.api.yaml");
    }
}
