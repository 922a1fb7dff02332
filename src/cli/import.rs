//! `gsec import` (placeholder until implemented).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct ImportArgs {}

pub fn run(_ctx: &Ctx, _a: ImportArgs) -> Result<Exit> {
    Err(Error::msg(
        "`gsec import` is not available in this build yet",
    ))
}
