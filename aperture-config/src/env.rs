//! `${VAR}` substitution in string values (SPEC.md §1.2).
//!
//! `${NAME}` is replaced by the variable's value (an empty variable counts as set), `$${` is a
//! literal `${`, and results are not substituted again. Keys are never substituted. A `${` that
//! does not form a valid `${NAME}` is kept as written.

use serde_json::Value;

use crate::diagnostic::pointer_push;

/// Looks up an environment variable by name.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Substitutes one string. Unset names are appended to `missing` (in order, once each) and left
/// in the output as written.
pub fn substitute(s: &str, lookup: EnvLookup<'_>, missing: &mut Vec<String>) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(name) = macro_name(tail) {
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_string());
                    }
                    out.push_str(&tail[..name.len() + 3]);
                }
            }
            rest = &tail[name.len() + 3..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether `s` holds a `${NAME}` reference (so its value comes from the environment).
pub fn has_macro(s: &str) -> bool {
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            rest = after;
        } else if macro_name(tail).is_some() {
            return true;
        } else {
            rest = &tail[1..];
        }
    }
    false
}

/// The `NAME` of a `${NAME}` at the start of `s`.
fn macro_name(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(name)
}

/// Substitutes every string value in `v`. Collects every unset name with the pointer of the
/// string it appears in (repeats included, in tree order), and the pointers of every string
/// that held a reference.
pub(crate) fn substitute_value(
    v: &mut Value,
    ptr: &str,
    lookup: EnvLookup<'_>,
    missing: &mut Vec<(String, String)>,
    substituted: &mut Vec<String>,
) {
    match v {
        Value::String(s) => {
            if has_macro(s) {
                let mut names = Vec::new();
                *s = substitute(s, lookup, &mut names);
                missing.extend(names.into_iter().map(|n| (n, ptr.to_string())));
                substituted.push(ptr.to_string());
            } else if s.contains("$${") {
                *s = substitute(s, lookup, &mut Vec::new());
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute_value(
                    item,
                    &pointer_push(ptr, &i.to_string()),
                    lookup,
                    missing,
                    substituted,
                );
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                substitute_value(item, &pointer_push(ptr, k), lookup, missing, substituted);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            "LOOP" => Some("${A}".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_collects_missing_in_order() {
        let mut missing = Vec::new();
        let out = substitute("x${A}y${EMPTY}z${B}${C}${B}", &env, &mut missing);
        assert_eq!(out, "xalphayz${B}${C}${B}");
        assert_eq!(missing, ["B", "C"]);
    }

    #[test]
    fn escapes_and_non_macros_stay() {
        let mut missing = Vec::new();
        assert_eq!(
            substitute("$${A} $A ${1x} ${ ${A", &env, &mut missing),
            "${A} $A ${1x} ${ ${A"
        );
        assert!(missing.is_empty());
        // Results are not substituted again.
        assert_eq!(substitute("${LOOP}", &env, &mut missing), "${A}");
        assert!(has_macro("k=${A}"));
        assert!(!has_macro("$${A}"));
    }
}
