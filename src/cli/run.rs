//! `gsec run` (placeholder until implemented).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct RunArgs {}

pub fn run(_ctx: &Ctx, _a: RunArgs) -> Result<Exit> {
    Err(Error::msg("`gsec run` is not available in this build yet"))
}
