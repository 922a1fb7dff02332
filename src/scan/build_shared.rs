//! What `build.rs` and the scanner must agree on, in one file that both
//! compile (`build.rs` takes it with `#[path]`): how a rule's pattern is
//! compiled, what makes a built-in rule valid, the generic-detection
//! keywords, and the hash that buckets keywords for the prefilter.
//!
//! `build.rs` compiles every built-in pattern with [`compile`] and refuses
//! to build when one fails, so the lazy compilation at scan time (a rule's
//! regex is built when its keyword first occurs) cannot fail for the pack.
//! Only the `regex` crate and `std` may be used here.

/// Lowercase fragments of credential names; any of them in a line sends
/// the line to generic detection.
pub const GENERIC_KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "auth",
    "credential",
    "private_key",
    "privatekey",
    "access_key",
    "accesskey",
    "passphrase",
    "client_secret",
];

/// Lowercase endings of `<PROVIDER>_KEY`-style names (`MAILCHIMP_KEY`,
/// `sendgridKey`, `nuget key`, `DATADOG_ACCESS`): a line with one is judged
/// when the name also holds a provider word the rule pack knows.
pub const PROVIDER_KEYWORDS: &[&str] = &["key", "access"];

/// A Kubernetes manifest whose data values are judged decoded.
#[cfg_attr(not(test), allow(dead_code))] // build.rs's
pub const K8S_SECRET_KEYWORD: &str = "kind: secret";

/// Buckets of the prefilter's keyword table (a power of two).
pub const BUCKETS: usize = 4096;

/// The bucket of a keyword occurrence starting with bytes `a`, `b`
/// (compared ASCII case-insensitively, so folded to lower case here).
#[inline]
pub fn bucket(a: u8, b: u8) -> usize {
    let k = (u32::from(a.to_ascii_lowercase()) << 8) | u32::from(b.to_ascii_lowercase());
    (k.wrapping_mul(0x9E37_79B1) >> 20) as usize & (BUCKETS - 1)
}

/// Compile a pattern for speed: ASCII semantics first (credentials are
/// ASCII, and without Unicode `\b` and `\w` the fast DFA engines apply
/// to every input), Unicode only if a pattern needs it; default memory
/// limits first, larger ones only for the few big multi-line key patterns.
/// `None` when no variant compiles.
pub fn compile(pattern: &str) -> Option<regex::bytes::Regex> {
    let build = |unicode: bool, big: bool| {
        let mut b = regex::bytes::RegexBuilder::new(pattern);
        b.unicode(unicode);
        if big {
            b.size_limit(64 << 20).dfa_size_limit(8 << 20);
        }
        b.build().ok()
    };
    build(false, false)
        .or_else(|| build(true, false))
        .or_else(|| build(false, true))
        .or_else(|| build(true, true))
}

/// Why a pattern does not compile, in a few words: the constructs RE2 and
/// Rust's regex leave out by name, else the first line of the parser's
/// message.
pub fn regex_error(pattern: &str) -> String {
    let why = |needle: &[&str]| needle.iter().any(|n| pattern.contains(n));
    if why(&["(?=", "(?!"]) {
        return "lookahead is not supported".into();
    }
    if why(&["(?<=", "(?<!"]) {
        return "lookbehind is not supported".into();
    }
    match regex::bytes::RegexBuilder::new(pattern)
        .size_limit(64 << 20)
        .build()
    {
        Ok(_) => "too large".into(),
        Err(regex::Error::CompiledTooBig(_)) => "too large to compile".into(),
        Err(regex::Error::Syntax(s)) => {
            if (1..10).any(|d| pattern.contains(&format!("\\{d}"))) {
                return "backreferences are not supported".into();
            }
            s.lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .map(|l| l.trim_start_matches("error:").trim().to_string())
                .unwrap_or_else(|| "syntax error".into())
        }
        Err(e) => e.to_string(),
    }
}

/// Is this built-in rule usable as the engine runs it? Its pattern must
/// compile exactly as [`compile`] compiles it at scan time, every keyword
/// must be a lowercase literal of two bytes or more (the prefilter buckets
/// on the first two). `Err` says what is wrong.
#[cfg_attr(not(test), allow(dead_code))] // build.rs's
pub fn check_builtin(keywords: &[&str], pattern: &str) -> Result<(), String> {
    if keywords.is_empty() {
        return Err("needs keywords (the regex runs only when one occurs)".into());
    }
    if let Some(k) = keywords
        .iter()
        .find(|k| k.len() < 2 || k.to_ascii_lowercase() != **k)
    {
        return Err(format!(
            "keyword {k:?} must be a lowercase literal of at least two characters"
        ));
    }
    if pattern.is_empty() {
        return Err("pattern is empty".into());
    }
    if compile(pattern).is_none() {
        return Err(format!(
            "pattern does not compile: {}",
            regex_error(pattern)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What build.rs refuses: the build fails naming the rule and this
    /// reason, so no built-in rule can fail to compile when it first runs.
    #[test]
    fn build_refuses_rules_the_scanner_could_not_run() {
        assert_eq!(check_builtin(&["ab_"], r"ab_[a-z]{8}"), Ok(()));
        let err = |k: &[&str], p: &str| check_builtin(k, p).unwrap_err();
        assert!(err(&["ab_"], r"(?=x)ab_").contains("lookahead is not supported"));
        assert!(err(&["ab_"], r"ab_(\w+)\1").contains("backreferences"));
        assert!(err(&["ab_"], r"ab_[").contains("does not compile"));
        // Parses, but no size limit the scanner tries lets it compile.
        assert!(err(&["ab_"], r"\pL{1000}{1000}").contains("too large"));
        assert!(err(&[], "ab_").contains("keywords"));
        assert!(err(&["a"], "ab_").contains("two characters"));
        assert!(err(&["AB_"], "ab_").contains("lowercase"));
        assert!(err(&["ab_"], "").contains("empty"));
    }

    /// The generated table's keyword of Kubernetes Secrets is this one.
    #[test]
    fn k8s_keyword_is_lowercase() {
        assert_eq!(K8S_SECRET_KEYWORD, K8S_SECRET_KEYWORD.to_ascii_lowercase());
    }
}
