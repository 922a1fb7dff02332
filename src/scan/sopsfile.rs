//! sops-encrypted files as the scanner sees them: ciphertext and metadata
//! are blanked (they are noise to every rule), so what is left — key names
//! and any value sops left unencrypted — is scanned like any text; and in
//! gsec's own environment files every value left unencrypted is a finding
//! (issue 11, High 2: `unencrypted_suffix` and `encrypted_regex` let a
//! plaintext value into a committed file).

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

fn find(buf: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    buf.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
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

/// Byte spans of the values left in a masked YAML environment file: after
/// [`mask`], an encrypted value is blank, so any `key: value` or `- value`
/// still holding text was stored unencrypted.
pub fn unencrypted_values(masked: &[u8]) -> Vec<(usize, usize)> {
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
        let vals: Vec<String> = unencrypted_values(&m)
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
}
