//! The sandbox's limits: a time budget per call (counted in epoch ticks,
//! see [`super::ticker`]) and a linear-memory cap.

use std::time::Duration;

use super::ticker::TICK;

/// Default wall-clock budget of one call.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Longest budget honoured (a day): larger settings are clamped.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Default linear-memory limit.
pub const DEFAULT_MEMORY_MB: u64 = 64;

/// Time and memory limits of one plugin.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub budget: Duration,
    pub memory_mb: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            budget: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            memory_mb: DEFAULT_MEMORY_MB,
        }
    }
}

impl Limits {
    /// From `.gsec.yaml`'s settings, clamped so deadline arithmetic cannot
    /// overflow and a zero means the smallest useful limit.
    pub fn new(timeout_secs: Option<u64>, memory_mb: Option<u64>) -> Limits {
        Limits {
            budget: Duration::from_secs(
                timeout_secs
                    .unwrap_or(DEFAULT_TIMEOUT_SECS)
                    .clamp(1, MAX_TIMEOUT_SECS),
            ),
            memory_mb: memory_mb.unwrap_or(DEFAULT_MEMORY_MB).max(1),
        }
    }

    /// The budget in epoch ticks: the call is interrupted when the engine's
    /// epoch has advanced this many times since it started.
    pub fn ticks(&self) -> u64 {
        (self.budget.as_millis() / TICK.as_millis()) as u64 + 1
    }

    pub fn memory_bytes(&self) -> usize {
        (self.memory_mb as usize).saturating_mul(1 << 20)
    }
}

/// Memory limit that remembers it was hit, so the error can say "memory
/// limit" rather than a generic trap.
pub(super) struct Limiter {
    pub max_bytes: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            // An error (not `false`) traps at once, instead of letting the
            // guest see -1 from memory.grow and maybe limp on.
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}
