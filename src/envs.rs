//! Environment resolution: the value of a secret in environment E comes from
//! E's own file, then the file of the environment E inherits from, and so
//! on; for `local`, the git-ignored `.gsec.local.yaml` comes first (like
//! Encore's `.secrets.local.cue`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_norway::Value;

use crate::config::LOCAL_FILE_NAME;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::vault::{Node, Vault};

/// The environment that reads local overrides.
pub const LOCAL_ENV: &str = "local";
/// The environment commands use when `--env` is not given.
pub const DEFAULT_ENV: &str = "development";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An environment's encrypted file.
    File { env: String, path: PathBuf },
    /// `.gsec.local.yaml`.
    Local(PathBuf),
}

/// One resolved secret.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub value: Node,
    pub source: Source,
}

/// Resolves values across the inheritance chain, opening each file once.
pub struct Resolver<'p> {
    pub project: &'p Project,
    files: HashMap<String, Option<Vault>>,
    local: Option<Option<Vec<(String, Node)>>>,
    /// `--service S`: only S's granted secrets are visible, and where S has
    /// a derived file this identity reads it when it cannot read the
    /// environment's own file (S's deploy key).
    service: Option<String>,
}

impl<'p> Resolver<'p> {
    pub fn new(project: &'p Project) -> Self {
        Resolver {
            project,
            files: HashMap::new(),
            local: None,
            service: None,
        }
    }

    /// A resolver that sees what `service` is granted, and nothing else.
    pub fn for_service(project: &'p Project, service: &str) -> Result<Self> {
        crate::services::service(&project.config, service)?;
        Ok(Resolver {
            service: Some(service.to_string()),
            ..Self::new(project)
        })
    }

    /// Is `name` visible (granted to the service, when there is one)?
    fn visible(&self, name: &str) -> bool {
        visible_to(self.project, self.service.as_deref(), name)
    }

    /// The service's derived file of `env`, when the service has one and
    /// this identity cannot read the environment's own file.
    fn derived(&self, env: &str) -> Result<Option<Option<Vault>>> {
        let Some(s) = &self.service else {
            return Ok(None);
        };
        if !crate::services::has_derived(&self.project.config, s, env)
            || self.project.can_decrypt(env)?
        {
            return Ok(None);
        }
        let path = crate::services::derived_file(self.project, env, s);
        let Some(bytes) = self.project.read_file(&path)? else {
            return Ok(Some(None));
        };
        let ids = self.project.identities()?;
        Vault::from_bytes(path, &bytes, ids, Default::default()).map(|v| Some(Some(v)))
    }

    /// The decrypted file of one environment (not its parents).
    /// Values sealed to the environment's inbox after the file's last
    /// change are applied on top, in memory (the newest write wins).
    pub fn file(&mut self, env: &str) -> Result<Option<&Vault>> {
        if !self.files.contains_key(env) {
            if let Some(d) = self.derived(env)? {
                self.files.insert(env.to_string(), d);
                return Ok(self.files.get(env).and_then(Option::as_ref));
            }
            let mut v = self.project.open(env)?;
            if let Some(vault) = v.as_mut()
                && self.project.revision().is_none()
            {
                apply_inbox(self.project, env, vault)?;
            }
            self.files.insert(env.to_string(), v);
        }
        Ok(self.files.get(env).and_then(Option::as_ref))
    }

    fn local(&mut self) -> Result<Option<&Vec<(String, Node)>>> {
        if self.local.is_none() {
            // Local overrides are never committed: they do not exist at a
            // past revision.
            self.local = Some(if self.project.revision().is_some() {
                None
            } else {
                load_local(&self.project.root.join(LOCAL_FILE_NAME))?
            });
        }
        Ok(self.local.as_ref().and_then(Option::as_ref))
    }

    /// Look one secret up (case-insensitive).
    pub fn lookup(&mut self, env: &str, name: &str) -> Result<Option<Resolved>> {
        self.project.check_env(env)?;
        if !self.visible(name) {
            return Ok(None);
        }
        if env == LOCAL_ENV {
            let path = self.project.root.join(LOCAL_FILE_NAME);
            if let Some(entries) = self.local()?
                && let Some((k, v)) = entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
            {
                return Ok(Some(Resolved {
                    name: k.clone(),
                    value: v.clone(),
                    source: Source::Local(path),
                }));
            }
        }
        for e in self.project.config.chain(env) {
            if let Some(v) = self.file(&e)?
                && let Some((k, n)) = v.get(name)
            {
                return Ok(Some(Resolved {
                    name: k.to_string(),
                    value: n.clone(),
                    source: Source::File {
                        env: e.clone(),
                        path: v.path().to_path_buf(),
                    },
                }));
            }
        }
        Ok(None)
    }

    /// Every secret visible in `env`, most specific first, each name once.
    pub fn all(&mut self, env: &str) -> Result<Vec<Resolved>> {
        self.project.check_env(env)?;
        let mut out: Vec<Resolved> = Vec::new();
        // Lower-cased names already resolved (names are case-insensitive).
        let mut names: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut seen = |k: &str| !names.insert(k.to_ascii_lowercase());
        if env == LOCAL_ENV {
            let path = self.project.root.join(LOCAL_FILE_NAME);
            if let Some(entries) = self.local()?.cloned() {
                for (k, v) in entries {
                    if self.visible(&k) && !seen(&k) {
                        out.push(Resolved {
                            name: k,
                            value: v,
                            source: Source::Local(path.clone()),
                        });
                    }
                }
            }
        }
        let (project, service) = (self.project, self.service.clone());
        for e in self.project.config.chain(env) {
            let Some(v) = self.file(&e)? else { continue };
            let path = v.path().to_path_buf();
            for (k, n) in v.entries() {
                if visible_to(project, service.as_deref(), k) && !seen(k) {
                    out.push(Resolved {
                        name: k.to_string(),
                        value: n.clone(),
                        source: Source::File {
                            env: e.clone(),
                            path: path.clone(),
                        },
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Is `name` visible to `service` (every name is, without one)?
fn visible_to(project: &Project, service: Option<&str>, name: &str) -> bool {
    service.is_none_or(|s| {
        project
            .config
            .services
            .get(s)
            .is_some_and(|svc| svc.grants(name))
    })
}

/// Parse `.gsec.local.yaml`: a plain map of secret names to values.
pub fn load_local(path: &std::path::Path) -> Result<Option<Vec<(String, Node)>>> {
    let Some(text) = crate::fsutil::read_regular(path, crate::fsutil::MAX_SECRETS_FILE)? else {
        return Ok(None);
    };
    let text = zeroize::Zeroizing::new(text);
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(vec![]));
    }
    let v: Value = crate::yaml::parse_value(&text).map_err(|e| Error::file(path, e))?;
    let Value::Mapping(m) = v else {
        return Err(Error::file(path, "must be a map of secret names to values"));
    };
    let mut out = Vec::new();
    for (k, v) in m {
        let Value::String(k) = k else {
            return Err(Error::file(path, "keys must be secret names"));
        };
        let node = crate::vault::node_from_yaml(&k, v).map_err(|e| Error::file(path, e))?;
        out.push((k, node));
    }
    Ok(Some(out))
}

/// Flatten a value into (suffix path, text) pairs: a string gives one pair
/// with an empty path; `{a: {b: x}}` gives `("A_B", x)`.
pub fn flatten(node: &Node) -> Vec<(String, zeroize::Zeroizing<String>)> {
    fn walk(n: &Node, prefix: &str, out: &mut Vec<(String, zeroize::Zeroizing<String>)>) {
        let join = |k: &str| {
            let k = k.replace(['-', '.', ' '], "_").to_ascii_uppercase();
            if prefix.is_empty() {
                k
            } else {
                format!("{prefix}_{k}")
            }
        };
        match n {
            Node::Leaf(l) => out.push((prefix.to_string(), l.text())),
            Node::Map(m) => m.iter().for_each(|(k, v)| walk(v, &join(k), out)),
            Node::List(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &join(&i.to_string()), out)),
        }
    }
    let mut out = Vec::new();
    walk(node, "", &mut out);
    out
}

/// A node as decrypted YAML text (for `gsec get` of a nested value).
pub fn to_yaml(node: &Node) -> zeroize::Zeroizing<String> {
    crate::vault::format::emit_tree(&node.plain_emit())
}

/// Overlay `env`'s sealed inbox values that are newer than the file.
fn apply_inbox(project: &Project, env: &str, vault: &mut Vault) -> Result<()> {
    let file_time = crate::inbox::seconds(vault.lastmodified()).unwrap_or(0);
    for (path, entry) in crate::inbox::entries(project, env)? {
        if crate::inbox::seconds(&entry.set_at).unwrap_or(0) < file_time {
            continue;
        }
        match crate::inbox::open(project, &path, &entry) {
            Ok(value) => {
                vault.set(&entry.name, &value)?;
            }
            // Sealed before you were a recipient: visible, not fatal.
            Err(Error::NoIdentity { .. }) => project.warnings.warn(&format!(
                "{}: sealed for other recipients; ask one of them to run `gsec inbox merge --env {env}`",
                path.display()
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
