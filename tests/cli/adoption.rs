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

/// Run the real sops in `e`'s directory with `key` as its identity.
fn sops(e: &Env, key: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(tool("sops"));
    c.args(args).current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", key);
    c.output().unwrap()
}

#[test]
fn a_sops_repository_is_adopted_in_place_and_stays_in_step() {
    let e = Env::new();
    e.git(&["init", "-q", "-b", "main"]);
    let (bob_key, bob) = e.other_key("bob");
    let me = e.recipient.clone();
    e.write(
        ".sops.yaml",
        &format!(
            "# team rules\ncreation_rules:\n  - path_regex: secrets/prod/.*\\.yaml$\n    age: >-\n      {me},\n      {bob}\n  - path_regex: secrets/.*\\.(yaml|json|env)$\n    age: {me}\n"
        ),
    );
    e.write(
        "secrets/prod/app.yaml",
        "DB_PASSWORD: prod-pass-123\nAPI:\n    key: nested-val\n",
    );
    e.write("secrets/dev.yaml", "DB_PASSWORD: dev-pass-456\n");
    e.write("secrets/api.json", "{\"TOKEN\": \"api-token-789\"}\n");
    e.write("secrets/worker.env", "QUEUE_PASS=queue-pass-012\n");
    e.write("notes/plain.yaml", "not: encrypted\n");
    for f in [
        "secrets/prod/app.yaml",
        "secrets/dev.yaml",
        "secrets/api.json",
        "secrets/worker.env",
    ] {
        let out = sops(&e, &e.key, &["encrypt", "-i", f]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let prod_before = e.read("secrets/prod/app.yaml");
    // Plain `gsec init` adopts it: one environment per file, recipients
    // from the rule sops applies, the right default environment.
    let err = String::from_utf8_lossy(&e.run_in(&["init"], b"").stderr).into_owned();
    assert!(err.contains("environment dev: secrets/dev.yaml"), "{err}");
    let cfg = e.read(".gsec.yaml");
    assert!(
        cfg.contains("file: secrets/prod/app.yaml") && cfg.contains("default_env: dev"),
        "{cfg}"
    );
    assert_eq!(e.get("DB_PASSWORD", "app"), "prod-pass-123");
    // Every format sops writes, each in its own format.
    assert_eq!(e.get("TOKEN", "api"), "api-token-789");
    assert_eq!(e.get("QUEUE_PASS", "worker"), "queue-pass-012");
    assert_eq!(
        e.ok(&["get", "DB_PASSWORD"]).trim(),
        "dev-pass-456",
        "default_env"
    );
    e.ok(&["check"]);
    assert_eq!(
        e.read("secrets/prod/app.yaml"),
        prod_before,
        "nothing re-encrypted"
    );
    // gsec writes; sops reads, and `sops updatekeys` finds nothing to do.
    e.set("NEW", "app", "new-value-789");
    let out = sops(
        &e,
        &bob_key,
        &["decrypt", "--extract", "[\"NEW\"]", "secrets/prod/app.yaml"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "new-value-789");
    // Adding a recipient updates the rule sops uses, so updatekeys agrees.
    let (carol_key, carol) = e.other_key("carol");
    e.ok(&["recipients", "add", &carol, "--group", "sops-rule-1"]);
    let rules = e.read(".sops.yaml");
    assert!(rules.contains(&carol), "{rules}");
    for f in ["secrets/prod/app.yaml", "secrets/dev.yaml"] {
        let before = e.read(f);
        let out = sops(&e, &e.key, &["updatekeys", "-y", f]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(e.read(f), before, "sops updatekeys changed {f}");
    }
    let out = sops(
        &e,
        &carol_key,
        &[
            "decrypt",
            "--extract",
            "[\"DB_PASSWORD\"]",
            "secrets/prod/app.yaml",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "prod-pass-123");
    // And removing one takes it out of the rule too.
    e.ok(&["recipients", "rm", &bob]);
    assert!(!e.read(".sops.yaml").contains(&bob));
    let before = e.read("secrets/prod/app.yaml");
    let out = sops(&e, &e.key, &["updatekeys", "-y", "secrets/prod/app.yaml"]);
    assert!(out.status.success());
    assert_eq!(e.read("secrets/prod/app.yaml"), before);

    // --no-sops ignores it; --from-sops without one is a usage error.
    let other = Env::new();
    other.git(&["init", "-q", "-b", "main"]);
    let err = other.fails(&["init", "--from-sops"], b"", 2);
    assert!(err.contains(".sops.yaml"), "{err}");
}

#[test]
fn a_leaked_managed_value_names_its_secret_and_how_to_fix_it() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    let sha = "0".repeat(64);
    e.write(
        ".gsec.yaml",
        &format!(
            "{cfg}plugins:\n  random:\n    path: plugins/random.wasm\n    sha256: {sha}\nsecrets:\n  API_TOKEN:\n    rotation:\n      plugin: random\n"
        ),
    );
    e.set("DB_PASSWORD", "development", "db-pass-value-1");
    e.set("DB_PASSWORD", "production", "db-pass-value-1");
    e.set("API_TOKEN", "production", "api-token-value-2");
    e.write("leak.txt", "db-pass-value-1\nand api-token-value-2\n");
    let out = e.run_in(&["scan", "--format", "json", "leak.txt"], b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_no_secret(&text, "db-pass-value-1");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let f = v["findings"].as_array().unwrap();
    let db = f.iter().find(|f| f["line"] == 1).unwrap();
    assert_eq!(db["secret"], "DB_PASSWORD");
    assert_eq!(
        db["environments"],
        serde_json::json!(["development", "production"])
    );
    assert!(
        db["remedy"]
            .as_str()
            .unwrap()
            .contains("gsec set DB_PASSWORD --env development"),
        "{db}"
    );
    let api = f.iter().find(|f| f["line"] == 2).unwrap();
    assert!(
        api["remedy"]
            .as_str()
            .unwrap()
            .contains("gsec rotate API_TOKEN --env production"),
        "{api}"
    );
    // The human line and the annotations say the same.
    let human = e.run_in(&["scan", "leak.txt"], b"");
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("gsec rotate API_TOKEN --env production")
    );
    let gh = e.run_in(&["scan", "--format", "github", "leak.txt"], b"");
    assert!(String::from_utf8_lossy(&gh.stdout).contains("gsec set DB_PASSWORD"));
}
