//! What the mock answers: [`Reply`], and [`Reply::auto`] which picks a realistic provider reply.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::Received;
use super::formats;

/// What happens after the last chunk of a [`Reply::Sse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// The body ends normally.
    End,
    /// The body stays open forever without another byte (until the client goes away).
    Hang,
}

/// One answer of the mock.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete body with `Content-Length`; `Content-Type: application/json` unless `headers`
    /// sets one.
    Json {
        /// The status.
        status: StatusCode,
        /// Response headers.
        headers: HeaderMap,
        /// The exact body bytes.
        body: Bytes,
    },
    /// A streamed body: each chunk is sent as one data frame after its delay, never buffered.
    /// `Content-Type: text/event-stream` and `Cache-Control: no-cache` unless `headers` sets
    /// them (a different content type streams any format, e.g. Gemini's JSON array).
    Sse {
        /// The status.
        status: StatusCode,
        /// Response headers.
        headers: HeaderMap,
        /// `(delay before this chunk, chunk)`, in order.
        events: Vec<(Duration, Bytes)>,
        /// End the body after the last chunk, or keep it open.
        then: Then,
    },
    /// Never send response headers (header-timeout tests).
    Hang,
    /// Arbitrary bytes with exactly `headers` (no defaults), each chunk one data frame, e.g. a
    /// [`gzip_stored`](super::gzip_stored) body with `Content-Encoding: gzip`.
    Raw {
        /// The status.
        status: StatusCode,
        /// Response headers, sent as given.
        headers: HeaderMap,
        /// Body chunks, sent back to back.
        chunks: Vec<Bytes>,
    },
    /// A redirect (`302`, `307`, ...) with an empty body.
    Redirect {
        /// The status.
        status: StatusCode,
        /// The `Location` header (an invalid value answers 500).
        location: String,
    },
}

impl Reply {
    /// A JSON reply with no extra headers.
    pub fn json(status: StatusCode, body: &Value) -> Reply {
        Reply::Json {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    /// A `200` event stream of `events` that then ends.
    pub fn sse(events: Vec<(Duration, Bytes)>) -> Reply {
        Reply::Sse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            events,
            then: Then::End,
        }
    }

    /// [`Reply::auto_with_delay`] with no delay between stream events.
    pub fn auto(req: &Received) -> Reply {
        Self::auto_with_delay(req, Duration::ZERO)
    }

    /// A realistic provider reply chosen from the path and body; streamed events (when the body
    /// asks for a stream) are spaced by `delay` (the first one is sent at once).
    ///
    /// - `…/v1/messages` (Anthropic): a `message`, or with `"stream": true` the event sequence
    ///   `message_start`, `content_block_start`, `ping`, 3 × `content_block_delta`,
    ///   `content_block_stop`, `message_delta`, `message_stop`; `…/v1/messages/count_tokens`:
    ///   `{"input_tokens":12}`.
    /// - `…/chat/completions` (OpenAI Chat): a `chat.completion`, or `chat.completion.chunk`s
    ///   (a usage chunk with `"choices":[]` if `stream_options.include_usage`), then `[DONE]`.
    /// - `…/responses` (OpenAI Responses): a `response`, or the `response.*` event sequence
    ///   ending with `response.completed`.
    /// - `…/models/{m}:generateContent` / `:streamGenerateContent` (Gemini; `?alt=sse` for SSE,
    ///   else a streamed JSON array) / `:countTokens`; `…/models/{m}:rawPredict` /
    ///   `:streamRawPredict` answer like Anthropic (Claude on Vertex).
    /// - anything else: 404 `{"error":"mock: no route for <path>"}`.
    ///
    /// Usage is always [`INPUT_TOKENS`](super::INPUT_TOKENS) in and
    /// [`OUTPUT_TOKENS`](super::OUTPUT_TOKENS) out (cached and reasoning 0; Gemini reports 3
    /// `thoughtsTokenCount` when the request has `generationConfig.thinkingConfig`).
    pub fn auto_with_delay(req: &Received, delay: Duration) -> Reply {
        let path = req.path();
        let body = req.json();
        let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
        let model = body.get("model").and_then(Value::as_str);
        if path.ends_with("/v1/messages/count_tokens") {
            return formats::json_reply(
                StatusCode::OK,
                HeaderMap::new(),
                &serde_json::json!({"input_tokens": formats::INPUT_TOKENS}),
            );
        }
        if path.ends_with("/v1/messages") {
            return formats::anthropic(model.unwrap_or("claude-mock"), stream, delay);
        }
        if path.ends_with("/chat/completions") {
            let include_usage = body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true);
            let model = model.unwrap_or("gpt-mock");
            return formats::openai_chat(model, stream, include_usage, delay);
        }
        if path.ends_with("/responses") {
            return formats::openai_responses(model.unwrap_or("gpt-mock"), stream, delay);
        }
        if let Some((model, method)) = google_model_path(path) {
            let thinking = body.pointer("/generationConfig/thinkingConfig").is_some();
            let sse = req
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
            match method {
                "generateContent" => return formats::gemini(model, thinking),
                "streamGenerateContent" => {
                    return formats::gemini_stream(model, thinking, sse, delay);
                }
                "countTokens" => {
                    return formats::json_reply(
                        StatusCode::OK,
                        HeaderMap::new(),
                        &serde_json::json!({"totalTokens": formats::INPUT_TOKENS}),
                    );
                }
                "rawPredict" => return formats::anthropic(model, false, delay),
                "streamRawPredict" => return formats::anthropic(model, true, delay),
                _ => {}
            }
        }
        formats::json_reply(
            StatusCode::NOT_FOUND,
            HeaderMap::new(),
            &serde_json::json!({"error": format!("mock: no route for {path}")}),
        )
    }
}

/// `(model, method)` of a `…/models/{model}:{method}` path.
fn google_model_path(path: &str) -> Option<(&str, &str)> {
    let (_, rest) = path.rsplit_once("/models/")?;
    let (model, method) = rest.split_once(':')?;
    (!model.is_empty() && !model.contains('/')).then_some((model, method))
}

#[cfg(test)]
mod tests {
    use super::google_model_path;

    #[test]
    fn google_paths() {
        assert_eq!(
            google_model_path("/v1beta/models/gemini-2.5-flash:generateContent"),
            Some(("gemini-2.5-flash", "generateContent"))
        );
        assert_eq!(
            google_model_path("/v1/projects/p/locations/l/publishers/google/models/g:countTokens"),
            Some(("g", "countTokens"))
        );
        assert_eq!(google_model_path("/v1/models"), None);
    }
}
