//! sops-encrypted files as the scanner sees them: ciphertext and metadata
//! are blanked (they are noise to every rule), so what is left — key names
//! and any value sops left unencrypted — is scanned like any text; and in
//! gsec's own environment files every value left unencrypted is a finding
//! (issue 11, High 2: `unencrypted_suffix` and `encrypted_regex` let a
//! plaintext value into a committed file).

use memchr::memmem;

/// A sops-encrypted file (YAML, JSON, ENV or INI flavour): sops metadata
/// (`sops:`, `sops_mac=` or `[sops]` at the start of a line, or a JSON
/// `"sops":` key) and a MAC in it. Runs on every scanned file, so it is a
/// few literal searches, and builds nothing (a regex built here was a
/// fortieth of a pre-commit scan).
pub fn is_sops(content: &[u8]) -> bool {
    has_metadata(content) && has_mac(content)
}

fn at_line_start(c: &[u8], at: usize) -> bool {
    at == 0 || c[at - 1] == b'\n'
}

fn has_metadata(c: &[u8]) -> bool {
    memmem::find(c, b"\"sops\":").is_some()
        || memmem::find_iter(c, b"sops").any(|at| {
            let rest = &c[at + 4..];
            let bracketed = at > 0 && c[at - 1] == b'[' && at_line_start(c, at - 1);
            (at_line_start(c, at) && (rest.starts_with(b":") || rest.starts_with(b"_mac=")))
                || (bracketed && rest.starts_with(b"]"))
        })
}

/// `mac:`, `"mac":`, `sops_mac=` or `mac =` anywhere.
fn has_mac(c: &[u8]) -> bool {
    memmem::find_iter(c, b"mac").any(|at| {
        let (before, rest) = (&c[..at], &c[at + 3..]);
        rest.starts_with(b":")
            || rest.starts_with(b" =")
            || (rest.starts_with(b"=") && before.ends_with(b"sops_"))
            || (rest.starts_with(b"\":") && before.ends_with(b"\""))
    })
}

/// `content` with every `ENC[…]` value and the sops metadata (YAML
/// `sops:` block, JSON `"sops"` object, dotenv `sops_*` lines, INI
/// `[sops]` section) replaced by spaces. Same length, newlines kept, so
/// offsets and line numbers are those of the file.
pub fn mask(content: &[u8]) -> Vec<u8> {
    let mut out = content.to_vec();
    blank_enc(&mut out);
    blank_metadata(&mut out);
    out
}

fn blank(buf: &mut [u8], from: usize, to: usize) {
    for b in &mut buf[from..to] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

/// Where `needle` next occurs in `buf` at or after `from`.
pub(super) fn find(buf: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memmem::find(buf.get(from..)?, needle).map(|p| p + from)
}

fn blank_enc(buf: &mut [u8]) {
    let mut at = 0;
    while let Some(s) = find(buf, at, b"ENC[") {
        // A value never spans lines; an unterminated one ends at its line.
        let line_end = find(buf, s, b"\n").unwrap_or(buf.len());
        let e = find(buf, s, b"]")
            .filter(|&e| e < line_end)
            .map_or(line_end, |e| e + 1);
        blank(buf, s, e);
        at = e;
    }
}

fn blank_metadata(buf: &mut [u8]) {
    let lines: Vec<(usize, usize)> = line_spans(buf);
    let mut i = 0;
    while i < lines.len() {
        let (s, e) = lines[i];
        let line = &buf[s..e];
        if line.starts_with(b"sops:") || line == b"[sops]" || line.starts_with(b"[sops]") {
            // YAML block / INI section: up to the next top-level key or section.
            let yaml = line.starts_with(b"sops:");
            let mut j = i + 1;
            while j < lines.len() {
                let l = &buf[lines[j].0..lines[j].1];
                let top = if yaml {
                    l.first()
                        .is_some_and(|c| !c.is_ascii_whitespace() && *c != b'#' && *c != b'-')
                } else {
                    l.starts_with(b"[")
                };
                if top {
                    break;
                }
                j += 1;
            }
            let end = lines.get(j).map_or(buf.len(), |l| l.0);
            blank(buf, s, end);
            i = j;
            continue;
        }
        if line.starts_with(b"sops_") {
            blank(buf, s, e);
        }
        i += 1;
    }
    // JSON: the `"sops": { … }` object, by brace depth (its strings hold
    // no braces).
    if let Some(k) = find(buf, 0, b"\"sops\":")
        && let Some(open) = find(buf, k, b"{")
    {
        let mut depth = 0usize;
        let mut end = buf.len();
        for (i, &b) in buf.iter().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        blank(buf, k, end);
    }
}

/// (start, end) of each line, without its newline.
fn line_spans(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut s = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            out.push((s, i));
            s = i + 1;
        }
    }
    if s < buf.len() {
        out.push((s, buf.len()));
    }
    out
}

/// Byte spans of the values left in a masked environment file (`rel`
/// names it, for its format): after [`mask`], an encrypted value is blank,
/// so any value still holding text was stored unencrypted.
pub fn unencrypted_values(rel: &str, masked: &[u8]) -> Vec<(usize, usize)> {
    use crate::vault::format::Format;
    match Format::detect(std::path::Path::new(rel), masked) {
        Format::Yaml => yaml_values(masked),
        Format::Json => json_values(masked),
        Format::Dotenv => dotenv_values(masked),
    }
}

/// `NAME=value` lines: the value, unless blank (encrypted or empty).
fn dotenv_values(masked: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (s, e) in line_spans(masked) {
        let line = &masked[s..e];
        if line.starts_with(b"#") {
            continue;
        }
        let Some(eq) = line.iter().position(|b| *b == b'=') else {
            continue;
        };
        let v = &line[eq + 1..];
        let len = v.len() - v.iter().rev().take_while(|b| **b == b' ').count();
        if len > 0 {
            out.push((s + eq + 1, s + eq + 1 + len));
        }
    }
    out
}

/// One value per line in the layout sops writes (`"key": value,` or a
/// list item): the value, unless it is a masked ciphertext (`"   "`), an
/// empty string, `null` or a bracket.
fn json_values(masked: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (s, e) in line_spans(masked) {
        let line = &masked[s..e];
        let lead = line.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let mut body = &line[lead..];
        while let Some(b' ' | b'\t' | b'\r' | b',') = body.last() {
            body = &body[..body.len() - 1];
        }
        let mut at = s + lead;
        // After a quoted key followed by `: `, the value; else the line is
        // a list item.
        if body.first() == Some(&b'"')
            && let Some(close) = string_end(body)
            && body[close..].starts_with(b": ")
        {
            at += close + 2;
            body = &body[close + 2..];
        }
        let skip = body.is_empty()
            || matches!(body, b"null" | b"\"\"" | b"{}" | b"[]")
            || matches!(body.first(), Some(b'{' | b'[' | b'}' | b']'))
            || (body.len() >= 2
                && body[0] == b'"'
                && body[body.len() - 1] == b'"'
                && body[1..body.len() - 1].iter().all(|b| *b == b' '));
        if skip {
            continue;
        }
        let (from, len) = if body.len() >= 2 && body[0] == b'"' && body.ends_with(b"\"") {
            (at + 1, body.len() - 2)
        } else {
            (at, body.len())
        };
        out.push((from, from + len));
    }
    out
}

/// The index just past the closing quote of the string `b` starts with.
fn string_end(b: &[u8]) -> Option<usize> {
    let mut esc = false;
    for (i, &c) in b.iter().enumerate().skip(1) {
        match c {
            _ if esc => esc = false,
            b'\\' => esc = true,
            b'"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// `key: value` and `- value` lines of a YAML file.
fn yaml_values(masked: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (s, e) in line_spans(masked) {
        let line = &masked[s..e];
        let indent = line.iter().take_while(|b| **b == b' ').count();
        let mut at = indent;
        let rest = &line[at..];
        if rest.is_empty() || rest.starts_with(b"#") {
            continue;
        }
        if rest.starts_with(b"- ") {
            at += 2;
        }
        // After the key, if any: the first `: ` (or a trailing `:`).
        let body = &line[at..];
        let value_at = match find(body, 0, b": ") {
            Some(c) => at + c + 2,
            None if body.ends_with(b":") => continue,
            None if line[indent..].starts_with(b"- ") => at,
            None => continue,
        };
        let value = &line[value_at..];
        let lead = value.iter().take_while(|b| **b == b' ').count();
        let mut v = &value[lead..];
        if let Some(c) = find(v, 0, b" #") {
            v = &v[..c];
        }
        while v.last() == Some(&b' ') {
            v = &v[..v.len() - 1];
        }
        if v.is_empty() || v.starts_with(b"#") || v == b"{}" || v == b"[]" {
            continue;
        }
        let start = s + value_at + lead;
        out.push((start, start + v.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition `is_sops` replaces, as a regex: the literal searches
    /// must agree with it on every input.
    fn is_sops_by_regex(content: &[u8]) -> bool {
        let meta = regex::bytes::Regex::new(r#"(?m)^sops:|"sops":|^sops_mac=|^\[sops\]"#).unwrap();
        let mac = regex::bytes::Regex::new(r#"mac:|"mac":|sops_mac=|mac ="#).unwrap();
        meta.is_match(content) && mac.is_match(content)
    }

    #[test]
    fn sops_files_of_each_flavour_are_recognised() {
        for f in [
            &b"A: ENC[x]\nsops:\n    mac: ENC[m]\n"[..],
            b"{\n  \"A\": \"ENC[x]\",\n  \"sops\": {\"mac\": \"ENC[m]\"}\n}\n",
            b"A=ENC[x]\nsops_mac=ENC[m]\n",
            b"[s]\nA = ENC[x]\n[sops]\nmac = ENC[m]\n",
        ] {
            assert!(is_sops(f), "{}", String::from_utf8_lossy(f));
        }
        for f in [
            &b"sops: yes\n"[..],
            b"mac: address\n",
            b"  sops:\n  mac: x\n",
            b"x[sops]\nmac = 1\n",
            b"mac\xff sops:",
        ] {
            assert!(!is_sops(f), "{}", String::from_utf8_lossy(f));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]
        #[test]
        fn is_sops_agrees_with_its_regex_definition(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "sops", "mac", ":", "=", " =", "\"", "[", "]", "_", "\n", "\r", " ",
                "sops_", "x", "\u{e9}", "\0",
            ]), 0..24)
        ) {
            let content = parts.concat().into_bytes();
            proptest::prop_assert_eq!(is_sops(&content), is_sops_by_regex(&content));
        }
    }

    #[test]
    fn ciphertext_and_metadata_are_blanked_plain_values_found() {
        let f = b"A: ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]\nB_unencrypted: hunter2-plain\nnested:\n    C: ENC[AES256_GCM,data:q]\n    D: plain-d # note\nlist:\n    - ENC[AES256_GCM,data:z]\n    - plain-item\nsops:\n    age:\n        - recipient: age1xyz\n    mac: ENC[AES256_GCM,data:m]\n    lastmodified: \"2026-01-01T00:00:00Z\"\n";
        let m = mask(f);
        assert_eq!(m.len(), f.len());
        assert_eq!(
            m.iter().filter(|b| **b == b'\n').count(),
            f.iter().filter(|b| **b == b'\n').count()
        );
        let text = String::from_utf8(m.clone()).unwrap();
        assert!(
            !text.contains("ENC[") && !text.contains("age1xyz") && !text.contains("lastmodified")
        );
        let vals: Vec<String> = unencrypted_values("s.yaml", &m)
            .into_iter()
            .map(|(s, e)| String::from_utf8_lossy(&m[s..e]).into_owned())
            .collect();
        assert_eq!(vals, ["hunter2-plain", "plain-d", "plain-item"]);
    }

    #[test]
    fn json_and_dotenv_metadata_are_blanked() {
        let j = b"{\n  \"A\": \"ENC[AES256_GCM,data:a]\",\n  \"sops\": {\n    \"mac\": \"ENC[x]\",\n    \"age\": [{\"recipient\": \"age1k\"}]\n  }\n}\n";
        let t = String::from_utf8(mask(j)).unwrap();
        assert!(!t.contains("age1k") && !t.contains("sops") && t.contains("\"A\""));
        let d =
            b"A=ENC[AES256_GCM,data:a]\nsops_mac=ENC[x]\nsops_age__list_0__map_recipient=age1k\n";
        let t = String::from_utf8(mask(d)).unwrap();
        assert!(!t.contains("age1k") && t.starts_with("A="));
    }

    #[test]
    fn plain_values_are_found_in_json_and_dotenv() {
        let vals = |rel: &str, f: &[u8]| -> Vec<String> {
            let m = mask(f);
            unencrypted_values(rel, &m)
                .into_iter()
                .map(|(s, e)| String::from_utf8_lossy(&m[s..e]).into_owned())
                .collect()
        };
        let j = b"{\n\t\"A\": \"ENC[AES256_GCM,data:a]\",\n\t\"B_unencrypted\": \"plain: b\",\n\t\"n\": {\n\t\t\"l\": [\n\t\t\t\"ENC[AES256_GCM,data:q]\",\n\t\t\t\"item\",\n\t\t\t3\n\t\t],\n\t\t\"e\": \"\",\n\t\t\"z\": null\n\t},\n\t\"sops\": {\n\t\t\"mac\": \"ENC[x]\"\n\t}\n}\n";
        assert_eq!(vals("s/p.json", j), ["plain: b", "item", "3"]);
        let d = b"#ENC[AES256_GCM,data:c]\nA=ENC[AES256_GCM,data:a]\nEMPTY=\nB_unencrypted=plain=b\nsops_mac=ENC[x]\nsops_version=3.11.0\n";
        assert_eq!(vals("s/p.env", d), ["plain=b"]);
    }
}
