//! The `gitlab` rotation plugin end to end: the real binary, the real wasm
//! plugin (built by scripts/build-plugins.sh, pinned by its sha256), and a
//! fake GitLab on 127.0.0.1 whose rotate endpoints revoke the old token and
//! make its successor, with GitLab's automatic reuse detection. Rotation is
//! single-phase, so after every step — and after a SIGKILL after every step
//! followed by `--resume` — exactly one token of the family is live, and
//! the vault holds it (except the documented self-rotation crash window,
//! which ends with none live and a clear error).

use crate::common::{Env, assert_no_secret};
use crate::fake_gitlab::{FakeGitlab, GROUP, PROJECT, Token, date_in};
use crate::rotate::{append_config, install, kill_at};

const ENV: &str = "production";
const ENV_FILE: &str = "secrets/production.yaml";
const NAME: &str = "GITLAB_TOKEN";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// A personal token rotating itself (`/personal_access_tokens/self/rotate`).
    SelfPersonal,
    /// Tokens rotated by an administrator's token (input `GL_ADMIN`).
    AdminPersonal,
    AdminProject,
    AdminGroup,
}

impl Mode {
    /// (owner collection, user id of the token, config)
    fn shape(self) -> (Option<String>, u64, &'static str) {
        match self {
            Mode::SelfPersonal | Mode::AdminPersonal => (None, 7, "kind: personal"),
            Mode::AdminProject => (
                Some(format!("projects/{PROJECT}")),
                8,
                "kind: project, project: acme/app",
            ),
            Mode::AdminGroup => (
                Some(format!("groups/{GROUP}")),
                9,
                "kind: group, group: acme",
            ),
        }
    }
}

struct Gl {
    env: Env,
    gl: FakeGitlab,
    first: Token,
    admin: Option<Token>,
    user: u64,
}

fn gl_project(mode: Mode) -> Gl {
    let env = Env::project();
    let gl = FakeGitlab::start();
    let sha = install(&env, "gitlab");
    let (owner, user, kind) = mode.shape();
    let admin = (mode != Mode::SelfPersonal).then(|| gl.add_admin());
    let first = gl.add_token("ci", user, owner.as_deref());
    let _sibling = gl.add_token("ci-other", user, owner.as_deref());
    let (inputs, admin_cfg) = match admin {
        Some(_) => ("      inputs: [GL_ADMIN]\n", ", admin_input: GL_ADMIN"),
        None => ("", ""),
    };
    append_config(
        &env,
        &format!(
            "plugins:\n  gitlab:\n    path: plugins/gitlab.wasm\n    sha256: {sha}\n    hosts: ['{url}']\nsecrets:\n  {NAME}:\n    rotation:\n      plugin: gitlab\n{inputs}      config: {{{kind}, api_url: '{api}', expires_in_days: 30{admin_cfg}}}\n",
            url = gl.url,
            api = gl.api,
        ),
    );
    if let Some(a) = &admin {
        env.set("GL_ADMIN", ENV, &a.value);
    }
    env.set(NAME, ENV, &first.value);
    Gl {
        env,
        gl,
        first,
        admin,
        user,
    }
}

impl Gl {
    fn rotate(&self) -> String {
        let out = self.env.run_in(&["rotate", NAME, "--env", ENV], b"");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "gsec rotate: {err}");
        err
    }

    /// The live tokens named `ci` of the user: the rotated token's family.
    fn family(&self) -> Vec<Token> {
        self.gl
            .live(self.user)
            .into_iter()
            .filter(|t| t.name == "ci")
            .collect()
    }

    /// Exactly one live token in the family, in the vault, a sibling token
    /// and the admin's untouched, nothing malformed seen. Returns it.
    fn one_live_in_vault(&self) -> Token {
        let fam = self.family();
        assert_eq!(fam.len(), 1, "exactly one live token: {fam:?}");
        assert_eq!(self.env.get(NAME, ENV), fam[0].value, "the vault holds it");
        assert_eq!(
            self.gl.live(self.user).len(),
            2,
            "the sibling token is untouched"
        );
        if let Some(a) = &self.admin {
            assert!(self.gl.tokens().iter().any(|t| t.id == a.id && !t.revoked));
        }
        assert!(
            self.gl.problems().is_empty(),
            "fake GitLab refused something: {:?}",
            self.gl.problems()
        );
        fam[0].clone()
    }

    fn calls(&self, names: &[(u64, &str)]) -> Vec<String> {
        self.gl
            .calls()
            .into_iter()
            .map(|c| {
                names.iter().fold(c, |c, (id, n)| {
                    c.replace(&format!("/{id}/"), &format!("/{n}/"))
                        .replace(&format!(" by {id}"), &format!(" by {n}"))
                        .replace(&format!(":{id}"), &format!(":{n}"))
                })
            })
            .collect()
    }
}

#[test]
fn self_rotation_revokes_the_old_token_in_the_same_call() {
    let g = gl_project(Mode::SelfPersonal);
    let err = g.rotate();
    let new = g.one_live_in_vault();
    assert_ne!(new.id, g.first.id);
    assert_eq!(
        new.previous,
        Some(g.first.id),
        "made by rotating the old token"
    );
    assert_eq!(
        new.expires_at.as_deref(),
        Some(date_in(30).as_str()),
        "expires_in_days: 30"
    );
    assert!(
        err.contains(&format!(
            "rotated to token {} (expires {})",
            new.id,
            date_in(30)
        )),
        "{err}"
    );
    for s in [&new.value, &g.first.value] {
        assert_no_secret(&err, s);
        assert_no_secret(&g.env.read(ENV_FILE), s);
    }
    assert_eq!(
        g.calls(&[(g.first.id, "OLD"), (new.id, "NEW")]),
        [
            "POST /api/v4/personal_access_tokens/self/rotate by OLD",
            "GET /api/v4/personal_access_tokens/self by NEW",
            // revoke: the old token no longer works, so nothing else to do
            "GET /api/v4/personal_access_tokens/self by revoked:OLD",
        ]
    );
    // The new token rotates itself in turn.
    g.rotate();
    assert_ne!(g.one_live_in_vault().id, new.id);
}

#[test]
fn admin_rotates_project_group_and_personal_tokens_through_their_endpoints() {
    for (mode, collection) in [
        (
            Mode::AdminProject,
            format!("projects/{PROJECT}/access_tokens"),
        ),
        (Mode::AdminGroup, format!("groups/{GROUP}/access_tokens")),
        (Mode::AdminPersonal, "personal_access_tokens".to_string()),
    ] {
        let g = gl_project(mode);
        g.rotate();
        let new = g.one_live_in_vault();
        assert_eq!(new.previous, Some(g.first.id), "{mode:?}");
        let a = g.admin.as_ref().unwrap();
        assert_eq!(
            g.calls(&[(g.first.id, "OLD"), (new.id, "NEW"), (a.id, "ADMIN")]),
            [
                "GET /api/v4/personal_access_tokens/self by OLD".to_string(),
                format!("POST /api/v4/{collection}/OLD/rotate by ADMIN"),
                "GET /api/v4/personal_access_tokens/self by NEW".to_string(),
                "GET /api/v4/personal_access_tokens/self by revoked:OLD".to_string(),
            ],
            "{mode:?}"
        );
    }
}

#[test]
fn gitlab_plugin_calling_a_host_not_granted_is_stopped() {
    let g = gl_project(Mode::SelfPersonal);
    let cfg = g.env.read(".gsec.yaml").replace(
        &format!("hosts: ['{}']", g.gl.url),
        "hosts: ['http://127.0.0.1:9']",
    );
    g.env.write(".gsec.yaml", &cfg);
    let before = std::fs::read(g.env.path(ENV_FILE)).unwrap();
    let err = g.env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(
        err.contains("denied") && err.contains("not granted"),
        "{err}"
    );
    assert!(g.gl.calls().is_empty(), "no request reached the fake");
    assert_eq!(std::fs::read(g.env.path(ENV_FILE)).unwrap(), before);
    assert_eq!(g.one_live_in_vault().id, g.first.id);
    let out = g.env.ok(&["plugin", "inspect", "plugins/gitlab.wasm"]);
    assert!(out.contains("gitlab.com"), "{out}");
}

#[test]
fn provider_errors_are_clear_redacted_and_change_nothing() {
    // 429 with Retry-After: waited for, then the rotation goes through.
    let g = gl_project(Mode::SelfPersonal);
    g.gl.fail(
        "POST /api/v4/personal_access_tokens/self/rotate",
        429,
        Some(1),
        1,
    );
    g.rotate();
    assert_eq!(
        g.gl.count("POST /api/v4/personal_access_tokens/self/rotate"),
        2
    );
    assert_ne!(g.one_live_in_vault().id, g.first.id);

    for (status, expect) in [
        (
            401,
            "HTTP 401 (the token was rejected: revoked, expired or wrong)",
        ),
        (403, "HTTP 403 (the token lacks permission or scope)"),
    ] {
        let g = gl_project(Mode::AdminProject);
        let before = std::fs::read(g.env.path(ENV_FILE)).unwrap();
        g.gl.fail("POST /api/v4/projects/", status, None, 100);
        let err = g.env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
        assert!(
            err.contains(&format!(
                "POST /projects/{PROJECT}/access_tokens/{}/rotate: {expect}: injected failure",
                g.first.id
            )),
            "{err}"
        );
        assert_no_secret(&err, &g.first.value);
        assert_no_secret(&err, &g.admin.as_ref().unwrap().value);
        assert_eq!(std::fs::read(g.env.path(ENV_FILE)).unwrap(), before);
        assert_eq!(g.one_live_in_vault().id, g.first.id, "nothing rotated");
    }

    // A 5xx that does not stop: "retry later", `--resume` finishes.
    let g = gl_project(Mode::AdminProject);
    g.gl.fail("POST /api/v4/projects/", 502, None, 100);
    let err = g.env.fails(&["rotate", NAME, "--env", ENV], b"", 2);
    assert!(err.contains("HTTP 502 (after 4 attempts)"), "{err}");
    g.gl.clear_fail();
    g.env.ok(&["rotate", "--resume"]);
    assert_ne!(g.one_live_in_vault().id, g.first.id);
}

/// The old token is gone once the rotate call returns, so a verification
/// that fails never rolls back (that would leave no working token): it
/// stays pending until `--resume` can check.
#[test]
fn failed_verification_keeps_the_new_token_pending() {
    let g = gl_project(Mode::AdminProject);
    kill_at(&g.env, &["rotate", NAME, "--env", ENV], "journaled");
    g.gl.fail("GET /api/v4/personal_access_tokens/self", 401, None, 1);
    let err = g.env.fails(&["rotate", "--resume"], b"", 2);
    assert!(
        err.contains("keeps the new one pending") && err.contains("--resume"),
        "{err}"
    );
    assert_eq!(g.env.get(NAME, ENV), g.first.value, "not promoted yet");
    assert_eq!(g.family().len(), 1, "the new token is not revoked");
    g.env.ok(&["rotate", "--resume"]);
    assert_ne!(g.one_live_in_vault().id, g.first.id);
}

/// Kill after `point`, resume: one live token of the family, a new one, in
/// the vault; resuming again calls nothing; the next rotation works.
/// `prime`: rotate once first, so gsec's journal knows the token's id.
fn crash_and_resume(mode: Mode, point: &str, prime: bool) {
    let g = gl_project(mode);
    if prime {
        g.rotate();
    }
    let before = g.env.get(NAME, ENV);
    kill_at(&g.env, &["rotate", NAME, "--env", ENV], point);
    assert_eq!(
        g.family().len(),
        1,
        "single-phase: one live token when killed after '{point}'"
    );
    let err = g.env.ok(&["rotate", "--resume"]);
    assert!(err.is_empty(), "{err}");
    let new = g.one_live_in_vault();
    assert_ne!(new.value, before, "rotated after resuming from '{point}'");
    if point == "created" {
        assert_eq!(
            g.gl.calls()
                .iter()
                .filter(|c| c.contains("state=active"))
                .count(),
            1,
            "the successor was looked up: {:?}",
            g.gl.calls()
        );
    }
    let n = g.gl.calls().len();
    let out = g.env.run_in(&["rotate", "--resume"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rotation to resume"));
    assert_eq!(g.gl.calls().len(), n, "nothing called");
    g.rotate();
    assert_ne!(g.one_live_in_vault().value, new.value);
}

#[test]
fn gitlab_crash_after_started() {
    crash_and_resume(Mode::AdminProject, "started", false);
}

/// The window the journal cannot close: GitLab revoked the old token and
/// made a new one whose value died with the process. The admin finds that
/// successor (same name and owner, a higher id) and rotates it.
#[test]
fn gitlab_crash_after_created_recovers_through_the_admin_token() {
    crash_and_resume(Mode::AdminProject, "created", true);
}

#[test]
fn gitlab_personal_crash_after_created_recovers_through_the_admin_token() {
    crash_and_resume(Mode::AdminPersonal, "created", true);
}

#[test]
fn gitlab_crash_after_journaled() {
    crash_and_resume(Mode::AdminProject, "journaled", false);
}

#[test]
fn gitlab_crash_after_verified() {
    crash_and_resume(Mode::SelfPersonal, "verified", false);
}

#[test]
fn gitlab_crash_after_promoted() {
    crash_and_resume(Mode::SelfPersonal, "promoted", false);
}

#[test]
fn gitlab_crash_after_revoked() {
    crash_and_resume(Mode::AdminGroup, "revoked", false);
}

/// A token rotating itself cannot be recovered after that window: nothing
/// can authenticate as the lost token. gsec says so, and GitLab's reuse
/// detection (the retried rotate call with the revoked token) revokes the
/// lost token, so no unknown credential stays live. The vault keeps the old
/// value; `--abort` clears the entry.
#[test]
fn gitlab_self_crash_after_created_is_reported_and_leaves_no_unknown_token() {
    let g = gl_project(Mode::SelfPersonal);
    kill_at(&g.env, &["rotate", NAME, "--env", ENV], "created");
    assert_eq!(g.family().len(), 1, "the lost token is live");
    let err = g.env.fails(&["rotate", "--resume"], b"", 2);
    assert!(
        err.contains("reuse detection") && err.contains("Make a new token in GitLab"),
        "{err}"
    );
    assert_no_secret(&err, &g.first.value);
    assert!(g.family().is_empty(), "the lost token was revoked");
    assert_eq!(g.env.get(NAME, ENV), g.first.value);
    g.env.ok(&["rotate", NAME, "--env", ENV, "--abort"]);
}
