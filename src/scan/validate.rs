//! Checks a candidate secret must pass after its pattern matched: entropy,
//! a format validator (checksums that real tokens carry), and the
//! placeholder filter. Shared by the rule engine and generic detection.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Format validators a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Validator {
    /// GitHub `gh[pousr]_` tokens: CRC32 of the 30 random characters,
    /// base62 in the last 6.
    GithubChecksum,
    /// npm `npm_` tokens: the same scheme.
    NpmChecksum,
    /// Private Packagist `packagist_{ort,out,uut,cut}_` tokens: 60 hex
    /// digits, then the CRC32 of prefix and digits in 8 lowercase hex.
    PackagistChecksum,
    /// JWT: the header base64url-decodes to a JSON object with `alg`.
    Jwt,
    /// The judgement of generic detection (randomness, stop words,
    /// references, placeholders), for formats with no structure of their
    /// own, such as a bearer token (a hex token included: in a token slot
    /// 40 hex digits are not a git object id).
    SecretValue,
}

impl Validator {
    pub fn check(self, secret: &[u8]) -> bool {
        match self {
            Validator::GithubChecksum => {
                secret.len() == 40
                    && secret.starts_with(b"gh")
                    && matches!(secret[2], b'p' | b'o' | b'u' | b's' | b'r')
                    && secret[3] == b'_'
                    && crc_base62_ok(&secret[4..])
            }
            Validator::NpmChecksum => {
                secret.len() == 40 && secret.starts_with(b"npm_") && crc_base62_ok(&secret[4..])
            }
            Validator::PackagistChecksum => packagist_ok(secret),
            Validator::Jwt => jwt_ok(secret),
            Validator::SecretValue => super::generic::token_value(secret),
        }
    }
}

const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// 30 random alphanumerics followed by their CRC32 in 6 base62 digits.
fn crc_base62_ok(body: &[u8]) -> bool {
    if body.len() != 36 || !body.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (random, check) = body.split_at(30);
    let mut n = crc32fast::hash(random) as u64;
    let mut want = [b'0'; 6];
    for slot in want.iter_mut().rev() {
        *slot = B62[(n % 62) as usize];
        n /= 62;
    }
    want == check
}

/// `packagist_xxx_`, 60 lowercase hex, then `%08x` of the CRC32 of all
/// that precedes it (Private Packagist's documented token format).
fn packagist_ok(token: &[u8]) -> bool {
    const PREFIX: usize = "packagist_xxx_".len();
    if token.len() != PREFIX + 68
        || !token.starts_with(b"packagist_")
        || token[PREFIX - 1] != b'_'
        || !token[PREFIX..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return false;
    }
    let (head, check) = token.split_at(PREFIX + 60);
    format!("{:08x}", crc32fast::hash(head)).as_bytes() == check
}

fn jwt_ok(token: &[u8]) -> bool {
    let header = token.split(|&b| b == b'.').next().unwrap_or_default();
    let trimmed: Vec<u8> = header.iter().copied().filter(|&b| b != b'=').collect();
    let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&trimmed) else {
        return false;
    };
    matches!(serde_json::from_slice::<serde_json::Value>(&raw), Ok(serde_json::Value::Object(m)) if m.contains_key("alg"))
}

/// Shannon entropy in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Words that mark a documentation value, not a credential. A secret that
/// contains one is dropped (the rule pack's fp samples rely on this).
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "sample",
    "dummy",
    "placeholder",
    "xxxx",
    "changeme",
    "test",
];

pub fn is_placeholder(secret: &[u8]) -> bool {
    let low = secret.to_ascii_lowercase();
    PLACEHOLDER_WORDS
        .iter()
        .any(|w| low.windows(w.len()).any(|win| win == w.as_bytes()))
        || doc_example(secret)
}

/// Credentials that providers publish in their documentation (AWS's example
/// key pair, jwt.io's token, ...): data in `doc_examples.txt`, compiled in.
/// A secret containing one is a copy of the documentation, not a leak.
pub fn doc_example(secret: &[u8]) -> bool {
    const LIST: &str = include_str!("doc_examples.txt");
    LIST.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|w| secret.windows(w.len()).any(|win| win == w.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github_token(random: &str) -> String {
        let mut n = crc32fast::hash(random.as_bytes()) as u64;
        let mut c = [b'0'; 6];
        for s in c.iter_mut().rev() {
            *s = B62[(n % 62) as usize];
            n /= 62;
        }
        format!("ghp_{random}{}", String::from_utf8_lossy(&c))
    }

    #[test]
    fn github_checksum() {
        let t = github_token("aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1");
        assert!(Validator::GithubChecksum.check(t.as_bytes()), "{t}");
        let mut bad = t.clone().into_bytes();
        bad[39] = if bad[39] == b'a' { b'b' } else { b'a' };
        assert!(!Validator::GithubChecksum.check(&bad));
    }

    #[test]
    fn packagist_checksum() {
        let head = format!(
            "packagist_uut_{}",
            "0123456789abcdef".repeat(4).split_at(60).0
        );
        let t = format!("{head}{:08x}", crc32fast::hash(head.as_bytes()));
        assert!(Validator::PackagistChecksum.check(t.as_bytes()), "{t}");
        let mut bad = t.clone().into_bytes();
        bad[20] = if bad[20] == b'a' { b'b' } else { b'a' };
        assert!(!Validator::PackagistChecksum.check(&bad));
        assert!(!Validator::PackagistChecksum.check(&t.as_bytes()[..t.len() - 1]));
        assert!(!Validator::PackagistChecksum.check(t.to_uppercase().as_bytes()));
    }

    #[test]
    fn jwt() {
        assert!(Validator::Jwt.check(b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc"));
        assert!(!Validator::Jwt.check(b"eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.abc"));
    }

    #[test]
    fn entropy_and_placeholders() {
        assert!(entropy(b"aaaaaaaa") < 0.01);
        assert!(entropy(b"abcdefgh") > 2.9);
        assert!(is_placeholder(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_placeholder(b"AKIAFSW2Q5F2FEC34BCD"));
        assert!(is_placeholder(
            b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
        ));
        assert!(is_placeholder(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
    }
}
