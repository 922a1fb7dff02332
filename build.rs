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
            rules.push(rule);
        }
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("rules.json");
    std::fs::write(&out, serde_json::to_string(&rules).expect("rules as JSON"))
        .expect("write rules.json");
}
