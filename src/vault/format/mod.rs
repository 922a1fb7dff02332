//! The sops wire formats gsec reads and writes, one module per format —
//! [`yaml`], [`json`], [`dotenv`] — behind one interface: [`Format::parse`]
//! turns a file into its data (a plain tree of still-encrypted values) and
//! its metadata, [`Format::emit`] turns them back into text laid out the
//! way sops writes that format, so a file changes only where its values
//! did. The format is chosen by the file name, as sops chooses it
//! ([`Format::of_path`]); a file in a format gsec cannot write is refused,
//! never converted.
//!
//! What is shared lives here: the metadata (`sops:` block, `"sops"`
//! object, `sops_*` lines — the same fields in every format), the checks
//! on keys, and [`Emit`], the tree the vault hands over to be written.
//! Nothing here knows about keys or encryption.

use std::path::Path;

use serde_norway::Value;

pub mod dotenv;
pub mod json;
pub mod yaml;

pub use yaml::{emit_tree, quote};

/// A tree ready to emit. Scalars are strings (`Str`), literals that are
/// not strings (`Raw`: numbers, booleans, `null`) or multi-line strings
/// YAML writes as a literal block (`Block`: armored age keys). It may hold
/// plaintext (`gsec edit`, `get` of a map, `export --format yaml`), so its
/// scalars are zeroized on drop and `Debug` shows only the shape.
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

/// The sops metadata, whatever the format stores it as.
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
    /// tree, which the sops MAC does not. sops ignores it in every format
    /// (and drops it when it rewrites the file).
    pub structure_mac: Option<String>,
    /// The file uses `key_groups` (Shamir); gsec reads single-group files
    /// only and never writes them.
    pub key_groups: bool,
    /// sops' encrypted comment lines (`#ENC[…,type:comment]`), each run
    /// anchored to the key path of the line that follows it (`["sops"]`:
    /// after the last value), so a rewrite puts them back where they were.
    pub comments: Vec<(Vec<String>, Vec<String>)>,
    /// JSON: the indentation of one level as read (sops writes a tab, or
    /// `stores.json.indent` spaces when `.sops.yaml` sets it), kept on
    /// rewrite so the file's lines stay as they were.
    pub indent: Option<String>,
}

impl Metadata {
    /// A top-level key was deleted: the comments above it stay where they
    /// were, now above `next` (the key that followed it; `None`: the end
    /// of the data), as sops keeps them; comments inside its value go with
    /// it.
    pub fn reanchor_comments(&mut self, removed: &str, next: Option<&str>) {
        let mut moved = Vec::new();
        self.comments.retain_mut(|(p, lines)| {
            if p.first().map(String::as_str) != Some(removed) {
                return true;
            }
            if p.len() == 1 {
                moved.append(lines);
            }
            false
        });
        if moved.is_empty() {
            return;
        }
        let to = vec![next.unwrap_or("sops").to_string()];
        match self.comments.iter_mut().find(|(p, _)| *p == to) {
            Some((_, lines)) => {
                moved.append(lines);
                *lines = moved;
            }
            None => self.comments.push((to, moved)),
        }
    }
}

/// Metadata key of gsec's structure MAC.
pub const STRUCTURE_MAC_KEY: &str = "gsec_structure_mac";

pub const FOREIGN_SOURCES: &[&str] = &["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"];

/// A file's data, values as stored (ciphertext, or what sops left in
/// clear), in file order.
pub type Data = Vec<(String, Value)>;

/// A sops wire format gsec reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
}

impl Format {
    /// The format sops gives a file by its name (its `FormatForPath`:
    /// case-sensitive suffixes). Names sops reads as another format (INI,
    /// binary) are refused: gsec would have to convert the file.
    pub fn of_path(path: &Path) -> Result<Format, String> {
        let name = path.to_string_lossy();
        match Self::by_suffix(&name) {
            Some(f) => Ok(f),
            None => {
                let sops_reads = if name.ends_with(".ini") {
                    "an INI file"
                } else {
                    "a binary file"
                };
                Err(format!(
                    "gsec reads and writes sops YAML (.yaml, .yml), JSON (.json) and dotenv (.env) files, and sops reads this name as {sops_reads}; rename the file (environments.<env>.file) to one of those"
                ))
            }
        }
    }

    fn by_suffix(name: &str) -> Option<Format> {
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Some(Format::Yaml)
        } else if name.ends_with(".json") {
            Some(Format::Json)
        } else if name.ends_with(".env") {
            Some(Format::Dotenv)
        } else {
            None
        }
    }

    /// The format of a file that may have lost its name (git hands textconv
    /// and merge drivers temporary copies): by the name when sops would
    /// know it, else by the content — a JSON object, `sops_*=` lines, or
    /// YAML.
    pub fn detect(path: &Path, bytes: &[u8]) -> Format {
        Self::by_suffix(&path.to_string_lossy()).unwrap_or_else(|| Self::sniff(bytes))
    }

    /// The format a sops file's content is in.
    pub fn sniff(bytes: &[u8]) -> Format {
        let start = bytes
            .strip_prefix(b"\xef\xbb\xbf".as_slice())
            .unwrap_or(bytes);
        if start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            return Format::Json;
        }
        let dotenv = start
            .split(|&b| b == b'\n')
            .any(|l| l.starts_with(b"sops_mac=") || l.starts_with(b"sops_lastmodified="));
        if dotenv { Format::Dotenv } else { Format::Yaml }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
        }
    }

    /// Parse a sops file in this format. Errors are phrased for the user
    /// and never quote a value.
    pub fn parse(self, bytes: &[u8]) -> Result<(Data, Metadata), String> {
        if bytes.is_empty() || bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err("file is empty (truncated?)".into());
        }
        if bytes.len() as u64 > crate::fsutil::MAX_SECRETS_FILE {
            return Err(format!(
                "larger than the {} MiB limit for secrets files",
                crate::fsutil::MAX_SECRETS_FILE >> 20
            ));
        }
        match self {
            Format::Yaml => yaml::parse(bytes),
            Format::Json => json::parse(bytes),
            Format::Dotenv => dotenv::parse(bytes),
        }
    }

    /// A whole file: `data` (values already encrypted), then the metadata,
    /// in the layout sops writes. Fails only for data the format cannot
    /// hold (dotenv: anything but flat values).
    pub fn emit(self, data: &[(String, Emit)], md: &Metadata) -> Result<String, String> {
        match self {
            Format::Yaml => Ok(yaml::emit_document(data, md)),
            Format::Json => Ok(json::emit_document(data, md)),
            Format::Dotenv => dotenv::emit_document(data, md),
        }
    }

    /// Why this format cannot store `name`, if it cannot (a dotenv file
    /// holds flat values under names sops does not take for metadata).
    /// `shape` is `None` for a scalar, else what the value is.
    pub fn refuse_entry(self, name: &str, shape: Option<&str>) -> Option<String> {
        if self != Format::Dotenv {
            return None;
        }
        if let Some(what) = shape {
            return Some(format!(
                "`{name}` is {what}, and dotenv files hold only flat values; keep structured secrets in a .yaml or .json environment file"
            ));
        }
        if name.starts_with(dotenv::PREFIX) {
            return Some(format!(
                "`{name}` starts with `{}`, which sops reads as its own metadata in dotenv files; choose another name",
                dotenv::PREFIX
            ));
        }
        None
    }
}

/// Parse a file by its name's format (what the vault does).
pub fn parse_path(path: &Path, bytes: &[u8]) -> Result<(Data, Metadata), String> {
    Format::of_path(path)?.parse(bytes)
}

/// Split a parsed top-level map into data and the `sops` metadata, with
/// the checks every format shares (YAML and JSON; dotenv has its own
/// layout).
pub(super) fn split_document(
    map: serde_norway::Mapping,
    what: &str,
) -> Result<(Data, Metadata), String> {
    let mut data: Data = Vec::with_capacity(map.len());
    let mut meta = None;
    let mut seen = std::collections::HashSet::with_capacity(map.len());
    for (k, v) in map {
        let k = key_string(&k)?;
        if k != "sops" {
            check_key(&k, "")?;
        }
        // `1:` and `"1":` are different YAML keys but the same sops path.
        if !seen.insert(k.clone()) {
            return Err(format!(
                "duplicate key `{}` at the top level",
                shown_key(&k)
            ));
        }
        if k == "sops" {
            meta = Some(parse_metadata(v)?);
        } else {
            check_value(&v, shown_key(&k))?;
            data.push((k, v));
        }
    }
    let meta = meta.ok_or_else(|| format!("not a sops-encrypted file (no {what} metadata)"))?;
    Ok((data, meta))
}

pub(super) fn key_string(k: &Value) -> Result<String, String> {
    match k {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err("a map key is not a string".into()),
    }
}

/// Is `k` name-shaped (letters, digits, `_`, `.`, `-`; at most 128 bytes)?
/// Only such keys are quoted in error messages: in a dotenv file the text
/// before a line's first `=` is whatever the line holds (a pasted URL, a
/// base64 value with `=` padding), and errors never show values.
pub(crate) fn is_name(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 128
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A key path as errors show it: name-shaped keys joined with `.`, any
/// other key as `…` (see [`is_name`]).
pub(crate) fn shown_path(path: &[String]) -> String {
    path.iter()
        .map(|k| shown_key(k))
        .collect::<Vec<_>>()
        .join(".")
}

/// A key as errors show it: itself when name-shaped, else `…`.
pub(crate) fn shown_key(k: &str) -> &str {
    if is_name(k) { k } else { "…" }
}

/// A key may not contain `:`: sops binds each value to its key path joined
/// with `:`, so `"a:b": …` and `a: {b: …}` would be bound alike and one
/// could be rewritten into the other undetected.
pub(super) fn check_key(k: &str, parent: &str) -> Result<(), String> {
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
        shown_key(k)
    ))
}

/// The checks every value under a secret gets, in an encrypted file or
/// typed by the user: no YAML tags; map keys that are strings, numbers or
/// booleans, without `:`, and unique once read as sops reads them.
/// `path` is the key path as errors show it ([`shown_key`]).
pub(crate) fn check_value(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Tagged(_) => Err(format!("YAML tags are not supported (at `{path}`)")),
        Value::Mapping(m) => {
            let mut seen = std::collections::HashSet::with_capacity(m.len());
            for (k, v) in m {
                let k = key_string(k)?;
                check_key(&k, path)?;
                let at = format!("{path}.{}", shown_key(&k));
                check_value(v, &at)?;
                if !seen.insert(k.clone()) {
                    return Err(format!("duplicate key `{at}`"));
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

/// The metadata from its tree (the `sops:` map in YAML and JSON; the
/// `sops_*` lines unflattened in dotenv).
pub(super) fn parse_metadata(v: Value) -> Result<Metadata, String> {
    let Value::Mapping(m) = v else {
        return Err("sops metadata is not a map".into());
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

/// The metadata as a tree in sops' field order (its `stores.Metadata`
/// struct), the same for every format: strings are `Str` (the armored age
/// keys `Block`), `mac_only_encrypted` is `Raw`. Each format lays it out
/// its own way.
pub(super) fn metadata_tree(md: &Metadata) -> Vec<(String, Emit)> {
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
    m.push(("version".into(), Emit::Str(md.version.clone())));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_sops_names_and_content() {
        let of = |p: &str| Format::of_path(Path::new(p));
        assert_eq!(of("secrets/a.yaml"), Ok(Format::Yaml));
        assert_eq!(of("a.yml"), Ok(Format::Yaml));
        assert_eq!(of("a.json"), Ok(Format::Json));
        assert_eq!(of("prod.env"), Ok(Format::Dotenv));
        assert_eq!(of(".env"), Ok(Format::Dotenv));
        assert!(of("a.ini").unwrap_err().contains("INI"));
        assert!(of("a.YAML").unwrap_err().contains("binary"));
        assert!(of("a.sops").unwrap_err().contains("binary"));
        assert_eq!(Format::sniff(b"  {\"sops\": {}}"), Format::Json);
        assert_eq!(Format::sniff(b"A=x\nsops_mac=ENC[]\n"), Format::Dotenv);
        assert_eq!(Format::sniff(b"A: x\nsops:\n    mac: y\n"), Format::Yaml);
        assert_eq!(
            Format::detect(Path::new("/tmp/XyZ_prod.json"), b"A: b"),
            Format::Json
        );
        assert_eq!(
            Format::detect(Path::new(".merge_file_a"), b"{}"),
            Format::Json
        );
    }
}
