//! `gsec run`, `gsec export` and `gsec import` end to end: awkward values
//! round-tripping through every consumer (a child's environment, bash,
//! python-dotenv, JSON/YAML parsers, GitHub's environment file), masking
//! across read boundaries, signals and exit codes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::common::{self, BIN, Env};

/// Values that break naive quoting, by variable name.
fn awkward() -> Vec<(&'static str, String)> {
    let mut big = String::new();
    while big.len() < 64 * 1024 {
        big.push_str("0123456789 'sq' \"dq\" $HOME `id` \\n \\ é🔑\n");
    }
    vec![
        ("SQ", "it's 'single' quoted".into()),
        ("DQ", "say \"hi\" \"\"".into()),
        ("NL", "line1\nline2\n\nline4\n".into()),
        ("CRLF", "crlf\r\nline".into()),
        ("DOLLAR", "$HOME $(id) $$ `id` $1 ${PATH}".into()),
        ("BS", "back\\slash \\n \\\\ \\\" \\end".into()),
        ("UNI", "héllo wörld 🔑 日本語 \u{200b}".into()),
        ("HASH", "#not a comment # really".into()),
        ("SPACES", "  padded\t ".into()),
        ("PW_DOLLAR", "pa$$word $HOME $(id)".into()),
        ("WINPATH", "C:\\Users\\me\\x".into()),
        ("BIG", big),
    ]
}

/// Store `value` byte-exactly (stdin would lose a trailing newline).
fn set_exact(env: &Env, name: &str, envname: &str, value: &str) {
    let f = env.tmp.path().join(format!("value-{name}"));
    std::fs::write(&f, value).unwrap();
    env.ok(&[
        "set",
        name,
        "--env",
        envname,
        "--from-file",
        f.to_str().unwrap(),
    ]);
    std::fs::remove_file(f).unwrap();
}

fn project_with_awkward() -> Env {
    let env = Env::project();
    for (k, v) in awkward() {
        set_exact(&env, k, "development", &v);
    }
    env
}

fn parse_env0(out: &[u8]) -> BTreeMap<String, String> {
    out.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let s = String::from_utf8(r.to_vec()).unwrap();
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// bash with the test project's environment (identity, private HOME).
fn bash(env: &Env, script: &str) -> std::process::Output {
    let mut c = Command::new(common::tool("bash"));
    env.clean_env(&mut c);
    c.env("GSEC_AGE_KEY_FILE", &env.key)
        .env("GSEC", BIN)
        .current_dir(&env.dir)
        .args(["-c", script]);
    c.output().unwrap()
}

fn append_config(env: &Env, yaml: &str) {
    let mut cfg = env.read(".gsec.yaml");
    cfg.push_str(yaml);
    env.write(".gsec.yaml", &cfg);
}

// ---------------------------------------------------------------- run

#[test]
fn run_passes_awkward_values_exactly() {
    let env = project_with_awkward();
    let out = env.ok(&["run", "--", "env", "-0"]);
    let seen = parse_env0(out.as_bytes());
    for (k, v) in awkward() {
        assert_eq!(seen.get(k), Some(&v), "{k} through env -0");
    }
    // And through a shell's own expansion.
    let out = env.ok(&[
        "run",
        "--env",
        "development",
        "--",
        "sh",
        "-c",
        "printf %s \"$BIG\"",
    ]);
    assert_eq!(
        out,
        awkward().into_iter().find(|(k, _)| *k == "BIG").unwrap().1
    );
}

#[test]
fn run_flattens_nested_local_overrides_and_inherits() {
    let env = Env::project();
    env.set("shared", "development", "from-development");
    env.set("db", "development", "overridden");
    env.write(
        ".gsec.local.yaml",
        "db:\n  url: postgres://localhost/app\n  port: 5432\n",
    );
    let seen = parse_env0(
        env.ok(&["run", "--env", "local", "--", "env", "-0"])
            .as_bytes(),
    );
    // <ENV_VAR>_<SUFFIX>: the secret's variable name, then the upper-cased path.
    assert_eq!(
        seen.get("db_URL").map(String::as_str),
        Some("postgres://localhost/app")
    );
    assert_eq!(seen.get("db_PORT").map(String::as_str), Some("5432"));
    assert_eq!(
        seen.get("shared").map(String::as_str),
        Some("from-development")
    );
    assert!(
        !seen.contains_key("db"),
        "the local override replaces the inherited value"
    );
}

#[test]
fn run_uses_declared_env_names_and_refuses_invalid_ones() {
    let env = Env::project();
    append_config(&env, "secrets:\n  db-url:\n    env: DATABASE_URL\n");
    env.set("db-url", "development", "postgres://x");
    env.set("api-key", "development", "k-123");
    let seen = parse_env0(env.ok(&["run", "--", "env", "-0"]).as_bytes());
    assert_eq!(
        seen.get("DATABASE_URL").map(String::as_str),
        Some("postgres://x")
    );
    assert_eq!(seen.get("api_key").map(String::as_str), Some("k-123"));

    append_config(&env, "  bad:\n    env: not-a-var\n");
    env.set("bad", "development", "whatever-value");
    let err = env.fails(&["run", "--", "true"], b"", 2);
    assert!(err.contains("'bad'") && err.contains("not-a-var"), "{err}");
    common::assert_no_secret(&err, "whatever-value");
    let err = env.fails(&["export", "--format", "shell"], b"", 2);
    assert!(err.contains("not-a-var"), "{err}");
}

#[test]
fn run_propagates_exit_codes_and_signals_of_the_child() {
    let env = Env::project();
    env.fails(&["run", "--", "sh", "-c", "exit 7"], b"", 7);
    env.fails(&["run", "--", "sh", "-c", "exit 0; "], b"", 0);
    env.fails(&["run", "--", "sh", "-c", "kill -KILL $$"], b"", 128 + 9);
}

#[test]
fn run_command_not_found_is_127_with_one_line() {
    let env = Env::project();
    let err = env.fails(&["run", "--", "gsec-no-such-command-xyz", "arg"], b"", 127);
    assert_eq!(
        err,
        "gsec: error: gsec-no-such-command-xyz: command not found\n"
    );
    let script = env.path("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    env.fails(&["run", "--", script.to_str().unwrap()], b"", 126);
}

#[test]
fn run_passes_stdin_through() {
    let env = Env::project();
    // More than a pipe holds, written from another thread while we read.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut child = env
        .cmd(&["run", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = big.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, big);
    let out = env.run_in(&["run", "--mask", "--", "cat"], b"line one\nline two\n");
    assert_eq!(out.stdout, b"line one\nline two\n");
}

/// Start `gsec run -- sh -c SCRIPT`, wait until it prints `ready`, send
/// `sig` to gsec (not the child), return gsec's exit code.
fn signal_gsec(sig: nix::sys::signal::Signal, script: &str, mask: bool) -> Option<i32> {
    let env = Env::project();
    env.set("token", "development", "signal-test-value");
    let mut args = vec!["run"];
    if mask {
        args.push("--mask");
    }
    args.extend(["--", "sh", "-c", script]);
    let mut child = env
        .cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    let status = child.wait().unwrap();
    status.code()
}

#[test]
fn run_forwards_sigterm_to_the_child_and_exits_with_its_code() {
    use nix::sys::signal::Signal;
    let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done";
    assert_eq!(signal_gsec(Signal::SIGTERM, script, false), Some(42));
    assert_eq!(
        signal_gsec(Signal::SIGTERM, script, true),
        Some(42),
        "with --mask"
    );
}

#[test]
fn run_forwards_the_other_signals() {
    use nix::sys::signal::Signal;
    for (sig, name, code) in [
        (Signal::SIGINT, "INT", 43),
        (Signal::SIGHUP, "HUP", 44),
        (Signal::SIGQUIT, "QUIT", 45),
        (Signal::SIGUSR1, "USR1", 46),
        (Signal::SIGUSR2, "USR2", 47),
    ] {
        let script = format!("trap 'exit {code}' {name}; echo ready; while :; do sleep 0.05; done");
        assert_eq!(signal_gsec(sig, &script, false), Some(code), "SIG{name}");
    }
    // A child that does not trap the signal dies of it: 128 + 15.
    assert_eq!(
        signal_gsec(Signal::SIGTERM, "echo ready; exec sleep 30", false),
        Some(128 + 15)
    );
}

#[test]
fn required_secrets_warn_in_development_and_refuse_in_production() {
    let env = Env::project();
    append_config(
        &env,
        "secrets:\n  api-key:\n    required: true\n  db-password:\n    required: [production]\n",
    );
    env.set("db-password", "production", "prod-db-pass");

    let out = env.run_in(&["run", "--", "sh", "-c", "echo ran"], b"");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"ran\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("api-key") && !err.contains("db-password"),
        "{err}"
    );

    let marker = env.path("ran");
    let err = env.fails(
        &[
            "run",
            "--env",
            "production",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
        b"",
        2,
    );
    assert!(
        err.contains("api-key") && err.contains("production"),
        "{err}"
    );
    assert!(
        !marker.exists(),
        "nothing may run with a required secret missing"
    );
    let err = env.fails(&["export", "--env", "production"], b"", 2);
    assert!(err.contains("api-key"), "{err}");
    // --allow-missing: runs, with the warning.
    let out = env.run_in(
        &[
            "run",
            "--env",
            "production",
            "--allow-missing",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(marker.exists());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("api-key"), "{err}");

    env.set("api-key", "production", "prod-api-key");
    let out = env.ok(&[
        "run",
        "--env",
        "production",
        "--",
        "sh",
        "-c",
        "echo $api_key",
    ]);
    assert_eq!(out, "prod-api-key\n");
}

// ---------------------------------------------------------------- masking

#[test]
fn mask_hides_values_split_across_reads_and_their_base64() {
    let env = Env::project();
    let token = "s3cr3t-t0ken>>value??42";
    env.set("token", "development", token);
    env.set(
        "pem",
        "development",
        "-----BEGIN-----\nAAAAline-two-of-key\n-----END-----",
    );
    let script = r#"
        printf 'a=%s' "$(printf %s "$token" | cut -c1-7)"; sleep 0.3
        printf '%s|\n' "$(printf %s "$token" | cut -c8-)"
        printf 'std=%s\n' "$(printf %s "$token" | base64 -w0)"
        printf 'url=%s\n' "$(printf %s "$token" | base64 -w0 | tr '+/' '-_' | tr -d =)"
        printf 'err=%s\n' "$token" >&2
        printf 'line=%s\n' "$(printf %s "$pem" | sed -n 2p)"
        printf 'short=%s\n' "$(printf %s "$token" | cut -c1-10)"
    "#;
    let out = env.run_in(&["run", "--mask", "--", "sh", "-c", script], b"");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stdout,
        "a=*****|\nstd=*****\nurl=*****\nline=*****\nshort=s3cr3t-t0k\n"
    );
    assert_eq!(stderr, "err=*****\n");
    assert!(
        STANDARD.encode(token).contains(['+', '/']),
        "the test value must exercise both alphabets"
    );
    assert!(URL_SAFE_NO_PAD.encode(token).contains(['-', '_']));
    // Without --mask nothing is touched.
    let out = env.ok(&["run", "--", "sh", "-c", "printf %s \"$token\""]);
    assert_eq!(out, token);
}

#[test]
fn mask_does_not_hold_back_an_interactive_prompt() {
    let env = Env::project();
    env.set("token", "development", "interactive-secret");
    let mut child = env
        .cmd(&[
            "run",
            "--mask",
            "--",
            "sh",
            "-c",
            "printf 'prompt> '; read line; printf 'got %s %s\\n' \"$line\" \"$token\"",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Watchdog: if the prompt were held back, the reads below would block.
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    let mut out = child.stdout.take().unwrap();
    let mut got = [0u8; 8];
    out.read_exact(&mut got).unwrap();
    assert_eq!(
        &got, b"prompt> ",
        "the prompt must show before the child gets input"
    );
    child.stdin.take().unwrap().write_all(b"answer\n").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got answer *****\n");
    assert!(child.wait().unwrap().success());
    drop(watchdog);
}

// ---------------------------------------------------------------- export

#[test]
fn export_shell_round_trips_through_bash() {
    let env = project_with_awkward();
    let names: Vec<&str> = awkward().iter().map(|(k, _)| *k).collect();
    let script = format!(
        "set -e; source <(\"$GSEC\" export --format shell); for n in {}; do printf '%s=%s\\0' \"$n\" \"${{!n}}\"; done",
        names.join(" ")
    );
    let out = bash(&env, &script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = parse_env0(&out.stdout);
    for (k, v) in awkward() {
        assert_eq!(seen.get(k), Some(&v), "{k} through bash");
    }
}

#[test]
fn export_dotenv_round_trips_through_gsec_import_and_python_dotenv() {
    let env = project_with_awkward();
    let text = env.ok(&["export", "--format", "dotenv"]);
    let file = env.tmp.path().join("exported.env");
    std::fs::write(&file, &text).unwrap();

    // python-dotenv, the reference reader. It interpolates `${…}` in every
    // quoting style unless told not to, so compare with interpolation off,
    // and with it on for every value without `${`.
    let py = Command::new(common::tool("python3"))
        .args([
            "-c",
            "import dotenv, json, sys; print(json.dumps([dotenv.dotenv_values(sys.argv[1], interpolate=False), dotenv.dotenv_values(sys.argv[1])]))",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "python-dotenv (pip install python-dotenv): {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let both: Vec<BTreeMap<String, String>> = serde_json::from_slice(&py.stdout).unwrap();
    for (k, v) in awkward() {
        assert_eq!(both[0].get(k), Some(&v), "{k} through python-dotenv");
        if !v.contains("${") {
            assert_eq!(
                both[1].get(k),
                Some(&v),
                "{k} through python-dotenv with interpolation"
            );
        }
    }

    // dotenvx (and dotenv, whose parser it extends): every value the export
    // calls portable reads back exactly; each other one was warned about.
    let out = env.run_in(&["export", "--format", "dotenv"], b"");
    let warned = String::from_utf8_lossy(&out.stderr).into_owned();
    let dx = Command::new(common::tool("dotenvx"))
        .args(["get", "-f", file.to_str().unwrap()])
        .current_dir(env.tmp.path())
        .output()
        .unwrap();
    assert!(
        dx.status.success(),
        "dotenvx: {}",
        String::from_utf8_lossy(&dx.stderr)
    );
    let read: BTreeMap<String, String> = serde_json::from_slice(&dx.stdout).unwrap();
    let mut portable = 0;
    for (k, v) in awkward() {
        if gsec::dotenv::portable(&v) {
            portable += 1;
            assert_eq!(read.get(k), Some(&v), "{k} through dotenvx");
            assert!(!warned.contains(&format!("{k}: ")), "{k} warned: {warned}");
        } else {
            assert!(
                warned.contains(&format!("{k}: its value")),
                "{k} not warned: {warned}"
            );
        }
    }
    assert!(
        portable >= 7,
        "quotes, $, backslashes, newlines and unicode are portable"
    );

    // gsec's own reader: import into production, export again.
    env.ok(&["import", file.to_str().unwrap(), "--env", "production"]);
    let again = env.ok(&["export", "--format", "dotenv", "--env", "production"]);
    assert_eq!(again, text);
    for (k, v) in awkward() {
        assert_eq!(env.get(k, "production"), v, "{k} through import");
    }
}

#[test]
fn export_json_yaml_and_kestra_are_exact() {
    let env = project_with_awkward();
    let json: BTreeMap<String, String> =
        serde_json::from_str(&env.ok(&["export", "--format", "json"])).unwrap();
    let yaml: BTreeMap<String, String> =
        serde_norway::from_str(&env.ok(&["export", "--format", "yaml"])).unwrap();
    let kestra = env.ok(&["export", "--format", "kestra"]);
    let kestra: BTreeMap<String, String> = kestra
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let k = k.strip_prefix("SECRET_").expect("SECRET_ prefix");
            (
                k.to_string(),
                String::from_utf8(STANDARD.decode(v).unwrap()).unwrap(),
            )
        })
        .collect();
    for (k, v) in awkward() {
        assert_eq!(json.get(k), Some(&v), "{k} json");
        assert_eq!(yaml.get(k), Some(&v), "{k} yaml");
        assert_eq!(kestra.get(k), Some(&v), "{k} kestra");
    }
    assert_eq!(json.len(), awkward().len());
    // An empty environment is still valid output.
    let empty: serde_json::Value =
        serde_json::from_str(&env.ok(&["export", "--format", "json", "--env", "production"]))
            .unwrap();
    assert_eq!(empty, serde_json::json!({}));
}

/// The GitHub runner's parser for `$GITHUB_ENV` / `$GITHUB_OUTPUT`
/// (actions/runner `SetEnvFileCommand`): `NAME=VALUE` lines and
/// `NAME<<DELIMITER` blocks whose value ends at the first line equal to the
/// delimiter; the line break before it (LF or CRLF) is not part of the value.
fn parse_github_file(text: &str) -> Vec<(String, String)> {
    // (line, newline) pairs with their end offsets.
    fn read_line<'a>(text: &'a str, index: &mut usize) -> Option<(&'a str, &'a str)> {
        if *index >= text.len() {
            return None;
        }
        let rest = &text[*index..];
        let Some(lf) = rest.find('\n') else {
            *index = text.len();
            return Some((rest, ""));
        };
        let (line, nl) = if lf > 0 && rest.as_bytes()[lf - 1] == b'\r' {
            (&rest[..lf - 1], "\r\n")
        } else {
            (&rest[..lf], "\n")
        };
        *index += lf + 1;
        Some((line, nl))
    }
    let mut out = Vec::new();
    let mut index = 0;
    while let Some((line, _)) = read_line(text, &mut index) {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let hd = line.find("<<");
        match (eq, hd) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_string(), line[e + 1..].to_string()))
            }
            (_, Some(h)) => {
                let (name, delim) = (&line[..h], &line[h + 2..]);
                assert!(
                    !name.is_empty() && !delim.is_empty(),
                    "invalid line {line:?}"
                );
                let start = index;
                let mut end = index;
                loop {
                    let (l, nl) =
                        read_line(text, &mut index).expect("matching delimiter not found");
                    if l == delim {
                        break;
                    }
                    assert!(!nl.is_empty(), "EOF marker missing new line");
                    end = index - nl.len();
                }
                out.push((name.to_string(), text[start..end.max(start)].to_string()));
            }
            _ => panic!("invalid line {line:?}"),
        }
    }
    out
}

fn hostile() -> Vec<(&'static str, String)> {
    vec![
        ("EOF_VALUE", "before\nEOF\nafter".into()),
        (
            "DELIM",
            "x\nghadelimiter_\nghadelimiter_0123456789abcdef\ny".into(),
        ),
        (
            "COMMANDS",
            "::set-env name=X::y\n::add-mask::zzz\n::stop-commands::tok".into(),
        ),
        ("PERCENT", "%0A%25 100% %0D".into()),
        (
            "INJECT",
            "first\nX=evil\nZ<<EOF\ninjected\nEOF\nlast".into(),
        ),
        ("MULTI", "line one\n\nline three\r\nline four\n".into()),
        ("PLAIN", "plain-value".into()),
        ("UNICODE", "héllo 🔑".into()),
    ]
}

fn github_cmd(env: &Env, args: &[&str], var: &str, file: &std::path::Path) -> std::process::Output {
    let mut c = env.cmd(args);
    c.env(var, file);
    env.run_cmd(c, b"")
}

#[test]
fn export_github_masks_first_and_writes_values_no_one_can_inject_through() {
    let env = Env::project();
    for (k, v) in hostile() {
        set_exact(&env, k, "development", &v);
    }
    let file = env.tmp.path().join("github_env");
    std::fs::write(&file, "EXISTING=kept\n").unwrap();
    let out = github_cmd(&env, &["export", "--format", "github"], "GITHUB_ENV", &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();

    // stdout holds only mask commands; decode them as the runner does.
    let mut masks = Vec::new();
    for line in stdout.lines() {
        let v = line
            .strip_prefix("::add-mask::")
            .unwrap_or_else(|| panic!("not a mask command: {line:?}"));
        masks.push(
            v.replace("%0D", "\r")
                .replace("%0A", "\n")
                .replace("%25", "%"),
        );
    }
    for (k, v) in hostile() {
        assert!(masks.contains(&v), "{k} masked as a whole");
        for l in v.split(['\n', '\r']).filter(|l| !l.trim().is_empty()) {
            assert!(masks.iter().any(|m| m == l), "{k}: line {l:?} masked");
        }
        for l in v.lines().filter(|l| l.len() > 3) {
            assert!(!stderr.contains(l), "{k} leaked on stderr: {stderr}");
        }
    }

    let parsed = parse_github_file(&std::fs::read_to_string(&file).unwrap());
    let mut expected: Vec<(String, String)> = vec![("EXISTING".into(), "kept".into())];
    expected.extend(hostile().into_iter().map(|(k, v)| (k.to_string(), v)));
    assert_eq!(
        parsed, expected,
        "exactly the exported variables, values intact, nothing injected"
    );
}

#[test]
fn export_github_output_and_missing_variable() {
    let env = Env::project();
    env.set("token", "development", "out-value");
    let file = env.tmp.path().join("github_output");
    let out = github_cmd(
        &env,
        &["export", "--format", "github", "--output"],
        "GITHUB_OUTPUT",
        &file,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "::add-mask::out-value\n"
    );
    assert_eq!(
        parse_github_file(&std::fs::read_to_string(&file).unwrap()),
        vec![("token".to_string(), "out-value".to_string())]
    );

    let out = env.run_in(&["export", "--format", "github"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GITHUB_ENV is not set"), "{err}");
    let err = env.fails(&["export", "--format", "json", "--output"], b"", 2);
    assert!(err.contains("--output"), "{err}");
}

// ---------------------------------------------------------------- import

const DOTENV: &str = r#"# exported from the old system
export NEW_ONE=plain value # trailing comment
SQ='literal $HOME \n # kept'
DQ="multi\nline \"q\" \\ \$x"
ML="real
multi line"
EMPTY=
DATABASE_URL=postgres://u:p@h/db
SAME=same-value
CHANGED=new-value
"#;

#[test]
fn import_reports_without_values_and_stores_exactly() {
    let env = Env::project();
    append_config(&env, "secrets:\n  db-url:\n    env: DATABASE_URL\n");
    env.set("SAME", "development", "same-value");
    env.set("CHANGED", "development", "old-value");
    let f = env.tmp.path().join("old.env");
    std::fs::write(&f, DOTENV).unwrap();
    let out = env.run_in(&["import", f.to_str().unwrap()], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("added NEW_ONE, SQ, DQ, ML, db-url; changed CHANGED; unchanged SAME"),
        "{err}"
    );
    assert!(err.contains(":7: EMPTY is empty; skipped"), "{err}");
    for v in [
        "plain value",
        "literal",
        "multi",
        "postgres",
        "same-value",
        "new-value",
        "old-value",
    ] {
        common::assert_no_secret(&err, v);
    }
    assert_eq!(env.get("NEW_ONE", "development"), "plain value");
    assert_eq!(env.get("SQ", "development"), "literal $HOME \\n # kept");
    assert_eq!(env.get("DQ", "development"), "multi\nline \"q\" \\ $x");
    assert_eq!(env.get("ML", "development"), "real\nmulti line");
    assert_eq!(env.get("db-url", "development"), "postgres://u:p@h/db");
    assert_eq!(env.get("CHANGED", "development"), "new-value");

    // From stdin, into another environment; a second import changes nothing.
    let err = String::from_utf8(
        env.run_in(&["import", "-", "--env", "production"], b"A=1\nB='two'\n")
            .stderr,
    )
    .unwrap();
    assert!(err.contains("added A, B"), "{err}");
    let before = std::fs::read(env.path("secrets/production.yaml")).unwrap();
    let err = String::from_utf8(
        env.run_in(&["import", "-", "--env", "production"], b"A=1\nB='two'\n")
            .stderr,
    )
    .unwrap();
    assert!(err.contains("unchanged A, B"), "{err}");
    assert_eq!(
        std::fs::read(env.path("secrets/production.yaml")).unwrap(),
        before,
        "nothing changed, nothing rewritten"
    );
}

#[test]
fn import_rejects_malformed_files_naming_file_and_line_and_writes_nothing() {
    let env = Env::project();
    env.set("KEEP", "development", "kept-value");
    let before = std::fs::read(env.path("secrets/development.yaml")).unwrap();
    for (text, line, what) in [
        ("A=1\nB=2\nthis is not a binding\n", 3, "expected '='"),
        (
            "A=1\nB=\"unterminated\nC=3\n",
            2,
            "unterminated double-quoted value for B",
        ),
        ("A=1\n1BAD=x\n", 2, "invalid secret name '1BAD'"),
        ("A='x' trailing\n", 1, "after the closing quote"),
    ] {
        let f = env.tmp.path().join("bad.env");
        std::fs::write(&f, text).unwrap();
        let err = env.fails(&["import", f.to_str().unwrap()], b"", 2);
        let prefix = format!("gsec: error: {}:{line}: ", f.display());
        assert!(
            err.starts_with(&prefix) && err.contains(what),
            "{text:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(
            std::fs::read(env.path("secrets/development.yaml")).unwrap(),
            before
        );
    }
    let err = env.fails(&["import", "/nonexistent/x.env"], b"", 2);
    assert!(err.contains("/nonexistent/x.env"), "{err}");
}

#[test]
fn import_maps_exported_variable_names_back_to_their_secrets() {
    let env = Env::project();
    append_config(
        &env,
        "secrets:\n  stripe-key:\n    description: declared, not yet set anywhere\n",
    );
    env.set("api-key", "development", "value-one");
    env.set("stripe-key", "development", "value-two");
    let text = env.ok(&["export", "--format", "dotenv"]);
    assert_eq!(text, "api_key='value-one'\nstripe_key='value-two'\n");
    let f = env.tmp.path().join("roundtrip.env");
    std::fs::write(&f, &text).unwrap();
    let err = String::from_utf8(env.run_in(&["import", f.to_str().unwrap()], b"").stderr).unwrap();
    assert!(err.contains("unchanged api-key, stripe-key"), "{err}");
    // Into an environment without api-key: only the declared name is known.
    let err = String::from_utf8(
        env.run_in(&["import", f.to_str().unwrap(), "--env", "production"], b"")
            .stderr,
    )
    .unwrap();
    assert!(err.contains("added api_key, stripe-key"), "{err}");
}

/// Ctrl-C on a terminal reaches the whole foreground process group, the
/// child included; gsec must not send it a second time (programs treat a
/// second Ctrl-C as "quit without cleanup"), and must itself survive it.
#[test]
fn run_ctrl_c_on_a_terminal_reaches_the_child_once() {
    let env = Env::project();
    // The child takes SIGINTs one by one with sigwaitinfo, so two deliveries
    // cannot merge into one, and reports each one's si_code.
    let child = env.tmp.path().join("child.py");
    std::fs::write(
        &child,
        r#"
import signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
print("ready", flush=True)
codes = []
while True:
    info = signal.sigtimedwait([signal.SIGINT], 1.5)
    if info is None:
        break
    codes.append("kernel" if info.si_code == 0x80 else "sent")
print("got", ",".join(codes), flush=True)
sys.exit(3)
"#,
    )
    .unwrap();
    let driver = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "run", "--", sys.executable, sys.argv[2]])
buf = b""
while b"ready" not in buf:
    buf += os.read(fd, 1024)
os.write(fd, b"\x03")
out = b""
while True:
    r, _, _ = select.select([fd], [], [], 10)
    if not r:
        break
    try:
        d = os.read(fd, 1024)
    except OSError:
        break
    if not d:
        break
    out += d
_, st = os.waitpid(pid, 0)
print(out.decode().replace("^C", "").strip(), os.waitstatus_to_exitcode(st))
"#;
    let mut c = Command::new(common::tool("python3"));
    env.clean_env(&mut c);
    c.env("GSEC_AGE_KEY_FILE", &env.key)
        .current_dir(&env.dir)
        .args(["-c", driver, BIN, child.to_str().unwrap()]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "got kernel 3");
}

#[test]
fn import_reports_names_as_json() {
    let e = Env::project();
    e.set("KEEP", "development", "same");
    e.set("CHANGE", "development", "old");
    e.write(
        "in.env",
        "KEEP=same\nCHANGE=new-value\nNEW_ONE='fresh value'\n",
    );
    let out = e.ok(&["import", "in.env", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["environment"], "development");
    assert_eq!(v["added"], serde_json::json!(["NEW_ONE"]));
    assert_eq!(v["changed"], serde_json::json!(["CHANGE"]));
    assert_eq!(v["unchanged"], serde_json::json!(["KEEP"]));
    assert!(!out.contains("new-value") && !out.contains("fresh value"));
}

#[test]
fn mask_hides_a_value_inside_http_basic_credentials() {
    let env = Env::project();
    let token = "s3cr3t-t0ken-for-basic";
    env.set("token", "development", token);
    // `Authorization: Basic base64(user:token)` for users of every length:
    // the token starts at each of the three base64 alignments.
    let script = r#"
        for u in a ab abc; do printf '%s\n' "$(printf '%s:%s' "$u" "$token" | base64 -w0)"; done
    "#;
    let out = env.run_in(&["run", "--mask", "--", "sh", "-c", script], b"");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    for (line, user) in stdout.lines().zip(["a", "ab", "abc"]) {
        let clear = STANDARD.encode(format!("{user}:{token}"));
        assert!(line.contains("*****"), "{stdout}");
        // The characters that encode the token itself are gone.
        assert!(!line.contains(&clear[8..24]), "{line} still holds {clear}");
    }
}
