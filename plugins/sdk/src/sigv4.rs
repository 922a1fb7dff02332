//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), written from AWS's
//! "Create a signed AWS API request" (IAM User Guide): a canonical request,
//! a string to sign over its SHA-256, a signing key derived from the secret
//! key by HMAC-SHA256 over date, region, service and `aws4_request`, and the
//! `Authorization` header. No AWS SDK fits in the sandbox; this is all a
//! plugin needs to call AWS's Query and JSON APIs.
//!
//! ```ignore
//! let creds = sigv4::Credentials::new(key_id, secret);
//! let body = b"Action=GetCallerIdentity&Version=2011-06-15";
//! let headers = [("content-type", sigv4::FORM)];
//! let signed = sigv4::sign(&creds, "us-east-1", "sts", "POST", url, &headers, body, now_ms())?;
//! http::request("POST", url, &signed.headers(&headers), Some(body))?;
//! ```
//!
//! Scope: header-based signing with a signed payload (not presigned URLs,
//! not S3's chunked or unsigned payloads, not SigV4a). Paths are encoded
//! as the non-S3 services expect: each segment of the URL's path is
//! URI-encoded once more.

use sha2::{Digest, Sha256};

use crate::{Error, Result};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The content type of AWS Query API bodies (IAM, STS…).
pub const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// An access key, with the session token of temporary credentials.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Never print the secret half.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
}

/// What [`sign`] produced: the headers to send besides the caller's own,
/// and the intermediate strings (for tests and debugging; they hold no
/// secret).
#[derive(Debug, Clone)]
pub struct Signed {
    /// `x-amz-date`, `x-amz-security-token` (temporary credentials) and
    /// `authorization`.
    pub added: Vec<(String, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

impl Signed {
    /// The caller's headers followed by the added ones, ready for
    /// [`crate::http::request`].
    pub fn headers<'a>(&'a self, mine: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut out = mine.to_vec();
        out.extend(self.added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out
    }
    pub fn authorization(&self) -> &str {
        self.added
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// Sign a request: every header in `headers` is signed, plus `host` (from
/// the URL, as the host will send it: without the scheme's default port),
/// `x-amz-date` and, for temporary credentials, `x-amz-security-token`.
/// `now_ms` is the Unix time in milliseconds ([`crate::now_ms`]).
#[allow(clippy::too_many_arguments)]
pub fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    now_ms: i64,
) -> Result<Signed> {
    let parts = UrlParts::parse(url)?;
    let (amz_date, date) = amz_date(now_ms);
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    if all.iter().any(|(k, _)| k == "host" || k == "authorization") {
        return Err(Error::new(
            "sigv4: pass neither a host nor an authorization header (both are set from the URL and the signature)",
        ));
    }
    all.push(("host".into(), parts.authority.clone()));
    all.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(t) = &creds.session_token {
        all.push(("x-amz-security-token".into(), t.clone()));
    }
    let (canonical_headers, signed_headers) = canonical_headers(&all);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri(&parts.path),
        canonical_query(&parts.query),
        canonical_headers,
        signed_headers,
        sha256_hex(body)
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = string_to_sign(&amz_date, &scope, &canonical_request);
    let key = signing_key(&creds.secret_access_key, &date, region, service);
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key_id
    );
    let mut added = vec![("x-amz-date".to_string(), amz_date)];
    if let Some(t) = &creds.session_token {
        added.push(("x-amz-security-token".into(), t.clone()));
    }
    added.push(("authorization".into(), authorization));
    Ok(Signed {
        added,
        canonical_request,
        string_to_sign,
        signature,
    })
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256 of the canonical request>`
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// Lower-case, sorted `name:value\n` lines (values trimmed, inner runs of
/// spaces collapsed, repeated names joined with commas) and the `;`-joined
/// signed header names.
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in headers {
        let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
        merged.entry(k.to_ascii_lowercase()).or_default().push(v);
    }
    let mut lines = String::new();
    for (k, vs) in &merged {
        lines.push_str(k);
        lines.push(':');
        lines.push_str(&vs.join(","));
        lines.push('\n');
    }
    let names: Vec<&str> = merged.keys().map(String::as_str).collect();
    (lines, names.join(";"))
}

/// The absolute path, each segment URI-encoded (so an already-encoded path
/// is encoded twice, as every service but S3 expects); `/` when empty.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(|seg| uri_encode(seg, true))
        .collect::<Vec<_>>()
        .join("/")
}

/// Parameters URI-encoded (after decoding what the URL already encoded),
/// sorted by name then value, joined with `&`; a name without `=` gets an
/// empty value.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), true),
                uri_encode(&percent_decode(v), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS's UriEncode: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (upper
/// case hex); `/` too when `encode_slash`.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (b == b'/' && !encode_slash) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` sequences decoded (others kept as they are).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A form body (`application/x-www-form-urlencoded`) from pairs, encoded
/// with [`uri_encode`] so that it reads the same as AWS's examples.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
        .collect::<Vec<_>>()
        .join("&")
}

/// (`YYYYMMDDTHHMMSSZ`, `YYYYMMDD`) in UTC.
pub fn amz_date(now_ms: i64) -> (String, String) {
    let secs = now_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let date = format!("{y:04}{m:02}{d:02}");
    let time = format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    (format!("{date}T{time}Z"), date)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01 (the inverse of
/// [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)), with K
/// hashed first when longer than the 64-byte block.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pieces of an `http(s)://authority/path?query` URL that signing needs.
struct UrlParts {
    authority: String,
    path: String,
    query: String,
}

impl UrlParts {
    fn parse(url: &str) -> Result<UrlParts> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::new("sigv4: the URL has no scheme"))?;
        let rest = rest.split('#').next().unwrap_or(rest);
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i..]),
            None => (before_query, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(Error::new(
                "sigv4: the URL needs a host (and no user:password@)",
            ));
        }
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => ":443",
            "http" => ":80",
            _ => return Err(Error::new("sigv4: the URL must be http or https")),
        };
        let authority = authority.to_ascii_lowercase();
        let authority = authority
            .strip_suffix(default_port)
            .unwrap_or(&authority)
            .to_string();
        Ok(UrlParts {
            authority,
            path: path.to_string(),
            query: query.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's example credentials, used by every documented example.
    const KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z, the time of AWS's examples, in ms.
    const AT: i64 = 1_440_938_160_000;

    /// "Examples of how to derive a signing key for Signature Version 4":
    /// secret above, 20120215, us-east-1, iam.
    #[test]
    fn documented_signing_key_derivation() {
        assert_eq!(
            hex(&signing_key(SECRET, "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// The IAM `ListUsers` example of AWS's signing guide: canonical
    /// request, its hash in the string to sign, and the signature.
    #[test]
    fn documented_iam_list_users_example() {
        let creds = Credentials::new(KEY_ID, SECRET);
        let s = sign(
            &creds,
            "us-east-1",
            "iam",
            "GET",
            "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            b"",
            AT,
        )
        .unwrap();
        assert_eq!(
            s.canonical_request,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
             content-type:application/x-www-form-urlencoded; charset=utf-8\n\
             host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             content-type;host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
             f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            s.signature,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert_eq!(
            s.authorization(),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// The SigV4 test suite's `get-vanilla` and `post-vanilla-query`.
    #[test]
    fn documented_test_suite_vanilla_requests() {
        let creds = Credentials::new(KEY_ID, SECRET);
        let s = sign(
            &creds,
            "us-east-1",
            "service",
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            AT,
        )
        .unwrap();
        assert_eq!(
            s.authorization(),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        let s = sign(
            &creds,
            "us-east-1",
            "service",
            "POST",
            "https://example.amazonaws.com/?Param1=value1",
            &[],
            b"",
            AT,
        )
        .unwrap();
        assert_eq!(
            s.string_to_sign.lines().last(),
            Some("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd")
        );
    }

    #[test]
    fn encoding_sorting_and_host_rules() {
        assert_eq!(uri_encode("a b/c~d*", true), "a%20b%2Fc~d%2A");
        assert_eq!(uri_encode("a/b", false), "a/b");
        assert_eq!(canonical_query("b=2&a=3&a=1&c"), "a=1&a=3&b=2&c=");
        assert_eq!(canonical_query("k=a%20b"), "k=a%20b");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a b/%41"), "/a%20b/%2541");
        let (h, names) = canonical_headers(&[
            ("My-Header".into(), "  a   b  ".into()),
            ("host".into(), "x".into()),
            ("my-header".into(), "c".into()),
        ]);
        assert_eq!(h, "host:x\nmy-header:a b,c\n");
        assert_eq!(names, "host;my-header");
        let creds = Credentials::new(KEY_ID, SECRET).session_token("tok");
        let s = sign(
            &creds,
            "r",
            "s",
            "GET",
            "http://127.0.0.1:8080/x",
            &[],
            b"",
            AT,
        )
        .unwrap();
        assert!(s.canonical_request.contains("host:127.0.0.1:8080\n"));
        assert!(s.canonical_request.contains("x-amz-security-token:tok\n"));
        let s = sign(
            &creds,
            "r",
            "s",
            "GET",
            "https://H.example:443",
            &[],
            b"",
            AT,
        )
        .unwrap();
        assert!(s.canonical_request.contains("host:h.example\n"));
        assert!(sign(&creds, "r", "s", "GET", "x", &[], b"", AT).is_err());
        assert!(
            sign(
                &creds,
                "r",
                "s",
                "GET",
                "https://h/",
                &[("Host", "y")],
                b"",
                AT
            )
            .is_err()
        );
        assert!(!format!("{creds:?}").contains(SECRET));
    }

    #[test]
    fn dates() {
        assert_eq!(amz_date(AT).0, "20150830T123600Z");
        assert_eq!(amz_date(0).0, "19700101T000000Z");
        assert_eq!(amz_date(951_782_400_000).1, "20000229");
        for d in [-1000, 0, 11_016, 16_677, 20_000, 60_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
