//! Issue 2: the encrypted vault, end to end through the binary.

use std::process::Command;

use crate::common::{Env, assert_no_secret, sops_decrypt, tool};

fn data_lines(text: &str) -> Vec<&str> {
    text.lines().take_while(|l| *l != "sops:").collect()
}

#[test]
fn keygen_writes_private_file_and_refuses_overwrite() {
    let e = Env::new();
    let meta = std::fs::metadata(&e.key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(e.recipient.starts_with("age1"));
    let err = e.fails(&["keygen", "-o", e.key.to_str().unwrap()], b"", 2);
    assert!(err.contains("already exists"), "{err}");
    // Default location honours XDG_CONFIG_HOME.
    let xdg = e.tmp.path().join("xdg");
    let mut c = e.cmd(&["keygen"]);
    c.env("XDG_CONFIG_HOME", &xdg);
    let out = c.output().unwrap();
    assert!(out.status.success());
    assert!(xdg.join("gsec/identity.txt").is_file());
}

#[test]
fn init_creates_config_gitignore_and_refuses_overwrite() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    for env in ["development", "local", "preview", "production"] {
        assert!(cfg.contains(&format!("  {env}:")), "{cfg}");
    }
    assert!(cfg.contains(&e.recipient));
    assert!(e.read(".gitignore").contains("/.gsec.local.yaml"));
    assert!(e.read(".gitignore").contains(".*.gsec-commit"));
    let err = e.fails(&["init"], b"", 2);
    assert!(
        err.contains(".gsec.yaml") && err.contains("already exists"),
        "{err}"
    );
    // Found from a subdirectory.
    std::fs::create_dir_all(e.path("a/b")).unwrap();
    e.set("X", "development", "value-x");
    // The lock files gsec leaves beside what it writes are git-ignored.
    let status = e.git(&["status", "--porcelain", "-uall"]);
    assert!(
        status.contains("secrets/development.yaml") && !status.contains(".lock"),
        "{status}"
    );
    let mut c = e.cmd(&["get", "X"]);
    c.current_dir(e.path("a/b"));
    assert_eq!(
        String::from_utf8(c.output().unwrap().stdout).unwrap(),
        "value-x\n"
    );
    // -C works from anywhere.
    let mut c = e.cmd(&["-C", e.dir.to_str().unwrap(), "get", "X"]);
    c.current_dir(e.tmp.path());
    assert!(c.output().unwrap().status.success());
}

#[test]
fn init_with_explicit_recipients_and_without_identity() {
    let e = Env::new();
    let (_, other) = e.other_key("bob");
    e.ok(&["init", "--recipient", &e.recipient, "--recipient", &other]);
    let cfg = e.read(".gsec.yaml");
    assert!(cfg.contains(&other) && cfg.contains(&e.recipient));
    let e2 = Env::new();
    let mut c = e2.cmd(&["init"]);
    c.env_remove("GSEC_AGE_KEY_FILE");
    let out = e2.run_cmd(c, b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no identity found") && err.contains("looked in"),
        "{err}"
    );
    assert!(
        e2.fails(&["init", "--recipient", "age1bogus"], b"", 2)
            .contains("--recipient")
    );
}

#[test]
fn set_get_list_rm() {
    let e = Env::project();
    // One trailing newline from a pipe is dropped, only one.
    e.ok_in(&["set", "DB_PASSWORD"], b"pa ss\n\n");
    assert_eq!(e.get("DB_PASSWORD", "development"), "pa ss\n");
    e.ok_in(&["set", "DB_PASSWORD"], b"pa ss\r\n");
    assert_eq!(e.get("DB_PASSWORD", "development"), "pa ss");
    // --from-file keeps exact bytes.
    e.write("value.txt", "line1\nline2\n");
    e.ok(&[
        "set",
        "CERT",
        "--from-file",
        "value.txt",
        "--env",
        "production",
    ]);
    assert_eq!(e.get("CERT", "production"), "line1\nline2\n");
    // Several environments at once.
    e.ok_in(
        &["set", "api-key", "--env", "production,development"],
        b"k-123",
    );
    assert_eq!(e.get("api-key", "production"), "k-123");
    assert_eq!(e.get("API-KEY", "development"), "k-123"); // case-insensitive lookup
    // Names differing only in case are refused.
    let err = e.fails(&["set", "Api-Key"], b"v", 2);
    assert!(err.contains("differs only in case"), "{err}");
    // Bad names, empty values, unknown environments.
    assert!(
        e.fails(&["set", "1abc"], b"v", 2)
            .contains("invalid secret name")
    );
    assert!(
        e.fails(&["set", &"a".repeat(129)], b"v", 2)
            .contains("invalid secret name")
    );
    assert!(e.fails(&["set", "EMPTY"], b"", 2).contains("empty value"));
    assert!(
        e.fails(&["set", "X", "--env", "prod"], b"v", 2)
            .contains("unknown environment 'prod'")
    );
    // The value is never an argument.
    e.fails(&["set", "X", "value"], b"", 2);
    // list: names, environments, last change; never values.
    let list = e.ok(&["list"]);
    assert!(
        list.contains("DB_PASSWORD") && list.contains("CERT") && list.contains("api-key"),
        "{list}"
    );
    assert_no_secret(&list, "k-123");
    let json: serde_json::Value =
        serde_json::from_str(&e.ok(&["list", "--format", "json"])).unwrap();
    let names: Vec<&str> = json["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api-key", "CERT", "DB_PASSWORD"]);
    let envs = &json["secrets"][0]["environments"];
    assert_eq!(envs.as_array().unwrap().len(), 2);
    assert!(envs[0]["last_change"].as_str().unwrap().ends_with('Z'));
    // list needs no identity: key names are plaintext in sops files.
    let mut c = e.cmd(&["list", "--env", "production"]);
    c.env_remove("GSEC_AGE_KEY_FILE");
    assert!(c.output().unwrap().status.success());
    // rm
    e.ok(&["rm", "api-key", "--env", "production"]);
    e.fails(&["get", "api-key", "--env", "production"], b"", 2);
    assert_eq!(e.get("api-key", "development"), "k-123");
    assert!(
        e.fails(&["rm", "nope", "--env", "development"], b"", 2)
            .contains("not found")
    );
    e.fails(&["rm", "CERT"], b"", 2); // --env is required
}

/// `gsec … | head -1`: a reader that closed stdout ends the command
/// quietly (no panic, no error line), like other Unix tools; `scan` keeps
/// its verdict in the exit code.
#[test]
fn closed_stdout_is_not_a_panic() {
    let e = Env::project();
    e.ok_in(&["set", "DB_PASSWORD"], b"a-long-enough-password");
    e.write("leak.txt", "password = \"a-long-enough-password\"\n");
    let cases: [(&[&str], i32); 6] = [
        (&["list"], 0),
        (&["get", "DB_PASSWORD"], 0),
        (&["export", "--format", "dotenv"], 0),
        (&["check", "--env", "development"], 0),
        (&["completions", "bash"], 0),
        (&["scan"], 1),
    ];
    for (args, code) in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = e
            .cmd(args)
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "gsec {args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("error"),
            "gsec {args:?}: {err}"
        );
    }
}

#[test]
fn nested_values_print_as_yaml() {
    let e = Env::project();
    e.write(
        "plain.yaml",
        "db:\n  user: admin\n  port: 5432\n  on: true\n",
    );
    sops_encrypt(&e, "plain.yaml", "secrets/development.yaml");
    let got = e.ok(&["get", "db"]);
    assert!(
        got.contains("user: admin") && got.contains("port: 5432"),
        "{got}"
    );
}

/// `sops encrypt --age <our recipient> PLAIN` into `dest` (relative paths).
fn sops_encrypt(e: &Env, plain: &str, dest: &str) {
    let mut c = Command::new(tool("sops"));
    c.args(["encrypt", "--age", &e.recipient, plain])
        .current_dir(&e.dir);
    e.clean_env(&mut c);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e.write(dest, std::str::from_utf8(&out.stdout).unwrap());
}

#[test]
fn sops_decrypts_what_gsec_writes_for_every_recipient() {
    let e = Env::project();
    let (bob_key, bob) = e.other_key("bob");
    e.ok(&["recipients", "add", &bob]);
    e.set("DB_PASSWORD", "production", "correct horse");
    e.set("TOKEN", "production", "multi\nline \"quoted\" $HOME ünï");
    for key in [&e.key, &bob_key] {
        let out = sops_decrypt(&e, key, "secrets/production.yaml");
        assert!(
            out.status.success(),
            "sops: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_norway::from_slice(&out.stdout).unwrap();
        assert_eq!(v["DB_PASSWORD"], "correct horse");
        assert_eq!(v["TOKEN"], "multi\nline \"quoted\" $HOME ünï");
    }
}

#[test]
fn gsec_reads_and_edits_files_sops_wrote() {
    let e = Env::project();
    e.write(
        "plain.yaml",
        "db:\n    user: admin\n    password: s3cr3t\n    port: 5432\n    ratio: 1.5\n    enabled: false\n    empty: \"\"\nlist:\n    - one\n    - two: 2\npublic_unencrypted: visible\n",
    );
    sops_encrypt(&e, "plain.yaml", "secrets/production.yaml");
    assert!(e.get("db", "production").contains("password: s3cr3t"));
    e.set("NEW", "production", "added by gsec");
    let out = sops_decrypt(&e, &e.key, "secrets/production.yaml");
    assert!(
        out.status.success(),
        "sops after gsec edit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_norway::from_slice(&out.stdout).unwrap();
    assert_eq!(v["NEW"], "added by gsec");
    assert_eq!(v["db"]["port"], 5432);
    assert_eq!(v["db"]["ratio"], 1.5);
    assert_eq!(v["db"]["enabled"], false);
    assert_eq!(v["list"][1]["two"], 2);
    assert_eq!(v["public_unencrypted"], "visible");
    // Removing the value sops wrote also keeps the file valid for sops.
    e.ok(&["rm", "db", "--env", "production"]);
    assert!(
        sops_decrypt(&e, &e.key, "secrets/production.yaml")
            .status
            .success()
    );
}

#[test]
fn ssh_recipients_ed25519_and_rsa() {
    let e = Env::project();
    let ssh = e.home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    for (t, bits) in [("ed25519", None), ("rsa", Some("2048"))] {
        let path = ssh.join(format!("id_{t}"));
        let mut c = Command::new("ssh-keygen");
        c.args([
            "-q",
            "-t",
            t,
            "-N",
            "",
            "-C",
            "me@host",
            "-f",
            path.to_str().unwrap(),
        ]);
        if let Some(b) = bits {
            c.args(["-b", b]);
        }
        assert!(c.status().unwrap().success());
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        e.ok(&["recipients", "add", public.trim()]);
    }
    e.set("S", "development", "via ssh");
    // ed25519 key found in its default place (~/.ssh/id_ed25519), no age key.
    let mut c = e.cmd(&["get", "-n", "S"]);
    c.env_remove("GSEC_AGE_KEY_FILE");
    let out = c.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "via ssh",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // RSA key through --identity.
    let mut c = e.cmd(&[
        "get",
        "-n",
        "S",
        "--identity",
        ssh.join("id_rsa").to_str().unwrap(),
    ]);
    c.env_remove("GSEC_AGE_KEY_FILE").env("HOME", e.tmp.path());
    let out = c.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "via ssh",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // sops reads SSH recipients too.
    let mut c = Command::new(tool("sops"));
    c.args(["decrypt", "secrets/development.yaml"])
        .current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", ssh.join("id_ed25519"));
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn removing_a_recipient_rekeys_and_reports_exposed_secrets() {
    let e = Env::project();
    let (bob_key, bob) = e.other_key("bob");
    e.ok(&["recipients", "add", &bob]);
    e.set("A", "development", "alpha");
    e.set("B", "development", "bravo");
    let bob_get = |e: &Env| {
        let mut c = e.cmd(&["get", "-n", "A"]);
        c.env("GSEC_AGE_KEY_FILE", &bob_key);
        c.output().unwrap()
    };
    assert!(bob_get(&e).status.success());
    let before = e.read("secrets/development.yaml");
    let out = e.run_in(&["recipients", "rm", &bob], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("A, B") && err.contains("gsec rotate --exposed"),
        "{err}"
    );
    let after = e.read("secrets/development.yaml");
    // New data key: every value's ciphertext changed.
    for (b, a) in data_lines(&before).iter().zip(data_lines(&after)) {
        assert_ne!(b, &a);
    }
    let out = bob_get(&e);
    assert_eq!(out.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("secrets/development.yaml") && msg.contains("not a recipient"),
        "{msg}"
    );
    // Bob's old data key does not open the new file: decrypt it with the
    // old file's key via sops would fail too (MAC and values use the new key).
    assert!(
        !sops_decrypt(&e, &bob_key, "secrets/development.yaml")
            .status
            .success()
    );
    // The exposure is recorded for `gsec rotate --exposed`.
    let state = e.read(".gsec/state.yaml");
    assert!(state.contains("A:") && state.contains("B:"), "{state}");
    assert_eq!(e.get("A", "development"), "alpha");
}

#[test]
fn updatekeys_adds_a_recipient_without_touching_values() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let before = e.read("secrets/development.yaml");
    let (bob_key, bob) = e.other_key("bob");
    e.ok(&["recipients", "add", &bob, "--no-update"]);
    assert_eq!(before, e.read("secrets/development.yaml"));
    let json: serde_json::Value =
        serde_json::from_str(&e.ok(&["updatekeys", "--format", "json"])).unwrap();
    assert_eq!(json["environments"][0]["added"][0], bob.as_str());
    let after = e.read("secrets/development.yaml");
    assert_eq!(
        data_lines(&before),
        data_lines(&after),
        "values keep their ciphertext"
    );
    let mut c = e.cmd(&["get", "-n", "A"]);
    c.env("GSEC_AGE_KEY_FILE", &bob_key);
    assert_eq!(c.output().unwrap().stdout, b"alpha");
    // A second run changes nothing.
    e.ok(&["updatekeys"]);
    assert_eq!(after, e.read("secrets/development.yaml"));
    let listed = e.ok(&["recipients", "list"]);
    assert!(listed.contains(&bob) && listed.contains("team"), "{listed}");
}

#[test]
fn writes_are_idempotent() {
    let e = Env::project();
    for (k, v) in [("A", "1-alpha"), ("B", "2-bravo"), ("C", "3-charlie")] {
        e.set(k, "development", v);
    }
    let before = e.read("secrets/development.yaml");
    e.set("B", "development", "2-bravo");
    assert_eq!(
        before,
        e.read("secrets/development.yaml"),
        "a no-op write changes no byte"
    );
    e.set("B", "development", "2-bravo-changed");
    let after = e.read("secrets/development.yaml");
    let (b, a) = (data_lines(&before), data_lines(&after));
    let changed: Vec<_> = b.iter().zip(&a).filter(|(x, y)| x != y).collect();
    assert_eq!(changed.len(), 1, "exactly one value line changes");
    assert!(changed[0].0.starts_with("B: "));
    // In the metadata only lastmodified (possibly) and mac change.
    let meta = |t: &str| {
        t.lines()
            .skip_while(|l| *l != "sops:")
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for (x, y) in meta(&before).iter().zip(meta(&after)) {
        if x != &y {
            assert!(
                x.trim_start().starts_with("mac:") || x.trim_start().starts_with("lastmodified:"),
                "{x} -> {y}"
            );
        }
    }
}

#[test]
fn concurrent_sets_lose_nothing() {
    let e = Env::project();
    e.set("SEED", "development", "seed-value");
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut c = e.cmd(&["set", &format!("K{i}")]);
            c.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("value-{i}").as_bytes())
                .unwrap();
            child
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..20 {
        assert_eq!(e.get(&format!("K{i}"), "development"), format!("value-{i}"));
    }
    assert!(
        sops_decrypt(&e, &e.key, "secrets/development.yaml")
            .status
            .success()
    );
}

/// Replace the first occurrence of `from` in the env file.
fn tamper(e: &Env, f: impl Fn(&str) -> String) {
    let p = "secrets/development.yaml";
    let t = e.read(p);
    e.write(p, &f(&t));
}

#[test]
fn tampered_files_are_refused() {
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    e.set("B", "development", "bravo-value");
    let pristine = e.read("secrets/development.yaml");
    let expect = |e: &Env, what: &str| {
        let err = e.fails(&["get", "A"], b"", 2);
        assert!(err.contains("secrets/development.yaml"), "{err}");
        assert!(err.contains(what), "expected {what:?} in {err}");
        assert_no_secret(&err, "alpha-value");
        assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
    };
    // Changed ciphertext.
    tamper(&e, |t| {
        let i = t.find("A: ENC[AES256_GCM,data:").unwrap() + 24;
        let mut b = t.to_string().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    });
    expect(&e, "failed authentication");
    // Values swapped between keys.
    e.write("secrets/development.yaml", &pristine);
    tamper(&e, |t| {
        let lines: Vec<&str> = t.lines().collect();
        let a = lines.iter().position(|l| l.starts_with("A: ")).unwrap();
        let b = lines.iter().position(|l| l.starts_with("B: ")).unwrap();
        let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        out[a] = format!("A: {}", &lines[b][3..]);
        out[b] = format!("B: {}", &lines[a][3..]);
        out.join("\n") + "\n"
    });
    expect(&e, "failed authentication");
    // Edited MAC: refused, unless --ignore-mac.
    e.write("secrets/development.yaml", &pristine);
    tamper(&e, |t| {
        t.replace("mac: ENC[AES256_GCM,data:", "mac: ENC[AES256_GCM,data:AAAA")
    });
    expect(&e, "MAC");
    // A value removed: the MAC no longer matches.
    e.write("secrets/development.yaml", &pristine);
    tamper(&e, |t| {
        t.lines()
            .filter(|l| !l.starts_with("B: "))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    expect(&e, "MAC mismatch");
    e.ok_in(&["set", "C", "--ignore-mac"], b"charlie");
    // Recipient block removed.
    e.write("secrets/development.yaml", &pristine);
    tamper(&e, |t| {
        let start = t.find("    age:\n").unwrap();
        let end = t.find("    lastmodified:").unwrap();
        format!("{}{}", &t[..start], &t[end..])
    });
    expect(&e, "no age recipients");
    // Truncated file, malformed YAML, not a map, empty.
    e.write("secrets/development.yaml", &pristine[..pristine.len() / 2]);
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(err.contains("secrets/development.yaml"), "{err}");
    e.write("secrets/development.yaml", "a: [unclosed\n");
    expect(&e, "invalid YAML");
    e.write("secrets/development.yaml", "- a\n- b\n");
    expect(&e, "not a map");
    e.write("secrets/development.yaml", "");
    expect(&e, "empty");
    e.write("secrets/development.yaml", "A: plain\n");
    expect(&e, "no `sops:`");
    // A failed write leaves the old file intact.
    e.write("secrets/development.yaml", "a: [unclosed\n");
    e.fails(&["set", "Z"], b"zulu", 2);
    assert_eq!(e.read("secrets/development.yaml"), "a: [unclosed\n");
}

#[test]
fn wrong_key_lists_where_it_looked() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let (other_key, _) = e.other_key("mallory");
    let mut c = e.cmd(&["get", "A"]);
    c.env("GSEC_AGE_KEY_FILE", &other_key);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a recipient of development"), "{err}");
    let mut c = e.cmd(&["get", "A"]);
    c.env_remove("GSEC_AGE_KEY_FILE");
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no identity can decrypt")
            && err.contains("$GSEC_AGE_KEY")
            && err.contains("id_ed25519"),
        "{err}"
    );
    // Identity given in the environment, by value.
    let mut c = e.cmd(&["get", "-n", "A"]);
    c.env_remove("GSEC_AGE_KEY_FILE")
        .env("GSEC_AGE_KEY", std::fs::read_to_string(&e.key).unwrap());
    assert_eq!(c.output().unwrap().stdout, b"alpha");
    let mut c = e.cmd(&["get", "-n", "A"]);
    c.env_remove("GSEC_AGE_KEY_FILE")
        .env("SOPS_AGE_KEY_FILE", &e.key);
    assert_eq!(c.output().unwrap().stdout, b"alpha");
    // A malformed explicit identity is an error naming it.
    e.write("bad-key.txt", "not a key\n");
    let mut c = e.cmd(&["get", "A"]);
    c.env("GSEC_AGE_KEY_FILE", e.path("bad-key.txt"));
    let err = String::from_utf8_lossy(&c.output().unwrap().stderr).into_owned();
    assert!(
        err.contains("bad-key.txt") && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn bad_config_is_reported_with_file_and_line() {
    let e = Env::project();
    let good = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &good.replace("  production:\n", "  production:\n    colour: blue\n"),
    );
    let err = e.fails(&["list"], b"", 2);
    assert!(
        err.contains(".gsec.yaml") && err.contains("colour") && err.contains("line"),
        "{err}"
    );
    e.write(
        ".gsec.yaml",
        &good.replace(
            "  preview:\n    inherit: development\n",
            "  preview:\n    inherit: staging\n",
        ),
    );
    let err = e.fails(&["list"], b"", 2);
    assert!(
        err.contains("unknown environment 'staging'") && err.contains("line"),
        "{err}"
    );
    e.write(".gsec.yaml", &good.replace(&e.recipient, "age1notakey"));
    let err = e.fails(&["list"], b"", 2);
    assert!(err.contains("recipients.team"), "{err}");
    e.write(".gsec.yaml", "environments: [\n");
    assert!(e.fails(&["list"], b"", 2).contains(".gsec.yaml"));
    // A value pasted in the wrong place is not echoed back.
    let junk = "pasted-by-mistake-0123456789abcdefghij";
    e.write(".gsec.yaml", &format!("{junk}\n"));
    let err = e.fails(&["list"], b"", 2);
    assert!(err.contains(".gsec.yaml") && !err.contains(junk), "{err}");
    // Outside any project.
    std::fs::remove_file(e.path(".gsec.yaml")).unwrap();
    assert!(e.fails(&["list"], b"", 2).contains("gsec init"));
}

#[test]
fn schema_file_is_valid_json_schema_for_the_default_config() {
    let e = Env::project();
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/gsec.schema.json");
    let validate = |file: &str| {
        Command::new(tool("check-jsonschema"))
            .arg("--schemafile")
            .arg(&schema)
            .arg(e.path(file))
            .output()
            .unwrap()
    };
    let out = validate(".gsec.yaml");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    e.write("bad.yaml", "environments: {dev: {colour: 1}}\n");
    assert!(!validate("bad.yaml").status.success());
}
