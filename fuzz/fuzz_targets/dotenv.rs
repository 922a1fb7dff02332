//! The `.env` parser (`gsec import`) and the writers that must agree with
//! it (`gsec export --format dotenv|yaml|json`).
//!
//! Invariants:
//! - no panic;
//! - an error names a line and at most a key that is followed by `=`
//!   (a name); it never quotes more than a few bytes of anything else, so a
//!   value (a wrapped PEM line, a pasted token) is never shown;
//! - entries carry valid keys and line numbers that never go backwards;
//! - `export --format dotenv` of the entries parses back to exactly the
//!   same keys and values, and so do the YAML and JSON exports.
#![no_main]

use gsec::dotenv;
use gsec::export::{self, Format, Var};
use gsec_fuzz::{CANARY, assert_no_echo};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

const T: &str = "dotenv";

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fuzz_target!(|data: &[u8]| {
    gsec_fuzz::guarded(|| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match dotenv::parse(text) {
            Err(e) => check_error(&e, text),
            Ok(entries) => round_trip(&entries, text),
        }
    })
});

fn check_error(e: &dotenv::ParseError, text: &str) {
    let lines = text.split('\n').count();
    assert!(
        e.line >= 1 && e.line <= lines,
        "{T}: error line {} outside 1..={lines}",
        e.line
    );
    // Messages that name a binding's key (`KEY=` was seen): the key is a
    // name and may be shown whatever its length.
    let msg = e.message.as_str();
    let named = [
        "unterminated single-quoted value for ",
        "unterminated double-quoted value for ",
        "unexpected text after the closing quote of ",
    ]
    .iter()
    .find_map(|p| msg.strip_prefix(p));
    match named {
        Some(key) => {
            assert!(
                !key.is_empty() && key.chars().all(is_key_char),
                "{T}: message names something that is not a key: {msg:?}"
            );
            let body = text.strip_prefix('\u{feff}').unwrap_or(text);
            let bound = body.lines().any(|l| {
                let l = l.trim_start();
                let l = match l.strip_prefix("export") {
                    Some(r) if r.starts_with([' ', '\t']) => r.trim_start_matches([' ', '\t']),
                    _ => l,
                };
                l.strip_prefix(key)
                    .is_some_and(|r| r.trim_start_matches([' ', '\t']).starts_with('='))
            });
            assert!(bound, "{T}: message names a key no binding has: {msg:?}");
            assert!(
                !msg.contains(CANARY) || key.contains(CANARY),
                "{T}: canary in {msg:?}"
            );
        }
        // Anything else (`expected '=' after X`, where X is whatever the
        // line starts with: a wrapped PEM line, a token) must not quote
        // more than MAX_ECHO bytes of the file.
        None => assert_no_echo(T, msg, text.as_bytes(), &|b| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|t| dotenv::parse(t).err())
                .map(|e| e.message)
        }),
    }
}

fn round_trip(entries: &[dotenv::Entry], text: &str) {
    let mut last = 0;
    for e in entries {
        assert!(
            !e.key.is_empty() && e.key.chars().all(is_key_char),
            "{T}: invalid key {:?}",
            e.key
        );
        assert!(e.line >= last.max(1), "{T}: line numbers go backwards");
        last = e.line;
        assert!(
            e.line <= text.split('\n').count(),
            "{T}: line beyond the text"
        );
    }
    let vars: Vec<Var> = entries
        .iter()
        .map(|e| Var {
            name: e.key.clone(),
            secret: e.key.clone(),
            value: Zeroizing::new(e.value.to_string()),
        })
        .collect();
    let pairs = |v: &[Var]| {
        v.iter()
            .map(|v| (v.name.clone(), v.value.to_string()))
            .collect::<Vec<_>>()
    };
    let want = pairs(&vars);

    let out = export::render(Format::Dotenv, &vars);
    let back = dotenv::parse(&out).unwrap_or_else(|e| {
        panic!(
            "{T}: gsec export --format dotenv wrote what gsec import refuses: line {}: {}",
            e.line, e.message
        )
    });
    let got: Vec<(String, String)> = back
        .iter()
        .map(|e| (e.key.clone(), e.value.to_string()))
        .collect();
    assert_eq!(got, want, "{T}: dotenv export does not read back");

    // JSON and YAML exports carry the same map. `gsec export` refuses two
    // secrets that set the same variable, so only unique names are tried.
    let mut seen = std::collections::HashSet::new();
    if !want.iter().all(|(k, _)| seen.insert(k.clone())) {
        return;
    }
    let json = export::render(Format::Json, &vars);
    let j: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{T}: JSON export is not JSON: {e}"));
    let obj = j.as_object().expect("JSON export is an object");
    assert_eq!(obj.len(), want.len(), "{T}: JSON export lost names");
    for (k, v) in &want {
        assert_eq!(
            obj.get(k).and_then(|x| x.as_str()),
            Some(v.as_str()),
            "{T}: JSON export changed {k}"
        );
    }
    let yaml = export::render(Format::Yaml, &vars);
    let y: serde_norway::Value = serde_norway::from_str(&yaml)
        .unwrap_or_else(|e| panic!("{T}: YAML export is not YAML: {e}\n{}", &*yaml));
    for (k, v) in &want {
        assert_eq!(
            y.get(k.as_str()).and_then(|x| x.as_str()),
            Some(v.as_str()),
            "{T}: YAML export changed {k}\n{}",
            &*yaml
        );
    }
}
