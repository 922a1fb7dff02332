//! `gsec scan`: find leaked secrets in files, stdin, the staged change or
//! history, and report them in the chosen format.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{Ctx, Exit, output};
use crate::error::{Error, IoContext, Result};
use crate::git;
use crate::scan::report::{self, Format};
use crate::scan::source::stdin::{self, Stdin};
use crate::scan::source::{history::History, paths::Paths, staged::Staged};
use crate::scan::{self, Kind, Scanner, allow, verify};

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

    /// Ignore findings whose fingerprints are in this baseline file
    /// (instead of `scan.baseline` in .gsec.yaml).
    #[arg(long, value_name = "FILE", conflicts_with = "baseline_write")]
    pub baseline: Option<PathBuf>,

    /// Write the fingerprints of all current findings to FILE (sorted, no
    /// secrets, no line numbers) and exit 0; `scan.baseline` is not applied,
    /// so the new file keeps every finding it accepted.
    #[arg(long, value_name = "FILE")]
    pub baseline_write: Option<PathBuf>,

    /// Read gitleaks rules and allowlists from FILE instead of the
    /// `.gitleaks.toml` at the root (which is read when present).
    #[arg(long, value_name = "FILE")]
    pub gitleaks_config: Option<PathBuf>,

    /// Run the tp/fp samples of every custom rule (`scan.rules`) through
    /// the engine instead of scanning: exit 1 naming each rule and sample
    /// that fails, 2 when a rule does not compile.
    #[arg(long, conflicts_with_all = ["staged", "history", "paths", "baseline_write", "migrate_ignores"])]
    pub check_rules: bool,

    /// Do not decrypt the project's secrets to look for their values.
    #[arg(long)]
    pub no_managed: bool,

    /// Fail (exit 2) when a check could not run fully, e.g. managed-value
    /// detection without an identity that decrypts every environment.
    #[arg(long, conflicts_with = "no_managed")]
    pub strict: bool,

    /// Rewrite old, unkeyed fingerprints in .gsecignore (and --baseline)
    /// to the keyed form, for the findings this scan sees (add --history
    /// to reach findings only in history). Writes a `scan.fingerprint_key`
    /// into .gsec.yaml first if the project has none.
    #[arg(long, conflicts_with_all = ["baseline_write", "staged"])]
    pub migrate_ignores: bool,

    /// Check each finding whose rule declares how (GitHub, GitLab, Slack,
    /// Stripe, OpenAI, ...) at its provider: one side-effect-free request
    /// per distinct credential, only to the rule's host (or its
    /// `scan.validate.endpoints` entry), no redirects followed. Each such
    /// finding says `live`, `invalid` or `unknown` (unreachable, timed out,
    /// unexpected answer) in every format; exit codes are unchanged. Off by
    /// default, and in the pre-commit hook unless `scan.validate.hook` is
    /// true.
    #[arg(long, conflicts_with_all = ["baseline_write", "check_rules", "migrate_ignores"])]
    pub validate: bool,

    /// With --validate (implied): report only findings found live.
    #[arg(long, conflicts_with_all = ["baseline_write", "check_rules", "migrate_ignores"])]
    pub only_live: bool,
}

pub fn run(ctx: &Ctx, a: ScanArgs) -> Result<Exit> {
    let dir = std::fs::canonicalize(&ctx.dir).at(&ctx.dir)?;
    let stdin = a.paths.len() == 1 && a.paths[0].as_os_str() == stdin::NAME;
    let kind = if a.staged {
        Kind::Staged
    } else if a.history.is_some() {
        Kind::History
    } else if stdin {
        Kind::Stdin
    } else {
        Kind::Paths
    };
    if kind == Kind::Paths && a.paths.iter().any(|p| p.as_os_str() == stdin::NAME) {
        return Err(Error::usage(
            "`-` (stdin) cannot be combined with other paths",
        ));
    }
    let mut setup = scan::setup_for(&dir, ctx.identity.clone())?;
    if a.check_rules {
        return check_rules(&setup);
    }
    if a.migrate_ignores && ensure_fingerprint_key(&setup)? {
        setup = scan::setup_for(&dir, ctx.identity.clone())?;
    }
    setup.managed = !a.no_managed;
    if let Some(b) = &a.baseline {
        setup.baseline = Some(dir.join(b));
    }
    if a.baseline_write.is_some() {
        setup.baseline = None;
    }
    setup.migrate = a.migrate_ignores;
    setup.gitleaks_config = a.gitleaks_config.as_ref().map(|p| dir.join(p));
    // The hook validates only when the project says so.
    setup.validate = a.baseline_write.is_none()
        && (a.validate || a.only_live || (a.staged && setup.config.validate.hook));
    let validation = if setup.validate {
        Some(validation_options(&setup)?)
    } else {
        None
    };
    let scanner = Scanner::new(&setup)?;
    for n in scanner.notes() {
        output::info(n);
    }
    let root = setup.root.clone().unwrap_or_else(|| dir.clone());

    let report = match kind {
        Kind::Staged => scan::run(
            &scanner,
            &Staged {
                repo: &git::open(&dir)?,
            },
        )?,
        Kind::History => {
            let repo = git::open(&dir)?;
            let range = a.history.as_deref().filter(|r| !r.is_empty());
            scan::run(&scanner, &History { repo: &repo, range })?
        }
        Kind::Stdin => scan::run(&scanner, &Stdin::new(std::io::stdin().lock()))?,
        Kind::Paths => {
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
            let source = Paths {
                paths: &paths,
                root: &root,
                shown_base: &shown_base,
                git: !a.no_git,
            };
            scan::run(&scanner, &source)?
        }
    };

    let mut report = report;
    if let Some(opts) = &validation {
        verify::run(&mut report, opts);
        if a.only_live {
            report.findings.retain(|f| {
                f.validation
                    .as_ref()
                    .is_some_and(|v| v.status == verify::Status::Live)
            });
        }
    }
    if a.migrate_ignores {
        let mut files = vec![root.join(allow::IGNORE_FILE)];
        files.extend(setup.baseline.clone());
        migrate_ignores(&mut report, &files, &dir)?;
    }
    diagnostics(&report);
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
        incomplete(&report, a.strict)?;
        return Ok(Exit::Ok);
    }
    match &a.output {
        Some(path) => {
            let bytes = render(a.format, &report, anstream::ColorChoice::Never)?;
            crate::fsutil::write_output(&dir.join(path), &bytes, None)?;
        }
        None => {
            let color = anstream::AutoStream::choice(&std::io::stdout());
            // A reader that went away (`gsec scan | head`) does not change
            // the verdict: the exit code still says what the scan found.
            match output::stdout(&render(a.format, &report, color)?) {
                Err(e) if e.is_broken_pipe() => {}
                r => r?,
            }
        }
    }
    if a.format == Format::Human || a.output.is_some() {
        output::info(&report::summary(&report));
    }
    let exit = verdict(&report, a.strict)?;
    if exit == Exit::Found && a.staged {
        blocked_help(&report);
    }
    Ok(exit)
}

/// `--check-rules`: every custom rule's samples through the engine. Rules
/// that cannot run are an error (exit 2); failing samples exit 1, each
/// named on stderr.
fn check_rules(setup: &scan::Setup) -> Result<Exit> {
    let rules = &setup.config.rules;
    let config = setup
        .project
        .as_ref()
        .map(|p| p.config_path.clone())
        .unwrap_or_else(|| PathBuf::from(crate::config::FILE_NAME));
    if rules.is_empty() {
        output::info("no custom rules (scan.rules in .gsec.yaml) to check");
        return Ok(Exit::Ok);
    }
    let outcome = scan::check_rules(rules);
    for f in &outcome.failures {
        output::error_line(f);
    }
    if !outcome.broken.is_empty() {
        return Err(Error::file(&config, outcome.broken.join("; ")));
    }
    let samples: usize = rules.iter().map(|r| r.tp.len() + r.fp.len()).sum();
    if outcome.failures.is_empty() {
        output::info(&format!(
            "{} custom rule(s), {samples} sample(s): all pass",
            rules.len()
        ));
        Ok(Exit::Ok)
    } else {
        output::info(&format!(
            "{} of {samples} sample(s) failed",
            outcome.failures.len()
        ));
        Ok(Exit::Found)
    }
}

/// `--migrate-ignores`, first step: a project without a fingerprint key
/// gets a fresh one in `.gsec.yaml` (unless `GSEC_FINGERPRINT_KEY` is
/// set). Returns whether the configuration changed.
fn ensure_fingerprint_key(setup: &scan::Setup) -> Result<bool> {
    let Some(project) = &setup.project else {
        output::warn(&format!(
            "no .gsec.yaml: fingerprints are keyed with {} (set it, or run `gsec init`, to key them with a repository secret)",
            if std::env::var_os(allow::KEY_ENV).is_some_and(|v| !v.is_empty()) {
                format!("{} only", allow::KEY_ENV)
            } else {
                "gsec's public key".to_string()
            }
        ));
        return Ok(false);
    };
    if project.config.scan.fingerprint_key.is_some() {
        return Ok(false);
    }
    project.update_config(|cfg| {
        let added = cfg.scan.fingerprint_key.is_none();
        if added {
            cfg.scan.fingerprint_key = Some(allow::Key::generate_hex());
        }
        Ok(((), added))
    })?;
    output::info(&format!(
        "wrote a new scan.fingerprint_key to {}: commit it with the rewritten fingerprints",
        project.rel(&project.config_path)
    ));
    Ok(true)
}

/// `--migrate-ignores`, second step: in each fingerprint file, replace
/// every old entry that allowed a finding of this scan with the finding's
/// keyed fingerprint (comments, order and other lines kept), and drop
/// those findings from the report (they stay allowed). Old entries that
/// matched nothing are kept and counted.
fn migrate_ignores(
    report: &mut scan::Report,
    files: &[PathBuf],
    dir: &std::path::Path,
) -> Result<()> {
    let map: std::collections::HashMap<String, String> = report
        .findings
        .iter()
        .filter_map(|f| f.legacy.clone().map(|old| (old, f.fingerprint.clone())))
        .collect();
    report.findings.retain(|f| f.legacy.is_none());
    for path in files {
        if !path.exists() {
            continue;
        }
        let _lock = crate::fsutil::lock(path)?;
        let Some(bytes) = crate::fsutil::read_regular(path, crate::fsutil::MAX_CONFIG_FILE)? else {
            continue;
        };
        let text = String::from_utf8(bytes).map_err(|_| Error::file(path, "not UTF-8 text"))?;
        let (mut migrated, mut left) = (0, 0);
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let body = line.trim();
            match map.get(body) {
                Some(new) => {
                    migrated += 1;
                    out.push_str(&line.replacen(body, new, 1));
                }
                None => {
                    if !body.starts_with('#') && allow::is_legacy(body) {
                        left += 1;
                    }
                    out.push_str(line);
                }
            }
        }
        if migrated > 0 {
            crate::fsutil::write_atomic(path, out.as_bytes(), None)?;
        }
        let shown = path.strip_prefix(dir).unwrap_or(path).display();
        output::info(&format!(
            "{shown}: {migrated} fingerprint(s) migrated to the keyed form"
        ));
        if left > 0 {
            report.warnings.push(format!(
                "{shown}: {left} old fingerprint(s) matched no finding of this scan and were left as they are: scan with --history to reach findings only in history, or delete them if they are stale"
            ));
        }
    }
    Ok(())
}

/// The report in `format`, as bytes (colour per `color`): one printer for
/// stdout and `--output`.
fn render(format: Format, report: &scan::Report, color: anstream::ColorChoice) -> Result<Vec<u8>> {
    let mut out = anstream::AutoStream::new(Vec::new(), color);
    report::write(format, report, &mut out)
        .map_err(|e| Error::msg(format!("cannot format the report: {e}")))?;
    Ok(out.into_inner())
}

/// Warnings and unreadable items on stderr, one line each, whatever the
/// format (the machine formats carry them too).
pub(super) fn diagnostics(report: &scan::Report) {
    for w in &report.warnings {
        output::warn(w);
    }
    for e in &report.errors {
        output::error_line(&e.to_string());
    }
}

/// An incomplete scan is an error (exit 2), even with findings: items that
/// could not be read, or (with `strict`) a check that did not run fully.
pub(super) fn incomplete(report: &scan::Report, strict: bool) -> Result<()> {
    let n = report.errors.len();
    if n > 0 {
        return Err(Error::msg(format!(
            "scan incomplete: {n} item{} could not be read",
            if n == 1 { "" } else { "s" }
        )));
    }
    if strict && !report.warnings.is_empty() {
        return Err(Error::msg(format!(
            "scan incomplete (--strict): {} warning(s) above",
            report.warnings.len()
        )));
    }
    Ok(())
}

/// The exit code of a scan: 2 when incomplete, else 1 with findings.
/// How `--validate` reaches providers (`scan.validate` in `.gsec.yaml`);
/// a bad setting is an error naming the file. An untrusted configuration
/// ([`scan::Setup::trust_project_validators`] off) maps no host elsewhere.
pub(super) fn validation_options(setup: &scan::Setup) -> Result<verify::Options> {
    let mut opts =
        verify::Options::from_config(&setup.config.validate).map_err(|e| match &setup.project {
            Some(p) => Error::file(&p.config_path, e),
            None => Error::msg(e),
        })?;
    if !setup.trust_project_validators {
        opts.endpoints.clear();
    }
    Ok(opts)
}

pub(super) fn verdict(report: &scan::Report, strict: bool) -> Result<Exit> {
    incomplete(report, strict)?;
    Ok(if report.findings.is_empty() {
        Exit::Ok
    } else {
        Exit::Found
    })
}

/// What a blocked commit shows: the three ways forward.
fn blocked_help(report: &scan::Report) {
    let mut e = anstream::stderr();
    // Every fingerprint, not only the first: allowing one finding should
    // not take a second blocked commit to learn the next one.
    let mut allow = String::new();
    for f in &report.findings {
        allow.push_str(&format!(
            "\n       echo '{}' >> .gsecignore   # {}:{}",
            f.fingerprint, f.file, f.line
        ));
    }
    let _ = writeln!(
        e,
        "gsec: commit blocked: {} possible secret(s) in the staged change. For each one, either:\n  \
         1. remove it from the file (and `git add` the file again);\n  \
         2. store it encrypted instead: `gsec set NAME` (value on stdin), and read it at run time with `gsec run`;\n  \
         3. or, if it is not a secret, allow it: add a `gsec:allow` comment on its line, or add its fingerprint to .gsecignore:{allow}",
        report.findings.len(),
    );
}
