//! The vault: one sops-compatible encrypted YAML file, decrypted into memory.
//!
//! `format` moves text to and from trees, `crypto` holds the primitives, and
//! this module is the protocol between them: unwrap the data key, decrypt
//! and verify every value and the MAC, and on save re-encrypt only what
//! changed. A save that changes nothing writes nothing, so history stays
//! free of noise (sops #939, #931).

pub mod crypto;
pub mod format;

use std::path::{Path, PathBuf};

use regex::Regex;
use serde_norway::Value;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{Identities, Recipient};
use crypto::{CryptoError, DataKey, MacHasher, ValueType};
use format::{AgeStanza, Emit, Metadata, Rules};

/// The sops version whose format gsec writes.
pub const SOPS_FORMAT_VERSION: &str = "3.11.0";

/// A decrypted value.
#[derive(Clone)]
pub struct Leaf {
    /// The value in sops' byte form (`True`/`False` for booleans, …).
    pub plain: Zeroizing<Vec<u8>>,
    /// `None` for YAML null.
    pub ty: Option<ValueType>,
    /// The ciphertext read from disk and the additional data it was bound
    /// to: reused on save while both still hold, so unchanged values keep
    /// their bytes.
    cached: Option<(String, String)>,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Leaf({:?}, ..)", self.ty)
    }
}

impl Leaf {
    pub fn string(v: &str) -> Self {
        Leaf {
            plain: Zeroizing::new(v.as_bytes().to_vec()),
            ty: Some(ValueType::Str),
            cached: None,
        }
    }

    /// The value as text (what `gsec get` prints). Booleans print as YAML
    /// does (`true`), everything else as stored.
    pub fn text(&self) -> Zeroizing<String> {
        let s = String::from_utf8_lossy(&self.plain).into_owned();
        Zeroizing::new(match (self.ty, s.as_str()) {
            (Some(ValueType::Bool), "True") => "true".into(),
            (Some(ValueType::Bool), "False") => "false".into(),
            (None, _) => String::new(),
            _ => s,
        })
    }

    fn same_value(&self, other: &Leaf) -> bool {
        self.ty == other.ty && self.plain[..] == other.plain[..]
    }
}

/// A decrypted tree node.
#[derive(Debug, Clone)]
pub enum Node {
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
    Leaf(Leaf),
}

impl Node {
    /// The decrypted value as a plaintext YAML tree (for `gsec get`, `edit`,
    /// `export --format yaml`), keeping numbers and booleans unquoted.
    pub fn plain_emit(&self) -> Emit {
        match self {
            Node::Leaf(l) => match l.ty {
                Some(ValueType::Int | ValueType::Float | ValueType::Bool) => {
                    Emit::Raw(l.text().to_string())
                }
                None => Emit::Raw("null".into()),
                _ => Emit::Str(l.text().to_string()),
            },
            Node::Map(m) => Emit::Map(m.iter().map(|(k, v)| (k.clone(), v.plain_emit())).collect()),
            Node::List(l) => Emit::List(l.iter().map(Node::plain_emit).collect()),
        }
    }

    /// Every leaf with its path of map keys (list items share their
    /// parent's path, as in sops), in document order.
    pub fn leaves<'a>(
        &'a self,
        prefix: &mut Vec<&'a str>,
        f: &mut dyn FnMut(&[&'a str], &'a Leaf),
    ) {
        match self {
            Node::Leaf(l) => f(prefix, l),
            Node::List(items) => items.iter().for_each(|n| n.leaves(prefix, f)),
            Node::Map(entries) => {
                for (k, v) in entries {
                    prefix.push(k);
                    v.leaves(prefix, f);
                    prefix.pop();
                }
            }
        }
    }
}

/// A file as seen without decrypting it: key names, recipients and
/// `lastmodified` are plaintext in sops files, so listing and checking need
/// no identity.
pub struct Peek {
    pub data: Vec<(String, Value)>,
    pub meta: Metadata,
}

impl Peek {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.data.iter().map(|(k, _)| k.as_str())
    }

    /// Names that have a value: not null, and not the empty string sops
    /// leaves unencrypted.
    pub fn present_names(&self) -> Vec<String> {
        self.data
            .iter()
            .filter(|(_, v)| {
                !matches!(v, Value::Null) && !matches!(v, Value::String(s) if s.is_empty())
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn recipients(&self) -> Vec<String> {
        self.meta.age.iter().map(|s| s.recipient.clone()).collect()
    }
}

/// Read and parse a file without decrypting it; `None` when it does not
/// exist.
pub fn peek(path: &Path) -> Result<Option<Peek>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let (data, meta) = format::parse(&bytes).map_err(|e| Error::file(path, e))?;
    Ok(Some(Peek { data, meta }))
}

/// Options when opening a file.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Accept a file whose MAC does not verify (explicit user choice).
    pub ignore_mac: bool,
}

/// What a change to the recipient set did.
#[derive(Debug, Default, Clone)]
pub struct RecipientChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl RecipientChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// One decrypted sops file.
pub struct Vault {
    pub path: PathBuf,
    pub data: Vec<(String, Node)>,
    meta: Metadata,
    key: DataKey,
    /// Recipients as they should be after save.
    recipients: Vec<Recipient>,
    /// Something changed that needs a new MAC and lastmodified.
    dirty: bool,
    /// The data key must be replaced (a recipient was removed).
    rekey: bool,
    /// Wrapping must be redone for these recipients (added ones).
    exists: bool,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A new, empty file for `recipients` (not written until `save`).
    pub fn create(path: impl Into<PathBuf>, recipients: Vec<Recipient>) -> Self {
        Vault {
            path: path.into(),
            data: Vec::new(),
            meta: Metadata {
                rules: Rules {
                    unencrypted_suffix: Some("_unencrypted".into()),
                    ..Default::default()
                },
                version: SOPS_FORMAT_VERSION.into(),
                ..Default::default()
            },
            key: DataKey::generate(),
            recipients,
            dirty: true,
            rekey: false,
            exists: false,
        }
    }

    /// Read, unwrap, decrypt and verify a file.
    pub fn open(path: impl Into<PathBuf>, ids: &Identities, opts: OpenOptions) -> Result<Self> {
        let path = path.into();
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Self::from_bytes(path, &bytes, ids, opts)
    }

    pub fn from_bytes(
        path: PathBuf,
        bytes: &[u8],
        ids: &Identities,
        opts: OpenOptions,
    ) -> Result<Self> {
        let (raw, meta) = format::parse(bytes).map_err(|e| Error::file(&path, e))?;
        if meta.age.is_empty() {
            return Err(Error::file(
                &path,
                "has no age recipients (gsec decrypts age-encrypted sops files)",
            ));
        }
        let key = unwrap_key(&path, &meta, ids)?;
        let rules = CompiledRules::new(&meta.rules).map_err(|e| Error::file(&path, e))?;
        let mut data = Vec::with_capacity(raw.len());
        let mut stack = Vec::new();
        for (k, v) in raw {
            stack.push(k.clone());
            let node = decrypt_node(&path, &key, &rules, v, &mut stack)?;
            stack.pop();
            data.push((k, node));
        }
        let recipients = meta
            .age
            .iter()
            .filter_map(|s| Recipient::parse(&s.recipient).ok())
            .collect();
        let v = Vault {
            path,
            data,
            meta,
            key,
            recipients,
            dirty: false,
            rekey: false,
            exists: true,
        };
        v.verify_mac(opts.ignore_mac)?;
        Ok(v)
    }

    fn verify_mac(&self, ignore: bool) -> Result<()> {
        if ignore {
            return Ok(());
        }
        let computed = self.compute_mac()?;
        let tampered = |what: &str| Error::Tampered {
            path: self.path.clone(),
            what: what.into(),
        };
        let (stored, _) =
            crypto::decrypt(&self.key, &self.meta.mac, &mac_aad(&self.meta.lastmodified)).map_err(
                |e| match e {
                    CryptoError::Auth => {
                        tampered("MAC cannot be verified (MAC or lastmodified was changed)")
                    }
                    _ => tampered("MAC is malformed"),
                },
            )?;
        if stored[..] != *computed.as_bytes() {
            return Err(tampered(
                "MAC mismatch: values were changed, swapped, added or removed",
            ));
        }
        Ok(())
    }

    fn compute_mac(&self) -> Result<String> {
        let rules = CompiledRules::new(&self.meta.rules).map_err(|e| Error::file(&self.path, e))?;
        let mut h = MacHasher::default();
        if self.meta.rules.mac_only_encrypted {
            h.update(&crypto::mac_only_encrypted_seed());
        }
        for (k, n) in &self.data {
            let mut prefix = vec![k.as_str()];
            n.leaves(&mut prefix, &mut |path, leaf| {
                if leaf.ty.is_none() || leaf.ty == Some(ValueType::Comment) {
                    return;
                }
                if !self.meta.rules.mac_only_encrypted || rules.encrypts(path) {
                    h.update(&leaf.plain);
                }
            });
        }
        Ok(h.finish())
    }

    /// Top-level names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.data.iter().map(|(k, _)| k.as_str())
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.data
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// Look a secret up by name, ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<(&str, &Node)> {
        self.position(name)
            .map(|i| (self.data[i].0.as_str(), &self.data[i].1))
    }

    /// Set a top-level string secret. Returns whether anything changed. A
    /// name that differs only in case from an existing one is refused.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool> {
        self.set_node(name, Node::Leaf(Leaf::string(value)))
    }

    /// Set a top-level value of any shape. Parts equal to what is stored
    /// keep their ciphertext, so only changed values produce diff lines.
    pub fn set_node(&mut self, name: &str, node: Node) -> Result<bool> {
        match self.position(name) {
            Some(i) => {
                let existing = &self.data[i].0;
                if existing != name {
                    return Err(Error::usage(format!(
                        "'{name}' differs only in case from the existing secret '{existing}'; use '{existing}'"
                    )));
                }
                let changed = merge(&mut self.data[i].1, node);
                self.dirty |= changed;
                Ok(changed)
            }
            None => {
                self.data.push((name.to_string(), node));
                self.dirty = true;
                Ok(true)
            }
        }
    }

    /// Replace the whole content (used by `gsec edit`), keeping the
    /// ciphertext of every value that did not change. Returns whether
    /// anything changed.
    pub fn replace_all(&mut self, new: Vec<(String, Node)>) -> bool {
        let old_names: Vec<String> = self.data.iter().map(|(k, _)| k.clone()).collect();
        let new_names: Vec<String> = new.iter().map(|(k, _)| k.clone()).collect();
        let mut old = std::mem::take(&mut self.data);
        let mut changed = old_names != new_names;
        for (k, n) in new {
            match old.iter().position(|(ok, _)| *ok == k) {
                Some(i) => {
                    let (_, mut node) = old.swap_remove(i);
                    changed |= merge(&mut node, n);
                    self.data.push((k, node));
                }
                None => {
                    changed = true;
                    self.data.push((k, n));
                }
            }
        }
        self.dirty |= changed;
        changed
    }

    /// Remove a secret; returns its stored name if it existed.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.position(name)?;
        let (k, _) = self.data.remove(i);
        self.dirty = true;
        Some(k)
    }

    /// The recipients the file is (or will be) encrypted to.
    pub fn recipients(&self) -> Vec<String> {
        self.meta.age.iter().map(|s| s.recipient.clone()).collect()
    }

    /// Make the file encrypted to exactly `wanted`. Removing anyone replaces
    /// the data key and re-encrypts every value: the removed recipient still
    /// has the old data key and must not be able to read the new version.
    pub fn set_recipients(&mut self, wanted: Vec<Recipient>) -> RecipientChange {
        let current: Vec<String> = if self.exists {
            self.meta.age.iter().map(|s| s.recipient.clone()).collect()
        } else {
            vec![]
        };
        let wanted_c: Vec<String> = wanted.iter().map(Recipient::canonical).collect();
        let change = RecipientChange {
            added: wanted_c
                .iter()
                .filter(|r| !current.iter().any(|c| same_recipient(c, r)))
                .cloned()
                .collect(),
            removed: current
                .iter()
                .filter(|c| !wanted_c.iter().any(|r| same_recipient(c, r)))
                .cloned()
                .collect(),
        };
        if !change.removed.is_empty() {
            self.rekey = true;
            self.dirty = true;
        }
        self.recipients = wanted;
        change
    }

    /// Force a new data key (like `sops rotate`).
    pub fn rotate_data_key(&mut self) {
        self.rekey = true;
        self.dirty = true;
    }

    /// Would `save` write anything?
    pub fn is_dirty(&self) -> bool {
        self.dirty || self.rekey || !self.exists || self.stanzas_stale()
    }

    fn stanzas_stale(&self) -> bool {
        self.meta.age.len() != self.recipients.len()
            || self.recipients.iter().any(|r| {
                !self
                    .meta
                    .age
                    .iter()
                    .any(|s| same_recipient(&s.recipient, &r.canonical()))
            })
    }

    /// Encrypt and write the file atomically, unless nothing changed.
    /// Callers hold the file's lock (see `fsutil::lock`) from before `open`.
    pub fn save(&mut self) -> Result<bool> {
        if !self.is_dirty() {
            return Ok(false);
        }
        let text = self.render()?;
        crate::fsutil::write_atomic(&self.path, text.as_bytes(), None)?;
        self.exists = true;
        self.dirty = false;
        self.rekey = false;
        Ok(true)
    }

    /// The file's new text (also used by tests and dry runs).
    pub fn render(&mut self) -> Result<String> {
        if self.recipients.is_empty() {
            return Err(Error::file(
                &self.path,
                "no recipients: refusing to write a file nobody can decrypt",
            ));
        }
        if self.meta.key_groups && (self.dirty || self.rekey || self.stanzas_stale()) {
            return Err(Error::file(
                &self.path,
                "uses sops key_groups; gsec does not rewrite such files (use sops)",
            ));
        }
        if self.rekey {
            if !self.meta.foreign.is_empty() {
                let names: Vec<&str> = self.meta.foreign.iter().map(|(k, _)| k.as_str()).collect();
                return Err(Error::file(
                    &self.path,
                    format!(
                        "also encrypted with {} keys, which gsec cannot re-wrap for a new data key",
                        names.join(", ")
                    ),
                ));
            }
            self.key = DataKey::generate();
            self.meta.age.clear();
            clear_cache(&mut self.data);
        }
        // Keep existing stanzas (same bytes) for recipients that stay.
        let mut stanzas = Vec::with_capacity(self.recipients.len());
        for r in &self.recipients {
            let c = r.canonical();
            match self
                .meta
                .age
                .iter()
                .find(|s| same_recipient(&s.recipient, &c))
            {
                Some(s) => stanzas.push(s.clone()),
                None => stanzas.push(AgeStanza {
                    recipient: c,
                    enc: r.wrap(self.key.as_bytes())?,
                }),
            }
        }
        self.meta.age = stanzas;
        if self.dirty || self.rekey || !self.exists {
            let mac = self.compute_mac()?;
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
            self.meta.mac =
                crypto::encrypt(&self.key, mac.as_bytes(), ValueType::Str, &mac_aad(&now));
            self.meta.lastmodified = now;
        }
        let rules = CompiledRules::new(&self.meta.rules).map_err(|e| Error::file(&self.path, e))?;
        let mut out = Vec::with_capacity(self.data.len());
        let mut stack = Vec::new();
        for (k, n) in &mut self.data {
            stack.push(k.clone());
            out.push((k.clone(), encrypt_node(&self.key, &rules, n, &mut stack)));
            stack.pop();
        }
        Ok(format::emit_document(&out, &self.meta))
    }
}

/// `ssh-ed25519 KEY comment` and `ssh-ed25519 KEY` are the same recipient.
pub fn same_recipient(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    norm(a) == norm(b)
}

/// sops binds the MAC to `lastmodified` formatted as RFC 3339 (seconds).
fn mac_aad(lastmodified: &str) -> String {
    match lastmodified.split_once('.') {
        Some((head, tail)) if tail.ends_with('Z') => format!("{head}Z"),
        _ => lastmodified.to_string(),
    }
}

fn unwrap_key(path: &Path, meta: &Metadata, ids: &Identities) -> Result<DataKey> {
    for s in &meta.age {
        if let Some(k) = ids.unwrap(&s.enc) {
            return DataKey::from_slice(&k).ok_or_else(|| {
                Error::file(path, "data key is not 32 bytes (corrupt recipient block)")
            });
        }
    }
    Err(Error::NoIdentity {
        path: path.to_path_buf(),
        recipients: meta
            .age
            .iter()
            .map(|s| short_recipient(&s.recipient))
            .collect::<Vec<_>>()
            .join(", "),
        looked: ids.looked_in(),
    })
}

/// A recipient shortened for messages.
pub fn short_recipient(r: &str) -> String {
    let mut parts = r.split_whitespace();
    let first = parts.next().unwrap_or_default();
    if first.starts_with("ssh-") {
        let key = parts.next().unwrap_or_default();
        format!("{first} …{}", &key[key.len().saturating_sub(8)..])
    } else if first.len() > 16 {
        format!("{}…{}", &first[..10], &first[first.len() - 6..])
    } else {
        first.to_string()
    }
}

/// sops' rules deciding whether the value at a key path is encrypted.
struct CompiledRules<'a> {
    rules: &'a Rules,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
}

impl<'a> CompiledRules<'a> {
    fn new(rules: &'a Rules) -> std::result::Result<Self, String> {
        let re = |r: &Option<String>, name: &str| {
            r.as_deref()
                .map(|r| {
                    Regex::new(r).map_err(|e| format!("sops.{name} is not a valid regex: {e}"))
                })
                .transpose()
        };
        Ok(CompiledRules {
            rules,
            unencrypted_regex: re(&rules.unencrypted_regex, "unencrypted_regex")?,
            encrypted_regex: re(&rules.encrypted_regex, "encrypted_regex")?,
        })
    }

    fn encrypts<S: AsRef<str>>(&self, path: &[S]) -> bool {
        let any = |f: &dyn Fn(&str) -> bool| path.iter().any(|k| f(k.as_ref()));
        if let Some(s) = &self.rules.unencrypted_suffix
            && any(&|k| k.ends_with(s.as_str()))
        {
            return false;
        }
        if let Some(s) = &self.rules.encrypted_suffix {
            return any(&|k| k.ends_with(s.as_str()));
        }
        if let Some(r) = &self.unencrypted_regex
            && any(&|k| r.is_match(k))
        {
            return false;
        }
        if let Some(r) = &self.encrypted_regex {
            return any(&|k| r.is_match(k));
        }
        true
    }
}

fn aad_of<S: AsRef<str>>(path: &[S]) -> String {
    let mut s = String::new();
    for p in path {
        s.push_str(p.as_ref());
        s.push(':');
    }
    s
}

fn decrypt_node(
    path: &Path,
    key: &DataKey,
    rules: &CompiledRules,
    v: Value,
    stack: &mut Vec<String>,
) -> Result<Node> {
    Ok(match v {
        Value::Mapping(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, v) in m {
                let k = match k {
                    Value::String(s) => s,
                    other => format::emit_value(&other).raw_text(),
                };
                stack.push(k.clone());
                let n = decrypt_node(path, key, rules, v, stack)?;
                stack.pop();
                out.push((k, n));
            }
            Node::Map(out)
        }
        Value::Sequence(s) => Node::List(
            s.into_iter()
                .map(|v| decrypt_node(path, key, rules, v, stack))
                .collect::<Result<_>>()?,
        ),
        scalar => {
            if rules.encrypts(stack) {
                let Value::String(enc) = scalar else {
                    return Err(Error::Tampered {
                        path: path.to_path_buf(),
                        what: format!("value of `{}` is not encrypted", stack.join(".")),
                    });
                };
                if enc.is_empty() {
                    return Ok(Node::Leaf(Leaf::string("")));
                }
                let aad = aad_of(stack);
                let (plain, ty) = crypto::decrypt(key, &enc, &aad).map_err(|e| match e {
                    CryptoError::Auth => Error::Tampered {
                        path: path.to_path_buf(),
                        what: format!("value of `{}` failed authentication (changed, or moved from another key)", stack.join(".")),
                    },
                    other => Error::file(path, format!("value of `{}`: {other}", stack.join("."))),
                })?;
                Node::Leaf(Leaf {
                    plain,
                    ty: Some(ty),
                    cached: Some((enc, aad)),
                })
            } else {
                Node::Leaf(plain_leaf(scalar))
            }
        }
    })
}

/// A plaintext YAML value as a node (typed leaves), for values that come
/// from the user rather than from an encrypted file (`gsec edit`, local
/// overrides).
pub fn node_from_yaml(v: Value) -> Node {
    match v {
        Value::Mapping(m) => Node::Map(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Value::String(s) => s,
                        other => format::emit_value(&other).raw_text(),
                    };
                    (k, node_from_yaml(v))
                })
                .collect(),
        ),
        Value::Sequence(s) => Node::List(s.into_iter().map(node_from_yaml).collect()),
        Value::Tagged(t) => node_from_yaml(t.value),
        scalar => Node::Leaf(plain_leaf(scalar)),
    }
}

/// An unencrypted YAML scalar in sops' byte form.
fn plain_leaf(v: Value) -> Leaf {
    let (plain, ty) = match v {
        Value::Null => (String::new(), None),
        Value::Bool(b) => (
            (if b { "True" } else { "False" }).to_string(),
            Some(ValueType::Bool),
        ),
        Value::Number(n) if n.is_f64() => (
            go_float(n.as_f64().unwrap_or_default()),
            Some(ValueType::Float),
        ),
        Value::Number(n) => (n.to_string(), Some(ValueType::Int)),
        Value::String(s) => (s, Some(ValueType::Str)),
        other => (format::emit_value(&other).raw_text(), Some(ValueType::Str)),
    };
    Leaf {
        plain: Zeroizing::new(plain.into_bytes()),
        ty,
        cached: None,
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, never an
/// exponent. Rust's `Display` for f64 has the same contract.
fn go_float(f: f64) -> String {
    format!("{f}")
}

/// Merge `new` into `old` in place, keeping `old`'s leaves (and so their
/// cached ciphertext) where the value is unchanged. Returns whether
/// anything differs.
fn merge(old: &mut Node, new: Node) -> bool {
    match (old, new) {
        (Node::Leaf(o), Node::Leaf(n)) => {
            if o.same_value(&n) {
                false
            } else {
                *o = n;
                true
            }
        }
        (Node::Map(o), Node::Map(n)) => {
            let same_keys = o.len() == n.len() && o.iter().zip(&n).all(|((a, _), (b, _))| a == b);
            if !same_keys {
                let mut old_entries = std::mem::take(o);
                for (k, v) in n {
                    match old_entries.iter().position(|(ok, _)| *ok == k) {
                        Some(i) => {
                            let (_, mut node) = old_entries.swap_remove(i);
                            merge(&mut node, v);
                            o.push((k, node));
                        }
                        None => o.push((k, v)),
                    }
                }
                return true;
            }
            let mut changed = false;
            for ((_, ov), (_, nv)) in o.iter_mut().zip(n) {
                changed |= merge(ov, nv);
            }
            changed
        }
        (Node::List(o), Node::List(n)) => {
            let mut changed = o.len() != n.len();
            o.truncate(n.len());
            let mut n = n.into_iter();
            for ov in o.iter_mut() {
                changed |= merge(ov, n.next().expect("n is at least as long as o"));
            }
            o.extend(n);
            changed
        }
        (o, n) => {
            *o = n;
            true
        }
    }
}

fn clear_cache(nodes: &mut [(String, Node)]) {
    fn walk(n: &mut Node) {
        match n {
            Node::Leaf(l) => l.cached = None,
            Node::List(items) => items.iter_mut().for_each(walk),
            Node::Map(m) => m.iter_mut().for_each(|(_, n)| walk(n)),
        }
    }
    nodes.iter_mut().for_each(|(_, n)| walk(n));
}

fn encrypt_node(
    key: &DataKey,
    rules: &CompiledRules,
    n: &mut Node,
    stack: &mut Vec<String>,
) -> Emit {
    match n {
        Node::Map(m) => Emit::Map(
            m.iter_mut()
                .map(|(k, v)| {
                    stack.push(k.clone());
                    let e = encrypt_node(key, rules, v, stack);
                    stack.pop();
                    (k.clone(), e)
                })
                .collect(),
        ),
        Node::List(items) => Emit::List(
            items
                .iter_mut()
                .map(|n| encrypt_node(key, rules, n, stack))
                .collect(),
        ),
        Node::Leaf(leaf) => {
            let Some(ty) = leaf.ty else {
                return Emit::Raw("null".into());
            };
            if !rules.encrypts(stack) {
                let text = String::from_utf8_lossy(&leaf.plain).into_owned();
                return match ty {
                    ValueType::Int | ValueType::Float => Emit::Raw(text),
                    ValueType::Bool => {
                        Emit::Raw(if text == "True" { "true" } else { "false" }.into())
                    }
                    _ => Emit::Str(text),
                };
            }
            if leaf.plain.is_empty() {
                return Emit::Str(String::new());
            }
            let aad = aad_of(stack);
            if let Some((enc, cached_aad)) = &leaf.cached
                && *cached_aad == aad
            {
                return Emit::Str(enc.clone());
            }
            let enc = crypto::encrypt(key, &leaf.plain, ty, &aad);
            leaf.cached = Some((enc.clone(), aad));
            Emit::Str(enc)
        }
    }
}

impl Emit {
    /// Scalar text of an emitted node (for odd keys such as numbers).
    pub fn raw_text(&self) -> String {
        match self {
            Emit::Str(s) | Emit::Raw(s) | Emit::Block(s) => s.clone(),
            _ => String::new(),
        }
    }
}
