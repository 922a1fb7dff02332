//! `gsec merge-driver` and `gsec textconv`: what git runs for files marked
//! `merge=gsec diff=gsec` in `.gitattributes` (see `crate::gitsetup`).

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Ctx, Exit, output};
use crate::error::{Error, Result};
use crate::keys::{self, Identities, short_recipient};
use crate::vault::summary::Summary;
use crate::vault::{OpenOptions, Vault, merge};

#[derive(Debug, Args)]
pub struct MergeDriverArgs {
    /// The merge base's version (git's %O).
    pub base: PathBuf,
    /// Ours (git's %A): the merged result is written here.
    pub ours: PathBuf,
    /// Theirs (git's %B).
    pub theirs: PathBuf,
    /// The file's path in the repository (git's %P), for messages.
    pub path: Option<String>,
}

#[derive(Debug, Args)]
pub struct TextconvArgs {
    /// The file version git hands over.
    pub file: PathBuf,
}

/// One side of the merge, read.
enum Side {
    Absent,
    Sops(Vec<u8>),
    Other,
}

fn read_side(p: &Path) -> Result<Side> {
    let bytes = crate::fsutil::read_bounded(p, crate::fsutil::MAX_SECRETS_FILE)?;
    if bytes.is_empty() {
        return Ok(Side::Absent);
    }
    if crate::scan::sopsfile::is_sops(&bytes) {
        Ok(Side::Sops(bytes))
    } else {
        Ok(Side::Other)
    }
}

pub fn merge_driver(ctx: &Ctx, a: MergeDriverArgs) -> Result<Exit> {
    let shown = a
        .path
        .clone()
        .unwrap_or_else(|| a.ours.display().to_string());
    let (base, ours, theirs) = (
        read_side(&a.base)?,
        read_side(&a.ours)?,
        read_side(&a.theirs)?,
    );
    let (ours_b, theirs_b) = match (&ours, &theirs) {
        (Side::Sops(o), Side::Sops(t)) => (o, t),
        // Not (both) sops files: git's ordinary text merge decides.
        _ => return text_merge(&a, &shown),
    };
    // Identities: the project's, or the usual search when the file lives
    // outside a gsec project (a sops repository).
    let project = ctx.project().ok();
    let env = project.as_ref().and_then(|p| {
        p.config
            .environments
            .keys()
            .find(|e| p.rel(&p.env_file(e)) == shown.as_str())
            .cloned()
    });
    let where_ = match &env {
        Some(e) => format!("{shown} ({e})"),
        None => shown.clone(),
    };
    let discovered;
    let ids: &Identities = match &project {
        Some(p) => p.identities()?,
        None => {
            discovered = keys::discover(ctx.identity.as_deref())?;
            &discovered
        }
    };
    let shown_path = PathBuf::from(&shown);
    let open = |side: &str, bytes: &[u8]| {
        // Within a project, "no identity" becomes "not a recipient of E".
        let path = project
            .as_ref()
            .map_or(shown_path.clone(), |p| p.root.join(&shown));
        Vault::from_bytes(path, bytes, ids, OpenOptions::default())
            .map_err(|e| match &project {
                Some(p) => p.explain_access(e),
                None => e,
            })
            .map_err(|e| format!("{side}: {e}"))
    };
    let opened = (|| -> std::result::Result<_, String> {
        let base = match &base {
            Side::Sops(b) => Some(open("base", b)?),
            Side::Absent => None,
            Side::Other => return Err("the merge base is not a sops file".into()),
        };
        Ok((base, open("ours", ours_b)?, open("theirs", theirs_b)?))
    })();
    let (base, mut merged, theirs_v) = match opened {
        Ok(v) => v,
        Err(why) => {
            // Nothing is lost: ours stays in place, git marks the conflict.
            output::error_line(&format!(
                "merge: {where_}: cannot merge per key, ours kept: {why}"
            ));
            return Ok(Exit::Found);
        }
    };
    let outcome = merge::three_way(base.as_ref(), &mut merged, &theirs_v)?;
    let text = merged.render()?;
    crate::fsutil::write_atomic(&a.ours, text.as_bytes(), None)?;
    if !outcome.removed_recipients.is_empty() {
        output::info(&format!(
            "merge: {where_}: recipients removed ({}): new data key; rotate what they could read (`gsec rotate --exposed`)",
            outcome
                .removed_recipients
                .iter()
                .map(|r| short_recipient(r))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if outcome.conflicts.is_empty() {
        return Ok(Exit::Ok);
    }
    for c in &outcome.conflicts {
        output::error_line(&format!("merge conflict: {where_}: {}: {}", c.path, c.why));
    }
    let e = env.as_deref().unwrap_or("ENV");
    output::info(&format!(
        "merge: {where_} holds ours' value for each conflicting key; see theirs with `gsec get NAME --env {e} --at MERGE_HEAD`, choose with `gsec set NAME --env {e}`, then `git add {shown}`"
    ));
    Ok(Exit::Found)
}

/// git's own three-way text merge, for files that are not sops files.
fn text_merge(a: &MergeDriverArgs, shown: &str) -> Result<Exit> {
    let status = std::process::Command::new("git")
        .args(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs"])
        .arg(&a.ours)
        .arg(&a.base)
        .arg(&a.theirs)
        .status()
        .map_err(|source| Error::Os {
            what: "cannot run git merge-file",
            source,
        })?;
    match status.code() {
        Some(0) => Ok(Exit::Ok),
        Some(n) if n > 0 && n < 128 => Ok(Exit::Found),
        _ => Err(Error::usage(format!(
            "merge: {shown}: not a sops file, and git merge-file could not merge it"
        ))),
    }
}

pub fn textconv(_ctx: &Ctx, a: TextconvArgs) -> Result<Exit> {
    let bytes = crate::fsutil::read_bounded(&a.file, crate::fsutil::MAX_SECRETS_FILE)?;
    if !crate::scan::sopsfile::is_sops(&bytes) {
        // Not ours to interpret: git shows it as it is.
        output::stdout(&bytes)?;
        return Ok(Exit::Ok);
    }
    match Summary::of(&a.file, &bytes) {
        Ok(s) => output::stdout(s.render().as_bytes())?,
        Err(e) => {
            // A diff must still show something: the raw text, and why.
            output::warn(&format!("textconv: {}: {e}", a.file.display()));
            output::stdout(&bytes)?;
        }
    }
    Ok(Exit::Ok)
}
