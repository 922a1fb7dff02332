//! `age-plugin-gsectest`: a small age plugin for gsec's test suite, standing
//! in for a hardware or KMS plugin (`age-plugin-yubikey`, `-tpm`, `-se`).
//!
//! It keeps its own key pair (a libsodium sealed box: X25519 and
//! XSalsa20-Poly1305): the recipient `age1gsectest1…` holds the public key,
//! the identity `AGE-PLUGIN-GSECTEST-1…` the secret key. A file key wrapped
//! by it is a `gsectest` stanza that only this plugin can open, so a test
//! that decrypts such a file proves the plugin ran.
//!
//! `age-plugin-gsectest` alone prints a new identity (with its recipient in
//! a comment), like other plugins' key generators. Test switches, read from
//! the environment:
//! - `GSECTEST_FAIL=wrap|unwrap`: report an error instead of working;
//! - `GSECTEST_CRASH=wrap|unwrap`: exit mid-protocol, as a crashing plugin;
//! - `GSECTEST_PIN=1`: ask the client for a PIN before unwrapping (the
//!   client must not hang: gsec has no one to ask in CI);
//! - `GSECTEST_LOG=FILE`: append `wrap` or `unwrap` to FILE on each call.
//!
//! Built by `cargo test` (examples are built with the tests) into
//! `target/debug/examples/`, which the tests put on PATH.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::{Callbacks, PluginHandler, identity, recipient, run_state_machine};
use crypto_box::{PublicKey, SecretKey, aead::OsRng};

const NAME: &str = "gsectest";
const TAG: &str = "gsectest";

fn switch(var: &str, phase: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == phase)
}

fn log(what: &str) {
    if let Some(p) = std::env::var_os("GSECTEST_LOG") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("GSECTEST_LOG");
        writeln!(f, "{what}").expect("GSECTEST_LOG");
    }
}

fn crash(phase: &str) {
    if switch("GSECTEST_CRASH", phase) {
        eprintln!("age-plugin-gsectest: crashing on purpose ({phase})");
        std::process::exit(3);
    }
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrap;
    type IdentityV1 = Unwrap;

    fn recipient_v1(self) -> io::Result<Wrap> {
        Ok(Wrap(Vec::new()))
    }

    fn identity_v1(self) -> io::Result<Unwrap> {
        Ok(Unwrap(Vec::new()))
    }
}

/// recipient-v1: the public keys to seal each file key to.
struct Wrap(Vec<PublicKey>);

impl recipient::RecipientPluginV1 for Wrap {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        match PublicKey::from_slice(bytes) {
            Ok(pk) if plugin_name == NAME => {
                self.0.push(pk);
                Ok(())
            }
            _ => Err(recipient::Error::Recipient {
                index,
                message: "not a gsectest recipient".into(),
            }),
        }
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        match SecretKey::from_slice(bytes) {
            Ok(sk) if plugin_name == NAME => {
                self.0.push(sk.public_key());
                Ok(())
            }
            _ => Err(recipient::Error::Identity {
                index,
                message: "not a gsectest identity".into(),
            }),
        }
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        log("wrap");
        crash("wrap");
        if switch("GSECTEST_FAIL", "wrap") {
            return Ok(Err(vec![recipient::Error::Recipient {
                index: 0,
                message: "the test token is unplugged".into(),
            }]));
        }
        Ok(Ok(file_keys
            .iter()
            .map(|fk| {
                self.0
                    .iter()
                    .map(|pk| Stanza {
                        tag: TAG.into(),
                        args: vec![],
                        body: pk
                            .seal(&mut OsRng, fk.expose_secret())
                            .expect("sealing 16 bytes"),
                    })
                    .collect()
            })
            .collect()))
    }
}

/// identity-v1: the secret keys to try on `gsectest` stanzas.
struct Unwrap(Vec<SecretKey>);

impl identity::IdentityPluginV1 for Unwrap {
    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        match SecretKey::from_slice(bytes) {
            Ok(sk) if plugin_name == NAME => {
                self.0.push(sk);
                Ok(())
            }
            _ => Err(identity::Error::Identity {
                index,
                message: "not a gsectest identity".into(),
            }),
        }
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        log("unwrap");
        crash("unwrap");
        let mut out = HashMap::new();
        for (i, stanzas) in files.into_iter().enumerate() {
            let ours: Vec<_> = stanzas.into_iter().filter(|s| s.tag == TAG).collect();
            if ours.is_empty() {
                continue;
            }
            if switch("GSECTEST_FAIL", "unwrap") {
                out.insert(
                    i,
                    Err(vec![identity::Error::Identity {
                        index: 0,
                        message: "the test token is unplugged".into(),
                    }]),
                );
                continue;
            }
            if switch("GSECTEST_PIN", "1") {
                let pin = callbacks.request_secret("Enter the PIN of the test token")?;
                if pin.is_err() {
                    out.insert(
                        i,
                        Err(vec![identity::Error::Identity {
                            index: 0,
                            message: "a PIN is required".into(),
                        }]),
                    );
                    continue;
                }
            }
            let _ = callbacks.message("unwrapping with the test token")?;
            let key = ours.iter().find_map(|s| {
                self.0.iter().find_map(|sk| {
                    let plain = zeroize::Zeroizing::new(sk.unseal(&s.body).ok()?);
                    (plain.len() == FILE_KEY_BYTES)
                        .then(|| FileKey::init_with_mut(|k| k.copy_from_slice(&plain)))
                })
            });
            if let Some(k) = key {
                out.insert(i, Ok(k));
            }
        }
        Ok(out)
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().find_map(|a| a.strip_prefix("--age-plugin=")) {
        Some(machine) => run_state_machine(machine, Handler),
        None => {
            let sk = SecretKey::generate(&mut OsRng);
            age_plugin::print_new_identity(NAME, &sk.to_bytes(), sk.public_key().as_bytes());
            Ok(())
        }
    }
}
