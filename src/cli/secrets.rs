//! `gsec set`, `get`, `list`, `rm`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::output::{houtln, outln};
use super::{Ctx, Exit, ListFormat, output};
use crate::config::check_name;
use crate::envs::{self, DEFAULT_ENV, Resolver, Source};
use crate::error::{Error, Result};
use crate::vault::{Node, OpenOptions};

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Secret name: letters, digits, `_`, `-`; starts with a letter.
    pub name: String,
    /// Environment(s) to set it in, comma-separated.
    #[arg(long = "env", short = 'e', value_delimiter = ',', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub envs: Vec<String>,
    /// Read the value from FILE (exact bytes) instead of stdin.
    #[arg(long, value_name = "F")]
    pub from_file: Option<PathBuf>,
    /// Accept an environment file whose MAC does not verify.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Generate a random value (32 URL-safe characters) instead of reading
    /// one, and print it once on stdout.
    #[arg(long, conflicts_with = "from_file")]
    pub generate: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Secret name (case-insensitive).
    pub name: String,
    /// Environment (default: development; inheritance applies).
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
    /// Also say (on stderr) which file the value came from.
    #[arg(long)]
    pub explain: bool,
    /// Do not print a newline after the value.
    #[arg(short = 'n', long)]
    pub no_newline: bool,
    /// For a lease secret: mint a new short-lived credential and print it
    /// (its one value, or `VAR=value` lines for several fields). Nothing
    /// is stored; its expiry goes to stderr. Without it, `get` of a lease
    /// refuses.
    #[arg(long)]
    pub lease: bool,
    #[command(flatten)]
    pub at: super::AtArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this environment (default: all).
    #[arg(long = "env", short = 'e')]
    pub env: Option<String>,
    /// Output: human lines or JSON.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
    #[command(flatten)]
    pub at: super::AtArg,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Secret name (case-insensitive).
    pub name: String,
    /// Environment(s) to remove it from, comma-separated (required: a
    /// removal is never implicit).
    #[arg(long = "env", short = 'e', required = true, value_delimiter = ',')]
    pub envs: Vec<String>,
    /// Remove even if the secret is required or used by a template.
    #[arg(long)]
    pub force: bool,
}

/// Read a secret value without ever taking it from argv: a file, a hidden
/// prompt on a terminal, or stdin (one trailing newline dropped).
pub fn read_value(name: &str, from_file: Option<&PathBuf>) -> Result<Zeroizing<String>> {
    let raw = if let Some(f) = from_file {
        Zeroizing::new(crate::fsutil::read_bounded(
            f,
            crate::fsutil::MAX_SECRETS_FILE,
        )?)
    } else if std::io::stdin().is_terminal() {
        let v = rpassword::prompt_password(format!("Value for {name}: "))
            .map_err(|e| Error::msg(format!("cannot read from terminal: {e}")))?;
        Zeroizing::new(v.into_bytes())
    } else {
        let mut buf = Zeroizing::new(Vec::new());
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::msg(format!("cannot read stdin: {e}")))?;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        buf
    };
    let s =
        String::from_utf8(raw.to_vec()).map_err(|_| Error::usage("the value is not UTF-8 text"))?;
    if s.is_empty() {
        return Err(Error::usage(format!(
            "empty value for {name}; nothing was set (use `gsec rm` to delete a secret)"
        )));
    }
    Ok(Zeroizing::new(s))
}

pub fn set(ctx: &Ctx, a: SetArgs) -> Result<Exit> {
    let project = ctx.project()?;
    check_name(&a.name, project.config.naming)?;
    for e in &a.envs {
        project.check_env(e)?;
    }
    let value = if a.generate {
        generate_value()
    } else {
        read_value(&a.name, a.from_file.as_ref())?
    };
    warn_near_twin(&project, &a.name, &a.envs)?;
    use crate::scan::managed::{MIN_ASSIGNED_LEN, MIN_LEN};
    if value.len() < MIN_ASSIGNED_LEN {
        output::warn(&format!(
            "{} is shorter than {MIN_ASSIGNED_LEN} bytes: the leak scanner does not search for values this short (too many false matches)",
            a.name,
        ));
    } else if value.len() < MIN_LEN {
        output::warn(&format!(
            "{} is shorter than {MIN_LEN} bytes: the leak scanner finds it only where it is assigned (`NAME=value`, `name: \"value\"`), not inside other text",
            a.name,
        ));
    }
    let opts = OpenOptions {
        ignore_mac: a.ignore_mac,
    };
    for env in &a.envs {
        if !project.can_decrypt(env)? {
            // Encrypt-only: seal it for the environment's recipients.
            let path = crate::inbox::seal(&project, env, &a.name, &value)?;
            output::info(&format!(
                "sealed {} for {env} ({}); you cannot read {env}, its recipients can, and `gsec inbox merge --env {env}` folds it in",
                a.name,
                project.rel(&path)
            ));
            continue;
        }
        let (changed, _) = project.update(env, opts, |v| v.set(&a.name, &value))?;
        let file = project.env_file(env);
        output::info(&format!(
            "{} {} in {env} ({})",
            if changed { "set" } else { "unchanged:" },
            a.name,
            project.rel(&file)
        ));
    }
    if a.generate {
        // The one time a generated (possibly write-only) value is shown.
        output::stdout(format!("{}\n", &*value).as_bytes())?;
    }
    Ok(Exit::Ok)
}

/// A new name one edit away from a declared or stored one is most likely a
/// typo (`DB_PASWORD` beside `DB_PASSWORD`): say so before creating it.
fn warn_near_twin(project: &crate::project::Project, name: &str, envs: &[String]) -> Result<()> {
    let mut known: Vec<String> = project.config.secrets.keys().cloned().collect();
    for env in envs {
        if let Some(p) = project.peek(env)? {
            known.extend(p.names().map(str::to_string));
        }
    }
    if known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        return Ok(());
    }
    if let Some(twin) = known
        .iter()
        .find(|k| crate::suggest::one_edit_apart(k, name))
    {
        output::warn(&format!(
            "creating {name}, one letter away from the existing {twin}: is it a typo? (`gsec rm {name} --env …` undoes it)"
        ));
    }
    Ok(())
}

/// 32 URL-safe random characters (192 bits).
fn generate_value() -> Zeroizing<String> {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut b = Zeroizing::new([0u8; 24]);
    rand::rngs::OsRng.fill_bytes(&mut b[..]);
    Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b[..]))
}

/// Refuse to show a write-only secret's value.
pub(crate) fn refuse_write_only(project: &crate::project::Project, name: &str) -> Result<()> {
    if let Some((n, d)) = project.config.secret(name)
        && d.write_only
    {
        return Err(Error::usage(format!(
            "{n} is write-only (.gsec.yaml): its value is shown only when it is set; use it through `gsec run`, `gsec render` or `gsec export -o FILE`"
        )));
    }
    Ok(())
}

pub fn get(ctx: &Ctx, a: GetArgs) -> Result<Exit> {
    let project = ctx.project_at(&a.at)?;
    refuse_write_only(&project, &a.name)?;
    if crate::lease::is_lease(&project, &a.name) {
        return get_lease(&project, &a);
    }
    if a.lease {
        return Err(Error::usage(format!(
            "--lease: {} is not a lease secret (no `lease:` for it in .gsec.yaml)",
            a.name
        )));
    }
    let mut r = Resolver::new(&project);
    let Some(found) = r.lookup(&a.env, &a.name)? else {
        let known: Vec<String> = r
            .all(&a.env)?
            .into_iter()
            .map(|v| v.name)
            .chain(project.config.secrets.keys().cloned())
            .collect();
        return Err(Error::NotFound {
            name: a.name.clone(),
            env: a.env.clone(),
            hint: crate::suggest::hint(&a.name, known.iter().map(String::as_str)),
        });
    };
    if a.explain {
        let from = match &found.source {
            Source::File { env, path } if *env == a.env => {
                format!("{} ({env}'s own file)", project.rel(path))
            }
            Source::File { env, path } => format!("{} (inherited from {env})", project.rel(path)),
            Source::Local(p) => format!("{} (local override)", project.rel(p)),
        };
        output::info(&format!("{} in {}: from {from}", found.name, a.env));
    }
    let text = match &found.value {
        Node::Leaf(l) => l.text(),
        other => envs::to_yaml(other),
    };
    let nl = !a.no_newline && !text.ends_with('\n');
    output::stdout(text.as_bytes())?;
    if nl {
        output::stdout(b"\n")?;
    }
    Ok(Exit::Ok)
}

/// `get` of a lease secret: it has no stored value. Minting one is a
/// request to the provider and hands out a live credential, so it happens
/// only when asked for with `--lease` (as `fnox lease create` or
/// `aws sts assume-role` would print one), never as a side effect of `get`.
fn get_lease(project: &crate::project::Project, a: &GetArgs) -> Result<Exit> {
    let (name, _) = project.config.secret(&a.name).expect("a declared lease");
    if !a.lease {
        return Err(Error::usage(format!(
            "{name} is a lease: it is minted on use and never stored, so there is no value to get; `gsec run --env {} -- CMD` gives a fresh one to a command, and `gsec get {name} --env {} --lease` mints one and prints it",
            a.env, a.env
        )));
    }
    let m = crate::lease::mint(project, &a.env, name, output::info)?;
    output::info(&format!(
        "minted lease {name} in {}, valid until {} (not stored; a new `get --lease` mints another)",
        a.env,
        m.expiry_text()
    ));
    let mut text = Zeroizing::new(String::new());
    if let [v] = m.vars.as_slice() {
        text.push_str(&v.value);
        if !a.no_newline {
            text.push('\n');
        }
    } else {
        for v in &m.vars {
            text.push_str(&v.name);
            text.push('=');
            text.push_str(&crate::dotenv::quote(&v.value));
            text.push('\n');
        }
    }
    output::stdout(text.as_bytes())?;
    Ok(Exit::Ok)
}

pub fn list(ctx: &Ctx, a: ListArgs) -> Result<Exit> {
    let project = ctx.project_at(&a.at)?;
    let envs: Vec<String> = match &a.env {
        Some(e) => {
            project.check_env(e)?;
            vec![e.clone()]
        }
        None => project.config.environments.keys().cloned().collect(),
    };
    // name -> [(env, lastmodified)]
    let mut rows: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for env in &envs {
        let Some(p) = project.peek(env)? else {
            continue;
        };
        for n in p.names().map(str::to_string) {
            let i = match rows.iter().position(|(k, _)| k.eq_ignore_ascii_case(&n)) {
                Some(i) => i,
                None => {
                    rows.push((n.clone(), vec![]));
                    rows.len() - 1
                }
            };
            rows[i].1.push((env.clone(), p.meta.lastmodified.clone()));
        }
    }
    for (name, _) in &project.config.secrets {
        if !rows.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
            rows.push((name.clone(), vec![]));
        }
    }
    rows.sort_by_key(|(k, _)| k.to_ascii_lowercase());
    let due = crate::state::State::load(&project.root)?;
    match a.format {
        ListFormat::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|(name, envs)| {
                    let decl = project.config.secret(name).map(|(_, d)| d);
                    serde_json::json!({
                        "name": name,
                        "description": decl.and_then(|d| d.description.clone()),
                        "declared": decl.is_some(),
                        "environments": envs.iter().map(|(e, lm)| serde_json::json!({
                            "name": e,
                            "file": project.rel(&project.env_file(e)),
                            "last_change": lm,
                            "rotated": due.rotated(e, name),
                            "rotation_due": due.due(&project.config, e, name),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "secrets": items }))
                    .expect("json")
            );
        }
        ListFormat::Human => {
            if rows.is_empty() {
                output::info("no secrets yet; add one with `gsec set NAME`");
                return Ok(Exit::Ok);
            }
            let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(4).max(4);
            houtln!(
                "{:w$}  {:28}  {:20}  ROTATION DUE",
                "NAME",
                "ENVIRONMENTS",
                "LAST CHANGE"
            );
            for (name, envs) in &rows {
                let env_list = if envs.is_empty() {
                    "(declared, not set)".to_string()
                } else {
                    envs.iter()
                        .map(|(e, _)| e.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let last = envs.iter().map(|(_, lm)| lm.as_str()).max().unwrap_or("-");
                let due_s = envs
                    .iter()
                    .filter_map(|(e, _)| due.due(&project.config, e, name))
                    .min()
                    .unwrap_or_else(|| "-".into());
                houtln!("{name:w$}  {env_list:28}  {last:20}  {due_s}");
            }
        }
    }
    Ok(Exit::Ok)
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<Exit> {
    let project = ctx.project()?;
    for env in &a.envs {
        project.check_env(env)?;
        if !a.force {
            if let Some((n, d)) = project.config.secret(&a.name)
                && d.required.applies_to(env)
            {
                return Err(Error::usage(format!(
                    "{n} is declared required in {env} (.gsec.yaml); remove the declaration or pass --force"
                )));
            }
            if let Some(t) = crate::render::templates_using(&project, &a.name)?.first() {
                return Err(Error::usage(format!(
                    "{} is used by template {t}; update the template or pass --force",
                    a.name
                )));
            }
        }
    }
    let mut missing = true;
    for env in &a.envs {
        if !project.env_file(env).exists() {
            continue;
        }
        let (removed, _) =
            project.update(env, OpenOptions::default(), |v| Ok(v.remove(&a.name)))?;
        if let Some(n) = removed {
            missing = false;
            output::info(&format!("removed {n} from {env}"));
            // Deletion in git is not permanent: say so, and what to do.
            let rotate = match project
                .config
                .secret(&n)
                .and_then(|(_, d)| d.rotation.as_ref())
            {
                Some(_) => format!(
                    "rotate it at its provider (`gsec rotate {n} --env {env}`) before removing it"
                ),
                None => {
                    "if it is still valid at its provider, revoke or rotate it there".to_string()
                }
            };
            output::warn(&format!(
                "the old value of {n} stays readable in git history by everyone who was a recipient of {env}; {rotate}"
            ));
        }
    }
    if missing {
        let mut known: Vec<String> = Vec::new();
        for env in &a.envs {
            if let Some(p) = project.peek(env)? {
                known.extend(p.names().map(str::to_string));
            }
        }
        return Err(Error::NotFound {
            hint: crate::suggest::hint(&a.name, known.iter().map(String::as_str)),
            name: a.name,
            env: a.envs.join(","),
        });
    }
    Ok(Exit::Ok)
}
