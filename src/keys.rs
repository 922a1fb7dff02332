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
    /// `age1NAME1…`: wrapped by the `age-plugin-NAME` binary on PATH (a
    /// hardware token, a TPM, a cloud KMS), as age and sops do.
    Plugin(age::plugin::Recipient),
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
            Recipient::Plugin(r) => write!(f, "{r}"),
        }
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Recipient {
    /// Parse an `age1…` key, an `age1NAME1…` plugin recipient or an
    /// `ssh-ed25519`/`ssh-rsa` public key (a trailing comment is allowed
    /// and dropped).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s.starts_with("age1pq1") {
            return Err("post-quantum age1pq1 recipients are not supported yet".into());
        }
        if s.starts_with("age1") {
            // Bech32 data never contains '1': a second one means `age1NAME1…`.
            if s.matches('1').count() > 1 {
                return age::plugin::Recipient::from_str(s)
                    .map(Recipient::Plugin)
                    .map_err(|e| format!("invalid age plugin recipient: {e}"));
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

    /// The plugin that wraps for this recipient (`age1NAME1…` → `NAME`).
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Recipient::Plugin(r) => Some(r.plugin()),
            _ => None,
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
    // Native recipients wrap in-process; plugin recipients are grouped by
    // plugin, one `age-plugin-NAME` run wrapping for all of that plugin's.
    let mut native: Vec<&dyn age::Recipient> = Vec::with_capacity(to.len());
    let mut plugins: Vec<(String, Vec<age::plugin::Recipient>)> = Vec::new();
    for r in to {
        match r {
            Recipient::X25519(x) => native.push(x),
            Recipient::Ssh(x) => native.push(x.as_ref()),
            Recipient::Plugin(p) => match plugins.iter_mut().find(|(n, _)| n == p.plugin()) {
                Some((_, list)) => list.push(p.clone()),
                None => plugins.push((p.plugin().to_string(), vec![p.clone()])),
            },
        }
    }
    let mut wrappers = Vec::with_capacity(plugins.len());
    for (name, list) in &plugins {
        let ui = PluginUi::new(name);
        let p = age::plugin::RecipientPluginV1::new(name, list, &[], ui.clone())
            .map_err(|e| fail(resolve_message(name, &e).into()))?;
        wrappers.push((name.as_str(), ui, p));
    }
    native.extend(wrappers.iter().map(|(_, _, p)| p as &dyn age::Recipient));
    let enc = age::Encryptor::with_recipients(native.into_iter()).map_err(|e| {
        // The plugin that wanted a prompt, else the first (plugin errors
        // name their plugin themselves: see `plugin_errors`).
        let (name, ui) = wrappers
            .iter()
            .find(|(_, ui, _)| ui.refused.lock().is_ok_and(|r| r.is_some()))
            .or(wrappers.first())
            .map(|(n, ui, _)| (*n, ui.refused()))
            .unwrap_or_default();
        match e {
            age::EncryptError::Plugin(errs) => {
                fail(ui.unwrap_or_else(|| plugin_errors(name, &errs)).into())
            }
            age::EncryptError::Io(e) if !wrappers.is_empty() => {
                fail(ui.unwrap_or_else(|| plugin_io_error(name, &e)).into())
            }
            e => fail(Box::new(e)),
        }
    })?;
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
    /// An age plugin an identity needs is missing, failed or wanted a
    /// prompt gsec cannot show. One line, naming `age-plugin-NAME`.
    #[error("{message}")]
    Plugin {
        plugin: String,
        /// The binary is not on PATH (as opposed to: it ran and failed).
        missing: bool,
        message: String,
    },
}

/// One identity and where it came from.
pub struct Identity {
    pub source: String,
    /// The matching recipient, when it can be derived (X25519, or an SSH key
    /// with its `.pub` next to it).
    pub recipient: Option<String>,
    inner: Inner,
}

enum Inner {
    Native(Box<dyn age::Identity + Send + Sync>),
    /// `AGE-PLUGIN-NAME-1…`: the key stays in the plugin's device or
    /// service; `age-plugin-NAME` is looked up on PATH when it is used.
    Plugin(age::plugin::Identity),
}

impl Identity {
    /// The plugin that holds this identity's key, if it is a plugin identity.
    pub fn plugin(&self) -> Option<&str> {
        match &self.inner {
            Inner::Plugin(p) => Some(p.plugin()),
            Inner::Native(_) => None,
        }
    }
}

/// All identities found, and every place that was searched.
#[derive(Default)]
pub struct Identities {
    pub list: Vec<Identity>,
    pub looked: Vec<String>,
    /// Default identity files that exist but could not be used, one line
    /// each: the library does not print; commands show these as warnings.
    pub skipped: Vec<String>,
    /// What plugin identities answered per age block (keyed by the block's
    /// SHA-256), so a command that opens a file twice (can I decrypt? then
    /// open) runs a plugin, and asks for a touch or a PIN, only once.
    plugin_cache: std::sync::Mutex<Vec<PluginAnswer>>,
}

/// An age block's SHA-256, and what the plugins unwrapped from it (`None`:
/// not theirs).
type PluginAnswer = ([u8; 32], Option<Zeroizing<Vec<u8>>>);

/// One attempt to open a file's age blocks: the first that opened, and what
/// went wrong with the others.
pub struct Opened {
    /// Index of the block that opened, and its plaintext (the data key).
    pub key: Option<(usize, Zeroizing<Vec<u8>>)>,
    /// Blocks that could not be tried or were corrupt, by index.
    pub errors: Vec<(usize, UnwrapError)>,
}

impl Opened {
    /// When nothing opened, the plugin failure that explains it: a plugin
    /// that ran and failed (or wanted a prompt), or a missing one when a
    /// block is for one of its recipients. A missing plugin whose
    /// recipients are not in `blocks` is no reason: the file was simply
    /// not encrypted to that identity.
    pub fn plugin_failure(&self, blocks: &[(&str, &str)]) -> Option<&UnwrapError> {
        if self.key.is_some() {
            return None;
        }
        let theirs = |name: &str| {
            blocks
                .iter()
                .any(|(r, _)| Recipient::parse(r).is_ok_and(|r| r.plugin() == Some(name)))
        };
        self.errors.iter().map(|(_, e)| e).find(|e| {
            matches!(e, UnwrapError::Plugin { plugin, missing, .. } if !missing || theirs(plugin))
        })
    }
}

impl Identities {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Unwrap an armored age file with the first identity that can: key
    /// files first, then plugins (which may ask for a touch).
    /// `Ok(None)`: none of ours is among its recipients; `Err`: the armor,
    /// header or payload is corrupt (not the same thing as "not yours"), or
    /// a plugin we need is missing or failed.
    pub fn unwrap(
        &self,
        armored: &str,
    ) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, UnwrapError> {
        match self.unwrap_native(armored)? {
            Some(k) => Ok(Some(k)),
            None => self.unwrap_plugins(armored),
        }
    }

    /// Open the first of several age blocks (a sops file's one block per
    /// recipient, given as `(recipient, armored)`) that any identity opens.
    /// Every block is tried with key files before any plugin runs, and
    /// plugins try first the blocks of recipients that are theirs.
    pub fn unwrap_first(&self, blocks: &[(&str, &str)]) -> Opened {
        let mut errors = Vec::new();
        let native = first_unwrapped(0..blocks.len(), &mut errors, |i| {
            self.unwrap_native(blocks[i].1)
        });
        if native.is_some() || !self.list.iter().any(|i| i.plugin().is_some()) {
            return Opened {
                key: native,
                errors,
            };
        }
        let ours = |r: &str| {
            Recipient::parse(r)
                .ok()
                .and_then(|r| r.plugin().map(str::to_string))
                .is_some_and(|p| self.list.iter().any(|i| i.plugin() == Some(p.as_str())))
        };
        // Blocks for one of our plugins first; a block a key file already
        // found corrupt is not handed to a plugin.
        let mut order: Vec<usize> = (0..blocks.len())
            .filter(|i| !errors.iter().any(|(j, _)| j == i))
            .collect();
        order.sort_by_key(|&i| !ours(blocks[i].0));
        let key = first_unwrapped(order.into_iter(), &mut errors, |i| {
            self.unwrap_plugins(blocks[i].1)
        });
        Opened { key, errors }
    }

    fn unwrap_native(
        &self,
        armored: &str,
    ) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, UnwrapError> {
        let native: Vec<&dyn age::Identity> = self
            .list
            .iter()
            .filter_map(|i| match &i.inner {
                Inner::Native(n) => Some(n.as_ref() as &dyn age::Identity),
                Inner::Plugin(_) => None,
            })
            .collect();
        if native.is_empty() {
            return Ok(None);
        }
        decrypt_with(armored, native.into_iter())
    }

    fn unwrap_plugins(
        &self,
        armored: &str,
    ) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, UnwrapError> {
        let names: Vec<&str> = self.list.iter().filter_map(Identity::plugin).collect();
        if names.is_empty() {
            return Ok(None);
        }
        let digest: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(armored.as_bytes()).into()
        };
        let cached =
            |c: &Vec<PluginAnswer>| c.iter().find(|(d, _)| *d == digest).map(|(_, k)| k.clone());
        if let Some(hit) = cached(&self.plugin_cache.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(hit);
        }
        let mut first_err = None;
        let mut seen = Vec::new();
        for name in names {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let ids: Vec<age::plugin::Identity> = self
                .list
                .iter()
                .filter_map(|i| match &i.inner {
                    Inner::Plugin(p) if p.plugin() == name => Some(p.clone()),
                    _ => None,
                })
                .collect();
            let sources: Vec<&str> = self
                .list
                .iter()
                .filter(|i| i.plugin() == Some(name))
                .map(|i| i.source.as_str())
                .collect();
            let ui = PluginUi::new(name);
            let plugin = match age::plugin::IdentityPluginV1::new(name, &ids, ui.clone()) {
                Ok(p) => p,
                Err(e) => {
                    let missing = matches!(e, age::plugin::ResolveError::MissingPlugin { .. });
                    first_err.get_or_insert(UnwrapError::Plugin {
                        plugin: name.to_string(),
                        missing,
                        message: match resolve_message(name, &e).strip_suffix(PLUGIN_HINT) {
                            Some(m) => format!(
                                "{m}, needed by the identity in {}{PLUGIN_HINT}",
                                sources.join(", ")
                            ),
                            None => resolve_message(name, &e),
                        },
                    });
                    continue;
                }
            };
            match decrypt_with(armored, std::iter::once(&plugin as &dyn age::Identity)) {
                Ok(Some(k)) => {
                    self.remember(digest, Some(k.clone()));
                    return Ok(Some(k));
                }
                Ok(None) => {
                    if let Some(asked) = ui.refused() {
                        first_err.get_or_insert(UnwrapError::Plugin {
                            plugin: name.to_string(),
                            missing: false,
                            message: asked,
                        });
                    }
                }
                Err(UnwrapError::Header(age::DecryptError::Plugin(errs))) => {
                    first_err.get_or_insert(UnwrapError::Plugin {
                        plugin: name.to_string(),
                        missing: false,
                        message: ui.refused().unwrap_or_else(|| plugin_errors(name, &errs)),
                    });
                }
                Err(UnwrapError::Header(age::DecryptError::Io(e))) => {
                    first_err.get_or_insert(UnwrapError::Plugin {
                        plugin: name.to_string(),
                        missing: false,
                        message: ui.refused().unwrap_or_else(|| plugin_io_error(name, &e)),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => {
                self.remember(digest, None);
                Ok(None)
            }
        }
    }

    fn remember(&self, digest: [u8; 32], key: Option<Zeroizing<Vec<u8>>>) {
        let mut c = self.plugin_cache.lock().unwrap_or_else(|p| p.into_inner());
        if !c.iter().any(|(d, _)| *d == digest) {
            c.push((digest, key));
        }
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

/// The first block (in `order`) that `unwrap` opens, with its index; the
/// blocks it fails on are added to `errors`.
fn first_unwrapped(
    order: impl Iterator<Item = usize>,
    errors: &mut Vec<(usize, UnwrapError)>,
    unwrap: impl Fn(usize) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, UnwrapError>,
) -> Option<(usize, Zeroizing<Vec<u8>>)> {
    for i in order {
        match unwrap(i) {
            Ok(Some(k)) => return Some((i, k)),
            Ok(None) => {}
            Err(e) => errors.push((i, e)),
        }
    }
    None
}

fn decrypt_with<'a>(
    armored: &str,
    ids: impl Iterator<Item = &'a dyn age::Identity>,
) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, UnwrapError> {
    let dec =
        age::Decryptor::new(ArmoredReader::new(armored.as_bytes())).map_err(UnwrapError::Header)?;
    let mut r = match dec.decrypt(ids) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
        Err(e) => return Err(UnwrapError::Header(e)),
    };
    let mut out = Zeroizing::new(Vec::with_capacity(32));
    r.read_to_end(&mut out).map_err(UnwrapError::Payload)?;
    Ok(Some(out))
}

/// Text from a plugin, made safe for one line of a terminal: control
/// characters become spaces, bidi controls go, and it is cut at 200
/// characters.
fn one_line(s: &str) -> String {
    let flat: String = s
        .trim()
        .chars()
        // Bidi controls too: age's messages wrap names in U+2068…U+2069.
        .filter(|c| !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else {
        flat
    }
}

/// Is `age-plugin-NAME` on PATH? `Err` is one line naming it.
pub fn find_plugin(name: &str) -> std::result::Result<(), String> {
    age::plugin::RecipientPluginV1::new(name, &[], &[], age::NoCallbacks)
        .map(drop)
        .map_err(|e| resolve_message(name, &e))
}

const PLUGIN_HINT: &str = " (install it, or put its directory on PATH)";

fn resolve_message(name: &str, e: &age::plugin::ResolveError) -> String {
    match e {
        age::plugin::ResolveError::MissingPlugin { binary_name } => {
            format!("{binary_name} not found on PATH{PLUGIN_HINT}")
        }
        _ => format!("age-plugin-{} is not a valid plugin name", one_line(name)),
    }
}

/// age's errors from a plugin, as one line. (`age::PluginError` is not
/// nameable outside age, so its text is used: `'age-plugin-X' couldn't use
/// an identity: MESSAGE`, whose prefix this line already says.)
fn plugin_errors<E: std::fmt::Display>(name: &str, errs: &[E]) -> String {
    let mut binary = format!("age-plugin-{name}");
    let parts: Vec<String> = errs
        .iter()
        .map(|e| {
            let text = one_line(&e.to_string());
            // `'age-plugin-X' couldn't use …: MESSAGE` names the plugin that
            // failed, which matters when a file has recipients of two.
            match text
                .strip_prefix('\'')
                .and_then(|t| t.split_once('\''))
                .filter(|(b, _)| b.starts_with("age-plugin-"))
                .zip(text.split_once(": "))
            {
                Some(((b, _), (_, message))) => {
                    binary = b.to_string();
                    message.to_string()
                }
                None => text,
            }
        })
        .collect();
    format!("{binary} failed: {}", parts.join("; "))
}

fn plugin_io_error(name: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::ConnectionAborted {
        format!("age-plugin-{name} failed: it exited before answering")
    } else {
        format!("age-plugin-{name} failed: {}", one_line(&e.to_string()))
    }
}

/// What gsec does when a plugin wants the user: messages ("touch your
/// key") go to stderr as they come, since the plugin waits on them and
/// the library's deferred warnings would show them too late; a prompt
/// (PIN, confirmation, a value) is asked on the terminal, and without one
/// (CI) it is refused and remembered, so that the error says what the
/// plugin wanted instead of only "it failed".
#[derive(Clone)]
struct PluginUi {
    binary: String,
    refused: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl PluginUi {
    fn new(name: &str) -> Self {
        PluginUi {
            binary: format!("age-plugin-{name}"),
            refused: Default::default(),
        }
    }

    fn refused(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn interactive() -> bool {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    fn refuse(&self, what: &str, message: &str) {
        let mut r = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        r.get_or_insert_with(|| {
            format!(
                "{} asked for {what} (\"{}\"), and gsec cannot prompt without a terminal",
                self.binary,
                one_line(message)
            )
        });
    }

    fn read_line(&self, prompt: &str) -> Option<String> {
        eprint!("{}: {} ", self.binary, one_line(prompt));
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok()?;
        Some(line.trim().to_string())
    }
}

impl age::Callbacks for PluginUi {
    fn display_message(&self, message: &str) {
        eprintln!("{}: {}", self.binary, one_line(message));
    }

    fn confirm(&self, message: &str, yes: &str, no: Option<&str>) -> Option<bool> {
        if !Self::interactive() {
            self.refuse("a confirmation", message);
            return None;
        }
        let no = no.unwrap_or("no");
        let answer = self.read_line(&format!("{message} [{yes}/{no}]"))?;
        Some(answer.eq_ignore_ascii_case(yes) || answer.eq_ignore_ascii_case("y"))
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        if !Self::interactive() {
            self.refuse("a value", description);
            return None;
        }
        self.read_line(description)
    }

    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString> {
        if !Self::interactive() {
            self.refuse("a secret", description);
            return None;
        }
        rpassword::prompt_password(format!("{}: {} ", self.binary, one_line(description)))
            .ok()
            .map(age::secrecy::SecretString::from)
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
            inner: Inner::Native(Box::new(id)),
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
            let id = age::plugin::Identity::from_str(line)
                .map_err(|e| format!("line {}: not an AGE-PLUGIN-… identity ({e})", n + 1))?;
            ids.list.push(Identity {
                source: source.to_string(),
                recipient: None,
                inner: Inner::Plugin(id),
            });
            found += 1;
            continue;
        }
        let id = age::x25519::Identity::from_str(line)
            .map_err(|_| format!("line {}: not an AGE-SECRET-KEY-1… identity", n + 1))?;
        ids.list.push(Identity {
            source: source.to_string(),
            recipient: Some(id.to_public().to_string()),
            inner: Inner::Native(Box::new(id)),
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
    fn plugin_recipients_and_identities_parse_and_a_missing_plugin_is_named() {
        assert!(Recipient::parse("age1foo1notbech32").is_err());
        let id = age::plugin::Identity::default_for_plugin("gsecnosuchplugin")
            .unwrap()
            .to_string();
        let ids = identities_from_text(&format!("# a token\n{id}\n"));
        assert_eq!(ids.list[0].plugin(), Some("gsecnosuchplugin"));
        let (_, public) = generate();
        let armored = Recipient::parse(&public).unwrap().wrap(b"k").unwrap();
        match ids.unwrap(&armored) {
            Err(UnwrapError::Plugin {
                plugin,
                missing,
                message,
            }) => {
                assert_eq!(plugin, "gsecnosuchplugin");
                assert!(missing);
                assert!(message.contains("age-plugin-gsecnosuchplugin not found on PATH"));
                assert!(!message.contains('\n'));
            }
            _ => panic!("expected a missing-plugin error"),
        }
        // Not this plugin's file: a missing plugin is no reason to fail.
        let opened = ids.unwrap_first(&[(public.as_str(), armored.as_str())]);
        assert!(opened.key.is_none() && opened.plugin_failure(&[(&public, &armored)]).is_none());
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
    // An SSH key type is a short name (`ssh-ed25519`); a long first word
    // that merely starts with `ssh-` is shortened like any other.
    if first.starts_with("ssh-") && first.chars().count() <= 20 {
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
        // A long word that only starts like an SSH key type is cut too.
        assert_eq!(
            short_recipient("ssh-age1pqm6uvyyp8r3ejeke0a9lr27g4yh0e2d94y7"),
            "ssh-age1pq…2d94y7"
        );
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
