//! Streaming secret masker for `gsec run --mask` (Kestra-style log masking).
//!
//! A child's output arrives in reads of arbitrary size, so a secret can be
//! split across two reads. The masker keeps back only the bytes at the end of
//! what it has seen that could still *become* a secret (the longest suffix that
//! is a prefix of some pattern) and writes everything before them at once:
//! output that cannot be part of a secret is never delayed, and a secret is
//! never shown in part because it straddled a read boundary.
//!
//! Patterns are, for every value of at least [`MIN_LEN`] bytes: the value,
//! each line of a multi-line value (programs often print one line of a PEM key
//! or a certificate), and the base64 form of each of those in the four common
//! alphabets (standard and URL-safe, with and without padding), because
//! programs print credentials base64-encoded in HTTP `Authorization` headers,
//! Kubernetes manifests and debug dumps.
//!
//! Matching is Aho-Corasick, leftmost-longest, so of two overlapping secrets
//! the longer one is masked as a whole.

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{AhoCorasick, Anchored, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// What a secret is replaced with.
pub const MASK: &[u8] = b"*****";

/// Values shorter than this are not masked. Masking `1`, `no` or `dev` would
/// replace those bytes everywhere in the child's output and make it
/// unreadable, while hiding nothing: a value of three bytes or fewer is not
/// a secret worth the name (it is guessable). Four bytes keeps short PINs
/// and port-like tokens masked.
pub const MIN_LEN: usize = 4;

/// The compiled set of byte patterns to mask.
pub struct Patterns {
    /// Unanchored, leftmost-longest: finds the matches to replace.
    find: AhoCorasick,
    /// The same patterns as a trie walked anchored from a position, to tell
    /// whether the bytes from there to the end could still grow into a match.
    trie: NFA,
    max_len: usize,
}

impl std::fmt::Debug for Patterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patterns")
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

/// Every byte string that reveals `value`: see the module documentation.
fn forms(value: &str, out: &mut Vec<Zeroizing<Vec<u8>>>) {
    let mut plain: Vec<&str> = vec![value];
    if value.contains('\n') {
        plain.extend(value.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)));
    }
    for p in plain {
        if p.len() < MIN_LEN {
            continue;
        }
        out.push(Zeroizing::new(p.as_bytes().to_vec()));
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            out.push(Zeroizing::new(engine.encode(p).into_bytes()));
        }
        // Inside a longer base64 text (HTTP Basic `user:value`) the value
        // starts 0, 1 or 2 bytes into a 3-byte group: keep the characters
        // that depend on the value's bytes alone, for each alignment.
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            for a in 0..3usize {
                let mut buf = Zeroizing::new(vec![0u8; a]);
                buf.extend_from_slice(p.as_bytes());
                let enc = Zeroizing::new(engine.encode(&buf[..]).into_bytes());
                let (start, end) = ((8 * a).div_ceil(6), 8 * buf.len() / 6);
                if let Some(core) = enc.get(start..end)
                    && core.len() >= MIN_LEN
                {
                    out.push(Zeroizing::new(core.to_vec()));
                }
            }
        }
    }
}

impl Patterns {
    /// Compile the patterns for `values`; `None` when no value is long
    /// enough to be masked (nothing to do).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Option<Patterns>, String> {
        let mut pats: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for v in values {
            forms(v, &mut pats);
        }
        pats.sort_unstable_by(|a, b| a[..].cmp(&b[..]));
        pats.dedup_by(|a, b| a[..] == b[..]);
        if pats.is_empty() {
            return Ok(None);
        }
        let max_len = pats.iter().map(|p| p.len()).max().unwrap_or(0);
        let find = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(pats.iter().map(|p| &p[..]))
            .map_err(|e| format!("cannot build the masker: {e}"))?;
        let trie = NFA::builder()
            .match_kind(MatchKind::Standard)
            .build(pats.iter().map(|p| &p[..]))
            .map_err(|e| format!("cannot build the masker: {e}"))?;
        Ok(Some(Patterns {
            find,
            trie,
            max_len,
        }))
    }

    /// Length of the longest pattern.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Start of the bytes to hold back: the smallest `i` such that
    /// `buf[i..]` is a proper beginning of some pattern (or a whole one that
    /// a longer pattern might extend). `buf.len()` when there is none.
    ///
    /// Only the last `max_len - 1` positions can start such a suffix. Most
    /// positions die on their first byte, so this is linear in practice; it
    /// degrades only for output that repeats a long secret's own prefix.
    fn hold_start(&self, buf: &[u8]) -> usize {
        let Ok(start) = self.trie.start_state(Anchored::Yes) else {
            return buf.len();
        };
        let from = buf.len().saturating_sub(self.max_len.saturating_sub(1));
        'pos: for i in from..buf.len() {
            let mut sid = start;
            for &b in &buf[i..] {
                sid = self.trie.next_state(Anchored::Yes, sid, b);
                if self.trie.is_dead(sid) {
                    continue 'pos;
                }
            }
            return i;
        }
        buf.len()
    }
}

/// One output stream's masking state.
pub struct Masker<'p> {
    patterns: &'p Patterns,
    /// Bytes seen but not yet written: at most a possible partial secret
    /// between calls, so it is zeroed when dropped.
    pending: Zeroizing<Vec<u8>>,
}

impl<'p> Masker<'p> {
    pub fn new(patterns: &'p Patterns) -> Self {
        Masker {
            patterns,
            pending: Zeroizing::new(Vec::new()),
        }
    }

    /// Feed one read; append what can safely be written to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(data);
        self.drain(false, out);
    }

    /// End of stream: write everything that is left (masked).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.drain(true, out);
    }

    /// Number of bytes currently held back (for tests and diagnostics).
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    fn drain(&mut self, eof: bool, out: &mut Vec<u8>) {
        let buf = &self.pending[..];
        let hold = if eof {
            buf.len()
        } else {
            self.patterns.hold_start(buf)
        };
        let mut pos = 0;
        for m in self.patterns.find.find_iter(buf) {
            // A match starting in the held part may still grow; decide
            // about it once more bytes (or the end) arrive. A match starting
            // before `hold` cannot grow: a longer pattern from the same start
            // would make that start a possible partial match, i.e. `hold`.
            if m.start() >= hold {
                break;
            }
            out.extend_from_slice(&buf[pos..m.start()]);
            out.extend_from_slice(MASK);
            pos = m.end();
        }
        let keep = pos.max(hold);
        out.extend_from_slice(&buf[pos..keep]);
        self.pending.drain(..keep);
    }
}

/// Mask a whole buffer at once (for callers without a stream).
pub fn mask_all(patterns: &Patterns, data: &[u8]) -> Vec<u8> {
    let mut m = Masker::new(patterns);
    let mut out = Vec::with_capacity(data.len());
    m.push(data, &mut out);
    m.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(values: &[&str]) -> Patterns {
        Patterns::new(values.iter().copied()).unwrap().unwrap()
    }

    /// Feed `data` in the given pieces and collect the output.
    fn feed(p: &Patterns, pieces: &[&[u8]]) -> Vec<u8> {
        let mut m = Masker::new(p);
        let mut out = Vec::new();
        for piece in pieces {
            m.push(piece, &mut out);
        }
        m.finish(&mut out);
        out
    }

    fn s(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn masks_value_at_every_split_point() {
        let secret = "hunter2-s3cr3t";
        let p = pats(&[secret]);
        let text = format!("token={secret}; again {secret}!\n");
        for i in 0..=text.len() {
            let (a, b) = text.as_bytes().split_at(i);
            let out = s(feed(&p, &[a, b]));
            assert_eq!(out, "token=*****; again *****!\n", "split at {i}");
        }
    }

    #[test]
    fn masks_value_at_every_pair_of_split_points() {
        let secret = "abcdefgh";
        let p = pats(&[secret]);
        let text = format!("x{secret}y{secret}");
        let b = text.as_bytes();
        for i in 0..=b.len() {
            for j in i..=b.len() {
                let out = s(feed(&p, &[&b[..i], &b[i..j], &b[j..]]));
                assert_eq!(out, "x*****y*****", "splits at {i},{j}");
            }
        }
    }

    #[test]
    fn masks_byte_by_byte() {
        let secret = "p@ss\"w'ord$`\\";
        let p = pats(&[secret]);
        let text = format!("<{secret}>");
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(s(feed(&p, &pieces)), "<*****>");
    }

    #[test]
    fn masks_base64_of_a_value_inside_a_longer_text_at_every_alignment() {
        let secret = "pa55w0rd-for-basic";
        let p = Patterns::new([secret]).unwrap().unwrap();
        for prefix in ["", "u:", "us:", "usr:", "admin:"] {
            for enc in [&STANDARD, &URL_SAFE] {
                let text = enc.encode(format!("{prefix}{secret}"));
                let masked = mask_all(&p, text.as_bytes());
                // What is left can no longer be decoded back to the value.
                let left: Vec<u8> = masked.iter().copied().filter(|b| *b != b'*').collect();
                let decoded = enc.decode(&left).unwrap_or_default();
                assert!(
                    !String::from_utf8_lossy(&decoded).contains("w0rd-for"),
                    "{prefix:?}: {}",
                    String::from_utf8_lossy(&masked)
                );
                assert!(masked.windows(5).any(|w| w == b"*****"), "{prefix:?}");
            }
        }
    }

    #[test]
    fn masks_every_base64_form_at_every_split() {
        let secret = "user:pa55w0rd?>"; // '?>' gives '+'/'/' in standard base64
        let p = pats(&[secret]);
        for enc in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let b64 = enc.encode(secret);
            let text = format!("Authorization: Basic {b64}\n");
            for i in 0..=text.len() {
                let (a, b) = text.as_bytes().split_at(i);
                let out = s(feed(&p, &[a, b]));
                assert_eq!(out, "Authorization: Basic *****\n", "{b64} split at {i}");
            }
        }
    }

    #[test]
    fn masks_each_line_of_a_multiline_value() {
        let secret = "-----BEGIN KEY-----\r\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END KEY-----";
        let p = pats(&[secret]);
        // The whole value: one mask (leftmost-longest beats the lines).
        assert_eq!(s(mask_all(&p, format!("[{secret}]").as_bytes())), "[*****]");
        // One line alone, split everywhere.
        let text = "line: kqhkiG9w0BAQEF end";
        for i in 0..=text.len() {
            let (a, b) = text.as_bytes().split_at(i);
            assert_eq!(s(feed(&p, &[a, b])), "line: ***** end", "split at {i}");
        }
    }

    #[test]
    fn longest_of_overlapping_secrets_wins() {
        let p = pats(&["abcd", "abcdefgh"]);
        let text = b"-abcdefgh-abcd-abcdef-";
        for i in 0..=text.len() {
            let (a, b) = text.split_at(i);
            assert_eq!(
                s(feed(&p, &[a, b])),
                "-*****-*****-*****ef-",
                "split at {i}"
            );
        }
    }

    #[test]
    fn short_values_are_not_masked() {
        assert!(Patterns::new(["", "a", "abc"]).unwrap().is_none());
        let p = pats(&["abc", "abcd"]);
        assert_eq!(s(mask_all(&p, b"abc abcd")), "abc *****");
    }

    #[test]
    fn unrelated_output_is_not_held_back() {
        let p = pats(&["s3cret-value"]);
        let mut m = Masker::new(&p);
        let mut out = Vec::new();
        m.push(b"Password: ", &mut out);
        assert_eq!(
            out, b"Password: ",
            "a prompt must reach the terminal at once"
        );
        assert_eq!(m.held(), 0);
        m.push(b"ok s3cr", &mut out);
        assert_eq!(
            s(out.clone()),
            "Password: ok ",
            "only a possible partial secret is held"
        );
        assert_eq!(m.held(), 4);
        m.push(b"et-value\n", &mut out);
        assert_eq!(s(out), "Password: ok *****\n");
        assert_eq!(m.held(), 0);
    }

    #[test]
    fn a_partial_secret_is_released_at_eof() {
        let p = pats(&["s3cret-value"]);
        assert_eq!(s(feed(&p, &[b"x s3cr"])), "x s3cr");
        assert_eq!(s(feed(&p, &[b"x s3cr", b"ap"])), "x s3crap");
    }

    #[test]
    fn large_value_split_everywhere_in_chunks() {
        let secret: String = (0..4096)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        let p = pats(&[&secret]);
        let text = format!("begin {secret} end");
        for chunk in [1, 7, 100, 4095, 4096, 5000] {
            let pieces: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
            assert_eq!(s(feed(&p, &pieces)), "begin ***** end", "chunk {chunk}");
        }
    }

    #[test]
    fn non_utf8_output_passes_through() {
        let p = pats(&["secret!"]);
        assert_eq!(mask_all(&p, b"\xff\xfesecret!\x00"), b"\xff\xfe*****\x00");
    }
}
