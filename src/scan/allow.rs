//! Allowlists: path globs (`scan.allow_paths`), fingerprints
//! (`.gsecignore`, baseline files) and the inline `gsec:allow` marker.
//!
//! Fingerprints name the rule, the path and a keyed hash of the secret,
//! never a line number, so they survive edits above the secret (unlike
//! gitleaks #979/#1619), and never the secret itself. The hash is
//! HMAC-SHA256 under the repository's fingerprint key ([`Key`]), so a
//! fingerprint in a CI log, SARIF upload or baseline is not a guessing
//! oracle for a short password (an unkeyed `sha256(secret)` prefix was:
//! issue 11, item 4). Fingerprints of the old unkeyed form (16 hex digits)
//! are still honoured, with a warning, until `gsec scan --migrate-ignores`
//! rewrites them. Baselines are sorted, one fingerprint per line, so
//! concurrent branches rarely conflict.
//!
//! gitleaks' `.gitleaksignore` (`file:rule:line`) is honoured too, but
//! kept apart in `scan::gitleaks::Ignore`: a line number is not a secret,
//! and mixing the two kinds would make neither's guarantee hold (see there).

use std::collections::BTreeSet;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The inline marker: a finding on a line containing it is dropped.
pub const INLINE: &[u8] = b"gsec:allow";
/// Fingerprint file at the project / repository root.
pub const IGNORE_FILE: &str = ".gsecignore";
/// First line of a baseline file (how the scanner recognises and skips one).
pub const BASELINE_HEADER: &str = "# gsec scan baseline";
/// Environment variable that overrides `scan.fingerprint_key`.
pub const KEY_ENV: &str = "GSEC_FINGERPRINT_KEY";
/// Hex digits of a keyed fingerprint's hash (80 bits).
const KEYED_HEX: usize = 20;
/// Hex digits of an old, unkeyed `sha256(secret)` prefix.
const LEGACY_HEX: usize = 16;
/// The key when none is configured: public, so it only separates gsec's
/// fingerprints from plain hashes of the secret (no precomputed tables).
const PUBLIC_KEY: &[u8] = b"gsec fingerprint key: none configured";

/// The key fingerprints are computed under, and where it came from.
#[derive(Clone)]
pub struct Key {
    bytes: zeroize::Zeroizing<Vec<u8>>,
    pub source: KeySource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `GSEC_FINGERPRINT_KEY` (a CI secret: log readers cannot guess).
    Env,
    /// `scan.fingerprint_key` in `.gsec.yaml` (repository readers can).
    Config,
    /// None configured: the public key.
    Public,
}

impl Key {
    /// `GSEC_FINGERPRINT_KEY` if set and non-empty, else the configured
    /// key (64 hex digits, validated with the config), else the public one.
    pub fn resolve(configured: Option<&str>) -> Key {
        if let Some(v) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
            return Key {
                bytes: zeroize::Zeroizing::new(v.as_encoded_bytes().to_vec()),
                source: KeySource::Env,
            };
        }
        match configured.and_then(|h| hex::decode(h).ok()) {
            Some(b) => Key {
                bytes: zeroize::Zeroizing::new(b),
                source: KeySource::Config,
            },
            None => Key::public(),
        }
    }

    pub fn public() -> Key {
        Key {
            bytes: zeroize::Zeroizing::new(PUBLIC_KEY.to_vec()),
            source: KeySource::Public,
        }
    }

    /// A fresh random key for `scan.fingerprint_key` (64 hex digits).
    pub fn generate_hex() -> String {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    }

    /// `<rule-id>:<path>:<first 20 hex of HMAC-SHA256(key, rule, path, secret)>`.
    pub fn fingerprint(&self, rule: &str, path: &str, secret: &[u8]) -> String {
        let tag = keyed_hash(&self.bytes, &[rule.as_bytes(), path.as_bytes(), secret]);
        let mut h = hex::encode(tag);
        h.truncate(KEYED_HEX);
        format!("{rule}:{path}:{h}")
    }
}

/// HMAC-SHA256 under `key` of `parts`, each length-prefixed so no two
/// tuples collide: the keyed hash behind every gsec fingerprint (scan
/// findings here, `gsec sync`'s stored fingerprints).
pub fn keyed_hash(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

/// The old, unkeyed form `<rule-id>:<path>:<first 16 hex of sha256(secret)>`:
/// computed only to honour (and migrate) entries written before keys.
pub fn legacy_fingerprint(rule: &str, path: &str, secret: &[u8]) -> String {
    let digest = Sha256::digest(secret);
    let mut h = hex::encode(digest);
    h.truncate(LEGACY_HEX);
    format!("{rule}:{path}:{h}")
}

/// Is this fingerprint of the old, unkeyed form?
pub fn is_legacy(fp: &str) -> bool {
    fp.rsplit(':').next().is_some_and(|h| h.len() == LEGACY_HEX)
}

pub struct Allow {
    paths: Option<GlobSet>,
    fingerprints: BTreeSet<String>,
    /// How many of them are of the old, unkeyed form.
    legacy: usize,
    key: Key,
}

/// What the allowlist says of one finding.
pub enum Verdict {
    Report,
    Allowed,
    /// Allowed by an old, unkeyed entry (this one): still honoured, to be
    /// migrated.
    AllowedLegacy(String),
}

impl Allow {
    /// Build from config globs plus fingerprint files (each optional), with
    /// the key fingerprints are computed under.
    pub fn new(globs: &[String], files: &[&Path], key: Key) -> Result<Allow> {
        let paths =
            if globs.is_empty() {
                None
            } else {
                let mut b = GlobSetBuilder::new();
                for g in globs {
                    b.add(Glob::new(g).map_err(|e| {
                        Error::msg(format!("scan.allow_paths: bad glob '{g}': {e}"))
                    })?);
                }
                Some(
                    b.build()
                        .map_err(|e| Error::msg(format!("scan.allow_paths: {e}")))?,
                )
            };
        let mut fingerprints = BTreeSet::new();
        for f in files {
            fingerprints.extend(read_fingerprints(f)?);
        }
        let legacy = fingerprints.iter().filter(|f| is_legacy(f)).count();
        Ok(Allow {
            paths,
            fingerprints,
            legacy,
            key,
        })
    }

    /// Is this (root-relative) path never scanned?
    pub fn path(&self, rel: &str) -> bool {
        self.paths.as_ref().is_some_and(|g| g.is_match(rel))
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Entries of the old, unkeyed form (a warning until migrated).
    pub fn legacy(&self) -> usize {
        self.legacy
    }

    /// The finding's (keyed) fingerprint and whether it is allowed.
    pub fn check(&self, rule: &str, path: &str, secret: &[u8]) -> (String, Verdict) {
        let fp = self.key.fingerprint(rule, path, secret);
        if self.fingerprints.contains(&fp) {
            return (fp, Verdict::Allowed);
        }
        if self.legacy > 0 {
            let old = legacy_fingerprint(rule, path, secret);
            if self.fingerprints.contains(&old) {
                return (fp, Verdict::AllowedLegacy(old));
            }
        }
        (fp, Verdict::Report)
    }
}

/// Read a fingerprint file: one per line, `#` comments and blank lines
/// ignored. A missing `.gsecignore` is an empty list; a line that is not a
/// fingerprint is an error naming the file and line.
pub fn read_fingerprints(path: &Path) -> Result<BTreeSet<String>> {
    // Committed (`.gsecignore`) or named by the user (a baseline): a
    // bounded regular file either way.
    let bytes = match crate::fsutil::read_regular(path, crate::fsutil::MAX_LIST_FILE)? {
        Some(b) => b,
        None if path.file_name().is_some_and(|n| n == IGNORE_FILE) => {
            return Ok(BTreeSet::new());
        }
        None => {
            return Err(Error::io(
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| Error::file(path, "not UTF-8 text"))?;
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let hash = l.rsplit(':').next().unwrap_or("");
        if l.matches(':').count() < 2
            || !(hash.len() == KEYED_HEX || hash.len() == LEGACY_HEX)
            || !hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::file(
                path,
                format!(
                    "line {}: not a fingerprint (expected <rule-id>:<path>:<20 hex>)",
                    i + 1
                ),
            ));
        }
        out.insert(l.to_string());
    }
    Ok(out)
}

/// Write a baseline: sorted, unique fingerprints, atomically.
pub fn write_baseline<'a>(path: &Path, fps: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let set: BTreeSet<&str> = fps.into_iter().collect();
    let mut text = String::from(
        "# gsec scan baseline: findings accepted when this file was written.\n# One fingerprint per line (<rule>:<path>:<keyed hash of the secret>), sorted; no secrets, no line numbers.\n",
    );
    for f in set {
        text.push_str(f);
        text.push('\n');
    }
    let _lock = crate::fsutil::lock(path)?;
    crate::fsutil::write_atomic(path, text.as_bytes(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_shape() {
        let k = Key::public();
        let f = k.fingerprint("generic-secret", "config/app.env", b"s3cr3t-value");
        assert!(f.starts_with("generic-secret:config/app.env:"));
        assert_eq!(f.rsplit(':').next().unwrap().len(), KEYED_HEX);
        assert!(!f.contains("s3cr3t"));
        assert!(!is_legacy(&f));
        // Not the unkeyed hash, and different under another key.
        let plain = hex::encode(Sha256::digest(b"s3cr3t-value"));
        assert!(!f.contains(&plain[..KEYED_HEX]));
        let other = Key {
            bytes: zeroize::Zeroizing::new(vec![7; 32]),
            source: KeySource::Config,
        };
        assert_ne!(
            f,
            other.fingerprint("generic-secret", "config/app.env", b"s3cr3t-value")
        );
        // Parts are length-prefixed: moving a byte between them changes it.
        assert_ne!(
            k.fingerprint("a", "bc", b"d"),
            k.fingerprint("a", "b", b"cd")
        );
        assert!(is_legacy(&legacy_fingerprint("r", "p", b"x")));
    }

    #[test]
    fn bad_fingerprint_file_names_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("base.txt");
        std::fs::write(&p, "# c\nrule:a:0123456789abcdef\nnonsense\n").unwrap();
        let e = read_fingerprints(&p).unwrap_err().to_string();
        assert!(e.contains("base.txt") && e.contains("line 3"), "{e}");
    }
}
