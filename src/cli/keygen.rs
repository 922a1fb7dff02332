//! `gsec keygen`: a new X25519 identity, written 0600, never overwritten.

use std::path::PathBuf;

use clap::Args;

use super::output::outln;
use super::{Ctx, Exit, output};
use crate::error::{Error, Result};
use crate::{fsutil, keys};

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the identity. Default: $XDG_CONFIG_HOME/gsec/identity.txt
    /// (else ~/.config/gsec/identity.txt).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(_ctx: &Ctx, a: KeygenArgs) -> Result<Exit> {
    let path = match a.output {
        Some(p) => p,
        None => keys::default_identity_path().ok_or_else(|| {
            Error::msg(
                "cannot find a config directory: set HOME or XDG_CONFIG_HOME, or pass -o FILE",
            )
        })?,
    };
    let (text, recipient) = keys::generate();
    fsutil::write_new(&path, text.as_bytes(), 0o600)?;
    output::info(&format!(
        "wrote identity to {} (mode 0600); its recipient:",
        path.display()
    ));
    outln!("{recipient}");
    Ok(Exit::Ok)
}
