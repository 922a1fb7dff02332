//! `gsec log` and `gsec exposure`: flags, then `crate::history`'s answer
//! printed as human lines or JSON. Never values.

use clap::Args;

use super::output::{houtln, outln};
use super::{Ctx, Exit, ListFormat, output};
use crate::error::{Error, Result};
use crate::history::{self, Action, LogFilter};
use crate::keys::short_recipient;

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this secret (case-insensitive).
    pub name: Option<String>,
    /// Only these environments, comma-separated (default: all).
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
    /// Only commits since: a date (2026-01-31), an RFC 3339 time, or an age
    /// (30d, 12h).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Output: human lines or JSON.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// From this revision (default: HEAD).
    pub from: Option<String>,
    /// To this revision (default: the work tree).
    pub to: Option<String>,
    /// Only these environments, comma-separated (default: all).
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
    /// Also print the old and new values (decrypted).
    #[arg(long)]
    pub values: bool,
}

#[derive(Debug, Args)]
pub struct ExposureArgs {
    /// Only these environments, comma-separated (default: all).
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
    /// Output: human lines or JSON.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
}

fn parse_since(s: &str) -> Result<i64> {
    let now = std::time::SystemTime::now();
    let t = if let Ok(d) = humantime::parse_duration(s) {
        now.checked_sub(d).unwrap_or(std::time::UNIX_EPOCH)
    } else if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        t
    } else if let Ok(t) = humantime::parse_rfc3339_weak(&format!("{s} 00:00:00")) {
        t
    } else {
        return Err(Error::usage(format!(
            "--since '{s}': expected a date (2026-01-31), an RFC 3339 time or an age (30d)"
        )));
    };
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64))
}

pub fn log(ctx: &Ctx, a: LogArgs) -> Result<Exit> {
    let project = ctx.project()?;
    for e in &a.envs {
        project.check_env(e)?;
    }
    let filter = LogFilter {
        name: a.name.clone(),
        envs: a.envs.clone(),
        since: a.since.as_deref().map(parse_since).transpose()?,
    };
    let (events, unreadable) = history::log(&project, &filter)?;
    for u in &unreadable {
        output::warn(&format!("log: cannot read {u}"));
    }
    match a.format {
        ListFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&events).map_err(|e| Error::msg(e.to_string()))?
        ),
        ListFormat::Human => {
            for e in &events {
                let what = match e.action {
                    Action::Added => format!("added {}", e.name),
                    Action::Changed => format!("changed {}", e.name),
                    Action::Removed => format!("removed {}", e.name),
                    Action::RecipientAdded => {
                        format!("recipient added: {}", short_recipient(&e.name))
                    }
                    Action::RecipientRemoved => {
                        format!("recipient removed: {}", short_recipient(&e.name))
                    }
                };
                houtln!(
                    "{}  {}  {:<12} {}  ({} <{}>)",
                    short_id(&e.commit),
                    e.date,
                    e.env,
                    what,
                    e.author,
                    e.email
                );
            }
        }
    }
    Ok(Exit::Ok)
}

pub fn exposure(ctx: &Ctx, a: ExposureArgs) -> Result<Exit> {
    let project = ctx.project()?;
    for e in &a.envs {
        project.check_env(e)?;
    }
    let report = history::exposure(&project, &a.envs)?;
    for u in &report.unchecked {
        output::warn(&format!("exposure not checked: {u}"));
    }
    match a.format {
        ListFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report.exposed).map_err(|e| Error::msg(e.to_string()))?
        ),
        ListFormat::Human => {
            for e in &report.exposed {
                houtln!(
                    "{} ({}): readable by former recipient(s) {} until commit {}; rotate it: gsec rotate {} --env {}",
                    e.name,
                    e.env,
                    e.recipients
                        .iter()
                        .map(|r| short_recipient(r))
                        .collect::<Vec<_>>()
                        .join(", "),
                    short_id(&e.last_commit),
                    e.name,
                    e.env
                );
            }
            if report.exposed.is_empty() && report.unchecked.is_empty() {
                output::info("no current value was readable by a former recipient");
            }
        }
    }
    Ok(if !report.exposed.is_empty() {
        Exit::Found
    } else if !report.unchecked.is_empty() {
        // Fail closed: a check that could not run is not a pass.
        return Err(Error::usage(format!(
            "exposure: {} check(s) could not run (see warnings)",
            report.unchecked.len()
        )));
    } else {
        Exit::Ok
    })
}

fn short_id(id: &str) -> String {
    id.chars().take(10).collect()
}

pub fn diff(ctx: &Ctx, a: DiffArgs) -> Result<Exit> {
    let from = ctx.project()?.at(a.from.as_deref().unwrap_or("HEAD"))?;
    let to = match &a.to {
        Some(rev) => ctx.project()?.at(rev)?,
        None => ctx.project()?,
    };
    let diffs = history::diff(&from, &to, &a.envs)?;
    let text = |n: &Option<crate::vault::Node>| -> String {
        match n {
            Some(crate::vault::Node::Leaf(l)) => format!("{:?}", &*l.text()),
            Some(other) => crate::vault::format::emit_tree(&other.plain_emit())
                .trim_end()
                .replace('\n', " "),
            None => String::new(),
        }
    };
    for d in &diffs {
        let sign = match d.action {
            Action::Added => '+',
            Action::Removed => '-',
            _ => '~',
        };
        if a.values {
            match d.action {
                Action::Added => houtln!("{sign} {} {}: {}", d.env, d.name, text(&d.new)),
                Action::Removed => houtln!("{sign} {} {}: {}", d.env, d.name, text(&d.old)),
                _ => houtln!(
                    "{sign} {} {}: {} -> {}",
                    d.env,
                    d.name,
                    text(&d.old),
                    text(&d.new)
                ),
            }
        } else {
            houtln!("{sign} {} {}", d.env, d.name);
        }
    }
    Ok(Exit::Ok)
}
