//! `gsec export` (placeholder until implemented).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct ExportArgs {}

pub fn run(_ctx: &Ctx, _a: ExportArgs) -> Result<Exit> {
    Err(Error::msg(
        "`gsec export` is not available in this build yet",
    ))
}
