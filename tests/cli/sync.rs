//! `gsec sync` end to end: the real binary, the real `vault`, `aws` and
//! `github` wasm plugins (built by scripts/build-plugins.sh and pinned by
//! their sha256), and fakes on 127.0.0.1: Vault KV v2 (tokens, paths,
//! check-and-set versions, custom metadata), Secrets Manager, and GitHub's
//! Actions secrets (sealed boxes opened with the fake's private key) and
//! variables. Crash tests SIGKILL gsec between the
//! journal and the write and check that a rerun converges.

use crate::common::{Env, UNTIL_CLEARED, assert_no_secret};
use crate::fake_aws::{self, FakeAws};
use crate::fake_github::{self, FakeGithub};
use crate::fake_vault::{FakeVault, MOUNT, TOKEN};
use crate::rotate::{append_config, github_plugin_project, install, kill_at};

const ENV: &str = "production";
const JOURNAL: &str = "secrets/.gsec-sync-production.vault.yaml";
const DB: &str = "postgres://app:s3cret-db-pass@db/app";
const API: &str = "api-key-7f3a9c2e1b";

/// A project whose `production` holds DB_URL, API_KEY and the Vault token,
/// with the vault plugin granted the fake and a target `vault` writing
/// under `kv/app/prod`; `hosts` overrides the grant list.
fn vault_project(hosts: Option<&str>) -> (Env, FakeVault) {
    let env = Env::project();
    let vault = FakeVault::start();
    let sha = install(&env, "vault");
    let hosts = hosts.map_or_else(|| format!("'{}'", vault.url), str::to_string);
    append_config(
        &env,
        &format!(
            "plugins:\n  vault:\n    path: plugins/vault.wasm\n    sha256: {sha}\n    hosts: [{hosts}]\nsync:\n  vault:\n    plugin: vault\n    inputs: [VAULT_TOKEN]\n    config: {{address: '{url}', mount: {MOUNT}, path: app/prod}}\nservices:\n  web:\n    secrets: [API_KEY]\n",
            url = vault.url,
        ),
    );
    env.set("DB_URL", ENV, DB);
    env.set("API_KEY", ENV, API);
    env.set("VAULT_TOKEN", ENV, TOKEN);
    (env, vault)
}

/// Run `gsec sync --env production --to TARGET` with `extra` flags;
/// assert the exit code and that none of the test's values nor `secrets`
/// reached stdout or stderr; return (stdout, stderr).
fn sync_to(
    env: &Env,
    target: &str,
    secrets: &[&str],
    extra: &[&str],
    code: i32,
) -> (String, String) {
    let mut args = vec!["sync", "--env", ENV, "--to", target];
    args.extend_from_slice(extra);
    let out = env.run_in(&args, b"");
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(code), "gsec {args:?}: {so}\n{se}");
    for v in [DB, API, "changed-api-key-value"].iter().chain(secrets) {
        assert_no_secret(&so, v);
        assert_no_secret(&se, v);
    }
    (so, se)
}

fn sync(env: &Env, extra: &[&str], code: i32) -> (String, String) {
    sync_to(env, "vault", &[TOKEN], extra, code)
}

fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in {out}"))
}

#[test]
fn sync_creates_then_sends_nothing_then_only_the_changed_value() {
    let (env, vault) = vault_project(None);
    let (out, err) = sync(&env, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("created"), "{out}");
    assert!(line(&out, "API_KEY").starts_with("created"), "{out}");
    assert!(err.contains("2 created"), "{err}");
    assert!(
        !out.contains("VAULT_TOKEN") && vault.secret("app/prod/VAULT_TOKEN").is_none(),
        "the target's own credential is not pushed: {out}"
    );
    let db = vault.secret("app/prod/DB_URL").unwrap();
    assert_eq!(db.value().as_deref(), Some(DB));
    assert_eq!(db.current(), 1);
    let fp = db.custom_metadata["gsec-fingerprint"].clone();
    assert!(fp.starts_with("v1:") && fp.len() == 44, "{fp}");
    assert_ne!(
        fp,
        vault.secret("app/prod/API_KEY").unwrap().custom_metadata["gsec-fingerprint"]
    );
    assert!(vault.problems().is_empty(), "{:?}", vault.problems());
    assert!(!env.path(JOURNAL).exists(), "the journal is gone once done");

    // Second sync: nothing is sent.
    vault.clear_calls();
    let (out, err) = sync(&env, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("unchanged"), "{out}");
    assert!(err.contains("2 unchanged"), "{err}");
    assert_eq!(vault.writes(), Vec::<String>::new(), "second sync wrote");

    // One changed value: only it is sent, as a new version.
    env.set("API_KEY", ENV, "changed-api-key-value");
    vault.clear_calls();
    let (out, _) = sync(&env, &[], 0);
    assert!(line(&out, "API_KEY").starts_with("updated"), "{out}");
    assert!(line(&out, "DB_URL").starts_with("unchanged"), "{out}");
    assert_eq!(
        vault.writes(),
        vec![
            format!("POST /v1/{MOUNT}/data/app/prod/API_KEY"),
            format!("PATCH /v1/{MOUNT}/metadata/app/prod/API_KEY"),
        ]
    );
    let api = vault.secret("app/prod/API_KEY").unwrap();
    assert_eq!(api.value().as_deref(), Some("changed-api-key-value"));
    assert_eq!(api.current(), 2);
    assert_eq!(vault.secret("app/prod/DB_URL").unwrap().current(), 1);
    assert!(vault.problems().is_empty(), "{:?}", vault.problems());
}

#[test]
fn removed_secret_is_reported_and_deleted_only_with_prune() {
    let (env, vault) = vault_project(None);
    sync(&env, &[], 0);
    // Someone else's secret under the same path is never gsec's to delete.
    vault.put_by_hand("app/prod/HAND_MADE", "not-from-gsec");
    env.ok(&["rm", "DB_URL", "--env", ENV]);
    vault.clear_calls();
    let (out, err) = sync(&env, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("would-prune"), "{out}");
    assert!(err.contains("--prune deletes them"), "{err}");
    assert!(!out.contains("HAND_MADE"), "{out}");
    assert_eq!(vault.writes(), Vec::<String>::new());
    assert!(vault.secret("app/prod/DB_URL").is_some());

    let (out, _) = sync(&env, &["--prune"], 0);
    assert!(line(&out, "DB_URL").starts_with("pruned"), "{out}");
    assert_eq!(
        vault.writes(),
        vec![format!("DELETE /v1/{MOUNT}/metadata/app/prod/DB_URL")]
    );
    assert!(vault.secret("app/prod/DB_URL").is_none());
    assert!(vault.secret("app/prod/HAND_MADE").is_some());
    assert!(vault.secret("app/prod/API_KEY").is_some());
}

#[test]
fn dry_run_sends_nothing_and_json_reports_each_name() {
    let (env, vault) = vault_project(None);
    let (out, err) = sync(&env, &["--dry-run"], 0);
    assert!(line(&out, "DB_URL").starts_with("would-create"), "{out}");
    assert!(err.contains("dry run"), "{err}");
    assert_eq!(vault.writes(), Vec::<String>::new());
    assert!(vault.paths().is_empty());
    assert!(!env.path(JOURNAL).exists());

    let (out, _) = sync(&env, &["--json"], 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["target"], "vault");
    assert_eq!(v["environment"], ENV);
    let names: Vec<(&str, &str)> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["action"].as_str().unwrap()))
        .collect();
    assert_eq!(names, vec![("API_KEY", "created"), ("DB_URL", "created")]);
}

#[test]
fn service_sync_pushes_only_the_grant_set() {
    let (env, vault) = vault_project(None);
    let (out, _) = sync(&env, &["--service", "web"], 0);
    assert!(line(&out, "API_KEY").starts_with("created"), "{out}");
    assert!(!out.contains("DB_URL"), "{out}");
    assert_eq!(vault.paths(), vec!["app/prod/API_KEY".to_string()]);
}

#[test]
fn a_failed_write_is_reported_per_name_and_exits_2_after_the_rest() {
    let (env, vault) = vault_project(None);
    // A secret someone made by hand under the same name is overwritten.
    vault.put_by_hand("app/prod/DB_URL", "someone-elses");
    vault.deny_writes("app/prod/API_KEY");
    let (out, err) = sync(&env, &[], 2);
    assert!(line(&out, "API_KEY").starts_with("failed"), "{out}");
    assert!(line(&out, "DB_URL").starts_with("updated"), "{out}");
    assert!(
        err.contains("API_KEY: plugin 'vault'") && err.contains("HTTP 403"),
        "{err}"
    );
    assert!(err.contains("1 of 2 secrets failed"), "{err}");
    assert_eq!(
        vault.secret("app/prod/DB_URL").unwrap().value().as_deref(),
        Some(DB)
    );
    // Fixed at Vault: the rerun finishes what failed and nothing else.
    vault.deny_writes("");
    vault.clear_calls();
    let (out, _) = sync(&env, &[], 0);
    assert!(line(&out, "API_KEY").starts_with("created"), "{out}");
    assert!(line(&out, "DB_URL").starts_with("unchanged"), "{out}");
    assert!(!env.path(JOURNAL).exists());
    // A token Vault refuses: the listing fails, one error, exit 2.
    env.set("VAULT_TOKEN", ENV, "hvs.wrong-token");
    let (_, err) = sync(&env, &[], 2);
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(!err.contains("hvs.wrong-token"), "{err}");
}

/// An interrupted sync's journal follows the environment's recipients, as
/// a rotation's does: whoever is added can finish the sync.
#[test]
fn updatekeys_rewraps_an_interrupted_sync_journal() {
    let (env, _vault) = vault_project(None);
    kill_at(
        &env,
        &["sync", "--env", ENV, "--to", "vault"],
        "sync-journaled",
    );
    crate::rotate::follows_recipients(&env, &env.path(JOURNAL));
    sync(&env, &[], 0);
    assert!(!env.path(JOURNAL).exists());
}

#[test]
fn sigkill_between_write_and_journal_then_rerun_converges() {
    for point in ["sync-journaled", "sync-sent"] {
        let (env, vault) = vault_project(None);
        kill_at(&env, &["sync", "--env", ENV, "--to", "vault"], point);
        let journal = env.read(JOURNAL);
        assert!(journal.contains("ENC["), "the journal is encrypted");
        for v in [DB, API, TOKEN] {
            assert_no_secret(&journal, v);
        }
        // The first name (sorted: API_KEY) was written or not, never both
        // half: the rerun ends with every value and fingerprint in place.
        let (out, _) = sync(&env, &[], 0);
        assert!(!env.path(JOURNAL).exists(), "{point}: journal left");
        for (name, value) in [("API_KEY", API), ("DB_URL", DB)] {
            let s = vault.secret(&format!("app/prod/{name}")).unwrap();
            assert_eq!(s.value().as_deref(), Some(value), "{point}");
            assert!(s.custom_metadata["gsec-fingerprint"].starts_with("v1:"));
        }
        if point == "sync-sent" {
            assert!(line(&out, "API_KEY").starts_with("unchanged"), "{out}");
            assert_eq!(vault.secret("app/prod/API_KEY").unwrap().current(), 1);
        }
        vault.clear_calls();
        sync(&env, &[], 0);
        assert_eq!(vault.writes(), Vec::<String>::new(), "{point}: converged");
        assert!(vault.problems().is_empty(), "{:?}", vault.problems());
    }
}

#[test]
fn plugin_without_a_sync_step_is_refused_clearly() {
    let env = Env::project();
    let sha = install(&env, "random");
    append_config(
        &env,
        &format!(
            "plugins:\n  random:\n    path: plugins/random.wasm\n    sha256: {sha}\nsync:\n  vault:\n    plugin: random\n"
        ),
    );
    env.set("DB_URL", ENV, DB);
    let err = env.fails(&["sync", "--env", ENV, "--to", "vault"], b"", 2);
    assert!(
        err.contains("has no 'sync' step") && err.contains("cannot be a sync target"),
        "{err}"
    );
    let err = env.fails(&["sync", "--env", ENV, "--to", "nowhere"], b"", 2);
    assert!(err.contains("no sync target 'nowhere'"), "{err}");
}

#[test]
fn the_plugin_reaches_only_granted_hosts() {
    let (env, vault) = vault_project(Some("'https://vault.elsewhere.example'"));
    let (_, err) = sync(&env, &[], 2);
    assert!(
        err.contains("denied") && err.contains("not granted"),
        "{err}"
    );
    assert!(vault.calls().is_empty(), "{:?}", vault.calls());
}

// ---- AWS Secrets Manager (the aws plugin's sync step) ----

const SM_PREFIX: &str = "app/prod/";

/// A project syncing `production` to the fake Secrets Manager under
/// `app/prod/`, signed with an IAM key stored as `AWS_SYNC`.
fn aws_project() -> (Env, FakeAws) {
    let env = Env::project();
    let aws = FakeAws::start();
    let sha = install(&env, "aws");
    append_config(
        &env,
        &format!(
            "plugins:\n  aws:\n    path: plugins/aws.wasm\n    sha256: {sha}\n    hosts: ['{url}']\nsync:\n  awssm:\n    plugin: aws\n    inputs: [AWS_SYNC]\n    config: {{credentials_input: AWS_SYNC, region: {region}, secretsmanager_endpoint: '{url}', prefix: {SM_PREFIX}, recovery_window_days: 7}}\n",
            url = aws.url,
            region = fake_aws::REGION,
        ),
    );
    let key = aws.add_key(fake_aws::USER);
    env.set("AWS_SYNC", ENV, &key.json());
    env.set("DB_URL", ENV, DB);
    env.set("API_KEY", ENV, API);
    (env, aws)
}

fn sm_sync(env: &Env, extra: &[&str], code: i32) -> (String, String) {
    sync_to(env, "awssm", &["SecretAccessKey"], extra, code)
}

fn sm_writes(aws: &FakeAws) -> Vec<String> {
    aws.calls()
        .into_iter()
        .filter(|c| c.starts_with("secretsmanager ") && !c.contains(" ListSecrets "))
        .map(|c| c.rsplit_once(" by ").unwrap().0.to_string())
        .collect()
}

#[test]
fn secrets_manager_sync_creates_updates_with_staging_labels_and_prunes() {
    let (env, aws) = aws_project();
    let (out, _) = sm_sync(&env, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("created"), "{out}");
    let db = aws.sm_secret("app/prod/DB_URL").unwrap();
    assert_eq!(db.current(), Some(DB));
    assert!(db.tags["gsec-fingerprint"].starts_with("v1:"));
    assert!(
        aws.sm_secret("app/prod/AWS_SYNC").is_none(),
        "credential not pushed"
    );

    let before = aws.calls().len();
    let (out, _) = sm_sync(&env, &[], 0);
    assert!(
        line(&out, "API_KEY").starts_with("unchanged"),
        "{out} {:?}",
        aws.calls()
    );
    assert_eq!(
        aws.calls()[before..]
            .iter()
            .filter(|c| !c.contains(" ListSecrets "))
            .count(),
        0,
        "second sync wrote: {:?}",
        aws.calls()
    );

    env.set("API_KEY", ENV, "changed-api-key-value");
    let before = sm_writes(&aws).len();
    let (out, _) = sm_sync(&env, &[], 0);
    assert!(line(&out, "API_KEY").starts_with("updated"), "{out}");
    assert_eq!(
        sm_writes(&aws)[before..].to_vec(),
        vec![
            "secretsmanager PutSecretValue app/prod/API_KEY".to_string(),
            "secretsmanager TagResource app/prod/API_KEY".to_string(),
        ]
    );
    let api = aws.sm_secret("app/prod/API_KEY").unwrap();
    assert_eq!(api.current(), Some("changed-api-key-value"));
    assert_eq!(api.versions.len(), 2);
    assert_eq!(api.versions[0].stages, vec!["AWSPREVIOUS".to_string()]);
    assert_eq!(api.versions[1].stages, vec!["AWSCURRENT".to_string()]);

    env.ok(&["rm", "DB_URL", "--env", ENV]);
    let (out, _) = sm_sync(&env, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("would-prune"), "{out}");
    assert_eq!(aws.sm_secret("app/prod/DB_URL").unwrap().deleted_days, None);
    let (out, _) = sm_sync(&env, &["--prune"], 0);
    assert!(line(&out, "DB_URL").starts_with("pruned"), "{out}");
    assert_eq!(
        aws.sm_secret("app/prod/DB_URL").unwrap().deleted_days,
        Some(7)
    );
    let (out, _) = sm_sync(&env, &[], 0);
    assert!(
        !out.contains("DB_URL"),
        "scheduled for deletion: gone: {out}"
    );
    assert!(aws.problems().is_empty(), "{:?}", aws.problems());
}

#[test]
fn secrets_manager_put_interrupted_before_its_tag_is_retried_with_the_same_token() {
    let (env, aws) = aws_project();
    sm_sync(&env, &[], 0);
    env.set("API_KEY", ENV, "changed-api-key-value");
    // The value is written, the tag is not: the journal keeps the token.
    aws.fail("TagResource", 400, "AccessDeniedException");
    let (out, err) = sm_sync(&env, &[], 2);
    assert!(line(&out, "API_KEY").starts_with("failed"), "{out}");
    assert!(err.contains("AccessDeniedException"), "{err}");
    assert!(env.path(JOURNAL_SM).exists());
    let journal = env.read(JOURNAL_SM);
    assert_no_secret(&journal, "changed-api-key-value");
    assert_eq!(aws.sm_secret("app/prod/API_KEY").unwrap().versions.len(), 2);
    aws.clear_fail();
    let (out, _) = sm_sync(&env, &[], 0);
    assert!(line(&out, "API_KEY").starts_with("updated"), "{out}");
    let api = aws.sm_secret("app/prod/API_KEY").unwrap();
    assert_eq!(
        api.versions.len(),
        2,
        "the retry reused the ClientRequestToken: no third version"
    );
    assert_eq!(api.current(), Some("changed-api-key-value"));
    assert!(!env.path(JOURNAL_SM).exists());
    let before = sm_writes(&aws).len();
    sm_sync(&env, &[], 0);
    assert_eq!(sm_writes(&aws).len(), before, "converged");
    assert!(aws.problems().is_empty(), "{:?}", aws.problems());
}

const JOURNAL_SM: &str = "secrets/.gsec-sync-production.awssm.yaml";

// ---- GitHub Actions secrets (the github plugin's sync step) ----

const GH_JOURNAL: &str = "secrets/.gsec-sync-production.gh.yaml";
const GH_SECRETS: &str = "/repos/acme/app/actions/secrets";
const GH_VARIABLE: &str = "/repos/acme/app/actions/variables/GSEC_SYNC_FINGERPRINTS";

/// A project syncing `production` to the fake GitHub's Actions secrets of
/// acme/app (`extra`: more settings for the target's config), with the API
/// token stored as `GITHUB_TOKEN`.
fn gh_project(extra: &str) -> (Env, FakeGithub) {
    let (env, gh) = github_plugin_project("", |gh| {
        format!(
            "sync:\n  gh:\n    plugin: github\n    inputs: [GITHUB_TOKEN]\n    config: {{api_url: '{url}', repo: {repo}{extra}}}\n",
            url = gh.url,
            repo = fake_github::OWNER_REPO,
        )
    });
    env.set("GITHUB_TOKEN", ENV, &gh.pat);
    env.set("DB_URL", ENV, DB);
    env.set("API_KEY", ENV, API);
    (env, gh)
}

fn gh_sync(env: &Env, gh: &FakeGithub, extra: &[&str], code: i32) -> (String, String) {
    sync_to(env, "gh", &[gh.pat.as_str()], extra, code)
}

/// The fingerprint variable of `scope` as a map.
fn gh_fingerprints(
    gh: &FakeGithub,
    scope: Option<&str>,
) -> serde_json::Map<String, serde_json::Value> {
    let v = gh
        .variable(scope, "GSEC_SYNC_FINGERPRINTS")
        .expect("the fingerprint variable exists");
    match serde_json::from_str(&v).unwrap() {
        serde_json::Value::Object(m) => m,
        other => panic!("not a map: {other}"),
    }
}

#[test]
fn github_actions_sync_creates_sends_nothing_updates_and_prunes_only_its_own() {
    let (env, gh) = gh_project("");
    // A secret someone set by hand: never gsec's to delete.
    gh.put_actions_secret_by_hand("HAND_MADE", "not-from-gsec");
    // One secret per page: the listing must follow every page.
    gh.max_per_page(1);
    let (out, err) = gh_sync(&env, &gh, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("created"), "{out}");
    assert!(line(&out, "API_KEY").starts_with("created"), "{out}");
    assert!(err.contains("2 created"), "{err}");
    assert!(!out.contains("HAND_MADE"), "{out}");
    // The fake opened each sealed box with the repository's private key.
    assert_eq!(gh.actions_secret("DB_URL").as_deref(), Some(DB));
    assert_eq!(gh.actions_secret("API_KEY").as_deref(), Some(API));
    assert!(
        gh.actions_secret("GITHUB_TOKEN").is_none(),
        "the target's own credential is not pushed"
    );
    let fps = gh_fingerprints(&gh, None);
    assert_eq!(
        fps.keys().collect::<Vec<_>>(),
        vec!["API_KEY", "DB_URL"],
        "only what gsec wrote"
    );
    let db_fp = fps["DB_URL"].as_str().unwrap().to_string();
    assert!(db_fp.starts_with("v1:") && db_fp.len() == 44, "{db_fp}");
    let variable = gh.variable(None, "GSEC_SYNC_FINGERPRINTS").unwrap();
    for v in [DB, API] {
        assert_no_secret(&variable, v);
    }
    assert!(!env.path(GH_JOURNAL).exists());

    // Second sync: nothing is sent.
    gh.clear_calls();
    let (out, err) = gh_sync(&env, &gh, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("unchanged"), "{out}");
    assert!(err.contains("2 unchanged"), "{err}");
    assert_eq!(gh.writes(), Vec::<String>::new(), "second sync wrote");

    // One changed value: only it is sealed and sent, then its fingerprint.
    env.set("API_KEY", ENV, "changed-api-key-value");
    gh.clear_calls();
    let (out, _) = gh_sync(&env, &gh, &[], 0);
    assert!(line(&out, "API_KEY").starts_with("updated"), "{out}");
    assert!(line(&out, "DB_URL").starts_with("unchanged"), "{out}");
    assert_eq!(
        gh.writes(),
        vec![
            format!("PUT {GH_SECRETS}/API_KEY"),
            format!("PATCH {GH_VARIABLE}")
        ]
    );
    assert_eq!(
        gh.actions_secret("API_KEY").as_deref(),
        Some("changed-api-key-value")
    );
    let fps2 = gh_fingerprints(&gh, None);
    assert_eq!(fps2["DB_URL"], db_fp.as_str());
    assert_ne!(fps2["API_KEY"], fps["API_KEY"]);

    // Removed from the environment: reported, deleted only with --prune,
    // and the hand-made secret stays either way.
    env.ok(&["rm", "DB_URL", "--env", ENV]);
    gh.clear_calls();
    let (out, err) = gh_sync(&env, &gh, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("would-prune"), "{out}");
    assert!(err.contains("--prune deletes them"), "{err}");
    assert_eq!(gh.writes(), Vec::<String>::new());
    let (out, _) = gh_sync(&env, &gh, &["--prune"], 0);
    assert!(line(&out, "DB_URL").starts_with("pruned"), "{out}");
    assert!(!out.contains("HAND_MADE"), "{out}");
    assert_eq!(
        gh.writes(),
        vec![
            format!("DELETE {GH_SECRETS}/DB_URL"),
            format!("PATCH {GH_VARIABLE}")
        ]
    );
    assert_eq!(gh.actions_secret_names(), vec!["API_KEY", "HAND_MADE"]);
    assert_eq!(
        gh_fingerprints(&gh, None).keys().collect::<Vec<_>>(),
        vec!["API_KEY"]
    );
    assert!(gh.problems().is_empty(), "{:?}", gh.problems());
}

#[test]
fn github_environment_secrets_are_sealed_to_the_environments_key() {
    let (env, gh) = gh_project(", environment: 'prod eu'");
    let (out, _) = gh_sync(&env, &gh, &[], 0);
    assert!(line(&out, "DB_URL").starts_with("created"), "{out}");
    assert_eq!(gh.env_secret("prod eu", "DB_URL").as_deref(), Some(DB));
    assert_eq!(gh.env_secret("prod eu", "API_KEY").as_deref(), Some(API));
    assert!(
        gh.actions_secret_names().is_empty(),
        "not repository secrets"
    );
    assert_eq!(gh_fingerprints(&gh, Some("prod eu")).len(), 2);
    assert!(gh.variable(None, "GSEC_SYNC_FINGERPRINTS").is_none());
    gh.clear_calls();
    gh_sync(&env, &gh, &[], 0);
    assert_eq!(gh.writes(), Vec::<String>::new(), "converged");
    assert!(
        gh.calls()
            .iter()
            .all(|r| r.contains("/repos/acme/app/environments/prod%20eu/")),
        "{:?}",
        gh.calls()
    );
    assert!(gh.problems().is_empty(), "{:?}", gh.problems());
}

#[test]
fn github_value_written_but_fingerprint_not_is_sent_again() {
    let (env, gh) = gh_project("");
    gh_sync(&env, &gh, &[], 0);
    env.set("API_KEY", ENV, "changed-api-key-value");
    gh.fail(
        "PATCH /repos/acme/app/actions/variables",
        403,
        None,
        UNTIL_CLEARED,
    );
    let (out, err) = gh_sync(&env, &gh, &[], 2);
    assert!(line(&out, "API_KEY").starts_with("failed"), "{out}");
    assert!(err.contains("HTTP 403"), "{err}");
    assert_eq!(
        gh.actions_secret("API_KEY").as_deref(),
        Some("changed-api-key-value"),
        "the value went first"
    );
    gh.clear_fail();
    gh.clear_calls();
    let (out, _) = gh_sync(&env, &gh, &[], 0);
    assert!(line(&out, "API_KEY").starts_with("updated"), "{out}");
    assert_eq!(
        gh.writes(),
        vec![
            format!("PUT {GH_SECRETS}/API_KEY"),
            format!("PATCH {GH_VARIABLE}")
        ]
    );
    assert!(!env.path(GH_JOURNAL).exists());
    gh.clear_calls();
    gh_sync(&env, &gh, &[], 0);
    assert_eq!(gh.writes(), Vec::<String>::new(), "converged");
}

#[test]
fn github_sigkill_mid_sync_then_rerun_converges() {
    for point in ["sync-journaled", "sync-sent"] {
        let (env, gh) = gh_project("");
        kill_at(&env, &["sync", "--env", ENV, "--to", "gh"], point);
        let journal = env.read(GH_JOURNAL);
        assert!(journal.contains("ENC["), "the journal is encrypted");
        for v in [DB, API, gh.pat.as_str()] {
            assert_no_secret(&journal, v);
        }
        let (out, _) = gh_sync(&env, &gh, &[], 0);
        assert!(!env.path(GH_JOURNAL).exists(), "{point}: journal left");
        for (name, value) in [("API_KEY", API), ("DB_URL", DB)] {
            assert_eq!(gh.actions_secret(name).as_deref(), Some(value), "{point}");
        }
        let fps = gh_fingerprints(&gh, None);
        assert!(fps.values().all(|f| f.as_str().unwrap().starts_with("v1:")));
        assert_eq!(fps.len(), 2, "{point}");
        if point == "sync-sent" {
            assert!(line(&out, "API_KEY").starts_with("unchanged"), "{out}");
        }
        gh.clear_calls();
        gh_sync(&env, &gh, &[], 0);
        assert_eq!(gh.writes(), Vec::<String>::new(), "{point}: converged");
        assert!(gh.problems().is_empty(), "{:?}", gh.problems());
    }
}

/// A sync owns what its environment (and service) wrote: another one's
/// values at the same target are neither overwritten nor pruned, and a
/// required secret without a value fails its name and keeps its copy.
#[test]
fn a_sync_never_overwrites_or_prunes_what_another_environment_or_service_wrote() {
    let (env, vault) = vault_project(None);
    sync(&env, &[], 0);
    let prod_db = vault.secret("app/prod/DB_URL").unwrap().current();

    // development, pointed at production's target by mistake.
    env.set(
        "DB_URL",
        "development",
        "postgres://dev:dev-pass@localhost/dev",
    );
    env.set("VAULT_TOKEN", "development", TOKEN);
    vault.clear_calls();
    let out = env.run_in(
        &["sync", "--env", "development", "--to", "vault", "--prune"],
        b"",
    );
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(2), "{so}\n{se}");
    assert!(line(&so, "DB_URL").starts_with("failed"), "{so}");
    assert!(se.contains("another environment or service"), "{se}");
    assert!(
        !so.contains("API_KEY"),
        "production's API_KEY is not development's to prune: {so}"
    );
    assert_eq!(vault.writes(), Vec::<String>::new());
    assert_eq!(vault.secret("app/prod/DB_URL").unwrap().current(), prod_db);
    assert_eq!(
        vault.secret("app/prod/DB_URL").unwrap().value().as_deref(),
        Some(DB)
    );

    // A service's sync is a scope of its own: it prunes nothing of the
    // environment's and does not overwrite it.
    let (so, se) = sync(&env, &["--service", "web", "--prune"], 2);
    assert!(line(&so, "API_KEY").starts_with("failed"), "{so}");
    assert!(!so.contains("DB_URL"), "{so}\n{se}");
    assert_eq!(vault.writes(), Vec::<String>::new());

    // A required secret with no value: its name fails, its copy stays.
    append_config(&env, "secrets:\n  REQUIRED_ONE:\n    required: true\n");
    let (so, se) = sync(&env, &["--prune"], 2);
    assert!(line(&so, "REQUIRED_ONE").starts_with("failed"), "{so}");
    assert!(se.contains("required, but has no value"), "{se}");
    assert!(line(&so, "DB_URL").starts_with("unchanged"), "{so}");
}

/// gsec calls no step a plugin does not list: the sync-only vault plugin
/// named as a rotator is refused before any of its code runs.
#[test]
fn a_sync_only_plugin_is_refused_as_a_rotator() {
    let (env, vault) = vault_project(None);
    append_config(
        &env,
        "secrets:\n  DB_URL:\n    rotation: {plugin: vault, inputs: [VAULT_TOKEN]}\n",
    );
    let out = env.run_in(&["rotate", "DB_URL", "--env", ENV], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("does not support the 'create' step"), "{err}");
    assert!(vault.paths().is_empty() && vault.writes().is_empty());
    assert_eq!(env.get("DB_URL", ENV), DB);
}
