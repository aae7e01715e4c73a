//! docs/configuration.md documents every key of the schema, with the schema's defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use serde_json::Value;

/// Every documented key path of the schema with its default, if the schema gives one.
/// Maps are written `*`, arrays `[]`, keys with dots or slashes `["key"]`, and capability
/// objects start a new path at `capability`.
fn key_paths() -> Vec<(String, Option<Value>)> {
    let schema: Value = serde_json::from_str(&aperture_config::schema_json()).unwrap();
    let mut out = Vec::new();
    walk(&schema, &schema, "", &mut out, 0);
    out
}

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.trim_start_matches('#')).unwrap(),
        None => s,
    }
}

fn walk(
    root: &Value,
    s: &Value,
    prefix: &str,
    out: &mut Vec<(String, Option<Value>)>,
    depth: usize,
) {
    assert!(depth < 12);
    if let Some(name) = s.get("$ref").and_then(Value::as_str) {
        if name.ends_with("/RawCapability") && prefix != "capability" {
            if !out.iter().any(|(p, _)| p.starts_with("capability.")) {
                walk(root, s, "capability", out, depth + 1);
            }
            return;
        }
    }
    let s = resolve(root, s);
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        for a in alts {
            if resolve(root, a).get("properties").is_some()
                || resolve(root, a).get("items").is_some()
            {
                walk(root, a, prefix, out, depth + 1);
            }
        }
        return;
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let key = if k.contains('.') || k.contains('/') {
                format!("[\"{k}\"]")
            } else {
                k.clone()
            };
            let path = if prefix.is_empty() {
                key
            } else if key.starts_with('[') {
                format!("{prefix}{key}")
            } else {
                format!("{prefix}.{key}")
            };
            out.push((path.clone(), v.get("default").cloned()));
            walk(root, v, &path, out, depth + 1);
        }
    }
    if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
        walk(root, extra, &format!("{prefix}.*"), out, depth + 1);
    }
    if let Some(items) = s.get("items") {
        walk(root, items, &format!("{prefix}[]"), out, depth + 1);
    }
}

#[test]
fn every_key_is_documented_with_its_default() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .unwrap();
    let rows: Vec<Vec<&str>> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    let mut missing = Vec::new();
    for (path, default) in key_paths() {
        let key = format!("`{path}`");
        let Some(row) = rows.iter().find(|r| r[0] == key) else {
            missing.push(path);
            continue;
        };
        // Sections (objects) are documented by their keys; their own default is `{…}`.
        if let Some(default) = default.filter(|d| !d.is_object()) {
            let cell = row.get(2).copied().unwrap_or("");
            let documented = cell.trim_matches('`');
            let parsed: Option<Value> = serde_json::from_str(documented).ok();
            assert_eq!(
                parsed.as_ref(),
                Some(&default),
                "default of {path}: doc says {cell}"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "undocumented keys in docs/configuration.md:\n{}",
        missing.join("\n")
    );
}
