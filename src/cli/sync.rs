//! `gsec sync`: flags in, one line per name out. The protocol lives in
//! `crate::sync`.

use clap::Args;

use super::output::{houtln, outln};
use super::{Ctx, Exit, output};
use crate::envs::DEFAULT_ENV;
use crate::error::{Error, Result};
use crate::plugin::Host;
use crate::sync::{self, Action, Item};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Environment whose secrets are pushed.
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
    /// Target, as named under `sync:` in .gsec.yaml.
    #[arg(long = "to", value_name = "TARGET")]
    pub to: String,
    /// Only the secrets granted to this service (`services:`).
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Delete what gsec pushed earlier and the environment no longer has
    /// (without it, such secrets are only reported).
    #[arg(long)]
    pub prune: bool,
    /// Show what would change (names only) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn label(a: Action, dry: bool) -> &'static str {
    match (a, dry) {
        (Action::Create, false) => "created",
        (Action::Create, true) => "would-create",
        (Action::Update, false) => "updated",
        (Action::Update, true) => "would-update",
        (Action::Unchanged, _) => "unchanged",
        (Action::Prune, false) => "pruned",
        (Action::Prune, true) => "would-prune",
        // Without --prune a stale secret is kept; it would be pruned.
        (Action::Keep, _) => "would-prune",
    }
}

pub fn run(ctx: &Ctx, a: SyncArgs) -> Result<Exit> {
    let project = ctx.project()?;
    let host = Host::new()?.diagnostics(super::plugin::debug_requested(), output::info);
    let req = sync::Request {
        env: &a.env,
        target: &a.to,
        service: a.service.as_deref(),
        prune: a.prune,
        dry_run: a.dry_run,
    };
    let items = sync::sync(&project, &host, &req)?;
    report(&a, &items)
}

fn report(a: &SyncArgs, items: &[Item]) -> Result<Exit> {
    let dry = a.dry_run;
    if a.json {
        let list: Vec<serde_json::Value> = items
            .iter()
            .map(|i| {
                let mut v = serde_json::json!({"name": i.name, "action": label(i.action, dry)});
                if let Some(e) = &i.error {
                    v["error"] = e.to_string().into();
                }
                v
            })
            .collect();
        let doc = serde_json::json!({
            "target": a.to,
            "environment": a.env,
            "dry_run": dry,
            "secrets": list,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&doc)
                .map_err(|e| Error::msg(format!("cannot encode JSON output: {e}")))?
        );
    } else {
        for i in items {
            match &i.error {
                None => houtln!("{:<13} {}", label(i.action, dry), i.name),
                Some(_) => houtln!("{:<13} {}", "failed", i.name),
            }
        }
    }
    let count = |a: Action| {
        items
            .iter()
            .filter(|i| i.action == a && i.error.is_none())
            .count()
    };
    let failed: Vec<&Item> = items.iter().filter(|i| i.error.is_some()).collect();
    let mut parts = vec![];
    for (n, what) in [
        (
            count(Action::Create),
            if dry { "to create" } else { "created" },
        ),
        (
            count(Action::Update),
            if dry { "to update" } else { "updated" },
        ),
        (count(Action::Unchanged), "unchanged"),
        (
            count(Action::Prune),
            if dry { "to prune" } else { "pruned" },
        ),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let kept = count(Action::Keep);
    if kept > 0 {
        parts.push(format!(
            "{kept} no longer in {} (kept; --prune deletes them)",
            a.env
        ));
    }
    if parts.is_empty() {
        parts.push("nothing to sync".into());
    }
    output::info(&format!(
        "{}{} {} → {}: {}",
        if dry { "dry run: " } else { "" },
        "sync",
        a.env,
        a.to,
        parts.join(", ")
    ));
    if failed.is_empty() {
        return Ok(Exit::Ok);
    }
    for i in &failed {
        if let Some(e) = &i.error {
            output::error_line(&format!("{}: {e}", i.name));
        }
    }
    Err(Error::msg(format!(
        "{} of {} secrets failed to sync to {} (see above; run again to retry)",
        failed.len(),
        items.len(),
        a.to
    )))
}
