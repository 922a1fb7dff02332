//! Shell completions and the man page, generated from the same clap
//! definitions as `--help`, so they can never drift from the real flags.

use clap::Args;
use clap_complete::Shell;

use super::Exit;
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(a: CompletionsArgs) -> Result<Exit> {
    let mut cmd = super::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "gsec", &mut out);
    super::output::stdout(&out)?;
    Ok(Exit::Ok)
}

pub fn man() -> Result<Exit> {
    let mut out = Vec::new();
    clap_mangen::Man::new(super::command())
        .render(&mut out)
        .map_err(|e| Error::msg(format!("rendering the man page: {e}")))?;
    super::output::stdout(&out)?;
    Ok(Exit::Ok)
}
