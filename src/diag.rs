//! Diagnostics: the library never prints. Code that has something to say
//! that is not an error (an identity file skipped, a check that ran with
//! less than it wanted) says it to a `Warnings` sink; the command line
//! decides where it goes (`cli::output::warn`), and library callers that
//! chose no destination can take the lines and show them their own way.

use std::sync::{Arc, Mutex};

type Forward = Arc<dyn Fn(&str) + Send + Sync>;

/// Where warnings go: forwarded as they happen, or held until taken.
#[derive(Clone, Default)]
pub struct Warnings {
    forward: Option<Forward>,
    held: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Warnings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warnings").finish_non_exhaustive()
    }
}

impl Warnings {
    /// Warnings handed to `f` as they happen.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Warnings {
            forward: Some(Arc::new(f)),
            held: Arc::default(),
        }
    }

    /// Warnings held until [`Warnings::take`] (the default).
    pub fn held() -> Self {
        Self::default()
    }

    pub fn warn(&self, msg: &str) {
        match &self.forward {
            Some(f) => f(msg),
            None => self
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(msg.to_string()),
        }
    }

    /// The held warnings, oldest first (empty when forwarding).
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_until_taken_and_forwarded_otherwise() {
        let w = Warnings::held();
        w.warn("a");
        w.warn("b");
        assert_eq!(w.take(), ["a", "b"]);
        assert!(w.take().is_empty());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let w = Warnings::to(move |m| g.lock().unwrap().push(m.to_string()));
        w.warn("c");
        assert!(w.take().is_empty());
        assert_eq!(*got.lock().unwrap(), ["c"]);
    }
}
