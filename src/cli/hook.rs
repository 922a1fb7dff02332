//! `gsec hook install|uninstall`: the git pre-commit hook that runs
//! `gsec scan --staged`. An existing hook is kept and chained (renamed to
//! `pre-commit.gsec-chained` and run first), so installing gsec never
//! silently disables another tool's hook.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{Ctx, Exit, output};
use crate::error::{Error, IoContext, Result};
use crate::git;

/// First line after the shebang: how gsec recognises its own hook.
const MARKER: &str = "# gsec pre-commit hook";
const CHAINED: &str = "pre-commit.gsec-chained";
const REPLACED: &str = "pre-commit.gsec-replaced";

#[derive(Debug, Subcommand)]
pub enum HookCmd {
    /// Install the pre-commit hook (honours core.hooksPath).
    Install(InstallArgs),
    /// Remove the pre-commit hook, restoring a hook it chained.
    Uninstall,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Replace an existing pre-commit hook instead of chaining it (the old
    /// one is kept as pre-commit.gsec-replaced).
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, c: HookCmd) -> Result<Exit> {
    let repo = git::open(&ctx.dir)?;
    let dir = git::hooks_dir(&repo);
    match c {
        HookCmd::Install(a) => {
            let exit = install(&dir, a.force)?;
            register(ctx, &repo)?;
            Ok(exit)
        }
        HookCmd::Uninstall => uninstall(&dir),
    }
}

/// The merge and diff drivers live in `.git/config`, which a clone does
/// not copy: installing the hook in a fresh clone registers them too (and
/// adds `.gitattributes` lines for any environment file that lacks one).
pub(crate) fn register(ctx: &Ctx, repo: &gix::Repository) -> Result<()> {
    if crate::gitsetup::register_drivers(repo)? {
        output::info("registered the gsec merge and diff drivers in .git/config");
    }
    if let Ok(project) = ctx.project() {
        let added = crate::gitsetup::write_attributes(repo, &project)?;
        if !added.is_empty() {
            output::info(&format!(
                "added {} line(s) to .gitattributes (merge=gsec diff=gsec); commit it",
                added.len()
            ));
        }
    }
    Ok(())
}

fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.lines().take(3).any(|l| l.trim() == MARKER))
}

fn script() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .unwrap_or_else(|| PathBuf::from("gsec"));
    let exe = exe.to_string_lossy().replace('\'', "'\\''");
    format!(
        "#!/bin/sh\n{MARKER}\n# Installed by `gsec hook install`; remove with `gsec hook uninstall`.\n\
         # Blocks commits that add plaintext secrets (gsec scan --staged).\n\
         hookdir=$(dirname \"$0\")\n\
         if [ -x \"$hookdir/{CHAINED}\" ]; then\n  \"$hookdir/{CHAINED}\" \"$@\" || exit $?\nfi\n\
         if command -v gsec >/dev/null 2>&1; then\n  exec gsec scan --staged\nfi\n\
         exec '{exe}' scan --staged\n"
    )
}

fn install(dir: &Path, force: bool) -> Result<Exit> {
    std::fs::create_dir_all(dir).at(dir)?;
    let hook = dir.join("pre-commit");
    let _lock = crate::fsutil::lock(&hook)?;
    if hook.exists() && !is_ours(&hook) {
        let (keep, how) = if force {
            (dir.join(REPLACED), "replaced")
        } else {
            (dir.join(CHAINED), "chained")
        };
        if keep.exists() {
            return Err(Error::file(
                &keep,
                "already exists; move it away before installing (gsec will not overwrite a hook)",
            ));
        }
        std::fs::rename(&hook, &keep).at(&hook)?;
        output::info(&format!(
            "existing pre-commit hook {how}: kept as {}{}",
            keep.display(),
            if force {
                ""
            } else {
                " and run before the scan"
            }
        ));
    } else if force && dir.join(CHAINED).exists() {
        // --force on a chained install: stop running the chained hook.
        let chained = dir.join(CHAINED);
        std::fs::rename(&chained, dir.join(REPLACED)).at(&chained)?;
    }
    crate::fsutil::write_atomic(&hook, script().as_bytes(), Some(0o755))?;
    output::info(&format!("installed {}", hook.display()));
    Ok(Exit::Ok)
}

fn uninstall(dir: &Path) -> Result<Exit> {
    let hook = dir.join("pre-commit");
    let _lock = crate::fsutil::lock(&hook)?;
    if !hook.exists() {
        output::info("no pre-commit hook installed");
        return Ok(Exit::Ok);
    }
    if !is_ours(&hook) {
        return Err(Error::file(&hook, "is not gsec's hook; leaving it alone"));
    }
    std::fs::remove_file(&hook).at(&hook)?;
    let chained = dir.join(CHAINED);
    if chained.exists() {
        std::fs::rename(&chained, &hook).at(&chained)?;
        output::info(&format!(
            "removed gsec's hook and restored the previous one at {}",
            hook.display()
        ));
    } else {
        output::info(&format!("removed {}", hook.display()));
    }
    Ok(Exit::Ok)
}
