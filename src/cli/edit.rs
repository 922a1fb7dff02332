//! `gsec edit` (placeholder until implemented).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct EditArgs {}

pub fn run(_ctx: &Ctx, _a: EditArgs) -> Result<Exit> {
    Err(Error::msg("`gsec edit` is not available in this build yet"))
}
