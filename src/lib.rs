//! gsec: git-native secrets.
//!
//! Data flow, from `main`:
//! `cli` parses flags and dispatches to one command module, which loads the
//! `project` (`config` + identities from `keys`), then
//! - reads and writes environment files through `vault` (sops format:
//!   `vault::format` for the YAML, JSON and dotenv wire formats,
//!   `vault::crypto` for the primitives), resolving inheritance and local
//!   overrides in `envs`;
//! - scans for leaks with `scan` (rules, engine, sources from `git`);
//! - rotates credentials with `rotate`, running WASM `plugin`s, which also
//!   mint the short-lived credentials of `lease` secrets for `run`.
#![deny(unsafe_code)]

pub mod check;
pub mod cli;
pub mod config;
pub mod diag;
pub mod dotenv;
pub mod envs;
pub mod error;
pub mod exec;
pub mod export;
pub mod fsutil;
pub mod git;
pub mod github;
pub mod gitsetup;
pub mod history;
pub mod inbox;
pub mod keys;
pub mod lease;
pub mod mask;
pub mod plugin;
pub mod progress;
pub mod project;
pub mod render;
pub mod rotate;
pub mod scan;
pub mod services;
pub mod sopsconfig;
pub mod state;
pub mod suggest;
pub mod sync;
pub mod vault;
pub mod yaml;

pub use error::{Error, Result};

#[cfg(test)]
mod proptests;
