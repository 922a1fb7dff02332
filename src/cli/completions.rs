//! Shell completions and the man page, generated from the same clap
//! definitions as `--help`, so they can never drift from the real flags.

use clap::Args;
use clap_complete::Shell;

use super::Exit;
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate for.
    #[arg(value_enum)]
    pub shell: Shell,
    /// A static script (flags and subcommands only) instead of one that asks
    /// gsec for environment and secret names as you type.
    #[arg(long = "static")]
    pub static_: bool,
}

/// `gsec completions SHELL`: by default the dynamic registration (what
/// `COMPLETE=SHELL gsec` prints), which completes `--env` with the
/// project's environments and secret-name arguments with its secrets.
pub fn run(a: CompletionsArgs) -> Result<Exit> {
    let mut out = Vec::new();
    if a.static_ {
        let mut cmd = super::command();
        clap_complete::generate(a.shell, &mut cmd, "gsec", &mut out);
    } else {
        let shell = a.shell.to_string();
        let shells = clap_complete::env::Shells::builtins();
        let Some(sh) = shells.completer(&shell) else {
            return Err(Error::usage(format!(
                "{shell}: no dynamic completion for this shell; use --static"
            )));
        };
        let completer = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "gsec".into());
        sh.write_registration("COMPLETE", "gsec", "gsec", &completer, &mut out)
            .map_err(|e| Error::msg(format!("writing the {shell} registration: {e}")))?;
    }
    super::output::stdout(&out)?;
    Ok(Exit::Ok)
}

/// The command tree with value completers: `--env` (and `--env` lists)
/// complete the project's environment names, a secret-name argument the
/// names in the project's files and declarations. Completers read only
/// plaintext names (no key needed) and stay silent outside a project.
pub fn command_with_completers() -> clap::Command {
    use clap_complete::engine::ArgValueCompleter;
    fn walk(cmd: clap::Command, path: &str) -> clap::Command {
        let mut cmd = cmd;
        let ids: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        for id in ids {
            match id.as_str() {
                "env" | "envs" => {
                    cmd = cmd.mut_arg(&id, |a| a.add(ArgValueCompleter::new(complete_env)));
                }
                "name" | "names" if secret_command(path) => {
                    cmd = cmd.mut_arg(&id, |a| a.add(ArgValueCompleter::new(complete_secret)));
                }
                _ => {}
            }
        }
        let subs: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for name in subs {
            let sub_path = format!("{path} {name}");
            cmd = cmd.mut_subcommand(&name, |s| walk(s, &sub_path));
        }
        cmd
    }
    walk(super::command(), "gsec")
}

/// Commands whose `name` argument is a secret's name.
fn secret_command(path: &str) -> bool {
    matches!(
        path,
        "gsec set" | "gsec get" | "gsec rm" | "gsec rotate" | "gsec log" | "gsec inbox seal"
    )
}

fn project_here() -> Option<crate::project::Project> {
    let dir = std::env::current_dir().ok()?;
    let root = crate::project::find_root(&dir)?;
    crate::project::Project::load(root, None).ok()
}

fn candidates(
    current: &std::ffi::OsStr,
    names: impl IntoIterator<Item = String>,
) -> Vec<clap_complete::engine::CompletionCandidate> {
    let current = current.to_string_lossy();
    // `--env a,b,<TAB>`: complete the last item of a comma list.
    let (done, last) = match current.rsplit_once(',') {
        Some((d, l)) => (format!("{d},"), l.to_string()),
        None => (String::new(), current.to_string()),
    };
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| {
            n.to_ascii_lowercase()
                .starts_with(&last.to_ascii_lowercase())
        })
        .map(|n| clap_complete::engine::CompletionCandidate::new(format!("{done}{n}")))
        .collect()
}

fn complete_env(current: &std::ffi::OsStr) -> Vec<clap_complete::engine::CompletionCandidate> {
    let Some(p) = project_here() else {
        return vec![];
    };
    candidates(current, p.config.environments.keys().cloned())
}

fn complete_secret(current: &std::ffi::OsStr) -> Vec<clap_complete::engine::CompletionCandidate> {
    let Some(p) = project_here() else {
        return vec![];
    };
    let mut names: Vec<String> = p.config.secrets.keys().cloned().collect();
    for env in p.config.environments.keys() {
        names.extend(crate::rotate::own_names(&p, env).unwrap_or_default());
    }
    candidates(current, names)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (gsec.1, gsec-set.1, gsec-recipients-add.1,
    /// …) into DIR instead of printing gsec(1).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Sections every page ends with (roff).
const TRAILER: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
A check found something: leaks (\fBscan\fR), missing secrets (\fBcheck\fR), merge conflicts (\fBmerge\-driver\fR), exposed values (\fBexposure\fR).
.TP
\fB2\fR
Usage or runtime error, reported as one line on standard error naming the file and the problem.
.SH ENVIRONMENT
.TP
\fBGSEC_ENV\fR
Environment used when \fB\-\-env\fR is not given (default: development).
.TP
\fBGSEC_AGE_KEY\fR, \fBGSEC_AGE_KEY_FILE\fR
An age identity, or a file holding identities; tried after \fB\-\-identity\fR.
.TP
\fBSOPS_AGE_KEY\fR, \fBSOPS_AGE_KEY_FILE\fR
The same variables sops reads, honoured so that a sops set-up works unchanged.
.TP
\fBNO_COLOR\fR
No colour in any output.
.TP
\fBGSEC_PLUGIN_DEBUG\fR
Print plugin load and call timings on standard error.
.SH FILES
.TP
\fB.gsec.yaml\fR
Project configuration at the repository root: recipients, environments, declared secrets, plugins, scan settings.
.TP
\fBsecrets/ENV.yaml\fR
One sops\-compatible encrypted file per environment (or the environment's \fBfile:\fR).
.TP
\fBsecrets/ENV.inbox/NAME.yaml\fR
Values sealed by people who cannot read ENV (\fBgsec inbox\fR).
.TP
\fB.gsec.local.yaml\fR
Plaintext local overrides for the \fBlocal\fR environment; git\-ignored.
.TP
\fB.gsecignore\fR
Fingerprints of allowed scanner findings.
.TP
\fB~/.config/gsec/identity.txt\fR
Your age identity (\fBgsec keygen\fR); \fB$XDG_CONFIG_HOME\fR honoured.
"#;

fn render(cmd: clap::Command, title: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .title(title.to_string())
        .render(&mut out)
        .map_err(|e| Error::msg(format!("rendering the man page: {e}")))?;
    out.extend_from_slice(TRAILER.as_bytes());
    Ok(out)
}

pub fn man(a: ManArgs) -> Result<Exit> {
    let mut top = super::command();
    top.build();
    let Some(dir) = a.dir else {
        super::output::stdout(&render(top, "gsec")?)?;
        return Ok(Exit::Ok);
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    // Every command and subcommand, named as git names its pages.
    let mut pages: Vec<(String, clap::Command)> = vec![("gsec".into(), top.clone())];
    let mut i = 0;
    while i < pages.len() {
        let (name, cmd) = pages[i].clone();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let full = format!("{name}-{}", sub.get_name());
            pages.push((full, sub.clone()));
        }
        i += 1;
    }
    for (name, cmd) in &pages {
        let path = dir.join(format!("{name}.1"));
        crate::fsutil::write_atomic(&path, &render(cmd.clone(), name)?, None)?;
    }
    super::output::info(&format!(
        "wrote {} man pages to {}",
        pages.len(),
        dir.display()
    ));
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    /// Every argument of every command says what it is for (`--help`,
    /// completions and man pages all show it).
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if a.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("{path} {id}"));
                }
            }
            for s in cmd.get_subcommands() {
                if s.get_about().is_none() && s.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", s.get_name()));
                }
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut cmd = super::super::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "gsec", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
