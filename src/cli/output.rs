//! Shared output helpers: one-line errors and warnings on stderr, coloured
//! only when stderr is a terminal and NO_COLOR is unset (anstream decides).

use std::io::Write;

use anstyle::{AnsiColor, Style};

use crate::error::{Error, Result};

const ERR: Style = AnsiColor::Red.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();

/// `gsec: error: …` on stderr.
pub fn error_line(msg: &str) {
    let mut e = anstream::stderr();
    let _ = writeln!(e, "{ERR}gsec: error:{ERR:#} {}", one_line(msg));
}

/// `gsec: warning: …` on stderr.
pub fn warn(msg: &str) {
    let mut e = anstream::stderr();
    let _ = writeln!(e, "{WARN}gsec: warning:{WARN:#} {}", one_line(msg));
}

/// `gsec: …` informational line on stderr.
pub fn info(msg: &str) {
    let mut e = anstream::stderr();
    let _ = writeln!(e, "gsec: {}", one_line(msg));
}

/// Errors are one line: collapse any newline a lower layer put in, then
/// escape what is left (see [`escape`]).
fn one_line(msg: &str) -> String {
    let joined = msg
        .split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("; ");
    escape(&joined).into_owned()
}

/// Text from a file made inert for a terminal; lives in the library (see
/// [`crate::diag::escape`]) so what the library renders for humans (a
/// `textconv` summary) is escaped the same way. Every human output goes
/// through this (stderr lines here, stdout lines through [`houtln!`]).
pub use crate::diag::escape;

/// Write all of `bytes` to stdout and flush. A failure is `Error::Stdout`,
/// so that a closed pipe (`gsec list | head -1`) ends the command quietly
/// instead of panicking the way `println!` does.
pub fn stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)
}

/// One formatted line on stdout; see [`stdout`].
pub fn line(args: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{args}").map_err(Error::Stdout)
}

/// One line with colour on stdout: styles are kept on a terminal and
/// stripped elsewhere (anstream decides, `NO_COLOR` honoured). Only for
/// gsec's own text: values go through [`stdout`]/[`line`] untouched.
pub fn styled_line(args: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = anstream::stdout().lock();
    writeln!(out, "{args}").map_err(Error::Stdout)
}

/// One human-readable line on stdout, control characters escaped (see
/// [`escape`]); see [`stdout`].
pub fn human_line(args: std::fmt::Arguments<'_>) -> Result<()> {
    let text = args.to_string();
    line(format_args!("{}", escape(&text)))
}

/// `println!` for commands: returns `Error::Stdout` from the enclosing
/// function instead of panicking when stdout is closed. For machine output
/// (JSON, annotations) written exactly as given.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))?
    };
}
pub(crate) use outln;

/// [`outln!`] for human-readable output: text from files cannot inject
/// terminal escapes or forge lines.
macro_rules! houtln {
    ($($arg:tt)*) => {
        $crate::cli::output::human_line(format_args!($($arg)*))?
    };
}
pub(crate) use houtln;
