//! `gsec scan`: fixture precision/recall, every source, allowlist kind and
//! output format, managed-value detection, and error handling.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, BIN, Env};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan")
}

pub(crate) fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

pub(crate) fn findings(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["findings"].as_array().expect("findings array").clone()
}

/// (file:line rule) of each finding.
fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    findings(v)
        .iter()
        .map(|f| {
            format!(
                "{}:{} {}",
                f["file"].as_str().unwrap(),
                f["line"],
                f["rule"].as_str().unwrap()
            )
        })
        .collect()
}

/// A scratch git repository (no gsec project) with a private HOME.
pub(crate) fn repo() -> Env {
    let e = Env::new();
    e.git(&["init", "-q", "-b", "main"]);
    e
}

/// `.gsec.yaml` with `settings` (indented lines) added to its `scan:`
/// section (which `gsec init` writes, with the fingerprint key).
pub(crate) fn with_scan(e: &Env, settings: &str) -> String {
    let cfg = e.read(".gsec.yaml");
    assert!(cfg.contains("\nscan:\n"), "{cfg}");
    cfg.replace("\nscan:\n", &format!("\nscan:\n{settings}"))
}

pub(crate) fn scan_json(e: &Env, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut a = vec!["scan", "--format", "json"];
    a.extend_from_slice(args);
    let out = e.run_in(&a, b"");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), json(&out.stdout), err)
}

// A fake GitHub token with a valid checksum, built at run time so this
// file holds no token-shaped literal.
fn github_token(random: &str) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32(random.as_bytes()) as u64;
    let mut c = [b'0'; 6];
    for s in c.iter_mut().rev() {
        *s = B62[(n % 62) as usize];
        n /= 62;
    }
    format!("ghp_{random}{}", String::from_utf8_lossy(&c))
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn token() -> String {
    github_token("Qm7vT2xK9pL4nR8sW3yB6cF1hJ5dGa")
}

#[test]
fn fixture_has_every_true_positive_and_no_false_positive() {
    let out = Command::new(BIN)
        .args(["scan", "--no-git", "--format", "json", "tree"])
        .current_dir(fixtures())
        .env("NO_COLOR", "1")
        .env("HOME", fixtures())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = keys(&json(&out.stdout));
    let want: BTreeSet<String> = std::fs::read_to_string(fixtures().join("expected.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let fp: Vec<_> = got.difference(&want).collect();
    let missed: Vec<_> = want.difference(&got).collect();
    assert!(
        fp.is_empty() && missed.is_empty(),
        "false positives: {fp:#?}\nmissed: {missed:#?}"
    );
}

#[test]
fn json_shape_is_exact_and_paths_relative_to_the_scanned_dir() {
    let e = repo();
    let t = token();
    e.write("sub/app/config.env", &format!("GITHUB_TOKEN={t}\n"));
    let (code, v, _) = scan_json(&e, &["sub"]);
    assert_eq!(code, 1);
    let f = findings(&v);
    assert_eq!(f.len(), 1);
    let obj = f[0].as_object().unwrap();
    let fields: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "rule",
            "description",
            "fingerprint"
        ]
    );
    assert_eq!(obj["file"], "app/config.env");
    assert_eq!(obj["line"], 1);
    assert_eq!(obj["column"], 14);
    assert_eq!(obj["end_line"], 1);
    assert_eq!(obj["end_column"], 14 + t.len());
    assert_eq!(obj["rule"], "github-pat-classic");
    // Fingerprints use the root-relative path, whatever was scanned.
    assert!(
        obj["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("github-pat-classic:sub/app/config.env:")
    );
    // Besides the findings, only the note that (without a gsec project)
    // fingerprints are keyed with the public key.
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["findings", "warnings"], "{v}");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1, "{v}");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("fingerprint_key"),
        "{v}"
    );
    common::assert_no_secret(&v.to_string(), &t);
}

#[test]
fn human_output_redacts_and_summarises() {
    let e = repo();
    let t = token();
    e.write("a.env", &format!("X=1\nGITHUB_TOKEN={t}\n"));
    let out = e.run_in(&["scan"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("a.env:2:14  github-pat-classic"),
        "{stdout}"
    );
    assert!(stdout.contains("ghp_****"), "{stdout}");
    common::assert_no_secret(&stdout, &t);
    common::assert_no_secret(&stderr, &t);
    common::assert_no_secret(&stdout, &t[..8]);
    assert!(stderr.contains("1 finding in 1 file; "), "{stderr}");
    assert!(
        stderr.contains("1 finding in 1 file; 1 file scanned"),
        "{stderr}"
    );
    // A clean tree exits 0.
    std::fs::remove_file(e.path("a.env")).unwrap();
    let out = e.run_in(&["scan"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let e = repo();
    e.write(
        "a.env",
        &format!("GITHUB_TOKEN={}\nDB_PASSWORD=Xk9mP2vLq7Rt\n", token()),
    );
    let out = e.run_in(
        &["scan", "--format", "sarif", "--output", "report.sarif"],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = e.path("report.sarif");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let run = &v["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["generic-secret", "github-pat-classic"]);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        let fp = r["partialFingerprints"]["gsecFingerprint/v1"]
            .as_str()
            .unwrap();
        assert!(fp.starts_with(r["ruleId"].as_str().unwrap()), "{fp}");
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "a.env"
        );
    }
    if let Err(e) = common::sarif_errors(&path) {
        panic!("SARIF does not validate: {e}");
    }
    // And a broken report is rejected, so the check can fail.
    let mut bad = v.clone();
    bad["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    let bad_path = e.path("bad.sarif");
    std::fs::write(&bad_path, bad.to_string()).unwrap();
    assert!(
        common::sarif_errors(&bad_path).is_err(),
        "a broken report must fail validation"
    );
}

/// A finding marks the whole credential: JSON's `end_line`/`end_column` and
/// SARIF's `endLine`/`endColumn` (the column after its last character,
/// counted in characters like the start) span every character of it, the
/// parts that used to be cut off included (a routable GitLab token's
/// `.01.…` tail, a SAS signature's `=`, a PyPI token past 300 characters),
/// and a key block ends on its END line.
#[test]
fn findings_mark_the_whole_credential_in_json_and_sarif() {
    let e = repo();
    // Deterministic, random-looking bodies (an LCG): no real credential.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut body = |n: usize, alphabet: &[u8]| -> String {
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                alphabet[(x >> 33) as usize % alphabet.len()] as char
            })
            .collect()
    };
    let b62 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let glrt = format!("glrt-t2_{}.01.1e4uclynd", body(48, b62));
    let sig = format!("{}=", body(43, b62));
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", body(330, b62));
    let key = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n{}\n-----END OPENSSH PRIVATE KEY-----",
        body(64, b62),
        body(40, b62)
    );
    e.write(
        "a.env",
        &format!(
            "# runner\nclé=1 RUNNER_TOKEN=\"{glrt}\"\nSAS=https://a.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig={sig}&x=1\nTWINE_PASSWORD={pypi}\n{key}\n"
        ),
    );
    let (code, v, err) = scan_json(&e, &["--no-git"]);
    assert_eq!(code, 1, "{v} {err}");
    let find = |rule: &str| -> serde_json::Value {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap_or_else(|| panic!("no {rule} finding: {v}"))
            .clone()
    };
    let n = |f: &serde_json::Value, k: &str| {
        f[k].as_u64().unwrap_or_else(|| panic!("{k}: {f}")) as usize
    };
    for (rule, secret, line) in [
        ("gitlab-runner-token", &glrt, 2),
        ("azure-sas-token", &sig, 3),
        ("pypi-upload-token", &pypi, 4),
    ] {
        let f = find(rule);
        assert_eq!((n(&f, "line"), n(&f, "end_line")), (line, line), "{f}");
        assert_eq!(
            n(&f, "end_column") - n(&f, "column"),
            secret.chars().count(),
            "{rule}: {f}"
        );
    }
    let k = find("private-key-block");
    let end = "-----END OPENSSH PRIVATE KEY-----".len() + 1;
    assert_eq!(
        (n(&k, "line"), n(&k, "end_line"), n(&k, "end_column")),
        (5, 8, end),
        "{k}"
    );
    // SARIF says the same.
    let out = e.run_in(&["scan", "--no-git", "--format", "sarif"], b"");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = s["runs"][0]["results"].as_array().unwrap();
    let g = results
        .iter()
        .find(|r| r["ruleId"] == "gitlab-runner-token")
        .unwrap();
    let region = &g["locations"][0]["physicalLocation"]["region"];
    let f = find("gitlab-runner-token");
    assert_eq!(region["endLine"], f["end_line"], "{region}");
    assert_eq!(region["endColumn"], f["end_column"], "{region}");
    assert_eq!(region["startColumn"], f["column"], "{region}");
}

#[test]
fn github_annotations() {
    let e = repo();
    e.write("dir/a,b.env", &format!("GITHUB_TOKEN={}\n", token()));
    let out = e.run_in(&["scan", "--format", "github"], b"");
    assert_eq!(out.status.code(), Some(1));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.starts_with("::error file=dir/a%2Cb.env,line=1,col=14,title=gsec%3A github-pat-classic::GitHub personal access token"),
        "{s}"
    );
}

#[test]
fn stdin_is_scanned() {
    let e = Env::new();
    let out = e.run_in(
        &["scan", "--format", "json", "-"],
        format!("token: {}\n", token()).as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        keys(&json(&out.stdout)),
        BTreeSet::from(["-:1 github-pat-classic".to_string()])
    );
    let out = e.run_in(&["scan", "-"], b"nothing to see\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn working_tree_honours_gitignore_and_no_git_does_not() {
    let e = repo();
    e.write(".gitignore", "ignored/\n");
    e.write("ignored/a.env", &format!("GITHUB_TOKEN={}\n", token()));
    e.write("kept/.env", "DB_PASSWORD=Xk9mP2vLq7Rt\n");
    let (code, v, _) = scan_json(&e, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        keys(&v),
        BTreeSet::from(["kept/.env:1 generic-secret".to_string()])
    );
    let (_, v, _) = scan_json(&e, &["--no-git"]);
    assert_eq!(
        keys(&v),
        BTreeSet::from([
            "ignored/a.env:1 github-pat-classic".to_string(),
            "kept/.env:1 generic-secret".to_string()
        ])
    );
    // A file named on the command line is scanned even when ignored, as
    // ripgrep does: read directly when a few are named, walked when many.
    let (code, v, _) = scan_json(&e, &["ignored/a.env"]);
    assert_eq!(code, 1);
    assert_eq!(
        keys(&v),
        BTreeSet::from(["ignored/a.env:1 github-pat-classic".to_string()])
    );
    let mut many = vec!["ignored/a.env".to_string()];
    for i in 0..20 {
        e.write(&format!("kept/f{i}.txt"), "nothing\n");
        many.push(format!("kept/f{i}.txt"));
    }
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (code, v, _) = scan_json(&e, &many);
    assert_eq!(code, 1);
    assert_eq!(
        keys(&v),
        BTreeSet::from(["ignored/a.env:1 github-pat-classic".to_string()])
    );
}

#[test]
fn binary_text_is_scanned_oversized_files_are_named_lock_files_skipped() {
    let e = Env::project();
    let t = token();
    let mut bin = b"\x00\x01binary\n".to_vec();
    bin.extend_from_slice(format!("GITHUB_TOKEN={t}\n").as_bytes());
    std::fs::write(e.path("blob.bin"), bin).unwrap();
    // A compressed image holds no readable text: skipped, not textified.
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00".to_vec();
    png.extend_from_slice(format!("GITHUB_TOKEN={t}\n").as_bytes());
    std::fs::write(e.path("logo.png"), png).unwrap();
    e.write(
        "big.txt",
        &format!("{}\nGITHUB_TOKEN={t}\n", "a".repeat(2000)),
    );
    e.write("Cargo.lock", &format!("GITHUB_TOKEN={t}\n"));
    let cfg = with_scan(&e, "  max_file_size: 1000\n");
    e.write(".gsec.yaml", &cfg);
    let (code, v, err) = scan_json(&e, &["--no-managed"]);
    assert_eq!(code, 1, "{v} {err}");
    // The text inside a binary file is scanned, at its own line.
    assert_eq!(
        keys(&v),
        BTreeSet::from(["blob.bin:2 github-pat-classic".to_string()])
    );
    // The file over the limit is named, in every format's warnings, and
    // --strict makes it an error.
    assert!(
        err.contains("big.txt: not scanned") && err.contains("max_file_size"),
        "{err}"
    );
    assert!(v["warnings"].to_string().contains("big.txt"), "{v}");
    let err = e.fails(&["scan", "--strict"], b"", 2);
    assert!(err.contains("big.txt"), "{err}");
}

#[test]
fn inline_allow_and_path_globs() {
    let e = Env::project();
    let t = token();
    e.write(
        "a.env",
        &format!("GITHUB_TOKEN={t} # gsec:allow test fixture\n"),
    );
    e.write("testdata/b.env", &format!("GITHUB_TOKEN={t}\n"));
    let cfg = with_scan(&e, "  allow_paths: [\"testdata/**\"]\n");
    e.write(".gsec.yaml", &cfg);
    let (code, v, _) = scan_json(&e, &["--no-managed"]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn gsecignore_fingerprint_survives_lines_inserted_above() {
    let e = repo();
    let t = token();
    e.write("app.env", &format!("GITHUB_TOKEN={t}\n"));
    let (_, v, _) = scan_json(&e, &[]);
    let fp = findings(&v)[0]["fingerprint"].as_str().unwrap().to_string();
    assert!(!fp.contains(&t));
    e.write(
        "app.env",
        &format!("# a comment\nA=1\nB=2\n\nGITHUB_TOKEN={t}\n"),
    );
    let (code, v, _) = scan_json(&e, &[]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v)[0]["line"], 5);
    assert_eq!(
        findings(&v)[0]["fingerprint"].as_str().unwrap(),
        fp,
        "fingerprint moved with the line"
    );
    e.write(
        ".gsecignore",
        &format!("# accepted: rotated fixture token\n{fp}\n"),
    );
    let (code, v, _) = scan_json(&e, &[]);
    assert_eq!(code, 0, "{v}");
    // A malformed .gsecignore is an error naming the file and line.
    e.write(".gsecignore", "not a fingerprint\n");
    let err = e.fails(&["scan"], b"", 2);
    assert!(
        err.contains(".gsecignore: line 1: not a fingerprint"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn baseline_write_then_use() {
    let e = repo();
    let t = token();
    e.write("b.env", "DB_PASSWORD=Xk9mP2vLq7Rt\n");
    e.write("a.env", &format!("GITHUB_TOKEN={t}\n"));
    e.ok(&["scan", "--baseline-write", "baseline.txt"]);
    let base = e.read("baseline.txt");
    assert!(
        !base.contains(&t) && !base.contains("Xk9mP2vLq7Rt"),
        "{base}"
    );
    let lines: Vec<&str> = base.lines().filter(|l| !l.starts_with('#')).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines, sorted);
    assert!(
        lines.iter().all(|l| l.split(':').count() == 3),
        "no line numbers: {lines:?}"
    );
    let (code, _, _) = scan_json(&e, &["--baseline", "baseline.txt"]);
    assert_eq!(code, 0);
    // A new secret still fails.
    e.write("c.env", "API_KEY=Zq8Wv2Xr5Tn9Ym3K\n");
    let (code, v, _) = scan_json(&e, &["--baseline", "baseline.txt"]);
    assert_eq!(code, 1);
    assert_eq!(
        keys(&v),
        BTreeSet::from(["c.env:1 generic-secret".to_string()])
    );
}

#[test]
fn staged_reports_only_added_lines_and_works_before_the_first_commit() {
    let e = repo();
    let t = token();
    // No commit yet: everything staged is new.
    e.write("a.env", &format!("GITHUB_TOKEN={t}\n"));
    e.write("unstaged.env", &format!("GITHUB_TOKEN={t}\n"));
    e.git(&["add", "a.env"]);
    let (code, v, err) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        keys(&v),
        BTreeSet::from(["a.env:1 github-pat-classic".to_string()])
    );
    e.git(&["commit", "-qm", "first", "--no-verify"]);
    // An unrelated line added to the same file: the old secret is not
    // reported (it is not part of this change).
    e.write("a.env", &format!("GITHUB_TOKEN={t}\nDEBUG=1\n"));
    e.git(&["add", "a.env"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 0, "{v}");
    e.write(
        "a.env",
        &format!("GITHUB_TOKEN={t}\nDEBUG=1\nDB_PASSWORD=Xk9mP2vLq7Rt\n"),
    );
    e.git(&["add", "a.env"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(
        keys(&v),
        BTreeSet::from(["a.env:3 generic-secret".to_string()])
    );
    // The hook's blocked-commit help.
    let out = e.run_in(&["scan", "--staged"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("commit blocked")
            && err.contains("gsec set NAME")
            && err.contains("gsec:allow")
            && err.contains(".gsecignore"),
        "{err}"
    );
    common::assert_no_secret(&err, "Xk9mP2vLq7Rt");
}

/// `--staged` trusts git's cache tree only where it proves a directory
/// equals HEAD: changes deep in a tree are found whether the cache is
/// invalidated (`git add`), valid but different (`git write-tree`), or
/// left from a commit HEAD has since moved away from (`reset --soft`).
#[test]
fn staged_finds_changes_in_nested_directories_whatever_the_cache_tree_says() {
    let e = repo();
    let t = token();
    for f in ["a/one.txt", "b/d/three.txt", "top.txt"] {
        e.write(f, "nothing to see\n");
    }
    // A line already in HEAD is not part of the change: HEAD's version of
    // a file deep in the tree is found to compare with.
    e.write("b/c/two.txt", &format!("GITHUB_TOKEN={t}\n"));
    e.write("old/leak.env", &format!("GITHUB_TOKEN={t}\n"));
    e.git(&["add", "."]);
    e.git(&["commit", "-qm", "first", "--no-verify"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 0, "a committed secret is not a staged change: {v}");
    let want = BTreeSet::from(["b/c/two.txt:2 generic-secret".to_string()]);
    e.write(
        "b/c/two.txt",
        &format!("GITHUB_TOKEN={t}\nDB_PASSWORD=Xk9mP2vLq7Rt\n"),
    );
    e.git(&["add", "b/c/two.txt"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!((code, keys(&v)), (1, want.clone()));
    e.git(&["write-tree"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!((code, keys(&v)), (1, want.clone()));
    e.git(&["commit", "-qm", "second", "--no-verify"]);
    e.git(&["reset", "-q", "--soft", "HEAD~1"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!((code, keys(&v)), (1, want));
}

/// A staged file over `scan.max_file_size` is named and not scanned,
/// whether the index's recorded size says so or only the blob does (a
/// clean filter grew it: the scan reads small-looking files at once and
/// measures what it read).
#[test]
fn staged_files_over_the_size_limit_are_named_whatever_the_index_says() {
    let e = Env::project();
    let cfg = with_scan(&e, "  max_file_size: 1000\n");
    e.write(".gsec.yaml", &cfg);
    let t = token();
    e.write(
        "big.txt",
        &format!("{}\nGITHUB_TOKEN={t}\n", "a".repeat(2000)),
    );
    e.git(&["config", "filter.grow.clean", "sed 'p;p;p'"]);
    e.write(".gitattributes", "grown.txt filter=grow\n");
    // About 300 bytes in the work tree, four times that in the blob.
    e.write(
        "grown.txt",
        &format!("GITHUB_TOKEN={t}\n{}\n", "b".repeat(250)),
    );
    e.write("small.txt", &format!("GITHUB_TOKEN={t}\n"));
    e.git(&["add", "big.txt", "grown.txt", "small.txt", ".gitattributes"]);
    let staged = e.git(&["cat-file", "-s", ":grown.txt"]);
    assert!(staged.trim().parse::<u64>().unwrap() > 1000, "{staged}");
    let (code, v, err) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(
        keys(&v),
        BTreeSet::from(["small.txt:1 github-pat-classic".to_string()])
    );
    for f in [
        "big.txt (staged): not scanned",
        "grown.txt (staged): not scanned",
    ] {
        assert!(err.contains(f), "{f}: {err}");
    }
}

#[test]
fn staged_honours_git_index_file() {
    let e = repo();
    e.write("a.env", &format!("GITHUB_TOKEN={}\n", token()));
    let alt = e.tmp.path().join("alt-index");
    let st = Command::new("git")
        .args(["add", "a.env"])
        .current_dir(&e.dir)
        .env("GIT_INDEX_FILE", &alt)
        .status()
        .unwrap();
    assert!(st.success());
    // The default index is empty: nothing staged.
    let (code, _, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 0);
    let mut c = e.cmd(&["scan", "--staged", "--format", "json"]);
    c.env("GIT_INDEX_FILE", &alt);
    let out = e.run_cmd(c, b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        keys(&json(&out.stdout)),
        BTreeSet::from(["a.env:1 github-pat-classic".to_string()])
    );
}

/// The index is read as git reads it (its checksum is not hashed on every
/// hook run), so the decoder must still refuse a damaged one: a truncated
/// index is an error (exit 2), never an empty staged change.
#[test]
fn staged_refuses_a_truncated_index() {
    let e = repo();
    for i in 0..20 {
        e.write(&format!("d{i}/f.env"), "DEBUG=1\n");
    }
    e.write("a.env", &format!("GITHUB_TOKEN={}\n", token()));
    e.git(&["add", "."]);
    let index = e.dir.join(".git/index");
    let full = std::fs::read(&index).unwrap();
    for cut in [full.len() / 2, full.len() - 10, 30] {
        std::fs::write(&index, &full[..cut]).unwrap();
        let out = e.run_in(&["scan", "--staged"], b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "cut at {cut}: {err}");
        assert!(err.contains("cannot read the index"), "{err}");
    }
    std::fs::write(&index, &full).unwrap();
    let (code, _, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 1);
}

#[test]
fn history_reports_each_secret_once_with_the_commit_that_introduced_it() {
    let e = repo();
    let t = token();
    e.write("README.md", "hello\n");
    e.git(&["add", "."]);
    e.git(&["commit", "-qm", "init", "--no-verify"]);
    let base = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    e.write("app.env", &format!("GITHUB_TOKEN={t}\n"));
    e.git(&["add", "."]);
    e.git(&["commit", "-qm", "add token", "--no-verify"]);
    let intro = e.git(&["rev-parse", "HEAD"]).trim().to_string();
    // Lines inserted above it, then the secret removed: still in history,
    // still reported once, still attributed to the commit that added it.
    e.write("app.env", &format!("A=1\nB=2\nGITHUB_TOKEN={t}\n"));
    e.git(&["commit", "-qam", "more", "--no-verify"]);
    e.write("app.env", "A=1\nB=2\n");
    e.git(&["commit", "-qam", "remove token", "--no-verify"]);
    let (code, v, err) = scan_json(&e, &["--history"]);
    assert_eq!(code, 1, "{err}");
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{v}");
    assert_eq!(f[0]["commit"], intro.as_str());
    assert_eq!(f[0]["file"], "app.env");
    assert_eq!(f[0]["line"], 1);
    // Who introduced it, when, and what the rule is about.
    assert_eq!(f[0]["author"], "t <t@example.com>", "{v}");
    assert!(f[0]["date"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(!f[0]["description"].as_str().unwrap().is_empty(), "{v}");
    // A range that starts after the introduction sees no new secret.
    let (code, v, _) = scan_json(&e, &["--history", &format!("{intro}..HEAD")]);
    assert_eq!(code, 0, "{v}");
    let (code, v, _) = scan_json(&e, &["--history", &format!("{base}..{intro}")]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v)[0]["commit"], intro.as_str());
    // A bad range is a usage error.
    let err = e.fails(&["scan", "--history", "nope..HEAD"], b"", 2);
    assert!(err.contains("bad revision 'nope'"), "{err}");
}

#[test]
fn managed_values_are_found_plain_base64_and_url_encoded_and_never_printed() {
    let e = Env::project();
    // Low entropy: no rule or generic heuristic would flag it.
    let pw = "summer@2024!";
    e.set("DB_PASSWORD", "development", pw);
    e.write("docs/notes.txt", &format!("the db pass is {pw} for now\n"));
    e.write(
        "k8s/secret.yaml",
        &format!("data:\n  pw: {}\n", base64_encode(pw.as_bytes())),
    );
    e.write(
        "deploy/url.txt",
        "DATABASE_URL=postgres://app:summer%402024%21@db/app\n",
    );
    e.write("deploy/pct.txt", "dsn=u:summer%402024%21@h\n");
    let (code, v, err) = scan_json(&e, &[]);
    assert_eq!(code, 1, "{err}");
    let got = keys(&v);
    for want in [
        "docs/notes.txt:1 gsec-managed-secret",
        "k8s/secret.yaml:2 gsec-managed-secret",
        "deploy/url.txt:1 gsec-managed-secret",
        "deploy/pct.txt:1 gsec-managed-secret",
    ] {
        assert!(got.contains(want), "missing {want} in {got:?}");
    }
    let out = e.run_in(&["scan"], b"");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    common::assert_no_secret(&all, pw);
    common::assert_no_secret(&all, "summ");
    common::assert_no_secret(&all, "summer%40");
    assert!(all.contains("(value hidden)"), "{all}");
    // Without an identity the layer is skipped with one line, and the rest
    // of the scan goes on.
    let mut c = Command::new(BIN);
    c.args(["scan", "--format", "json"]).current_dir(&e.dir);
    e.clean_env(&mut c);
    let out = e.run_cmd(c, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("managed-value detection skipped"), "{err}");
    assert_eq!(err.matches("managed-value").count(), 1, "{err}");
    // The URL's password is still caught by its rule, and still not shown.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(keys(&json(&out.stdout)).contains("deploy/url.txt:1 postgres-connection-string"));
}

fn base64_encode(b: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn plaintext_vault_and_local_overrides_in_a_commit_are_findings() {
    let e = Env::project();
    e.set("API_KEY", "development", "value-one-1234");
    e.git(&["add", "-A"]);
    // The encrypted file itself is fine.
    let (code, v, err) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 0, "{v} {err}");
    e.git(&["commit", "-qm", "init", "--no-verify"]);
    // A decrypted copy where the encrypted file belongs, and local overrides.
    e.write("secrets/production.yaml", "API_KEY: hello\n");
    e.write(".gsec.local.yaml", "API_KEY: local\n");
    e.git(&["add", "-f", "secrets/production.yaml", ".gsec.local.yaml"]);
    let (code, v, _) = scan_json(&e, &["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(
        keys(&v),
        BTreeSet::from([
            ".gsec.local.yaml:1 gsec-local-override".to_string(),
            "secrets/production.yaml:1 gsec-plaintext-vault".to_string()
        ])
    );
    // In a working-tree scan the git-ignored local file is skipped.
    let (_, v, _) = scan_json(&e, &[]);
    assert!(
        !keys(&v).iter().any(|k| k.contains(".gsec.local.yaml")),
        "{v}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let e = repo();
    let err = e.fails(&["scan", "missing-dir"], b"", 2);
    assert!(err.contains("missing-dir"), "{err}");
    let err = e.fails(&["scan", "--baseline", "nope.txt"], b"", 2);
    assert!(err.contains("nope.txt"), "{err}");
    let err = e.fails(&["scan", "--staged"], b"", 0);
    assert!(err.contains("0 findings"), "{err}");
}

/// An absolute path as long as PATH_MAX (4096) cannot be opened, not even
/// by root (the tests run as root, so permissions cannot make a file
/// unreadable). Build a chain of directories ending just under it, then
/// create, relative to the deepest one, a file and a directory whose full
/// paths are too long.
fn unreadable_items(e: &Env) -> PathBuf {
    let seg = "d".repeat(200);
    let mut deep = e.dir.join("deep");
    std::fs::create_dir(&deep).unwrap();
    while deep.as_os_str().len() + 1 + seg.len() < 4000 {
        deep.push(&seg);
        std::fs::create_dir(&deep).unwrap();
    }
    let long = "f".repeat(250);
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("echo x > {long}.txt && mkdir {long} && echo y > {long}/inner.txt"),
        ])
        .current_dir(&deep)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(deep.join(format!("{long}.txt"))).is_err());
    deep
}

#[test]
fn an_unreadable_item_is_reported_the_scan_goes_on_and_exits_2() {
    let e = repo();
    let t = token();
    e.write("a.env", &format!("GITHUB_TOKEN={t}\n"));
    unreadable_items(&e);
    e.write("z.env", &format!("OTHER_TOKEN={t}\n"));
    let (code, v, err) = scan_json(&e, &[]);
    // Errors win over findings (ripgrep's rule): an incomplete scan is no verdict.
    assert_eq!(code, 2, "{err}");
    // Both other files were still scanned.
    assert_eq!(
        keys(&v),
        BTreeSet::from([
            "a.env:1 github-pat-classic".to_string(),
            "z.env:1 github-pat-classic".to_string()
        ])
    );
    // The unreadable file and the unreadable directory: one error each, in
    // the report and as one stderr line each naming the item.
    let errors = v["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 2, "{v}");
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .unwrap()
            .contains(&format!("{}.txt", "f".repeat(250)))),
        "{v}"
    );
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("gsec: error:"))
        .collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines.iter().filter(|l| l.contains("too long")).count() == 2,
        "{err}"
    );
    assert!(lines[2].contains("2 items could not be read"), "{err}");
    common::assert_no_secret(&err, &t);
    // SARIF says the run did not complete, and still validates.
    let out = e.run_in(&["scan", "--format", "sarif", "-o", "r.sarif"], b"");
    assert_eq!(out.status.code(), Some(2));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(e.path("r.sarif")).unwrap()).unwrap();
    let inv = &s["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false, "{inv}");
    let notes = inv["toolExecutionNotifications"].as_array().unwrap();
    let errors: Vec<_> = notes.iter().filter(|n| n["level"] == "error").collect();
    assert_eq!(errors.len(), 2, "{inv}");
    if let Err(e) = common::sarif_errors(&e.path("r.sarif")) {
        panic!("SARIF does not validate: {e}");
    }
    // Clean otherwise: still 2, not 0.
    std::fs::remove_file(e.path("a.env")).unwrap();
    std::fs::remove_file(e.path("z.env")).unwrap();
    let (code, v, _) = scan_json(&e, &[]);
    assert_eq!(code, 2, "{v}");
    assert!(findings(&v).is_empty());
}

#[test]
fn a_corrupt_blob_in_history_is_reported_and_the_rest_is_scanned() {
    let e = repo();
    let t = token();
    e.write("a.env", &format!("GITHUB_TOKEN={t}\n"));
    e.git(&["add", "."]);
    e.git(&["commit", "-qm", "token", "--no-verify"]);
    e.write("notes/b.txt", "a blob that will not read back\n");
    e.git(&["add", "."]);
    e.git(&["commit", "-qm", "notes", "--no-verify"]);
    let id = e.git(&["rev-parse", "HEAD:notes/b.txt"]).trim().to_string();
    let object = e.path(&format!(".git/objects/{}/{}", &id[..2], &id[2..]));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&object, b"not a zlib stream").unwrap();
    let (code, v, err) = scan_json(&e, &["--history"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        keys(&v),
        BTreeSet::from(["a.env:1 github-pat-classic".to_string()])
    );
    let errors = v["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 1, "{v}");
    let msg = errors[0].as_str().unwrap();
    assert!(
        msg.starts_with("notes/b.txt (commit ") && msg.contains(&id),
        "{msg}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("gsec: error: notes/b.txt"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&id), "{line}");
}

#[test]
fn a_rule_configuration_that_does_not_load_is_an_error() {
    let e = Env::project();
    e.write("a.env", &format!("GITHUB_TOKEN={}\n", token()));
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &cfg.replace("scan:\n", "scan:\n  disabled_rules: [github-pat-clasic]\n"),
    );
    let err = e.fails(&["scan"], b"", 2);
    assert!(
        err.contains(".gsec.yaml") && err.contains("unknown rule id 'github-pat-clasic'"),
        "{err}"
    );
    // Spelled right, the rule is off (and generic detection can be too).
    e.write(
        ".gsec.yaml",
        &cfg.replace(
            "scan:\n",
            "scan:\n  disabled_rules: [github-pat-classic, generic-secret]\n",
        ),
    );
    let (code, v, err) = scan_json(&e, &[]);
    assert_eq!(code, 0, "{v} {err}");
}

/// Rules compile when their keyword first occurs; a custom rule that
/// parses but is too large to compile is not skipped then: the scan of a
/// file where it should run exits 2 naming it, a scan that never needs it
/// passes, and `--check-rules` (which compiles every rule) refuses it.
/// (Built-in rules cannot fail so: build.rs compiles each one.)
#[test]
fn a_custom_rule_that_cannot_compile_fails_the_scan_that_needs_it() {
    let e = Env::project();
    e.write(
        ".gsec.yaml",
        &with_scan(
            &e,
            "  rules:\n  - id: acme-huge\n    description: too large\n    keywords: [acmehuge]\n    pattern: '\\pL{1000}{1000}'\n",
        ),
    );
    e.write("a.txt", "nothing to see\n");
    let (code, v, err) = scan_json(&e, &["a.txt"]);
    assert_eq!(code, 0, "{v} {err}");
    e.write("b.txt", "acmehuge here\n");
    let (code, v, err) = scan_json(&e, &["a.txt", "b.txt"]);
    assert_eq!(code, 2, "{v} {err}");
    assert!(
        err.contains("b.txt")
            && err.contains("rule acme-huge: pattern does not compile: too large"),
        "{err}"
    );
    let err = e.fails(&["scan", "--check-rules"], b"", 2);
    assert!(
        err.contains("scan.rules[0] (acme-huge): pattern does not compile: too large"),
        "{err}"
    );
}

/// A project with one secret set, and a command that has no identity.
fn without_identity(e: &Env, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(&e.dir);
    e.clean_env(&mut c);
    e.run_cmd(c, b"")
}

#[test]
fn a_skipped_managed_check_is_a_warning_in_every_format_and_strict_makes_it_an_error() {
    let e = Env::project();
    e.set("DB_PASSWORD", "development", "summer@2024!");
    e.write("clean.txt", "nothing here\n");
    const SKIPPED: &str = "managed-value detection skipped";
    // Human: a warning line on stderr; the verdict is still the scan's.
    let out = without_identity(&e, &["scan"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("gsec: warning: ") && l.contains(SKIPPED)),
        "{err}"
    );
    // JSON: a top-level `warnings` array.
    let out = without_identity(&e, &["scan", "--format", "json"]);
    let v = json(&out.stdout);
    let w = v["warnings"].as_array().expect("warnings array");
    assert_eq!(w.len(), 1, "{v}");
    assert!(w[0].as_str().unwrap().contains(SKIPPED), "{v}");
    assert!(v.get("errors").is_none(), "{v}");
    // SARIF: a warning notification on the invocation, schema-valid.
    let out = without_identity(&e, &["scan", "--format", "sarif", "-o", "w.sarif"]);
    assert_eq!(out.status.code(), Some(0));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(e.path("w.sarif")).unwrap()).unwrap();
    let inv = &s["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], true, "{inv}");
    let notes = inv["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{inv}");
    assert_eq!(notes[0]["level"], "warning");
    assert!(
        notes[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains(SKIPPED)
    );
    if let Err(e) = common::sarif_errors(&e.path("w.sarif")) {
        panic!("SARIF does not validate: {e}");
    }
    // GitHub: a ::warning:: workflow command.
    let out = without_identity(&e, &["scan", "--format", "github"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::warning title=gsec::") && l.contains(SKIPPED)),
        "{stdout}"
    );
    // --strict: the same skipped check is an error.
    let out = without_identity(&e, &["scan", "--strict"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--strict"), "{err}");
    // With the identity nothing is skipped, and --strict passes.
    let out = e.run_in(&["scan", "--strict", "--format", "json"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out.stdout).as_object().unwrap().len(), 1);
}

#[test]
fn a_tampered_environment_file_is_reported_as_tampered() {
    let e = Env::project();
    e.set("DB_PASSWORD", "development", "summer@2024!");
    let p = "secrets/development.yaml";
    let t = e.read(p);
    let i = t.find("DB_PASSWORD: ENC[AES256_GCM,data:").unwrap() + 34;
    let mut b = t.into_bytes();
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    e.write(p, &String::from_utf8(b).unwrap());
    let out = e.run_in(&["scan", "--format", "json"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let w = json(&out.stdout)["warnings"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(w.contains("tampered") && w.contains(p), "{w}");
    assert!(!w.contains("cannot decrypt"), "{w}");
    assert!(err.contains("tampered"), "{err}");
    e.fails(&["scan", "--strict"], b"", 2);
}

/// (file, line) of every finding, whatever the rule.
fn lines(v: &serde_json::Value) -> BTreeSet<(String, u64)> {
    findings(v)
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn at(list: &[(&str, u64)]) -> BTreeSet<(String, u64)> {
    list.iter().map(|(f, l)| (f.to_string(), *l)).collect()
}

/// Issue 14: `<PROVIDER>_KEY`, `<provider>Key`, `<provider> key`,
/// `<PROVIDER>_ACCESS` in .env, shell, YAML, properties, Ruby and Python
/// are findings; public, cache, i18n and hash keys, UUIDs, placeholders
/// and names without a provider are not.
#[test]
fn provider_named_keys_are_generic_findings_and_look_alikes_are_not() {
    let e = repo();
    e.write(
        ".env",
        "MAILCHIMP_KEY=Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe5VrTn1XoPiA\n\
         STRIPE_PUBLISHABLE_KEY=Qz8vN2mLp5RtHq7vR2xKp9Lm\n\
         SLACK_KEY=123e4567-e89b-12d3-a456-426614174000\n\
         MAILCHIMP_KEY=<your-mailchimp-key>\n\
         MAILCHIMP_KEY=${MAILCHIMP_KEY}\n",
    );
    e.write(
        "deploy.sh",
        "#!/bin/sh\nexport SENDGRID_KEY=\"Zq8Wv2Xr5Tn9Ym3KHq7vR2xKp9LmZ4tW\"\n",
    );
    e.write(
        "config.yml",
        "nuget key: Kq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe5VrTn1Xo\n\
         github_cache_key: gh-Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6\n\
         sentry_checksum_key: 4f8a2b9c7d1e6f3a5b8c9d2e7f1a4b6c8d9e0f1a\n\
         stripe.key: \"settings.payments.stripe.key\"\n\
         monkey: Hq7vR2xKp9LmZ4tWb8NcYd3FgJs6QaUe\n",
    );
    e.write(
        "application.properties",
        "datadog.access=4f8a2b9c7d1e6f3a5b8c9d2e7f1a4b6c\nsort.key=Hq7vR2xKp9LmZ4tWb8NcYd3F\n",
    );
    e.write(
        "settings.rb",
        "TWILIO_KEY = 'N7b2Qx9LwE4rT6yU1iO3pA5sK8dF'\nTWILIO_KEY = ENV.fetch('TWILIO_KEY')\n",
    );
    e.write(
        "settings.py",
        "mailgunKey = \"Hq7vR2xKp9LmZ4tWb8NcYd3F\"\ncache_key = \"Hq7vR2xKp9LmZ4tWb8NcYd3F\"\n",
    );
    let (code, v, err) = scan_json(&e, &["--no-git"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        lines(&v),
        at(&[
            (".env", 1),
            ("deploy.sh", 2),
            ("config.yml", 1),
            ("application.properties", 1),
            ("settings.rb", 1),
            ("settings.py", 1),
        ]),
        "{v}"
    );
}

/// Placeholders inside a real prefix and providers' published example
/// credentials are not findings; a real token beside them still is.
#[test]
fn placeholders_and_documentation_examples_are_not_findings() {
    let e = repo();
    let jwt_io = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let real_jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIyNDQ5MzAyNDMiLCJpYXQiOjE2MDcxNzM0MDAsInJvbGUiOiJ1c2VyIn0.PW-ZlkFNsFmIJ6YYmkJIu4Y7oOTm44Id79Ao27wuJ-g";
    e.write(
        "docs/setup.md",
        &format!(
            "STRIPE_SECRET_KEY=sk_live_<your key here>\n\
             GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\
             aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n\
             aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
             Authorization: Bearer {jwt_io}\n\
             token: {real_jwt}\n"
        ),
    );
    let (code, v, err) = scan_json(&e, &["--no-git"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        keys(&v),
        BTreeSet::from(["docs/setup.md:6 jwt".to_string()])
    );
}

/// Any `BEGIN … PRIVATE KEY` block with a body is a finding; a block whose
/// body is `...` or `<key>` is documentation.
#[test]
fn a_private_key_block_is_a_finding_whatever_its_body() {
    let e = repo();
    e.write(
        "keys/id_dsa",
        "-----BEGIN DSA PRIVATE KEY-----\nMIIBuwIBAAKBgQDkP2vR8qLm5xZ7\n-----END DSA PRIVATE KEY-----\n",
    );
    e.write(
        "keys/signing.asc",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGZq8Wv2Xr5Tn9Ym3KHq7vR2\n=SjbQ\n-----END PGP PRIVATE KEY BLOCK-----\n",
    );
    e.write(
        "keys/deploy",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nZq8Wv2Xr5Tn9Ym3KHq7vR2xKp9LmZ4tWHq7vR2xKp9Lm\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    e.write(
        "README.md",
        "Paste it like this:\n\n-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n\n\
         or\n-----BEGIN PRIVATE KEY-----\n<your key>\n-----END PRIVATE KEY-----\n",
    );
    let (code, v, err) = scan_json(&e, &["--no-git"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        keys(&v),
        BTreeSet::from([
            "keys/deploy:1 private-key-block".to_string(),
            "keys/id_dsa:1 private-key-block".to_string(),
            "keys/signing.asc:1 private-key-block".to_string(),
        ])
    );
}

/// A `kind: Secret` manifest's `data:` values are judged decoded: a random
/// password is a finding on its line, base64 of `password` or `admin` is
/// not; a token matching a rule is found through the decoding.
#[test]
fn kubernetes_secret_data_is_judged_decoded() {
    let e = repo();
    let manifest = format!(
        "apiVersion: v1\n\
         kind: Secret\n\
         metadata:\n  name: app\n\
         type: Opaque\n\
         data:\n  username: {}\n  password: {}\n  MAILCHIMP: {}\n  gh: {}\n\
         stringData:\n  api: N7b2Qx9LwE4rT6yU1iO3pA5s\n  note: none\n",
        base64_encode(b"admin"),
        base64_encode(b"password"),
        base64_encode(b"Hq7vR2xKp9LmZ4tWb8Nc"),
        base64_encode(token().as_bytes()),
    );
    e.write("k8s/secret.yaml", &manifest);
    let (code, v, err) = scan_json(&e, &["--no-git"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        lines(&v),
        at(&[
            ("k8s/secret.yaml", 9),
            ("k8s/secret.yaml", 10),
            ("k8s/secret.yaml", 12)
        ]),
        "{v}"
    );
    assert!(
        keys(&v).contains("k8s/secret.yaml:10 github-pat-classic"),
        "{v}"
    );
}

/// Credentials in URLs of any scheme, JDBC parameters and ODBC/ADO
/// connection strings; placeholder passwords are not findings.
#[test]
fn credentials_in_urls_of_every_scheme_and_connection_strings() {
    let e = repo();
    e.write(
        "conn.txt",
        "mysql2://app:Rt7xQ2vLp9Kz@db.acme.internal/app\n\
         amqps://svc:Vn3kW8pQz1Lx@mq.acme.io\n\
         rediss://default:Hy5tR8mKq2Wz@redis.acme.io:6380\n\
         ftp://ops:Mz4xN7vBq2Lp@files.acme.io\n\
         sftp://ops:Lq8Zx3Vm7Np2@files.acme.io/in\n\
         mongodb+srv://svc:Qz8vN2mLp5Rt@cluster0.ab1cd.mongodb.net/app\n\
         jdbc:postgresql://db.acme.io/app?user=a&password=Kp9Lm2Zx7Qv4\n\
         jdbc:sqlserver://db.acme.io:1433;databaseName=erp;password=Wq4Zx8Lm2Np7\n\
         Driver={ODBC Driver 18};Server=db.acme.io;Uid=sa;Pwd=Lq8Zx3Vm7Np2;\n\
         mysql2://app:password@db.acme.internal/app\n\
         amqps://svc:changeme@mq.acme.io\n\
         rediss://default:${REDIS_PASS}@redis.acme.io:6380\n\
         ftp://ops:<password>@files.acme.io\n\
         sftp://ops:xxx@files.acme.io\n\
         jdbc:postgresql://db.acme.io/app?user=a&password=${DB_PASS}\n\
         Server=db.acme.io;Uid=sa;Pwd=<password>;\n",
    );
    let (code, v, err) = scan_json(&e, &["--no-git"]);
    assert_eq!(code, 1, "{err}");
    let want: Vec<(&str, u64)> = (1..=9).map(|l| ("conn.txt", l)).collect();
    assert_eq!(lines(&v), at(&want), "{v}");
}

/// Bearer tokens in curl lines, hex included; `$TOKEN`, `${TOKEN}` and
/// `<token>` references are not findings.
#[test]
fn bearer_tokens_in_curl_lines_whatever_their_alphabet() {
    let e = repo();
    e.write(
        "call.sh",
        "curl -H \"Authorization: Bearer 5c1e9a7f3b2d8e4a6f0c9b1d7e3a5f2c8b4d6e1a\" https://api.acme.dev/v1/me\n\
         curl -X POST https://graph.acme.io/v2/feed -d access_token=4b9e2f7a1c6d3e8b5a0f9c2d7e1b4a6f3c8d5e2a\n\
         curl -H 'Authorization: Bearer Zq8tV2nR5wLk9pXc4mHy7bJf3sDg6aEu' https://api.acme.dev\n\
         curl -H \"Authorization: Bearer $TOKEN\" https://api.acme.dev/v1/me\n\
         curl -H \"Authorization: Bearer ${TOKEN}\" https://api.acme.dev/v1/me\n\
         curl -H 'Authorization: Bearer <token>' https://api.acme.dev/v1/me\n\
         curl -d access_token=$ACCESS_TOKEN https://graph.acme.io/v2/feed\n\
         curl -d 'access_token=<token>' https://graph.acme.io/v2/feed\n",
    );
    let (code, v, err) = scan_json(&e, &["--no-git"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        keys(&v),
        BTreeSet::from([
            "call.sh:1 http-bearer-token".to_string(),
            "call.sh:2 http-access-token-parameter".to_string(),
            "call.sh:3 http-bearer-token".to_string(),
        ])
    );
}
