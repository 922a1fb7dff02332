//! Lease secrets end to end: the real binary, the real aws and github
//! plugins (built by scripts/build-plugins.sh, pinned), and the fakes,
//! which verify each request exactly — the SigV4 signature with the root
//! key the test made (AWS), the App JWT's RS256 signature with the App's
//! key (GitHub). The child prints what it got to a file outside the
//! project; afterwards every file of the project (and HOME, where the
//! plugin cache lives) is searched for the minted values.

use std::path::Path;

use crate::action::{parse_runner_file, run_action};
use crate::common::{Env, assert_no_secret, expect_code};
use crate::fake_aws::{self, FakeAws, Key, USER};
use crate::fake_github::{APP_ID, FakeGithub, INSTALLATION_ID};
use crate::rotate::{append_config, github_plugin_project, install};

const ENV: &str = "production";

/// Every file under `dir` (recursively, `.git` included) that holds
/// `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

/// No file of the project or of HOME holds any of `values`.
fn stored_nowhere(env: &Env, values: &[&str]) {
    for v in values {
        for dir in [&env.dir, &env.home] {
            let hits = files_containing(dir, v);
            assert!(hits.is_empty(), "a minted value was written to {hits:?}");
        }
    }
}

/// `gsec run --env production ARGS -- sh -c SCRIPT`; SCRIPT may write to
/// `$OUT`, a file outside the project, which is returned.
fn run_child(env: &Env, args: &[&str], script: &str) -> (std::process::Output, String) {
    let out_file = env.tmp.path().join("child.out");
    let _ = std::fs::remove_file(&out_file);
    let mut all = vec!["run", "--env", ENV];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", "sh", "-c", script]);
    let mut c = env.cmd(&all);
    c.env("OUT", &out_file);
    let out = env.run_cmd(c, b"");
    let seen = std::fs::read_to_string(&out_file).unwrap_or_default();
    (out, seen)
}

// ---- AWS: STS AssumeRole ------------------------------------------------------

const AWS_ENV_MAP: &str = "{AccessKeyId: AWS_ACCESS_KEY_ID, SecretAccessKey: AWS_SECRET_ACCESS_KEY, SessionToken: AWS_SESSION_TOKEN}";

/// The aws plugin granted the fake; `AWS_ROOT` (the user's long-lived key,
/// returned) may assume role `deploy`; `AWS_SESSION` is a lease of it.
fn aws_project(lease_extra: &str) -> (Env, FakeAws, Key, String) {
    let env = Env::project();
    let aws = FakeAws::start();
    let sha = install(&env, "aws");
    let role = aws.add_role("deploy", USER);
    append_config(
        &env,
        &format!(
            "plugins:\n  aws:\n    path: plugins/aws.wasm\n    sha256: {sha}\n    hosts: ['{url}']\nsecrets:\n  AWS_SESSION:\n    required: true\n    lease:\n      plugin: aws\n      inputs: [AWS_ROOT]\n      config: {{role_arn: '{role}', session_name: gsec-ci, duration_secs: 900, region: {region}, sts_endpoint: '{url}'}}\n      env: {AWS_ENV_MAP}\n{lease_extra}",
            url = aws.url,
            region = fake_aws::REGION,
        ),
    );
    let root = aws.add_key(USER);
    env.set("AWS_ROOT", ENV, &root.json());
    (env, aws, root, role)
}

const PRINT_AWS: &str = r#"printf '%s\n%s\n%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" > "$OUT""#;

#[test]
fn aws_lease_gives_the_child_a_fresh_session_that_is_stored_nowhere() {
    let (env, aws, root, role) = aws_project("");
    let (out, seen) = run_child(&env, &[], PRINT_AWS);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gsec run: {err}");
    let sessions = aws.sessions();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    // The child got exactly the session AWS handed out.
    assert_eq!(
        seen,
        format!("{}\n{}\n{}\n", s.access_key_id, s.secret, s.token)
    );
    // The exact request, signed (and verified by the fake) with the root key.
    assert_eq!(
        aws.calls(),
        vec![format!(
            "sts AssumeRole DurationSeconds=900 RoleArn={role} RoleSessionName=gsec-ci by {USER}"
        )]
    );
    assert!(aws.problems().is_empty(), "{:?}", aws.problems());
    assert_eq!((s.by.as_str(), s.duration), (USER, 900));
    assert!(
        err.contains("minted lease AWS_SESSION (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), valid until "),
        "{err}"
    );
    for v in [&s.secret, &s.token, &root.secret] {
        assert_no_secret(&err, v);
        assert_no_secret(&String::from_utf8_lossy(&out.stdout), v);
    }
    stored_nowhere(&env, &[&s.secret, &s.token, &s.access_key_id]);

    // A second run mints a second session.
    let (out, seen2) = run_child(&env, &[], PRINT_AWS);
    assert!(out.status.success());
    let sessions = aws.sessions();
    assert_eq!(sessions.len(), 2);
    assert_ne!(sessions[1].access_key_id, s.access_key_id);
    assert_eq!(
        seen2,
        format!(
            "{}\n{}\n{}\n",
            sessions[1].access_key_id, sessions[1].secret, sessions[1].token
        )
    );
    stored_nowhere(&env, &[&sessions[1].secret, &sessions[1].token]);
    // `check` counts the lease as ready (its root and plugin are there),
    // though `required` and no value is stored under its name.
    env.ok(&["check", "--env", ENV]);
}

#[test]
fn missing_root_credential_is_a_clear_error_and_a_check_problem() {
    let (env, aws, _, _) = aws_project("");
    env.ok(&["rm", "AWS_ROOT", "--env", ENV]);
    let (out, seen) = run_child(&env, &[], "echo ran > \"$OUT\"");
    let err = expect_code(&out, &["run"], 2);
    assert!(
        err.contains("secrets.AWS_SESSION.lease.inputs: 'AWS_ROOT' has no value in production (set it with `gsec set AWS_ROOT --env production`)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(seen.is_empty(), "the command must not run");
    assert!(aws.calls().is_empty());
    let out = env.run_in(&["check", "--env", ENV], b"");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("lease AWS_SESSION cannot be minted in production: its root credential AWS_ROOT has no value"),
        "{text}"
    );
}

#[test]
fn lease_values_are_masked_in_run_mask_output() {
    let (env, aws, _, _) = aws_project("");
    let (out, _) = run_child(
        &env,
        &["--mask"],
        r#"echo "key=$AWS_SECRET_ACCESS_KEY"; echo "token=$AWS_SESSION_TOKEN" >&2"#,
    );
    assert!(out.status.success());
    let s = &aws.sessions()[0];
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.contains("key=*****"), "{stdout}");
    assert!(stderr.contains("token=*****"), "{stderr}");
    assert_no_secret(&stdout, &s.secret);
    assert_no_secret(&stderr, &s.token);
}

// ---- GitHub: App installation tokens -------------------------------------------

/// The github plugin granted the fake; the App's private key stored as
/// `GITHUB_APP_PRIVATE_KEY`; `GH_TOKEN` is a lease of an installation
/// token, with `lease_extra` lines under `lease:`.
fn github_project(lease_extra: &str) -> (Env, FakeGithub) {
    let (env, gh) = github_plugin_project("", |gh| {
        format!(
            "secrets:\n  GH_TOKEN:\n    lease:\n      plugin: github\n      inputs: [GITHUB_APP_PRIVATE_KEY]\n      config: {{app_id: {APP_ID}, installation_id: {INSTALLATION_ID}, api_url: '{url}', permissions: {{contents: read}}}}\n{lease_extra}",
            url = gh.url,
        )
    });
    env.set("GITHUB_APP_PRIVATE_KEY", ENV, &gh.app_private_pem);
    (env, gh)
}

#[test]
fn github_lease_mints_an_installation_token_per_run() {
    let (env, gh) = github_project("");
    let (out, token) = run_child(&env, &[], r#"printf %s "$GH_TOKEN" > "$OUT""#);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A live token, minted with a JWT the fake verified with the App's key,
    // narrowed as configured.
    assert!(token.starts_with("ghs_"), "{token}");
    assert_eq!(gh.live_installation_tokens(), vec![token.clone()]);
    assert!(gh.problems().is_empty(), "{:?}", gh.problems());
    assert_eq!(
        gh.calls(),
        vec![format!(
            "POST /app/installations/{INSTALLATION_ID}/access_tokens"
        )]
    );
    assert_eq!(
        gh.token_requests(),
        vec![serde_json::json!({"permissions": {"contents": "read"}})]
    );
    stored_nowhere(&env, &[&token]);
    let (_, second) = run_child(&env, &[], r#"printf %s "$GH_TOKEN" > "$OUT""#);
    assert!(second.starts_with("ghs_") && second != token);
    assert_eq!(gh.minted_installation_tokens(), 2);
    stored_nowhere(&env, &[&second]);
    // `export` writes values out: it never mints a lease, and says so.
    let out = env.run_in(&["export", "--env", ENV, "--format", "json"], b"");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("GH_TOKEN"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not exported: lease secret(s) GH_TOKEN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(gh.minted_installation_tokens(), 2);
}

#[test]
fn get_of_a_lease_refuses_unless_asked_to_mint() {
    let (env, gh) = github_project("");
    let err = env.fails(&["get", "GH_TOKEN", "--env", ENV], b"", 2);
    assert!(
        err.contains("GH_TOKEN is a lease: it is minted on use and never stored")
            && err.contains("`gsec get GH_TOKEN --env production --lease`"),
        "{err}"
    );
    assert_eq!(
        gh.minted_installation_tokens(),
        0,
        "get alone mints nothing"
    );
    let out = env.run_in(&["get", "GH_TOKEN", "--env", ENV, "--lease"], b"");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        vec![token.trim_end().to_string()],
        gh.live_installation_tokens()
    );
    assert!(
        err.contains("minted lease GH_TOKEN in production, valid until "),
        "{err}"
    );
    stored_nowhere(&env, &[token.trim_end()]);
    // `--lease` on a stored secret is a usage error.
    let err = env.fails(
        &["get", "GITHUB_APP_PRIVATE_KEY", "--env", ENV, "--lease"],
        b"",
        2,
    );
    assert!(err.contains("is not a lease secret"), "{err}");
}

#[test]
fn on_expiry_terminate_stops_a_command_that_outlives_its_lease() {
    // Tokens live 61 s and the margin is 60 s: gsec acts about a second in.
    let (env, gh) = github_project("      on_expiry: terminate\n      margin: 60s\n");
    gh.token_ttl(61);
    // `exec`: the command gsec started is the one that sleeps (a shell
    // waiting for a `sleep` would leave it holding the output pipes).
    let (out, seen) = run_child(&env, &[], r#"echo started > "$OUT"; exec sleep 30"#);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(128 + 15), "SIGTERM's code: {err}");
    // 143: stopped by SIGTERM, not after its own 30 s (no upper bound on
    // the wall clock here: on a loaded machine that flakes).
    assert_eq!(seen, "started\n");
    assert!(
        err.contains("gsec: error: lease GH_TOKEN (GH_TOKEN) expires at ")
            && err.contains("terminating the command (SIGTERM; on_expiry: terminate)"),
        "{err}"
    );
}

/// What the command started holds the credential too: terminating stops
/// the command's whole process group. (gsec runs in a group of its own, as
/// under CI: in a developer's terminal the test runner is the foreground
/// job, where gsec would signal only the command.)
#[test]
fn on_expiry_terminate_stops_what_the_command_started_too() {
    let (env, gh) = github_project("      on_expiry: terminate\n      margin: 60s\n");
    gh.token_ttl(61);
    let pid_file = env.tmp.path().join("grandchild.pid");
    let mut c = env.cmd(&["run", "--env", ENV, "--", "sh", "-c"]);
    // The shell is not exec'd away: its `sleep` (output elsewhere, so it
    // holds none of gsec's pipes) is a grandchild of gsec.
    c.arg(r#"sleep 300 >/dev/null 2>&1 & echo $! > "$PIDS"; wait"#);
    c.env("PIDS", &pid_file);
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let out = env.run_cmd(c, b"");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(128 + 15), "SIGTERM's code: {err}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Dead: gone, or a zombie waiting for init to reap it.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if alive() {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
        panic!("the command's child {pid} outlived the termination: {err}");
    }
}

#[test]
fn on_expiry_warn_says_loudly_that_the_credential_will_expire() {
    // The lease lasts less than its margin: the warning comes at once, and
    // the command (which ends before the expiry) keeps its exit code.
    let (env, gh) = github_project("      margin: 5m\n");
    gh.token_ttl(120);
    let (out, seen) = run_child(&env, &[], r#"sleep 1; echo done > "$OUT"; exit 3"#);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(seen, "done\n");
    assert!(
        err.contains("gsec: warning: lease GH_TOKEN (GH_TOKEN) expires at ")
            && err.contains("a variable already given cannot be renewed")
            && err.contains("on_expiry: terminate"),
        "{err}"
    );
    assert!(!err.contains("has expired"), "{err}");
}

#[test]
fn a_plugin_without_the_lease_step_is_refused_naming_secret_and_plugin() {
    let env = Env::project();
    let sha = install(&env, "random");
    append_config(
        &env,
        &format!(
            "plugins:\n  random:\n    path: plugins/random.wasm\n    sha256: {sha}\nsecrets:\n  TOKEN:\n    lease:\n      plugin: random\n      inputs: [ROOT]\n"
        ),
    );
    env.set("ROOT", ENV, "root-credential-value");
    let (out, seen) = run_child(&env, &[], "echo ran > \"$OUT\"");
    let err = expect_code(&out, &["run"], 2);
    assert!(
        err.contains("secret 'TOKEN' is a lease, but plugin 'random' (plugins/random.wasm) does not support the 'lease' step"),
        "{err}"
    );
    assert!(seen.is_empty());
    // The same plugin lists the rotation steps only.
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["plugin", "call", "random", "info"])).unwrap();
    assert_eq!(
        v["steps"],
        serde_json::json!(["create", "verify", "revoke"]),
        "{v}"
    );
}

#[test]
fn action_load_injects_a_lease_masked() {
    let (env, gh) = github_project("");
    let key = std::fs::read_to_string(&env.key).unwrap();
    let run = run_action(
        &env,
        &[("command", "load"), ("env", ENV), ("age-key", &key)],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let live = gh.live_installation_tokens();
    assert_eq!(live.len(), 1);
    let token = &live[0];
    let vars = parse_runner_file(&run.env_file);
    assert_eq!(vars.get("GH_TOKEN"), Some(token));
    // Masked before anything else reaches the log; never printed.
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        run.stdout.contains(&format!("::add-mask::{token}")),
        "{}",
        run.stdout
    );
    assert!(first.starts_with("::add-mask::"), "{first}");
    assert_eq!(
        run.stdout.matches(token.as_str()).count(),
        1,
        "only in the mask command"
    );
    assert_no_secret(&run.stderr, token);
    assert!(
        run.stderr.contains("minted lease GH_TOKEN, valid until "),
        "{}",
        run.stderr
    );
    stored_nowhere(&env, &[token]);
}
