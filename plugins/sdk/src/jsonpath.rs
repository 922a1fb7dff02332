//! JSON paths: `result.tokens[0].id` into a [`Value`].

use crate::{Error, Result, Value};

/// The value at `path`: dot-separated object keys and `[N]` array
/// indices (`a.b[2].c`, `[0].id`); `None` when any step is missing.
/// Keys containing `.` or `[` can be quoted: `headers."x.y"`.
pub fn json_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for step in parse(path)? {
        cur = match step {
            Step::Key(k) => cur.as_object()?.get(&k)?,
            Step::Index(i) => cur.as_array()?.get(i)?,
        };
    }
    Some(cur)
}

/// The string at `path`, or an error naming the path (never the document,
/// which may hold secrets).
pub fn json_str<'v>(v: &'v Value, path: &str) -> Result<&'v str> {
    json_path(v, path)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new(format!("response has no string at '{path}'")))
}

enum Step {
    Key(String),
    Index(usize),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' => {
                let end = i + path[i..].find(']')?;
                out.push(Step::Index(path[i + 1..end].trim().parse().ok()?));
                i = end + 1;
            }
            b'"' => {
                let end = i + 1 + path[i + 1..].find('"')?;
                out.push(Step::Key(path[i + 1..end].to_string()));
                i = end + 1;
            }
            _ => {
                let end = path[i..]
                    .find(['.', '['])
                    .map(|e| i + e)
                    .unwrap_or(path.len());
                out.push(Step::Key(path[i..end].to_string()));
                i = end;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn paths() {
        let v = json!({"result": {"tokens": [{"id": "a"}, {"id": "b"}], "x.y": 1}, "top": [[5]]});
        assert_eq!(json_path(&v, "result.tokens[1].id"), Some(&json!("b")));
        assert_eq!(json_path(&v, "result.\"x.y\""), Some(&json!(1)));
        assert_eq!(json_path(&v, "top[0][0]"), Some(&json!(5)));
        assert_eq!(json_path(&v, ""), Some(&v));
        assert_eq!(json_path(&v, "result.tokens[2].id"), None);
        assert_eq!(json_path(&v, "result.tokens.id"), None);
        assert_eq!(json_path(&v, "result.tokens[x]"), None);
        assert_eq!(json_str(&v, "result.tokens[0].id").unwrap(), "a");
        assert_eq!(
            json_str(&v, "top").unwrap_err().message(),
            "response has no string at 'top'"
        );
    }
}
