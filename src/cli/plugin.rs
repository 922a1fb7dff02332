//! `gsec plugin` (placeholder until plugins land).
use clap::Subcommand;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum PluginCmd {
    /// List configured plugins.
    List,
}

pub fn run(_ctx: &Ctx, _c: PluginCmd) -> Result<Exit> {
    Err(Error::msg(
        "`gsec plugin` is not available in this build yet",
    ))
}
