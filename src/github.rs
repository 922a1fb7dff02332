//! GitHub Actions workflow commands (`::error …::`, `::add-mask::`), with
//! the escaping GitHub applies, shared by every command that talks to a
//! runner so no message can inject a command of its own.

/// Escape a command's message (`::error::<data>`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value (`file=<prop>,title=<prop>`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Severity of an annotation.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// One annotation line.
pub fn annotation(
    level: Level,
    file: Option<&str>,
    line: Option<usize>,
    col: Option<usize>,
    title: &str,
    msg: &str,
) -> String {
    let kind = match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut props = Vec::new();
    if let Some(f) = file {
        props.push(format!("file={}", escape_property(f)));
    }
    if let Some(l) = line {
        props.push(format!("line={l}"));
    }
    if let Some(c) = col {
        props.push(format!("col={c}"));
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{kind} {}::{}", props.join(","), escape_data(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cannot_inject_commands() {
        let a = annotation(
            Level::Error,
            Some("a,b:c.txt"),
            Some(3),
            None,
            "t",
            "x\n::add-mask::y 100%",
        );
        assert_eq!(
            a,
            "::error file=a%2Cb%3Ac.txt,line=3,title=t::x%0A::add-mask::y 100%25"
        );
        assert_eq!(a.lines().count(), 1);
    }
}
