//! `name = value` in a line of code or data: the parser generic detection
//! reads assignments with.
//!
//! Two shapes, each the leftmost-first match of a regular expression (kept
//! in the tests as the specification, and compared with this parser on
//! generated lines):
//!
//! - [`credential`]: a name holding a credential word (`password`,
//!   `api_key`, `token`…), an optional closing quote, an operator (`=`,
//!   `:=`, `=>`, `:`, `?=`, or a type then `=`: `const KEY: &str =`,
//!   `password: str =`, `var token string =`), the value;
//! - [`provider`]: any name (`MAILCHIMP_KEY`, `nuget key`), an operator,
//!   the value; whether the name holds a provider word is decided by the
//!   caller.
//!
//! Values are double-, single-, back-quoted (`@"…"` too) or bare.
//!
//! A parser rather than the regexes: the pre-commit hook compiles nothing
//! it can avoid, and these two cost more to compile (4M instructions)
//! than the rest of a typical pre-commit scan's rules together.

/// One assignment: spans in the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub name: (usize, usize),
    pub value: (usize, usize),
    /// The value was quoted (a bare value counts only in data files).
    pub quoted: bool,
}

/// The credential words, ASCII case-insensitively (`[_-]?` optional).
const WORDS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"pwd",
    b"secret",
    b"token",
    b"api?key",
    b"auth",
    b"credential",
    b"private?key",
    b"access?key",
    b"passphrase",
];

/// `\s` in ASCII mode.
fn space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A byte of a credential name before its word.
fn name_head(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// A byte of a name after its word, and of a provider-key name.
fn name_tail(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// A byte of a type annotation (`&'static str`, `Option<String>`).
fn type_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'<' | b'>' | b'[' | b']' | b'*')
}

fn bare_byte(b: u8) -> bool {
    !space(b)
        && !matches!(
            b,
            b'"' | b'\'' | b'`' | b',' | b';' | b')' | b']' | b'}' | b'>'
        )
}

/// Does a credential word start at `at`? Its end if so.
fn word_at(line: &[u8], at: usize) -> Option<usize> {
    'words: for w in WORDS {
        let mut i = at;
        for &c in *w {
            if c == b'?' {
                if matches!(line.get(i), Some(b'_' | b'-')) {
                    i += 1;
                }
                continue;
            }
            match line.get(i) {
                Some(b) if b.eq_ignore_ascii_case(&c) => i += 1,
                _ => continue 'words,
            }
        }
        return Some(i);
    }
    None
}

fn skip(line: &[u8], mut i: usize, class: fn(u8) -> bool) -> usize {
    while line.get(i).is_some_and(|&b| class(b)) {
        i += 1;
    }
    i
}

/// A value's span, whether it was quoted, and where the match ends.
type Matched = ((usize, usize), bool, usize);

/// The value at `i`.
fn value(line: &[u8], i: usize) -> Option<Matched> {
    let quoted = |open: usize, q: u8| {
        let start = open + 1;
        let end = start
            + line[start.min(line.len())..]
                .iter()
                .position(|&b| b == q || b == b'\r' || b == b'\n')?;
        (end > start && line[end] == q).then_some(((start, end), true, end + 1))
    };
    let bare = || {
        let end = skip(line, i, bare_byte);
        (end > i).then_some(((i, end), false, end))
    };
    match line.get(i)? {
        // `@"` not closed: `@` alone is a bare value.
        b'@' if line.get(i + 1) == Some(&b'"') => quoted(i + 1, b'"').or_else(bare),
        b'"' => quoted(i, b'"'),
        b'\'' => quoted(i, b'\''),
        b'`' => quoted(i, b'`'),
        _ => bare(),
    }
}

/// `\s*(?:=|:=|=>|:|\?=)\s*` then a value, each operator tried in turn.
fn operator_value(line: &[u8], i: usize) -> Option<Matched> {
    let i = skip(line, i, space);
    for op in [&b"="[..], b":=", b"=>", b":", b"?="] {
        if line[i.min(line.len())..].starts_with(op)
            && let Some(v) = value(line, skip(line, i + op.len(), space))
        {
            return Some(v);
        }
    }
    None
}

/// A type then `=`: `(?:\s*:\s*&?(?:'static\s+)?|\s+)TYPE\??\s*=`, then the
/// value.
fn typed_value(line: &[u8], i: usize) -> Option<Matched> {
    let after_type = |t: usize| {
        if !line
            .get(t)
            .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
        {
            return None;
        }
        let mut j = skip(line, t, type_byte);
        if line.get(j) == Some(&b'?') {
            j += 1;
        }
        j = skip(line, j, space);
        (line.get(j) == Some(&b'=')).then(|| value(line, skip(line, j + 1, space)))?
    };
    let c = skip(line, i, space);
    if line.get(c) == Some(&b':') {
        let mut t = skip(line, c + 1, space);
        if line.get(t) == Some(&b'&') {
            t += 1;
        }
        if line[t.min(line.len())..].starts_with(b"'static") {
            let s = skip(line, t + 7, space);
            if s > t + 7 {
                t = s;
            }
        }
        if let Some(v) = after_type(t) {
            return Some(v);
        }
    }
    if c > i {
        return after_type(c);
    }
    None
}

/// `["']?` then what `rest` matches.
fn quote_then(line: &[u8], e: usize, rest: impl Fn(usize) -> Option<Matched>) -> Option<Matched> {
    match line.get(e) {
        Some(b'"' | b'\'') => rest(e + 1),
        _ => rest(e),
    }
}

/// Where the next search may start a match: `from`, and each later start
/// of a run of `class` bytes (a match found inside a run is found from the
/// run's start too).
fn starts(line: &[u8], from: usize, class: fn(u8) -> bool) -> impl Iterator<Item = usize> + '_ {
    (from..line.len()).filter(move |&s| class(line[s]) && (s == from || !class(line[s - 1])))
}

/// Successive leftmost matches, as a regex's `find_iter` gives them: from
/// each search position, the first candidate start where `at` matches; the
/// next search starts where that match ends.
fn each_match<I: Iterator<Item = usize>>(
    line: &[u8],
    starts: impl Fn(usize) -> I,
    at: impl Fn(usize) -> Option<(Assignment, usize)>,
) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut from = 0;
    while from < line.len() {
        let Some((a, end)) = starts(from).find_map(&at) else {
            break;
        };
        out.push(a);
        from = end;
    }
    out
}

/// The name `s..e`, with what followed it, as a match and its end.
fn assigned(s: usize, e: usize, (value, quoted, end): Matched) -> (Assignment, usize) {
    let a = Assignment {
        name: (s, e),
        value,
        quoted,
    };
    (a, end)
}

/// Every credential assignment in `line`, left to right.
pub fn credential(line: &[u8]) -> Vec<Assignment> {
    each_match(
        line,
        |from| starts(line, from, name_head),
        |s| credential_at(line, s),
    )
}

fn credential_at(line: &[u8], s: usize) -> Option<(Assignment, usize)> {
    let run = skip(line, s, name_head);
    // The word as far right as it can be (the head is greedy), then the
    // longest tail that an operator and a value follow.
    for c in (s..run).rev() {
        let Some(word_end) = word_at(line, c) else {
            continue;
        };
        let tail = skip(line, word_end, name_tail);
        for e in (word_end..=tail).rev() {
            let rest = |i| typed_value(line, i).or_else(|| operator_value(line, i));
            if let Some(m) = quote_then(line, e, rest) {
                return Some(assigned(s, e, m));
            }
        }
    }
    None
}

/// Every `<name> = value` in `line` whose name could be a provider key's
/// (`[A-Za-z][A-Za-z0-9_.-]+`, optionally followed by ` key`/` access`),
/// left to right.
pub fn provider(line: &[u8]) -> Vec<Assignment> {
    each_match(
        line,
        |from| letter_starts(line, from),
        |s| provider_at(line, s),
    )
}

/// Where a provider-key name may start: the first letter of each run of
/// name bytes from `from` (a match from a later one is found from it too).
fn letter_starts(line: &[u8], from: usize) -> impl Iterator<Item = usize> + '_ {
    let mut letter_in_run = false;
    (from..line.len()).filter(move |&s| {
        let b = line[s];
        let first = b.is_ascii_alphabetic() && !letter_in_run;
        letter_in_run = name_tail(b) && (letter_in_run || b.is_ascii_alphabetic());
        first
    })
}

fn provider_at(line: &[u8], s: usize) -> Option<(Assignment, usize)> {
    let run = skip(line, s + 1, name_tail);
    if run < s + 2 {
        return None;
    }
    let mut ends = Vec::with_capacity(2);
    for w in [&b" key"[..], b" access"] {
        if line
            .get(run..run + w.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(w))
        {
            ends.push(run + w.len());
        }
    }
    ends.push(run);
    ends.into_iter()
        .find_map(|e| quote_then(line, e, |i| operator_value(line, i)).map(|m| assigned(s, e, m)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::bytes::Regex;

    /// The specification: the regexes this parser replaced.
    fn credential_re() -> Regex {
        regex::bytes::RegexBuilder::new(
            r#"(?x)
            (?P<name>[A-Za-z0-9_.\-\[\]]*
                (?i:password|passwd|pwd|secret|token|api[_-]?key|auth|credential|private[_-]?key|access[_-]?key|passphrase)
                [A-Za-z0-9_.\-]*)
            ["']?
            (?:
                (?:\s*:\s*&?(?:'static\s+)?|\s+)[A-Za-z_][A-Za-z0-9_.:<>\[\]*]*\??\s*=
                |\s*(?:=|:=|=>|:|\?=)
            )\s*
            (?:@?"(?P<dq>[^"\r\n]+)"|'(?P<sq>[^'\r\n]+)'|`(?P<bq>[^`\r\n]+)`|(?P<bare>[^\s"'`,;)\]}>]+))
            "#,
        )
        .unicode(false)
        .build()
        .unwrap()
    }

    fn provider_re() -> Regex {
        regex::bytes::RegexBuilder::new(
            r#"(?x)
            (?P<name>[A-Za-z][A-Za-z0-9_.\-]+(?:\x20(?i:key|access))?)
            ["']?\s*(?:=|:=|=>|:|\?=)\s*
            (?:@?"(?P<dq>[^"\r\n]+)"|'(?P<sq>[^'\r\n]+)'|`(?P<bq>[^`\r\n]+)`|(?P<bare>[^\s"'`,;)\]}>]+))
            "#,
        )
        .unicode(false)
        .build()
        .unwrap()
    }

    fn by_regex(re: &Regex, line: &[u8]) -> Vec<Assignment> {
        re.captures_iter(line)
            .map(|c| {
                let n = c.name("name").unwrap();
                let (v, quoted) = match (
                    c.name("dq").or(c.name("sq")).or(c.name("bq")),
                    c.name("bare"),
                ) {
                    (Some(v), _) => (v, true),
                    (None, Some(v)) => (v, false),
                    _ => unreachable!(),
                };
                Assignment {
                    name: (n.start(), n.end()),
                    value: (v.start(), v.end()),
                    quoted,
                }
            })
            .collect()
    }

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "password",
            "PassWD",
            "pwd",
            "secret",
            "token",
            "api_key",
            "API-KEY",
            "apikey",
            "auth",
            "private_key",
            "accesskey",
            "passphrase",
            "credential",
            "mailchimp",
            "key",
            " key",
            " access",
            "x",
            "A1",
            "_",
            ".",
            "-",
            "[",
            "]",
            " ",
            "  ",
            "\t",
            "\r",
            ":",
            "=",
            "=>",
            ":=",
            "?=",
            "?",
            "\"",
            "'",
            "`",
            "@",
            "&",
            "'static ",
            "'static",
            "str",
            "Option<String>",
            "*",
            ",",
            ";",
            ")",
            "}",
            ">",
            "<",
            "Xk9mP2vLq7Rt",
            "é",
            "\u{0}",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn the_parser_is_the_regex(pieces in prop::collection::vec(piece(), 0..14)) {
            let line = pieces.concat();
            let line = line.as_bytes();
            prop_assert_eq!(credential(line), by_regex(&credential_re(), line), "{:?}", String::from_utf8_lossy(line));
            prop_assert_eq!(provider(line), by_regex(&provider_re(), line), "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn shapes() {
        let cases: &[&str] = &[
            r#"const DB_PASSWORD: &str = "Xk9mP2vLq7Rt";"#,
            r#"password: str = "hunter2hunter2""#,
            r#"var token string = "abc""#,
            r#"    "api_key": "abcdef","#,
            "SECRET_KEY=abc123 other_token => 'q' x=1",
            "AUTH_TOKEN ?= `zzz`",
            r#"$password = @"verbatim""#,
            "password: 'static str = x",
            "data[token]=x",
            "MAILCHIMP_KEY=0123456789abcdef0123",
            "nuget key = oy2abcdefghijklmnopqrstuvwxyz0123456789abcdefgh",
        ];
        for c in cases {
            let l = c.as_bytes();
            assert_eq!(credential(l), by_regex(&credential_re(), l), "{c}");
            assert_eq!(provider(l), by_regex(&provider_re(), l), "{c}");
        }
        assert_eq!(
            credential(br#"const DB_PASSWORD: &str = "Xk9mP2vLq7Rt";"#)[0].value,
            (27, 39)
        );
    }
}
