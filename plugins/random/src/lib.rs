//! gsec plugin `random`: passwords and tokens from the host's CSPRNG.
//!
//! Config: `length` (default 32, 1..=4096), `alphabet` (`alnum`, `hex`,
//! `base64url`, `symbols`, or any custom string of distinct characters),
//! `prefix` (prepended, not counted in `length`). No network. Characters are
//! chosen uniformly by rejection sampling, so no character of the alphabet
//! is more likely than another (a plain `% n` would favour the first ones).

use gsec_plugin_sdk::{
    Created, Error, Info, Plugin, Request, Result, export_plugin, json, random_bytes,
};

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";
const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const SYMBOLS: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~";

struct Random;

struct Spec {
    length: usize,
    alphabet: Vec<char>,
    prefix: String,
}

fn spec(req: &Request) -> Result<Spec> {
    let length = req.config_u64("length")?.unwrap_or(32);
    if !(1..=4096).contains(&length) {
        return Err(Error::new("config.length must be between 1 and 4096"));
    }
    let alphabet: Vec<char> = match req.config_str_opt("alphabet")?.unwrap_or("alnum") {
        "alnum" => ALNUM.chars().collect(),
        "hex" => HEX.chars().collect(),
        "base64url" => B64URL.chars().collect(),
        "symbols" => SYMBOLS.chars().collect(),
        custom => {
            let v: Vec<char> = custom.chars().collect();
            let mut sorted = v.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != v.len() {
                return Err(Error::new(
                    "config.alphabet: characters must be distinct (repeats would bias the choice)",
                ));
            }
            if v.len() < 2 {
                return Err(Error::new("config.alphabet: needs at least 2 characters"));
            }
            v
        }
    };
    let prefix = req.config_str_opt("prefix")?.unwrap_or("").to_string();
    Ok(Spec {
        length: length as usize,
        alphabet,
        prefix,
    })
}

/// `n` uniform indices below `m` (2 <= m <= 2^32 - 1): a 32-bit draw is kept
/// only below the largest multiple of `m`, so every index is equally likely.
fn uniform_indices(n: usize, m: u32) -> Vec<usize> {
    let zone = u32::MAX - (u32::MAX % m);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        for chunk in random_bytes(4 * (n - out.len()) + 16).chunks_exact(4) {
            let x = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if x < zone && out.len() < n {
                out.push((x % m) as usize);
            }
        }
    }
    out
}

impl Plugin for Random {
    fn info() -> Info {
        Info::new("random", env!("CARGO_PKG_VERSION"))
            .description("Random passwords and tokens (no network)")
            .config_schema(json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "length": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 32},
                    "alphabet": {
                        "description": "alnum, hex, base64url, symbols, or a custom string of distinct characters",
                        "type": "string", "default": "alnum"
                    },
                    "prefix": {"type": "string", "description": "prepended to the value, e.g. sk_live_"}
                }
            }))
    }

    fn create(req: &Request) -> Result<Created> {
        let s = spec(req)?;
        let mut value = s.prefix.clone();
        for i in uniform_indices(s.length, s.alphabet.len() as u32) {
            value.push(s.alphabet[i]);
        }
        Ok(Created::new(value))
    }

    /// The value must still have the configured shape (a check that a
    /// stored value was not truncated or mangled on the way).
    fn verify(req: &Request) -> Result<()> {
        let s = spec(req)?;
        let value = req.value.as_deref().ok_or("verify: no value given")?;
        let body = value
            .strip_prefix(s.prefix.as_str())
            .ok_or("value does not start with the configured prefix")?;
        if body.chars().count() != s.length {
            return Err(Error::new("value does not have the configured length"));
        }
        if !body.chars().all(|c| s.alphabet.contains(&c)) {
            return Err(Error::new(
                "value has characters outside the configured alphabet",
            ));
        }
        Ok(())
    }
}

export_plugin!(Random);
