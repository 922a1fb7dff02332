//! `gsec scan`: find leaked secrets in files, stdin, the staged change or
//! history, and report them in the chosen format.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::Args;

use super::{Ctx, Exit, output};
use crate::error::{Error, IoContext, Result};
use crate::git;
use crate::scan::report::{self, Format};
use crate::scan::{self, Scanner, allow};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").args(["staged", "history", "paths"]).multiple(false)))]
pub struct ScanArgs {
    /// Files or directories to scan (default: the current directory); `-`
    /// reads stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Scan the staged change: only lines it adds or changes are reported
    /// (what the pre-commit hook runs).
    #[arg(long)]
    pub staged: bool,

    /// Scan history: `A..B`, one revision (everything reachable from it),
    /// or nothing for all refs. Each finding names the commit that
    /// introduced it.
    #[arg(long, value_name = "RANGE", num_args = 0..=1, default_missing_value = "")]
    pub history: Option<String>,

    /// Walk directories without honouring .gitignore and friends.
    #[arg(long)]
    pub no_git: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Ignore findings whose fingerprints are in this baseline file.
    #[arg(long, value_name = "FILE", conflicts_with = "baseline_write")]
    pub baseline: Option<PathBuf>,

    /// Write the fingerprints of all current findings to FILE (sorted, no
    /// secrets, no line numbers) and exit 0.
    #[arg(long, value_name = "FILE")]
    pub baseline_write: Option<PathBuf>,

    /// Do not decrypt the project's secrets to look for their values.
    #[arg(long)]
    pub no_managed: bool,
}

pub fn run(ctx: &Ctx, a: ScanArgs) -> Result<Exit> {
    let dir = std::fs::canonicalize(&ctx.dir).at(&ctx.dir)?;
    let mut setup = scan::setup_for(&dir, ctx.identity.clone(), !a.no_managed)?;
    setup.baseline = a.baseline.as_ref().map(|b| dir.join(b));
    let stdin = a.paths.len() == 1 && a.paths[0].as_os_str() == "-";
    setup.bulk = a.history.is_some() || (!a.staged && !stdin);
    let mut notes = Vec::new();
    let scanner = Scanner::new(&setup, &mut notes)?;
    for n in &notes {
        output::info(n);
    }
    let root = setup.root.clone().unwrap_or_else(|| dir.clone());

    let report = if a.staged {
        let repo = git::open(&dir)?;
        scan::scan_staged(&scanner, &repo)?
    } else if let Some(range) = &a.history {
        let repo = git::open(&dir)?;
        let range = (!range.is_empty()).then_some(range.as_str());
        scan::scan_history(&scanner, &repo, range)?
    } else if stdin {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::msg(format!("cannot read stdin: {e}")))?;
        scan::scan_buffer(&scanner, "-", &buf)
    } else {
        if a.paths.iter().any(|p| p.as_os_str() == "-") {
            return Err(Error::usage(
                "`-` (stdin) cannot be combined with other paths",
            ));
        }
        let paths: Vec<PathBuf> = if a.paths.is_empty() {
            vec![dir.clone()]
        } else {
            a.paths
                .iter()
                .map(|p| std::fs::canonicalize(dir.join(p)).at(p))
                .collect::<Result<_>>()?
        };
        // Shown paths are relative to the scanned directory.
        let shown_base = match paths.as_slice() {
            [one] if one.is_dir() => one.clone(),
            _ => dir.clone(),
        };
        let root = if paths.iter().all(|p| p.starts_with(&root)) {
            root.clone()
        } else {
            shown_base.clone()
        };
        scan::scan_paths(&scanner, &paths, &root, &shown_base, !a.no_git)?
    };

    if let Some(path) = &a.baseline_write {
        let path = dir.join(path);
        allow::write_baseline(
            &path,
            report.findings.iter().map(|f| f.fingerprint.as_str()),
        )?;
        output::info(&format!(
            "wrote {} fingerprint(s) to {}; pass it with --baseline to accept these findings",
            report.findings.len(),
            path.display()
        ));
        return Ok(Exit::Ok);
    }

    match &a.output {
        Some(path) => {
            let mut buf = Vec::new();
            report::write(a.format, &report, &mut buf).map_err(|e| Error::io(path, e))?;
            let path = dir.join(path);
            crate::fsutil::write_atomic(&path, &buf, None)?;
        }
        None => {
            let mut out = anstream::stdout();
            // A reader that went away (`gsec scan | head`) does not change
            // the verdict: the exit code still says whether there were findings.
            if let Err(e) = report::write(a.format, &report, &mut out)
                .and_then(|()| out.flush())
                .map_err(Error::Stdout)
                && !e.is_broken_pipe()
            {
                return Err(e);
            }
        }
    }
    if a.format == Format::Human || a.output.is_some() {
        output::info(&report::summary(&report));
    }
    if report.findings.is_empty() {
        return Ok(Exit::Ok);
    }
    if a.staged {
        blocked_help(&report);
    }
    Ok(Exit::Found)
}

/// What a blocked commit shows: the three ways forward.
fn blocked_help(report: &scan::Report) {
    let mut e = anstream::stderr();
    let first = &report.findings[0];
    let _ = writeln!(
        e,
        "gsec: commit blocked: {} possible secret(s) in the staged change. For each one, either:\n  \
         1. remove it from the file (and `git add` the file again);\n  \
         2. store it encrypted instead: `gsec set NAME` (value on stdin), and read it at run time with `gsec run`;\n  \
         3. or, if it is not a secret, allow it: add a `gsec:allow` comment on its line, or add its fingerprint to .gsecignore:\n       \
         echo '{}' >> .gsecignore",
        report.findings.len(),
        first.fingerprint
    );
}
