//! Git-native collaboration through real `git` and the real binary: the
//! merge driver, textconv diffs, `--at`, `gsec log` and `gsec exposure`.

use std::process::{Command, Output};

use crate::common::*;

const PROD: &str = "secrets/production.yaml";

/// `git` with the test identity available to the drivers git starts.
fn git_as(e: &Env, author: &str, args: &[&str]) -> Output {
    let mut c = Command::new("git");
    c.args(args).current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("GSEC_AGE_KEY_FILE", &e.key)
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", format!("{author}@example.com"))
        .env("GIT_COMMITTER_NAME", author)
        .env("GIT_COMMITTER_EMAIL", format!("{author}@example.com"));
    c.output().unwrap()
}

fn git_ok(e: &Env, args: &[&str]) -> String {
    let out = git_as(e, "alice", args);
    assert!(
        out.status.success(),
        "git {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn commit_all(e: &Env, author: &str, msg: &str) {
    let out = git_as(e, author, &["add", "-A"]);
    assert!(out.status.success());
    let out = git_as(e, author, &["commit", "-qm", msg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A project with one commit holding A in production, on `main`.
fn base_repo() -> Env {
    let e = Env::project();
    e.set("A", "production", "alpha-0");
    commit_all(&e, "alice", "base");
    e
}

#[test]
fn init_registers_attributes_and_drivers() {
    let e = Env::project();
    let attrs = e.read(".gitattributes");
    assert!(
        attrs.contains("/secrets/production.yaml merge=gsec diff=gsec"),
        "{attrs}"
    );
    let cfg = git_ok(&e, &["config", "--get", "merge.gsec.driver"]);
    assert!(cfg.contains("merge-driver %O %A %B %P"), "{cfg}");
    git_ok(&e, &["config", "--get", "diff.gsec.textconv"]);
    // Idempotent, and never clobbers what a user wrote.
    e.write(".gitattributes", &format!("*.png binary\n{attrs}"));
    e.ok(&["hook", "install"]);
    let again = e.read(".gitattributes");
    assert!(again.starts_with("*.png binary\n"), "{again}");
    assert_eq!(
        again.matches("/secrets/production.yaml").count(),
        1,
        "{again}"
    );
}

#[test]
fn branches_adding_different_keys_merge_cleanly_and_sops_reads_the_result() {
    let e = base_repo();
    git_ok(&e, &["checkout", "-qb", "feature"]);
    e.set("B", "production", "bravo-1");
    commit_all(&e, "bob", "add B");
    git_ok(&e, &["checkout", "-q", "main"]);
    e.set("C", "production", "charlie-1");
    e.set("A", "production", "alpha-1");
    commit_all(&e, "alice", "add C, change A");
    let out = git_as(&e, "alice", &["merge", "-q", "--no-edit", "feature"]);
    assert!(
        out.status.success(),
        "merge: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(e.get("A", "production"), "alpha-1");
    assert_eq!(e.get("B", "production"), "bravo-1");
    assert_eq!(e.get("C", "production"), "charlie-1");
    let text = e.read(PROD);
    assert!(!text.contains("<<<<<<<"), "{text}");
    let out = sops_decrypt(&e, &e.key, PROD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = String::from_utf8_lossy(&out.stdout);
    for v in ["alpha-1", "bravo-1", "charlie-1"] {
        assert!(plain.contains(v), "{plain}");
    }
    // A kept ours' ciphertext and B kept theirs': a minimal diff.
    let ours = git_ok(&e, &["show", "HEAD^1:secrets/production.yaml"]);
    let theirs = git_ok(&e, &["show", "HEAD^2:secrets/production.yaml"]);
    let line = |t: &str, k: &str| {
        t.lines()
            .find(|l| l.starts_with(&format!("{k}: ")))
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&text, "A"), line(&ours, "A"));
    assert_eq!(line(&text, "B"), line(&theirs, "B"));
    // gsec log reports each change once, where it was made, not again at
    // the merge that brought it in.
    let log = e.ok(&["log", "--env", "production", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    let added_b: Vec<&serde_json::Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "B" && r["action"] == "added")
        .collect();
    assert_eq!(added_b.len(), 1, "{log}");
    assert_eq!(added_b[0]["author"], "bob", "{log}");
}

#[test]
fn a_same_key_conflict_names_the_key_and_leaves_a_decryptable_file() {
    let e = base_repo();
    git_ok(&e, &["checkout", "-qb", "feature"]);
    e.set("A", "production", "alpha-theirs");
    commit_all(&e, "bob", "theirs");
    git_ok(&e, &["checkout", "-q", "main"]);
    e.set("A", "production", "alpha-ours");
    e.set("D", "production", "delta");
    commit_all(&e, "alice", "ours");
    let out = git_as(&e, "alice", &["merge", "--no-edit", "feature"]);
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("secrets/production.yaml (production): A:"),
        "{all}"
    );
    assert!(all.contains("--at MERGE_HEAD"), "{all}");
    assert_no_secret(&all, "alpha-ours");
    assert_no_secret(&all, "alpha-theirs");
    // The file holds ours' value, decrypts, and theirs is one command away.
    assert_eq!(e.get("A", "production"), "alpha-ours");
    assert_eq!(e.get("D", "production"), "delta");
    assert_eq!(
        e.ok(&[
            "get",
            "-n",
            "A",
            "--env",
            "production",
            "--at",
            "MERGE_HEAD"
        ]),
        "alpha-theirs"
    );
    // --at is read-only.
    e.fails(
        &["set", "A", "--env", "production", "--at", "MERGE_HEAD"],
        b"x",
        2,
    );
    e.set("A", "production", "alpha-chosen");
    git_ok(&e, &["add", PROD]);
    git_ok(&e, &["commit", "-qm", "merge", "--no-edit"]);
    assert_eq!(e.get("A", "production"), "alpha-chosen");
}

#[test]
fn a_fresh_clone_merges_after_hook_install() {
    let e = base_repo();
    let clone = Env::new();
    std::fs::remove_dir_all(&clone.dir).unwrap();
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(&e.dir)
        .arg(&clone.dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    // The clone has the attributes but not the drivers (git config is
    // not versioned): doctor says so.
    let mut c = clone.cmd(&["doctor"]);
    c.env("GSEC_AGE_KEY_FILE", &e.key);
    let out = clone.run_cmd(c, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not registered"), "{text}");
    let mut c = clone.cmd(&["hook", "install"]);
    c.env("GSEC_AGE_KEY_FILE", &e.key);
    assert!(clone.run_cmd(c, b"").status.success());
    let clone = Env {
        key: e.key.clone(),
        ..clone
    };
    git_ok(&clone, &["checkout", "-qb", "feature"]);
    clone.set("B", "production", "bravo");
    commit_all(&clone, "bob", "B");
    git_ok(&clone, &["checkout", "-q", "main"]);
    clone.set("C", "production", "charlie");
    commit_all(&clone, "alice", "C");
    git_ok(&clone, &["merge", "-q", "--no-edit", "feature"]);
    assert_eq!(clone.get("B", "production"), "bravo");
    assert_eq!(clone.get("C", "production"), "charlie");
}

#[test]
fn git_log_p_shows_key_names_without_ciphertext_or_plaintext() {
    let e = base_repo();
    e.set("B", "production", "bravo-secret-value");
    commit_all(&e, "alice", "add B");
    let log = git_ok(&e, &["log", "-p", "-2"]);
    assert!(log.contains("+B: ~"), "{log}");
    assert!(!log.contains("ENC[AES256_GCM"), "{log}");
    assert!(!log.contains("lastmodified"), "{log}");
    assert!(!log.contains("BEGIN AGE ENCRYPTED FILE"), "{log}");
    assert_no_secret(&log, "bravo-secret-value");
    // A changed value changes its marker line; unchanged ones do not move.
    e.set("B", "production", "bravo-2");
    commit_all(&e, "alice", "change B");
    let diff = git_ok(&e, &["show", "HEAD"]);
    assert!(diff.contains("-B: ~") && diff.contains("+B: ~"), "{diff}");
    assert!(!diff.contains("-A: ~"), "{diff}");
}

#[test]
fn gsec_log_names_commits_authors_and_actions() {
    let e = base_repo();
    e.set("B", "production", "bravo");
    commit_all(&e, "bob", "add B");
    e.set("A", "production", "alpha-2");
    commit_all(&e, "carol", "change A");
    e.ok(&["rm", "B", "--env", "production"]);
    commit_all(&e, "dave", "remove B");
    let json = e.ok(&["log", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows: Vec<(String, String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["env"] == "production")
        .map(|r| {
            (
                r["author"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(_, _, a)| !a.starts_with("recipient"))
        .collect();
    let want = [
        ("dave", "B", "removed"),
        ("carol", "A", "changed"),
        ("bob", "B", "added"),
        ("alice", "A", "added"),
    ];
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, want);
    for r in v.as_array().unwrap() {
        for k in ["commit", "author", "date", "env", "name", "action"] {
            assert!(r.get(k).is_some(), "{r}");
        }
    }
    // sops re-encrypts every value on a write: only the value it changed
    // is reported (gsec decrypts in memory to tell).
    e.set("C", "production", "charlie");
    commit_all(&e, "dave", "add C");
    let mut c = Command::new(tool("sops"));
    c.args(["set", PROD, "[\"A\"]", "\"alpha-3\""])
        .current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", &e.key);
    assert!(c.output().unwrap().status.success());
    commit_all(&e, "erin", "sops set A");
    let json = e.ok(&["log", "--format", "json", "--env", "production"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let newest: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["author"] == "erin")
        .map(|r| (r["name"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(newest, [("A", "changed")], "{json}");
    let only_a = e.ok(&["log", "A", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&only_a).unwrap();
    assert!(v.as_array().unwrap().iter().all(|r| r["name"] == "A"));
    assert_no_secret(&json, "alpha-2");
}

#[test]
fn exposure_lists_values_a_removed_recipient_could_read_until_rotated() {
    let e = base_repo();
    let (_bob_key, bob) = e.other_key("bob");
    e.ok(&["recipients", "add", &bob]);
    e.set("B", "production", "bravo-shared");
    commit_all(&e, "alice", "bob joins");
    e.ok(&["recipients", "rm", &bob]);
    commit_all(&e, "alice", "bob leaves");
    let out = e.run_in(&["exposure", "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let exposed: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["env"] == "production")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(exposed.contains(&"A") && exposed.contains(&"B"), "{v}");
    let row = &v.as_array().unwrap()[0];
    assert!(row["recipients"].to_string().contains(&bob[..20]), "{row}");
    // rotate --exposed knows it from history alone (no state recorded).
    let _ = std::fs::remove_file(e.path(".gsec/state.yaml"));
    let out = e.run_in(&["rotate", "--exposed", "--dry-run"], b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("B in production was readable by a removed recipient"),
        "{err}"
    );
    // Rotating the values ends the exposure.
    e.set("A", "production", "alpha-new");
    e.set("B", "production", "bravo-new");
    commit_all(&e, "alice", "rotate");
    let out = e.run_in(&["exposure", "--env", "production"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn merging_a_recipient_removal_rekeys_the_result() {
    let e = base_repo();
    let (bob_key, bob) = e.other_key("bob");
    e.ok(&["recipients", "add", &bob]);
    commit_all(&e, "alice", "bob joins");
    git_ok(&e, &["checkout", "-qb", "feature"]);
    e.set("B", "production", "bravo");
    commit_all(&e, "alice", "B");
    git_ok(&e, &["checkout", "-q", "main"]);
    e.ok(&["recipients", "rm", &bob]);
    commit_all(&e, "alice", "bob leaves");
    git_ok(&e, &["merge", "-q", "--no-edit", "feature"]);
    assert_eq!(e.get("B", "production"), "bravo");
    // Bob is not a recipient of the merged file, and his old data key
    // does not open it.
    let text = e.read(PROD);
    assert!(!text.contains(&bob), "{text}");
    let mut c = e.cmd(&["get", "B", "--env", "production"]);
    c.env("GSEC_AGE_KEY_FILE", &bob_key);
    assert_eq!(e.run_cmd(c, b"").status.code(), Some(2));
}

#[test]
fn bad_sides_are_one_line_conflicts_and_ours_is_kept() {
    let e = base_repo();
    let ours = e.read(PROD);
    let dir = e.tmp.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    let w = |n: &str, t: &[u8]| {
        let p = dir.join(n);
        std::fs::write(&p, t).unwrap();
        p.to_string_lossy().into_owned()
    };
    let base = w("base", ours.as_bytes());
    // A corrupt theirs: ciphertext flipped.
    let i = ours.find("A: ENC[AES256_GCM,data:").unwrap() + 24;
    let mut corrupt = ours.clone().into_bytes();
    corrupt[i] = if corrupt[i] == b'A' { b'B' } else { b'A' };
    for theirs in [corrupt, b"sops: {mac: x}\nnot: [valid".to_vec()] {
        let o = w("ours", ours.as_bytes());
        let t = w("theirs", &theirs);
        let err = e.fails(&["merge-driver", &base, &o, &t, PROD], b"", 1);
        assert!(err.contains(PROD), "{err}");
        assert_eq!(std::fs::read_to_string(&o).unwrap(), ours);
    }
    // Someone who is not a recipient merging: a conflict with a reason,
    // ours untouched.
    let (bob, _) = e.other_key("bob");
    let o = w("ours", ours.as_bytes());
    let t = w("theirs", ours.replace("A: ENC", "B: ENC").as_bytes());
    let mut c = e.cmd(&["merge-driver", &base, &o, &t, PROD]);
    c.env("GSEC_AGE_KEY_FILE", &bob);
    let out = e.run_cmd(c, b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot merge per key, ours kept"), "{err}");
    assert!(err.contains("not a recipient"), "{err}");
    assert_eq!(std::fs::read_to_string(&o).unwrap(), ours);
    // Plain YAML on both sides: git's own text merge.
    let b = w("b", b"a: 1\nb: 2\nc: 3\n");
    let o = w("o", b"a: 10\nb: 2\nc: 3\n");
    let t = w("t", b"a: 1\nb: 2\nc: 30\n");
    e.ok(&["merge-driver", &b, &o, &t, "plain.yaml"]);
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "a: 10\nb: 2\nc: 30\n");
    // Binary: refused (git keeps ours and marks the conflict).
    let b = w("bb", b"\0\x01\x02");
    let o = w("bo", b"\0\x01\x03");
    let t = w("bt", b"\0\x01\x04");
    let out = e.run_in(&["merge-driver", &b, &o, &t, "x.bin"], b"");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(std::fs::read(&o).unwrap(), b"\0\x01\x03");
}

#[test]
fn diff_and_at_read_other_revisions() {
    let e = base_repo();
    e.set("B", "production", "bravo");
    e.set("A", "production", "alpha-9");
    // Work tree vs HEAD: names only, unless --values.
    let out = e.ok(&["diff", "--env", "production"]);
    assert_eq!(out, "~ production A\n+ production B\n");
    assert_no_secret(&out, "alpha-9");
    let out = e.ok(&["diff", "--env", "production", "--values"]);
    assert!(out.contains("\"alpha-0\" -> \"alpha-9\""), "{out}");
    commit_all(&e, "alice", "second");
    // list/export --at see the first commit, with no B yet.
    let list = e.ok(&["list", "--env", "production", "--at", "HEAD~1"]);
    assert!(list.contains('A') && !list.contains('B'), "{list}");
    let env = e.ok(&["export", "--env", "production", "--at", "HEAD~1"]);
    assert!(env.contains("alpha-0") && !env.contains("bravo"), "{env}");
    let err = e.fails(&["get", "A", "--env", "production", "--at", "nope"], b"", 2);
    assert!(err.contains("nope"), "{err}");
    let out = e.ok(&["diff", "HEAD~1", "HEAD", "--env", "production"]);
    assert_eq!(out, "~ production A\n+ production B\n");
}

#[test]
fn comments_in_a_file_sops_wrote_survive_a_gsec_write() {
    let e = Env::project();
    e.write(
        "plain.yaml",
        "# who owns this file\nA: alpha\n# the SMTP relay\nB: bravo\nnested:\n    # inner note\n    c: charlie\n",
    );
    let mut c = Command::new(tool("sops"));
    c.args(["encrypt", "--age", &e.recipient, "plain.yaml"])
        .current_dir(&e.dir);
    e.clean_env(&mut c);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    e.write(PROD, std::str::from_utf8(&out.stdout).unwrap());
    std::fs::remove_file(e.path("plain.yaml")).unwrap();
    let before = e.read(PROD);
    assert_eq!(before.matches("type:comment]").count(), 3, "{before}");
    // A gsec write: one value changed, one added.
    e.set("B", "production", "bravo-2");
    e.set("D", "production", "delta");
    let after = e.read(PROD);
    for l in before.lines().filter(|l| l.contains("type:comment]")) {
        assert!(after.contains(l), "lost {l}:\n{after}");
    }
    let out = sops_decrypt(&e, &e.key, PROD);
    assert!(out.status.success(), "{out:?}");
    let plain = String::from_utf8_lossy(&out.stdout);
    for want in [
        "# who owns this file\nA: alpha",
        "# the SMTP relay\nB: bravo-2",
        "    # inner note\n    c: charlie",
    ] {
        assert!(plain.contains(want), "{want:?} in\n{plain}");
    }
    assert_eq!(e.get("D", "production"), "delta");
}
