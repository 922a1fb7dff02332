//! The sops YAML wire format: parsing a file into its data and `sops:`
//! metadata, and emitting them back in the layout sops itself writes
//! (4-space indent, sequences indented under their key, `enc: |` blocks).
//!
//! This module knows nothing about keys or encryption; it moves text to and
//! from plain trees.

use serde_norway::Value;

/// A YAML tree ready to emit. Scalars are already final text (`Raw`) or a
/// string to be quoted as needed (`Str`). It may hold plaintext (`gsec
/// edit`, `get` of a map, `export --format yaml`), so its scalars are
/// zeroized on drop and `Debug` shows only the shape.
#[derive(Clone, PartialEq)]
pub enum Emit {
    Map(Vec<(String, Emit)>),
    List(Vec<Emit>),
    Str(String),
    Raw(String),
    /// A literal block scalar (`|`), used for armored age files.
    Block(String),
}

impl Drop for Emit {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Emit::Str(s) | Emit::Raw(s) | Emit::Block(s) = self {
            s.zeroize();
        }
    }
}

impl std::fmt::Debug for Emit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Emit::Map(m) => f
                .debug_map()
                .entries(m.iter().map(|(k, v)| (k, v)))
                .finish(),
            Emit::List(l) => f.debug_list().entries(l).finish(),
            Emit::Str(_) => f.write_str("Str(..)"),
            Emit::Raw(_) => f.write_str("Raw(..)"),
            Emit::Block(_) => f.write_str("Block(..)"),
        }
    }
}

/// One `sops.age[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeStanza {
    pub recipient: String,
    pub enc: String,
}

/// Which values are encrypted: sops' partial-encryption settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<String>,
    pub encrypted_regex: Option<String>,
    pub mac_only_encrypted: bool,
}

/// The `sops:` block.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub age: Vec<AgeStanza>,
    pub lastmodified: String,
    pub mac: String,
    pub rules: Rules,
    pub version: String,
    /// Key sources gsec cannot use itself (pgp, kms, …), kept as read so a
    /// write that keeps the data key keeps them too.
    pub foreign: Vec<(String, Value)>,
    /// Unknown metadata keys, kept as read.
    pub extra: Vec<(String, Value)>,
    /// gsec's structure MAC ([`STRUCTURE_MAC_KEY`]): binds the shape of the
    /// tree, which the sops MAC does not. sops ignores it (and drops it
    /// when it rewrites the file).
    pub structure_mac: Option<String>,
    /// The file uses `key_groups` (Shamir); gsec reads single-group files
    /// only and never writes them.
    pub key_groups: bool,
    /// sops' encrypted comment lines (`#ENC[…,type:comment]`), each run
    /// anchored to the key path of the line that follows it, so a rewrite
    /// puts them back where they were (YAML parsers drop comments).
    pub comments: Vec<(Vec<String>, Vec<String>)>,
}

/// Metadata key of gsec's structure MAC.
pub const STRUCTURE_MAC_KEY: &str = "gsec_structure_mac";

pub const FOREIGN_SOURCES: &[&str] = &["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"];

/// Parse a sops YAML file. Errors are phrased for the user (no values).
pub fn parse(bytes: &[u8]) -> Result<(Vec<(String, Value)>, Metadata), String> {
    if bytes.is_empty() || bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("file is empty (truncated?)".into());
    }
    if bytes.len() as u64 > crate::fsutil::MAX_SECRETS_FILE {
        return Err(format!(
            "larger than the {} MiB limit for secrets files",
            crate::fsutil::MAX_SECRETS_FILE >> 20
        ));
    }
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
    let mut data: Vec<(String, Value)> = Vec::with_capacity(map.len());
    let mut meta = None;
    let mut seen = std::collections::HashSet::with_capacity(map.len());
    for (k, v) in map {
        let k = key_string(&k)?;
        if k != "sops" {
            check_key(&k, "")?;
        }
        // `1:` and `"1":` are different YAML keys but the same sops path.
        if !seen.insert(k.clone()) {
            return Err(format!("duplicate key `{k}` at the top level"));
        }
        if k == "sops" {
            meta = Some(parse_metadata(v)?);
        } else {
            check_value(&v, &k)?;
            data.push((k, v));
        }
    }
    let mut meta: Metadata = meta.ok_or("not a sops-encrypted file (no `sops:` metadata)")?;
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

fn key_string(k: &Value) -> Result<String, String> {
    match k {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err("a map key is not a string".into()),
    }
}

/// A key may not contain `:`: sops binds each value to its key path joined
/// with `:`, so `"a:b": …` and `a: {b: …}` would be bound alike and one
/// could be rewritten into the other undetected.
fn check_key(k: &str, parent: &str) -> Result<(), String> {
    if !k.contains(':') {
        return Ok(());
    }
    let at = if parent.is_empty() {
        String::new()
    } else {
        format!(" under `{parent}`")
    };
    Err(format!(
        "key `{}`{at} contains ':', which sops joins key paths with (`a:b` and `a: {{b: …}}` are bound alike): rename it",
        k
    ))
}

fn check_value(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Tagged(_) => Err(format!("YAML tags are not supported (at `{path}`)")),
        Value::Mapping(m) => {
            let mut seen = std::collections::HashSet::with_capacity(m.len());
            for (k, v) in m {
                let k = key_string(k)?;
                check_key(&k, path)?;
                check_value(v, &format!("{path}.{k}"))?;
                if !seen.insert(k.clone()) {
                    return Err(format!("duplicate key `{path}.{k}`"));
                }
            }
            Ok(())
        }
        Value::Sequence(s) => s.iter().try_for_each(|v| check_value(v, path)),
        _ => Ok(()),
    }
}

fn str_field(v: &Value, name: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("sops.{name} is not a string")),
    }
}

fn parse_metadata(v: Value) -> Result<Metadata, String> {
    let Value::Mapping(m) = v else {
        return Err("`sops:` metadata is not a map".into());
    };
    let mut md = Metadata::default();
    for (k, v) in m {
        let k = key_string(&k)?;
        match k.as_str() {
            "age" => md.age = parse_age(&v, "sops.age")?,
            "lastmodified" => md.lastmodified = str_field(&v, "lastmodified")?,
            "mac" => md.mac = str_field(&v, "mac")?,
            "version" => md.version = str_field(&v, "version")?,
            "unencrypted_suffix" => md.rules.unencrypted_suffix = opt_str(&v, &k)?,
            "encrypted_suffix" => md.rules.encrypted_suffix = opt_str(&v, &k)?,
            "unencrypted_regex" => md.rules.unencrypted_regex = opt_str(&v, &k)?,
            "encrypted_regex" => md.rules.encrypted_regex = opt_str(&v, &k)?,
            "mac_only_encrypted" => md.rules.mac_only_encrypted = matches!(v, Value::Bool(true)),
            "key_groups" => {
                let Value::Sequence(groups) = &v else {
                    return Err("sops.key_groups is not a list".into());
                };
                match groups.len() {
                    0 => {}
                    1 => {
                        md.key_groups = true;
                        if let Value::Mapping(g) = &groups[0]
                            && let Some(a) = g.get("age")
                        {
                            md.age = parse_age(a, "sops.key_groups[0].age")?;
                        }
                    }
                    n => {
                        return Err(format!(
                            "uses {n} key groups (Shamir secret sharing), which gsec does not support"
                        ));
                    }
                }
            }
            "shamir_threshold" => {}
            STRUCTURE_MAC_KEY => md.structure_mac = opt_str(&v, &k)?,
            _ if FOREIGN_SOURCES.contains(&k.as_str()) => {
                let empty =
                    matches!(&v, Value::Null) || matches!(&v, Value::Sequence(s) if s.is_empty());
                if !empty {
                    md.foreign.push((k, v));
                }
            }
            _ => md.extra.push((k, v)),
        }
    }
    if md.mac.is_empty() {
        return Err("sops metadata has no `mac`".into());
    }
    if md.lastmodified.is_empty() {
        return Err("sops metadata has no `lastmodified`".into());
    }
    Ok(md)
}

fn opt_str(v: &Value, name: &str) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        _ => str_field(v, name).map(Some),
    }
}

fn parse_age(v: &Value, at: &str) -> Result<Vec<AgeStanza>, String> {
    match v {
        Value::Null => Ok(vec![]),
        Value::Sequence(items) => items
            .iter()
            .map(|it| {
                let get = |f: &str| match it.get(f) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(format!("{at}[] entry has no `{f}`")),
                };
                Ok(AgeStanza {
                    recipient: get("recipient")?,
                    enc: get("enc")?,
                })
            })
            .collect(),
        _ => Err(format!("{at} is not a list")),
    }
}

/// A serde value as an emit tree (used for data gsec keeps as read).
pub fn emit_value(v: &Value) -> Emit {
    match v {
        Value::Null => Emit::Raw("null".into()),
        Value::Bool(b) => Emit::Raw(b.to_string()),
        Value::Number(n) => Emit::Raw(n.to_string()),
        Value::String(s) => Emit::Str(s.clone()),
        Value::Sequence(s) => Emit::List(s.iter().map(emit_value).collect()),
        Value::Mapping(m) => Emit::Map(
            m.iter()
                .map(|(k, v)| (key_string(k).unwrap_or_default(), emit_value(v)))
                .collect(),
        ),
        Value::Tagged(t) => emit_value(&t.value),
    }
}

/// The `sops:` block as an emit tree, in sops' field order.
pub fn emit_metadata(md: &Metadata) -> Emit {
    let mut m = Vec::new();
    for (k, v) in &md.foreign {
        if k != "pgp" {
            m.push((k.clone(), emit_value(v)));
        }
    }
    if !md.age.is_empty() {
        m.push((
            "age".into(),
            Emit::List(
                md.age
                    .iter()
                    .map(|s| {
                        Emit::Map(vec![
                            ("recipient".into(), Emit::Str(s.recipient.clone())),
                            ("enc".into(), Emit::Block(s.enc.clone())),
                        ])
                    })
                    .collect(),
            ),
        ));
    }
    m.push(("lastmodified".into(), Emit::Str(md.lastmodified.clone())));
    m.push(("mac".into(), Emit::Str(md.mac.clone())));
    for (k, v) in &md.foreign {
        if k == "pgp" {
            m.push((k.clone(), emit_value(v)));
        }
    }
    let r = &md.rules;
    for (name, val) in [
        ("unencrypted_suffix", &r.unencrypted_suffix),
        ("encrypted_suffix", &r.encrypted_suffix),
        ("unencrypted_regex", &r.unencrypted_regex),
        ("encrypted_regex", &r.encrypted_regex),
    ] {
        if let Some(v) = val {
            m.push((name.into(), Emit::Str(v.clone())));
        }
    }
    if r.mac_only_encrypted {
        m.push(("mac_only_encrypted".into(), Emit::Raw("true".into())));
    }
    for (k, v) in &md.extra {
        m.push((k.clone(), emit_value(v)));
    }
    if let Some(smac) = &md.structure_mac {
        m.push((STRUCTURE_MAC_KEY.into(), Emit::Str(smac.clone())));
    }
    m.push(("version".into(), Emit::Raw(md.version.clone())));
    Emit::Map(m)
}

/// Emit a whole document: data entries, then `sops:`.
pub fn emit_document(data: &[(String, Emit)], md: &Metadata) -> String {
    let mut out = String::with_capacity(4096);
    let mut all: Vec<(String, Emit)> = data.to_vec();
    all.push(("sops".into(), emit_metadata(md)));
    emit_map(&mut out, &all, 0);
    insert_comments(out, &md.comments)
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

fn emit_map(out: &mut String, entries: &[(String, Emit)], indent: usize) {
    for (k, v) in entries {
        pad(out, indent);
        out.push_str(&quote(k));
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
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                q.push_str(&format!("\\u{:04x}", c as u32))
            }
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
        let (d, m) = parse(text.as_bytes()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(m.age, md.age);
        assert_eq!(m.lastmodified, md.lastmodified);
        assert_eq!(m.rules, md.rules);
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(parse(b"").unwrap_err().contains("empty"));
        assert!(parse(b"- a\n- b\n").unwrap_err().contains("not a map"));
        assert!(parse(b"a: [\n").unwrap_err().contains("invalid YAML"));
        assert!(parse(b"a: b\n").unwrap_err().contains("no `sops:`"));
        assert!(parse(b"a: !vault aGk=\nsops: {mac: x, lastmodified: y}\n").is_err());
    }
}
