//! gitleaks compatibility: a repository's `.gitleaks.toml` and
//! `.gitleaksignore`, read as gitleaks 8 reads them and translated into
//! gsec's engine (custom rules) and allowlists, so a team adopting gsec
//! keeps the decisions it already made.
//!
//! What is translated:
//! - `[[rules]]`: `id`, `description`, `regex`, `secretGroup`, `entropy`,
//!   `keywords`, `path` become custom [`Rule`]s (gitleaks drops a secret
//!   whose entropy is *at most* the threshold, gsec one *below* it: the
//!   threshold is nudged up by one ulp to agree). A regex Rust's `regex`
//!   crate refuses (RE2 is mostly the same language; lookaround and
//!   backreferences are in neither) refuses that rule only.
//! - `[allowlist]`/`[[allowlists]]` (global, optionally `targetRules`) and
//!   each rule's `[rules.allowlist]`/`[[rules.allowlists]]`: `paths`,
//!   `regexes` with `regexTarget` (secret, match, line), `stopwords`,
//!   `commits`, `condition` (OR, AND), evaluated as gitleaks does.
//! - `[extend] disabledRules` disables gsec rules of those ids.
//! - `[extend] useDefault` is ignored: gsec's built-in pack always runs
//!   (it stands in for gitleaks' default rules; `scan.disabled_rules`
//!   turns rules off).
//!
//! Not translated, and named in the report line: `[extend] path`/`url`
//! (another file's rules), composite rules (`[[rules.required]]`) and
//! `skipReport` rules (their parts; importing the primary alone would
//! report more than gitleaks does), unknown keys.
//!
//! gitleaks allowlists were written against gitleaks' findings, so they
//! apply to gsec's pattern findings (built-in rules, custom rules, generic
//! detection) and never to gsec's own checks that gitleaks does not have
//! (managed values, plaintext environment files, `.gsec.local.yaml`): a
//! path allowlist that hid sops files from gitleaks' noise must not hide a
//! plaintext secret in one of them from gsec.

use std::collections::HashSet;
use std::path::Path;

use regex::bytes::Regex;

use super::rules::{Rule, regex_error, syntax_error};
use crate::error::{Error, Result};

/// gitleaks' configuration file, looked for at the scan root.
pub const CONFIG_FILE: &str = ".gitleaks.toml";
/// gitleaks' list of accepted findings, at the scan root.
pub const IGNORE_FILE: &str = ".gitleaksignore";
/// gitleaks' inline marker: like `gsec:allow`, but for pattern findings
/// only (gsec's own checks are not gitleaks' to allow).
pub const INLINE: &[u8] = b"gitleaks:allow";

/// What `regexes` of an allowlist are tested against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Secret,
    Match,
    Line,
}

/// One gitleaks allowlist, compiled.
#[derive(Debug)]
pub struct Allowlist {
    /// `condition = "AND"`: every kind of check present must pass.
    and: bool,
    /// Lowercase commit ids (history scans only).
    commits: Vec<String>,
    paths: Vec<Regex>,
    target: Target,
    regexes: Vec<Regex>,
    /// Lowercase words; a secret containing one is allowed.
    stopwords: Vec<String>,
    /// Rule ids it applies to (a rule's own allowlist, or `targetRules`);
    /// empty: every pattern rule.
    rules: Vec<String>,
}

/// A pattern finding, as an allowlist sees it.
pub struct Candidate<'a> {
    pub rule: &'a str,
    /// Root-relative path, `/` separators.
    pub path: &'a str,
    pub commit: Option<&'a str>,
    pub secret: &'a [u8],
    /// The whole regex match.
    pub matched: &'a [u8],
    /// The line(s) the match is on.
    pub line: &'a [u8],
}

impl Allowlist {
    pub fn allows(&self, c: &Candidate<'_>) -> bool {
        if !self.rules.is_empty() && !self.rules.iter().any(|r| r == c.rule) {
            return false;
        }
        let commit = || {
            c.commit
                .is_some_and(|x| self.commits.iter().any(|k| k.eq_ignore_ascii_case(x)))
        };
        let path =
            || !c.path.is_empty() && self.paths.iter().any(|p| p.is_match(c.path.as_bytes()));
        let regex = || {
            let t = match self.target {
                Target::Secret => c.secret,
                Target::Match => c.matched,
                Target::Line => c.line,
            };
            !t.is_empty() && self.regexes.iter().any(|r| r.is_match(t))
        };
        let stop = || {
            let low = c.secret.to_ascii_lowercase();
            self.stopwords
                .iter()
                .any(|w| low.windows(w.len()).any(|x| x == w.as_bytes()))
        };
        if self.and {
            (self.commits.is_empty() || commit())
                && (self.paths.is_empty() || path())
                && (self.regexes.is_empty() || regex())
                && (self.stopwords.is_empty() || stop())
        } else {
            commit() || path() || regex() || stop()
        }
    }
}

/// A `.gitleaks.toml`, translated.
#[derive(Debug, Default)]
pub struct Import {
    /// Custom rules, each usable ([`Rule::check`] passed).
    pub rules: Vec<Rule>,
    /// Global allowlists, `targetRules` ones and each rule's own.
    pub allowlists: Vec<Allowlist>,
    /// `[extend] disabledRules`.
    pub disabled: Vec<String>,
    /// What was read but not translated, as `where (why)`.
    pub not_understood: Vec<String>,
    /// Totals over the imported allowlists, for the report line.
    pub paths: usize,
    pub regexes: usize,
    pub stopwords: usize,
    pub commits: usize,
}

/// A key of a gitleaks TOML table. gitleaks reads its file with viper,
/// which matches keys case-insensitively (`secretGroup`, `secretgroup`).
fn key_is(k: &str, want: &str) -> bool {
    k.eq_ignore_ascii_case(want)
}

fn strings(v: &toml::Value) -> Option<Vec<String>> {
    match v {
        toml::Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        toml::Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// The tables under a key that may be one table (`[allowlist]`) or an
/// array of tables (`[[allowlists]]`).
fn tables(v: &toml::Value) -> Option<Vec<&toml::Table>> {
    match v {
        toml::Value::Table(t) => Some(vec![t]),
        toml::Value::Array(a) => a.iter().map(toml::Value::as_table).collect(),
        _ => None,
    }
}

impl Import {
    /// Read and translate `path`. `Ok(None)` when it does not exist. A file
    /// that is not TOML is an error (gitleaks refuses it too); anything
    /// inside it that cannot be translated is left out and named in
    /// [`Import::not_understood`], never failing the scan.
    pub fn load(path: &Path) -> Result<Option<Import>> {
        let Some(bytes) = crate::fsutil::read_regular(path, crate::fsutil::MAX_CONFIG_FILE)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| Error::file(path, "not UTF-8 text"))?;
        Import::parse(&text)
            .map(Some)
            .map_err(|e| Error::file(path, e))
    }

    /// Translate the text of a `.gitleaks.toml`.
    pub fn parse(text: &str) -> std::result::Result<Import, String> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            }
        })?;
        let mut out = Import::default();
        let mut global: Vec<(String, &toml::Table)> = Vec::new();
        for (k, v) in &doc {
            if key_is(k, "title") || key_is(k, "description") || key_is(k, "minVersion") {
                continue;
            }
            if key_is(k, "extend") {
                out.extend(v);
            } else if key_is(k, "rules") {
                match v.as_array() {
                    Some(rules) => {
                        for (i, r) in rules.iter().enumerate() {
                            match r.as_table() {
                                Some(t) => out.rule(i, t),
                                None => out.note(format!("rules[{i}]"), "not a table"),
                            }
                        }
                    }
                    None => out.note(k.clone(), "not an array of tables"),
                }
            } else if key_is(k, "allowlist") || key_is(k, "allowlists") {
                match tables(v) {
                    Some(ts) => {
                        let single = v.is_table();
                        for (i, t) in ts.into_iter().enumerate() {
                            let at = if single {
                                k.clone()
                            } else {
                                format!("{k}[{i}]")
                            };
                            global.push((at, t));
                        }
                    }
                    None => out.note(k.clone(), "not a table"),
                }
            } else {
                out.note(k.clone(), "unknown key");
            }
        }
        for (at, t) in global {
            if let Some(a) = out.allowlist(&at, t, None) {
                out.allowlists.push(a);
            }
        }
        Ok(out)
    }

    fn note(&mut self, at: String, why: impl Into<String>) {
        self.not_understood.push(format!("{at} ({})", why.into()));
    }

    fn extend(&mut self, v: &toml::Value) {
        let Some(t) = v.as_table() else {
            return self.note("extend".into(), "not a table");
        };
        for (k, v) in t {
            if key_is(k, "useDefault") {
                // gsec's built-in pack is the default, and always runs.
            } else if key_is(k, "disabledRules") {
                match strings(v) {
                    Some(ids) => self.disabled.extend(ids),
                    None => self.note(format!("extend.{k}"), "not a list of rule ids"),
                }
            } else if key_is(k, "path") || key_is(k, "url") {
                self.note(
                    format!("extend.{k}"),
                    "extending another configuration is not supported",
                );
            } else {
                self.note(format!("extend.{k}"), "unknown key");
            }
        }
    }

    fn rule(&mut self, i: usize, t: &toml::Table) {
        let id = t
            .iter()
            .find(|(k, _)| key_is(k, "id"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .to_string();
        if id.trim().is_empty() {
            return self.note(format!("rules[{i}]"), "no id");
        }
        let at = |field: &str| format!("rules[{i}].{field}");
        let mut rule = Rule::custom(&id, &id);
        let mut allowlists: Vec<(String, &toml::Table)> = Vec::new();
        for (k, v) in t {
            let bad = |this: &mut Import, what: &str| {
                this.note(at(k), format!("{id}: {what}"));
            };
            if key_is(k, "id") || key_is(k, "tags") {
                // Tags label findings; they decide nothing.
            } else if key_is(k, "description") {
                match v.as_str() {
                    Some(d) if !d.trim().is_empty() => rule.description = d.to_string(),
                    Some(_) => {}
                    None => return bad(self, "not a string; rule not imported"),
                }
            } else if key_is(k, "regex") {
                match v.as_str() {
                    Some(r) => rule.pattern = go_regex(r),
                    None => return bad(self, "not a string; rule not imported"),
                }
            } else if key_is(k, "path") {
                match v.as_str() {
                    Some(p) if !p.is_empty() => rule.path = Some(go_regex(p)),
                    Some(_) => {}
                    None => return bad(self, "not a string; rule not imported"),
                }
            } else if key_is(k, "secretGroup") {
                match v.as_integer() {
                    Some(0) => {}
                    Some(g) if g > 0 => rule.secret_group = Some(g as usize),
                    _ => return bad(self, "not a group number; rule not imported"),
                }
            } else if key_is(k, "entropy") {
                match number(v) {
                    Some(e) if e > 0.0 => rule.entropy = Some(e.next_up()),
                    Some(_) => {}
                    None => return bad(self, "not a number; rule not imported"),
                }
            } else if key_is(k, "keywords") {
                match strings(v) {
                    Some(ks) => {
                        rule.keywords = ks
                            .into_iter()
                            .filter(|k| !k.is_empty())
                            .map(|k| k.to_lowercase())
                            .collect()
                    }
                    None => return bad(self, "not a list of strings; rule not imported"),
                }
            } else if key_is(k, "allowlist") || key_is(k, "allowlists") {
                match tables(v) {
                    Some(ts) => {
                        let single = v.is_table();
                        for (j, a) in ts.into_iter().enumerate() {
                            let where_ = if single {
                                at(k)
                            } else {
                                format!("{}[{j}]", at(k))
                            };
                            allowlists.push((where_, a));
                        }
                    }
                    None => return bad(self, "not a table; rule not imported"),
                }
            } else if key_is(k, "required") {
                return bad(self, "composite rules are not supported; rule not imported");
            } else if key_is(k, "skipReport") {
                if v.as_bool() == Some(true) {
                    return bad(
                        self,
                        "skipReport rules are parts of composite rules, which are not supported; rule not imported",
                    );
                }
            } else {
                self.note(at(k), format!("{id}: unknown key"));
            }
        }
        if rule.pattern.is_empty() && rule.path.is_none() {
            return self.note(at("regex"), format!("{id}: no regex and no path"));
        }
        if !rule.pattern.is_empty()
            && let Some(why) = syntax_error(&rule.pattern)
        {
            return self.note(at("regex"), format!("{id}: {why}"));
        }
        if let Some(p) = &rule.path
            && let Some(why) = syntax_error(p)
        {
            return self.note(at("path"), format!("{id}: {why}"));
        }
        if let Err(why) = rule.check() {
            return self.note(format!("rules[{i}]"), format!("{id}: {why}"));
        }
        for (where_, a) in allowlists {
            if let Some(a) = self.allowlist(&where_, a, Some(&id)) {
                self.allowlists.push(a);
            }
        }
        // A later rule with the same id replaces an earlier one, as in
        // gitleaks.
        self.rules.retain(|r| r.id != id);
        self.rules.push(rule);
    }

    /// Translate one allowlist; `rule` for a rule's own. `None` (and a
    /// note) when it cannot be used as written: an unknown condition or
    /// target, nothing to check, or (with AND, where dropping a check would
    /// allow more) any entry that does not compile.
    fn allowlist(&mut self, at: &str, t: &toml::Table, rule: Option<&str>) -> Option<Allowlist> {
        let mut a = Allowlist {
            and: false,
            commits: Vec::new(),
            paths: Vec::new(),
            target: Target::Secret,
            regexes: Vec::new(),
            stopwords: Vec::new(),
            rules: rule.map(|r| vec![r.to_string()]).unwrap_or_default(),
        };
        let mut raw_paths = Vec::new();
        let mut raw_regexes = Vec::new();
        for (k, v) in t {
            let list = |this: &mut Import| -> Option<Vec<String>> {
                let l = strings(v);
                if l.is_none() {
                    this.note(
                        format!("{at}.{k}"),
                        "not a list of strings; allowlist not imported",
                    );
                }
                l
            };
            if key_is(k, "description") {
            } else if key_is(k, "condition") {
                match v.as_str().map(str::to_ascii_uppercase).as_deref() {
                    Some("" | "OR" | "||") => a.and = false,
                    Some("AND" | "&&") => a.and = true,
                    _ => {
                        self.note(
                            format!("{at}.{k}"),
                            "expected OR or AND; allowlist not imported",
                        );
                        return None;
                    }
                }
            } else if key_is(k, "regexTarget") {
                match v.as_str() {
                    Some("" | "secret") => a.target = Target::Secret,
                    Some("match") => a.target = Target::Match,
                    Some("line") => a.target = Target::Line,
                    _ => {
                        self.note(
                            format!("{at}.{k}"),
                            "expected secret, match or line; allowlist not imported",
                        );
                        return None;
                    }
                }
            } else if key_is(k, "commits") {
                a.commits = list(self)?
                    .into_iter()
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty())
                    .collect();
            } else if key_is(k, "paths") {
                raw_paths = list(self)?;
            } else if key_is(k, "regexes") {
                raw_regexes = list(self)?;
            } else if key_is(k, "stopwords") {
                a.stopwords = list(self)?
                    .into_iter()
                    .filter(|w| !w.is_empty())
                    .map(|w| w.to_lowercase())
                    .collect();
            } else if key_is(k, "targetRules") && rule.is_none() {
                a.rules = list(self)?;
            } else {
                self.note(format!("{at}.{k}"), "unknown key");
            }
        }
        let mut refused = false;
        for (field, raw, out) in [
            ("paths", raw_paths, &mut a.paths),
            ("regexes", raw_regexes, &mut a.regexes),
        ] {
            for (j, p) in raw.iter().enumerate() {
                match check_regex(p) {
                    Ok(re) => out.push(re),
                    Err(why) => {
                        refused |= a.and;
                        let tail = if a.and {
                            "; allowlist not imported"
                        } else {
                            ""
                        };
                        self.note(format!("{at}.{field}[{j}]"), format!("{why}{tail}"));
                    }
                }
            }
        }
        if refused {
            return None;
        }
        if a.commits.is_empty()
            && a.paths.is_empty()
            && a.regexes.is_empty()
            && a.stopwords.is_empty()
        {
            self.note(at.to_string(), "nothing to check; allowlist not imported");
            return None;
        }
        self.paths += a.paths.len();
        self.regexes += a.regexes.len();
        self.stopwords += a.stopwords.len();
        self.commits += a.commits.len();
        Some(a)
    }

    /// The one-line report: what was imported and what was not understood.
    pub fn summary(&self, replaced: &[&str]) -> String {
        let n =
            |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
        let mut s = format!("imported {}", n(self.rules.len(), "rule", "rules"));
        if !replaced.is_empty() {
            let mut ids = replaced[..replaced.len().min(5)].join(", ");
            if replaced.len() > 5 {
                ids.push_str(&format!(" and {} more", replaced.len() - 5));
            }
            s.push_str(&format!(
                " ({} gsec's built-in {ids})",
                if replaced.len() == 1 {
                    "replaces"
                } else {
                    "replace"
                },
            ));
        }
        s.push_str(&format!(
            ", {}",
            n(self.allowlists.len(), "allowlist", "allowlists")
        ));
        let parts: Vec<String> = [
            (self.paths, "path", "paths"),
            (self.regexes, "regex", "regexes"),
            (self.stopwords, "stopword", "stopwords"),
            (self.commits, "commit", "commits"),
        ]
        .into_iter()
        .filter(|(k, _, _)| *k > 0)
        .map(|(k, one, many)| n(k, one, many))
        .collect();
        if !parts.is_empty() {
            s.push_str(&format!(" ({})", parts.join(", ")));
        }
        if !self.not_understood.is_empty() {
            s.push_str(&format!(
                "; not understood: {}",
                self.not_understood.join(", ")
            ));
        }
        s
    }
}

/// Compile an allowlist's gitleaks regex (RE2) with Rust's regex crate;
/// the reason in a few words when it does not compile.
fn check_regex(pattern: &str) -> std::result::Result<Regex, String> {
    let pattern = go_regex(pattern);
    regex::bytes::RegexBuilder::new(&pattern)
        .size_limit(64 << 20)
        .dfa_size_limit(8 << 20)
        .build()
        .map_err(|_| regex_error(&pattern))
}

/// An RE2 (Go) pattern in Rust `regex` syntax. The two languages are the
/// same but for a few spellings; the one gitleaks configurations use is a
/// `{` that starts no repetition (`\${{ secrets.X }}`, `{\d+}`), a literal
/// in Go and an error in Rust: it is escaped. Everything else is kept
/// (constructs neither supports, such as lookaround, still fail, and are
/// reported).
pub fn go_regex(pattern: &str) -> String {
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut i = 0;
    let mut class = false;
    let repetition = |from: usize| {
        // `{n}`, `{n,}` or `{n,m}` at `from` (just after the `{`).
        let digits = |mut j: usize| {
            let s = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            (j > s, j)
        };
        let (some, j) = digits(from);
        if !some {
            return false;
        }
        match b.get(j) {
            Some(b'}') => true,
            Some(b',') => {
                let (_, k) = digits(j + 1);
                b.get(k) == Some(&b'}')
            }
            _ => false,
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                // An escape: copied whole (the next character, UTF-8 safe).
                let n = pattern[i + 1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&pattern[i..i + 1 + n]);
                i += 1 + n;
                continue;
            }
            b'[' if !class => {
                class = true;
                out.push('[');
                i += 1;
                // A `]` first (after an optional `^`) is a literal.
                if b.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                if b.get(i) == Some(&b']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            b'[' if class && b.get(i + 1) == Some(&b':') => {
                // `[:alpha:]` inside a class.
                if let Some(end) = pattern[i..].find(":]") {
                    out.push_str(&pattern[i..i + end + 2]);
                    i += end + 2;
                    continue;
                }
                // Go reads a lone `[` in a class as a literal; Rust would
                // open a nested class.
                out.push_str("\\[");
                i += 1;
                continue;
            }
            b'[' if class => {
                out.push_str("\\[");
                i += 1;
                continue;
            }
            b']' if class => class = false,
            b'{' if !class && !repetition(i + 1) => {
                out.push_str("\\{");
                i += 1;
                continue;
            }
            _ => {}
        }
        let n = pattern[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&pattern[i..i + n]);
        i += n;
    }
    out
}

/// `.gitleaksignore`: findings gitleaks was told to accept, by location.
///
/// gsec has its own list, `.gsecignore` (see `allow`), and the two stay
/// apart because they name different things: a gsec fingerprint is
/// `rule:path:keyed hash of the secret`, so it survives edits above the
/// secret and never allows a *different* secret on the same line; a
/// gitleaks fingerprint is `[commit:]file:rule:line`, which moves when
/// lines are inserted above it and allows whatever is on that line
/// (gitleaks #2239). Teams bring the second kind with them; gsec honours it
/// as written rather than guessing which secret it meant, and new
/// acceptances go to `.gsecignore`.
#[derive(Debug, Default)]
pub struct Ignore {
    /// `file:rule:line`.
    global: HashSet<(String, String, usize)>,
    /// `commit:file:rule:line` (history scans).
    commit: HashSet<(String, String, String, usize)>,
    /// Entries naming a rule gsec does not have (one of gitleaks' default
    /// rules, whose ids differ from gsec's): `(commit, file, line)`,
    /// matching any pattern finding there. gsec's built-in pack stands in
    /// for gitleaks' default rules, so "the finding on this line" is what
    /// such an entry accepted.
    foreign: HashSet<(Option<String>, String, usize)>,
    /// Lines that are not fingerprints.
    pub malformed: usize,
    pub entries: usize,
}

impl Ignore {
    /// Read `path` (`Ok(None)` when it does not exist); `known` says which
    /// rule ids gsec runs.
    pub fn load(path: &Path, known: &dyn Fn(&str) -> bool) -> Result<Option<Ignore>> {
        let Some(bytes) = crate::fsutil::read_regular(path, crate::fsutil::MAX_LIST_FILE)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| Error::file(path, "not UTF-8 text"))?;
        Ok(Some(Ignore::parse(&text, known)))
    }

    pub fn parse(text: &str, known: &dyn Fn(&str) -> bool) -> Ignore {
        let mut out = Ignore::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = line.split(':').collect();
            let (commit, file, rule, num) = match parts.as_slice() {
                [f, r, l] => (None, *f, *r, *l),
                [c, f, r, l] => (Some(c.to_ascii_lowercase()), *f, *r, *l),
                _ => {
                    out.malformed += 1;
                    continue;
                }
            };
            let Ok(num) = num.parse::<usize>() else {
                out.malformed += 1;
                continue;
            };
            // gitleaks normalises Windows separators in entries.
            let file = file.replace('\\', "/");
            out.entries += 1;
            if !known(rule) {
                out.foreign.insert((commit, file, num));
            } else if let Some(c) = commit {
                out.commit.insert((c, file, rule.to_string(), num));
            } else {
                out.global.insert((file, rule.to_string(), num));
            }
        }
        out
    }

    /// Is the pattern finding of `rule` at `file:line` (in `commit`, for
    /// history) accepted? `lines` are the lines gitleaks could have
    /// numbered it with (the match's first line; 0 too for a rule about a
    /// file's name, which gitleaks reports without a line).
    pub fn allows(&self, rule: &str, file: &str, lines: &[usize], commit: Option<&str>) -> bool {
        let commit = commit.map(str::to_ascii_lowercase);
        lines.iter().any(|&l| {
            self.global
                .contains(&(file.to_string(), rule.to_string(), l))
                || self.foreign.contains(&(None, file.to_string(), l))
                || commit.as_ref().is_some_and(|c| {
                    self.commit
                        .contains(&(c.clone(), file.to_string(), rule.to_string(), l))
                        || self
                            .foreign
                            .contains(&(Some(c.clone()), file.to_string(), l))
                })
        })
    }

    /// The one-line report.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} line-based fingerprint{} honoured",
            self.entries,
            if self.entries == 1 { "" } else { "s" }
        );
        if !self.foreign.is_empty() {
            s.push_str(&format!(
                " ({} naming gitleaks rules gsec does not have: matched by file and line)",
                self.foreign.len()
            ));
        }
        if self.malformed > 0 {
            s.push_str(&format!(
                "; not understood: {} line{} (expected [commit:]file:rule-id:line)",
                self.malformed,
                if self.malformed == 1 { "" } else { "s" }
            ));
        }
        s
    }
}

/// Rule ids to disable that gsec has (`have`), and notes for the others.
pub fn resolve_disabled(import: &mut Import, have: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for id in std::mem::take(&mut import.disabled) {
        if !seen.insert(id.clone()) {
            continue;
        }
        if have(&id) {
            out.push(id);
        } else {
            import.note(
                "extend.disabledRules".into(),
                format!("{id}: gsec has no rule with this id"),
            );
        }
    }
    for a in &import.allowlists {
        for r in &a.rules {
            if !have(r) && seen.insert(format!("target:{r}")) {
                import.not_understood.push(format!(
                    "allowlists.targetRules ({r}: gsec has no rule with this id)"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand<'a>(rule: &'a str, path: &'a str, secret: &'a [u8]) -> Candidate<'a> {
        Candidate {
            rule,
            path,
            commit: None,
            secret,
            matched: secret,
            line: secret,
        }
    }

    #[test]
    fn rules_and_allowlists_are_translated() {
        let imp = Import::parse(
            r#"
title = "x"
[extend]
useDefault = true
disabledRules = ["jwt"]

[[rules]]
id = "acme-token"
description = "ACME token"
regex = '''acme_([a-z0-9]{24})'''
secretGroup = 1
entropy = 3
keywords = ["ACME_"]
tags = ["internal"]
  [[rules.allowlists]]
  regexTarget = "line"
  regexes = ['''#\s*fake''']

[[rules]]
id = "look"
regex = '''foo(?=bar)'''

[[rules]]
id = "pair"
regex = '''x'''
  [[rules.required]]
  id = "acme-token"

[allowlist]
paths = ['''^docs/''', '''(''']
stopwords = ["Sandbox"]
"#,
        )
        .unwrap();
        assert_eq!(imp.rules.len(), 1);
        let r = &imp.rules[0];
        assert_eq!(r.keywords, ["acme_"]);
        assert_eq!(r.secret_group, Some(1));
        assert!(r.entropy.unwrap() > 3.0 && r.entropy.unwrap() < 3.0001);
        assert_eq!(imp.disabled, ["jwt"]);
        assert_eq!(imp.allowlists.len(), 2);
        assert_eq!((imp.paths, imp.regexes, imp.stopwords), (1, 1, 1));
        let s = imp.summary(&[]);
        assert!(
            s.starts_with(
                "imported 1 rule, 2 allowlists (1 path, 1 regex, 1 stopword); not understood: "
            ),
            "{s}"
        );
        assert!(
            s.contains("rules[1].regex (look: lookahead is not supported)"),
            "{s}"
        );
        assert!(
            s.contains("rules[2].required (pair: composite rules"),
            "{s}"
        );
        assert!(s.contains("allowlist.paths[1] ("), "{s}");
        // The OR allowlist with the bad path kept its good entries.
        let global = imp.allowlists.iter().find(|a| a.rules.is_empty()).unwrap();
        assert!(global.allows(&cand("any", "docs/a.md", b"k")));
        assert!(global.allows(&cand("any", "src/a.md", b"mySANDBOXkey")));
        assert!(!global.allows(&cand("any", "src/a.md", b"k")));
        let own = imp.allowlists.iter().find(|a| !a.rules.is_empty()).unwrap();
        let mut c = cand("acme-token", "src/a", b"k");
        c.line = b"t = acme_x # fake";
        assert!(own.allows(&c));
        c.rule = "other";
        assert!(!own.allows(&c), "a rule's allowlist is for that rule only");
    }

    #[test]
    fn and_condition_needs_every_check() {
        let imp = Import::parse(
            r#"
[[allowlists]]
condition = "AND"
paths = ['''\.env$''']
regexes = ['''^dev''']
regexTarget = "secret"
commits = ["ABCDEF1234"]
"#,
        )
        .unwrap();
        let a = &imp.allowlists[0];
        let mut c = cand("r", "app.env", b"devkey");
        assert!(!a.allows(&c), "no commit");
        c.commit = Some("abcdef1234");
        assert!(a.allows(&c));
        c.path = "app.txt";
        assert!(!a.allows(&c));
        // A check that does not compile drops an AND allowlist whole.
        let imp =
            Import::parse("[[allowlists]]\ncondition = 'and'\npaths = ['(']\nregexes = ['x']\n")
                .unwrap();
        assert!(imp.allowlists.is_empty());
        assert!(imp.summary(&[]).contains("allowlist not imported"));
    }

    #[test]
    fn go_spellings_become_rust_ones() {
        for (go, rust) in [
            (r"^\$(?:\d+|{\d+})$", r"^\$(?:\d+|\{\d+})$"),
            (r"\$?{{[^}]+}}", r"\$?\{\{[^}]+}}"),
            (r"import[ \t]+{[ \t\w,]+}", r"import[ \t]+\{[ \t\w,]+}"),
            (r"a{2,}b{1,3}c{4}", r"a{2,}b{1,3}c{4}"),
            (r"x{,5}", r"x\{,5}"),
            (r"[{}\]]{3}", r"[{}\]]{3}"),
            (r"[]a[:alpha:][]", r"[\]a[:alpha:]\[]"),
            (r"é{2}\{", r"é{2}\{"),
        ] {
            assert_eq!(go_regex(go), rust, "{go}");
            assert!(syntax_error(&go_regex(go)).is_none(), "{go}");
        }
        assert_eq!(
            syntax_error("a(?=b)").as_deref(),
            Some("lookahead is not supported")
        );
        assert_eq!(
            syntax_error("(a)\\1").as_deref(),
            Some("backreferences are not supported")
        );
        assert!(syntax_error(&"(?i)[\\w.-]{0,50}?".repeat(40)).is_none());
    }

    #[test]
    fn ignore_entries() {
        let known = |r: &str| r == "acme-token";
        let ig = Ignore::parse(
            "# c\nsrc/a.py:acme-token:2\nabc123:src\\b.py:acme-token:4\ncfg/ci.env:github-pat:1\nbad line\n",
            &known,
        );
        assert_eq!((ig.entries, ig.malformed), (3, 1));
        assert!(ig.allows("acme-token", "src/a.py", &[2], None));
        assert!(!ig.allows("acme-token", "src/a.py", &[3], None));
        assert!(!ig.allows("acme-token", "src/b.py", &[4], None));
        assert!(ig.allows("acme-token", "src/b.py", &[4], Some("ABC123")));
        assert!(ig.allows("github-pat-classic", "cfg/ci.env", &[1], None));
        assert!(ig.summary().contains("1 naming gitleaks rules"));
    }
}
