//! `gsec plugin list|inspect|call`: see what plugins are configured, what a
//! `.wasm` file is, and (hidden, for plugin authors and tests) run one step.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::{Ctx, Exit, ListFormat};
use crate::envs::Resolver;
use crate::error::{Error, Result};
use crate::plugin::{self, Host, Op, StepRequest};
use crate::vault::Node;

#[derive(Debug, Subcommand)]
pub enum PluginCmd {
    /// List configured plugins: path, sha256 pin, declared and granted hosts.
    #[command(visible_alias = "ls")]
    List {
        #[arg(long, value_enum, default_value_t)]
        format: ListFormat,
    },
    /// Show what a .wasm plugin is: name, version, ABI, hosts, config schema,
    /// and its sha256 to pin in .gsec.yaml.
    Inspect {
        /// The plugin's .wasm file.
        path: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: ListFormat,
    },
    /// Run one step of a configured plugin and print its JSON response, with
    /// the new value redacted (for plugin authors; `gsec rotate` runs the
    /// whole protocol).
    #[command(hide = true)]
    Call {
        /// Plugin name under `plugins` in .gsec.yaml.
        name: String,
        /// info, create, verify or revoke.
        op: String,
        #[command(flatten)]
        args: CallArgs,
    },
}

pub fn run(ctx: &Ctx, cmd: PluginCmd) -> Result<Exit> {
    match cmd {
        PluginCmd::List { format } => list(ctx, format),
        PluginCmd::Inspect { path, format } => inspect(ctx, &path, format),
        PluginCmd::Call { name, op, args } => call(ctx, &name, &op, args),
    }
}

fn list(ctx: &Ctx, format: ListFormat) -> Result<Exit> {
    let project = ctx.project()?;
    let host = Host::new()?;
    let mut rows = Vec::new();
    let mut bad = false;
    for (name, decl) in &project.config.plugins {
        let file = project.root.join(&decl.path);
        let actual = plugin::file_sha256(&file).ok();
        let pin = match &actual {
            None => "missing",
            Some(a) if a.eq_ignore_ascii_case(&decl.sha256) => "ok",
            Some(_) => "mismatch",
        };
        // Only pinned code runs, even just for `info`.
        let loaded = (pin == "ok").then(|| host.load(&project.root, name, decl));
        let (info, error) = match loaded {
            Some(Ok(p)) => (Some(p.info().clone()), None),
            Some(Err(e)) => (None, Some(e.kind.to_string())),
            None => (None, None),
        };
        bad |= pin != "ok" || error.is_some();
        rows.push(json!({
            "name": name,
            "path": decl.path,
            "sha256": decl.sha256,
            "pin": pin,
            "actual_sha256": actual,
            "plugin": info.as_ref().map(|i| format!("{} {}", i.name, i.version)),
            "declared_hosts": info.as_ref().map(|i| i.hosts.clone()),
            "granted_hosts": decl.hosts,
            "timeout_secs": decl.timeout_secs.unwrap_or(plugin::DEFAULT_TIMEOUT_SECS),
            "memory_mb": decl.memory_mb.unwrap_or(plugin::DEFAULT_MEMORY_MB),
            "error": error,
        }));
    }
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&rows).unwrap_or_default()
            );
        }
        ListFormat::Human => {
            if rows.is_empty() {
                super::output::info(
                    "no plugins configured (add them under `plugins:` in .gsec.yaml; see `gsec plugin inspect`)",
                );
            }
            for r in &rows {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                let hosts = |k: &str| match r[k].as_array() {
                    Some(a) if !a.is_empty() => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    Some(_) => "none".into(),
                    None => "?".into(),
                };
                let pin = match s("pin").as_str() {
                    "ok" => "pin ok".to_string(),
                    "missing" => "file missing".to_string(),
                    _ => format!("PIN MISMATCH (file is {})", s("actual_sha256")),
                };
                let _ = writeln!(out, "{}\t{}\t{pin}", s("name"), s("path"));
                if !r["plugin"].is_null() {
                    let _ = writeln!(out, "  plugin:   {}", s("plugin"));
                }
                let _ = writeln!(out, "  declared: {}", hosts("declared_hosts"));
                let _ = writeln!(out, "  granted:  {}", hosts("granted_hosts"));
                if !r["error"].is_null() {
                    let _ = writeln!(out, "  error:    {}", s("error"));
                }
            }
        }
    }
    Ok(if bad { Exit::Found } else { Exit::Ok })
}

fn inspect(ctx: &Ctx, path: &Path, format: ListFormat) -> Result<Exit> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        ctx.dir.join(path)
    };
    let host = Host::new()?;
    let p = host.inspect(&full).map_err(|mut e| {
        e.path = path.to_path_buf();
        Error::from(e)
    })?;
    let info = p.info();
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => {
            let v = json!({
                "name": info.name,
                "version": info.version,
                "abi": info.abi,
                "description": info.description,
                "hosts": info.hosts,
                "config_schema": info.config_schema,
                "sha256": p.sha256(),
            });
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
        ListFormat::Human => {
            let hosts = if info.hosts.is_empty() {
                "none".to_string()
            } else {
                info.hosts.join(", ")
            };
            let _ = writeln!(out, "name:     {}", info.name);
            let _ = writeln!(out, "version:  {}", info.version);
            let _ = writeln!(out, "abi:      {}", info.abi);
            if !info.description.is_empty() {
                let _ = writeln!(
                    out,
                    "about:    {}",
                    plugin::one_line(&info.description, 200)
                );
            }
            let _ = writeln!(out, "hosts:    {hosts}");
            let _ = writeln!(out, "sha256:   {}", p.sha256());
            let schema = serde_json::to_string_pretty(&info.config_schema).unwrap_or_default();
            let _ = writeln!(out, "config schema:\n{schema}");
            let _ = writeln!(
                out,
                "\nto use it, add to .gsec.yaml:\nplugins:\n  {}:\n    path: {}\n    sha256: {}",
                info.name,
                path.display(),
                p.sha256()
            );
            if !info.hosts.is_empty() {
                let _ = writeln!(
                    out,
                    "    hosts: [{}]  # grant only what you trust it to reach",
                    info.hosts.join(", ")
                );
            }
        }
    }
    Ok(Exit::Ok)
}

fn parse_json_obj(flag: &str, s: Option<String>) -> Result<Option<Map<String, Value>>> {
    match s {
        None => Ok(None),
        Some(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(Error::usage(format!("--{flag}: expected a JSON object"))),
            Err(e) => Err(Error::usage(format!("--{flag}: not valid JSON: {e}"))),
        },
    }
}

/// Inputs of a `plugin call` step beyond the plugin and op.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The `config` object, as JSON.
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
    /// The `state` object, as JSON.
    #[arg(long, value_name = "JSON")]
    state: Option<String>,
    /// The credential id (`revoke`).
    #[arg(long)]
    id: Option<String>,
    /// Read `value` (verify, revoke) from stdin.
    #[arg(long)]
    value_stdin: bool,
    /// Pass this secret as an input (repeatable), read from `--env`.
    #[arg(long = "input", value_name = "SECRET")]
    inputs: Vec<String>,
    /// Environment the inputs are read from.
    #[arg(long, short = 'e', default_value = crate::envs::DEFAULT_ENV)]
    env: String,
}

fn call(ctx: &Ctx, name: &str, op: &str, a: CallArgs) -> Result<Exit> {
    let op = Op::parse(op).ok_or_else(|| {
        Error::usage(format!(
            "unknown op '{op}': use info, create, verify or revoke"
        ))
    })?;
    let config = parse_json_obj("config", a.config)?.unwrap_or_default();
    let state = parse_json_obj("state", a.state)?.map(Value::Object);
    let id = a.id;
    let value = if a.value_stdin {
        let mut v = Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut v)
            .map_err(|e| Error::msg(format!("cannot read stdin: {e}")))?;
        let trimmed = Zeroizing::new(v.trim_end_matches(['\r', '\n']).to_string());
        Some(trimmed)
    } else {
        None
    };
    let project = ctx.project()?;
    let decl = project.config.plugins.get(name).ok_or_else(|| {
        Error::file(
            &project.config_path,
            format!("no plugin '{name}' under plugins"),
        )
    })?;
    let mut inputs = indexmap::IndexMap::new();
    if !a.inputs.is_empty() {
        project.check_env(&a.env)?;
        let mut r = Resolver::new(&project);
        for n in &a.inputs {
            let found = r.lookup(&a.env, n)?.ok_or_else(|| Error::NotFound {
                name: n.clone(),
                env: a.env.clone(),
            })?;
            match &found.value {
                Node::Leaf(l) => inputs.insert(found.name.clone(), l.text()),
                _ => {
                    return Err(Error::usage(format!(
                        "--input {n}: not a single value in '{}'",
                        a.env
                    )));
                }
            };
        }
    }
    let host = Host::new()?;
    let p = host.load(&project.root, name, decl)?;
    let req = StepRequest {
        config,
        inputs,
        state,
        id,
        value,
        ..Default::default()
    };
    let resp = match op {
        Op::Info => serde_json::to_value(p.info()).unwrap_or_default(),
        Op::Create => {
            let c = p.create(&req)?;
            json!({"value": "[REDACTED]", "length": c.value.chars().count(), "state": c.state, "id": c.id})
        }
        Op::Verify => p.verify(&req).map(|()| json!({"ok": true}))?,
        Op::Revoke => p.revoke(&req).map(|()| json!({"ok": true}))?,
    };
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&resp).unwrap_or_default()
    );
    Ok(Exit::Ok)
}
