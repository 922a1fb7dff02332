//! History: every commit of a range (oldest first), each finding reported
//! once (by fingerprint) with the first commit and path that introduced it.
//!
//! Each distinct blob transition (old id -> new id) is read once, and only
//! the lines it adds go through the engine: a new file in full, an edited
//! one as its added lines. That reports exactly "findings on lines the
//! commit added" and, since most history is small edits to large files,
//! scans a fraction of the bytes a scan of every blob version would (the
//! design first sketched scanned each unique blob whole and filtered
//! afterwards; this measured ~2x faster on a tokio-sized history).
//!
//! One thread walks the commits and diffs their trees; as it finds each new
//! transition it hands it over a bounded queue to workers on every core,
//! which inflate the blobs and scan them meanwhile. Memory is bounded: the
//! queue holds at most [`QUEUE`] changes (paths and ids, never content),
//! each worker one blob pair at a time (each at most `scan.max_file_size`),
//! the object caches share a fixed budget (`git::tune_for_history`), and
//! the blobs kept for the next change of their file another ([`Recent`]).
//! What grows with the history is the set of transitions seen (two ids
//! each).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use super::{Fragment, ItemError, Lines, Order, Sink, Source};
use crate::error::Result;
use crate::git;
use crate::scan::Finding;

pub struct History<'a> {
    pub repo: &'a gix::Repository,
    /// `A..B`, one revision (everything reachable from it), or `None` for
    /// all refs.
    pub range: Option<&'a str>,
}

impl Source for History<'_> {
    fn order(&self) -> Order {
        Order::FirstIntroduced
    }

    fn annotate(&self, findings: &mut [Finding]) -> Result<()> {
        let mut seen: std::collections::HashMap<String, (String, String)> = Default::default();
        for f in findings.iter_mut() {
            let Some(c) = &f.commit else { continue };
            if !seen.contains_key(c) {
                let id = gix::ObjectId::from_hex(c.as_bytes()).map_err(|e| crate::Error::Git {
                    what: format!("bad commit id {c}"),
                    source: Box::new(e),
                })?;
                let info = git::commit_info(self.repo, id)?;
                let when =
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(info.time.max(0) as u64);
                seen.insert(
                    c.clone(),
                    (
                        format!("{} <{}>", info.author, info.email),
                        humantime::format_rfc3339_seconds(when).to_string(),
                    ),
                );
            }
            let (author, date) = &seen[c];
            f.author = Some(author.clone());
            f.date = Some(date.clone());
        }
        Ok(())
    }

    fn scan(&self, sink: &Sink<'_>) -> Result<()> {
        let scanner = sink.scanner();
        let commits = git::commits(self.repo, self.range)?;
        sink.commits(commits.len());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Workers and the walker: one handle each.
        let mut repo = self.repo.clone();
        git::tune_for_history(&mut repo, threads + 1);
        let shared = repo.clone().into_sync();
        let hex: Vec<String> = commits.iter().map(ToString::to_string).collect();
        let (tx, rx) = sync_channel::<(usize, usize, git::Change)>(QUEUE);
        // Each worker holds the receiving end: should every worker stop
        // (a panic), the walker's next send fails instead of blocking.
        let rx = Arc::new(Mutex::new(rx));
        let pb = crate::progress::bar(commits.len() as u64, "scanning history");
        let recent = Mutex::new(Recent::default());
        std::thread::scope(|s| {
            for _ in 0..threads {
                let rx = rx.clone();
                let (shared, hex, recent) = (&shared, &hex, &recent);
                s.spawn(move || {
                    let mut repo = shared.to_thread_local();
                    git::tune_for_history(&mut repo, threads + 1);
                    loop {
                        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok((seq, ci, ch)) = next else { break };
                        change(sink, &repo, recent, seq, &hex[ci], &ch);
                    }
                });
            }
            drop(rx);
            let mut state = gix::diff::tree::State::default();
            let mut seen: HashSet<(gix::ObjectId, Option<gix::ObjectId>)> = HashSet::new();
            let mut seq = 0;
            'walk: for (i, c) in commits.iter().enumerate() {
                pb.inc(1);
                let list = match git::changes(&repo, *c, &mut state) {
                    Ok(l) => l,
                    Err(e) => {
                        sink.error(ItemError::new(format!("commit {c}"), e));
                        continue;
                    }
                };
                for ch in list {
                    // The same transition (a cherry-pick, a merge bringing a
                    // branch's change in) adds nothing new: read it once.
                    if scanner.wants_path(&ch.path) && seen.insert((ch.id, ch.previous)) {
                        if tx.send((seq, i, ch)).is_err() {
                            break 'walk;
                        }
                        seq += 1;
                    }
                }
            }
            drop(tx);
        });
        pb.finish_and_clear();
        Ok(())
    }
}

/// Changes waiting for a worker, at most: enough to keep every core busy
/// while the walker diffs a large commit, small enough not to matter.
const QUEUE: usize = 4096;

/// Blobs the workers scanned last, kept for the next change of the same
/// file, whose old side they are: without them each version of a file was
/// inflated twice (as the new side of one change, then as the old side of
/// the next). Bounded by [`RECENT_BYTES`], oldest out first; a blob taken
/// or evicted is read again from the repository when needed.
#[derive(Default)]
struct Recent {
    blobs: HashMap<gix::ObjectId, Vec<u8>>,
    order: VecDeque<gix::ObjectId>,
    bytes: usize,
}

/// What [`Recent`] may hold in all.
const RECENT_BYTES: usize = 48 << 20;

impl Recent {
    fn take(&mut self, id: &gix::ObjectId) -> Option<Vec<u8>> {
        let b = self.blobs.remove(id)?;
        self.bytes -= b.len();
        Some(b)
    }

    fn keep(&mut self, id: gix::ObjectId, blob: Vec<u8>) {
        if blob.len() > RECENT_BYTES / 8 {
            return;
        }
        self.bytes += blob.len();
        if let Some(old) = self.blobs.insert(id, blob) {
            self.bytes -= old.len();
        } else {
            self.order.push_back(id);
        }
        // Ids already taken stay in `order` until they reach its front;
        // evicting pops them too, and a long run of takes is compacted.
        while self.bytes > RECENT_BYTES || self.order.len() > 2 * self.blobs.len() + 64 {
            let Some(front) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.blobs.remove(&front) {
                self.bytes -= b.len();
            }
        }
    }
}

/// Read one change and hand what it added to the sink.
fn change(
    sink: &Sink<'_>,
    repo: &gix::Repository,
    recent: &Mutex<Recent>,
    seq: usize,
    commit: &str,
    ch: &git::Change,
) {
    let scanner = sink.scanner();
    let item = || {
        let short: String = commit.chars().take(12).collect();
        format!("{} (commit {short})", ch.path)
    };
    match git::blob_size(repo, ch.id) {
        Ok(n) if n > scanner.max_file_size() => return sink.too_large(&ch.path, n),
        Ok(_) => {}
        Err(e) => return sink.error(ItemError::new(item(), e)),
    }
    let content = match git::blob(repo, ch.id) {
        Ok(c) => c,
        Err(e) => return sink.error(ItemError::new(item(), e)),
    };
    let lock = || recent.lock().unwrap_or_else(|e| e.into_inner());
    let old = ch.previous.map(|id| {
        let kept = lock().take(&id);
        kept.map_or_else(|| git::blob(repo, id), Ok)
    });
    let added = match old {
        Some(Ok(old)) => Some(git::added_lines(Some(&old), &content)),
        Some(Err(e)) => return sink.error(ItemError::new(item(), e)),
        None => None,
    };
    sink.fragment(&Fragment {
        rel: &ch.path,
        shown: &ch.path,
        content: &content,
        commit: Some(commit),
        lines: added.as_deref().map_or(Lines::All, Lines::Only),
        seq,
    });
    lock().keep(ch.id, content);
}
