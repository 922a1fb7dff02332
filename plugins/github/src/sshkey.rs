//! OpenSSH ed25519 keys: the `openssh-key-v1` private key format (unencrypted,
//! as `ssh-keygen -N ''` writes it) and the one-line public key GitHub takes.
//! Written by hand because the `ssh-key` crate pulls in an OS RNG.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;

const MAGIC: &[u8] = b"openssh-key-v1\0";
const KEY_TYPE: &str = "ssh-ed25519";
const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END: &str = "-----END OPENSSH PRIVATE KEY-----";

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn public_blob(pk: &[u8; 32]) -> Vec<u8> {
    let mut b = Vec::new();
    put_string(&mut b, KEY_TYPE.as_bytes());
    put_string(&mut b, pk);
    b
}

/// `ssh-ed25519 AAAA… comment`
pub fn public_line(key: &SigningKey, comment: &str) -> String {
    let pk = key.verifying_key().to_bytes();
    format!("{KEY_TYPE} {} {comment}", STANDARD.encode(public_blob(&pk)))
        .trim_end()
        .to_string()
}

/// The private key as an OpenSSH PEM file. `check` is the random check
/// integer OpenSSH stores twice (it detects a wrong passphrase; unused here
/// but part of the format).
pub fn private_pem(key: &SigningKey, comment: &str, check: u32) -> String {
    let pk = key.verifying_key().to_bytes();
    let mut private = Vec::new();
    private.extend_from_slice(&check.to_be_bytes());
    private.extend_from_slice(&check.to_be_bytes());
    put_string(&mut private, KEY_TYPE.as_bytes());
    put_string(&mut private, &pk);
    let mut sk = key.to_bytes().to_vec();
    sk.extend_from_slice(&pk);
    put_string(&mut private, &sk);
    put_string(&mut private, comment.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut blob = MAGIC.to_vec();
    put_string(&mut blob, b"none");
    put_string(&mut blob, b"none");
    put_string(&mut blob, b"");
    blob.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut blob, &public_blob(&pk));
    put_string(&mut blob, &private);
    let b64 = STANDARD.encode(&blob);
    let mut pem = String::from(BEGIN);
    pem.push('\n');
    for chunk in b64.as_bytes().chunks(70) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(END);
    pem.push('\n');
    pem
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (h, t) = self.0.split_at_checked(4)?;
        self.0 = t;
        Some(u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        let (h, t) = self.0.split_at_checked(n)?;
        self.0 = t;
        Some(h)
    }
}

/// The public key (32 bytes) of an unencrypted OpenSSH ed25519 private key,
/// after checking that the private half really derives it. Errors never
/// include key material.
pub fn public_of_private(pem: &str) -> Result<[u8; 32], &'static str> {
    let body: String = pem
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|s| s.strip_suffix(END))
        .ok_or("not an OpenSSH private key")?
        .split_whitespace()
        .collect();
    let blob = STANDARD
        .decode(body)
        .map_err(|_| "OpenSSH private key: bad base64")?;
    let rest = blob
        .strip_prefix(MAGIC)
        .ok_or("OpenSSH private key: bad magic")?;
    let mut r = Reader(rest);
    let bad = "OpenSSH private key: truncated";
    let cipher = r.string().ok_or(bad)?;
    if cipher != b"none" {
        return Err("OpenSSH private key is passphrase-protected");
    }
    r.string().ok_or(bad)?;
    r.string().ok_or(bad)?;
    if r.u32().ok_or(bad)? != 1 {
        return Err("OpenSSH private key: expected exactly one key");
    }
    r.string().ok_or(bad)?;
    let mut p = Reader(r.string().ok_or(bad)?);
    let (c1, c2) = (p.u32().ok_or(bad)?, p.u32().ok_or(bad)?);
    if c1 != c2 {
        return Err("OpenSSH private key: check integers differ");
    }
    if p.string().ok_or(bad)? != KEY_TYPE.as_bytes() {
        return Err("OpenSSH private key: not ssh-ed25519");
    }
    let pk: [u8; 32] = p.string().ok_or(bad)?.try_into().map_err(|_| bad)?;
    let sk = p.string().ok_or(bad)?;
    let seed: [u8; 32] = sk.get(..32).ok_or(bad)?.try_into().map_err(|_| bad)?;
    if SigningKey::from_bytes(&seed).verifying_key().to_bytes() != pk {
        return Err("OpenSSH private key: private and public halves do not match");
    }
    Ok(pk)
}

/// The 32-byte key of an `ssh-ed25519 AAAA… [comment]` line.
pub fn parse_public_line(line: &str) -> Option<[u8; 32]> {
    let mut it = line.split_whitespace();
    if it.next()? != KEY_TYPE {
        return None;
    }
    let blob = STANDARD.decode(it.next()?).ok()?;
    let mut r = Reader(&blob);
    if r.string()? != KEY_TYPE.as_bytes() {
        return None;
    }
    r.string()?.try_into().ok()
}
