//! `gsec hook`: a real `git commit` through the installed hook.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{self, Env};

/// `git` with a PATH that has no `gsec` on it, so the hook must use the
/// absolute path it recorded (the binary under test, never another one).
fn git(e: &Env, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(&e.dir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &e.home)
        .env("NO_COLOR", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap()
}

fn commits(e: &Env) -> usize {
    let out = git(e, &["rev-list", "--all", "--count"]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn secret_line() -> String {
    // Built at run time: no key-shaped literal in the test source.
    format!(
        "AWS_SECRET_ACCESS_KEY={}\n",
        "Zk3Q9vW2xP7mR4tY8nB1cD6fH0jL5sA2eG9iK3oU"
    )
}

fn repo() -> Env {
    let e = Env::new();
    e.git(&["init", "-q", "-b", "main"]);
    e
}

#[test]
fn blocks_a_commit_with_a_secret_and_lets_a_clean_one_through() {
    let e = repo();
    e.ok(&["hook", "install"]);
    let hook = e.path(".git/hooks/pre-commit");
    assert!(hook.is_file());
    e.write("README.md", "hello\n");
    git(&e, &["add", "README.md"]);
    let out = git(&e, &["commit", "-qm", "clean"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(commits(&e), 1);

    e.write("deploy.env", &secret_line());
    git(&e, &["add", "deploy.env"]);
    let out = git(&e, &["commit", "-qm", "leak"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "commit went through: {err}");
    assert_eq!(commits(&e), 1, "nothing must be committed");
    assert!(
        err.contains("deploy.env:1:23") && err.contains("aws-secret-access-key"),
        "{err}"
    );
    assert!(
        err.contains("commit blocked")
            && err.contains("gsec set NAME")
            && err.contains("gsec:allow"),
        "{err}"
    );
    common::assert_no_secret(&err, "Zk3Q9vW2xP7mR4tY8nB1cD6fH0jL5sA2eG9iK3oU");
    assert!(err.contains(">> .gsecignore   # deploy.env:1"), "{err}");
    // Two findings: both fingerprints are offered, each naming its place.
    e.write("other.env", &secret_line().replace("Zk3Q9", "Qk4R8"));
    git(&e, &["add", "other.env"]);
    let out = git(&e, &["commit", "-qm", "two leaks"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("# deploy.env:1") && err.contains("# other.env:1"),
        "{err}"
    );
    git(&e, &["rm", "-q", "--cached", "other.env"]);
    // `git commit -a` uses a temporary index (GIT_INDEX_FILE): still caught.
    git(&e, &["reset", "-q"]);
    e.write("README.md", &format!("hello\n{}", secret_line()));
    let out = git(&e, &["commit", "-qam", "leak via -a"]);
    assert!(!out.status.success());
    assert_eq!(commits(&e), 1);
}

#[test]
fn chains_an_existing_hook_and_uninstall_restores_it() {
    let e = repo();
    let hooks = e.path(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let mine = hooks.join("pre-commit");
    std::fs::write(
        &mine,
        "#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/other-hook-ran\"\n",
    )
    .unwrap();
    make_executable(&mine);
    let err = e.fails(&["hook", "install"], b"", 0);
    assert!(err.contains("chained"), "{err}");
    assert!(hooks.join("pre-commit.gsec-chained").is_file());
    e.write("a.txt", "clean\n");
    git(&e, &["add", "a.txt"]);
    let out = git(&e, &["commit", "-qm", "clean"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        e.path(".git/other-hook-ran").is_file(),
        "the chained hook did not run"
    );
    // Installing twice keeps one chain.
    e.ok(&["hook", "install"]);
    assert!(!hooks.join("pre-commit.gsec-chained.gsec-chained").exists());
    e.ok(&["hook", "uninstall"]);
    assert!(
        std::fs::read_to_string(&mine)
            .unwrap()
            .contains("other-hook-ran")
    );
    assert!(!hooks.join("pre-commit.gsec-chained").exists());
    // Not ours: uninstall refuses, exit 2, hook untouched.
    let err = e.fails(&["hook", "uninstall"], b"", 2);
    assert!(err.contains("not gsec's hook"), "{err}");
    assert!(mine.is_file());
    // --force replaces (keeping the old one aside), no chaining.
    e.ok(&["hook", "install", "--force"]);
    assert!(hooks.join("pre-commit.gsec-replaced").is_file());
    assert!(!hooks.join("pre-commit.gsec-chained").exists());
}

#[test]
fn honours_core_hooks_path() {
    let e = repo();
    e.git(&["config", "core.hooksPath", "tools/hooks"]);
    e.ok(&["hook", "install"]);
    assert!(e.path("tools/hooks/pre-commit").is_file());
    assert!(!e.path(".git/hooks/pre-commit").exists());
    e.write("deploy.env", &secret_line());
    git(&e, &["add", "deploy.env"]);
    let out = git(&e, &["commit", "-qm", "leak"]);
    assert!(!out.status.success());
    assert_eq!(commits(&e), 0);
}

#[test]
fn pre_commit_framework_manifest_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".pre-commit-hooks.yaml")).unwrap();
    assert!(
        text.contains("id: gsec")
            && text.contains("entry: gsec scan --staged")
            && text.contains("pass_filenames: false")
    );
    let tool = common::tool("pre-commit");
    let out = Command::new(tool)
        .args(["validate-manifest", ".pre-commit-hooks.yaml"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}
