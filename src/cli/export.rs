//! `gsec export`: an environment's secrets in a format other tools read.

use std::io::Write;

use clap::Args;

use super::{Ctx, Exit, output};
use crate::envs::DEFAULT_ENV;
use crate::error::{Error, IoContext, Result};
use crate::export::{self, Format, Var};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Environment to export.
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Dotenv)]
    pub format: Format,
    /// With `--format github`: set step outputs (`$GITHUB_OUTPUT`) instead
    /// of environment variables for later steps (`$GITHUB_ENV`).
    #[arg(long)]
    pub output: bool,
    /// Write to FILE (0600, atomically) instead of stdout.
    #[arg(
        short = 'o',
        long = "output-file",
        value_name = "FILE",
        conflicts_with = "output"
    )]
    pub output_file: Option<std::path::PathBuf>,
    /// Only the secrets granted to this service (`services:` in
    /// .gsec.yaml); read from its derived files with the service's own key.
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    #[command(flatten)]
    pub at: super::AtArg,
}

pub fn run(ctx: &Ctx, a: ExportArgs) -> Result<Exit> {
    if a.output && a.format != Format::Github {
        return Err(Error::usage("--output only applies to --format github"));
    }
    let project = ctx.project_at(&a.at)?;
    let vars = export::checked_variables(&project, &a.env, a.service.as_deref())?;
    // Leases are minted for a command, never written out.
    let leases: Vec<&str> = crate::lease::declared(&project)
        .map(|(n, _)| n.as_str())
        .collect();
    if !leases.is_empty() {
        output::info(&format!(
            "not exported: lease secret(s) {} (minted only for `gsec run` and the Action's load)",
            leases.join(", ")
        ));
    }
    if a.format == Format::Github {
        return github(&vars, a.output);
    }
    if a.format == Format::Dotenv {
        for v in vars.iter().filter(|v| !crate::dotenv::portable(&v.value)) {
            output::warn(&format!(
                "{}: its value holds `${{` or mixes a quote with `$`, `\\`, a backtick or a line break, which python-dotenv, dotenvx and docker compose do not all read back the same; use --format json or shell to carry it exactly",
                v.name
            ));
        }
    }
    let text = export::render(a.format, &vars);
    if let Some(path) = &a.output_file {
        crate::fsutil::write_output(path, text.as_bytes(), Some(0o600))?;
        output::info(&format!(
            "exported {} variable(s) to {}",
            vars.len(),
            path.display()
        ));
        return Ok(Exit::Ok);
    }
    // Write-only secrets are used, never shown: not on a terminal.
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        for v in &vars {
            super::secrets::refuse_write_only(&project, &v.secret)?;
        }
    }
    output::stdout(text.as_bytes())?;
    Ok(Exit::Ok)
}

/// GitHub Actions: register every value (and every line of every value)
/// as a mask first, then append the values to the runner's file. Values
/// never reach stdout, where the log would show them.
pub(crate) fn github(vars: &[Var], step_output: bool) -> Result<Exit> {
    let var = if step_output {
        "GITHUB_OUTPUT"
    } else {
        "GITHUB_ENV"
    };
    let path = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => std::path::PathBuf::from(p),
        _ => {
            return Err(Error::usage(format!(
                "{var} is not set: --format github only works inside a GitHub Actions job"
            )));
        }
    };
    let block = export::github_file(vars)?;
    output::stdout(export::github_masks(vars).as_bytes())?;
    // The runner's file is append-only by protocol (other steps' commands
    // are in it), so this is one append, not an atomic replace.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .at(&path)?;
    f.write_all(block.as_bytes()).at(&path)?;
    f.flush().at(&path)?;
    output::info(&format!(
        "exported {} variable(s) to {var}{}",
        vars.len(),
        if vars.is_empty() {
            ""
        } else {
            " (values masked in the log)"
        }
    ));
    Ok(Exit::Ok)
}
