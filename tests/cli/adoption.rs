//! Forgiving daily mistakes: typos get a suggestion, a near-twin name is
//! flagged before it is created, GSEC_ENV picks the environment, and a
//! value too short for the leak scanner says so.

use crate::common::*;

#[test]
fn typos_in_names_and_environments_get_a_suggestion() {
    let e = Env::project();
    e.set("DB_PASSWORD", "production", "correct horse battery");
    let err = e.fails(&["get", "DB_PASWORD", "--env", "production"], b"", 2);
    assert!(err.contains("did you mean 'DB_PASSWORD'?"), "{err}");
    assert_no_secret(&err, "correct horse");
    let err = e.fails(&["get", "DB_PASSWORD", "--env", "prod"], b"", 2);
    assert!(err.contains("did you mean 'production'?"), "{err}");
    let err = e.fails(&["rm", "DB_PASSWROD", "--env", "production"], b"", 2);
    assert!(err.contains("did you mean 'DB_PASSWORD'?"), "{err}");
    // Nothing close: no guess.
    let err = e.fails(&["get", "STRIPE_KEY", "--env", "production"], b"", 2);
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn a_near_twin_name_and_a_short_value_are_warned_about() {
    let e = Env::project();
    e.set("DB_PASSWORD", "development", "correct horse battery");
    let out = e.run_in(&["set", "DB_PASWORD"], b"s3cr3t");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("one letter away from the existing DB_PASSWORD"),
        "{err}"
    );
    assert!(err.contains("shorter than 8 bytes"), "{err}");
    assert_no_secret(&err, "s3cr3t");
    // An ordinary new name and a long value: no warning.
    let out = e.run_in(&["set", "API_TOKEN"], b"a-long-enough-value");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{out:?}"
    );
}

#[test]
fn gsec_env_chooses_the_environment() {
    let e = Env::project();
    e.set("A", "production", "prod-value");
    e.set("A", "development", "dev-value");
    let mut c = e.cmd(&["get", "A"]);
    c.env("GSEC_ENV", "production");
    assert_eq!(e.run_cmd(c, b"").stdout, b"prod-value\n");
    // --env still wins.
    let mut c = e.cmd(&["get", "A", "--env", "development"]);
    c.env("GSEC_ENV", "production");
    assert_eq!(e.run_cmd(c, b"").stdout, b"dev-value\n");
}

#[test]
fn man_pages_cover_every_command_with_exit_status_environment_and_files() {
    let e = Env::new();
    let dir = e.tmp.path().join("man");
    e.ok(&["man", "--dir", dir.to_str().unwrap()]);
    for page in [
        "gsec.1",
        "gsec-set.1",
        "gsec-recipients-add.1",
        "gsec-inbox-merge.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            "GSEC_ENV",
        ] {
            assert!(text.contains(section), "{page} lacks {section}");
        }
    }
    let top = e.ok(&["man"]);
    assert!(top.contains(".SH \"EXIT STATUS\""), "{top}");
}

/// What the shell's completion function gets back for a command line
/// (fish's protocol: one candidate per line, `\t` before its help).
fn complete(e: &Env, words: &[&str]) -> Vec<String> {
    let mut args = vec!["--", "gsec"];
    args.extend_from_slice(words);
    let mut c = e.cmd(&args);
    c.env("COMPLETE", "fish");
    let out = e.run_cmd(c, b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn completion_offers_environment_and_secret_names() {
    let e = Env::project();
    e.set("DB_PASSWORD", "development", "pw-value-123");
    e.set("API_TOKEN", "production", "tok-value-456");
    assert_eq!(
        complete(&e, &["get", "--env", "pr"]),
        ["preview", "production"]
    );
    assert_eq!(
        complete(&e, &["set", "X", "--env", "development,pro"]),
        ["development,production"]
    );
    // Secret names from every environment's file (plaintext keys: no
    // identity is needed), case-insensitive prefix.
    let mut c = e.cmd(&["--", "gsec", "get", "d"]);
    c.env("COMPLETE", "fish").env_remove("GSEC_AGE_KEY_FILE");
    let out = String::from_utf8_lossy(&e.run_cmd(c, b"").stdout).into_owned();
    assert_eq!(
        out.lines()
            .map(|l| l.split('\t').next().unwrap())
            .collect::<Vec<_>>(),
        ["DB_PASSWORD"]
    );
    let all = complete(&e, &["rm", ""]);
    assert!(
        all.contains(&"API_TOKEN".to_string()) && all.contains(&"DB_PASSWORD".to_string()),
        "{all:?}"
    );
    // The registration script for each shell, and a static script on request.
    for sh in ["bash", "zsh", "fish"] {
        let script = e.ok(&["completions", sh]);
        assert!(script.contains("COMPLETE"), "{sh}: {script}");
    }
    assert!(
        !e.ok(&["completions", "bash", "--static"])
            .contains("COMPLETE=")
    );
    // Outside a project: no names, no error.
    let bare = Env::new();
    assert!(complete(&bare, &["get", "--env", ""]).is_empty());
}

#[test]
fn short_managed_values_are_found_where_assigned() {
    let e = Env::project();
    e.set("DB_PASSWORD", "development", "s3cr3t");
    let write = |name: &str, text: &str| e.write(name, text);
    // Assigned, in the usual syntaxes: found, never printed.
    write("a.env", "DATABASE_PASS=s3cr3t\n");
    write("b.json", "{\"password\": \"s3cr3t\", \"user\": \"app\"}\n");
    write("c.yaml", "db:\n  pass: 's3cr3t'  # local\n");
    write("d.go", "pw := \"s3cr3t\"\n");
    // Inside other text, or a longer value: not a finding.
    write("e.md", "The word s3cr3tive and s3cr3t in prose.\n");
    write("f.env", "OTHER=s3cr3tive\nX=ab-s3cr3t\n");
    let out = e.run_in(&["scan", "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_no_secret(&text, "s3cr3t");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut hits: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "gsec-managed-secret")
        .map(|f| format!("{}:{}", f["file"].as_str().unwrap(), f["line"]))
        .collect();
    hits.sort();
    assert_eq!(
        hits,
        ["a.env:1", "b.json:1", "c.yaml:2", "d.go:1"],
        "{text}"
    );
    // Under 4 bytes: not searched for, and `set` says so.
    let err = String::from_utf8_lossy(&e.run_in(&["set", "PIN"], b"123").stderr).into_owned();
    assert!(
        err.contains("shorter than 4 bytes") && err.contains("does not search"),
        "{err}"
    );
}

#[test]
fn dotenvx_files_and_kestra_exports_import_as_what_they_mean() {
    let e = Env::project();
    // A dotenvx-encrypted file: refused, naming the line; nothing stored.
    e.write(
        "enc.env",
        "#/---[DOTENV_PUBLIC_KEY]---/\nDOTENV_PUBLIC_KEY=\"02abc\"\n\nHELLO=encrypted:BPFsSNSQFOhgpxrXQDUoZXBnOaugqhx\n",
    );
    let err = e.fails(&["import", "enc.env"], b"", 2);
    assert!(
        err.contains("enc.env:4") && err.contains("encrypted by dotenvx"),
        "{err}"
    );
    assert!(!e.path("secrets/development.yaml").exists());
    // Its decrypted form keeps the public key line: skipped, with a note.
    e.write(
        "dec.env",
        "DOTENV_PUBLIC_KEY=\"02abc\"\nHELLO=world-value\n",
    );
    let out = e.run_in(&["import", "dec.env"], b"");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dotenvx's public key"));
    assert_eq!(e.get("HELLO", "development"), "world-value");
    assert!(e.run_in(&["get", "DOTENV_PUBLIC_KEY"], b"").status.code() == Some(2));

    // Kestra: export --format kestra, import --dialect kestra: same values.
    e.set("DB_PASSWORD", "development", "p@ss 'w0rd' $HOME");
    let kestra = e.ok(&["export", "--format", "kestra"]);
    e.write("k.env", &kestra);
    e.ok(&[
        "import",
        "k.env",
        "--dialect",
        "kestra",
        "--env",
        "production",
    ]);
    assert_eq!(e.get("DB_PASSWORD", "production"), "p@ss 'w0rd' $HOME");
    assert_eq!(e.get("HELLO", "production"), "world-value");
    e.write("bad.env", "SECRET_X=not base64!\n");
    let err = e.fails(&["import", "bad.env", "--dialect", "kestra"], b"", 2);
    assert!(
        err.contains("bad.env:1") && err.contains("not base64"),
        "{err}"
    );
    e.write("bad2.env", "PLAIN=eA==\n");
    let err = e.fails(&["import", "bad2.env", "--dialect", "kestra"], b"", 2);
    assert!(err.contains("SECRET_"), "{err}");
}
