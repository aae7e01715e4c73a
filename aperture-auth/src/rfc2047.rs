//! Decoding of RFC 2047 encoded words (`=?utf-8?q?Ren=C3=A9e?=`), as `tailscale serve` writes
//! non-ASCII names in `Tailscale-User-Name`.

/// Decodes every `=?charset?Q|B?text?=` word of a UTF-8 charset; anything else stays as is.
pub(crate) fn decode(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, tail) = rest.split_at(start);
        match encoded_word(tail) {
            Some((text, len)) => {
                // Whitespace between two encoded words is dropped (RFC 2047 §6.2).
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &tail[len..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &tail[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    // A display name never carries control characters (they could forge log lines).
    out.retain(|c| !c.is_control());
    out
}

/// Parses one encoded word at the start of `s`: the decoded text and the bytes it used.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let mut parts = inner.splitn(3, '?');
    let charset = parts.next()?;
    let encoding = parts.next()?;
    let rest = parts.next()?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    let bytes = match encoding {
        "q" | "Q" => q_decode(text)?,
        "b" | "B" => b64_decode(text)?,
        _ => return None,
    };
    let used = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((String::from_utf8(bytes).ok()?, used))
}

fn q_decode(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_q_and_b_words() {
        assert_eq!(decode("Alice Smith"), "Alice Smith");
        assert_eq!(decode("=?utf-8?q?Ren=C3=A9e_Smith?="), "Renée Smith");
        assert_eq!(decode("=?UTF-8?B?UmVuw6llIFNtaXRo?="), "Renée Smith");
        assert_eq!(decode("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
        assert_eq!(decode("x =?iso-8859-1?q?a?= y"), "x =?iso-8859-1?q?a?= y");
        assert_eq!(decode("=?utf-8?q?bad=ZZ?="), "=?utf-8?q?bad=ZZ?=");
    }
}
