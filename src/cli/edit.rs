//! `gsec edit`: edit an environment's decrypted values in `$EDITOR`.
//!
//! The plaintext lives only in a private temporary file (0600, in
//! `$XDG_RUNTIME_DIR` or `/dev/shm` — memory-backed — when present) that is
//! overwritten and removed however the edit ends. Only values that changed
//! are re-encrypted; an edit that changes nothing leaves the file untouched.
//! No lock is held while the editor is open: on save the file is re-read
//! under its lock and the edit is refused if someone else changed it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use serde_norway::Value;
use zeroize::Zeroizing;

use super::{Ctx, Exit, output};
use crate::config::check_name;
use crate::envs::DEFAULT_ENV;
use crate::error::{Error, Result};
use crate::vault::format::Format;
use crate::vault::{Node, OpenOptions, Vault};

#[derive(Debug, Args)]
pub struct EditArgs {
    /// Environment (default: development; inheritance applies).
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
}

/// How many times an invalid edit re-opens the editor before giving up.
const MAX_ATTEMPTS: usize = 5;

fn private_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(PathBuf::from("/dev/shm")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.is_dir() && tempfile::Builder::new().tempfile_in(d).is_ok())
        .unwrap_or_else(std::env::temp_dir)
}

/// A temp file that is zeroed and removed when dropped.
struct Scratch(tempfile::NamedTempFile);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(len) = self.0.as_file().metadata().map(|m| m.len()) {
            let f = self.0.as_file_mut();
            let _ = std::io::Seek::rewind(f);
            let _ = f.write_all(&vec![0u8; len as usize]);
            let _ = f.sync_all();
        }
    }
}

fn plaintext(env: &str, file: &str, vault: &Vault) -> Zeroizing<String> {
    let mut text = Zeroizing::new(format!(
        "# gsec edit: {env} ({file}). Values are encrypted when you save and quit.\n# One secret per top-level key. Delete a line to remove a secret.\n"
    ));
    if !vault.is_empty() {
        text.push_str(&crate::vault::format::emit_tree(&vault.plain_emit()));
    }
    text
}

/// The edited text as entries the environment file's format can hold (a
/// dotenv file: flat values only) and the project's naming policy allows,
/// so a mistake re-opens the editor.
fn parse(
    text: &str,
    format: Format,
    naming: crate::config::Naming,
) -> std::result::Result<Vec<(String, Node)>, String> {
    let v: Value = crate::yaml::parse_value(text.as_bytes())?;
    let map = match v {
        Value::Null => return Ok(vec![]),
        Value::Mapping(m) => m,
        _ => return Err("the top level must be a map of secret names to values".into()),
    };
    let mut out: Vec<(String, Node)> = Vec::new();
    for (k, v) in map {
        let Value::String(k) = k else {
            return Err("every top-level key must be a secret name".into());
        };
        check_name(&k, naming).map_err(|e| e.to_string())?;
        if let Some((other, _)) = out.iter().find(|(o, _)| o.eq_ignore_ascii_case(&k)) {
            return Err(format!("'{k}' and '{other}' differ only in case"));
        }
        let node = crate::vault::node_from_yaml(&k, v)?;
        if let Some(why) = format.refuse_entry(&k, node.collection()) {
            return Err(why);
        }
        out.push((k, node));
    }
    Ok(out)
}

/// While the decrypted file exists, a terminating signal (the terminal
/// closed: SIGHUP; `kill`: SIGTERM; SIGINT, SIGQUIT) stops the editor,
/// zeroes and removes the file, and exits: plaintext never outlives gsec.
struct Cleanup {
    handle: signal_hook::iterator::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Cleanup {
    fn install(
        path: PathBuf,
        child: std::sync::Arc<std::sync::atomic::AtomicI32>,
    ) -> Result<Cleanup> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGQUIT, SIGTERM])
            .map_err(|source| Error::Os {
            what: "cannot install signal handlers",
            source,
        })?;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let pid = child.load(std::sync::atomic::Ordering::SeqCst);
                if pid > 0
                    && let Ok(s) = nix::sys::signal::Signal::try_from(sig)
                {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), s);
                }
                wipe(&path);
                std::process::exit(128 + sig);
            }
        });
        Ok(Cleanup {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Overwrite a file with zeros and remove it.
fn wipe(path: &std::path::Path) {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path)
        && let Ok(len) = f.metadata().map(|m| m.len())
    {
        let _ = f.write_all(&vec![0u8; len as usize]);
        let _ = f.sync_all();
    }
    let _ = std::fs::remove_file(path);
}

fn run_editor(path: &std::path::Path, child_pid: &std::sync::atomic::AtomicI32) -> Result<()> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("gsec-edit")
        .arg(path)
        .spawn()
        .map_err(|e| Error::msg(format!("cannot start editor '{editor}': {e}")))?;
    child_pid.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
    let status = child.wait().map_err(|source| Error::Os {
        what: "waiting for the editor",
        source,
    });
    child_pid.store(0, std::sync::atomic::Ordering::SeqCst);
    let status = status?;
    if !status.success() {
        return Err(Error::msg(format!(
            "editor '{editor}' exited with {status}; nothing was changed"
        )));
    }
    Ok(())
}

pub fn run(ctx: &Ctx, a: EditArgs) -> Result<Exit> {
    let project = ctx.project()?;
    project.check_env(&a.env)?;
    let path = project.env_file(&a.env);
    let rel = project.rel(&path).into_owned();
    let before = std::fs::read(&path).ok();
    let vault = match &before {
        Some(_) => project.open(&a.env)?.expect("file exists"),
        None => Vault::create(path.clone(), project.config.recipients_for(&a.env)?)?,
    };
    let original = plaintext(&a.env, &rel, &vault);
    let format = vault.format();
    drop(vault);
    let dir = private_dir();
    let mut scratch = Scratch(
        tempfile::Builder::new()
            .prefix("gsec-edit-")
            .suffix(".yaml")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?,
    );
    scratch
        .0
        .write_all(original.as_bytes())
        .map_err(|e| Error::io(scratch.0.path(), e))?;
    scratch
        .0
        .as_file()
        .sync_all()
        .map_err(|e| Error::io(scratch.0.path(), e))?;
    let child_pid = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let _cleanup = Cleanup::install(scratch.0.path().to_path_buf(), child_pid.clone())?;
    let mut attempts = 0;
    let entries = loop {
        attempts += 1;
        run_editor(scratch.0.path(), &child_pid)?;
        let edited = Zeroizing::new(
            std::fs::read_to_string(scratch.0.path())
                .map_err(|e| Error::io(scratch.0.path(), e))?,
        );
        if *edited == *original {
            output::info(&format!("no changes; {rel} left untouched"));
            return Ok(Exit::Ok);
        }
        match parse(&edited, format, project.config.naming) {
            Ok(entries) => break entries,
            Err(e) if attempts < MAX_ATTEMPTS => {
                output::warn(&format!(
                    "{e}; re-opening the editor ({attempts}/{MAX_ATTEMPTS})"
                ));
                if std::io::stdin().is_terminal() {
                    eprint!("press Enter to continue editing");
                    let _ = std::io::stdin().read_line(&mut String::new());
                }
            }
            Err(e) => {
                return Err(Error::msg(format!(
                    "{e}; giving up after {MAX_ATTEMPTS} attempts, {rel} left untouched"
                )));
            }
        }
    };
    let recovery = entries.clone();
    let saved = project.update(&a.env, OpenOptions::default(), |v| {
        // Refuse to overwrite a concurrent change made while editing.
        if std::fs::read(&path).ok() != before {
            return Err(Error::file(
                &path,
                "changed by someone else while you were editing",
            ));
        }
        v.replace_all(entries)
    });
    let (changed, _) = match saved {
        Ok(s) => s,
        Err(e) => {
            // Keep what was typed, encrypted for the same recipients.
            let keep = path.with_file_name(format!(
                ".{}.gsec-recovered.yaml",
                path.file_stem().unwrap_or_default().to_string_lossy()
            ));
            let mut v = Vault::create(keep.clone(), project.config.recipients_for(&a.env)?)?;
            v.replace_all(recovery)?;
            v.save()?;
            return Err(Error::msg(format!(
                "{e}; your edit was not applied, and is kept encrypted in {} (read it with `sops decrypt` or copy values with `gsec`)",
                project.rel(&keep)
            )));
        }
    };
    output::info(&if changed {
        format!("saved {rel}")
    } else {
        format!("no changes; {rel} left untouched")
    });
    Ok(Exit::Ok)
}
