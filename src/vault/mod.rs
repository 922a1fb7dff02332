//! The vault: one sops-compatible encrypted file (YAML, JSON or dotenv,
//! by its name), decrypted into memory.
//!
//! `format` moves text to and from trees (one module per wire format, so
//! nothing here depends on which one a file is in), `crypto` holds the
//! primitives, and this module is the protocol between them: unwrap the
//! data key, decrypt and verify every value and the MAC, and on save
//! re-encrypt only what changed. A save that changes nothing writes
//! nothing, so history stays free of noise (sops #939, #931).

pub mod crypto;
pub mod format;
pub mod merge;
pub mod summary;
pub mod tree;

use std::path::{Path, PathBuf};

use regex::Regex;
use serde_norway::Value;

use crate::error::{Error, Result};
use crate::keys::{Identities, Recipient, UnwrapError};
use crate::keys::{same_recipient, short_recipient};
use crypto::{CryptoError, DataKey, MacHasher, ValueType};
use format::{AgeStanza, Emit, Format, Metadata, Rules};
pub use tree::{Leaf, Node, node_from_yaml};
use tree::{clear_cache, merge, plain_leaf};

/// The sops version whose format gsec writes.
pub const SOPS_FORMAT_VERSION: &str = "3.11.0";

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

    /// Key paths (`a.b`) whose value is stored in plaintext: any scalar
    /// that is not an `ENC[…]` value, null or empty (what sops' partial
    /// encryption settings leave in clear, or a hand edit added).
    pub fn unencrypted_paths(&self) -> Vec<String> {
        fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
            match v {
                Value::Mapping(m) => {
                    for (k, v) in m {
                        let k = match k {
                            Value::String(s) => s.clone(),
                            other => format::emit_value(other).raw_text(),
                        };
                        walk(v, &format!("{path}.{k}"), out);
                    }
                }
                Value::Sequence(s) => s.iter().for_each(|v| walk(v, path, out)),
                Value::Null => {}
                Value::String(s) if s.is_empty() || s.starts_with("ENC[") => {}
                _ => {
                    if !out.iter().any(|p| p == path) {
                        out.push(path.to_string());
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (k, v) in &self.data {
            walk(v, k, &mut out);
        }
        out
    }
}

/// Read and parse a file without decrypting it; `None` when it does not
/// exist.
pub fn peek(path: &Path) -> Result<Option<Peek>> {
    let Some(bytes) = crate::fsutil::read_regular(path, crate::fsutil::MAX_SECRETS_FILE)? else {
        return Ok(None);
    };
    Peek::from_bytes(path, &bytes).map(Some)
}

impl Peek {
    /// Parse bytes read elsewhere (a blob at a revision); `path` names the
    /// file in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Peek> {
        let (data, meta) = format::parse_path(path, bytes).map_err(|e| Error::file(path, e))?;
        Ok(Peek { data, meta })
    }
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
/// The tree is private: every change goes through a method that keeps the
/// dirty flag (and so the MAC and `lastmodified`) right.
pub struct Vault {
    path: PathBuf,
    /// The wire format, from the file's name.
    format: Format,
    data: Vec<(String, Node)>,
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
    /// A new, empty file for `recipients` (not written until `save`), in
    /// the format its name says; a name gsec cannot write is refused.
    pub fn create(path: impl Into<PathBuf>, recipients: Vec<Recipient>) -> Result<Self> {
        let path = path.into();
        let format = Format::of_path(&path).map_err(|e| Error::file(&path, e))?;
        Ok(Vault {
            path,
            format,
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
        })
    }

    /// Read, unwrap, decrypt and verify a file.
    pub fn open(path: impl Into<PathBuf>, ids: &Identities, opts: OpenOptions) -> Result<Self> {
        let path = path.into();
        let bytes = crate::fsutil::read_regular_required(&path, crate::fsutil::MAX_SECRETS_FILE)?;
        Self::from_bytes(path, &bytes, ids, opts)
    }

    pub fn from_bytes(
        path: PathBuf,
        bytes: &[u8],
        ids: &Identities,
        opts: OpenOptions,
    ) -> Result<Self> {
        let format = Format::of_path(&path).map_err(|e| Error::file(&path, e))?;
        let (raw, meta) = format.parse(bytes).map_err(|e| Error::file(&path, e))?;
        if meta.age.is_empty() {
            return Err(Error::file(
                &path,
                "has no age recipients (gsec decrypts age-encrypted sops files)",
            ));
        }
        let key = unwrap_key(&path, &meta, ids)?;
        let data = decode(&path, &key, &meta.rules, raw)?;
        let recipients = meta
            .age
            .iter()
            .filter_map(|s| Recipient::parse(&s.recipient).ok())
            .collect();
        let v = Vault {
            path,
            format,
            data,
            meta,
            key,
            recipients,
            dirty: false,
            rekey: false,
            exists: true,
        };
        v.verify_mac(opts.ignore_mac)?;
        if !opts.ignore_mac {
            v.verify_structure()?;
        }
        Ok(v)
    }

    /// gsec's structure MAC: HMAC-SHA256 under the data key over the shape
    /// of the tree (keys in order, nesting, list lengths, leaf types). The
    /// sops MAC covers values only, so without it `A: ENC[…]` rewritten as
    /// `A: ['ENC[…]']` would verify. Files sops wrote have none (sops
    /// ignores the key and drops it on rewrite); gsec writes one on every
    /// save and verifies it when present.
    fn structure_mac(&self) -> String {
        use hmac::Mac;
        let mut shape = Vec::new();
        tree::map_shape(&self.data, &mut shape);
        let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.as_bytes())
            .expect("HMAC takes a key of any length");
        m.update(b"gsec structure v1\0");
        m.update(&shape);
        hex::encode(m.finalize().into_bytes())
    }

    /// A key derived from the data key for one `purpose`:
    /// HMAC-SHA256(data key, "gsec derived key\0" ‖ purpose). Whoever can
    /// decrypt the file can compute it, no one else; it changes when the
    /// file is re-keyed (a recipient removed). `gsec sync` keys its
    /// fingerprints with it.
    pub fn derived_key(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        use hmac::Mac;
        let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.as_bytes())
            .expect("HMAC takes a key of any length");
        m.update(b"gsec derived key\0");
        m.update(purpose.as_bytes());
        zeroize::Zeroizing::new(m.finalize().into_bytes().into())
    }

    /// Whether the file carries gsec's structure MAC (files sops wrote
    /// last do not: only their values are authenticated).
    pub fn has_structure_mac(&self) -> bool {
        self.meta.structure_mac.is_some()
    }

    fn verify_structure(&self) -> Result<()> {
        let Some(stored) = &self.meta.structure_mac else {
            return Ok(());
        };
        let computed = self.structure_mac();
        // Both are hex of public length; compare without early exit anyway.
        let same = stored.len() == computed.len()
            && stored
                .bytes()
                .zip(computed.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(Error::Tampered {
                path: self.path.clone(),
                what:
                    "structure MAC mismatch: keys were moved, renamed, nested or wrapped in lists"
                        .into(),
            });
        }
        Ok(())
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

    /// The file this vault reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's wire format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// `node` as the file's format can hold it under `name`: in a dotenv
    /// file, a flat string (numbers and booleans become their text, as
    /// sops reads them back) under a name sops does not take for metadata;
    /// maps and lists are refused there.
    fn fit(&self, name: &str, node: Node) -> Result<Node> {
        // Keys with `:` are refused on read (sops joins key paths with
        // it), so they must never be written either, at any depth: the
        // fuzzer saved an edit with a nested `x:y` that could not be opened.
        fn colon_key(n: &Node, at: &str) -> Option<String> {
            match n {
                Node::Map(m) => m.iter().find_map(|(k, v)| {
                    if k.contains(':') {
                        Some(format!("key `{k}` under `{at}`"))
                    } else {
                        colon_key(v, &format!("{at}.{k}"))
                    }
                }),
                Node::List(l) => l.iter().find_map(|v| colon_key(v, at)),
                Node::Leaf(_) => None,
            }
        }
        let bad = if name.contains(':') {
            Some(format!("key `{name}`"))
        } else {
            colon_key(&node, name)
        };
        if let Some(bad) = bad {
            return Err(Error::file(
                &self.path,
                format!(
                    "{bad} contains ':', which sops joins key paths with (`a:b` and `a: {{b: …}}` are bound alike): rename it"
                ),
            ));
        }
        if self.format != Format::Dotenv {
            return Ok(node);
        }
        if let Some(why) = self.format.refuse_entry(name, node.collection()) {
            return Err(Error::file(&self.path, why));
        }
        Ok(match node {
            Node::Leaf(l) if l.ty != Some(ValueType::Str) => Node::Leaf(Leaf::string(&l.text())),
            other => other,
        })
    }

    /// Top-level entries, in file order (read-only: change them with
    /// `set`, `set_node`, `replace_all` or `remove`).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.data.iter().map(|(k, n)| (k.as_str(), n))
    }

    /// When the file was last written (RFC 3339, as stored).
    pub fn lastmodified(&self) -> &str {
        &self.meta.lastmodified
    }

    /// Number of top-level secrets.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The whole decrypted content as a plaintext YAML tree (`gsec edit`).
    pub fn plain_emit(&self) -> Emit {
        Emit::Map(
            self.data
                .iter()
                .map(|(k, n)| (k.clone(), n.plain_emit()))
                .collect(),
        )
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
        let node = self.fit(name, node)?;
        let old = self.position(name).map(|i| &self.data[i].1);
        self.refuse_clear(name, old, &node)?;
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
    /// anything changed; a new or changed value the file's rules would leave
    /// unencrypted is refused (see [`Vault::set_node`]).
    pub fn replace_all(&mut self, new: Vec<(String, Node)>) -> Result<bool> {
        let new = new
            .into_iter()
            .map(|(k, n)| {
                let n = self.fit(&k, n)?;
                Ok((k, n))
            })
            .collect::<Result<Vec<_>>>()?;
        for (k, n) in &new {
            let old = self.data.iter().find(|(ok, _)| ok == k).map(|(_, o)| o);
            self.refuse_clear(k, old, n)?;
        }
        let old_names: Vec<String> = self.data.iter().map(|(k, _)| k.clone()).collect();
        let new_names: Vec<String> = new.iter().map(|(k, _)| k.clone()).collect();
        let kept: std::collections::HashSet<&str> = new_names.iter().map(String::as_str).collect();
        for (i, k) in old_names.iter().enumerate() {
            if !kept.contains(k.as_str()) {
                let next = old_names[i + 1..]
                    .iter()
                    .find(|n| kept.contains(n.as_str()));
                self.meta.reanchor_comments(k, next.map(String::as_str));
            }
        }
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
        Ok(changed)
    }

    /// Never store a value in clear: refuse a new or changed leaf of `new`
    /// (under top-level `name`) that the file's sops rules
    /// (`unencrypted_suffix`, `encrypted_regex`, …) leave unencrypted.
    /// Encrypting it anyway is no way out: sops decides by the same rules
    /// when it reads, so it would take the ciphertext for the value and the
    /// MAC would no longer verify. Values already stored in clear (a file
    /// sops wrote) are kept as they are.
    fn refuse_clear(&self, name: &str, old: Option<&Node>, new: &Node) -> Result<()> {
        let rules = CompiledRules::new(&self.meta.rules).map_err(|e| Error::file(&self.path, e))?;
        let mut path = vec![name.to_string()];
        match first_clear_change(&rules, old, new, &mut path) {
            None => Ok(()),
            Some((at, why)) => Err(Error::file(
                &self.path,
                format!(
                    "refusing to store `{at}`: the file's {why}, so its value would be committed unencrypted (and sops reads by the same rule, so encrypting it anyway would make the file unreadable); choose a name the rule encrypts"
                ),
            )),
        }
    }

    /// Remove a secret; returns its stored name if it existed.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.position(name)?;
        let (k, _) = self.data.remove(i);
        let next = self.data.get(i).map(|(n, _)| n.as_str());
        self.meta.reanchor_comments(&k, next);
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
        let Some(text) = self.prepare()? else {
            return Ok(false);
        };
        crate::fsutil::write_atomic(&self.path, text.as_bytes(), None)?;
        self.mark_saved();
        Ok(true)
    }

    /// The text `save` would write, already read back and verified, or
    /// `None` when nothing changed; for writing several files together
    /// (`fsutil::write_all_atomic`), followed by [`Vault::mark_saved`].
    pub fn prepare(&mut self) -> Result<Option<String>> {
        if !self.is_dirty() {
            return Ok(None);
        }
        let text = self.render()?;
        self.verify_rendered(text.as_bytes())?;
        Ok(Some(text))
    }

    /// The prepared text is on disk.
    pub fn mark_saved(&mut self) {
        self.exists = true;
        self.dirty = false;
        self.rekey = false;
    }

    /// The recipients the file will be encrypted to when saved.
    pub fn wanted_recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// Read the new text back the way `open` would — parse, decrypt every
    /// value, verify the MAC — and compare it with the tree in memory, so a
    /// file that gsec (or sops) could not read again, or that would read
    /// differently, is never written. Runs under the caller's lock, before
    /// the rename.
    fn verify_rendered(&self, bytes: &[u8]) -> Result<()> {
        let unreadable = |why: String| {
            Error::file(
                &self.path,
                format!(
                    "refusing to write a file that would not read back: {why}; the file was left as it was"
                ),
            )
        };
        let (raw, meta) = self.format.parse(bytes).map_err(unreadable)?;
        if meta.age.len() != self.recipients.len() {
            return Err(unreadable("recipient blocks are missing".into()));
        }
        let data =
            decode(&self.path, &self.key, &meta.rules, raw).map_err(|e| unreadable(what(e)))?;
        let back = Vault {
            path: self.path.clone(),
            format: self.format,
            data,
            meta,
            key: self.key.clone(),
            recipients: Vec::new(),
            dirty: false,
            rekey: false,
            exists: true,
        };
        back.verify_mac(false).map_err(|e| unreadable(what(e)))?;
        let same = back.data.len() == self.data.len()
            && back
                .data
                .iter()
                .zip(&self.data)
                .all(|((ka, a), (kb, b))| ka == kb && a.same(b));
        if !same {
            return Err(unreadable("it would decrypt to other values".into()));
        }
        Ok(())
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
            // Comments are encrypted with the old data key and gsec does
            // not decrypt them: a new key drops them (sops could not read
            // them any more).
            self.meta.comments.clear();
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
            self.meta.structure_mac = Some(self.structure_mac());
        }
        let rules = CompiledRules::new(&self.meta.rules).map_err(|e| Error::file(&self.path, e))?;
        let mut out = Vec::with_capacity(self.data.len());
        let mut stack = Vec::new();
        for (k, n) in &mut self.data {
            stack.push(k.clone());
            out.push((k.clone(), encrypt_node(&self.key, &rules, n, &mut stack)));
            stack.pop();
        }
        let text = self
            .format
            .emit(&out, &self.meta)
            .map_err(|e| Error::file(&self.path, e))?;
        // Never write what gsec would refuse to open: YAML is refused before
        // parsing past yaml::MAX_FLOW_DEPTH brackets, quoted ones included
        // (a key holding that many `[`, from a foreign sops file).
        if matches!(self.format, Format::Yaml)
            && let Err(why) = crate::yaml::check_depth(text.as_bytes())
        {
            return Err(Error::file(
                &self.path,
                format!(
                    "not written: gsec could not open it again ({why}): a key holds that many `[` or `{{`"
                ),
            ));
        }
        Ok(text)
    }
}

/// sops binds the MAC to `lastmodified` formatted as RFC 3339 (seconds).
fn mac_aad(lastmodified: &str) -> String {
    match lastmodified.split_once('.') {
        Some((head, tail)) if tail.ends_with('Z') => format!("{head}Z"),
        _ => lastmodified.to_string(),
    }
}

fn unwrap_key(path: &Path, meta: &Metadata, ids: &Identities) -> Result<DataKey> {
    let blocks: Vec<(&str, &str)> = meta
        .age
        .iter()
        .map(|s| (s.recipient.as_str(), s.enc.as_str()))
        .collect();
    let opened = ids.unwrap_first(&blocks);
    if let Some((i, k)) = opened.key {
        return DataKey::from_slice(&k).ok_or_else(|| Error::Tampered {
            path: path.to_path_buf(),
            what: format!(
                "the data key in the age block for {} is not 32 bytes",
                short_recipient(&meta.age[i].recipient)
            ),
        });
    }
    // A plugin that is missing or failed says more than "not a recipient".
    if let Some(e) = opened.plugin_failure(&blocks) {
        return Err(Error::file(path, e.to_string()));
    }
    // A corrupt stanza is reported as such, but only when no other stanza
    // opens: one recipient's broken block must not lock out the others.
    if let Some((i, e)) = opened
        .errors
        .iter()
        .find(|(_, e)| !matches!(e, UnwrapError::Plugin { .. }))
    {
        let who = short_recipient(&meta.age[*i].recipient);
        return Err(Error::file(
            path,
            format!(
                "the age block for {who} is corrupt ({e}), and no other block opens with your identities"
            ),
        ));
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

/// Decrypt a parsed file's data with its data key.
fn decode(
    path: &Path,
    key: &DataKey,
    rules: &Rules,
    raw: Vec<(String, Value)>,
) -> Result<Vec<(String, Node)>> {
    let rules = CompiledRules::new(rules).map_err(|e| Error::file(path, e))?;
    let mut data = Vec::with_capacity(raw.len());
    let mut stack = Vec::new();
    for (k, v) in raw {
        stack.push(k.clone());
        let node = decrypt_node(path, key, &rules, v, &mut stack)?;
        stack.pop();
        data.push((k, node));
    }
    Ok(data)
}

/// An error's description without the path (for wrapping in another
/// message about the same file).
fn what(e: Error) -> String {
    match e {
        Error::File { what, .. } | Error::Tampered { what, .. } => what,
        other => other.to_string(),
    }
}

/// The first leaf of `new` (at `path`) that differs from `old` and that
/// `rules` leave unencrypted, with the rule's description.
fn first_clear_change(
    rules: &CompiledRules,
    old: Option<&Node>,
    new: &Node,
    path: &mut Vec<String>,
) -> Option<(String, String)> {
    match new {
        Node::Leaf(l) => {
            let unchanged = matches!(old, Some(Node::Leaf(o)) if o.same_value(l));
            if l.ty.is_none() || unchanged {
                return None;
            }
            rules.clear_reason(path).map(|why| (path.join("."), why))
        }
        Node::Map(m) => m.iter().find_map(|(k, v)| {
            let o = match old {
                Some(Node::Map(om)) => om.iter().find(|(ok, _)| ok == k).map(|(_, n)| n),
                _ => None,
            };
            path.push(k.clone());
            let found = first_clear_change(rules, o, v, path);
            path.pop();
            found
        }),
        Node::List(items) => items.iter().enumerate().find_map(|(i, v)| {
            let o = match old {
                Some(Node::List(ol)) => ol.get(i),
                _ => None,
            };
            first_clear_change(rules, o, v, path)
        }),
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
                    // The reason only: the regex crate's message quotes
                    // the pattern, which a damaged file fills with
                    // whatever text (a value's ciphertext included).
                    Regex::new(r).map_err(|_| {
                        format!(
                            "sops.{name} is not a valid regex: {}",
                            crate::scan::rules::regex_error(r)
                        )
                    })
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
        self.clear_reason(path).is_none()
    }

    /// `None` when the value at `path` is encrypted; otherwise which setting
    /// leaves it in clear, in sops' order of precedence.
    fn clear_reason<S: AsRef<str>>(&self, path: &[S]) -> Option<String> {
        let find = |f: &dyn Fn(&str) -> bool| path.iter().map(|k| k.as_ref()).find(|k| f(k));
        if let Some(s) = &self.rules.unencrypted_suffix
            && let Some(k) = find(&|k| k.ends_with(s.as_str()))
        {
            return Some(format!(
                "sops setting unencrypted_suffix '{s}' matches `{k}`"
            ));
        }
        if let Some(s) = &self.rules.encrypted_suffix {
            return find(&|k| k.ends_with(s.as_str())).is_none().then(|| {
                format!("sops setting encrypted_suffix '{s}' matches no key on this path")
            });
        }
        if let Some(r) = &self.unencrypted_regex
            && let Some(k) = find(&|k| r.is_match(k))
        {
            return Some(format!(
                "sops setting unencrypted_regex '{r}' matches `{k}`"
            ));
        }
        if let Some(r) = &self.encrypted_regex {
            return find(&|k| r.is_match(k)).is_none().then(|| {
                format!("sops setting encrypted_regex '{r}' matches no key on this path")
            });
        }
        None
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
        // sops leaves null unencrypted in every format.
        Value::Null => Node::Leaf(plain_leaf(Value::Null)),
        scalar => {
            if rules.encrypts(stack) {
                let Value::String(enc) = scalar else {
                    return Err(Error::Tampered {
                        path: path.to_path_buf(),
                        what: format!("value of `{}` is not encrypted", format::shown_path(stack)),
                    });
                };
                if enc.is_empty() {
                    return Ok(Node::Leaf(Leaf::string("")));
                }
                let aad = aad_of(stack);
                let (plain, ty) = crypto::decrypt(key, &enc, &aad).map_err(|e| match e {
                    CryptoError::Auth => Error::Tampered {
                        path: path.to_path_buf(),
                        what: format!("value of `{}` failed authentication (changed, or moved from another key)", format::shown_path(stack)),
                    },
                    other => Error::file(path, format!("value of `{}`: {other}", format::shown_path(stack))),
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
