//! `gsec init`: create `.gsec.yaml` and git-ignore the local override file.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Ctx, Exit, output};
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::keys::{self, Recipient};
use crate::{fsutil, project};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Recipient (age1… or ssh public key) for the default `team` group;
    /// repeatable. Default: the recipient of your identity.
    #[arg(long = "recipient", value_name = "KEY")]
    pub recipients: Vec<String>,
    /// Adopt the sops repository in place: every sops file becomes an
    /// environment (its `file:`), encrypted to the age keys of the
    /// `.sops.yaml` creation rule sops applies to it. The default when a
    /// `.sops.yaml` exists.
    #[arg(long, conflicts_with_all = ["recipients", "no_sops"])]
    pub from_sops: bool,
    /// Ignore an existing `.sops.yaml` and create the default environments.
    #[arg(long)]
    pub no_sops: bool,
}

/// The git work-tree root above `dir`, else `dir`.
fn project_root(dir: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
        .unwrap_or(dir)
}

pub fn run(ctx: &Ctx, a: InitArgs) -> Result<Exit> {
    let root = project_root(&ctx.dir);
    let path = root.join(config::FILE_NAME);
    if path.exists() {
        return Err(Error::file(
            &path,
            "already exists; refusing to overwrite it",
        ));
    }
    let sops = if a.no_sops {
        None
    } else {
        crate::sopsconfig::SopsConfig::load(&root)?
    };
    if a.from_sops && sops.is_none() {
        return Err(Error::usage(format!(
            "--from-sops: no {} at {}",
            crate::sopsconfig::FILE_NAME,
            root.display()
        )));
    }
    if let Some(sops) = sops {
        return adopt_sops(ctx, &root, &path, &sops);
    }
    let recipients = if a.recipients.is_empty() {
        let ids = keys::discover(ctx.identity.as_deref())?;
        ids.skipped.iter().for_each(|s| output::warn(s));
        let (r, src) = ids.first_recipient().ok_or_else(|| {
            Error::msg(format!(
                "no identity found (looked in: {}); run `gsec keygen` or pass --recipient KEY",
                ids.looked_in()
            ))
        })?;
        output::info(&format!("using the recipient of {src}"));
        vec![r.to_string()]
    } else {
        a.recipients
            .iter()
            .map(|r| {
                Recipient::parse(r)
                    .map(|r| r.canonical())
                    .map_err(|e| Error::usage(format!("--recipient {r}: {e}")))
            })
            .collect::<Result<_>>()?
    };
    let cfg = config::default_config(recipients);
    let text = format!("{}{}", project::config_header(), cfg.to_yaml());
    Config::parse(&path, &text)?;
    fsutil::write_new(&path, text.as_bytes(), 0o644)?;
    ignore_local_file(&root)?;
    if let Ok(repo) = crate::git::open(&root) {
        super::hook::register(ctx, &repo)?;
    }
    output::info(&format!(
        "created {} with environments {}; add secrets with `gsec set NAME --env ENV`",
        path.display(),
        cfg.environments
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(Exit::Ok)
}

/// `gsec init` in a sops repository: `.gsec.yaml` describes the files
/// that are there, with the recipients `.sops.yaml` gives them, so nothing
/// is re-encrypted and sops keeps working unchanged.
fn adopt_sops(
    ctx: &Ctx,
    root: &Path,
    path: &Path,
    sops: &crate::sopsconfig::SopsConfig,
) -> Result<Exit> {
    let found = crate::sopsconfig::adopt(root, sops)?;
    for s in &found.skipped {
        output::warn(s);
    }
    if found.envs.is_empty() {
        return Err(Error::file(
            &sops.path,
            "no sops files to adopt (see the lines above); run `gsec init --no-sops` to start with gsec's default environments instead",
        ));
    }
    let mut cfg = config::default_config(vec![]);
    cfg.recipients = found.groups.clone();
    cfg.environments.clear();
    for e in &found.envs {
        cfg.environments.insert(
            e.name.clone(),
            config::Environment {
                recipients: vec![e.group.clone()],
                inherit: None,
                file: Some(e.file.clone()),
            },
        );
    }
    // Commands default to `development`: name the adopted environment that
    // plays that part, if one does.
    let names: Vec<&String> = cfg.environments.keys().collect();
    cfg.default_env = ["development", "dev", "local", "default"]
        .iter()
        .find_map(|want| names.iter().find(|n| n.eq_ignore_ascii_case(want)))
        .or(names.first())
        .map(|n| n.to_string())
        .filter(|n| n != crate::envs::DEFAULT_ENV);
    let text = format!("{}{}", project::config_header(), cfg.to_yaml());
    Config::parse(path, &text)?;
    fsutil::write_new(path, text.as_bytes(), 0o644)?;
    ignore_local_file(root)?;
    if let Ok(repo) = crate::git::open(root) {
        super::hook::register(ctx, &repo)?;
    }
    for e in &found.envs {
        output::info(&format!(
            "environment {}: {} (recipients: {}, from {} creation rule)",
            e.name,
            e.file,
            e.group,
            crate::sopsconfig::FILE_NAME
        ));
    }
    // Whose key is not a recipient cannot read what was adopted: say so now.
    if let Ok(ids) = keys::discover(ctx.identity.as_deref())
        && let Some((mine, _)) = ids.first_recipient()
        && !found
            .groups
            .values()
            .flatten()
            .any(|k| keys::same_recipient(k, mine))
    {
        output::warn(&format!(
            "your key {} is in no creation rule: ask a recipient to run `gsec recipients add` for you",
            keys::short_recipient(mine)
        ));
    }
    output::info(&format!(
        "created {} from {}; {} stays valid and `gsec recipients add|rm` keep it in step",
        path.display(),
        crate::sopsconfig::FILE_NAME,
        crate::sopsconfig::FILE_NAME
    ));
    Ok(Exit::Ok)
}

/// Make sure `.gsec.local.yaml` (plaintext local overrides) and the lock
/// files gsec keeps beside each file it writes (`.NAME.yaml.lock`,
/// `.NAME.json.lock`, …, see `fsutil::lock`) are git-ignored, so `git add
/// -A` commits neither.
fn ignore_local_file(root: &Path) -> Result<()> {
    let gi = root.join(".gitignore");
    let existing = match crate::fsutil::read_regular(&gi, crate::fsutil::MAX_CONFIG_FILE)? {
        Some(b) => String::from_utf8(b).map_err(|_| Error::file(&gi, "not UTF-8 text"))?,
        None => String::new(),
    };
    let local = format!("/{}", config::LOCAL_FILE_NAME);
    let has = |entries: &[&str]| existing.lines().any(|l| entries.contains(&l.trim()));
    let mut add = Vec::new();
    if !has(&[&local, config::LOCAL_FILE_NAME]) {
        add.push(local.as_str());
    }
    for pattern in LOCK_PATTERNS {
        if !has(&[pattern]) {
            add.push(pattern);
        }
    }
    for pattern in [RECOVERED_PATTERN, COMMIT_PATTERN] {
        if !has(&[pattern]) {
            add.push(pattern);
        }
    }
    if add.is_empty() {
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(
        "# gsec: local plaintext overrides, lock files and recovered edits, never committed\n",
    );
    for entry in add {
        text.push_str(entry);
        text.push('\n');
    }
    fsutil::write_atomic(&gi, text.as_bytes(), None)
}

/// Match every lock file `fsutil::lock_path` names, whatever the format of
/// the file it locks (`vault::format`).
const LOCK_PATTERNS: [&str; 4] = [".*.yaml.lock", ".*.yml.lock", ".*.json.lock", ".*.env.lock"];
/// What `gsec edit` keeps (encrypted) when an edit could not be applied:
/// personal, not for the repository.
const RECOVERED_PATTERN: &str = ".*.gsec-recovered.yaml";
/// A commit journal (`fsutil::commit_path`) exists only between a crash and
/// the next gsec command on this machine: never for the repository.
const COMMIT_PATTERN: &str = ".*.gsec-commit";
