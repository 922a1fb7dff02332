//! `gsec inbox list|merge`: values sealed by encrypt-only contributors
//! (`crate::inbox`).

use clap::Subcommand;

use super::output::outln;
use super::{Ctx, Exit, ListFormat, output};
use crate::error::Result;
use crate::keys::short_recipient;

#[derive(Debug, Subcommand)]
pub enum InboxCmd {
    /// List sealed values waiting to be merged (names, who, when; never values).
    #[command(visible_alias = "ls")]
    List {
        /// Only these environments, comma-separated (default: all).
        #[arg(long = "env", short = 'e', value_delimiter = ',')]
        envs: Vec<String>,
        /// Output: human lines or JSON.
        #[arg(long, value_enum, default_value_t)]
        format: ListFormat,
    },
    /// Fold sealed values into the environment files and remove them.
    Merge {
        /// Only these environments, comma-separated (default: all).
        #[arg(long = "env", short = 'e', value_delimiter = ',')]
        envs: Vec<String>,
    },
}

pub fn run(ctx: &Ctx, c: InboxCmd) -> Result<Exit> {
    let project = ctx.project()?;
    match c {
        InboxCmd::List { envs, format } => {
            let envs = project.select_envs(&envs)?;
            let mut rows = Vec::new();
            for env in &envs {
                for (path, e) in crate::inbox::entries(&project, env)? {
                    let stale = crate::inbox::is_stale(&project, &e)?;
                    rows.push((project.rel(&path).into_owned(), e, stale));
                }
            }
            match format {
                ListFormat::Json => {
                    let v: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|(file, e, stale)| {
                            serde_json::json!({"env": e.env, "name": e.name, "file": file,
                                "set_by": e.set_by, "set_at": e.set_at, "stale": stale})
                        })
                        .collect();
                    outln!("{}", serde_json::Value::Array(v));
                }
                ListFormat::Human => {
                    for (file, e, stale) in &rows {
                        outln!(
                            "{}  {}  sealed {} by {}{}  ({file})",
                            e.env,
                            e.name,
                            e.set_at,
                            e.set_by
                                .as_deref()
                                .map(short_recipient)
                                .unwrap_or_else(|| "unknown".into()),
                            if *stale {
                                "  [recipients changed since]"
                            } else {
                                ""
                            }
                        );
                    }
                }
            }
            Ok(Exit::Ok)
        }
        InboxCmd::Merge { envs } => {
            let envs = project.select_envs(&envs)?;
            for env in &envs {
                let m = crate::inbox::merge(&project, env)?;
                if !m.names.is_empty() {
                    output::info(&format!(
                        "{env}: merged {} sealed value(s): {}",
                        m.names.len(),
                        m.names.join(", ")
                    ));
                }
            }
            Ok(Exit::Ok)
        }
    }
}
