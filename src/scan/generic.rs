//! Generic detection: a value assigned to a secret-looking name (in code,
//! YAML/JSON/TOML/INI, `.env`, properties) that looks random.
//!
//! The keyword automaton in the engine points at lines; here each such line
//! is parsed as `name <op> value`, the name must be a credential name (and
//! not e.g. `author` or `token_url`), and the value must pass a randomness
//! estimate (length floor, character-class mix, Shannon entropy) and none of
//! the placeholder / reference / stop-word filters in `generic_stopwords.txt`.

use std::sync::OnceLock;

use super::assignment;
use base64::Engine as _;

use super::validate;

/// The keywords that send a line here (lowercase fragments of credential
/// names, and `<PROVIDER>_KEY`-style endings): shared with `build.rs`,
/// which puts them in the prefilter's table beside the pack's keywords.
pub use super::build_shared::{GENERIC_KEYWORDS as KEYWORDS, PROVIDER_KEYWORDS};

/// Provider words (rule-id heads and provider names, minus the
/// `[not-providers]` stop words), one a line: made by build.rs from the rule
/// pack at compile time, split on first use.
const PROVIDERS: &str = include_str!(concat!(env!("OUT_DIR"), "/providers.txt"));

fn providers() -> &'static [&'static str] {
    static P: OnceLock<Vec<&'static str>> = OnceLock::new();
    P.get_or_init(|| PROVIDERS.lines().filter(|l| !l.is_empty()).collect())
}

/// Shortest value judged under a provider-key name: such names are also
/// used for short identifiers (`STRIPE_KEY=live`), so a key must be long.
const PROVIDER_MIN_LEN: usize = 16;

/// Lines longer than this are minified code or data, where name/value
/// pairs are not what they seem; the provider rules still run there.
const MAX_LINE: usize = 500;
/// Shortest value judged.
const MIN_LEN: usize = 8;
const MAX_LEN: usize = 200;

struct Stop {
    /// Values equal to one of these (case-insensitive) are not secrets.
    values: Vec<String>,
    /// Values containing one of these (case-insensitive) are not secrets.
    contains: Vec<String>,
    /// Names containing one of these are not credential names.
    names: Vec<String>,
    /// Whole words of a name that make a `<PROVIDER>_KEY` name something
    /// else (public keys, cache and i18n keys, hashes).
    provider_names: Vec<String>,
}

fn stop() -> &'static Stop {
    static S: OnceLock<Stop> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = Stop {
            values: vec![],
            contains: vec![],
            names: vec![],
            provider_names: vec![],
        };
        let mut section = "";
        for line in include_str!("generic_stopwords.txt").lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = match name {
                    "values" => "values",
                    "contains" => "contains",
                    "names" => "names",
                    "provider-name-stop" => "provider-name-stop",
                    _ => "",
                };
                continue;
            }
            let w = line.to_ascii_lowercase();
            match section {
                "values" => s.values.push(w),
                "contains" => s.contains.push(w),
                "names" => s.names.push(w),
                "provider-name-stop" => s.provider_names.push(w),
                _ => {}
            }
        }
        s
    })
}

/// The words of a name, lowercase: `MAILCHIMP_KEY`, `mailchimpKey`,
/// `mailchimp.key`, `mailchimp key` all give `mailchimp`, `key`.
fn name_words(name: &[u8]) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for &c in name {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase() as char);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Is this `<PROVIDER>_KEY` / `<provider>Key` / `<PROVIDER>_ACCESS`, with a
/// provider the rule pack knows, and none of the words that make it a
/// public, cache, i18n or hash key?
pub fn provider_key_name(name: &[u8]) -> bool {
    let words = name_words(name);
    let Some(last) = words.last() else {
        return false;
    };
    if !matches!(last.as_str(), "key" | "access") || words.len() < 2 {
        return false;
    }
    let st = stop();
    if words.iter().any(|w| st.provider_names.contains(w)) || !credential_name(name) {
        return false;
    }
    let compact: String = words.concat();
    providers().iter().any(|p| {
        if p.len() >= 5 {
            compact.contains(p)
        } else {
            words.iter().any(|w| w == p)
        }
    })
}

/// A Kubernetes `kind: Secret` manifest: every entry of its `data:` map is a
/// credential slot holding base64. Each value is decoded and the plaintext
/// judged like any assigned secret (`report` gets the span of the encoded
/// value); `slot` gets the span of every entry, judged or not, so that the
/// base64 text itself is not judged as if it were the secret (base64 of
/// `password` looks random). `stringData:` entries are plaintext and judged
/// as they are. The engine calls this only where `kind: Secret` occurs.
pub fn k8s_secret(
    content: &[u8],
    slot: &mut dyn FnMut(usize, usize),
    report: &mut dyn FnMut(usize, usize),
) {
    // Entries of the current YAML document: (start, end, judged a secret).
    let mut entries: Vec<(usize, usize, bool)> = Vec::new();
    let mut secret_doc = false;
    let mut flush = |entries: &mut Vec<(usize, usize, bool)>, secret_doc: bool| {
        if secret_doc {
            for &(s, e, hit) in entries.iter() {
                slot(s, e);
                if hit {
                    report(s, e);
                }
            }
        }
        entries.clear();
    };
    // The map we are in: (indent of its `data:` line, values are base64).
    let mut map: Option<(usize, bool)> = None;
    let mut off = 0;
    for raw in content.split(|&b| b == b'\n') {
        let line_start = off;
        off += raw.len() + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let indent = line.iter().take_while(|&&c| c == b' ').count();
        let body = line[indent..].trim_ascii_end();
        if body.is_empty() || body.starts_with(b"#") {
            continue;
        }
        if indent == 0 && body.starts_with(b"---") {
            flush(&mut entries, secret_doc);
            secret_doc = false;
            map = None;
            continue;
        }
        if indent == 0 && body.starts_with(b"kind:") {
            secret_doc = body[5..].trim_ascii() == b"Secret";
        }
        if map.is_some_and(|(map_indent, _)| indent <= map_indent) {
            map = None;
        }
        if body == b"data:" || body == b"stringData:" {
            map = Some((indent, body == b"data:"));
            continue;
        }
        let Some((_, base64)) = map else { continue };
        let Some(colon) = body.iter().position(|&c| c == b':') else {
            continue;
        };
        let value = &body[colon + 1..];
        let lead = value.len() - value.trim_ascii_start().len();
        let mut v = value.trim_ascii();
        let mut vstart = line_start + indent + colon + 1 + lead;
        if v.len() >= 2 && (v[0] == b'"' || v[0] == b'\'') && v[v.len() - 1] == v[0] {
            v = &v[1..v.len() - 1];
            vstart += 1;
        }
        if v.is_empty() {
            continue;
        }
        let plain = if base64 {
            base64::engine::general_purpose::STANDARD.decode(v).ok()
        } else {
            Some(v.to_vec())
        };
        let hit = plain.is_some_and(|p| secret_value(&p, true));
        entries.push((vstart, vstart + v.len(), hit));
    }
    flush(&mut entries, secret_doc);
}

/// How a file's assignments read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Source code: `name: Type`, `a => b`, `x = other.field` are code, so
    /// only quoted (literal) values count.
    Code,
    /// Configuration and everything else: bare values count too.
    Data,
}

const CODE_EXT: &[&str] = &[
    "rs", "go", "java", "kt", "kts", "scala", "swift", "c", "h", "cc", "cpp", "hpp", "cs", "fs",
    "js", "mjs", "cjs", "jsx", "ts", "tsx", "py", "rb", "php", "pl", "lua", "dart", "ex", "exs",
    "erl", "hs", "ml", "clj", "groovy", "gradle", "vue", "svelte", "m", "mm", "r", "jl", "zig",
    "nim", "v", "sol",
];

impl Syntax {
    pub fn of(name: &str) -> Syntax {
        let base = name.rsplit('/').next().unwrap_or(name);
        match base.rsplit_once('.') {
            Some((_, ext)) if CODE_EXT.contains(&ext.to_ascii_lowercase().as_str()) => Syntax::Code,
            _ => Syntax::Data,
        }
    }
}

/// Judge the lines containing `positions`; report each secret span.
pub fn scan_lines(
    content: &[u8],
    syntax: Syntax,
    positions: &[usize],
    emit: &mut dyn FnMut(usize, usize),
) {
    // `positions` ascend: each line is judged once, at its first position,
    // and the search for its start looks back no further than a line may
    // be long. (Searching back to the previous newline from every keyword
    // of a long minified line was half of a directory scan.)
    let mut judged_until = 0;
    for &p in positions {
        if p < judged_until {
            continue;
        }
        let end = memchr::memchr(b'\n', &content[p..]).map_or(content.len(), |i| p + i);
        judged_until = end + 1;
        let from = p.saturating_sub(MAX_LINE + 1);
        let start = match memchr::memrchr(b'\n', &content[from..p]) {
            Some(i) => from + i + 1,
            None if from == 0 => 0,
            None => continue, // begins more than MAX_LINE bytes back
        };
        let line = &content[start..end];
        if line.len() > MAX_LINE {
            continue;
        }
        for a in assignment::credential(line) {
            let Some((vs, ve, quoted)) = assigned_value(&a, syntax) else {
                continue;
            };
            let name = &line[a.name.0..a.name.1];
            // `?token=…` in a badge URL is a public read token.
            let in_query = a.name.0 > 0 && matches!(line[a.name.0 - 1], b'?' | b'&');
            if in_query
                && [&b"badge"[..], b"shields.io", b"codecov"]
                    .iter()
                    .any(|k| line.windows(k.len()).any(|w| w.eq_ignore_ascii_case(k)))
            {
                continue;
            }
            if credential_name(name) && secret_value(&line[vs..ve], quoted) {
                emit(start + vs, start + ve);
            }
        }
        for a in assignment::provider(line) {
            let Some((vs, ve, quoted)) = assigned_value(&a, syntax) else {
                continue;
            };
            let v = &line[vs..ve];
            // A key is one token: no spaces, no `:` (cache keys like
            // `user:session`), no `%` (format strings).
            if v.len() >= PROVIDER_MIN_LEN
                && v.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || b"+/=_-.~".contains(&c))
                && provider_key_name(&line[a.name.0..a.name.1])
                && secret_value(v, quoted)
            {
                emit(start + vs, start + ve);
            }
        }
    }
}

/// Is this a name that holds a credential (not `author`, `token_url`,
/// `password_length`, ...)?
pub fn credential_name(name: &[u8]) -> bool {
    let low = String::from_utf8_lossy(name).to_ascii_lowercase();
    !stop().names.iter().any(|s| low.contains(s.as_str()))
}

/// Does this value look like a real secret?
pub fn secret_value(v: &[u8], quoted: bool) -> bool {
    judge(v, quoted, true)
}

/// The same judgement for a value in a slot that only ever holds a token
/// (`Authorization: Bearer …`, `access_token=…`): there a 40- or 64-digit
/// hex string is a token, not a git object id.
pub fn token_value(v: &[u8]) -> bool {
    judge(v, true, false)
}

fn judge(v: &[u8], quoted: bool, hex_ids: bool) -> bool {
    let v = v.trim_ascii();
    if v.len() < MIN_LEN || v.len() > MAX_LEN {
        return false;
    }
    let Ok(s) = std::str::from_utf8(v) else {
        return false;
    };
    let low = s.to_ascii_lowercase();
    let st = stop();
    if st.values.contains(&low) || st.contains.iter().any(|w| low.contains(w.as_str())) {
        return false;
    }
    if validate::is_placeholder(v) || reference(s, quoted) || structured(s, hex_ids) {
        return false;
    }
    random_enough(v)
}

/// Variables, template expressions, code that computes the value.
fn reference(s: &str, quoted: bool) -> bool {
    let b = s.as_bytes();
    if s.starts_with(':')
        || s.starts_with('{')
        || s.contains("::")
        || s.contains("\\x")
        || s.starts_with('$')
        || s.starts_with('%')
        || s.starts_with('<')
        || s.starts_with('&')
        || s.starts_with('*')
    {
        return true; // $VAR ${VAR} %(x)s <your-key> YAML anchors/aliases
    }
    if s.contains("${")
        || s.contains("{{")
        || s.contains("#{")
        || s.contains("$(")
        || s.contains("}}")
    {
        return true;
    }
    if s.contains('(') || s.contains(')') {
        return true; // getenv("X"), os.environ.get(...), func()
    }
    // A placeholder inside a real prefix: `sk_live_<your key here>`,
    // `ghp_<token>`: `<` and a word.
    if b.windows(4)
        .any(|w| w[0] == b'<' && w[1..].iter().all(|c| c.is_ascii_alphabetic() || *c == b'_'))
    {
        return true;
    }
    if env_reference(s) {
        return true;
    }
    if !quoted {
        // Bare `a.b.c`, `obj[key]`, identifiers: code, not data.
        if b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'[' || c == b']')
            && (s.contains('.') || s.contains('['))
        {
            return true;
        }
        if s.ends_with(':') || s.ends_with('{') || s.ends_with('\\') {
            return true;
        }
    }
    false
}

/// `@env:AC_PASSWORD`, `env:DB_PASS`, `keychain:DEPLOY_TOKEN`: a lower-case
/// source name, a colon, and an upper-case variable name (gon, Jenkins,
/// many CI configs read the real value from there).
fn env_reference(s: &str) -> bool {
    let Some((scheme, name)) = s.trim_start_matches('@').split_once(':') else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c == b'-' || c == b'_')
        && name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

/// Hashes, ids, paths and URLs that are not credentials.
fn structured(s: &str, hex_ids: bool) -> bool {
    let b = s.as_bytes();
    // UUID
    if b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
    {
        return true;
    }
    // git object ids (40 or 64 lowercase hex)
    if hex_ids
        && (b.len() == 40 || b.len() == 64)
        && b.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return true;
    }
    // SRI / algorithm-prefixed hashes
    if [
        "sha1-", "sha256-", "sha384-", "sha512-", "sha256:", "sha512:", "md5:", "sha1:",
    ]
    .iter()
    .any(|p| s.starts_with(p))
    {
        return true;
    }
    // Encrypted values, public keys and recipients are not secrets.
    if s.starts_with("ENC[")
        || s.starts_with("age1")
        || s.starts_with("ssh-")
        || s.starts_with("data:")
    {
        return true;
    }
    // URLs without credentials, file paths.
    if let Some(rest) = s.split_once("://").map(|(_, r)| r) {
        let auth = rest.split('/').next().unwrap_or("");
        return !auth.contains('@');
    }
    if s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with("~/")
        || s.starts_with("\\")
    {
        return true;
    }
    if s.len() > 2 && s.as_bytes()[1] == b':' && s.as_bytes()[2] == b'\\' {
        return true; // C:\path
    }
    // Dotted file names / paths like config/secret.json, key.pem
    if s.contains('/')
        && s.split('/').all(|seg| {
            seg.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
        })
    {
        let last = s.rsplit('/').next().unwrap_or("");
        if last.contains('.') || s.split('/').count() > 2 {
            return true;
        }
    }
    false
}

/// Randomness estimate: character classes, entropy, and not a word-like
/// identifier.
fn random_enough(v: &[u8]) -> bool {
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    let other = v.iter().any(|c| !c.is_ascii_alphanumeric());
    let classes = [lower, upper, digit, other].iter().filter(|&&x| x).count();
    let h = validate::entropy(v);
    // all the same char repeated, or sequences like 12345678
    if h < 2.5 {
        return false;
    }
    // Words joined by separators: my_secret_value, some-config-name, Foo.Bar
    if !digit
        && v.iter()
            .all(|&c| c.is_ascii_alphabetic() || c == b'_' || c == b'-' || c == b'.' || c == b' ')
    {
        return v.len() >= 24
            && h >= 4.2
            && upper
            && lower
            && !v.contains(&b'_')
            && !v.contains(&b' ');
    }
    // Constant and slug names: CLIENT_TRAFFIC_SECRET_0, pkcs-9-at-token.
    let segs: Vec<&[u8]> = v.split(|&c| c == b'_' || c == b'-').collect();
    if segs.len() >= 2
        && segs
            .iter()
            .all(|g| g.iter().all(u8::is_ascii_alphabetic) || g.iter().all(u8::is_ascii_digit))
    {
        return false;
    }
    // Sentences are prose, not secrets.
    if v.iter().filter(|&&c| c == b' ').count() >= 2 {
        return false;
    }
    match classes {
        0 | 1 => v.len() >= 20 && h >= 3.5 && digit, // e.g. long digit-only ids are ignored unless very random
        2 => h >= 3.0,
        _ => h >= 2.75,
    }
}

/// An assignment's value span and whether it was quoted; a bare (unquoted)
/// value counts only in data files.
fn assigned_value(a: &assignment::Assignment, syntax: Syntax) -> Option<(usize, usize, bool)> {
    (a.quoted || syntax == Syntax::Data).then_some((a.value.0, a.value.1, a.quoted))
}

#[cfg(test)]
mod line_tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::{MAX_LINE, Syntax, scan_lines};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
        /// Lines of every length around MAX_LINE, some holding a password
        /// assignment, and keyword positions anywhere: a secret is reported
        /// exactly on the lines that hold one, are no longer than
        /// MAX_LINE and have a position (by the definition: each
        /// position's whole line), and once per line.
        #[test]
        fn each_line_is_judged_once_and_long_lines_never(
            lines in prop::collection::vec((0usize..2 * MAX_LINE, any::<bool>()), 1..8),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 1..12),
        ) {
            let mut content = Vec::new();
            let mut spans = Vec::new();
            for (i, (pad, secret)) in lines.iter().enumerate() {
                let start = content.len();
                if *secret {
                    content.extend_from_slice(format!("DB_PASSWORD=\"Xk9mP2vLq7Rt{i}a\" ").as_bytes());
                }
                content.extend(std::iter::repeat_n(b'x', *pad));
                spans.push((start, content.len(), *secret));
                content.push(b'\n');
            }
            let mut positions: Vec<usize> = picks.iter().map(|i| i.index(content.len())).collect();
            positions.sort_unstable();
            positions.dedup();
            let mut got = Vec::new();
            scan_lines(&content, Syntax::Data, &positions, &mut |s, _| got.push(s));
            let want: Vec<usize> = spans
                .iter()
                .filter(|&&(s, e, secret)| {
                    secret && e - s <= MAX_LINE && positions.iter().any(|&p| p >= s && p <= e)
                })
                .map(|&(s, _, _)| s)
                .collect();
            let lines_got: Vec<usize> = got
                .iter()
                .map(|&at| spans.iter().find(|&&(s, e, _)| at >= s && at <= e).unwrap().0)
                .collect();
            prop_assert_eq!(lines_got.iter().copied().collect::<BTreeSet<_>>().len(), lines_got.len());
            prop_assert_eq!(lines_got, want);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b = line.as_bytes();
        let low = line.to_ascii_lowercase();
        let pos: Vec<usize> = KEYWORDS
            .iter()
            .chain(PROVIDER_KEYWORDS)
            .filter_map(|k| low.find(k))
            .collect();
        scan_lines(b, Syntax::Data, &pos, &mut |s, e| {
            out.push(line[s..e].to_string())
        });
        out
    }

    #[test]
    fn true_positives() {
        for (line, want) in [
            ("DB_PASSWORD=Xk9mP2vLq7Rt", "Xk9mP2vLq7Rt"),
            ("password: \"hG4#kq82!mZp\"", "hG4#kq82!mZp"),
            (
                "  \"api_key\": \"a8f5f167f44f4964e6c998dee827110c\",",
                "a8f5f167f44f4964e6c998dee827110c",
            ),
            (
                "secret_key = 'N7b2Qx9LwE4rT6yU1iO3pA5s'",
                "N7b2Qx9LwE4rT6yU1iO3pA5s",
            ),
            ("spring.datasource.password=S3cr3tP4ss!", "S3cr3tP4ss!"),
            (
                "const authToken = \"Zq8Wv2Xr5Tn9Ym3K\";",
                "Zq8Wv2Xr5Tn9Ym3K",
            ),
            // Typed declarations: Rust, Python, TypeScript/Kotlin, Go.
            (
                "const DB_PASSWORD: &str = \"Xk9mP2vLq7Rt\";",
                "Xk9mP2vLq7Rt",
            ),
            (
                "static API_KEY: &'static str = \"Zq8Wv2Xr5Tn9Ym3K\";",
                "Zq8Wv2Xr5Tn9Ym3K",
            ),
            ("    password: str = \"hG4#kq82!mZp\"", "hG4#kq82!mZp"),
            (
                "val apiToken: String? = \"N7b2Qx9LwE4rT6yU\"",
                "N7b2Qx9LwE4rT6yU",
            ),
            ("var dbPassword string = \"Xk9mP2vLq7Rt\"", "Xk9mP2vLq7Rt"),
        ] {
            assert_eq!(finds(line), vec![want.to_string()], "{line}");
        }
    }

    #[test]
    fn provider_key_names() {
        for (line, want) in [
            (
                "MAILCHIMP_KEY=Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe5VrTn1XoPiA",
                "Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe5VrTn1XoPiA",
            ),
            (
                "nuget key = oy2kq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe5VrTn1Xo",
                "oy2kq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe5VrTn1Xo",
            ),
            (
                "  sendgridKey: \"Zq8Wv2Xr5Tn9Ym3KHq7vR2xKp9LmZ4tW\"",
                "Zq8Wv2Xr5Tn9Ym3KHq7vR2xKp9LmZ4tW",
            ),
            (
                "DATADOG_ACCESS=4f8a2b9c7d1e6f3a5b8c9d2e7f1a4b6c",
                "4f8a2b9c7d1e6f3a5b8c9d2e7f1a4b6c",
            ),
            (
                "hugging_face_key: hQ7vR2xKp9LmZ4tWb8NcYd3FgJs6",
                "hQ7vR2xKp9LmZ4tWb8NcYd3FgJs6",
            ),
        ] {
            assert_eq!(finds(line), vec![want.to_string()], "{line}");
        }
        for line in [
            "STRIPE_PUBLISHABLE_KEY=Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe",
            "github_cache_key: gh-Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6",
            "stripe.key: \"settings.payments.stripe.key\"",
            "sentry_sha_key = 4f8a2b9c7d1e6f3a5b8c9d2e7f1a4b6c8d9e0f1a",
            "MAILCHIMP_KEY=<your-mailchimp-key>",
            "MAILCHIMP_KEY=${MAILCHIMP_KEY}",
            "SLACK_KEY=123e4567-e89b-12d3-a456-426614174000",
            "MONKEY=Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe",
            "sort_key = Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe",
            "redis_key: Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe",
            "STRIPE_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
            "twilio key = short1",
        ] {
            assert!(finds(line).is_empty(), "false positive on {line}");
        }
    }

    #[test]
    fn look_alikes() {
        for line in [
            "password: ${DB_PASSWORD}",
            "password = os.environ[\"DB_PASSWORD\"]",
            "token = os.getenv(\"TOKEN\")",
            "const token = process.env.API_TOKEN;",
            "api_key: <your-api-key>",
            "STRIPE_SECRET_KEY=sk_live_<your key here>",
            "token: ghp_<TOKEN>",
            "secret: sk_live_51Hq7vR2xK...",
            "secret: \"{{ .Values.secret }}\"",
            "token: ${{ secrets.GITHUB_TOKEN }}",
            "password: changeme",
            "password: xxxxxxxxxxxx",
            "password: '********'",
            "author = \"Jane Doe <jane@example.org>\"",
            "token_url = \"https://auth.example.org/oauth/token\"",
            "password_min_length = 12345678",
            "secret: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]",
            "auth_id: 123e4567-e89b-12d3-a456-426614174000",
            "password = None",
            "tokenizer = AutoTokenizer.from_pretrained(name)",
            "let password = self.password_field.value;",
            "secret_file: /run/secrets/db_password",
            "password: your_password_here",
            "password: \"\"",
            "token = resolve_token",
            "err-mixed-recipient-passphrase = {-scrypt-recipient} can't be used",
            "    password: \"pass\\x00word\",",
            "    (&PKCS_9_AT_PKCS_15_TOKEN, \"pkcs-9-at-pkcs15Token\"),",
            "credentials = [\"dep:gix-credentials\", \"dep:gix-prompt\"]",
            "[![codecov](https://codecov.io/gh/o/r/graph/badge.svg?token=3KA3R2D9fV)](https://codecov.io/gh/o/r)",
            "    ClientTrafficSecret => \"CLIENT_TRAFFIC_SECRET_0\",",
            "        \"password\":  \"@env:AC_PASSWORD\"",
            "const DB_PASSWORD: &str = env!(\"DB_PASSWORD\");",
            "let token: String = read_token()?;",
            "if password == \"\" { return Err(e) }",
            "password: Option<String> = None,",
            "  api_token: keychain:DEPLOY_TOKEN_2",
        ] {
            assert!(
                finds(line).is_empty(),
                "false positive on {line}: {:?}",
                finds(line)
            );
        }
    }
}
