//! Dispatch from framed events and whole documents to the per-format extractors.

use serde_json::Value;

use super::eventstream::{EventFrame, base64_decode};
use super::format::ResponseFormat;
use super::json::{self, array_elements};
use super::{anthropic, chat, converse, gemini, responses};
use crate::record::{Observation, Usage};

/// The stream state of one response.
#[derive(Debug)]
pub(crate) enum Extractor {
    Anthropic(anthropic::Stream),
    Chat(chat::Stream),
    Responses(responses::Stream),
    Gemini(gemini::Stream),
    Converse(converse::Stream),
    /// Token counting has no stream form.
    Count,
}

impl Extractor {
    /// The extractor for `format`; rebuilt bodies may hold `cap` bytes.
    pub(crate) fn new(format: ResponseFormat, cap: usize) -> Self {
        match format {
            ResponseFormat::AnthropicMessages | ResponseFormat::BedrockInvoke => {
                Self::Anthropic(anthropic::Stream::new(cap))
            }
            ResponseFormat::OpenAiChat => Self::Chat(chat::Stream::new(cap)),
            ResponseFormat::OpenAiResponses => Self::Responses(responses::Stream::new(cap)),
            ResponseFormat::Gemini => Self::Gemini(gemini::Stream::new(cap)),
            ResponseFormat::BedrockConverse => Self::Converse(converse::Stream::new(cap)),
            ResponseFormat::CountTokens => Self::Count,
        }
    }

    /// One SSE event.
    pub(crate) fn sse(&mut self, name: &str, data: &str) {
        match self {
            Self::Anthropic(s) => s.event(name, data),
            Self::Chat(s) => s.event(data),
            Self::Responses(s) => s.event(name, data),
            Self::Gemini(s) => s.event(data),
            Self::Converse(s) => s.event(name, data),
            Self::Count => {}
        }
    }

    /// One Bedrock event-stream frame.
    pub(crate) fn frame(&mut self, f: EventFrame<'_>) {
        let payload = String::from_utf8_lossy(f.payload);
        match f.message_type.unwrap_or("event") {
            "exception" => {
                let message = serde_json::from_str::<Value>(&payload)
                    .ok()
                    .and_then(|v| json::error_message(&v))
                    .or(f.exception_type.map(str::to_string))
                    .unwrap_or_else(|| "exception".into());
                self.fail(message);
            }
            "error" => {
                let message = f.error_message.or(f.error_code).unwrap_or("error");
                self.fail(message.to_string());
            }
            _ => match self {
                Self::Anthropic(s) => {
                    if f.event_type.is_some_and(|t| t != "chunk") {
                        return;
                    }
                    let Ok(v) = serde_json::from_str::<Value>(&payload) else {
                        return;
                    };
                    let decoded = json::text(&v, "bytes").and_then(base64_decode);
                    if let Some(bytes) = decoded {
                        s.event("", &String::from_utf8_lossy(&bytes));
                    }
                }
                Self::Converse(s) => s.event(f.event_type.unwrap_or(""), &payload),
                _ => {}
            },
        }
    }

    fn fail(&mut self, message: String) {
        match self {
            Self::Anthropic(s) => s.fail(message),
            Self::Converse(s) => s.fail(message),
            _ => {}
        }
    }

    /// Ends a stream.
    pub(crate) fn finish(self, obs: &mut Observation) {
        obs.stream = true;
        match self {
            Self::Anthropic(s) => s.finish(obs),
            Self::Chat(s) => s.finish(obs),
            Self::Responses(s) => s.finish(obs),
            Self::Gemini(s) => s.finish(obs, true),
            Self::Converse(s) => s.finish(obs),
            Self::Count => obs.usage = json::missing(),
        }
    }
}

/// A whole (non-SSE) body. `cap` bounds `response_body`.
pub(crate) fn document(format: ResponseFormat, body: &[u8], cap: usize, obs: &mut Observation) {
    let doc = match serde_json::from_slice::<Value>(body) {
        Ok(doc) => doc,
        Err(e) => {
            obs.usage = json::missing();
            if format == ResponseFormat::Gemini {
                let (chunks, _) = array_elements(body);
                if !chunks.is_empty() {
                    let mut g = gemini::Stream::new(cap);
                    chunks
                        .iter()
                        .filter_map(|c| serde_json::from_slice::<Value>(c).ok())
                        .for_each(|c| g.chunk(&c));
                    g.finish(obs, true);
                    obs.stream = true;
                    obs.incomplete = true;
                    return;
                }
            }
            obs.incomplete = e.is_eof() && !body.is_empty();
            return;
        }
    };
    match format {
        ResponseFormat::AnthropicMessages | ResponseFormat::BedrockInvoke => {
            anthropic::document(&doc, obs)
        }
        ResponseFormat::OpenAiChat => chat::document(&doc, obs),
        ResponseFormat::OpenAiResponses => responses::document(&doc, obs),
        ResponseFormat::BedrockConverse => converse::document(&doc, obs),
        ResponseFormat::CountTokens => count_document(&doc, obs),
        ResponseFormat::Gemini => {
            let mut g = gemini::Stream::new(cap);
            if let Value::Array(chunks) = &doc {
                chunks.iter().for_each(|c| g.chunk(c));
                g.finish(obs, true);
                // A closed array is a complete stream, with or without a finishReason.
                obs.stream = true;
                obs.incomplete = false;
                return;
            }
            g.chunk(&doc);
            g.finish(obs, false);
        }
    }
    if body.len() <= cap {
        obs.response_body = Some(doc);
    }
}

/// Token counting: Anthropic / Responses `input_tokens`, Gemini `totalTokens`, Bedrock
/// `inputTokens`.
fn count_document(doc: &Value, obs: &mut Observation) {
    let n = ["input_tokens", "totalTokens", "inputTokens"]
        .iter()
        .find_map(|k| doc.get(*k).and_then(Value::as_u64));
    obs.usage = match n {
        Some(input) => Usage {
            input,
            ..Usage::default()
        },
        None => json::missing(),
    };
}
