//! `gsec check`: flags, then the problems `crate::check` finds, printed as
//! human lines, JSON or GitHub annotations.

use clap::{Args, ValueEnum};

use super::output::{houtln, outln};
use super::{Ctx, Exit, output};
pub use crate::check::{Problem, problems};
use crate::error::Result;
use crate::github::{self, Level};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Environments to check, comma-separated (default: all).
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
    /// Output: human lines, JSON, or GitHub annotations.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CheckFormat {
    Human,
    Json,
    Github,
}

pub fn run(ctx: &Ctx, a: CheckArgs) -> Result<Exit> {
    let project = ctx.project()?;
    let envs = project.select_envs(&a.envs)?;
    let problems = problems(&project, &envs)?;
    print(&problems, &envs, a.format)?;
    if problems.is_empty() {
        output::info(&format!("check passed for {}", envs.join(", ")));
        Ok(Exit::Ok)
    } else {
        output::info(&format!("check found {} problem(s)", problems.len()));
        Ok(Exit::Found)
    }
}

/// Print problems in `format` on stdout.
pub fn print(problems: &[Problem], envs: &[String], format: CheckFormat) -> Result<()> {
    match format {
        CheckFormat::Json => {
            let v = serde_json::json!({"ok": problems.is_empty(), "environments": envs, "problems": problems});
            outln!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        CheckFormat::Github => {
            for p in problems {
                let title = match (&p.environment, &p.secret) {
                    (Some(e), Some(s)) => format!("gsec check: {s} ({e})"),
                    (Some(e), None) => format!("gsec check: {e}"),
                    _ => "gsec check".to_string(),
                };
                // A missing secret has no file to point at.
                let file = if p.kind == "missing" {
                    None
                } else {
                    p.file.as_deref()
                };
                outln!(
                    "{}",
                    github::annotation(
                        Level::Error,
                        file,
                        p.line,
                        None,
                        &output::escape(&title),
                        &output::escape(&p.message)
                    )
                );
            }
        }
        CheckFormat::Human => {
            for p in problems {
                match &p.environment {
                    Some(e) => houtln!("{e}: {}", p.message),
                    None => houtln!("{}", p.message),
                }
            }
        }
    }
    Ok(())
}
