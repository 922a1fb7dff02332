//! `gsec doctor` (placeholder).
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub fn run(_ctx: &Ctx, _a: DoctorArgs) -> Result<Exit> {
    Err(Error::msg(
        "`gsec doctor` is not available in this build yet",
    ))
}
