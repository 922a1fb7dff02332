//! Parsing YAML that gsec did not write itself (environment files,
//! `.gsec.yaml`, `.gsec.local.yaml`, an edited buffer): the bounds every such
//! parse goes through, in one place.
//!
//! - Nesting: libyaml's bookkeeping of flow collections (`[`, `{`) costs time
//!   quadratic in their depth (an 81 KB file of `[` took 8.6 s to refuse), so
//!   the depth is measured on the raw text and refused *before* the parser
//!   runs. The measure counts every bracket, quoted or not, so it can only
//!   over-estimate: a file is refused when it has more than
//!   [`MAX_FLOW_DEPTH`] unclosed brackets at some point, which no real
//!   secrets file or config has.
//! - Duplicate keys: parsing into a [`Value`] refuses them (serde_norway's
//!   `Mapping` reports "duplicate entry with key …"), unlike typed maps
//!   (`IndexMap`), where the last one silently wins.
//!
//! Sizes are bounded when files are read (`fsutil::read_regular`).

use serde_norway::Value;

/// Deepest flow nesting (`[[[…` / `{{{…`) accepted.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Refuse text nested deeper than [`MAX_FLOW_DEPTH`] flow levels.
pub fn check_depth(text: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    for &b in text {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(format!(
                        "YAML nested more than {MAX_FLOW_DEPTH} levels deep; refused before parsing"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parse untrusted YAML into a tree: depth bound first, then a parse that
/// refuses duplicate keys. Errors are the parser's message, prefixed
/// `invalid YAML: `, with long values elided ([`elide_values`]).
pub fn parse_value(text: &[u8]) -> Result<Value, String> {
    check_depth(text)?;
    serde_norway::from_slice(text)
        .map_err(|e| format!("invalid YAML: {}", elide_values(&e.to_string())))
}

/// serde's messages start with the phrases below after the key path.
const SERDE_KINDS: [&str; 9] = [
    "invalid type",
    "invalid value",
    "invalid length",
    "unknown field",
    "unknown variant",
    "missing field",
    "duplicate field",
    "duplicate entry",
    "recursion limit",
];

/// Longest input text a parser message may still quote (a short
/// misspelt field or variant name helps; a value never should be shown).
const MAX_QUOTED: usize = 24;

/// A serde/YAML parser message with the input text it quotes elided when
/// longer than [`MAX_QUOTED`] characters: `invalid type: string "…"`,
/// ``invalid type: integer `…` as u128``, ``unknown variant `…` ``. The key
/// path before the message (`recipients.team: …`; keys are not secret) is
/// kept as it is.
///
/// The quoted span is taken from the *first* quote to the *last* closing
/// one, never paired naively: the input itself may hold quotes, escaped
/// (`\"`) or not (a key path `te"am`, a value `a"b"c`), and a naive pairing
/// leaves the rest of the value in the message.
pub fn elide_values(msg: &str) -> String {
    // Where serde's own message starts: the key path before it is kept.
    let start = SERDE_KINDS
        .iter()
        .filter_map(|k| msg.find(&format!(": {k}")).map(|i| i + 2))
        .min()
        .unwrap_or(0);
    let (path, rest) = msg.split_at(start);
    let rest = elide_span(rest, '"', &[", expected", " at line"]);
    let rest = elide_span(&rest, '`', &["`, expected", "` as ", "` at line"]);
    format!("{path}{rest}")
}

/// Elide `rest` from the first `quote` to the last one that is followed by
/// the first of `ends` found (serde's text after a quoted value) or,
/// failing all, to the last `quote`, when more than [`MAX_QUOTED`]
/// characters lie between.
fn elide_span(rest: &str, quote: char, ends: &[&str]) -> String {
    let Some(open) = rest.find(quote) else {
        return rest.to_string();
    };
    let body = &rest[open + quote.len_utf8()..];
    // The closing quote: the last one followed by serde's own text, the
    // ends tried in order (`, expected` before ` at line`: an expected
    // list has quotes of its own).
    let close = ends
        .iter()
        .find_map(|e| {
            let pat = if e.starts_with(quote) {
                (*e).to_string()
            } else {
                format!("{quote}{e}")
            };
            body.rfind(&pat)
        })
        .or_else(|| body.rfind(quote));
    match close {
        Some(c) if body[..c].chars().count() > MAX_QUOTED => {
            format!(
                "{}{quote}…{quote}{}",
                &rest[..open],
                &body[c + quote.len_utf8()..]
            )
        }
        _ => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_bounded_before_parsing() {
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert!(parse_value(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        assert!(
            check_depth(deep.as_bytes())
                .unwrap_err()
                .contains("64 levels")
        );
        // Balanced brackets in values do not add up.
        let many = "a: ENC[x]\n".repeat(1000);
        assert!(check_depth(many.as_bytes()).is_ok());
    }

    #[test]
    fn parser_messages_elide_long_values_however_quoted() {
        let cases = [
            (
                r#"invalid type: string "inpu Cdtion:!recid YA\"ML:ow_p^tyhanviron Y=", expected struct Config"#,
                r#"invalid type: string "…", expected struct Config"#,
            ),
            (r#"unknown field "bogus""#, r#"unknown field "bogus""#),
            (
                "invalid type: integer `1234560000000005588413915666931684` as u128, expected any YAML value",
                "invalid type: integer `…` as u128, expected any YAML value",
            ),
            // A quote in the key path does not open the value's span.
            (
                r#"recipients.te"am: invalid type: string "ghp_thisIsASecretTokenValue1234567890", expected a sequence at line 5 column 12"#,
                r#"recipients.te"am: invalid type: string "…", expected a sequence at line 5 column 12"#,
            ),
            // Unescaped quotes inside the value.
            (
                r#"version: invalid type: string "aaaaaaaaaaaaaaaaaaaa"bbbbbbbbbbbbbbbbbbbb"cccccccccccccccccccc", expected u32"#,
                r#"version: invalid type: string "…", expected u32"#,
            ),
            // Backticks inside an unknown variant.
            (
                "naming: unknown variant `aaaa`bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb`, expected one of `env`, `rfc1123`, `any`",
                "naming: unknown variant `…`, expected one of `env`, `rfc1123`, `any`",
            ),
            (
                "environments.dev: unknown field `bogus`, expected one of `recipients`, `inherit`, `file` at line 4 column 5",
                "environments.dev: unknown field `bogus`, expected one of `recipients`, `inherit`, `file` at line 4 column 5",
            ),
            (
                "naming: unknown variant `evn`, expected one of `env`, `rfc1123`, `any`",
                "naming: unknown variant `evn`, expected one of `env`, `rfc1123`, `any`",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(elide_values(msg), want, "{msg}");
        }
        // Through the parser: a long integer is not shown.
        let e = parse_value(b"pin: 1234567890987654321234567890987654321\n").unwrap_err();
        assert!(!e.contains("12345678909876"), "{e}");
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for text in ["a: 1\na: 2\n", "x:\n  team: [a]\n  team: [b]\n"] {
            let e = parse_value(text.as_bytes()).unwrap_err();
            assert!(e.contains("duplicate entry with key"), "{e}");
        }
    }
}
