//! Allowlists: path globs (`scan.allow_paths`), fingerprints
//! (`.gsecignore`, baseline files) and the inline `gsec:allow` marker.
//!
//! Fingerprints name the rule, the path and a hash of the secret, never a
//! line number, so they survive edits above the secret (unlike gitleaks
//! #979/#1619), and never the secret itself. Baselines are sorted, one
//! fingerprint per line, so concurrent branches rarely conflict.

use std::collections::BTreeSet;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The inline marker: a finding on a line containing it is dropped.
pub const INLINE: &[u8] = b"gsec:allow";
/// Fingerprint file at the project / repository root.
pub const IGNORE_FILE: &str = ".gsecignore";
/// First line of a baseline file (how the scanner recognises and skips one).
pub const BASELINE_HEADER: &str = "# gsec scan baseline";

/// `<rule-id>:<path>:<first 16 hex of sha256(secret)>`.
pub fn fingerprint(rule: &str, path: &str, secret: &[u8]) -> String {
    let digest = Sha256::digest(secret);
    format!("{rule}:{path}:{}", &hex::encode(digest)[..16])
}

#[derive(Default)]
pub struct Allow {
    paths: Option<GlobSet>,
    fingerprints: BTreeSet<String>,
}

impl Allow {
    /// Build from config globs plus fingerprint files (each optional).
    pub fn new(globs: &[String], files: &[&Path]) -> Result<Allow> {
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
        Ok(Allow {
            paths,
            fingerprints,
        })
    }

    /// Is this (root-relative) path never scanned?
    pub fn path(&self, rel: &str) -> bool {
        self.paths.as_ref().is_some_and(|g| g.is_match(rel))
    }

    pub fn fingerprint(&self, fp: &str) -> bool {
        self.fingerprints.contains(fp)
    }
}

/// Read a fingerprint file: one per line, `#` comments and blank lines
/// ignored. A missing `.gsecignore` is an empty list; a line that is not a
/// fingerprint is an error naming the file and line.
pub fn read_fingerprints(path: &Path) -> Result<BTreeSet<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && path.file_name().is_some_and(|n| n == IGNORE_FILE) =>
        {
            return Ok(BTreeSet::new());
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let hash = l.rsplit(':').next().unwrap_or("");
        if l.matches(':').count() < 2
            || hash.len() != 16
            || !hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::file(
                path,
                format!(
                    "line {}: not a fingerprint (expected <rule-id>:<path>:<16 hex>)",
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
        "# gsec scan baseline: findings accepted when this file was written.\n# One fingerprint per line (<rule>:<path>:<sha256 prefix of the secret>), sorted; no secrets, no line numbers.\n",
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
        let f = fingerprint("generic-secret", "config/app.env", b"s3cr3t-value");
        assert!(f.starts_with("generic-secret:config/app.env:"));
        assert_eq!(f.rsplit(':').next().unwrap().len(), 16);
        assert!(!f.contains("s3cr3t"));
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
