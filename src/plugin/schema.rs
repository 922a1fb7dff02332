//! A plugin's `config_schema` (JSON Schema, from its `info`) applied to
//! the config `.gsec.yaml` gives it, before any of the plugin's code runs
//! with that config: a typo (`lenght`, `kind: deploy_key`) is one clear
//! error naming the setting, not a plugin failure half-way through a
//! rotation or a setting silently ignored.
//!
//! The keywords checked are the ones plugin schemas use: `type`, `enum`,
//! `const`, `properties`, `required`, `additionalProperties`, `items`,
//! `minItems`, `maxItems`, `minLength`, `maxLength`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `pattern`, `oneOf`, `anyOf`,
//! `allOf`, `not`, and boolean schemas. Annotations (`description`,
//! `default`, …) and keywords outside this list are not checked here; the
//! plugin still checks its config itself.
//!
//! Messages name the setting and what it must be, never a string value
//! from the config.

use serde_json::{Map, Value};

/// Check `config` (the object under `config:`) against `schema`; the
/// first problem found, as `config.NAME: what is wrong`.
pub fn check(schema: &Value, config: &Map<String, Value>) -> Result<(), String> {
    let mut budget = BUDGET;
    let checked = value(
        schema,
        &Value::Object(config.clone()),
        "config",
        &mut budget,
    );
    // Out of budget is never a pass, whatever a `not` or `anyOf` made of
    // the failures it caused.
    if budget == 0 {
        return Err("config: the plugin's config_schema is too complex to check".into());
    }
    checked
}

/// Schemas checked at most per config. The work is the schema's size
/// times the config's, and a plugin's schema is input too: a huge one must
/// not stall gsec.
const BUDGET: u32 = 100_000;

fn value(schema: &Value, v: &Value, at: &str, budget: &mut u32) -> Result<(), String> {
    *budget = budget
        .checked_sub(1)
        .ok_or_else(|| format!("{at}: the plugin's config_schema is too complex to check"))?;
    let s = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{at}: is not allowed")),
        Value::Object(s) => s,
        // Not a schema: the plugin's own mistake, not the user's config.
        _ => {
            return Err(format!(
                "{at}: the plugin's config_schema is not a JSON Schema"
            ));
        }
    };
    if let Some(t) = s.get("type") {
        let names: Vec<&str> = match t {
            Value::String(n) => vec![n.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|n| is_type(v, n)) {
            return Err(format!(
                "{at}: must be of type {} (is {})",
                names.join(" or "),
                type_of(v)
            ));
        }
    }
    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(v)
    {
        return Err(format!("{at}: must be one of {}", shown(allowed)));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{at}: must be {}", shown(std::slice::from_ref(c))));
    }
    match v {
        Value::Object(o) => object(s, o, at, budget)?,
        Value::Array(a) => array(s, a, at, budget)?,
        Value::String(text) => string(s, text, at)?,
        Value::Number(n) => number(s, n.as_f64().unwrap_or(f64::NAN), at)?,
        _ => {}
    }
    combinators(s, v, at, budget)
}

fn object(
    s: &Map<String, Value>,
    o: &Map<String, Value>,
    at: &str,
    budget: &mut u32,
) -> Result<(), String> {
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(req)) = s.get("required")
        && let Some(missing) = req
            .iter()
            .filter_map(Value::as_str)
            .find(|k| !o.contains_key(*k))
    {
        return Err(format!("{at}.{missing}: is required"));
    }
    for (k, sub) in o {
        let here = format!("{at}.{}", printable(k));
        match props.and_then(|p| p.get(k)) {
            Some(p) => value(p, sub, &here, budget)?,
            None => match s.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    return Err(if known.is_empty() {
                        format!("{here}: is not a setting of this plugin")
                    } else {
                        format!(
                            "{here}: is not a setting of this plugin (it has: {})",
                            known.join(", ")
                        )
                    });
                }
                Some(extra) => value(extra, sub, &here, budget)?,
                None => {}
            },
        }
    }
    Ok(())
}

fn array(s: &Map<String, Value>, a: &[Value], at: &str, budget: &mut u32) -> Result<(), String> {
    count(s, a.len(), ("minItems", "maxItems"), "item(s)", at)?;
    if let Some(items) = s.get("items") {
        for (i, x) in a.iter().enumerate() {
            value(items, x, &format!("{at}[{i}]"), budget)?;
        }
    }
    Ok(())
}

fn string(s: &Map<String, Value>, text: &str, at: &str) -> Result<(), String> {
    count(
        s,
        text.chars().count(),
        ("minLength", "maxLength"),
        "character(s)",
        at,
    )?;
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        let re = regex::Regex::new(p).map_err(|_| {
            format!("{at}: the plugin's config_schema has a pattern that does not compile")
        })?;
        if !re.is_match(text) {
            return Err(format!("{at}: does not have the form the plugin expects"));
        }
    }
    Ok(())
}

/// A list's items or a string's characters, `n`, against the schema's
/// `lo` and `hi` keywords.
fn count(
    s: &Map<String, Value>,
    n: usize,
    (lo, hi): (&str, &str),
    what: &str,
    at: &str,
) -> Result<(), String> {
    let n = n as f64;
    if let Some(min) = s.get(lo).and_then(Value::as_f64)
        && n < min
    {
        return Err(format!("{at}: must have at least {min} {what}, has {n}"));
    }
    if let Some(max) = s.get(hi).and_then(Value::as_f64)
        && n > max
    {
        return Err(format!("{at}: must have at most {max} {what}, has {n}"));
    }
    Ok(())
}

fn number(s: &Map<String, Value>, n: f64, at: &str) -> Result<(), String> {
    let bound = |k: &str| s.get(k).and_then(Value::as_f64);
    if let Some(min) = bound("minimum")
        && n < min
    {
        return Err(format!("{at}: {n} is below the minimum {min}"));
    }
    if let Some(max) = bound("maximum")
        && n > max
    {
        return Err(format!("{at}: {n} is above the maximum {max}"));
    }
    if let Some(min) = bound("exclusiveMinimum")
        && n <= min
    {
        return Err(format!("{at}: must be above {min}"));
    }
    if let Some(max) = bound("exclusiveMaximum")
        && n >= max
    {
        return Err(format!("{at}: must be below {max}"));
    }
    Ok(())
}

fn combinators(
    s: &Map<String, Value>,
    v: &Value,
    at: &str,
    budget: &mut u32,
) -> Result<(), String> {
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            value(sub, v, at, budget)?;
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf") {
        let errs: Vec<String> = any
            .iter()
            .filter_map(|sub| value(sub, v, at, budget).err())
            .collect();
        if errs.len() == any.len() && !any.is_empty() {
            return Err(none_of(&errs, at));
        }
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let errs: Vec<String> = one
            .iter()
            .filter_map(|sub| value(sub, v, at, budget).err())
            .collect();
        let matched = one.len() - errs.len();
        if matched == 0 && !one.is_empty() {
            return Err(none_of(&errs, at));
        }
        if matched > 1 {
            return Err(format!(
                "{at}: fits {matched} of the plugin's config shapes; it must fit exactly one"
            ));
        }
    }
    if let Some(not) = s.get("not")
        && value(not, v, at, budget).is_ok()
    {
        return Err(format!(
            "{at}: has a form the plugin's config_schema excludes"
        ));
    }
    Ok(())
}

/// Every alternative failed: each one's reason, so the closest is visible.
fn none_of(errs: &[String], at: &str) -> String {
    if let [only] = errs {
        return only.clone();
    }
    format!(
        "{at}: fits none of the plugin's {} config shapes ({})",
        errs.len(),
        errs.join("; ")
    )
}

fn is_type(v: &Value, name: &str) -> bool {
    match name {
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => {
            v.is_i64()
                || v.is_u64()
                || v.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => true, // an unknown type name: not ours to judge
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) if is_type(v, "integer") => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The schema's own values (enum members, a const), as JSON, shortened.
fn shown(values: &[Value]) -> String {
    let mut s: Vec<String> = values
        .iter()
        .take(12)
        .map(|v| printable(&v.to_string()))
        .collect();
    if values.len() > 12 {
        s.push("…".into());
    }
    s.join(", ")
}

/// A config key or schema text in a one-line message: control characters
/// escaped, at most 60 characters.
fn printable(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(60) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// The random plugin's schema.
    fn random() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "length": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 32},
                "alphabet": {"type": "string", "default": "alnum"},
                "prefix": {"type": "string"}
            }
        })
    }

    #[test]
    fn a_good_config_passes() {
        assert_eq!(check(&random(), &cfg(json!({}))), Ok(()));
        assert_eq!(
            check(&random(), &cfg(json!({"length": 20, "prefix": "sk_"}))),
            Ok(())
        );
        assert_eq!(
            check(&json!({"type": "object"}), &cfg(json!({"x": [1]}))),
            Ok(())
        );
        assert_eq!(check(&json!(true), &cfg(json!({"x": 1}))), Ok(()));
    }

    #[test]
    fn each_kind_of_mistake_names_the_setting() {
        let err = |schema: &Value, v: Value| check(schema, &cfg(v)).unwrap_err();
        assert_eq!(
            err(&random(), json!({"lenght": 20})),
            "config.lenght: is not a setting of this plugin (it has: length, alphabet, prefix)"
        );
        assert_eq!(
            err(&random(), json!({"length": "20"})),
            "config.length: must be of type integer (is a string)"
        );
        assert_eq!(
            err(&random(), json!({"length": 2.5})),
            "config.length: must be of type integer (is a number)"
        );
        assert_eq!(
            err(&random(), json!({"length": 5000})),
            "config.length: 5000 is above the maximum 4096"
        );
        assert_eq!(
            err(&random(), json!({"length": 0})),
            "config.length: 0 is below the minimum 1"
        );
        let kind = json!({"properties": {"kind": {"enum": ["deploy-key", "webhook-secret"]}}});
        assert_eq!(
            err(&kind, json!({"kind": "deploy_key"})),
            r#"config.kind: must be one of "deploy-key", "webhook-secret""#
        );
        let req = json!({"required": ["address"], "properties": {"address": {"type": "string"}}});
        assert_eq!(err(&req, json!({})), "config.address: is required");
        let roles = json!({"properties": {"roles": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}}});
        assert_eq!(
            err(&roles, json!({"roles": ["a"]})),
            "config.roles: must have at least 2 item(s), has 1"
        );
        assert_eq!(
            err(&roles, json!({"roles": ["a", 1]})),
            "config.roles[1]: must be of type string (is an integer)"
        );
        let perms = json!({"properties": {"p": {"type": "object", "additionalProperties": {"type": "string"}}}});
        assert_eq!(
            err(&perms, json!({"p": {"contents": true}})),
            "config.p.contents: must be of type string (is a boolean)"
        );
        let pat = json!({"properties": {"id": {"type": "string", "pattern": "^br-[a-z0-9-]+$", "maxLength": 40}}});
        assert_eq!(
            err(&pat, json!({"id": "main"})),
            "config.id: does not have the form the plugin expects"
        );
        assert_eq!(check(&pat, &cfg(json!({"id": "br-cool-1"}))), Ok(()));
        assert_eq!(
            err(&pat, json!({"id": format!("br-{}", "a".repeat(40))})),
            "config.id: must have at most 40 character(s), has 43"
        );
    }

    #[test]
    fn alternatives_say_why_each_one_failed() {
        // The aws plugin's shape: one of two objects, the first needing one
        // of two keys.
        let schema = json!({"oneOf": [
            {"type": "object", "additionalProperties": false,
             "anyOf": [{"required": ["user_name"]}, {"required": ["role_arn"]}],
             "properties": {"user_name": {"type": "string"}, "role_arn": {"type": "string"}}},
            {"type": "object", "additionalProperties": false, "required": ["region"],
             "properties": {"region": {"type": "string"}}}
        ]});
        assert_eq!(check(&schema, &cfg(json!({"user_name": "ci"}))), Ok(()));
        assert_eq!(check(&schema, &cfg(json!({"region": "eu-west-1"}))), Ok(()));
        let e = check(&schema, &cfg(json!({"user_nmae": "ci"}))).unwrap_err();
        assert!(
            e.starts_with("config: fits none of the plugin's 2 config shapes ("),
            "{e}"
        );
        assert!(
            e.contains("config.user_nmae: is not a setting of this plugin"),
            "{e}"
        );
        let both = json!({"oneOf": [{"type": "object"}, {"required": []}]});
        assert!(
            check(&both, &cfg(json!({})))
                .unwrap_err()
                .contains("exactly one")
        );
        assert!(check(&json!({"not": {"required": ["x"]}}), &cfg(json!({"x": 1}))).is_err());
        assert!(check(&json!({"allOf": [{"required": ["x"]}]}), &cfg(json!({}))).is_err());
    }

    /// A hostile schema: more alternatives than the budget, each one
    /// failing, inside a `not` that would turn a give-up into a pass.
    #[test]
    fn a_schema_too_costly_to_check_is_refused_not_passed() {
        let many = vec![json!({"not": {}}); BUDGET as usize + 10];
        let hostile = json!({"not": {"anyOf": many}});
        let e = check(&hostile, &cfg(json!({}))).unwrap_err();
        assert_eq!(
            e,
            "config: the plugin's config_schema is too complex to check"
        );
        // Within the budget, the same shape is judged.
        let few = vec![json!({"not": {}}); 1000];
        assert!(check(&json!({"not": {"anyOf": few}}), &cfg(json!({}))).is_ok());
    }

    #[test]
    fn messages_quote_no_config_string_and_stay_on_one_line() {
        let schema = json!({"additionalProperties": false, "properties": {"a": {"type": "integer", "enum": [1, 2]}}});
        let e = check(&schema, &cfg(json!({"a": "hunter2-secret"}))).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = check(&schema, &cfg(json!({"line\nbreak": 1}))).unwrap_err();
        assert!(!e.contains('\n') && e.contains("line\\nbreak"), "{e}");
        assert!(
            check(
                &json!({"properties": {"a": {"pattern": "("}}}),
                &cfg(json!({"a": "x"}))
            )
            .unwrap_err()
            .contains("does not compile")
        );
        assert!(
            check(&json!(7), &cfg(json!({})))
                .unwrap_err()
                .contains("not a JSON Schema")
        );
    }
}
