//! Templates: `{{ secret('NAME') }}` / `{{ secret("NAME") }}` (Kestra) and
//! `{{ secrets.NAME }}` / `{{Secrets.NAME}}` (case-insensitive) placeholders
//! in any text file.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::{Error, Result};
use crate::project::Project;

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\{\{\s*(?:(?i:secret)\(\s*(?:'([A-Za-z][A-Za-z0-9_-]*)'|"([A-Za-z][A-Za-z0-9_-]*)")\s*\)|(?i:secrets)\.([A-Za-z][A-Za-z0-9_-]*))\s*\}\}"#,
    )
    .expect("placeholder regex")
});

/// One placeholder: the secret it names, its 1-based line, and its byte
/// range in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    pub line: usize,
    pub range: std::ops::Range<usize>,
}

pub fn placeholders(text: &str) -> Vec<Placeholder> {
    PLACEHOLDER
        .captures_iter(text)
        .map(|c| {
            let m = c.get(0).expect("match");
            let name = c
                .get(1)
                .or(c.get(2))
                .or(c.get(3))
                .expect("name")
                .as_str()
                .to_string();
            Placeholder {
                name,
                line: text[..m.start()].bytes().filter(|&b| b == b'\n').count() + 1,
                range: m.range(),
            }
        })
        .collect()
}

/// Replace every placeholder using `lookup`; an unknown name is an error
/// naming the template and line.
pub fn render(
    template_name: &str,
    text: &str,
    mut lookup: impl FnMut(&str) -> Result<Option<zeroize::Zeroizing<String>>>,
) -> Result<zeroize::Zeroizing<String>> {
    let mut out = zeroize::Zeroizing::new(String::with_capacity(text.len()));
    let mut last = 0;
    for p in placeholders(text) {
        let v = lookup(&p.name)?.ok_or_else(|| {
            Error::msg(format!(
                "{template_name}:{}: unknown secret '{}'",
                p.line, p.name
            ))
        })?;
        out.push_str(&text[last..p.range.start]);
        out.push_str(&v);
        last = p.range.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// Read a configured template: a regular file of bounded size (a
/// `templates: [/dev/zero]` entry must not exhaust memory).
pub fn read_template(path: &std::path::Path) -> Result<String> {
    crate::fsutil::read_text(path, crate::fsutil::MAX_TEMPLATE_FILE)
}

/// Templates listed in the config that use secret `name`.
pub fn templates_using(project: &Project, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for t in &project.config.templates {
        let p = project.root.join(t);
        let text = read_template(&p)?;
        if placeholders(&text)
            .iter()
            .any(|ph| ph.name.eq_ignore_ascii_case(name))
        {
            out.push(t.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_syntax() {
        let t = "a={{ secret('A') }}\nb={{secret(\"b-2\")}} c={{ secrets.C_3 }} d={{Secrets.D}}\n{{ other }} {{ secret('') }}";
        let names: Vec<_> = placeholders(t)
            .into_iter()
            .map(|p| (p.name, p.line))
            .collect();
        assert_eq!(
            names,
            vec![
                ("A".into(), 1),
                ("b-2".into(), 2),
                ("C_3".into(), 2),
                ("D".into(), 2)
            ]
        );
    }

    #[test]
    fn unknown_name_is_an_error_with_line() {
        let e = render("t.tmpl", "x\ny={{ secrets.NOPE }}", |_| Ok(None)).unwrap_err();
        assert_eq!(e.to_string(), "t.tmpl:2: unknown secret 'NOPE'");
        let ok = render("t", "v={{ secrets.a }}!", |_| {
            Ok(Some(zeroize::Zeroizing::new("$x\"".into())))
        })
        .unwrap();
        assert_eq!(&*ok, "v=$x\"!");
    }
}
