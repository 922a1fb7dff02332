//! The built-in rule pack: credential formats as data (`rules/*.toml`),
//! embedded in the binary so it is self-contained.
//!
//! Start-up cost matters (the pre-commit hook runs on every commit), so the
//! pack is parsed once, on first use, and each rule's regex is compiled only
//! when its keyword prefilter first fires: a typical staged change compiles a
//! handful of the ~600 patterns.

use std::sync::OnceLock;

use regex::bytes::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::validate::Validator;
use super::verify::Verify;

/// The rule files with their samples, for the tests below (`build.rs`
/// reads the same directory for what `builtin` loads). A unit test checks
/// that every `*.toml` in `src/scan/rules/` is listed here, so a new file
/// cannot be forgotten.
pub const FILES: &[(&str, &str)] = &[
    ("ai.toml", include_str!("rules/ai.toml")),
    ("ci.toml", include_str!("rules/ci.toml")),
    ("cloud.toml", include_str!("rules/cloud.toml")),
    ("databases.toml", include_str!("rules/databases.toml")),
    ("messaging.toml", include_str!("rules/messaging.toml")),
    ("misc.toml", include_str!("rules/misc.toml")),
    ("monitoring.toml", include_str!("rules/monitoring.toml")),
    ("payment.toml", include_str!("rules/payment.toml")),
    ("private-keys.toml", include_str!("rules/private-keys.toml")),
    ("registries.toml", include_str!("rules/registries.toml")),
    ("saas.toml", include_str!("rules/saas.toml")),
    ("vcs.toml", include_str!("rules/vcs.toml")),
];

/// One credential format: a rule of the built-in pack (`rules/*.toml`) or
/// a custom rule (`scan.rules` in `.gsec.yaml`, or imported from
/// `.gitleaks.toml`). Both kinds have this one schema and run through the
/// same engine path: keyword prefilter, path condition, regex, secret
/// group, entropy, validator, placeholder filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable kebab-case id: the SARIF `ruleId` and part of fingerprints.
    /// A custom rule with the id of a built-in one replaces it.
    pub id: String,
    /// Who issues the credential (e.g. `GitHub`); optional for custom rules.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    /// What the finding is, as reports show it.
    pub description: String,
    /// Literals (matched ASCII case-insensitively); the regex runs only
    /// when one occurs in the content. A custom rule without keywords runs
    /// on every file (slower; the built-in pack always has them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The regex (Rust `regex` syntax, which is RE2's: no lookaround, no
    /// backreferences). The secret is the group named `secret`, else group
    /// `secret_group`, else the first group that matched, else the whole
    /// match. A custom rule with `path` and no pattern reports every file
    /// whose path matches.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pattern: String,
    /// Capture group (1-based) that holds the secret, when not the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub secret_group: Option<usize>,
    /// Minimum Shannon entropy (bits per character) of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    /// Regex on the root-relative path (`/` separators): the rule applies
    /// only to files whose path it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A checksum or structure check the secret must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<Validator>,
    /// How `gsec scan --validate` checks a candidate at its provider: one
    /// side-effect-free HTTP request to the rule's host (see `scan::verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// A format any provider may use (an `Authorization: Bearer` header):
    /// reported only where no provider's own rule matched the same secret,
    /// which names it better.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// Samples that must yield a finding of this rule (checked by tests,
    /// and by `gsec scan --check-rules` for custom rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tp: Vec<String>,
    /// Samples that must not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fp: Vec<String>,
    #[serde(skip)]
    #[schemars(skip)]
    compiled: OnceLock<Option<Regex>>,
    #[serde(skip)]
    #[schemars(skip)]
    compiled_path: OnceLock<Option<Regex>>,
    #[serde(skip)]
    #[schemars(skip)]
    quick: OnceLock<Option<regex_automata::hybrid::dfa::DFA>>,
}

/// Equal definitions (the compiled regexes are a cache).
impl PartialEq for Rule {
    fn eq(&self, o: &Rule) -> bool {
        self.id == o.id
            && self.provider == o.provider
            && self.description == o.description
            && self.keywords == o.keywords
            && self.pattern == o.pattern
            && self.secret_group == o.secret_group
            && self.entropy == o.entropy
            && self.path == o.path
            && self.validator == o.validator
            && self.verify == o.verify
            && self.fallback == o.fallback
            && self.tp == o.tp
            && self.fp == o.fp
    }
}

#[derive(Deserialize)]
struct PackFile {
    #[serde(default)]
    rules: Vec<Rule>,
}

impl Rule {
    /// A custom rule with only an id and a description (the rest to fill).
    pub fn custom(id: &str, description: &str) -> Rule {
        Rule {
            id: id.to_string(),
            description: description.to_string(),
            ..Rule::default()
        }
    }

    /// The compiled pattern, built on first use. `None` when the pattern
    /// does not compile (the rule-pack test makes that a build failure, and
    /// custom rules are compiled by [`Rule::check`] before a scan, so at
    /// run time a bad rule is inert rather than fatal) or is empty.
    pub fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| {
                (!self.pattern.is_empty())
                    .then(|| compile(&self.pattern))
                    .flatten()
            })
            .as_ref()
    }

    /// Could the pattern match in `content`? Answered, until the regex is
    /// built, by a forward lazy DFA without capture groups, which costs
    /// about half the regex's build (no reverse automaton, captures,
    /// one-pass engine or literal prefilter): a pre-commit scan meets many
    /// rules' keywords in ordinary code (`pat` in `path`) and builds a
    /// full regex only where one matches. `true` when unsure (no DFA for
    /// this pattern, or the DFA gave up): the regex decides.
    pub fn may_match(&self, content: &[u8]) -> bool {
        if self.compiled.get().is_some() || self.pattern.is_empty() {
            return true;
        }
        let Some(dfa) = self.quick.get_or_init(|| quick_dfa(&self.pattern)) else {
            return true;
        };
        let mut cache = dfa.create_cache();
        !matches!(
            dfa.try_search_fwd(&mut cache, &regex_automata::Input::new(content)),
            Ok(None)
        )
    }

    /// The compiled path condition (`None` when the rule has none).
    pub fn path_regex(&self) -> Option<&Regex> {
        self.compiled_path
            .get_or_init(|| self.path.as_deref().and_then(compile))
            .as_ref()
    }

    /// Does the rule apply to this root-relative path? An empty path (a
    /// sample, or a buffer scanned without a name) passes any condition.
    pub fn applies_to(&self, path: &str) -> bool {
        path.is_empty()
            || self
                .path_regex()
                .is_none_or(|re| re.is_match(path.as_bytes()))
    }

    /// A rule about files by name alone (`path` and no pattern).
    pub fn path_only(&self) -> bool {
        self.pattern.is_empty() && self.path.is_some()
    }

    /// Where in a match the secret is: the group named `secret`, else group
    /// `secret_group`, else the first group that matched something, else
    /// the whole match (gitleaks' choice too, so imported rules agree).
    pub fn secret_span(&self, caps: &regex::bytes::Captures<'_>) -> Option<(usize, usize)> {
        let m = match (caps.name("secret"), self.secret_group) {
            (Some(m), _) => Some(m),
            (None, Some(g)) => caps.get(g),
            (None, None) => caps
                .iter()
                .skip(1)
                .flatten()
                .find(|m| !m.is_empty())
                .or_else(|| caps.get(0)),
        }?;
        Some((m.start(), m.end()))
    }

    /// Is this custom rule usable? Errors say which part is wrong: an
    /// empty id, no pattern and no path, a regex that does not parse (with
    /// the reason), a secret group the pattern does not have. Patterns are
    /// parsed, not compiled (compiling hundreds of imported rules would
    /// cost the pre-commit hook seconds): like built-in ones they compile
    /// when their keyword first fires.
    pub fn check(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("id is empty".into());
        }
        if self.pattern.is_empty() && self.path.is_none() {
            return Err("needs a pattern (or a path, for a rule about file names)".into());
        }
        if !self.pattern.is_empty() {
            if let Some(why) = syntax_error(&self.pattern) {
                return Err(format!("pattern does not compile: {why}"));
            }
            if let Some(g) = self.secret_group {
                let re = self.regex().ok_or("pattern does not compile: too large")?;
                if g == 0 || g >= re.captures_len() {
                    return Err(format!(
                        "secret_group {g}: the pattern has {} group(s)",
                        re.captures_len() - 1
                    ));
                }
            }
        }
        if let Some(p) = &self.path
            && let Some(why) = syntax_error(p)
        {
            return Err(format!("path does not compile: {why}"));
        }
        if let Some(k) = self.keywords.iter().find(|k| k.is_empty()) {
            return Err(format!("keyword {k:?} is empty"));
        }
        if let Some(v) = &self.verify {
            if self.pattern.is_empty() {
                return Err("verify: a rule about file names has no credential to check".into());
            }
            v.check()?;
        }
        Ok(())
    }
}

/// [`Rule::may_match`]'s automaton: the pattern as [`compile`] builds it
/// first (ASCII, default limits), so both agree on what matches; `None`
/// when that does not build (the regex then decides alone).
fn quick_dfa(pattern: &str) -> Option<regex_automata::hybrid::dfa::DFA> {
    use regex_automata::{nfa::thompson, util::syntax};
    regex_automata::hybrid::dfa::DFA::builder()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .thompson(thompson::Config::new().which_captures(thompson::WhichCaptures::None))
        .build(pattern)
        .ok()
}

/// Does `pattern` parse? `None` when it does, else why not. Cheap: a size
/// limit of one byte stops the compiler right after parsing.
pub fn syntax_error(pattern: &str) -> Option<String> {
    match regex::bytes::RegexBuilder::new(pattern)
        .size_limit(1)
        .build()
    {
        Ok(_) | Err(regex::Error::CompiledTooBig(_)) => None,
        Err(_) => Some(regex_error(pattern)),
    }
}

use super::build_shared::compile;
pub use super::build_shared::regex_error;

/// Parse rule-pack text (one file). Errors name the file.
pub fn parse(name: &str, text: &str) -> Result<Vec<Rule>, String> {
    toml::from_str::<PackFile>(text)
        .map(|p| p.rules)
        .map_err(|e| format!("{name}: {}", e.message()))
}

/// The rule set cannot be built as configured. Never a reason to scan
/// with fewer rules: the scan fails (exit 2) instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// The embedded pack does not parse (a broken build).
    #[error("the built-in rule pack does not load: {0}")]
    Pack(String),
    /// The pack parsed but holds no rule.
    #[error("the built-in rule pack is empty")]
    Empty,
    /// `scan.disabled_rules` names a rule that does not exist (a typo would
    /// otherwise leave the rule it meant on, or hide that it is gone).
    #[error("scan.disabled_rules: unknown rule id '{0}'")]
    UnknownDisabled(String),
    /// A rule's pattern did not compile when its keyword first occurred:
    /// a custom rule that parses but is too large (`build.rs` compiles
    /// every pack rule). The content was not fully checked.
    #[error("rule {id}: pattern does not compile: {why}")]
    Uncompilable { id: String, why: String },
}

/// One pack rule in `build.rs`'s JSON form. serde's message may quote
/// the input; the pack holds no secrets (the samples are stripped by
/// build.rs), so it is safe to show.
pub fn load(json: &str) -> Result<Rule, RulesError> {
    serde_json::from_str(json).map_err(|e| RulesError::Pack(e.to_string()))
}

/// The built-in pack as `build.rs` embeds it: `IDS` and `JSON`, in the
/// order of `FILES` (a test checks that both hold the same rules).
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/pack.rs"));
}

/// Ids of the built-in rules, in pack order; nothing is parsed.
pub fn pack_ids() -> &'static [&'static str] {
    &embedded::IDS
}

/// Built-in rule `i` (in [`pack_ids`] order), parsed on first use: a scan
/// parses only the rules whose keyword occurs. `Err` only for a broken
/// build (the embedded JSON does not parse).
pub fn pack_rule(i: usize) -> Result<&'static Rule, RulesError> {
    static CELLS: [OnceLock<Result<Rule, RulesError>>; embedded::IDS.len()] =
        [const { OnceLock::new() }; embedded::IDS.len()];
    let json = embedded::JSON
        .get(i)
        .ok_or_else(|| RulesError::Pack(format!("no rule {i}")))?;
    CELLS[i]
        .get_or_init(|| load(json))
        .as_ref()
        .map_err(Clone::clone)
}

/// The built-in rule with this id, if there is one.
pub fn pack_rule_by_id(id: &str) -> Result<Option<&'static Rule>, RulesError> {
    pack_ids()
        .iter()
        .position(|p| *p == id)
        .map(pack_rule)
        .transpose()
}

/// Every built-in rule, parsed (tests, reports: a scan parses only the
/// rules it runs, through [`pack_rule`]).
pub fn builtin() -> Result<Vec<&'static Rule>, RulesError> {
    if pack_ids().is_empty() {
        return Err(RulesError::Empty);
    }
    (0..pack_ids().len()).map(pack_rule).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;
    use crate::scan::engine::{Engine, Options};

    #[test]
    fn every_rule_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/scan/rules");
        let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        let embedded: BTreeSet<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            on_disk, embedded,
            "list every rules/*.toml in scan::rules::FILES"
        );
    }

    #[test]
    fn pack_is_well_formed() {
        let mut ids = HashSet::new();
        let mut errors = Vec::new();
        for (name, text) in FILES {
            let rules = parse(name, text).unwrap();
            for r in rules {
                if !ids.insert(r.id.clone()) {
                    errors.push(format!("{name}: duplicate id {}", r.id));
                }
                if r.id.is_empty()
                    || !r.id.split('-').all(|p| {
                        !p.is_empty()
                            && p.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    })
                {
                    errors.push(format!("{name}: id {:?} is not kebab-case", r.id));
                }
                if r.keywords.is_empty()
                    || r.keywords
                        .iter()
                        .any(|k| k.is_empty() || *k != k.to_lowercase())
                {
                    errors.push(format!(
                        "{}: keywords must be non-empty lowercase literals",
                        r.id
                    ));
                }
                if r.provider.is_empty() {
                    errors.push(format!("{}: needs a provider", r.id));
                }
                if r.regex().is_none() {
                    errors.push(format!("{}: pattern does not compile", r.id));
                }
                if r.path.is_some() || r.secret_group.is_some() {
                    errors.push(format!(
                        "{}: built-in rules name the secret with (?P<secret>...) or group 1, and apply to every path",
                        r.id
                    ));
                }
                if r.tp.is_empty() || r.fp.is_empty() {
                    errors.push(format!("{}: needs tp and fp samples", r.id));
                }
            }
        }
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }

    /// Every rule's samples, through the real engine (keyword prefilter,
    /// regex, entropy, validator, placeholder filter).
    #[test]
    fn every_rule_sample_through_the_engine() {
        let engine = Engine::new(Options {
            decode_depth: 0,
            generic: false,
            ..Options::default()
        })
        .unwrap();
        let mut errors = Vec::new();
        for r in FILES
            .iter()
            .flat_map(|(name, text)| parse(name, text).unwrap())
        {
            for tp in &r.tp {
                let hits = engine.scan(tp.as_bytes()).unwrap();
                if !hits.iter().any(|h| h.rule.id() == r.id) {
                    errors.push(format!(
                        "{}: tp not found: {tp:?} (found: {:?})",
                        r.id,
                        hits.iter().map(|h| h.rule.id()).collect::<Vec<_>>()
                    ));
                }
                // The whole credential, not a piece of it: what follows the
                // secret is not more of the token (a word character, `=`
                // padding, or `.` and an alphanumeric, as in a routable
                // GitLab token's `.01.…` tail).
                let t = tp.as_bytes();
                let word = |i: usize| {
                    t.get(i)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                };
                let alnum = |i: usize| t.get(i).is_some_and(u8::is_ascii_alphanumeric);
                for h in hits.iter().filter(|h| h.rule.id() == r.id) {
                    let next = t.get(h.end);
                    if word(h.end)
                        || next == Some(&b'=')
                        || (next == Some(&b'.') && alnum(h.end + 1))
                    {
                        errors.push(format!(
                            "{}: tp secret cut short at byte {}: {tp:?}",
                            r.id, h.end
                        ));
                    }
                }
            }
            for fp in &r.fp {
                let hits = engine.scan(fp.as_bytes()).unwrap();
                if hits.iter().any(|h| h.rule.id() == r.id) {
                    errors.push(format!("{}: fp yields a finding: {fp:?}", r.id));
                }
            }
        }
        assert!(
            errors.is_empty(),
            "{} sample failures:\n{}",
            errors.len(),
            errors.join("\n")
        );
    }

    /// What the binary loads (build.rs's JSON) is the TOML, rule for rule.
    #[test]
    fn builtin_pack_is_the_toml_without_samples() {
        let toml: Vec<Rule> = FILES
            .iter()
            .flat_map(|(name, text)| parse(name, text).unwrap())
            .collect();
        let key = |r: &Rule| {
            format!(
                "{}|{}|{}|{:?}|{}|{:?}|{:?}|{:?}|{}",
                r.id,
                r.provider,
                r.description,
                r.keywords,
                r.pattern,
                r.entropy,
                r.validator,
                r.verify,
                r.fallback
            )
        };
        let built: Vec<String> = builtin().unwrap().into_iter().map(key).collect();
        assert_eq!(built, toml.iter().map(key).collect::<Vec<_>>());
        let ids: Vec<&str> = toml.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(pack_ids(), ids);
        assert!(
            builtin()
                .unwrap()
                .iter()
                .all(|r| r.tp.is_empty() && r.fp.is_empty())
        );
    }

    #[test]
    fn fallback_rules_yield_to_a_provider_rule_on_the_same_secret() {
        let engine = Engine::new(Options::default()).unwrap();
        let ids = |s: &str| -> Vec<&str> {
            engine
                .scan(s.as_bytes())
                .unwrap()
                .iter()
                .map(|h| h.rule.id())
                .collect()
        };
        assert_eq!(
            ids(
                "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIyNDQ5MzAyNDMiLCJpYXQiOjE2MDcxNzM0MDAsInJvbGUiOiJ1c2VyIn0.PW-ZlkFNsFmIJ6YYmkJIu4Y7oOTm44Id79Ao27wuJ-g"
            ),
            ["jwt"]
        );
        assert_eq!(
            ids("Authorization: Bearer 9fK2mQ7xLp4RtZ8vWc3NbY6hJd1sGe5a"),
            ["http-bearer-token"]
        );
    }

    #[test]
    fn pack_covers_150_providers() {
        let providers: BTreeSet<&str> = builtin()
            .unwrap()
            .iter()
            .map(|r| r.provider.as_str())
            .collect();
        assert!(
            providers.len() >= 150,
            "only {} distinct providers",
            providers.len()
        );
    }

    #[test]
    fn a_pack_that_does_not_load_is_an_error_not_zero_rules() {
        assert!(matches!(load("{not json"), Err(RulesError::Pack(_))));
        assert!(matches!(
            load(r#"{"id":"x","provider":"p"}"#),
            Err(RulesError::Pack(_))
        ));
        assert!(matches!(
            load(r#"{"id":"x","description":"d","nope":1}"#),
            Err(RulesError::Pack(_))
        ));
        assert!(matches!(pack_rule(usize::MAX), Err(RulesError::Pack(_))));
        assert!(!builtin().unwrap().is_empty());
        let id = pack_ids()[3];
        assert_eq!(pack_rule_by_id(id).unwrap().unwrap().id, id);
        assert!(pack_rule_by_id("no-such-rule").unwrap().is_none());
    }

    /// Custom rules take the built-in path, plus what only they use: no
    /// keywords (always run), a path condition, a numbered secret group,
    /// replacing a built-in rule by id.
    #[test]
    fn custom_rules_through_the_engine() {
        let custom: Vec<&'static Rule> = parse(
            "custom",
            r#"
[[rules]]
id = "zq-token"
description = "no keywords"
pattern = '''zq_([a-z]{10})'''

[[rules]]
id = "cfg-pass"
description = "path condition, second group"
keywords = ["pass"]
pattern = '''(pass)=([A-Za-z0-9]{12})'''
secret_group = 2
path = '''\.cfg$'''

[[rules]]
id = "github-pat-classic"
description = "replaces the built-in rule"
keywords = ["ghp_"]
pattern = '''ghp_(mine[a-z]{8})'''
"#,
        )
        .unwrap()
        .into_iter()
        .map(|r| {
            r.check().unwrap();
            &*Box::leak(Box::new(r))
        })
        .collect();
        let engine = Engine::new(Options {
            custom: custom.clone(),
            ..Options::default()
        })
        .unwrap();
        let hits = |name: &str, text: &str| -> Vec<(String, String)> {
            engine
                .scan_named(name, text.as_bytes())
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h.rule.id().to_string(),
                        String::from_utf8_lossy(&h.secret).into_owned(),
                    )
                })
                .collect()
        };
        let one = |id: &str, secret: &str| vec![(id.to_string(), secret.to_string())];
        assert_eq!(
            hits("a.txt", "v zq_abcdefghij"),
            one("zq-token", "abcdefghij")
        );
        assert_eq!(
            hits("a.cfg", "pass=Q7vK2mX9pL4w"),
            one("cfg-pass", "Q7vK2mX9pL4w")
        );
        assert!(hits("a.txt", "pass=Q7vK2mX9pL4w").is_empty());
        assert_eq!(
            hits("", "pass=Q7vK2mX9pL4w").len(),
            1,
            "no path: no condition"
        );
        assert_eq!(
            hits("a.txt", "t = ghp_minekwzrtyqp"),
            one("github-pat-classic", "minekwzrtyqp")
        );
        assert_eq!(
            engine
                .rule_ids()
                .filter(|id| *id == "github-pat-classic")
                .count(),
            1,
            "the built-in rule of that id is replaced"
        );
        let engine = Engine::new(Options {
            custom,
            disabled: vec!["zq-token".into()],
            ..Options::default()
        })
        .unwrap();
        assert!(engine.scan(b"v zq_abcdefghij").unwrap().is_empty());
    }

    #[test]
    fn a_rule_that_cannot_match_is_ruled_out_without_building_its_regex() {
        let mut r = Rule::custom("quick", "prefix token");
        r.pattern = r"\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b".into();
        // The keyword `pat` in ordinary code: no match, nothing built.
        assert!(!r.may_match(b"let path = pattern.patch();"));
        assert!(r.compiled.get().is_none());
        let token = format!("patAbCdEfGh123456.{}", "0a".repeat(32));
        assert!(r.may_match(format!("AIRTABLE={token}").as_bytes()));
        assert!(r.regex().unwrap().is_match(token.as_bytes()));
        // Once built, the regex answers.
        assert!(r.may_match(b"path"));
    }

    #[test]
    fn an_unknown_disabled_rule_is_an_error() {
        let err = Engine::new(Options {
            disabled: vec!["no-such-rule".into()],
            ..Options::default()
        })
        .err()
        .expect("unknown id refused");
        assert_eq!(err, RulesError::UnknownDisabled("no-such-rule".into()));
        let id = pack_ids()[0].to_string();
        let engine = Engine::new(Options {
            disabled: vec![id.clone(), "generic-secret".into()],
            ..Options::default()
        })
        .unwrap();
        assert!(engine.rule_ids().all(|r| r != id));
    }
}
