//! The request record (SPEC.md §8.1): one per proxied request, refused ones included.

use serde::{Deserialize, Serialize};

/// Token usage, normalised across formats: `input` excludes cache reads and writes, `output`
/// includes reasoning, `reasoning` is a subset of `output`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, cache reads and writes excluded.
    pub input: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Tokens read from the prompt cache.
    pub cache_read: u64,
    /// Tokens written to the 5-minute cache.
    pub cache_write_5m: u64,
    /// Tokens written to the 1-hour cache.
    pub cache_write_1h: u64,
    /// Reasoning tokens (part of `output`).
    pub reasoning: u64,
    /// Image input tokens.
    pub image_input: u64,
    /// Image output tokens.
    pub image_output: u64,
    /// Web searches.
    pub web_search: u64,
    /// No usage could be read (for example an OpenAI stream without `include_usage`).
    pub usage_missing: bool,
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id, when the format has one.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The parameters: parsed JSON, or the raw string when it does not parse.
    pub params: serde_json::Value,
}

/// What the observer learned from a response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Token usage.
    pub usage: Usage,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// The response was a stream.
    pub stream: bool,
    /// A stream ended without its terminal event.
    pub incomplete: bool,
    /// An error event arrived after a 200 (Anthropic `event: error`), with its message.
    pub stream_error: Option<String>,
    /// The model the provider says answered, when it says.
    pub response_model: Option<String>,
    /// The response id (`msg_…`, `chatcmpl-…`, `resp_…`), when present.
    pub response_id: Option<String>,
    /// The response rebuilt as the equivalent non-stream JSON (or the body itself), capped.
    pub response_body: Option<serde_json::Value>,
    /// Every message as parsed JSON (SSE events' data, Bedrock frames' payloads, or the one
    /// document), when [`crate::usage::Observer::keep_raw`] asked for them.
    pub raw_responses: Option<Vec<serde_json::Value>>,
}
