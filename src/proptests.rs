//! Property tests on the parsers and the protocol (run in the normal
//! suite): parsers never panic on arbitrary input, encryption round-trips
//! arbitrary trees, merging is idempotent, dotenv quoting round-trips.

use proptest::prelude::*;

use crate::keys::{Recipient, generate, identities_from_text};
use crate::vault::{Node, Vault, format, merge, summary::Summary};

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_]{0,12}"
}

fn leaf_text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, newlines and YAML-looking text.
    prop_oneof![
        ".{1,40}",
        "[ \\t\\n\"'#:{}\\[\\]&*!|>%@`-]{1,12}",
        Just("true".to_string()),
        Just("0x10".to_string()),
        Just("~".to_string()),
    ]
}

fn tree() -> impl Strategy<Value = Vec<(String, Node)>> {
    let leaf = leaf_text().prop_map(|s| Node::Leaf(crate::vault::Leaf::string(&s)));
    let node = leaf.prop_recursive(2, 12, 4, |inner| {
        prop::collection::vec((name(), inner), 1..4).prop_map(|m| {
            let mut seen = Vec::new();
            Node::Map(
                m.into_iter()
                    .filter(|(k, _)| {
                        let fresh = !seen.contains(k);
                        seen.push(k.clone());
                        fresh
                    })
                    .collect(),
            )
        })
    });
    prop::collection::vec((name(), node), 0..6).prop_map(|m| {
        let mut seen: Vec<String> = Vec::new();
        m.into_iter()
            .filter(|(k, _)| {
                let fresh = !seen.iter().any(|s| s.eq_ignore_ascii_case(k));
                seen.push(k.clone());
                fresh && k != "sops"
            })
            .collect()
    })
}

struct Keys {
    ids: crate::keys::Identities,
    recipient: Recipient,
}

fn keys() -> Keys {
    let (text, public) = generate();
    Keys {
        ids: identities_from_text(&text),
        recipient: Recipient::parse(&public).unwrap(),
    }
}

fn encrypt(k: &Keys, data: &[(String, Node)]) -> String {
    encrypt_as("p.yaml", k, data)
}

/// Encrypted into a file named `path` (its name gives the format).
fn encrypt_as(path: &str, k: &Keys, data: &[(String, Node)]) -> String {
    let mut v = Vault::create(path, vec![k.recipient.clone()]).unwrap();
    for (n, node) in data {
        v.set_node(n, node.clone()).unwrap();
    }
    v.render().unwrap()
}

/// A key gsec would refuse to read back (more brackets than the YAML
/// depth bound) is refused when writing, leaving the old file as it was.
#[test]
fn a_file_gsec_could_not_reopen_is_not_written() {
    let k = keys();
    let mut v = Vault::create("p.yaml", vec![k.recipient.clone()]).unwrap();
    let key = format!("K{}", "[".repeat(crate::yaml::MAX_FLOW_DEPTH + 1));
    v.set_node(&key, Node::Leaf(crate::vault::Leaf::string("v")))
        .unwrap();
    let err = v.render().unwrap_err().to_string();
    assert!(
        err.contains("p.yaml") && err.contains("not written"),
        "{err}"
    );
    // (The value's `ENC[` opens one more.)
    let fine = format!("K{}", "[".repeat(crate::yaml::MAX_FLOW_DEPTH - 2));
    let text = encrypt(
        &k,
        &[(fine.clone(), Node::Leaf(crate::vault::Leaf::string("v")))],
    );
    assert!(open(&k, &text).get(&fine).is_some());
}

fn open(k: &Keys, text: &str) -> Vault {
    open_as("p.yaml", k, text)
}

fn open_as(path: &str, k: &Keys, text: &str) -> Vault {
    Vault::from_bytes(path.into(), text.as_bytes(), &k.ids, Default::default()).unwrap()
}

/// Top-level string values only, under names a dotenv file can hold.
fn flat_tree() -> impl Strategy<Value = Vec<(String, Node)>> {
    tree().prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| !k.starts_with("sops_"))
            .map(|(k, n)| match n {
                Node::Leaf(_) => (k, n),
                _ => (k, Node::Leaf(crate::vault::Leaf::string("was a map"))),
            })
            .collect()
    })
}

fn same(a: &Vault, b: &[(String, Node)]) -> bool {
    a.len() == b.len()
        && b.iter()
            .all(|(k, n)| a.get(k).is_some_and(|(_, m)| m.same(n)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for f in [format::Format::Yaml, format::Format::Json, format::Format::Dotenv] {
            let _ = f.parse(&bytes);
        }
        let _ = Summary::of(std::path::Path::new("p.yaml"), &bytes);
        let _ = Summary::of(std::path::Path::new("p"), &bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = crate::dotenv::parse(text);
            let _ = crate::render::placeholders(text);
        }
    }

    #[test]
    fn encryption_round_trips_arbitrary_trees(data in tree()) {
        let k = keys();
        let text = encrypt(&k, &data);
        let v = open(&k, &text);
        prop_assert!(same(&v, &data));
        // Nothing to rewrite: a save would change no byte.
        prop_assert!(!v.is_dirty());
        prop_assert_eq!(Summary::of(std::path::Path::new("p.yaml"), text.as_bytes()).unwrap().entries.is_empty(), data.is_empty());
    }

    #[test]
    fn json_and_dotenv_round_trip_arbitrary_values(data in tree(), flat in flat_tree()) {
        let k = keys();
        for (path, data) in [("p.json", &data), ("p.env", &flat)] {
            let text = encrypt_as(path, &k, data);
            let v = open_as(path, &k, &text);
            prop_assert!(same(&v, data), "{}", path);
            prop_assert!(!v.is_dirty());
            let s = Summary::of(std::path::Path::new(path), text.as_bytes()).unwrap();
            prop_assert_eq!(s.entries.is_empty(), data.is_empty());
        }
    }

    #[test]
    fn a_mutated_json_or_dotenv_file_is_refused_or_decrypts_never_panics(data in tree(), flat in flat_tree(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
        let k = keys();
        for (path, data) in [("p.json", &data), ("p.env", &flat)] {
            let mut bytes = encrypt_as(path, &k, data).into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = b;
            let _ = Vault::from_bytes(path.into(), &bytes, &k.ids, Default::default());
        }
    }

    #[test]
    fn a_mutated_file_is_refused_or_decrypts_never_panics(data in tree(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
        let k = keys();
        let mut bytes = encrypt(&k, &data).into_bytes();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Vault::from_bytes("p.yaml".into(), &bytes, &k.ids, Default::default());
    }

    #[test]
    fn merging_is_idempotent_and_one_sided_changes_win(base in tree(), other in tree()) {
        let k = keys();
        let b_text = encrypt(&k, &base);
        let o_text = encrypt(&k, &other);
        // Nothing changed on either side: the result is ours.
        let b = open(&k, &b_text);
        let mut o = open(&k, &o_text);
        let out = merge::three_way(Some(&open(&k, &o_text)), &mut o, &open(&k, &o_text)).unwrap();
        prop_assert!(out.conflicts.is_empty());
        prop_assert!(same(&o, &other));
        // Only theirs changed: theirs; only ours changed: ours.
        let mut ours = open(&k, &b_text);
        let out = merge::three_way(Some(&b), &mut ours, &open(&k, &o_text)).unwrap();
        prop_assert!(out.conflicts.is_empty());
        prop_assert!(same(&ours, &other));
        let mut ours = open(&k, &o_text);
        let out = merge::three_way(Some(&b), &mut ours, &open(&k, &b_text)).unwrap();
        prop_assert!(out.conflicts.is_empty());
        prop_assert!(same(&ours, &other));
        // The merged file encrypts, and opens again with the same values.
        let text = ours.render().unwrap();
        prop_assert!(same(&open(&k, &text), &other));
    }

    #[test]
    fn dotenv_quoting_round_trips(v in "[^\u{0}]{1,60}") {
        let line = format!("K={}\n", &*crate::dotenv::quote(&v));
        let parsed = crate::dotenv::parse(&line).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        prop_assert_eq!(&*parsed[0].value, v.as_str());
    }

    #[test]
    fn added_lines_marks_exactly_a_change(
        old in prop::collection::vec(0u8..6, 0..30),
        new in prop::collection::vec(0u8..6, 0..30),
        nl in any::<bool>(),
    ) {
        // Lines from a small alphabet (so both sides share many), the last
        // one with or without its newline.
        let text = |v: &[u8]| {
            let mut t: Vec<u8> = v.iter().flat_map(|c| [b'a' + c, b'\n']).collect();
            if !nl && !t.is_empty() {
                t.pop();
            }
            t
        };
        let (o, n) = (text(&old), text(&new));
        let split = |t: &[u8]| t.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>();
        let (ol, nl_) = (split(&o), split(&n));
        let marks = crate::git::added_lines(Some(&o), &n);
        prop_assert_eq!(marks.len(), nl_.len());
        // Every line old does not have is marked, and the unmarked lines
        // are old's lines in order (a subsequence).
        let mut rest = ol.iter();
        for (line, added) in nl_.iter().zip(&marks) {
            if !ol.contains(line) {
                prop_assert!(*added);
            }
            if !*added {
                prop_assert!(rest.any(|l| l == line), "kept line out of order");
            }
        }
        prop_assert_eq!(crate::git::added_lines(None, &n), vec![true; nl_.len()]);
        // The same text: nothing added.
        prop_assert!(crate::git::added_lines(Some(&n), &n).iter().all(|a| !a));
    }
}

proptest! {
    // Cheap cases, and the byte arithmetic has many edges: more of them.
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// `added_lines` finds the shared leading and trailing lines by
    /// comparing bytes; it must agree with splitting both versions into
    /// lines, as it once did, whatever the lines and final newlines.
    #[test]
    fn added_lines_agrees_with_comparing_whole_lines(
        old in prop::collection::vec("[ab]{0,3}\n?", 0..12),
        new in prop::collection::vec("[ab]{0,3}\n?", 0..12),
        shared in prop::collection::vec("[ab]{0,40}\n", 0..8),
    ) {
        // Around a long shared middle too: the comparison goes by blocks.
        let (o, n) = if old.len() % 2 == 0 {
            (old.concat().into_bytes(), new.concat().into_bytes())
        } else {
            let s = shared.concat();
            (format!("{s}{}{s}", old.concat()).into_bytes(), format!("{s}{}{s}", new.concat()).into_bytes())
        };
        prop_assert_eq!(crate::git::added_lines(Some(&o), &n), added_lines_by_lines(&o, &n));
        prop_assert_eq!(crate::git::line_count(&n), n.split_inclusive(|&b| b == b'\n').count());
    }
}

/// The line-splitting `added_lines` the byte comparison replaced (the
/// oracle of `added_lines_agrees_with_comparing_whole_lines`).
#[cfg(test)]
fn added_lines_by_lines(old: &[u8], new: &[u8]) -> Vec<bool> {
    use gix::diff::blob::{Algorithm, Diff, InternedInput};
    let a: Vec<&[u8]> = old.split_inclusive(|&b| b == b'\n').collect();
    let b: Vec<&[u8]> = new.split_inclusive(|&b| b == b'\n').collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let bytes = |lines: &[&[u8]]| lines.iter().map(|l| l.len()).sum::<usize>();
    let (start, end) = (bytes(&b[..head]), bytes(&b[b.len() - tail..]));
    let old_mid = &old[start..old.len() - end];
    let new_mid = &new[start..new.len() - end];
    let mut out = vec![false; b.len()];
    if old_mid.is_empty() {
        out[head..b.len() - tail].fill(true);
        return out;
    }
    let input = InternedInput::new(old_mid, new_mid);
    let diff = Diff::compute(Algorithm::Histogram, &input);
    for (i, slot) in out[head..b.len() - tail].iter_mut().enumerate() {
        *slot = diff.is_added(i as u32);
    }
    out
}
