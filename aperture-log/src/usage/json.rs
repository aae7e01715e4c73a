//! Small helpers shared by the format extractors: lenient field access, tool-call parameters,
//! error messages and the capture budget.

use serde_json::Value;

use crate::record::Usage;

/// Total bytes of tool-call arguments kept for one response.
pub(crate) const ARGS_LIMIT: usize = 8 << 20;
/// Content blocks, choices or candidates tracked for one response.
pub(crate) const MAX_ITEMS: usize = 4096;

/// A non-negative integer field (floats truncated, anything else 0).
pub(crate) fn num(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f > 0.0).map(|f| f as u64))
            .unwrap_or(0),
        _ => 0,
    }
}

/// A string field.
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An owned string field.
pub(crate) fn owned(v: &Value, key: &str) -> Option<String> {
    text(v, key).map(str::to_string)
}

/// An array field, or an empty slice.
pub(crate) fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Tool parameters: the JSON they hold, else the string itself.
pub(crate) fn params(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// Sets a member when `v` is an object (never panics, unlike indexing).
pub(crate) fn set(v: &mut Value, key: &str, val: Value) {
    if let Value::Object(o) = v {
        o.insert(key.to_string(), val);
    }
}

/// A string field's parameters, or the field as is when it is not a string.
pub(crate) fn params_of(v: &Value, key: &str) -> Value {
    match v.get(key) {
        Some(Value::String(s)) => params(s),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// The message of an error object: `{"error":{"message":…}}`, `{"error":"…"}`,
/// `{"message":…}`, else the error's `type`/`code`/`status`.
pub(crate) fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error").unwrap_or(v);
    if let Some(s) = e.as_str() {
        return Some(s.to_string());
    }
    ["message", "type", "code", "status"]
        .iter()
        .find_map(|k| match e.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
}

/// A usage marked missing.
pub(crate) fn missing() -> Usage {
    Usage {
        usage_missing: true,
        ..Usage::default()
    }
}

/// Appends to a bounded string: false (and nothing appended) once the limit is reached.
pub(crate) fn append_bounded(buf: &mut String, used: &mut usize, add: &str) -> bool {
    if *used + add.len() > ARGS_LIMIT {
        return false;
    }
    *used += add.len();
    buf.push_str(add);
    true
}

/// The bytes a rebuilt response body may hold: once over, the body is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    left: usize,
    over: bool,
}

impl Budget {
    /// A budget of `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            left: cap,
            over: false,
        }
    }

    /// Takes `n` bytes; false once the budget is exhausted (for good).
    pub(crate) fn take(&mut self, n: usize) -> bool {
        if self.over || n > self.left {
            self.over = true;
            return false;
        }
        self.left -= n;
        true
    }

    /// Whether the body still fits.
    pub(crate) fn ok(&self) -> bool {
        !self.over
    }
}

/// Splits a JSON array's complete top-level elements (for a truncated Gemini stream sent as one
/// array). Returns the elements and whether the closing `]` was seen.
pub(crate) fn array_elements(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut out = Vec::new();
    let mut i = match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) if bytes[i] == b'[' => i + 1,
        _ => return (out, false),
    };
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let mut start = None;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => {
                    if depth == 0 {
                        start = Some(i);
                    }
                    depth += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        if let Some(s) = start.take() {
                            out.push(&bytes[s..=i]);
                        }
                    }
                }
                b']' => return (out, true),
                _ => {}
            }
        }
        i += 1;
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_elements_of_truncated_arrays() {
        let (e, closed) = array_elements(b" [{\"a\":\"]}\"},\n{\"b\":[1]}, {\"c\":");
        assert_eq!(e, vec![&b"{\"a\":\"]}\"}"[..], &b"{\"b\":[1]}"[..]]);
        assert!(!closed);
        let (e, closed) = array_elements(b"[{}]");
        assert_eq!(e.len(), 1);
        assert!(closed);
    }

    #[test]
    fn numbers_are_lenient() {
        let v: Value = serde_json::json!({"a": 3, "b": -1, "c": 2.9, "d": "4"});
        assert_eq!(
            (num(&v, "a"), num(&v, "b"), num(&v, "c"), num(&v, "d")),
            (3, 0, 2, 0)
        );
    }
}
