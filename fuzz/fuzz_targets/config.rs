//! `.gsec.yaml`: `config::Config::parse` (bounded YAML, duplicate keys,
//! typed parse, validation) and the config gsec writes back (`to_yaml`,
//! used by `gsec init` and `gsec recipients add`).
//!
//! Invariants:
//! - no panic;
//! - an error from the YAML or typed parse never quotes a value (serde's
//!   messages quote what they read: `invalid type: string "…"`); keys may
//!   be named, and validation messages may name values of the config
//!   (environment names, paths, globs), which are not secret;
//! - a config gsec accepts, it writes back (`to_yaml`) in a form it
//!   accepts again, and writing that once more gives the same text.
#![no_main]

use std::path::Path;

use gsec::config::Config;
use gsec_fuzz::{assert_no_value_echo, strip_duplicate_key, strip_serde_path, yaml_facts};
use libfuzzer_sys::fuzz_target;

const T: &str = "config";

/// Backticked spans of more than 24 characters as `…` (how gsec shortens
/// a number serde quotes in a config error).
fn elide_ticked(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find('`') {
        out.push_str(&rest[..i]);
        match rest[i + 1..].find('`') {
            Some(j) if rest[i + 1..i + 1 + j].chars().count() > 24 => {
                out.push_str("`…`");
                rest = &rest[i + 2 + j..];
            }
            Some(j) => {
                out.push_str(&rest[i..i + 2 + j]);
                rest = &rest[i + 2 + j..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    gsec_fuzz::guarded(|| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let path = Path::new(".gsec.yaml");
        match Config::parse(path, text) {
            Err(e) => {
                let msg = e.to_string();
                // Which stage failed: the YAML parse or the typed parse (serde
                // messages), or validation (gsec's own, naming config values).
                let serde_stage = gsec::yaml::parse_value(data).is_err()
                    || serde_norway::from_str::<Config>(text).is_err();
                if serde_stage {
                    // Values of .gsec.yaml are not secret: the rule is gsec's own
                    // (no quoted string longer than 24 characters), no canary check.
                    let facts = yaml_facts(data, &[]);
                    let again = |b: &[u8]| {
                        let t = std::str::from_utf8(b).ok()?;
                        Config::parse(path, t).err().map(|e| e.to_string())
                    };
                    match (&facts, gsec::yaml::parse_value(data)) {
                        // Not YAML: the message is the parser's (keys in a
                        // path, a number it cannot hold) after gsec shortens
                        // quoted parts, which can cut a key path anywhere.
                        // Check the parser's own message under the same
                        // rule (long backticked numbers elided).
                        (None, Err(raw)) => {
                            let shown =
                                |m: &str| elide_ticked(&strip_serde_path(&strip_duplicate_key(m)));
                            let yaml_again =
                                |b: &[u8]| gsec::yaml::parse_value(b).err().map(|m| shown(&m));
                            assert_no_value_echo(T, &shown(&raw), data, None, false, &yaml_again)
                        }
                        _ => assert_no_value_echo(T, &msg, data, facts.as_ref(), false, &again),
                    }
                }
            }
            Ok(cfg) => {
                let y1 = cfg.to_yaml();
                let again = Config::parse(path, &y1).unwrap_or_else(|e| {
                    panic!("{T}: gsec wrote a config it refuses: {e}\n--- written ---\n{y1}")
                });
                let y2 = again.to_yaml();
                assert_eq!(y1, y2, "{T}: writing the config twice gives different text");
                assert_eq!(
                    cfg.environments.keys().collect::<Vec<_>>(),
                    again.environments.keys().collect::<Vec<_>>(),
                    "{T}: environments changed on write"
                );
                assert_eq!(
                    cfg.recipients, again.recipients,
                    "{T}: recipients changed on write"
                );
            }
        }
    })
});
