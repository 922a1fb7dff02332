//! `gsec rotate` end to end: the real binary, the real wasm plugins (built
//! by scripts/build-plugins.sh), and a fake GitHub API on 127.0.0.1 that
//! verifies what real GitHub verifies. Crash tests SIGKILL the process at
//! every step and check that `--resume` ends with exactly one live
//! credential and the right value in the vault.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::common::{Env, UNTIL_CLEARED, assert_no_secret};
use crate::fake_github::{self, FakeGithub};

const ENV: &str = "production";
const ENV_FILE: &str = "secrets/production.yaml";
const JOURNAL: &str = "secrets/.gsec-rotation-production.yaml";

/// Copy a built plugin into the project and return its pin line.
pub(crate) fn install(env: &Env, plugin: &str) -> String {
    let bytes = std::fs::read(crate::plugin::built_plugin(plugin)).unwrap();
    let rel = format!("plugins/{plugin}.wasm");
    std::fs::create_dir_all(env.path("plugins")).unwrap();
    std::fs::write(env.path(&rel), &bytes).unwrap();
    hex::encode(Sha256::digest(&bytes))
}

pub(crate) fn append_config(env: &Env, text: &str) {
    let mut cfg = env.read(".gsec.yaml");
    cfg.push_str(text);
    env.write(".gsec.yaml", &cfg);
}

/// A project with the github plugin granted the fake server, the API token
/// stored as `GITHUB_TOKEN`, and `secrets` (YAML under `secrets:`, with
/// `{API}` standing for the fake's URL).
/// A project with the github plugin installed and allowed to reach a fake
/// GitHub, its config block followed by what `rest` writes for that fake
/// (the rotation, lease or sync that uses it).
pub fn github_plugin_project(
    plugin_extra: &str,
    rest: impl FnOnce(&FakeGithub) -> String,
) -> (Env, FakeGithub) {
    let env = Env::project();
    let gh = FakeGithub::start();
    let sha = install(&env, "github");
    let config = format!(
        "plugins:\n  github:\n    path: plugins/github.wasm\n    sha256: {sha}\n    hosts: ['{}']\n{plugin_extra}{}",
        gh.url,
        rest(&gh)
    );
    append_config(&env, &config);
    (env, gh)
}

fn github_project(secrets: &str) -> (Env, FakeGithub) {
    let (env, gh) = github_plugin_project("    timeout_secs: 20\n", |gh| {
        format!("secrets:\n{}", secrets.replace("{API}", &gh.url))
    });
    env.set("GITHUB_TOKEN", ENV, &gh.pat);
    (env, gh)
}

const DEPLOY_KEY: &str = "  DEPLOY_KEY:
    rotation:
      plugin: github
      inputs: [GITHUB_TOKEN]
      config: {kind: deploy-key, api_url: '{API}', repo: acme/app}
";

/// The one live deploy key, checked against the private key in the vault.
fn assert_one_live_key_matching_vault(env: &Env, gh: &FakeGithub) -> String {
    let keys = gh.deploy_keys();
    assert_eq!(keys.len(), 1, "exactly one live deploy key, got {keys:?}");
    let private = env.get("DEPLOY_KEY", ENV);
    assert!(
        private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"),
        "vault holds an OpenSSH key"
    );
    let live = fake_github::check_ssh_ed25519(&keys[0].key).unwrap();
    assert_eq!(
        fake_github::public_of_openssh_private(&private),
        live,
        "vault private key matches the live public key"
    );
    assert!(
        gh.problems().is_empty(),
        "fake GitHub refused something: {:?}",
        gh.problems()
    );
    keys[0].key.clone()
}

fn rotate(env: &Env, name: &str) -> String {
    let out = env.run_in(&["rotate", name, "--env", ENV], b"");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gsec rotate {name}: {err}");
    err
}

#[test]
fn deploy_key_rotation_creates_stores_and_revokes() {
    let (env, gh) = github_project(DEPLOY_KEY);
    // First rotation: no previous key.
    let err = rotate(&env, "DEPLOY_KEY");
    let first = assert_one_live_key_matching_vault(&env, &gh);
    assert!(
        gh.deploy_keys()[0].title.starts_with("gsec-"),
        "titled with the journal token"
    );
    let private = env.get("DEPLOY_KEY", ENV);
    assert_no_secret(&err, &private);
    assert_no_secret(&env.read(ENV_FILE), "OPENSSH PRIVATE KEY");
    // The journal keeps the key's provider id for the next revoke, encrypted.
    let journal = env.read(JOURNAL);
    assert!(
        journal.contains("ENC[AES256_GCM"),
        "journal is a sops file: {journal}"
    );
    assert_no_secret(&journal, &gh.deploy_keys()[0].id.to_string());

    // Second rotation: a new key, the old one deleted, by id.
    let before_state = env.read(".gsec/state.yaml");
    rotate(&env, "DEPLOY_KEY");
    let second = assert_one_live_key_matching_vault(&env, &gh);
    assert_ne!(first, second);
    assert!(
        gh.calls()
            .iter()
            .any(|r| r.starts_with("DELETE /repos/acme/app/keys/"))
    );
    assert!(
        env.read(".gsec/state.yaml").contains("DEPLOY_KEY"),
        "{before_state}"
    );
}

#[test]
fn deploy_key_added_by_hand_is_found_and_revoked_by_its_public_key() {
    let (env, gh) = github_project(DEPLOY_KEY);
    let key = env.tmp.path().join("hand");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "by-hand", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    gh.add_deploy_key("by hand", public.trim());
    env.ok(&[
        "set",
        "DEPLOY_KEY",
        "--env",
        ENV,
        "--from-file",
        key.to_str().unwrap(),
    ]);
    rotate(&env, "DEPLOY_KEY");
    let live = assert_one_live_key_matching_vault(&env, &gh);
    assert_ne!(
        live.split_whitespace().nth(1),
        public.split_whitespace().nth(1),
        "the hand-made key was deleted"
    );
}

#[test]
fn failed_verification_revokes_the_new_key_and_leaves_the_vault_alone() {
    let (env, gh) = github_project(DEPLOY_KEY);
    rotate(&env, "DEPLOY_KEY");
    let live = gh.deploy_keys();
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    gh.fail("GET /repos/acme/app/keys/", 500, None, UNTIL_CLEARED);
    let err = env.fails(&["rotate", "DEPLOY_KEY", "--env", ENV], b"", 2);
    assert!(
        err.contains("failed verification") && err.contains("HTTP 500"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(env.path(ENV_FILE)).unwrap(),
        before,
        "environment file unchanged"
    );
    let now = gh.deploy_keys();
    assert_eq!(
        now.len(),
        1,
        "the unverified key was deleted again: {now:?}"
    );
    assert_eq!(now[0].id, live[0].id);
    gh.clear_fail();
    // Nothing is left pending, and the next rotation revokes the right key.
    let out = env.ok(&["rotate", "--resume", "--dry-run"]);
    assert!(out.is_empty(), "{out}");
    rotate(&env, "DEPLOY_KEY");
    assert_one_live_key_matching_vault(&env, &gh);
}

#[test]
fn webhook_secret_rotation_sets_the_hook_secret() {
    let (env, gh) = github_project(
        "  WEBHOOK_SECRET:
    rotation:
      plugin: github
      inputs: [GITHUB_TOKEN]
      config: {kind: webhook-secret, api_url: '{API}', repo: acme/app, hook_id: 9}
",
    );
    rotate(&env, "WEBHOOK_SECRET");
    let first = env.get("WEBHOOK_SECRET", ENV);
    assert_eq!(gh.hook_secret().as_deref(), Some(first.as_str()));
    assert_eq!(first.len(), 64, "32 random bytes, hex");
    rotate(&env, "WEBHOOK_SECRET");
    let second = env.get("WEBHOOK_SECRET", ENV);
    assert_ne!(first, second);
    assert_eq!(gh.hook_secret().as_deref(), Some(second.as_str()));
    assert!(gh.problems().is_empty(), "{:?}", gh.problems());
}

const APP_TOKEN: &str = "  INSTALLATION_TOKEN:
    rotation:
      plugin: github
      inputs: [GITHUB_APP_PRIVATE_KEY]
      config: {kind: app-installation-token, api_url: '{API}', app_id: 4242, installation_id: 77}
";

#[test]
fn app_installation_token_is_minted_with_a_verified_jwt_and_the_old_one_revoked() {
    let (env, gh) = github_project(APP_TOKEN);
    env.set("GITHUB_APP_PRIVATE_KEY", ENV, &gh.app_private_pem);
    let err = rotate(&env, "INSTALLATION_TOKEN");
    assert_no_secret(&err, "BEGIN RSA PRIVATE KEY");
    let first = env.get("INSTALLATION_TOKEN", ENV);
    assert_eq!(gh.live_installation_tokens(), vec![first.clone()]);
    rotate(&env, "INSTALLATION_TOKEN");
    let second = env.get("INSTALLATION_TOKEN", ENV);
    assert_ne!(first, second);
    assert_eq!(
        gh.live_installation_tokens(),
        vec![second],
        "the old token was revoked"
    );
    assert_eq!(gh.minted_installation_tokens(), 2);
    assert!(gh.problems().is_empty(), "{:?}", gh.problems());
}

#[test]
fn app_jwt_signed_with_the_wrong_key_is_refused_by_the_fake_and_nothing_changes() {
    let (env, gh) = github_project(APP_TOKEN);
    let other = FakeGithub::start(); // another App, another key
    env.set("GITHUB_APP_PRIVATE_KEY", ENV, &other.app_private_pem);
    env.set("INSTALLATION_TOKEN", ENV, "ghs_old");
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", "INSTALLATION_TOKEN", "--env", ENV], b"", 2);
    assert!(err.contains("HTTP 401"), "{err}");
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    assert!(
        gh.problems()
            .iter()
            .any(|p| p.contains("signature does not verify")),
        "{:?}",
        gh.problems()
    );
    assert!(gh.live_installation_tokens().is_empty());
}

#[test]
fn actions_secret_sync_pushes_a_sealed_box_of_the_source_secret() {
    let (env, gh) = github_project(
        "  NPM_TOKEN_ACTIONS:
    rotation:
      plugin: github
      inputs: [GITHUB_TOKEN, NPM_TOKEN]
      config: {kind: actions-secret, api_url: '{API}', repo: acme/app, secret_name: NPM_TOKEN, source: NPM_TOKEN}
",
    );
    let npm = "npm_4f9c2a7e1b3d5f6a8c0e2b4d6f8a0c2e4b6d";
    env.set("NPM_TOKEN", ENV, npm);
    let err = rotate(&env, "NPM_TOKEN_ACTIONS");
    assert_no_secret(&err, npm);
    assert_eq!(
        gh.actions_secret("NPM_TOKEN").as_deref(),
        Some(npm),
        "the fake opened the sealed box"
    );
    assert_eq!(env.get("NPM_TOKEN_ACTIONS", ENV), npm);
    assert!(gh.problems().is_empty(), "{:?}", gh.problems());
}

/// Run `gsec rotate` until it pauses at `point`, then SIGKILL it.
pub(crate) fn kill_at(env: &Env, args: &[&str], point: &str) {
    if !cfg!(debug_assertions) {
        panic!(
            "crash tests need a debug build: GSEC_TEST_CRASH_AFTER is compiled out of release builds"
        );
    }
    let mut c = env.cmd(args);
    c.env("GSEC_TEST_CRASH_AFTER", point)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let marker = format!("gsec-test: paused after {point}");
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l == marker => break,
            Ok(l) => seen.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!("gsec never paused after {point}: {seen:?}");
            }
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
}

/// Kill a deploy-key rotation after `point`, resume, and check the result:
/// exactly one live key, a new one, matching the vault; resuming again is
/// a no-op.
/// `live_at_kill`: deploy keys live at the provider when the process dies
/// (2 = the new key exists, so the kill really fell in that window).
fn crash_and_resume(point: &str, live_at_kill: usize) {
    let (env, gh) = github_project(DEPLOY_KEY);
    rotate(&env, "DEPLOY_KEY");
    let old = assert_one_live_key_matching_vault(&env, &gh);
    kill_at(&env, &["rotate", "DEPLOY_KEY", "--env", ENV], point);
    assert_eq!(
        gh.deploy_keys().len(),
        live_at_kill,
        "live keys when killed after '{point}'"
    );
    let pending = env.ok(&["rotate", "--resume", "--dry-run"]);
    assert!(
        pending.contains("would resume DEPLOY_KEY in production"),
        "{pending}"
    );

    let err = env.ok(&["rotate", "--resume"]);
    assert!(err.is_empty(), "status goes to stderr");
    let new = assert_one_live_key_matching_vault(&env, &gh);
    assert_ne!(old, new, "rotated after resuming from '{point}'");

    // Resume again: nothing pending, no request to the provider.
    let requests = gh.calls().len();
    let out = env.run_in(&["rotate", "--resume"], b"");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rotation to resume"));
    assert_eq!(gh.calls().len(), requests);
    // And the next rotation still revokes the right key.
    rotate(&env, "DEPLOY_KEY");
    let newer = assert_one_live_key_matching_vault(&env, &gh);
    assert_ne!(newer, new);
}

#[test]
fn crash_after_started() {
    crash_and_resume("started", 1);
}

#[test]
fn crash_after_created_before_journaled_leaves_no_orphan_key() {
    crash_and_resume("created", 2);
}

#[test]
fn crash_after_journaled() {
    crash_and_resume("journaled", 2);
}

#[test]
fn crash_after_verified() {
    crash_and_resume("verified", 2);
}

#[test]
fn crash_after_promoted() {
    crash_and_resume("promoted", 2);
}

#[test]
fn crash_after_revoked() {
    crash_and_resume("revoked", 1);
}

#[test]
fn updatekeys_rewraps_an_in_flight_rotation_journal() {
    let (env, _gh) = github_project(&DEPLOY_KEY.replace(
        "      plugin: github\n",
        "      plugin: github\n      grace: 1h\n",
    ));
    rotate(&env, "DEPLOY_KEY");
    rotate(&env, "DEPLOY_KEY"); // leaves the journal waiting for the grace period
    let journal = env.path("secrets/.gsec-rotation-production.yaml");
    assert!(journal.exists());
    follows_recipients(&env, &journal);
}

/// `recipients add` and `rm` (which run updatekeys) re-wrap the journal
/// file `journal` for a new recipient, then re-key it without them.
pub(crate) fn follows_recipients(env: &Env, journal: &std::path::Path) {
    let recipients = |p: &std::path::Path| {
        let v: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["sops"]["age"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["recipient"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (_, bob) = env.other_key("bob");
    env.ok(&["recipients", "add", &bob]);
    assert!(
        recipients(journal).contains(&bob),
        "{}: re-wrapped for the new recipient",
        journal.display()
    );
    env.ok(&["recipients", "rm", &bob]);
    assert!(
        !recipients(journal).contains(&bob),
        "{}: re-keyed without the removed recipient",
        journal.display()
    );
}

/// Run gsec as if it were `ahead` later than now (`GSEC_TEST_NOW`, which
/// debug builds honour), so tests pass grace periods without sleeping.
pub(crate) fn run_later(env: &Env, ahead: Duration, args: &[&str]) -> std::process::Output {
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + ahead);
    let mut c = env.cmd(args);
    c.env("GSEC_TEST_NOW", at.to_string());
    env.run_cmd(c, b"")
}

pub(crate) fn ok_later(env: &Env, ahead: Duration, args: &[&str]) -> String {
    let out = run_later(env, ahead, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gsec {args:?}: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &err
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn grace_period_keeps_the_old_key_until_it_ends() {
    let (env, gh) = github_project(&DEPLOY_KEY.replace(
        "      plugin: github\n",
        "      plugin: github\n      grace: 1h\n",
    ));
    rotate(&env, "DEPLOY_KEY");
    let err = rotate(&env, "DEPLOY_KEY");
    assert!(err.contains("stays valid until"), "{err}");
    assert_eq!(
        gh.deploy_keys().len(),
        2,
        "old and new key both live during the grace period"
    );
    let err = env.ok_in(&["rotate", "--resume"], b"");
    assert!(err.is_empty());
    assert_eq!(
        gh.deploy_keys().len(),
        2,
        "resume before the grace period ends revokes nothing"
    );
    ok_later(&env, HOUR - Duration::from_secs(60), &["rotate", "--due"]);
    assert_eq!(gh.deploy_keys().len(), 2, "a minute early still waits");
    ok_later(&env, HOUR + Duration::from_secs(60), &["rotate", "--due"]);
    assert_one_live_key_matching_vault(&env, &gh);
}

#[test]
fn dry_run_calls_nothing_and_changes_nothing() {
    let (env, gh) = github_project(DEPLOY_KEY);
    env.set("DEPLOY_KEY", ENV, "placeholder");
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let out = env.ok(&["rotate", "DEPLOY_KEY", "--dry-run"]);
    assert!(
        out.contains("would rotate DEPLOY_KEY in production with plugin 'github'"),
        "{out}"
    );
    assert!(out.contains("sha256 pin ok"), "{out}");
    assert!(gh.calls().is_empty());
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    assert!(!env.path(JOURNAL).exists());
}

/// A project with the random plugin and `DB_PASSWORD` rotated by it.
fn random_project(rotation_extra: &str) -> Env {
    let env = Env::project();
    let sha = install(&env, "random");
    append_config(
        &env,
        &format!(
            "plugins:\n  random:\n    path: plugins/random.wasm\n    sha256: {sha}\nsecrets:\n  DB_PASSWORD:\n    rotation:\n      plugin: random\n{rotation_extra}  OTHER: {{}}\n"
        ),
    );
    env
}

#[test]
fn hostile_plugin_config_fails_cleanly_and_leaves_the_env_file_byte_for_byte() {
    let env = random_project("      config: {length: 0}\n");
    env.set("DB_PASSWORD", ENV, "old-password");
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", "DB_PASSWORD", "--env", ENV], b"", 2);
    assert!(
        err.contains("plugin 'random'") && err.contains("config.length"),
        "{err}"
    );
    assert_no_secret(&err, "old-password");
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    // Fixing the config and resuming finishes the same rotation.
    let cfg = env.read(".gsec.yaml").replace("length: 0", "length: 20");
    env.write(".gsec.yaml", &cfg);
    env.ok(&["rotate", "--resume"]);
    assert_eq!(env.get("DB_PASSWORD", ENV).len(), 20);
}

/// A config the plugin's `config_schema` refuses (a misspelt setting the
/// plugin itself would ignore, a value outside its enum) stops the rotation
/// before the plugin runs: one line naming the setting, exit 2, nothing
/// created at the provider, the env file byte for byte.
#[test]
fn a_config_outside_the_plugins_schema_is_refused_before_the_plugin_runs() {
    for (good, bad, says) in [
        (
            "repo: acme/app}",
            "repo: acme/app, repo_name: acme/app}",
            "config.repo_name: is not a setting of this plugin (it has: ",
        ),
        (
            "kind: deploy-key,",
            "kind: deploy_key,",
            r#"config.kind: must be one of "deploy-key", "webhook-secret""#,
        ),
    ] {
        let typo = DEPLOY_KEY.replace(good, bad);
        assert_ne!(typo, DEPLOY_KEY);
        let (env, gh) = github_project(&typo);
        env.set("DEPLOY_KEY", ENV, "old-deploy-key");
        let before = std::fs::read(env.path(ENV_FILE)).unwrap();
        let err = env.fails(&["rotate", "DEPLOY_KEY", "--env", ENV], b"", 2);
        assert!(
            err.contains("plugin 'github'") && err.contains(says),
            "{err}"
        );
        assert!(
            err.contains("gsec plugin inspect plugins/github.wasm"),
            "{err}"
        );
        assert_no_secret(&err, "old-deploy-key");
        assert!(gh.deploy_keys().is_empty(), "the plugin ran: {err}");
        assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    }
}

/// A project whose `DB_PASSWORD` is rotated by a hostile fixture plugin
/// (tests/fixtures/plugins/NAME.wat, shared with tests/cli/plugin.rs).
fn hostile_project(fixture: &str, limits: &str) -> Env {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/plugins/{fixture}.wat"));
    wasm_project(
        "hostile",
        &wat::parse_file(&path).unwrap(),
        limits,
        "{plugin: hostile}",
    )
}

/// A project whose `DB_PASSWORD` (now `old-password`) is rotated by the
/// wasm module `wasm`, installed as plugin `name` with `limits` (YAML lines
/// under it) and `rotation` (the secret's `rotation:` value).
fn wasm_project(name: &str, wasm: &[u8], limits: &str, rotation: &str) -> Env {
    let env = Env::project();
    std::fs::create_dir_all(env.path("plugins")).unwrap();
    std::fs::write(env.path(&format!("plugins/{name}.wasm")), wasm).unwrap();
    let sha = hex::encode(Sha256::digest(wasm));
    append_config(
        &env,
        &format!(
            "plugins:\n  {name}:\n    path: plugins/{name}.wasm\n    sha256: {sha}\n{limits}secrets:\n  DB_PASSWORD:\n    rotation: {rotation}\n"
        ),
    );
    env.set("DB_PASSWORD", ENV, "old-password");
    env
}

#[test]
fn hostile_plugins_through_rotate_fail_by_their_limit_and_leave_the_env_file_byte_for_byte() {
    for (fixture, limits, expect) in [
        ("trap_create", "", "crashed during 'create'"),
        (
            "loop",
            "    timeout_secs: 1\n",
            "exceeded its 1 s time budget",
        ),
        (
            "membomb",
            "    memory_mb: 16\n",
            "exceeded its 16 MiB memory limit",
        ),
        ("wrong_abi", "", "ABI"),
    ] {
        let env = hostile_project(fixture, limits);
        let before = std::fs::read(env.path(ENV_FILE)).unwrap();
        let err = env.fails(&["rotate", "DB_PASSWORD", "--env", ENV], b"", 2);
        assert!(
            err.contains("plugin 'hostile'") && err.contains(expect),
            "{fixture}: {err}"
        );
        assert_eq!(
            err.matches("error:").count(),
            1,
            "{fixture}: one error line: {err}"
        );
        assert_no_secret(&err, "old-password");
        assert_eq!(
            std::fs::read(env.path(ENV_FILE)).unwrap(),
            before,
            "{fixture}"
        );
        assert_eq!(env.get("DB_PASSWORD", ENV), "old-password");
    }
}

#[test]
fn github_plugin_calling_a_host_not_granted_is_stopped_and_nothing_changes() {
    let (env, gh) = github_project(DEPLOY_KEY);
    env.set("DEPLOY_KEY", ENV, "old");
    // Grant another port than the fake's.
    let granted = format!("hosts: ['{}']", gh.url);
    let cfg = env
        .read(".gsec.yaml")
        .replace(&granted, "hosts: ['http://127.0.0.1:9']");
    env.write(".gsec.yaml", &cfg);
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", "DEPLOY_KEY", "--env", ENV], b"", 2);
    assert!(err.contains("denied"), "{err}");
    assert!(gh.calls().is_empty(), "no request reached the server");
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
}

#[test]
fn plugin_with_the_wrong_sha256_is_refused_before_it_runs() {
    let env = random_project("");
    env.set("DB_PASSWORD", ENV, "old-password");
    let cfg = env.read(".gsec.yaml");
    let pinned = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .unwrap()
        .to_string();
    env.write(".gsec.yaml", &cfg.replace(&pinned, &"0".repeat(64)));
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", "DB_PASSWORD", "--env", ENV], b"", 2);
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    let out = env.ok(&["rotate", "DB_PASSWORD", "--env", ENV, "--dry-run"]);
    assert!(out.contains("SHA256 MISMATCH"), "{out}");
}

#[test]
fn due_rotates_what_is_due_and_resume_twice_is_a_noop() {
    let env = random_project("      every: 1h\n");
    env.set("DB_PASSWORD", ENV, "old-password");
    env.ok(&["rotate", "--due"]);
    let first = env.get("DB_PASSWORD", ENV);
    assert_ne!(first, "old-password");
    assert!(env.read(".gsec/state.yaml").contains("DB_PASSWORD"));
    let out = ok_later(&env, Duration::ZERO, &["rotate", "--due", "--dry-run"]);
    assert!(out.contains("no rotation is due"), "{out}");
    let out = ok_later(&env, 2 * HOUR, &["rotate", "--due", "--dry-run"]);
    assert!(
        out.contains("would rotate DB_PASSWORD in production"),
        "{out}"
    );
    ok_later(&env, 2 * HOUR, &["rotate", "--due"]);
    assert_ne!(env.get("DB_PASSWORD", ENV), first);
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    env.ok(&["rotate", "--resume"]);
    env.ok(&["rotate", "--resume"]);
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
}

#[test]
fn exposed_rotates_what_it_can_and_lists_the_rest() {
    let env = random_project("");
    env.set("DB_PASSWORD", ENV, "old-password");
    env.set("OTHER", ENV, "other-value");
    env.write(
        ".gsec/state.yaml",
        "exposed:\n  production:\n    DB_PASSWORD: {recipients: [age1gone], since: '2026-01-01T00:00:00Z'}\n    OTHER: {recipients: [age1gone], since: '2026-01-01T00:00:00Z'}\n",
    );
    let err = env.fails(&["rotate", "--exposed"], b"", 1);
    assert!(
        err.contains("OTHER in production") && err.contains("rotate it by hand"),
        "{err}"
    );
    assert_ne!(env.get("DB_PASSWORD", ENV), "old-password");
    assert_eq!(env.get("OTHER", ENV), "other-value");
    let state = env.read(".gsec/state.yaml");
    let exposed = state.split("exposed:").nth(1).unwrap_or_default();
    assert!(
        !exposed.contains("DB_PASSWORD") && exposed.contains("OTHER"),
        "{state}"
    );
}

#[test]
fn inherited_value_is_not_rotated_in_the_child_environment() {
    let env = random_project("");
    env.set("DB_PASSWORD", "development", "dev-password");
    let err = env.fails(&["rotate", "DB_PASSWORD", "--env", "preview"], b"", 2);
    assert!(err.contains("inherited from 'development'"), "{err}");
    // Also when the child has a file of its own (without this secret).
    env.set("UNRELATED", "preview", "x");
    let err = env.fails(&["rotate", "DB_PASSWORD", "--env", "preview"], b"", 2);
    assert!(err.contains("inherited from 'development'"), "{err}");
    let err = env.fails(&["rotate", "NOPE"], b"", 2);
    assert!(err.contains("not declared"), "{err}");
}

#[test]
fn abort_revokes_the_journaled_credential_and_changes_nothing() {
    let (env, gh) = github_project(DEPLOY_KEY);
    rotate(&env, "DEPLOY_KEY");
    let live = gh.deploy_keys();
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    kill_at(&env, &["rotate", "DEPLOY_KEY", "--env", ENV], "verified");
    assert_eq!(gh.deploy_keys().len(), 2);
    // Without --env: found through the journal.
    let out = env.run_in(&["rotate", "DEPLOY_KEY", "--abort"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("new credential was revoked"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(env.path(ENV_FILE)).unwrap(),
        before,
        "environment file untouched"
    );
    let ids: Vec<u64> = gh.deploy_keys().iter().map(|k| k.id).collect();
    assert_eq!(ids, vec![live[0].id], "back to the one old key");
    assert_one_live_key_matching_vault(&env, &gh);
    let out = env.run_in(&["rotate", "--resume"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rotation to resume"));
    // The old key is still known by id: the next rotation replaces it.
    rotate(&env, "DEPLOY_KEY");
    assert_one_live_key_matching_vault(&env, &gh);
    assert_ne!(gh.deploy_keys()[0].id, live[0].id);
}

#[test]
fn abort_before_the_journal_has_the_credential_warns_that_it_may_remain() {
    let env = random_project("");
    env.set("DB_PASSWORD", ENV, "old-password");
    kill_at(&env, &["rotate", "DB_PASSWORD", "--env", ENV], "started");
    let out = env.run_in(&["rotate", "DB_PASSWORD", "--abort"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("may remain at the provider"),
        "{err}"
    );
    assert_eq!(env.get("DB_PASSWORD", ENV), "old-password");
    // Promoted rotations cannot be aborted, only finished.
    kill_at(&env, &["rotate", "DB_PASSWORD", "--env", ENV], "promoted");
    let err = env.fails(&["rotate", "DB_PASSWORD", "--abort"], b"", 2);
    assert!(err.contains("already promoted"), "{err}");
    env.ok(&["rotate", "--resume"]);
    assert_ne!(env.get("DB_PASSWORD", ENV), "old-password");
}

#[test]
fn concurrent_rotations_of_one_secret_serialise_on_the_journal_lock() {
    let (env, gh) = github_project(DEPLOY_KEY);
    rotate(&env, "DEPLOY_KEY");
    let children: Vec<_> = (0..3)
        .map(|_| {
            env.cmd(&["rotate", "DEPLOY_KEY", "--env", ENV])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
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
    assert_one_live_key_matching_vault(&env, &gh);
    let posts = gh
        .calls()
        .iter()
        .filter(|r| *r == "POST /repos/acme/app/keys")
        .count();
    assert_eq!(posts, 4, "one key per rotation, none duplicated");
}

#[test]
fn a_value_changed_by_hand_is_revoked_by_value_not_by_the_remembered_id() {
    let (env, gh) = github_project(DEPLOY_KEY);
    rotate(&env, "DEPLOY_KEY");
    let gsec_key = gh.deploy_keys()[0].id;
    // Someone replaces the key by hand (and forgets to delete the old one).
    let key = env.tmp.path().join("hand");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let hand_key = gh.add_deploy_key("by hand", public.trim());
    env.ok(&[
        "set",
        "DEPLOY_KEY",
        "--env",
        ENV,
        "--from-file",
        key.to_str().unwrap(),
    ]);
    let err = rotate(&env, "DEPLOY_KEY");
    assert!(err.contains("changed outside `gsec rotate`"), "{err}");
    let ids: Vec<u64> = gh.deploy_keys().iter().map(|k| k.id).collect();
    assert!(
        !ids.contains(&hand_key),
        "the key that was in use (the hand-made one) is revoked: {ids:?}"
    );
    assert!(
        ids.contains(&gsec_key),
        "the stale id was not used to revoke: {ids:?}"
    );
}

#[test]
fn rotate_reports_outcomes_as_json() {
    let env = random_project("      config: {length: 24}\n");
    env.set("DB_PASSWORD", ENV, "old-password");
    let out = env.ok(&["rotate", "DB_PASSWORD", "--env", ENV, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rotations"][0]["secret"], "DB_PASSWORD");
    assert_eq!(v["rotations"][0]["environment"], ENV);
    assert_eq!(v["rotations"][0]["outcome"], "rotated");
    let new = env.get("DB_PASSWORD", ENV);
    assert_eq!(new.len(), 24);
    assert!(
        !out.contains(&new),
        "the JSON report never carries the value"
    );
}

/// A plugin whose `verify` answers as its config says: `~` in the config
/// means "cannot tell, retry later", `^` rejects the credential, `%` loops
/// until the time budget ends, anything else accepts. `create` always
/// makes `new-credential-4711` (id `new-1`), and every step but `info` logs
/// its request, so a test sees which credential `revoke` was asked to
/// retire (values redacted, ids shown).
fn verdict_plugin() -> Vec<u8> {
    let info = r#"{"name":"verdict","version":"1","abi":1,"hosts":[]}"#;
    let created = r#"{"value":"new-credential-4711","id":"new-1"}"#;
    let retry = r#"{"error":"provider unreachable","retry":true}"#;
    let rejected = r#"{"error":"credential rejected"}"#;
    let esc = |s: &str| s.replace('"', "\\\"");
    let wat = format!(
        r#"(module
  (import "gsec" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 0) "{info}")
  (data (i32.const 200) "{created}")
  (data (i32.const 400) "{retry}")
  (data (i32.const 600) "{rejected}")
  (data (i32.const 800) "{{}}")
  (func (export "gsec_abi_version") (result i32) (i32.const 1))
  (func (export "gsec_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func $has (param $p i32) (param $l i32) (param $b i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $l)))
        (if (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (local.get $b))
          (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))
  (func $answer (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))
  (func (export "gsec_call") (param $p i32) (param $l i32) (result i64)
    (local $op i32)
    (local.set $op (i32.load8_u offset=7 (local.get $p)))
    (if (i32.eq (local.get $op) (i32.const 105))
      (then (return (call $answer (i32.const 0) (i32.const {info_len})))))
    (call $log (i32.const 2) (local.get $p) (local.get $l))
    (if (i32.eq (local.get $op) (i32.const 99))
      (then (return (call $answer (i32.const 200) (i32.const {created_len})))))
    (if (i32.eq (local.get $op) (i32.const 114))
      (then (return (call $answer (i32.const 800) (i32.const 2)))))
    (if (call $has (local.get $p) (local.get $l) (i32.const 126))
      (then (return (call $answer (i32.const 400) (i32.const {retry_len})))))
    (if (call $has (local.get $p) (local.get $l) (i32.const 94))
      (then (return (call $answer (i32.const 600) (i32.const {rejected_len})))))
    (if (call $has (local.get $p) (local.get $l) (i32.const 37))
      (then (loop $forever (br $forever))))
    (call $answer (i32.const 800) (i32.const 2))))"#,
        info = esc(info),
        created = esc(created),
        retry = esc(retry),
        rejected = esc(rejected),
        info_len = info.len(),
        created_len = created.len(),
        retry_len = retry.len(),
        rejected_len = rejected.len(),
    );
    wat::parse_str(&wat).unwrap()
}

const NEW_VALUE: &str = "new-credential-4711";

/// `verify` could not answer — its time budget ran out, or it said "retry
/// later": that is no verdict on the new credential, so nothing is rolled
/// back or revoked. The rotation stays in the journal at 'created', the old
/// value in the environment file, and `--resume` finishes it once `verify`
/// can answer.
#[test]
fn verify_that_cannot_answer_keeps_the_rotation_resumable() {
    for (mode, limits, why) in [
        (
            "'%'",
            "    timeout_secs: 1\n",
            "exceeded its 1 s time budget",
        ),
        (
            "'~'",
            "",
            "'verify' could not finish: provider unreachable (the plugin asks to retry later)",
        ),
    ] {
        let env = wasm_project(
            "verdict",
            &verdict_plugin(),
            limits,
            &format!("{{plugin: verdict, config: {{mode: {mode}}}}}"),
        );
        let before = std::fs::read(env.path(ENV_FILE)).unwrap();
        let err = env.fails(&["rotate", "DB_PASSWORD", "--env", ENV], b"", 2);
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("gsec: error: DB_PASSWORD in production: the new credential could not be verified and stays pending")
                && last.contains(why)
                && last.ends_with("`gsec rotate --resume` retries"),
            "{mode}: {err}"
        );
        assert!(
            !err.contains(r#""op":"revoke""#),
            "{mode}: nothing is revoked: {err}"
        );
        assert_no_secret(&err, NEW_VALUE);
        assert_no_secret(&err, "old-password");
        assert_eq!(
            std::fs::read(env.path(ENV_FILE)).unwrap(),
            before,
            "{mode}: the old value stays in place"
        );
        assert!(env.path(JOURNAL).exists(), "{mode}: journal kept");
        let pending = env.ok(&["rotate", "--resume", "--dry-run"]);
        assert!(
            pending.contains("would resume DB_PASSWORD in production")
                && pending.contains("at step 'created'")
                && pending.contains(why),
            "{mode}: {pending}"
        );
        assert_no_secret(&pending, NEW_VALUE);

        // The provider is back: resuming verifies the same credential again
        // and finishes, revoking the old one (no id), never the new one.
        let cfg = env
            .read(".gsec.yaml")
            .replace(&format!("mode: {mode}"), "mode: ok");
        env.write(".gsec.yaml", &cfg);
        let out = env.run_in(&["rotate", "--resume"], b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mode}: {err}");
        assert!(
            err.contains(r#""op":"verify""#) && err.contains(r#""op":"revoke""#),
            "{mode}: {err}"
        );
        assert!(
            !err.contains(r#""op":"create""#),
            "{mode}: no second credential: {err}"
        );
        let revoke = err
            .lines()
            .find(|l| l.contains(r#""op":"revoke""#))
            .unwrap_or_default();
        assert!(
            !revoke.contains(r#""id":"new-1""#),
            "{mode}: the old credential is revoked, not the new one: {err}"
        );
        assert_eq!(env.get("DB_PASSWORD", ENV), NEW_VALUE, "{mode}");
        let out = env.run_in(&["rotate", "--resume"], b"");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no rotation to resume"),
            "{mode}"
        );
    }
}

/// `verify` answered no: the new credential is bad, so it is revoked (by
/// its id) and forgotten, and the environment file is never touched.
#[test]
fn verify_rejection_rolls_back_and_revokes_the_new_credential() {
    let env = wasm_project(
        "verdict",
        &verdict_plugin(),
        "",
        "{plugin: verdict, config: {mode: '^'}}",
    );
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", "DB_PASSWORD", "--env", ENV], b"", 2);
    assert!(
        err.contains("failed verification and was revoked")
            && err.contains("'verify' failed: credential rejected"),
        "{err}"
    );
    let revoke = err
        .lines()
        .find(|l| l.contains(r#""op":"revoke""#))
        .unwrap_or_else(|| panic!("no revoke: {err}"));
    assert!(
        revoke.contains(r#""id":"new-1""#) && revoke.contains(r#""value":"[REDACTED]""#),
        "the new credential is revoked: {revoke}"
    );
    assert_no_secret(&err, NEW_VALUE);
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    assert_eq!(env.get("DB_PASSWORD", ENV), "old-password");
    let out = env.ok(&["rotate", "--resume", "--dry-run"]);
    assert!(out.is_empty(), "nothing pending: {out}");
}
