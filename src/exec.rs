//! Running a child process with secrets in its environment, as a
//! transparent wrapper: stdin is the child's, signals sent to gsec reach the
//! child (or the process group it leads, when a lease may terminate it: see
//! `own_group`), and gsec exits as the child did (its code, or 128 + the
//! signal that killed it, as shells report it).
//!
//! With masking on, the child's stdout and stderr are pipes read by one
//! thread each through a [`Masker`]; otherwise the child writes to gsec's own
//! stdout and stderr directly, untouched and unbuffered.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;
use zeroize::Zeroizing;

use crate::config::OnExpiry;
use crate::error::Error;
use crate::lease::Watch;
use crate::mask::{Masker, Patterns};

/// Signals gsec passes on to the child.
pub const FORWARDED: &[i32] = &[SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2];

/// Where the lease watch reports: `true` for an error (the command is
/// being stopped), `false` for a warning.
pub type LeaseNotes = Arc<dyn Fn(bool, &str) + Send + Sync>;

/// What to run.
pub struct Spec {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Added to (and overriding) gsec's own environment.
    pub env: Vec<(String, Zeroizing<String>)>,
    /// Mask these in the child's stdout and stderr.
    pub mask: Option<Patterns>,
    /// Leases given to the child, watched for their expiry.
    pub leases: Vec<Watch>,
    /// Where the watch reports (`true`: an error, the command is being
    /// stopped; `false`: a warning). The CLI prints on stderr.
    pub notes: LeaseNotes,
}

/// Why the child could not be run.
#[derive(Debug)]
pub enum Failure {
    /// Starting the program failed, with the exit code a shell would use
    /// (127 not found, 126 not executable) and a one-line message.
    Spawn {
        code: u8,
        message: String,
    },
    Other(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}

/// Run `spec` to completion; returns the exit code gsec should exit with.
pub fn run(spec: Spec) -> Result<u8, Failure> {
    // Handlers go in before the child exists, so a signal arriving while it
    // starts is queued for it rather than killing gsec and orphaning it.
    let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED).map_err(|source| Error::Os {
        what: "cannot install signal handlers",
        source,
    })?;

    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args).stdin(Stdio::inherit());
    for (k, v) in &spec.env {
        cmd.env(k, v.as_str());
    }
    if spec.mask.is_some() {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let group = own_group(&spec.leases);
    if group {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    let mut child = cmd.spawn().map_err(|e| spawn_failure(&spec.program, e))?;
    // `Command` keeps its own copy of the environment until dropped.
    drop(cmd);
    let pid = Pid::from_raw(child.id() as i32);
    let target = Target { pid, group };

    let patterns = spec.mask.map(Arc::new);
    let mut pumps = Vec::new();
    if let Some(p) = &patterns {
        if let Some(out) = child.stdout.take() {
            let p = Arc::clone(p);
            pumps.push(thread::spawn(move || pump(out, std::io::stdout(), &p)));
        }
        if let Some(err) = child.stderr.take() {
            let p = Arc::clone(p);
            pumps.push(thread::spawn(move || pump(err, std::io::stderr(), &p)));
        }
    }

    // Forwarding stops (under this lock) before the child is reaped, so a
    // signal is never sent to a recycled pid.
    let reaped = Arc::new(Mutex::new(false));
    let handle = signals.handle();
    let forwarder = {
        let reaped = Arc::clone(&reaped);
        thread::spawn(move || {
            for origin in signals.forever() {
                // A signal the kernel raised (Ctrl-C, Ctrl-\, a terminal
                // hang-up) went to the whole foreground process group, the
                // child included; sending it again would make programs that
                // treat a second Ctrl-C as "quit now" skip their cleanup.
                // A child in a group of its own (a job brought to the
                // foreground after it started) got none of them.
                if origin.cause == Cause::Kernel && !target.group {
                    continue;
                }
                let Ok(sig) = Signal::try_from(origin.signal) else {
                    continue;
                };
                let done = reaped.lock().map(|g| *g).unwrap_or(true);
                if !done {
                    target.signal(sig);
                }
            }
        })
    };

    // Lease expiries: warn or stop the child `margin` before each, and
    // again at it. The channel closes when the child is reaped.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watcher = (!spec.leases.is_empty()).then(|| {
        let reaped = Arc::clone(&reaped);
        let (leases, notes) = (spec.leases, spec.notes);
        thread::spawn(move || watch_leases(&leases, &*notes, done_rx, target, &reaped))
    });

    let waited = loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    if let Ok(mut g) = reaped.lock() {
        *g = true;
    }
    drop(done_tx);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    let status = child.wait();
    handle.close();
    let _ = forwarder.join();
    for p in pumps {
        let _ = p.join();
    }
    if let Err(e) = waited {
        return Err(Error::Os {
            what: "waiting for the command",
            source: e.into(),
        }
        .into());
    }
    let status = status.map_err(|source| Error::Os {
        what: "waiting for the command",
        source,
    })?;
    Ok(exit_code(status))
}

/// Whom gsec signals: the child, or the process group it leads.
#[derive(Debug, Clone, Copy)]
struct Target {
    pid: Pid,
    group: bool,
}

impl Target {
    fn signal(self, sig: Signal) {
        let _ = if self.group {
            killpg(self.pid, sig)
        } else {
            kill(self.pid, sig)
        };
    }
}

/// Should the child lead a process group of its own? When a lease may
/// terminate it, so that what it started stops with it (a shell's `sleep`,
/// a pool of workers: each holds the credential too), as `timeout` does.
/// Not when gsec is the foreground job of a terminal: there the child must
/// stay in the terminal's foreground group to read from it and to get
/// Ctrl-C, and, as with `timeout --foreground`, only the child is
/// signalled.
fn own_group(leases: &[Watch]) -> bool {
    leases.iter().any(|w| w.on_expiry == OnExpiry::Terminate) && !foreground_of_a_terminal()
}

/// Is gsec in the foreground process group of its controlling terminal?
/// `false` without one (CI, services, `setsid`).
fn foreground_of_a_terminal() -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(tty) = std::fs::File::options()
        .read(true)
        .custom_flags(nix::libc::O_NOCTTY)
        .open("/dev/tty")
    else {
        return false;
    };
    nix::unistd::tcgetpgrp(&tty).is_ok_and(|g| g == nix::unistd::getpgrp())
}

/// Act on each lease's expiry while the child runs: at `act_at`
/// (`expires_at - margin`) warn or SIGTERM it, at `expires_at` warn again
/// or SIGKILL it. Returns as soon as `done` closes (the child was reaped).
/// A variable already in a process's environment cannot be renewed, so
/// this is all gsec can do for it.
fn watch_leases(
    leases: &[Watch],
    notes: &(dyn Fn(bool, &str) + Send + Sync),
    done: mpsc::Receiver<()>,
    target: Target,
    reaped: &Mutex<bool>,
) {
    let mut events: Vec<(SystemTime, bool, &Watch)> = leases
        .iter()
        .flat_map(|w| [(w.act_at, false, w), (w.expires_at, true, w)])
        .collect();
    events.sort_by_key(|e| (e.0, e.1));
    let signal = |sig: Signal| {
        let done = reaped.lock().map(|g| *g).unwrap_or(true);
        if !done {
            target.signal(sig);
        }
    };
    for (at, expired, w) in events {
        let wait = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        match done.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let vars = w.vars.join(", ");
        let when = humantime::format_rfc3339_seconds(w.expires_at);
        match (w.on_expiry, expired) {
            (OnExpiry::Warn, false) => notes(
                false,
                &format!(
                    "lease {} ({vars}) expires at {when} and the command is still running: a variable already given cannot be renewed, so it will hold an expired credential (run the command again for a new lease, or set secrets.{}.lease.on_expiry: terminate)",
                    w.secret, w.secret
                ),
            ),
            (OnExpiry::Warn, true) => notes(
                false,
                &format!(
                    "lease {} ({vars}) has expired: the command's credential no longer works",
                    w.secret
                ),
            ),
            (OnExpiry::Terminate, false) => {
                notes(
                    true,
                    &format!(
                        "lease {} ({vars}) expires at {when}: terminating the command (SIGTERM; on_expiry: terminate); run it again for a new lease",
                        w.secret
                    ),
                );
                signal(Signal::SIGTERM);
            }
            (OnExpiry::Terminate, true) => {
                notes(
                    true,
                    &format!(
                        "lease {} has expired and the command is still running: killing it (SIGKILL)",
                        w.secret
                    ),
                );
                signal(Signal::SIGKILL);
            }
        }
    }
}

/// The code a shell reports for `status`.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(c) = status.code() {
        return (c & 0xff) as u8;
    }
    match status.signal() {
        Some(s) => (128 + s).min(255) as u8,
        None => 1,
    }
}

fn spawn_failure(program: &std::ffi::OsStr, e: std::io::Error) -> Failure {
    let name = program.to_string_lossy();
    match e.kind() {
        std::io::ErrorKind::NotFound => Failure::Spawn {
            code: 127,
            message: format!("{name}: command not found"),
        },
        std::io::ErrorKind::PermissionDenied => Failure::Spawn {
            code: 126,
            message: format!("{name}: permission denied"),
        },
        _ => Failure::Spawn {
            code: 126,
            message: format!("{name}: cannot run: {e}"),
        },
    }
}

/// Copy `from` to `to` through a masker until EOF. A write error (the
/// reader went away) stops the copy; closing our end of the pipe then lets
/// the child see EPIPE, as it would without gsec in between.
fn pump(mut from: impl Read, to: impl Write, patterns: &Patterns) {
    let mut to = to;
    let mut masker = Masker::new(patterns);
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut out = Zeroizing::new(Vec::with_capacity(64 * 1024));
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        out.clear();
        masker.push(&buf[..n], &mut out);
        if to.write_all(&out).and_then(|_| to.flush()).is_err() {
            return;
        }
    }
    out.clear();
    masker.finish(&mut out);
    let _ = to.write_all(&out).and_then(|_| to.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_codes_like_a_shell() {
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(15)), 128 + 15);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(0)), 0);
    }

    #[test]
    fn not_found_is_127() {
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        match spawn_failure(std::ffi::OsStr::new("nope"), e) {
            Failure::Spawn { code, message } => {
                assert_eq!(code, 127);
                assert_eq!(message, "nope: command not found");
            }
            Failure::Other(_) => panic!("expected a spawn failure"),
        }
    }
}
