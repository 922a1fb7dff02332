//! `gsec plugin list|inspect|call`: see what plugins are configured, what a
//! `.wasm` file is, and (hidden, for plugin authors and tests) run one step.
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::output::{self, outln};
use super::{Ctx, Exit, ListFormat};
use crate::envs::Resolver;
use crate::error::{Error, Result};
use crate::plugin::{self, Host, Info, Op, StepRequest};
use crate::vault::Node;

#[derive(Debug, Subcommand)]
pub enum PluginCmd {
    /// List configured plugins: path, sha256 pin, declared and granted hosts.
    #[command(visible_alias = "ls")]
    List {
        /// Output: human lines or JSON.
        #[arg(long, value_enum, default_value_t)]
        format: ListFormat,
    },
    /// Show what a .wasm plugin is: name, version, ABI, hosts, config schema,
    /// and its sha256 to pin in .gsec.yaml.
    Inspect {
        /// The plugin's .wasm file.
        path: PathBuf,
        /// Output: human lines or JSON.
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

/// `GSEC_PLUGIN_DEBUG` set: show plugins' debug log lines and the host's
/// timings (load phases, each step).
pub(super) fn debug_requested() -> bool {
    std::env::var_os("GSEC_PLUGIN_DEBUG").is_some_and(|v| !v.is_empty())
}

/// The plugin host, its remarks (what plugins log) on stderr.
fn host() -> Result<Host> {
    Ok(Host::new()?.diagnostics(debug_requested(), output::info))
}

/// A pretty JSON document on stdout.
fn print_json(v: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Error::msg(format!("cannot encode JSON output: {e}")))?;
    outln!("{text}");
    Ok(())
}

/// How a configured plugin's file compares with its pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Pin {
    Ok,
    Missing,
    Mismatch,
}

/// One configured plugin, as `plugin list` reports it (both formats).
#[derive(Debug, Serialize)]
struct ListRow<'a> {
    name: &'a str,
    path: &'a str,
    sha256: &'a str,
    pin: Pin,
    actual_sha256: Option<String>,
    /// `NAME VERSION` from its `info`, when it loaded.
    plugin: Option<String>,
    declared_hosts: Option<Vec<String>>,
    granted_hosts: &'a [String],
    timeout_secs: u64,
    memory_mb: u64,
    error: Option<String>,
}

fn list(ctx: &Ctx, format: ListFormat) -> Result<Exit> {
    let project = ctx.project()?;
    let host = host()?;
    let mut rows = Vec::new();
    for (name, decl) in &project.config.plugins {
        let actual = plugin::file_sha256(&project.root.join(&decl.path)).ok();
        let pin = match &actual {
            None => Pin::Missing,
            Some(a) if a.eq_ignore_ascii_case(&decl.sha256) => Pin::Ok,
            Some(_) => Pin::Mismatch,
        };
        // Only pinned code runs, even just for `info`.
        let loaded = (pin == Pin::Ok).then(|| host.load(&project.root, name, decl));
        let (info, error) = match loaded {
            Some(Ok(p)) => (Some(p.info().clone()), None),
            Some(Err(e)) => (None, Some(e.kind.to_string())),
            None => (None, None),
        };
        rows.push(ListRow {
            name,
            path: &decl.path,
            sha256: &decl.sha256,
            pin,
            actual_sha256: actual,
            plugin: info.as_ref().map(|i| format!("{} {}", i.name, i.version)),
            declared_hosts: info.map(|i| i.hosts),
            granted_hosts: &decl.hosts,
            timeout_secs: decl.timeout_secs.unwrap_or(plugin::DEFAULT_TIMEOUT_SECS),
            memory_mb: decl.memory_mb.unwrap_or(plugin::DEFAULT_MEMORY_MB),
            error,
        });
    }
    print_list(&rows, format)?;
    let bad = rows.iter().any(|r| r.pin != Pin::Ok || r.error.is_some());
    Ok(if bad { Exit::Found } else { Exit::Ok })
}

fn print_list(rows: &[ListRow], format: ListFormat) -> Result<()> {
    if format == ListFormat::Json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        output::info(
            "no plugins configured (add them under `plugins:` in .gsec.yaml; see `gsec plugin inspect`)",
        );
    }
    let hosts = |h: Option<&[String]>| match h {
        Some([]) => "none".to_string(),
        Some(h) => h.join(", "),
        None => "?".to_string(),
    };
    for r in rows {
        let pin = match r.pin {
            Pin::Ok => "pin ok".to_string(),
            Pin::Missing => "file missing".to_string(),
            Pin::Mismatch => format!(
                "PIN MISMATCH (file is {})",
                r.actual_sha256.as_deref().unwrap_or("?")
            ),
        };
        outln!("{}\t{}\t{pin}", r.name, r.path);
        if let Some(p) = &r.plugin {
            outln!("  plugin:   {p}");
        }
        outln!("  declared: {}", hosts(r.declared_hosts.as_deref()));
        outln!("  granted:  {}", hosts(Some(r.granted_hosts)));
        if let Some(e) = &r.error {
            outln!("  error:    {e}");
        }
    }
    Ok(())
}

/// A `.wasm` file as `plugin inspect` reports it (both formats).
#[derive(Debug, Serialize)]
struct Inspected<'a> {
    #[serde(flatten)]
    info: &'a Info,
    sha256: &'a str,
    /// As given on the command line, for the config snippet.
    #[serde(skip)]
    path: &'a Path,
}

fn inspect(ctx: &Ctx, path: &Path, format: ListFormat) -> Result<Exit> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        ctx.dir.join(path)
    };
    let p = host()?.inspect(&full).map_err(|mut e| {
        e.path = path.to_path_buf();
        Error::from(e)
    })?;
    print_inspected(
        &Inspected {
            info: p.info(),
            sha256: p.sha256(),
            path,
        },
        format,
    )?;
    Ok(Exit::Ok)
}

fn print_inspected(i: &Inspected, format: ListFormat) -> Result<()> {
    if format == ListFormat::Json {
        return print_json(i);
    }
    let info = i.info;
    let hosts = if info.hosts.is_empty() {
        "none".to_string()
    } else {
        info.hosts.join(", ")
    };
    outln!("name:     {}", info.name);
    outln!("version:  {}", info.version);
    outln!("abi:      {}", info.abi);
    if !info.description.is_empty() {
        outln!("about:    {}", plugin::one_line(&info.description, 200));
    }
    outln!("hosts:    {hosts}");
    outln!("steps:    {}", info.steps.join(", "));
    outln!("sha256:   {}", i.sha256);
    let schema = serde_json::to_string_pretty(&info.config_schema)
        .map_err(|e| Error::msg(format!("cannot encode JSON output: {e}")))?;
    outln!("config schema:\n{schema}");
    outln!(
        "\nto use it, add to .gsec.yaml:\nplugins:\n  {}:\n    path: {}\n    sha256: {}",
        info.name,
        i.path.display(),
        i.sha256
    );
    if !info.hosts.is_empty() {
        outln!(
            "    hosts: [{}]  # grant only what you trust it to reach",
            info.hosts.join(", ")
        );
    }
    Ok(())
}

fn parse_json_obj(flag: &str, s: Option<String>) -> Result<Option<Map<String, Value>>> {
    match s {
        None => Ok(None),
        Some(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(Error::usage(format!("--{flag}: expected a JSON object"))),
            Err(e) => Err(Error::usage(format!(
                "--{flag}: {}",
                plugin::error::json_error(&e)
            ))),
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
    #[arg(long, short = 'e', env = "GSEC_ENV", default_value = crate::envs::DEFAULT_ENV)]
    env: String,
}

fn call(ctx: &Ctx, name: &str, op: &str, a: CallArgs) -> Result<Exit> {
    let op = Op::parse(op).ok_or_else(|| {
        Error::usage(format!(
            "unknown op '{op}': use info, create, verify, revoke or lease"
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
                hint: String::new(),
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
    let p = host()?.load(&project.root, name, decl)?;
    let req = StepRequest {
        config,
        inputs,
        state,
        id,
        value,
        ..Default::default()
    };
    let resp = match op {
        Op::Info => Called::Info(p.info()),
        Op::Create => {
            let c = p.create(&req)?;
            Called::Created {
                value: "[REDACTED]",
                length: c.value.chars().count(),
                state: c.state,
                id: c.id,
            }
        }
        Op::Verify => p.verify(&req).map(|()| Called::Done { ok: true })?,
        Op::Revoke => p.revoke(&req).map(|()| Called::Done { ok: true })?,
        Op::Lease => {
            let l = p.lease(&req)?;
            Called::Leased {
                fields: l.values.keys().cloned().collect(),
                values: "[REDACTED]",
                expires_at: l.expires_at,
                id: l.id,
            }
        }
        Op::Sync => {
            return Err(Error::usage(
                "'sync' takes several calls: run it with `gsec sync --to TARGET --dry-run`",
            ));
        }
    };
    print_json(&resp)?;
    Ok(Exit::Ok)
}

/// What `plugin call` prints (JSON): the step's answer, the new value
/// never included.
#[derive(Serialize)]
#[serde(untagged)]
enum Called<'a> {
    Info(&'a Info),
    Created {
        value: &'static str,
        length: usize,
        state: Option<Value>,
        id: Option<String>,
    },
    Done {
        ok: bool,
    },
    Leased {
        fields: Vec<String>,
        values: &'static str,
        expires_at: Option<String>,
        id: Option<String>,
    },
}
