//! Usage and tool calls for Gemini (SSE, JSON array, single document), Bedrock invoke and
//! Converse (event-stream frames and documents) and token counting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aperture_log::usage::eventstream::encode_frame;
use aperture_log::usage::{Observer, ResponseFormat};
use aperture_log::{Observation, Usage};
use serde_json::json;

const EVENTSTREAM: Option<&str> = Some("application/vnd.amazon.eventstream");

fn observe(format: ResponseFormat, ct: Option<&str>, body: &[u8]) -> Observation {
    let mut o = Observer::new(format, ct, None, 1 << 20);
    for chunk in body.chunks(7) {
        o.push(chunk);
    }
    o.finish()
}

const GEMINI_CHUNK_1: &str = r#"{"candidates": [{"content": {"parts": [{"text": "Let me"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 1000,"totalTokenCount": 1000,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 1000}]},"modelVersion": "gemini-2.5-flash","responseId": "mSzDaPXaBtjSz7IPqfHb4Q8"}"#;
const GEMINI_CHUNK_2: &str = r#"{"candidates": [{"content": {"parts": [{"text": " look that up."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 1000,"totalTokenCount": 1010},"modelVersion": "gemini-2.5-flash","responseId": "mSzDaPXaBtjSz7IPqfHb4Q8"}"#;
const GEMINI_CHUNK_3: &str = r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris","days": 2}}}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 1000,"candidatesTokenCount": 50,"totalTokenCount": 1280,"cachedContentTokenCount": 600,"thoughtsTokenCount": 200,"toolUsePromptTokenCount": 30},"modelVersion": "gemini-2.5-flash","responseId": "mSzDaPXaBtjSz7IPqfHb4Q8"}"#;

fn gemini_expected() -> Usage {
    Usage {
        input: 430,
        output: 250,
        cache_read: 600,
        reasoning: 200,
        ..Usage::default()
    }
}

fn check_gemini(obs: &Observation) {
    assert_eq!(obs.usage, gemini_expected());
    assert!(obs.stream && !obs.incomplete);
    assert_eq!(obs.response_model.as_deref(), Some("gemini-2.5-flash"));
    assert_eq!(obs.response_id.as_deref(), Some("mSzDaPXaBtjSz7IPqfHb4Q8"));
    assert_eq!(obs.tool_calls.len(), 1);
    assert_eq!(obs.tool_calls[0].name, "get_weather");
    assert_eq!(
        obs.tool_calls[0].params,
        json!({"city": "Paris", "days": 2})
    );
    let body = obs.response_body.as_ref().unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{"text": "Let me look that up."},
               {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 2}}}])
    );
    assert_eq!(body["usageMetadata"]["thoughtsTokenCount"], 200);
}

#[test]
fn gemini_sse_stream_uses_the_last_usage_metadata() {
    let body = format!(
        "data: {GEMINI_CHUNK_1}\r\n\r\ndata: {GEMINI_CHUNK_2}\r\n\r\ndata: {GEMINI_CHUNK_3}\r\n\r\n"
    );
    check_gemini(&observe(
        ResponseFormat::Gemini,
        Some("text/event-stream"),
        body.as_bytes(),
    ));
}

#[test]
fn gemini_json_array_stream_and_truncated_array() {
    let body = format!("[{GEMINI_CHUNK_1}\n,\r\n{GEMINI_CHUNK_2}\n,\r\n{GEMINI_CHUNK_3}\n]");
    check_gemini(&observe(
        ResponseFormat::Gemini,
        Some("application/json; charset=UTF-8"),
        body.as_bytes(),
    ));
    // A client disconnect mid-array: complete elements still count.
    let cut = body.rfind("\"finishReason\"").unwrap();
    let obs = observe(
        ResponseFormat::Gemini,
        Some("application/json"),
        &body.as_bytes()[..cut],
    );
    assert!(obs.stream && obs.incomplete);
    assert_eq!(obs.usage.input, 1000);
    assert_eq!(obs.usage.output, 0);
}

#[test]
fn gemini_non_stream() {
    let obs = observe(
        ResponseFormat::Gemini,
        Some("application/json"),
        GEMINI_CHUNK_3.as_bytes(),
    );
    assert_eq!(obs.usage, gemini_expected());
    assert!(!obs.stream && !obs.incomplete);
    assert_eq!(obs.tool_calls[0].name, "get_weather");
    assert_eq!(
        obs.response_body.unwrap()["responseId"],
        "mSzDaPXaBtjSz7IPqfHb4Q8"
    );
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn chunk_frame(event: &serde_json::Value) -> Vec<u8> {
    let payload = json!({"bytes": base64(event.to_string().as_bytes()), "p": "abcdefgh"});
    encode_frame(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

#[test]
fn bedrock_invoke_stream_carries_anthropic_events() {
    let events = [
        json!({"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":25,"cache_read_input_tokens":100,"cache_creation_input_tokens":0,"output_tokens":1}}}),
        json!({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_bdrk_01","name":"search","input":{}}}),
        json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"q\":"}}),
        json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"rust\"}"}}),
        json!({"type":"content_block_stop","index":0}),
        json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":33}}),
        json!({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":33,"invocationLatency":1021,"firstByteLatency":500,"cacheReadInputTokenCount":100,"cacheWriteInputTokenCount":0}}),
    ];
    let wire: Vec<u8> = events.iter().flat_map(chunk_frame).collect();
    let obs = observe(ResponseFormat::BedrockInvoke, EVENTSTREAM, &wire);
    assert_eq!(
        obs.usage,
        Usage {
            input: 25,
            output: 33,
            cache_read: 100,
            ..Usage::default()
        }
    );
    assert!(obs.stream && !obs.incomplete);
    assert_eq!(obs.tool_calls[0].params, json!({"q": "rust"}));
    assert_eq!(obs.response_id.as_deref(), Some("msg_bdrk_01"));

    // A modelStreamErrorException frame after some events.
    let mut wire: Vec<u8> = events[..2].iter().flat_map(chunk_frame).collect();
    wire.extend(encode_frame(
        &[
            (":message-type", "exception"),
            (":exception-type", "modelStreamErrorException"),
        ],
        br#"{"message":"Model stream error","originalStatusCode":500}"#,
    ));
    let obs = observe(ResponseFormat::BedrockInvoke, EVENTSTREAM, &wire);
    assert_eq!(obs.stream_error.as_deref(), Some("Model stream error"));
    assert!(obs.incomplete);
}

#[test]
fn bedrock_invoke_non_stream_falls_back_to_headers() {
    // A non-Anthropic model on invoke: no usage in the body, counts in headers.
    let mut o = Observer::new(
        ResponseFormat::BedrockInvoke,
        Some("application/json"),
        None,
        4096,
    );
    let mut h = http::HeaderMap::new();
    h.insert("x-amzn-bedrock-input-token-count", "17".parse().unwrap());
    h.insert("x-amzn-bedrock-output-token-count", "42".parse().unwrap());
    o.response_headers(&h);
    o.push(br#"{"generation":"Hi","prompt_token_count":17,"generation_token_count":42,"stop_reason":"stop"}"#);
    let obs = o.finish();
    assert_eq!(
        obs.usage,
        Usage {
            input: 17,
            output: 42,
            ..Usage::default()
        }
    );
}

fn converse_frame(event: &str, payload: serde_json::Value) -> Vec<u8> {
    encode_frame(
        &[
            (":event-type", event),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

#[test]
fn bedrock_converse_stream_and_non_stream() {
    let frames = [
        converse_frame("messageStart", json!({"role": "assistant", "p": "abc"})),
        converse_frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Let me look."}}),
        ),
        converse_frame("contentBlockStop", json!({"contentBlockIndex": 0})),
        converse_frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song"}}}),
        ),
        converse_frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"sign\":"}}}),
        ),
        converse_frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"WZPZ\"}"}}}),
        ),
        converse_frame("contentBlockStop", json!({"contentBlockIndex": 1})),
        converse_frame("messageStop", json!({"stopReason": "tool_use"})),
        converse_frame(
            "metadata",
            json!({"usage": {"inputTokens": 375, "outputTokens": 56, "totalTokens": 1431, "cacheReadInputTokens": 800, "cacheWriteInputTokens": 200}, "metrics": {"latencyMs": 1630}}),
        ),
    ];
    let expected = Usage {
        input: 375,
        output: 56,
        cache_read: 800,
        cache_write_5m: 200,
        ..Usage::default()
    };
    let wire = frames.concat();
    let obs = observe(ResponseFormat::BedrockConverse, EVENTSTREAM, &wire);
    assert_eq!(obs.usage, expected);
    assert!(obs.stream && !obs.incomplete);
    assert_eq!(obs.tool_calls[0].id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    assert_eq!(obs.tool_calls[0].params, json!({"sign": "WZPZ"}));
    let body = obs.response_body.unwrap();
    assert_eq!(
        body["output"]["message"]["content"][0]["text"],
        "Let me look."
    );
    assert_eq!(body["stopReason"], "tool_use");

    let doc = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Let me look."},{"toolUse":{"toolUseId":"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q","name":"top_song","input":{"sign":"WZPZ"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":375,"outputTokens":56,"totalTokens":1431,"cacheReadInputTokens":800,"cacheWriteInputTokens":200},"metrics":{"latencyMs":1630}}"#;
    let obs = observe(
        ResponseFormat::BedrockConverse,
        Some("application/json"),
        doc.as_bytes(),
    );
    assert_eq!(obs.usage, expected);
    assert_eq!(obs.tool_calls[0].name, "top_song");
    assert!(!obs.stream);

    // No messageStop, no metadata: incomplete and usage missing.
    let obs = observe(
        ResponseFormat::BedrockConverse,
        EVENTSTREAM,
        &frames[..5].concat(),
    );
    assert!(obs.incomplete && obs.usage.usage_missing);
}

#[test]
fn token_counting_records_the_input_count() {
    for body in [
        r#"{"input_tokens": 2095}"#,
        r#"{"totalTokens": 2095, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2095}]}"#,
        r#"{"inputTokens": 2095}"#,
        r#"{"object": "response.input_tokens", "input_tokens": 2095}"#,
    ] {
        let obs = observe(
            ResponseFormat::CountTokens,
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(
            obs.usage,
            Usage {
                input: 2095,
                ..Usage::default()
            },
            "{body}"
        );
    }
    let obs = observe(ResponseFormat::CountTokens, Some("application/json"), b"{}");
    assert!(obs.usage.usage_missing);
}
