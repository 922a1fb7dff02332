//! Everything gsec reads from git, through gix (never by running `git`):
//! the staged blobs and what they change relative to HEAD, commit ranges
//! and their tree diffs, blob contents, and the hooks directory.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::diff::blob::{Algorithm, Diff, InternedInput};
use gix::objs::TreeRefIter;

use crate::error::{Error, Result};

fn err(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Git {
        what: what.to_string(),
        source: Box::new(e),
    }
}

/// The repository containing `dir`, honouring `GIT_DIR`, `GIT_INDEX_FILE`
/// and the other variables git sets when it runs a hook.
pub fn open(dir: &Path) -> Result<gix::Repository> {
    let repo = gix::ThreadSafeRepository::discover_with_environment_overrides(dir)
        .map_err(|e| err(&format!("{}: not in a git repository", dir.display()), e))?;
    Ok(repo.to_thread_local())
}

/// Caches for walking history: delta chains share bases, so caching
/// delta bases saves most of the inflating; decoded objects are cached a
/// little (the walker's trees: consecutive commits share most of them).
/// Blobs are not: the history scan keeps the versions it just read for the
/// next change of the same file itself (`scan::source::history`), which
/// costs less memory for more hits. Bounded: 2 + 16 MiB per handle when
/// `threads` handles (one per thread) are used, at most 144 MiB in all.
pub fn tune_for_history(repo: &mut gix::Repository, threads: usize) {
    // Per thread up to 8 threads, then the same total shared by more:
    // memory stays bounded whatever the core count.
    let share = |mib: usize| {
        (mib << 20)
            .min(((8 * mib) << 20) / threads.max(1))
            .max(1 << 20)
    };
    repo.object_cache_size_if_unset(share(2));
    let pack = share(16);
    repo.objects.set_pack_cache(move || {
        Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(pack))
    });
}

/// A staged file that differs from HEAD.
pub struct Staged {
    /// Repository-relative path, `/`-separated.
    pub path: String,
    pub id: ObjectId,
    /// The blob at the same path in HEAD, if any.
    pub head: Option<ObjectId>,
    /// The file's size when it was staged, as the index records it: the
    /// blob's size unless a clean filter changed it, and only its low 32
    /// bits (a hint, never a reason to skip the file).
    pub staged_size: u32,
}

/// Index entries (regular files and executables) whose blob differs from
/// HEAD's. Works before the first commit (everything is new).
pub fn staged(repo: &gix::Repository) -> Result<Vec<Staged>> {
    let (read, missing);
    let path = repo.index_path();
    let index: &gix::index::File = if path.is_file() {
        // Read as git reads it: the trailing checksum is not verified (git
        // verifies it only in `git fsck`; hashing the whole index was a
        // fifth of a pre-commit scan), and on this thread (the decoder
        // otherwise starts threads for the extensions of a small file).
        // The decoder still rejects a malformed or truncated index.
        let options = gix::index::decode::Options {
            thread_limit: Some(1),
            ..Default::default()
        };
        read = gix::index::File::at(&path, repo.object_hash(), true, options)
            .map_err(|e| err("cannot read the index", e))?;
        &read
    } else {
        missing = repo
            .index_or_empty()
            .map_err(|e| err("cannot read the index", e))?;
        &missing
    };
    let head = head_blobs(repo, index.tree())?;
    let mut out = Vec::new();
    let mut vouched: Option<Vec<u8>> = None;
    let mut dir: Option<(&[u8], Option<&HeadDir>)> = None;
    for entry in index.entries() {
        use gix::index::entry::{Mode, Stage};
        if entry.stage() != Stage::Unconflicted
            || !(entry.mode == Mode::FILE || entry.mode == Mode::FILE_EXECUTABLE)
        {
            continue;
        }
        let path: &[u8] = entry.path(index);
        // Entries are sorted by path: a vouched-for directory's entries
        // follow one another, and the last one found answers for them.
        if vouched.as_deref().is_some_and(|d| path.starts_with(d)) {
            continue;
        }
        if let Some(d) = head.unchanged(path) {
            vouched = Some(d.to_vec());
            continue;
        }
        // Likewise the directory HEAD's blobs are looked up in.
        let (parent, name) = split_dir(path);
        let listing = match dir {
            Some((d, l)) if d == parent => l,
            _ => {
                let l = head.dirs.get(parent);
                dir = Some((parent, l));
                l
            }
        };
        let prev = listing.and_then(|l| l.blob(name));
        if prev == Some(entry.id) {
            continue;
        }
        out.push(Staged {
            path: path.to_str_lossy().into_owned(),
            id: entry.id,
            head: prev,
            staged_size: entry.stat.size,
        });
    }
    Ok(out)
}

/// `a/b/c` as (`a/b/`, `c`); a top-level path's directory is `""`.
fn split_dir(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => path.split_at(i + 1),
        None => (b"", path),
    }
}

/// What of HEAD's tree `staged` needs (paths as git stores them: bytes).
#[derive(Default)]
struct HeadBlobs {
    /// The blobs of each directory (`a/b/`, or `""`) read from HEAD: those
    /// the cache tree could not vouch for.
    dirs: HashMap<Vec<u8>, HeadDir>,
    /// Directories (`a/b/`, or `""` for all) whose index entries are
    /// exactly HEAD's.
    unchanged_dirs: HashSet<Vec<u8>>,
}

/// One directory's blobs in HEAD: the tree object's bytes and, for each
/// blob, where its name lies in them, sorted by name. One allocation per
/// directory, where a map keyed by path cost one per file.
struct HeadDir {
    data: Vec<u8>,
    blobs: Vec<(std::ops::Range<usize>, ObjectId)>,
}

impl HeadDir {
    fn blob(&self, name: &[u8]) -> Option<ObjectId> {
        self.blobs
            .binary_search_by(|(r, _)| self.data[r.clone()].cmp(name))
            .ok()
            .map(|i| self.blobs[i].1)
    }
}

impl HeadBlobs {
    /// The directory of `path` (a prefix ending in `/`, or `""`) that the
    /// cache tree vouches for, if any. One lookup per directory level (a
    /// large directory's hundreds of unchanged subdirectories made a scan
    /// of every one per index entry).
    fn unchanged<'p>(&self, path: &'p [u8]) -> Option<&'p [u8]> {
        if self.unchanged_dirs.contains(&b""[..]) {
            return Some(b"");
        }
        path.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(i, _)| &path[..=i])
            .find(|dir| self.unchanged_dirs.contains(*dir))
    }
}

/// HEAD's blobs, read only where the index's cache tree (the `TREE`
/// extension git keeps so `git commit` need not rehash unchanged
/// directories) cannot vouch that the index equals HEAD. A pre-commit
/// check then reads the few directories a commit touches, not the whole
/// tree of a large repository.
fn head_blobs(
    repo: &gix::Repository,
    cache: Option<&gix::index::extension::Tree>,
) -> Result<HeadBlobs> {
    let mut out = HeadBlobs::default();
    let Some(tree) = head_tree_id(repo)? else {
        return Ok(out); // unborn HEAD: everything staged is new
    };
    walk_head(repo, tree, cache, b"", &mut out)?;
    Ok(out)
}

/// HEAD's tree: `None` on an unborn branch (no commit yet), an error when
/// HEAD or its commit cannot be read (a corrupt repository must not look
/// like an empty one).
pub fn head_tree_id(repo: &gix::Repository) -> Result<Option<ObjectId>> {
    let mut head = repo.head().map_err(|e| err("cannot read HEAD", e))?;
    if head.is_unborn() {
        return Ok(None);
    }
    let commit = head
        .peel_to_commit()
        .map_err(|e| err("cannot read HEAD's commit", e))?;
    let tree = commit
        .tree_id()
        .map_err(|e| err("cannot read HEAD's tree", e))?;
    Ok(Some(tree.detach()))
}

fn walk_head(
    repo: &gix::Repository,
    tree: ObjectId,
    cache: Option<&gix::index::extension::Tree>,
    prefix: &[u8],
    out: &mut HeadBlobs,
) -> Result<()> {
    if cache.is_some_and(|c| c.num_entries.is_some() && c.id == tree) {
        out.unchanged_dirs.insert(prefix.to_vec());
        return Ok(());
    }
    let mut object = repo
        .find_tree(tree)
        .map_err(|e| err("cannot read HEAD's tree", e))?;
    let data = object.take_data();
    // The cache tree's subdirectories by name (git orders them by name
    // length first, not as the tree does).
    let children: HashMap<&[u8], &gix::index::extension::Tree> = cache
        .map(|c| c.children.iter().map(|t| (t.name.as_slice(), t)).collect())
        .unwrap_or_default();
    let mut blobs = Vec::new();
    for entry in TreeRefIter::from_bytes(&data, repo.object_hash()) {
        let entry = entry.map_err(|e| err("cannot read HEAD's tree", e))?;
        if entry.mode.is_tree() {
            let child = children.get(entry.filename.as_bytes()).copied();
            let mut path = prefix.to_vec();
            path.extend_from_slice(entry.filename);
            path.push(b'/');
            walk_head(repo, entry.oid.to_owned(), child, &path, out)?;
        } else if entry.mode.is_blob() {
            // The name is a slice of `data`: keep its place, not a copy.
            let start = entry.filename.as_ptr() as usize - data.as_ptr() as usize;
            blobs.push((start..start + entry.filename.len(), entry.oid.to_owned()));
        }
    }
    // Tree order is byte order for blobs; sorted again so that a tree
    // written out of order still finds its blobs.
    blobs.sort_unstable_by(|(a, _), (b, _)| data[a.clone()].cmp(&data[b.clone()]));
    out.dirs.insert(prefix.to_vec(), HeadDir { data, blobs });
    Ok(())
}

/// A blob's bytes.
pub fn blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>> {
    let mut b = repo
        .find_blob(id)
        .map_err(|e| err(&format!("cannot read blob {id}"), e))?;
    Ok(b.take_data())
}

/// Size of an object without inflating it (to skip big blobs cheaply). A
/// missing or unreadable object is an error, as reading it would be.
pub fn blob_size(repo: &gix::Repository, id: ObjectId) -> Result<u64> {
    repo.find_header(id)
        .map(|h| h.size())
        .map_err(|e| err(&format!("cannot read blob {id}"), e))
}

/// For each line of `new`, whether it is added or changed relative to
/// `old` (all lines when there is no `old`).
///
/// Lines both versions share at the start and at the end are unchanged
/// and left out of the diff (as git's xdiff trims them): most of history
/// is small edits to long files, and interning every line of both sides
/// was a tenth of a history scan.
pub fn added_lines(old: Option<&[u8]>, new: &[u8]) -> Vec<bool> {
    let total = line_count(new);
    let Some(old) = old else {
        return vec![true; total];
    };
    if old == new {
        return vec![false; total];
    }
    // The shared leading lines end at the last newline of the shared
    // leading bytes (found by comparing bytes, not by splitting both
    // versions into lines: that was most of this function's cost).
    let same = shared_prefix(old, new);
    let start = new[..same]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // The shared trailing lines: the longest shared trailing bytes after
    // `start` that begin at a line start in both versions.
    let room = old.len().min(new.len()) - start;
    let same_end = shared_suffix(&old[old.len() - room..], &new[new.len() - room..]);
    let line_start = |t: &[u8], at: usize| at == start || t[at - 1] == b'\n';
    let end = (0..=same_end)
        .rev()
        .find(|&k| line_start(old, old.len() - k) && line_start(new, new.len() - k))
        .unwrap_or(0);
    let head = memchr::memchr_iter(b'\n', &new[..start]).count();
    let tail = line_count(&new[new.len() - end..]);
    let old_mid = &old[start..old.len() - end];
    let new_mid = &new[start..new.len() - end];
    let mut out = vec![false; total];
    if old_mid.is_empty() {
        out[head..total - tail].fill(true);
        return out;
    }
    let input = InternedInput::new(old_mid, new_mid);
    let diff = Diff::compute(Algorithm::Histogram, &input);
    for (i, slot) in out[head..total - tail].iter_mut().enumerate() {
        *slot = diff.is_added(i as u32);
    }
    out
}

/// Length of the longest common prefix of `a` and `b`, compared a block
/// at a time (a slice compare is a vectorised memcmp; a byte loop was as
/// slow as splitting the files into lines).
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Length of the longest common suffix of `a` and `b` (as
/// [`shared_prefix`], from the end).
fn shared_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut k = 0;
    while k + BLOCK <= n && a[n - k - BLOCK..n - k] == b[n - k - BLOCK..n - k] {
        k += BLOCK;
    }
    k + a[..n - k]
        .iter()
        .rev()
        .zip(b[..n - k].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// Lines in `text`, each with its newline (the last one may have none).
pub fn line_count(text: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', text).count() + usize::from(text.last().is_some_and(|&b| b != b'\n'))
}

/// One changed file in a commit.
pub struct Change {
    pub path: String,
    pub id: ObjectId,
    pub previous: Option<ObjectId>,
}

/// The commit a revision names (`HEAD`, a branch, a tag, `MERGE_HEAD`, an
/// id). A name that does not resolve is a usage error.
pub fn resolve_commit(repo: &gix::Repository, spec: &str) -> Result<ObjectId> {
    repo.rev_parse_single(spec)
        .map_err(|e| Error::usage(format!("bad revision '{spec}': {e}")))?
        .object()
        .map_err(|e| err(spec, e))?
        .peel_to_commit()
        .map(|c| c.id)
        .map_err(|e| Error::usage(format!("'{spec}' is not a commit: {e}")))
}

/// The blob at `path` (repository-relative, `/`-separated) in `commit`'s
/// tree: `None` when there is no such file there.
pub fn blob_at(repo: &gix::Repository, commit: ObjectId, path: &str) -> Result<Option<ObjectId>> {
    let c = repo
        .find_commit(commit)
        .map_err(|e| err("cannot read commit", e))?;
    let tree = c.tree().map_err(|e| err("cannot read tree", e))?;
    let entry = tree
        .lookup_entry_by_path(path)
        .map_err(|e| err(&format!("cannot look up {path}"), e))?;
    Ok(entry.filter(|e| e.mode().is_blob()).map(|e| e.object_id()))
}

/// Who made a commit and when (for audit output).
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub author: String,
    pub email: String,
    /// Author time, seconds since the epoch.
    pub time: i64,
    pub summary: String,
    pub parents: Vec<ObjectId>,
}

pub fn commit_info(repo: &gix::Repository, id: ObjectId) -> Result<CommitInfo> {
    let c = repo
        .find_commit(id)
        .map_err(|e| err("cannot read commit", e))?;
    let author = c
        .author()
        .map_err(|e| err("cannot read commit author", e))?;
    let (name, email, time) = (
        author.name.to_str_lossy().into_owned(),
        author.email.to_str_lossy().into_owned(),
        author.seconds(),
    );
    let summary = c
        .message()
        .map(|m| m.summary().to_str_lossy().into_owned())
        .unwrap_or_default();
    Ok(CommitInfo {
        id,
        author: name,
        email,
        time,
        summary,
        parents: c.parent_ids().map(|p| p.detach()).collect(),
    })
}

/// The work tree's root, canonical (so project paths, which are
/// canonical, strip against it), when the repository has one.
pub fn workdir(repo: &gix::Repository) -> Option<PathBuf> {
    let w = repo.workdir()?;
    Some(std::fs::canonicalize(w).unwrap_or_else(|_| w.to_path_buf()))
}

/// Commits of `range`, oldest first. `A..B`: reachable from B, not from A;
/// a single revision: everything reachable from it; `None`: all refs.
pub fn commits(repo: &gix::Repository, range: Option<&str>) -> Result<Vec<ObjectId>> {
    let mut tips: Vec<ObjectId> = Vec::new();
    let mut hidden: Vec<ObjectId> = Vec::new();
    let resolve = |spec: &str| resolve_commit(repo, spec);
    match range {
        Some(r) if r.contains("..") => {
            let (a, b) = r.split_once("..").unwrap_or((r, ""));
            let b = b.trim_start_matches('.');
            hidden.push(resolve(if a.is_empty() { "HEAD" } else { a })?);
            tips.push(resolve(if b.is_empty() { "HEAD" } else { b })?);
        }
        Some(r) => tips.push(resolve(r)?),
        None => {
            let refs = repo
                .references()
                .map_err(|e| err("cannot list references", e))?;
            for r in refs
                .all()
                .map_err(|e| err("cannot list references", e))?
                .flatten()
            {
                let mut r = r;
                if let Ok(id) = r.peel_to_id()
                    && let Ok(obj) = id.object()
                    && let Ok(c) = obj.peel_to_commit()
                {
                    tips.push(c.id);
                }
            }
            if let Ok(h) = repo.head_id() {
                tips.push(h.detach());
            }
            tips.sort();
            tips.dedup();
        }
    }
    if tips.is_empty() {
        return Ok(vec![]);
    }
    let walk = repo
        .rev_walk(tips)
        .with_hidden(hidden)
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            Default::default(),
        ))
        .all()
        .map_err(|e| err("cannot walk history", e))?;
    let mut out = Vec::new();
    for info in walk {
        out.push(info.map_err(|e| err("cannot walk history", e))?.id);
    }
    // The walk yields newest first (by commit time); "introduced by" needs
    // oldest first.
    out.reverse();
    Ok(out)
}

/// Files a commit added or modified relative to its first parent (root
/// commits: relative to the empty tree). Regular files only.
pub fn changes(
    repo: &gix::Repository,
    commit: ObjectId,
    state: &mut gix::diff::tree::State,
) -> Result<Vec<Change>> {
    let c = repo
        .find_commit(commit)
        .map_err(|e| err("cannot read commit", e))?;
    let tree = c.tree().map_err(|e| err("cannot read tree", e))?;
    let parent_tree = match c.parent_ids().next() {
        Some(p) => Some(
            repo.find_commit(p)
                .map_err(|e| err("cannot read commit", e))?
                .tree()
                .map_err(|e| err("cannot read tree", e))?,
        ),
        None => None,
    };
    let empty: &[u8] = &[];
    let lhs = parent_tree.as_ref().map_or(empty, |t| t.data.as_slice());
    let kind = repo.object_hash();
    let mut rec = gix::diff::tree::Recorder::default();
    gix::diff::tree(
        TreeRefIter::from_bytes(lhs, kind),
        TreeRefIter::from_bytes(&tree.data, kind),
        state,
        &repo.objects,
        &mut rec,
    )
    .map_err(|e| err("cannot diff trees", e))?;
    let mut out = Vec::new();
    for ch in rec.records {
        use gix::diff::tree::recorder::Change as C;
        match ch {
            C::Addition {
                entry_mode,
                oid,
                path,
                ..
            } if entry_mode.is_blob() => out.push(Change {
                path: path.to_str_lossy().into_owned(),
                id: oid,
                previous: None,
            }),
            C::Modification {
                previous_entry_mode,
                previous_oid,
                entry_mode,
                oid,
                path,
            } if entry_mode.is_blob() => out.push(Change {
                path: path.to_str_lossy().into_owned(),
                id: oid,
                previous: previous_entry_mode.is_blob().then_some(previous_oid),
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// The directory git runs hooks from: `core.hooksPath` (relative to the
/// work tree when relative), else `<git-dir>/hooks`.
pub fn hooks_dir(repo: &gix::Repository) -> PathBuf {
    let cfg = repo.config_snapshot();
    if let Ok(Some(p)) = cfg.trusted_path("core.hooksPath") {
        if p.is_absolute() {
            return p;
        }
        let base = repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.git_dir().to_path_buf());
        return base.join(p);
    }
    repo.common_dir().join("hooks")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{shared_prefix, shared_suffix};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// One byte changed anywhere in a buffer of a few blocks: the
        /// shared prefix ends and the shared suffix starts exactly there,
        /// at a block's edge or inside one.
        #[test]
        fn shared_prefix_and_suffix_stop_at_the_first_difference(
            a in prop::collection::vec(0u8..2, 1..300),
            at in any::<prop::sample::Index>(),
            tail in prop::collection::vec(0u8..2, 0..3),
        ) {
            let p = at.index(a.len());
            let mut b = a.clone();
            b[p] ^= 0x80;
            prop_assert_eq!(shared_prefix(&a, &b), p);
            prop_assert_eq!(shared_suffix(&a, &b), a.len() - p - 1);
            // Unequal lengths: bounded by the shorter.
            let mut longer = a.clone();
            longer.extend(&tail);
            prop_assert_eq!(shared_prefix(&a, &longer), a.len());
            let mut front = tail.clone();
            front.extend(&a);
            prop_assert_eq!(shared_suffix(&a, &front), a.len());
        }
    }
}
