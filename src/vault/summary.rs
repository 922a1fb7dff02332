//! A sops file as git should show it, without decrypting: its key paths,
//! each with a short marker that changes exactly when the value's
//! ciphertext changes, and its recipients — none of the MAC, armor and
//! `lastmodified` noise. `gsec textconv` prints it for `git diff` and
//! `git log -p`; `gsec log` compares summaries between commits.
//!
//! A marker is the first 8 hex digits of SHA-256 over the ciphertext
//! string. The ciphertext is already public (it is in the file), so the
//! marker reveals nothing the file does not; it is never a hash of a
//! plaintext. Values a file leaves unencrypted (sops' partial-encryption
//! settings) are summarised the same way, by their text, and never shown.

use serde_norway::Value;
use sha2::{Digest, Sha256};

use super::format::{self, Metadata};
use crate::diag::escape;

/// One value: where it is, and its marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `NAME`, `parent.child`, `list[0]`.
    pub path: String,
    /// Top-level secret name the path belongs to.
    pub name: String,
    pub marker: String,
}

/// A file's structure without its values.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub entries: Vec<Entry>,
    pub recipients: Vec<String>,
    /// The raw ciphertext of each value, by path (for exact comparisons
    /// between versions; not shown).
    pub(crate) ciphertexts: Vec<(String, String)>,
}

impl Summary {
    /// Parse a sops file without decrypting, in the format its name says
    /// (or, for a temporary copy without the name, its content). `Err` says
    /// why it is not one (phrased for the user; no values).
    pub fn of(path: &std::path::Path, bytes: &[u8]) -> Result<Summary, String> {
        let (data, meta) = format::Format::detect(path, bytes).parse(bytes)?;
        Ok(Self::from_parts(&data, &meta))
    }

    pub(crate) fn from_parts(data: &[(String, Value)], meta: &Metadata) -> Summary {
        let mut s = Summary {
            recipients: meta.age.iter().map(|a| a.recipient.clone()).collect(),
            ..Summary::default()
        };
        for (k, v) in data {
            walk(k, k.clone(), v, &mut s);
        }
        s
    }

    /// The marker of each top-level name: a digest of all its markers, so
    /// a nested change shows as a change of the secret.
    pub fn by_name(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, Sha256)> = Vec::new();
        for e in &self.entries {
            match out.iter_mut().find(|(n, _)| *n == e.name) {
                Some((_, h)) => {
                    h.update(e.path.as_bytes());
                    h.update(e.marker.as_bytes());
                }
                None => {
                    let mut h = Sha256::new();
                    h.update(e.path.as_bytes());
                    h.update(e.marker.as_bytes());
                    out.push((e.name.clone(), h));
                }
            }
        }
        out.into_iter()
            .map(|(n, h)| (n, hex::encode(&h.finalize()[..4])))
            .collect()
    }

    /// The text `gsec textconv` prints: one line per value, then the
    /// recipients.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&escape(&e.path));
            out.push_str(": ~");
            out.push_str(&e.marker);
            out.push('\n');
        }
        out.push_str("# recipients\n");
        let mut r = self.recipients.clone();
        r.sort();
        for r in r {
            out.push_str("#   ");
            out.push_str(&escape(&r));
            out.push('\n');
        }
        out
    }
}

fn marker(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..4])
}

fn walk(name: &str, path: String, v: &Value, s: &mut Summary) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = match k {
                    Value::String(k) => k.clone(),
                    other => format::emit_value(other).raw_text(),
                };
                walk(name, format!("{path}.{k}"), v, s);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(name, format!("{path}[{i}]"), v, s);
            }
        }
        Value::Tagged(t) => walk(name, path, &t.value, s),
        scalar => {
            let text = format::emit_value(scalar).raw_text();
            s.entries.push(Entry {
                path: path.clone(),
                name: name.to_string(),
                marker: marker(&text),
            });
            s.ciphertexts.push((path, text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key names and recipients come from the file and `textconv`'s text
    /// is shown on a terminal: control characters and bidirectional
    /// overrides are escaped, as in every other human output.
    #[test]
    fn render_escapes_what_a_terminal_would_act_on() {
        let s = Summary {
            entries: vec![Entry {
                path: "A\u{1b}[31m.\u{202e}B\nC".into(),
                name: "A".into(),
                marker: "0123abcd".into(),
            }],
            recipients: vec!["age1x\r\u{7}".into()],
            ..Summary::default()
        };
        assert_eq!(
            s.render(),
            "A\\u{1b}[31m.\\u{202e}B\\u{a}C: ~0123abcd\n# recipients\n#   age1x\\u{d}\\u{7}\n"
        );
    }
}
