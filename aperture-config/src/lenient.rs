//! The lenient type check: parsed HuJSON → plain JSON that the raw types accept, plus warnings.
//!
//! Aperture decodes its config with Go's encoding/json, which skips what it cannot use and goes
//! on. We do the same, driven by the JSON schema derived from [`crate::RawConfig`], so the
//! schema and this check agree by construction:
//!
//! - an unknown key is a warning (`unknown config key`, or `json: unknown field` inside
//!   capability objects) with the nearest known key as a hint, and is dropped;
//! - a value of the wrong type is a warning (`json: cannot unmarshal …`) and the default is used
//!   (a wrong array element becomes its type's zero value, as in Go);
//! - a repeated key is a warning (`duplicate config key`) and the last one wins;
//! - `null` leaves the default in place.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Severity, pointer_push};
use crate::hujson::{Kind, Node};

/// Where a pointer's key (for object members) and value start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located {
    pub(crate) key: Option<usize>,
    pub(crate) value: usize,
}

/// Byte offsets of every key and value in the document, by JSON pointer.
pub(crate) type SpanIndex = HashMap<String, Located>;

/// The result of the check.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The value the raw types will accept.
    pub(crate) value: Value,
    /// Where everything is.
    pub(crate) spans: SpanIndex,
    /// Warnings (without positions yet).
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// Checks `root` against `schema` (a whole JSON schema document with `$defs`).
pub(crate) fn check(root: &Node, schema: &Value) -> Checked {
    let mut walk = Walk {
        schema,
        spans: HashMap::new(),
        diagnostics: Vec::new(),
    };
    walk.spans.insert(
        String::new(),
        Located {
            key: None,
            value: root.span.start,
        },
    );
    let value = walk
        .walk(root, schema, "", "")
        .unwrap_or_else(|| Value::Object(Map::new()));
    Checked {
        value,
        spans: walk.spans,
        diagnostics: walk.diagnostics,
    }
}

struct Walk<'s> {
    schema: &'s Value,
    spans: SpanIndex,
    diagnostics: Vec<Diagnostic>,
}

impl<'s> Walk<'s> {
    /// Follows `$ref` (only local `#/$defs/…` references exist in a derived schema).
    fn resolve(&self, mut s: &'s Value) -> &'s Value {
        for _ in 0..32 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(target) = r.strip_prefix('#').and_then(|p| self.schema.pointer(p)) else {
                break;
            };
            s = target;
        }
        s
    }

    fn alternatives(s: &'s Value) -> Option<&'s Vec<Value>> {
        s.get("anyOf")
            .or_else(|| s.get("oneOf"))
            .and_then(Value::as_array)
    }

    /// The JSON types a (resolved) schema allows, or `None` for "anything".
    fn types(s: &Value) -> Option<Vec<&str>> {
        match s.get("type")? {
            Value::String(t) => Some(vec![t.as_str()]),
            Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
            _ => None,
        }
    }

    fn is_any(&self, s: &Value) -> bool {
        match s {
            Value::Bool(b) => *b,
            Value::Object(o) => {
                !o.contains_key("type") && !o.contains_key("anyOf") && !o.contains_key("oneOf")
            }
            _ => false,
        }
    }

    fn accepts(&self, s: &'s Value, node: &Node) -> bool {
        let s = self.resolve(s);
        if self.is_any(s) {
            return true;
        }
        if let Some(alts) = Self::alternatives(s) {
            return alts.iter().any(|a| self.accepts(a, node));
        }
        Self::types(s).is_some_and(|ts| ts.iter().any(|t| type_accepts(t, s, node)))
    }

    fn expected(&self, s: &'s Value) -> String {
        let s = self.resolve(s);
        if let Some(alts) = Self::alternatives(s) {
            let names: Vec<String> = alts
                .iter()
                .map(|a| self.expected(a))
                .filter(|n| n != "null")
                .collect();
            return names.join(" or ");
        }
        let types = Self::types(s).unwrap_or_default();
        let names: Vec<&str> = types
            .iter()
            .filter(|t| **t != "null")
            .map(|t| go_type(t, s))
            .collect();
        names.join(" or ")
    }

    fn zero(&self, s: &'s Value) -> Value {
        let s = self.resolve(s);
        if let Some(first) = Self::alternatives(s).and_then(|a| a.first()) {
            return self.zero(first);
        }
        match Self::types(s).as_deref().and_then(|t| t.first().copied()) {
            Some("string") => Value::String(String::new()),
            Some("integer" | "number") => Value::from(0),
            Some("boolean") => Value::Bool(false),
            Some("array") => Value::Array(Vec::new()),
            Some("object") => Value::Object(Map::new()),
            _ => Value::Null,
        }
    }

    /// Records the spans of a subtree that is kept as written.
    fn index_all(&mut self, node: &Node, ptr: &str) {
        match &node.kind {
            Kind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = pointer_push(ptr, &i.to_string());
                    self.spans.insert(
                        p.clone(),
                        Located {
                            key: None,
                            value: item.span.start,
                        },
                    );
                    self.index_all(item, &p);
                }
            }
            Kind::Object(members) => {
                for m in members {
                    let p = pointer_push(ptr, &m.key);
                    let at = Located {
                        key: Some(m.key_span.start),
                        value: m.value.span.start,
                    };
                    self.spans.insert(p.clone(), at);
                    self.index_all(&m.value, &p);
                }
            }
            _ => {}
        }
    }

    fn walk(&mut self, node: &Node, s: &'s Value, ptr: &str, dotted: &str) -> Option<Value> {
        let s = self.resolve(s);
        if self.is_any(s) {
            self.index_all(node, ptr);
            return Some(node.to_value());
        }
        if matches!(node.kind, Kind::Null) {
            return None;
        }
        if let Some(alts) = Self::alternatives(s) {
            return match alts.iter().find(|a| self.accepts(a, node)) {
                Some(alt) => self.walk(node, alt, ptr, dotted),
                None => {
                    self.mismatch(node, s, ptr, dotted);
                    None
                }
            };
        }
        if !self.accepts(s, node) {
            self.mismatch(node, s, ptr, dotted);
            return None;
        }
        match &node.kind {
            Kind::Object(members) => Some(self.object(members, s, ptr, dotted)),
            Kind::Array(items) => {
                let item_schema = s.get("items").unwrap_or(&Value::Bool(true));
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let p = pointer_push(ptr, &i.to_string());
                    self.spans.insert(
                        p.clone(),
                        Located {
                            key: None,
                            value: item.span.start,
                        },
                    );
                    let v = self.walk(item, item_schema, &p, dotted);
                    out.push(v.unwrap_or_else(|| self.zero(item_schema)));
                }
                Some(Value::Array(out))
            }
            _ => Some(node.to_value()),
        }
    }

    fn object(
        &mut self,
        members: &[crate::hujson::Member],
        s: &'s Value,
        ptr: &str,
        dotted: &str,
    ) -> Value {
        let props = s.get("properties").and_then(Value::as_object);
        let additional = s.get("additionalProperties");
        let json_style = s.get("x-aperture-unknown-field").and_then(Value::as_str) == Some("json");
        let mut out = Map::new();
        let mut seen = HashSet::new();
        for m in members {
            let p = pointer_push(ptr, &m.key);
            let at = Located {
                key: Some(m.key_span.start),
                value: m.value.span.start,
            };
            self.spans.insert(p.clone(), at);
            if !seen.insert(m.key.as_str()) {
                let msg = format!("duplicate config key {}", quote(&m.key));
                self.diagnostics
                    .push(Diagnostic::new(Severity::Warning, p.clone(), msg));
            }
            let child_dotted = if dotted.is_empty() {
                m.key.clone()
            } else {
                format!("{dotted}.{}", m.key)
            };
            let child_schema = match props.and_then(|ps| ps.get(&m.key)) {
                Some(cs) => Some(cs),
                None => match additional {
                    Some(Value::Bool(false)) => None,
                    Some(a) => Some(a),
                    None => Some(&Value::Bool(true)),
                },
            };
            match child_schema {
                Some(cs) => {
                    if let Some(v) = self.walk(&m.value, cs, &p, &child_dotted) {
                        out.insert(m.key.clone(), v);
                    }
                }
                None => {
                    self.index_all(&m.value, &p);
                    let msg = if json_style {
                        format!("json: unknown field {}", quote(&m.key))
                    } else {
                        format!("unknown config key {}", quote(&m.key))
                    };
                    let mut d = Diagnostic::new(Severity::Warning, p, msg);
                    let known = props
                        .into_iter()
                        .flat_map(|ps| ps.keys().map(String::as_str));
                    if let Some(near) = nearest(&m.key, known) {
                        d = d.with_help(format!("did you mean {}?", quote(near)));
                    }
                    self.diagnostics.push(d);
                }
            }
        }
        Value::Object(out)
    }

    fn mismatch(&mut self, node: &Node, s: &'s Value, ptr: &str, dotted: &str) {
        let found = match &node.kind {
            Kind::Number(n) if n.is_f64() => format!("number {n}"),
            Kind::Number(n) if n.as_i64().is_some_and(|i| i < 0) => format!("number {n}"),
            k => k.go_name().to_string(),
        };
        let path = if dotted.is_empty() { "config" } else { dotted };
        let msg = format!(
            "json: cannot unmarshal {found} into {path} of type {}",
            self.expected(s)
        );
        self.diagnostics
            .push(Diagnostic::new(Severity::Warning, ptr, msg));
    }
}

fn type_accepts(t: &str, s: &Value, node: &Node) -> bool {
    match (t, &node.kind) {
        ("string", Kind::String(_)) | ("boolean", Kind::Bool(_)) => true,
        ("array", Kind::Array(_)) | ("object", Kind::Object(_)) | ("null", Kind::Null) => true,
        ("number", Kind::Number(_)) => true,
        ("integer", Kind::Number(n)) => {
            if is_unsigned(s) {
                n.as_u64().is_some()
            } else {
                n.as_i64().is_some()
            }
        }
        _ => false,
    }
}

fn is_unsigned(s: &Value) -> bool {
    s.get("minimum")
        .and_then(Value::as_f64)
        .is_some_and(|m| m >= 0.0)
        || s.get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| f.starts_with("uint"))
}

fn go_type(t: &str, s: &Value) -> &'static str {
    match t {
        "string" => "string",
        "integer" if is_unsigned(s) => "uint",
        "integer" => "int",
        "number" => "float64",
        "boolean" => "bool",
        "array" => "array",
        "object" => "object",
        _ => "value",
    }
}

/// A JSON string literal for messages.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The known key closest to `key`, if it is close enough to be a plausible typo.
pub(crate) fn nearest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let lower = key.to_lowercase();
    let limit = (key.chars().count() / 3).max(1);
    known
        .filter(|k| !k.starts_with('$'))
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance in Unicode scalar values.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_key() {
        let known = ["baseurl", "models", "apikey", "authorization"];
        assert_eq!(nearest("basurl", known.iter().copied()), Some("baseurl"));
        assert_eq!(nearest("BaseURL", known.iter().copied()), Some("baseurl"));
        assert_eq!(nearest("zzz", known.iter().copied()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
