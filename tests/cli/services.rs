//! Per-service grants enforced by encryption (issue 16, item 3): a
//! service with its own key gets a derived file per environment holding
//! only its granted secrets, kept in sync by every write, atomically with
//! the environment file (SIGKILL between the renames rolls forward).

use std::path::Path;
use std::process::Output;

use crate::common::{Env, assert_no_secret, expect_code, sops_decrypt};

const ENV: &str = "production";
const PROD: &str = "secrets/production.yaml";
const API: &str = "secrets/production.api.yaml";
const BILLING: &str = "secrets/production.billing.yaml";
const COMMIT: &str = "secrets/.production.yaml.gsec-commit";

/// A project whose `api` and `billing` services have their own keys and
/// `worker` none, with three production secrets.
struct Fixture {
    e: Env,
    api: std::path::PathBuf,
    api_r: String,
    billing: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let e = Env::project();
    let (api, api_r) = e.other_key("api");
    let (billing, billing_r) = e.other_key("billing");
    append_config(
        &e,
        &format!(
            "services:\n  api: {{secrets: [DB_PASSWORD, STRIPE_KEY], recipients: [{api_r}], environments: [production]}}\n  billing: {{secrets: [STRIPE_KEY], recipients: [{billing_r}], environments: [production]}}\n  worker: {{secrets: [DB_PASSWORD]}}\n"
        ),
    );
    e.set("DB_PASSWORD", ENV, "db-pass-1");
    e.set("STRIPE_KEY", ENV, "sk-live-1");
    e.set("OTHER", ENV, "other-secret-1");
    Fixture {
        e,
        api,
        api_r,
        billing,
    }
}

fn append_config(e: &Env, text: &str) {
    let mut cfg = e.read(".gsec.yaml");
    cfg.push_str(text);
    e.write(".gsec.yaml", &cfg);
}

/// `gsec check --env production`, expected to find something (exit 1):
/// what it printed, stdout and stderr.
fn check_finds(e: &Env) -> String {
    let out = e.run_in(&["check", "--env", ENV], b"");
    let err = expect_code(&out, &["check"], 1);
    format!("{}{err}", String::from_utf8_lossy(&out.stdout))
}

fn as_key(e: &Env, key: &Path, args: &[&str]) -> Output {
    let mut c = e.cmd(args);
    c.env("GSEC_AGE_KEY_FILE", key);
    e.run_cmd(c, b"")
}

/// What `sops decrypt FILE` shows with `key`, asserting it succeeds.
fn sops_reads(e: &Env, key: &Path, file: &str) -> String {
    let out = sops_decrypt(e, key, file);
    assert!(out.status.success(), "sops decrypt {file}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The derived file of api, as the real sops decrypts it with api's key,
/// and `gsec check` agreeing that everything is in sync.
fn assert_api_has(f: &Fixture, want: &[(&str, &str)], not: &[&str]) {
    let plain = sops_reads(&f.e, &f.api, API);
    for (k, v) in want {
        assert!(plain.contains(&format!("{k}: {v}")), "{k} in {plain}");
    }
    for k in not {
        assert!(!plain.contains(k), "{k} must not be in {plain}");
    }
    f.e.ok(&["check", "--env", ENV]);
}

#[test]
fn a_service_key_decrypts_its_derived_file_and_nothing_else() {
    let f = fixture();
    let e = &f.e;
    // The derived files are real sops files, each readable by its service.
    let api = sops_reads(e, &f.api, API);
    assert!(
        api.contains("DB_PASSWORD: db-pass-1") && api.contains("STRIPE_KEY: sk-live-1"),
        "{api}"
    );
    assert!(!api.contains("OTHER"), "{api}");
    let billing = sops_reads(e, &f.billing, BILLING);
    assert!(billing.contains("STRIPE_KEY: sk-live-1"), "{billing}");
    assert!(!billing.contains("DB_PASSWORD"), "{billing}");
    // ... and by nobody else's service key.
    assert!(!sops_decrypt(e, &f.api, PROD).status.success());
    assert!(!sops_decrypt(e, &f.api, BILLING).status.success());
    assert!(!sops_decrypt(e, &f.billing, API).status.success());
    // No derived file for a service without its own key, nor for an
    // environment the service does not run in.
    assert!(!e.path("secrets/production.worker.yaml").exists());
    assert!(!e.path("secrets/development.api.yaml").exists());
    // gsec with the service key: exactly the granted secrets.
    let out = as_key(
        e,
        &f.api,
        &[
            "export",
            "--service",
            "api",
            "--env",
            ENV,
            "--format",
            "json",
        ],
    );
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        json.contains("\"DB_PASSWORD\": \"db-pass-1\"")
            && json.contains("\"STRIPE_KEY\": \"sk-live-1\""),
        "{json}"
    );
    assert_no_secret(&json, "other-secret-1");
    let out = as_key(
        e,
        &f.api,
        &[
            "run",
            "--service",
            "api",
            "--env",
            ENV,
            "--",
            "sh",
            "-c",
            "echo \"[$DB_PASSWORD][$OTHER]\"",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[db-pass-1][]");
    // The api key cannot read the environment, nor billing's secrets.
    expect_code(
        &as_key(e, &f.api, &["get", "OTHER", "--env", ENV]),
        &["get"],
        2,
    );
    expect_code(
        &as_key(e, &f.api, &["export", "--service", "billing", "--env", ENV]),
        &["export"],
        2,
    );
    // With the environment's key, --service filters (worker: no key).
    let out = e.ok(&["export", "--service", "worker", "--env", ENV]);
    assert!(
        out.contains("DB_PASSWORD=") && !out.contains("STRIPE"),
        "{out}"
    );
    let err = e.fails(&["export", "--service", "nope", "--env", ENV], b"", 2);
    assert!(err.contains("unknown service 'nope'"), "{err}");
    e.ok(&["check"]);
}

#[test]
fn set_keeps_derived_files_in_sync_and_minimal() {
    let f = fixture();
    let before = f.e.read(API);
    f.e.set("STRIPE_KEY", ENV, "sk-live-2");
    assert_api_has(
        &f,
        &[("STRIPE_KEY", "sk-live-2"), ("DB_PASSWORD", "db-pass-1")],
        &[],
    );
    assert!(sops_reads(&f.e, &f.billing, BILLING).contains("STRIPE_KEY: sk-live-2"));
    // The unchanged value kept its ciphertext.
    let line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("DB_PASSWORD:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&before), line(&f.e.read(API)));
    // A change to a secret no service is granted leaves derived files alone.
    let api = f.e.read(API);
    f.e.set("OTHER", ENV, "other-secret-2");
    assert_eq!(f.e.read(API), api);
}

#[test]
fn rm_keeps_derived_files_in_sync() {
    let f = fixture();
    // Still a secret (of development), so still a valid grant.
    f.e.set("STRIPE_KEY", "development", "sk-test-1");
    f.e.ok(&["rm", "STRIPE_KEY", "--env", ENV]);
    assert_api_has(&f, &[("DB_PASSWORD", "db-pass-1")], &["STRIPE_KEY"]);
    assert!(!sops_reads(&f.e, &f.billing, BILLING).contains("STRIPE_KEY"));
}

#[test]
fn edit_keeps_derived_files_in_sync() {
    let f = fixture();
    let ed = crate::envs::editor(
        &f.e,
        "ed.sh",
        "sed -i 's/^DB_PASSWORD: .*/DB_PASSWORD: db-pass-edited/' \"$1\"",
    );
    let runtime = f.e.tmp.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let mut c = f.e.cmd(&["edit", "--env", ENV]);
    c.env("EDITOR", &ed).env("XDG_RUNTIME_DIR", &runtime);
    let out = f.e.run_cmd(c, b"");
    assert!(out.status.success(), "{out:?}");
    assert_api_has(&f, &[("DB_PASSWORD", "db-pass-edited")], &["OTHER"]);
}

#[test]
fn import_keeps_derived_files_in_sync() {
    let f = fixture();
    f.e.write("in.env", "DB_PASSWORD=db-pass-imported\n");
    f.e.ok(&["import", "in.env", "--env", ENV]);
    assert_api_has(&f, &[("DB_PASSWORD", "db-pass-imported")], &[]);
}

#[test]
fn rotate_keeps_derived_files_in_sync() {
    let f = fixture();
    let bytes = std::fs::read(crate::plugin::built_plugin("random")).unwrap();
    std::fs::create_dir_all(f.e.path("plugins")).unwrap();
    std::fs::write(f.e.path("plugins/random.wasm"), &bytes).unwrap();
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    append_config(
        &f.e,
        &format!(
            "plugins:\n  random:\n    path: plugins/random.wasm\n    sha256: {sha}\nsecrets:\n  DB_PASSWORD:\n    rotation:\n      plugin: random\n"
        ),
    );
    f.e.ok(&["rotate", "DB_PASSWORD", "--env", ENV]);
    let new = f.e.get("DB_PASSWORD", ENV);
    assert_ne!(new, "db-pass-1");
    assert_api_has(&f, &[("DB_PASSWORD", &new)], &[]);
}

#[test]
fn updatekeys_rewraps_derived_files_for_a_new_service_key() {
    let f = fixture();
    let (api2, api2_r) = f.e.other_key("api2");
    let cfg = f.e.read(".gsec.yaml");
    f.e.write(".gsec.yaml", &cfg.replace(&f.api_r, &api2_r));
    // Stale until rewritten.
    let err = check_finds(&f.e);
    assert!(
        err.contains(API) && err.contains("other recipients"),
        "{err}"
    );
    f.e.ok(&["updatekeys", "--env", ENV]);
    assert!(sops_reads(&f.e, &api2, API).contains("DB_PASSWORD: db-pass-1"));
    // The old key was removed: a new data key, so it reads nothing.
    assert!(!sops_decrypt(&f.e, &f.api, API).status.success());
    f.e.ok(&["check", "--env", ENV]);
}

#[test]
fn inbox_merge_keeps_derived_files_in_sync() {
    let f = fixture();
    let (bob, _) = f.e.other_key("bob");
    let mut c = f.e.cmd(&["set", "STRIPE_KEY", "--env", ENV]);
    c.env("GSEC_AGE_KEY_FILE", &bob);
    let out = f.e.run_cmd(c, b"sk-sealed-3");
    assert!(out.status.success(), "{out:?}");
    // Sealed, not yet in any file: the derived file still has the old one.
    assert!(sops_reads(&f.e, &f.api, API).contains("STRIPE_KEY: sk-live-1"));
    f.e.ok(&["inbox", "merge", "--env", ENV]);
    assert_api_has(&f, &[("STRIPE_KEY", "sk-sealed-3")], &[]);
    assert!(sops_reads(&f.e, &f.billing, BILLING).contains("STRIPE_KEY: sk-sealed-3"));
}

#[test]
fn check_reports_stale_and_revoked_derived_files_and_the_next_write_repairs_them() {
    let f = fixture();
    let e = &f.e;
    // A derived file left behind by a change gsec did not make.
    let old = e.read(API);
    e.set("STRIPE_KEY", ENV, "sk-live-2");
    e.write(API, &old);
    let err = check_finds(e);
    assert!(
        err.contains(API) && err.contains("another value of STRIPE_KEY"),
        "{err}"
    );
    assert_no_secret(&err, "sk-live");
    // A grant withdrawn: the derived file holds a secret no longer granted.
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &cfg.replace("[DB_PASSWORD, STRIPE_KEY]", "[DB_PASSWORD]"),
    );
    let err = check_finds(e);
    assert!(
        err.contains("holds STRIPE_KEY, which is no longer granted"),
        "{err}"
    );
    // A missing derived file.
    std::fs::remove_file(e.path(BILLING)).unwrap();
    let err = check_finds(e);
    assert!(err.contains(BILLING) && err.contains("is missing"), "{err}");
    // Any write repairs them all.
    e.ok(&["updatekeys", "--env", ENV]);
    e.ok(&["check", "--env", ENV]);
    assert!(!sops_reads(e, &f.api, API).contains("STRIPE_KEY"));
    assert!(sops_reads(e, &f.billing, BILLING).contains("STRIPE_KEY: sk-live-2"));
}

#[test]
fn check_reports_the_derived_file_of_a_removed_service() {
    let f = fixture();
    let e = &f.e;
    assert!(e.path(BILLING).exists());
    // billing taken out of .gsec.yaml: its derived file still holds
    // STRIPE_KEY for billing's key.
    let cfg = e.read(".gsec.yaml");
    let without: String = cfg
        .lines()
        .filter(|l| !l.trim_start().starts_with("billing:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(cfg, without);
    e.write(".gsec.yaml", &without);
    let err = check_finds(e);
    assert!(
        err.contains(BILLING)
            && err.contains("derived file of service billing, which no longer has one"),
        "{err}"
    );
    assert_no_secret(&err, "sk-live");
    // Removing the file (as the message says) settles it.
    std::fs::remove_file(e.path(BILLING)).unwrap();
    e.ok(&["check", "--env", ENV]);
}

#[test]
fn a_service_granted_an_unknown_secret_is_a_one_line_error_naming_file_and_key() {
    let f = fixture();
    let e = &f.e;
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &cfg.replace("[DB_PASSWORD, STRIPE_KEY]", "[DB_PASSWORD, STRIPE_KY]"),
    );
    let before = (e.read(PROD), e.read(API));
    let err = check_finds(e);
    assert!(
        err.contains(".gsec.yaml") && err.contains("services.api.secrets: 'STRIPE_KY'"),
        "{err}"
    );
    assert!(err.contains("STRIPE_KEY"), "a did-you-mean: {err}");
    let err = expect_code(
        &as_key(
            e,
            &f.api,
            &["run", "--service", "api", "--env", ENV, "--", "true"],
        ),
        &["run"],
        2,
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(".gsec.yaml: services.api.secrets: 'STRIPE_KY' is not a secret"),
        "{err}"
    );
    assert_eq!((e.read(PROD), e.read(API)), before, "nothing lost");
    // Malformed grants are refused when the config is read.
    e.write(
        ".gsec.yaml",
        &cfg.replace("[DB_PASSWORD, STRIPE_KEY]", "[DB_PASSWORD, db_password]"),
    );
    let err = e.fails(&["list"], b"", 2);
    assert!(
        err.contains(".gsec.yaml")
            && err.contains("services.api.secrets: 'db_password' is granted twice"),
        "{err}"
    );
}

/// The value `gsec get` and the real sops see, in the environment and in
/// api's derived file.
fn stripe_everywhere(f: &Fixture) -> (String, String) {
    let prod = f.e.get("STRIPE_KEY", ENV);
    let api = sops_reads(&f.e, &f.api, API);
    let api = api
        .lines()
        .find_map(|l| l.strip_prefix("STRIPE_KEY: "))
        .unwrap()
        .to_string();
    (prod, api)
}

/// SIGKILL a `gsec set STRIPE_KEY` (which writes the environment file and
/// both derived files) at `point`.
fn crash_set(f: &Fixture, point: &str) {
    f.e.write("value.txt", "sk-live-new");
    crate::rotate::kill_at(
        &f.e,
        &[
            "set",
            "STRIPE_KEY",
            "--env",
            ENV,
            "--from-file",
            "value.txt",
        ],
        point,
    );
}

#[test]
fn crash_before_the_journal_leaves_everything_old() {
    let f = fixture();
    let before = (f.e.read(PROD), f.e.read(API), f.e.read(BILLING));
    crash_set(&f, "commit-prepared");
    assert!(!f.e.path(COMMIT).exists());
    assert_eq!((f.e.read(PROD), f.e.read(API), f.e.read(BILLING)), before);
    assert_eq!(
        stripe_everywhere(&f),
        ("sk-live-1".into(), "sk-live-1".into())
    );
    f.e.ok(&["check", "--env", ENV]);
}

#[test]
fn crash_after_the_journal_rolls_forward_on_the_next_command() {
    let f = fixture();
    let before = f.e.read(PROD);
    crash_set(&f, "commit-journaled");
    assert!(f.e.path(COMMIT).exists());
    assert_eq!(f.e.read(PROD), before, "no rename yet");
    let out = f.e.run_in(&["check", "--env", ENV], b"");
    expect_code(&out, &["check"], 0);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("finished an interrupted write"),
        "{out:?}"
    );
    assert!(!f.e.path(COMMIT).exists());
    assert_eq!(
        stripe_everywhere(&f),
        ("sk-live-new".into(), "sk-live-new".into())
    );
    assert!(sops_reads(&f.e, &f.billing, BILLING).contains("STRIPE_KEY: sk-live-new"));
}

#[test]
fn crash_between_renames_rolls_forward_on_the_next_command() {
    let f = fixture();
    let (prod, billing) = (f.e.read(PROD), f.e.read(BILLING));
    crash_set(&f, "commit-renamed-first");
    // Killed between renames: api's derived file is new, the rest old.
    assert!(f.e.path(COMMIT).exists());
    assert!(sops_reads(&f.e, &f.api, API).contains("STRIPE_KEY: sk-live-new"));
    assert_eq!((f.e.read(PROD), f.e.read(BILLING)), (prod, billing));
    // Any gsec command finishes it: all new.
    assert_eq!(
        stripe_everywhere(&f),
        ("sk-live-new".into(), "sk-live-new".into())
    );
    assert!(!f.e.path(COMMIT).exists());
    assert!(sops_reads(&f.e, &f.billing, BILLING).contains("STRIPE_KEY: sk-live-new"));
    f.e.ok(&["check", "--env", ENV]);
    // And the next write works normally.
    f.e.set("STRIPE_KEY", ENV, "sk-live-3");
    assert_eq!(
        stripe_everywhere(&f),
        ("sk-live-3".into(), "sk-live-3".into())
    );
}

#[test]
fn with_only_the_service_key_inheritance_reads_the_derived_files_along_the_chain() {
    let e = Env::project();
    let (api, api_r) = e.other_key("api");
    let cfg = e
        .read(".gsec.yaml")
        .replace("\nscan:\n", "\n  staging: {inherit: production}\nscan:\n");
    e.write(".gsec.yaml", &cfg);
    append_config(
        &e,
        &format!(
            "services:\n  api: {{secrets: [DB_PASSWORD, STRIPE_KEY], recipients: [{api_r}]}}\n"
        ),
    );
    e.set("DB_PASSWORD", ENV, "db-prod");
    e.set("STRIPE_KEY", ENV, "sk-prod");
    e.set("STRIPE_KEY", "staging", "sk-staging");
    e.set("OTHER", "staging", "other-staging");
    assert!(e.path("secrets/staging.api.yaml").exists());
    let out = as_key(
        &e,
        &api,
        &[
            "export",
            "--service",
            "api",
            "--env",
            "staging",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        json.contains("\"DB_PASSWORD\": \"db-prod\"")
            && json.contains("\"STRIPE_KEY\": \"sk-staging\""),
        "{json}"
    );
    assert_no_secret(&json, "other-staging");
}
