//! A project: the directory holding `.gsec.yaml`, its parsed config, and
//! lazily discovered identities. Found by walking up from the working
//! directory to the git root, so gsec behaves the same from any
//! subdirectory (unlike sops' cwd-dependent lookup, sops #242).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use crate::config::{self, Config};
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
        let root = find_root(start).ok_or_else(|| {
            Error::msg(format!(
                "no {} in {} or its parents (up to the git root); run `gsec init` first",
                config::FILE_NAME,
                start.display()
            ))
        })?;
        Self::load(root, identity)
    }

    pub fn load(root: PathBuf, identity: Option<PathBuf>) -> Result<Project> {
        let config_path = root.join(config::FILE_NAME);
        let config = Config::load(&config_path)?;
        Ok(Project {
            root,
            config_path,
            config,
            identity,
            ids: OnceCell::new(),
        })
    }

    /// Identities, discovered on first use (commands that never decrypt
    /// never touch key files).
    pub fn identities(&self) -> Result<&Identities> {
        if let Some(ids) = self.ids.get() {
            return Ok(ids);
        }
        let ids = keys::discover(self.identity.as_deref())?;
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
            "unknown environment '{env}' (configured: {})",
            known.join(", ")
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
        let rel = self
            .config
            .environments
            .get(env)
            .and_then(|e| e.file.clone())
            .unwrap_or_else(|| format!("secrets/{env}.yaml"));
        self.root.join(rel)
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
        if !path.exists() {
            return Ok(None);
        }
        self.open_path(path, opts).map(Some)
    }

    fn open_path(&self, path: PathBuf, opts: OpenOptions) -> Result<Vault> {
        let ids = self.identities()?;
        Vault::open(path, ids, opts).map_err(|e| self.explain_access(e))
    }

    /// Turn "no identity" into "not a recipient of <env>" when we know who
    /// we are.
    fn explain_access(&self, e: Error) -> Error {
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
                            crate::vault::short_recipient(me)
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
    pub fn update<T>(
        &self,
        env: &str,
        opts: OpenOptions,
        f: impl FnOnce(&mut Vault) -> Result<T>,
    ) -> Result<(T, bool)> {
        self.check_env(env)?;
        let path = self.env_file(env);
        let _lock = fsutil::lock(&path)?;
        let mut vault = if path.exists() {
            self.open_path(path, opts)?
        } else {
            Vault::create(path, self.config.recipients_for(env)?)
        };
        let out = f(&mut vault)?;
        let written = vault.save()?;
        Ok((out, written))
    }

    /// Rewrite `.gsec.yaml` atomically (under its lock).
    pub fn save_config(&self, cfg: &Config) -> Result<()> {
        let _lock = fsutil::lock(&self.config_path)?;
        let text = format!("{}{}", config_header(), cfg.to_yaml());
        // Validate before replacing, so a bad edit never lands.
        Config::parse(&self.config_path, &text)?;
        fsutil::write_atomic(&self.config_path, text.as_bytes(), None)
    }
}

pub fn config_header() -> &'static str {
    "# gsec project configuration. Schema: schemas/gsec.schema.json\n# yaml-language-server: $schema=https://raw.githubusercontent.com/gsec-dev/gsec/main/schemas/gsec.schema.json\n"
}
