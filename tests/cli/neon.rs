//! The `neon` rotation plugin end to end: the real binary, the real wasm
//! plugin (pinned by its sha256), and a fake Neon on 127.0.0.1
//! (`fake_neon.rs`) that checks the API key, the paths and the bodies,
//! keeps each role's password and answers the SQL-over-HTTP login check.
//! Alternating roles across rotations, the single strategy, the error
//! paths, the host grants, and SIGKILL after every protocol step followed
//! by `--resume`: the vault always ends with a working connection string
//! for the promoted role, and the role it left no longer takes the old
//! password.

use std::time::Duration;

use crate::common::{Env, assert_no_secret};
use crate::fake_neon::{self, DATABASE, FakeNeon, HOST};
use crate::rotate::{append_config, install, kill_at, ok_later};

const ENV: &str = "production";
const ENV_FILE: &str = "secrets/production.yaml";
const NAME: &str = "DATABASE_URL";

/// A project with the neon plugin granted the fake, the API key stored as
/// `NEON_API_KEY`, `app_a`'s connection string as `DATABASE_URL`, `extra`
/// YAML lines under `rotation:` and `cfg` appended to its config map.
fn neon_project(extra: &str, cfg: &str) -> (Env, FakeNeon) {
    let env = Env::project();
    let neon = FakeNeon::start(&["app_a", "app_b", "app"]);
    let sha = install(&env, "neon");
    append_config(
        &env,
        &format!(
            "plugins:\n  neon:\n    path: plugins/neon.wasm\n    sha256: {sha}\n    hosts: ['{url}']\n    timeout_secs: 30\nsecrets:\n  {NAME}:\n    rotation:\n      plugin: neon\n      inputs: [NEON_API_KEY]\n{extra}      config: {{project_id: {p}, branch_id: {b}, roles: [app_a, app_b], host: {HOST}, database: {DATABASE}, api_url: '{url}/api/v2', sql_url: '{url}/sql'{cfg}}}\n",
            url = neon.url,
            p = fake_neon::PROJECT,
            b = fake_neon::BRANCH,
        ),
    );
    env.set("NEON_API_KEY", ENV, &neon.api_key);
    env.set(NAME, ENV, &neon.url_for("app_a"));
    (env, neon)
}

fn rotate(env: &Env) -> String {
    let out = env.run_in(&["rotate", NAME, "--env", ENV], b"");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gsec rotate: {err}");
    err
}

/// The vault's value works and is `role`'s; the fake saw nothing malformed.
fn assert_vault_logs_in_as(env: &Env, neon: &FakeNeon, role: &str) -> String {
    let v = env.get(NAME, ENV);
    let (r, ..) = fake_neon::parse_url(&v).expect("a postgres:// URL in the vault");
    assert_eq!(r, role, "the vault's role");
    assert!(neon.logs_in(&v), "the vault's connection string works");
    assert!(
        neon.problems().is_empty(),
        "fake Neon: {:?}",
        neon.problems()
    );
    v
}

#[test]
fn neon_alternates_roles_and_retires_the_old_password() {
    let (env, neon) = neon_project("", "");
    let first = env.get(NAME, ENV);
    let err = rotate(&env);
    let second = assert_vault_logs_in_as(&env, &neon, "app_b");
    assert!(!neon.logs_in(&first), "app_a's old password was reset");
    assert_eq!(
        neon.calls(),
        [
            "reset app_b",
            "operation",
            "get app_b",
            "sql app_b ok",
            "reset app_a",
            "operation"
        ],
        "the exact requests of one rotation"
    );
    for s in [&first, &second, &neon.password("app_b"), &neon.api_key] {
        assert_no_secret(&err, s);
    }
    assert_no_secret(&env.read(ENV_FILE), &neon.password("app_b"));
    assert!(err.contains("reset the password of role app_b"), "{err}");
    // The next rotation goes back to app_a, and retires app_b.
    rotate(&env);
    assert_vault_logs_in_as(&env, &neon, "app_a");
    assert!(!neon.logs_in(&second));
    assert_eq!(neon.count("reset app_a"), 2);
}

#[test]
fn neon_grace_keeps_the_old_role_working_until_it_ends() {
    let (env, neon) = neon_project("      grace: 1h\n", "");
    let first = env.get(NAME, ENV);
    let err = rotate(&env);
    assert!(err.contains("stays valid until"), "{err}");
    assert_vault_logs_in_as(&env, &neon, "app_b");
    assert!(
        neon.logs_in(&first),
        "the running app keeps app_a meanwhile"
    );
    ok_later(&env, Duration::from_secs(3600 - 60), &["rotate", "--due"]);
    assert!(neon.logs_in(&first), "a minute early still waits");
    ok_later(&env, Duration::from_secs(3600 + 60), &["rotate", "--due"]);
    assert!(!neon.logs_in(&first));
    assert_vault_logs_in_as(&env, &neon, "app_b");
}

#[test]
fn neon_keep_mode_leaves_the_old_role_alone() {
    let (env, neon) = neon_project("", ", on_revoke: keep");
    let first = env.get(NAME, ENV);
    rotate(&env);
    assert_vault_logs_in_as(&env, &neon, "app_b");
    assert!(neon.logs_in(&first));
    assert_eq!(neon.count("reset app_a"), 0);
}

#[test]
fn neon_single_strategy_stores_a_bare_password() {
    let (env, neon) = neon_project("", "");
    let cfg = env.read(".gsec.yaml").replace(
        "roles: [app_a, app_b]",
        "strategy: single, role: app, format: password",
    );
    env.write(".gsec.yaml", &cfg);
    env.set(NAME, ENV, &neon.password("app"));
    let old = neon.password("app");
    let err = rotate(&env);
    let new = env.get(NAME, ENV);
    assert_eq!(
        new,
        neon.password("app"),
        "the vault holds the bare password"
    );
    assert_ne!(new, old);
    assert_eq!(
        neon.calls(),
        ["reset app", "operation", "get app", "sql app ok"],
        "no second reset: that would end the new password"
    );
    assert!(err.contains("nothing to revoke"), "{err}");
    assert_no_secret(&err, &new);
    assert!(neon.problems().is_empty(), "{:?}", neon.problems());
}

#[test]
fn neon_verify_role_only_says_the_password_was_not_tried() {
    let (env, neon) = neon_project("", ", verify: role");
    let err = rotate(&env);
    assert!(err.contains("was not tried"), "{err}");
    assert_eq!(neon.count("sql"), 0);
    assert_vault_logs_in_as(&env, &neon, "app_b");
}

#[test]
fn neon_waits_for_running_operations() {
    let (env, neon) = neon_project("", "");
    neon.running_polls(1);
    rotate(&env);
    assert_vault_logs_in_as(&env, &neon, "app_b");
    assert_eq!(neon.count("operation"), 4, "{:?}", neon.calls());
}

#[test]
fn neon_wrong_api_key_is_a_clear_error_and_changes_nothing() {
    let (env, neon) = neon_project("", "");
    let wrong = "napi_wrongwrongwrongwrongwrong";
    env.set("NEON_API_KEY", ENV, wrong);
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let first = env.get(NAME, ENV);
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(
        err.contains("HTTP 401") && err.contains("input secret 'NEON_API_KEY' was refused"),
        "{err}"
    );
    assert_no_secret(&err, wrong);
    assert_no_secret(&err, &first);
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    assert!(neon.logs_in(&first));
}

#[test]
fn neon_rate_limit_with_a_long_retry_after_leaves_it_to_resume() {
    let (env, neon) = neon_project("", "");
    neon.fail("reset", 429, Some(120), 1);
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(
        err.contains("HTTP 429 (the provider asks to wait 120 s)"),
        "{err}"
    );
    assert_eq!(
        neon.calls(),
        ["reset app_b -> 429"],
        "no retry before the wait"
    );
    let pending = env.ok(&["rotate", "--resume", "--dry-run"]);
    assert!(
        pending.contains(&format!("would resume {NAME}")),
        "{pending}"
    );
    env.ok(&["rotate", "--resume"]);
    assert_vault_logs_in_as(&env, &neon, "app_b");
}

#[test]
fn neon_server_errors_are_retried() {
    let (env, neon) = neon_project("", "");
    neon.fail("reset", 503, None, 2);
    rotate(&env);
    assert_vault_logs_in_as(&env, &neon, "app_b");
    assert_eq!(neon.count("reset app_b"), 3, "{:?}", neon.calls());
}

#[test]
fn neon_failed_operation_rolls_back_to_the_old_role() {
    let (env, neon) = neon_project("", "");
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    neon.fail_next_operation();
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(
        err.contains("failed verification") && err.contains("(apply_config) failed"),
        "{err}"
    );
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    assert_vault_logs_in_as(&env, &neon, "app_a");
    assert_eq!(
        neon.count("reset app_b"),
        2,
        "the rejected password is reset again"
    );
    rotate(&env);
    assert_vault_logs_in_as(&env, &neon, "app_b");
}

#[test]
fn neon_refused_password_rolls_back_to_the_old_role() {
    let (env, neon) = neon_project("", "");
    let first = env.get(NAME, ENV);
    neon.wrong_next_password();
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(
        err.contains("failed verification")
            && err.contains("Postgres refused the new password (SQLSTATE 28P01"),
        "{err}"
    );
    assert_no_secret(&err, &first);
    assert_no_secret(&err, &neon.password("app_b"));
    assert_eq!(env.get(NAME, ENV), first);
    assert_vault_logs_in_as(&env, &neon, "app_a");
    assert_eq!(
        neon.calls(),
        [
            "reset app_b",
            "operation",
            "get app_b",
            "sql app_b refused",
            "reset app_b",
            "operation"
        ],
        "rolled back: the refused role is reset again, app_a untouched"
    );
}

#[test]
fn neon_plugin_reaches_only_granted_hosts() {
    let (env, neon) = neon_project("", "");
    let cfg = env.read(".gsec.yaml").replace(
        &format!("hosts: ['{}']", neon.url),
        "hosts: ['http://127.0.0.1:9']",
    );
    env.write(".gsec.yaml", &cfg);
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(err.contains("denied"), "{err}");
    assert!(neon.calls().is_empty(), "no request reached the fake");
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    env.ok(&["rotate", NAME, "--env", ENV, "--abort"]);
    let out = env.ok(&["plugin", "inspect", "plugins/neon.wasm"]);
    assert!(out.contains("console.neon.tech"), "{out}");
}

/// The API is granted but the SQL endpoint's origin is not: the password
/// check cannot run, so the new credential stays pending (not promoted,
/// not rolled back) and `--abort` resets it again.
#[test]
fn neon_ungranted_sql_host_keeps_the_rotation_pending() {
    let (env, neon) = neon_project("", "");
    let port = neon.url.rsplit(':').next().unwrap().to_string();
    let cfg = env.read(".gsec.yaml").replace(
        &format!("sql_url: '{}/sql'", neon.url),
        &format!("sql_url: 'http://localhost:{port}/sql'"),
    );
    env.write(".gsec.yaml", &cfg);
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(err.contains("denied") && err.contains("--resume"), "{err}");
    assert_eq!(neon.count("sql"), 0);
    assert_vault_logs_in_as(&env, &neon, "app_a");
    env.ok(&["rotate", NAME, "--env", ENV, "--abort"]);
    assert_eq!(neon.count("reset app_b"), 2, "{:?}", neon.calls());
    assert_vault_logs_in_as(&env, &neon, "app_a");
}

/// Kill a rotation after `point`, resume, and check: the vault logs in as
/// app_b, app_a's old password is dead, resuming again calls nothing, and
/// the next rotation goes back to app_a. `calls_at_kill`: requests the fake
/// had seen when the process died.
fn crash_and_resume(point: &str, calls_at_kill: usize) {
    let (env, neon) = neon_project("", "");
    let first = env.get(NAME, ENV);
    kill_at(&env, &["rotate", NAME, "--env", ENV], point);
    assert_eq!(
        neon.calls().len(),
        calls_at_kill,
        "calls when killed after '{point}': {:?}",
        neon.calls()
    );
    let pending = env.ok(&["rotate", "--resume", "--dry-run"]);
    assert!(
        pending.contains(&format!("would resume {NAME} in production")),
        "{pending}"
    );
    let err = env.ok(&["rotate", "--resume"]);
    assert!(err.is_empty(), "{err}");
    assert_vault_logs_in_as(&env, &neon, "app_b");
    assert!(
        !neon.logs_in(&first),
        "app_a's old password is dead after '{point}'"
    );
    let n = neon.calls().len();
    let out = env.run_in(&["rotate", "--resume"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rotation to resume"));
    assert_eq!(neon.calls().len(), n, "nothing called");
    rotate(&env);
    assert_vault_logs_in_as(&env, &neon, "app_a");
}

#[test]
fn neon_crash_after_started() {
    crash_and_resume("started", 0);
}

#[test]
fn neon_crash_after_created_before_journaled_resets_the_same_role_again() {
    crash_and_resume("created", 1);
}

#[test]
fn neon_crash_after_journaled() {
    crash_and_resume("journaled", 1);
}

#[test]
fn neon_crash_after_verified() {
    crash_and_resume("verified", 4);
}

#[test]
fn neon_crash_after_promoted() {
    crash_and_resume("promoted", 4);
}

#[test]
fn neon_crash_after_revoked() {
    crash_and_resume("revoked", 6);
}
