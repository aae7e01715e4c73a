//! An incremental parser for AWS event-stream frames (`application/vnd.amazon.eventstream`), as
//! Bedrock's `invoke-with-response-stream` and `converse-stream` send them.
//!
//! A frame is: total length (u32 BE), headers length (u32 BE), prelude CRC32, headers, payload,
//! message CRC32. A bad prelude (wrong CRC, impossible lengths, a frame over the cap) stops
//! parsing for good, since the framing cannot be recovered; a frame whose message CRC is wrong is
//! skipped and counted.

use flate2::Crc;

/// The largest frame accepted: 16 MiB plus the fixed overhead (AWS's limit is 16 MiB).
pub const MAX_FRAME: usize = (16 << 20) + 16;

/// One frame's interesting headers and its payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventFrame<'a> {
    /// `:message-type`: `event`, `exception` or `error`.
    pub message_type: Option<&'a str>,
    /// `:event-type`: `chunk`, `messageStart`, `contentBlockDelta`, `metadata`, ….
    pub event_type: Option<&'a str>,
    /// `:exception-type` of an exception frame.
    pub exception_type: Option<&'a str>,
    /// `:error-code` of an error frame.
    pub error_code: Option<&'a str>,
    /// `:error-message` of an error frame.
    pub error_message: Option<&'a str>,
    /// The payload (JSON for Bedrock).
    pub payload: &'a [u8],
}

/// The parser state.
#[derive(Debug, Default)]
pub struct EventStreamParser {
    buf: Vec<u8>,
    failed: bool,
    bad_frames: u64,
}

impl EventStreamParser {
    /// A new parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the framing broke (parsing stopped).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Frames skipped for a wrong message CRC or unreadable headers.
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames
    }

    /// Whether bytes of an incomplete frame are pending.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Feeds one chunk; `out` is called once per complete, valid frame.
    pub fn push(&mut self, chunk: &[u8], out: &mut impl FnMut(EventFrame<'_>)) {
        if self.failed {
            return;
        }
        if self.buf.is_empty() {
            let used = self.parse_all(chunk, out);
            if !self.failed {
                self.buf.extend_from_slice(&chunk[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.buf);
            buf.extend_from_slice(chunk);
            let used = self.parse_all(&buf, out);
            if self.failed {
                buf.clear();
            } else {
                buf.drain(..used);
            }
            self.buf = buf;
        }
    }

    /// Parses every complete frame at the start of `data`; returns the bytes consumed.
    fn parse_all(&mut self, data: &[u8], out: &mut impl FnMut(EventFrame<'_>)) -> usize {
        let mut pos = 0;
        loop {
            let rest = &data[pos..];
            if rest.len() < 12 {
                return pos;
            }
            let total = be32(&rest[0..4]) as usize;
            let headers_len = be32(&rest[4..8]) as usize;
            let mut crc = Crc::new();
            crc.update(&rest[0..8]);
            if crc.sum() != be32(&rest[8..12])
                || !(16..=MAX_FRAME).contains(&total)
                || headers_len > total - 16
            {
                self.failed = true;
                return pos;
            }
            if rest.len() < total {
                return pos;
            }
            let frame = &rest[..total];
            let mut crc = Crc::new();
            crc.update(&frame[..total - 4]);
            let parsed = if crc.sum() == be32(&frame[total - 4..]) {
                parse_headers(&frame[12..12 + headers_len])
            } else {
                None
            };
            match parsed {
                Some(mut f) => {
                    f.payload = &frame[12 + headers_len..total - 4];
                    out(f);
                }
                None => self.bad_frames += 1,
            }
            pos += total;
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads the headers, keeping the string-valued ones Bedrock uses; None when malformed.
fn parse_headers(mut h: &[u8]) -> Option<EventFrame<'_>> {
    let mut f = EventFrame::default();
    while !h.is_empty() {
        let name_len = usize::from(h[0]);
        let name = h.get(1..1 + name_len)?;
        let kind = *h.get(1 + name_len)?;
        h = &h[2 + name_len..];
        let fixed = match kind {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return None,
        };
        if let Some(n) = fixed {
            h = h.get(n..)?;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*h.first()?, *h.get(1)?]));
        let value = h.get(2..2 + len)?;
        h = &h[2 + len..];
        if kind != 7 {
            continue;
        }
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        match name {
            b":message-type" => f.message_type = Some(value),
            b":event-type" => f.event_type = Some(value),
            b":exception-type" => f.exception_type = Some(value),
            b":error-code" => f.error_code = Some(value),
            b":error-message" => f.error_message = Some(value),
            _ => {}
        }
    }
    Some(f)
}

/// Decodes standard or URL-safe base64, padding optional, ASCII whitespace ignored.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut padded = false;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padded = true;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if padded {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

/// Encodes one frame (used by tests to produce Bedrock streams).
pub fn encode_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len().min(255) as u8);
        h.extend_from_slice(&name.as_bytes()[..name.len().min(255)]);
        h.push(7);
        let v = &value.as_bytes()[..value.len().min(u16::MAX.into())];
        h.extend_from_slice(&(v.len() as u16).to_be_bytes());
        h.extend_from_slice(v);
    }
    let total = (16 + h.len() + payload.len()) as u32;
    let mut f = Vec::with_capacity(total as usize);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let mut crc = Crc::new();
    crc.update(&f);
    f.extend_from_slice(&crc.sum().to_be_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(payload);
    let mut crc = Crc::new();
    crc.update(&f);
    f.extend_from_slice(&crc.sum().to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("a$").is_none());
    }

    #[test]
    fn frames_split_anywhere() {
        let mut wire = encode_frame(
            &[(":message-type", "event"), (":event-type", "chunk")],
            b"{\"bytes\":\"e30=\"}",
        );
        wire.extend(encode_frame(&[(":event-type", "metadata")], b"{}"));
        for step in 1..wire.len() {
            let mut p = EventStreamParser::new();
            let mut got = Vec::new();
            for c in wire.chunks(step) {
                p.push(c, &mut |f| {
                    got.push((f.event_type.map(str::to_string), f.payload.to_vec()))
                });
            }
            assert_eq!(got.len(), 2, "step {step}");
            assert_eq!(got[0].0.as_deref(), Some("chunk"));
            assert_eq!(got[1].1, b"{}");
            assert!(!p.has_pending() && !p.failed());
        }
    }

    #[test]
    fn corrupt_prelude_stops_and_bad_crc_skips() {
        let mut p = EventStreamParser::new();
        p.push(&[0xff; 40], &mut |_| panic!("no frame"));
        assert!(p.failed());
        let mut f = encode_frame(&[(":event-type", "x")], b"{}");
        let n = f.len();
        f[n - 1] ^= 1;
        let mut p = EventStreamParser::new();
        p.push(&f, &mut |_| panic!("no frame"));
        assert_eq!(p.bad_frames(), 1);
        assert!(!p.failed());
    }
}
