//! Shared pieces of gsec's fuzz targets: the canary secret, the leak
//! checks every target applies to error messages, and the fixed test
//! identity the `sops_file` corpus is encrypted to.
//!
//! A target fails (and libFuzzer saves the input under `fuzz/artifacts/`)
//! on a panic anywhere, and on a broken invariant, asserted with `panic!`
//! so that the message says which one.

use std::path::PathBuf;
use std::sync::OnceLock;

/// A value the seeds and dictionaries put where secrets go (`.env` values,
/// plugin inputs, header values, unencrypted sops values). No error message
/// may ever contain it.
pub const CANARY: &str = "s3cr3t-CANARY-9f2c";

/// Longest run of input an error may quote (characters), outside what a
/// target allows (key names). Longer runs are a leak: a message printed on
/// a terminal or a CI log must not carry a value. The same bound as
/// `.gsec.yaml` errors use (quoted strings of 25 characters or more are
/// elided).
pub const MAX_ECHO: usize = 24;

/// The first run of more than `max` characters of `msg` that occurs in
/// `input`, if any (characters, as gsec's own rule counts them).
pub fn echoed<'m>(msg: &'m str, input: &[u8], max: usize) -> Option<&'m str> {
    let starts: Vec<usize> = msg
        .char_indices()
        .map(|(i, _)| i)
        .chain([msg.len()])
        .collect();
    if starts.len() <= max + 1 {
        return None;
    }
    for w in starts.windows(max + 2) {
        let run = &msg[w[0]..w[max + 1]];
        if memchr::memmem::find(input, run.as_bytes()).is_some() {
            return Some(run);
        }
    }
    None
}

/// Keys of a YAML text that does not parse (so no [`Facts`]): what stands
/// before `:` on each line, unquoted. A guess, used only to let messages
/// name keys.
pub fn guess_keys(input: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(input);
    let mut keys = Vec::new();
    for line in text.lines() {
        let mut l = line.trim_start_matches([' ', '\t']);
        while let Some(r) = l.strip_prefix("- ") {
            l = r.trim_start();
        }
        if let Some(i) = l.rfind(':') {
            let k = l[..i].trim().trim_matches(['"', '\'']);
            if !k.is_empty() {
                keys.push(k.to_string());
            }
        }
    }
    keys
}

/// How an error message is produced again from changed input: the
/// operation that failed, returning its message (`None`: no error).
pub type Reparse<'a> = &'a dyn Fn(&[u8]) -> Option<String>;

fn rotate(b: u8) -> u8 {
    match b {
        b'a'..=b'y' | b'A'..=b'Y' | b'0'..=b'8' => b + 1,
        b'z' => b'a',
        b'Z' => b'A',
        b'9' => b'0',
        _ => b,
    }
}

/// Is `run` (found both in `msg` and in the input or one of its values) an
/// echo of the input, or fixed message text that the fuzzer copied into the
/// input (libFuzzer feeds compared strings back into inputs)? Change the
/// run's longest alphanumeric chunk wherever it occurs in the input and fail
/// again: an echo follows the input, fixed text does not.
pub fn follows_input(msg: &str, run: &str, input: &[u8], reparse: Reparse<'_>) -> bool {
    let chunk = run
        .split(|c: char| !c.is_ascii_alphanumeric())
        .max_by_key(|c| c.len())
        .unwrap_or("");
    if chunk.len() < 4 {
        return true; // nothing to change: count it as an echo
    }
    let rotated: Vec<u8> = chunk.bytes().map(rotate).collect();
    let rotated = String::from_utf8(rotated).expect("ASCII");
    let mut changed = input.to_vec();
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&changed[i..], chunk.as_bytes()) {
        let at = i + p;
        changed[at..at + chunk.len()].copy_from_slice(rotated.as_bytes());
        i = at + chunk.len();
    }
    // An echo follows the change: the message comes back with the chunk
    // changed the same way, or with more of the changed text than before.
    let count = |m: &str, s: &str| m.matches(s).count();
    match reparse(&changed) {
        Some(again) => {
            again != msg
                && (msg.replace(chunk, &rotated) == again
                    || count(&again, &rotated) > count(msg, &rotated))
        }
        None => false,
    }
}

/// Remove the key path serde puts before its message (`a.b[0]: invalid
/// type: …`): keys may be named.
pub fn strip_serde_path(msg: &str) -> String {
    const STARTS: &[&str] = &[
        "duplicate entry",
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown field",
        "unknown variant",
        "missing field",
        "duplicate field",
        "recursion limit",
        "repetition limit",
    ];
    // serde names an unknown or duplicate field in backticks.
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" field `") {
        let from = i + " field `".len();
        out.push_str(&rest[..from]);
        match rest[from..]
            .find("`, expected")
            .or_else(|| rest[from..].rfind('`'))
        {
            Some(j) => {
                out.push('…');
                rest = &rest[from + j..];
            }
            None => rest = &rest[from..],
        }
    }
    out.push_str(rest);
    for s in STARTS {
        let pat = format!(": {s}");
        if let Some(end) = out.find(&pat) {
            // The path starts after the last "…: " prefix gsec or serde put
            // before it (`.gsec.yaml: `, `invalid YAML: `).
            let head = &out[..end];
            let start = ["invalid YAML: ", ".gsec.yaml: ", "fuzz.yaml: "]
                .iter()
                .filter_map(|p| head.rfind(p).map(|i| i + p.len()))
                .max()
                .unwrap_or(0);
            out = format!("{}…{}", &out[..start], &out[end..]);
        }
    }
    out
}

/// Fail when `msg` quotes more than [`MAX_ECHO`] characters of `input` (an echo
/// `reparse` confirms) or contains the canary.
pub fn assert_no_echo(target: &str, msg: &str, input: &[u8], reparse: Reparse<'_>) {
    if msg.contains(CANARY) {
        panic!("{target}: error message contains the canary secret: {msg:?}");
    }
    let m = strip_serde_path(&strip_duplicate_key(msg));
    if let Some(run) = echoed(&m, input, MAX_ECHO)
        && follows_input(msg, run, input, reparse)
    {
        panic!(
            "{target}: error message quotes {} bytes of the input ({run:?}): {msg:?}",
            run.len()
        );
    }
}

/// Run one input. With `GSEC_FUZZ_IGNORE` set (`|`-separated parts of
/// failure messages), a failure whose message contains one of them is
/// ignored: a way to explore past a known finding until it is fixed. Unset
/// (the default, and in `scripts/fuzz.sh`), every failure counts.
pub fn guarded(f: impl FnOnce()) {
    static IGNORE: OnceLock<Vec<String>> = OnceLock::new();
    let ignore = IGNORE.get_or_init(|| {
        std::env::var("GSEC_FUZZ_IGNORE")
            .unwrap_or_default()
            .split('|')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    if ignore.is_empty() {
        return f();
    }
    fn message(p: &(dyn std::any::Any + Send)) -> String {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }
    let known = |m: &str| ignore.iter().any(|i| m.contains(i.as_str()));
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // libfuzzer-sys's hook aborts on any panic: let ignored ones unwind.
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let m = message(info.payload());
            let ignored = IGNORE
                .get()
                .is_some_and(|ig| ig.iter().any(|i| m.contains(i.as_str())));
            if !ignored {
                prev(info)
            }
        }));
    });
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        if !known(&message(p.as_ref())) {
            std::panic::resume_unwind(p);
        }
    }
}

/// The fuzz identity's 32 secret bytes: sha256 of a fixed phrase. A public
/// test key, kept as bytes (not as an `AGE-SECRET-KEY-1…` string) so that
/// secret scanners, gsec's own included, do not report the repository.
fn identity_bytes() -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b"gsec fuzz corpus identity (public test key)").into()
}

/// The fuzz identity as age text.
pub fn identity_text() -> String {
    let hrp = bech32::Hrp::parse("age-secret-key-").expect("hrp");
    bech32::encode::<bech32::Bech32>(hrp, &identity_bytes())
        .expect("bech32")
        .to_uppercase()
}

/// The fuzz identity loaded the way `gsec` loads one (`--identity FILE`),
/// once per process.
pub fn identities() -> &'static gsec::keys::Identities {
    static IDS: OnceLock<gsec::keys::Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let dir = scratch_dir();
        let path = dir.join("identity.txt");
        std::fs::write(&path, format!("{}\n", identity_text())).expect("write identity");
        gsec::keys::discover(Some(path.as_path())).expect("fuzz identity loads")
    })
}

/// A scratch directory for this process (the identity, the relay plugin
/// and its compiled-module cache), under `fuzz/target/scratch/` (ignored,
/// removed with the build). It is left behind: a fuzzing process ends by
/// exit or abort. It holds nothing secret.
pub fn scratch_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scratch");
        std::fs::create_dir_all(&base).expect("scratch base");
        tempfile::Builder::new()
            .prefix("gsec-fuzz-")
            .tempdir_in(base)
            .expect("temp dir")
            .keep()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_detection() {
        let input = b"A=abcdefghijklmnopqrstuvwxyz0123456789\n";
        assert!(echoed("expected '=' after A", input, MAX_ECHO).is_none());
        assert!(echoed("value abcdefghijklmnopqrstuvwxyz leaked", input, MAX_ECHO).is_some());
        assert_eq!(
            strip_serde_path("invalid YAML: a.b[0]: duplicate entry with key \"k\""),
            "invalid YAML: …: duplicate entry with key \"k\""
        );
    }
}

/// What a YAML document says, for telling an echoed key (allowed: names
/// are shown everywhere) from an echoed value (a leak).
#[derive(Default, Debug)]
pub struct Facts {
    /// Every map key, at any depth, as gsec turns it into text.
    pub keys: Vec<String>,
    /// Scalar values that may be secret: everything except what sits under
    /// one of the top-level keys a target excludes (sops metadata), and
    /// except values that are also keys.
    pub values: Vec<String>,
}

/// The facts of `bytes` when they parse as YAML (through gsec's own
/// bounded parser); `None` otherwise.
pub fn yaml_facts(bytes: &[u8], exclude_top: &[&str]) -> Option<Facts> {
    use serde_norway::Value;
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn walk(v: &Value, f: &mut Facts, collect: bool) {
        match v {
            Value::Mapping(m) => {
                for (k, v) in m {
                    match scalar(k) {
                        Some(s) => f.keys.push(s),
                        None => walk(k, f, false),
                    }
                    walk(v, f, collect);
                }
            }
            Value::Sequence(s) => s.iter().for_each(|v| walk(v, f, collect)),
            Value::Tagged(t) => {
                f.keys.push(t.tag.to_string());
                walk(&t.value, f, collect)
            }
            other => {
                if collect && let Some(s) = scalar(other) {
                    f.values.push(s);
                }
            }
        }
    }
    let doc = gsec::yaml::parse_value(bytes).ok()?;
    let mut f = Facts::default();
    match &doc {
        Value::Mapping(m) => {
            for (k, v) in m {
                let name = scalar(k);
                let excluded = name.as_deref().is_some_and(|n| exclude_top.contains(&n));
                match name {
                    Some(s) => f.keys.push(s),
                    None => walk(k, &mut f, false),
                }
                walk(v, &mut f, !excluded);
            }
        }
        other => walk(other, &mut f, true),
    }
    let keys = f.keys.clone();
    f.values
        .retain(|v| !keys.iter().any(|k| k.contains(v.as_str())));
    Some(f)
}

/// Remove serde's quoting of a duplicate key (`with key "…"`, Rust
/// `Debug` escaping) from a message: it names a key, not a value.
pub fn strip_duplicate_key(msg: &str) -> String {
    const OPEN: &str = "with key \"";
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i + OPEN.len()]);
        let mut chars = rest[i + OPEN.len()..].char_indices();
        let mut end = None;
        while let Some((j, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(j);
                    break;
                }
                _ => {}
            }
        }
        match end {
            Some(j) => {
                out.push_str("…\"");
                rest = &rest[i + OPEN.len() + j + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    strip_named_duplicate(&out)
}

/// gsec's own duplicate-key message (`duplicate key `NAME``) names a key
/// only when it is name-shaped (letters, digits, `_`, `.`, `-`), else
/// shows `…`: a name-shaped key there is a key, not a value. A key of
/// any other shape stays in the message for the echo check to catch.
fn strip_named_duplicate(msg: &str) -> String {
    const OPEN: &str = "duplicate key `";
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(OPEN) {
        let after = &rest[i + OPEN.len()..];
        out.push_str(&rest[..i + OPEN.len()]);
        match after.find('`') {
            Some(j)
                if after[..j]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) =>
            {
                out.push('…');
                rest = &after[j..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// `msg` with Rust `Debug` string escapes (`\"`, `\\`, `\n`, `\u{…}`)
/// undone: how serde quotes a value, back to the value's characters.
pub fn debug_unescape(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('u') if chars.peek() == Some(&'{') => {
                chars.next();
                let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push('\u{fffd}'),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The text inside `format!("{s:?}")`: how serde and Rust's `Debug` quote
/// a string in a message.
pub fn debug_inner(s: &str) -> String {
    let d = format!("{s:?}");
    d[1..d.len() - 1].to_string()
}

/// The leak check for messages about a YAML document: keys may be named,
/// values may not be quoted, in their raw or escaped form (a run of more
/// than [`MAX_ECHO`] characters that `reparse` confirms follows the input). When
/// the text is not YAML, no such run of the input may appear. With
/// `canary`, the canary may not appear at all (unless it is in a key).
pub fn assert_no_value_echo(
    target: &str,
    msg: &str,
    input: &[u8],
    facts: Option<&Facts>,
    canary: bool,
    reparse: Reparse<'_>,
) {
    let in_key = match facts {
        Some(f) => f.keys.iter().any(|k| k.contains(CANARY)),
        None => guess_keys(input).iter().any(|k| k.contains(CANARY)),
    };
    if canary && msg.contains(CANARY) && !in_key {
        panic!("{target}: error message contains the canary secret: {msg:?}");
    }
    let mut m = strip_serde_path(&strip_duplicate_key(msg));
    match facts {
        None => {
            for k in guess_keys(input)
                .into_iter()
                .filter(|k| k.chars().count() > MAX_ECHO)
            {
                m = m.replace(&k, "…").replace(&debug_inner(&k), "…");
            }
            if let Some(run) = echoed(&m, input, MAX_ECHO)
                && follows_input(msg, run, input, reparse)
            {
                panic!(
                    "{target}: error message quotes {} bytes of the input ({run:?}): {msg:?}",
                    run.len()
                );
            }
        }
        Some(f) => {
            let mut keys: Vec<&String> = f
                .keys
                .iter()
                .filter(|k| k.chars().count() > MAX_ECHO)
                .collect();
            keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
            for k in keys {
                m = m.replace(k.as_str(), "…").replace(&debug_inner(k), "…");
            }
            // Values are quoted raw or escaped (`Debug`): compare them with
            // the message unescaped, so a run is counted in characters of the
            // value.
            let plain = debug_unescape(&m);
            for v in &f.values {
                for shown in [&m, &plain] {
                    let Some(run) = echoed(shown, v.as_bytes(), MAX_ECHO) else {
                        continue;
                    };
                    if follows_input(msg, run, input, reparse) {
                        panic!(
                            "{target}: error message quotes {} characters of a value ({run:?}): {msg:?}",
                            run.chars().count()
                        );
                    }
                }
            }
        }
    }
}
