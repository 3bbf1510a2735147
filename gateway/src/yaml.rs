//! A small YAML writer for generated configuration: block style, `@type` and `name` first in
//! every mapping and the other keys sorted (stable output, readable diffs), and every string
//! that YAML could read as something else double-quoted (JSON escapes are valid YAML).

use serde_json::Value;

/// `value` as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_list(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn key_order(key: &str) -> (u8, &str) {
    match key {
        "@type" => (0, key),
        "name" => (1, key),
        _ => (2, key),
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| key_order(a).cmp(&key_order(b)));
    for (i, key) in keys.into_iter().enumerate() {
        // The first key of a list item follows its "- " on the same line.
        if i > 0 || indent == 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&scalar_string(key));
        out.push(':');
        write_value(out, &map[key], indent);
    }
}

fn write_list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(out, inner, indent + 2);
            }
            scalar => {
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// After `key:`: a scalar on the same line, a collection on the following ones.
fn write_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_list(out, items, indent);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string plain when YAML reads it back as the same string, double-quoted otherwise.
fn scalar_string(s: &str) -> String {
    let reserved = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
        && !reserved.contains(&s.to_ascii_lowercase().as_str());
    if plain { s.to_owned() } else { Value::String(s.to_owned()).to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_style_with_type_and_name_first() {
        let doc = json!({
            "zeta": [ {"port": 80, "name": "a", "@type": "type.googleapis.com/x.Y"}, "plain", ["n"] ],
            "alpha": {"on": "yes", "path": "/fleuve.order.v1.OrderService/GetOrder", "empty": {}, "none": []},
            "n": 1.5,
        });
        assert_eq!(
            to_yaml(&doc),
            "alpha:\n  empty: {}\n  none: []\n  \"on\": \"yes\"\n  path: \"/fleuve.order.v1.OrderService/GetOrder\"\n\
             \"n\": 1.5\nzeta:\n- \"@type\": type.googleapis.com/x.Y\n  name: a\n  port: 80\n- plain\n- \n  - \"n\"\n"
        );
    }

    #[test]
    fn strings_yaml_would_misread_are_quoted() {
        for (s, quoted) in
            [("0.25s", true), ("30s", true), ("identity", false), ("%START_TIME%", true), ("a: b", true), ("no", true)]
        {
            assert_eq!(scalar_string(s).starts_with('"'), quoted, "{s}");
        }
    }
}
