//! Failures that must stay distinct and visible (issue: architecture):
//! a corrupt key block is not "no identity", hostile recipient labels do
//! not crash, a corrupt HEAD is not an unborn branch, a broken default
//! identity file is a warning, not silence.

use crate::common::*;

const FILE: &str = "secrets/development.yaml";

#[test]
fn corrupt_age_block_is_reported_as_corrupt_not_as_no_identity() {
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    let t = e.read(FILE);
    let begin = "-----BEGIN AGE ENCRYPTED FILE-----\n";
    let at = t.find(begin).unwrap() + begin.len();
    let end = at + t[at..].find('\n').unwrap();
    let line = &t[at..end];
    let indent = line.len() - line.trim_start().len();
    let broken = format!("{}{}", &line[..indent], "%".repeat(line.len() - indent));
    e.write(FILE, &format!("{}{}{}", &t[..at], broken, &t[end..]));
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(err.contains(FILE), "{err}");
    assert!(err.contains("corrupt"), "{err}");
    assert!(!err.contains("no identity"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_no_secret(&err, "alpha-value");
}

#[test]
fn multibyte_recipient_labels_do_not_crash() {
    for label in ["aéééééééééééééééééééé", "ssh-ed25519 AAAA€€€€€€€€€€€€"]
    {
        let e = Env::project();
        e.set("A", "development", "alpha-value");
        let t = e.read(FILE);
        let i = t.find("- recipient: ").unwrap() + "- recipient: ".len();
        let j = i + t[i..].find('\n').unwrap();
        e.write(FILE, &format!("{}\"{label}\"{}", &t[..i], &t[j..]));
        // The label is not what the configured recipient is: a finding.
        let out = e.run_in(&["check", "--env", "development"], b"");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("recipients differ"), "{stdout}");
        // Someone else's key: a one-line "not a recipient" error.
        let (other, _) = e.other_key("bob");
        let mut c = e.cmd(&["get", "A"]);
        c.env("GSEC_AGE_KEY_FILE", &other);
        let out = e.run_cmd(c, b"");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a recipient"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let out = e.run_in(&["doctor"], b"");
        assert_ne!(out.status.code(), Some(101), "{out:?}");
    }
}

#[test]
fn corrupt_head_is_an_error_not_an_unborn_branch() {
    let e = Env::project();
    e.write("README.md", "hello\n");
    e.git(&["add", "README.md"]);
    e.git(&["commit", "-qm", "first"]);
    e.write("notes.txt", "nothing secret\n");
    e.git(&["add", "notes.txt"]);
    // HEAD names a commit that does not exist.
    e.write(
        ".git/refs/heads/main",
        "0123456789012345678901234567890123456789\n",
    );
    let err = e.fails(&["scan", "--staged"], b"", 2);
    assert!(err.contains("HEAD"), "{err}");
}

#[test]
fn a_broken_default_identity_file_is_a_warning() {
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    let dir = e.home.join(".config/gsec");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("identity.txt"), "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    let out = e.run_in(&["get", "A"], b"");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: skipping identity"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha-value\n");
}
