//! `gsec check` (placeholder until implemented).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct CheckArgs {}

pub fn run(_ctx: &Ctx, _a: CheckArgs) -> Result<Exit> {
    Err(Error::msg(
        "`gsec check` is not available in this build yet",
    ))
}
