//! Audit from git history, read through gix:
//! - [`log`]: every commit that added, changed or removed a secret, or
//!   changed an environment's recipients (`gsec log`);
//! - [`exposure`]: current values that a recipient who has since been
//!   removed could read in some old commit (`gsec exposure`).
//!
//! Both work from ciphertext first: gsec rewrites only the values that
//! change, so an unchanged ciphertext is an unchanged value, exactly. Where
//! ciphertext differs but the plaintext may not (sops re-encrypts every
//! value on each write), the versions are decrypted in memory when an
//! identity can, and compared there. Values are never printed.

use std::collections::HashMap;

use gix::ObjectId;

use crate::error::Result;
use crate::git;
use crate::keys::same_recipient;
use crate::project::Project;
use crate::vault::summary::Summary;
use crate::vault::{OpenOptions, Vault};

/// What happened to a secret (or a recipient) in a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Added,
    Changed,
    Removed,
    RecipientAdded,
    RecipientRemoved,
}

/// One line of `gsec log`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    pub commit: String,
    pub author: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub date: String,
    #[serde(skip)]
    pub time: i64,
    pub env: String,
    /// The secret's name, or the recipient for recipient events.
    pub name: String,
    pub action: Action,
}

/// Filters for [`log`].
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub name: Option<String>,
    pub envs: Vec<String>,
    /// Only commits at or after this time (seconds since the epoch).
    pub since: Option<i64>,
}

/// One environment file's history source.
struct Tracked {
    env: String,
    /// Repository-relative path.
    path: String,
}

/// A version's `(name, marker)` pairs and its recipients.
type Names = (Vec<(String, String)>, Vec<String>);

/// Reading versions of environment files, each blob parsed (and
/// decrypted) at most once.
struct Versions<'p> {
    project: &'p Project,
    repo: gix::Repository,
    summaries: HashMap<ObjectId, Option<Summary>>,
    vaults: HashMap<ObjectId, Option<Vault>>,
    blob_at: HashMap<(ObjectId, usize), Option<ObjectId>>,
    /// Versions that could not be parsed or decrypted, for a warning.
    unreadable: Vec<String>,
}

impl<'p> Versions<'p> {
    fn new(project: &'p Project, repo: gix::Repository) -> Self {
        Versions {
            project,
            repo,
            summaries: HashMap::new(),
            vaults: HashMap::new(),
            blob_at: HashMap::new(),
            unreadable: Vec::new(),
        }
    }

    fn blob_at(&mut self, commit: ObjectId, i: usize, path: &str) -> Result<Option<ObjectId>> {
        if let Some(b) = self.blob_at.get(&(commit, i)) {
            return Ok(*b);
        }
        let b = git::blob_at(&self.repo, commit, path)?;
        self.blob_at.insert((commit, i), b);
        Ok(b)
    }

    fn summary(&mut self, id: ObjectId, path: &str) -> Result<Option<&Summary>> {
        if !self.summaries.contains_key(&id) {
            let bytes = git::blob(&self.repo, id)?;
            let s = match Summary::of(std::path::Path::new(path), &bytes) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.unreadable
                        .push(format!("{path} at blob {}: {e}", id.to_hex_with_len(8)));
                    None
                }
            };
            self.summaries.insert(id, s);
        }
        Ok(self.summaries.get(&id).and_then(Option::as_ref))
    }

    /// The decrypted version, when an identity can open it.
    fn vault(&mut self, id: ObjectId, path: &str) -> Result<Option<&Vault>> {
        if !self.vaults.contains_key(&id) {
            let bytes = git::blob(&self.repo, id)?;
            let v = match self.project.identities() {
                Ok(ids) if !ids.is_empty() => {
                    Vault::from_bytes(path.into(), &bytes, ids, OpenOptions::default()).ok()
                }
                _ => None,
            };
            self.vaults.insert(id, v);
        }
        Ok(self.vaults.get(&id).and_then(Option::as_ref))
    }

    /// A version's markers by name and its recipients (empty when absent).
    fn names(&mut self, id: Option<ObjectId>, path: &str) -> Result<Names> {
        Ok(match id {
            Some(id) => self
                .summary(id, path)?
                .map(|s| (s.by_name(), s.recipients.clone()))
                .unwrap_or_default(),
            None => Default::default(),
        })
    }

    /// The secret and recipient changes from one version to another.
    fn changes(
        &mut self,
        old: Option<ObjectId>,
        now: Option<ObjectId>,
        path: &str,
    ) -> Result<Vec<(String, Action)>> {
        let (old_m, old_recips) = self.names(old, path)?;
        let (new_m, new_recips) = self.names(now, path)?;
        let in_old = |n: &str| old_m.iter().any(|(o, _)| o == n);
        // Names in both versions whose ciphertext differs. When some kept
        // their ciphertext, the file was rewritten minimally (as gsec
        // does) and a new ciphertext is a new value, exactly; when all
        // changed (sops re-encrypts every value), decrypt to tell.
        let common = new_m.iter().filter(|(n, _)| in_old(n)).count();
        let differing: Vec<&String> = new_m
            .iter()
            .filter(|(n, m)| in_old(n) && !old_m.iter().any(|(o, om)| o == n && om == m))
            .map(|(n, _)| n)
            .collect();
        let wholesale = common > 0 && differing.len() == common;
        let mut out = Vec::new();
        for (n, _) in &new_m {
            if !in_old(n) {
                out.push((n.clone(), Action::Added));
            } else if differing.contains(&n) {
                let real = match (old, now) {
                    (Some(o), Some(nw)) if wholesale => !self.same_plaintext(o, nw, n, path)?,
                    _ => true,
                };
                if real {
                    out.push((n.clone(), Action::Changed));
                }
            }
        }
        for (n, _) in &old_m {
            if !new_m.iter().any(|(m, _)| m == n) {
                out.push((n.clone(), Action::Removed));
            }
        }
        for r in &new_recips {
            if !old_recips.iter().any(|o| same_recipient(o, r)) {
                out.push((r.clone(), Action::RecipientAdded));
            }
        }
        for r in &old_recips {
            if !new_recips.iter().any(|n| same_recipient(n, r)) {
                out.push((r.clone(), Action::RecipientRemoved));
            }
        }
        Ok(out)
    }

    /// Does `name` decrypt to the same value in both versions? `false` when
    /// either cannot be decrypted (then the ciphertext change stands).
    fn same_plaintext(
        &mut self,
        old: ObjectId,
        new: ObjectId,
        name: &str,
        path: &str,
    ) -> Result<bool> {
        let av = self
            .vault(old, path)?
            .and_then(|v| v.get(name))
            .map(|(_, n)| n.clone());
        let bv = self
            .vault(new, path)?
            .and_then(|v| v.get(name))
            .map(|(_, n)| n.clone());
        Ok(matches!((av, bv), (Some(a), Some(b)) if a.same(&b)))
    }
}

fn tracked(project: &Project, repo: &gix::Repository, envs: &[String]) -> Vec<Tracked> {
    let Some(workdir) = git::workdir(repo) else {
        return vec![];
    };
    project
        .config
        .environments
        .keys()
        .filter(|e| envs.is_empty() || envs.contains(e))
        .filter_map(|env| {
            Some(Tracked {
                env: env.clone(),
                path: project.repo_relative(&project.env_file(env), &workdir)?,
            })
        })
        .collect()
}

fn rfc3339(t: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Commits reachable from HEAD, newest first; empty on an unborn branch.
fn head_commits(repo: &gix::Repository) -> Result<Vec<ObjectId>> {
    if git::head_tree_id(repo)?.is_none() {
        return Ok(vec![]);
    }
    let mut c = git::commits(repo, Some("HEAD"))?;
    c.reverse();
    Ok(c)
}

/// Every change to a secret or to recipients, newest first. Returns the
/// events and warnings (versions that could not be read).
pub fn log(project: &Project, filter: &LogFilter) -> Result<(Vec<Event>, Vec<String>)> {
    let repo = git::open(&project.root)?;
    let files = tracked(project, &repo, &filter.envs);
    let commits = head_commits(&repo)?;
    let mut v = Versions::new(project, repo);
    let mut events = Vec::new();
    for c in commits {
        let info = git::commit_info(&v.repo, c)?;
        if filter.since.is_some_and(|s| info.time < s) {
            continue;
        }
        for (i, f) in files.iter().enumerate() {
            let now = v.blob_at(c, i, &f.path)?;
            let mut before = Vec::with_capacity(info.parents.len());
            for p in &info.parents {
                before.push(v.blob_at(*p, i, &f.path)?);
            }
            // Unchanged relative to some parent: the change (if any) was
            // made, and is reported, where that parent got it.
            if before.contains(&now) || (before.is_empty() && now.is_none()) {
                continue;
            }
            // What changed relative to each parent; a merge reports only
            // what differs from every parent (what the merge itself made,
            // e.g. a conflict resolution), not what one branch brought in.
            let mut per_parent: Vec<Vec<(String, Action)>> = Vec::new();
            let olds: Vec<Option<ObjectId>> = if before.is_empty() {
                vec![None]
            } else {
                before
            };
            for old in &olds {
                per_parent.push(v.changes(*old, now, &f.path)?);
            }
            let (first, rest) = per_parent.split_first().expect("at least one parent slot");
            for (name, action) in first {
                if !rest.iter().all(|r| r.iter().any(|(n, _)| n == name)) {
                    continue;
                }
                if filter
                    .name
                    .as_ref()
                    .is_some_and(|n| !n.eq_ignore_ascii_case(name))
                {
                    continue;
                }
                events.push(Event {
                    commit: c.to_string(),
                    author: info.author.clone(),
                    email: info.email.clone(),
                    date: rfc3339(info.time),
                    time: info.time,
                    env: f.env.clone(),
                    name: name.clone(),
                    action: *action,
                });
            }
        }
    }
    Ok((events, v.unreadable))
}

/// A current value that someone no longer a recipient could read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exposure {
    pub name: String,
    pub env: String,
    /// Former recipients who could read this very value.
    pub recipients: Vec<String>,
    /// The newest commit in which they could.
    pub last_commit: String,
}

/// Outcome of [`exposure`].
#[derive(Debug, Default)]
pub struct ExposureReport {
    pub exposed: Vec<Exposure>,
    /// Checks that could not be made (an environment you cannot decrypt,
    /// an old version that does not decrypt): shown, never silently passed.
    pub unchecked: Vec<String>,
}

/// Which current values were readable, in some commit reachable from any
/// ref, by a recipient the environment no longer has.
pub fn exposure(project: &Project, envs: &[String]) -> Result<ExposureReport> {
    let repo = git::open(&project.root)?;
    let files = tracked(project, &repo, envs);
    let commits = git::commits(&repo, None)?; // oldest first
    let mut v = Versions::new(project, repo);
    let mut report = ExposureReport::default();
    for (i, f) in files.iter().enumerate() {
        let current = match project.open(&f.env) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                report
                    .unchecked
                    .push(format!("{}: cannot decrypt the current file: {e}", f.env));
                continue;
            }
        };
        let now_recips = current.recipients();
        let now_summary = match project.read_file(current.path())? {
            Some(b) => Summary::of(current.path(), &b).unwrap_or_default(),
            None => Summary::default(),
        };
        // Each distinct version once, with the newest commit holding it.
        let mut versions: Vec<(ObjectId, ObjectId)> = Vec::new();
        for c in &commits {
            if let Some(b) = v.blob_at(*c, i, &f.path)? {
                match versions.iter_mut().find(|(id, _)| *id == b) {
                    Some(e) => e.1 = *c,
                    None => versions.push((b, *c)),
                }
            }
        }
        let mut found: Vec<Exposure> = Vec::new();
        for (blob, commit) in versions {
            let Some(s) = v.summary(blob, &f.path)? else {
                continue;
            };
            let gone: Vec<String> = s
                .recipients
                .iter()
                .filter(|r| !now_recips.iter().any(|n| same_recipient(n, r)))
                .cloned()
                .collect();
            if gone.is_empty() {
                continue;
            }
            // Same ciphertext: the same value, exactly. Otherwise decrypt.
            let mut same: Vec<String> = Vec::new();
            let mut need: Vec<String> = Vec::new();
            for (name, _) in current.entries() {
                match (cipher_of(&now_summary, name), cipher_of(s, name)) {
                    (a, b) if !b.is_empty() && a == b => same.push(name.to_string()),
                    (_, b) if b.is_empty() => {} // not in that version
                    _ => need.push(name.to_string()),
                }
            }
            if !need.is_empty() {
                match v.vault(blob, &f.path)? {
                    Some(o) => {
                        for name in need {
                            let equal = match (o.get(&name), current.get(&name)) {
                                (Some((_, a)), Some((_, b))) => a.same(b),
                                _ => false,
                            };
                            if equal {
                                same.push(name);
                            }
                        }
                    }
                    None => report.unchecked.push(format!(
                        "{}: the version in commit {} does not decrypt with your identities",
                        f.env,
                        commit.to_hex_with_len(8)
                    )),
                }
            }
            let old = same;
            for name in old {
                match found.iter_mut().find(|e| e.name == name) {
                    Some(e) => {
                        for r in &gone {
                            if !e.recipients.iter().any(|x| same_recipient(x, r)) {
                                e.recipients.push(r.clone());
                            }
                        }
                        e.last_commit = newest(&v.repo, &e.last_commit, commit)?;
                    }
                    None => found.push(Exposure {
                        name,
                        env: f.env.clone(),
                        recipients: gone.clone(),
                        last_commit: commit.to_string(),
                    }),
                }
            }
        }
        report.exposed.extend(found);
    }
    report.unchecked.extend(v.unreadable);
    Ok(report)
}

/// The ciphertexts of one top-level name, in document order.
fn cipher_of<'a>(s: &'a Summary, name: &str) -> Vec<(&'a str, &'a str)> {
    s.entries
        .iter()
        .zip(&s.ciphertexts)
        .filter(|(e, _)| e.name == name)
        .map(|(_, (p, c))| (p.as_str(), c.as_str()))
        .collect()
}

/// The newer (by commit time) of a recorded commit and another.
fn newest(repo: &gix::Repository, recorded: &str, other: ObjectId) -> Result<String> {
    let Ok(r) = ObjectId::from_hex(recorded.as_bytes()) else {
        return Ok(other.to_string());
    };
    let (a, b) = (git::commit_info(repo, r)?, git::commit_info(repo, other)?);
    Ok(if b.time >= a.time { other } else { r }.to_string())
}

/// One key-level difference between two readings of the project.
#[derive(Debug, Clone)]
pub struct Difference {
    pub env: String,
    pub name: String,
    pub action: Action,
    /// The values, for `gsec diff --values` only.
    pub old: Option<crate::vault::Node>,
    pub new: Option<crate::vault::Node>,
}

/// Decrypted, key-level differences between the project read two ways
/// (two revisions, or a revision and the work tree), per environment.
/// Values are compared as plaintext, so a re-encryption is not a change.
pub fn diff(a: &Project, b: &Project, envs: &[String]) -> Result<Vec<Difference>> {
    let mut out = Vec::new();
    let names: Vec<String> = if envs.is_empty() {
        let mut n: Vec<String> = a.config.environments.keys().cloned().collect();
        for e in b.config.environments.keys() {
            if !n.contains(e) {
                n.push(e.clone());
            }
        }
        n
    } else {
        envs.to_vec()
    };
    let open = |p: &Project, env: &str| -> Result<Option<Vault>> {
        if p.config.environments.contains_key(env) {
            p.open(env)
        } else {
            Ok(None)
        }
    };
    for env in names {
        let (va, vb) = (open(a, &env)?, open(b, &env)?);
        let empty: Vec<(&str, &crate::vault::Node)> = Vec::new();
        let ea: Vec<_> = va.as_ref().map_or(empty.clone(), |v| v.entries().collect());
        let eb: Vec<_> = vb.as_ref().map_or(empty, |v| v.entries().collect());
        let find = |set: &[(&str, &crate::vault::Node)], k: &str| {
            set.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).clone())
        };
        for (k, new) in &eb {
            match find(&ea, k) {
                None => out.push(Difference {
                    env: env.clone(),
                    name: k.to_string(),
                    action: Action::Added,
                    old: None,
                    new: Some((*new).clone()),
                }),
                Some(old) if !old.same(new) => out.push(Difference {
                    env: env.clone(),
                    name: k.to_string(),
                    action: Action::Changed,
                    old: Some(old),
                    new: Some((*new).clone()),
                }),
                Some(_) => {}
            }
        }
        for (k, old) in &ea {
            if find(&eb, k).is_none() {
                out.push(Difference {
                    env: env.clone(),
                    name: k.to_string(),
                    action: Action::Removed,
                    old: Some((*old).clone()),
                    new: None,
                });
            }
        }
    }
    Ok(out)
}
