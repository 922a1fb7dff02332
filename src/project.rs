//! A project: the directory holding `.gsec.yaml`, its parsed config, and
//! lazily discovered identities. Found by walking up from the working
//! directory to the git root, so gsec behaves the same from any
//! subdirectory (unlike sops' cwd-dependent lookup, sops #242).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::diag::Warnings;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keys::{self, Identities};
use crate::vault::{OpenOptions, Vault};

pub struct Project {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
    identity: Option<PathBuf>,
    ids: OnceCell<Identities>,
    /// `Some` when reading the project as it was at a commit (`--at REV`):
    /// config and environment files come from that commit's tree, and the
    /// project is read-only.
    at: Option<Revision>,
    /// Where non-fatal problems go (held until taken, unless a caller
    /// chose a destination with [`Project::with_warnings`]).
    pub warnings: Warnings,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// The directory holding `.gsec.yaml` for `start`: `start` or a parent, up
/// to and including the git work-tree root.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    for dir in start.ancestors() {
        if dir.join(config::FILE_NAME).is_file() {
            return Some(dir.to_path_buf());
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

impl Project {
    pub fn discover(start: &Path, identity: Option<PathBuf>) -> Result<Project> {
        let root = find_root(start).ok_or_else(|| Error::NoProject {
            start: start.to_path_buf(),
        })?;
        Self::load(root, identity)
    }

    pub fn load(root: PathBuf, identity: Option<PathBuf>) -> Result<Project> {
        let config_path = root.join(config::FILE_NAME);
        let config = Config::load(&config_path)?;
        let p = Project {
            root,
            config_path,
            config,
            identity,
            ids: OnceCell::new(),
            at: None,
            warnings: Warnings::held(),
        };
        for env in p.config.environments.keys() {
            p.check_contained(env)?;
        }
        p.finish_interrupted_writes();
        Ok(p)
    }

    /// Roll forward any write of an environment and its derived files that
    /// a crash interrupted (see `fsutil::write_all_atomic`), so every gsec
    /// command sees them all old or all new. Only a stat per environment
    /// when there is nothing to do; a failure is a warning here and an
    /// error on the next write (`update` does this under its lock too).
    fn finish_interrupted_writes(&self) {
        for env in self.config.environments.keys() {
            let path = self.env_file(env);
            if std::fs::symlink_metadata(fsutil::commit_path(&path)).is_err() {
                continue;
            }
            let done = fsutil::lock(&path).and_then(|_lock| self.roll_forward(&path));
            if let Err(e) = done {
                self.warnings.warn(&format!(
                    "could not finish an interrupted write of {}: {e}",
                    self.rel(&path)
                ));
            }
        }
    }

    /// [`fsutil::roll_forward`] for `path`'s commit journal, under the
    /// caller's lock of `path`.
    fn roll_forward(&self, path: &Path) -> Result<()> {
        if fsutil::roll_forward(&fsutil::commit_path(path))? {
            self.warnings.warn(&format!(
                "finished an interrupted write of {} and its derived files",
                self.rel(path)
            ));
        }
        Ok(())
    }

    /// Refuse an environment file that leaves the project root or enters
    /// `.git` through a symlink (the config's paths themselves are checked
    /// when it is parsed). The deepest existing part of the path is resolved,
    /// so a symlinked directory is caught before anything is created in it.
    pub fn check_contained(&self, env: &str) -> Result<()> {
        let path = self.env_file(env);
        let root = std::fs::canonicalize(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let Some(resolved) = path.ancestors().find_map(|a| std::fs::canonicalize(a).ok()) else {
            return Ok(());
        };
        let inside_git = resolved
            .strip_prefix(&root)
            .ok()
            .and_then(|r| r.components().next())
            .is_some_and(|c| c.as_os_str().eq_ignore_ascii_case(".git"));
        if !resolved.starts_with(&root) || inside_git {
            return Err(Error::file(
                &self.config_path,
                format!(
                    "environments.{env}.file: {} resolves to {}, {}; refusing it",
                    self.rel(&path),
                    resolved.display(),
                    if inside_git {
                        "inside .git"
                    } else {
                        "outside the project root (a symlink?)"
                    }
                ),
            ));
        }
        Ok(())
    }

    /// The project as it was at `rev` (a commit, branch, tag, `MERGE_HEAD`):
    /// `.gsec.yaml` and every environment file are read from that commit's
    /// tree through gix, so inheritance is resolved as it was then. Local
    /// overrides (never committed) do not apply.
    pub fn at(mut self, rev: &str) -> Result<Project> {
        let repo = crate::git::open(&self.root)?;
        let workdir = crate::git::workdir(&repo)
            .ok_or_else(|| Error::usage("--at needs a repository with a work tree"))?;
        let commit = crate::git::resolve_commit(&repo, rev)?;
        let prefix = self.repo_relative(&self.root, &workdir).unwrap_or_default();
        let revision = Revision {
            repo,
            commit,
            spec: rev.to_string(),
            workdir,
            prefix,
        };
        let cfg_bytes = revision.read(&self.config_path)?.ok_or_else(|| {
            Error::usage(format!(
                "{rev}: there is no {} at that revision",
                config::FILE_NAME
            ))
        })?;
        let text = String::from_utf8(cfg_bytes)
            .map_err(|_| Error::file(&self.config_path, format!("at {rev}: not UTF-8")))?;
        self.config = Config::parse(&self.config_path, &text)?;
        self.at = Some(revision);
        Ok(self)
    }

    /// A project path relative to the work tree `workdir` (from
    /// `git::workdir`), `/`-separated: how git names it. `None` outside it.
    pub fn repo_relative(&self, path: &Path, workdir: &Path) -> Option<String> {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::fs::canonicalize(&self.root)
                .unwrap_or_else(|_| self.root.clone())
                .join(path)
        };
        abs.strip_prefix(workdir)
            .ok()
            .map(|r| r.to_string_lossy().replace('\\', "/"))
    }

    /// The revision this project is read at (`--at`), if any.
    pub fn revision(&self) -> Option<&str> {
        self.at.as_ref().map(|r| r.spec.as_str())
    }

    /// A file's bytes from the work tree, or from the revision with `--at`;
    /// `None` when it does not exist there.
    pub fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match &self.at {
            Some(r) => r.read(path),
            None => fsutil::read_regular(path, fsutil::MAX_SECRETS_FILE),
        }
    }

    /// Send this project's warnings to `w` (the command line prints them).
    /// Warnings already held (from loading) are passed on to `w`.
    pub fn with_warnings(mut self, w: Warnings) -> Self {
        for m in self.warnings.take() {
            w.warn(&m);
        }
        self.warnings = w;
        self
    }

    /// Identities, discovered on first use (commands that never decrypt
    /// never touch key files).
    pub fn identities(&self) -> Result<&Identities> {
        if let Some(ids) = self.ids.get() {
            return Ok(ids);
        }
        let ids = keys::discover(self.identity.as_deref())?;
        for s in &ids.skipped {
            self.warnings.warn(s);
        }
        Ok(self.ids.get_or_init(|| ids))
    }

    /// Check that `env` is configured.
    pub fn check_env(&self, env: &str) -> Result<()> {
        if self.config.environments.contains_key(env) {
            return Ok(());
        }
        let known: Vec<&str> = self
            .config
            .environments
            .keys()
            .map(String::as_str)
            .collect();
        Err(Error::usage(format!(
            "unknown environment '{env}' (configured: {}){}",
            known.join(", "),
            crate::suggest::hint(env, known.iter().copied())
        )))
    }

    /// The environments a command works on: the ones named (each checked),
    /// or every configured environment when none is named.
    pub fn select_envs(&self, named: &[String]) -> Result<Vec<String>> {
        if named.is_empty() {
            return Ok(self.config.environments.keys().cloned().collect());
        }
        for e in named {
            self.check_env(e)?;
        }
        Ok(named.to_vec())
    }

    /// The encrypted file of an environment.
    pub fn env_file(&self, env: &str) -> PathBuf {
        self.root.join(self.config.env_file_rel(env))
    }

    /// Path relative to the root, for messages.
    pub fn rel<'a>(&self, p: &'a Path) -> std::borrow::Cow<'a, str> {
        p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy()
    }

    /// Open an environment's file; `None` when it does not exist yet.
    pub fn open(&self, env: &str) -> Result<Option<Vault>> {
        self.open_with(env, OpenOptions::default())
    }

    pub fn open_with(&self, env: &str, opts: OpenOptions) -> Result<Option<Vault>> {
        self.check_env(env)?;
        let path = self.env_file(env);
        let Some(bytes) = self.read_file(&path)? else {
            return Ok(None);
        };
        let ids = self.identities()?;
        Vault::from_bytes(path, &bytes, ids, opts)
            .map(Some)
            .map_err(|e| self.explain_access(e))
    }

    /// Can your identities open `env`'s file? `true` when it does not
    /// exist yet (a first write creates it for the configured recipients).
    pub fn can_decrypt(&self, env: &str) -> Result<bool> {
        let Some(p) = self.peek(env)? else {
            return Ok(true);
        };
        let ids = self.identities()?;
        let blocks: Vec<(&str, &str)> = p
            .meta
            .age
            .iter()
            .map(|s| (s.recipient.as_str(), s.enc.as_str()))
            .collect();
        let opened = ids.unwrap_first(&blocks);
        // A plugin that failed (an unplugged token, a refused PIN) must not
        // turn a recipient into an encrypt-only contributor.
        if let Some(e) = opened.plugin_failure(&blocks) {
            return Err(Error::file(self.env_file(env), e.to_string()));
        }
        Ok(opened.key.is_some())
    }

    /// An environment's file read without decrypting (names, recipients,
    /// `lastmodified`); `None` when it does not exist.
    pub fn peek(&self, env: &str) -> Result<Option<crate::vault::Peek>> {
        let path = self.env_file(env);
        match self.read_file(&path)? {
            Some(b) => crate::vault::Peek::from_bytes(&path, &b).map(Some),
            None => Ok(None),
        }
    }

    fn open_path(&self, path: PathBuf, opts: OpenOptions) -> Result<Vault> {
        let ids = self.identities()?;
        Vault::open(path, ids, opts).map_err(|e| self.explain_access(e))
    }

    /// Turn "no identity" into "not a recipient of <env>" when we know who
    /// we are.
    pub fn explain_access(&self, e: Error) -> Error {
        match e {
            Error::NoIdentity {
                path,
                recipients,
                looked,
            } => {
                let env = self
                    .config
                    .environments
                    .keys()
                    .find(|n| self.env_file(n) == path)
                    .cloned();
                match (env, self.ids.get().and_then(|i| i.first_recipient())) {
                    (Some(env), Some((me, _))) => Error::file(
                        &path,
                        format!(
                            "you are not a recipient of {env} (your key {} is not among: {recipients}); ask a recipient to run `gsec recipients add` and `gsec updatekeys`",
                            crate::keys::short_recipient(me)
                        ),
                    ),
                    _ => Error::NoIdentity {
                        path,
                        recipients,
                        looked,
                    },
                }
            }
            other => other,
        }
    }

    /// Lock, open (or create for the configured recipients), run `f`, and
    /// save if anything changed. Returns `f`'s result and whether the file
    /// was written. The lock is held from before the read to after the
    /// rename, so concurrent writers never lose each other's changes.
    ///
    /// The services' derived files of `env` (see `services.rs`) are brought
    /// in line with the result and committed together with it, atomically
    /// across files (`fsutil::write_all_atomic`), whether or not `f` changed
    /// anything: every write also repairs a stale derived file.
    pub fn update<T>(
        &self,
        env: &str,
        opts: OpenOptions,
        f: impl FnOnce(&mut Vault) -> Result<T>,
    ) -> Result<(T, bool)> {
        self.check_env(env)?;
        if let Some(r) = &self.at {
            return Err(Error::usage(format!(
                "the project at {} is read-only; drop --at to change it",
                r.spec
            )));
        }
        self.check_contained(env)?;
        let path = self.env_file(env);
        let _lock = fsutil::lock(&path)?;
        // Again under the lock: a symlink may have appeared since `load`.
        self.check_contained(env)?;
        self.roll_forward(&path)?;
        let mut vault = if path.exists() {
            self.open_path(path.clone(), opts)?
        } else {
            Vault::create(path.clone(), self.config.recipients_for(env)?)?
        };
        let out = f(&mut vault)?;
        let mut derived = crate::services::derive(self, env, &vault)?;
        // Derived files first and the environment file last: its new
        // version on disk means the whole commit was done.
        let mut files = Vec::new();
        for d in &mut derived {
            if let Some(text) = d.prepare()? {
                files.push((d.path().to_path_buf(), text.into_bytes()));
            }
        }
        let main = vault.prepare()?;
        let written = main.is_some();
        if let Some(text) = main {
            files.push((path.clone(), text.into_bytes()));
        }
        fsutil::write_all_atomic(&fsutil::commit_path(&path), &files)?;
        vault.mark_saved();
        derived.iter_mut().for_each(Vault::mark_saved);
        Ok((out, written))
    }

    /// Change `.gsec.yaml` the way environment files are changed: take its
    /// lock, re-read it (another process may have changed it since this one
    /// loaded it), apply `f`, validate, and replace it atomically — so
    /// concurrent `recipients add`s never lose each other's keys. Nothing is
    /// written when `f` returns `false` with its result. Returns `f`'s result
    /// and the configuration as saved.
    pub fn update_config<T>(
        &self,
        f: impl FnOnce(&mut Config) -> Result<(T, bool)>,
    ) -> Result<(T, Config)> {
        let _lock = fsutil::lock(&self.config_path)?;
        let mut cfg = Config::load(&self.config_path)?;
        let (out, changed) = f(&mut cfg)?;
        if changed {
            let text = format!("{}{}", config_header(), cfg.to_yaml());
            // Validate before replacing, so a bad edit never lands.
            Config::parse(&self.config_path, &text)?;
            fsutil::write_atomic(&self.config_path, text.as_bytes(), None)?;
        }
        Ok((out, cfg))
    }
}

pub fn config_header() -> &'static str {
    "# gsec project configuration. Schema: schemas/gsec.schema.json\n# yaml-language-server: $schema=https://raw.githubusercontent.com/gsec-dev/gsec/main/schemas/gsec.schema.json\n"
}

/// A commit the project is read at.
struct Revision {
    repo: gix::Repository,
    commit: gix::ObjectId,
    spec: String,
    workdir: PathBuf,
    /// The project root relative to the work tree (`""` at the top).
    prefix: String,
}

impl Revision {
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        // Project paths are absolute under the (canonical) project root.
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.workdir.join(&self.prefix).join(path)
        };
        let Ok(rel) = abs.strip_prefix(&self.workdir) else {
            return Err(Error::usage(format!(
                "{}: outside the repository, so not readable at {}",
                path.display(),
                self.spec
            )));
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        match crate::git::blob_at(&self.repo, self.commit, &rel)? {
            Some(id) => crate::git::blob(&self.repo, id).map(Some),
            None => Ok(None),
        }
    }
}
