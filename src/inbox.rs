//! Encrypt-only contributors: a sealed inbox per environment.
//!
//! Someone who is not a recipient of an environment cannot decrypt its file
//! and so cannot rewrite it. `gsec set` then seals the value with age to the
//! environment's current recipients and writes it as its own file,
//! `<env file without .yaml>.inbox/<NAME>.yaml` (one file per name, so two
//! contributors never conflict). The file holds, in clear, only what
//! `gsec check` needs without a key — the name, who sealed it and when, and
//! the recipients it was sealed to — and the value as an armored age file
//! whose plaintext also names the secret and environment, so an entry
//! cannot be moved to another name or environment unnoticed. Never a
//! plaintext, never a hash of one.
//!
//! Any recipient reads inbox values through the usual resolver (a value
//! sealed after the environment file's last change wins), and
//! `gsec inbox merge` folds them into the environment file and removes the
//! entries: the file first, then the entry, so a crash in between leaves a
//! merge that simply runs again.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{Recipient, same_recipient};
use crate::project::Project;

/// Largest inbox file read (a value plus armor and metadata).
const MAX_ENTRY_BYTES: u64 = 1 << 20;

/// One sealed value, as stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub env: String,
    /// The sealer's recipient, when their identity has one.
    #[serde(default)]
    pub set_by: Option<String>,
    /// RFC 3339, UTC.
    pub set_at: String,
    /// Who can open it.
    pub recipients: Vec<String>,
    /// Armored age file; its plaintext is [`Sealed`] as JSON.
    pub value: String,
}

/// What is inside the age file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    name: String,
    env: String,
    value: String,
}

/// The inbox directory of an environment.
pub fn dir(project: &Project, env: &str) -> PathBuf {
    let file = project.env_file(env);
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| env.to_string());
    file.with_file_name(format!("{stem}.inbox"))
}

fn entry_path(project: &Project, env: &str, name: &str) -> PathBuf {
    dir(project, env).join(format!("{name}.yaml"))
}

/// Seal `value` for `env`'s current recipients and write it as the entry
/// for `name` (replacing an earlier entry for the same name).
pub fn seal(project: &Project, env: &str, name: &str, value: &str) -> Result<PathBuf> {
    let recipients = project.config.recipients_for(env)?;
    if recipients.is_empty() {
        return Err(Error::usage(format!("{env} has no recipients to seal for")));
    }
    let sealed = Zeroizing::new(
        serde_json::to_vec(&Sealed {
            name: name.to_string(),
            env: env.to_string(),
            value: value.to_string(),
        })
        .map_err(|e| Error::msg(format!("cannot encode the sealed value: {e}")))?,
    );
    let armored = crate::keys::encrypt_armored(&recipients, &sealed)?;
    let set_by = project
        .identities()
        .ok()
        .and_then(|ids| ids.first_recipient().map(|(r, _)| r.to_string()));
    let entry = Entry {
        name: name.to_string(),
        env: env.to_string(),
        set_by,
        set_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        recipients: recipients.iter().map(Recipient::canonical).collect(),
        value: armored,
    };
    let text = format!(
        "# gsec sealed value: readable only by recipients of {env}; fold it in with `gsec inbox merge --env {env}`\n{}",
        serde_norway::to_string(&entry)
            .map_err(|e| Error::msg(format!("cannot encode the inbox entry: {e}")))?
    );
    let path = entry_path(project, env, name);
    let _lock = crate::fsutil::lock(&path)?;
    crate::fsutil::write_atomic(&path, text.as_bytes(), None)?;
    Ok(path)
}

/// Every entry of `env`'s inbox, sorted by name; `Err` names the first file
/// that is not an inbox entry for this environment.
pub fn entries(project: &Project, env: &str) -> Result<Vec<(PathBuf, Entry)>> {
    let d = dir(project, env);
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(&d, e)),
    };
    let mut out = Vec::new();
    for item in rd {
        let item = item.map_err(|e| Error::io(&d, e))?;
        let path = item.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        out.push((path.clone(), read(&path, env)?));
    }
    out.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Ok(out)
}

fn read(path: &Path, env: &str) -> Result<Entry> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() || meta.len() > MAX_ENTRY_BYTES {
        return Err(Error::file(
            path,
            "is not an inbox entry (not a regular file, or too large)",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    // serde's messages can quote input: keep only where it failed.
    let entry: Entry = serde_norway::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (line {})", l.line()))
            .unwrap_or_default();
        Error::file(path, format!("is not a valid inbox entry{at}"))
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if entry.env != env || entry.name != stem {
        return Err(Error::Tampered {
            path: path.to_path_buf(),
            what: format!(
                "inbox entry says it is {} in {}, but it is stored as {stem} in {env}",
                entry.name, entry.env
            ),
        });
    }
    if !entry.value.contains("BEGIN AGE ENCRYPTED FILE") {
        return Err(Error::file(path, "the value is not an age file"));
    }
    Ok(entry)
}

/// Open an entry with the project's identities: the value, checked to be
/// the one sealed for this name and environment.
pub fn open(project: &Project, path: &Path, entry: &Entry) -> Result<Zeroizing<String>> {
    let ids = project.identities()?;
    let plain = ids
        .unwrap(&entry.value)
        .map_err(|e| Error::file(path, format!("cannot open the sealed value: {e}")))?
        .ok_or_else(|| Error::NoIdentity {
            path: path.to_path_buf(),
            recipients: entry
                .recipients
                .iter()
                .map(|r| crate::keys::short_recipient(r))
                .collect::<Vec<_>>()
                .join(", "),
            looked: ids.looked_in(),
        })?;
    let sealed: Sealed = serde_json::from_slice(&plain)
        .map_err(|_| Error::file(path, "the sealed value is malformed"))?;
    let sealed_value = Zeroizing::new(sealed.value);
    if sealed.name != entry.name || sealed.env != entry.env {
        return Err(Error::Tampered {
            path: path.to_path_buf(),
            what: "the sealed value belongs to another secret or environment".into(),
        });
    }
    Ok(sealed_value)
}

/// Is an entry sealed to exactly the environment's current recipients?
pub fn is_stale(project: &Project, entry: &Entry) -> Result<bool> {
    let want: Vec<String> = project
        .config
        .recipients_for(&entry.env)?
        .iter()
        .map(Recipient::canonical)
        .collect();
    Ok(want.len() != entry.recipients.len()
        || want
            .iter()
            .any(|w| !entry.recipients.iter().any(|r| same_recipient(r, w))))
}

/// RFC 3339 to seconds, for "newest write wins".
pub fn seconds(rfc3339: &str) -> Option<u64> {
    humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(rfc3339).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// What `merge` did.
#[derive(Debug, Default)]
pub struct Merged {
    pub names: Vec<String>,
}

/// Fold every entry of `env`'s inbox into the environment file (one locked,
/// atomic write), then remove the entries.
pub fn merge(project: &Project, env: &str) -> Result<Merged> {
    let all = entries(project, env)?;
    if all.is_empty() {
        return Ok(Merged::default());
    }
    let mut values = Vec::with_capacity(all.len());
    for (path, e) in &all {
        values.push((e.name.clone(), open(project, path, e)?));
    }
    project.update(env, Default::default(), |v| {
        for (name, value) in &values {
            v.set(name, value)?;
        }
        Ok(())
    })?;
    for (path, _) in &all {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(path, e));
            }
            _ => {}
        }
        let _ = std::fs::remove_file(crate::fsutil::lock_path(path));
    }
    let _ = std::fs::remove_dir(dir(project, env)); // only when empty
    Ok(Merged {
        names: all.into_iter().map(|(_, e)| e.name).collect(),
    })
}
