//! The detection engine: one pass over a buffer, whatever its source.
//!
//! The keyword prefilter (`prefilter`: every keyword of the pack and of
//! generic detection, in a table made at compile time) decides which
//! regexes run; a rule whose keyword does not occur costs nothing, and its
//! regex is compiled the first time one does. Custom rules' keywords get a
//! small automaton of their own. Managed values are found by their own
//! automaton, and encoded spans are decoded and rescanned up to
//! `decode_depth` layers, their findings pointing at the encoded span.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use zeroize::Zeroizing;

use super::managed::Managed;
use super::prefilter::{self, Prefilter};
use super::rules::{self, Rule, RulesError};
use super::{decode, generic, validate};

/// What produced a finding.
#[derive(Debug, Clone, Copy)]
pub enum RuleRef {
    Pack(&'static Rule),
    /// A secret-looking value assigned to a secret-looking name.
    Generic,
    /// The plaintext of a secret the project manages.
    Managed,
    /// An environment file the config says is encrypted, in plaintext.
    PlaintextVault,
    /// `.gsec.local.yaml` (plaintext local overrides) in a commit.
    LocalOverride,
    /// A value left unencrypted in one of the project's environment files.
    UnencryptedValue,
}

impl RuleRef {
    pub fn id(&self) -> &'static str {
        match self {
            RuleRef::Pack(r) => r.id.as_str(),
            RuleRef::Generic => "generic-secret",
            RuleRef::Managed => "gsec-managed-secret",
            RuleRef::PlaintextVault => "gsec-plaintext-vault",
            RuleRef::LocalOverride => "gsec-local-override",
            RuleRef::UnencryptedValue => "gsec-unencrypted-value",
        }
    }

    pub fn description(&self) -> &'static str {
        match self {
            RuleRef::Pack(r) => r.description.as_str(),
            RuleRef::Generic => "Secret-looking value assigned to a password/secret/token/key name",
            RuleRef::Managed => {
                "Plaintext of a secret managed by gsec (store it only with `gsec set`)"
            }
            RuleRef::PlaintextVault => "Environment file that must be encrypted is plaintext",
            RuleRef::LocalOverride => {
                ".gsec.local.yaml holds plaintext local overrides and must not be committed"
            }
            RuleRef::UnencryptedValue => {
                "Value stored unencrypted in an environment file (re-encrypt it with `gsec set`)"
            }
        }
    }

    /// Whether any of the secret may be shown (redacted). Managed values
    /// are known-real secrets: not one character is printed.
    pub fn shows_prefix(&self) -> bool {
        !matches!(
            self,
            RuleRef::Managed
                | RuleRef::PlaintextVault
                | RuleRef::LocalOverride
                | RuleRef::UnencryptedValue
        )
    }
}

/// One match in a buffer: byte span (in the scanned buffer) and the secret.
pub struct Hit {
    pub rule: RuleRef,
    pub start: usize,
    pub end: usize,
    /// The whole regex match around the secret (the secret's own span for
    /// detections without one): what a gitleaks allowlist with
    /// `regexTarget = "match"` is tested against.
    pub whole: (usize, usize),
    /// The secret itself (decoded, when found in an encoded span); used for
    /// the fingerprint and a redacted prefix, never printed whole.
    pub secret: Zeroizing<Vec<u8>>,
}

#[derive(Default, Clone)]
pub struct Options {
    /// Layers of base64/hex/percent encoding to look through.
    pub decode_depth: u32,
    /// Run generic (assignment + randomness) detection.
    pub generic: bool,
    /// Rule ids to leave out.
    pub disabled: Vec<String>,
    /// Custom rules (`scan.rules`, `.gitleaks.toml`), checked with
    /// [`Rule::check`]: run after the pack, and in place of a pack rule
    /// with the same id.
    pub custom: Vec<&'static Rule>,
    /// Plaintext values of the project's managed secrets.
    pub managed: Option<Arc<Managed>>,
}

/// `Engine::pack_index` of a pack rule that does not run.
const OFF: u32 = u32::MAX;

/// A rule the engine runs: a pack rule (parsed when it first runs) or a
/// custom one.
#[derive(Clone, Copy)]
enum Entry {
    Pack(u16),
    Custom(&'static Rule),
}

impl Entry {
    fn id(self) -> &'static str {
        match self {
            Entry::Pack(i) => rules::pack_ids()[usize::from(i)],
            Entry::Custom(r) => &r.id,
        }
    }

    fn rule(self) -> Result<&'static Rule, RulesError> {
        match self {
            Entry::Pack(i) => rules::pack_rule(usize::from(i)),
            Entry::Custom(r) => Ok(r),
        }
    }
}

pub struct Engine {
    rules: Vec<Entry>,
    /// Per pack rule (the prefilter's targets): its index in `rules`, or
    /// [`OFF`] when disabled or replaced by a custom rule.
    pack_index: Vec<u32>,
    /// Rules without keywords (custom ones only): run on every buffer.
    always: Vec<u32>,
    prefilter: Prefilter,
    /// Custom rules' keywords, and the rules (indexes in `rules`) each
    /// fires; `None` without custom keywords.
    custom: Option<(AhoCorasick, Vec<Vec<u32>>)>,
    opts: Options,
}

/// Drop the hits of fallback rules (see `Rule::fallback`) among
/// `out[first..]` that overlap a hit of a provider's own rule.
fn yield_fallbacks(out: &mut Vec<Hit>, first: usize) {
    let is_fallback = |h: &Hit| matches!(h.rule, RuleRef::Pack(r) if r.fallback);
    let specific: Vec<(usize, usize)> = out[first..]
        .iter()
        .filter(|h| !is_fallback(h))
        .map(|h| (h.start, h.end))
        .collect();
    let mut i = 0;
    out.retain(|h| {
        i += 1;
        i <= first || !is_fallback(h) || !specific.iter().any(|&(s, e)| s < h.end && h.start < e)
    });
}

impl Engine {
    /// Build the engine. Fails when the rule pack does not load or a
    /// disabled rule does not exist: a scan with fewer rules than configured
    /// must not pass silently.
    pub fn new(opts: Options) -> Result<Engine, RulesError> {
        let pack = rules::pack_ids();
        if pack.is_empty() {
            return Err(RulesError::Empty);
        }
        let known = |d: &str| pack.contains(&d) || opts.custom.iter().any(|r| r.id == d);
        for d in &opts.disabled {
            if d != RuleRef::Generic.id() && !known(d) {
                return Err(RulesError::UnknownDisabled(d.clone()));
            }
        }
        if pack.len() != prefilter::RULES {
            return Err(RulesError::Pack(format!(
                "{} rules, but a keyword table for {}",
                pack.len(),
                prefilter::RULES
            )));
        }
        let on = |id: &str| !opts.disabled.iter().any(|d| d == id);
        let mut rules: Vec<Entry> = Vec::new();
        let mut pack_index = Vec::with_capacity(pack.len());
        for (i, id) in pack.iter().enumerate() {
            if on(id) && !opts.custom.iter().any(|c| c.id == *id) {
                pack_index.push(rules.len() as u32);
                rules.push(Entry::Pack(i as u16));
            } else {
                pack_index.push(OFF);
            }
        }
        let mut words: Vec<&'static str> = Vec::new();
        let mut fires: Vec<Vec<u32>> = Vec::new();
        let mut always = Vec::new();
        for r in opts
            .custom
            .iter()
            .copied()
            .filter(|r| !r.path_only() && on(&r.id))
        {
            let i = rules.len() as u32;
            rules.push(Entry::Custom(r));
            let mut any = false;
            for k in r.keywords.iter().filter(|k| !k.is_empty()) {
                any = true;
                match words.iter().position(|w| *w == k.as_str()) {
                    Some(w) => fires[w].push(i),
                    None => {
                        words.push(k.as_str());
                        fires.push(vec![i]);
                    }
                }
            }
            if !any {
                always.push(i);
            }
        }
        // A handful of custom keywords: a contiguous NFA builds in
        // microseconds.
        let custom = if words.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&words)
                .map_err(|e| RulesError::Pack(format!("custom keyword automaton: {e}")))?;
            Some((ac, fires))
        };
        Ok(Engine {
            rules,
            pack_index,
            always,
            prefilter: Prefilter::default(),
            custom,
            opts,
        })
    }

    /// Ids of the pack and custom rules this engine runs.
    pub fn rule_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.rules.iter().map(|r| r.id())
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// All hits in `content` (a data file), sorted by position.
    pub fn scan(&self, content: &[u8]) -> Result<Vec<Hit>, RulesError> {
        self.scan_named("", content)
    }

    /// All hits in a file named `name` (the name decides how generic
    /// detection reads assignments: source code or configuration). `Err`
    /// when a rule whose keyword occurs cannot run (its pattern does not
    /// compile): the buffer was not fully checked.
    pub fn scan_named(&self, name: &str, content: &[u8]) -> Result<Vec<Hit>, RulesError> {
        let mut out = Vec::new();
        self.scan_layer(
            name,
            content,
            generic::Syntax::of(name),
            self.opts.decode_depth,
            &mut out,
        )?;
        out.sort_by_key(|h| (h.start, h.end));
        Ok(out)
    }

    fn scan_layer(
        &self,
        name: &str,
        content: &[u8],
        syntax: generic::Syntax,
        depth: u32,
        out: &mut Vec<Hit>,
    ) -> Result<(), RulesError> {
        let mut fired = vec![false; self.rules.len()];
        let mut generic_at: Vec<usize> = Vec::new();
        let mut any = !self.always.is_empty();
        for &i in &self.always {
            fired[i as usize] = true;
        }
        let mut k8s_doc = false;
        let generic = self.opts.generic;
        self.prefilter.each(content, &mut |w, start| {
            for &t in prefilter::targets(w) {
                match t {
                    prefilter::GENERIC if generic => generic_at.push(start),
                    prefilter::K8S_SECRET if generic => k8s_doc = true,
                    prefilter::GENERIC | prefilter::K8S_SECRET => continue,
                    i => match self.pack_index[usize::from(i)] {
                        OFF => continue,
                        r if prefilter::head_fits(usize::from(i), content, start) => {
                            fired[r as usize] = true
                        }
                        _ => continue,
                    },
                }
                any = true;
            }
        });
        if let Some((ac, fires)) = &self.custom {
            for m in ac.find_overlapping_iter(content) {
                for &r in &fires[m.pattern().as_usize()] {
                    fired[r as usize] = true;
                    any = true;
                }
            }
        }
        // The table reports by start, the DFA by end: one order for
        // generic detection, which reads each line once.
        generic_at.sort_unstable();
        generic_at.dedup();
        // A Kubernetes Secret's data values: judged decoded, not as
        // base64 text.
        let mut slots: Vec<(usize, usize)> = Vec::new();
        let mut k8s: Vec<(usize, usize)> = Vec::new();
        if k8s_doc && syntax == generic::Syntax::Data {
            generic::k8s_secret(content, &mut |s, e| slots.push((s, e)), &mut |s, e| {
                k8s.push((s, e))
            });
        }
        if any {
            let first = out.len();
            for (i, _) in fired.iter().enumerate().filter(|(_, f)| **f) {
                let rule = self.rules[i].rule()?;
                // In a small scan (a pre-commit hook), a rule whose keyword
                // occurs but whose pattern cannot match is never built.
                if rule.applies_to(name) && (!self.prefilter.small() || rule.may_match(content)) {
                    self.run_rule(rule, content, out)?;
                }
            }
            yield_fallbacks(out, first);
            if !generic_at.is_empty() {
                generic::scan_lines(content, syntax, &generic_at, &mut |s, e| {
                    // A pack rule that matched the same span is more precise;
                    // a Secret's data value was judged decoded above.
                    if !out.iter().any(|h| h.start < e && s < h.end)
                        && !slots.iter().any(|&(a, b)| a < e && s < b)
                    {
                        out.push(Hit {
                            rule: RuleRef::Generic,
                            start: s,
                            end: e,
                            whole: (s, e),
                            secret: Zeroizing::new(content[s..e].to_vec()),
                        });
                    }
                });
            }
        }
        for (s, e) in k8s {
            if !out.iter().any(|h| h.start < e && s < h.end) {
                out.push(Hit {
                    rule: RuleRef::Generic,
                    start: s,
                    end: e,
                    whole: (s, e),
                    secret: Zeroizing::new(content[s..e].to_vec()),
                });
            }
        }
        if let Some(m) = &self.opts.managed {
            m.find(content, out);
        }
        if depth > 0 {
            let mut failed = None;
            decode::each_span(content, |start, end, decoded| {
                if failed.is_some() {
                    return;
                }
                let mut inner = Vec::new();
                if let Err(e) =
                    self.scan_layer(name, decoded, generic::Syntax::Data, depth - 1, &mut inner)
                {
                    failed = Some(e);
                    return;
                }
                for mut h in inner {
                    h.start = start;
                    h.end = end;
                    h.whole = (start, end);
                    let dup = out
                        .iter()
                        .any(|o| o.rule.id() == h.rule.id() && *o.secret == *h.secret);
                    if !dup {
                        out.push(h);
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Run one rule's regex. Its compilation, on first use, fails only
    /// for a custom rule (`build.rs` compiles every pack pattern): an
    /// error, never a rule silently skipped.
    fn run_rule(
        &self,
        rule: &'static Rule,
        content: &[u8],
        out: &mut Vec<Hit>,
    ) -> Result<(), RulesError> {
        let Some(re) = rule.regex() else {
            return Err(RulesError::Uncompilable {
                id: rule.id.clone(),
                why: rules::regex_error(&rule.pattern),
            });
        };
        for caps in re.captures_iter(content) {
            let Some((s, e)) = rule.secret_span(&caps) else {
                continue;
            };
            let secret = &content[s..e];
            if secret.is_empty() {
                continue;
            }
            if rule
                .entropy
                .is_some_and(|min| validate::entropy(secret) < min)
                || rule.validator.is_some_and(|v| !v.check(secret))
            {
                continue;
            }
            if validate::is_placeholder(secret) {
                continue;
            }
            let whole = caps.get(0).map_or((s, e), |m| (m.start(), m.end()));
            out.push(Hit {
                rule: RuleRef::Pack(rule),
                start: s,
                end: e,
                whole,
                secret: Zeroizing::new(secret.to_vec()),
            });
        }
        Ok(())
    }
}
