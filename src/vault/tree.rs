//! The decrypted tree of one file: `Node`s with `Leaf` values. Leaves keep
//! the ciphertext they were read with, so a save re-encrypts only values
//! that changed; plaintext is zeroized when a leaf is dropped.

use serde_norway::Value;
use zeroize::Zeroizing;

use super::crypto::ValueType;
use super::format::{self, Emit};

/// A decrypted value.
#[derive(Clone)]
pub struct Leaf {
    /// The value in sops' byte form (`True`/`False` for booleans, …).
    pub plain: Zeroizing<Vec<u8>>,
    /// `None` for YAML null.
    pub ty: Option<ValueType>,
    /// The ciphertext read from disk and the additional data it was bound
    /// to: reused on save while both still hold, so unchanged values keep
    /// their bytes.
    pub(super) cached: Option<(String, String)>,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Leaf({:?}, ..)", self.ty)
    }
}

impl Leaf {
    pub fn string(v: &str) -> Self {
        Leaf {
            plain: Zeroizing::new(v.as_bytes().to_vec()),
            ty: Some(ValueType::Str),
            cached: None,
        }
    }

    /// The value as text (what `gsec get` prints). Booleans print as YAML
    /// does (`true`), everything else as stored.
    pub fn text(&self) -> Zeroizing<String> {
        let s = String::from_utf8_lossy(&self.plain).into_owned();
        Zeroizing::new(match (self.ty, s.as_str()) {
            (Some(ValueType::Bool), "True") => "true".into(),
            (Some(ValueType::Bool), "False") => "false".into(),
            (None, _) => String::new(),
            _ => s,
        })
    }

    pub(super) fn same_value(&self, other: &Leaf) -> bool {
        self.ty == other.ty && self.plain[..] == other.plain[..]
    }
}

/// A decrypted tree node.
#[derive(Debug, Clone)]
pub enum Node {
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
    Leaf(Leaf),
}

impl Node {
    /// The decrypted value as a plaintext YAML tree (for `gsec get`, `edit`,
    /// `export --format yaml`), keeping numbers and booleans unquoted.
    pub fn plain_emit(&self) -> Emit {
        match self {
            Node::Leaf(l) => match l.ty {
                // A float's text is Go's/Rust's (`inf`, `NaN`, `0`); YAML
                // spells the non-finite ones `.inf`, `-.inf`, `.nan`, and an
                // integral one needs a point (fuzz findings: `.inf` and `0.`
                // came back from an unchanged edit buffer as a string and an
                // integer).
                Some(ValueType::Float) => {
                    let t = l.text();
                    Emit::Raw(
                        match t.to_ascii_lowercase().as_str() {
                            "inf" | "+inf" => ".inf",
                            "-inf" => "-.inf",
                            "nan" | "+nan" | "-nan" => ".nan",
                            // An integral float (`0.` is stored as `0`, as
                            // Go writes it) needs a point to stay a float.
                            s if {
                                let digits = s.trim_start_matches(['-', '+']);
                                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                            } =>
                            {
                                return Emit::Raw(format!("{}.0", t.as_str()));
                            }
                            _ => t.as_str(),
                        }
                        .to_string(),
                    )
                }
                Some(ValueType::Int | ValueType::Bool) => Emit::Raw(l.text().to_string()),
                None => Emit::Raw("null".into()),
                _ => Emit::Str(l.text().to_string()),
            },
            Node::Map(m) => Emit::Map(m.iter().map(|(k, v)| (k.clone(), v.plain_emit())).collect()),
            Node::List(l) => Emit::List(l.iter().map(Node::plain_emit).collect()),
        }
    }

    /// What kind of collection this is (`"a map"`, `"a list"`), for
    /// messages; `None` for a single value.
    pub fn collection(&self) -> Option<&'static str> {
        match self {
            Node::Map(_) => Some("a map"),
            Node::List(_) => Some("a list"),
            Node::Leaf(_) => None,
        }
    }

    /// The same plaintext value and shape (ciphertext not compared).
    pub fn same(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Leaf(a), Node::Leaf(b)) => a.same_value(b),
            (Node::List(a), Node::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            // Key order is layout, not value.
            (Node::Map(a), Node::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(ka, va)| b.iter().any(|(kb, vb)| ka == kb && va.same(vb)))
            }
            _ => false,
        }
    }

    /// Every leaf with its path of map keys (list items share their
    /// parent's path, as in sops), in document order.
    pub fn leaves<'a>(
        &'a self,
        prefix: &mut Vec<&'a str>,
        f: &mut dyn FnMut(&[&'a str], &'a Leaf),
    ) {
        match self {
            Node::Leaf(l) => f(prefix, l),
            Node::List(items) => items.iter().for_each(|n| n.leaves(prefix, f)),
            Node::Map(entries) => {
                for (k, v) in entries {
                    prefix.push(k);
                    v.leaves(prefix, f);
                    prefix.pop();
                }
            }
        }
    }
}

impl Node {
    /// The shape of the tree in a canonical byte form, for gsec's
    /// structure MAC: maps with their keys in order, lists with their
    /// lengths, and each leaf's type — never a value.
    pub fn shape(&self, out: &mut Vec<u8>) {
        let len = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u64).to_be_bytes());
        match self {
            Node::Leaf(l) => {
                out.push(b'L');
                out.push(match l.ty {
                    None => 0,
                    Some(ValueType::Str) => 1,
                    Some(ValueType::Int) => 2,
                    Some(ValueType::Float) => 3,
                    Some(ValueType::Bool) => 4,
                    Some(ValueType::Comment) => 5,
                    Some(ValueType::Bytes) => 6,
                    Some(ValueType::Time) => 7,
                });
            }
            Node::List(items) => {
                out.push(b'S');
                len(out, items.len());
                items.iter().for_each(|n| n.shape(out));
            }
            Node::Map(entries) => map_shape(entries, out),
        }
    }
}

/// [`Node::shape`] of a map given as its entries (a file's top level).
pub fn map_shape(entries: &[(String, Node)], out: &mut Vec<u8>) {
    out.push(b'M');
    out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    for (k, v) in entries {
        out.extend_from_slice(&(k.len() as u64).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        v.shape(out);
    }
}

/// A plaintext YAML value as a node (typed leaves), for values that come
/// from the user rather than from an encrypted file (`gsec edit`, local
/// overrides). `name` is the secret the value belongs to, for errors.
///
/// The value gets the checks a value in an encrypted file gets
/// (`format::check_value`): a key that is null, a map or a list, two keys
/// that are one sops path (`~` and `""`, `1` and `"1"`), a key with `:`
/// and YAML tags are refused, so that what gsec writes it can read back.
pub fn node_from_yaml(name: &str, v: Value) -> Result<Node, String> {
    format::check_value(&v, format::shown_key(name))?;
    Ok(node_from_checked(v))
}

fn node_from_checked(v: Value) -> Node {
    match v {
        Value::Mapping(m) => Node::Map(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Value::String(s) => s,
                        other => format::emit_value(&other).raw_text(),
                    };
                    (k, node_from_checked(v))
                })
                .collect(),
        ),
        Value::Sequence(s) => Node::List(s.into_iter().map(node_from_checked).collect()),
        Value::Tagged(t) => node_from_checked(t.value),
        scalar => Node::Leaf(plain_leaf(scalar)),
    }
}

/// An unencrypted YAML scalar in sops' byte form.
pub(super) fn plain_leaf(v: Value) -> Leaf {
    let (plain, ty) = match v {
        Value::Null => (String::new(), None),
        Value::Bool(b) => (
            (if b { "True" } else { "False" }).to_string(),
            Some(ValueType::Bool),
        ),
        Value::Number(n) if n.is_f64() => (
            go_float(n.as_f64().unwrap_or_default()),
            Some(ValueType::Float),
        ),
        // sops' `int` is Go's int (64 bits): a larger integer (YAML reads
        // up to 2^64-1) typed `int` is a file sops, and gsec, refuse to
        // decrypt. It is kept as text (seeded fuzz finding).
        Value::Number(n) if n.as_i64().is_some() => (n.to_string(), Some(ValueType::Int)),
        Value::Number(n) => (n.to_string(), Some(ValueType::Str)),
        Value::String(s) => (s, Some(ValueType::Str)),
        other => (format::emit_value(&other).raw_text(), Some(ValueType::Str)),
    };
    Leaf {
        plain: Zeroizing::new(plain.into_bytes()),
        ty,
        cached: None,
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, never an
/// exponent. Rust's `Display` for f64 has the same contract.
fn go_float(f: f64) -> String {
    format!("{f}")
}

/// Merge `new` into `old` in place, keeping `old`'s leaves (and so their
/// cached ciphertext) where the value is unchanged. Returns whether
/// anything differs.
pub(super) fn merge(old: &mut Node, new: Node) -> bool {
    match (old, new) {
        (Node::Leaf(o), Node::Leaf(n)) => {
            if o.same_value(&n) {
                false
            } else {
                *o = n;
                true
            }
        }
        (Node::Map(o), Node::Map(n)) => {
            let same_keys = o.len() == n.len() && o.iter().zip(&n).all(|((a, _), (b, _))| a == b);
            if !same_keys {
                let mut old_entries = std::mem::take(o);
                for (k, v) in n {
                    match old_entries.iter().position(|(ok, _)| *ok == k) {
                        Some(i) => {
                            let (_, mut node) = old_entries.swap_remove(i);
                            merge(&mut node, v);
                            o.push((k, node));
                        }
                        None => o.push((k, v)),
                    }
                }
                return true;
            }
            let mut changed = false;
            for ((_, ov), (_, nv)) in o.iter_mut().zip(n) {
                changed |= merge(ov, nv);
            }
            changed
        }
        (Node::List(o), Node::List(n)) => {
            let mut changed = o.len() != n.len();
            o.truncate(n.len());
            let mut n = n.into_iter();
            for ov in o.iter_mut() {
                changed |= merge(ov, n.next().expect("n is at least as long as o"));
            }
            o.extend(n);
            changed
        }
        (o, n) => {
            *o = n;
            true
        }
    }
}

impl Node {
    /// The same value without the ciphertext it was read with: for moving a
    /// value into another file, whose data key differs.
    pub fn without_ciphertext(mut self) -> Node {
        fn walk(n: &mut Node) {
            match n {
                Node::Leaf(l) => l.cached = None,
                Node::List(items) => items.iter_mut().for_each(walk),
                Node::Map(m) => m.iter_mut().for_each(|(_, n)| walk(n)),
            }
        }
        walk(&mut self);
        self
    }
}

pub(super) fn clear_cache(nodes: &mut [(String, Node)]) {
    for (_, n) in nodes.iter_mut() {
        *n = std::mem::replace(n, Node::List(Vec::new())).without_ciphertext();
    }
}
