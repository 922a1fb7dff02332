//! `gsec hook` (placeholder until the scanner lands).
use clap::Subcommand;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum HookCmd {
    /// Install the pre-commit hook.
    Install,
    /// Remove the pre-commit hook.
    Uninstall,
}

pub fn run(_ctx: &Ctx, _c: HookCmd) -> Result<Exit> {
    Err(Error::msg("`gsec hook` is not available in this build yet"))
}
