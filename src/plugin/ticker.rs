//! The epoch ticker: the clock behind every call's time budget.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// Epoch tick: the granularity of the time budget.
pub(super) const TICK: Duration = Duration::from_millis(10);

/// Drives `Engine::increment_epoch` every tick while at least one call
/// runs, from one lazily started thread; idle otherwise. Ticks follow the
/// wall clock (late wake-ups catch up), so a budget is seconds, not sleeps.
#[derive(Default)]
pub(super) struct Ticker {
    state: Mutex<TickerState>,
    wake: Condvar,
}

#[derive(Default)]
struct TickerState {
    active: usize,
    spawned: bool,
}

/// A running call; the ticker idles once every `Ticking` is dropped.
pub(super) struct Ticking(Arc<Ticker>);

impl Drop for Ticking {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.active -= 1;
        }
    }
}

impl Ticker {
    pub fn start(self: &Arc<Self>, engine: &Engine) -> Ticking {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.active += 1;
        if !s.spawned {
            s.spawned = true;
            let (me, engine) = (self.clone(), engine.clone());
            std::thread::Builder::new()
                .name("gsec-plugin-epoch".into())
                .spawn(move || me.run(&engine))
                .ok();
        }
        self.wake.notify_all();
        Ticking(self.clone())
    }

    fn run(&self, engine: &Engine) {
        loop {
            {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                while s.active == 0 {
                    s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
            let mut next = Instant::now() + TICK;
            loop {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                // Catch up on ticks missed while the machine was busy.
                while Instant::now() >= next {
                    engine.increment_epoch();
                    next += TICK;
                }
                if self.state.lock().map(|s| s.active == 0).unwrap_or(true) {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
impl Ticker {
    /// A ticker that never ticks by itself: the test advances the epoch
    /// (`Engine::increment_epoch`) and so counts the budget exactly.
    pub fn manual() -> Ticker {
        Ticker {
            state: Mutex::new(TickerState {
                active: 0,
                spawned: true,
            }),
            wake: Condvar::new(),
        }
    }

    /// Calls running now.
    pub fn active(&self) -> usize {
        self.state.lock().map(|s| s.active).unwrap_or(0)
    }
}
