//! sops JSON and dotenv environment files (issue 13, item 2), with the
//! real `sops` both ways: sops decrypts what gsec writes, gsec reads and
//! edits what sops wrote, a write changes only what changed, hostile files
//! are one-line errors, and a format gsec cannot write is refused, never
//! converted.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

const JSON: &str = "secrets/production.json";
const DOTENV: &str = "secrets/production.env";

/// `Env::project()` whose production environment lives in `file`, with
/// git's attributes registered for it.
fn project_with(file: &str) -> Env {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    let moved = cfg.replacen(
        "  production:\n",
        &format!("  production:\n    file: {file}\n"),
        1,
    );
    assert_ne!(cfg, moved);
    e.write(".gsec.yaml", &moved);
    e.ok(&["hook", "install"]);
    e
}

/// The real `sops ARGS` in the project, with `key` as its age key.
fn sops(e: &Env, key: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(tool("sops"));
    c.args(args).current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", key);
    c.output().unwrap()
}

fn sops_ok(e: &Env, key: &Path, args: &[&str]) -> Vec<u8> {
    let out = sops(e, key, args);
    assert!(
        out.status.success(),
        "sops {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `sops encrypt` of a plaintext file (its name gives the format) into
/// `dest`; the plaintext is removed.
fn sops_encrypt(e: &Env, plain: &str, text: &str, dest: &str) {
    e.write(plain, text);
    let out = sops_ok(e, &e.key, &["encrypt", "--age", &e.recipient, plain]);
    std::fs::remove_file(e.path(plain)).unwrap();
    e.write(dest, std::str::from_utf8(&out).unwrap());
}

/// One value's exact bytes as sops decrypts it.
fn sops_extract(e: &Env, key: &Path, file: &str, name: &str) -> String {
    let path = format!("[\"{name}\"]");
    String::from_utf8(sops_ok(e, key, &["decrypt", "--extract", &path, file])).unwrap()
}

/// `secrets/.NAME.lock` for `secrets/NAME`.
fn lock_of(file: &str) -> String {
    let (dir, name) = file.rsplit_once('/').unwrap();
    format!("{dir}/.{name}.lock")
}

const VALUES: &[(&str, &str)] = &[
    ("DB_PASSWORD", "correct horse <&> battery"),
    (
        "TOKEN",
        "multi\nline \"quoted\" 'single' $HOME ünï \\n literal",
    ),
    ("EQUALS", "=leading equals # and a hash"),
    ("SPACES", "  padded  "),
];

#[test]
fn sops_decrypts_every_json_and_dotenv_file_gsec_writes() {
    for file in [JSON, DOTENV] {
        let e = project_with(file);
        let (bob_key, bob) = e.other_key("bob");
        e.ok(&["recipients", "add", &bob]);
        for (k, v) in VALUES {
            e.set(k, "production", v);
        }
        let text = e.read(file);
        // In the file's own format, never YAML.
        assert!(!text.contains("sops:\n"), "{file}: {text}");
        if file == JSON {
            assert!(text.starts_with("{\n\t\"DB_PASSWORD\": \"ENC["), "{text}");
            assert!(text.contains("\t\t\"gsec_structure_mac\": \""), "{text}");
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        } else {
            assert!(text.starts_with("DB_PASSWORD=ENC["), "{text}");
            assert!(text.contains("\nsops_gsec_structure_mac="), "{text}");
            assert!(
                text.contains("\nsops_age__list_1__map_recipient="),
                "{text}"
            );
        }
        for key in [&e.key, &bob_key] {
            for (k, v) in VALUES {
                assert_eq!(sops_extract(&e, key, file, k), *v, "{file} {k}");
            }
            sops_ok(&e, key, &["decrypt", file]);
        }
        // The lock file beside it is git-ignored like a YAML file's.
        assert!(e.path(&lock_of(file)).exists());
        let status = e.git(&["status", "--porcelain", "-uall"]);
        assert!(!status.contains(".lock"), "{status}");
        // And gsec reads back what it wrote.
        for (k, v) in VALUES {
            assert_eq!(e.get(k, "production"), *v, "{file} {k}");
        }
        // Re-keyed for fewer recipients, still in the same format.
        e.ok(&["recipients", "rm", &bob]);
        e.ok(&["updatekeys"]);
        assert_eq!(sops_extract(&e, &e.key, file, "TOKEN"), VALUES[1].1);
        assert!(!sops(&e, &bob_key, &["decrypt", file]).status.success());
    }
}

#[test]
fn gsec_reads_and_edits_json_sops_wrote() {
    let e = project_with(JSON);
    sops_encrypt(
        &e,
        "plain.json",
        r#"{"db": {"user": "admin", "password": "s3cr3t", "port": 5432, "ratio": 1.5, "enabled": false, "empty": "", "none": null}, "list": ["one", {"two": 2}], "html": "<b>&amp;</b>", "public_unencrypted": "visible"}"#,
        JSON,
    );
    let db = e.get("db", "production");
    assert!(
        db.contains("password: s3cr3t") && db.contains("port: 5432"),
        "{db}"
    );
    assert_eq!(e.get("html", "production"), "<b>&amp;</b>");
    let list = e.ok(&["list", "--env", "production"]);
    assert!(list.contains("public_unencrypted"), "{list}");
    e.set("NEW", "production", "added by gsec");
    let plain = sops_ok(&e, &e.key, &["decrypt", JSON]);
    let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(v["NEW"], "added by gsec");
    assert_eq!(v["db"]["port"], 5432);
    assert_eq!(v["db"]["ratio"], 1.5);
    assert_eq!(v["db"]["enabled"], false);
    assert_eq!(v["db"]["empty"], "");
    assert!(v["db"]["none"].is_null());
    assert_eq!(v["list"][1]["two"], 2);
    assert_eq!(v["html"], "<b>&amp;</b>");
    assert_eq!(v["public_unencrypted"], "visible");
    e.ok(&["rm", "db", "--env", "production"]);
    let plain = sops_ok(&e, &e.key, &["decrypt", JSON]);
    let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert!(v.get("db").is_none() && v["NEW"] == "added by gsec", "{v}");
}

#[test]
fn gsec_reads_and_edits_dotenv_sops_wrote() {
    let e = project_with(DOTENV);
    sops_encrypt(
        &e,
        "plain.env",
        "# owner: platform team\nDB_PASSWORD=s3cr3t-value\nMULTI=line1\\nline2\nEMPTY=\nPUBLIC_unencrypted=visible\nWITH_EQUALS=a=b \"c\" 'd' $HOME\n# about the last one\nLAST=zulu\n",
        DOTENV,
    );
    let before = e.read(DOTENV);
    assert_eq!(before.matches("type:comment]").count(), 2, "{before}");
    assert_eq!(e.get("MULTI", "production"), "line1\nline2");
    assert_eq!(e.get("WITH_EQUALS", "production"), "a=b \"c\" 'd' $HOME");
    assert_eq!(e.get("PUBLIC_unencrypted", "production"), "visible");
    assert_eq!(e.get("EMPTY", "production"), "");
    e.set("NEW", "production", "added by gsec");
    let plain = String::from_utf8(sops_ok(&e, &e.key, &["decrypt", DOTENV])).unwrap();
    assert!(
        plain
            .starts_with("# owner: platform team\nDB_PASSWORD=s3cr3t-value\nMULTI=line1\\nline2\n"),
        "{plain}"
    );
    assert!(
        plain.contains("# about the last one\nLAST=zulu\nNEW=added by gsec\n"),
        "{plain}"
    );
    // Removing a value keeps the comments above it where they were (sops
    // does the same).
    for k in ["MULTI", "DB_PASSWORD", "LAST"] {
        e.ok(&["rm", k, "--env", "production"]);
    }
    let plain = String::from_utf8(sops_ok(&e, &e.key, &["decrypt", DOTENV])).unwrap();
    assert_eq!(
        plain,
        "# owner: platform team\nEMPTY=\nPUBLIC_unencrypted=visible\nWITH_EQUALS=a=b \"c\" 'd' $HOME\n# about the last one\nNEW=added by gsec\n"
    );
    // sops edits it again after gsec, and gsec reads sops' edit.
    sops_ok(&e, &e.key, &["set", DOTENV, "[\"NEW\"]", "\"zulu-2\""]);
    assert_eq!(e.get("NEW", "production"), "zulu-2");
    assert_eq!(e.get("EMPTY", "production"), "");
}

/// Lines of `after` that are not in `before`, and lines of `before` gone
/// from `after`.
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let added = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .map(str::to_string)
        .collect();
    let gone = before
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .map(str::to_string)
        .collect();
    (added, gone)
}

/// Does `line` hold `what` (the metadata that changes on every write)?
fn is_any(line: &str, what: &[&str]) -> bool {
    what.iter().any(|w| line.contains(w))
}

#[test]
fn writes_change_only_what_changed() {
    let cases = [
        (
            JSON,
            "plain.json",
            "{\"A\": \"alpha-value\", \"B\": \"bravo-value\", \"nested\": {\"c\": \"charlie\", \"n\": 7}}",
            [
                "\"B\": ",
                "\"C\": ",
                "\"lastmodified\"",
                "\"mac\"",
                "gsec_structure_mac",
            ],
        ),
        (
            DOTENV,
            "plain.env",
            "A=alpha-value\nB=bravo-value\n# note\nD=delta-value\n",
            [
                "B=",
                "C=",
                "sops_lastmodified=",
                "sops_mac=",
                "sops_gsec_structure_mac=",
            ],
        ),
    ];
    for (file, plain, text, may_change) in cases {
        let e = project_with(file);
        sops_encrypt(&e, plain, text, file);
        let sops_wrote = e.read(file);
        // A no-op write changes no byte.
        e.set("A", "production", "alpha-value");
        assert_eq!(e.read(file), sops_wrote, "{file}");
        // One value changed: only its line and the MAC/lastmodified lines
        // (and gsec's structure MAC, which sops does not write) change.
        e.set("B", "production", "bravo-2");
        let after = e.read(file);
        let (added, gone) = changed_lines(&sops_wrote, &after);
        for l in added.iter().chain(&gone) {
            assert!(is_any(l, &may_change), "{file}: unexpected change {l:?}");
        }
        assert!(added.iter().any(|l| l.contains("B")), "{added:?}");
        // The same on a file gsec wrote: add one, the rest keeps its bytes.
        e.set("C", "production", "charlie-new");
        let (added, gone) = changed_lines(&after, &e.read(file));
        for l in added.iter().chain(&gone) {
            assert!(is_any(l, &may_change), "{file}: unexpected change {l:?}");
        }
        assert!(sops(&e, &e.key, &["decrypt", file]).status.success());
    }
}

/// `gsec get` and `gsec list` on a broken production file: exit 2, one
/// line naming the file, no panic, no value quoted.
fn refused(e: &Env, file: &str, bytes: &[u8], why: &str) {
    std::fs::write(e.path(file), bytes).unwrap();
    for args in [&["get", "A", "--env", "production"][..], &["list"][..]] {
        let err = e.fails(args, b"", 2);
        assert!(err.contains(file) && err.contains(why), "{why}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{why}: {err}");
        assert!(!err.contains("panicked"), "{why}: {err}");
        assert_no_secret(&err, "hunter2");
    }
}

#[test]
fn hostile_json_and_dotenv_are_one_line_errors() {
    let e = project_with(JSON);
    e.set("A", "production", "alpha-value");
    let good = e.read(JSON);
    refused(
        &e,
        JSON,
        &good.as_bytes()[..good.len() / 2],
        "invalid JSON: EOF while parsing",
    );
    let dup = good.replacen("\t\"A\": ", "\t\"A\": \"hunter2\",\n\t\"A\": ", 1);
    refused(&e, JSON, dup.as_bytes(), "duplicate key `A`");
    let deep = format!(
        "{{\"A\": {}\"hunter2\"{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    refused(&e, JSON, deep.as_bytes(), "nested more than 64 levels");
    let mut bad = good.clone().into_bytes();
    let at = good.find("ENC[").unwrap();
    bad[at + 30] = 0xff;
    refused(&e, JSON, &bad, "not UTF-8");
    refused(&e, JSON, b"[\"hunter2\"]\n", "not an object");

    let e = project_with(DOTENV);
    e.set("A", "production", "alpha-value");
    let good = e.read(DOTENV);
    let no_eq = good.replacen("A=", "SECRET hunter2\nA=", 1);
    refused(
        &e,
        DOTENV,
        no_eq.as_bytes(),
        "line 1 is not a `NAME=value` line (no `=`)",
    );
    let dup = good.replacen("A=", "A=hunter2\nA=", 1);
    refused(&e, DOTENV, dup.as_bytes(), "duplicate key `A`");
    let mut bad = good.clone().into_bytes();
    bad[5] = 0xfe;
    refused(&e, DOTENV, &bad, "not UTF-8");
    refused(
        &e,
        DOTENV,
        format!("{good}sops_age__list_999999999999__map_enc=hunter2\n").as_bytes(),
        "list index",
    );
    refused(&e, DOTENV, b"A=hunter2\n", "no `sops_*` metadata");
}

#[test]
fn list_works_with_a_sops_dotenv_environment() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &cfg.replacen(
            "  preview:\n    inherit: development\n",
            "  preview:\n    file: secrets/preview.env\n    recipients:\n    - team\n",
            1,
        ),
    );
    e.set("DEV_ONLY", "development", "dev-value");
    e.set("PROD_ONLY", "production", "prod-value");
    sops_encrypt(
        &e,
        "plain.env",
        "PREVIEW_ONLY=preview-value\nSHARED=x\n",
        "secrets/preview.env",
    );
    let list = e.ok(&["list"]);
    for n in ["DEV_ONLY", "PROD_ONLY", "PREVIEW_ONLY", "SHARED"] {
        assert!(list.contains(n), "{n}: {list}");
    }
    let json = e.ok(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["secrets"].as_array().unwrap().len(), 4, "{json}");
    assert_eq!(e.get("PREVIEW_ONLY", "preview"), "preview-value");
    e.ok(&["check"]);
    // run and export read it like any environment.
    let out = e.ok(&[
        "run",
        "--env",
        "preview",
        "--",
        "sh",
        "-c",
        "printf %s \"$PREVIEW_ONLY\"",
    ]);
    assert_eq!(out, "preview-value");
    let out = e.ok(&["export", "--env", "preview", "--format", "dotenv"]);
    assert!(out.contains("PREVIEW_ONLY="), "{out}");
}

#[test]
fn formats_gsec_cannot_write_are_refused_never_converted() {
    for (file, sops_reads) in [
        ("secrets/production.ini", "INI"),
        ("secrets/production.sops", "binary"),
    ] {
        let e = project_with(file);
        let err = e.fails(&["set", "A", "--env", "production"], b"alpha-value", 2);
        assert!(err.contains(file) && err.contains(sops_reads), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!e.path(file).exists());
    }
    // A sops INI file stays exactly as sops wrote it.
    let e = project_with("secrets/production.ini");
    sops_encrypt(
        &e,
        "plain.ini",
        "[db]\npassword = s3cr3t\n",
        "secrets/production.ini",
    );
    let before = e.read("secrets/production.ini");
    e.fails(&["get", "db", "--env", "production"], b"", 2);
    e.fails(&["set", "A", "--env", "production"], b"alpha", 2);
    assert_eq!(e.read("secrets/production.ini"), before);

    // dotenv holds flat values under names sops does not take for its
    // metadata.
    let e = project_with(DOTENV);
    let err = e.fails(
        &["set", "sops_key", "--env", "production"],
        b"value-long",
        2,
    );
    assert!(err.contains("sops_"), "{err}");
    let mut c = e.cmd(&["edit", "--env", "production"]);
    c.env("EDITOR", "sh -c 'printf \"X:\\n  nested: 1\\n\" >> \"$0\"'");
    let out = e.run_cmd(c, b"");
    let err = expect_code(&out, &["edit"], 2);
    assert!(err.contains("only flat values"), "{err}");
    assert!(!e.path(DOTENV).exists());
    // Scalars of other types are stored as the strings sops reads back.
    let mut c = e.cmd(&["edit", "--env", "production"]);
    c.env(
        "EDITOR",
        "sh -c 'printf \"PORT: 5432\\nON: true\\n\" >> \"$0\"'",
    );
    e.run_cmd(c, b"");
    assert_eq!(sops_extract(&e, &e.key, DOTENV, "PORT"), "5432");
    assert_eq!(sops_extract(&e, &e.key, DOTENV, "ON"), "true");
}

#[test]
fn the_structure_mac_binds_json_shapes() {
    let e = project_with(JSON);
    e.set("A", "production", "alpha-value-1");
    let good = e.read(JSON);
    let line = good
        .lines()
        .find(|l| l.starts_with("\t\"A\": "))
        .unwrap()
        .to_string();
    let value = line["\t\"A\": ".len()..].trim_end_matches(',');
    let wrapped = good.replace(&line, &format!("\t\"A\": [{value}],"));
    e.write(JSON, &wrapped);
    // sops' MAC still verifies (values unchanged); gsec's does not.
    assert!(sops(&e, &e.key, &["decrypt", JSON]).status.success());
    let err = e.fails(&["get", "A", "--env", "production"], b"", 2);
    assert!(err.contains("structure MAC mismatch"), "{err}");
}

/// `git` with the test identity available to the drivers git starts.
fn git_as(e: &Env, args: &[&str]) -> Output {
    let mut c = Command::new("git");
    c.args(args).current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("GSEC_AGE_KEY_FILE", &e.key)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn commit(e: &Env, msg: &str) {
    git_as(e, &["add", "-A"]);
    git_as(e, &["commit", "-qm", msg]);
}

#[test]
fn git_diffs_and_merges_json_and_dotenv_per_key() {
    for file in [JSON, DOTENV] {
        let e = project_with(file);
        e.set("A", "production", "alpha-0");
        commit(&e, "base");
        git_as(&e, &["checkout", "-qb", "feature"]);
        e.set("B", "production", "bravo-secret-1");
        commit(&e, "add B");
        let log = String::from_utf8(git_as(&e, &["log", "-p", "-1"]).stdout).unwrap();
        assert!(log.contains("+B: ~"), "{file}: {log}");
        assert!(!log.contains("ENC[AES256_GCM"), "{file}: {log}");
        assert_no_secret(&log, "bravo-secret-1");
        git_as(&e, &["checkout", "-q", "main"]);
        e.set("C", "production", "charlie-1");
        e.set("A", "production", "alpha-1");
        commit(&e, "add C, change A");
        git_as(&e, &["merge", "-q", "--no-edit", "feature"]);
        let text = e.read(file);
        assert!(!text.contains("<<<<<<<"), "{file}: {text}");
        for (k, v) in [
            ("A", "alpha-1"),
            ("B", "bravo-secret-1"),
            ("C", "charlie-1"),
        ] {
            assert_eq!(sops_extract(&e, &e.key, file, k), v, "{file} {k}");
        }
    }
}

#[test]
fn the_scanner_flags_clear_values_in_json_and_dotenv_environment_files_only() {
    for (file, plain, text) in [
        (
            JSON,
            "plain.json",
            "{\"A\": \"alpha-value\", \"L\": [\"x-item\"], \"PUBLIC_unencrypted\": \"visible-value\"}",
        ),
        (
            DOTENV,
            "plain.env",
            "A=alpha-value\nPUBLIC_unencrypted=visible-value\n",
        ),
    ] {
        let e = project_with(file);
        sops_encrypt(&e, plain, text, file);
        let out = e.run_in(&["scan", "--format", "json"], b"");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let findings: Vec<(String, u64)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["line"].as_u64().unwrap(),
                )
            })
            .collect();
        let want_line = e
            .read(file)
            .lines()
            .position(|l| l.contains("visible-value"))
            .unwrap() as u64
            + 1;
        // The clear value (also a managed secret's plaintext), and nothing
        // on the ciphertext or metadata lines.
        assert!(
            findings.iter().all(|(_, l)| *l == want_line)
                && findings.iter().any(|(r, _)| r == "gsec-unencrypted-value"),
            "{file}: {stdout}"
        );
    }
}

#[test]
fn nulls_sops_leaves_in_clear_are_read_in_every_format() {
    for (file, plain, text) in [
        (
            "secrets/production.yaml",
            "plain.yaml",
            "a: null\nb: bravo-value\n",
        ),
        (JSON, "plain.json", "{\"a\": null, \"b\": \"bravo-value\"}"),
    ] {
        let e = if file == JSON {
            project_with(JSON)
        } else {
            Env::project()
        };
        sops_encrypt(&e, plain, text, file);
        assert_eq!(e.get("b", "production"), "bravo-value", "{file}");
        e.set("c", "production", "charlie-value");
        let out = sops_ok(&e, &e.key, &["decrypt", file]);
        let v: serde_json::Value = serde_norway::from_slice(&out).unwrap();
        assert!(v["a"].is_null() && v["c"] == "charlie-value", "{file}: {v}");
    }
}

#[test]
fn removing_a_yaml_value_keeps_the_comments_above_it() {
    let e = Env::project();
    sops_encrypt(
        &e,
        "plain.yaml",
        "# c1\nA: alpha\n# c2\nB: bravo\n# c3\nC: charlie\n",
        "secrets/production.yaml",
    );
    e.ok(&["rm", "A", "--env", "production"]);
    e.ok(&["rm", "C", "--env", "production"]);
    let plain = sops_ok(&e, &e.key, &["decrypt", "secrets/production.yaml"]);
    // As after `sops unset`: the comments stay, in order.
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        "# c1\n# c2\nB: bravo\n# c3\n"
    );
}

#[test]
fn a_json_indent_set_in_sops_config_is_kept() {
    let e = project_with(JSON);
    e.write(".sops.yaml", "stores:\n  json:\n    indent: 2\n");
    sops_encrypt(
        &e,
        "plain.json",
        "{\"A\": \"alpha-value\", \"n\": {\"l\": [\"x\", \"y\"]}}",
        JSON,
    );
    let before = e.read(JSON);
    assert!(before.starts_with("{\n  \"A\": \"ENC["), "{before}");
    e.set("A", "production", "alpha-2");
    let after = e.read(JSON);
    let (added, gone) = changed_lines(&before, &after);
    let may_change = [
        "\"A\": ",
        "\"lastmodified\"",
        "\"mac\"",
        "gsec_structure_mac",
    ];
    for l in added.iter().chain(&gone) {
        assert!(is_any(l, &may_change), "unexpected change {l:?}");
    }
    assert!(
        after.contains("\n  \"n\": {\n    \"l\": [\n      \"ENC["),
        "{after}"
    );
    assert_eq!(sops_extract(&e, &e.key, JSON, "A"), "alpha-2");
}
