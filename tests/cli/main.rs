//! End-to-end tests through the real `gsec` binary. One test crate, so the
//! binary and the test harness are linked once.

mod access;
mod action;
mod adoption;
mod ageplugin;
mod architecture;
mod aws;
mod cloudflare;
mod common;
mod distribution;
mod envs;
mod fake_aws;
mod fake_cloudflare;
mod fake_github;
mod fake_gitlab;
mod fake_neon;
mod fake_vault;
mod formats;
mod gitlab;
mod gitleaks;
mod gitnative;
mod hardening;
mod hook;
mod lease;
mod neon;
mod plugin;
mod rotate;
mod scan;
mod services;
mod sync;
mod validate;
mod vault;
mod workflows;
