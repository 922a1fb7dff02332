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
}

pub fn run(a: CompletionsArgs) -> Result<Exit> {
    let mut cmd = super::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "gsec", &mut out);
    super::output::stdout(&out)?;
    Ok(Exit::Ok)
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
