//! `gsec action load|check|scan`: what the GitHub Action (`action.yml`) runs,
//! so that all of its logic lives here, tested, and the YAML stays thin.
//!
//! Everything GitHub-specific comes from the runner's environment:
//! `GITHUB_EVENT_NAME`/`GITHUB_EVENT_PATH` (which commits to scan),
//! `GITHUB_ENV`/`GITHUB_OUTPUT` (values and outputs), `GITHUB_STEP_SUMMARY`
//! (the job summary). Annotations go to stdout as workflow commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::check::{self, CheckFormat};
use super::{Ctx, Exit, output};
use crate::envs::DEFAULT_ENV;
use crate::error::{Error, IoContext, Result};
use crate::github::{self, md_cell};
use crate::scan::report::{self, Format};
use crate::scan::source::history::History;
use crate::scan::{self, Scanner};
use crate::{fsutil, git};

#[derive(Debug, Subcommand)]
pub enum ActionCmd {
    /// Mask and load an environment's secrets into the job ($GITHUB_ENV).
    Load(LoadArgs),
    /// Fail the job, with annotations and a summary, when secrets are missing.
    Check(ActionCheckArgs),
    /// Scan the commits of this push or pull request; annotations, summary, SARIF.
    Scan(ActionScanArgs),
    /// Fold values sealed by encrypt-only contributors into the environment
    /// files this job's key decrypts (then commit them, or open a PR).
    InboxMerge(ActionInboxArgs),
}

#[derive(Debug, Args)]
pub struct ActionInboxArgs {
    /// Environments to merge (default: every one with sealed values that
    /// this job's key decrypts).
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Environment (default: development; inheritance applies).
    #[arg(long = "env", short = 'e', env = "GSEC_ENV", default_value = DEFAULT_ENV)]
    pub env: String,
    /// Only these secrets (names or variable names; commas or newlines).
    #[arg(long, value_name = "NAMES")]
    pub secrets: Option<String>,
    /// Only the secrets granted to this service (`services:` in
    /// .gsec.yaml), from its derived files when the job holds the
    /// service's key.
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Set step outputs ($GITHUB_OUTPUT) instead of environment variables.
    #[arg(long)]
    pub output: bool,
}

#[derive(Debug, Args)]
pub struct ActionCheckArgs {
    /// Environments to check (default: all).
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ActionScanArgs {
    /// Where to write the SARIF report (for github/codeql-action/upload-sarif).
    #[arg(long, default_value = "gsec.sarif")]
    pub sarif_file: PathBuf,
    /// Scan this range instead of the one the event implies.
    #[arg(long)]
    pub range: Option<String>,
    /// Check each finding whose rule declares how at its provider, as
    /// `gsec scan --validate` does (`scan.validate` in .gsec.yaml applies):
    /// a live credential is an error annotation saying so, a revoked one a
    /// warning; the verdict (exit 1 on any finding) is unchanged. On
    /// pull_request(_target) events .gsec.yaml is the pull request's own:
    /// its endpoints and custom rules' checks are ignored, with a warning.
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub validate: bool,
}

pub fn run(ctx: &Ctx, cmd: ActionCmd) -> Result<Exit> {
    match cmd {
        ActionCmd::Load(a) => load(ctx, a),
        ActionCmd::Check(a) => check_cmd(ctx, a),
        ActionCmd::Scan(a) => scan_cmd(ctx, a),
        ActionCmd::InboxMerge(a) => inbox_merge(ctx, a),
    }
}

/// `inbox-merge`: merge what this key can, say what it cannot (an
/// environment named with `--env` that it cannot decrypt is an error), and
/// set `merged` (how many values) and `environments` for the next step.
fn inbox_merge(ctx: &Ctx, a: ActionInboxArgs) -> Result<Exit> {
    let project = ctx.project()?;
    let named = !a.envs.is_empty();
    let envs = project.select_envs(&a.envs)?;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for env in &envs {
        if crate::inbox::entries(&project, env)?.is_empty() {
            continue;
        }
        if !project.can_decrypt(env)? {
            if named {
                return Err(Error::msg(format!(
                    "inbox-merge: this job's key cannot decrypt {env}; pass the age-key of one of its recipients"
                )));
            }
            skipped.push(env.clone());
            continue;
        }
        let m = crate::inbox::merge(&project, env)?;
        rows.push((env.clone(), m.names));
    }
    let merged: usize = rows.iter().map(|(_, n)| n.len()).sum();
    let mut md = String::from(
        "### gsec inbox merge

",
    );
    if rows.is_empty() {
        md.push_str(
            "No sealed values to merge.
",
        );
    } else {
        md.push_str(
            "| environment | merged |
|---|---|
",
        );
        for (env, names) in &rows {
            md.push_str(&format!(
                "| {} | {} |
",
                md_cell(env),
                md_cell(&names.join(", "))
            ));
        }
    }
    for env in &skipped {
        md.push_str(&format!(
            "\n{} has sealed values this job's key cannot decrypt: a recipient of it must merge them.\n",
            md_cell(env)
        ));
        warning(
            "gsec inbox",
            &format!("{env}: sealed values wait for a recipient of {env}"),
        )?;
    }
    github::append_to("GITHUB_STEP_SUMMARY", &md)?;
    let envs_out: Vec<&str> = rows.iter().map(|(e, _)| e.as_str()).collect();
    github::append_to(
        "GITHUB_OUTPUT",
        &format!("merged={merged}\nenvironments={}\n", envs_out.join(",")),
    )?;
    output::info(&format!("merged {merged} sealed value(s)"));
    Ok(Exit::Ok)
}

fn load(ctx: &Ctx, a: LoadArgs) -> Result<Exit> {
    let project = ctx.project()?;
    let mut vars = crate::export::checked_variables(&project, &a.env, a.service.as_deref())?;
    let wanted: Vec<String> = a
        .secrets
        .as_deref()
        .unwrap_or("")
        .split([',', '\n', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // Leases: minted now for this job, masked like every value, never
    // stored. The job's later steps cannot be watched: the expiry is said.
    let mut minted = crate::lease::mint_some(
        &project,
        &a.env,
        a.service.as_deref(),
        |names| {
            wanted.is_empty()
                || names
                    .iter()
                    .any(|n| wanted.iter().any(|w| w.eq_ignore_ascii_case(n)))
        },
        output::info,
    )?;
    for m in &minted {
        output::info(&format!(
            "minted lease {}, valid until {}: steps that run after that get an expired credential",
            m.secret,
            m.expiry_text()
        ));
    }
    crate::lease::merge(&mut vars, &mut minted)?;
    if !wanted.is_empty() {
        for w in &wanted {
            if !vars
                .iter()
                .any(|v| v.name.eq_ignore_ascii_case(w) || v.secret.eq_ignore_ascii_case(w))
            {
                return Err(Error::NotFound {
                    name: w.clone(),
                    env: a.env.clone(),
                    hint: String::new(),
                });
            }
        }
        vars.retain(|v| {
            wanted
                .iter()
                .any(|w| v.name.eq_ignore_ascii_case(w) || v.secret.eq_ignore_ascii_case(w))
        });
    }
    super::export::github(&vars, a.output)
}

fn check_cmd(ctx: &Ctx, a: ActionCheckArgs) -> Result<Exit> {
    let project = ctx.project()?;
    let envs = project.select_envs(&a.envs)?;
    let problems = check::problems(&project, &envs)?;
    check::print(&problems, &envs, CheckFormat::Github)?;
    let mut md = format!("### gsec check: {}\n\n", envs.join(", "));
    if problems.is_empty() {
        md.push_str("All required secrets are set, and every file decrypts and verifies.\n");
    } else {
        md.push_str(&format!(
            "**{} problem(s)**\n\n| Environment | Problem |\n|---|---|\n",
            problems.len()
        ));
        for p in &problems {
            md.push_str(&format!(
                "| {} | {} |\n",
                md_cell(p.environment.as_deref().unwrap_or("-")),
                md_cell(&p.message)
            ));
        }
    }
    github::append_to("GITHUB_STEP_SUMMARY", &md)?;
    github::append_to("GITHUB_OUTPUT", &format!("problems={}\n", problems.len()))?;
    Ok(if problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Found
    })
}

fn scan_cmd(ctx: &Ctx, a: ActionScanArgs) -> Result<Exit> {
    let dir = std::fs::canonicalize(&ctx.dir).at(&ctx.dir)?;
    let repo = git::open(&dir)?;
    let event = std::env::var("GITHUB_EVENT_NAME").unwrap_or_default();
    let range: Option<Option<String>> = match a.range {
        Some(r) => Some(Some(r)),
        None => {
            let payload = match std::env::var_os("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) {
                Some(p) => {
                    let p = std::path::PathBuf::from(p);
                    let b = crate::fsutil::read_bounded(&p, crate::fsutil::MAX_SECRETS_FILE)?;
                    let text = String::from_utf8(b)
                        .map_err(|_| Error::file(&p, "not a JSON event payload: not UTF-8"))?;
                    serde_json::from_str(&text)
                        .map_err(|e| Error::file(&p, format!("not a JSON event payload: {e}")))?
                }
                None => serde_json::Value::Null,
            };
            github::event_range(&event, &payload, |r| repo.find_reference(r).is_ok())
        }
    };
    let what = match &range {
        Some(Some(r)) => format!("commits {r}"),
        Some(None) => "nothing (branch deleted)".to_string(),
        None => "all history".to_string(),
    };
    output::info(&format!("scanning {what}"));
    // Given a key (the `age-key` input becomes GSEC_AGE_KEY), the job
    // expects managed values to be searched for: not being able to is an
    // error, as `gsec scan --strict` makes it, not a pass.
    let strict =
        ctx.identity.is_some() || std::env::var_os("GSEC_AGE_KEY").is_some_and(|k| !k.is_empty());
    // A pull request's checkout holds its own `.gsec.yaml`: it may not say
    // where validation sends what the scan found (which can be the base
    // repository's history), so its endpoints and custom checks are left
    // out and built-in rules ask their own providers only.
    let validate = Validate {
        on: a.validate,
        trusted: !untrusted_event(&event),
    };
    let (report, ignored) = match &range {
        Some(None) => (scan::Report::default(), Vec::new()),
        Some(Some(r)) => history(ctx, &dir, &repo, Some(r), validate)?,
        None => history(ctx, &dir, &repo, None, validate)?,
    };
    let ignored = (!ignored.is_empty()).then(|| {
        format!(
            "validate on a {event} run ignored {}: this .gsec.yaml is the pull request's own, which could send the credentials found to a host of its choosing. Built-in rules were checked at their providers' own hosts; findings of custom rules are reported unchecked.",
            ignored.join(" and ")
        )
    });
    if let Some(msg) = &ignored {
        warning("gsec validate", msg)?;
    }
    let mut annotations = Vec::new();
    report::write(Format::Github, &report, &mut annotations).map_err(Error::Stdout)?;
    output::stdout(&annotations)?;
    let sarif_path = dir.join(&a.sarif_file);
    let mut sarif = Vec::new();
    report::write(Format::Sarif, &report, &mut sarif).map_err(|e| Error::msg(e.to_string()))?;
    fsutil::write_output(&sarif_path, &sarif, None)?;
    let n = report.findings.len();
    let mut md = format!("### gsec scan\n\nScanned {what}: **{n} finding(s)**.\n");
    if n > 0 {
        md.push_str("\n| File | Line | Rule | Commit | Fingerprint |");
        md.push_str(if a.validate { " Validation |\n" } else { "\n" });
        md.push_str("|---|---|---|---|---|");
        md.push_str(if a.validate { "---|\n" } else { "\n" });
        for f in &report.findings {
            let commit = f
                .commit
                .as_deref()
                .map(|c| c.get(..12).unwrap_or(c))
                .unwrap_or("-");
            md.push_str(&format!(
                "| {} | {} | {} | {} | `{}` |",
                md_cell(&f.file),
                f.line,
                md_cell(f.rule),
                commit,
                md_cell(&f.fingerprint)
            ));
            if a.validate {
                let v = f.validation.as_ref().map_or_else(
                    || "not checked (no check for this rule)".to_string(),
                    |v| format!("**{}** ({})", v.status.as_str(), v.reason),
                );
                md.push_str(&format!(" {} |", md_cell(&v)));
            }
            md.push('\n');
        }
        md.push_str("\nEach was introduced by the commit shown. Remove the secret (and rotate it: it is in the history), store it with `gsec set`, or allow it by adding its fingerprint to `.gsecignore`.\n");
    }
    if let Some(msg) = &ignored {
        md.push_str(&format!("\n> **Warning:** {}\n", md_cell(msg)));
    }
    for w in &report.warnings {
        md.push_str(&format!("\n> **Warning:** {}\n", md_cell(w)));
    }
    for e in &report.errors {
        md.push_str(&format!(
            "\n> **Not scanned:** {}\n",
            md_cell(&e.to_string())
        ));
    }
    github::append_to("GITHUB_STEP_SUMMARY", &md)?;
    github::append_to(
        "GITHUB_OUTPUT",
        &format!("findings={n}\nsarif-file={}\n", sarif_path.display()),
    )?;
    output::info(&report::summary(&report));
    super::scan::verdict(&report, strict)
}

/// A file-less `::warning::` annotation titled `title`.
fn warning(title: &str, msg: &str) -> Result<()> {
    output::outln!(
        "{}",
        github::annotation(github::Level::Warning, None, None, None, title, msg)
    );
    Ok(())
}

/// Events whose checkout (and so `.gsec.yaml`) a pull request's author
/// controls: `pull_request`, `pull_request_target` and the review events.
fn untrusted_event(event: &str) -> bool {
    event.starts_with("pull_request")
}

/// `--validate`, and whether the checkout's `.gsec.yaml` may say where
/// validation sends credentials.
#[derive(Clone, Copy)]
struct Validate {
    on: bool,
    trusted: bool,
}

/// The history scan, set up as `gsec scan --history [--validate]` sets
/// it up; with what validation left out of an untrusted configuration.
fn history(
    ctx: &Ctx,
    dir: &std::path::Path,
    repo: &gix::Repository,
    range: Option<&str>,
    validate: Validate,
) -> Result<(scan::Report, Vec<String>)> {
    let mut setup = scan::setup_for(dir, ctx.identity.clone())?;
    setup.validate = validate.on;
    setup.trust_project_validators = validate.trusted;
    let validation = match validate.on {
        true => Some(super::scan::validation_options(&setup)?),
        false => None,
    };
    let scanner = Scanner::new(&setup)?;
    for n in scanner.notes() {
        output::info(n);
    }
    let mut report = scan::run(&scanner, &History { repo, range })?;
    if let Some(opts) = &validation {
        scan::verify::run(&mut report, opts);
    }
    Ok((report, scanner.ignored_validators().to_vec()))
}
