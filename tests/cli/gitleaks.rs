//! gitleaks compatibility (issue 13, item 4): a repository's
//! `.gitleaks.toml` and `.gitleaksignore` give the same accept/reject
//! decisions in gsec as in real gitleaks (which runs here: staged, directory and
//! git mode); custom rules in `.gsec.yaml` and `--check-rules`;
//! `scan.baseline` honoured by every scan, the staged one included.
//!
//! Tokens are built at run time from a seed: no token-shaped literal in
//! this file.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::common::{self, Env};
use crate::scan::{findings, json, repo, scan_json, with_scan};

/// `n` lowercase letters and digits from `seed`, free of the placeholder
/// words both scanners' users expect to be dropped.
fn chars(seed: u64, n: usize) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed;
    loop {
        let s: String = (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                A[(x >> 33) as usize % A.len()] as char
            })
            .collect();
        let placeholder = [
            "test", "example", "sample", "dummy", "xxxx", "changeme", "fake",
        ]
        .iter()
        .any(|w| s.contains(w));
        if !placeholder {
            return s;
        }
    }
}

/// A token of the custom `acme-token` rule: `acme_live_` + 24 characters.
fn acme(seed: u64) -> String {
    format!("acme_{}_{}", "live", chars(seed, 24))
}

/// The custom rules of the test configuration.
const CUSTOM: &[&str] = &["acme-token", "acme-db-password", "acme-keystore"];

/// A `.gitleaks.toml` with three custom rules (keyword-filtered with a
/// secret group and entropy; path-restricted without keywords; path only),
/// a global allowlist (paths, a regex on the secret), a rule allowlist
/// (stopwords; a regex on the line) and, given commits, a commit allowlist.
fn gitleaks_toml(commits: &[&str]) -> String {
    let mut t = String::from(
        r#"title = "acme"

[extend]
useDefault = true

[[rules]]
id = "acme-token"
description = "ACME internal API token"
regex = '''acme_(?:live|test)_([a-z0-9]{24})'''
secretGroup = 1
entropy = 3.0
keywords = ["acme_"]
tags = ["internal"]

  [[rules.allowlists]]
  stopwords = ["sandbox"]

  [[rules.allowlists]]
  regexTarget = "line"
  regexes = ['''#\s*not-a-secret''']

[[rules]]
id = "acme-db-password"
description = "ACME database password in a properties file"
regex = '''acme\.db\.password=([a-z0-9]{16,})'''
entropy = 3.5
path = '''\.properties$'''

[[rules]]
id = "acme-keystore"
description = "Java keystore committed"
path = '''\.keystore$'''

[[allowlists]]
description = "documentation and fixtures"
paths = ['''^docs/''']
regexes = ['''^0000''']
"#,
    );
    if !commits.is_empty() {
        let list: Vec<String> = commits.iter().map(|c| format!("\"{c}\"")).collect();
        t.push_str(&format!(
            "\n[[allowlists]]\ndescription = \"reviewed commit\"\ncommits = [{}]\n",
            list.join(", ")
        ));
    }
    t
}

/// The test repository's files; `.gitleaksignore` is written separately.
fn write_tree(e: &Env) {
    let gh = common::fake_github_token();
    let gh2 = common::fake_github_token();
    let files: Vec<(&str, String)> = vec![
        // Rejected by both: a custom-rule token.
        ("src/app.py", format!("ACME_VALUE = \"{}\"\n", acme(1))),
        // Global path allowlist.
        ("docs/guide.md", format!("Call it with {} here.\n", acme(2))),
        // Global regex allowlist, on the secret (the rule's group).
        (
            "src/zeros.py",
            format!("Z = \"acme_live_0000{}\"\n", chars(3, 20)),
        ),
        // The rule's stopword, in the secret.
        (
            "src/sandbox.py",
            format!("S = \"acme_live_sandbox{}\"\n", chars(4, 17)),
        ),
        // The rule's line-target regex.
        (
            "src/fixtures.py",
            format!("F = \"{}\"  # not-a-secret\n", acme(5)),
        ),
        // gitleaks' inline marker.
        (
            "src/inline.py",
            format!("I = \"{}\"  # gitleaks:allow\n", acme(6)),
        ),
        // .gitleaksignore names this line.
        ("src/ignored.py", format!("# header\nV = \"{}\"\n", acme(7))),
        // .gitleaksignore names another line (and, in git mode, the
        // commit-scoped entry names this one).
        ("src/moved.py", format!("V = \"{}\"\n", acme(8))),
        // Below the rule's entropy.
        (
            "src/low.py",
            "L = \"acme_live_aaaaaaaaaaaaaaaaaaaaaaaa\"\n".into(),
        ),
        // Path-restricted rule without keywords: found in .properties only.
        (
            "conf/app.properties",
            format!("acme.db.password={}\n", chars(9, 20)),
        ),
        (
            "conf/app.txt",
            format!("acme.db.password={}\n", chars(10, 20)),
        ),
        // Path-only rule, and the same name under the allowed docs/.
        ("deploy/prod.keystore", "binary keystore stand-in\n".into()),
        ("docs/old.keystore", "binary keystore stand-in\n".into()),
        // A built-in rule in both (gitleaks' id github-pat, gsec's
        // github-pat-classic): .gitleaksignore names gitleaks' id for ci.env.
        ("config/deploy.env", format!("GH={gh}\n")),
        ("config/ci.env", format!("GH={gh2}\n")),
    ];
    for (path, text) in files {
        e.write(path, &text);
    }
}

/// Files whose decisions are compared; built-in findings are compared
/// (found or not) only where `builtin` says, since the two default rule
/// sets differ by design.
const FILES: &[&str] = &[
    "src/app.py",
    "docs/guide.md",
    "src/zeros.py",
    "src/sandbox.py",
    "src/fixtures.py",
    "src/inline.py",
    "src/ignored.py",
    "src/moved.py",
    "src/low.py",
    "src/late.py",
    "conf/app.properties",
    "conf/app.txt",
    "deploy/prod.keystore",
    "docs/old.keystore",
];
const BUILTIN_FILES: &[&str] = &["config/deploy.env", "config/ci.env"];

/// (file, rule) pairs a scanner reported.
type Found = BTreeSet<(String, String)>;

/// Per file: the custom rules found, or `*` for "some built-in finding"
/// in the files where those are compared.
fn decisions(found: &Found) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in FILES.iter().chain(BUILTIN_FILES) {
        out.insert(f.to_string(), BTreeSet::new());
    }
    for (file, rule) in found {
        let Some(set) = out.get_mut(file) else {
            continue;
        };
        if CUSTOM.contains(&rule.as_str()) {
            set.insert(rule.clone());
        } else if BUILTIN_FILES.contains(&file.as_str()) {
            set.insert("*".into());
        }
    }
    out
}

/// Run real gitleaks (`dir .` or `git .`) in the repository.
fn gitleaks(e: &Env, mode: &str) -> Found {
    gitleaks_run(e, &[mode, "."], mode)
}

/// `gitleaks git --staged .`: what gitleaks' pre-commit hook runs.
fn gitleaks_staged(e: &Env) -> Found {
    gitleaks_run(e, &["git", "--staged", "."], "staged")
}

fn gitleaks_run(e: &Env, args: &[&str], mode: &str) -> Found {
    let report = e.tmp.path().join(format!("gitleaks-{mode}.json"));
    let mut c = Command::new(common::tool("gitleaks"));
    c.args(args)
        .args(["--no-banner", "--report-format", "json"])
        .arg("--report-path")
        .arg(&report)
        .current_dir(&e.dir);
    e.clean_env(&mut c);
    for k in ["GITLEAKS_CONFIG", "GITLEAKS_CONFIG_TOML"] {
        c.env_remove(k);
    }
    let out = c.output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "gitleaks {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&std::fs::read(&report).unwrap_or_else(|e| {
        panic!(
            "gitleaks {mode} wrote no report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    }));
    v.as_array()
        .expect("gitleaks report is an array")
        .iter()
        .map(|f| {
            (
                f["File"].as_str().unwrap().to_string(),
                f["RuleID"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn gsec(e: &Env, args: &[&str]) -> (Found, String) {
    let (code, v, err) = scan_json(e, args);
    assert!(matches!(code, 0 | 1), "gsec scan {args:?}: {err}");
    let found = findings(&v)
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (found, err)
}

fn set(items: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = decisions(&Found::new());
    for (file, rules) in items {
        out.insert(
            file.to_string(),
            rules.iter().map(|r| r.to_string()).collect(),
        );
    }
    out
}

#[test]
fn same_decisions_as_gitleaks_staged_directory_and_history() {
    let e = repo();
    write_tree(&e);
    // Staged mode (the pre-commit hook), before the first commit: no
    // commit-scoped settings yet.
    e.write(".gitleaks.toml", &gitleaks_toml(&[]));
    e.write(
        ".gitleaksignore",
        "src/ignored.py:acme-token:2\nsrc/moved.py:acme-token:3\nconfig/ci.env:github-pat:1\n",
    );
    e.git(&["add", "-A"]);
    let want_staged = set(&[
        ("src/app.py", &["acme-token"]),
        ("src/moved.py", &["acme-token"]),
        ("conf/app.properties", &["acme-db-password"]),
        ("deploy/prod.keystore", &["acme-keystore"]),
        ("config/deploy.env", &["*"]),
    ]);
    let gl = decisions(&gitleaks_staged(&e));
    let (found, err) = gsec(&e, &["--staged"]);
    assert_eq!(
        gl, want_staged,
        "gitleaks --staged disagrees with the expectation"
    );
    assert_eq!(
        decisions(&found),
        gl,
        "gsec differs from gitleaks (staged); stderr: {err}"
    );
    e.git(&["commit", "-qm", "tree"]);
    e.write("src/late.py", &format!("LATE = \"{}\"\n", acme(11)));
    e.git(&["add", "src/late.py"]);
    e.git(&["commit", "-qm", "late"]);
    let first = e.git(&["rev-parse", "HEAD~1"]).trim().to_string();
    let late = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    // Written after the commits (gitleaks and gsec both read them from
    // the work tree): a commit allowlist for `late`, and a commit-scoped
    // ignore entry for src/moved.py in the first commit.
    e.write(".gitleaks.toml", &gitleaks_toml(&[&late]));
    e.write(
        ".gitleaksignore",
        &format!(
            "# accepted findings\nsrc/ignored.py:acme-token:2\nsrc/moved.py:acme-token:3\nconfig/ci.env:github-pat:1\n{first}:src/moved.py:acme-token:1\n{late}:src/app.py:acme-token:1\n"
        ),
    );

    // Directory mode: no commits, so neither commit-scoped setting applies.
    let want_dir = set(&[
        ("src/app.py", &["acme-token"]),
        ("src/moved.py", &["acme-token"]),
        ("src/late.py", &["acme-token"]),
        ("conf/app.properties", &["acme-db-password"]),
        ("deploy/prod.keystore", &["acme-keystore"]),
        ("config/deploy.env", &["*"]),
    ]);
    let gl = decisions(&gitleaks(&e, "dir"));
    let (found, err) = gsec(&e, &[]);
    let gs = decisions(&found);
    assert_eq!(gl, want_dir, "gitleaks dir disagrees with the expectation");
    assert_eq!(gs, gl, "gsec differs from gitleaks (dir); stderr: {err}");
    assert!(
        err.contains(
            "gsec: .gitleaks.toml: imported 3 rules, 4 allowlists (1 path, 2 regexes, 1 stopword, 1 commit)\n"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "gsec: .gitleaksignore: 5 line-based fingerprints honoured (1 naming gitleaks rules gsec does not have: matched by file and line)"
        ),
        "{err}"
    );

    // Git mode: the commit allowlist and the commit-scoped entry apply.
    let want_git = set(&[
        ("src/app.py", &["acme-token"]),
        ("conf/app.properties", &["acme-db-password"]),
        ("deploy/prod.keystore", &["acme-keystore"]),
        ("config/deploy.env", &["*"]),
    ]);
    let gl = decisions(&gitleaks(&e, "git"));
    let (found, err) = gsec(&e, &["--history"]);
    let gs = decisions(&found);
    assert_eq!(gl, want_git, "gitleaks git disagrees with the expectation");
    assert_eq!(gs, gl, "gsec differs from gitleaks (git); stderr: {err}");
}

#[test]
fn what_is_not_understood_is_named_and_the_rest_applies() {
    let e = repo();
    e.write(
        ".gitleaks.toml",
        r#"
[[rules]]
id = "acme-token"
regex = '''acme_live_([a-z0-9]{24})'''
keywords = ["acme_live"]

[[rules]]
id = "acme-lookahead"
regex = '''acme_(?=live)'''

[[rules]]
id = "acme-pair"
regex = '''acme_pair_[a-z]{8}'''
  [[rules.required]]
  id = "acme-token"

[extend]
path = "other.toml"
disabledRules = ["github-pat-classic", "no-such-rule"]

[[allowlists]]
targetRules = ["acme-token"]
paths = ['''^vendor/''']
"#,
    );
    e.write("src/a.py", &format!("A = \"{}\"\n", acme(21)));
    e.write("vendor/b.py", &format!("B = \"{}\"\n", acme(22)));
    e.write("c.env", &format!("GH={}\n", common::fake_github_token()));
    let (found, err) = gsec(&e, &[]);
    let line = err
        .lines()
        .find(|l| l.starts_with("gsec: .gitleaks.toml: "))
        .unwrap_or_else(|| panic!("no report line: {err}"));
    assert!(
        line.starts_with(
            "gsec: .gitleaks.toml: imported 1 rule, 1 allowlist (1 path); not understood: "
        ),
        "{line}"
    );
    for part in [
        "rules[1].regex (acme-lookahead: lookahead is not supported)",
        "rules[2].required (acme-pair: composite rules are not supported; rule not imported)",
        "extend.path (extending another configuration is not supported)",
        "extend.disabledRules (no-such-rule: gsec has no rule with this id)",
    ] {
        assert!(line.contains(part), "missing {part:?} in {line}");
    }
    // The translated rule runs, its targeted allowlist applies, and
    // disabledRules turned gsec's rule of that id off.
    assert_eq!(
        found,
        Found::from([("src/a.py".to_string(), "acme-token".to_string())]),
        "{err}"
    );
    // --gitleaks-config reads another file instead; a missing one is an
    // error, not a silent default.
    e.write("ci/gitleaks.toml", "[allowlist]\npaths = ['''^src/''']\n");
    let (found, err) = gsec(&e, &["--gitleaks-config", "ci/gitleaks.toml"]);
    assert!(
        err.contains("gsec: ci/gitleaks.toml: imported 0 rules, 1 allowlist (1 path)"),
        "{err}"
    );
    assert!(
        found.iter().all(|(f, r)| f == "c.env" && r != "acme-token"),
        "{found:?}"
    );
    let err = e.fails(&["scan", "--gitleaks-config", "nope.toml"], b"", 2);
    assert!(err.contains("nope.toml"), "{err}");
    // A file that is not TOML is an error naming it and the line.
    e.write(".gitleaks.toml", "[[rules]\nid = 1\n");
    let err = e.fails(&["scan"], b"", 2);
    assert!(err.contains(".gitleaks.toml: line 1"), "{err}");
}

#[test]
fn gitleaks_allowlists_never_hide_gsecs_own_checks() {
    let e = Env::project();
    let value = format!("pw-{}", chars(31, 20));
    e.set("DB_PASSWORD", "development", &value);
    // A team that silenced everything under notes/ for gitleaks.
    e.write(".gitleaks.toml", "[allowlist]\npaths = ['''^notes/''']\n");
    e.write("notes/todo.txt", &format!("remember: {value}\n"));
    e.write(
        "src/db.py",
        &format!("PW = \"{value}\"  # gitleaks:allow\n"),
    );
    let (found, err) = gsec(&e, &[]);
    for file in ["notes/todo.txt", "src/db.py"] {
        assert!(
            found.contains(&(file.to_string(), "gsec-managed-secret".to_string())),
            "{file}: {found:?} {err}"
        );
    }
    common::assert_no_secret(&err, &value);
}

/// Code written for gitleaks carries `gitleaks:allow`: honoured for
/// pattern findings with or without a `.gitleaks.toml`.
#[test]
fn gitleaks_allow_marker_is_honoured_without_a_config() {
    let e = repo();
    let (a, b) = (common::fake_github_token(), common::fake_github_token());
    e.write("a.env", &format!("GH={a}  # gitleaks:allow\n"));
    e.write("b.env", &format!("GH={b}\n"));
    let (found, err) = gsec(&e, &[]);
    assert_eq!(
        found,
        Found::from([("b.env".to_string(), "github-pat-classic".to_string())]),
        "{err}"
    );
}

/// `.gsec.yaml` custom rules: the scan uses them (its own samples in
/// `.gsec.yaml` are not findings), and `--check-rules` runs the samples.
#[test]
fn scan_rules_and_check_rules() {
    let e = Env::project();
    let init = e.read(".gsec.yaml");
    let cfg = |rules: &str| init.replace("\nscan:\n", &format!("\nscan:\n  rules:\n{rules}"));
    let good = format!(
        r#"  - id: acme-token
    description: ACME internal API token
    keywords: [acme_live_]
    pattern: 'acme_live_([a-z0-9]{{24}})'
    entropy: 3.0
    tp: ['ACME = "{}"']
    fp: ['acme_live_aaaaaaaaaaaaaaaaaaaaaaaa', 'acme_live_short']
"#,
        acme(40)
    );
    e.write(".gsec.yaml", &cfg(&good));
    let err = e.fails(&["scan", "--check-rules"], b"", 0);
    assert!(
        err.contains("1 custom rule(s), 3 sample(s): all pass"),
        "{err}"
    );
    e.write("src/a.py", &format!("A = \"{}\"\n", acme(41)));
    let (found, err) = gsec(&e, &[]);
    assert_eq!(
        found,
        Found::from([("src/a.py".to_string(), "acme-token".to_string())]),
        "{err}"
    );
    // A sample that fails: exit 1 naming the rule and the sample.
    let failing = format!(
        "{good}  - id: acme-key-file\n    description: ACME key file\n    path: '\\.acmekey$'\n    tp: [deploy/prod.acmekey]\n    fp: [docs/readme.md]\n  - id: acme-secret\n    description: ACME secret\n    keywords: [acmesec_]\n    pattern: 'acmesec_[A-Z]{{10}}'\n    tp: ['acmesec_QWRTZPLKMN', 'acmesec_qwrtzplkmn']\n    fp: ['acmesec_']\n"
    );
    e.write(".gsec.yaml", &cfg(&failing));
    let err = e.fails(&["scan", "--check-rules"], b"", 1);
    assert!(
        err.contains(
            "scan.rules[2] (acme-secret): tp[1] yields no finding: \"acmesec_qwrtzplkmn\""
        ),
        "{err}"
    );
    assert!(!err.contains("acme-key-file"), "{err}");
    // A rule that does not compile: exit 2, for --check-rules and scans.
    let broken = format!(
        "{good}  - id: acme-broken\n    description: lookahead\n    keywords: [acme]\n    pattern: 'acme_(?=live)'\n"
    );
    e.write(".gsec.yaml", &cfg(&broken));
    let err = e.fails(&["scan", "--check-rules"], b"", 2);
    assert!(
        err.contains(
            "scan.rules[1] (acme-broken): pattern does not compile: lookahead is not supported"
        ),
        "{err}"
    );
    let err = e.fails(&["scan"], b"", 2);
    assert!(err.contains("scan.rules[1] (acme-broken)"), "{err}");
}

/// `scan.baseline` is honoured by the staged scan (what the pre-commit
/// hook runs), history, directories and stdin, as `--baseline` is.
#[test]
fn scan_baseline_applies_to_every_scan() {
    let e = Env::project();
    let t = common::fake_github_token();
    e.write("app.env", &format!("GH={t}\n"));
    e.git(&["add", "app.env"]);
    let (code, _, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 1);
    e.ok(&["scan", "--staged", "--baseline-write", ".gsec-baseline"]);
    e.ok_in(
        &["scan", "-", "--baseline-write", "stdin-baseline"],
        format!("GH={t}\n").as_bytes(),
    );
    let mut base = e.read(".gsec-baseline");
    base.push_str(
        &e.read("stdin-baseline")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    e.write(".gsec-baseline", &base);
    std::fs::remove_file(e.path("stdin-baseline")).unwrap();
    e.write(".gsec.yaml", &with_scan(&e, "  baseline: .gsec-baseline\n"));
    let (code, v, err) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 0, "{v} {err}");
    // The hook itself.
    e.ok(&["hook", "install"]);
    e.git(&["add", ".gsec.yaml", ".gsec-baseline"]);
    e.git(&["commit", "-qm", "accepted"]);
    let (code, v, err) = scan_json(&e, &["--history"]);
    assert_eq!(code, 0, "{v} {err}");
    // The GitHub Action's scan (what `action.yml` runs).
    let out = e.run_in(
        &[
            "action",
            "scan",
            "--range",
            "HEAD",
            "--sarif-file",
            "out.sarif",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::remove_file(e.path("out.sarif")).unwrap();
    let (code, v, err) = scan_json(&e, &[]);
    assert_eq!(code, 0, "{v} {err}");
    let out = e.run_in(&["scan", "-"], format!("GH={t}\n").as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // --baseline-write ignores it (a rewrite keeps every accepted finding),
    // and a new secret is still caught.
    e.ok(&["scan", "--baseline-write", "again"]);
    assert!(e.read("again").contains("github-pat-classic:app.env:"));
    e.write("b.env", &format!("GH={}\n", common::fake_github_token()));
    e.git(&["add", "b.env"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v).len(), 1, "{v}");
}
