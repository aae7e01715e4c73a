//! An incremental, bounded `text/event-stream` parser following the WHATWG rules.
//!
//! Lines end with CR, LF or CRLF (a CRLF split across chunks counts once); a blank line
//! dispatches the pending event; `data:` lines are joined with `\n`; `event:` sets the type
//! (default `message`); `id:` sets the last event id (kept across events, ignored when it holds a
//! NUL); lines starting with `:` are comments; one space after the colon is stripped; a leading
//! UTF-8 BOM is skipped. At end of stream a pending, undispatched event is discarded, as WHATWG
//! says.
//!
//! Memory is bounded: when the pending event (its partial line, data and type) would grow past the
//! cap, the event is dropped, the rest of it is skipped up to the next blank line, and
//! [`SseParser::dropped_events`] counts it.

use std::borrow::Cow;

/// The default cap on one event: 16 MiB.
pub const DEFAULT_EVENT_CAP: usize = 16 << 20;

/// One dispatched event. It borrows the parser's buffers and lives for one callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The event type: the last `event:` field, or `message`.
    pub event: &'a str,
    /// The `data:` lines joined with `\n` (invalid UTF-8 replaced).
    pub data: &'a str,
    /// The last event id seen so far, if any.
    pub id: Option<&'a str>,
}

/// The parser state. Feed it chunks with [`SseParser::push`].
#[derive(Debug)]
pub struct SseParser {
    cap: usize,
    /// The current line, when it spans chunks.
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    event: Vec<u8>,
    id: Option<Vec<u8>>,
    /// The previous chunk ended with CR: a leading LF in the next one belongs to it.
    skip_lf: bool,
    /// Skipping an oversized event up to the next blank line.
    discarding: bool,
    /// While discarding: the current line already has bytes.
    discard_line_nonempty: bool,
    first_line: bool,
    dropped: u64,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(DEFAULT_EVENT_CAP)
    }
}

impl SseParser {
    /// A parser dropping events larger than `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: Vec::new(),
            id: None,
            skip_lf: false,
            discarding: false,
            discard_line_nonempty: false,
            first_line: true,
            dropped: 0,
        }
    }

    /// How many events were dropped for being larger than the cap.
    pub fn dropped_events(&self) -> u64 {
        self.dropped
    }

    /// Whether an event is pending (fields or a partial line seen, no blank line yet).
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty()
            || self.has_data
            || !self.event.is_empty()
            || self.discarding
            || self.discard_line_nonempty
    }

    /// Feeds one chunk; `out` is called once per dispatched event, in order.
    pub fn push(&mut self, chunk: &[u8], out: &mut impl FnMut(SseEvent<'_>)) {
        let mut rest = chunk;
        if self.skip_lf && !rest.is_empty() {
            self.skip_lf = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let part = &rest[..pos];
            let cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            self.end_line(part, out);
        }
        self.append_partial(rest);
    }

    /// Ends the stream: a pending event is discarded (WHATWG). Returns whether one was pending.
    pub fn finish(&mut self) -> bool {
        let pending = self.has_pending();
        self.line.clear();
        self.reset_event();
        self.discarding = false;
        self.discard_line_nonempty = false;
        pending
    }

    fn pending_len(&self) -> usize {
        self.line.len() + self.data.len() + self.event.len()
    }

    fn append_partial(&mut self, part: &[u8]) {
        if part.is_empty() {
            return;
        }
        if self.discarding {
            self.discard_line_nonempty = true;
            return;
        }
        if self.pending_len() + part.len() > self.cap {
            self.start_discarding();
            self.discard_line_nonempty = true;
            return;
        }
        self.line.extend_from_slice(part);
    }

    fn start_discarding(&mut self) {
        self.discarding = true;
        self.line.clear();
        self.reset_event();
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.event.clear();
    }

    /// A line terminator arrived: `part` completes the current line.
    fn end_line(&mut self, part: &[u8], out: &mut impl FnMut(SseEvent<'_>)) {
        if self.discarding {
            let empty = part.is_empty() && !self.discard_line_nonempty;
            self.discard_line_nonempty = false;
            if empty {
                self.discarding = false;
                self.dropped += 1;
                self.reset_event();
            }
            return;
        }
        if self.line.is_empty() {
            self.process_line(part, out);
        } else if self.pending_len() + part.len() > self.cap {
            // The line ends here, so the rest of the event is skipped up to a blank line.
            self.start_discarding();
        } else {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(part);
            self.process_line(&line, out);
            line.clear();
            self.line = line;
        }
    }

    fn process_line(&mut self, mut line: &[u8], out: &mut impl FnMut(SseEvent<'_>)) {
        if self.first_line {
            self.first_line = false;
            if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.len() + self.event.len() + value.len() + 1 > self.cap {
                    self.start_discarding();
                    return;
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
                self.has_data = true;
            }
            b"event" => {
                if self.data.len() + value.len() > self.cap {
                    self.start_discarding();
                    return;
                }
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            b"id" if !value.contains(&0) && value.len() <= self.cap => {
                self.id = Some(value.to_vec());
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut impl FnMut(SseEvent<'_>)) {
        if !self.has_data {
            self.reset_event();
            return;
        }
        let data_bytes = &self.data[..self.data.len().saturating_sub(1)];
        let data = String::from_utf8_lossy(data_bytes);
        let event: Cow<'_, str> = if self.event.is_empty() {
            Cow::Borrowed("message")
        } else {
            String::from_utf8_lossy(&self.event)
        };
        let id = self.id.as_deref().map(String::from_utf8_lossy);
        out(SseEvent {
            event: &event,
            data: &data,
            id: id.as_deref(),
        });
        self.reset_event();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]], cap: usize) -> (Vec<(String, String, Option<String>)>, u64) {
        let mut p = SseParser::new(cap);
        let mut got = Vec::new();
        for c in chunks {
            p.push(c, &mut |e| {
                got.push((
                    e.event.to_string(),
                    e.data.to_string(),
                    e.id.map(str::to_string),
                ))
            });
        }
        p.finish();
        (got, p.dropped_events())
    }

    #[test]
    fn fields_comments_and_line_ends() {
        let (got, _) = parse(
            &[b"\xEF\xBB\xBF: hi\r\nevent: a\rdata:x\r\ndata:  y\n\nid: 7\ndata\n\n"],
            1024,
        );
        assert_eq!(
            got,
            vec![
                ("a".into(), "x\n y".into(), None),
                ("message".into(), "".into(), Some("7".into())),
            ]
        );
    }

    #[test]
    fn crlf_split_across_chunks_counts_once() {
        let (got, _) = parse(&[b"data: a\r", b"\n", b"\r", b"\ndata: b\r", b"\r"], 1024);
        assert_eq!(
            got,
            vec![
                ("message".into(), "a".into(), None),
                ("message".into(), "b".into(), None)
            ]
        );
    }

    #[test]
    fn oversized_events_are_dropped_and_counted() {
        let big = vec![b'x'; 100];
        let (got, dropped) = parse(&[b"data: ", &big, b"\ndata: more\n\n", b"data: ok\n\n"], 64);
        assert_eq!(dropped, 1);
        assert_eq!(got, vec![("message".into(), "ok".into(), None)]);
    }

    #[test]
    fn pending_event_at_end_is_discarded() {
        let (got, _) = parse(&[b"data: a\n"], 64);
        assert!(got.is_empty());
    }
}
