//! Encoded spans: base64 (standard and URL-safe), hex and percent-encoding.
//! Each span that decodes to text is handed back with its location so the
//! engine can rescan it (a Kubernetes `Secret`'s `data:` values, a token
//! in a URL query, a hex-dumped config).

use base64::Engine as _;

/// Shortest base64 run worth decoding (a 15-byte secret).
const MIN_B64: usize = 20;
/// Shortest hex run (16 bytes).
const MIN_HEX: usize = 32;

/// Call `f(start, end, decoded)` for every encoded span of `content` that
/// decodes to printable text.
pub fn each_span(content: &[u8], mut f: impl FnMut(usize, usize, &[u8])) {
    let mut i = 0;
    let n = content.len();
    while i < n {
        let c = content[i];
        if is_b64(c) {
            let start = i;
            while i < n && is_b64(content[i]) {
                i += 1;
            }
            let mut end = i;
            while end < n && content[end] == b'=' && end - i < 2 {
                end += 1;
            }
            let run = &content[start..i];
            if run.len() >= MIN_B64
                && let Some(d) = try_hex(run).or_else(|| try_base64(run))
            {
                f(start, end, &d);
            }
            i = end.max(i);
            continue;
        }
        i += 1;
    }
    percent_spans(content, &mut f);
}

fn is_b64(c: u8) -> bool {
    // A table: this runs on every byte of every scanned file.
    const TABLE: [bool; 256] = {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
            c += 1;
        }
        t
    };
    TABLE[usize::from(c)]
}

fn try_hex(run: &[u8]) -> Option<Vec<u8>> {
    if run.len() < MIN_HEX || !run.len().is_multiple_of(2) || !run.iter().all(u8::is_ascii_hexdigit)
    {
        return None;
    }
    let d = hex::decode(run).ok()?;
    text_like(&d).then_some(d)
}

fn try_base64(run: &[u8]) -> Option<Vec<u8>> {
    // Words and identifiers are not base64 worth decoding: require a digit
    // or both cases, which random base64 nearly always has.
    let upper = run.iter().any(u8::is_ascii_uppercase);
    let lower = run.iter().any(u8::is_ascii_lowercase);
    if !(upper && lower) {
        return None;
    }
    let url = run.iter().any(|&c| c == b'-' || c == b'_');
    let std = run.iter().any(|&c| c == b'+' || c == b'/');
    if url && std {
        return None;
    }
    // Paths like src/foo/bar_baz are "base64" too; their decoding fails
    // the text check below.
    let eng = if url {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    let usable = run.len() - run.len() % 4 + if run.len() % 4 >= 2 { run.len() % 4 } else { 0 };
    let d = eng.decode(&run[..usable]).ok()?;
    text_like(&d).then_some(d)
}

/// Mostly printable ASCII (or UTF-8 text) with no NUL: what a secret or a
/// config looks like after decoding, unlike random binary.
fn text_like(d: &[u8]) -> bool {
    if d.len() < 8 || d.contains(&0) {
        return false;
    }
    let printable = d
        .iter()
        .filter(|&&b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\r' || b == b'\t')
        .count();
    printable * 100 >= d.len() * 95
}

/// Whitespace/quote-delimited tokens holding at least one `%XX` escape.
fn percent_spans(content: &[u8], f: &mut impl FnMut(usize, usize, &[u8])) {
    let delim =
        |c: u8| c.is_ascii_whitespace() || c == b'"' || c == b'\'' || c == b'<' || c == b'>';
    let mut i = 0;
    let n = content.len();
    while let Some(off) = memchr_pct(&content[i..]) {
        let p = i + off;
        let start = content[..p]
            .iter()
            .rposition(|&c| delim(c))
            .map_or(0, |x| x + 1);
        let end = content[p..]
            .iter()
            .position(|&c| delim(c))
            .map_or(n, |x| p + x);
        let tok = &content[start..end];
        let decoded: Vec<u8> = percent_encoding::percent_decode(tok).collect();
        if decoded.len() != tok.len() && decoded.len() >= 8 {
            f(start, end, &decoded);
        }
        i = end.max(p + 1);
        if i >= n {
            break;
        }
    }
}

/// Next `%XX` (hex) position.
fn memchr_pct(s: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(o) = s[from..].iter().position(|&c| c == b'%') {
        let p = from + o;
        if p + 2 < s.len() && s[p + 1].is_ascii_hexdigit() && s[p + 2].is_ascii_hexdigit() {
            return Some(p);
        }
        from = p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(s: &str) -> Vec<(usize, usize, String)> {
        let mut v = Vec::new();
        each_span(s.as_bytes(), |a, b, d| {
            v.push((a, b, String::from_utf8_lossy(d).into_owned()))
        });
        v
    }

    #[test]
    fn decodes_base64_hex_percent() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("password=hunter2hunter2");
        let got = spans(&format!("x: {b64}\n"));
        assert_eq!(
            got,
            vec![(3, 3 + b64.len(), "password=hunter2hunter2".into())]
        );
        let hx = hex::encode("token=abcdefgh12345678");
        assert_eq!(spans(&hx)[0].2, "token=abcdefgh12345678");
        assert_eq!(spans("u=p%40ss%3Dword%21x")[0].2, "u=p@ss=word!x");
    }

    #[test]
    fn ignores_identifiers_and_binary() {
        assert!(spans("some_long_identifier_name_here and/a/path/to/file").is_empty());
        let bin = base64::engine::general_purpose::STANDARD
            .encode([0u8, 1, 2, 3, 200, 201, 202, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert!(spans(&bin).is_empty());
    }
}
