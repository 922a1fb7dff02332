//! Keys: recipients (who a file is encrypted to), identities (what can
//! decrypt it), and wrapping the per-file data key for each recipient as an
//! armored age file, exactly as sops does.
//!
//! Identities are looked for in a fixed order so that a user of sops finds
//! their key where sops would, and an error can list every place searched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A public key a file is encrypted to.
#[derive(Clone)]
pub enum Recipient {
    X25519(age::x25519::Recipient),
    Ssh(Box<age::ssh::Recipient>),
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipient({})", self)
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::X25519(r) => write!(f, "{r}"),
            Recipient::Ssh(r) => write!(f, "{r}"),
        }
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Recipient {
    /// Parse an `age1…` key or an `ssh-ed25519`/`ssh-rsa` public key (a
    /// trailing comment is allowed and dropped).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s.starts_with("age1pq1") {
            return Err("post-quantum age1pq1 recipients are not supported yet".into());
        }
        if s.starts_with("age1") {
            // Bech32 data never contains '1': a second one means `age1NAME1…`.
            if s.matches('1').count() > 1 {
                return Err("age plugin recipients are not supported".into());
            }
            return age::x25519::Recipient::from_str(s)
                .map(Recipient::X25519)
                .map_err(|e| format!("invalid age recipient: {e}"));
        }
        if s.starts_with("ssh-ed25519 ") || s.starts_with("ssh-rsa ") {
            let mut parts = s.split_whitespace();
            let key = format!(
                "{} {}",
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default()
            );
            return age::ssh::Recipient::from_str(&key)
                .map(|r| Recipient::Ssh(Box::new(r)))
                .map_err(|e| format!("invalid SSH recipient: {e:?}"));
        }
        Err("not a recipient: expected an age1… key or an ssh-ed25519/ssh-rsa public key".into())
    }

    /// The form used to compare recipients and written to files: the key
    /// without any comment.
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    fn as_age(&self) -> &dyn age::Recipient {
        match self {
            Recipient::X25519(r) => r,
            Recipient::Ssh(r) => r.as_ref(),
        }
    }

    /// Encrypt `data` to this recipient as an armored age file (one file per
    /// recipient, as sops does).
    pub fn wrap(&self, data: &[u8]) -> Result<String> {
        encrypt_armored(std::slice::from_ref(self), data)
    }
}

/// Encrypt `data` as one armored age file readable by every recipient in
/// `to` (a sealed inbox value; one recipient for a sops data-key stanza).
pub fn encrypt_armored(to: &[Recipient], data: &[u8]) -> Result<String> {
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| Error::Encrypt {
        recipient: match to {
            [one] => short_recipient(&one.canonical()),
            many => format!("{} recipients", many.len()),
        },
        source: e,
    };
    let enc = age::Encryptor::with_recipients(to.iter().map(Recipient::as_age))
        .map_err(|e| fail(Box::new(e)))?;
    let mut buf = Vec::new();
    let io = |e: std::io::Error| fail(Box::new(e));
    let armor = ArmoredWriter::wrap_output(&mut buf, Format::AsciiArmor).map_err(io)?;
    let mut w = enc.wrap_output(armor).map_err(io)?;
    w.write_all(data).map_err(io)?;
    w.finish().and_then(|a| a.finish()).map_err(io)?;
    String::from_utf8(buf).map_err(|e| fail(Box::new(e)))
}

/// Why an armored age file could not be unwrapped, when the reason is
/// not simply "none of your identities is a recipient".
#[derive(Debug, thiserror::Error)]
pub enum UnwrapError {
    /// Armor, header or a recipient stanza is malformed, or its MAC fails.
    #[error("corrupt age header: {0}")]
    Header(#[source] age::DecryptError),
    /// The header unwrapped but the payload did not decrypt.
    #[error("corrupt age payload: {0}")]
    Payload(#[source] std::io::Error),
}

/// One identity and where it came from.
pub struct Identity {
    pub source: String,
    /// The matching recipient, when it can be derived (X25519, or an SSH key
    /// with its `.pub` next to it).
    pub recipient: Option<String>,
    inner: Box<dyn age::Identity + Send + Sync>,
}

/// All identities found, and every place that was searched.
#[derive(Default)]
pub struct Identities {
    pub list: Vec<Identity>,
    pub looked: Vec<String>,
    /// Default identity files that exist but could not be used, one line
    /// each: the library does not print; commands show these as warnings.
    pub skipped: Vec<String>,
}

impl Identities {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Unwrap an armored age file with the first identity that can.
    /// `Ok(None)`: none of ours is among its recipients; `Err`: the armor,
    /// header or payload is corrupt (not the same thing as "not yours").
    pub fn unwrap(
        &self,
        armored: &str,
    ) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, UnwrapError> {
        if self.list.is_empty() {
            return Ok(None);
        }
        let dec = age::Decryptor::new(ArmoredReader::new(armored.as_bytes()))
            .map_err(UnwrapError::Header)?;
        let mut r = match dec.decrypt(
            self.list
                .iter()
                .map(|i| i.inner.as_ref() as &dyn age::Identity),
        ) {
            Ok(r) => r,
            Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
            Err(e) => return Err(UnwrapError::Header(e)),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(32));
        r.read_to_end(&mut out).map_err(UnwrapError::Payload)?;
        Ok(Some(out))
    }

    /// The recipient of the first identity (used by `gsec init`).
    pub fn first_recipient(&self) -> Option<(&str, &str)> {
        self.list
            .iter()
            .find_map(|i| i.recipient.as_deref().map(|r| (r, i.source.as_str())))
    }

    /// Human list of places searched, for "no identity" errors.
    pub fn looked_in(&self) -> String {
        self.looked.join(", ")
    }
}

/// Where gsec keeps its own identity by default.
pub fn default_identity_path() -> Option<PathBuf> {
    config_home().map(|d| d.join("gsec").join("identity.txt"))
}

fn config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Find identities in the documented order. A source the user named
/// explicitly (flag or variable) that cannot be read or parsed is an error;
/// default locations that do not exist are simply skipped.
pub fn discover(explicit: Option<&Path>) -> Result<Identities> {
    let mut ids = Identities::default();
    if let Some(p) = explicit {
        ids.looked.push(format!("--identity {}", p.display()));
        load_file(&mut ids, p, true)?;
    }
    for var in [
        "GSEC_AGE_KEY",
        "GSEC_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
    ] {
        let Some(val) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
            ids.looked.push(format!("${var} (unset)"));
            continue;
        };
        ids.looked.push(format!("${var}"));
        if var.ends_with("_FILE") {
            load_file(&mut ids, Path::new(&val), true)?;
        } else {
            let text = Zeroizing::new(val.to_string_lossy().into_owned());
            // Identity-file text (comments allowed); sops ≥3.13 also
            // accepts several keys separated by spaces on one line.
            let text = Zeroizing::new(
                text.lines()
                    .flat_map(|l| {
                        if l.trim_start().starts_with('#') {
                            vec![l.to_string()]
                        } else {
                            l.split_whitespace().map(str::to_string).collect()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            load_buffer(&mut ids, text.as_bytes(), &format!("${var}"), None)
                .map_err(|e| Error::msg(format!("${var}: {e}")))?;
        }
    }
    let mut defaults = Vec::new();
    if let Some(p) = default_identity_path() {
        defaults.push(p);
    }
    if let Some(c) = config_home() {
        defaults.push(c.join("sops").join("age").join("keys.txt"));
    }
    if let Some(h) = home() {
        defaults.push(h.join(".ssh").join("id_ed25519"));
    }
    for p in defaults {
        ids.looked.push(p.display().to_string());
        if p.exists() {
            // A broken default file must not block an explicit key that works.
            if let Err(e) = load_file(&mut ids, &p, false) {
                ids.skipped.push(format!("skipping identity: {e}"));
            }
        }
    }
    Ok(ids)
}

fn load_file(ids: &mut Identities, p: &Path, required: bool) -> Result<()> {
    let data = match std::fs::read(p) {
        Ok(d) => Zeroizing::new(d),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(p, e)),
    };
    let pub_path = {
        let mut s = p.as_os_str().to_owned();
        s.push(".pub");
        PathBuf::from(s)
    };
    load_buffer(ids, &data, &p.display().to_string(), Some(&pub_path))
        .map_err(|e| Error::file(p, e))
}

fn load_buffer(
    ids: &mut Identities,
    data: &[u8],
    source: &str,
    ssh_pub: Option<&Path>,
) -> std::result::Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|_| "identity is not UTF-8 text".to_string())?;
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----")
        || text.contains("-----BEGIN RSA PRIVATE KEY-----")
    {
        let id = age::ssh::Identity::from_buffer(data, Some(source.to_string()))
            .map_err(|e| format!("not a usable SSH private key: {e}"))?;
        match id {
            age::ssh::Identity::Unencrypted(_) => {}
            age::ssh::Identity::Encrypted(_) => {
                return Err(
                    "passphrase-protected SSH keys are not supported; use an age identity or an unencrypted key"
                        .into(),
                );
            }
            age::ssh::Identity::Unsupported(k) => {
                return Err(format!("unsupported SSH key type: {k:?}"));
            }
        }
        let recipient = ssh_pub
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| Recipient::parse(&s).ok())
            .map(|r| r.canonical());
        ids.list.push(Identity {
            source: source.to_string(),
            recipient,
            inner: Box::new(id),
        });
        return Ok(());
    }
    let mut found = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("AGE-PLUGIN-") {
            return Err(format!(
                "line {}: age plugin identities are not supported",
                n + 1
            ));
        }
        let id = age::x25519::Identity::from_str(line)
            .map_err(|_| format!("line {}: not an AGE-SECRET-KEY-1… identity", n + 1))?;
        ids.list.push(Identity {
            source: source.to_string(),
            recipient: Some(id.to_public().to_string()),
            inner: Box::new(id),
        });
        found += 1;
    }
    if found == 0 {
        return Err("contains no identity".into());
    }
    Ok(())
}

/// Generate a new X25519 identity: (file contents, recipient).
/// Identities from identity-file text (tests).
#[cfg(test)]
pub(crate) fn identities_from_text(text: &str) -> Identities {
    let mut ids = Identities::default();
    load_buffer(&mut ids, text.as_bytes(), "test", None).expect("identity text");
    ids
}

pub fn generate() -> (Zeroizing<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let text = Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        id.to_string().expose_secret()
    ));
    (text, public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip() {
        let (text, public) = generate();
        let mut ids = Identities::default();
        load_buffer(&mut ids, text.as_bytes(), "test", None).unwrap();
        let r = Recipient::parse(&public).unwrap();
        let armored = r.wrap(b"0123456789abcdef0123456789abcdef").unwrap();
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert_eq!(
            &ids.unwrap(&armored).unwrap().unwrap()[..],
            b"0123456789abcdef0123456789abcdef"
        );
        let (other, _) = generate();
        let mut ids2 = Identities::default();
        load_buffer(&mut ids2, other.as_bytes(), "other", None).unwrap();
        assert!(ids2.unwrap(&armored).unwrap().is_none());
    }

    #[test]
    fn recipient_parsing() {
        assert!(Recipient::parse("age1xyz").is_err());
        assert!(Recipient::parse("hello").is_err());
        let (_, public) = generate();
        assert_eq!(
            Recipient::parse(&format!("  {public} "))
                .unwrap()
                .canonical(),
            public
        );
    }
}

/// `ssh-ed25519 KEY comment` and `ssh-ed25519 KEY` are the same recipient.
pub fn same_recipient(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    norm(a) == norm(b)
}

/// A recipient shortened for messages: `age1abcdefgh…uvwxyz`,
/// `ssh-ed25519 …last8chr`. Counts characters, never bytes: a hostile
/// file's recipient label can hold any text.
pub fn short_recipient(r: &str) -> String {
    let mut parts = r.split_whitespace();
    let first = parts.next().unwrap_or_default();
    let tail = |s: &str, n: usize| -> String {
        let count = s.chars().count();
        s.chars().skip(count.saturating_sub(n)).collect()
    };
    if first.starts_with("ssh-") {
        let key = parts.next().unwrap_or_default();
        format!("{first} …{}", tail(key, 8))
    } else if first.chars().count() > 16 {
        let head: String = first.chars().take(10).collect();
        format!("{head}…{}", tail(first, 6))
    } else {
        first.to_string()
    }
}

#[cfg(test)]
mod recipient_display_tests {
    use super::*;

    #[test]
    fn short_recipient_counts_characters() {
        assert_eq!(short_recipient("aéééééééééééééééééé"), "aééééééééé…éééééé");
        assert_eq!(
            short_recipient("ssh-ed25519 AAAA€€€€€€€€ x"),
            "ssh-ed25519 …€€€€€€€€"
        );
        assert_eq!(short_recipient("ssh-ed25519 €"), "ssh-ed25519 …€");
        assert_eq!(short_recipient(""), "");
        assert_eq!(
            short_recipient("age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"),
            "age1qqqqqq…qqqqqq"
        );
    }

    #[test]
    fn same_recipient_ignores_comments() {
        assert!(same_recipient("ssh-ed25519 AAAA a@b", "ssh-ed25519 AAAA"));
        assert!(!same_recipient("ssh-ed25519 AAAA", "ssh-ed25519 AAAB"));
    }
}
