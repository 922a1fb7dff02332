//! `gsec scan` (placeholder until the scanner lands).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct ScanArgs {}

pub fn run(_ctx: &Ctx, _a: ScanArgs) -> Result<Exit> {
    Err(Error::msg("`gsec scan` is not available in this build yet"))
}
