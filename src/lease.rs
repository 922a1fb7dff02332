//! Lease secrets: short-lived credentials minted on use, never stored.
//!
//! A secret declared with `lease:` in `.gsec.yaml` has no value in any
//! environment file. `gsec run` and the Action's `load` ask its plugin's
//! optional `lease` step to mint one from the root credential(s) named in
//! `lease.inputs` (ordinary stored secrets), and hand the fields it returns
//! to the command as environment variables (`lease.env` maps fields to
//! names). The values live in zeroizing memory and in the child's
//! environment only: nothing is written to the vault, a journal, the state
//! file, a temp file or a log, and each run mints a new lease.
//!
//! The expiry the plugin reports (`expires_at`, RFC 3339) is watched by
//! `gsec run` ([`Watch`], acted on in `exec.rs`): a variable already given
//! to a process cannot be renewed, so `lease.margin` before the expiry it
//! either warns loudly or terminates the command (`lease.on_expiry`).

use std::time::{Duration, SystemTime};

use indexmap::IndexMap;
use zeroize::Zeroizing;

use crate::config::{Lease, OnExpiry};
use crate::envs::Resolver;
use crate::error::{Error, Result};
use crate::export::{Var, valid_var_name};
use crate::plugin::{ErrorKind, Host, Op, StepRequest};
use crate::project::Project;

/// One minted lease: its variables and when it stops working.
pub struct Minted {
    /// The declared secret name.
    pub secret: String,
    pub vars: Vec<Var>,
    /// When the provider stops accepting it (`None`: the plugin did not say).
    pub expires_at: Option<SystemTime>,
    pub on_expiry: OnExpiry,
    pub margin: Duration,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("secret", &self.secret)
            .field("vars", &self.vars)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Minted {
    /// The expiry as RFC 3339 (for messages), or "no expiry given".
    pub fn expiry_text(&self) -> String {
        match self.expires_at {
            Some(t) => humantime::format_rfc3339_seconds(t).to_string(),
            None => "an unknown time (the plugin gave no expiry)".into(),
        }
    }
}

/// What `gsec run` watches while the command runs: for each lease with an
/// expiry, when to act (`expires_at - margin`) and what to do.
#[derive(Debug, Clone)]
pub struct Watch {
    pub secret: String,
    pub vars: Vec<String>,
    pub expires_at: SystemTime,
    pub act_at: SystemTime,
    pub on_expiry: OnExpiry,
}

impl Watch {
    pub fn of(m: &Minted) -> Option<Watch> {
        let expires_at = m.expires_at?;
        Some(Watch {
            secret: m.secret.clone(),
            vars: m.vars.iter().map(|v| v.name.clone()).collect(),
            expires_at,
            // A margin longer than the time since the epoch: act at once.
            act_at: expires_at
                .checked_sub(m.margin)
                .unwrap_or(std::time::UNIX_EPOCH),
            on_expiry: m.on_expiry,
        })
    }
}

/// The declared lease secrets, in declaration order.
pub fn declared(project: &Project) -> impl Iterator<Item = (&String, &Lease)> {
    project
        .config
        .secrets
        .iter()
        .filter_map(|(n, d)| d.lease.as_ref().map(|l| (n, l)))
}

/// Is `name` (case-insensitively) a lease secret?
pub fn is_lease(project: &Project, name: &str) -> bool {
    project
        .config
        .secret(name)
        .is_some_and(|(_, d)| d.lease.is_some())
}

/// Mint every lease secret of `env` (with `service`, only those granted to
/// it). `notes` receives the plugins' log lines.
pub fn mint_all(
    project: &Project,
    env: &str,
    service: Option<&str>,
    notes: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Vec<Minted>> {
    mint_some(project, env, service, |_| true, notes)
}

/// [`mint_all`], only the leases `wanted` accepts (given the secret's name
/// and the variables it would set).
pub fn mint_some(
    project: &Project,
    env: &str,
    service: Option<&str>,
    wanted: impl Fn(&[&str]) -> bool,
    notes: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Vec<Minted>> {
    let names: Vec<String> = declared(project)
        .filter(|(n, l)| {
            let var = project.config.env_var(n);
            let mut names: Vec<&str> = vec![n.as_str()];
            if l.env.is_empty() {
                names.push(&var);
            } else {
                names.extend(l.env.values().map(String::as_str));
            }
            wanted(&names)
        })
        .map(|(n, _)| n.clone())
        .filter(|n| {
            service.is_none_or(|s| {
                project
                    .config
                    .services
                    .get(s)
                    .is_some_and(|svc| svc.grants(n))
            })
        })
        .collect();
    if names.is_empty() {
        return Ok(vec![]);
    }
    let host = Host::new()?.diagnostics(debug_requested(), notes);
    let mut resolver = match service {
        Some(s) => Resolver::for_service(project, s)?,
        None => Resolver::new(project),
    };
    names
        .iter()
        .map(|n| mint_with(project, env, n, &host, &mut resolver))
        .collect()
}

/// Mint one lease secret (`gsec get NAME --lease`).
pub fn mint(
    project: &Project,
    env: &str,
    name: &str,
    notes: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Minted> {
    let host = Host::new()?.diagnostics(debug_requested(), notes);
    mint_with(project, env, name, &host, &mut Resolver::new(project))
}

fn debug_requested() -> bool {
    std::env::var_os("GSEC_PLUGIN_DEBUG").is_some_and(|v| !v.is_empty())
}

fn mint_with(
    project: &Project,
    env: &str,
    name: &str,
    host: &Host,
    resolver: &mut Resolver<'_>,
) -> Result<Minted> {
    project.check_env(env)?;
    let cfg = &project.config;
    let (name, decl) = cfg
        .secret(name)
        .ok_or_else(|| Error::usage(format!("secret '{name}' is not declared")))?;
    let lease = decl
        .lease
        .as_ref()
        .ok_or_else(|| Error::usage(format!("secret '{name}' is not a lease")))?;
    let inputs = crate::rotate::inputs_from(
        resolver,
        env,
        &lease.inputs,
        &format!("secrets.{name}.lease.inputs"),
    )?;
    let pdecl = cfg.plugins.get(&lease.plugin).ok_or_else(|| {
        Error::file(
            &project.config_path,
            format!(
                "secrets.{name}.lease.plugin: unknown plugin '{}'",
                lease.plugin
            ),
        )
    })?;
    let plugin = host.load(&project.root, &lease.plugin, pdecl)?;
    if !plugin.info().supports(Op::Lease) {
        return Err(Error::usage(format!(
            "secret '{name}' is a lease, but plugin '{}' ({}) does not support the 'lease' step (its info.steps does not list it): use a plugin that mints leases, or store a value instead",
            lease.plugin, pdecl.path
        )));
    }
    let leased = plugin
        .lease(&StepRequest {
            config: lease.config.clone(),
            inputs,
            ..Default::default()
        })
        .map_err(|e| match e.kind {
            ErrorKind::Failed { .. } | ErrorKind::Unavailable { .. } => {
                Error::msg(format!("cannot mint lease {name} in {env}: {e}"))
            }
            _ => Error::from(e),
        })?;
    let expires_at = match leased.expires_at.as_deref() {
        None | Some("") => None,
        Some(t) => Some(humantime::parse_rfc3339_weak(t).map_err(|_| {
            Error::msg(format!(
                "plugin '{}': the lease of {name} has an expires_at that is not an RFC 3339 time",
                lease.plugin
            ))
        })?),
    };
    if expires_at.is_some_and(|t| t <= SystemTime::now()) {
        return Err(Error::msg(format!(
            "plugin '{}': the lease of {name} is already expired",
            lease.plugin
        )));
    }
    let vars = map_fields(project, name, lease, leased.values)?;
    Ok(Minted {
        secret: name.clone(),
        vars,
        expires_at,
        on_expiry: lease.on_expiry,
        margin: lease.margin(),
    })
}

/// The lease's fields as variables: through `lease.env` when given (every
/// mapped field must be there; unmapped ones are dropped), else its one
/// field as the secret's own variable.
fn map_fields(
    project: &Project,
    name: &str,
    lease: &Lease,
    mut values: IndexMap<String, Zeroizing<String>>,
) -> Result<Vec<Var>> {
    let fields = values.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut vars = Vec::new();
    if lease.env.is_empty() {
        if values.len() != 1 {
            return Err(Error::usage(format!(
                "the lease of {name} has fields {}: map them to variables with secrets.{name}.lease.env in .gsec.yaml",
                fields
            )));
        }
        let var = project.config.env_var(name);
        if !valid_var_name(&var) {
            return Err(Error::usage(format!(
                "lease {name} would be given as '{var}', which is not a valid environment variable name; set `env:` for it in .gsec.yaml"
            )));
        }
        let (_, value) = values.pop().expect("one field");
        vars.push(Var {
            name: var,
            secret: name.to_string(),
            value,
        });
    } else {
        for (field, var) in &lease.env {
            let value = values.shift_remove(field).ok_or_else(|| {
                Error::msg(format!(
                    "the lease of {name} has no field '{field}' (secrets.{name}.lease.env maps it; the plugin returned {})",
                    fields
                ))
            })?;
            vars.push(Var {
                name: var.clone(),
                secret: name.to_string(),
                value,
            });
        }
    }
    for v in &vars {
        if v.value.contains('\0') {
            return Err(Error::msg(format!(
                "the value of {} (lease {name}) contains a NUL byte, which an environment variable cannot hold",
                v.name
            )));
        }
    }
    Ok(vars)
}

/// Add the leases' variables to `vars`, refusing a variable set twice.
pub fn merge(vars: &mut Vec<Var>, minted: &mut [Minted]) -> Result<()> {
    for m in minted.iter_mut() {
        for v in m.vars.drain(..) {
            if let Some(other) = vars.iter().find(|o| o.name == v.name) {
                return Err(Error::usage(format!(
                    "secrets '{}' and '{}' would both set {}; give one of them another variable name in .gsec.yaml",
                    other.secret, v.secret, v.name
                )));
            }
            vars.push(v);
        }
    }
    Ok(())
}
