//! The providers' real wire formats, as built by [`Reply::auto`](super::Reply::auto).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::replies::{Reply, Then};

/// Input (prompt) tokens reported by every auto reply.
pub const INPUT_TOKENS: u64 = 12;
/// Output (completion) tokens reported by every auto reply.
pub const OUTPUT_TOKENS: u64 = 5;
/// The assistant text of every auto reply; streams send it as `"Hel"`, `"lo"`, `"!"`.
pub const REPLY_TEXT: &str = "Hello!";
const PIECES: [&str; 3] = ["Hel", "lo", "!"];
const GEMINI_THOUGHTS: u64 = 3;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id such as `msg_mock000001`.
fn id(prefix: &str) -> String {
    format!("{prefix}{:06}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.append(HeaderName::from_static(name), value);
        }
    }
    map
}

/// A JSON reply with `Content-Type: application/json`.
pub(super) fn json_reply(status: StatusCode, mut headers: HeaderMap, body: &Value) -> Reply {
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Reply::Json {
        status,
        headers,
        body: Bytes::from(body.to_string()),
    }
}

/// A 200 stream of `chunks`, the first at once and the next each after `delay`.
fn stream(
    mut headers: HeaderMap,
    content_type: &'static str,
    chunks: Vec<String>,
    delay: Duration,
) -> Reply {
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    let events = chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| (if i == 0 { Duration::ZERO } else { delay }, Bytes::from(c)))
        .collect();
    Reply::Sse {
        status: StatusCode::OK,
        headers,
        events,
        then: Then::End,
    }
}

/// `event: {name}\ndata: {json}\n\n`.
fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// `data: {json}\n\n`.
fn data(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// Anthropic Messages: a `message`, or its SSE event sequence.
pub(super) fn anthropic(model: &str, stream_it: bool, delay: Duration) -> Reply {
    let msg_id = id("msg_mock");
    let hdrs = headers(&[("request-id", id("req_mock"))]);
    let usage = |output: u64| {
        json!({"input_tokens": INPUT_TOKENS, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 0, "output_tokens": output})
    };
    if !stream_it {
        let body = json!({
            "id": msg_id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": REPLY_TEXT}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": usage(OUTPUT_TOKENS),
        });
        return json_reply(StatusCode::OK, hdrs, &body);
    }
    let mut chunks = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1),
            }}),
        ),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for piece in PIECES {
        chunks.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    chunks.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    chunks.push(event(
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": OUTPUT_TOKENS}}),
    ));
    chunks.push(event("message_stop", &json!({"type": "message_stop"})));
    stream(hdrs, "text/event-stream; charset=utf-8", chunks, delay)
}

fn chat_usage() -> Value {
    json!({
        "prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    })
}

/// OpenAI Chat Completions: a `chat.completion`, or `chat.completion.chunk`s and `[DONE]`.
pub(super) fn openai_chat(
    model: &str,
    stream_it: bool,
    include_usage: bool,
    delay: Duration,
) -> Reply {
    let chat_id = id("chatcmpl-mock");
    let created = now();
    let hdrs = headers(&[("x-request-id", id("req_mock"))]);
    if !stream_it {
        let body = json!({
            "id": chat_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0,
                "message": {"role": "assistant", "content": REPLY_TEXT, "refusal": null,
                            "annotations": []},
                "logprobs": null, "finish_reason": "stop"}],
            "usage": chat_usage(), "service_tier": "default", "system_fingerprint": "fp_mock",
        });
        return json_reply(StatusCode::OK, hdrs, &body);
    }
    let chunk = |choices: Value, usage: Value| {
        let mut c = json!({
            "id": chat_id, "object": "chat.completion.chunk", "created": created,
            "model": model, "service_tier": "default", "system_fingerprint": "fp_mock",
            "choices": choices,
        });
        if include_usage {
            c["usage"] = usage;
        }
        data(&c)
    };
    let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut chunks = vec![chunk(
        choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        Value::Null,
    )];
    for piece in PIECES {
        chunks.push(chunk(
            choice(json!({"content": piece}), Value::Null),
            Value::Null,
        ));
    }
    chunks.push(chunk(choice(json!({}), json!("stop")), Value::Null));
    if include_usage {
        chunks.push(chunk(json!([]), chat_usage()));
    }
    chunks.push("data: [DONE]\n\n".to_owned());
    stream(hdrs, "text/event-stream; charset=utf-8", chunks, delay)
}

/// OpenAI Responses: a `response`, or the `response.*` event sequence (no `[DONE]`).
pub(super) fn openai_responses(model: &str, stream_it: bool, delay: Duration) -> Reply {
    let resp_id = id("resp_mock");
    let item_id = id("msg_mock");
    let created = now();
    let hdrs = headers(&[("x-request-id", id("req_mock"))]);
    let part = json!({"type": "output_text", "text": REPLY_TEXT, "annotations": []});
    let item = json!({"type": "message", "id": item_id, "status": "completed",
                      "role": "assistant", "content": [part]});
    let response = |status: &str, output: Value, usage: Value| {
        json!({
            "id": resp_id, "object": "response", "created_at": created, "status": status,
            "error": null, "incomplete_details": null, "model": model, "output": output,
            "parallel_tool_calls": true, "previous_response_id": null, "usage": usage,
        })
    };
    let usage = json!({
        "input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    });
    if !stream_it {
        let body = response("completed", json!([item]), usage);
        return json_reply(StatusCode::OK, hdrs, &body);
    }
    let mut seq = 0u64;
    let mut ev = |name: &str, mut body: Value| {
        body["type"] = json!(name);
        body["sequence_number"] = json!(seq);
        seq += 1;
        event(name, &body)
    };
    let at = |extra: Value| {
        let mut v = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    };
    let empty_item = json!({"type": "message", "id": item_id, "status": "in_progress",
                            "role": "assistant", "content": []});
    let mut chunks = vec![
        ev(
            "response.created",
            json!({"response": response("in_progress", json!([]), Value::Null)}),
        ),
        ev(
            "response.in_progress",
            json!({"response": response("in_progress", json!([]), Value::Null)}),
        ),
        ev(
            "response.output_item.added",
            json!({"output_index": 0, "item": empty_item}),
        ),
        ev(
            "response.content_part.added",
            at(json!({"part": {"type": "output_text", "text": "", "annotations": []}})),
        ),
    ];
    for piece in PIECES {
        chunks.push(ev(
            "response.output_text.delta",
            at(json!({"delta": piece})),
        ));
    }
    chunks.push(ev(
        "response.output_text.done",
        at(json!({"text": REPLY_TEXT})),
    ));
    chunks.push(ev("response.content_part.done", at(json!({"part": part}))));
    chunks.push(ev(
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
    ));
    chunks.push(ev(
        "response.completed",
        json!({"response": response("completed", json!([item]), usage)}),
    ));
    stream(hdrs, "text/event-stream; charset=utf-8", chunks, delay)
}

fn gemini_usage(thinking: bool) -> Value {
    let mut u = json!({
        "promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
        "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": INPUT_TOKENS}],
    });
    if thinking {
        u["thoughtsTokenCount"] = json!(GEMINI_THOUGHTS);
        u["totalTokenCount"] = json!(INPUT_TOKENS + OUTPUT_TOKENS + GEMINI_THOUGHTS);
    }
    u
}

fn gemini_chunk(model: &str, response_id: &str, text: &str, finish: bool, usage: Value) -> Value {
    let mut candidate =
        json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
    if finish {
        candidate["finishReason"] = json!("STOP");
    }
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
           "responseId": response_id})
}

/// Gemini `generateContent`.
pub(super) fn gemini(model: &str, thinking: bool) -> Reply {
    let body = gemini_chunk(model, &id("mock"), REPLY_TEXT, true, gemini_usage(thinking));
    json_reply(StatusCode::OK, HeaderMap::new(), &body)
}

/// Gemini `streamGenerateContent`: SSE `data:` chunks, or a streamed JSON array of chunks.
/// Every chunk has `usageMetadata` (partial ones carry the prompt count only, like the real
/// API); the last one has the full usage.
pub(super) fn gemini_stream(model: &str, thinking: bool, sse: bool, delay: Duration) -> Reply {
    let response_id = id("mock");
    let partial = json!({"promptTokenCount": INPUT_TOKENS, "totalTokenCount": INPUT_TOKENS});
    let values: Vec<Value> = PIECES
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let last = i + 1 == PIECES.len();
            let usage = if last {
                gemini_usage(thinking)
            } else {
                partial.clone()
            };
            gemini_chunk(model, &response_id, piece, last, usage)
        })
        .collect();
    if sse {
        let chunks = values.iter().map(data).collect();
        return stream(HeaderMap::new(), "text/event-stream", chunks, delay);
    }
    let n = values.len();
    let chunks = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let open = if i == 0 { "[" } else { ",\r\n" };
            let close = if i + 1 == n { "]" } else { "" };
            format!("{open}{v}{close}")
        })
        .collect();
    stream(
        HeaderMap::new(),
        "application/json; charset=UTF-8",
        chunks,
        delay,
    )
}
