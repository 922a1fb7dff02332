//! The sops dotenv wire format: one `NAME=value` line per value, `#`
//! lines for comments, then the metadata flattened into `sops_*` lines
//! sorted by name, as sops writes them:
//!
//! ```text
//! DB_PASSWORD=ENC[AES256_GCM,data:…,type:str]
//! sops_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\nYWdl…\n-----END AGE ENCRYPTED FILE-----\n
//! sops_age__list_0__map_recipient=age1…
//! sops_lastmodified=2026-01-01T00:00:00Z
//! sops_mac=ENC[AES256_GCM,data:…,type:str]
//! sops_unencrypted_suffix=_unencrypted
//! sops_version=3.11.0
//! ```
//!
//! A metadata key's path is flattened with `__map_KEY` and `__list_N`;
//! newlines in any value are written `\n` (and `\n` read back as a
//! newline — the only escape sops knows). There is no quoting: the value
//! is everything after the first `=`. Values are flat strings only.
//!
//! Parsing is bounded: lines without `=` and names seen twice are refused
//! (naming the line, never quoting it); the metadata paths are at most
//! [`MAX_PATH`] levels deep with list indexes below [`MAX_INDEX`], so a
//! crafted `sops_age__list_99999999…` line cannot make gsec allocate.

use serde_norway::Value;

use super::{Data, Emit, Metadata, is_name, metadata_tree, parse_metadata};

/// What marks a metadata line.
pub const PREFIX: &str = "sops_";

const MAP: &str = "__map_";
const LIST: &str = "__list_";

/// Deepest flattened metadata path accepted.
pub const MAX_PATH: usize = 16;
/// Largest list index accepted in a flattened metadata path.
pub const MAX_INDEX: usize = 1024;

/// Parse a sops dotenv file (size and emptiness already checked).
pub fn parse(bytes: &[u8]) -> Result<(Data, Metadata), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        format!("not UTF-8 text (invalid byte on line {line})")
    })?;
    let mut data: Data = Vec::new();
    let mut flat: Vec<(String, String, usize)> = Vec::new();
    let mut comments: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            pending.push(line.to_string());
            continue;
        }
        if line.ends_with('\r') {
            return Err(format!(
                "line {n} ends with a carriage return (CRLF line endings), which sops reads as part of the value; convert the file to LF line endings"
            ));
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "line {n} is not a `NAME=value` line (no `=`); sops dotenv files have no other kind"
            ));
        };
        if k.is_empty() {
            return Err(format!("line {n} has an empty name before `=`"));
        }
        if !seen.insert(k) {
            return Err(format!("duplicate key {} (line {n})", named(k, n)));
        }
        let v = v.replace("\\n", "\n");
        match k.strip_prefix(PREFIX) {
            Some(mk) => flat.push((mk.to_string(), v, n)),
            None => {
                if k.contains(':') {
                    return Err(format!(
                        "{} contains ':', which sops joins key paths with: rename it",
                        named(k, n)
                    ));
                }
                if !pending.is_empty() {
                    comments.push((vec![k.to_string()], std::mem::take(&mut pending)));
                }
                data.push((k.to_string(), Value::String(v)));
            }
        }
    }
    if !pending.is_empty() {
        comments.push((vec!["sops".to_string()], pending));
    }
    if flat.is_empty() {
        return Err("not a sops-encrypted file (no `sops_*` metadata lines)".into());
    }
    let mut meta = parse_metadata(unflatten(flat)?)?;
    meta.comments = comments;
    Ok((data, meta))
}

/// A key as an error names it: quoted when it is name-shaped, otherwise by
/// its line only. The text before the first `=` of a line that is not
/// really a binding (a pasted URL, a token with `=` padding) may be a
/// value, and errors never show values.
fn named(k: &str, line: usize) -> String {
    if is_name(k) {
        format!("`{k}`")
    } else {
        format!("the key on line {line}")
    }
}

/// A metadata tree being rebuilt from flattened keys.
enum Flat {
    /// `None` until its line is read.
    Leaf(Option<String>),
    Map(Vec<(String, Flat)>),
    List(Vec<Option<Flat>>),
}

enum Step {
    Key(String),
    Index(usize),
}

/// sops' tokenizer: the first key, then each `__map_KEY` / `__list_N`.
fn steps(key: &str, label: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("metadata {label}: {why}");
    let mut out = Vec::new();
    let mut rest = key;
    let mut kind: Option<bool> = None; // None: first key, Some(true): map, Some(false): list
    loop {
        let next = [rest.find(MAP), rest.find(LIST)]
            .into_iter()
            .flatten()
            .min();
        let (tok, tail) = match next {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        out.push(match kind {
            None | Some(true) => Step::Key(tok.to_string()),
            Some(false) => {
                let i: usize = tok.parse().map_err(|_| bad("list index is not a number"))?;
                if i >= MAX_INDEX {
                    return Err(bad(&format!("list index is {MAX_INDEX} or more")));
                }
                Step::Index(i)
            }
        });
        if out.len() > MAX_PATH {
            return Err(bad(&format!("nested more than {MAX_PATH} levels deep")));
        }
        if tail.is_empty() {
            return Ok(out);
        }
        if let Some(t) = tail.strip_prefix(MAP) {
            kind = Some(true);
            rest = t;
        } else {
            kind = Some(false);
            rest = &tail[LIST.len()..];
        }
    }
}

fn insert(node: &mut Flat, path: &[Step], value: String) -> Result<(), &'static str> {
    let Some((first, rest)) = path.split_first() else {
        return match node {
            Flat::Leaf(_) => Err("given twice"),
            _ => Err("both a value and a map or list"),
        };
    };
    let fresh = |rest: &[Step]| match rest.first() {
        None => Flat::Leaf(None),
        Some(Step::Key(_)) => Flat::Map(Vec::new()),
        Some(Step::Index(_)) => Flat::List(Vec::new()),
    };
    let child = match (node, first) {
        (Flat::Map(m), Step::Key(k)) => match m.iter().position(|(mk, _)| mk == k) {
            Some(i) => &mut m[i].1,
            None => {
                m.push((k.clone(), fresh(rest)));
                &mut m.last_mut().expect("just pushed").1
            }
        },
        (Flat::List(l), Step::Index(i)) => {
            if l.len() <= *i {
                l.resize_with(i + 1, || None);
            }
            l[*i].get_or_insert_with(|| fresh(rest))
        }
        _ => return Err("both a value and a map or list"),
    };
    if rest.is_empty() {
        return match child {
            Flat::Leaf(s @ None) => {
                *s = Some(value);
                Ok(())
            }
            Flat::Leaf(_) => Err("given twice"),
            _ => Err("both a value and a map or list"),
        };
    }
    insert(child, rest, value)
}

fn to_value(f: Flat) -> Result<Value, String> {
    Ok(match f {
        Flat::Leaf(s) => Value::String(s.unwrap_or_default()),
        Flat::Map(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| Ok((Value::String(k), to_value(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        Flat::List(l) => Value::Sequence(
            l.into_iter()
                .enumerate()
                // Not named: the path is the file's text, and no line holds
                // it to check the name against.
                .map(|(i, v)| {
                    v.ok_or_else(|| format!("a metadata list skips entry {i}"))
                        .and_then(to_value)
                })
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// The flattened `sops_*` lines back into the metadata tree, with the
/// non-string fields decoded as sops decodes them.
fn unflatten(flat: Vec<(String, String, usize)>) -> Result<Value, String> {
    let mut root = Flat::Map(Vec::new());
    for (k, v, n) in flat {
        let label = named(&format!("{PREFIX}{k}"), n);
        let path = steps(&k, &label)?;
        insert(&mut root, &path, v).map_err(|why| format!("metadata {label} is {why}"))?;
    }
    let Value::Mapping(mut m) = to_value(root)? else {
        unreachable!("the root is a map")
    };
    if let Some(v) = m.get_mut("mac_only_encrypted") {
        *v = Value::Bool(matches!(v, Value::String(s) if s == "true"));
    }
    if let Some(v) = m.get_mut("shamir_threshold") {
        let n: u64 = match &*v {
            Value::String(s) => s
                .parse()
                .map_err(|_| "sops.shamir_threshold is not an integer".to_string())?,
            _ => return Err("sops.shamir_threshold is not an integer".into()),
        };
        *v = Value::Number(n.into());
    }
    Ok(Value::Mapping(m))
}

/// The whole file: data lines (with their comment lines), then the
/// metadata lines sorted by name, as sops writes them.
pub fn emit_document(data: &[(String, Emit)], md: &Metadata) -> Result<String, String> {
    let mut out = String::with_capacity(4096);
    let comments_for = |out: &mut String, path: &[String]| {
        for (_, lines) in md.comments.iter().filter(|(p, _)| p.as_slice() == path) {
            for c in lines {
                out.push_str(c);
                out.push('\n');
            }
        }
    };
    for (k, v) in data {
        let value = match v {
            Emit::Str(s) | Emit::Raw(s) | Emit::Block(s) => s,
            Emit::Map(_) | Emit::List(_) => {
                return Err(format!(
                    "`{k}` is not a flat value, and dotenv files hold only flat values"
                ));
            }
        };
        comments_for(&mut out, std::slice::from_ref(k));
        line(&mut out, k, value);
    }
    comments_for(&mut out, &["sops".to_string()]);
    let tree = metadata_tree(md);
    let mut flat = Vec::new();
    for (k, v) in &tree {
        flatten(&mut flat, k.clone(), v);
    }
    flat.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in flat {
        line(&mut out, &format!("{PREFIX}{k}"), v);
    }
    Ok(out)
}

fn line(out: &mut String, k: &str, v: &str) {
    out.push_str(k);
    out.push('=');
    out.push_str(&v.replace('\n', "\\n"));
    out.push('\n');
}

fn flatten<'a>(out: &mut Vec<(String, &'a str)>, key: String, v: &'a Emit) {
    match v {
        Emit::Map(m) => {
            for (k, v) in m {
                flatten(out, format!("{key}{MAP}{k}"), v);
            }
        }
        Emit::List(l) => {
            for (i, v) in l.iter().enumerate() {
                flatten(out, format!("{key}{LIST}{i}"), v);
            }
        }
        // sops skips null metadata values.
        Emit::Raw(s) if s == "null" => {}
        Emit::Str(s) | Emit::Raw(s) | Emit::Block(s) => out.push((key, s)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AgeStanza, Format, Rules};
    use super::*;

    fn meta() -> Metadata {
        Metadata {
            age: (0..11)
                .map(|i| AgeStanza {
                    recipient: format!("age1r{i}"),
                    enc: "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n"
                        .into(),
                })
                .collect(),
            lastmodified: "2026-01-01T00:00:00Z".into(),
            mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]".into(),
            rules: Rules {
                unencrypted_suffix: Some("_unencrypted".into()),
                mac_only_encrypted: true,
                ..Default::default()
            },
            structure_mac: Some("abc".into()),
            version: "3.11.0".into(),
            comments: vec![
                (vec!["B".into()], vec!["#ENC[c,type:comment]".into()]),
                (vec!["sops".into()], vec!["#ENC[end,type:comment]".into()]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn emits_sops_layout_and_parses_back() {
        let md = meta();
        let data = vec![
            ("A".to_string(), Emit::Str("ENC[a]".into())),
            ("B".to_string(), Emit::Str("multi\nline = x".into())),
            ("EMPTY".to_string(), Emit::Str(String::new())),
        ];
        let text = emit_document(&data, &md).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[..5],
            [
                "A=ENC[a]",
                "#ENC[c,type:comment]",
                "B=multi\\nline = x",
                "EMPTY=",
                "#ENC[end,type:comment]",
            ]
        );
        // Sorted as strings, as sops sorts them: 10 before 2.
        assert_eq!(
            lines[5],
            "sops_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nAAAA\\n-----END AGE ENCRYPTED FILE-----\\n"
        );
        assert_eq!(lines[6], "sops_age__list_0__map_recipient=age1r0");
        assert_eq!(
            lines[7],
            "sops_age__list_10__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nAAAA\\n-----END AGE ENCRYPTED FILE-----\\n"
        );
        assert_eq!(
            &lines[lines.len() - 6..],
            [
                "sops_gsec_structure_mac=abc",
                "sops_lastmodified=2026-01-01T00:00:00Z",
                "sops_mac=ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
                "sops_mac_only_encrypted=true",
                "sops_unencrypted_suffix=_unencrypted",
                "sops_version=3.11.0",
            ]
        );
        let (d, m) = Format::Dotenv.parse(text.as_bytes()).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[1].1, Value::String("multi\nline = x".into()));
        assert_eq!(d[2].1, Value::String(String::new()));
        assert_eq!(m.age, md.age);
        assert_eq!(m.rules, md.rules);
        assert_eq!(m.structure_mac.as_deref(), Some("abc"));
        assert_eq!(m.comments, md.comments);
        // Emitting what was parsed gives the same bytes.
        let again: Vec<(String, Emit)> = d
            .iter()
            .map(|(k, v)| (k.clone(), super::super::emit_value(v)))
            .collect();
        assert_eq!(emit_document(&again, &m).unwrap(), text);
    }

    #[test]
    fn hostile_dotenv_is_refused_with_a_reason() {
        let p = |t: &[u8]| Format::Dotenv.parse(t).unwrap_err();
        let tail = "sops_mac=x\nsops_lastmodified=y\n";
        assert!(p(format!("A=1\nno equals\n{tail}").as_bytes()).contains("line 2"));
        assert!(p(format!("A=1\nA=2\n{tail}").as_bytes()).contains("duplicate key `A`"));
        // A line that is not a binding but has a `=` (a pasted URL): its
        // "key" may be a secret, so it is named by its line only.
        let url = "postgres://app:hunter2-db-password@db.internal/app?sslmode=require";
        for text in [format!("{url}\n{tail}"), format!("{url}\n{url}\n{tail}")] {
            let e = p(text.as_bytes());
            assert!(!e.contains("hunter2") && e.contains("line 1"), "{e}");
        }
        let e = p(format!("sops_hunter2:x=1\nsops_hunter2:x__list_0=2\n{tail}").as_bytes());
        assert!(!e.contains("hunter2") && e.contains("line"), "{e}");
        assert!(p(b"A=1\n").contains("no `sops_*`"));
        assert!(p(b"A=\xff\n").contains("not UTF-8"));
        assert!(p(format!("=x\n{tail}").as_bytes()).contains("empty name"));
        assert!(p(format!("A=1\r\n{tail}").as_bytes()).contains("CRLF"));
        assert!(
            p(format!("sops_age__list_99999999__map_enc=x\n{tail}").as_bytes())
                .contains("list index")
        );
        let deep = format!("sops_x{}=v\n{tail}", "__map_a".repeat(40));
        assert!(p(deep.as_bytes()).contains("levels deep"));
        assert!(
            p(format!("sops_age__list_1__map_enc=x\n{tail}").as_bytes()).contains("skips entry 0")
        );
        assert!(
            p(format!("sops_age=x\nsops_age__list_0__map_enc=y\n{tail}").as_bytes())
                .contains("both a value")
        );
        let e = p(format!("SECRET=hunter2\nbroken hunter2\n{tail}").as_bytes());
        assert!(!e.contains("hunter2"), "{e}");
    }
}
