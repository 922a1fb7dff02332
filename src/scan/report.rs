//! Reporters: the same findings as human text, JSON, SARIF 2.1.0 or GitHub
//! workflow annotations. Shared by `gsec scan` and the GitHub Action work.
//! No reporter ever has the secret: findings carry only a redacted prefix.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde_json::{Value, json};

use super::verify::{self, Status};
use super::{Finding, Report, rules};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
    Sarif,
    Github,
}

/// Write `report` in `format`. `w` is an anstream writer for human output
/// (colour is stripped when it is not a terminal).
pub fn write(format: Format, report: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Human => human(report, w),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &json_value(report))?;
            writeln!(w)
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *w, &sarif(report))?;
            writeln!(w)
        }
        Format::Github => github(report, w),
    }
}

const LOC: Style = AnsiColor::Cyan.on_default();
const RULE: Style = AnsiColor::Red.on_default().bold();

fn human(report: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    for f in &report.findings {
        let secret = if f.redacted.is_empty() {
            "(value hidden)".to_string()
        } else {
            format!("{}****", f.redacted)
        };
        write!(
            w,
            "{LOC}{}:{}:{}{LOC:#}  {RULE}{}{RULE:#}  {}  {secret}",
            f.file, f.line, f.column, f.rule, f.description
        )?;
        if let Some(c) = &f.commit {
            write!(w, "  commit {}", c.get(..12).unwrap_or(c))?;
        }
        if let Some(m) = &f.managed {
            write!(w, "  ({})", m.remedy)?;
        }
        if let Some(v) = &f.validation {
            let style = match v.status {
                Status::Live => RULE,
                Status::Invalid => AnsiColor::Green.on_default(),
                Status::Unknown => AnsiColor::Yellow.on_default(),
            };
            write!(
                w,
                "  validation: {style}{}{style:#} ({})",
                v.status.as_str(),
                v.reason
            )?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// The one-line summary for stderr.
pub fn summary(report: &Report) -> String {
    let n = report.findings.len();
    let plural =
        |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    let mut with: Vec<&str> = report.findings.iter().map(|f| f.file.as_str()).collect();
    with.sort_unstable();
    with.dedup();
    // "2 findings in 1 file; 120 files scanned": what was found, and
    // where, apart from how much was read.
    let mut s = if n == 0 {
        "0 findings".to_string()
    } else {
        format!(
            "{} in {}",
            plural(n, "finding", "findings"),
            plural(with.len(), "file", "files")
        )
    };
    s.push_str(&format!(
        "; {} scanned",
        plural(report.files, "file", "files")
    ));
    if report.commits > 0 {
        s.push_str(&format!(
            " across {} commit{}",
            report.commits,
            if report.commits == 1 { "" } else { "s" }
        ));
    }
    if report.skipped > 0 {
        s.push_str(&format!(
            " ({} skipped: compressed, too large or allowlisted)",
            report.skipped
        ));
    }
    if report.findings.iter().any(|f| f.validation.is_some()) {
        let (live, invalid, unknown) = verify::counts(&report.findings);
        s.push_str(&format!(
            "; validation: {live} live, {invalid} invalid, {unknown} unknown"
        ));
    }
    if !report.errors.is_empty() {
        s.push_str(&format!("; {} could not be read", report.errors.len()));
    }
    s
}

/// `{"findings":[{"file","line","column","end_line"?,"end_column"?,"rule","description","fingerprint","commit"?,"author"?,"date"?,
/// "validation"?,"validation_reason"?}],
/// "warnings"?:[text], "errors"?:[text]}`. `warnings` (checks that did not
/// run fully) and `errors` (items that could not be read) appear only when
/// there are some, so a complete scan keeps the original one-key shape.
pub fn json_value(report: &Report) -> Value {
    let items: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut o = json!({ "file": f.file, "line": f.line, "column": f.column });
            if let Some((line, column)) = f.end {
                o["end_line"] = json!(line);
                o["end_column"] = json!(column);
            }
            o["rule"] = json!(f.rule);
            o["description"] = json!(f.description);
            o["fingerprint"] = json!(f.fingerprint);
            if let Some(c) = &f.commit {
                o["commit"] = json!(c);
            }
            if let (Some(a), Some(d)) = (&f.author, &f.date) {
                o["author"] = json!(a);
                o["date"] = json!(d);
            }
            if let Some(m) = &f.managed {
                o["secret"] = json!(m.name);
                o["environments"] = json!(m.environments);
                o["remedy"] = json!(m.remedy);
            }
            if let Some(v) = &f.validation {
                o["validation"] = json!(v.status.as_str());
                o["validation_reason"] = json!(v.reason);
            }
            o
        })
        .collect();
    let mut v = json!({ "findings": items });
    if !report.warnings.is_empty() {
        v["warnings"] = json!(report.warnings);
    }
    if !report.errors.is_empty() {
        v["errors"] = json!(error_lines(report));
    }
    v
}

/// A finding's SARIF region: where the secret starts and, when known,
/// where it ends (`endColumn` is the column after its last character).
fn region(f: &Finding) -> Value {
    let mut r = json!({ "startLine": f.line, "startColumn": f.column });
    if let Some((line, column)) = f.end {
        r["endLine"] = json!(line);
        r["endColumn"] = json!(column);
    }
    r
}

fn error_lines(report: &Report) -> Vec<String> {
    report.errors.iter().map(ToString::to_string).collect()
}

/// SARIF 2.1.0, with `tool.driver.rules` for the rules that fired, the
/// fingerprint under `partialFingerprints["gsecFingerprint/v1"]`, and one
/// invocation whose `toolExecutionNotifications` hold the warnings (level
/// `warning`) and unreadable items (level `error`, and then
/// `executionSuccessful` is false).
pub fn sarif(report: &Report) -> Value {
    let findings = &report.findings;
    let mut ids: Vec<&str> = findings.iter().map(|f| f.rule).collect();
    ids.sort_unstable();
    ids.dedup();
    let rules: Vec<Value> = ids
        .iter()
        .map(|id| {
            let (desc, provider) = describe(id, findings);
            let mut r = json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": desc },
                "defaultConfiguration": { "level": "error" },
            });
            if let Some(p) = provider {
                r["properties"] = json!({ "provider": p, "tags": ["security", "secret"] });
            }
            r
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut r = json!({
                "ruleId": f.rule,
                "ruleIndex": ids.binary_search(&f.rule).unwrap_or(0),
                "level": "error",
                "message": { "text": match &f.managed {
                    Some(m) => format!("{} ({}): {}", f.description, f.rule, m.remedy),
                    None => format!("{} ({}){}", f.description, f.rule, validation_note(f)),
                } },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.file) },
                        "region": region(f)
                    }
                }],
                "partialFingerprints": { "gsecFingerprint/v1": f.fingerprint },
            });
            let mut props = serde_json::Map::new();
            if let Some(c) = &f.commit {
                props.insert("commit".into(), json!(c));
            }
            if let Some(v) = &f.validation {
                props.insert("validation".into(), json!(v.status.as_str()));
                props.insert("validationReason".into(), json!(v.reason));
            }
            if !props.is_empty() {
                r["properties"] = Value::Object(props);
            }
            r
        })
        .collect();
    let notify = |level: &str, text: &str| json!({ "level": level, "message": { "text": text } });
    let notes: Vec<Value> = report
        .warnings
        .iter()
        .map(|w| notify("warning", w))
        .chain(error_lines(report).iter().map(|e| notify("error", e)))
        .collect();
    let mut invocation = json!({ "executionSuccessful": report.errors.is_empty() });
    if !notes.is_empty() {
        invocation["toolExecutionNotifications"] = json!(notes);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "gsec",
                "informationUri": "https://github.com/gsec-dev/gsec",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [invocation],
            "results": results,
        }]
    })
}

fn describe(id: &str, findings: &[Finding]) -> (String, Option<String>) {
    let desc = findings
        .iter()
        .find(|f| f.rule == id)
        .map(|f| f.description.to_string())
        .unwrap_or_default();
    let provider = rules::pack_rule_by_id(id)
        .ok()
        .flatten()
        .map(|r| r.provider.clone());
    (desc, provider)
}

/// Relative URI reference: `/` separators, spaces and `%` escaped.
fn uri(path: &str) -> String {
    path.replace('%', "%25").replace(' ', "%20")
}

/// `::error file=…,line=…,col=…,title=…::message` (workflow commands) per
/// finding (`::warning` for one validation found invalid), then `::warning title=gsec::…` per warning and
/// `::error title=gsec: unreadable::…` per item that could not be read.
fn github(report: &Report, w: &mut dyn Write) -> std::io::Result<()> {
    for f in &report.findings {
        // Validated: a revoked credential is a warning (still in the
        // history, no longer usable); live and unknown stay errors, and
        // the title says which.
        let (level, title) = match &f.validation {
            Some(v) if v.status == Status::Invalid => {
                ("warning", format!("gsec: {} (invalid)", f.rule))
            }
            Some(v) => ("error", format!("gsec: {} ({})", f.rule, v.status.as_str())),
            None => ("error", format!("gsec: {}", f.rule)),
        };
        writeln!(
            w,
            "::{level} file={},line={},col={},title={}::{}",
            escape_prop(&f.file),
            f.line,
            f.column,
            escape_prop(&title),
            escape_data(&match &f.managed {
                Some(m) => format!(
                    "{}: {} (fingerprint {})",
                    f.description, m.remedy, f.fingerprint
                ),
                None => format!(
                    "{}{} (fingerprint {})",
                    f.description,
                    validation_note(f),
                    f.fingerprint
                ),
            }),
        )?;
    }
    for m in &report.warnings {
        writeln!(w, "::warning title=gsec::{}", escape_data(m))?;
    }
    for e in error_lines(report) {
        writeln!(
            w,
            "::error title={}::{}",
            escape_prop("gsec: unreadable"),
            escape_data(&e)
        )?;
    }
    Ok(())
}

/// `; validation: live (api.github.com answered 200)`, or nothing.
fn validation_note(f: &Finding) -> String {
    f.validation
        .as_ref()
        .map(|v| format!("; validation: {} ({})", v.status.as_str(), v.reason))
        .unwrap_or_default()
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_prop(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
