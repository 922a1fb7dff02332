//! `gsec import`: bring a `.env` file into an environment.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::output::outln;
use super::{Ctx, Exit, output};
use crate::config::check_name;
use crate::dotenv;
use crate::envs::DEFAULT_ENV;
use crate::error::{Error, Result};
use crate::vault::OpenOptions;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The .env file, or `-` for stdin.
    pub file: PathBuf,
    /// Environment to import into.
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
    /// Report as JSON (`{"environment", "added", "changed", "unchanged"}`, names only).
    #[arg(long, value_enum, default_value_t)]
    pub format: super::ListFormat,
    /// How the file encodes values: `dotenv` (python-dotenv / dotenvx /
    /// compose syntax), or `kestra` (`SECRET_NAME=<base64>`, as `gsec export
    /// --format kestra` writes: names lose the prefix, values are decoded).
    #[arg(long, value_enum, default_value_t)]
    pub dialect: Dialect,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    #[default]
    Dotenv,
    Kestra,
}

/// What dotenvx leaves in a file it encrypted: values `encrypted:…` and
/// `DOTENV_PUBLIC_KEY[_ENV]` (its public key, not a secret).
fn dotenvx_public_key(key: &str) -> bool {
    key == "DOTENV_PUBLIC_KEY" || key.starts_with("DOTENV_PUBLIC_KEY_")
}

/// `SECRET_NAME=<base64>` → (`NAME`, decoded value).
fn kestra(e: &mut dotenv::Entry, shown: &str) -> Result<()> {
    use base64::Engine as _;
    let at = || format!("{shown}:{}", e.line);
    let Some(name) = e.key.strip_prefix("SECRET_").filter(|n| !n.is_empty()) else {
        return Err(Error::file(
            at(),
            format!(
                "{} does not start with SECRET_ (Kestra's secret prefix)",
                e.key
            ),
        ));
    };
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(e.value.trim().as_bytes())
            .map_err(|_| Error::file(at(), format!("{}: the value is not base64", e.key)))?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| {
        Error::file(
            at(),
            format!("{}: the decoded value is not UTF-8 text", e.key),
        )
    })?;
    e.value = Zeroizing::new(text.to_string());
    e.key = name.to_string();
    Ok(())
}

pub fn run(ctx: &Ctx, a: ImportArgs) -> Result<Exit> {
    let project = ctx.project()?;
    project.check_env(&a.env)?;
    let stdin = a.file.as_os_str() == "-";
    let shown = if stdin {
        "<stdin>".to_string()
    } else {
        a.file.display().to_string()
    };
    let bytes = if stdin {
        let mut b = Zeroizing::new(Vec::new());
        std::io::stdin()
            .read_to_end(&mut b)
            .map_err(|e| Error::msg(format!("cannot read stdin: {e}")))?;
        b
    } else {
        Zeroizing::new(crate::fsutil::read_bounded(
            &a.file,
            crate::fsutil::MAX_SECRETS_FILE,
        )?)
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        Error::file(
            &shown,
            format!("not UTF-8 text (at byte {})", e.valid_up_to()),
        )
    })?;
    let entries =
        dotenv::parse(text).map_err(|e| Error::file(format!("{shown}:{}", e.line), e.message))?;

    // Variable names back to secret names, so `export` then `import`
    // round-trips: a declared secret exported under this name (its `env:`),
    // else a secret already in the environment, or declared, whose variable
    // this is (`api-key` is exported as `api_key`), else the name itself.
    // Later bindings win, like a shell.
    let existing = crate::vault::peek(&project.env_file(&a.env))?
        .map(|p| p.names().map(str::to_string).collect::<Vec<_>>())
        .unwrap_or_default();
    let secret_for = |key: &str| -> String {
        let cfg = &project.config;
        cfg.secrets
            .iter()
            .find(|(_, d)| d.env.as_deref() == Some(key))
            .map(|(n, _)| n)
            .or_else(|| {
                existing
                    .iter()
                    .chain(cfg.secrets.keys())
                    .find(|n| cfg.env_var(n) == key)
            })
            .cloned()
            .unwrap_or_else(|| key.to_string())
    };
    let mut items: Vec<(String, dotenv::Entry)> = Vec::new();
    for mut e in entries {
        if a.dialect == Dialect::Kestra {
            kestra(&mut e, &shown)?;
        } else if dotenvx_public_key(&e.key) {
            output::warn(&format!(
                "{shown}:{}: {} is dotenvx's public key, not a secret; skipped",
                e.line, e.key
            ));
            continue;
        } else if e.value.starts_with("encrypted:") {
            return Err(Error::file(
                format!("{shown}:{}", e.line),
                format!(
                    "{} is encrypted by dotenvx: import its plaintext instead (`dotenvx decrypt --stdout -f FILE | gsec import -`); gsec encrypts it again for the environment's recipients",
                    e.key
                ),
            ));
        }
        let name = secret_for(&e.key);
        check_name(&name, project.config.naming)
            .map_err(|err| Error::file(format!("{shown}:{}", e.line), err.to_string()))?;
        if e.value.is_empty() {
            output::warn(&format!("{shown}:{}: {} is empty; skipped", e.line, e.key));
            continue;
        }
        if let Some(i) = items
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            let (_, old) = items.remove(i);
            output::warn(&format!(
                "{shown}:{}: {} is set again (first on line {}); the later value wins",
                e.line, e.key, old.line
            ));
        }
        items.push((name, e));
    }
    if items.is_empty() {
        output::info(&format!("nothing to import from {shown}"));
        return Ok(Exit::Ok);
    }

    let ((added, changed, unchanged), _) = project.update(&a.env, OpenOptions::default(), |v| {
        let (mut added, mut changed, mut unchanged) = (vec![], vec![], vec![]);
        for (name, e) in &items {
            let existed = v.get(name).is_some();
            let list = match (existed, v.set(name, &e.value)?) {
                (false, _) => &mut added,
                (true, true) => &mut changed,
                (true, false) => &mut unchanged,
            };
            list.push(name.clone());
        }
        Ok((added, changed, unchanged))
    })?;
    if a.format == super::ListFormat::Json {
        let v = serde_json::json!({"environment": a.env, "added": added, "changed": changed, "unchanged": unchanged});
        outln!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(Exit::Ok);
    }
    let mut parts = Vec::new();
    for (label, list) in [
        ("added", &added),
        ("changed", &changed),
        ("unchanged", &unchanged),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label} {}", list.join(", ")));
        }
    }
    output::info(&format!(
        "imported into {} ({}): {}",
        a.env,
        project.rel(&project.env_file(&a.env)),
        parts.join("; ")
    ));
    Ok(Exit::Ok)
}
