//! `gsec render`: fill a template's placeholders with an environment's
//! values. Output files are created 0600: they hold plaintext.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::{Ctx, Exit, output};
use crate::envs::DEFAULT_ENV;
use crate::envs::{self, Resolver};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::render;
use crate::vault::Node;

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Template file (`-` for stdin).
    pub template: PathBuf,
    /// Environment (default: development; inheritance applies).
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
    /// Write to OUT (mode 0600) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: RenderArgs) -> Result<Exit> {
    let project = ctx.project()?;
    project.check_env(&a.env)?;
    let (name, text) = if a.template.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::msg(format!("reading stdin: {e}")))?;
        ("<stdin>".to_string(), s)
    } else {
        let p = ctx.dir.join(&a.template);
        let b = crate::fsutil::read_bounded(&p, crate::fsutil::MAX_TEMPLATE_FILE)?;
        let t = String::from_utf8(b).map_err(|_| Error::file(&a.template, "not UTF-8 text"))?;
        (a.template.display().to_string(), t)
    };
    let mut r = Resolver::new(&project);
    let out = render::render(&name, &text, |n| {
        Ok(r.lookup(&a.env, n)?.map(|found| match &found.value {
            Node::Leaf(l) => l.text(),
            other => Zeroizing::new(envs::to_yaml(other).trim_end().to_string()),
        }))
    })?;
    match a.output {
        Some(o) => {
            let path = ctx.dir.join(&o);
            fsutil::write_output(&path, out.as_bytes(), Some(0o600))?;
            output::info(&format!(
                "rendered {name} for {} to {} (mode 0600)",
                a.env,
                o.display()
            ));
        }
        None => {
            output::stdout(out.as_bytes())?;
        }
    }
    Ok(Exit::Ok)
}
