//! The sops file parsers and writers (`vault::format`: YAML, JSON and
//! dotenv), the full open path (`Vault::from_bytes`: age unwrap, value
//! decryption, MAC, structure MAC) and the `gsec edit` buffer parse.
//!
//! Input: one flag byte (bit 0: open with `--ignore-mac`; bits 1-2: the
//! format, YAML, JSON or dotenv), then the file.
//!
//! Invariants:
//! - no panic;
//! - an error never quotes a value (keys and sops metadata may be named);
//! - what a format parses, the same format writes back so that it
//!   parses again with the same keys, age blocks, MAC, `lastmodified` and
//!   rules, and a second write is byte-for-byte the first (no drift);
//! - a file gsec opens, it can add a secret to and write back in a form it
//!   opens again (MAC verified) with every value unchanged, the new value
//!   encrypted (never in clear in the text);
//! - a `gsec edit` buffer read back after a write without changes holds
//!   the same values.
#![no_main]

use std::path::PathBuf;

use gsec::vault::format::{self, Emit, Format};
use gsec::vault::{Node, OpenOptions, Vault, node_from_yaml};
use gsec_fuzz::{
    CANARY, Facts, Reparse, assert_no_echo, assert_no_value_echo, identities, yaml_facts,
};
use libfuzzer_sys::fuzz_target;
use serde_norway::Value;

const T: &str = "sops_file";

/// The formats, and the file name each is read under.
const FORMATS: [(Format, &str); 3] = [
    (Format::Yaml, "fuzz.yaml"),
    (Format::Json, "fuzz.json"),
    (Format::Dotenv, "fuzz.env"),
];

fuzz_target!(|data: &[u8]| {
    gsec_fuzz::guarded(|| {
        let Some((&flags, text)) = data.split_first() else {
            return;
        };
        let (fmt, name) = FORMATS[usize::from((flags >> 1) & 3) % 3];
        let facts = match fmt {
            Format::Dotenv => None,
            // JSON is read as YAML for the facts: keys and values are the same.
            _ => yaml_facts(text, &["sops"]),
        };
        parse_and_emit(fmt, text, facts.as_ref());
        open_and_write(fmt, name, text, flags & 1 == 1, facts.as_ref());
        if fmt == Format::Yaml {
            edit_buffer(text);
        }
    })
});

/// The leak check for an error about `text`: in YAML and JSON keys may be
/// named; a dotenv line has no structure to tell a key from a value, so
/// no run of it may be quoted.
fn check_msg(fmt: Format, msg: &str, text: &[u8], facts: Option<&Facts>, again: Reparse<'_>) {
    match fmt {
        Format::Dotenv => assert_no_echo(T, &elide_names(msg, text), text, &|b| {
            again(b).map(|m| elide_names(&m, b))
        }),
        _ => assert_no_value_echo(T, msg, text, facts, true, again),
    }
}

/// A dotenv error may name a key in backticks when it is name-shaped
/// (letters, digits, `_`, `.`, `-`) and a line of the file starts with it
/// followed by `=`: such keys become `…` before the echo check.
fn elide_names(msg: &str, text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let bound = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && text
                .split('\n')
                .any(|l| l.strip_prefix(k).is_some_and(|r| r.starts_with('=')))
    };
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find('`') {
        out.push_str(&rest[..=i]);
        let after = &rest[i + 1..];
        match after.find('`') {
            Some(j) if bound(&after[..j]) => {
                out.push_str("…`");
                rest = &after[j + 1..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    elide_metadata(&out, &text)
}

/// The values of the file's `sops_*` metadata lines (recipients, dates,
/// versions) are public: a message may name them, whole or cut short
/// (`the age block for <recipient> … is corrupt`). Their longest prefix in
/// the message becomes `…`.
fn elide_metadata(msg: &str, text: &str) -> String {
    let mut out = msg.to_string();
    for line in text.split('\n').filter(|l| l.starts_with("sops_")) {
        let Some((_, value)) = line.split_once('=') else {
            continue;
        };
        let cuts: Vec<usize> = value
            .char_indices()
            .map(|(i, _)| i)
            .chain([value.len()])
            .filter(|&i| i >= 8)
            .collect();
        if let Some(&n) = cuts.iter().rev().find(|&&n| out.contains(&value[..n])) {
            out = out.replace(&value[..n], "…");
        }
    }
    out
}

fn emit(fmt: Format, data: &[(String, Value)], md: &format::Metadata) -> String {
    let tree: Vec<(String, Emit)> = data
        .iter()
        .map(|(k, v)| (k.clone(), format::emit_value(v)))
        .collect();
    fmt.emit(&tree, md).unwrap_or_else(|e| {
        panic!(
            "{T}: {} emit refused data its own parser returned: {e}",
            fmt.name()
        )
    })
}

fn parse_and_emit(fmt: Format, text: &[u8], facts: Option<&Facts>) {
    let (data, md) = match fmt.parse(text) {
        Ok(ok) => ok,
        Err(e) => {
            return check_msg(fmt, &e, text, facts, &|b| fmt.parse(b).err());
        }
    };
    let t1 = emit(fmt, &data, &md);
    let (d1, m1) = fmt.parse(t1.as_bytes()).unwrap_or_else(|e| {
        panic!(
            "{T}: the {} writer wrote a file that does not parse: {e}\n--- written ---\n{t1}",
            fmt.name()
        )
    });
    let names = |d: &[(String, Value)]| d.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&data), names(&d1), "{T}: keys changed on write\n{t1}");
    assert_eq!(md.age, m1.age, "{T}: age blocks changed on write\n{t1}");
    assert_eq!(md.mac, m1.mac, "{T}: mac changed on write\n{t1}");
    assert_eq!(
        md.lastmodified, m1.lastmodified,
        "{T}: lastmodified changed on write\n{t1}"
    );
    assert_eq!(
        md.rules, m1.rules,
        "{T}: encryption rules changed on write\n{t1}"
    );
    let t2 = emit(fmt, &d1, &m1);
    assert_eq!(t1, t2, "{T}: a second write differs from the first");
}

fn snapshot(v: &Vault) -> Vec<(String, Node)> {
    v.entries()
        .map(|(k, n)| (k.to_string(), n.clone()))
        .collect()
}

fn same(a: &[(String, Node)], b: &[(String, Node)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, na), (kb, nb))| ka == kb && na.same(nb))
}

/// Open, set, render: the first error's message.
fn open_set_render(name: &str, text: &[u8], ignore_mac: bool) -> Result<String, String> {
    let path = PathBuf::from(name);
    let mut v = Vault::from_bytes(path, text, identities(), OpenOptions { ignore_mac })
        .map_err(|e| e.to_string())?;
    v.set("FUZZ_NEW", CANARY).map_err(|e| e.to_string())?;
    v.render().map_err(|e| e.to_string())
}

fn open_and_write(fmt: Format, name: &str, text: &[u8], ignore_mac: bool, facts: Option<&Facts>) {
    let path = PathBuf::from(name);
    let ids = identities();
    let again = |b: &[u8]| open_set_render(name, b, ignore_mac).err();
    let refused = |e: gsec::Error| check_msg(fmt, &e.to_string(), text, facts, &again);
    let mut v = match Vault::from_bytes(path.clone(), text, ids, OpenOptions { ignore_mac }) {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    // `gsec set FUZZ_NEW <canary>`; the file's rules may refuse the name.
    if let Err(e) = v.set("FUZZ_NEW", CANARY) {
        return refused(e);
    }
    let before = snapshot(&v);
    let written = match v.render() {
        Ok(t) => t,
        // Refusals (key groups, no usable recipient) are fine.
        Err(e) => return refused(e),
    };
    if memchr::memmem::find(text, CANARY.as_bytes()).is_none() {
        assert!(
            !written.contains(CANARY),
            "{T}: a value set with gsec was written in clear\n{written}"
        );
    }
    let back = Vault::from_bytes(path, written.as_bytes(), ids, OpenOptions::default())
        .unwrap_or_else(|e| {
            panic!("{T}: gsec wrote a file it cannot open again: {e}\n--- written ---\n{written}")
        });
    assert!(
        same(&before, &snapshot(&back)),
        "{T}: values read back differ from the values written\n{written}"
    );
}

/// `gsec edit`: the buffer is `emit_tree(plain_emit)`, read back with
/// `yaml::parse_value` and `node_from_yaml` (cli/edit.rs); saving it is
/// `replace_all` + `render` on the environment's vault.
fn edit_buffer(text: &[u8]) {
    let Ok(Value::Mapping(m)) = gsec::yaml::parse_value(text) else {
        return;
    };
    let mut first: Vec<(String, Node)> = Vec::new();
    for (k, v) in m {
        // What `gsec edit` accepts as a top-level name.
        let Value::String(k) = k else { return };
        if gsec::config::check_name(&k, gsec::config::Naming::Any).is_err()
            || first.iter().any(|(o, _)| o.eq_ignore_ascii_case(&k))
        {
            return;
        }
        // `gsec edit` refuses what it could not write back (a null key
        // beside an empty one, tags, `:` in a key).
        let Ok(node) = node_from_yaml(&k, v) else {
            return;
        };
        first.push((k, node));
    }
    if first.is_empty() {
        return;
    }
    let tree = Emit::Map(
        first
            .iter()
            .map(|(k, n)| (k.clone(), n.plain_emit()))
            .collect(),
    );
    let buffer = format::emit_tree(&tree);
    let back = match gsec::yaml::parse_value(buffer.as_bytes()) {
        Ok(Value::Mapping(m)) => m,
        other => panic!(
            "{T}: the edit buffer gsec writes does not read back as a map ({:?})\n{}",
            other.err(),
            &*buffer
        ),
    };
    let second: Vec<(String, Node)> = back
        .into_iter()
        .map(|(k, v)| {
            let Value::String(k) = k else {
                panic!("{T}: edit buffer key is no longer a string\n{}", &*buffer)
            };
            let node = node_from_yaml(&k, v).unwrap_or_else(|e| {
                panic!(
                    "{T}: the edit buffer gsec writes is refused on reading: {e}\n{}",
                    &*buffer
                )
            });
            (k, node)
        })
        .collect();
    assert!(
        same(&first, &second),
        "{T}: an unchanged edit buffer reads back with other values\n{}",
        &*buffer
    );

    // Save: a new file for the fuzz identity, written and opened again.
    let ids = identities();
    let (r, _) = ids
        .first_recipient()
        .expect("fuzz identity has a recipient");
    let r = gsec::keys::Recipient::parse(r).expect("fuzz recipient parses");
    let path = PathBuf::from("fuzz.yaml");
    let mut v = Vault::create(path.clone(), vec![r]).expect("a .yaml vault");
    if v.replace_all(first).is_err() {
        return; // a name the file's rules would leave in clear
    }
    let before = snapshot(&v);
    let written = match v.render() {
        Ok(w) => w,
        // Refused, not written: a key past the YAML depth bound.
        Err(e) if e.to_string().contains("gsec could not open it again") => return,
        Err(e) => panic!("{T}: saving an edit buffer failed: {e}\n{}", &*buffer),
    };
    let reopened = Vault::from_bytes(path, written.as_bytes(), ids, OpenOptions::default())
        .unwrap_or_else(|e| {
            panic!(
                "{T}: a saved edit buffer does not open again: {e}\n--- buffer ---\n{}",
                &*buffer
            )
        });
    assert!(
        same(&before, &snapshot(&reopened)),
        "{T}: a saved edit buffer opens with other values\n{}",
        &*buffer
    );
}
