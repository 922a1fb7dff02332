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

/// The history range a workflow run should scan, from its event:
/// a pull request scans `base..head`; a push scans `before..after` (a new
/// branch — all-zero `before` — scans what is not on the default branch, or
/// everything reachable from `after` when that branch is not fetched); a
/// deleted branch scans nothing (`Some(None)`); other events scan all
/// history (`None`).
pub fn event_range(
    event: &str,
    payload: &serde_json::Value,
    has_ref: impl Fn(&str) -> bool,
) -> Option<Option<String>> {
    let sha = |v: &serde_json::Value| v.as_str().filter(|s| s.len() >= 7).map(str::to_string);
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    match event {
        "pull_request" | "pull_request_target" => {
            let pr = &payload["pull_request"];
            match (sha(&pr["base"]["sha"]), sha(&pr["head"]["sha"])) {
                (Some(b), Some(h)) => Some(Some(format!("{b}..{h}"))),
                _ => None,
            }
        }
        "push" => {
            let after = sha(&payload["after"])?;
            if zero(&after) {
                return Some(None);
            }
            match sha(&payload["before"]) {
                Some(b) if !zero(&b) => Some(Some(format!("{b}..{after}"))),
                _ => {
                    let default = payload["repository"]["default_branch"]
                        .as_str()
                        .unwrap_or("main");
                    let base = format!("refs/remotes/origin/{default}");
                    if has_ref(&base) {
                        Some(Some(format!("{base}..{after}")))
                    } else {
                        Some(Some(after))
                    }
                }
            }
        }
        _ => None,
    }
}

/// Append `text` to the runner file named by `$var` (GITHUB_OUTPUT,
/// GITHUB_STEP_SUMMARY…). Returns false when the variable is unset (not in
/// a workflow run).
pub fn append_to(var: &str, text: &str) -> crate::Result<bool> {
    use std::io::Write;
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| crate::Error::io(&path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| crate::Error::io(&path, e))?;
    Ok(true)
}

/// Escape text for a Markdown table cell in the job summary.
pub fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod range_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges_from_events() {
        let pr =
            json!({"pull_request": {"base": {"sha": "aaaaaaa1"}, "head": {"sha": "bbbbbbb2"}}});
        assert_eq!(
            event_range("pull_request", &pr, |_| false),
            Some(Some("aaaaaaa1..bbbbbbb2".into()))
        );
        let push = json!({"before": "1111111a", "after": "2222222b"});
        assert_eq!(
            event_range("push", &push, |_| false),
            Some(Some("1111111a..2222222b".into()))
        );
        let new_branch = json!({"before": "0000000000000000000000000000000000000000", "after": "2222222b", "repository": {"default_branch": "trunk"}});
        assert_eq!(
            event_range("push", &new_branch, |_| false),
            Some(Some("2222222b".into()))
        );
        assert_eq!(
            event_range("push", &new_branch, |r| r == "refs/remotes/origin/trunk"),
            Some(Some("refs/remotes/origin/trunk..2222222b".into()))
        );
        let deleted =
            json!({"before": "1111111a", "after": "0000000000000000000000000000000000000000"});
        assert_eq!(event_range("push", &deleted, |_| false), Some(None));
        assert_eq!(
            event_range("workflow_dispatch", &json!({}), |_| false),
            None
        );
    }
}
