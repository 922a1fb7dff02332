//! Files and directories: a parallel walk (the `ignore` crate, ripgrep's
//! walker), honouring `.gitignore` and friends unless told not to.

use std::path::{Path, PathBuf};

use super::{Fragment, ItemError, Lines, Sink, Source};
use crate::error::{Error, Result};
use crate::scan::Scanner;

/// Up to this many files named on the command line are read in order, on
/// this thread; more (or any directory) go through the parallel walk.
const FEW: usize = 16;

pub struct Paths<'a> {
    pub paths: &'a [PathBuf],
    /// Anchors fingerprints and path globs.
    pub root: &'a Path,
    /// What displayed paths are relative to.
    pub shown_base: &'a Path,
    /// Honour `.gitignore`/`.ignore`/excludes; without, the walk is plain.
    pub git: bool,
}

impl Source for Paths<'_> {
    fn scan(&self, sink: &Sink<'_>) -> Result<()> {
        let scanner = sink.scanner();
        let Some((first, rest)) = self.paths.split_first() else {
            return Ok(());
        };
        for p in self.paths {
            if !p.exists() {
                return Err(Error::io(
                    p,
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                ));
            }
        }
        // A few named files (what a pre-commit framework passes): read
        // them here. The parallel walker starts its threads and idles them
        // in 1 ms naps, which was most of such a scan's time. A file named
        // on the command line is scanned even when ignored, as the walker
        // does for its roots.
        if self.paths.len() <= FEW && self.paths.iter().all(|p| p.is_file()) {
            for p in self.paths {
                self.file(scanner, sink, p, std::fs::metadata(p).ok());
            }
            return Ok(());
        }
        let git = self.git;
        let mut wb = ignore::WalkBuilder::new(first);
        for p in rest {
            wb.add(p);
        }
        wb.hidden(false)
            .git_ignore(git)
            .git_exclude(git)
            .git_global(git)
            .ignore(git)
            .parents(git)
            .require_git(false)
            .filter_entry(|e| e.file_name() != ".git");
        wb.build_parallel().run(|| {
            Box::new(move |entry| {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        sink.error(ItemError::bare(e));
                        return ignore::WalkState::Continue;
                    }
                };
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    return ignore::WalkState::Continue;
                }
                self.file(scanner, sink, entry.path(), entry.metadata().ok());
                ignore::WalkState::Continue
            })
        });
        Ok(())
    }
}

impl Paths<'_> {
    fn file(
        &self,
        scanner: &Scanner,
        sink: &Sink<'_>,
        path: &Path,
        meta: Option<std::fs::Metadata>,
    ) {
        let abs = absolute(path);
        let rel = rel_to(self.root, &abs);
        if !scanner.wants_path(&rel) {
            return;
        }
        let shown = rel_to(self.shown_base, &abs);
        if let Some(m) = meta.filter(|m| m.len() > scanner.max_file_size()) {
            sink.too_large(&shown, m.len());
            return;
        }
        match std::fs::read(path) {
            Ok(content) => sink.fragment(&Fragment {
                rel: &rel,
                shown: &shown,
                content: &content,
                commit: None,
                lines: Lines::All,
                seq: 0,
            }),
            Err(e) => sink.error(ItemError::new(shown, e)),
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Root-relative path with `/` separators.
fn rel_to(base: &Path, p: &Path) -> String {
    let r = p.strip_prefix(base).unwrap_or(p);
    let s = r.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}
