//! Keys that never sit in a file: `age1NAME1…` recipients and
//! `AGE-PLUGIN-…` identities, through the real binary and a real age plugin
//! (`examples/age-plugin-gsectest.rs`, built by `cargo test`), and the real
//! `sops` running the same plugin.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

const PROD: &str = "secrets/production.yaml";

/// `target/debug/examples`, where `cargo test` builds the test plugin.
fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    assert!(
        dir.join("age-plugin-gsectest").is_file(),
        "{} has no age-plugin-gsectest: `cargo test` builds it (or `cargo build --example age-plugin-gsectest`)",
        dir.display()
    );
    dir
}

/// PATH with the plugin's directory first, or PATH as it is (no plugin).
fn path(with_plugin: bool) -> OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&inherited)
        .filter(|d| !d.join("age-plugin-gsectest").exists())
        .collect();
    if with_plugin {
        dirs.insert(0, plugin_dir());
    }
    std::env::join_paths(dirs).unwrap()
}

/// A new plugin identity (file) and its `age1gsectest1…` recipient, made by
/// the plugin itself as `age-plugin-yubikey --generate` would.
fn plugin_key(e: &Env, name: &str) -> (PathBuf, String) {
    let out = Command::new(plugin_dir().join("age-plugin-gsectest"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .unwrap()
        .to_string();
    assert!(recipient.starts_with("age1gsectest1"), "{text}");
    assert!(text.contains("\nAGE-PLUGIN-GSECTEST-1"), "{text}");
    let p = e.tmp.path().join(format!("{name}.txt"));
    std::fs::write(&p, text).unwrap();
    (p, recipient)
}

/// `gsec ARGS` with `key` as the identity, the plugin on PATH or not, and
/// extra variables (the plugin's test switches).
fn gsec(e: &Env, key: &Path, plugin: bool, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = e.cmd(args);
    c.env("GSEC_AGE_KEY_FILE", key).env("PATH", path(plugin));
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn ok(e: &Env, c: Command, stdin: &str) -> String {
    let out = e.run_cmd(c, stdin.as_bytes());
    assert!(
        out.status.success(),
        "failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Exit 2 and one line of stderr (a plugin's messages may come before it,
/// each prefixed with its name); returns that line.
fn fails_one_line(e: &Env, c: Command, stdin: &str) -> String {
    let out = e.run_cmd(c, stdin.as_bytes());
    let err = expect_code(&out, &[], 2);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("age-plugin-gsectest: ") && !l.starts_with("gsec: warning: "))
        .collect();
    assert_eq!(lines.len(), 1, "not one line: {err}");
    lines[0].to_string()
}

fn log(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn sops(e: &Env, key: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(tool("sops"));
    c.args(args).current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", key).env("PATH", path(true));
    c.output().unwrap()
}

#[test]
fn a_plugin_recipient_reads_writes_and_runs_and_sops_reads_it_through_the_plugin() {
    let e = Env::project();
    let (token, recipient) = plugin_key(&e, "token");
    let calls = e.tmp.path().join("calls.log");
    let calls_s = calls.to_str().unwrap().to_string();
    let logged = [("GSECTEST_LOG", calls_s.as_str())];
    e.set("DB_PASSWORD", "production", "correct horse battery");

    // recipients add re-wraps the existing file through the plugin
    // (updatekeys).
    ok(
        &e,
        gsec(
            &e,
            &e.key,
            true,
            &logged,
            &["recipients", "add", &recipient],
        ),
        "",
    );
    assert_eq!(log(&calls), "wrap\n", "the plugin wrapped the data key");
    assert!(e.read(PROD).contains(&recipient), "{}", e.read(PROD));
    assert!(e.read(".gsec.yaml").contains(&recipient));

    // The plugin identity alone reads it: get, run.
    let got = ok(
        &e,
        gsec(
            &e,
            &token,
            true,
            &logged,
            &["get", "-n", "DB_PASSWORD", "--env", "production"],
        ),
        "",
    );
    assert_eq!(got, "correct horse battery");
    assert!(log(&calls).contains("unwrap"), "{}", log(&calls));
    let got = ok(
        &e,
        gsec(
            &e,
            &token,
            true,
            &[],
            &[
                "run",
                "--env",
                "production",
                "--",
                "sh",
                "-c",
                "printf %s \"$DB_PASSWORD\"",
            ],
        ),
        "",
    );
    assert_eq!(got, "correct horse battery");

    // set with the plugin identity: opened through the plugin once (not
    // once to check access and again to write), and the key file reads
    // the result.
    std::fs::write(&calls, "").unwrap();
    ok(
        &e,
        gsec(
            &e,
            &token,
            true,
            &logged,
            &["set", "API_TOKEN", "--env", "production"],
        ),
        "tok-from-the-token-holder",
    );
    assert_eq!(log(&calls), "unwrap\n");
    assert_eq!(
        e.get("API_TOKEN", "production"),
        "tok-from-the-token-holder"
    );

    // A new environment file is wrapped to the plugin recipient at once.
    std::fs::write(&calls, "").unwrap();
    ok(
        &e,
        gsec(&e, &e.key, true, &logged, &["set", "X", "--env", "preview"]),
        "staging-value",
    );
    assert_eq!(log(&calls), "wrap\n");

    // The real sops, given the same plugin identity, decrypts gsec's file
    // by running the same plugin.
    let out = sops(&e, &token, &["decrypt", PROD]);
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(
        plain.contains("DB_PASSWORD: correct horse battery"),
        "{plain}"
    );
    assert!(
        plain.contains("API_TOKEN: tok-from-the-token-holder"),
        "{plain}"
    );
    // ... and not without the plugin: the key really is in the plugin.
    let mut c = Command::new(tool("sops"));
    c.args(["decrypt", PROD]).current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", &token).env("PATH", path(false));
    assert!(!c.output().unwrap().status.success());

    // doctor names the plugin identity and finds its binary (it may exit 1
    // for unrelated checks: no hook in this scratch repository).
    let out = e.run_cmd(gsec(&e, &token, true, &[], &["doctor"]), b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(age plugin: age-plugin-gsectest)")
            && text.contains("age-plugin-gsectest found"),
        "{text}"
    );
    let out = e.run_cmd(gsec(&e, &token, false, &[], &["doctor"]), b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("age-plugin-gsectest not found on PATH"),
        "{text}"
    );
}

#[test]
fn gsec_reads_and_updates_a_file_sops_encrypted_to_a_plugin_recipient() {
    let e = Env::project();
    let (token, recipient) = plugin_key(&e, "token");
    e.write("plain.yaml", "DB_PASSWORD: from-sops\n");
    let out = sops(&e, &token, &["encrypt", "--age", &recipient, "plain.yaml"]);
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    e.write(PROD, std::str::from_utf8(&out.stdout).unwrap());
    std::fs::remove_file(e.path("plain.yaml")).unwrap();
    let got = ok(
        &e,
        gsec(
            &e,
            &token,
            true,
            &[],
            &["get", "-n", "DB_PASSWORD", "--env", "production"],
        ),
        "",
    );
    assert_eq!(got, "from-sops");
    // The key file is not a recipient: gsec says so, it does not seal.
    let err = e.fails(&["get", "DB_PASSWORD", "--env", "production"], b"", 2);
    assert!(err.contains("age1gsecte"), "{err}");
    // Written back by gsec with the plugin identity, read by sops.
    ok(
        &e,
        gsec(&e, &token, true, &[], &["set", "B", "--env", "production"]),
        "bravo",
    );
    let out = sops(&e, &token, &["decrypt", PROD]);
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(
        plain.contains("DB_PASSWORD: from-sops") && plain.contains("B: bravo"),
        "{plain}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_or_failing_plugin_is_one_line_naming_it_and_nothing_is_lost() {
    let e = Env::project();
    let (token, recipient) = plugin_key(&e, "token");
    e.set("DB_PASSWORD", "production", "correct horse battery");
    ok(
        &e,
        gsec(&e, &e.key, true, &[], &["recipients", "add", &recipient]),
        "",
    );
    let before = e.read(PROD);
    let get = ["get", "DB_PASSWORD", "--env", "production"];

    // Decrypting.
    let line = fails_one_line(&e, gsec(&e, &token, false, &[], &get), "");
    assert!(
        line.contains("age-plugin-gsectest not found on PATH"),
        "{line}"
    );
    assert!(
        line.contains(&*token.to_string_lossy()),
        "names the identity: {line}"
    );
    let line = fails_one_line(
        &e,
        gsec(&e, &token, true, &[("GSECTEST_FAIL", "unwrap")], &get),
        "",
    );
    assert!(
        line.contains("age-plugin-gsectest failed: the test token is unplugged"),
        "{line}"
    );
    let line = fails_one_line(
        &e,
        gsec(&e, &token, true, &[("GSECTEST_CRASH", "unwrap")], &get),
        "",
    );
    assert!(
        line.contains("age-plugin-gsectest failed") && line.contains("exited"),
        "{line}"
    );
    // A plugin that wants a PIN gets a refusal, not a hang (no terminal).
    let line = fails_one_line(
        &e,
        gsec(&e, &token, true, &[("GSECTEST_PIN", "1")], &get),
        "",
    );
    assert!(
        line.contains("age-plugin-gsectest asked for a secret")
            && line.contains("Enter the PIN of the test token")
            && line.contains("cannot prompt"),
        "{line}"
    );
    // A failing plugin does not make a recipient an encrypt-only
    // contributor: set fails, nothing is sealed, the file is unchanged.
    let line = fails_one_line(
        &e,
        gsec(
            &e,
            &token,
            true,
            &[("GSECTEST_FAIL", "unwrap")],
            &["set", "NEW", "--env", "production"],
        ),
        "new-value",
    );
    assert!(line.contains("age-plugin-gsectest failed"), "{line}");
    assert_eq!(e.read(PROD), before);
    assert!(!e.path("secrets/production.inbox").exists());

    // Encrypting: a new environment file needs the plugin.
    let line = fails_one_line(
        &e,
        gsec(&e, &e.key, false, &[], &["set", "X", "--env", "preview"]),
        "v",
    );
    assert!(
        line.contains("age-plugin-gsectest not found on PATH"),
        "{line}"
    );
    assert!(!e.path("secrets/preview.yaml").exists());
    let line = fails_one_line(
        &e,
        gsec(
            &e,
            &e.key,
            true,
            &[("GSECTEST_FAIL", "wrap")],
            &["set", "X", "--env", "preview"],
        ),
        "v",
    );
    assert!(
        line.contains("age-plugin-gsectest failed: the test token is unplugged"),
        "{line}"
    );
    let line = fails_one_line(
        &e,
        gsec(
            &e,
            &e.key,
            true,
            &[("GSECTEST_CRASH", "wrap")],
            &["set", "X", "--env", "preview"],
        ),
        "v",
    );
    assert!(line.contains("age-plugin-gsectest failed"), "{line}");
    assert!(!e.path("secrets/preview.yaml").exists());

    // updatekeys with a second plugin recipient and no plugin: the files
    // stay as they were.
    let (_, second) = plugin_key(&e, "token2");
    let cfg = e.read(".gsec.yaml");
    let line = fails_one_line(
        &e,
        gsec(&e, &e.key, false, &[], &["recipients", "add", &second]),
        "",
    );
    assert!(
        line.contains("age-plugin-gsectest not found on PATH"),
        "{line}"
    );
    assert_eq!(e.read(".gsec.yaml"), cfg, "recipients add checks first");
    ok(
        &e,
        gsec(
            &e,
            &e.key,
            false,
            &[],
            &["recipients", "add", &second, "--no-update"],
        ),
        "",
    );
    let line = fails_one_line(&e, gsec(&e, &e.key, false, &[], &["updatekeys"]), "");
    assert!(line.contains("age-plugin-gsectest"), "{line}");
    assert_eq!(e.read(PROD), before);
    ok(&e, gsec(&e, &e.key, true, &[], &["updatekeys"]), "");
    assert!(e.read(PROD).contains(&second));
    assert_eq!(e.get("DB_PASSWORD", "production"), "correct horse battery");

    // A plugin identity for a file that is not encrypted to that plugin:
    // "not a recipient", not "plugin missing".
    let e2 = Env::project();
    e2.set("A", "production", "alpha-value");
    let (token2, _) = plugin_key(&e2, "other");
    let out = e2.run_cmd(
        gsec(
            &e2,
            &token2,
            false,
            &[],
            &["get", "A", "--env", "production"],
        ),
        b"",
    );
    let err = expect_code(&out, &[], 2);
    assert!(!err.contains("not found on PATH"), "{err}");
}

#[test]
fn the_merge_driver_merges_with_a_plugin_identity() {
    let e = Env::project();
    let (token, recipient) = plugin_key(&e, "token");
    ok(
        &e,
        gsec(&e, &e.key, true, &[], &["recipients", "add", &recipient]),
        "",
    );
    ok(
        &e,
        gsec(&e, &e.key, true, &[], &["set", "A", "--env", "production"]),
        "alpha-0",
    );
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.args(args).current_dir(&e.dir);
        e.clean_env(&mut c);
        // Only the plugin identity: the driver must go through the plugin.
        c.env("GSEC_AGE_KEY_FILE", &token)
            .env("PATH", path(true))
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
    };
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    git(&["checkout", "-qb", "feature"]);
    ok(
        &e,
        gsec(&e, &token, true, &[], &["set", "B", "--env", "production"]),
        "bravo-1",
    );
    git(&["commit", "-qam", "B"]);
    git(&["checkout", "-q", "main"]);
    ok(
        &e,
        gsec(&e, &token, true, &[], &["set", "C", "--env", "production"]),
        "charlie-1",
    );
    git(&["commit", "-qam", "C"]);
    git(&["merge", "-q", "--no-edit", "feature"]);
    let text = e.read(PROD);
    assert!(!text.contains("<<<<<<<"), "{text}");
    assert!(text.contains(&recipient));
    for (k, v) in [("A", "alpha-0"), ("B", "bravo-1"), ("C", "charlie-1")] {
        assert_eq!(e.get(k, "production"), v);
    }
}

#[test]
fn an_encrypt_only_contributor_seals_through_the_plugin_for_its_holder() {
    let e = Env::project();
    let (token, recipient) = plugin_key(&e, "token");
    e.set("A", "production", "alpha-value");
    ok(
        &e,
        gsec(&e, &e.key, true, &[], &["recipients", "add", &recipient]),
        "",
    );
    let (outsider, _) = e.other_key("outsider");
    // Sealing needs the plugin too (the value is wrapped to every
    // recipient, the token among them).
    let line = fails_one_line(
        &e,
        gsec(
            &e,
            &outsider,
            false,
            &[],
            &["set", "NEW", "--env", "production"],
        ),
        "sealed-by-outsider",
    );
    assert!(
        line.contains("age-plugin-gsectest not found on PATH"),
        "{line}"
    );
    assert!(!e.path("secrets/production.inbox").exists());
    ok(
        &e,
        gsec(
            &e,
            &outsider,
            true,
            &[],
            &["set", "NEW", "--env", "production"],
        ),
        "sealed-by-outsider",
    );
    assert!(e.path("secrets/production.inbox/NEW.yaml").exists());
    let got = ok(
        &e,
        gsec(
            &e,
            &token,
            true,
            &[],
            &["get", "-n", "NEW", "--env", "production"],
        ),
        "",
    );
    assert_eq!(got, "sealed-by-outsider");
}
