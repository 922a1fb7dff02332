//! `gsec render` (placeholder until implemented).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct RenderArgs {}

pub fn run(_ctx: &Ctx, _a: RenderArgs) -> Result<Exit> {
    Err(Error::msg(
        "`gsec render` is not available in this build yet",
    ))
}
