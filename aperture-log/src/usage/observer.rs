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
        }
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
            ..
        } = self;
        decoder.push(chunk, &mut |bytes| {
            feed(framing, extractor, observed, bytes);
        });
    }

    /// Ends the body (normally, or after a disconnect or upstream error) and reports.
    pub fn finish(mut self) -> Observation {
        let Self {
            decoder,
            framing,
            extractor,
            observed,
            ..
        } = &mut self;
        decoder.finish(&mut |bytes| feed(framing, extractor, observed, bytes));
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
                    p.push(&buf, &mut |e| ex.sse(e.event, e.data));
                    ex.finish(&mut obs);
                } else {
                    extract::document(self.format, &buf, self.cap, &mut obs);
                }
            }
        }
        if obs.usage.usage_missing {
            if let Some(u) = self.header_usage {
                obs.usage = u;
            }
        }
        obs
    }
}

/// Routes decoded bytes to the framing, stopping past [`MAX_OBSERVED`].
fn feed(framing: &mut Framing, extractor: &mut Extractor, observed: &mut usize, bytes: &[u8]) {
    if *observed > MAX_OBSERVED {
        return;
    }
    *observed += bytes.len();
    match framing {
        Framing::Sse(p) => p.push(bytes, &mut |e| extractor.sse(e.event, e.data)),
        Framing::EventStream(p) => p.push(bytes, &mut |f| extractor.frame(f)),
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
}
