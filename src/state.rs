//! `.gsec/state.yaml`: committed, plaintext bookkeeping that holds no secret
//! values: when each secret was last rotated, and which secrets were
//! readable by a recipient that has since been removed (so `gsec rotate
//! --exposed` knows what to rotate). Keys are sorted so merges rarely
//! conflict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::fsutil;

pub const STATE_FILE: &str = ".gsec/state.yaml";

/// A secret that a removed recipient could read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct Exposure {
    /// Removed recipients that held the data key (shortened).
    pub recipients: Vec<String>,
    /// When they were removed (RFC 3339).
    pub since: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// env -> secret -> last rotation time (RFC 3339).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rotated: BTreeMap<String, BTreeMap<String, String>>,
    /// env -> secret -> exposure, until the secret is rotated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed: BTreeMap<String, BTreeMap<String, Exposure>>,
}

pub fn path(root: &Path) -> PathBuf {
    root.join(STATE_FILE)
}

pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl State {
    pub fn load(root: &Path) -> Result<State> {
        let p = path(root);
        // Committed, so a pull request controls it: a bounded regular
        // file, parsed with depth limits and duplicate keys refused.
        let Some(bytes) = fsutil::read_regular(&p, fsutil::MAX_CONFIG_FILE)? else {
            return Ok(State::default());
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(State::default());
        }
        let v = crate::yaml::parse_value(&bytes).map_err(|e| Error::file(&p, e))?;
        serde_norway::from_value(v)
            .map_err(|e| Error::file(&p, crate::yaml::elide_values(&e.to_string())))
    }

    /// Load, change and save under the state file's lock.
    pub fn update<T>(root: &Path, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let p = path(root);
        let _lock = fsutil::lock(&p)?;
        let mut s = State::load(root)?;
        let out = f(&mut s);
        let text = format!(
            "# Maintained by gsec: rotation times and exposed secrets. Holds no secret values.\n{}",
            serde_norway::to_string(&s).expect("state serialises")
        );
        fsutil::write_atomic(&p, text.as_bytes(), None)?;
        Ok(out)
    }

    pub fn rotated(&self, env: &str, name: &str) -> Option<String> {
        self.rotated.get(env).and_then(|m| m.get(name)).cloned()
    }

    pub fn mark_rotated(&mut self, env: &str, name: &str, at: String) {
        self.rotated
            .entry(env.into())
            .or_default()
            .insert(name.into(), at);
        if let Some(m) = self.exposed.get_mut(env) {
            m.remove(name);
            if m.is_empty() {
                self.exposed.remove(env);
            }
        }
    }

    pub fn expose(&mut self, env: &str, name: &str, recipients: &[String]) {
        let e = self
            .exposed
            .entry(env.into())
            .or_default()
            .entry(name.into())
            .or_insert(Exposure {
                recipients: vec![],
                since: now(),
            });
        for r in recipients {
            if !e.recipients.contains(r) {
                e.recipients.push(r.clone());
            }
        }
        e.recipients.sort();
    }

    /// When a secret with a rotation schedule is next due (RFC 3339); a
    /// secret never rotated is due now.
    pub fn due(&self, cfg: &Config, env: &str, name: &str) -> Option<String> {
        let every = cfg.secret(name)?.1.rotation.as_ref()?.every.as_ref()?;
        let every = humantime::parse_duration(every).ok()?;
        match self
            .rotated(env, name)
            .and_then(|t| humantime::parse_rfc3339_weak(&t).ok())
        {
            Some(t) => Some(humantime::format_rfc3339_seconds(t + every).to_string()),
            None => Some(now()),
        }
    }

    /// Is the secret due at `at`?
    pub fn is_due(&self, cfg: &Config, env: &str, name: &str, at: SystemTime) -> bool {
        self.due(cfg, env, name)
            .and_then(|d| humantime::parse_rfc3339_weak(&d).ok())
            .is_some_and(|d| d <= at + Duration::from_secs(1))
    }
}
