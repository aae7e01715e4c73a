//! The observer: watches a copy of a response body as it is relayed and reports usage, tool
//! calls and the rebuilt body at the end.

use http::HeaderMap;

use super::decode::Decoder;
use super::eventstream::EventStreamParser;
use super::extract::{self, Extractor};
use super::format::ResponseFormat;
use super::sse::{DEFAULT_EVENT_CAP, SseParser};
use crate::record::{Observation, Usage};

/// The least a non-stream body may buffer for parsing, whatever the capture cap.
pub const MIN_DOCUMENT_BUFFER: usize = 16 << 20;
/// Decoded bytes observed per response; past this the observer stops watching (a decompression
/// bomb, or a stream far larger than any real response).
pub const MAX_OBSERVED: usize = 256 << 20;

#[derive(Debug)]
enum Framing {
    Sse(SseParser),
    EventStream(EventStreamParser),
    Document {
        buf: Vec<u8>,
        limit: usize,
        overflow: bool,
    },
}

/// Watches one response body. It never fails: whatever the bytes, [`Observer::finish`] returns
/// what could be learned, with `usage_missing` or `incomplete` set when it was not enough.
///
/// Streams are recognised by content type: `text/event-stream` (SSE) and
/// `application/vnd.amazon.eventstream` (Bedrock frames); anything else is one JSON document,
/// buffered up to the larger of the capture cap and [`MIN_DOCUMENT_BUFFER`]. Compressed copies
/// (`gzip`, `deflate`, `br`, or a bare gzip magic) are decoded incrementally.
#[derive(Debug)]
pub struct Observer {
    format: ResponseFormat,
    cap: usize,
    decoder: Decoder,
    framing: Framing,
    extractor: Extractor,
    observed: usize,
    header_usage: Option<Usage>,
    raw: Option<RawEvents>,
}

/// Parsed messages kept for a hook's `raw_responses` (SPEC.md §10.2), up to a byte budget.
#[derive(Debug)]
struct RawEvents {
    events: Vec<serde_json::Value>,
    room: usize,
}

impl RawEvents {
    fn push(&mut self, data: &[u8]) {
        if data.len() > self.room {
            self.room = 0;
            return;
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
            self.room -= data.len();
            self.events.push(v);
        }
    }
}

impl Observer {
    /// An observer for a response in `format` with the given `Content-Type` and
    /// `Content-Encoding`; `capture_cap` bounds the `response_body` it returns.
    pub fn new(
        format: ResponseFormat,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        capture_cap: usize,
    ) -> Self {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let framing = match media.as_str() {
            "text/event-stream" => Framing::Sse(SseParser::new(DEFAULT_EVENT_CAP)),
            "application/vnd.amazon.eventstream" => Framing::EventStream(EventStreamParser::new()),
            _ => Framing::Document {
                buf: Vec::new(),
                limit: capture_cap.max(MIN_DOCUMENT_BUFFER),
                overflow: false,
            },
        };
        Self {
            format,
            cap: capture_cap,
            decoder: Decoder::new(content_encoding),
            framing,
            extractor: Extractor::new(format, capture_cap),
            observed: 0,
            header_usage: None,
            raw: None,
        }
    }

    /// Also keeps every message of the response as parsed JSON (each SSE event's data, each
    /// Bedrock frame's payload, or the single document), up to `cap` bytes of them, for
    /// [`Observation::raw_responses`]. Off unless a hook asks for it.
    pub fn keep_raw(&mut self, cap: usize) {
        self.raw = Some(RawEvents {
            events: Vec::new(),
            room: cap,
        });
    }

    /// Reads usage the provider put in response headers (Bedrock's
    /// `X-Amzn-Bedrock-Input-Token-Count`, `-Output-Token-Count`,
    /// `-Cache-Read-Input-Token-Count`, `-Cache-Write-Input-Token-Count`), used only when the
    /// body has none.
    pub fn response_headers(&mut self, headers: &HeaderMap) {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (input, output) = (
            get("x-amzn-bedrock-input-token-count"),
            get("x-amzn-bedrock-output-token-count"),
        );
        if input.is_some() || output.is_some() {
            self.header_usage = Some(Usage {
                input: input.unwrap_or(0),
                output: output.unwrap_or(0),
                cache_read: get("x-amzn-bedrock-cache-read-input-token-count").unwrap_or(0),
                cache_write_5m: get("x-amzn-bedrock-cache-write-input-token-count").unwrap_or(0),
                ..Usage::default()
            });
        }
    }

    /// Observes one body chunk, exactly as relayed.
    pub fn push(&mut self, chunk: &[u8]) {
        let Self {
            decoder,
            framing,
            extractor,
            observed,
            raw,
            ..
        } = self;
        decoder.push(chunk, &mut |bytes| {
            feed(framing, extractor, observed, raw, bytes);
        });
    }

    /// Ends the body (normally, or after a disconnect or upstream error) and reports.
    pub fn finish(mut self) -> Observation {
        let Self {
            decoder,
            framing,
            extractor,
            observed,
            raw,
            ..
        } = &mut self;
        decoder.finish(&mut |bytes| feed(framing, extractor, observed, raw, bytes));
        let mut obs = Observation::default();
        match self.framing {
            Framing::Sse(mut p) => {
                p.finish();
                self.extractor.finish(&mut obs);
            }
            Framing::EventStream(_) => self.extractor.finish(&mut obs),
            Framing::Document { buf, overflow, .. } => {
                if overflow {
                    obs.usage.usage_missing = true;
                } else if looks_like_sse(&buf) {
                    let mut p = SseParser::new(DEFAULT_EVENT_CAP);
                    let mut ex = Extractor::new(self.format, self.cap);
                    let raw = &mut self.raw;
                    p.push(&buf, &mut |e| {
                        if let Some(r) = raw.as_mut() {
                            r.push(e.data.as_bytes());
                        }
                        ex.sse(e.event, e.data);
                    });
                    ex.finish(&mut obs);
                } else {
                    if let Some(r) = self.raw.as_mut() {
                        r.push(&buf);
                    }
                    extract::document(self.format, &buf, self.cap, &mut obs);
                }
            }
        }
        if obs.usage.usage_missing {
            if let Some(u) = self.header_usage {
                obs.usage = u;
            }
        }
        obs.raw_responses = self.raw.map(|r| r.events);
        obs
    }
}

/// Routes decoded bytes to the framing, stopping past [`MAX_OBSERVED`].
fn feed(
    framing: &mut Framing,
    extractor: &mut Extractor,
    observed: &mut usize,
    raw: &mut Option<RawEvents>,
    bytes: &[u8],
) {
    if *observed > MAX_OBSERVED {
        return;
    }
    *observed += bytes.len();
    match framing {
        Framing::Sse(p) => p.push(bytes, &mut |e| {
            if let Some(r) = raw.as_mut() {
                r.push(e.data.as_bytes());
            }
            extractor.sse(e.event, e.data)
        }),
        Framing::EventStream(p) => p.push(bytes, &mut |f| {
            if let Some(r) = raw.as_mut() {
                r.push(f.payload);
            }
            extractor.frame(f)
        }),
        Framing::Document {
            buf,
            limit,
            overflow,
        } => {
            if *overflow || buf.len() + bytes.len() > *limit {
                *overflow = true;
                *buf = Vec::new();
            } else {
                buf.extend_from_slice(bytes);
            }
        }
    }
}

/// A body sent without `text/event-stream` that is an event stream all the same.
fn looks_like_sse(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let head = &buf[start..];
    head.starts_with(b"data:") || head.starts_with(b"event:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observer_is_send() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Observer>();
    }

    #[test]
    fn raw_messages_are_kept_only_when_asked_and_within_budget() {
        let sse = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n\
                    data: {\"type\":\"ping\"}\n\ndata: [DONE]\n\n";
        let mut o = Observer::new(
            ResponseFormat::AnthropicMessages,
            Some("text/event-stream"),
            None,
            1 << 20,
        );
        o.keep_raw(1 << 20);
        o.push(sse);
        let raw = o.finish().raw_responses.unwrap();
        assert_eq!(raw.len(), 2, "[DONE] is not JSON: {raw:?}");
        assert_eq!(raw[1]["type"], "ping");

        let mut o = Observer::new(
            ResponseFormat::OpenAiChat,
            Some("application/json"),
            None,
            1 << 20,
        );
        o.keep_raw(1 << 20);
        o.push(br#"{"id":"c1","choices":[]}"#);
        assert_eq!(o.finish().raw_responses.unwrap()[0]["id"], "c1");

        let mut small = Observer::new(
            ResponseFormat::AnthropicMessages,
            Some("text/event-stream"),
            None,
            1 << 20,
        );
        small.keep_raw(30);
        small.push(sse);
        assert_eq!(
            small.finish().raw_responses.unwrap().len(),
            1,
            "budget of 30 bytes"
        );

        let mut off = Observer::new(ResponseFormat::OpenAiChat, None, None, 1 << 20);
        off.push(br#"{"id":"c1"}"#);
        assert!(off.finish().raw_responses.is_none());
    }
}
