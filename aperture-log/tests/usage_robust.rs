//! The observer's result does not depend on how the body is split (plain or gzip), and no input
//! makes it panic: garbage and truncated bodies end with `usage_missing` or `incomplete`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use aperture_log::Observation;
use aperture_log::usage::eventstream::encode_frame;
use aperture_log::usage::{Observer, ResponseFormat};
use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};
use proptest::prelude::*;

const ANTHROPIC: &str = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-haiku-4-5-20251001\",\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":7,\"output_tokens\":1}}}\r\n\r\n: keep-alive comment\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\rdata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"h\u{e9}llo \u{1f600}\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[1,2]}\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":15}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

const CHAT: &str = "data: {\"id\":\"chatcmpl-1\",\"model\":\"gpt-5-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\r\n\r\ndata: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":20}}}\r\n\r\ndata: [DONE]\r\n\r\n";

fn converse_wire() -> Vec<u8> {
    let frame = |event: &str, payload: &str| {
        encode_frame(
            &[(":event-type", event), (":message-type", "event")],
            payload.as_bytes(),
        )
    };
    [
        frame("messageStart", r#"{"role":"assistant"}"#),
        frame(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"hi"}}"#,
        ),
        frame("messageStop", r#"{"stopReason":"end_turn"}"#),
        frame(
            "metadata",
            r#"{"usage":{"inputTokens":3,"outputTokens":4}}"#,
        ),
    ]
    .concat()
}

struct Case {
    format: ResponseFormat,
    content_type: &'static str,
    body: Vec<u8>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            format: ResponseFormat::AnthropicMessages,
            content_type: "text/event-stream",
            body: ANTHROPIC.as_bytes().to_vec(),
        },
        Case {
            format: ResponseFormat::OpenAiChat,
            content_type: "text/event-stream",
            body: CHAT.as_bytes().to_vec(),
        },
        Case {
            format: ResponseFormat::BedrockConverse,
            content_type: "application/vnd.amazon.eventstream",
            body: converse_wire(),
        },
        Case {
            format: ResponseFormat::OpenAiChat,
            content_type: "application/json",
            body: br#"{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#.to_vec(),
        },
    ]
}

fn observe(
    format: ResponseFormat,
    ct: &str,
    ce: Option<&str>,
    body: &[u8],
    cuts: &[usize],
) -> Observation {
    let mut o = Observer::new(format, Some(ct), ce, 1 << 20);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    for c in cuts.into_iter().chain([body.len()]) {
        o.push(&body[start..c]);
        start = c;
    }
    o.finish()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

#[test]
fn fixtures_are_what_the_properties_compare() {
    let whole: Vec<Observation> = cases()
        .iter()
        .map(|c| observe(c.format, c.content_type, None, &c.body, &[]))
        .collect();
    assert_eq!(
        (
            whole[0].usage.input,
            whole[0].usage.output,
            whole[0].usage.cache_read
        ),
        (12, 15, 7)
    );
    assert_eq!(
        whole[0].tool_calls[0].params,
        serde_json::json!({"a": [1, 2]})
    );
    assert_eq!(
        whole[0].response_body.as_ref().unwrap()["content"][0]["text"],
        "h\u{e9}llo \u{1f600}"
    );
    assert!(!whole[0].incomplete);
    assert_eq!((whole[1].usage.input, whole[1].usage.cache_read), (30, 20));
    assert_eq!(whole[1].tool_calls[0].params, serde_json::json!({"x": 1}));
    assert!(!whole[1].incomplete);
    assert_eq!((whole[2].usage.input, whole[2].usage.output), (3, 4));
    assert_eq!(whole[3].usage.output, 6);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_split_gives_the_same_observation(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        for c in cases() {
            let whole = observe(c.format, c.content_type, None, &c.body, &[]);
            let split = observe(c.format, c.content_type, None, &c.body, &cuts);
            prop_assert_eq!(&whole, &split);
            let gz = gzip(&c.body);
            prop_assert_eq!(&whole, &observe(c.format, c.content_type, Some("gzip"), &gz, &cuts));
            // Gzip magic without a Content-Encoding header.
            prop_assert_eq!(&whole, &observe(c.format, c.content_type, None, &gz, &cuts));
        }
    }

    #[test]
    fn deflate_splits_give_the_same_observation(cuts in proptest::collection::vec(any::<usize>(), 0..20)) {
        let c = &cases()[0];
        let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
        e.write_all(&c.body).unwrap();
        let raw = e.finish().unwrap();
        let whole = observe(c.format, c.content_type, None, &c.body, &[]);
        prop_assert_eq!(whole, observe(c.format, c.content_type, Some("deflate"), &raw, &cuts));
    }

    #[test]
    fn garbage_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
        format in 0usize..7,
        ct in 0usize..3,
        ce in 0usize..5,
    ) {
        let formats = [
            ResponseFormat::AnthropicMessages, ResponseFormat::OpenAiChat,
            ResponseFormat::OpenAiResponses, ResponseFormat::Gemini,
            ResponseFormat::BedrockInvoke, ResponseFormat::BedrockConverse,
            ResponseFormat::CountTokens,
        ];
        let cts = ["text/event-stream", "application/vnd.amazon.eventstream", "application/json"];
        let ces = [None, Some("gzip"), Some("deflate"), Some("br"), Some("zstd")];
        let obs = observe(formats[format], cts[ct], ces[ce], &body, &cuts);
        prop_assert!(obs.usage.usage_missing || obs.incomplete);
    }

    #[test]
    fn garbage_inside_sse_data_never_panics(
        lines in proptest::collection::vec("[ -~]{0,80}", 0..30),
        format in 0usize..6,
    ) {
        let formats = [
            ResponseFormat::AnthropicMessages, ResponseFormat::OpenAiChat,
            ResponseFormat::OpenAiResponses, ResponseFormat::Gemini,
            ResponseFormat::BedrockInvoke, ResponseFormat::BedrockConverse,
        ];
        let body: String = lines.iter().map(|l| format!("data: {l}\n\n")).collect();
        let _ = observe(formats[format], "text/event-stream", None, body.as_bytes(), &[3, 50]);
    }
}

#[test]
fn every_truncation_is_flagged() {
    for c in cases().into_iter().take(3) {
        let whole = observe(c.format, c.content_type, None, &c.body, &[]);
        for len in 0..c.body.len() {
            let obs = observe(c.format, c.content_type, None, &c.body[..len], &[]);
            // Truncated anywhere before the terminal event: incomplete or usage missing.
            if obs != whole {
                assert!(
                    obs.incomplete || obs.usage.usage_missing,
                    "{:?} cut at {len}",
                    c.format
                );
            }
        }
        // A truncated gzip copy decodes as far as it goes.
        let gz = gzip(&c.body);
        let obs = observe(
            c.format,
            c.content_type,
            Some("gzip"),
            &gz[..gz.len() / 2],
            &[],
        );
        assert!(obs.incomplete || obs.usage.usage_missing);
    }
}

#[test]
fn truncated_and_empty_documents() {
    let body = br#"{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#;
    let obs = observe(
        ResponseFormat::OpenAiChat,
        "application/json",
        None,
        &body[..40],
        &[],
    );
    assert!(obs.usage.usage_missing && obs.incomplete);
    let obs = observe(
        ResponseFormat::OpenAiChat,
        "application/json",
        None,
        b"",
        &[],
    );
    assert!(obs.usage.usage_missing);
    let obs = observe(
        ResponseFormat::AnthropicMessages,
        "text/html",
        None,
        b"<html>502</html>",
        &[],
    );
    assert!(obs.usage.usage_missing);
}

#[test]
fn oversized_sse_event_is_dropped_without_growing() {
    let mut body = ANTHROPIC.as_bytes().to_vec();
    let at = ANTHROPIC.find("event: content_block_start").unwrap();
    let huge = format!("data: {}\n\n", "x".repeat(17 << 20));
    body.splice(at..at, huge.bytes());
    let obs = observe(
        ResponseFormat::AnthropicMessages,
        "text/event-stream",
        None,
        &body,
        &[1 << 20],
    );
    assert_eq!(obs.usage.output, 15);
    assert!(!obs.incomplete);
}
