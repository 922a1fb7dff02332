//! Build step: the rule pack (`src/scan/rules/*.toml`) as one compact JSON
//! array in `OUT_DIR/rules.json`, without the true/false-positive samples.
//!
//! Why: the pre-commit hook starts a fresh process on every commit, and
//! lexing ~240 KB of TOML (mostly samples) cost ~5 ms of a ~20 ms budget.
//! The TOML stays the source of truth (reviewable, one file per domain, its
//! samples run by `scan::rules` tests); the binary reads the JSON, which
//! serde_json parses in a fraction of the time.

use std::path::Path;

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
            provider_words(&rule, &mut providers);
            rules.push(rule);
        }
    }
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let out = Path::new(&out_dir);
    std::fs::write(
        out.join("rules.json"),
        serde_json::to_string(&rules).expect("rules as JSON"),
    )
    .expect("write rules.json");
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
