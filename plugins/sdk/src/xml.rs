//! Just enough XML for AWS Query API answers (IAM, STS…): elements
//! without attributes that matter, text with the five predefined entities
//! and numeric character references. Not a general XML parser.

/// The text of the first `<name>…</name>` element, unescaped.
pub fn text(doc: &str, name: &str) -> Option<String> {
    inner(doc, name).map(unescape)
}

/// The raw inner XML of every `<name>…</name>` element, in order (nested
/// elements of the same name are not supported).
pub fn all<'d>(doc: &'d str, name: &str) -> Vec<&'d str> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some((body, after)) = next(rest, name) {
        out.push(body);
        rest = after;
    }
    out
}

/// The raw inner XML of the first `<name>…</name>` element.
pub fn inner<'d>(doc: &'d str, name: &str) -> Option<&'d str> {
    next(doc, name).map(|(body, _)| body)
}

fn next<'d>(doc: &'d str, name: &str) -> Option<(&'d str, &'d str)> {
    let mut from = 0;
    loop {
        let at = from + doc[from..].find('<')?;
        let tag = &doc[at + 1..];
        if let Some(after) = tag.strip_prefix(name) {
            let end_of_tag = after.find('>')?;
            let attrs = &after[..end_of_tag];
            // `<nameX` is another element; `<name/>` is empty.
            if attrs.is_empty() || attrs.starts_with(char::is_whitespace) {
                let body_start = at + 1 + name.len() + end_of_tag + 1;
                let close = format!("</{name}>");
                let body_end = body_start + doc[body_start..].find(&close)?;
                return Some((&doc[body_start..body_end], &doc[body_end + close.len()..]));
            }
            if attrs == "/" {
                let after_at = at + 1 + name.len() + end_of_tag + 1;
                return Some(("", &doc[after_at..]));
            }
        }
        from = at + 1;
    }
}

/// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#NN;` `&#xNN;`.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let ent = &after[1..end];
        let ch = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text escaped for an XML element (for fakes and tests).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_shaped_documents() {
        let doc = r#"<?xml version="1.0"?>
<ListAccessKeysResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListAccessKeysResult>
    <UserName>app</UserName>
    <AccessKeyMetadata>
      <member><AccessKeyId>AKIA1</AccessKeyId><Status>Active</Status></member>
      <member><AccessKeyId>AKIA2</AccessKeyId><Status>Inactive</Status></member>
    </AccessKeyMetadata>
    <IsTruncated>false</IsTruncated>
  </ListAccessKeysResult>
</ListAccessKeysResponse>"#;
        let members = all(doc, "member");
        assert_eq!(members.len(), 2);
        assert_eq!(text(members[1], "AccessKeyId").as_deref(), Some("AKIA2"));
        assert_eq!(text(doc, "UserName").as_deref(), Some("app"));
        assert_eq!(text(doc, "IsTruncated").as_deref(), Some("false"));
        assert_eq!(text(doc, "Nope"), None);
        // `<Access…` must not match `<AccessKeyMetadata>` for `Access`.
        assert_eq!(text(doc, "Access"), None);
        assert_eq!(text("<a x=\"1\">v</a>", "a").as_deref(), Some("v"));
        assert_eq!(text("<a/><a>v</a>", "a").as_deref(), Some(""));
    }

    #[test]
    fn entities() {
        assert_eq!(
            unescape("a&lt;b&amp;c&#65;&#x42;&bogus;&"),
            "a<b&cAB&bogus;&"
        );
        assert_eq!(unescape(&escape("<'&\">")), "<'&\">");
    }
}
