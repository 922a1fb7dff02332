//! Telling git how to treat gsec's encrypted files: `.gitattributes`
//! entries (`merge=gsec diff=gsec`, versioned with the project) and the
//! driver definitions in the repository's own config (not versioned, so a
//! fresh clone registers them again with `gsec hook install`).
//!
//! Existing content is never clobbered: lines are appended once, and a
//! pattern already covered in `.gitattributes` or `core.attributesFile`
//! is left alone.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::project::Project;

/// The driver name in `.gitattributes` and git config.
pub const DRIVER: &str = "gsec";
const ATTRS: &str = "merge=gsec diff=gsec";

/// How git should start this gsec: `gsec` when that name on `PATH` is
/// this binary, else this binary's absolute path (quoted for git's shell).
fn self_command() -> String {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok());
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("gsec"))
            .find(|p| p.is_file())
            .and_then(|p| std::fs::canonicalize(p).ok())
    });
    match me {
        Some(me) if on_path.as_ref() != Some(&me) => {
            format!("'{}'", me.to_string_lossy().replace('\'', "'\\''"))
        }
        _ => "gsec".to_string(),
    }
}

/// What is set up, for `gsec doctor`.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Encrypted files whose attributes are missing (repository-relative).
    pub unattributed: Vec<String>,
    pub merge_driver: bool,
    pub diff_driver: bool,
}

/// Repository-relative paths (`/`-separated) of the project's encrypted
/// files: every environment's file, its rotation journal, its sync
/// journals and its services' derived files.
pub fn encrypted_files(project: &Project, workdir: &Path) -> Vec<String> {
    let mut out: Vec<String> = project
        .config
        .environments
        .keys()
        .flat_map(|env| {
            let derived = crate::services::derived_services(&project.config, env)
                .into_iter()
                .map(|(s, _)| crate::services::derived_file(project, env, s));
            std::iter::once(project.env_file(env))
                .chain(crate::rotate::journal::paths(project, env))
                .chain(derived)
        })
        .filter_map(|p| project.repo_relative(&p, workdir))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn attribute_line(path: &str) -> String {
    // Anchored to the repository root; spaces escaped as git expects.
    format!("/{} {ATTRS}", path.replace(' ', "[[:space:]]"))
}

fn covered(text: &str, path: &str) -> bool {
    let want = attribute_line(path);
    text.lines().any(|l| l.trim() == want)
}

fn global_attributes(repo: &gix::Repository) -> Option<PathBuf> {
    repo.config_snapshot()
        .trusted_path("core.attributesFile")
        .ok()
        .flatten()
}

/// Append the attribute lines the project's encrypted files lack to
/// `<workdir>/.gitattributes`. Returns the lines added.
pub fn write_attributes(repo: &gix::Repository, project: &Project) -> Result<Vec<String>> {
    let workdir = workdir(repo)?;
    let path = workdir.join(".gitattributes");
    // The lock lives in the git directory: a sibling lock file would show
    // up in `git status` beside .gitattributes.
    let _lock = fsutil::lock(&repo.git_dir().join("gitattributes"))?;
    let existing = read_optional(&path)?;
    let global = global_attributes(repo)
        .map(|p| read_optional(&p))
        .transpose()?
        .unwrap_or_default();
    let mut added = Vec::new();
    for f in encrypted_files(project, &workdir) {
        if !covered(&existing, &f) && !covered(&global, &f) {
            added.push(attribute_line(&f));
        }
    }
    if added.is_empty() {
        return Ok(added);
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.contains("# gsec:") {
        text.push_str("# gsec: per-key merges and readable diffs of encrypted files\n");
    }
    for l in &added {
        text.push_str(l);
        text.push('\n');
    }
    fsutil::write_atomic(&path, text.as_bytes(), None)?;
    Ok(added)
}

/// Define the `gsec` merge and diff drivers in the repository's config
/// (`.git/config`) when they are not defined anywhere git looks. Returns
/// whether anything was written.
pub fn register_drivers(repo: &gix::Repository) -> Result<bool> {
    let (has_merge, has_diff) = {
        let cfg = repo.config_snapshot();
        (
            cfg.string("merge.gsec.driver").is_some(),
            cfg.string("diff.gsec.textconv").is_some(),
        )
    };
    if has_merge && has_diff {
        return Ok(false);
    }
    let path = repo.common_dir().join("config");
    let _lock = fsutil::lock(&path)?;
    let mut text = read_optional(&path)?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !has_merge {
        text.push_str(&format!(
            "[merge \"{DRIVER}\"]\n\tname = gsec: per-key three-way merge of encrypted files\n\tdriver = {} merge-driver %O %A %B %P\n",
            self_command()
        ));
    }
    if !has_diff {
        text.push_str(&format!(
            "[diff \"{DRIVER}\"]\n\ttextconv = {} textconv\n\tcachetextconv = true\n",
            self_command()
        ));
    }
    fsutil::write_atomic(&path, text.as_bytes(), None)?;
    Ok(true)
}

/// What is and is not set up.
pub fn status(repo: &gix::Repository, project: &Project) -> Result<Status> {
    let workdir = workdir(repo)?;
    let existing = read_optional(&workdir.join(".gitattributes"))?;
    let global = global_attributes(repo)
        .map(|p| read_optional(&p))
        .transpose()?
        .unwrap_or_default();
    let cfg = repo.config_snapshot();
    Ok(Status {
        unattributed: encrypted_files(project, &workdir)
            .into_iter()
            .filter(|f| !covered(&existing, f) && !covered(&global, f))
            .collect(),
        merge_driver: cfg.string("merge.gsec.driver").is_some(),
        diff_driver: cfg.string("diff.gsec.textconv").is_some(),
    })
}

fn workdir(repo: &gix::Repository) -> Result<PathBuf> {
    crate::git::workdir(repo)
        .ok_or_else(|| Error::usage("a bare repository has no .gitattributes to write"))
}

fn read_optional(path: &Path) -> Result<String> {
    match crate::fsutil::read_regular(path, crate::fsutil::MAX_CONFIG_FILE)? {
        Some(b) => String::from_utf8(b).map_err(|_| Error::file(path, "is not UTF-8")),
        None => Ok(String::new()),
    }
}
