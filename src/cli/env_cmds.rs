//! Daily-workflow commands over resolved environments: check, run, export,
//! render, import, edit.
use clap::Args;

use super::{Ctx, Exit};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct CheckArgs {}
#[derive(Debug, Args)]
pub struct RunArgs {}
#[derive(Debug, Args)]
pub struct ExportArgs {}
#[derive(Debug, Args)]
pub struct RenderArgs {}
#[derive(Debug, Args)]
pub struct ImportArgs {}
#[derive(Debug, Args)]
pub struct EditArgs {}

fn todo(what: &str) -> Result<Exit> {
    Err(Error::msg(format!("`gsec {what}` is not available in this build yet")))
}
pub fn check(_: &Ctx, _: CheckArgs) -> Result<Exit> { todo("check") }
pub fn run(_: &Ctx, _: RunArgs) -> Result<Exit> { todo("run") }
pub fn export(_: &Ctx, _: ExportArgs) -> Result<Exit> { todo("export") }
pub fn render(_: &Ctx, _: RenderArgs) -> Result<Exit> { todo("render") }
pub fn import(_: &Ctx, _: ImportArgs) -> Result<Exit> { todo("import") }
pub fn edit(_: &Ctx, _: EditArgs) -> Result<Exit> { todo("edit") }
