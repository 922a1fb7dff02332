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
/// to look like one. Matching ignores ASCII case: what the host echoes may
/// have been case-folded on the way (a URL's host is lowercased), and a
/// lowercased secret is still the secret.
pub(crate) fn redact(text: &str, secrets: &[Zeroizing<String>]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.chars().count() >= 4) {
        let needle = Zeroizing::new(s.to_ascii_lowercase());
        // ASCII case folding keeps every byte offset (and so every char
        // boundary) of `out`.
        let hay = Zeroizing::new(out.to_ascii_lowercase());
        if !hay.contains(needle.as_str()) {
            continue;
        }
        let mut replaced = String::with_capacity(out.len());
        let mut last = 0;
        for (i, _) in hay.match_indices(needle.as_str()) {
            replaced.push_str(&out[last..i]);
            replaced.push_str("[REDACTED]");
            last = i + needle.len();
        }
        replaced.push_str(&out[last..]);
        zeroize::Zeroize::zeroize(&mut out);
        out = replaced;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_ignores_ascii_case_and_keeps_other_text() {
        let secrets = [Zeroizing::new("s3cr3t-CANARY-9f2c".to_string())];
        let denied = "https://s3cr3t-canary-9f2c.evil.example:443 is not allowed";
        assert_eq!(
            redact(denied, &secrets),
            "https://[REDACTED].evil.example:443 is not allowed"
        );
        assert_eq!(
            redact("é S3CR3T-CANARY-9F2C é s3cr3t-CANARY-9f2c", &secrets),
            "é [REDACTED] é [REDACTED]"
        );
        assert_eq!(redact("nothing here", &secrets), "nothing here");
    }
}
