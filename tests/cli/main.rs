//! End-to-end tests through the real `gsec` binary. One test crate, so the
//! binary and the test harness are linked once.

mod common;
mod hook;
mod scan;
