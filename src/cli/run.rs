//! `gsec run`: run a command with an environment's secrets in its
//! environment, and the leases it declares minted for it (see `lease.rs`).

use std::ffi::OsString;
use std::sync::Arc;

use clap::Args;

use super::{Ctx, Exit, output};
use crate::envs::DEFAULT_ENV;
use crate::error::{Error, Result};
use crate::exec::{self, Failure, Spec};
use crate::lease::{self, Watch};
use crate::mask::Patterns;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  gsec run -- ./manage.py runserver\n  gsec run --env production --mask -- ./deploy.sh\n  gsec run --env production --service api -- ./api"
)]
pub struct RunArgs {
    /// Environment whose secrets to add.
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
    /// Replace every secret value (and its base64 forms) in the command's
    /// stdout and stderr with `*****`. Values shorter than 4 bytes are not
    /// masked. The command then writes to pipes, not the terminal.
    #[arg(long)]
    pub mask: bool,
    /// Run even when a required secret has no value (a warning instead of
    /// the refusal outside local, development and preview).
    #[arg(long)]
    pub allow_missing: bool,
    /// Only the secrets granted to this service (`services:` in
    /// .gsec.yaml); read from its derived files with the service's own key.
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// The command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

pub fn run(ctx: &Ctx, a: RunArgs) -> Result<Exit> {
    let code = match prepare(ctx, a).map_err(Failure::Other).and_then(exec::run) {
        Ok(code) => code,
        Err(Failure::Spawn { code, message }) => {
            output::error_line(&message);
            code
        }
        Err(Failure::Other(e)) => return Err(e),
    };
    // The child's exit code is gsec's: `Exit` only knows 0/1, and every
    // secret has been dropped (and zeroed) by the time we get here.
    std::process::exit(i32::from(code));
}

fn prepare(ctx: &Ctx, a: RunArgs) -> Result<Spec> {
    let project = ctx.project()?;
    let mut vars = crate::export::checked_variables_allowing(
        &project,
        &a.env,
        a.service.as_deref(),
        a.allow_missing,
    )?;
    // Leases: minted now, for this command only, never stored.
    let mut minted = lease::mint_all(&project, &a.env, a.service.as_deref(), output::info)?;
    let leases: Vec<Watch> = minted.iter().filter_map(Watch::of).collect();
    for m in &minted {
        output::info(&format!(
            "minted lease {} ({}), valid until {}",
            m.secret,
            m.vars
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            m.expiry_text()
        ));
    }
    lease::merge(&mut vars, &mut minted)?;
    let mask = if a.mask {
        Patterns::new(vars.iter().map(|v| v.value.as_str())).map_err(Error::msg)?
    } else {
        None
    };
    let mut command = a.command.into_iter();
    let program = command
        .next()
        .ok_or_else(|| Error::usage("no command given"))?;
    Ok(Spec {
        program,
        args: command.collect(),
        env: vars.into_iter().map(|v| (v.name, v.value)).collect(),
        mask,
        leases,
        notes: Arc::new(|error, msg| {
            if error {
                output::error_line(msg)
            } else {
                output::warn(msg)
            }
        }),
    })
}
