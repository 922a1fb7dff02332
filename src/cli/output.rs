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

/// Errors are one line: collapse any newline a lower layer put in.
fn one_line(msg: &str) -> String {
    msg.split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("; ")
}

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

/// `println!` for commands: returns `Error::Stdout` from the enclosing
/// function instead of panicking when stdout is closed.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))?
    };
}
pub(crate) use outln;
