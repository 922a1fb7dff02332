//! Crash-safe credential rotation.
//!
//! Modelled on AWS Secrets Manager's create/set/test/finish steps with
//! AWSPENDING/AWSCURRENT/AWSPREVIOUS, and on Vault's write-ahead log: a
//! rotation is a small state machine ([`journal::Step`]) whose every
//! transition is written to the encrypted [`journal`] before the next,
//! possibly irreversible, action:
//!
//! 1. start: record a random token and the current credential (previous);
//! 2. `create` at the provider (the token is the idempotency key), then at
//!    once store the new value, encrypted, as pending;
//! 3. `verify` the pending value. When the plugin rejects it: revoke it,
//!    leave the environment file untouched. When the plugin could not
//!    answer (time budget, crash, "retry later"): keep it pending and stop;
//!    `--resume` verifies again, `--abort` revokes it;
//! 4. promote: write it into the environment file, keep the previous one;
//! 5. `revoke` the previous credential (after `rotation.grace`), record the
//!    rotation time in `.gsec/state.yaml`, forget the entry.
//!
//! A crash anywhere leaves the journal at the last completed step; resuming
//! redoes at most one step, and each is idempotent. The one window the
//! journal cannot close, a crash after the provider made a credential but
//! before the journal holds it, is closed by the plugin: `create` gets the
//! same token again and must find or replace what the first call made.

pub mod journal;

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::SystemTime;

use indexmap::IndexMap;
use zeroize::Zeroizing;

use crate::config::Rotation;
use crate::envs::Resolver;
use crate::error::{Error, Result};
use crate::plugin::{Host, Plugin, StepRequest};
use crate::project::Project;
use crate::state::State;
use crate::vault::Node;
use journal::{Cred, Journal, Pending, Record, Step};

/// How a rotation ended (errors are `Err`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: new value in the environment file, previous credential revoked.
    Rotated,
    /// New value in the environment file; the previous credential stays
    /// valid until the grace period ends (then `--resume`/`--due`).
    AwaitingRevoke { after: String },
    /// `verify` rejected the new credential, which was revoked again; the
    /// environment file is unchanged.
    RolledBack { reason: String },
}

/// What `--abort` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aborted {
    /// No rotation was in progress.
    Nothing,
    /// The new credential was revoked; the environment file is unchanged.
    Revoked,
    /// Forgotten before `create` was journaled: a credential it made may
    /// remain at the provider.
    Forgotten,
}

/// A rotation target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub env: String,
}

/// Something worth telling the user while a rotation runs (results are
/// returned; these are the remarks on the way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    Info,
    Warning,
}

/// Runs rotations for one project. The wasm host starts on first use, so
/// dry runs and no-op resumes never compile a plugin.
pub struct Rotator<'p> {
    project: &'p Project,
    host: OnceCell<Host>,
    notify: Notify,
    plugin_debug: bool,
    clock: Clock<'p>,
}

/// Where remarks go; shared with the plugin host, whose remarks (what a
/// plugin logged) are `Note::Info`.
type Notify = Arc<dyn Fn(Note, &str) + Send + Sync>;

/// The rotation's "now": when a grace period ends, whether it has, and the
/// times written to the journal and `.gsec/state.yaml`.
type Clock<'p> = Box<dyn Fn() -> SystemTime + 'p>;

impl<'p> Rotator<'p> {
    /// A rotator that keeps its remarks to itself (see [`Rotator::notify`])
    /// and reads the system clock (see [`Rotator::clock`]).
    pub fn new(project: &'p Project) -> Self {
        Rotator {
            project,
            host: OnceCell::new(),
            notify: Arc::new(|_, _| {}),
            plugin_debug: false,
            clock: Box::new(SystemTime::now),
        }
    }

    /// Where remarks go (the CLI prints them on stderr), plugins' log
    /// lines included; `plugin_debug` adds their debug lines and timings.
    pub fn notify(
        mut self,
        plugin_debug: bool,
        f: impl Fn(Note, &str) + Send + Sync + 'static,
    ) -> Self {
        self.notify = Arc::new(f);
        self.plugin_debug = plugin_debug;
        self
    }

    /// Where the time comes from (tests pass a fixed one).
    pub fn clock(mut self, now: impl Fn() -> SystemTime + 'p) -> Self {
        self.clock = Box::new(now);
        self
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// `now()` as RFC 3339, as the journal and state file keep times.
    fn stamp(&self) -> String {
        humantime::format_rfc3339_seconds(self.now()).to_string()
    }

    /// The declared name and rotation settings of a secret.
    pub fn rotation(&self, name: &str) -> Result<(String, &'p Rotation)> {
        let cfg = &self.project.config;
        let (decl_name, decl) = cfg.secret(name).ok_or_else(|| {
            Error::usage(format!(
                "secret '{name}' is not declared in {} (add it under `secrets:` with a `rotation:`)",
                self.project.rel(&self.project.config_path)
            ))
        })?;
        let rot = decl.rotation.as_ref().ok_or_else(|| {
            Error::usage(format!(
                "secret '{decl_name}' has no rotation configured (set secrets.{decl_name}.rotation in {})",
                self.project.rel(&self.project.config_path)
            ))
        })?;
        Ok((decl_name.clone(), rot))
    }

    fn plugin(&self, rot: &Rotation) -> Result<Plugin> {
        let decl = self
            .project
            .config
            .plugins
            .get(&rot.plugin)
            .ok_or_else(|| {
                Error::file(
                    &self.project.config_path,
                    format!("unknown plugin '{}'", rot.plugin),
                )
            })?;
        let host = match self.host.get() {
            Some(h) => h,
            None => {
                let notify = self.notify.clone();
                let h = Host::new()?
                    .diagnostics(self.plugin_debug, move |line| notify(Note::Info, line));
                self.host.get_or_init(|| h)
            }
        };
        Ok(host.load(&self.project.root, &rot.plugin, decl)?)
    }

    /// Values of `rotation.inputs`, resolved in `env` (with inheritance).
    fn inputs(
        &self,
        name: &str,
        env: &str,
        rot: &Rotation,
    ) -> Result<IndexMap<String, Zeroizing<String>>> {
        resolve_inputs(
            self.project,
            env,
            &rot.inputs,
            &format!("secrets.{name}.rotation.inputs"),
        )
    }

    /// The secret's value in `env`'s own file. A value only inherited from
    /// a parent environment is refused: rotating it here would revoke the
    /// credential the parent still uses.
    fn own_value(&self, name: &str, env: &str) -> Result<Option<Zeroizing<String>>> {
        if let Some(v) = self.project.open(env)? {
            match v.get(name) {
                Some((_, Node::Leaf(l))) => return Ok(Some(l.text())),
                Some(_) => {
                    return Err(Error::file(
                        v.path(),
                        format!("'{name}' is a map or list; rotation replaces string values"),
                    ));
                }
                None => {}
            }
        }
        let mut r = Resolver::new(self.project);
        if let Some(found) = r.lookup(env, name)?
            && let crate::envs::Source::File { env: from, .. } = found.source
            && from != env
        {
            return Err(Error::usage(format!(
                "'{name}' in '{env}' is inherited from '{from}': rotate it there (--env {from}), or set an own value in '{env}' first"
            )));
        }
        Ok(None)
    }

    /// Rotate one secret in one environment, or continue the rotation of
    /// it that is already in the journal.
    pub fn rotate(&self, t: &Target) -> Result<Outcome> {
        let (name, rot) = self.rotation(&t.name)?;
        self.project.check_env(&t.env)?;
        let mut j = Journal::open(self.project, &t.env)?;
        let mut rec = j.get(&name)?;
        match &rec.pending {
            Some(p) => (self.notify)(
                Note::Info,
                &format!(
                    "continuing the rotation of {name} in {} started {} (at step '{}')",
                    t.env,
                    p.started,
                    p.step.as_str()
                ),
            ),
            None => {
                let previous = self.own_value(&name, &t.env)?.filter(|v| !v.is_empty());
                let mut current = rec.current.take().unwrap_or_default();
                if !current.describes(previous.as_deref().map(String::as_str)) {
                    (self.notify)(
                        Note::Warning,
                        &format!(
                            "{name} in {} was changed outside `gsec rotate` since its last rotation: the old credential will be revoked by its value, not by the provider id gsec remembered",
                            t.env
                        ),
                    );
                    current = Cred::default();
                }
                rec.pending = Some(Pending {
                    token: new_token(),
                    step: Step::Creating,
                    started: self.stamp(),
                    plugin: rot.plugin.clone(),
                    previous: Cred {
                        value: previous,
                        id: current.id,
                        state: current.state,
                        value_sha256: None,
                    },
                    new: None,
                    revoke_after: None,
                    last_error: None,
                });
                j.put(&name, &rec)?;
                pause("started");
            }
        }
        self.drive(&mut j, &name, &t.env, rot, rec)
    }

    /// Finish every rotation in the journals of `envs`: redo the step each
    /// was interrupted in and carry on. Entries waiting for their grace
    /// period report `AwaitingRevoke`.
    pub fn resume(&self, envs: &[String]) -> Vec<(Target, Result<Outcome>)> {
        let mut out = Vec::new();
        for env in envs {
            if !journal::path(self.project, env).exists() {
                continue;
            }
            let mut j = match Journal::open(self.project, env) {
                Ok(j) => j,
                Err(e) => {
                    out.push((
                        Target {
                            name: "*".into(),
                            env: env.clone(),
                        },
                        Err(e),
                    ));
                    continue;
                }
            };
            for name in j.names() {
                let t = Target {
                    name: name.clone(),
                    env: env.clone(),
                };
                let res = j.get(&name).and_then(|rec| {
                    if rec.pending.is_none() {
                        return Ok(None);
                    }
                    let (_, rot) = self.rotation(&name)?;
                    self.drive(&mut j, &name, env, rot, rec).map(Some)
                });
                match res {
                    Ok(None) => {}
                    Ok(Some(o)) => out.push((t, Ok(o))),
                    Err(e) => out.push((t, Err(e))),
                }
            }
        }
        out
    }

    /// Pending entries of `envs`: (target, step, started).
    pub fn pending(&self, envs: &[String]) -> Result<Vec<(Target, Pending)>> {
        let mut out = Vec::new();
        for env in envs {
            if !journal::path(self.project, env).exists() {
                continue;
            }
            let j = Journal::open(self.project, env)?;
            for name in j.names() {
                if let Some(p) = j.get(&name)?.pending {
                    out.push((
                        Target {
                            name,
                            env: env.clone(),
                        },
                        p,
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Stop an interrupted rotation without promoting it. A new credential
    /// already in the journal is revoked (the same path as a failed
    /// `verify`); one that `create` may have made but the journal never got
    /// cannot be found by gsec, so the caller warns about it. A rotation
    /// already promoted cannot be undone: the new value is in the
    /// environment file, and `--resume` finishes it.
    pub fn abort(&self, t: &Target) -> Result<Aborted> {
        let (name, rot) = self.rotation(&t.name)?;
        let mut j = Journal::open(self.project, &t.env)?;
        let mut rec = j.get(&name)?;
        let Some(p) = rec.pending.as_mut() else {
            return Ok(Aborted::Nothing);
        };
        match p.step {
            Step::Creating => {
                let p = rec.pending.take().unwrap_or_else(|| unreachable!());
                rec.current = Some(p.previous.as_current());
                j.put(&name, &rec)?;
                Ok(Aborted::Forgotten)
            }
            Step::Promoted => Err(Error::usage(format!(
                "the rotation of {name} in {} is already promoted (the new value is in {}); `gsec rotate --resume` finishes it",
                t.env,
                self.project.rel(&self.project.env_file(&t.env))
            ))),
            Step::Created | Step::Verified | Step::RollingBack => {
                p.step = Step::RollingBack;
                p.last_error.get_or_insert_with(|| "aborted".into());
                j.put(&name, &rec)?;
                self.drive(&mut j, &name, &t.env, rot, rec)?;
                Ok(Aborted::Revoked)
            }
        }
    }

    /// The state machine. Every transition is journaled before the next
    /// action, and `pause` marks the points the crash tests kill at.
    fn drive(
        &self,
        j: &mut Journal,
        name: &str,
        env: &str,
        rot: &Rotation,
        mut rec: Record,
    ) -> Result<Outcome> {
        let plugin = OnceCell::new();
        let plugin = || -> Result<&Plugin> {
            if let Some(p) = plugin.get() {
                return Ok(p);
            }
            let p = self.plugin(rot)?;
            Ok(plugin.get_or_init(|| p))
        };
        let mut inputs_cache = None;
        let mut inputs = || -> Result<IndexMap<String, Zeroizing<String>>> {
            if inputs_cache.is_none() {
                inputs_cache = Some(self.inputs(name, env, rot)?);
            }
            Ok(inputs_cache.clone().unwrap_or_default())
        };
        loop {
            let Some(p) = rec.pending.as_mut() else {
                return Ok(Outcome::Rotated);
            };
            match p.step {
                Step::Creating => {
                    let req = StepRequest {
                        config: rot.config.clone(),
                        inputs: inputs()?,
                        current: p.previous.value.clone(),
                        // The provider's id of the credential being
                        // replaced, when the journal kept one: a plugin
                        // whose provider revokes it in `create` (GitLab's
                        // rotate) finds its successor by it after a crash.
                        id: p.previous.id.clone(),
                        token: Some(p.token.clone()),
                        ..Default::default()
                    };
                    // `create` refuses an empty value itself.
                    let c = match plugin().and_then(|pl| Ok(pl.create(&req)?)) {
                        Ok(c) => c,
                        Err(e) => return Err(self.stop(j, name, &mut rec, e)),
                    };
                    pause("created");
                    p.new = Some(Cred {
                        value: Some(c.value),
                        id: c.id,
                        state: c.state,
                        value_sha256: None,
                    });
                    p.step = Step::Created;
                    p.last_error = None;
                    j.put(name, &rec)?;
                    pause("journaled");
                }
                Step::Created => {
                    let new = p.new.clone().unwrap_or_default();
                    let req = revoke_request(rot, inputs()?, &new);
                    match plugin().and_then(|pl| Ok(pl.verify(&req)?)) {
                        Ok(()) => {
                            p.step = Step::Verified;
                            p.last_error = None;
                            j.put(name, &rec)?;
                            pause("verified");
                        }
                        // The plugin looked and said no: the credential is
                        // bad, revoke it.
                        Err(Error::Plugin(e)) if e.kind.is_rejection() => {
                            p.step = Step::RollingBack;
                            p.last_error = Some(p.redact(&e.to_string()));
                            j.put(name, &rec)?;
                        }
                        // It could not tell (out of time, crashed, "retry
                        // later", not loadable): that says nothing about
                        // the credential, so it stays pending for a retry.
                        Err(e) => {
                            let e = Error::Resumable {
                                what: format!(
                                    "the new credential could not be verified and stays pending (`gsec rotate {name} --env {env} --abort` revokes it instead)"
                                ),
                                source: Box::new(e),
                            };
                            return Err(self.stop(j, name, &mut rec, e));
                        }
                    }
                }
                Step::Verified => {
                    let new = p.new.clone().unwrap_or_default();
                    let value = new.value.clone().unwrap_or_default();
                    self.project
                        .update(env, Default::default(), |v| v.set(name, &value))?;
                    p.step = Step::Promoted;
                    // A grace period only matters when there is an old
                    // credential to keep alive.
                    p.revoke_after = match rot.grace.as_ref().filter(|_| !p.previous.is_empty()) {
                        Some(g) => {
                            let g = humantime::parse_duration(g).map_err(|e| {
                                Error::msg(format!("secrets.{name}.rotation.grace: {e}"))
                            })?;
                            Some(humantime::format_rfc3339_seconds(self.now() + g).to_string())
                        }
                        None => None,
                    };
                    rec.current = Some(new.as_current());
                    j.put(name, &rec)?;
                    pause("promoted");
                }
                Step::Promoted => {
                    if let Some(after) = &p.revoke_after {
                        let due = humantime::parse_rfc3339_weak(after).map_err(|e| {
                            Error::file(
                                journal::path(self.project, env),
                                format!("bad revoke_after: {e}"),
                            )
                        })?;
                        if due > self.now() {
                            return Ok(Outcome::AwaitingRevoke {
                                after: after.clone(),
                            });
                        }
                    }
                    let prev = p.previous.clone();
                    if !prev.is_empty() {
                        let req = revoke_request(rot, inputs()?, &prev);
                        if let Err(e) = plugin().and_then(|pl| Ok(pl.revoke(&req)?)) {
                            let e = Error::Resumable {
                                what: "rotated, but revoking the previous credential failed".into(),
                                source: Box::new(e),
                            };
                            return Err(self.stop(j, name, &mut rec, e));
                        }
                    }
                    pause("revoked");
                    State::update(&self.project.root, |s| {
                        s.mark_rotated(env, name, self.stamp())
                    })?;
                    rec.pending = None;
                    j.put(name, &rec)?;
                    return Ok(Outcome::Rotated);
                }
                Step::RollingBack => {
                    let new = p.new.clone().unwrap_or_default();
                    let reason = p
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "verify failed".into());
                    let req = revoke_request(rot, inputs()?, &new);
                    if let Err(e) = plugin().and_then(|pl| Ok(pl.revoke(&req)?)) {
                        let e = Error::Resumable {
                            what: format!(
                                "the new credential failed verification ({reason}) and revoking it failed too"
                            ),
                            source: Box::new(e),
                        };
                        // Keep the original reason for the next attempt.
                        let err = self.stop(j, name, &mut rec, e);
                        if let Some(p) = rec.pending.as_mut() {
                            p.last_error = Some(reason);
                            let _ = j.put(name, &rec);
                        }
                        return Err(err);
                    }
                    // The environment file still holds the previous value,
                    // which stays current.
                    let prev = rec.pending.take().map(|p| p.previous).unwrap_or_default();
                    rec.current = Some(prev.as_current());
                    j.put(name, &rec)?;
                    return Ok(Outcome::RolledBack { reason });
                }
            }
        }
    }

    /// Record why a step failed (so `--resume` can say), and return the
    /// error. What is recorded is redacted of the credentials the journal
    /// holds, whatever the error's source put in its message.
    fn stop(&self, j: &mut Journal, name: &str, rec: &mut Record, e: Error) -> Error {
        if let Some(p) = rec.pending.as_mut() {
            p.last_error = Some(p.redact(&e.to_string()));
            if let Err(we) = j.put(name, rec) {
                return Error::msg(format!("{e} (and the journal could not be updated: {we})"));
            }
        }
        e
    }

    /// Secrets due for rotation (per `rotation.every`) in `envs`: those with
    /// a value in the environment's own file whose time has come.
    pub fn due(&self, envs: &[String], at: SystemTime) -> Result<Vec<Target>> {
        let st = State::load(&self.project.root)?;
        let mut out = Vec::new();
        for env in envs {
            let names = own_names(self.project, env)?;
            for (name, decl) in &self.project.config.secrets {
                let Some(rot) = &decl.rotation else { continue };
                if rot.every.is_none() || !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    continue;
                }
                if st.is_due(&self.project.config, env, name, at) {
                    out.push(Target {
                        name: name.clone(),
                        env: env.clone(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Values of a plugin's input secrets (`rotation.inputs`,
/// `sync.NAME.inputs`, named by `setting` in errors), resolved in `env`
/// with inheritance. Each must be a single string.
pub fn resolve_inputs(
    project: &Project,
    env: &str,
    inputs: &[String],
    setting: &str,
) -> Result<IndexMap<String, Zeroizing<String>>> {
    inputs_from(&mut Resolver::new(project), env, inputs, setting)
}

/// [`resolve_inputs`] through a resolver the caller keeps (`gsec run`
/// resolves each environment once for all its leases).
pub fn inputs_from(
    resolver: &mut Resolver<'_>,
    env: &str,
    inputs: &[String],
    setting: &str,
) -> Result<IndexMap<String, Zeroizing<String>>> {
    let mut out = IndexMap::new();
    for input in inputs {
        let v = resolver.lookup(env, input)?.ok_or_else(|| {
            Error::usage(format!(
                "{setting}: '{input}' has no value in {env} (set it with `gsec set {input} --env {env}`)"
            ))
        })?;
        let Node::Leaf(l) = &v.value else {
            return Err(Error::usage(format!(
                "{setting}: '{input}' in {env} is a map or list; it must be one value"
            )));
        };
        out.insert(input.clone(), l.text());
    }
    Ok(out)
}

/// Secrets with a journal entry in `env` (read without decrypting).
pub fn journal_names(project: &Project, env: &str) -> Result<Vec<String>> {
    names_in(&journal::path(project, env))
}

/// Top-level names in an environment's own file, read without decrypting
/// (sops leaves keys in the clear), so `--due` and the default `--env` work
/// for environments the user cannot decrypt too.
pub fn own_names(project: &Project, env: &str) -> Result<Vec<String>> {
    names_in(&project.env_file(env))
}

fn names_in(path: &std::path::Path) -> Result<Vec<String>> {
    let Some(bytes) = crate::fsutil::read_regular(path, crate::fsutil::MAX_SECRETS_FILE)? else {
        return Ok(vec![]);
    };
    let (data, _) =
        crate::vault::format::parse_path(path, &bytes).map_err(|e| Error::file(path, e))?;
    Ok(data.into_iter().map(|(k, _)| k).collect())
}

/// The `revoke` request for one credential (the previous one after a
/// promotion, the new one when rolling back).
fn revoke_request(
    rot: &Rotation,
    inputs: IndexMap<String, Zeroizing<String>>,
    c: &journal::Cred,
) -> StepRequest {
    StepRequest {
        config: rot.config.clone(),
        inputs,
        value: c.value.clone(),
        state: c.state.clone(),
        id: c.id.clone(),
        ..Default::default()
    }
}

/// 128 random bits, hex: the rotation's idempotency token.
fn new_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Test hook (debug builds only, see [`crate::fsutil::crash_point`]).
/// Points: started, created, journaled, verified, promoted, revoked.
fn pause(point: &str) {
    crate::fsutil::crash_point(point);
}
