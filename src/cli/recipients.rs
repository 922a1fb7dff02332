//! `gsec recipients add|rm|list` and `gsec updatekeys`.

use clap::{Args, Subcommand};

use super::output::{houtln, outln};
use super::{Ctx, Exit, ListFormat, output};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::keys::Recipient;
use crate::keys::short_recipient;
use crate::project::Project;
use crate::state::State;
use crate::vault::OpenOptions;

#[derive(Debug, Subcommand)]
pub enum RecipientsCmd {
    /// Add a recipient to a group, then re-wrap the files that group covers.
    Add {
        /// age1… key, age1NAME1… age-plugin recipient (wrapped by
        /// age-plugin-NAME on PATH), or ssh-ed25519/ssh-rsa public key.
        key: String,
        /// Recipient group (default: the first group in .gsec.yaml).
        #[arg(long, short = 'g')]
        group: Option<String>,
        /// Only change .gsec.yaml; run `gsec updatekeys` later.
        #[arg(long)]
        no_update: bool,
    },
    /// Remove a recipient everywhere, then re-encrypt its files with new data keys.
    Rm {
        /// age1… key or ssh public key to remove (a comment may follow).
        key: String,
        /// Only change .gsec.yaml; run `gsec updatekeys` later.
        #[arg(long)]
        no_update: bool,
    },
    /// Show recipient groups and which environments use them.
    #[command(visible_alias = "ls")]
    List {
        /// Output: human lines or JSON.
        #[arg(long, value_enum, default_value_t)]
        format: ListFormat,
    },
}

#[derive(Debug, Args)]
pub struct UpdatekeysArgs {
    /// Only these environments (default: all).
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
    /// Output: human lines or JSON.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
}

pub fn run(ctx: &Ctx, cmd: RecipientsCmd) -> Result<Exit> {
    let project = ctx.project()?;
    match cmd {
        RecipientsCmd::Add {
            key,
            group,
            no_update,
        } => {
            let r = Recipient::parse(&key).map_err(|e| Error::usage(format!("{key}: {e}")))?;
            if let (Some(name), false) = (r.plugin(), no_update) {
                // Re-wrapping needs the plugin: say so before .gsec.yaml changes.
                crate::keys::find_plugin(name).map_err(|e| {
                    Error::msg(format!("cannot add {}: {e}", short_recipient(&key)))
                })?;
            }
            let ((group, added), _) = project.update_config(|cfg| {
                let group = match group {
                    Some(g) => g,
                    None => cfg
                        .recipients
                        .keys()
                        .next()
                        .cloned()
                        .unwrap_or_else(|| "team".into()),
                };
                let members = cfg.recipients.entry(group.clone()).or_default();
                let added = !members
                    .iter()
                    .any(|m| Recipient::parse(m).is_ok_and(|m| m == r));
                if added {
                    members.push(r.canonical());
                }
                Ok(((group, added), added))
            })?;
            output::info(&if added {
                format!("added {} to group {group}", short_recipient(&key))
            } else {
                format!("{} is already in group {group}", short_recipient(&key))
            });
            after_change(ctx, no_update)
        }
        RecipientsCmd::Rm { key, no_update } => {
            let r = Recipient::parse(&key).map_err(|e| Error::usage(format!("{key}: {e}")))?;
            project.update_config(|cfg| {
                let mut hit = false;
                let same = |m: &String| Recipient::parse(m).is_ok_and(|m| m == r);
                for members in cfg.recipients.values_mut() {
                    let before = members.len();
                    members.retain(|m| !same(m));
                    hit |= members.len() != before;
                }
                for env in cfg.environments.values_mut() {
                    let before = env.recipients.len();
                    env.recipients.retain(|m| !same(m));
                    hit |= env.recipients.len() != before;
                }
                if !hit {
                    return Err(Error::usage(format!(
                        "{} is not a recipient in .gsec.yaml",
                        short_recipient(&key)
                    )));
                }
                Ok(((), true))
            })?;
            output::info(&format!(
                "removed {} from .gsec.yaml",
                short_recipient(&key)
            ));
            after_change(ctx, no_update)
        }
        RecipientsCmd::List { format } => list(&project, format),
    }
}

/// Bring `.sops.yaml`'s creation rules in line with `.gsec.yaml`'s
/// recipients, when the project has one (so `sops updatekeys` agrees).
fn sync_sops(ctx: &Ctx) -> Result<()> {
    let project = ctx.project()?;
    let Some(mut sops) = crate::sopsconfig::SopsConfig::load(&project.root)? else {
        return Ok(());
    };
    let mut envs = Vec::new();
    for env in project.config.environments.keys() {
        let file = project.rel(&project.env_file(env)).replace('\\', "/");
        let keys = project
            .config
            .recipients_for(env)?
            .iter()
            .map(|r| r.canonical())
            .collect();
        envs.push((file, keys));
    }
    for note in sops.sync(&envs)? {
        output::info(&note);
    }
    Ok(())
}

fn after_change(ctx: &Ctx, no_update: bool) -> Result<Exit> {
    sync_sops(ctx)?;
    if no_update {
        output::info("run `gsec updatekeys` to re-encrypt the environment files");
        return Ok(Exit::Ok);
    }
    updatekeys(
        ctx,
        UpdatekeysArgs {
            envs: vec![],
            format: ListFormat::Human,
        },
    )
}

fn list(project: &Project, format: ListFormat) -> Result<Exit> {
    let cfg = &project.config;
    let envs_using = |g: &str| -> Vec<String> {
        cfg.environments
            .keys()
            .filter(|e| cfg.recipient_names(e).iter().any(|n| n == g))
            .cloned()
            .collect()
    };
    match format {
        ListFormat::Json => {
            let groups: Vec<_> = cfg
                .recipients
                .iter()
                .map(|(g, m)| serde_json::json!({"group": g, "recipients": m, "environments": envs_using(g)}))
                .collect();
            let envs: Vec<_> = cfg
                .environments
                .keys()
                .map(|e| {
                    let r: Vec<String> = cfg
                        .recipients_for(e)
                        .unwrap_or_default()
                        .iter()
                        .map(|r| r.canonical())
                        .collect();
                    serde_json::json!({"environment": e, "recipients": r})
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"groups": groups, "environments": envs})
                )
                .expect("json")
            );
        }
        ListFormat::Human => {
            for (g, members) in &cfg.recipients {
                houtln!("{g} (environments: {})", envs_using(g).join(", "));
                for m in members {
                    houtln!("  {m}");
                }
            }
        }
    }
    Ok(Exit::Ok)
}

/// Re-wrap each environment file for the recipients the config names.
/// Removing a recipient re-encrypts with a new data key and records which
/// secrets that recipient could read, for `gsec rotate --exposed`.
pub fn updatekeys(ctx: &Ctx, a: UpdatekeysArgs) -> Result<Exit> {
    sync_sops(ctx)?;
    let project = ctx.project()?;
    let envs = project.select_envs(&a.envs)?;
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let pb = crate::progress::bar(envs.len() as u64, "updatekeys");
    for env in &envs {
        pb.inc(1);
        if !project.env_file(env).exists() {
            continue;
        }
        let res = project.update(env, OpenOptions::default(), |v| {
            // The recipients as configured *now*, read under the file's
            // lock: a concurrent `recipients add` may have changed
            // `.gsec.yaml` since this process loaded it, and the last
            // writer of the file must not re-wrap for a stale set.
            let wanted = Config::load(&project.config_path)?.recipients_for(env)?;
            let names: Vec<String> = v.names().map(str::to_string).collect();
            Ok((v.set_recipients(wanted), names))
        });
        match res {
            Ok(((change, names), written)) => {
                // In-flight rotations (which hold values) and syncs keep
                // journals encrypted to the same recipients.
                for p in crate::rotate::journal::paths(&project, env) {
                    if let Err(e) = crate::rotate::journal::Journal::rewrap_at(&project, env, p) {
                        failures.push(e);
                    }
                }
                if !change.removed.is_empty() {
                    let removed: Vec<String> =
                        change.removed.iter().map(|r| short_recipient(r)).collect();
                    State::update(&project.root, |s| {
                        for n in &names {
                            s.expose(env, n, &removed);
                        }
                    })?;
                }
                report.push((env.clone(), change, names, written));
            }
            Err(e) => failures.push(e),
        }
    }
    pb.finish_and_clear();
    match a.format {
        ListFormat::Json => {
            let items: Vec<_> = report
                .iter()
                .map(|(env, c, names, written)| {
                    serde_json::json!({
                        "environment": env,
                        "added": c.added,
                        "removed": c.removed,
                        "rewritten": written,
                        "exposed": if c.removed.is_empty() { vec![] } else { names.clone() },
                    })
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"environments": items}))
                    .expect("json")
            );
        }
        ListFormat::Human => {
            for (env, c, names, _) in &report {
                if c.is_empty() {
                    output::info(&format!("{env}: recipients up to date"));
                    continue;
                }
                for r in &c.added {
                    output::info(&format!("{env}: added {}", short_recipient(r)));
                }
                for r in &c.removed {
                    output::info(&format!(
                        "{env}: removed {} (new data key, all values re-encrypted)",
                        short_recipient(r)
                    ));
                }
                if !c.removed.is_empty() && !names.is_empty() {
                    output::warn(&format!(
                        "{env}: the removed recipient could read {}; rotate them: `gsec rotate --exposed`",
                        names.join(", ")
                    ));
                }
            }
        }
    }
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(Exit::Ok),
    }
}
