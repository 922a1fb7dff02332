//! Managed-value detection: the plaintext of every secret the project
//! manages (all environments and `.gsec.local.yaml`), and its base64,
//! base64url, hex and percent-encoded forms, searched for in everything
//! scanned. No other scanner can catch a leaked low-entropy database
//! password; gsec knows it.
//!
//! Values live only in `Zeroizing` buffers and the automaton; they are
//! never printed, logged or written anywhere.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::engine::{Hit, RuleRef};
use crate::error::Error;
use crate::project::Project;

/// Values shorter than this are too common to search for everywhere
/// (`true`, `8080`): they are searched for only where assigned.
pub const MIN_LEN: usize = 8;
/// Values shorter than this are not searched for at all.
pub const MIN_ASSIGNED_LEN: usize = 4;

/// Where a managed value lives: the secret's (top-level) name and its
/// environment (`local` for `.gsec.local.yaml`). Names are not secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub env: String,
    pub name: String,
}

pub struct Managed {
    /// Secret and environment of each value in `values` and `short`
    /// (sorted, deduplicated), looked up by value.
    origins: Vec<(Zeroizing<Vec<u8>>, Vec<Origin>)>,
    ac: Option<AhoCorasick>,
    /// Automaton pattern -> index into `values`.
    owner: Vec<usize>,
    values: Vec<Zeroizing<Vec<u8>>>,
    /// Values of [`MIN_ASSIGNED_LEN`]..[`MIN_LEN`] bytes, found only as the
    /// whole right-hand side of an assignment (`NAME=value`,
    /// `"name": "value"`, `name: 'value'`).
    short_ac: Option<AhoCorasick>,
    short: Vec<Zeroizing<Vec<u8>>>,
}

impl Managed {
    /// Build from plaintext values (duplicates and short values dropped).
    pub fn new(values: Vec<(Zeroizing<Vec<u8>>, Origin)>) -> Option<Managed> {
        let mut origins: Vec<(Zeroizing<Vec<u8>>, Vec<Origin>)> = Vec::new();
        let mut sorted = values;
        sorted.sort_by(|a, b| (a.0.as_slice(), &a.1).cmp(&(b.0.as_slice(), &b.1)));
        for (v, o) in &sorted {
            match origins.last_mut() {
                Some((last, os)) if last.as_slice() == v.as_slice() => {
                    if !os.contains(o) {
                        os.push(o.clone());
                    }
                }
                _ => origins.push((v.clone(), vec![o.clone()])),
            }
        }
        let values: Vec<Zeroizing<Vec<u8>>> = sorted.into_iter().map(|(v, _)| v).collect();
        let (mut values, mut short): (Vec<_>, Vec<_>) = values
            .into_iter()
            .filter(|v| v.len() >= MIN_ASSIGNED_LEN)
            .partition(|v| v.len() >= MIN_LEN);
        for vs in [&mut values, &mut short] {
            vs.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
            vs.dedup_by(|a, b| a.as_slice() == b.as_slice());
        }
        // A short value spanning lines or quotes cannot be an assignment's
        // whole right-hand side.
        short.retain(|v| !v.iter().any(|b| matches!(b, b'\n' | b'\r' | b'"' | b'\'')));
        if values.is_empty() && short.is_empty() {
            return None;
        }
        let short_ac = if short.is_empty() {
            None
        } else {
            // Standard semantics: overlapping search needs them.
            Some(AhoCorasick::new(short.iter().map(|v| v.as_slice())).ok()?)
        };
        let mut forms: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut owner = Vec::new();
        for (i, v) in values.iter().enumerate() {
            for f in encodings(v) {
                if !forms.iter().any(|x| x.as_slice() == f.as_slice()) {
                    forms.push(f);
                    owner.push(i);
                }
            }
        }
        let ac = if forms.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(forms.iter().map(|f| f.as_slice()))
                    .ok()?,
            )
        };
        Some(Managed {
            origins,
            ac,
            owner,
            values,
            short_ac,
            short,
        })
    }

    pub fn len(&self) -> usize {
        self.values.len() + self.short.len()
    }

    /// The secrets (and environments) holding this value.
    pub fn origins(&self, value: &[u8]) -> &[Origin] {
        match self
            .origins
            .binary_search_by(|(v, _)| v.as_slice().cmp(value))
        {
            Ok(i) => &self.origins[i].1,
            Err(_) => &[],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn find(&self, content: &[u8], out: &mut Vec<Hit>) {
        if let Some(ac) = &self.ac {
            for m in ac.find_iter(content) {
                let v = &self.values[self.owner[m.pattern().as_usize()]];
                out.push(Hit {
                    rule: RuleRef::Managed,
                    start: m.start(),
                    end: m.end(),
                    whole: (m.start(), m.end()),
                    secret: Zeroizing::new(v.to_vec()),
                });
            }
        }
        if let Some(ac) = &self.short_ac {
            for m in ac.find_overlapping_iter(content) {
                if assigned(content, m.start(), m.end()) {
                    out.push(Hit {
                        rule: RuleRef::Managed,
                        start: m.start(),
                        end: m.end(),
                        whole: (m.start(), m.end()),
                        secret: Zeroizing::new(self.short[m.pattern().as_usize()].to_vec()),
                    });
                }
            }
        }
    }
}

/// Is `content[start..end]` the whole value of an assignment: after `=` or
/// `:` (optionally quoted, optionally spaced) that follows a key, and
/// before the end of the value (quote, separator, space or line end)?
fn assigned(content: &[u8], start: usize, end: usize) -> bool {
    let ident = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    // After: the value ends here.
    let after_ok = match content.get(end) {
        None => true,
        Some(b) => matches!(
            b,
            b'\n' | b'\r' | b'"' | b'\'' | b'`' | b',' | b';' | b'}' | b' ' | b'\t' | b'&'
        ),
    };
    if !after_ok {
        return false;
    }
    // Before: optional quote, optional spaces, then `=` or `:`.
    let mut i = start;
    let quote = i > 0 && matches!(content[i - 1], b'"' | b'\'' | b'`');
    if quote {
        i -= 1;
        // A quoted value must close with the same quote.
        if content.get(end) != Some(&content[i]) {
            return false;
        }
    }
    while i > 0 && matches!(content[i - 1], b' ' | b'\t') {
        i -= 1;
    }
    if i == 0 || !matches!(content[i - 1], b'=' | b':') {
        return false;
    }
    i -= 1;
    // `:=`, `==`-free: skip one more operator byte, then spaces, then the
    // key (an identifier, or a quoted one).
    if i > 0 && matches!(content[i - 1], b':' | b'+') {
        i -= 1;
    }
    while i > 0 && matches!(content[i - 1], b' ' | b'\t') {
        i -= 1;
    }
    i > 0 && (ident(content[i - 1]) || matches!(content[i - 1], b'"' | b'\'' | b']'))
}

/// The forms a value can leak in.
fn encodings(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let pct: Vec<u8> = percent_encoding::percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .into_bytes();
    // Form-encoding leaves common punctuation alone; search for that too.
    let pct_lax: Vec<u8> = percent_encoding::percent_encode(v, &LAX)
        .to_string()
        .into_bytes();
    vec![
        Zeroizing::new(v.to_vec()),
        // Without padding, so a value inside a longer base64 run at a
        // 3-byte boundary still matches its prefix-aligned form.
        Zeroizing::new(STANDARD_NO_PAD.encode(v).into_bytes()),
        Zeroizing::new(STANDARD.encode(v).into_bytes()),
        Zeroizing::new(URL_SAFE_NO_PAD.encode(v).into_bytes()),
        Zeroizing::new(hex::encode(v).into_bytes()),
        Zeroizing::new(hex::encode_upper(v).into_bytes()),
        Zeroizing::new(pct),
        Zeroizing::new(pct_lax),
    ]
}

const LAX: percent_encoding::AsciiSet = percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The values found, and what could not be read (one warning each).
pub struct Collected {
    pub managed: Option<Managed>,
    /// Why some or all values are not searched for: a skipped check must be
    /// visible (and `--strict` makes it an error), never a silent pass.
    pub warnings: Vec<String>,
}

/// Collect the plaintext of every managed secret the available identity
/// can decrypt. Never fails: what cannot be read is reported in
/// `warnings` and skipped, and a tampered file says so (its MAC or a
/// value's tag did not verify), apart from a file no identity can open.
pub fn collect(project: &Project) -> Collected {
    let mut warnings = Vec::new();
    let mut values: Vec<(Zeroizing<Vec<u8>>, Origin)> = Vec::new();
    let have_files: Vec<String> = project
        .config
        .environments
        .keys()
        .filter(|e| project.env_file(e).exists())
        .cloned()
        .collect();
    if !have_files.is_empty() {
        match project.identities() {
            Ok(ids) if !ids.is_empty() => {
                for env in &have_files {
                    match project.open(env) {
                        Ok(Some(vault)) => vault_values(env, &vault, &mut values),
                        Ok(None) => {}
                        Err(e) => warnings.push(skipped_env(env, &e)),
                    }
                }
            }
            Ok(_) => warnings.push(
                "managed-value detection skipped: no identity available to decrypt the environment files"
                    .into(),
            ),
            Err(e) => warnings.push(format!(
                "managed-value detection skipped: cannot load an identity: {e}"
            )),
        }
    }
    let local = project.root.join(crate::config::LOCAL_FILE_NAME);
    match crate::envs::load_local(&local) {
        Ok(Some(entries)) => {
            for (name, node) in &entries {
                for (_, text) in crate::envs::flatten(node) {
                    let origin = Origin {
                        env: crate::envs::LOCAL_ENV.to_string(),
                        name: name.clone(),
                    };
                    values.push((Zeroizing::new(text.as_bytes().to_vec()), origin));
                }
            }
        }
        Ok(None) => {}
        Err(e) => warnings.push(format!(
            "managed-value detection: {e}; its values are not searched for"
        )),
    }
    Collected {
        managed: Managed::new(values),
        warnings,
    }
}

/// Every value of an opened environment. The one place this module reads
/// the vault's tree.
fn vault_values(
    env: &str,
    vault: &crate::vault::Vault,
    out: &mut Vec<(Zeroizing<Vec<u8>>, Origin)>,
) {
    for (name, node) in vault.entries() {
        for (_, text) in crate::envs::flatten(node) {
            let origin = Origin {
                env: env.to_string(),
                name: name.to_string(),
            };
            out.push((Zeroizing::new(text.as_bytes().to_vec()), origin));
        }
    }
}

/// The warning for an environment whose values cannot be searched for.
fn skipped_env(env: &str, e: &Error) -> String {
    let why = match e {
        Error::Tampered { .. } => format!("its file is tampered: {e}"),
        Error::NoIdentity { .. } => format!("cannot decrypt: {e}"),
        _ => format!("cannot read: {e}"),
    };
    format!("managed-value detection skipped for environment '{env}': {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_value_counts_only_as_a_whole_assigned_value() {
        let at = |t: &str| {
            let s = t.find("pw12").unwrap();
            assigned(t.as_bytes(), s, s + 4)
        };
        for yes in [
            "A=pw12",
            "a: pw12",
            "\"a\": \"pw12\",",
            "x := 'pw12'",
            "K = pw12 # c",
            "[x]\nk=pw12\r\n",
        ] {
            assert!(at(yes), "{yes}");
        }
        for no in [
            "pw12",
            "the pw12 word",
            "A=xpw12",
            "A=pw123",
            "A='pw12\"",
            "url=a/pw12",
            "= pw12",
        ] {
            assert!(!at(no), "{no}");
        }
    }

    #[test]
    fn finds_plain_and_encoded_forms() {
        let o = |n: &str| Origin {
            env: "production".into(),
            name: n.into(),
        };
        let m = Managed::new(vec![
            (Zeroizing::new(b"p@ss w0rd!".to_vec()), o("DB")),
            (Zeroizing::new(b"p@ss w0rd!".to_vec()), o("DB_COPY")),
            (Zeroizing::new(b"short".to_vec()), o("PIN")),
            (Zeroizing::new(b"abc".to_vec()), o("X")),
        ])
        .unwrap();
        // "short" is searched for only where assigned; "abc" not at all.
        assert_eq!(m.len(), 2);
        assert_eq!(m.origins(b"p@ss w0rd!"), [o("DB"), o("DB_COPY")]);
        assert_eq!(m.origins(b"short"), [o("PIN")]);
        assert!(m.origins(b"nope").is_empty());
        for text in [
            "db: p@ss w0rd!".to_string(),
            format!(
                "x={}",
                base64::engine::general_purpose::STANDARD.encode("p@ss w0rd!")
            ),
            "postgres://u:p%40ss%20w0rd%21@h/db".to_string(),
            format!("h={}", hex::encode("p@ss w0rd!")),
        ] {
            let mut out = Vec::new();
            m.find(text.as_bytes(), &mut out);
            assert_eq!(out.len(), 1, "{text}");
        }
        let mut out = Vec::new();
        m.find(b"short and nothing", &mut out);
        assert!(out.is_empty());
    }
}
