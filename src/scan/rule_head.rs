//! A rule's *heads*: what every match of its pattern begins with, as a
//! short sequence of pieces (one byte from a set, or a gap of up to `n`
//! bytes from a set), one head per branch of a leading alternation, kept
//! only when every match also begins with one of the rule's keywords.
//!
//! The prefilter then fires a rule only at a keyword occurrence that its
//! head fits: `pat` in `path` does not fire `airtable-pat`, whose matches
//! begin `pat`, 14 letters or digits and a dot; `key` in `api_key` does
//! not fire `telnyx-api-key` (`KEY` and 32 upper-case hex digits); `ibm`
//! fires `ibm-cloud-api-key` only when `api`, `iam` or the like follows
//! within 20 name characters. In a pre-commit hook most keyword
//! occurrences are such ordinary words, and each rule they fired cost an
//! automaton build.
//!
//! Derived at build time (`build.rs` takes this file with `#[path]`; the
//! tables land in `OUT_DIR/keywords.rs`, read by `prefilter::head_fits`)
//! from the pattern's syntax tree, parsed as
//! [`super::build_shared::compile`] compiles it first: bytes, ASCII
//! classes, the `regex` crate's default flags. Only `regex-syntax` and
//! `std` may be used here.
//!
//! Soundness: the head is a necessary condition. Zero-width assertions are
//! skipped (a weaker condition); a repetition of one byte contributes its
//! minimum and a gap up to its maximum; an alternation one head per branch
//! (past [`MAX_ALTS`], the union of its branches up to the shortest); the
//! walk stops at the first piece it
//! cannot describe (an unbounded repetition, a long gap). So every match
//! starts with bytes the head fits, and since the keyword check below
//! holds, at an occurrence of one of the rule's keywords, where the
//! prefilter looks.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A set of bytes: bit `b % 64` of word `b / 64`.
pub type Set = [u64; 4];

/// One piece of a head: `gap == 0`, one byte in `set`; else between 0
/// and `gap` bytes in `set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Piece {
    pub set: Set,
    pub gap: u8,
}

/// Pieces kept at most (the first ones reject nearly every ordinary
/// word; a longer head only costs table space).
pub const MAX: usize = 24;

/// The longest gap described (`[\w.-]{0,20}` between a provider's name
/// and `key`); a longer one ends the head.
pub const MAX_GAP: u32 = 32;

/// Gaps kept at most: each gap's lengths are tried in turn, so `k` gaps
/// cost up to `(MAX_GAP + 1)^k` tries at a keyword occurrence.
pub const MAX_GAPS: usize = 2;

/// Does `set` hold byte `b`?
#[inline]
pub fn holds(set: &Set, b: u8) -> bool {
    set[usize::from(b >> 6)] >> (b & 63) & 1 == 1
}

/// Alternative heads kept at most: an alternation (`(?:prod|preview|dev):`,
/// `(?:AKIA|ASIA)`) gives one head per branch, where a union of the
/// branches would lose which bytes go together; past this many, branches
/// are united position by position.
pub const MAX_ALTS: usize = 8;

/// The heads of `pattern` (a match fits at least one), if every match
/// begins with one of `keywords` (lowercase, compared ASCII
/// case-insensitively as the prefilter does) and the heads say more than
/// those keywords; `None` otherwise (the rule then fires on its keyword
/// alone).
pub fn heads(pattern: &str, keywords: &[&str]) -> Option<Vec<Vec<Piece>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let mut heads: Vec<Vec<Piece>> = walk_alts(&hir, vec![(Vec::new(), true)])
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    heads.sort();
    heads.dedup();
    let shortest = keywords.iter().map(|k| k.len()).min()?;
    let fixed =
        |h: &[Piece]| -> Vec<Set> { h.iter().take_while(|p| p.gap == 0).map(|p| p.set).collect() };
    let tighter = heads.iter().any(|h| {
        h.len() > shortest
            || fixed(h)
                .iter()
                .any(|s| s.iter().map(|w| w.count_ones()).sum::<u32>() == 1)
    });
    let covered = heads
        .iter()
        .all(|h| starts_with_a_keyword(&fixed(h), keywords));
    (tighter && covered).then_some(heads)
}

/// [`walk`] over alternative heads, each with whether it is still open
/// (may grow); an alternation splits every open head into one per branch
/// while there are at most [`MAX_ALTS`].
fn walk_alts(h: &Hir, alts: Vec<(Vec<Piece>, bool)>) -> Vec<(Vec<Piece>, bool)> {
    match h.kind() {
        HirKind::Capture(c) => walk_alts(&c.sub, alts),
        HirKind::Concat(subs) => subs.iter().fold(alts, |a, s| walk_alts(s, a)),
        HirKind::Alternation(subs)
            if alts
                .iter()
                .map(|(_, open)| if *open { subs.len() } else { 1 })
                .sum::<usize>()
                <= MAX_ALTS =>
        {
            let mut out = Vec::new();
            for (head, open) in alts {
                if !open {
                    out.push((head, false));
                    continue;
                }
                for s in subs {
                    out.extend(walk_alts(s, vec![(head.clone(), true)]));
                }
            }
            out
        }
        _ => alts
            .into_iter()
            .map(|(mut head, open)| {
                let open = open && walk(h, &mut head);
                (head, open)
            })
            .collect(),
    }
}

/// Distinct sets the tables can index (a piece's low 10 bits).
pub const MAX_SETS: usize = 1 << 10;

/// `head` as the prefilter's tables hold it: each piece the index of its
/// set in `sets` (added there if new) plus its gap times [`MAX_SETS`].
/// `None` when `sets` is full: the rule then fires on its keyword alone.
pub fn encode(head: &[Piece], sets: &mut Vec<Set>) -> Option<Vec<u16>> {
    const _: () = assert!(MAX_GAP < 1 << 6, "a gap takes the top 6 bits");
    head.iter()
        .map(|p| {
            let i = match sets.iter().position(|x| *x == p.set) {
                Some(i) => i,
                None if sets.len() < MAX_SETS => {
                    sets.push(p.set);
                    sets.len() - 1
                }
                None => return None,
            };
            Some(i as u16 | u16::from(p.gap) << 10)
        })
        .collect()
}

fn one(set: Set) -> Piece {
    Piece { set, gap: 0 }
}

/// The set of one-byte `h` (a class or a one-byte literal), if it is one.
fn single(h: &Hir) -> Option<Set> {
    match h.kind() {
        HirKind::Class(c) => byte_set(c),
        HirKind::Literal(lit) if lit.0.len() == 1 => {
            let mut s = [0; 4];
            s[usize::from(lit.0[0] >> 6)] |= 1 << (lit.0[0] & 63);
            Some(s)
        }
        HirKind::Capture(c) => single(&c.sub),
        _ => None,
    }
}

/// Append the pieces `h` begins with to `out`; `true` when all of `h` was
/// described (the walk may go on after it).
fn walk(h: &Hir, out: &mut Vec<Piece>) -> bool {
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
                out.push(one(s));
            }
            true
        }
        HirKind::Class(class) => match byte_set(class) {
            Some(s) => {
                out.push(one(s));
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
            match (r.max, single(&r.sub)) {
                (Some(max), _) if max == r.min => true,
                (Some(max), Some(set))
                    if max - r.min <= MAX_GAP
                        && out.len() < MAX
                        && out.iter().filter(|p| p.gap > 0).count() < MAX_GAPS =>
                {
                    out.push(Piece {
                        set,
                        gap: (max - r.min) as u8,
                    });
                    true
                }
                _ => false,
            }
        }
        HirKind::Capture(c) => walk(&c.sub, out),
        HirKind::Concat(subs) => subs.iter().all(|s| walk(s, out)),
        HirKind::Alternation(subs) => {
            // Position by position while every branch has one byte there.
            let branches: Vec<(Vec<Piece>, bool)> = subs
                .iter()
                .map(|s| {
                    let mut v = Vec::new();
                    let whole = walk(s, &mut v);
                    (v, whole)
                })
                .collect();
            let fixed = |v: &Vec<Piece>| v.iter().take_while(|p| p.gap == 0).count();
            let n = branches.iter().map(|(v, _)| fixed(v)).min().unwrap_or(0);
            let n = n.min(MAX - out.len());
            for i in 0..n {
                let mut s = [0; 4];
                for (v, _) in &branches {
                    for (w, x) in s.iter_mut().zip(v[i].set) {
                        *w |= x;
                    }
                }
                out.push(one(s));
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

    /// The one head of `pattern` (no alternation splits it).
    fn derive(pattern: &str, keywords: &[&str]) -> Option<Vec<Piece>> {
        heads(pattern, keywords).map(|mut h| {
            assert_eq!(h.len(), 1, "{pattern}: {} heads", h.len());
            h.remove(0)
        })
    }

    /// Does `head` fit the start of `c`, as the prefilter checks it?
    fn fits(head: &[Piece], c: &[u8]) -> bool {
        let mut sets = Vec::new();
        let pieces = encode(head, &mut sets).unwrap();
        crate::scan::prefilter::fits(&pieces, &sets, c)
    }

    /// The head as the printable bytes of each piece, a gap as `{..n}`.
    fn shown(head: &[Piece]) -> Vec<String> {
        head.iter()
            .map(|p| {
                let set: String = (b' '..=b'~')
                    .filter(|&b| holds(&p.set, b))
                    .map(char::from)
                    .collect();
                match p.gap {
                    0 => set,
                    n => format!("{set}{{..{n}}}"),
                }
            })
            .collect()
    }

    #[test]
    fn a_prefix_token_head_runs_to_its_first_undescribed_piece() {
        let h = derive(r"\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b", &["pat"]).unwrap();
        assert_eq!(h.len(), MAX);
        let s = shown(&h);
        assert_eq!(&s[..3], ["p", "a", "t"]);
        assert_eq!(s[3].len(), 62);
        assert_eq!(s[17], ".");
        assert_eq!(s[18], "0123456789abcdef");
        assert!(!fits(&h, b"path = pattern"));
        let token = format!("patAbCdEfGh123456.{}", "0a".repeat(32));
        assert!(fits(&h, token.as_bytes()));
        // Case-sensitive pattern, case-insensitive keyword: tighter.
        let h = derive(r"\b(KEY[0-9A-F]{32}_[A-Za-z0-9]{22})\b", &["key"]).unwrap();
        assert_eq!(&shown(&h)[..4], ["K", "E", "Y", "0123456789ABCDEF"]);
        assert!(!fits(&h, b"key: value"));
        // A repetition gives its minimum and a gap up to its maximum.
        let h = derive(r"\b(perm[:-][A-Za-z0-9_-]{4,60}\.x)", &["perm:", "perm-"]).unwrap();
        assert_eq!(h.len(), 9);
        assert_eq!(shown(&h)[4], "-:");
        let h = derive(r"ab_[a-z]{2,5}\.[0-9]+", &["ab_"]).unwrap();
        assert_eq!(
            shown(&h)[3..],
            [
                "abcdefghijklmnopqrstuvwxyz",
                "abcdefghijklmnopqrstuvwxyz",
                "abcdefghijklmnopqrstuvwxyz{..3}",
                ".",
                "0123456789"
            ]
        );
        for (text, fit) in [
            ("ab_xy.1", true),
            ("ab_xyzzy.1", true),
            ("ab_xyzzyx.1", false),
            ("ab_x.1", false),
            ("ab_xyz", false),
            ("AB_xyz.0", false), // the pattern is case-sensitive
        ] {
            assert_eq!(fits(&h, text.as_bytes()), fit, "{text}");
        }
    }

    #[test]
    fn a_context_rule_needs_its_credential_word_within_the_gap() {
        let h = heads(
            r#"(?i:ibm[\w.-]{0,20}(?:api[\w.-]?key|apikey|iam[\w.-]?key))[\w.-]{0,30}["']?\s*[:=]"#,
            &["ibm"],
        )
        .unwrap();
        // One head per credential word, each after the gap.
        assert_eq!(h.len(), 3);
        let name = "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
        let gap = format!("{name}{{..20}}");
        let apikey = ["Ii", "Bb", "Mm", &gap, "Aa", "Pp", "Ii", "Kk", "Ee", "Yy"];
        assert!(
            h.iter()
                .any(|h| shown(h).starts_with(&apikey.map(String::from))),
            "{h:?}"
        );
        let fits_any = |c: &[u8]| h.iter().any(|h| fits(h, c));
        assert!(fits_any(b"IBM_CLOUD_API_KEY = x"));
        assert!(fits_any(b"ibmApiKey: x"));
        assert!(fits_any(b"ibm_iam_key: x"));
        assert!(!fits_any(b"ibm cloud api key"));
        assert!(!fits_any(b"ibm_deployment_region_name_api"));
        assert!(!fits_any(b"ibm_api_version: 2"));
    }

    /// Branches of different lengths, each opening with a keyword: a head
    /// each, so bytes of one branch do not pass for another's.
    #[test]
    fn a_leading_alternation_gives_a_head_per_branch() {
        let h = heads(
            r"\b((?:prod|preview|dev):[a-z]+-)",
            &["prod:", "preview:", "dev:"],
        )
        .unwrap();
        assert_eq!(h.len(), 3);
        let fits_any = |c: &[u8]| h.iter().any(|h| fits(h, c));
        assert!(fits_any(b"prod:happy-cat-123|x"));
        assert!(fits_any(b"dev:a"));
        assert!(!fits_any(b"dev: x"));
        let h = heads(r"\b((?:AKIA|ASIA)[A-Z2-7]{16})\b", &["akia", "asia"]).unwrap();
        assert_eq!(h.len(), 2);
        let fits_any = |c: &[u8]| h.iter().any(|h| fits(h, c));
        assert!(fits_any(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(!fits_any(b"AKSAIOSFODNN7EXAMPLE"));
        // One branch that does not open with a keyword spoils all.
        assert_eq!(heads(r"(?:ab_|x)[0-9]{4}", &["ab_"]), None);
        // A branch that may be empty leaves a head that opens with nothing.
        assert_eq!(heads(r"(?:ab_|)[0-9]{4}", &["ab_"]), None);
    }

    /// A full set table leaves a new head out (its rule fires on its
    /// keyword alone) instead of failing the build.
    #[test]
    fn a_full_set_table_drops_the_head_not_the_build() {
        let mut sets: Vec<Set> = (0..MAX_SETS as u64).map(|i| [i, 0, 0, 1]).collect();
        let known = Piece {
            set: sets[7],
            gap: 3,
        };
        assert_eq!(encode(&[known], &mut sets), Some(vec![7 | 3 << 10]));
        let new = one([0, 0, 0, 0]);
        assert_eq!(encode(&[known, new], &mut sets), None);
        assert_eq!(sets.len(), MAX_SETS);
    }

    #[test]
    fn at_most_two_gaps() {
        let h = derive(r"ab_x{0,3}y{0,3}z{0,3}w", &["ab_"]).unwrap();
        assert_eq!(shown(&h), ["a", "b", "_", "x{..3}", "y{..3}"]);
        assert!(fits(&h, b"ab_xxyz"));
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
        assert_eq!(derive(r"[a-z]?tok_[a-z]{8}", &["tok_"]), None);
        // Says nothing the keyword does not.
        assert_eq!(derive(r"(?i:fal)\s*x", &["fal"]), None);
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
        // A branch per head, the walk going on after the alternation.
        let h = heads(r"(?:ab|AB)_\d", &["ab_"]).unwrap();
        let shown_all: Vec<Vec<String>> = h.iter().map(|h| shown(h)).collect();
        assert_eq!(
            shown_all,
            [["A", "B", "_", "0123456789"], ["a", "b", "_", "0123456789"]]
        );
        // Past MAX_ALTS branches, one head with their union.
        let many = (0..MAX_ALTS + 1)
            .map(|i| format!("a{i}"))
            .collect::<Vec<_>>()
            .join("|");
        let h = derive(&format!("ab_(?:{many})z"), &["ab_"]).unwrap();
        assert_eq!(shown(&h)[3..], ["a", "012345678", "z"]);
    }

    /// The generated tables, through `prefilter::head_fits`, fit every
    /// match the pack's rules find in their true-positive samples.
    #[test]
    fn the_pack_heads_fit_every_sample_match() {
        let mut with_head = 0;
        let mut i = 0;
        for (file, text) in crate::scan::rules::FILES {
            for rule in crate::scan::rules::parse(file, text).unwrap() {
                let kw: Vec<&str> = rule.keywords.iter().map(String::as_str).collect();
                if heads(&rule.pattern, &kw).is_some() {
                    with_head += 1;
                }
                let re = rule.regex().unwrap();
                for tp in &rule.tp {
                    for m in re.find_iter(tp.as_bytes()) {
                        assert!(
                            super::super::prefilter::head_fits(i, tp.as_bytes(), m.start()),
                            "{}: head does not fit {tp:?}",
                            rule.id
                        );
                    }
                }
                i += 1;
            }
        }
        assert_eq!(i, super::super::prefilter::RULES);
        assert!(with_head > 300, "{with_head}");
    }
}
