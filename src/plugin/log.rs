//! What a plugin writes with `gsec.log`, made safe to show: prefixed with
//! the plugin's name, secrets redacted, control characters neutralised,
//! long lines cut, debug lines only on request.

use zeroize::Zeroizing;

/// Longest log line shown (characters).
pub(super) const LOG_LINE_MAX: usize = 500;
/// Most log lines kept per call; the rest are counted and dropped.
pub(super) const LOG_LINES_MAX: usize = 100;

/// `text` with every secret value replaced by `[REDACTED]`. Short values
/// would redact ordinary words; 4+ characters is where a credential starts
/// to look like one.
pub(crate) fn redact(text: &str, secrets: &[Zeroizing<String>]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.chars().count() >= 4) {
        if out.contains(s.as_str()) {
            let replaced = out.replace(s.as_str(), "[REDACTED]");
            zeroize::Zeroize::zeroize(&mut out);
            out = replaced;
        }
    }
    out
}

/// Log lines as shown: `plugin 'NAME': …`, secrets redacted, control
/// characters neutralised, long lines cut, debug (level 3+) only when
/// `debug`.
pub(super) fn render_logs(
    name: &str,
    logs: Vec<(i32, String)>,
    dropped: usize,
    secrets: &[Zeroizing<String>],
    debug: bool,
) -> Vec<Zeroizing<String>> {
    let mut out = Vec::new();
    for (level, line) in logs {
        if level >= 3 && !debug {
            continue;
        }
        let line = Zeroizing::new(redact(&Zeroizing::new(line), secrets));
        let tag = match level {
            0 => "error: ",
            1 => "warning: ",
            _ => "",
        };
        out.push(Zeroizing::new(format!(
            "plugin '{name}': {tag}{}",
            one_line(&line, LOG_LINE_MAX)
        )));
    }
    if dropped > 0 {
        out.push(Zeroizing::new(format!(
            "plugin '{name}': ({dropped} more log lines dropped)"
        )));
    }
    out
}

/// One line of at most `max` characters, with control characters shown as
/// `?` so a plugin cannot move the cursor or forge gsec's own lines.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}
