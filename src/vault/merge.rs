//! Three-way merge of decrypted files, per key path: the core of the git
//! merge driver (`gsec merge-driver`).
//!
//! For every key path, with `b`, `o`, `t` the base's, ours' and theirs'
//! values (absent or present):
//! - `o == t`: take it (once);
//! - `o == b`: only theirs changed it: take `t` (a removal included);
//! - `t == b`: only ours changed it: keep `o`;
//! - both maps: merge their keys the same way, one level down;
//! - anything else (different changes, a change against a removal, two
//!   different additions): a conflict, and ours' value stays.
//!
//! Values are compared as plaintext, so a side that re-encrypted a value
//! without changing it (sops rewrites every value) is not a change. Values
//! kept from ours keep their ciphertext; values taken from theirs keep
//! theirs where both sides share the data key, so the result is a minimal
//! diff. Recipients merge the same way (as a set); a merged set that drops
//! anyone gets a new data key.

use super::Vault;
use super::tree::{Node, clear_cache};
use crate::error::Result;
use crate::keys::{Recipient, same_recipient};

/// What a merge did, for the driver's report (key paths, never values).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Key paths (`A`, `parent.child`) changed differently on both sides;
    /// each holds ours' value (or stays absent, when ours removed it).
    pub conflicts: Vec<Conflict>,
    /// Recipients in ours that the merged file no longer has (a new data
    /// key was made).
    pub removed_recipients: Vec<String>,
    /// Recipients the merged file gained relative to ours.
    pub added_recipients: Vec<String>,
}

/// One key path that could not be merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: String,
    pub why: &'static str,
}

/// Merge `theirs` into `ours` in place against `base` (`None` when the
/// file did not exist in the merge base). `ours` is then dirty and saves
/// with a new MAC and `lastmodified`.
pub fn three_way(base: Option<&Vault>, ours: &mut Vault, theirs: &Vault) -> Result<Outcome> {
    let mut out = Outcome::default();
    let empty = Vec::new();
    let base_data = base.map_or(&empty, |b| &b.data);
    let same_key = ours.key.as_bytes() == theirs.key.as_bytes();
    let mut path = Vec::new();
    let merged = merge_maps(
        base_data,
        &ours.data,
        &theirs.data,
        same_key,
        &mut path,
        &mut out.conflicts,
    );
    ours.replace_all(merged)?;

    // Recipients: the same rule, on the set.
    let b = base.map(Vault::recipients).unwrap_or_default();
    let o = ours.recipients();
    let t = theirs.recipients();
    let has = |set: &[String], r: &str| set.iter().any(|x| same_recipient(x, r));
    let mut wanted: Vec<String> = Vec::new();
    for r in o.iter().chain(t.iter()) {
        if has(&wanted, r) {
            continue;
        }
        let (in_b, in_o, in_t) = (has(&b, r), has(&o, r), has(&t, r));
        // Kept when both have it, or when one side added it; dropped when
        // either side removed it.
        if (in_o && in_t) || !in_b {
            wanted.push(r.clone());
        }
    }
    if !same_sets(&wanted, &o) {
        let parsed = wanted
            .iter()
            .map(|r| {
                Recipient::parse(r).map_err(|e| {
                    crate::Error::file(ours.path(), format!("merged recipient {r}: {e}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let change = ours.set_recipients(parsed);
        out.removed_recipients = change.removed;
        out.added_recipients = change.added;
    }
    ours.dirty = true;
    Ok(out)
}

fn same_sets(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| same_recipient(x, y)))
}

fn get<'a>(m: &'a [(String, Node)], k: &str) -> Option<&'a Node> {
    m.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

fn take_theirs(n: &Node, same_key: bool) -> Node {
    let mut n = n.clone();
    if !same_key {
        // Theirs' ciphertext is bound to theirs' data key.
        let mut one = [(String::new(), n)];
        clear_cache(&mut one);
        let [(_, cleared)] = one;
        n = cleared;
    }
    n
}

fn merge_maps(
    base: &[(String, Node)],
    ours: &[(String, Node)],
    theirs: &[(String, Node)],
    same_key: bool,
    path: &mut Vec<String>,
    conflicts: &mut Vec<Conflict>,
) -> Vec<(String, Node)> {
    let mut out = Vec::with_capacity(ours.len().max(theirs.len()));
    for (k, o) in ours {
        let (b, t) = (get(base, k), get(theirs, k));
        match t {
            None => match b {
                None => out.push((k.clone(), o.clone())), // ours added it
                Some(b) if b.same(o) => {}                // theirs removed it
                Some(_) => {
                    conflict(
                        conflicts,
                        path,
                        k,
                        "changed here, removed on the other side",
                    );
                    out.push((k.clone(), o.clone()));
                }
            },
            Some(t) => {
                if o.same(t) || b.is_some_and(|b| b.same(t)) {
                    out.push((k.clone(), o.clone()));
                } else if b.is_some_and(|b| b.same(o)) {
                    out.push((k.clone(), take_theirs(t, same_key)));
                } else if let (Node::Map(om), Node::Map(tm)) = (o, t) {
                    let empty = Vec::new();
                    let bm = match b {
                        Some(Node::Map(bm)) => bm,
                        _ => &empty,
                    };
                    path.push(k.clone());
                    let m = merge_maps(bm, om, tm, same_key, path, conflicts);
                    path.pop();
                    out.push((k.clone(), Node::Map(m)));
                } else {
                    conflict(
                        conflicts,
                        path,
                        k,
                        if b.is_some() {
                            "changed differently on both sides"
                        } else {
                            "added with different values on both sides"
                        },
                    );
                    out.push((k.clone(), o.clone()));
                }
            }
        }
    }
    for (k, t) in theirs {
        if get(ours, k).is_some() {
            continue;
        }
        match get(base, k) {
            None => out.push((k.clone(), take_theirs(t, same_key))), // theirs added it
            Some(b) if b.same(t) => {}                               // ours removed it
            Some(_) => conflict(
                conflicts,
                path,
                k,
                "removed here, changed on the other side",
            ),
        }
    }
    out
}

fn conflict(conflicts: &mut Vec<Conflict>, path: &[String], k: &str, why: &'static str) {
    let mut p = path.join(".");
    if !p.is_empty() {
        p.push('.');
    }
    p.push_str(k);
    conflicts.push(Conflict { path: p, why });
}
