//! The `.env` file format: the parser behind `gsec import`, and the quoting
//! `gsec export --format dotenv` writes, kept in one place so the two always
//! agree.
//!
//! The dialect is python-dotenv's (the most widely used reader, and the one
//! docker compose and most frameworks follow closely):
//! - `#` lines and blank lines are ignored; `export ` before a key is allowed;
//! - `'single quoted'` values are literal and may span lines;
//! - `"double quoted"` values may span lines and understand the escapes
//!   `\n \r \t \" \' \\ \a \b \f \v` (python-dotenv's set) and `\$`; any other
//!   backslash is kept as is;
//! - unquoted values end at a ` #` comment and are trimmed;
//! - `KEY=` is an empty value.
//!
//! Unlike python-dotenv, nothing is interpolated: `${X}` is kept as written,
//! because an import must store exactly what the file says.

use zeroize::Zeroizing;

/// One `KEY=value` binding.
pub struct Entry {
    pub key: String,
    pub value: Zeroizing<String>,
    /// 1-based line of the key.
    pub line: usize,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A malformed line: where and what, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skip spaces and tabs (not newlines).
    fn blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// The rest of the current line (without its line break), consumed
    /// along with the break.
    fn rest_of_line(&mut self) -> &str {
        let start = self.pos;
        let end = self.s[start..]
            .find('\n')
            .map_or(self.s.len(), |i| start + i);
        let text = self.s[start..end]
            .strip_suffix('\r')
            .unwrap_or(&self.s[start..end]);
        self.pos = end;
        self.bump();
        text
    }

    fn err<T>(&self, line: usize, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line,
            message: message.into(),
        })
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Parse a whole `.env` text. Keys are returned as written (checking them
/// against secret-name rules is the caller's business).
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut c = Cursor {
        s: text,
        pos: 0,
        line: 1,
    };
    let mut out = Vec::new();
    loop {
        // Leading whitespace, blank lines, comments.
        while matches!(c.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            c.bump();
        }
        match c.peek() {
            None => break,
            Some('#') => {
                c.rest_of_line();
                continue;
            }
            _ => {}
        }
        let line = c.line;
        if c.s[c.pos..].starts_with("export") {
            let after = &c.s[c.pos + 6..];
            if after.starts_with([' ', '\t']) {
                c.pos += 6;
                c.blanks();
            }
        }
        let kstart = c.pos;
        while c.peek().is_some_and(is_key_char) {
            c.bump();
        }
        let key = c.s[kstart..c.pos].to_string();
        c.blanks();
        if key.is_empty() || c.peek() != Some('=') {
            let what = if key.is_empty() {
                "expected KEY=VALUE (a key is letters, digits, '_', '.' or '-')".to_string()
            } else {
                // Not the word itself: a line without '=' may be a bare
                // value (a wrapped PEM line, a pasted token).
                "expected '=' after the name that starts the line (lines are KEY=VALUE)".to_string()
            };
            return c.err(line, what);
        }
        c.bump();
        c.blanks();
        let value = match c.peek() {
            Some('\'') => {
                c.bump();
                let start = c.pos;
                let Some(len) = c.s[start..].find('\'') else {
                    return c.err(line, format!("unterminated single-quoted value for {key}"));
                };
                let v = Zeroizing::new(c.s[start..start + len].to_string());
                while c.pos < start + len + 1 {
                    c.bump();
                }
                end_after_quote(&mut c, &key)?;
                v
            }
            Some('"') => {
                c.bump();
                let mut v = Zeroizing::new(String::new());
                loop {
                    match c.bump() {
                        None => {
                            return c
                                .err(line, format!("unterminated double-quoted value for {key}"));
                        }
                        Some('"') => break,
                        Some('\\') => match c.bump() {
                            None => {
                                return c.err(
                                    line,
                                    format!("unterminated double-quoted value for {key}"),
                                );
                            }
                            Some(e) => match unescape(e) {
                                Some(ch) => v.push(ch),
                                None => {
                                    v.push('\\');
                                    v.push(e);
                                }
                            },
                        },
                        Some(ch) => v.push(ch),
                    }
                }
                end_after_quote(&mut c, &key)?;
                v
            }
            _ => {
                let raw = c.rest_of_line();
                // A comment starts at a '#' that follows whitespace.
                let mut end = raw.len();
                let b = raw.as_bytes();
                for i in 0..b.len() {
                    if b[i] == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
                        end = i;
                        break;
                    }
                }
                Zeroizing::new(raw[..end].trim().to_string())
            }
        };
        out.push(Entry { key, value, line });
    }
    Ok(out)
}

/// What a backslash escape in double quotes stands for; `None`: keep both
/// characters.
fn unescape(e: char) -> Option<char> {
    Some(match e {
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'v' => '\u{b}',
        '"' | '\'' | '\\' | '$' => e,
        _ => return None,
    })
}

/// After a closing quote only blanks and a comment may follow on the line.
fn end_after_quote(c: &mut Cursor<'_>, key: &str) -> Result<(), ParseError> {
    let line = c.line;
    let rest = c.rest_of_line().trim();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        c.err(
            line,
            format!("unexpected text after the closing quote of {key}"),
        )
    }
}

/// How `gsec export --format dotenv` writes a value so that python-dotenv,
/// dotenvx (and dotenv) and docker compose all read back exactly it:
/// - single quotes when the value has no `'` and no `\\` (and does not end
///   in `\`): literal in all three readers, newlines included — no `$`
///   interpolation, no escapes, no command substitution (dotenvx);
/// - else double quotes when it has none of `"` `$` `\` `` ` `` and no line
///   break: nothing in it is special to any reader;
/// - else ([`portable`] is false) double quotes with python-dotenv's
///   escapes: python-dotenv and gsec read it back exactly, but dotenvx
///   and compose interpolate `$` and treat escapes their own way — the
///   export warns, and `--format json` or `shell` carry such values safely.
pub fn quote(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 2));
    if single_quotable(value) {
        out.push('\'');
        out.push_str(value);
        out.push('\'');
        return out;
    }
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Single quotes are literal in every reader: python-dotenv unescapes
/// only `\\` and `\'` inside them, and dotenv (dotenvx) turns CR LF into LF
/// before parsing.
fn single_quotable(value: &str) -> bool {
    !value.contains(['\'', '\r']) && !value.contains("\\\\") && !value.ends_with('\\')
}

/// Does [`quote`] write `value` so that every common reader (python-dotenv,
/// dotenvx, docker compose) reads it back identically?
pub fn portable(value: &str) -> bool {
    // python-dotenv expands `${NAME}` in every quoting (unless loaded with
    // interpolate=False): nothing writes it literally.
    !value.contains("${")
        && (single_quotable(value)
            || !value
                .chars()
                .any(|c| matches!(c, '"' | '$' | '\\' | '`' | '\n' | '\r')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value.to_string()))
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn parses_the_common_forms() {
        let text = "# comment\n\nA=plain\nexport B = spaced value  # note\nC='lit $X \\n # not a comment'\nD=\"esc\\n\\t\\\"q\\\" \\\\ \\$HOME \\x\"\nE=\nF=a#b\r\nG=\"multi\nline\" # c\nH='two\nlines'\n  I=indented\n";
        assert_eq!(
            kv(text),
            vec![
                p("A", "plain"),
                p("B", "spaced value"),
                p("C", "lit $X \\n # not a comment"),
                p("D", "esc\n\t\"q\" \\ $HOME \\x"),
                p("E", ""),
                p("F", "a#b"),
                p("G", "multi\nline"),
                p("H", "two\nlines"),
                p("I", "indented"),
            ]
        );
    }

    #[test]
    fn line_numbers_count_multiline_values() {
        let e = parse("A=\"x\ny\"\n\nB=1\n").unwrap();
        assert_eq!((e[0].line, e[1].line), (1, 4));
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for (text, line, what) in [
            ("A=1\nnot a binding\n", 2, "expected '=' after the name"),
            ("A=1\n=value\n", 2, "expected KEY=VALUE"),
            (
                "A=1\n\nB=\"open\n",
                3,
                "unterminated double-quoted value for B",
            ),
            ("B='open\n", 1, "unterminated single-quoted value for B"),
            (
                "A=\"x\" y\n",
                1,
                "unexpected text after the closing quote of A",
            ),
            ("A$=1\n", 1, "expected '=' after the name"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.message.starts_with(what), "{text:?}: {}", e.message);
        }
    }

    #[test]
    fn errors_never_contain_values() {
        let e = parse("A=\"s3cret-never-shown\n").unwrap_err();
        assert!(!e.message.contains("s3cret"));
        // A bare value on its own line (a wrapped PEM body, a pasted
        // token) is not a name to quote.
        let e = parse("A=1\nghp_s3cretTokenOnItsOwnLine0123456789\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
    }

    #[test]
    fn quote_round_trips_awkward_values() {
        let big: String = "0123456789abcdef\"'\\$\n".repeat(4096);
        for v in [
            "",
            "plain",
            "it's \"quoted\"",
            "line1\nline2\r\nline3\n",
            "$HOME ${HOME} $(rm -rf) `id`",
            "${A} only",
            "${A} and ' quote",
            "back\\slash\\n not newline",
            "ends with a backslash\\",
            "\\",
            "tab\there # hash",
            "unicode: héllo 🔑 ✓",
            "\u{7}\u{8}\u{b}\u{c}",
            "#starts with hash",
            "  padded  ",
            &big,
        ] {
            let text = format!("K={}\n", &*quote(v));
            let e = parse(&text).unwrap();
            assert_eq!(e.len(), 1);
            assert_eq!(&*e[0].value, v, "{text:?}");
        }
    }
}
