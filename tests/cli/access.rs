//! Encrypt-only contributors: someone who cannot read an environment seals
//! a value into its inbox; its recipients read it, `check` counts it, and
//! `gsec inbox merge` folds it into the file that `sops` reads.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

const PROD: &str = "secrets/production.yaml";
const INBOX: &str = "secrets/production.inbox";

fn as_key(e: &Env, key: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = e.cmd(args);
    c.env("GSEC_AGE_KEY_FILE", key);
    e.run_cmd(c, stdin)
}

fn require(e: &Env, name: &str) {
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &format!("{cfg}secrets:\n  {name}:\n    required: [production]\n"),
    );
}

#[test]
fn a_non_recipient_seals_a_value_that_recipients_read_check_counts_and_merge_folds_in() {
    let e = Env::project();
    e.set("A", "production", "alpha");
    require(&e, "STRIPE_KEY");
    let (bob, _) = e.other_key("bob");
    let out = as_key(
        &e,
        &bob,
        &["set", "STRIPE_KEY", "--env", "production"],
        b"sk-sealed-value",
    );
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sealed STRIPE_KEY for production"), "{err}");
    let entry = e.read(&format!("{INBOX}/STRIPE_KEY.yaml"));
    assert!(entry.contains("BEGIN AGE ENCRYPTED FILE"), "{entry}");
    assert_no_secret(&entry, "sk-sealed-value");
    // Bob cannot read it back; the environment file is untouched.
    let out = as_key(&e, &bob, &["get", "STRIPE_KEY", "--env", "production"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!e.read(PROD).contains("STRIPE_KEY"));
    // A recipient reads it, and check counts it as set.
    assert_eq!(e.get("STRIPE_KEY", "production"), "sk-sealed-value");
    e.ok(&["check", "--env", "production"]);
    let list = e.ok(&["inbox", "list", "--format", "json"]);
    assert!(
        list.contains("\"STRIPE_KEY\"") && !list.contains("sk-sealed"),
        "{list}"
    );
    // Merge: into the file (sops reads it), out of the inbox.
    e.ok(&["inbox", "merge", "--env", "production"]);
    assert!(!e.path(INBOX).exists());
    assert!(e.read(PROD).contains("STRIPE_KEY: ENC["));
    let out = sops_decrypt(&e, &e.key, PROD);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sk-sealed-value"),
        "{out:?}"
    );
    assert_eq!(e.get("STRIPE_KEY", "production"), "sk-sealed-value");
}

#[test]
fn two_contributors_on_two_branches_merge_cleanly_and_stale_entries_are_reported() {
    let e = Env::project();
    e.set("A", "production", "alpha");
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "base"]);
    let (bob, _) = e.other_key("bob");
    let (carol, carol_r) = e.other_key("carol");
    e.git(&["checkout", "-qb", "bob"]);
    assert!(
        as_key(&e, &bob, &["set", "B1", "--env", "production"], b"one")
            .status
            .success()
    );
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "bob"]);
    e.git(&["checkout", "-q", "main"]);
    assert!(
        as_key(&e, &carol, &["set", "B2", "--env", "production"], b"two")
            .status
            .success()
    );
    e.git(&["add", "-A"]);
    e.git(&["commit", "-qm", "carol"]);
    e.git(&["merge", "-q", "--no-edit", "bob"]);
    assert_eq!(e.get("B1", "production"), "one");
    assert_eq!(e.get("B2", "production"), "two");
    // A recipient added since: the entries no longer match.
    e.ok(&["recipients", "add", &carol_r]);
    let out = e.run_in(&["check", "--env", "production"], b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("B1") && text.contains("no longer has"),
        "{text}"
    );
}

#[test]
fn a_malformed_inbox_entry_is_a_one_line_error_naming_it() {
    let e = Env::project();
    e.set("A", "production", "alpha");
    e.write(&format!("{INBOX}/X.yaml"), "name: X\nvalue: [not, age]\n");
    let err = e.fails(&["get", "A", "--env", "production"], b"", 2);
    assert!(err.contains("production.inbox/X.yaml"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let out = e.run_in(&["check", "--env", "production"], b"");
    assert_eq!(out.status.code(), Some(1));
    // An entry claiming another name is refused as tampered.
    let (bob, _) = e.other_key("bob");
    std::fs::remove_file(e.path(&format!("{INBOX}/X.yaml"))).unwrap();
    assert!(
        as_key(&e, &bob, &["set", "Y", "--env", "production"], b"why")
            .status
            .success()
    );
    std::fs::rename(
        e.path(&format!("{INBOX}/Y.yaml")),
        e.path(&format!("{INBOX}/Z.yaml")),
    )
    .unwrap();
    let err = e.fails(&["get", "A", "--env", "production"], b"", 2);
    assert!(err.contains("stored as Z"), "{err}");
}

#[test]
fn rm_says_the_old_value_stays_in_history() {
    let e = Env::project();
    e.set("A", "production", "alpha");
    let err = String::from_utf8_lossy(&e.run_in(&["rm", "A", "--env", "production"], b"").stderr)
        .into_owned();
    assert!(err.contains("removed A from production"), "{err}");
    assert!(err.contains("stays readable in git history"), "{err}");
    assert!(err.contains("revoke or rotate it"), "{err}");
    assert_no_secret(&err, "alpha");
}

#[test]
fn write_only_secrets_are_shown_once_then_only_used() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &format!("{cfg}secrets:\n  API_TOKEN:\n    write_only: true\n"),
    );
    // Generated and shown once, at creation.
    let shown = e.ok(&["set", "API_TOKEN", "--env", "development", "--generate"]);
    let value = shown.trim().to_string();
    assert_eq!(value.len(), 32, "{shown}");
    // get refuses; run, render and export -o FILE use it.
    let err = e.fails(&["get", "API_TOKEN"], b"", 2);
    assert!(err.contains("write-only"), "{err}");
    assert_no_secret(&err, &value);
    let out = e.ok(&["run", "--", "sh", "-c", "printf %s \"$API_TOKEN\""]);
    assert_eq!(out, value);
    let file = e.tmp.path().join("out.env");
    e.ok(&["export", "-o", file.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&file).unwrap().contains(&value));
    // export to a terminal refuses (script(1) gives it one).
    let out = Command::new("script")
        .args(["-qec", &format!("{BIN} export"), "/dev/null"])
        .current_dir(&e.dir)
        .env("HOME", &e.home)
        .env("GSEC_AGE_KEY_FILE", &e.key)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("write-only"), "{text}");
    assert!(!text.contains(&value), "{text}");
}

#[test]
fn the_naming_policy_is_enforced_and_maps_to_variables() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    e.write(".gsec.yaml", &format!("{cfg}naming: rfc1123\n"));
    // Koyeb's names: lowercase, digits, dashes.
    e.set("db-password", "development", "pw-value-123");
    for bad in ["DB_PASSWORD", "db_password", "9-é", "db-"] {
        let err = e.fails(&["set", bad], b"v-value-123", 2);
        assert!(err.contains("naming: rfc1123"), "{bad}: {err}");
        assert_eq!(err.trim().lines().count(), 1);
    }
    e.write("in.env", "GOOD-ONE=x-value-1\nBad_One=y\n");
    let err = e.fails(&["import", "in.env"], b"", 2);
    assert!(
        err.contains("in.env:1") && err.contains("naming: rfc1123"),
        "{err}"
    );
    // run/export map such names to variable names.
    let out = e.ok(&["export", "--format", "json"]);
    assert!(out.contains("\"DB_PASSWORD\": \"pw-value-123\""), "{out}");
    // A declared secret that breaks the policy: the config names it.
    e.write(
        ".gsec.yaml",
        &format!("{cfg}naming: rfc1123\nsecrets:\n  Stripe_Key:\n    description: x\n"),
    );
    let err = e.fails(&["list"], b"", 2);
    assert!(
        err.contains(".gsec.yaml") && err.contains("secrets.Stripe_Key"),
        "{err}"
    );
    // `any`: spaces and dots are fine, `:` never (sops path separator).
    e.write(".gsec.yaml", &format!("{cfg}naming: any\n"));
    e.set("my api.key v2", "development", "any-value-456");
    assert_eq!(e.get("my api.key v2", "development"), "any-value-456");
    let err = e.fails(&["set", "a:b"], b"v", 2);
    assert!(err.contains("naming: any"), "{err}");
    let out = e.ok(&["export", "--format", "json"]);
    assert!(
        out.contains("\"MY_API_KEY_V2\": \"any-value-456\""),
        "{out}"
    );
}
