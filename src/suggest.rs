//! "Did you mean …?": the closest known name to a mistyped one, for
//! secret and environment names. Case-insensitive; a prefix (`prod` for
//! `production`) or a small edit distance (`DB_PASWORD`) counts.

/// The candidate closest to `want`, if any is close enough to suggest.
pub fn closest<'a>(want: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w: Vec<char> = want.to_lowercase().chars().collect();
    if w.is_empty() {
        return None;
    }
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let lc: Vec<char> = c.to_lowercase().chars().collect();
        if lc == w {
            return Some(c);
        }
        let d = if w.len() >= 3 && lc.starts_with(&w) {
            1
        } else {
            distance(&w, &lc)
        };
        // One edit per four characters, at least one, at most three.
        let allowed = (w.len() / 4).clamp(1, 3);
        if d <= allowed && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Is `a` one edit (insert, delete, substitute, or swap of neighbours)
/// away from `b`, ignoring case? Used to warn before creating a near-twin.
pub fn one_edit_apart(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    a != b && distance(&a, &b) == 1
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent swaps).
fn distance(a: &[char], b: &[char]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[n][m]
}

/// `; did you mean 'X'?` or nothing.
pub fn hint<'a>(want: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(want, candidates)
        .map(|c| format!("; did you mean '{c}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_prefixes_and_near_misses_only() {
        let envs = ["development", "local", "preview", "production"];
        assert_eq!(closest("prod", envs), Some("production"));
        assert_eq!(closest("Production", envs), Some("production"));
        assert_eq!(closest("developmnet", envs), Some("development"));
        assert_eq!(closest("staging", envs), None);
        let names = ["DB_PASSWORD", "STRIPE_KEY"];
        assert_eq!(closest("DB_PASWORD", names), Some("DB_PASSWORD"));
        assert_eq!(closest("db_password", names), Some("DB_PASSWORD"));
        assert_eq!(closest("API_TOKEN", names), None);
        assert_eq!(closest("", names), None);
        assert_eq!(closest("ééé", ["éé"]), Some("éé"));
        assert!(one_edit_apart("DB_PASWORD", "DB_PASSWORD"));
        assert!(one_edit_apart("DB_PASSOWRD", "DB_PASSWORD"));
        assert!(!one_edit_apart("DB_PASSWORD", "db_password"));
        assert!(!one_edit_apart("A", "BCD"));
    }
}
