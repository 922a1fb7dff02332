//! The `aws` rotation plugin end to end: the real binary, the real wasm
//! plugin (built by scripts/build-plugins.sh and pinned by its sha256), and
//! a fake IAM/STS on 127.0.0.1 that verifies every SigV4 signature with the
//! secret keys the test made and enforces IAM's two-keys-per-user limit.
//! Crash tests SIGKILL gsec after every protocol step and check that
//! `--resume` ends with exactly one live key — two during a grace period —
//! and the right key pair in the vault.

use std::time::Duration;

use crate::common::{Env, assert_no_secret};
use crate::fake_aws::{self, ADMIN, FakeAws, Key, USER};
use crate::rotate::{append_config, install, kill_at, ok_later};

const ENV: &str = "production";
const ENV_FILE: &str = "secrets/production.yaml";
const NAME: &str = "AWS_CREDENTIALS";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// The key rotates itself (signs its own successor's creation and its
    /// own deletion).
    SelfManaged,
    /// Another key pair, input `AWS_ADMIN`, manages the user's keys.
    Admin,
}

/// A project with the aws plugin granted the fake, the user's first key
/// stored as `AWS_CREDENTIALS` (returned), and `extra` YAML lines under
/// `rotation:`.
fn aws_project(mode: Mode, extra: &str) -> (Env, FakeAws, Key) {
    let env = Env::project();
    let aws = FakeAws::start();
    let sha = install(&env, "aws");
    let (inputs, admin_cfg) = match mode {
        Mode::SelfManaged => ("", ""),
        Mode::Admin => ("      inputs: [AWS_ADMIN]\n", ", admin_input: AWS_ADMIN"),
    };
    append_config(
        &env,
        &format!(
            "plugins:\n  aws:\n    path: plugins/aws.wasm\n    sha256: {sha}\n    hosts: ['{url}']\n    timeout_secs: 30\nsecrets:\n  {NAME}:\n    rotation:\n      plugin: aws\n{extra}{inputs}      config: {{user_name: {USER}, region: {region}, iam_endpoint: '{url}', sts_endpoint: '{url}'{admin_cfg}}}\n",
            url = aws.url,
            region = fake_aws::REGION,
        ),
    );
    if mode == Mode::Admin {
        let admin = aws.add_key(ADMIN);
        env.set("AWS_ADMIN", ENV, &admin.json());
    }
    let first = aws.add_key(USER);
    env.set(NAME, ENV, &first.json());
    (env, aws, first)
}

fn rotate(env: &Env) -> String {
    let out = env.run_in(&["rotate", NAME, "--env", ENV], b"");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gsec rotate: {err}");
    err
}

/// The vault's key pair, parsed.
fn vault_pair(env: &Env) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(&env.get(NAME, ENV)).unwrap();
    assert_eq!(v["Version"], 1, "credential_process format: {v}");
    (
        v["AccessKeyId"].as_str().unwrap().to_string(),
        v["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

/// Exactly one key of the user exists, it is active, and the vault holds
/// it (id and secret); the fake saw nothing malformed.
fn assert_one_live_key_matching_vault(env: &Env, aws: &FakeAws) -> Key {
    let keys = aws.keys(USER);
    assert_eq!(keys.len(), 1, "exactly one access key, got {keys:?}");
    assert!(keys[0].active);
    let (id, secret) = vault_pair(env);
    assert_eq!((id, secret), (keys[0].id.clone(), keys[0].secret.clone()));
    assert!(
        aws.problems().is_empty(),
        "fake AWS refused something: {:?}",
        aws.problems()
    );
    keys[0].clone()
}

/// Calls without the marker tag's value (it holds the random token).
fn calls(aws: &FakeAws) -> Vec<String> {
    aws.calls()
        .into_iter()
        .map(|c| match c.find("Tags.member.1.Value=") {
            Some(i) => {
                let rest = &c[i + "Tags.member.1.Value=".len()..];
                let (token, after) = rest.split_once(' ').unwrap();
                assert_eq!(token.len(), 32, "the rotation token: {c}");
                format!("{}Tags.member.1.Value=TOKEN {after}", &c[..i])
            }
            None => c,
        })
        .collect()
}

#[test]
fn self_managed_rotation_makes_the_second_key_verifies_it_and_deletes_the_old() {
    let (env, aws, first) = aws_project(Mode::SelfManaged, "");
    let err = rotate(&env);
    let new = assert_one_live_key_matching_vault(&env, &aws);
    assert_ne!(new.id, first.id);
    assert_no_secret(&err, &new.secret);
    assert_no_secret(&err, &first.secret);
    assert!(
        err.contains(&format!("created access key {}", new.id)),
        "{err}"
    );
    let k0 = &first.id;
    assert_eq!(
        calls(&aws),
        vec![
            "iam ListAccessKeys UserName=app by app".to_string(),
            "iam ListUserTags UserName=app by app".to_string(),
            format!(
                "iam TagUser Tags.member.1.Key=gsec-rotation Tags.member.1.Value=TOKEN {k0} UserName=app by app"
            ),
            "iam CreateAccessKey UserName=app by app".to_string(),
            "sts GetCallerIdentity by app".to_string(),
            format!("iam DeleteAccessKey AccessKeyId={k0} UserName=app by app"),
        ],
        "the exact requests of one rotation"
    );
    assert_no_secret(&env.read(ENV_FILE), &new.secret);
    // And again: the new key rotates itself in turn.
    rotate(&env);
    let newer = assert_one_live_key_matching_vault(&env, &aws);
    assert_ne!(newer.id, new.id);
}

#[test]
fn admin_managed_rotation_deactivates_then_deletes_the_old_key() {
    let (env, aws, first) = aws_project(Mode::Admin, "");
    rotate(&env);
    let new = assert_one_live_key_matching_vault(&env, &aws);
    let k0 = &first.id;
    assert_eq!(
        calls(&aws),
        vec![
            "iam ListAccessKeys UserName=app by gsec-admin".to_string(),
            "iam ListUserTags UserName=app by gsec-admin".to_string(),
            format!(
                "iam TagUser Tags.member.1.Key=gsec-rotation Tags.member.1.Value=TOKEN {k0} UserName=app by gsec-admin"
            ),
            "iam CreateAccessKey UserName=app by gsec-admin".to_string(),
            "sts GetCallerIdentity by app".to_string(),
            format!(
                "iam UpdateAccessKey AccessKeyId={k0} Status=Inactive UserName=app by gsec-admin"
            ),
            format!("iam DeleteAccessKey AccessKeyId={k0} UserName=app by gsec-admin"),
        ]
    );
    assert_eq!(
        aws.active_keys(ADMIN).len(),
        1,
        "the admin key is untouched"
    );
    assert_ne!(new.id, first.id);
}

#[test]
fn grace_period_keeps_both_keys_live_until_it_ends() {
    let (env, aws, first) = aws_project(Mode::SelfManaged, "      grace: 1h\n");
    let err = rotate(&env);
    assert!(err.contains("stays valid until"), "{err}");
    let live: Vec<String> = aws.active_keys(USER).into_iter().map(|k| k.id).collect();
    assert_eq!(live.len(), 2, "the documented two during the grace period");
    assert!(live.contains(&first.id));
    assert_eq!(
        vault_pair(&env).0,
        live[1],
        "the vault already holds the new key"
    );
    ok_later(&env, Duration::from_secs(3600 - 60), &["rotate", "--due"]);
    assert_eq!(aws.active_keys(USER).len(), 2, "a minute early still waits");
    ok_later(&env, Duration::from_secs(3600 + 60), &["rotate", "--due"]);
    let k = assert_one_live_key_matching_vault(&env, &aws);
    assert_eq!(k.id, live[1]);
}

#[test]
fn deactivate_mode_keeps_the_old_key_inactive_until_the_next_rotation() {
    let (env, aws, first) = aws_project(Mode::SelfManaged, "");
    let cfg = env
        .read(".gsec.yaml")
        .replace("sts_endpoint", "on_revoke: deactivate, sts_endpoint");
    env.write(".gsec.yaml", &cfg);
    rotate(&env);
    let keys = aws.keys(USER);
    assert_eq!(keys.len(), 2);
    assert!(
        !keys[0].active && keys[0].id == first.id,
        "old key inactive: {keys:?}"
    );
    assert_eq!(aws.active_keys(USER)[0].id, vault_pair(&env).0);
    // The next rotation deletes the inactive key before creating, so the
    // user never needs a third key.
    rotate(&env);
    let keys = aws.keys(USER);
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.id != first.id));
    assert_eq!(aws.active_keys(USER).len(), 1);
    assert_eq!(aws.active_keys(USER)[0].id, vault_pair(&env).0);
    assert!(aws.problems().is_empty(), "{:?}", aws.problems());
}

#[test]
fn a_key_gsec_does_not_hold_is_never_touched_and_the_limit_is_explained() {
    let (env, aws, first) = aws_project(Mode::SelfManaged, "");
    let human = aws.add_key(USER);
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(
        err.contains(&format!("{} is not the one this secret holds", human.id))
            && err.contains("two access keys"),
        "{err}"
    );
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    assert_eq!(aws.keys(USER), vec![first.clone(), human.clone()]);
    assert_eq!(aws.count("iam CreateAccessKey"), 0);
    // The fake itself refuses a third key, as IAM does.
    let (status, body) = aws.call_as(
        &first,
        &[("Action", "CreateAccessKey"), ("Version", "2010-05-08")],
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("<Code>LimitExceeded</Code>"), "{body}");
    // A wrong signature is refused too.
    let forged = Key {
        secret: "not-the-secret".into(),
        ..first.clone()
    };
    let (status, body) = aws.call_as(
        &forged,
        &[("Action", "ListAccessKeys"), ("Version", "2010-05-08")],
    );
    assert_eq!(status, 403);
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}

#[test]
fn rejected_verification_deletes_the_new_key_and_leaves_the_vault_alone() {
    let (env, aws, first) = aws_project(Mode::SelfManaged, "");
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    aws.fail("GetCallerIdentity", 403, "AccessDenied");
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(
        err.contains("failed verification") && err.contains("AccessDenied"),
        "{err}"
    );
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    aws.clear_fail();
    let k = assert_one_live_key_matching_vault(&env, &aws);
    assert_eq!(k.id, first.id, "the unverified key was deleted (by itself)");
    rotate(&env);
    assert_one_live_key_matching_vault(&env, &aws);
}

#[test]
fn verification_that_gets_no_answer_stays_pending_and_resumes() {
    let (env, aws, first) = aws_project(Mode::Admin, "");
    aws.fail("GetCallerIdentity", 503, "ServiceUnavailable");
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(
        aws.active_keys(USER).len(),
        2,
        "the new key is kept, pending"
    );
    assert_eq!(vault_pair(&env).0, first.id);
    aws.clear_fail();
    env.ok(&["rotate", "--resume"]);
    let k = assert_one_live_key_matching_vault(&env, &aws);
    assert_ne!(k.id, first.id);
}

/// IAM is eventually consistent: a new key may be refused by STS for a
/// few seconds. `verify` waits (the SDK's `sleep_ms`, inside the wasm time
/// budget) and tries again rather than rolling the rotation back.
#[test]
fn verify_waits_for_a_new_key_to_propagate() {
    let (env, aws, first) = aws_project(Mode::SelfManaged, "");
    aws.propagation_delay(2);
    rotate(&env);
    let k = assert_one_live_key_matching_vault(&env, &aws);
    assert_ne!(k.id, first.id);
    assert_eq!(aws.count("sts GetCallerIdentity"), 3, "{:?}", aws.calls());
}

#[test]
fn aws_plugin_calling_a_host_not_granted_is_stopped_and_nothing_changes() {
    let (env, aws, _) = aws_project(Mode::SelfManaged, "");
    let cfg = env.read(".gsec.yaml").replace(
        &format!("hosts: ['{}']", aws.url),
        "hosts: ['http://127.0.0.1:9']",
    );
    env.write(".gsec.yaml", &cfg);
    let before = std::fs::read(env.path(ENV_FILE)).unwrap();
    let err = env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(err.contains("denied"), "{err}");
    assert!(aws.calls().is_empty(), "no request reached the fake");
    assert_eq!(std::fs::read(env.path(ENV_FILE)).unwrap(), before);
    // Its declared hosts: IAM, STS and `*` (configurable endpoints).
    let out = env.ok(&["plugin", "inspect", "plugins/aws.wasm"]);
    assert!(out.contains("iam.amazonaws.com"), "{out}");
}

/// Kill a rotation after `point`, resume, and check: exactly one live key,
/// a new one, in the vault; resuming again calls nothing; the next rotation
/// still works. `live_at_kill`: the user's keys when the process died.
fn crash_and_resume(mode: Mode, point: &str, live_at_kill: usize) {
    let (env, aws, first) = aws_project(mode, "");
    kill_at(&env, &["rotate", NAME, "--env", ENV], point);
    assert_eq!(
        aws.keys(USER).len(),
        live_at_kill,
        "keys when killed after '{point}'"
    );
    let pending = env.ok(&["rotate", "--resume", "--dry-run"]);
    assert!(
        pending.contains(&format!("would resume {NAME} in production")),
        "{pending}"
    );
    let err = env.ok(&["rotate", "--resume"]);
    assert!(err.is_empty(), "{err}");
    let new = assert_one_live_key_matching_vault(&env, &aws);
    assert_ne!(new.id, first.id, "rotated after resuming from '{point}'");
    assert!(aws.count("iam CreateAccessKey") <= 2);
    let n = aws.calls().len();
    let out = env.run_in(&["rotate", "--resume"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rotation to resume"));
    assert_eq!(aws.calls().len(), n, "nothing called");
    rotate(&env);
    let newer = assert_one_live_key_matching_vault(&env, &aws);
    assert_ne!(newer.id, new.id);
}

#[test]
fn aws_crash_after_started() {
    crash_and_resume(Mode::SelfManaged, "started", 1);
}

#[test]
fn aws_crash_after_created_before_journaled_leaves_no_orphan_key() {
    crash_and_resume(Mode::SelfManaged, "created", 2);
}

#[test]
fn aws_crash_after_journaled() {
    crash_and_resume(Mode::SelfManaged, "journaled", 2);
}

#[test]
fn aws_crash_after_verified() {
    crash_and_resume(Mode::SelfManaged, "verified", 2);
}

#[test]
fn aws_crash_after_promoted() {
    crash_and_resume(Mode::SelfManaged, "promoted", 2);
}

#[test]
fn aws_crash_after_revoked() {
    crash_and_resume(Mode::SelfManaged, "revoked", 1);
}

#[test]
fn aws_admin_crash_after_created_before_journaled_leaves_no_orphan_key() {
    crash_and_resume(Mode::Admin, "created", 2);
}

#[test]
fn aws_admin_crash_after_promoted() {
    crash_and_resume(Mode::Admin, "promoted", 2);
}
