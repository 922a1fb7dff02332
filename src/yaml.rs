//! Parsing YAML that gsec did not write itself (environment files,
//! `.gsec.yaml`, `.gsec.local.yaml`, an edited buffer): the bounds every such
//! parse goes through, in one place.
//!
//! - Nesting: libyaml's bookkeeping of flow collections (`[`, `{`) costs time
//!   quadratic in their depth (an 81 KB file of `[` took 8.6 s to refuse), so
//!   the depth is measured on the raw text and refused *before* the parser
//!   runs. The measure counts every bracket, quoted or not, so it can only
//!   over-estimate: a file is refused when it has more than
//!   [`MAX_FLOW_DEPTH`] unclosed brackets at some point, which no real
//!   secrets file or config has.
//! - Duplicate keys: parsing into a [`Value`] refuses them (serde_norway's
//!   `Mapping` reports "duplicate entry with key …"), unlike typed maps
//!   (`IndexMap`), where the last one silently wins.
//!
//! Sizes are bounded when files are read (`fsutil::read_regular`).

use serde_norway::Value;

/// Deepest flow nesting (`[[[…` / `{{{…`) accepted.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Refuse text nested deeper than [`MAX_FLOW_DEPTH`] flow levels.
pub fn check_depth(text: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    for &b in text {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(format!(
                        "YAML nested more than {MAX_FLOW_DEPTH} levels deep; refused before parsing"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parse untrusted YAML into a tree: depth bound first, then a parse that
/// refuses duplicate keys. Errors are the parser's message, prefixed
/// `invalid YAML: `.
pub fn parse_value(text: &[u8]) -> Result<Value, String> {
    check_depth(text)?;
    serde_norway::from_slice(text).map_err(|e| format!("invalid YAML: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_bounded_before_parsing() {
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert!(parse_value(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        assert!(
            check_depth(deep.as_bytes())
                .unwrap_err()
                .contains("64 levels")
        );
        // Balanced brackets in values do not add up.
        let many = "a: ENC[x]\n".repeat(1000);
        assert!(check_depth(many.as_bytes()).is_ok());
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for text in ["a: 1\na: 2\n", "x:\n  team: [a]\n  team: [b]\n"] {
            let e = parse_value(text.as_bytes()).unwrap_err();
            assert!(e.contains("duplicate entry with key"), "{e}");
        }
    }
}
