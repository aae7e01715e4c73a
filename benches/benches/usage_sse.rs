//! Usage extraction from streamed responses: the [`Observer`] that watches a copy of every
//! relayed SSE stream, per wire format.
//!
//! Each stream is a realistic answer of 200 text deltas (about 600 output tokens) plus one tool
//! call, in the provider's real event shapes (see `aperture-log/tests/usage_*.rs`):
//!
//! - `anthropic_messages`: `message_start`, a text block of `content_block_delta`s, a
//!   `tool_use` block with `input_json_delta`s, `message_delta` with the final usage,
//!   `message_stop`.
//! - `openai_chat`: `chat.completion.chunk`s with content deltas, a tool call in pieces, the
//!   `include_usage` chunk, `[DONE]`.
//! - `openai_responses`: `response.created`, `response.output_text.delta`s, the done events,
//!   `response.completed` with the whole response and its usage.
//! - `gemini`: `streamGenerateContent?alt=sse` chunks, each with `usageMetadata`, the last one
//!   with a `functionCall` and the full usage.
//!
//! Each is fed to a fresh observer chunk by chunk, then finished (usage, tool calls and the
//! rebuilt non-stream body): `per_event` pushes one event per chunk, as providers flush them;
//! `tcp_1460` pushes 1,460-byte segments, so events straddle chunks. The measured time is per
//! whole stream; throughput is in stream bytes.
//!
//! Run with `cargo bench -p aperture-benches --bench usage_sse` (add `-- --quick` for a fast
//! pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aperture_log::usage::{Observer, ResponseFormat};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

/// Text deltas per stream.
const DELTAS: usize = 200;
/// The gateway's default `gateway.capture.max_body_bytes` (32 MiB).
const CAPTURE_CAP: usize = 32 << 20;
/// The reported output tokens of every stream.
const OUTPUT_TOKENS: u64 = 612;

/// The `i`th text delta: short word pieces, as models stream them.
fn piece(i: usize) -> String {
    const WORDS: [&str; 8] = [
        " the",
        " retry",
        " loop",
        " now",
        " backs",
        " off",
        " exponentially",
        ".\n\n",
    ];
    let word = WORDS[i % WORDS.len()];
    if i % 13 == 0 {
        format!("{word} \"quoted\" é")
    } else {
        word.to_owned()
    }
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn data(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// The argument pieces of the tool call.
const ARG_PIECES: [&str; 4] = [
    r#"{"path": "#,
    r#""src/re"#,
    r#"try.rs", "line"#,
    r#"s": 120}"#,
];

fn anthropic() -> Vec<String> {
    let mut events = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
                "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 472,
                "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 3000,
                "cache_creation": {"ephemeral_5m_input_tokens": 200,
                                   "ephemeral_1h_input_tokens": 1000},
                "output_tokens": 2, "service_tier": "standard"}}}),
        ),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for i in 0..DELTAS {
        events.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": piece(i)}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "read_file", "input": {}}}),
    ));
    for p in ARG_PIECES {
        events.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": p}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 1}),
    ));
    events.push(event(
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 472, "cache_creation_input_tokens": 1200,
                          "cache_read_input_tokens": 3000, "output_tokens": OUTPUT_TOKENS}}),
    ));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    events
}

fn openai_chat() -> Vec<String> {
    let chunk = |delta: Value, finish: Value, usage: Value| {
        data(&json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
            "created": 1741570283, "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_eb9dce56a8", "service_tier": "default",
            "choices": if delta.is_null() { json!([]) } else {
                json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}])
            },
            "usage": usage,
        }))
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
        Value::Null,
    )];
    for i in 0..DELTAS {
        events.push(chunk(
            json!({"content": piece(i)}),
            Value::Null,
            Value::Null,
        ));
    }
    events.push(chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
               "type": "function", "function": {"name": "read_file", "arguments": ""}}]}),
        Value::Null,
        Value::Null,
    ));
    for p in ARG_PIECES {
        events.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
            Value::Null,
            Value::Null,
        ));
    }
    events.push(chunk(json!({}), json!("tool_calls"), Value::Null));
    events.push(chunk(
        Value::Null,
        Value::Null,
        json!({"prompt_tokens": 1200, "completion_tokens": OUTPUT_TOKENS,
               "total_tokens": 1200 + OUTPUT_TOKENS,
               "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0,
                   "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}),
    ));
    events.push("data: [DONE]\n\n".to_owned());
    events
}

fn openai_responses() -> Vec<String> {
    let text: String = (0..DELTAS).map(piece).collect();
    let message = json!({"type": "message", "id": "msg_67c9fdd5", "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let call = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1",
        "name": "read_file", "arguments": ARG_PIECES.concat(), "status": "completed"});
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": "resp_67c9fdcecf488190bdd9a0409de3a1ec", "object": "response",
               "created_at": 1741290958, "status": status, "error": null,
               "incomplete_details": null, "model": "gpt-5-2025-08-07", "output": output,
               "parallel_tool_calls": true, "previous_response_id": null, "usage": usage})
    };
    let mut seq = 0;
    let mut ev = |name: &str, mut body: Value| {
        body["type"] = json!(name);
        body["sequence_number"] = json!(seq);
        seq += 1;
        event(name, &body)
    };
    let at = |mut v: Value| {
        v["item_id"] = json!("msg_67c9fdd5");
        v["output_index"] = json!(0);
        v["content_index"] = json!(0);
        v
    };
    let mut events = vec![
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
            json!({"output_index": 0, "item": {"type": "message", "id": "msg_67c9fdd5",
                   "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        ev(
            "response.content_part.added",
            at(json!({"part": {"type": "output_text", "text": "", "annotations": []}})),
        ),
    ];
    for i in 0..DELTAS {
        events.push(ev(
            "response.output_text.delta",
            at(json!({"delta": piece(i)})),
        ));
    }
    events.push(ev("response.output_text.done", at(json!({"text": text}))));
    events.push(ev(
        "response.content_part.done",
        at(json!({"part": message["content"][0]})),
    ));
    events.push(ev(
        "response.output_item.done",
        json!({"output_index": 0, "item": message}),
    ));
    let mut added = call.clone();
    added["arguments"] = json!("");
    added["status"] = json!("in_progress");
    events.push(ev(
        "response.output_item.added",
        json!({"output_index": 1, "item": added}),
    ));
    for p in ARG_PIECES {
        events.push(ev(
            "response.function_call_arguments.delta",
            json!({"item_id": "fc_1", "output_index": 1, "delta": p}),
        ));
    }
    events.push(ev(
        "response.output_item.done",
        json!({"output_index": 1, "item": call}),
    ));
    events.push(ev(
        "response.completed",
        json!({"response": response("completed", json!([message, call]),
            json!({"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 4096},
                   "output_tokens": OUTPUT_TOKENS,
                   "output_tokens_details": {"reasoning_tokens": 512},
                   "total_tokens": 5000 + OUTPUT_TOKENS}))}),
    ));
    events
}

fn gemini() -> Vec<String> {
    let chunk = |part: Value, last: bool| {
        let mut candidate = json!({"content": {"parts": [part], "role": "model"}, "index": 0});
        let usage = if last {
            candidate["finishReason"] = json!("STOP");
            // Output is candidates plus thoughts.
            json!({"promptTokenCount": 1000, "candidatesTokenCount": OUTPUT_TOKENS - 200,
                   "totalTokenCount": 1000 + OUTPUT_TOKENS,
                   "cachedContentTokenCount": 600, "thoughtsTokenCount": 200,
                   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}]})
        } else {
            json!({"promptTokenCount": 1000, "totalTokenCount": 1000,
                   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}]})
        };
        // Gemini's SSE uses CRLF line ends.
        format!(
            "data: {}\r\n\r\n",
            json!({"candidates": [candidate], "usageMetadata": usage,
                   "modelVersion": "gemini-2.5-flash", "responseId": "mSzDaPXaBtjSz7IPqfHb4Q8"})
        )
    };
    let mut events: Vec<String> = (0..DELTAS)
        .map(|i| chunk(json!({"text": piece(i)}), false))
        .collect();
    events.push(chunk(
        json!({"functionCall": {"name": "read_file",
                                "args": {"path": "src/retry.rs", "lines": 120}}}),
        true,
    ));
    events
}

/// One whole stream through a fresh observer.
fn observe(format: ResponseFormat, chunks: &[&[u8]]) -> aperture_log::Observation {
    let mut o = Observer::new(
        format,
        Some("text/event-stream; charset=utf-8"),
        None,
        CAPTURE_CAP,
    );
    for chunk in chunks {
        o.push(black_box(chunk));
    }
    o.finish()
}

fn usage(c: &mut Criterion) {
    let streams: [(&str, ResponseFormat, Vec<String>); 4] = [
        (
            "anthropic_messages",
            ResponseFormat::AnthropicMessages,
            anthropic(),
        ),
        ("openai_chat", ResponseFormat::OpenAiChat, openai_chat()),
        (
            "openai_responses",
            ResponseFormat::OpenAiResponses,
            openai_responses(),
        ),
        ("gemini", ResponseFormat::Gemini, gemini()),
    ];
    let mut group = c.benchmark_group("usage_sse");
    for (name, format, events) in &streams {
        let whole = events.concat();
        let per_event: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();
        let tcp: Vec<&[u8]> = whole.as_bytes().chunks(1460).collect();
        for chunks in [&per_event, &tcp] {
            let obs = observe(*format, chunks);
            assert!(!obs.usage.usage_missing, "{name}: usage found");
            assert_eq!(obs.usage.output, OUTPUT_TOKENS, "{name}: output tokens");
            assert!(obs.stream && !obs.incomplete, "{name}: complete stream");
            assert_eq!(obs.tool_calls.len(), 1, "{name}: one tool call");
            assert!(obs.response_body.is_some(), "{name}: body rebuilt");
        }
        group.throughput(Throughput::Bytes(whole.len() as u64));
        let label = |how: &str, n: usize| format!("{how} ({n} chunks, {} B)", whole.len());
        group.bench_with_input(
            BenchmarkId::new(*name, label("per_event", per_event.len())),
            &per_event,
            |b, chunks| b.iter(|| observe(*format, chunks)),
        );
        group.bench_with_input(
            BenchmarkId::new(*name, label("tcp_1460", tcp.len())),
            &tcp,
            |b, chunks| b.iter(|| observe(*format, chunks)),
        );
    }
    group.finish();
}

criterion_group!(benches, usage);
criterion_main!(benches);
