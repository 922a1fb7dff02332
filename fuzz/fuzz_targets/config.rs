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
use gsec_fuzz::{assert_no_value_echo, yaml_facts};
use libfuzzer_sys::fuzz_target;

const T: &str = "config";

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
                    // Not YAML: the message is the parser's, shortened; check
                    // it as the parser wrote it (only keys may appear).
                    (None, Err(raw)) => assert_no_value_echo(T, &raw, data, None, false, &|b| {
                        gsec::yaml::parse_value(b).err()
                    }),
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
