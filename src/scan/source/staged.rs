//! The staged change (what the pre-commit hook scans): each index blob that
//! differs from HEAD's (found through the index's cache tree by
//! `git::staged`), with findings kept only on the lines it adds or changes.
//! Sequential: a commit stages a handful of files, and start-up is the cost
//! that matters here.

use super::{Fragment, ItemError, Lines, Sink, Source};
use crate::error::Result;
use crate::git;

pub struct Staged<'a> {
    pub repo: &'a gix::Repository,
}

impl Source for Staged<'_> {
    fn scan(&self, sink: &Sink<'_>) -> Result<()> {
        let (repo, scanner) = (self.repo, sink.scanner());
        for s in git::staged(repo)? {
            if !scanner.wants_path(&s.path) {
                continue;
            }
            let item = || format!("{} (staged)", s.path);
            // A file staged small is read at once and measured after: the
            // size check that spares inflating a large blob would cost a
            // second read of each small one (an open, for a loose object).
            // Half the limit leaves room for a clean filter that grew it;
            // a size of 0 is also what an entry staged without a work-tree
            // file (`update-index --cacheinfo`, `read-tree`) records.
            let max = scanner.max_file_size();
            if s.staged_size == 0 || u64::from(s.staged_size) > max / 2 {
                match git::blob_size(repo, s.id) {
                    Ok(n) if n > max => {
                        sink.too_large(&item(), n);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        sink.error(ItemError::new(item(), e));
                        continue;
                    }
                }
            }
            let content = match git::blob(repo, s.id) {
                Ok(c) if c.len() as u64 > max => {
                    sink.too_large(&item(), c.len() as u64);
                    continue;
                }
                Ok(c) => c,
                Err(e) => {
                    sink.error(ItemError::new(item(), e));
                    continue;
                }
            };
            let changed = || -> Result<Vec<bool>> {
                let old = match s.head {
                    Some(h) => Some(git::blob(repo, h)?),
                    None => None,
                };
                Ok(git::added_lines(old.as_deref(), &content))
            };
            sink.fragment(&Fragment {
                rel: &s.path,
                shown: &s.path,
                content: &content,
                commit: None,
                lines: Lines::Changed(&changed),
                seq: 0,
            });
        }
        Ok(())
    }
}
