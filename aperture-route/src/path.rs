//! Request-path segments: percent-decoding and the checks SPEC.md §3.2 puts on them.

use std::borrow::Cow;

/// Percent-decodes a segment; `None` for a malformed escape or a result that is not UTF-8.
pub(crate) fn percent_decode(seg: &str) -> Option<Cow<'_, str>> {
    if !seg.contains('%') {
        return Some(Cow::Borrowed(seg));
    }
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether every `%` in the segment starts a two-hex-digit escape.
pub(crate) fn escapes_well_formed(seg: &str) -> bool {
    let bytes = seg.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + off;
        let ok = matches!(
            (bytes.get(at + 1), bytes.get(at + 2)),
            (Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit()
        );
        if !ok {
            return false;
        }
        i = at + 3;
    }
    true
}

/// Whether the segment is empty, `.` or `..` (dots possibly percent-encoded).
pub(crate) fn is_dot_or_empty(seg: &str) -> bool {
    match seg {
        "" | "." | ".." => true,
        _ if seg.len() <= 6 && seg.contains('%') => {
            matches!(percent_decode(seg).as_deref(), Some("." | ".."))
        }
        _ => false,
    }
}

/// Whether the segment holds an encoded `/` or `\` (`%2F`, `%5C`, any case).
pub(crate) fn has_encoded_separator(seg: &str) -> bool {
    seg.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_uppercase()),
                (b'2', b'F') | (b'5', b'C')
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("a%3A0").as_deref(), Some("a:0"));
        assert_eq!(
            percent_decode("qwen%2fqwen3").as_deref(),
            Some("qwen/qwen3")
        );
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }

    #[test]
    fn escape_shape() {
        assert!(escapes_well_formed("a%20b%2Fc"));
        assert!(escapes_well_formed("none"));
        assert!(!escapes_well_formed("a%2"));
        assert!(!escapes_well_formed("a%g0"));
        assert!(!escapes_well_formed("%"));
    }

    #[test]
    fn dots_and_empties() {
        for s in ["", ".", "..", "%2e", "%2E%2e", ".%2E"] {
            assert!(is_dot_or_empty(s), "{s:?}");
        }
        for s in ["...", "a", ".a", "%2e%2e%2e", "v1"] {
            assert!(!is_dot_or_empty(s), "{s:?}");
        }
    }

    #[test]
    fn separators() {
        for s in ["a%2Fb", "a%2fb", "%5C", "x%5cy"] {
            assert!(has_encoded_separator(s), "{s:?}");
        }
        for s in ["a/b", "%25", "%2", "a%20b", "%3A"] {
            assert!(!has_encoded_separator(s), "{s:?}");
        }
    }
}
