//! Shared output helpers: one-line errors and warnings on stderr, coloured
//! only when stderr is a terminal and NO_COLOR is unset (anstream decides).

use std::io::Write;

use anstyle::{AnsiColor, Style};

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
