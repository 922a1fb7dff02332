//! `gsec rotate` (placeholder until plugins land).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct RotateArgs {}

pub fn run(_ctx: &Ctx, _a: RotateArgs) -> Result<Exit> {
    Err(Error::msg(
        "`gsec rotate` is not available in this build yet",
    ))
}
