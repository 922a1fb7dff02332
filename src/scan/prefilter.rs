//! The keyword prefilter: where each keyword of the rule pack and of
//! generic detection occurs in a buffer (ASCII case-insensitively, every
//! occurrence, overlapping), so that only the rules whose keyword occurs
//! run their regex.
//!
//! Two matchers give the same occurrences:
//! - a table made at compile time by `build.rs` (`OUT_DIR/keywords.rs`):
//!   the keywords bucketed by their first two bytes, checked at each
//!   offset. Nothing is built at start-up, which is what a pre-commit scan
//!   of a few small files needs (an Aho-Corasick automaton over the ~800
//!   keywords took longer to build than the rest of such a scan);
//! - an Aho-Corasick DFA over the same words, several times faster per
//!   byte but a few milliseconds to build: built once per process, on all
//!   threads' first use after a prefilter has seen [`DFA_AFTER`] bytes
//!   (directories, history, a large file).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::build_shared::bucket;

include!(concat!(env!("OUT_DIR"), "/keywords.rs"));

/// A target of a word: a line for generic detection.
pub const GENERIC: u16 = u16::MAX;
/// A target of a word: a Kubernetes Secret manifest.
pub const K8S_SECRET: u16 = u16::MAX - 1;

/// Bytes after which the DFA pays for its build (it scans a megabyte a
/// few milliseconds faster than the table; measured with benches/startup.sh).
pub const DFA_AFTER: u64 = 1 << 20;

/// Number of rules in the pack the table was made from (a check that the
/// table and the pack come from the same build).
pub const RULES: usize = PACK_RULES;

#[derive(Default)]
pub struct Prefilter {
    dfa: OnceLock<Option<AhoCorasick>>,
    scanned: AtomicU64,
}

impl Prefilter {
    /// Call `f(word, start)` for every occurrence of every keyword in
    /// `content`.
    pub fn each(&self, content: &[u8], f: &mut dyn FnMut(usize, usize)) {
        let len = content.len() as u64;
        let before = self.scanned.fetch_add(len, Ordering::Relaxed);
        if before + len >= DFA_AFTER
            && let Some(ac) = self.dfa.get_or_init(dfa)
        {
            for m in ac.find_overlapping_iter(content) {
                f(m.pattern().as_usize(), m.start());
            }
            return;
        }
        table(content, f);
    }

    /// Is this still a small scan (under [`DFA_AFTER`] bytes so far), where
    /// building less beats searching faster?
    pub fn small(&self) -> bool {
        self.scanned.load(Ordering::Relaxed) < DFA_AFTER
    }

    /// Has this prefilter switched to the DFA (tests)?
    #[cfg(test)]
    fn uses_dfa(&self) -> bool {
        self.dfa.get().is_some_and(Option::is_some)
    }
}

/// What an occurrence of `word` fires: pack rule indexes, [`GENERIC`],
/// [`K8S_SECRET`].
pub fn targets(word: usize) -> &'static [u16] {
    &TARGETS[usize::from(TARGET_START[word])..usize::from(TARGET_START[word + 1])]
}

/// Does one of pack rule `rule`'s heads (see `scan::rule_head`) fit
/// `content` at `at`, an occurrence of one of its keywords? Every match of
/// the rule begins at such an occurrence with bytes one head fits, so
/// where none does the rule cannot match. `true` for a rule without heads.
#[inline]
pub fn head_fits(rule: usize, content: &[u8], at: usize) -> bool {
    let heads = HEAD_START[rule] as usize..HEAD_START[rule + 1] as usize;
    heads.is_empty()
        || content.get(at..).is_some_and(|c| {
            heads.into_iter().any(|h| {
                let pieces = &HEADS[HEAD_ALTS[h] as usize..HEAD_ALTS[h + 1] as usize];
                fits(pieces, &HEAD_SETS, c)
            })
        })
}

/// `head` (pieces: an index into `sets` in the low 10 bits, a gap length
/// in the top 6; see `rule_head::encode`) at the start of `c`; a gap tries
/// each of its lengths.
pub(super) fn fits(head: &[u16], sets: &[[u64; 4]], c: &[u8]) -> bool {
    let Some((&piece, rest)) = head.split_first() else {
        return true;
    };
    let set = &sets[usize::from(piece & 0x3FF)];
    let holds = |b: u8| set[usize::from(b >> 6)] >> (b & 63) & 1 == 1;
    let gap = usize::from(piece >> 10);
    if gap == 0 {
        return c.first().is_some_and(|&b| holds(b)) && fits(rest, sets, &c[1..]);
    }
    for j in 0..=gap {
        if fits(rest, sets, &c[j..]) {
            return true;
        }
        if !c.get(j).is_some_and(|&b| holds(b)) {
            return false;
        }
    }
    false
}

/// The compile-time table: at each offset, the words of the bucket of
/// the next two bytes.
fn table(content: &[u8], f: &mut dyn FnMut(usize, usize)) {
    for i in 0..content.len().saturating_sub(1) {
        let b = bucket(content[i], content[i + 1]);
        let (s, e) = (
            usize::from(BUCKET_START[b]),
            usize::from(BUCKET_START[b + 1]),
        );
        // Common pairs (`se`, `to`, `pa`) share a bucket with many words:
        // the third byte, kept beside each, rejects most of them.
        let third = content.get(i + 2).map(u8::to_ascii_lowercase);
        for &entry in &BUCKET_WORDS[s..e] {
            let want = (entry >> 16) as u8;
            if want != 0 && Some(want) != third {
                continue;
            }
            let w = (entry & 0xFFFF) as usize;
            let kw = WORDS[w].as_bytes();
            if content[i..]
                .get(..kw.len())
                .is_some_and(|c| c.eq_ignore_ascii_case(kw))
            {
                f(w, i);
            }
        }
    }
}

/// The DFA over the table's words (pattern ids are word indexes). `None`
/// if it cannot be built: the table still gives every occurrence.
fn dfa() -> Option<AhoCorasick> {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(WORDS)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrences(p: &Prefilter, content: &[u8]) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        p.each(content, &mut |w, s| v.push((w, s)));
        v.sort_unstable();
        v
    }

    /// The table and the DFA find the same occurrences, case-insensitively
    /// and overlapping, at a buffer's very end too.
    #[test]
    fn table_and_dfa_agree() {
        let mut text = Vec::new();
        for (name, t) in crate::scan::rules::FILES {
            text.extend_from_slice(name.as_bytes());
            text.extend_from_slice(t.as_bytes());
        }
        text.extend_from_slice(b"PASSWORD=x Kind: Secret apikey api_key");
        for w in WORDS {
            text.extend_from_slice(w.to_ascii_uppercase().as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(b"xoxb-");
        let small = Prefilter::default();
        let by_table = occurrences(&small, &text[..text.len().min(100_000)]);
        assert!(!small.uses_dfa());
        let big = Prefilter::default();
        big.scanned.store(DFA_AFTER, Ordering::Relaxed);
        let by_dfa = occurrences(&big, &text[..text.len().min(100_000)]);
        assert!(big.uses_dfa());
        assert_eq!(by_table, by_dfa);
        assert!(by_table.len() > 1000);
        // Every word is found, uppercase, by both.
        let all = occurrences(&small, &text);
        for (i, _) in WORDS.iter().enumerate() {
            assert!(all.iter().any(|&(w, _)| w == i), "{}", WORDS[i]);
        }
        let end = b"zz XOXB-";
        let w = WORDS.iter().position(|w| *w == "xoxb-").unwrap();
        assert!(occurrences(&small, end).contains(&(w, 3)));
        assert!(occurrences(&big, end).contains(&(w, 3)));
        assert!(occurrences(&small, b"").is_empty() && occurrences(&small, b"x").is_empty());
    }

    /// Every pack rule and the generic targets are reachable from a word.
    #[test]
    fn every_rule_has_a_word() {
        let mut seen = vec![false; RULES];
        let (mut generic, mut k8s) = (false, false);
        for w in 0..WORDS.len() {
            for &t in targets(w) {
                match t {
                    GENERIC => generic = true,
                    K8S_SECRET => k8s = true,
                    i => seen[usize::from(i)] = true,
                }
            }
        }
        assert!(seen.iter().all(|s| *s) && generic && k8s);
        assert_eq!(RULES, crate::scan::rules::builtin().unwrap().len());
    }
}
