//! The sops YAML wire format: parsing a file into its data and `sops:`
//! metadata, and emitting them back in the layout sops itself writes
//! (4-space indent, sequences indented under their key, `enc: |` blocks).
//!
//! This module knows nothing about keys or encryption; it moves text to and
//! from plain trees.

use serde_norway::Value;

use super::{Data, Emit, Metadata, metadata_tree, split_document};

/// Parse a sops YAML file (size and emptiness already checked). Errors
/// are phrased for the user (no values).
pub fn parse(bytes: &[u8]) -> Result<(Data, Metadata), String> {
    let doc = crate::yaml::parse_value(bytes).map_err(|e| {
        if e.contains("duplicate entry with key \"sops\"") {
            format!(
                "{e}: a secret named `sops` collides with the sops metadata, and neither gsec nor sops can read the file; remove the `sops:` entry that is not the metadata by hand"
            )
        } else {
            e
        }
    })?;
    let Value::Mapping(map) = doc else {
        return Err("top level is not a map (sops files are YAML maps)".into());
    };
    let (data, mut meta) = split_document(map, "`sops:`")?;
    if bytes.windows(13).any(|w| w == b"type:comment]") {
        meta.comments = comments_of(&String::from_utf8_lossy(bytes));
    }
    Ok((data, meta))
}

/// The encrypted comment lines sops writes above keys.
fn is_comment_line(trimmed: &str) -> bool {
    trimmed.starts_with("#ENC[") && trimmed.ends_with("type:comment]")
}

/// For each line of a block-style YAML document up to and including the
/// top-level `sops:` key: `Some((indent, key path))` for a key line, else
/// `None`. Indentation decides nesting, as in the layout sops and gsec
/// write (`- key:` list items nest under their list's key).
fn key_paths(text: &str) -> Vec<Option<(usize, Vec<String>)>> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let spaces = line.chars().take_while(|c| *c == ' ').count();
        let trimmed = line.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.push(None);
            continue;
        }
        let (indent, body) = match trimmed.strip_prefix("- ") {
            Some(rest) => (spaces + 2, rest),
            None => (spaces, trimmed),
        };
        let Some(key) = key_of(body) else {
            out.push(None);
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        let path: Vec<String> = stack.iter().map(|(_, k)| k.clone()).collect();
        let done = indent == 0 && path.len() == 1 && path[0] == "sops";
        out.push(Some((spaces, path)));
        if done {
            break;
        }
    }
    out
}

/// The key of a `key: value` or `key:` line, unquoted; `None` otherwise.
fn key_of(body: &str) -> Option<String> {
    if let Some(rest) = body.strip_prefix('"') {
        let end = rest.find("\":")?;
        return Some(rest[..end].replace("\\\"", "\""));
    }
    if let Some(rest) = body.strip_prefix('\'') {
        let end = rest.find("':")?;
        return Some(rest[..end].replace("''", "'"));
    }
    let end = body
        .char_indices()
        .find(|&(i, c)| c == ':' && body[i + 1..].chars().next().is_none_or(|n| n == ' '))
        .map(|(i, _)| i)?;
    Some(body[..end].to_string())
}

/// Encrypted comment lines, each run with the key path it stands above.
fn comments_of(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for (line, key) in text.lines().zip(key_paths(text)) {
        let trimmed = line.trim_start_matches(' ');
        match key {
            None if is_comment_line(trimmed) => pending.push(trimmed.to_string()),
            Some((_, path)) if !pending.is_empty() => {
                out.push((path, std::mem::take(&mut pending)));
            }
            _ => {}
        }
    }
    out
}

/// Put comment lines back above the keys they belonged to.
fn insert_comments(text: String, comments: &[(Vec<String>, Vec<String>)]) -> String {
    if comments.is_empty() {
        return text;
    }
    let mut out = String::with_capacity(text.len() + comments.len() * 128);
    let mut paths = key_paths(&text).into_iter();
    for line in text.lines() {
        if let Some(Some((indent, path))) = paths.next()
            && let Some((_, lines)) = comments.iter().find(|(p, _)| *p == path)
        {
            for c in lines {
                pad(&mut out, indent);
                out.push_str(c);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Emit a whole document: data entries, then `sops:`.
pub fn emit_document(data: &[(String, Emit)], md: &Metadata) -> String {
    let mut out = String::with_capacity(4096);
    let mut all: Vec<(String, Emit)> = data.to_vec();
    all.push(("sops".into(), Emit::Map(yaml_metadata(md))));
    emit_map(&mut out, &all, 0);
    insert_comments(out, &md.comments)
}

/// The metadata tree as sops writes it in YAML: `version: 3.11.0` is a
/// string left unquoted (go-yaml quotes only what would read as another
/// type; a version string always reads back as a string field).
fn yaml_metadata(md: &Metadata) -> Vec<(String, Emit)> {
    let mut m = metadata_tree(md);
    for (k, v) in &mut m {
        if k == "version"
            && let Emit::Str(s) = v
            && s.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        {
            *v = Emit::Raw(std::mem::take(s));
        }
    }
    m
}

/// Emit any tree on its own (a map, list or scalar document).
pub fn emit_tree(e: &Emit) -> zeroize::Zeroizing<String> {
    let mut out = zeroize::Zeroizing::new(String::new());
    match e {
        Emit::Map(m) if !m.is_empty() => emit_map(&mut out, m, 0),
        Emit::List(l) if !l.is_empty() => emit_list(&mut out, l, 0),
        Emit::Map(_) => out.push_str("{}\n"),
        Emit::List(_) => out.push_str("[]\n"),
        Emit::Str(s) => {
            out.push_str(&quote(s));
            out.push('\n');
        }
        Emit::Raw(s) | Emit::Block(s) => {
            out.push_str(s);
            out.push('\n');
        }
    }
    out
}

const INDENT: usize = 4;

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// YAML limits an implicit (`key: value`) key to 1024 characters; a longer
/// one is written in the explicit form (`? key` then `: value`), or the
/// file would not read back (seeded fuzz finding).
const MAX_IMPLICIT_KEY: usize = 1000;

fn emit_map(out: &mut String, entries: &[(String, Emit)], indent: usize) {
    for (k, v) in entries {
        let key = quote(k);
        pad(out, indent);
        if key.chars().count() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            pad(out, indent);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        emit_after_key(out, v, indent);
    }
}

/// Everything after `key:` (the value, inline or on following lines).
fn emit_after_key(out: &mut String, v: &Emit, indent: usize) {
    match v {
        Emit::Str(s) => {
            out.push(' ');
            out.push_str(&quote(s));
            out.push('\n');
        }
        Emit::Raw(s) => {
            out.push(' ');
            out.push_str(s);
            out.push('\n');
        }
        Emit::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Emit::List(l) if l.is_empty() => out.push_str(" []\n"),
        Emit::Map(m) => {
            out.push('\n');
            emit_map(out, m, indent + INDENT);
        }
        Emit::List(l) => {
            out.push('\n');
            emit_list(out, l, indent + INDENT);
        }
        Emit::Block(text) => emit_block(out, text, indent + 2),
    }
}

fn emit_block(out: &mut String, text: &str, indent: usize) {
    // `|` keeps exactly one trailing newline; `|-` none; `|+` several.
    let trimmed = text.trim_end_matches('\n');
    let trailing = text.len() - trimmed.len();
    out.push_str(match trailing {
        0 => " |-\n",
        1 => " |\n",
        _ => " |+\n",
    });
    for line in trimmed.split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

fn emit_list(out: &mut String, items: &[Emit], indent: usize) {
    for it in items {
        pad(out, indent);
        out.push_str("- ");
        match it {
            Emit::Str(s) => {
                out.push_str(&quote(s));
                out.push('\n');
            }
            Emit::Raw(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Emit::Map(m) if m.is_empty() => out.push_str("{}\n"),
            Emit::List(l) if l.is_empty() => out.push_str("[]\n"),
            Emit::Map(m) => {
                let mut sub = String::new();
                emit_map(&mut sub, m, indent + 2);
                out.push_str(&sub[indent + 2..]);
            }
            Emit::List(l) => {
                let mut sub = String::new();
                emit_list(&mut sub, l, indent + 2);
                out.push_str(&sub[indent + 2..]);
            }
            Emit::Block(text) => {
                out.push_str(&quote(text));
                out.push('\n');
            }
        }
    }
}

/// A string as a YAML scalar that parses back to exactly the same string:
/// plain when unambiguous, double-quoted with escapes otherwise.
pub fn quote(s: &str) -> std::borrow::Cow<'_, str> {
    if plain_ok(s) {
        return s.into();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            '\0' => q.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => q.push_str(&format!("\\x{:02x}", c as u32)),
            // YAML allows no C1 control (NEL aside, which it treats as a
            // line break) nor U+FFFE/U+FFFF unescaped, quoted or not: the
            // fuzzer exported a value with U+0080 that no YAML reader took.
            '\u{80}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q.into()
}

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.bytes().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'/') {
        return false;
    }
    if s.ends_with(':') || s.contains(": ") {
        return false;
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"_-./+=,:[]@()".contains(&c))
    {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "nan" | "inf"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_over_the_implicit_key_limit_are_written_explicitly() {
        use super::super::Emit;
        let long = "k\u{feff}".repeat(400); // quoted, over 1024 characters
        let tree = Emit::Map(vec![
            (long.clone(), Emit::Str("v".into())),
            (
                "n".into(),
                Emit::Map(vec![(
                    long.clone(),
                    Emit::Map(vec![("a".into(), Emit::Raw("1".into()))]),
                )]),
            ),
        ]);
        let text = super::emit_tree(&tree);
        let back: serde_norway::Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{}", &*text));
        assert_eq!(back[long.as_str()], serde_norway::Value::from("v"));
        assert_eq!(back["n"][long.as_str()]["a"], serde_norway::Value::from(1));
    }

    #[test]
    fn c1_controls_and_noncharacters_are_escaped() {
        for v in ["a\u{80}b", "x\u{9f}", "\u{fffe}", "\u{85}\n\u{1}"] {
            let q = super::quote(v);
            let back: String = serde_norway::from_str(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(back, v);
        }
    }

    #[test]
    fn comment_anchors_follow_key_paths_whatever_the_key_text() {
        let text = "#ENC[a,type:comment]\nA: x\n\"q: k\":\n    #ENC[b,type:comment]\n    é€: y\nl:\n    - #ENC[c,type:comment]\n    - k: v\nsops:\n    #ENC[z,type:comment]\n    mac: m\n";
        let c = comments_of(text);
        assert_eq!(
            c,
            vec![
                (
                    vec!["A".to_string()],
                    vec!["#ENC[a,type:comment]".to_string()]
                ),
                (
                    vec!["q: k".to_string(), "é€".to_string()],
                    vec!["#ENC[b,type:comment]".to_string()]
                ),
            ]
        );
        // Re-inserted at the key's indentation.
        let back = insert_comments("A: x\n\"q: k\":\n    é€: y\n".into(), &c);
        assert_eq!(
            back,
            "#ENC[a,type:comment]\nA: x\n\"q: k\":\n    #ENC[b,type:comment]\n    é€: y\n"
        );
        assert_eq!(key_of("a:b: c"), Some("a:b".into()));
        assert_eq!(key_of("no colon"), None);
        assert_eq!(key_of("€:"), Some("€".into()));
    }

    use super::super::{AgeStanza, Format, Rules};
    use super::*;

    #[test]
    fn quoting_round_trips() {
        for s in [
            "plain",
            "",
            "true",
            "No",
            "123",
            "1e3",
            "0x1F",
            "a: b",
            "trailing:",
            "#comment",
            "- dash",
            "line1\nline2",
            "quote\"back\\slash",
            "tab\there",
            " lead",
            "ünïcödé ✓",
            "\u{2028}sep",
            "ENC[AES256_GCM,data:abc=,iv:AA==,tag:BB==,type:str]",
            "12345_54321",
            "~",
            "*alias",
            "&anchor",
            "!tag",
            "%percent",
            "@at",
            "`tick",
            "{a}",
            "[a]",
        ] {
            let doc = format!("k: {}\n", quote(s));
            let v: Value = serde_norway::from_str(&doc).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(
                v.get("k"),
                Some(&Value::String(s.to_string())),
                "{s:?} -> {doc}"
            );
        }
    }

    #[test]
    fn emits_sops_layout() {
        let md = Metadata {
            age: vec![AgeStanza {
                recipient: "age1abc".into(),
                enc: "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n"
                    .into(),
            }],
            lastmodified: "2026-01-01T00:00:00Z".into(),
            mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]".into(),
            rules: Rules {
                unencrypted_suffix: Some("_unencrypted".into()),
                ..Default::default()
            },
            version: "3.11.0".into(),
            ..Default::default()
        };
        let data = vec![
            ("a".to_string(), Emit::Str("v".into())),
            (
                "list".to_string(),
                Emit::List(vec![
                    Emit::Str("x".into()),
                    Emit::Map(vec![
                        ("k".into(), Emit::Str("w".into())),
                        ("j".into(), Emit::Raw("1".into())),
                    ]),
                ]),
            ),
        ];
        let text = emit_document(&data, &md);
        assert_eq!(
            text,
            "a: v\nlist:\n    - x\n    - k: w\n      j: 1\nsops:\n    age:\n        - recipient: age1abc\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            AAAA\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n    unencrypted_suffix: _unencrypted\n    version: 3.11.0\n"
        );
        let (d, m) = Format::Yaml.parse(text.as_bytes()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(m.age, md.age);
        assert_eq!(m.lastmodified, md.lastmodified);
        assert_eq!(m.rules, md.rules);
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(Format::Yaml.parse(b"").unwrap_err().contains("empty"));
        assert!(
            Format::Yaml
                .parse(b"- a\n- b\n")
                .unwrap_err()
                .contains("not a map")
        );
        assert!(
            Format::Yaml
                .parse(b"a: [\n")
                .unwrap_err()
                .contains("invalid YAML")
        );
        assert!(
            Format::Yaml
                .parse(b"a: b\n")
                .unwrap_err()
                .contains("no `sops:`")
        );
        assert!(
            Format::Yaml
                .parse(b"a: !vault aGk=\nsops: {mac: x, lastmodified: y}\n")
                .is_err()
        );
    }
}
