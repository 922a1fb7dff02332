//! A rule's *head*: the bytes every match of its pattern begins with, as
//! one byte set per position, kept only when every match also begins with
//! one of the rule's keywords.
//!
//! The prefilter then fires a rule only at a keyword occurrence that its
//! head fits: `pat` in `path` does not fire `airtable-pat`, whose matches
//! begin `pat`, 14 letters or digits and a dot; `key` in `api_key` does
//! not fire `telnyx-api-key` (`KEY` and 32 upper-case hex digits). In a
//! pre-commit hook most keyword occurrences are such ordinary words, and
//! each rule they fired cost a regex build.
//!
//! Derived at build time (`build.rs` takes this file with `#[path]`; the
//! tables land in `OUT_DIR/keywords.rs`) from the pattern's syntax tree,
//! parsed as [`super::build_shared::compile`] compiles it first: bytes,
//! ASCII classes. Only `regex-syntax` and `std` may be used here.
//!
//! Soundness: the head is a necessary condition. Zero-width assertions are
//! skipped (a weaker condition), a repetition contributes its minimum, an
//! alternation the union of its branches up to the shortest; the walk stops
//! at the first piece of variable length. So every match starts with bytes
//! in the head's sets, and since the keyword check below holds, at an
//! occurrence of one of the rule's keywords, where the prefilter looks.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A set of bytes: bit `b % 64` of word `b / 64`.
pub type Set = [u64; 4];

/// Positions kept at most (the first ones reject nearly every ordinary
/// word; a longer head only costs table space).
pub const MAX: usize = 24;

/// Does `set` hold byte `b`?
#[inline]
pub fn holds(set: &Set, b: u8) -> bool {
    set[usize::from(b >> 6)] >> (b & 63) & 1 == 1
}

/// The head of `pattern`, if every match begins with one of `keywords`
/// (lowercase, compared ASCII case-insensitively as the prefilter does)
/// and the head says more than that keyword; `None` otherwise (the rule
/// then fires on its keyword alone, as before).
pub fn derive(pattern: &str, keywords: &[&str]) -> Option<Vec<Set>> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let mut head = Vec::new();
    walk(&hir, &mut head);
    let shortest = keywords.iter().map(|k| k.len()).min()?;
    let tighter = head.len() > shortest
        || head
            .iter()
            .any(|s| s.iter().map(|w| w.count_ones()).sum::<u32>() == 1);
    (tighter && starts_with_a_keyword(&head, keywords)).then_some(head)
}

/// Append the sets `h` begins with to `out`; `true` when all of `h` was
/// of fixed length (the walk may go on after it).
fn walk(h: &Hir, out: &mut Vec<Set>) -> bool {
    if out.len() >= MAX {
        return false;
    }
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => {
            for &b in lit.0.iter() {
                if out.len() >= MAX {
                    return false;
                }
                let mut s = [0; 4];
                s[usize::from(b >> 6)] |= 1 << (b & 63);
                out.push(s);
            }
            true
        }
        HirKind::Class(class) => match byte_set(class) {
            Some(s) => {
                out.push(s);
                true
            }
            None => false,
        },
        HirKind::Repetition(r) => {
            for _ in 0..r.min {
                if !walk(&r.sub, out) {
                    return false;
                }
            }
            r.max == Some(r.min)
        }
        HirKind::Capture(c) => walk(&c.sub, out),
        HirKind::Concat(subs) => subs.iter().all(|s| walk(s, out)),
        HirKind::Alternation(subs) => {
            let branches: Vec<(Vec<Set>, bool)> = subs
                .iter()
                .map(|s| {
                    let mut v = Vec::new();
                    let whole = walk(s, &mut v);
                    (v, whole)
                })
                .collect();
            let n = branches.iter().map(|(v, _)| v.len()).min().unwrap_or(0);
            let n = n.min(MAX - out.len());
            for i in 0..n {
                let mut s = [0; 4];
                for (v, _) in &branches {
                    for (w, x) in s.iter_mut().zip(v[i]) {
                        *w |= x;
                    }
                }
                out.push(s);
            }
            branches.iter().all(|(v, whole)| *whole && v.len() == n)
        }
    }
}

/// A class as a byte set; `None` for a Unicode class reaching past ASCII
/// (its UTF-8 encodings are not one byte each).
fn byte_set(class: &Class) -> Option<Set> {
    let mut s = [0u64; 4];
    let mut add = |lo: u32, hi: u32| {
        for b in lo..=hi {
            s[(b >> 6) as usize] |= 1 << (b & 63);
        }
    };
    match class {
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .for_each(|r| add(u32::from(r.start()), u32::from(r.end()))),
        Class::Unicode(c) => {
            if c.ranges().iter().any(|r| u32::from(r.end()) > 0x7F) {
                return None;
            }
            c.ranges()
                .iter()
                .for_each(|r| add(u32::from(r.start()), u32::from(r.end())));
        }
    }
    Some(s)
}

/// Does every byte string the head's sets allow begin with a keyword?
/// Walks the strings only as far as they are still a prefix of some
/// keyword, so the work is bounded by the keywords, not the sets.
fn starts_with_a_keyword(head: &[Set], keywords: &[&str]) -> bool {
    fn go(head: &[Set], keywords: &[&str], prefix: &mut Vec<u8>, budget: &mut u32) -> bool {
        if keywords
            .iter()
            .any(|k| k.len() == prefix.len() && k.as_bytes().eq_ignore_ascii_case(prefix))
        {
            return true;
        }
        let i = prefix.len();
        let Some(set) = head.get(i) else { return false };
        for b in 0..=255u8 {
            if !holds(set, b) {
                continue;
            }
            *budget = budget.saturating_sub(1);
            let extends = keywords.iter().any(|k| {
                k.len() > i
                    && k.as_bytes()[i].eq_ignore_ascii_case(&b)
                    && k.as_bytes()[..i].eq_ignore_ascii_case(prefix)
            });
            if !extends || *budget == 0 {
                return false;
            }
            prefix.push(b);
            let ok = go(head, keywords, prefix, budget);
            prefix.pop();
            if !ok {
                return false;
            }
        }
        true
    }
    !head.is_empty() && go(head, keywords, &mut Vec::new(), &mut 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head as strings of the bytes each set holds (printable ones).
    fn shown(head: &[Set]) -> Vec<String> {
        head.iter()
            .map(|s| {
                (b' '..=b'~')
                    .filter(|&b| holds(s, b))
                    .map(char::from)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_prefix_token_head_runs_to_its_first_variable_piece() {
        let h = derive(r"\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b", &["pat"]).unwrap();
        assert_eq!(h.len(), MAX);
        let s = shown(&h);
        assert_eq!(&s[..3], ["p", "a", "t"]);
        assert_eq!(s[3].len(), 62);
        assert_eq!(s[17], ".");
        assert_eq!(s[18], "0123456789abcdef");
        // Case-sensitive pattern, case-insensitive keyword: tighter.
        let h = derive(r"\b(KEY[0-9A-F]{32}_[A-Za-z0-9]{22})\b", &["key"]).unwrap();
        assert_eq!(&shown(&h)[..4], ["K", "E", "Y", "0123456789ABCDEF"]);
        // A repetition gives its minimum, then the walk stops.
        let h = derive(
            r"\b(perm[:-][A-Za-z0-9+/=_-]{4,60}\.x)",
            &["perm:", "perm-"],
        )
        .unwrap();
        assert_eq!(h.len(), 9);
        assert_eq!(shown(&h)[4], "-:");
    }

    #[test]
    fn no_head_unless_every_match_begins_with_a_keyword() {
        // The keyword is inside the match, not at its start.
        assert_eq!(
            derive(r#"define\(\s*['"](?:AUTH|NONCE)_KEY"#, &["_key"]),
            None
        );
        // A match may begin before the keyword.
        assert_eq!(
            derive(r"(?:^|[^A-Za-z0-9_.-])(sl\.[A-Za-z0-9_-]{130})", &["sl."]),
            None
        );
        assert_eq!(derive(r"[a-z]*tok_[a-z]{8}", &["tok_"]), None);
        // Branches of different lengths: the head stops within the
        // shortest, before any keyword is complete.
        assert_eq!(
            derive(
                r"\b((?:prod|preview|dev):[a-z]+)",
                &["prod:", "preview:", "dev:"]
            ),
            None
        );
        // Says nothing the keyword does not.
        assert_eq!(derive(r"(?i:(?:\bfal)[\w.-]{0,20}key)", &["fal"]), None);
        // Does not parse, or no keyword.
        assert_eq!(derive(r"ab_[", &["ab_"]), None);
        assert_eq!(derive(r"ab_[a-z]{8}", &[]), None);
    }

    #[test]
    fn assertions_are_skipped_and_alternations_united() {
        let h = derive(r"(?i)\b(?:xox[bp])-\d{4}", &["xoxb-", "xoxp-"]).unwrap();
        assert_eq!(
            shown(&h),
            [
                "Xx",
                "Oo",
                "Xx",
                "BPbp",
                "-",
                "0123456789",
                "0123456789",
                "0123456789",
                "0123456789"
            ]
        );
        // Same-length branches: the walk goes on after them.
        let h = derive(r"(?:ab|AB)_\d", &["ab_"]).unwrap();
        assert_eq!(shown(&h), ["Aa", "Bb", "_", "0123456789"]);
    }

    /// Every head of the built-in pack is one its samples fit: each true
    /// positive the rule finds begins with bytes in the head's sets.
    #[test]
    fn the_pack_heads_fit_every_sample_match() {
        let mut with_head = 0;
        for (file, text) in crate::scan::rules::FILES {
            for rule in crate::scan::rules::parse(file, text).unwrap() {
                let kw: Vec<&str> = rule.keywords.iter().map(String::as_str).collect();
                let Some(head) = derive(&rule.pattern, &kw) else {
                    continue;
                };
                with_head += 1;
                let re = rule.regex().unwrap();
                for tp in &rule.tp {
                    for m in re.find_iter(tp.as_bytes()) {
                        let at = &tp.as_bytes()[m.start()..];
                        assert!(
                            at.len() >= head.len()
                                && at.iter().zip(&head).all(|(&b, s)| holds(s, b)),
                            "{}: head does not fit {tp:?}",
                            rule.id
                        );
                    }
                }
            }
        }
        // Most prefix-token rules have one.
        assert!(with_head > 200, "{with_head}");
    }
}
