//! The leak scanner. Pieces, each with one job (gitleaks/ripgrep style):
//! - `rules`: the credential formats, as data (`rules/*.toml`);
//! - `engine`: one pass over a buffer (keyword prefilter, rule regexes,
//!   `generic` assignment detection, `managed` values, `decode` layers);
//! - `allow`: fingerprints, baselines, path globs, the inline marker;
//! - `gitleaks`: a repository's `.gitleaks.toml` (rules, allowlists) and
//!   `.gitleaksignore`, translated into the above;
//! - `source`: files, stdin, the index, history — each turned into
//!   fragments for one sink that runs the `Scanner` (this module: path and
//!   content policy, line numbers, fingerprints), with one error policy;
//! - `verify`: live validation (`--validate`): the request a rule declares,
//!   to its provider's host only;
//! - `report`: human, JSON, SARIF and GitHub annotation output.
//!
//! Every caller builds its scanner the same way: [`setup_for`], then
//! [`Scanner::new`], then [`source::run`] with the source its [`Kind`]
//! names. The scanner is the same for every kind: what a scan of a few
//! small files and one of gigabytes need differently (the keyword
//! matcher) follows from the bytes scanned (see `prefilter`).

pub mod allow;
mod assignment;
mod build_shared;
pub mod decode;
pub mod engine;
pub mod generic;
pub mod gitleaks;
pub mod managed;
mod prefilter;
pub mod report;
#[cfg(test)] // build.rs's: its tables are in prefilter
mod rule_head;
pub mod rules;
pub mod sopsfile;
pub mod source;
pub mod validate;
pub mod verify;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::ScanConfig;
use crate::error::{Error, Result};
use crate::project::Project;
use allow::Allow;
use engine::{Engine, Hit, RuleRef};
use gix::bstr::ByteSlice;
use source::{Fragment, Lines};
pub use source::{ItemError, run};

/// Default `scan.max_file_size`: large enough that generated bundles,
/// dumps and logs are scanned (a 6 MB file with a token at its end passed
/// the hook when this was 5 MiB); larger items are named in the report.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 100 << 20;
/// Default `scan.decode_depth`.
pub const DEFAULT_DECODE_DEPTH: u32 = 2;

/// Lock files: full of hashes and URLs, never hand-written secrets.
const LOCK_FILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "Cargo.lock",
    "go.sum",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "composer.lock",
    "Gemfile.lock",
    "packages.lock.json",
    "flake.lock",
];

/// One reported leak.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Path as shown and in JSON: relative to the scanned directory.
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Where the secret ends: its last line and the column just past its
    /// last character (SARIF's `endLine`/`endColumn`), so a report marks
    /// the whole credential. None for a finding about a whole file.
    pub end: Option<(usize, usize)>,
    pub rule: &'static str,
    pub description: &'static str,
    /// `<rule>:<root-relative path>:<hash>`; stable across line moves.
    pub fingerprint: String,
    /// The secret's first 4 characters, or nothing (managed values).
    pub redacted: String,
    /// The commit that introduced it (history scans).
    pub commit: Option<String>,
    /// `--migrate-ignores`: the old, unkeyed fingerprint that allows this
    /// finding (to be replaced by [`Finding::fingerprint`]).
    pub legacy: Option<String>,
    /// A managed secret's value: which secret, where, and what to do.
    pub managed: Option<ManagedSecret>,
    /// That commit's author (`Name <email>`) and author date (RFC 3339).
    pub author: Option<String>,
    pub date: Option<String>,
    /// The credential, opaque, until `--validate` has checked it (only when
    /// the scan validates and the rule declares how).
    pub candidate: Option<verify::Candidate>,
    /// What `--validate` concluded (rules that declare a check only).
    pub validation: Option<verify::Validation>,
}

/// The secret a managed-value finding is the value of (names only).
#[derive(Debug, Clone)]
pub struct ManagedSecret {
    pub name: String,
    pub environments: Vec<String>,
    /// What to do, as a command: rotate it, or change it and `gsec set` it.
    pub remedy: String,
}

/// Outcome of a scan: findings, counts for the summary line, and what
/// could not be done. Every output format shows `warnings` and `errors`.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub files: usize,
    pub skipped: usize,
    pub commits: usize,
    /// Checks that did not run fully (managed-value detection skipped):
    /// the scan is still a verdict, but a weaker one. `--strict` makes any
    /// of these an error.
    pub warnings: Vec<String>,
    /// Items that could not be read (see `source`'s error policy): the scan
    /// is incomplete and the command exits 2.
    pub errors: Vec<ItemError>,
}

/// A hit resolved to a line, before path-dependent allowlisting.
#[derive(Clone)]
struct Located {
    rule: RuleRef,
    line: usize,
    /// The line the whole match starts on (how gitleaks numbers findings,
    /// for `.gitleaksignore`).
    match_line: usize,
    column: usize,
    end: Option<(usize, usize)>,
    hash_input: zeroize::Zeroizing<Vec<u8>>,
    redacted: String,
}

/// Everything a scan needs, built once and shared by worker threads.
pub struct Scanner {
    engine: Engine,
    allow: Allow,
    max_file_size: u64,
    /// Root-relative paths of the project's encrypted environment files.
    vault_files: HashSet<String>,
    /// Checks that could not be set up (copied into every report).
    warnings: Vec<String>,
    migrate: bool,
    /// Custom rules about file names (`path` and no pattern).
    path_rules: Vec<&'static rules::Rule>,
    /// The repository's gitleaks configuration, when it has one.
    gitleaks: Option<Gitleaks>,
    /// What the scan set-up read, one line each (the CLI prints them).
    notes: Vec<String>,
    /// Root-relative path of `.gsec.yaml`, and the `tp`/`fp` samples of its
    /// custom rules: a sample there is test data, not a finding.
    config_rel: Option<String>,
    samples: Vec<String>,
    /// Managed values (to name the secret a finding is the value of) and
    /// the secrets that have a rotation plugin (lower case).
    managed: Option<Arc<managed::Managed>>,
    rotatable: HashSet<String>,
    /// Keep each finding's credential for `--validate`.
    validate: bool,
    /// See [`Scanner::ignored_validators`].
    ignored_validators: Vec<String>,
}

/// gitleaks settings in force (see [`gitleaks`]): they apply to pattern
/// findings only.
#[derive(Default)]
struct Gitleaks {
    allowlists: Vec<gitleaks::Allowlist>,
    ignore: Option<gitleaks::Ignore>,
    /// Root-relative path of the `.gitleaks.toml` read (never scanned,
    /// as gitleaks skips its own configuration).
    config_rel: Option<String>,
}

impl Gitleaks {
    /// Is this pattern finding allowed by an allowlist?
    fn allows(&self, c: &gitleaks::Candidate<'_>) -> bool {
        self.allowlists.iter().any(|a| a.allows(c))
    }
}

/// Findings of pattern rules (built-in, custom, generic detection): what
/// gitleaks settings may allow. gsec's own checks are never theirs.
fn pattern_rule(r: RuleRef) -> bool {
    matches!(r, RuleRef::Pack(_) | RuleRef::Generic)
}

/// What is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The staged change (pre-commit).
    Staged,
    /// One buffer.
    Stdin,
    /// Files and directories.
    Paths,
    /// Commits.
    History,
}

/// How a scan is set up (from flags and `.gsec.yaml`).
#[derive(Default)]
pub struct Setup {
    pub config: ScanConfig,
    pub project: Option<std::rc::Rc<Project>>,
    /// Root where `.gsecignore` lives (project or repository root).
    pub root: Option<PathBuf>,
    pub baseline: Option<PathBuf>,
    /// Look for the project's managed values.
    pub managed: bool,
    /// Report findings allowed only by old, unkeyed fingerprints (with
    /// [`Finding::legacy`]) so that `--migrate-ignores` can rewrite them.
    pub migrate: bool,
    /// `--gitleaks-config FILE`: read this instead of the root's
    /// `.gitleaks.toml` (which must then exist).
    pub gitleaks_config: Option<PathBuf>,
    /// Keep the credential of findings whose rule declares a live check
    /// (`--validate`), for [`verify::run`].
    pub validate: bool,
    /// Let the configuration say where validation sends credentials:
    /// `scan.validate.endpoints` and the `verify` of custom (and imported)
    /// rules. [`setup_for`] trusts it (the developer's own `.gsec.yaml`);
    /// off (the default here, and the Action on pull requests, whose
    /// `.gsec.yaml` the pull request wrote), built-in rules are validated
    /// at their own providers' hosts only and custom rules not at all
    /// ([`Scanner::ignored_validators`] says what was left out).
    pub trust_project_validators: bool,
}

/// A custom rule for the lifetime of the process. Rules are referenced as
/// `&'static` throughout (findings name their rule by `&'static str`);
/// custom ones are built once per scanner, a handful per process.
fn leak(rule: rules::Rule) -> &'static rules::Rule {
    Box::leak(Box::new(rule))
}

impl Scanner {
    /// Build the scanner. A rule configuration that does not load is an
    /// error (a scanner with fewer rules than asked for would pass what it
    /// should catch); managed values that cannot be collected become
    /// [`Report::warnings`].
    pub fn new(setup: &Setup) -> Result<Scanner> {
        let cfg = &setup.config;
        let mut managed = None;
        let mut vault_files = HashSet::new();
        let mut warnings = Vec::new();
        let config_rel = setup
            .project
            .as_ref()
            .map(|p| p.rel(&p.config_path).replace('\\', "/"));
        if let Some(p) = &setup.project {
            for env in p.config.environments.keys() {
                vault_files.insert(p.rel(&p.env_file(env)).replace('\\', "/"));
            }
            if setup.managed {
                let c = managed::collect(p);
                warnings.extend(c.warnings);
                managed = c.managed.map(Arc::new);
            }
        }
        let rotatable: HashSet<String> = setup
            .project
            .as_ref()
            .map(|p| {
                p.config
                    .secrets
                    .iter()
                    .filter(|(_, d)| d.rotation.is_some())
                    .map(|(n, _)| n.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        let config_error = |what: String| match &setup.project {
            Some(p) => Error::file(&p.config_path, what),
            None => Error::msg(what),
        };
        // Custom rules of `.gsec.yaml`: one that cannot run is an error
        // (exit 2), as a rule pack that does not load is.
        let mut custom: Vec<rules::Rule> = Vec::with_capacity(cfg.rules.len());
        for (i, r) in cfg.rules.iter().enumerate() {
            r.check()
                .map_err(|e| config_error(format!("scan.rules[{i}] ({}): {e}", r.id)))?;
            custom.push(r.clone());
        }
        let mut notes = Vec::new();
        let mut disabled = cfg.disabled_rules.clone();
        let mut gl: Option<Gitleaks> = None;
        let gl_path = match (&setup.gitleaks_config, &setup.root) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(r)) => Some(r.join(gitleaks::CONFIG_FILE)),
            (None, None) => None,
        };
        let import = match &gl_path {
            Some(p) => match gitleaks::Import::load(p)? {
                Some(i) => Some(i),
                None if setup.gitleaks_config.is_some() => {
                    return Err(Error::io(
                        p,
                        std::io::Error::from(std::io::ErrorKind::NotFound),
                    ));
                }
                None => None,
            },
            None => None,
        };
        let pack = rules::pack_ids();
        if let (Some(mut import), Some(path)) = (import, gl_path) {
            // `.gsec.yaml` is gsec's own configuration: its rule wins.
            import.rules.retain(|r| {
                let dup = custom.iter().any(|c| c.id == r.id);
                if dup {
                    import.not_understood.push(format!(
                        "rules ({}: scan.rules in .gsec.yaml defines this id, and wins)",
                        r.id
                    ));
                }
                !dup
            });
            let imported: HashSet<String> = import.rules.iter().map(|r| r.id.clone()).collect();
            let have = |id: &str| {
                id == RuleRef::Generic.id()
                    || pack.contains(&id)
                    || custom.iter().any(|r| r.id == id)
                    || imported.contains(id)
            };
            for d in gitleaks::resolve_disabled(&mut import, &have) {
                if !disabled.contains(&d) {
                    disabled.push(d);
                }
            }
            let replaced: Vec<&str> = import
                .rules
                .iter()
                .filter(|r| pack.contains(&r.id.as_str()))
                .map(|r| r.id.as_str())
                .collect();
            let shown = shown_path(setup.root.as_deref(), &path);
            notes.push(format!("{shown}: {}", import.summary(&replaced)));
            let config_rel = setup
                .root
                .as_deref()
                .and_then(|r| path.strip_prefix(r).ok())
                .map(|p| p.to_string_lossy().replace('\\', "/"));
            custom.append(&mut import.rules);
            gl = Some(Gitleaks {
                allowlists: import.allowlists,
                ignore: None,
                config_rel,
            });
        }
        // An untrusted configuration does not choose where credentials go:
        // its rules keep detecting, without their checks.
        let mut ignored_validators = Vec::new();
        if !setup.trust_project_validators {
            let endpoints = &cfg.validate.endpoints;
            if setup.validate && !endpoints.is_empty() {
                ignored_validators.push(format!(
                    "scan.validate.endpoints ({})",
                    shortlist(endpoints.keys().map(String::as_str))
                ));
            }
            let mut ids = Vec::new();
            for r in &mut custom {
                if r.verify.take().is_some() {
                    ids.push(r.id.clone());
                }
            }
            if setup.validate && !ids.is_empty() {
                ignored_validators.push(format!(
                    "the verify of custom rule(s) {}",
                    shortlist(ids.iter().map(String::as_str))
                ));
            }
        }
        let custom: Vec<&'static rules::Rule> = custom.into_iter().map(leak).collect();
        if let Some(root) = &setup.root {
            let have = |id: &str| {
                id == RuleRef::Generic.id()
                    || pack.contains(&id)
                    || custom.iter().any(|r| r.id == id)
            };
            let path = root.join(gitleaks::IGNORE_FILE);
            if let Some(ignore) = gitleaks::Ignore::load(&path, &have)? {
                notes.push(format!("{}: {}", gitleaks::IGNORE_FILE, ignore.summary()));
                gl.get_or_insert_with(Gitleaks::default).ignore = Some(ignore);
            }
        }
        let path_rules: Vec<&'static rules::Rule> = custom
            .iter()
            .copied()
            .filter(|r| r.path_only() && !disabled.contains(&r.id))
            .collect();
        let engine = Engine::new(engine::Options {
            decode_depth: cfg.decode_depth.unwrap_or(DEFAULT_DECODE_DEPTH),
            generic: !disabled.iter().any(|d| d == RuleRef::Generic.id()),
            disabled,
            custom,
            managed: managed.clone(),
        })
        .map_err(|e| config_error(e.to_string()))?;
        let ignore = setup.root.as_ref().map(|r| r.join(allow::IGNORE_FILE));
        let mut files: Vec<&Path> = Vec::new();
        if let Some(i) = &ignore {
            files.push(i);
        }
        if let Some(b) = &setup.baseline {
            files.push(b);
        }
        let allow = Allow::new(
            &cfg.allow_paths,
            &files,
            allow::Key::resolve(cfg.fingerprint_key.as_deref()),
        )?;
        if allow.legacy() > 0 && !setup.migrate {
            warnings.push(format!(
                "{} allowlisted fingerprint(s) use the old unkeyed form, a hash of the secret that can be guessed from: run `gsec scan --migrate-ignores` to rewrite them",
                allow.legacy()
            ));
        }
        Ok(Scanner {
            engine,
            allow,
            max_file_size: cfg.max_file_size.unwrap_or(DEFAULT_MAX_FILE_SIZE),
            vault_files,
            warnings,
            migrate: setup.migrate,
            path_rules,
            gitleaks: gl,
            notes,
            config_rel,
            samples: cfg
                .rules
                .iter()
                .flat_map(|r| r.tp.iter().chain(&r.fp))
                .cloned()
                .collect(),
            managed,
            rotatable,
            validate: setup.validate,
            ignored_validators,
        })
    }

    /// What validation left out because the configuration is not trusted
    /// ([`Setup::trust_project_validators`] off), one item each (endpoints,
    /// custom rules' checks); empty when nothing was, or when the scan
    /// does not validate.
    pub fn ignored_validators(&self) -> &[String] {
        &self.ignored_validators
    }

    /// What the set-up read besides `.gsec.yaml` (a `.gitleaks.toml`, a
    /// `.gitleaksignore`), one line each: what was imported and what was
    /// not understood.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Checks that could not be set up; every report carries them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Fingerprints are computed under the public key (none configured).
    pub fn fingerprint_key_is_public(&self) -> bool {
        self.allow.key().source == allow::KeySource::Public
    }

    /// Files (blobs) larger than this are skipped unread.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// Is this root-relative path scanned at all (by name alone)?
    pub fn wants_path(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        !(LOCK_FILES.contains(&name) || self.allow.path(rel))
    }

    /// Scan one fragment: `None` when policy skips it (binary, too big,
    /// allowlisted). `Err` when [`Lines::Changed`] cannot say which lines
    /// changed, or a rule whose keyword occurs cannot run.
    fn scan_fragment(&self, f: &Fragment<'_>) -> Result<Option<Vec<Finding>>> {
        let only = match f.lines {
            Lines::Only(mask) => Some(mask),
            Lines::All | Lines::Changed(_) => None,
        };
        let located = self
            .locate(f.rel, f.content, only, f.commit)
            .map_err(|e| Error::msg(e.to_string()))?;
        let Some(mut located) = located else {
            return Ok(None);
        };
        if let Lines::Changed(changed) = f.lines
            && !located.is_empty()
        {
            let changed = changed()?;
            located.retain(|l| {
                whole_file_rule(l.rule) || changed.get(l.line - 1).copied().unwrap_or(true)
            });
        }
        Ok(Some(self.finish(f.rel, f.shown, located, f.commit)))
    }

    /// Path policy and content checks, then the engine on the lines marked
    /// in `only` (when given): policy checks see the whole file, the engine
    /// only those lines, and line numbers refer to the whole file. `None`
    /// when the file is skipped.
    fn locate(
        &self,
        rel: &str,
        content: &[u8],
        only: Option<&[bool]>,
        commit: Option<&str>,
    ) -> std::result::Result<Option<Vec<Located>>, rules::RulesError> {
        let Some(mut out) = self.locate_content(rel, content, only, commit)? else {
            return Ok(None);
        };
        // Custom rules about file names: the file is the finding.
        for r in self.path_rules.iter().filter(|r| r.applies_to(rel)) {
            let allowed = self.gitleaks.as_ref().is_some_and(|g| {
                g.allows(&gitleaks::Candidate {
                    rule: &r.id,
                    path: rel,
                    commit,
                    secret: b"",
                    matched: b"",
                    line: b"",
                })
            });
            if !allowed {
                out.push(whole_file(RuleRef::Pack(r), rel));
            }
        }
        Ok(Some(out))
    }

    fn locate_content(
        &self,
        rel: &str,
        content: &[u8],
        only: Option<&[bool]>,
        commit: Option<&str>,
    ) -> std::result::Result<Option<Vec<Located>>, rules::RulesError> {
        if !self.wants_path(rel) || content.len() as u64 > self.max_file_size {
            return Ok(None);
        }
        // A file with NUL bytes (binary, or text behind a NUL) is scanned
        // for the text in it: control bytes become spaces, so offsets and
        // line numbers stay those of the file.
        let text;
        let content = if is_binary(content) {
            // Compressed or encoded media hold no readable text to leak.
            if compressed(content) {
                return Ok(None);
            }
            text = textify(content);
            &text[..]
        } else {
            content
        };
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if name == crate::config::LOCAL_FILE_NAME {
            return Ok(Some(vec![whole_file(RuleRef::LocalOverride, rel)]));
        }
        // gsec's own fingerprint lists (which look like `name:value` pairs
        // but hold only hashes).
        if name == allow::IGNORE_FILE
            || name == gitleaks::IGNORE_FILE
            || content.starts_with(allow::BASELINE_HEADER.as_bytes())
        {
            return Ok(Some(vec![]));
        }
        // The gitleaks configuration in use is made of patterns (gitleaks
        // skips its own, too).
        if self
            .gitleaks
            .as_ref()
            .is_some_and(|g| g.config_rel.as_deref() == Some(rel))
        {
            return Ok(Some(vec![]));
        }
        // An encrypted file: its ciphertext and metadata are blanked, and
        // what sops left in plaintext is scanned.
        let masked;
        let sops = sopsfile::is_sops(content);
        let content = if sops {
            masked = sopsfile::mask(content);
            &masked[..]
        } else if self.vault_files.contains(rel) {
            return Ok(Some(vec![whole_file(RuleRef::PlaintextVault, rel)]));
        } else {
            content
        };
        let mut map: Vec<usize> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let content: &[u8] = match only {
            None => content,
            Some(added) => {
                for (i, line) in content.lines_with_terminator().enumerate() {
                    if added.get(i).copied().unwrap_or(true) {
                        buf.extend_from_slice(line);
                        if !line.ends_with(b"\n") {
                            buf.push(b'\n');
                        }
                        map.push(i + 1);
                    }
                }
                &buf
            }
        };
        let mut hits = self.engine.scan_named(rel, content)?;
        if sops && self.vault_files.contains(rel) {
            hits.extend(sopsfile::unencrypted_values(rel, content).into_iter().map(
                |(start, end)| Hit {
                    rule: RuleRef::UnencryptedValue,
                    start,
                    end,
                    whole: (start, end),
                    secret: zeroize::Zeroizing::new(content[start..end].to_vec()),
                },
            ));
        }
        if hits.is_empty() {
            return Ok(Some(vec![]));
        }
        let age_blocks = armored_blocks(content);
        let hits_managed: Vec<(usize, usize)> = hits
            .iter()
            .filter(|h| matches!(h.rule, RuleRef::Managed))
            .map(|h| (h.start, h.end))
            .collect();
        let lines = LineIndex::new(content);
        let mut out = Vec::new();
        for h in hits {
            if age_blocks.iter().any(|&(s, e)| h.start >= s && h.start < e) {
                continue;
            }
            let (line, ls, le) = lines.line_of(h.start);
            let (match_line, ms, _) = lines.line_of(h.whole.0);
            let (_, _, me) = lines.line_of(h.whole.1.saturating_sub(1).max(h.whole.0));
            let mapped = |l: usize| {
                if only.is_some() {
                    map.get(l - 1).copied().unwrap_or(l)
                } else {
                    l
                }
            };
            let (line, match_line) = (mapped(line), mapped(match_line));
            let text = &content[ls..le];
            if text
                .windows(allow::INLINE.len())
                .any(|w| w == allow::INLINE)
            {
                continue;
            }
            if pattern_rule(h.rule)
                && !self.samples.is_empty()
                && self.config_rel.as_deref() == Some(rel)
                && self.samples.iter().any(|s| {
                    s.as_bytes()
                        .windows(h.secret.len().max(1))
                        .any(|w| w == &h.secret[..])
                })
            {
                continue;
            }
            if pattern_rule(h.rule) {
                // gitleaks' marker, on the line(s) of the match: code
                // written for gitleaks carries it, with or without a
                // `.gitleaks.toml`.
                let around = &content[ms..me];
                if around
                    .windows(gitleaks::INLINE.len())
                    .any(|w| w == gitleaks::INLINE)
                {
                    continue;
                }
                if let Some(g) = &self.gitleaks
                    && g.allows(&gitleaks::Candidate {
                        rule: h.rule.id(),
                        path: rel,
                        commit,
                        secret: &h.secret,
                        matched: &content[h.whole.0..h.whole.1],
                        line: around,
                    })
                {
                    continue;
                }
            }
            let columns = |from: usize, to: usize| {
                String::from_utf8_lossy(&content[from..to.max(from)])
                    .chars()
                    .count()
                    + 1
            };
            let column = columns(ls, h.start);
            let (end_line, els, _) = lines.line_of(h.end.saturating_sub(1).max(h.start));
            let end = (mapped(end_line), columns(els, h.end));
            // A managed value matched by another rule too: show nothing of it.
            let managed_overlap = !matches!(h.rule, RuleRef::Managed)
                && hits_managed.iter().any(|&(s, e)| s < h.end && h.start < e);
            out.push(Located {
                rule: h.rule,
                line,
                match_line,
                column,
                end: Some(end),
                redacted: if managed_overlap {
                    String::new()
                } else {
                    redact(&h)
                },
                hash_input: h.secret,
            });
        }
        Ok(Some(out))
    }

    /// For a managed-value finding: the secret it is the value of, and the
    /// command that makes the leak harmless.
    fn managed_secret(&self, rule: RuleRef, value: &[u8]) -> Option<ManagedSecret> {
        if !matches!(rule, RuleRef::Managed) {
            return None;
        }
        let origins = self.managed.as_ref()?.origins(value);
        let first = origins.first()?;
        let mut environments: Vec<String> = origins
            .iter()
            .filter(|o| o.name == first.name)
            .map(|o| o.env.clone())
            .collect();
        environments.dedup();
        let name = &first.name;
        let env = &environments[0];
        let remedy = if env == crate::envs::LOCAL_ENV {
            format!("it is {name} in .gsec.local.yaml: change it at its provider and in that file")
        } else if self.rotatable.contains(&name.to_ascii_lowercase()) {
            format!(
                "it is {name} ({}): rotate it now: gsec rotate {name} --env {env}",
                environments.join(", ")
            )
        } else {
            format!(
                "it is {name} ({}): change it at its provider, then store the new value: gsec set {name} --env {env}",
                environments.join(", ")
            )
        };
        Some(ManagedSecret {
            name: name.clone(),
            environments,
            remedy,
        })
    }

    fn finish(
        &self,
        rel: &str,
        shown: &str,
        located: Vec<Located>,
        commit: Option<&str>,
    ) -> Vec<Finding> {
        let mut seen = HashSet::new();
        located
            .into_iter()
            .filter_map(|l| {
                if pattern_rule(l.rule)
                    && let Some(ig) = self.gitleaks.as_ref().and_then(|g| g.ignore.as_ref())
                {
                    let path_only = matches!(l.rule, RuleRef::Pack(r) if r.path_only());
                    let lines: &[usize] = if path_only { &[0, 1] } else { &[l.match_line] };
                    if ig.allows(l.rule.id(), rel, lines, commit) {
                        return None;
                    }
                }
                let (fingerprint, verdict) = self.allow.check(l.rule.id(), rel, &l.hash_input);
                let legacy = match verdict {
                    allow::Verdict::Report => None,
                    allow::Verdict::Allowed => return None,
                    allow::Verdict::AllowedLegacy(_) if !self.migrate => return None,
                    allow::Verdict::AllowedLegacy(old) => Some(old),
                };
                if !seen.insert((fingerprint.clone(), l.line)) {
                    return None;
                }
                Some(Finding {
                    file: shown.to_string(),
                    line: l.line,
                    column: l.column,
                    end: l.end,
                    rule: l.rule.id(),
                    description: l.rule.description(),
                    fingerprint,
                    redacted: l.redacted,
                    commit: commit.map(str::to_string),
                    legacy,
                    managed: self.managed_secret(l.rule, &l.hash_input),
                    author: None,
                    date: None,
                    candidate: match l.rule {
                        RuleRef::Pack(r) if self.validate => {
                            verify::Candidate::new(r, &l.hash_input)
                        }
                        _ => None,
                    },
                    validation: None,
                })
            })
            .collect()
    }
}

fn whole_file(rule: RuleRef, rel: &str) -> Located {
    Located {
        rule,
        line: 1,
        match_line: 1,
        column: 1,
        end: None,
        hash_input: zeroize::Zeroizing::new(rel.as_bytes().to_vec()),
        redacted: String::new(),
    }
}

/// Rules about the file as a whole, reported whatever lines changed.
fn whole_file_rule(r: RuleRef) -> bool {
    match r {
        RuleRef::PlaintextVault | RuleRef::LocalOverride => true,
        RuleRef::Pack(rule) => rule.path_only(),
        _ => false,
    }
}

/// A file the set-up read, as the notes name it: relative to the root
/// when inside it.
fn shown_path(root: Option<&Path>, p: &Path) -> String {
    root.and_then(|r| p.strip_prefix(r).ok())
        .unwrap_or(p)
        .display()
        .to_string()
}

fn redact(h: &Hit) -> String {
    if !h.rule.shows_prefix() || h.secret.len() < 8 {
        return String::new();
    }
    String::from_utf8_lossy(&h.secret).chars().take(4).collect()
}

/// `content` with every control byte but tab, CR and LF replaced by a
/// space: the text runs inside a binary file, at their own offsets.
fn textify(content: &[u8]) -> Vec<u8> {
    content
        .iter()
        .map(|&b| match b {
            b'\t' | b'\n' | b'\r' => b,
            0..=0x1f | 0x7f => b' ',
            _ => b,
        })
        .collect()
}

/// Formats whose bytes are compressed (images, gzip/bzip2/xz/zstd/7z
/// archives, fonts, wasm; not zip, whose entries may be stored as is):
/// regexes cannot see a credential inside them, so they are skipped
/// rather than read as text. Known by their magic numbers.
fn compressed(content: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF87a",
        b"GIF89a",
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ\x00",
        b"\x28\xb5\x2f\xfd",
        b"7z\xbc\xaf\x27\x1c",
        b"\x00asm",
        b"wOFF",
        b"wOF2",
        b"\x00\x00\x01\x00",
    ];
    MAGIC.iter().any(|m| content.starts_with(m))
        || (content.len() >= 12 && &content[..4] == b"RIFF" && &content[8..12] == b"WEBP")
}

/// NUL in the first 8 KiB, as git decides.
pub fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(8192)].contains(&0)
}

/// Byte ranges of `-----BEGIN AGE ENCRYPTED FILE-----` blocks (ciphertext).
fn armored_blocks(content: &[u8]) -> Vec<(usize, usize)> {
    const BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
    const END: &[u8] = b"-----END AGE ENCRYPTED FILE-----";
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(s) = sopsfile::find(content, at, BEGIN) {
        let e = sopsfile::find(content, s, END).map_or(content.len(), |e| e + END.len());
        out.push((s, e));
        at = e;
    }
    out
}

/// Offsets of line starts, for turning byte offsets into lines.
struct LineIndex<'a> {
    content: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(content: &'a [u8]) -> Self {
        let mut starts = vec![0];
        starts.extend(
            content
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { content, starts }
    }

    /// (1-based line, line start, line end) of an offset.
    fn line_of(&self, off: usize) -> (usize, usize, usize) {
        let i = self.starts.partition_point(|&s| s <= off) - 1;
        let end = self.starts.get(i + 1).map_or(self.content.len(), |e| e - 1);
        (i + 1, self.starts[i], end)
    }
}

/// Outcome of `gsec scan --check-rules`.
#[derive(Debug, Default)]
pub struct RuleCheck {
    /// Rules that cannot run (a pattern that does not compile, ...).
    pub broken: Vec<String>,
    /// Samples that did not do what they say, naming rule and sample.
    pub failures: Vec<String>,
}

/// Run each custom rule's samples through the engine, as the rule-pack
/// tests run the built-in ones: every `tp` must yield a finding of that
/// rule and no `fp` may (keyword prefilter, regex, secret group, entropy,
/// validator and placeholder filter all apply; the `path` condition does
/// not, samples having no path). For a rule about file names (`path` and
/// no pattern) the samples are paths.
pub fn check_rules(custom: &[rules::Rule]) -> RuleCheck {
    let mut out = RuleCheck::default();
    let mut ok: Vec<(usize, &'static rules::Rule)> = Vec::new();
    for (i, r) in custom.iter().enumerate() {
        // Compiled here, not only parsed as a scan does: a pattern that
        // parses but is too large to compile is broken too.
        let compiled = || match r.pattern.is_empty() || r.regex().is_some() {
            true => Ok(()),
            false => Err(format!(
                "pattern does not compile: {}",
                rules::regex_error(&r.pattern)
            )),
        };
        match r.check().and_then(|()| compiled()) {
            Ok(()) => ok.push((i, leak(r.clone()))),
            Err(e) => out.broken.push(format!("scan.rules[{i}] ({}): {e}", r.id)),
        }
    }
    if !out.broken.is_empty() {
        return out;
    }
    let engine = match Engine::new(engine::Options {
        decode_depth: 0,
        generic: false,
        custom: ok.iter().map(|(_, r)| *r).collect(),
        ..engine::Options::default()
    }) {
        Ok(e) => e,
        Err(e) => {
            out.broken.push(e.to_string());
            return out;
        }
    };
    let shown = |sample: &str| {
        let mut s: String = sample.chars().take(80).collect();
        if s.len() < sample.len() {
            s.push('…');
        }
        format!("{s:?}")
    };
    for (i, r) in ok {
        let found = |sample: &str| {
            if r.path_only() {
                !sample.is_empty() && r.applies_to(sample)
            } else {
                // Every rule compiled above: a scan cannot fail.
                engine
                    .scan(sample.as_bytes())
                    .is_ok_and(|hits| hits.iter().any(|h| h.rule.id() == r.id))
            }
        };
        for (j, tp) in r.tp.iter().enumerate() {
            if !found(tp) {
                out.failures.push(format!(
                    "scan.rules[{i}] ({}): tp[{j}] yields no finding: {}",
                    r.id,
                    shown(tp)
                ));
            }
        }
        for (j, fp) in r.fp.iter().enumerate() {
            if found(fp) {
                out.failures.push(format!(
                    "scan.rules[{i}] ({}): fp[{j}] yields a finding: {}",
                    r.id,
                    shown(fp)
                ));
            }
        }
    }
    out
}

/// The one scan set-up, for every caller (`gsec scan`, the GitHub Action):
/// `.gsec.yaml`'s scan settings and `.gsecignore` of the project or
/// repository containing `dir`, managed-value detection on (turn it off
/// with `managed = false`). Cheap: the identity is read and values
/// decrypted only in [`Scanner::new`].
pub fn setup_for(dir: &Path, identity: Option<PathBuf>) -> Result<Setup> {
    let project = match crate::project::find_root(dir) {
        Some(root) => Some(std::rc::Rc::new(Project::load(root, identity)?)),
        None => None,
    };
    let root = match &project {
        Some(p) => Some(p.root.clone()),
        None => git_root(dir),
    };
    // `scan.baseline`, relative to the project root: every scan built
    // here honours it (the pre-commit hook and the Action included).
    let baseline = project
        .as_ref()
        .and_then(|p| p.config.scan.baseline.as_ref().map(|b| p.root.join(b)));
    Ok(Setup {
        config: project
            .as_ref()
            .map(|p| p.config.scan.clone())
            .unwrap_or_default(),
        project,
        root,
        baseline,
        managed: true,
        migrate: false,
        gitleaks_config: None,
        validate: false,
        trust_project_validators: true,
    })
}

/// A few names, then how many more (a configuration may name hundreds).
fn shortlist<'a>(names: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 5;
    let names: Vec<&str> = names.collect();
    let mut s = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// The work-tree root of the repository containing `dir`, if any.
pub fn git_root(dir: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(dir).ok()?;
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}
