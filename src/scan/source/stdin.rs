//! Standard input (`gsec scan -`), read whole and shown as `-`.

use std::io::Read;

use super::{Fragment, ItemError, Lines, Sink, Source};
use crate::error::Result;

/// The name stdin is shown (and fingerprinted) as.
pub const NAME: &str = "-";

/// A reader scanned as one item; `std::io::stdin()` for `gsec scan -`.
pub struct Stdin<R> {
    pub reader: std::cell::RefCell<R>,
}

impl<R: Read> Stdin<R> {
    pub fn new(reader: R) -> Stdin<R> {
        Stdin {
            reader: std::cell::RefCell::new(reader),
        }
    }
}

impl<R: Read> Source for Stdin<R> {
    fn scan(&self, sink: &Sink<'_>) -> Result<()> {
        let mut buf = Vec::new();
        match self.reader.borrow_mut().read_to_end(&mut buf) {
            Ok(_) => sink.fragment(&Fragment {
                rel: NAME,
                shown: NAME,
                content: &buf,
                commit: None,
                lines: Lines::All,
                seq: 0,
            }),
            Err(e) => sink.error(ItemError::new("standard input", e)),
        }
        Ok(())
    }
}
