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
