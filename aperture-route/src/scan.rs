//! A single-pass, allocation-free JSON validator that finds the top-level `model` member.
//!
//! It accepts exactly what `serde_json::from_slice::<serde_json::Value>` accepts: RFC 8259
//! grammar, whitespace ` \t\n\r`, UTF-8 strings without raw control characters, valid escapes
//! with paired surrogates, finite numbers, and at most 127 nested containers (serde_json's
//! recursion limit). Nested values are skipped without allocating: containers are tracked in
//! a 128-bit stack.

use std::ops::Range;

/// The body is not JSON serde_json would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// Deepest nesting serde_json's `Value` parser accepts.
const MAX_DEPTH: u32 = 127;

/// What the top level held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopModel {
    /// The body is valid JSON but not an object, or the object has no `model` member.
    Missing,
    /// One `model` member whose value is not a string.
    NotString,
    /// One `model` member holding a string token at `span` (quotes included).
    String {
        /// The token's byte range.
        span: Range<usize>,
        /// Whether it holds escapes.
        escaped: bool,
    },
    /// Two or more `model` members.
    Duplicate,
}

/// Validates the whole body and reports its top-level `model` member.
pub(crate) fn scan(body: &[u8]) -> Result<TopModel, Invalid> {
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        s.value(0)?;
        return s.end().map(|()| TopModel::Missing);
    }
    s.i += 1;
    s.ws();
    let mut found = TopModel::Missing;
    if s.peek() == Some(b'}') {
        s.i += 1;
        return s.end().map(|()| found);
    }
    loop {
        let key_start = s.i;
        let key_escaped = s.string()?;
        let is_model = is_model_key(&body[key_start..s.i], key_escaped)?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        if is_model {
            let value_start = s.i;
            let this = if s.peek() == Some(b'"') {
                let escaped = s.string()?;
                TopModel::String {
                    span: value_start..s.i,
                    escaped,
                }
            } else {
                s.value(1)?;
                TopModel::NotString
            };
            found = match found {
                TopModel::Missing => this,
                _ => TopModel::Duplicate,
            };
        } else {
            s.value(1)?;
        }
        s.ws();
        match s.next()? {
            b',' => s.ws(),
            b'}' => break,
            _ => return Err(Invalid),
        }
    }
    s.end().map(|()| found)
}

/// Whether a key token (quotes included) decodes to `model`.
fn is_model_key(token: &[u8], escaped: bool) -> Result<bool, Invalid> {
    if !escaped {
        return Ok(token == b"\"model\"");
    }
    // Rare: decode only keys that hold escapes.
    let key: String = serde_json::from_slice(token).map_err(|_| Invalid)?;
    Ok(key == "model")
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Result<u8, Invalid> {
        let c = self.peek().ok_or(Invalid)?;
        self.i += 1;
        Ok(c)
    }

    fn eat(&mut self, want: u8) -> Result<(), Invalid> {
        if self.next()? == want {
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Only whitespace may follow the top-level value.
    fn end(&mut self) -> Result<(), Invalid> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Skips one value nested inside `outer_depth` containers.
    fn value(&mut self, outer_depth: u32) -> Result<(), Invalid> {
        let mut objects: u128 = 0; // bit n: the open container at level n is an object
        let mut level: u32 = 0; // open containers of this value
        'value: loop {
            self.ws();
            match self.peek().ok_or(Invalid)? {
                open @ (b'{' | b'[') => {
                    if outer_depth + level + 1 > MAX_DEPTH {
                        return Err(Invalid);
                    }
                    self.i += 1;
                    let is_object = open == b'{';
                    if is_object {
                        objects |= 1 << level;
                    } else {
                        objects &= !(1 << level);
                    }
                    level += 1;
                    self.ws();
                    if self.peek() == Some(if is_object { b'}' } else { b']' }) {
                        self.i += 1;
                        level -= 1;
                    } else {
                        if is_object {
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(Invalid),
            }
            // A value ended: close containers until one continues with `,`.
            while level > 0 {
                self.ws();
                let is_object = objects & (1 << (level - 1)) != 0;
                match (self.next()?, is_object) {
                    (b',', true) => {
                        self.ws();
                        self.member_key()?;
                        continue 'value;
                    }
                    (b',', false) => continue 'value,
                    (b'}', true) | (b']', false) => level -= 1,
                    _ => return Err(Invalid),
                }
            }
            return Ok(());
        }
    }

    /// A member's key and colon.
    fn member_key(&mut self) -> Result<(), Invalid> {
        self.string()?;
        self.ws();
        self.eat(b':')
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Invalid> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// A string token; returns whether it holds escapes.
    fn string(&mut self) -> Result<bool, Invalid> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            match self.next()? {
                b'"' => return Ok(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0..=0x1f => return Err(Invalid),
                0x80.. => self.utf8_run()?,
                _ => {}
            }
        }
    }

    /// The rest of a maximal run of non-ASCII bytes (its first byte was just read) must be
    /// UTF-8: a multi-byte character never holds an ASCII byte.
    fn utf8_run(&mut self) -> Result<(), Invalid> {
        let start = self.i - 1;
        let len = self.b[start..].iter().take_while(|&&c| c >= 0x80).count();
        std::str::from_utf8(&self.b[start..start + len]).map_err(|_| Invalid)?;
        self.i = start + len;
        Ok(())
    }

    fn escape(&mut self) -> Result<(), Invalid> {
        match self.next()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => match self.hex4()? {
                0xDC00..=0xDFFF => Err(Invalid),
                0xD800..=0xDBFF => {
                    self.eat(b'\\')?;
                    self.eat(b'u')?;
                    match self.hex4()? {
                        0xDC00..=0xDFFF => Ok(()),
                        _ => Err(Invalid),
                    }
                }
                _ => Ok(()),
            },
            _ => Err(Invalid),
        }
    }

    fn hex4(&mut self) -> Result<u16, Invalid> {
        let mut n = 0u16;
        for _ in 0..4 {
            let d = (self.next()? as char).to_digit(16).ok_or(Invalid)?;
            n = n << 4 | d as u16;
        }
        Ok(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), Invalid> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return Err(Invalid),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Invalid);
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Invalid);
            }
        }
        // Without an exponent, fewer than 300 characters stay below f64::MAX. Anything else
        // may be out of range: let serde_json itself decide, so range rules stay identical.
        let token = &self.b[start..self.i];
        if exponent || token.len() >= 300 {
            serde_json::from_slice::<serde_json::Value>(token).map_err(|_| Invalid)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
