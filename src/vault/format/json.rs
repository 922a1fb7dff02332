//! The sops JSON wire format: one object, the data's keys in file order
//! then `"sops"`, laid out as sops writes it (Go's `json.Marshal` of each
//! value, re-indented by `json.Indent` with one tab per level: `"key": `
//! with one space, empty objects and arrays as `{}` and `[]`, a final
//! newline; `<`, `>` and `&` escaped as `\u003c`, `\u003e`, `\u0026`).
//!
//! Parsing is bounded like YAML's: nesting deeper than
//! [`crate::yaml::MAX_FLOW_DEPTH`] is refused before the parser runs, a
//! key twice in one object is refused (sops would keep both, and which one
//! a reader sees would depend on the reader), and numbers are read as sops
//! reads them, as 64-bit floats.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_norway::Value;

use super::{Data, Emit, Metadata, metadata_tree, split_document};

/// Parse a sops JSON file (size and emptiness already checked).
pub fn parse(bytes: &[u8]) -> Result<(Data, Metadata), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte on line {})",
            line_of(bytes, e.valid_up_to())
        )
    })?;
    check_depth(text)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let Strict(doc) = Strict::deserialize(&mut de).map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Mapping(map) = doc else {
        return Err("top level is not an object (sops JSON files are objects)".into());
    };
    let (data, mut meta) = split_document(map, "\"sops\"")?;
    meta.indent = indent_of(text);
    Ok((data, meta))
}

/// One level's indentation in a file laid out as sops lays it out: what
/// precedes the first key, when the object opens alone on the first line.
fn indent_of(text: &str) -> Option<String> {
    let mut lines = text.lines();
    if lines.next()?.trim_end() != "{" {
        return None;
    }
    let second = lines.next()?;
    let unit = &second[..second.len() - second.trim_start_matches([' ', '\t']).len()];
    let uniform = unit.bytes().all(|b| b == b'\t') || unit.bytes().all(|b| b == b' ');
    (uniform && second[unit.len()..].starts_with('"')).then(|| unit.to_string())
}

fn line_of(bytes: &[u8], at: usize) -> usize {
    1 + bytes[..at].iter().filter(|b| **b == b'\n').count()
}

/// Refuse JSON nested deeper than YAML may be, counting only brackets
/// outside strings.
fn check_depth(text: &str) -> Result<(), String> {
    let max = crate::yaml::MAX_FLOW_DEPTH;
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for b in text.bytes() {
        if in_str {
            match b {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(format!(
                        "JSON nested more than {max} levels deep; refused before parsing"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A JSON value read strictly: objects keep their key order and refuse a
/// key seen twice; every number is a float, as in sops (Go's
/// `encoding/json` without `UseNumber`).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number((v as f64).into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number((v as f64).into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Sequence(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_norway::Mapping::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(k.as_str()) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    super::shown_key(&k)
                )));
            }
            out.insert(Value::String(k), v);
        }
        Ok(Value::Mapping(out))
    }
}

/// The whole file: data, then `"sops"`, as sops lays it out.
pub fn emit_document(data: &[(String, Emit)], md: &Metadata) -> String {
    let mut out = String::with_capacity(4096);
    let mut all: Vec<(String, Emit)> = data.to_vec();
    all.push(("sops".into(), Emit::Map(metadata_tree(md))));
    let unit = md.indent.as_deref().unwrap_or("\t");
    Writer {
        out: &mut out,
        unit,
    }
    .map(&all, 0);
    out.push('\n');
    out
}

/// Go's `json.Indent` layout with `unit` per level.
struct Writer<'a> {
    out: &'a mut String,
    unit: &'a str,
}

impl Writer<'_> {
    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            self.out.push_str(self.unit);
        }
    }

    fn map(&mut self, entries: &[(String, Emit)], depth: usize) {
        if entries.is_empty() {
            self.out.push_str("{}");
            return;
        }
        self.out.push('{');
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            string(self.out, k);
            self.out.push_str(": ");
            self.value(v, depth + 1);
        }
        self.newline(depth);
        self.out.push('}');
    }

    fn value(&mut self, e: &Emit, depth: usize) {
        match e {
            Emit::Map(m) => self.map(m, depth),
            Emit::List(items) if items.is_empty() => self.out.push_str("[]"),
            Emit::List(items) => {
                self.out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.value(v, depth + 1);
                }
                self.newline(depth);
                self.out.push(']');
            }
            Emit::Str(s) | Emit::Block(s) => string(self.out, s),
            Emit::Raw(s) => literal(self.out, s),
        }
    }
}

/// A literal that is not a string: `null`, a boolean or a number, as Go
/// writes a float64 (exponent form below 1e-6 and from 1e21, as
/// `json.Marshal` does). Anything else (a YAML-only literal such as
/// `.inf`) is written as a string, and the read-back check refuses the
/// write.
fn literal(out: &mut String, s: &str) {
    if matches!(s, "null" | "true" | "false") {
        out.push_str(s);
        return;
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && s.bytes().all(|b| b"0123456789-+.eE".contains(&b)) => {
            let abs = f.abs();
            if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
                let e = format!("{f:e}");
                match e.split_once('e') {
                    Some((mant, exp)) if !exp.starts_with('-') => {
                        out.push_str(mant);
                        out.push_str("e+");
                        out.push_str(exp);
                    }
                    _ => out.push_str(&e),
                }
            } else if s.contains(['e', 'E']) {
                out.push_str(&format!("{f}"));
            } else {
                out.push_str(s);
            }
        }
        _ => string(out, s),
    }
}

/// A JSON string as Go's `json.Marshal` writes it.
fn string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                let n = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((n >> shift) & 0xf) as usize] as char);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::super::{AgeStanza, Format};
    use super::*;

    #[test]
    fn emits_sops_layout_and_parses_back() {
        let md = Metadata {
            age: vec![AgeStanza {
                recipient: "age1abc".into(),
                enc: "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n"
                    .into(),
            }],
            lastmodified: "2026-01-01T00:00:00Z".into(),
            mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]".into(),
            version: "3.11.0".into(),
            ..Default::default()
        };
        let data = vec![
            ("a".to_string(), Emit::Str("x<y>&z\u{8}\u{1}é".into())),
            (
                "n".to_string(),
                Emit::Map(vec![
                    ("l".into(), Emit::List(vec![Emit::Raw("2".into())])),
                    ("e".into(), Emit::Map(vec![])),
                    ("z".into(), Emit::List(vec![])),
                    ("f".into(), Emit::Raw("1000000000000000000000".into())),
                    ("g".into(), Emit::Raw("0.0000001".into())),
                    ("h".into(), Emit::Raw("null".into())),
                ]),
            ),
        ];
        let text = emit_document(&data, &md);
        assert_eq!(
            text,
            "{\n\t\"a\": \"x\\u003cy\\u003e\\u0026z\\b\\u0001é\",\n\t\"n\": {\n\t\t\"l\": [\n\t\t\t2\n\t\t],\n\t\t\"e\": {},\n\t\t\"z\": [],\n\t\t\"f\": 1e+21,\n\t\t\"g\": 1e-7,\n\t\t\"h\": null\n\t},\n\t\"sops\": {\n\t\t\"age\": [\n\t\t\t{\n\t\t\t\t\"recipient\": \"age1abc\",\n\t\t\t\t\"enc\": \"-----BEGIN AGE ENCRYPTED FILE-----\\nAAAA\\n-----END AGE ENCRYPTED FILE-----\\n\"\n\t\t\t}\n\t\t],\n\t\t\"lastmodified\": \"2026-01-01T00:00:00Z\",\n\t\t\"mac\": \"ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\",\n\t\t\"version\": \"3.11.0\"\n\t}\n}\n"
        );
        let (d, m) = Format::Json.parse(text.as_bytes()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].1, Value::String("x<y>&z\u{8}\u{1}é".into()));
        assert_eq!(m.age, md.age);
        assert_eq!(m.version, "3.11.0");
    }

    #[test]
    fn the_indentation_read_is_the_indentation_written() {
        for unit in ["  ", "    ", "", "\t"] {
            let md = Metadata {
                mac: "m".into(),
                lastmodified: "l".into(),
                indent: Some(unit.to_string()),
                ..Default::default()
            };
            let data = vec![("a".to_string(), Emit::List(vec![Emit::Str("x".into())]))];
            let text = emit_document(&data, &md);
            assert!(
                text.starts_with(&format!("{{\n{unit}\"a\": [\n{unit}{unit}\"x\"")),
                "{text:?}"
            );
            let (_, back) = Format::Json.parse(text.as_bytes()).unwrap();
            assert_eq!(back.indent.as_deref(), Some(unit));
        }
        let (_, compact) = Format::Json
            .parse(b"{\"sops\": {\"mac\": \"m\", \"lastmodified\": \"l\"}}")
            .unwrap();
        assert_eq!(compact.indent, None);
    }

    #[test]
    fn hostile_json_is_refused_with_a_reason() {
        let p = |t: &str| Format::Json.parse(t.as_bytes()).unwrap_err();
        assert!(p("{\"a\": \"x\",").contains("invalid JSON"));
        assert!(p("{\"a\": 1, \"a\": 2}").contains("duplicate key `a`"));
        assert!(p("{\"a\": {\"b\": 1, \"b\": 1}}").contains("duplicate key `b`"));
        assert!(p(&format!("{{\"a\": {}", "[".repeat(100))).contains("levels deep"));
        // Brackets inside strings do not count.
        let deep_str = format!("{{\"a\": \"{}\"}}", "[".repeat(100));
        assert!(p(&deep_str).contains("no \"sops\" metadata"));
        assert!(p("[1]").contains("not an object"));
        assert!(p("{} x").contains("trailing"));
        assert!(p("{\"a:b\": 1, \"sops\": {}}").contains("contains ':'"));
        let e = Format::Json.parse(b"{\"a\": \"\xff\"}").unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
