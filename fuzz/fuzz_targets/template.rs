//! The template renderer (`gsec render`, `gsec check` of templates):
//! `render::placeholders` and `render::render`.
//!
//! Invariants:
//! - no panic;
//! - placeholders come in order, do not overlap, sit on character
//!   boundaries, name a valid secret name, and carry the right line;
//! - rendering replaces exactly the placeholders, once each, in one pass:
//!   a value that itself looks like a placeholder is inserted as is, and
//!   everything between placeholders is copied byte for byte;
//! - an unknown name fails with `TEMPLATE:LINE: unknown secret 'NAME'` for
//!   the first unknown placeholder, and the error carries no value.
#![no_main]

use gsec::render::{placeholders, render};
use gsec_fuzz::CANARY;
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

const T: &str = "template";

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic())
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a secret renders to: something that looks like a placeholder
/// (must not be expanded again) and carries the canary.
fn value_of(name: &str) -> String {
    format!("{{{{ secrets.{name} }}}}<{CANARY}>")
}

fuzz_target!(|data: &[u8]| {
    gsec_fuzz::guarded(|| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let ps = placeholders(text);
        let mut end = 0;
        for p in &ps {
            assert!(
                p.range.start >= end,
                "{T}: placeholders overlap or go backwards"
            );
            assert!(p.range.start < p.range.end && p.range.end <= text.len());
            assert!(
                text.is_char_boundary(p.range.start) && text.is_char_boundary(p.range.end),
                "{T}: placeholder range splits a character"
            );
            assert!(valid_name(&p.name), "{T}: invalid name {:?}", p.name);
            let inner = &text[p.range.clone()];
            assert!(
                inner.starts_with("{{") && inner.ends_with("}}") && inner.contains(&p.name),
                "{T}: range {inner:?} is not the placeholder of {:?}",
                p.name
            );
            let line = text[..p.range.start].matches('\n').count() + 1;
            assert_eq!(p.line, line, "{T}: wrong line for {:?}", p.name);
            end = p.range.end;
        }

        // Every name known: one lookup per placeholder, one pass.
        let mut expected = String::new();
        let mut last = 0;
        for p in &ps {
            expected.push_str(&text[last..p.range.start]);
            expected.push_str(&value_of(&p.name));
            last = p.range.end;
        }
        expected.push_str(&text[last..]);
        let mut asked = 0usize;
        let out = render("t.tmpl", text, |name| {
            asked += 1;
            Ok(Some(Zeroizing::new(value_of(name))))
        })
        .unwrap_or_else(|e| panic!("{T}: render failed with every name known: {e}"));
        assert_eq!(asked, ps.len(), "{T}: lookups != placeholders");
        assert!(
            *out == expected,
            "{T}: rendered text differs from the expected splice"
        );

        // Names starting with a letter in the upper half of the alphabet are
        // unknown.
        let unknown = |n: &str| n.as_bytes()[0].to_ascii_lowercase() > b'm';
        let r = render("t.tmpl", text, |name| {
            Ok((!unknown(name)).then(|| Zeroizing::new(value_of(name))))
        });
        match ps.iter().find(|p| unknown(&p.name)) {
            None => assert!(r.is_ok(), "{T}: render failed with every name known"),
            Some(p) => {
                let msg = r.err().expect("an unknown name fails").to_string();
                assert_eq!(
                    msg,
                    format!("t.tmpl:{}: unknown secret '{}'", p.line, p.name),
                    "{T}: unexpected error"
                );
                assert!(
                    !msg.contains(&format!("<{CANARY}>")),
                    "{T}: error carries a value"
                );
            }
        }
    })
});
