//! Diagnostics: the library never prints. Code that has something to say
//! that is not an error (an identity file skipped, a check that ran with
//! less than it wanted) says it to a `Warnings` sink; the command line
//! decides where it goes (`cli::output::warn`), and library callers that
//! chose no destination can take the lines and show them their own way.
//! Text from files that any of it quotes, and anything else rendered for a
//! human, goes through [`escape`].

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

/// Text that came from a file (key names, recipients, paths, messages
/// quoting them) made inert for a terminal or a CI log: control characters
/// — ESC of ANSI/OSC sequences, CR, LF, BEL, C1 controls — and the Unicode
/// bidirectional overrides are written as `\u{1b}` instead of acting. Every
/// human output goes through this (the command line's stderr and stdout
/// lines, `gsec textconv`'s summary); JSON output is escaped by its
/// serialiser instead.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !s.chars().any(unsafe_char) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
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
