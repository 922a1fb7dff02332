//! `.sops.yaml`: adopting a sops repository in place, and keeping its
//! `creation_rules` in step with `.gsec.yaml`, so that sops and gsec never
//! fight over recipients (issue 13, item 3).
//!
//! - [`SopsConfig::load`] reads the rules (bounded, duplicate keys refused,
//!   like every YAML file gsec parses): each rule's `path_regex` and its
//!   age recipients (`age:` as a comma-separated string or a list, or a
//!   single `key_groups` entry's `age:` list).
//! - [`adopt`] finds the sops files of the repository and turns each into
//!   an environment: its `file:` is the existing file, its recipients a
//!   group holding the age keys of the first rule matching its path (the
//!   rule sops itself would use), so nothing is re-encrypted.
//! - [`SopsConfig::sync`] rewrites the age recipients of every rule whose
//!   files all belong to environments with one recipient set, after `gsec
//!   recipients add|rm` or `updatekeys`; a rule covering environments with
//!   different recipients is left alone, with a warning.
//!
//! sops matches `path_regex` against the path relative to the directory of
//! `.sops.yaml` (here: the project root), first rule wins.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde_norway::Value;

use crate::error::{Error, Result};
use crate::keys::Recipient;

pub const FILE_NAME: &str = ".sops.yaml";

/// How a rule lists its age recipients (kept when the rule is rewritten).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgeForm {
    /// `age: "age1…,age1…"`
    Joined,
    /// `age: [age1…, …]`
    List,
    /// `key_groups: [{age: [age1…, …]}]`
    KeyGroup,
}

/// One `creation_rules` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Position in `creation_rules` (0-based).
    pub index: usize,
    path_regex: Option<Regex>,
    /// Canonical age recipients; `None` when the rule has no age keys
    /// (pgp/kms only): gsec can neither adopt nor sync it.
    pub age: Option<Vec<String>>,
    form: AgeForm,
}

impl Rule {
    fn matches(&self, rel: &str) -> bool {
        self.path_regex.as_ref().is_none_or(|r| r.is_match(rel))
    }
}

pub struct SopsConfig {
    pub path: PathBuf,
    doc: Value,
    pub rules: Vec<Rule>,
}

impl SopsConfig {
    /// `.sops.yaml` at `root`, if there is one.
    pub fn load(root: &Path) -> Result<Option<SopsConfig>> {
        let path = root.join(FILE_NAME);
        let Some(bytes) = crate::fsutil::read_regular(&path, crate::fsutil::MAX_CONFIG_FILE)?
        else {
            return Ok(None);
        };
        let doc = crate::yaml::parse_value(&bytes).map_err(|e| Error::file(&path, e))?;
        let rules = parse_rules(&doc).map_err(|e| Error::file(&path, e))?;
        Ok(Some(SopsConfig { path, doc, rules }))
    }

    /// The rule sops would use for a file at `rel` (root-relative, `/`).
    pub fn rule_for(&self, rel: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(rel))
    }

    /// Make each rule's age recipients those of the environments whose
    /// files it governs. `envs`: (root-relative file, canonical
    /// recipients) per environment. Returns what changed and what could
    /// not be, one line each; writes the file only if something changed.
    pub fn sync(&mut self, envs: &[(String, Vec<String>)]) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let mut changed = false;
        for i in 0..self.rules.len() {
            let Some(current) = self.rules[i].age.clone() else {
                continue;
            };
            let governed: Vec<&(String, Vec<String>)> = envs
                .iter()
                .filter(|(f, _)| self.rule_for(f).is_some_and(|r| r.index == i))
                .collect();
            let Some((_, want)) = governed.first() else {
                continue;
            };
            if governed.iter().any(|(_, r)| !same_set(r, want)) {
                let files: Vec<&str> = governed.iter().map(|(f, _)| f.as_str()).collect();
                notes.push(format!(
                    "{}: creation_rules[{i}] covers files whose environments have different recipients ({}): not changed",
                    FILE_NAME,
                    files.join(", ")
                ));
                continue;
            }
            if same_set(&current, want) {
                continue;
            }
            self.set_age(i, want)?;
            notes.push(format!(
                "{}: creation_rules[{i}] now lists {} age recipient(s), as .gsec.yaml does",
                FILE_NAME,
                want.len()
            ));
            changed = true;
        }
        if changed {
            let text = serde_norway::to_string(&self.doc)
                .map_err(|e| Error::file(&self.path, format!("cannot write: {e}")))?;
            let _lock = crate::fsutil::lock(&self.path)?;
            crate::fsutil::write_atomic(&self.path, text.as_bytes(), None)?;
        }
        Ok(notes)
    }

    fn set_age(&mut self, i: usize, keys: &[String]) -> Result<()> {
        let form = self.rules[i].form;
        let rule = self
            .doc
            .get_mut("creation_rules")
            .and_then(|r| r.get_mut(i))
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| Error::file(&self.path, "creation_rules changed while reading"))?;
        let list = Value::Sequence(keys.iter().cloned().map(Value::String).collect());
        match form {
            AgeForm::Joined => {
                rule.insert("age".into(), Value::String(keys.join(",")));
            }
            AgeForm::List => {
                rule.insert("age".into(), list);
            }
            AgeForm::KeyGroup => {
                if let Some(g) = rule
                    .get_mut("key_groups")
                    .and_then(|g| g.get_mut(0))
                    .and_then(Value::as_mapping_mut)
                {
                    g.insert("age".into(), list);
                }
            }
        }
        self.rules[i].age = Some(keys.to_vec());
        Ok(())
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|x| b.iter().any(|y| crate::keys::same_recipient(x, y)))
}

fn parse_rules(doc: &Value) -> std::result::Result<Vec<Rule>, String> {
    let Some(rules) = doc.get("creation_rules") else {
        return Ok(vec![]);
    };
    let Value::Sequence(rules) = rules else {
        return Err("creation_rules is not a list".into());
    };
    let mut out = Vec::with_capacity(rules.len());
    for (index, r) in rules.iter().enumerate() {
        let at = format!("creation_rules[{index}]");
        let path_regex = match r.get("path_regex") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                Regex::new(s)
                    .map_err(|e| format!("{at}.path_regex: not a regex gsec can read: {e}"))?,
            ),
            Some(_) => return Err(format!("{at}.path_regex is not a string")),
        };
        let (keys, form) = match (r.get("age"), r.get("key_groups")) {
            (Some(Value::String(s)), _) => (
                Some(
                    s.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(String::from)
                        .collect(),
                ),
                AgeForm::Joined,
            ),
            (Some(Value::Sequence(l)), _) => (Some(strings(l, &at)?), AgeForm::List),
            (Some(_), _) => return Err(format!("{at}.age is neither a string nor a list")),
            (None, Some(Value::Sequence(groups))) => match groups.as_slice() {
                [g] => match g.get("age") {
                    Some(Value::Sequence(l)) => (Some(strings(l, &at)?), AgeForm::KeyGroup),
                    _ => (None, AgeForm::KeyGroup),
                },
                _ => (None, AgeForm::KeyGroup),
            },
            (None, _) => (None, AgeForm::List),
        };
        let age = match keys {
            Some(keys) => {
                let mut canon: Vec<String> = Vec::new();
                for k in keys {
                    let r = Recipient::parse(&k).map_err(|e| format!("{at}.age: {e}"))?;
                    let c = r.canonical();
                    if !canon.contains(&c) {
                        canon.push(c);
                    }
                }
                Some(canon)
            }
            None => None,
        };
        out.push(Rule {
            index,
            path_regex,
            age,
            form,
        });
    }
    Ok(out)
}

fn strings(l: &[Value], at: &str) -> std::result::Result<Vec<String>, String> {
    l.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.trim().to_string()),
            _ => Err(format!("{at}.age holds something that is not a key")),
        })
        .collect()
}

/// One environment made from an existing sops file.
#[derive(Debug)]
pub struct AdoptedEnv {
    pub name: String,
    /// Root-relative path of the file.
    pub file: String,
    /// Recipient group: `sops-rule-N` (creation_rules[N-1]).
    pub group: String,
}

/// What [`adopt`] found.
#[derive(Debug, Default)]
pub struct Adoption {
    pub envs: Vec<AdoptedEnv>,
    /// Group name → canonical age recipients.
    pub groups: indexmap::IndexMap<String, Vec<String>>,
    /// Files left out, and why (one line each).
    pub skipped: Vec<String>,
}

/// Find the sops files under `root` (git-ignored files excluded) and make
/// each an environment with the recipients of the rule sops would apply.
pub fn adopt(root: &Path, cfg: &SopsConfig) -> Result<Adoption> {
    let mut found: Vec<String> = Vec::new();
    let walk = ignore::WalkBuilder::new(root).hidden(false).build();
    for entry in walk.flatten() {
        let p = entry.path();
        if !entry.file_type().is_some_and(|t| t.is_file())
            || p.components().any(|c| c.as_os_str() == ".git")
        {
            continue;
        }
        let Ok(rel) = p.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel == FILE_NAME || rel.starts_with(".gsec") {
            continue;
        }
        let Some(bytes) = crate::fsutil::read_regular(p, crate::fsutil::MAX_SECRETS_FILE)
            .ok()
            .flatten()
        else {
            continue;
        };
        if crate::scan::sopsfile::is_sops(&bytes) {
            found.push(rel);
        }
    }
    found.sort();
    let mut out = Adoption::default();
    for rel in found {
        if let Err(why) = crate::vault::format::Format::of_path(Path::new(&rel)) {
            out.skipped.push(format!("{rel}: not adopted: {why}"));
            continue;
        }
        let Some(rule) = cfg.rule_for(&rel) else {
            out.skipped.push(format!(
                "{rel}: not adopted: no creation rule of {FILE_NAME} matches it"
            ));
            continue;
        };
        let Some(age) = &rule.age else {
            out.skipped.push(format!(
                "{rel}: not adopted: creation_rules[{}] has no age recipients (gsec encrypts to age and SSH keys)",
                rule.index
            ));
            continue;
        };
        let group = format!("sops-rule-{}", rule.index + 1);
        out.groups
            .entry(group.clone())
            .or_insert_with(|| age.clone());
        out.envs.push(AdoptedEnv {
            name: String::new(),
            file: rel,
            group,
        });
    }
    name_environments(&mut out.envs);
    Ok(out)
}

/// Environment names from file names: `secrets/prod.enc.yaml` → `prod`;
/// names that would collide get their directory in front
/// (`app-prod`, `db-prod`).
fn name_environments(envs: &mut [AdoptedEnv]) {
    fn stem(file: &str) -> String {
        let base = file.rsplit('/').next().unwrap_or(file);
        let mut s = base;
        for ext in [
            ".yaml", ".yml", ".json", ".env", ".enc", ".sops", ".secrets", ".secret",
        ] {
            if let Some(x) = s.strip_suffix(ext) {
                s = x;
            }
        }
        // `secrets.enc.yaml`, `values.sops.yaml` keep their word.
        for ext in [".enc", ".sops"] {
            if let Some(x) = s.strip_suffix(ext) {
                s = x;
            }
        }
        sanitize(s)
    }
    fn sanitize(s: &str) -> String {
        let mut out: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if !out.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            out.insert_str(0, "env-");
        }
        out.truncate(64);
        out
    }
    let stems: Vec<String> = envs.iter().map(|e| stem(&e.file)).collect();
    for (i, e) in envs.iter_mut().enumerate() {
        let clash = stems.iter().filter(|s| **s == stems[i]).count() > 1;
        e.name = if clash {
            let dir = e.file.rsplit('/').nth(1).unwrap_or("root");
            sanitize(&format!("{dir}-{}", stems[i]))
        } else {
            stems[i].clone()
        };
    }
    // Still equal (same directory name at different depths): number them.
    let names: Vec<String> = envs.iter().map(|e| e.name.clone()).collect();
    for (i, e) in envs.iter_mut().enumerate() {
        if names[..i].contains(&e.name) {
            e.name = format!("{}-{}", e.name, i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_every_age_form_and_first_match_wins() {
        let k1 = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let doc = crate::yaml::parse_value(
            format!(
                "creation_rules:\n  - path_regex: prod/.*\n    age: >-\n      {k1},\n      {k1}\n  - path_regex: dev/.*\n    age: [{k1}]\n  - key_groups:\n      - age: [{k1}]\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let rules = parse_rules(&doc).unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].age.as_ref().unwrap().len(), 1, "duplicates merged");
        assert_eq!(rules[0].form, AgeForm::Joined);
        assert_eq!(rules[1].form, AgeForm::List);
        assert_eq!(rules[2].form, AgeForm::KeyGroup);
        let cfg = SopsConfig {
            path: PathBuf::from(FILE_NAME),
            doc,
            rules,
        };
        assert_eq!(cfg.rule_for("prod/a.yaml").unwrap().index, 0);
        assert_eq!(cfg.rule_for("dev/a.yaml").unwrap().index, 1);
        assert_eq!(cfg.rule_for("other.yaml").unwrap().index, 2);
    }

    #[test]
    fn environment_names_come_from_file_names() {
        let mut envs: Vec<AdoptedEnv> = [
            "secrets/prod.enc.yaml",
            "app/dev.yaml",
            "db/dev.yaml",
            "x/9.sops.yaml",
        ]
        .iter()
        .map(|f| AdoptedEnv {
            name: String::new(),
            file: f.to_string(),
            group: String::new(),
        })
        .collect();
        name_environments(&mut envs);
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["prod", "app-dev", "db-dev", "env-9"]);
    }
}
