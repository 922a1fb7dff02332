//! Primitives of the sops value encryption, and nothing else: AES-256-GCM
//! with sops' 32-byte nonce, the `ENC[…]` text form, and the MAC hash.
//!
//! sops uses a 32-byte IV (not GCM's usual 12); the tag is split off the
//! ciphertext; all three fields are standard base64. The additional data
//! binds each value to its key path, so values cannot be swapped between keys.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

type Gcm = AesGcm<Aes256, U32>;

const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;
const PREFIX: &str = "ENC[AES256_GCM,data:";

/// The per-file 32-byte data key. Zeroized on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        DataKey(k)
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = b.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Gcm {
        Gcm::new_from_slice(&self.0[..]).expect("32-byte key")
    }
}

/// The sops value types (`type:` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Str,
    Int,
    Float,
    Bool,
    Bytes,
    Time,
    Comment,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Bytes => "bytes",
            ValueType::Time => "time",
            ValueType::Comment => "comment",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "bytes" => ValueType::Bytes,
            "time" => ValueType::Time,
            "comment" => ValueType::Comment,
            _ => return None,
        })
    }
}

/// Why a value failed to decrypt. Never carries any part of the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("not a sops encrypted value")]
    NotEncrypted,
    #[error("malformed encrypted value: {0}")]
    Malformed(&'static str),
    #[error("authentication failed")]
    Auth,
    /// Authentic, but the plaintext is not of the recorded `type:` (sops
    /// refuses such a value, so gsec does too).
    #[error("decrypted value is not a valid {0}, as its `type:{0}` says; sops would refuse it")]
    BadType(&'static str),
}

/// Is `s` in the `ENC[AES256_GCM,…]` form (well-formed or not)?
pub fn looks_encrypted(s: &str) -> bool {
    s.starts_with("ENC[")
}

struct Parts {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    ty: ValueType,
}

fn parse(s: &str) -> Result<Parts, CryptoError> {
    let body = s
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(']'))
        .ok_or(if looks_encrypted(s) {
            CryptoError::Malformed("unknown cipher or truncated value")
        } else {
            CryptoError::NotEncrypted
        })?;
    let (data, rest) = body
        .split_once(",iv:")
        .ok_or(CryptoError::Malformed("missing iv"))?;
    let (iv, rest) = rest
        .split_once(",tag:")
        .ok_or(CryptoError::Malformed("missing tag"))?;
    let (tag, ty) = rest
        .split_once(",type:")
        .ok_or(CryptoError::Malformed("missing type"))?;
    let ty = ValueType::parse(ty).ok_or(CryptoError::Malformed("unknown type"))?;
    let dec = |f: &str, what| B64.decode(f).map_err(|_| CryptoError::Malformed(what));
    let parts = Parts {
        data: dec(data, "data is not base64")?,
        iv: dec(iv, "iv is not base64")?,
        tag: dec(tag, "tag is not base64")?,
        ty,
    };
    if parts.iv.len() != IV_LEN {
        return Err(CryptoError::Malformed("iv is not 32 bytes"));
    }
    if parts.tag.len() != TAG_LEN {
        return Err(CryptoError::Malformed("tag is not 16 bytes"));
    }
    Ok(parts)
}

/// The type recorded in an `ENC[…]` value, without decrypting it.
pub fn value_type(s: &str) -> Result<ValueType, CryptoError> {
    parse(s).map(|p| p.ty)
}

/// Encrypt `plain` (already in sops' byte form for `ty`) bound to `aad`.
pub fn encrypt(key: &DataKey, plain: &[u8], ty: ValueType, aad: &str) -> String {
    let mut iv = [0u8; IV_LEN];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let mut out = key
        .cipher()
        .encrypt(
            (&iv).into(),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM encryption cannot fail for in-memory buffers");
    let tag = out.split_off(out.len() - TAG_LEN);
    format!(
        "{PREFIX}{},iv:{},tag:{},type:{}]",
        B64.encode(&out),
        B64.encode(iv),
        B64.encode(tag),
        ty.as_str()
    )
}

/// Decrypt an `ENC[…]` value bound to `aad`.
pub fn decrypt(
    key: &DataKey,
    s: &str,
    aad: &str,
) -> Result<(Zeroizing<Vec<u8>>, ValueType), CryptoError> {
    let p = parse(s)?;
    let mut ct = p.data;
    ct.extend_from_slice(&p.tag);
    let plain = key
        .cipher()
        .decrypt(
            p.iv.as_slice().into(),
            Payload {
                msg: &ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::Auth)?;
    let plain = Zeroizing::new(plain);
    if !fits_type(&plain, p.ty) {
        return Err(CryptoError::BadType(p.ty.as_str()));
    }
    Ok((plain, p.ty))
}

/// Does a decrypted value parse as its type the way sops (Go's `strconv`)
/// parses it? Strings, bytes, comments and times are taken as they are.
fn fits_type(plain: &[u8], ty: ValueType) -> bool {
    let Ok(text) = std::str::from_utf8(plain) else {
        return !matches!(ty, ValueType::Int | ValueType::Float | ValueType::Bool);
    };
    match ty {
        ValueType::Int => text.parse::<i64>().is_ok(),
        ValueType::Float => text.parse::<f64>().is_ok(),
        ValueType::Bool => matches!(
            text,
            "1" | "t"
                | "T"
                | "TRUE"
                | "true"
                | "True"
                | "0"
                | "f"
                | "F"
                | "FALSE"
                | "false"
                | "False"
        ),
        _ => true,
    }
}

/// sops' MAC: SHA-512 over the values' byte forms in tree order, as upper-case
/// hex.
#[derive(Default)]
pub struct MacHasher(Sha512);

impl MacHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> String {
        hex::encode_upper(self.0.finalize())
    }
}

/// `mac_only_encrypted` seeds the hash with sha256("sops").
pub fn mac_only_encrypted_seed() -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"sops");
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_aad_binding() {
        let k = DataKey::generate();
        let e = encrypt(&k, b"hunter2", ValueType::Str, "db:password:");
        assert!(e.starts_with("ENC[AES256_GCM,data:") && e.ends_with(",type:str]"));
        let (p, t) = decrypt(&k, &e, "db:password:").unwrap();
        assert_eq!(&p[..], b"hunter2");
        assert_eq!(t, ValueType::Str);
        assert_eq!(decrypt(&k, &e, "db:user:").unwrap_err(), CryptoError::Auth);
        let other = DataKey::generate();
        assert_eq!(
            decrypt(&other, &e, "db:password:").unwrap_err(),
            CryptoError::Auth
        );
    }

    #[test]
    fn typed_values_must_parse_as_their_type() {
        let k = DataKey::generate();
        for (plain, ty, ok) in [
            ("42", ValueType::Int, true),
            ("-7", ValueType::Int, true),
            ("abc", ValueType::Int, false),
            ("4.5", ValueType::Float, true),
            ("x1", ValueType::Float, false),
            ("True", ValueType::Bool, true),
            ("yes", ValueType::Bool, false),
            ("anything", ValueType::Str, true),
        ] {
            let e = encrypt(&k, plain.as_bytes(), ty, "a:");
            let got = decrypt(&k, &e, "a:");
            assert_eq!(got.is_ok(), ok, "{plain} as {ty:?}");
            if !ok {
                let err = got.unwrap_err();
                assert_eq!(err, CryptoError::BadType(ty.as_str()));
                assert!(!err.to_string().contains(plain));
            }
        }
    }

    #[test]
    fn malformed_values_are_rejected() {
        let k = DataKey::generate();
        assert_eq!(
            decrypt(&k, "plain", "a:").unwrap_err(),
            CryptoError::NotEncrypted
        );
        assert!(matches!(
            decrypt(&k, "ENC[AES256_GCM,data:AAAA", "a:"),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            decrypt(
                &k,
                "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
                "a:"
            ),
            Err(CryptoError::Malformed(_))
        ));
    }
}
