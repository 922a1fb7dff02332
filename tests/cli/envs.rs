//! Issue 3: environments, local overrides, check, render, edit, access per
//! environment and deletion safety, through the binary.

use crate::common::{Env, assert_no_secret};

/// Replace `.gsec.yaml` with the default config plus extra YAML appended
/// under the given top-level sections.
fn configure(e: &Env, extra_envs: &str, rest: &str) {
    let cfg = e.read(".gsec.yaml");
    let cfg = cfg.replace("  production:\n", &format!("{extra_envs}  production:\n"));
    e.write(".gsec.yaml", &format!("{cfg}{rest}"));
}

#[test]
fn values_inherit_and_specific_environments_override() {
    let e = Env::project();
    configure(&e, "  staging:\n    inherit: production\n", "");
    e.set("DB_URL", "production", "postgres://prod");
    e.set("API", "production", "prod-api");
    e.set("API", "staging", "staging-api");
    assert_eq!(e.get("DB_URL", "staging"), "postgres://prod");
    assert_eq!(e.get("API", "staging"), "staging-api");
    assert_eq!(e.get("API", "production"), "prod-api");
    let out = e.run_in(&["get", "DB_URL", "--env", "staging", "--explain"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secrets/production.yaml") && err.contains("inherited from production"),
        "{err}"
    );
    let out = e.run_in(&["get", "API", "--env", "staging", "--explain"], b"");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("secrets/staging.yaml (staging's own file)")
    );
    // local and preview inherit development by default.
    e.set("DEV_ONLY", "development", "dev-value");
    assert_eq!(e.get("DEV_ONLY", "local"), "dev-value");
    assert_eq!(e.get("DEV_ONLY", "preview"), "dev-value");
    assert!(
        e.fails(&["get", "DEV_ONLY", "--env", "production"], b"", 2)
            .contains("not found in environment 'production'")
    );
}

#[test]
fn local_overrides_apply_to_local_only() {
    let e = Env::project();
    e.set("API", "development", "dev-api");
    e.write(
        ".gsec.local.yaml",
        "API: my-laptop-api\nEXTRA:\n  nested: 1\n",
    );
    assert_eq!(e.get("API", "local"), "my-laptop-api");
    assert_eq!(e.get("api", "local"), "my-laptop-api");
    assert_eq!(e.get("API", "development"), "dev-api");
    let out = e.run_in(&["get", "API", "--env", "local", "--explain"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains(".gsec.local.yaml (local override)"));
    // git ignores it (gsec init wrote the rule).
    let ignored = e.git(&["check-ignore", ".gsec.local.yaml"]);
    assert_eq!(ignored.trim(), ".gsec.local.yaml");
    e.write(".gsec.local.yaml", "- not a map\n");
    let err = e.fails(&["get", "API", "--env", "local"], b"", 2);
    assert!(
        err.contains(".gsec.local.yaml") && err.contains("map"),
        "{err}"
    );
}

#[test]
fn check_reports_missing_required_secrets_after_inheritance() {
    let e = Env::project();
    configure(
        &e,
        "  staging:\n    inherit: production\n",
        "secrets:\n  DB_PASSWORD:\n    description: main database\n    required: [production, staging, local]\n  SENTRY_DSN:\n    required: true\n",
    );
    let out = e.run_in(&["check"], b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "production: required secret DB_PASSWORD has no value in production (main database)"
        ),
        "{text}"
    );
    assert!(
        text.contains("staging: required secret DB_PASSWORD"),
        "{text}"
    );
    for env in ["development", "local", "preview", "production", "staging"] {
        assert!(
            text.contains(&format!("{env}: required secret SENTRY_DSN")),
            "{env}: {text}"
        );
    }
    e.set("DB_PASSWORD", "production", "pw-prod-123");
    e.set("SENTRY_DSN", "production", "https://sentry");
    e.set("SENTRY_DSN", "development", "https://sentry-dev");
    // staging inherits production's values; local gets its value from the override file.
    e.write(".gsec.local.yaml", "DB_PASSWORD: local-pw\n");
    let out = e.run_in(&["check"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Scoped to one environment.
    std::fs::remove_file(e.path(".gsec.local.yaml")).unwrap();
    e.ok(&["check", "--env", "production,staging"]);
    let out = e.run_in(&["check", "--env", "local", "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["kind"], "missing");
    assert_eq!(v["problems"][0]["secret"], "DB_PASSWORD");
    // GitHub annotations name the secret.
    let out = e.run_in(&["check", "--env", "local", "--format", "github"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "::error title=gsec check%3A DB_PASSWORD (local)::required secret DB_PASSWORD"
        ),
        "{text}"
    );
    assert_no_secret(&text, "pw-prod-123");
}

#[test]
fn check_reports_unreadable_files_recipient_drift_and_bad_templates() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    e.set("B", "production", "bravo");
    e.ok(&["check"]);
    // Recipient drift: config names a new key the file is not wrapped for.
    let (_, bob) = e.other_key("bob");
    e.ok(&["recipients", "add", &bob, "--no-update"]);
    let out = e.run_in(&["check", "--env", "development"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("gsec updatekeys"));
    e.ok(&["updatekeys"]);
    e.ok(&["check"]);
    // A file that does not verify.
    let p = "secrets/production.yaml";
    let t = e.read(p);
    e.write(
        p,
        &t.replace("mac: ENC[AES256_GCM,data:", "mac: ENC[AES256_GCM,data:AB"),
    );
    let out = e.run_in(&["check", "--env", "production"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MAC"));
    // A truncated file is one problem, named once.
    e.write(p, &t[..t.len() / 3]);
    let out = e.run_in(&["check", "--env", "production", "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["file"], p);
    e.write(p, &t);
    // Templates listed in the config must only name known secrets.
    e.write(
        "deploy/app.env.tmpl",
        "A={{ secrets.A }}\nB={{ secret('B') }}\nC={{ secrets.NOPE }}\n",
    );
    configure(&e, "", "templates: [deploy/app.env.tmpl]\n");
    let out = e.run_in(&["check"], b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("deploy/app.env.tmpl:3: placeholder names unknown secret 'NOPE'"),
        "{text}"
    );
}

#[test]
fn render_replaces_every_placeholder_syntax() {
    let e = Env::project();
    let awkward = "it's \"quoted\"\nnext line $HOME \\ ünï ✓";
    e.set("MySecret", "production", awkward);
    e.set("db-pass", "production", "pw");
    e.write(
        "app.tmpl",
        "a={{ secret('MySecret') }}\nb={{secret(\"db-pass\")}}\nc={{ secrets.mysecret }}\nd={{Secrets.MYSECRET}}\nkeep {{ other }}\n",
    );
    let out = e.ok(&["render", "app.tmpl", "--env", "production"]);
    assert_eq!(
        out,
        format!("a={awkward}\nb=pw\nc={awkward}\nd={awkward}\nkeep {{{{ other }}}}\n")
    );
    // Big values survive.
    let big = "x".repeat(64 * 1024);
    e.set("BIG", "production", &big);
    e.write("big.tmpl", "{{ secrets.BIG }}");
    assert_eq!(e.ok(&["render", "big.tmpl", "--env", "production"]), big);
    // Output file is private.
    e.ok(&[
        "render",
        "app.tmpl",
        "--env",
        "production",
        "-o",
        "out/app.env",
    ]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(e.path("out/app.env"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // Unknown names are an error naming the file and line; nothing is written.
    e.write(
        "bad.tmpl",
        "ok\n{{ secrets.MySecret }}\n{{ secrets.MISSING }}\n",
    );
    let err = e.fails(
        &["render", "bad.tmpl", "--env", "production", "-o", "bad.out"],
        b"",
        2,
    );
    assert!(
        err.contains("bad.tmpl:3: unknown secret 'MISSING'"),
        "{err}"
    );
    assert!(!e.path("bad.out").exists());
    assert_no_secret(&err, "quoted");
}

pub(crate) fn editor(e: &Env, name: &str, script: &str) -> String {
    let p = e.tmp.path().join(name);
    std::fs::write(&p, format!("#!/bin/sh\nset -e\n{script}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn edit_changes_only_what_was_edited_and_cleans_up() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    e.set("B", "development", "bravo");
    let runtime = e.tmp.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let log = e.tmp.path().join("editor.log");
    let edit = |script: &str| {
        let ed = editor(
            &e,
            "ed.sh",
            &format!(
                "echo \"$1 $(stat -c %a \"$1\")\" >> {}\n{script}",
                log.display()
            ),
        );
        let mut c = e.cmd(&["edit"]);
        c.env("EDITOR", &ed).env("XDG_RUNTIME_DIR", &runtime);
        e.run_cmd(c, b"")
    };
    // Nothing changed: file untouched.
    let before = e.read("secrets/development.yaml");
    let out = edit("true");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no changes"));
    assert_eq!(before, e.read("secrets/development.yaml"));
    // The temporary file was private, under XDG_RUNTIME_DIR, and is gone.
    let logged = std::fs::read_to_string(&log).unwrap();
    let (path, mode) = logged.trim().rsplit_once(' ').unwrap();
    assert!(path.starts_with(runtime.to_str().unwrap()), "{path}");
    assert_eq!(mode, "600");
    assert!(!std::path::Path::new(path).exists());
    assert_eq!(std::fs::read_dir(&runtime).unwrap().count(), 0);
    // One value changed: one data line differs.
    let out = edit("sed -i 's/^B: .*/B: bravo-2/' \"$1\"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = e.read("secrets/development.yaml");
    let changed = before
        .lines()
        .zip(after.lines())
        .take_while(|(l, _)| *l != "sops:")
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 1);
    assert_eq!(e.get("B", "development"), "bravo-2");
    // Invalid YAML re-opens the editor; the second attempt succeeds.
    let counter = e.tmp.path().join("count");
    let out = edit(&format!(
        "if [ ! -f {c} ]; then touch {c}; echo 'broken: [' >> \"$1\"; else printf 'A: alpha\\nC:\\n  nested: yes-1\\n' > \"$1\"; fi",
        c = counter.display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("re-opening the editor"));
    assert_eq!(e.get("C", "development"), "nested: yes-1\n");
    e.fails(&["get", "B"], b"", 2); // deleted in the edit
    assert_eq!(std::fs::read_dir(&runtime).unwrap().count(), 0);
    // An editor that fails changes nothing.
    let before = e.read("secrets/development.yaml");
    let out = edit("echo 'A: zzz' > \"$1\"; exit 3");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(before, e.read("secrets/development.yaml"));
}

#[test]
fn per_environment_access() {
    let e = Env::project();
    // Production is readable by "ops" only.
    let (ops_key, ops) = e.other_key("ops");
    let cfg = e.read(".gsec.yaml");
    let cfg = cfg.replace(
        "  production:\n    recipients:\n    - team\n",
        "  production:\n    recipients:\n    - ops\n",
    );
    let cfg = cfg.replace(
        "environments:\n",
        &format!("  ops:\n  - {ops}\nenvironments:\n"),
    );
    e.write(".gsec.yaml", &cfg);
    let mut c = e.cmd(&["set", "PROD_DB"]);
    c.env("GSEC_AGE_KEY_FILE", &ops_key)
        .args(["--env", "production"]);
    assert!(e.run_cmd(c, b"prod-secret").status.success());
    // The developer works with development...
    e.set("DEV_DB", "development", "dev-secret");
    assert_eq!(e.get("DEV_DB", "development"), "dev-secret");
    // ...and gets a clear error for production, never a crash.
    let err = e.fails(&["get", "PROD_DB", "--env", "production"], b"", 2);
    assert!(err.contains("not a recipient of production"), "{err}");
    // Setting there is encrypt-only: sealed for production's recipients
    // (tests/cli/access.rs), never written into a file they cannot read.
    let out = e.run_in(&["set", "X", "--env", "production"], b"v");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sealed X for production"));
    assert_no_secret(&err, "prod-secret");
    // check flags it only for production.
    e.ok(&["check", "--env", "development"]);
    assert_eq!(
        e.run_in(&["check", "--env", "production"], b"")
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn rm_refuses_required_or_templated_secrets_unless_forced() {
    let e = Env::project();
    e.set("REQ", "production", "r");
    e.set("TPL", "production", "t");
    e.set("FREE", "production", "f");
    e.write("t.tmpl", "x={{ secrets.TPL }}\n");
    configure(
        &e,
        "",
        "secrets:\n  REQ:\n    required: [production]\ntemplates: [t.tmpl]\n",
    );
    assert!(
        e.fails(&["rm", "REQ", "--env", "production"], b"", 2)
            .contains("required in production")
    );
    assert!(
        e.fails(&["rm", "tpl", "--env", "production"], b"", 2)
            .contains("used by template t.tmpl")
    );
    e.ok(&["rm", "FREE", "--env", "production"]);
    e.ok(&["rm", "REQ", "--env", "production", "--force"]);
    e.ok(&["rm", "TPL", "--env", "production", "--force"]);
    assert!(!e.read("secrets/production.yaml").contains("REQ:"));
}

#[test]
fn doctor_reports_each_part() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let out = e.run_in(&["doctor", "--format", "json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let get = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(get("identity")["ok"], true);
    assert_eq!(get("config")["ok"], true);
    assert_eq!(get("env development")["ok"], true);
    assert_eq!(get("hook")["ok"], false, "no hook installed yet");
    assert_eq!(out.status.code(), Some(1));
    let text = e.run_in(&["doctor"], b"");
    assert!(String::from_utf8_lossy(&text.stdout).contains("gsec hook install"));
}

#[test]
fn completions_and_man_page_cover_every_subcommand() {
    let e = Env::new();
    let help = e.ok(&["--help"]);
    let subs: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|s| s != "help")
        .collect();
    assert!(subs.len() >= 20, "{subs:?}");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = e.ok(&["completions", shell, "--static"]);
        for s in &subs {
            assert!(out.contains(s.as_str()), "{shell} completion lacks {s}");
        }
    }
    let man = e.ok(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH gsec"),
        "{}",
        &man[..200.min(man.len())]
    );
    for s in &subs {
        assert!(
            man.contains(&format!("gsec\\-{s}"))
                || man.contains(&format!("\\fB{s}\\fR"))
                || man.contains(s.as_str())
                // roff escapes a hyphen in a name (`merge\-driver`).
                || man.contains(&s.replace('-', "\\-")),
            "man page lacks {s}"
        );
    }
}
