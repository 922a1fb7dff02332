//! Issue 11: hostile input — no panic, no leak, no lost write, no file gsec
//! could not read back — through the binary.

use std::process::{Command, Stdio};

use crate::common::{BIN, Env, assert_no_secret, sops_decrypt};
use crate::envs::editor;

const DEV: &str = "secrets/development.yaml";

/// `text` with `extra` inserted right after the first `line` in it.
fn insert_after_line(text: &str, line: &str, extra: &str) -> String {
    let i = text
        .find(line)
        .unwrap_or_else(|| panic!("{line:?} in {text}"))
        + line.len();
    format!("{}{extra}{}", &text[..i], &text[i..])
}

#[test]
fn a_secret_named_sops_is_refused_everywhere() {
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    let before = e.read(DEV);
    for name in ["sops", "SOPS"] {
        let err = e.fails(&["set", name], b"value", 2);
        assert!(
            err.contains("cannot be a secret name") && err.contains("metadata"),
            "{err}"
        );
    }
    e.write("in.env", "B=bravo\nsops=oops\n");
    let err = e.fails(&["import", "in.env"], b"", 2);
    assert!(
        err.contains("in.env:2") && err.contains("metadata"),
        "{err}"
    );
    let ed = editor(&e, "ed.sh", "printf 'sops: oops\\n' >> \"$1\"");
    let mut c = e.cmd(&["edit"]);
    c.env("EDITOR", &ed);
    let out = e.run_cmd(c, b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metadata"));
    assert_eq!(e.read(DEV), before, "nothing was written");
    assert_eq!(e.get("A", "development"), "alpha-value");

    // A file an older gsec broke this way: a clear error, not a YAML riddle.
    e.write(DEV, &format!("sops: oops\n{before}"));
    let err = e.fails(&["rm", "sops", "--env", "development"], b"", 2);
    assert!(
        err.contains(DEV) && err.contains("collides with the sops metadata"),
        "{err}"
    );
}

#[test]
fn concurrent_recipient_adds_all_land() {
    let e = Env::project();
    e.set("SEED", "development", "seed-value");
    let keys: Vec<String> = (0..10).map(|i| e.other_key(&format!("k{i}")).1).collect();
    let children: Vec<_> = keys
        .iter()
        .map(|k| {
            let mut c = e.cmd(&["recipients", "add", k]);
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            c.spawn().unwrap()
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
    let cfg = e.read(".gsec.yaml");
    for k in &keys {
        assert!(cfg.contains(k.as_str()), "{k} lost from .gsec.yaml:\n{cfg}");
    }
    // The last re-wrap saw the final configuration: every file is
    // encrypted to exactly the configured recipients.
    let out = e.run_in(&["check"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let file = e.read(DEV);
    for k in &keys {
        assert!(file.contains(k.as_str()), "{k} cannot decrypt {DEV}");
    }
}

#[test]
fn deep_and_huge_yaml_is_refused_before_parsing() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let cfg = e.read(".gsec.yaml");
    let bomb = format!("A: {}\n", "[".repeat(81 * 1024));
    let deep = |err: &str, file: &str| {
        assert!(
            err.contains(file) && err.contains("nested more than 64 levels"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    };
    // An environment file.
    e.write(DEV, &bomb);
    deep(&e.fails(&["get", "A"], b"", 2), DEV);
    deep(&e.fails(&["set", "B"], b"bravo", 2), DEV);
    assert_eq!(e.read(DEV), bomb, "a refused file is left as it was");
    // The local overrides.
    e.write(".gsec.local.yaml", &bomb);
    deep(
        &e.fails(&["get", "A", "--env", "local"], b"", 2),
        ".gsec.local.yaml",
    );
    // The configuration.
    e.write(
        ".gsec.yaml",
        &format!("{cfg}x: {}\n", "{".repeat(81 * 1024)),
    );
    deep(&e.fails(&["list"], b"", 2), ".gsec.yaml");
    // Size: bounded before reading it all.
    e.write(".gsec.yaml", &format!("{cfg}# {}\n", "x".repeat(1 << 20)));
    let err = e.fails(&["list"], b"", 2);
    assert!(
        err.contains(".gsec.yaml") && err.contains("1 MiB limit"),
        "{err}"
    );
}

#[test]
fn configured_paths_must_be_bounded_regular_files() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    // A template that is a device: reported by `check`, never read.
    e.write(".gsec.yaml", &format!("{cfg}templates:\n- /dev/zero\n"));
    let out = e.run_in(&["check"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("/dev/zero") && text.contains("not a regular file"),
        "{text}"
    );
    // A plugin that is a device: `doctor` and `plugin list` refuse to read it.
    e.write(
        ".gsec.yaml",
        &format!(
            "{cfg}plugins:\n  zero:\n    path: /dev/zero\n    sha256: {}\n",
            "0".repeat(64)
        ),
    );
    let out = e.run_in(&["doctor"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("plugin zero") && text.contains("not a regular file"),
        "{text}"
    );
    let out = e.run_in(&["plugin", "list", "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["pin"], "missing", "{rows}");
}

#[test]
fn environment_files_stay_inside_the_repository() {
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    let with_file = |file: &str| {
        cfg.replace(
            "  development:\n",
            &format!("  development:\n    file: {file}\n"),
        )
    };
    for (file, why) in [
        ("../../x.yaml", "`..`"),
        (".git/hooks/post-checkout", "inside .git"),
        ("sub/.GIT/config", "inside .git"),
        ("/tmp/abs.yaml", "absolute"),
    ] {
        e.write(".gsec.yaml", &with_file(file));
        let err = e.fails(&["set", "A"], b"alpha", 2);
        assert!(
            err.contains(".gsec.yaml")
                && err.contains("environments.development.file")
                && err.contains(why),
            "{file}: {err}"
        );
        // Every command refuses the configuration, not just writers.
        e.fails(&["list"], b"", 2);
    }
    assert!(!e.tmp.path().join("x.yaml").exists());
    assert!(!e.path(".git/hooks/post-checkout").exists());

    // Symlinks that leave the root, or lead into .git.
    e.write(".gsec.yaml", &cfg);
    let outside = e.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, e.path("secrets")).unwrap();
    let err = e.fails(&["set", "A"], b"alpha", 2);
    assert!(err.contains("outside the project root"), "{err}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    std::fs::remove_file(e.path("secrets")).unwrap();
    std::os::unix::fs::symlink(e.path(".git"), e.path("secrets")).unwrap();
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(err.contains("inside .git"), "{err}");
    assert!(!e.path(".git/development.yaml").exists());
    // A symlink that stays inside is fine.
    std::fs::remove_file(e.path("secrets")).unwrap();
    std::fs::create_dir_all(e.path("real")).unwrap();
    std::os::unix::fs::symlink("real", e.path("secrets")).unwrap();
    e.set("A", "development", "alpha");
    assert_eq!(e.get("A", "development"), "alpha");
}

#[test]
fn duplicate_keys_are_refused_in_every_file() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let cfg = e.read(".gsec.yaml");
    // A hidden second `team:` would add a recipient.
    let (_, mallory) = e.other_key("mallory");
    e.write(
        ".gsec.yaml",
        &insert_after_line(&cfg, "recipients:\n", &format!("  team:\n  - {mallory}\n")),
    );
    let err = e.fails(&["updatekeys"], b"", 2);
    assert!(
        err.contains(".gsec.yaml") && err.contains("duplicate entry with key \"team\""),
        "{err}"
    );
    assert!(!e.read(DEV).contains(&mallory));
    e.write(".gsec.yaml", &cfg);
    // The local overrides.
    e.write(".gsec.local.yaml", "A: one\nB: x\nA: two\n");
    let err = e.fails(&["get", "A", "--env", "local"], b"", 2);
    assert!(
        err.contains(".gsec.local.yaml") && err.contains("duplicate entry with key \"A\""),
        "{err}"
    );
    assert_no_secret(&err, "two");
    std::fs::remove_file(e.path(".gsec.local.yaml")).unwrap();
    // An environment file: the same YAML key twice, or two keys that are
    // the same sops path (`1` and `"1"`).
    let file = e.read(DEV);
    let a_line = file.lines().find(|l| l.starts_with("A: ")).unwrap();
    e.write(DEV, &format!("{a_line}\n{file}"));
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(
        err.contains(DEV) && err.contains("duplicate entry with key \"A\""),
        "{err}"
    );
    e.write(DEV, &format!("1: x\n\"1\": y\n{file}"));
    let err = e.fails(&["list"], b"", 2);
    assert!(
        err.contains(DEV) && err.contains("duplicate key `1`"),
        "{err}"
    );
}

#[test]
fn control_characters_from_files_are_escaped_in_human_output() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let file = e.read(DEV);
    // A key name that would set the terminal title, turn text red, ring
    // the bell and forge a line of output; its value is left unencrypted
    // so that opening the file fails with a message naming the key.
    let evil = "\"\\e]0;pwned\\a\\e[31mEVIL\\r\\ngsec: check passed\": x\n";
    e.write(DEV, &format!("{evil}{file}"));
    for args in [&["list"][..], &["check"][..]] {
        let out = e.run_in(args, b"");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Not name-shaped: named `…`, never printed (escaped or not).
        assert!(
            all.contains(DEV) && all.contains("key `…`"),
            "{args:?}: {all}"
        );
        for bad in ['\x1b', '\x07', '\r'] {
            assert!(!all.contains(bad), "{args:?} printed {bad:?}: {all:?}");
        }
        assert!(!all.contains("EVIL"), "{args:?}: {all}");
        assert!(
            !all.lines().any(|l| l.starts_with("gsec: check passed")),
            "{args:?} forged a line: {all}"
        );
    }
    // Errors on stderr too.
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(!err.contains('\x1b') && !err.contains("EVIL"), "{err:?}");

    // The same key encrypted by sops (which takes any key): the file opens,
    // and `list` shows the key escaped.
    let plain = e.tmp.path().join("plain.yaml");
    std::fs::write(
        &plain,
        "\"\\e]0;pwned\\a\\e[31mEVIL\\r\\ngsec check passed\": x\nA: alpha\n",
    )
    .unwrap();
    let mut c = Command::new(crate::common::tool("sops"));
    c.args([
        "encrypt",
        "--age",
        &e.recipient,
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
    ])
    .arg(&plain)
    .current_dir(&e.dir);
    e.clean_env(&mut c);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e.write(DEV, &String::from_utf8(out.stdout).unwrap());
    let all = e.ok(&["list"]);
    assert!(
        all.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[31mEVIL"),
        "{all}"
    );
    for bad in ['\x1b', '\x07', '\r'] {
        assert!(!all.contains(bad), "list printed {bad:?}: {all:?}");
    }
    assert!(
        !all.lines().any(|l| l.starts_with("gsec check passed")),
        "{all}"
    );
}

#[test]
fn values_are_never_stored_unencrypted() {
    let e = Env::project();
    // gsec's own files keep sops' default `unencrypted_suffix`.
    let err = e.fails(&["set", "API_TOKEN_unencrypted"], b"tok-value-123", 2);
    assert!(
        err.contains(DEV) && err.contains("unencrypted_suffix"),
        "{err}"
    );
    assert_no_secret(&err, "tok-value-123");
    assert!(!e.path(DEV).exists(), "nothing was written");
    e.set("A", "development", "alpha");
    let before = e.read(DEV);
    e.write("in.env", "B=bravo\nPUBLIC_unencrypted=tok-value-123\n");
    let err = e.fails(&["import", "in.env"], b"", 2);
    assert!(err.contains("unencrypted_suffix"), "{err}");
    let ed = editor(
        &e,
        "ed.sh",
        "printf 'DB:\\n  password_unencrypted: tok-value-123\\n' >> \"$1\"",
    );
    let mut c = e.cmd(&["edit"]);
    c.env("EDITOR", &ed);
    let out = e.run_cmd(c, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("DB.password_unencrypted"), "{err}");
    assert_eq!(e.read(DEV), before);
    assert!(!e.read(DEV).contains("tok-value-123"));

    // A file whose `encrypted_regex` only covers `data` (as sops writes for
    // Kubernetes secrets): any other name would be stored in clear.
    // (The rules are not under the MAC, so this edit keeps the file valid.)
    const PROD: &str = "secrets/production.yaml";
    e.set("data", "production", "d");
    let file = e.read(PROD);
    let with_regex = file.replace(
        "    unencrypted_suffix: _unencrypted\n",
        "    encrypted_regex: ^data$\n",
    );
    assert_ne!(with_regex, file);
    e.write(PROD, &with_regex);
    let err = e.fails(
        &["set", "PASSWORD", "--env", "production"],
        b"tok-value-123",
        2,
    );
    assert!(
        err.contains("encrypted_regex") && err.contains(PROD),
        "{err}"
    );
    assert!(!e.read(PROD).contains("tok-value-123"));
    // Names the setting encrypts still work.
    e.set("data", "production", "d2");
    assert_eq!(e.get("data", "production"), "d2");
}

/// The data key of a gsec-written file, unwrapped with the test identity
/// (for crafting authentic files that gsec must still refuse).
fn data_key(e: &Env, file: &str) -> gsec::vault::crypto::DataKey {
    use std::io::Read;
    const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
    const END: &str = "-----END AGE ENCRYPTED FILE-----";
    let text = e.read(file);
    let (start, end) = (
        text.find(BEGIN).unwrap(),
        text.find(END).unwrap() + END.len(),
    );
    let armored = text[start..end]
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    let id: age::x25519::Identity = std::fs::read_to_string(&e.key)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .parse()
        .unwrap();
    let mut ct = Vec::new();
    age::armor::ArmoredReader::new(armored.as_bytes())
        .read_to_end(&mut ct)
        .unwrap();
    gsec::vault::crypto::DataKey::from_slice(&age::decrypt(&id, &ct).unwrap()).unwrap()
}

#[test]
fn a_value_that_does_not_parse_as_its_type_is_refused() {
    use gsec::vault::crypto::{MacHasher, ValueType, encrypt};
    let e = Env::project();
    e.set("A", "development", "alpha");
    let key = data_key(&e, DEV);
    let pristine = e.read(DEV);
    let lastmodified = pristine
        .lines()
        .find_map(|l| l.strip_prefix("    lastmodified: "))
        .unwrap()
        .trim_matches(['"', '\''])
        .to_string();
    // An authentic file (valid tag, valid MAC) whose `A` says type:int.
    let craft = |ty: ValueType| {
        let mut mac = MacHasher::default();
        mac.update(b"not-a-number");
        let mac = encrypt(&key, mac.finish().as_bytes(), ValueType::Str, &lastmodified);
        pristine
            .lines()
            .map(|l| {
                if l.starts_with("A: ") {
                    format!("A: {}", encrypt(&key, b"not-a-number", ty, "A:"))
                } else if l.starts_with("    mac: ") {
                    format!("    mac: {mac}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    // The crafting is right: as a string, gsec reads it.
    e.write(DEV, &craft(ValueType::Str));
    assert_eq!(e.get("A", "development"), "not-a-number");
    e.write(DEV, &craft(ValueType::Int));
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(err.contains(DEV) && err.contains("type:int"), "{err}");
    assert_no_secret(&err, "not-a-number");
}

#[test]
fn multibyte_recipient_labels_do_not_crash() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let pristine = e.read(DEV);
    let (mallory, _) = e.other_key("mallory");
    let ours = format!("recipient: {}", e.recipient);
    assert!(pristine.contains(&ours));
    for (label, shown) in [
        ("aéééééééé", "aéééééééé"),
        ("ééééééééééééééééééééé€", "éééééééééé"),
        ("ssh-ed25519 AAAA€€€€", "AAAA€€€€"),
    ] {
        e.write(
            DEV,
            &pristine.replace(&ours, &format!("recipient: {label}")),
        );
        for args in [&["check"][..], &["doctor"], &["get", "A"], &["list"]] {
            let out = e.run_in(args, b"");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(101), "{label} {args:?}: {err}");
            assert!(!err.contains("panicked"), "{label} {args:?}: {err}");
        }
        // Someone who is not a recipient is told who is, label shortened.
        let mut c = e.cmd(&["get", "A"]);
        c.env("GSEC_AGE_KEY_FILE", &mallory);
        let out = e.run_cmd(c, b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{label}: {err}");
        assert!(err.contains(shown), "{label}: {err}");
    }
}

#[test]
fn a_corrupt_age_stanza_is_called_corrupt() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let text = e.read(DEV);
    let begin = text.find("-----BEGIN AGE ENCRYPTED FILE-----\n").unwrap();
    let body = text[begin..].find('\n').unwrap() + begin + 1;
    let line_end = text[body..].find('\n').unwrap() + body;
    let i = (body + line_end) / 2;
    let mut b = text.into_bytes();
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    e.write(DEV, &String::from_utf8(b).unwrap());
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(err.contains(DEV) && err.contains("corrupt"), "{err}");
    assert!(!err.contains("is not among"), "{err}");
}

/// `gsec edit` with an editor that records the temp file's path and waits.
fn edit_waiting(
    e: &Env,
    marker: &std::path::Path,
    runtime: &std::path::Path,
) -> std::process::Child {
    let ed = editor(
        e,
        "wait.sh",
        &format!("echo \"$1\" > {}\nsleep 30", marker.display()),
    );
    let mut c = e.cmd(&["edit"]);
    c.env("EDITOR", &ed)
        .env("XDG_RUNTIME_DIR", runtime)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().unwrap()
}

#[test]
fn edit_removes_the_decrypted_file_on_sigterm_and_sighup() {
    use nix::sys::signal::{Signal, kill};
    for sig in [Signal::SIGTERM, Signal::SIGHUP] {
        let e = Env::project();
        e.set("A", "development", "alpha-value");
        let runtime = e.tmp.path().join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        let marker = e.tmp.path().join("path.txt");
        let mut child = edit_waiting(&e, &marker, &runtime);
        // Wait (bounded) for the editor to have the file open.
        let mut path = String::new();
        for _ in 0..200 {
            if let Ok(p) = std::fs::read_to_string(&marker)
                && !p.trim().is_empty()
            {
                path = p.trim().to_string();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert!(!path.is_empty(), "the editor never started");
        assert!(std::path::Path::new(&path).exists());
        kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + sig as i32), "{sig:?}");
        assert!(
            !std::path::Path::new(&path).exists(),
            "{path} left behind after {sig:?}"
        );
        assert_eq!(std::fs::read_dir(&runtime).unwrap().count(), 0);
    }
}

#[test]
fn an_edit_that_cannot_be_applied_is_kept_encrypted() {
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    // The editor changes A while someone else changes the file meanwhile.
    let ed = editor(
        &e,
        "race.sh",
        &format!(
            "sed -i 's/^A: .*/A: typed-by-me/' \"$1\"\nprintf other | GSEC_AGE_KEY_FILE={} {} -C {} set B",
            e.key.display(),
            BIN,
            e.dir.display()
        ),
    );
    let mut c = e.cmd(&["edit"]);
    c.env("EDITOR", &ed);
    let out = e.run_cmd(c, b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changed by someone else"), "{err}");
    assert!(err.contains(".development.gsec-recovered.yaml"), "{err}");
    assert_no_secret(&err, "typed-by-me");
    let kept = e.read("secrets/.development.gsec-recovered.yaml");
    assert!(kept.contains("ENC[AES256_GCM") && !kept.contains("typed-by-me"));
    let out = sops_decrypt(&e, &e.key, "secrets/.development.gsec-recovered.yaml");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("typed-by-me"),
        "{out:?}"
    );
}

#[test]
fn a_lock_held_too_long_is_an_error_naming_it() {
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    let lock = e.path("secrets/.development.yaml.lock");
    // Another process holds the file's lock (flock(1), the same flock(2)).
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    // Give flock(1) the lock before gsec asks for it (bounded wait).
    for _ in 0..100 {
        let mut probe = e.cmd(&["set", "B"]);
        probe.env("GSEC_LOCK_TIMEOUT", "0");
        let out = e.run_cmd(probe, b"x-probe-value");
        if !out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut c = e.cmd(&["set", "A"]);
    c.env("GSEC_LOCK_TIMEOUT", "0.3");
    let out = e.run_cmd(c, b"new-value");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".development.yaml.lock") && err.contains("GSEC_LOCK_TIMEOUT"),
        "{err}"
    );
    assert_eq!(e.get("A", "development"), "alpha-value");
}

/// The first 16 hex digits of sha256(secret): the old, guessable form.
fn unkeyed_hash(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))[..16].to_string()
}

#[test]
fn fingerprints_are_keyed_and_old_ignores_migrate() {
    let e = Env::project();
    let pw = "Summer2024!xy";
    e.write("app.py", &format!("password = \"{pw}\"\n"));
    let plain = unkeyed_hash(pw);
    // Every format, and a written baseline: no hash of the secret alone.
    let mut fps = Vec::new();
    for format in ["json", "sarif", "github", "human"] {
        let out = e.run_in(&["scan", "--no-managed", "--format", format, "app.py"], b"");
        assert_eq!(out.status.code(), Some(1), "{format}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains(&plain), "{format}: {text}");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            fps.push(
                v["findings"][0]["fingerprint"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    e.ok(&[
        "scan",
        "--no-managed",
        "--baseline-write",
        "base.txt",
        "app.py",
    ]);
    assert!(!e.read("base.txt").contains(&plain));
    assert!(e.read("base.txt").contains(&fps[0]));
    // Keyed per repository: another project's key gives another
    // fingerprint, and GSEC_FINGERPRINT_KEY (a CI secret) overrides both.
    let other = Env::project();
    other.write("app.py", &format!("password = \"{pw}\"\n"));
    let v: serde_json::Value = serde_json::from_slice(
        &other
            .run_in(&["scan", "--no-managed", "--format", "json", "app.py"], b"")
            .stdout,
    )
    .unwrap();
    assert_ne!(v["findings"][0]["fingerprint"].as_str().unwrap(), fps[0]);
    let mut c = e.cmd(&["scan", "--no-managed", "--format", "json", "app.py"]);
    c.env("GSEC_FINGERPRINT_KEY", "a CI secret");
    let v: serde_json::Value = serde_json::from_slice(&e.run_cmd(c, b"").stdout).unwrap();
    assert_ne!(v["findings"][0]["fingerprint"].as_str().unwrap(), fps[0]);

    // An old, unkeyed .gsecignore entry still allows its finding, with a
    // warning (an error under --strict) until it is migrated.
    let old = format!("generic-secret:app.py:{plain}");
    let stale = "generic-secret:gone.py:0123456789abcdef";
    e.write(".gsecignore", &format!("# accepted\n{old}\n{stale}\n"));
    let out = e.run_in(&["scan", "--no-managed", "app.py"], b"");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--migrate-ignores"), "{err}");
    let err = e.fails(&["scan", "--strict", "app.py"], b"", 2);
    assert!(err.contains("--strict"), "{err}");
    let out = e.run_in(
        &["scan", "--no-managed", "--migrate-ignores", "app.py"],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 fingerprint(s) migrated")
            && err.contains("1 old fingerprint(s) matched no finding"),
        "{err}"
    );
    let ignore = e.read(".gsecignore");
    assert_eq!(ignore, format!("# accepted\n{}\n{stale}\n", fps[0]));
    // Drop the stale entry: no warning, and still allowed.
    e.write(".gsecignore", &format!("{}\n", fps[0]));
    let out = e.run_in(&["scan", "--strict", "app.py"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A project from before keys gets one written by the migration.
    let cfg = e.read(".gsec.yaml");
    let without: String = cfg
        .lines()
        .filter(|l| !l.contains("fingerprint_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    let without = without.replace("scan:\n", "");
    e.write(".gsec.yaml", &without);
    e.write(".gsecignore", &format!("{old}\n"));
    let out = e.run_in(
        &["scan", "--no-managed", "--migrate-ignores", "app.py"],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(e.read(".gsec.yaml").contains("fingerprint_key: "));
    assert!(!e.read(".gsecignore").contains(&plain));
    e.ok(&["scan", "--strict", "app.py"]);

    // Without a project, nothing keys the hash but gsec's public key: never
    // silently — the report says so (an error under --strict) unless
    // GSEC_FINGERPRINT_KEY is set.
    let bare = Env::new();
    bare.write("app.py", &format!("password = \"{pw}\"\n"));
    let out = bare.run_in(&["scan", "--format", "github", "app.py"], b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("::warning") && text.contains("GSEC_FINGERPRINT_KEY"),
        "{text}"
    );
    bare.fails(&["scan", "--strict", "app.py"], b"", 2);
    let mut c = bare.cmd(&["scan", "--strict", "--format", "json", "app.py"]);
    c.env("GSEC_FINGERPRINT_KEY", "a CI secret");
    let out = bare.run_cmd(c, b"");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn long_inheritance_chains_resolve_in_linear_time() {
    // 4,000 chained environments took 44 s when each validation walked
    // every chain with a list lookup (cubic); linear now, so this runs in
    // well under a second. A cycle at the end of a long chain is named.
    let e = Env::project();
    let cfg = e.read(".gsec.yaml");
    let mut envs = String::from("environments:\n  development:\n    recipients: [team]\n");
    for k in 0..4000 {
        let parent = if k == 0 {
            "development".to_string()
        } else {
            format!("e{}", k - 1)
        };
        envs.push_str(&format!("  e{k}:\n    inherit: {parent}\n"));
    }
    let start = cfg.find("environments:\n").unwrap();
    let end = cfg.find("\nscan:").unwrap() + 1;
    let chained = format!("{}{envs}{}", &cfg[..start], &cfg[end..]);
    e.write(".gsec.yaml", &chained);
    e.set("DEEP", "development", "inherited-through-4000");
    assert_eq!(e.get("DEEP", "e3999"), "inherited-through-4000");
    e.ok(&["check"]);
    // Close the chain into a cycle: one line naming it.
    e.write(
        ".gsec.yaml",
        &chained.replace(
            "  e0:\n    inherit: development\n",
            "  e0:\n    inherit: e3999\n    recipients: []\n",
        ),
    );
    let err = e.fails(&["check"], b"", 2);
    assert!(
        err.contains("inheritance cycle") && err.contains("(4000 environments)"),
        "{err}"
    );
    assert!(err.len() < 300, "{err}");
    assert_eq!(err.trim().lines().count(), 1);
}

#[test]
fn files_behind_a_nul_byte_or_over_5_mb_are_scanned_by_the_hook() {
    let e = Env::project();
    let t = crate::common::fake_github_token();
    let mut nul = b"\x00".to_vec();
    nul.extend_from_slice(format!("token: {t}\n").as_bytes());
    std::fs::write(e.path("first-byte-nul.txt"), nul).unwrap();
    let mut big = "x = 1\n".repeat(6 << 20 >> 3);
    big.push_str(&format!("token = \"{t}\"\n"));
    e.write("dump.sql", &big);
    e.git(&["add", "first-byte-nul.txt", "dump.sql"]);
    let out = e.run_in(&["scan", "--staged", "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"first-byte-nul.txt") && files.contains(&"dump.sql"),
        "{v}"
    );
    assert_no_secret(&String::from_utf8_lossy(&out.stdout), &t);
}

#[test]
fn an_unencrypted_value_in_an_environment_file_is_a_finding() {
    let e = Env::project();
    e.set("A", "development", "alpha-value-1");
    // A clean gsec-written file: nothing to report.
    e.ok(&["scan", "--no-managed", "secrets"]);
    // Hand-added with sops' unencrypted suffix: the hook, a directory scan
    // and a history scan all report it, without showing the value.
    let leaked = "hunter2-is-plain";
    let text = e.read(DEV).replacen(
        "sops:\n",
        &format!("LEAKED_unencrypted: {leaked}\nsops:\n"),
        1,
    );
    e.write(DEV, &text);
    e.git(&["add", DEV]);
    for args in [
        &["scan", "--no-managed", "--staged"][..],
        &["scan", "--no-managed"][..],
    ] {
        let out = e.run_in(args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("gsec-unencrypted-value") && text.contains("development.yaml"),
            "{text}"
        );
        assert_no_secret(&text, leaked);
    }
    // `gsec check` reports it too (never its value).
    let out = e.run_in(&["check", "--env", "development"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        err.contains("LEAKED_unencrypted is stored unencrypted"),
        "{err}"
    );
    assert_no_secret(&err, leaked);
    e.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "leak",
        "--no-verify",
    ]);
    let out = e.run_in(&["scan", "--no-managed", "--history"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("gsec-unencrypted-value"));
    // In any other sops file, the values sops left in plaintext are
    // scanned like any text (ciphertext and metadata are not).
    let t = crate::common::fake_github_token();
    let other = text.replace(
        &format!("LEAKED_unencrypted: {leaked}"),
        &format!("TOKEN_unencrypted: {t}"),
    );
    e.write("vendor/other.enc.yaml", &other);
    let out = e.run_in(&["scan", "--no-managed", "vendor"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("github-pat") && stdout.contains("other.enc.yaml:"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "ciphertext and metadata are not findings: {stdout}"
    );
}

#[test]
fn structure_is_bound_and_ambiguous_keys_are_refused() {
    let e = Env::project();
    e.set("A", "development", "alpha-value-1");
    e.set("B", "development", "bravo-value-2");
    let good = e.read(DEV);
    assert!(good.contains("gsec_structure_mac: "), "{good}");
    // sops still reads it (it ignores the key).
    let out = sops_decrypt(&e, &e.key, DEV);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `A: ENC[…]` wrapped in a list: the sops MAC still verifies (values
    // are unchanged), gsec's structure MAC does not.
    let a_line = good.lines().find(|l| l.starts_with("A: ")).unwrap();
    let wrapped = good.replace(a_line, &format!("A: ['{}']", &a_line[3..]));
    e.write(DEV, &wrapped);
    for args in [
        &["get", "A"][..],
        &["run", "--", "true"][..],
        &["export"][..],
    ] {
        let err = e.fails(args, b"", 2);
        assert!(err.contains("structure MAC mismatch"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }

    // Keys with ':' are refused on read, at any depth.
    let colon = good.replacen("B: ", "\"a:b\": ", 1);
    e.write(DEV, &colon);
    let err = e.fails(&["list"], b"", 2);
    assert!(err.contains(DEV) && err.contains("contains ':'"), "{err}");
    // And never written: a name with ':' is not a secret name, and a nested
    // key with ':' in an edit is refused, the file untouched (found by the
    // sops_file fuzz target: the edit was saved and could not be opened).
    e.write(DEV, &good);
    e.fails(&["set", "a:b"], b"v", 2);
    let ed = editor(&e, "colon.sh", r#"printf 'N:\n  "x:y": v\n' >> "$1""#);
    let mut c = e.cmd(&["edit"]);
    c.env("EDITOR", &ed);
    let out = e.run_cmd(c, b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("contains ':'"),
        "{out:?}"
    );
    assert_eq!(e.read(DEV), good);
    // Nor keys that are one sops path once read: a null key beside an empty
    // one (found by the sops_file fuzz target: the edit buffer gsec wrote
    // did not read back), a number beside its string.
    for (script, what) in [
        (r#"printf 'N:\n  ~: a\n  "": b\n' >> "$1""#, "not a string"),
        (
            r#"printf 'N:\n  1: a\n  "1": b\n' >> "$1""#,
            "duplicate key",
        ),
    ] {
        let ed = editor(&e, "dup.sh", script);
        let mut c = e.cmd(&["edit"]);
        c.env("EDITOR", &ed);
        let out = e.run_cmd(c, b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(err.contains(what), "{err}");
        assert_eq!(e.read(DEV), good);
    }
    // An integer beyond sops' 64-bit int is kept as text: typed `int` it
    // made a file neither sops nor gsec decrypts (seeded fuzz finding).
    let ed = editor(
        &e,
        "big.sh",
        r#"printf 'BIG: 12345677909877654321\n' >> "$1""#,
    );
    let mut c = e.cmd(&["edit"]);
    c.env("EDITOR", &ed);
    let out = e.run_cmd(c, b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(e.get("BIG", "development"), "12345677909877654321");
    let mut c = Command::new(crate::common::tool("sops"));
    c.args(["decrypt", "--extract", "[\"BIG\"]", DEV])
        .current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", &e.key);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "12345677909877654321"
    );

    // The same checks for the git-ignored local override file.
    e.write(".gsec.local.yaml", "N:\n  ~: a\n  \"\": b\n");
    let err = e.fails(&["run", "--env", "local", "--", "true"], b"", 2);
    assert!(
        err.contains(".gsec.local.yaml") && err.contains("not a string"),
        "{err}"
    );
    std::fs::remove_file(e.dir.join(".gsec.local.yaml")).unwrap();

    // A file rewritten by sops loses the structure MAC (sops drops keys it
    // does not know): gsec reads it, and its next write restores it.
    let mut c = Command::new(crate::common::tool("sops"));
    c.args(["set", DEV, "[\"C\"]", "\"charlie-value-3\""])
        .current_dir(&e.dir);
    e.clean_env(&mut c);
    c.env("SOPS_AGE_KEY_FILE", &e.key);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!e.read(DEV).contains("gsec_structure_mac"));
    assert_eq!(e.get("C", "development"), "charlie-value-3");
    e.set("D", "development", "delta-value-4");
    assert!(e.read(DEV).contains("gsec_structure_mac: "));
    assert_eq!(e.get("A", "development"), "alpha-value-1");
}

/// What the fuzz targets found (fuzz/corpus/*/finding-*), through the
/// binary: a parser's error names where it failed, never the text it
/// failed on, in every file gsec reads.
#[test]
fn parser_errors_never_quote_input_text() {
    let e = Env::project();
    e.set("A", "development", "alpha");
    let token = "ghp_thisIsASecretTokenValue1234567890";
    // A .env line that is only a value (no `=`): `gsec import`.
    e.write("in.env", &format!("A=1\n{token}\n"));
    let err = e.fails(&["import", "in.env"], b"", 2);
    assert!(err.contains("in.env:2:"), "{err}");
    assert_no_secret(&err, "thisIsASecret");
    // A sops dotenv environment file with a pasted URL line: the text
    // before its `=` is no name to quote.
    e.write(
        ".gsec.yaml",
        &e.read(".gsec.yaml").replacen(
            "  production:\n",
            "  production:\n    file: secrets/production.env\n",
            1,
        ),
    );
    e.set("B", "production", "beta");
    let file = e.read("secrets/production.env");
    let url = "postgres://app:hunter2-db-password@db.internal/app?sslmode=require";
    e.write("secrets/production.env", &format!("{url}\n{file}"));
    let err = e.fails(&["get", "B", "--env", "production"], b"", 2);
    assert!(
        err.contains("secrets/production.env") && err.contains("line 1"),
        "{err}"
    );
    assert_no_secret(&err, "hunter2");
    e.write("secrets/production.env", &file);
    // .gsec.yaml: a quote in a key path does not uncover the value.
    let cfg = e.read(".gsec.yaml");
    e.write(
        ".gsec.yaml",
        &insert_after_line(&cfg, "recipients:\n", &format!("  'te\"am': '{token}'\n")),
    );
    let err = e.fails(&["list"], b"", 2);
    assert!(err.contains(".gsec.yaml"), "{err}");
    assert_no_secret(&err, "thisIsASecret");
    e.write(".gsec.yaml", &cfg);
    // A number too long for the parser, in each YAML file gsec reads.
    let pin = "1234567890987654321234567890987654321";
    e.write(".gsec.local.yaml", &format!("PIN: {pin}\n"));
    let err = e.fails(&["get", "A", "--env", "local"], b"", 2);
    assert!(err.contains(".gsec.local.yaml"), "{err}");
    assert_no_secret(&err, "1234567890987");
    std::fs::remove_file(e.path(".gsec.local.yaml")).unwrap();
    let dev = e.read(DEV);
    e.write(DEV, &format!("pin: {pin}\n{dev}"));
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(err.contains(DEV), "{err}");
    assert_no_secret(&err, "1234567890987");
    e.write(DEV, &dev);
    // A duplicate key that is not name-shaped (a pasted base64 value), nested in
    // YAML and in a key of its own in JSON: named `…`, never quoted.
    let b64 = "c2VjcmV0LXRva2VuLXZhbHVlLWhlcmU=";
    e.write(DEV, &format!("N:\n  {b64}: 1\n  {b64}: 2\n{dev}"));
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(err.contains(DEV) && err.contains("duplicate"), "{err}");
    assert_no_secret(&err, "c2VjcmV0LXRva2Vu");
    e.write(DEV, &dev);
    e.write(
        ".gsec.yaml",
        &cfg.replacen(
            "  preview:\n",
            "  preview:\n    file: secrets/preview.json\n",
            1,
        ),
    );
    e.set("C", "preview", "charlie");
    let json = e.read("secrets/preview.json");
    let dup = format!("\"N\": {{\"{b64}\": 1, \"{b64}\": 2}},");
    e.write(
        "secrets/preview.json",
        &json.replacen("{", &format!("{{{dup}"), 1),
    );
    let err = e.fails(&["get", "C", "--env", "preview"], b"", 2);
    assert!(
        err.contains("preview.json") && err.contains("duplicate key"),
        "{err}"
    );
    assert_no_secret(&err, "c2VjcmV0LXRva2Vu");
    assert_eq!(e.get("A", "development").trim(), "alpha");
}

/// Outputs the user names may be a named pipe, `/dev/stdout` or a symlink to
/// one: gsec writes into them in place. A rename over them would replace the
/// pipe with a regular file (and, as root, `-o /dev/null` replaced the
/// machine's /dev/null, which broke every later build on it). Files gsec
/// owns are never renamed over a special file either.
#[test]
fn outputs_to_a_pipe_are_written_in_place_never_renamed_over() {
    use std::os::unix::fs::FileTypeExt;
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    let fifo = e.tmp.path().join("out.fifo");
    let link = e.tmp.path().join("out.link");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    for (target, args) in [
        (
            &fifo,
            vec!["export", "--env", "development", "--format", "dotenv", "-o"],
        ),
        (
            &link,
            vec!["export", "--env", "development", "--format", "dotenv", "-o"],
        ),
    ] {
        let reader = {
            let p = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(p).unwrap())
        };
        let mut args: Vec<&str> = args;
        args.push(target.to_str().unwrap());
        e.ok(&args);
        // Checked before joining: a replaced pipe never gets its writer.
        assert!(
            std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
            "the pipe was replaced"
        );
        let got = reader.join().unwrap();
        assert!(got.contains("A=") && got.contains("alpha-value"), "{got}");
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A scan report into the pipe, too.
    e.write("app.env", "NOTHING=here\n");
    let reader = {
        let p = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(p).unwrap())
    };
    e.ok(&[
        "scan",
        "--no-git",
        "--format",
        "json",
        "--output",
        fifo.to_str().unwrap(),
        "app.env",
    ]);
    let got = reader.join().unwrap();
    assert!(
        got.trim_start().starts_with('{') || got.trim_start().starts_with('['),
        "{got}"
    );
    // A baseline is a file gsec keeps: a pipe there is refused, untouched.
    let err = e.fails(
        &[
            "scan",
            "--no-git",
            "--baseline-write",
            fifo.to_str().unwrap(),
            "app.env",
        ],
        b"",
        2,
    );
    assert!(
        err.contains("out.fifo") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// A damaged `sops.encrypted_regex` is named with the reason only: the
/// regex crate's message quotes the pattern (found by fuzzing with text of
/// a value pasted into it).
#[test]
fn a_broken_encrypted_regex_is_named_without_quoting_it() {
    let e = Env::project();
    e.set("A", "development", "alpha-value");
    let text = e.read(DEV);
    let broken = insert_after_line(
        &text,
        "sops:\n",
        "    encrypted_regex: ^(token|neOXog87UytweTix\n",
    );
    e.write(DEV, &broken);
    let err = e.fails(&["get", "A"], b"", 2);
    assert!(
        err.contains("encrypted_regex is not a valid regex: unclosed group"),
        "{err}"
    );
    assert!(!err.contains("neOXog87UytweTix"), "{err}");
    assert_eq!(e.read(DEV), broken);
}
