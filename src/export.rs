//! The environment variables an environment exports, and their formatting
//! for every `gsec export` format.
//!
//! `gsec run` and `gsec export` share [`variables`], so the names a program
//! sees under `run` are exactly the names `export` writes. Each format quotes
//! for the reader that consumes it; the tests round-trip awkward values
//! through the real readers (bash, python-dotenv, the GitHub runner's
//! `GITHUB_ENV` parser).

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, Zeroizing};

use crate::envs::{self, Resolved};
use crate::error::{Error, Result};
use crate::project::Project;

/// One environment variable.
pub struct Var {
    /// The variable name (`DB_URL`).
    pub name: String,
    /// The secret it comes from (`db`, for a nested `db: {url: …}`).
    pub secret: String,
    pub value: Zeroizing<String>,
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Var")
            .field("name", &self.name)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// Output formats of `gsec export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `NAME="value"` lines with escapes, as python-dotenv and `gsec import` read them.
    Dotenv,
    /// One JSON object, NAME → value.
    Json,
    /// One YAML map, NAME → value.
    Yaml,
    /// `export NAME='value'` lines, for `source <(gsec export --format shell)`.
    Shell,
    /// `SECRET_NAME=<base64>` lines: Kestra open-source edition's secrets.
    Kestra,
    /// Mask every value in the GitHub Actions log, then append the values to
    /// `$GITHUB_ENV` (or `$GITHUB_OUTPUT`).
    Github,
}

/// A portable environment-variable name: what POSIX shells, `.env` readers
/// and the GitHub runner all accept.
pub fn valid_var_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every variable of `env` (after inheritance and local overrides), nested
/// values flattened as `PARENT_CHILD`, plus the declared secrets that are
/// `required` in `env` and have no value.
///
/// Refuses names that are not portable variable names, two secrets that
/// would set the same variable, and values holding a NUL byte (which no
/// process environment can carry), naming the secret each time.
///
/// With `service`, only the secrets granted to it (see `services.rs`), and
/// only its granted secrets count as missing.
pub fn variables(
    project: &Project,
    env: &str,
    service: Option<&str>,
) -> Result<(Vec<Var>, Vec<String>)> {
    let all = match service {
        Some(s) => {
            let r = envs::Resolver::for_service(project, s)?;
            crate::services::check_grants(project, s)?;
            r
        }
        None => envs::Resolver::new(project),
    }
    .all(env)?;
    let mut vars: Vec<Var> = Vec::new();
    for Resolved { name, value, .. } in &all {
        // A lease is minted on use (`gsec run`, the Action's `load`), never
        // read from a file: a stored value under its name is not given.
        if crate::lease::is_lease(project, name) {
            project.warnings.warn(&format!(
                "{name} is declared as a lease; the value stored under that name in {env} is ignored (remove it with `gsec rm {name} --env {env}`)"
            ));
            continue;
        }
        let base = project.config.env_var(name);
        for (suffix, text) in envs::flatten(value) {
            let var = if suffix.is_empty() {
                base.clone()
            } else {
                format!("{base}_{suffix}")
            };
            if !valid_var_name(&var) {
                return Err(Error::usage(format!(
                    "secret '{name}' would be exported as '{var}', which is not a valid environment variable name (letters, digits and '_', not starting with a digit); set `env:` for it in .gsec.yaml"
                )));
            }
            if let Some(other) = vars.iter().find(|v| v.name == var) {
                return Err(Error::usage(format!(
                    "secrets '{}' and '{name}' would both set {var}; give one of them another `env:` name in .gsec.yaml",
                    other.secret
                )));
            }
            if text.contains('\0') {
                return Err(Error::usage(format!(
                    "the value of {var} (secret '{name}') contains a NUL byte, which an environment variable cannot hold"
                )));
            }
            vars.push(Var {
                name: var,
                secret: name.clone(),
                value: text,
            });
        }
    }
    let missing = project
        .config
        .secrets
        .iter()
        .filter(|(n, d)| {
            d.required.applies_to(env)
                && d.lease.is_none()
                && !all.iter().any(|r| r.name.eq_ignore_ascii_case(n))
                && service.is_none_or(|s| project.config.services[s].grants(n))
        })
        .map(|(n, _)| n.clone())
        .collect();
    Ok((vars, missing))
}

/// Environments where running with a required secret missing is only a
/// warning: the ones developers run on their own machines.
pub const LENIENT_ENVS: &[&str] = &["local", "development", "preview"];

/// The variables of `env`, applying the policy for declared `required`
/// secrets with no value: a warning (to the project's sink) where
/// developers work (`local`, `development`, `preview`), a refusal anywhere
/// else, so nothing runs or deploys half-configured. Shared by `run`,
/// `export` and the Action's `load`.
pub fn checked_variables(project: &Project, env: &str, service: Option<&str>) -> Result<Vec<Var>> {
    checked_variables_allowing(project, env, service, false)
}

/// [`checked_variables`], where `allow_missing` (`gsec run --allow-missing`)
/// turns the refusal into the warning in every environment.
pub fn checked_variables_allowing(
    project: &Project,
    env: &str,
    service: Option<&str>,
    allow_missing: bool,
) -> Result<Vec<Var>> {
    let (vars, missing) = variables(project, env, service)?;
    if !missing.is_empty() {
        let list = missing.join(", ");
        if allow_missing || LENIENT_ENVS.contains(&env) {
            project.warnings.warn(&format!(
                "required secret(s) with no value in {env}: {list}"
            ));
        } else {
            return Err(Error::usage(format!(
                "required secret(s) with no value in {env}: {list}; set them with `gsec set NAME --env {env}` (see `gsec check --env {env}`), or run with --allow-missing"
            )));
        }
    }
    Ok(vars)
}

/// Format `vars` for every format except `github` (which writes a file and
/// is done by [`github_masks`] and [`github_file`]).
pub fn render(format: Format, vars: &[Var]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    match format {
        Format::Dotenv => {
            for v in vars {
                let _ = writeln!(out, "{}={}", v.name, &*crate::dotenv::quote(&v.value));
            }
        }
        Format::Shell => {
            for v in vars {
                let _ = writeln!(out, "export {}={}", v.name, &*shell_quote(&v.value));
            }
        }
        Format::Kestra => {
            for v in vars {
                let mut b64 = Zeroizing::new(STANDARD.encode(v.value.as_bytes()));
                let _ = writeln!(out, "SECRET_{}={}", v.name, &*b64);
                b64.zeroize();
            }
        }
        Format::Json => {
            out.push('{');
            for (i, v) in vars.iter().enumerate() {
                out.push_str(if i == 0 { "\n  " } else { ",\n  " });
                json_string(&mut out, &v.name);
                out.push_str(": ");
                json_string(&mut out, &v.value);
            }
            out.push_str(if vars.is_empty() { "}\n" } else { "\n}\n" });
        }
        Format::Yaml => {
            use crate::vault::format::{Emit, emit_tree};
            // `Emit` zeroizes its scalars on drop.
            let tree = Emit::Map(
                vars.iter()
                    .map(|v| (v.name.clone(), Emit::Str(v.value.to_string())))
                    .collect(),
            );
            out.push_str(&emit_tree(&tree));
        }
        Format::Github => unreachable!("github output is written by github_masks and github_file"),
    }
    out
}

/// POSIX single quoting: everything literal, `'` as `'\''`.
pub fn shell_quote(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 2));
    out.push('\'');
    for ch in value.chars() {
        if ch == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

/// A JSON string literal (RFC 8259 escapes), appended to `out`.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The `::add-mask::` commands for `vars`: each value, and each line of a
/// multi-line value (the runner masks a registered secret as a whole, and a
/// program printing a key file shows it line by line). Print all of them
/// before anything else can show a value.
pub fn github_masks(vars: &[Var]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    let mut seen: Vec<&str> = Vec::new();
    for v in vars {
        let mut parts: Vec<&str> = vec![&v.value];
        if v.value.contains(['\n', '\r']) {
            parts.extend(v.value.split(['\n', '\r']));
        }
        for p in parts {
            if p.trim().is_empty() || seen.contains(&p) {
                continue;
            }
            seen.push(p);
            let _ = writeln!(
                out,
                "::add-mask::{}",
                &*Zeroizing::new(crate::github::escape_data(p))
            );
        }
    }
    out
}

/// The `NAME<<DELIMITER` blocks that set `vars` through `$GITHUB_ENV` or
/// `$GITHUB_OUTPUT`. Each delimiter is random (`ghadelimiter_` and 128 random
/// bits, as `@actions/core` does) and drawn again until it occurs nowhere in
/// the value, so no value can end its block early and inject a variable.
///
/// The runner drops a value's trailing CR (it reads the line break before
/// the delimiter as CRLF), so such a value is refused rather than altered.
pub fn github_file(vars: &[Var]) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::new());
    for v in vars {
        if v.value.ends_with('\r') {
            return Err(Error::usage(format!(
                "the value of {} ends with a carriage return, which GitHub's environment file cannot carry",
                v.name
            )));
        }
        let delim = loop {
            let d = format!("ghadelimiter_{}", hex::encode(rand::random::<[u8; 16]>()));
            if !v.value.contains(&d) {
                break d;
            }
        };
        let _ = write!(out, "{}<<{delim}\n{}\n{delim}\n", v.name, &*v.value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> Var {
        Var {
            name: name.into(),
            secret: name.into(),
            value: Zeroizing::new(value.into()),
        }
    }

    #[test]
    fn var_names() {
        for ok in ["A", "_A", "a_1", "DB_URL"] {
            assert!(valid_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A.B", "A B", "A=B", "A<<B", "É"] {
            assert!(!valid_var_name(bad), "{bad}");
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(&*shell_quote("it's $x"), "'it'\\''s $x'");
    }

    #[test]
    fn json_is_valid_and_exact() {
        let vars = [var("A", "q\"\\\n\u{1}é"), var("B", "")];
        let text = render(Format::Json, &vars);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["A"], "q\"\\\n\u{1}é");
        assert_eq!(v["B"], "");
        assert_eq!(&*render(Format::Json, &[]), "{}\n");
    }

    #[test]
    fn kestra_is_base64() {
        assert_eq!(
            &*render(Format::Kestra, &[var("TOKEN", "hi\n")]),
            "SECRET_TOKEN=aGkK\n"
        );
    }

    #[test]
    fn github_masks_value_and_lines_escaped() {
        let m = github_masks(&[var("K", "a%b\r\nline2\n\nline2")]);
        assert_eq!(
            &*m,
            "::add-mask::a%25b%0D%0Aline2%0A%0Aline2\n::add-mask::a%25b\n::add-mask::line2\n"
        );
    }

    #[test]
    fn github_delimiter_never_occurs_in_value() {
        let f = github_file(&[var("K", "x\nghadelimiter_\nEOF")]).unwrap();
        let first = f.lines().next().unwrap();
        let delim = first.strip_prefix("K<<").unwrap();
        assert!(delim.starts_with("ghadelimiter_") && delim.len() == 13 + 32);
        assert!(f.ends_with(&format!("\n{delim}\n")));
        assert!(github_file(&[var("K", "x\r")]).is_err());
    }
}
