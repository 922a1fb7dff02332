//! Where scanned content comes from, kept apart from what is done with it
//! (as gitleaks keeps `sources/` apart from `detect/`). Each source — files
//! and directories (`paths`), the staged change (`staged`), history
//! (`history`), standard input (`stdin`) — turns its items into
//! [`Fragment`]s and hands them to one [`Sink`], the only place that runs the
//! [`Scanner`] and records the outcome. A source keeps its own concurrency
//! (a parallel walk, parallel per-change reads) but not its own policy.
//!
//! # Error policy (ripgrep's)
//!
//! A source returns `Err` only when it cannot start at all (a path that does
//! not exist, a bad revision range, no repository). An item it cannot read —
//! a walk error, an unreadable file, a blob or tree that fails to read — is
//! recorded with [`Sink::error`] as one [`ItemError`] naming the item and
//! the problem, and the scan goes on with the next item. The command reports
//! every item error (stderr and the machine formats) and then exits 2 even
//! when there were also findings: as with `rg`, an incomplete scan is not a
//! verdict, and "2 wins" keeps a CI job from passing on a partial read.

pub mod history;
pub mod paths;
pub mod staged;
pub mod stdin;

use std::collections::HashSet;
use std::sync::Mutex;

use super::{Finding, Report, Scanner};
use crate::error::Result;

/// One piece of content for the scanner.
pub struct Fragment<'a> {
    /// Root-relative path with `/` separators: path policy and fingerprints.
    pub rel: &'a str,
    /// How the item is displayed (relative to what was scanned).
    pub shown: &'a str,
    pub content: &'a [u8],
    /// The commit that introduced this content (history).
    pub commit: Option<&'a str>,
    /// Which lines count.
    pub lines: Lines<'a>,
    /// Position in the source's order (history: oldest change first); the
    /// first finding of a fingerprint in this order is the one reported
    /// when the source asks for [`Order::FirstIntroduced`].
    pub seq: usize,
}

/// Which lines of a fragment are reported on.
pub enum Lines<'a> {
    /// Every line.
    All,
    /// Only these lines (by 0-based index) go through the engine; the rest
    /// is context for the path and content policy. History uses this to read
    /// what each commit added instead of every version of every file.
    Only(&'a [bool]),
    /// The whole content is scanned, and findings are kept on the lines this
    /// marks as changed. It runs only when there is a finding, so a clean
    /// staged file never pays for a diff.
    Changed(&'a dyn Fn() -> Result<Vec<bool>>),
}

/// How a report orders and deduplicates its findings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By file, line, column, rule.
    Location,
    /// By [`Fragment::seq`], each fingerprint once (history: the commit
    /// that introduced it).
    FirstIntroduced,
}

/// An item that could not be scanned: what it is and why.
#[derive(Debug, thiserror::Error)]
#[error("{}{source}", item.as_deref().map(|i| format!("{i}: ")).unwrap_or_default())]
pub struct ItemError {
    /// The path or blob, when the underlying error does not name it itself.
    pub item: Option<String>,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl ItemError {
    pub fn new(
        item: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ItemError {
        ItemError {
            item: Some(item.into()),
            source: source.into(),
        }
    }

    /// An error that already names its item (walk errors do).
    pub fn bare(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ItemError {
        ItemError {
            item: None,
            source: source.into(),
        }
    }
}

/// A source of fragments.
pub trait Source {
    /// Feed every item to `sink`. `Err` only when the source cannot start;
    /// per-item failures go to [`Sink::error`].
    fn scan(&self, sink: &Sink<'_>) -> Result<()>;

    fn order(&self) -> Order {
        Order::Location
    }

    /// Complete the findings once the scan is over (history: who made the
    /// commit that introduced each one, and when).
    fn annotate(&self, _findings: &mut [Finding]) -> Result<()> {
        Ok(())
    }
}

/// Collects what a scan produces; shared by a source's worker threads.
pub struct Sink<'s> {
    scanner: &'s Scanner,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    found: Vec<(usize, Vec<Finding>)>,
    files: usize,
    skipped: usize,
    /// Items not scanned for their size: (shown path, bytes).
    too_large: Vec<(String, u64)>,
    commits: usize,
    errors: Vec<ItemError>,
}

impl<'s> Sink<'s> {
    fn new(scanner: &'s Scanner) -> Sink<'s> {
        Sink {
            scanner,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A worker that panicked cannot leave the counts half-updated in a
        // way that matters more than losing the whole report would.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn scanner(&self) -> &'s Scanner {
        self.scanner
    }

    /// Run the scanner on one fragment and record the outcome.
    pub fn fragment(&self, f: &Fragment<'_>) {
        match self.scanner.scan_fragment(f) {
            Ok(Some(found)) => {
                let mut s = self.state();
                s.files += 1;
                if !found.is_empty() {
                    s.found.push((f.seq, found));
                }
            }
            Ok(None) => self.skip(),
            Err(e) => self.error(ItemError::new(f.shown, e)),
        }
    }

    /// An item left out by policy without reading it (too large).
    pub fn skip(&self) {
        self.state().skipped += 1;
    }

    /// An item not read because it is larger than `scan.max_file_size`:
    /// counted, and named in the report's warnings (a file the scan did not
    /// look at is never a silent pass).
    pub fn too_large(&self, path: &str, size: u64) {
        let mut s = self.state();
        s.skipped += 1;
        s.too_large.push((path.to_string(), size));
    }

    /// An item that could not be read; the scan goes on.
    pub fn error(&self, e: ItemError) {
        self.state().errors.push(e);
    }

    /// How many commits a history source walked.
    pub fn commits(&self, n: usize) {
        self.state().commits = n;
    }
}

/// Scan `source` with `scanner`: the one place every source's fragments
/// end up, and the one shape of its result.
pub fn run(scanner: &Scanner, source: &dyn Source) -> Result<Report> {
    let sink = Sink::new(scanner);
    source.scan(&sink)?;
    let mut s = sink.state.into_inner().unwrap_or_else(|e| e.into_inner());
    let findings = match source.order() {
        Order::Location => {
            let mut f: Vec<Finding> = s.found.into_iter().flat_map(|(_, f)| f).collect();
            f.sort_by(|a, b| {
                (&a.file, a.line, a.column, a.rule).cmp(&(&b.file, b.line, b.column, b.rule))
            });
            f
        }
        Order::FirstIntroduced => {
            s.found.sort_by_key(|(seq, _)| *seq);
            let mut reported: HashSet<String> = HashSet::new();
            s.found
                .into_iter()
                .flat_map(|(_, f)| f)
                .filter(|f| reported.insert(f.fingerprint.clone()))
                .collect()
        }
    };
    let mut findings = findings;
    source.annotate(&mut findings)?;
    // Worker threads finish in any order; report errors in a stable one.
    s.errors.sort_by_cached_key(ToString::to_string);
    let mut warnings = scanner.warnings().to_vec();
    if !findings.is_empty() && scanner.fingerprint_key_is_public() {
        warnings.push(format!(
            "no scan.fingerprint_key: these fingerprints are keyed with gsec's public key, so anyone reading them can test guesses of a short secret; `gsec scan --migrate-ignores` in a gsec project writes a key, or set {} (e.g. as a CI secret)",
            super::allow::KEY_ENV
        ));
    }
    s.too_large.sort();
    s.too_large.dedup_by(|a, b| a.0 == b.0);
    for (path, size) in &s.too_large {
        warnings.push(format!(
            "{path}: not scanned: {size} bytes is over scan.max_file_size ({} bytes); raise it, or list the path in scan.allow_paths",
            scanner.max_file_size()
        ));
    }
    Ok(Report {
        findings,
        files: s.files,
        skipped: s.skipped,
        commits: s.commits,
        errors: s.errors,
        warnings,
    })
}
