//! Command-line interface: the flag definitions (which also generate
//! `--help`, shell completions and the man page) and dispatch to one module
//! per command. Commands hold no logic of their own beyond turning flags into
//! calls on the library modules and results into output.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};

pub mod action;
pub mod audit;
pub mod check;
pub mod completions;
pub mod doctor;
pub mod edit;
pub mod export;
pub mod gitdriver;
pub mod hook;
pub mod import;
pub mod inbox;
pub mod init;
pub mod keygen;
pub mod output;
pub mod plugin;
pub mod recipients;
pub mod render;
pub mod rotate;
pub mod run;
pub mod scan;
pub mod secrets;
pub mod sync;

/// gsec: git-native secrets.
///
/// Secrets live encrypted (sops-compatible, age) in committed files, one per
/// environment; a leak scanner blocks plaintext secrets from commits; WASM
/// plugins rotate credentials at their providers.
#[derive(Debug, Parser)]
#[command(name = "gsec", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Run as if gsec was started in DIR (the project is found from there).
    #[arg(short = 'C', long = "directory", value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,

    /// Identity file to decrypt with (age X25519 or OpenSSH private key);
    /// tried before GSEC_AGE_KEY, GSEC_AGE_KEY_FILE, SOPS_AGE_KEY(_FILE) and
    /// the default identity files.
    #[arg(short = 'i', long = "identity", value_name = "FILE", global = true)]
    pub identity: Option<PathBuf>,

    /// When to colour output: auto (only on a terminal, never with NO_COLOR),
    /// always, never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// `--at REV`: read the project as it was at a commit.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AtArg {
    /// Read .gsec.yaml and the environment files as they were at REV (a
    /// commit, branch, tag or MERGE_HEAD), with inheritance as it was then.
    #[arg(long, value_name = "REV")]
    pub at: Option<String>,
}

/// Machine-readable or human output, for commands that list or report.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum ListFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create .gsec.yaml with the default environments and recipients.
    Init(init::InitArgs),
    /// Generate an age X25519 identity and print its recipient.
    Keygen(keygen::KeygenArgs),
    /// Set a secret from stdin, a file, or a hidden prompt (never from argv).
    Set(secrets::SetArgs),
    /// Print a secret's value.
    Get(secrets::GetArgs),
    /// List secrets, their environments and last change (never values).
    #[command(visible_alias = "ls")]
    List(secrets::ListArgs),
    /// Remove a secret from an environment.
    Rm(secrets::RmArgs),
    /// Show, add or remove recipients.
    #[command(subcommand)]
    Recipients(recipients::RecipientsCmd),
    /// Re-wrap every environment file for the recipients the config names.
    Updatekeys(recipients::UpdatekeysArgs),
    /// Fail (exit 1) when a required secret is missing or a file is unreadable.
    Check(check::CheckArgs),
    /// Run a command with an environment's secrets in its environment.
    Run(run::RunArgs),
    /// Print an environment's secrets in a format other tools read.
    Export(export::ExportArgs),
    /// Fill `{{ secrets.NAME }}` placeholders in a template.
    Render(render::RenderArgs),
    /// Import a .env file into an environment.
    Import(import::ImportArgs),
    /// Edit an environment's values in $EDITOR.
    Edit(edit::EditArgs),
    /// Scan files, staged changes or history for leaked secrets.
    Scan(scan::ScanArgs),
    /// Install or remove the git pre-commit hook.
    #[command(subcommand)]
    Hook(hook::HookCmd),
    /// Rotate credentials with plugins.
    Rotate(rotate::RotateArgs),
    /// Push an environment's secrets to an external secret manager.
    Sync(sync::SyncArgs),
    /// List or inspect rotation plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCmd),
    /// Diagnose identity, config, hook, environments and plugins.
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), or write one per command with --dir.
    Man(completions::ManArgs),
    /// Values sealed by people who cannot read an environment: list, merge.
    #[command(subcommand)]
    Inbox(inbox::InboxCmd),
    /// Who added, changed or removed which secret, and when.
    Log(audit::LogArgs),
    /// Key-level differences between revisions (values only with --values).
    Diff(audit::DiffArgs),
    /// Current values that removed recipients could read in history.
    Exposure(audit::ExposureArgs),
    /// Git merge driver for encrypted files: merges per key.
    #[command(name = "merge-driver")]
    MergeDriver(gitdriver::MergeDriverArgs),
    /// Git textconv for encrypted files: key names, never values.
    Textconv(gitdriver::TextconvArgs),
    /// What the GitHub Action runs: load, check, scan.
    #[command(subcommand)]
    Action(action::ActionCmd),
}

/// What a command found, as the process exit code: 0 all good, 1 the check
/// found something (leaks, missing secrets). Errors are exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Found,
}

/// Process-wide settings every command receives.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Directory gsec runs in (`-C`, else the current directory).
    pub dir: PathBuf,
    /// `--identity`, tried first.
    pub identity: Option<PathBuf>,
}

impl Ctx {
    /// Find and load the project (config at the repository root).
    pub fn project(&self) -> Result<crate::project::Project> {
        Ok(
            crate::project::Project::discover(&self.dir, self.identity.clone())?
                .with_warnings(crate::diag::Warnings::to(output::warn)),
        )
    }

    /// The project, at a revision when `--at` was given.
    pub fn project_at(&self, at: &AtArg) -> Result<crate::project::Project> {
        let p = self.project()?;
        match &at.at {
            Some(rev) => p.at(rev),
            None => Ok(p),
        }
    }
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Entry point used by `main`: parse, dispatch, map the result to an exit code.
pub fn main() -> ExitCode {
    // `COMPLETE=bash gsec` prints the shell registration; the shell then
    // calls back with COMPLETE set to complete a command line (environment
    // and secret names from the project in the current directory).
    clap_complete::CompleteEnv::with_factory(completions::command_with_completers).complete();
    let mut cli = parse(command());
    // `default_env:` in .gsec.yaml replaces `development` as the default of
    // every `--env` (GSEC_ENV and --env still win): parse again with it.
    if let Some(d) = project_default_env(cli.directory.as_deref())
        && d != crate::envs::DEFAULT_ENV
    {
        let d: &'static str = Box::leak(d.into_boxed_str());
        cli = parse(with_env_default(command(), d));
    }
    match cli.color {
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
        ColorWhen::Auto => {}
    }
    let dir = match &cli.directory {
        Some(d) => d.clone(),
        None => match std::env::current_dir() {
            Ok(d) => d,
            Err(e) => return report(Error::msg(format!("cannot read current directory: {e}"))),
        },
    };
    let ctx = Ctx {
        dir,
        identity: cli.identity.clone(),
    };
    match dispatch(&ctx, cli.command) {
        Ok(Exit::Ok) => ExitCode::SUCCESS,
        Ok(Exit::Found) => ExitCode::from(1),
        Err(e) => report(e),
    }
}

/// The command line, parsed with `cmd` (clap's `Parser::parse`, but the
/// command tree is leaked, not dropped: the process ends soon after, and
/// freeing every subcommand's arguments cost a twentieth of a pre-commit
/// scan).
fn parse(cmd: clap::Command) -> Cli {
    let cmd: &'static mut clap::Command = Box::leak(Box::new(cmd));
    let matches = std::mem::ManuallyDrop::new(cmd.get_matches_mut());
    match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.format(cmd).exit(),
    }
}

/// `cmd` with `default` as the default of every `--env` argument.
fn with_env_default(cmd: clap::Command, default: &'static str) -> clap::Command {
    let mut cmd = cmd;
    for id in ["env", "envs"] {
        if cmd.get_arguments().any(|a| {
            a.get_id() == id && a.get_long() == Some("env") && !a.get_default_values().is_empty()
        }) {
            cmd = cmd.mut_arg(id, |a| a.default_value(default));
        }
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for s in subs {
        cmd = cmd.mut_subcommand(&s, |c| with_env_default(c, default));
    }
    cmd
}

/// `default_env` of the project containing `dir` (or the current
/// directory), when it names one; errors are left to the command itself.
fn project_default_env(dir: Option<&std::path::Path>) -> Option<String> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().ok()?,
    };
    let root = crate::project::find_root(&dir)?;
    crate::config::Config::load(&root.join(crate::config::FILE_NAME))
        .ok()?
        .default_env
}

fn report(e: Error) -> ExitCode {
    if e.is_broken_pipe() {
        // `gsec list | head -1`: the reader has what it wanted.
        return ExitCode::SUCCESS;
    }
    output::error_line(&e.to_string());
    ExitCode::from(2)
}

fn dispatch(ctx: &Ctx, cmd: Command) -> Result<Exit> {
    match cmd {
        Command::Init(a) => init::run(ctx, a),
        Command::Keygen(a) => keygen::run(ctx, a),
        Command::Set(a) => secrets::set(ctx, a),
        Command::Get(a) => secrets::get(ctx, a),
        Command::List(a) => secrets::list(ctx, a),
        Command::Rm(a) => secrets::rm(ctx, a),
        Command::Recipients(c) => recipients::run(ctx, c),
        Command::Updatekeys(a) => recipients::updatekeys(ctx, a),
        Command::Check(a) => check::run(ctx, a),
        Command::Run(a) => run::run(ctx, a),
        Command::Export(a) => export::run(ctx, a),
        Command::Render(a) => render::run(ctx, a),
        Command::Import(a) => import::run(ctx, a),
        Command::Edit(a) => edit::run(ctx, a),
        Command::Scan(a) => scan::run(ctx, a),
        Command::Hook(c) => hook::run(ctx, c),
        Command::Rotate(a) => rotate::run(ctx, a),
        Command::Sync(a) => sync::run(ctx, a),
        Command::Plugin(c) => plugin::run(ctx, c),
        Command::Doctor(a) => doctor::run(ctx, a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => completions::man(a),
        Command::Action(c) => action::run(ctx, c),
        Command::Inbox(c) => inbox::run(ctx, c),
        Command::Log(a) => audit::log(ctx, a),
        Command::Diff(a) => audit::diff(ctx, a),
        Command::Exposure(a) => audit::exposure(ctx, a),
        Command::MergeDriver(a) => gitdriver::merge_driver(ctx, a),
        Command::Textconv(a) => gitdriver::textconv(ctx, a),
    }
}
