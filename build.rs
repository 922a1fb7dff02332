//! Build step: the rule pack (`src/scan/rules/*.toml`) as Rust source in
//! `OUT_DIR/pack.rs` (each rule's id, and the rule as compact JSON),
//! without the true/false-positive samples.
//!
//! Why: the pre-commit hook starts a fresh process on every commit, and
//! lexing ~240 KB of TOML (mostly samples) cost ~5 ms of a ~20 ms budget.
//! The TOML stays the source of truth (reviewable, one file per domain, its
//! samples run by `scan::rules` tests); the binary reads the JSON, which
//! serde_json parses in a fraction of the time, and only for the rules a
//! scan runs (a pre-commit scan parses a handful of the ~600).
//!
//! It also makes, at compile time, what the scanner would otherwise build
//! at every start (`OUT_DIR/keywords.rs`): the prefilter's keyword table,
//! every distinct keyword of the pack and of generic detection with the
//! rules it fires, bucketed by its first two bytes. And it compiles every
//! rule's pattern exactly as the scanner does (`src/scan/build_shared.rs`):
//! a rule that would not compile, or that lacks valid keywords, fails the
//! build, so the scanner's lazy per-rule compilation cannot fail at run
//! time for the built-in pack.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[path = "src/scan/build_shared.rs"]
#[allow(dead_code)]
mod build_shared;
#[path = "src/scan/rule_head.rs"]
mod rule_head;

fn main() {
    let dir = Path::new("src/scan/rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("src/scan/rules")
        .map(|e| e.expect("src/scan/rules entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    // The order of scan::rules::FILES, so rule order is the same either way.
    files.sort();
    let mut rules = Vec::new();
    let mut origin: Vec<String> = Vec::new();
    let mut providers = std::collections::BTreeSet::new();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let text = std::fs::read_to_string(f).expect("rule file");
        let pack: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {}", f.display(), e.message()));
        let Some(toml::Value::Array(list)) = pack.get("rules") else {
            continue;
        };
        for rule in list {
            let mut rule = rule.as_table().expect("each rule is a table").clone();
            rule.remove("tp");
            rule.remove("fp");
            check_verify(f, &rule);
            origin.push(f.display().to_string());
            provider_words(&rule, &mut providers);
            rules.push(rule);
        }
    }
    check_rules(&origin, &rules);
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let out = Path::new(&out_dir);
    std::fs::write(out.join("keywords.rs"), keyword_table(&rules)).expect("write keywords.rs");
    std::fs::write(out.join("pack.rs"), pack_source(&rules)).expect("write pack.rs");
    // Words that are not provider names (generic formats, common English
    // words some providers are named after): data beside generic detection.
    let stop_file = Path::new("src/scan/generic_stopwords.txt");
    println!("cargo:rerun-if-changed={}", stop_file.display());
    let stop_text = std::fs::read_to_string(stop_file).expect("generic_stopwords.txt");
    let mut section = "";
    let mut stop = std::collections::BTreeSet::new();
    for line in stop_text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[not-providers]" && !line.is_empty() && !line.starts_with('#') {
            stop.insert(line.to_ascii_lowercase());
        }
    }
    let list: Vec<String> = providers.difference(&stop).cloned().collect();
    std::fs::write(out.join("providers.txt"), list.join("\n")).expect("write providers.txt");
}

/// Every built-in rule must compile and have usable keywords (see
/// `build_shared::check_builtin`), or the build fails naming each broken
/// one. The patterns compile on all cores.
fn check_rules(origin: &[String], rules: &[toml::Table]) {
    let check = |i: usize| -> Option<String> {
        let rule = &rules[i];
        let id = rule.get("id").and_then(toml::Value::as_str).unwrap_or("?");
        let keywords = keywords(rule);
        let pattern = rule
            .get("pattern")
            .and_then(toml::Value::as_str)
            .unwrap_or("");
        build_shared::check_builtin(&keywords, pattern)
            .err()
            .map(|why| format!("{}: rule {id}: {why}", origin[i]))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= rules.len() {
                        break;
                    }
                    if let Some(e) = check(i) {
                        errors.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let mut errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        errors.sort();
        panic!("broken built-in rules:\n{}", errors.join("\n"));
    }
}

/// Rust source of the pack (see `scan::rules`): `IDS`, every rule's id in
/// pack order, and `JSON`, each rule as its own compact JSON object, so
/// that a scan parses only the rules whose keyword occurs.
fn pack_source(rules: &[toml::Table]) -> String {
    let ids: Vec<&str> = rules
        .iter()
        .map(|r| r.get("id").and_then(toml::Value::as_str).unwrap_or(""))
        .collect();
    let json: Vec<String> = rules
        .iter()
        .map(|r| serde_json::to_string(r).expect("rule as JSON"))
        .collect();
    let mut s = String::from("// Generated by build.rs from src/scan/rules/*.toml: do not edit.\n");
    static_array(&mut s, "IDS", "&str", &ids);
    static_array(&mut s, "JSON", "&str", &json);
    s
}

/// Rust source of the prefilter's tables (see `scan::prefilter`):
/// `WORDS` (distinct lowercase keywords: the pack's in rule order, then
/// generic detection's), `TARGETS`/`TARGET_START` (per word, the pack
/// rule indexes it fires, or `GENERIC`/`K8S_SECRET`), and
/// `BUCKET_START`/`BUCKET_WORDS` (the words by `build_shared::bucket` of
/// their first two bytes, each as its index in the low 16 bits and its
/// third byte, or 0 for a two-byte word, in the next 8: most words of a
/// bucket are then rejected without reading the word).
fn keyword_table(rules: &[toml::Table]) -> String {
    const GENERIC: u16 = u16::MAX;
    const K8S: u16 = u16::MAX - 1;
    let mut words: Vec<String> = Vec::new();
    let mut targets: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
    let mut add = |w: &str, t: u16, words: &mut Vec<String>| {
        let i = match words.iter().position(|x| x == w) {
            Some(i) => i,
            None => {
                words.push(w.to_string());
                words.len() - 1
            }
        };
        let list = targets.entry(i).or_default();
        if !list.contains(&t) {
            list.push(t);
        }
    };
    assert!(
        rules.len() < usize::from(K8S),
        "too many rules for u16 indexes"
    );
    for (i, r) in rules.iter().enumerate() {
        if let Some(toml::Value::Array(a)) = r.get("keywords") {
            for k in a.iter().filter_map(toml::Value::as_str) {
                add(k, i as u16, &mut words);
            }
        }
    }
    for k in build_shared::GENERIC_KEYWORDS
        .iter()
        .chain(build_shared::PROVIDER_KEYWORDS)
    {
        add(k, GENERIC, &mut words);
    }
    add(build_shared::K8S_SECRET_KEYWORD, K8S, &mut words);
    let mut buckets: Vec<Vec<u16>> = vec![Vec::new(); build_shared::BUCKETS];
    for (i, w) in words.iter().enumerate() {
        let b = w.as_bytes();
        assert!(
            b.len() >= 2 && !b.contains(&0),
            "keyword {w:?}: at least two bytes, no NUL"
        );
        buckets[build_shared::bucket(b[0], b[1])].push(i as u16);
    }
    let mut s = String::from("// Generated by build.rs from src/scan/rules/*.toml: do not edit.\n");
    writeln!(s, "pub(super) const PACK_RULES: usize = {};", rules.len()).unwrap();
    static_array(&mut s, "WORDS", "&str", &words);
    let mut start = vec![0u16];
    let mut flat: Vec<u16> = Vec::new();
    for i in 0..words.len() {
        flat.extend(&targets[&i]);
        start.push(flat.len() as u16);
    }
    static_array(&mut s, "TARGETS", "u16", &flat);
    static_array(&mut s, "TARGET_START", "u16", &start);
    heads(rules, &mut s);
    let mut bstart = vec![0u16];
    let mut bwords: Vec<u32> = Vec::new();
    for b in &buckets {
        for &w in b {
            let third = words[usize::from(w)]
                .as_bytes()
                .get(2)
                .copied()
                .unwrap_or(0);
            bwords.push(u32::from(w) | u32::from(third) << 16);
        }
        bstart.push(bwords.len() as u16);
    }
    static_array(&mut s, "BUCKET_START", "u16", &bstart);
    static_array(&mut s, "BUCKET_WORDS", "u32", &bwords);
    s
}

/// `pub(super) static NAME: [TY; N] = [...];` in generated source.
fn static_array<T: std::fmt::Debug>(s: &mut String, name: &str, ty: &str, values: &[T]) {
    writeln!(
        s,
        "pub(super) static {name}: [{ty}; {}] = {values:?};",
        values.len()
    )
    .unwrap();
}

/// A rule's keywords (none when the field is missing or not a list).
fn keywords(rule: &toml::Table) -> Vec<&str> {
    match rule.get("keywords") {
        Some(toml::Value::Array(a)) => a.iter().filter_map(toml::Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Each pack rule's heads (see `scan::rule_head`): `HEAD_SETS`, the
/// distinct byte sets; `HEADS`, every head's pieces (`rule_head::encode`),
/// head after head; `HEAD_ALTS`, where each head's pieces begin in `HEADS`
/// (and, last, where the last one ends); `HEAD_START`, where rule `i`'s
/// heads begin in `HEAD_ALTS` (none: the rule fires on its keyword alone).
fn heads(rules: &[toml::Table], s: &mut String) {
    let mut sets: Vec<rule_head::Set> = Vec::new();
    let mut pieces: Vec<u16> = Vec::new();
    let mut alts = vec![0u32];
    let mut start = vec![0u32];
    for r in rules {
        let keywords = keywords(r);
        let pattern = r.get("pattern").and_then(toml::Value::as_str).unwrap_or("");
        if let Some(heads) = rule_head::heads(pattern, &keywords)
            && let Some(encoded) = heads
                .iter()
                .map(|h| rule_head::encode(h, &mut sets))
                .collect::<Option<Vec<_>>>()
        {
            for e in encoded {
                pieces.extend(e);
                alts.push(pieces.len() as u32);
            }
        }
        start.push((alts.len() - 1) as u32);
    }
    static_array(s, "HEAD_SETS", "[u64; 4]", &sets);
    static_array(s, "HEADS", "u16", &pieces);
    static_array(s, "HEAD_ALTS", "u32", &alts);
    static_array(s, "HEAD_START", "u32", &start);
}

/// The provider words of a rule, for generic detection's `<PROVIDER>_KEY`
/// names: the first segment of its id (`mailchimp-api-key`) and its
/// provider's name with separators removed (`Hugging Face` → `huggingface`).
fn provider_words(rule: &toml::Table, out: &mut std::collections::BTreeSet<String>) {
    if let Some(id) = rule.get("id").and_then(toml::Value::as_str)
        && let Some(first) = id.split('-').next()
        && first.len() >= 3
    {
        out.insert(first.to_string());
    }
    if let Some(p) = rule.get("provider").and_then(toml::Value::as_str) {
        let compact: String = p
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if compact.len() >= 3 && !p.contains('(') {
            out.insert(compact);
        }
    }
}

/// A live check must go to the fixed https host its rule names: a rule file
/// that says otherwise does not build (the `scan::verify` tests check the
/// rest of the declaration).
fn check_verify(file: &Path, rule: &toml::Table) {
    let Some(v) = rule.get("verify") else { return };
    let id = rule.get("id").and_then(toml::Value::as_str).unwrap_or("?");
    let url = v
        .get("url")
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("{}: {id}: verify.url is missing", file.display()));
    let host = url
        .strip_prefix("https://")
        .map(|r| r.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("");
    if host.is_empty() || url.contains(['{', '}', '#']) || host.contains([':', '@']) {
        panic!(
            "{}: {id}: verify.url must be https:// to a fixed host, without placeholder, port or user info",
            file.display()
        );
    }
}
