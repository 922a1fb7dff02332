//! `gsec rotate`: turn flags into rotation targets and outcomes into
//! output. The protocol itself lives in `crate::rotate`.

use std::time::SystemTime;

use clap::{ArgGroup, Args};

use super::output::outln;
use super::{Ctx, Exit, output};
use crate::error::{Error, Result};
use crate::plugin;
use crate::project::Project;
use crate::rotate::{self, Aborted, Note, Outcome, Rotator, Target, journal};
use crate::state::State;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["name", "due", "resume", "exposed"])))]
pub struct RotateArgs {
    /// Secret to rotate (declared in .gsec.yaml with a `rotation:`).
    pub name: Option<String>,
    /// Environment(s), comma-separated. Default with NAME: every
    /// environment whose own file holds NAME (or that has an interrupted
    /// rotation of it); otherwise all environments.
    #[arg(long = "env", short = 'e', value_delimiter = ',')]
    pub envs: Vec<String>,
    /// Say what would happen; run no plugin and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rotate every secret whose `rotation.every` has elapsed, and finish
    /// rotations whose grace period is over.
    #[arg(long, conflicts_with_all = ["name", "resume", "exposed"])]
    pub due: bool,
    /// Finish every interrupted rotation from the step it stopped at.
    /// Running it again when nothing is pending does nothing.
    #[arg(long, conflicts_with_all = ["name", "exposed"])]
    pub resume: bool,
    /// Rotate the secrets that `gsec updatekeys` found readable by a
    /// removed recipient; list those that need rotating by hand (exit 1).
    #[arg(long, conflicts_with = "name")]
    pub exposed: bool,
    /// Stop the interrupted rotation of NAME instead of finishing it: the
    /// new credential is revoked and the environment file left as it is.
    #[arg(long, requires = "name", conflicts_with = "dry_run")]
    pub abort: bool,
    /// Report outcomes as JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: super::ListFormat,
}

pub fn run(ctx: &Ctx, a: RotateArgs) -> Result<Exit> {
    let project = ctx.project()?;
    let all_envs = project.select_envs(&a.envs)?;
    let json = a.format == super::ListFormat::Json;
    let now = test_now()?;
    let r = Rotator::new(&project)
        .notify(super::plugin::debug_requested(), |note, msg| match note {
            Note::Info => output::info(msg),
            Note::Warning => output::warn(msg),
        })
        .clock(move || now.unwrap_or_else(SystemTime::now));
    if a.resume {
        return resume(&r, &all_envs, a.dry_run, json);
    }
    if a.due {
        return due(&project, &r, &all_envs, a.dry_run, json);
    }
    if a.exposed {
        return exposed(&project, &r, &all_envs, a.dry_run, json);
    }
    let Some(name) = a.name.as_deref() else {
        return Err(Error::usage(
            "name a secret, or use --due, --resume or --exposed",
        ));
    };
    let (name, _) = r.rotation(name)?;
    let envs = if a.envs.is_empty() {
        let mut with: Vec<String> = Vec::new();
        for env in project.config.environments.keys() {
            let has = |names: Vec<String>| names.iter().any(|n| n.eq_ignore_ascii_case(&name));
            if has(rotate::own_names(&project, env)?) || has(rotate::journal_names(&project, env)?)
            {
                with.push(env.clone());
            }
        }
        if with.is_empty() {
            return Err(Error::usage(format!(
                "'{name}' has no value in any environment yet: say where to create one with --env"
            )));
        }
        with
    } else {
        a.envs.clone()
    };
    let targets: Vec<Target> = envs
        .into_iter()
        .map(|env| Target {
            name: name.clone(),
            env,
        })
        .collect();
    if a.abort {
        for t in &targets {
            match r.abort(t)? {
                Aborted::Revoked => output::info(&format!(
                    "aborted the rotation of {} in {}: its new credential was revoked; nothing changed",
                    t.name, t.env
                )),
                Aborted::Forgotten => output::warn(&format!(
                    "aborted the rotation of {} in {} before its new credential was journaled; if the plugin created one, it may remain at the provider",
                    t.name, t.env
                )),
                Aborted::Nothing => output::info(&format!(
                    "no rotation of {} in {} is in progress",
                    t.name, t.env
                )),
            }
        }
        return Ok(Exit::Ok);
    }
    if a.dry_run {
        return plan(&project, &r, &targets);
    }
    run_all(&r, &targets, json)
}

/// Testing only: debug builds take "now" from `GSEC_TEST_NOW` (RFC 3339),
/// so tests step past a grace period or `rotation.every` without sleeping.
/// Compiled out of release builds, like `GSEC_TEST_CRASH_AFTER`: a
/// released gsec always reads the system clock.
fn test_now() -> Result<Option<SystemTime>> {
    #[cfg(debug_assertions)]
    if let Some(v) = std::env::var_os("GSEC_TEST_NOW") {
        return humantime::parse_rfc3339_weak(&v.to_string_lossy())
            .map(Some)
            .map_err(|e| Error::usage(format!("GSEC_TEST_NOW: {e}")));
    }
    Ok(None)
}

/// Run targets one after another (one failure does not stop the rest),
/// report each, and fail if any failed.
fn run_all(r: &Rotator, targets: &[Target], json: bool) -> Result<Exit> {
    let results: Vec<(Target, Result<Outcome>)> =
        targets.iter().map(|t| (t.clone(), r.rotate(t))).collect();
    report(results, json)
}

fn report(results: Vec<(Target, Result<Outcome>)>, json: bool) -> Result<Exit> {
    let total = results.len();
    if json {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|(t, res)| {
                let (outcome, detail) = match res {
                    Ok(Outcome::Rotated) => ("rotated", String::new()),
                    Ok(Outcome::AwaitingRevoke { after }) => ("awaiting-revoke", format!("previous credential valid until {after}")),
                    Ok(Outcome::RolledBack { reason }) => ("rolled-back", reason.clone()),
                    Err(e) => ("failed", e.to_string()),
                };
                serde_json::json!({"secret": t.name, "environment": t.env, "outcome": outcome, "detail": detail})
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"rotations": items})).expect("json")
        );
    }
    let mut failures = Vec::new();
    for (t, res) in results {
        match res {
            Ok(Outcome::Rotated) => output::info(&format!("rotated {} in {}", t.name, t.env)),
            Ok(Outcome::AwaitingRevoke { after }) => output::info(&format!(
                "{} in {}: the new value is in use; the previous credential stays valid until {after} (then `gsec rotate --resume` or `--due` revokes it)",
                t.name, t.env
            )),
            Ok(Outcome::RolledBack { reason }) => failures.push(format!(
                "{} in {}: the new credential failed verification and was revoked; nothing changed: {reason}",
                t.name, t.env
            )),
            Err(e) => failures.push(format!("{} in {}: {e}", t.name, t.env)),
        }
    }
    // One failure is the error itself (one line); several are listed, then
    // summed up.
    match failures.len() {
        0 => Ok(Exit::Ok),
        1 if total == 1 => Err(Error::msg(failures.remove(0))),
        n => {
            for f in &failures {
                output::error_line(f);
            }
            Err(Error::msg(format!(
                "{n} of {total} rotations failed (see above)"
            )))
        }
    }
}

fn resume(r: &Rotator, envs: &[String], dry_run: bool, json: bool) -> Result<Exit> {
    if dry_run {
        let pending = r.pending(envs)?;
        print_pending(&pending)?;
        if pending.is_empty() {
            output::info("no rotation to resume");
        }
        return Ok(Exit::Ok);
    }
    let results = r.resume(envs);
    if results.is_empty() {
        output::info("no rotation to resume");
        return Ok(Exit::Ok);
    }
    report(results, json)
}

/// `--dry-run`: the interrupted rotations `--resume` (or `--due`) would finish.
fn print_pending(pending: &[(Target, journal::Pending)]) -> Result<()> {
    for (t, p) in pending {
        outln!(
            "would resume {} in {} (started {}, at step '{}'{})",
            t.name,
            t.env,
            p.started,
            p.step.as_str(),
            p.last_error
                .as_ref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn due(project: &Project, r: &Rotator, envs: &[String], dry_run: bool, json: bool) -> Result<Exit> {
    let targets = r.due(envs, test_now()?.unwrap_or_else(SystemTime::now))?;
    if dry_run {
        let pending = r.pending(envs)?;
        print_pending(&pending)?;
        let fresh: Vec<Target> = targets
            .into_iter()
            .filter(|t| !pending.iter().any(|(p, _)| p == t))
            .collect();
        if pending.is_empty() && fresh.is_empty() {
            output::info("no rotation is due");
        }
        return plan(project, r, &fresh);
    }
    // Finish what is pending first (grace periods that ended), then start
    // what is due; a target with a pending entry continues it.
    let mut results = r.resume(envs);
    let done: Vec<Target> = results.iter().map(|(t, _)| t.clone()).collect();
    for t in targets.into_iter().filter(|t| !done.contains(t)) {
        let res = r.rotate(&t);
        results.push((t, res));
    }
    if results.is_empty() {
        output::info("no rotation is due");
        return Ok(Exit::Ok);
    }
    report(results, json)
}

fn exposed(
    project: &Project,
    r: &Rotator,
    envs: &[String],
    dry_run: bool,
    json: bool,
) -> Result<Exit> {
    let st = State::load(&project.root)?;
    let mut targets = Vec::new();
    let mut manual = Vec::new();
    for (env, names) in &st.exposed {
        if !envs.contains(env) {
            continue;
        }
        for (name, exp) in names {
            let t = Target {
                name: name.clone(),
                env: env.clone(),
            };
            match r.rotation(name) {
                Ok(_) => targets.push(t),
                Err(_) => manual.push((t, exp.since.clone())),
            }
        }
    }
    // What git history shows (`gsec exposure`): a current value that a
    // former recipient could read in an old commit.
    match crate::history::exposure(project, envs) {
        Ok(found) => {
            for u in &found.unchecked {
                output::warn(&format!("exposure not checked: {u}"));
            }
            for e in found.exposed {
                let t = Target {
                    name: e.name.clone(),
                    env: e.env.clone(),
                };
                if targets.contains(&t) || manual.iter().any(|(m, _)| *m == t) {
                    continue;
                }
                let since = format!(
                    "commit {}",
                    e.last_commit.chars().take(10).collect::<String>()
                );
                match r.rotation(&e.name) {
                    Ok(_) => targets.push(t),
                    Err(_) => manual.push((t, since)),
                }
            }
        }
        // Not a git repository: only what `recipients rm` recorded.
        Err(Error::Git { .. }) => {}
        Err(e) => return Err(e),
    }
    if targets.is_empty() && manual.is_empty() {
        output::info(
            "no exposed secrets (recorded by `gsec recipients rm`, or readable by a former recipient in git history)",
        );
        return Ok(Exit::Ok);
    }
    let res = if dry_run {
        plan(project, r, &targets)
    } else {
        run_all(r, &targets, json)
    };
    for (t, since) in &manual {
        output::warn(&format!(
            "{} in {} was readable by a removed recipient (since {since}) and has no rotation configured: rotate it by hand, then `gsec set` it",
            t.name, t.env
        ));
    }
    match res {
        Ok(_) if !manual.is_empty() => Ok(Exit::Found),
        other => other,
    }
}

/// `--dry-run`: what each target would do. Reads the plugin file to check
/// its pin but runs nothing.
fn plan(project: &Project, r: &Rotator, targets: &[Target]) -> Result<Exit> {
    for t in targets {
        let (name, rot) = r.rotation(&t.name)?;
        let decl = project.config.plugins.get(&rot.plugin);
        let pin = match decl {
            None => "not configured".to_string(),
            Some(d) => match plugin::pin_status(&project.root, d) {
                plugin::Pin::Ok => format!("{}, sha256 pin ok", d.path),
                plugin::Pin::Mismatch => format!("{}, SHA256 MISMATCH: would be refused", d.path),
                plugin::Pin::Unreadable(e) => format!("{}: {e}", d.path),
            },
        };
        let journal = journal::path(project, &t.env);
        let revoke = match &rot.grace {
            Some(g) => format!("revoke the previous credential after {g}"),
            None => "revoke the previous credential".to_string(),
        };
        let inputs = if rot.inputs.is_empty() {
            String::new()
        } else {
            format!(" with inputs {}", rot.inputs.join(", "))
        };
        outln!(
            "would rotate {name} in {} with plugin '{}' ({pin}){inputs}: create, store it pending in {}, verify, write {}, {revoke}",
            t.env,
            rot.plugin,
            project.rel(&journal),
            project.rel(&project.env_file(&t.env)),
        );
    }
    Ok(Exit::Ok)
}
