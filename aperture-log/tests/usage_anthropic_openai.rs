//! Usage, tool calls and rebuilt bodies for Anthropic Messages, OpenAI Chat and OpenAI
//! Responses, non-stream and stream, from bodies in the real wire formats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aperture_log::usage::{Observer, ResponseFormat};
use aperture_log::{Observation, Usage};
use serde_json::json;

const SSE: Option<&str> = Some("text/event-stream; charset=utf-8");
const JSON: Option<&str> = Some("application/json");

fn observe(format: ResponseFormat, ct: Option<&str>, body: &str) -> Observation {
    let mut o = Observer::new(format, ct, None, 1 << 20);
    o.push(body.as_bytes());
    o.finish()
}

/// An Anthropic stream: two `message_delta`s (the last one carries the final, cumulative usage),
/// a text block, a tool_use block with split `input_json_delta`s, pings.
pub const ANTHROPIC_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":1200,"cache_read_input_tokens":3000,"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":1000},"output_tokens":2,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let me check"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the weather."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"San Fra"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ncisco, CA\", \"unit\": \"fahrenheit\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":472,"cache_creation_input_tokens":1200,"cache_read_input_tokens":3000,"output_tokens":89,"server_tool_use":{"web_search_requests":2}}}

event: message_stop
data: {"type":"message_stop"}

"#;

#[test]
fn anthropic_stream_usage_is_start_then_last_delta_never_summed() {
    let obs = observe(ResponseFormat::AnthropicMessages, SSE, ANTHROPIC_STREAM);
    assert_eq!(
        obs.usage,
        Usage {
            input: 472,
            output: 89,
            cache_read: 3000,
            cache_write_5m: 200,
            cache_write_1h: 1000,
            web_search: 2,
            ..Usage::default()
        }
    );
    assert!(obs.stream && !obs.incomplete && obs.stream_error.is_none());
    assert_eq!(
        obs.response_id.as_deref(),
        Some("msg_01XFDUDYJgAACzvnptvVoYEL")
    );
    assert_eq!(
        obs.response_model.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
    assert_eq!(obs.tool_calls.len(), 1);
    assert_eq!(obs.tool_calls[0].id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(obs.tool_calls[0].name, "get_weather");
    assert_eq!(
        obs.tool_calls[0].params,
        json!({"location": "San Francisco, CA", "unit": "fahrenheit"})
    );
    let body = obs.response_body.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(body["usage"]["output_tokens"], 89);
    assert_eq!(
        body["content"],
        json!([
            {"type": "text", "text": "Okay, let me check the weather."},
            {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
             "input": {"location": "San Francisco, CA", "unit": "fahrenheit"}}
        ])
    );
}

#[test]
fn anthropic_stream_without_message_stop_is_incomplete_and_error_event_is_recorded() {
    let cut = ANTHROPIC_STREAM.find("event: message_delta").unwrap();
    let obs = observe(
        ResponseFormat::AnthropicMessages,
        SSE,
        &ANTHROPIC_STREAM[..cut],
    );
    assert!(obs.incomplete);
    assert_eq!((obs.usage.input, obs.usage.output), (472, 2));
    // A tool call whose JSON never finished is kept as a string.
    let at = ANTHROPIC_STREAM.find("San Fra").unwrap();
    let cut = at + ANTHROPIC_STREAM[at..].find("\n\n").unwrap() + 2;
    let obs = observe(
        ResponseFormat::AnthropicMessages,
        SSE,
        &ANTHROPIC_STREAM[..cut],
    );
    assert_eq!(obs.tool_calls[0].params, json!("{\"location\": \"San Fra"));

    let errored = format!(
        "{}event: error\ndata: {}\n\n",
        &ANTHROPIC_STREAM[..ANTHROPIC_STREAM.find("event: content_block_start").unwrap()],
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
    );
    let obs = observe(ResponseFormat::AnthropicMessages, SSE, &errored);
    assert_eq!(obs.stream_error.as_deref(), Some("Overloaded"));
    assert!(obs.incomplete);
    assert_eq!(obs.usage.input, 472);
}

#[test]
fn anthropic_non_stream() {
    let body = r#"{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-opus-4-1-20250805","content":[{"type":"text","text":"I'll check."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":500,"cache_read_input_tokens":10000,"output_tokens":503,"service_tier":"standard"}}"#;
    let obs = observe(ResponseFormat::AnthropicMessages, JSON, body);
    assert_eq!(
        obs.usage,
        Usage {
            input: 2095,
            output: 503,
            cache_read: 10000,
            cache_write_5m: 500,
            ..Usage::default()
        }
    );
    assert!(!obs.stream && !obs.incomplete);
    assert_eq!(obs.tool_calls[0].name, "get_weather");
    assert_eq!(
        obs.tool_calls[0].params,
        json!({"location": "San Francisco, CA"})
    );
    assert_eq!(
        obs.response_model.as_deref(),
        Some("claude-opus-4-1-20250805")
    );
    assert_eq!(obs.response_body.unwrap()["usage"]["output_tokens"], 503);
    // Over the capture cap: usage still read, body not kept.
    let mut o = Observer::new(ResponseFormat::AnthropicMessages, JSON, None, 10);
    o.push(body.as_bytes());
    let obs = o.finish();
    assert_eq!(obs.usage.input, 2095);
    assert!(obs.response_body.is_none());
}

const CHAT_STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Checking both."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"loc"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"CET\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ation\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":" Done."},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":128,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn chat_stream_usage_chunk_with_choices_is_counted_and_processed() {
    let obs = observe(ResponseFormat::OpenAiChat, SSE, CHAT_STREAM);
    assert_eq!(
        obs.usage,
        Usage {
            input: 176,
            output: 300,
            cache_read: 1024,
            reasoning: 128,
            ..Usage::default()
        }
    );
    assert!(obs.stream && !obs.incomplete);
    assert_eq!(
        obs.response_id.as_deref(),
        Some("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG")
    );
    let calls: Vec<_> = obs
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather"),
            ("call_2", "get_time")
        ]
    );
    assert_eq!(obs.tool_calls[0].params, json!({"location": "Paris"}));
    assert_eq!(obs.tool_calls[1].params, json!({"tz": "CET"}));
    let body = obs.response_body.unwrap();
    assert_eq!(body["object"], "chat.completion");
    let message = &body["choices"][0]["message"];
    // The usage chunk's own content delta is part of the message.
    assert_eq!(message["content"], "Checking both. Done.");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"location\":\"Paris\"}"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(body["usage"]["prompt_tokens"], 1200);
}

#[test]
fn chat_stream_without_usage_or_done() {
    let no_usage: String = CHAT_STREAM
        .split("\n\n")
        .filter(|e| !e.contains("\"usage\":{"))
        .map(|e| format!("{e}\n\n"))
        .collect();
    let obs = observe(ResponseFormat::OpenAiChat, SSE, &no_usage);
    assert!(obs.usage.usage_missing);
    assert!(!obs.incomplete);
    let cut = CHAT_STREAM.find("data: [DONE]").unwrap();
    let obs = observe(ResponseFormat::OpenAiChat, SSE, &CHAT_STREAM[..cut]);
    assert!(obs.incomplete);
    assert_eq!(obs.usage.output, 300);
}

#[test]
fn chat_non_stream() {
    let body = r#"{"id":"chatcmpl-abc123","object":"chat.completion","created":1699896916,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"get_current_weather","arguments":"{\n\"location\": \"Boston, MA\"\n}"}},{"id":"call_x","type":"function","function":{"name":"broken","arguments":"{not json"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
    let obs = observe(ResponseFormat::OpenAiChat, JSON, body);
    assert_eq!(
        (obs.usage.input, obs.usage.output, obs.usage.usage_missing),
        (82, 17, false)
    );
    assert_eq!(obs.tool_calls[0].params, json!({"location": "Boston, MA"}));
    assert_eq!(obs.tool_calls[1].params, json!("{not json"));
    assert_eq!(obs.response_model.as_deref(), Some("gpt-4.1-2025-04-14"));
    assert!(!obs.stream);
}

const RESPONSES_STREAM: &str = r#"event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_67c9fdcecf488190bdd9a0409de3a1ec","object":"response","created_at":1741290958,"status":"in_progress","model":"gpt-5-2025-08-07","output":[],"usage":null}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":1,"output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"shell","arguments":"","status":"in_progress"}}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","sequence_number":2,"item_id":"fc_1","output_index":1,"delta":"{\"command\":"}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":3,"output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"shell","arguments":"{\"command\":[\"ls\",\"-la\"]}","status":"completed"}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":4,"output_index":2,"item":{"type":"custom_tool_call","id":"ctc_1","call_id":"call_2","name":"apply_patch","input":"*** Begin Patch\n*** End Patch"}}

event: response.completed
data: {"type":"response.completed","sequence_number":5,"response":{"id":"resp_67c9fdcecf488190bdd9a0409de3a1ec","object":"response","created_at":1741290958,"status":"completed","model":"gpt-5-2025-08-07","output":[{"type":"reasoning","id":"rs_1","summary":[]},{"type":"function_call","id":"fc_1","call_id":"call_1","name":"shell","arguments":"{\"command\":[\"ls\",\"-la\"]}","status":"completed"},{"type":"custom_tool_call","id":"ctc_1","call_id":"call_2","name":"apply_patch","input":"*** Begin Patch\n*** End Patch"}],"usage":{"input_tokens":5000,"input_tokens_details":{"cached_tokens":4096},"output_tokens":700,"output_tokens_details":{"reasoning_tokens":512},"total_tokens":5700}}}

"#;

#[test]
fn responses_stream_and_non_stream() {
    let expected = Usage {
        input: 904,
        output: 700,
        cache_read: 4096,
        reasoning: 512,
        ..Usage::default()
    };
    let obs = observe(ResponseFormat::OpenAiResponses, SSE, RESPONSES_STREAM);
    assert_eq!(obs.usage, expected);
    assert!(obs.stream && !obs.incomplete && obs.stream_error.is_none());
    assert_eq!(obs.response_model.as_deref(), Some("gpt-5-2025-08-07"));
    let calls: Vec<_> = obs
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(calls, [("call_1", "shell"), ("call_2", "apply_patch")]);
    assert_eq!(obs.tool_calls[0].params, json!({"command": ["ls", "-la"]}));
    assert_eq!(
        obs.tool_calls[1].params,
        json!("*** Begin Patch\n*** End Patch")
    );
    let body = obs.response_body.unwrap();
    assert_eq!(body["status"], "completed");

    // The same response, non-stream.
    let start = RESPONSES_STREAM.rfind("\"response\":").unwrap() + "\"response\":".len();
    let end = RESPONSES_STREAM.rfind("}\n").unwrap();
    let doc = &RESPONSES_STREAM[start..end];
    let obs = observe(ResponseFormat::OpenAiResponses, JSON, doc);
    assert_eq!(obs.usage, expected);
    assert_eq!(obs.tool_calls.len(), 2);
    assert!(!obs.stream);

    // Cut before response.completed: incomplete, usage missing, tool items kept.
    let cut = RESPONSES_STREAM.find("event: response.completed").unwrap();
    let obs = observe(
        ResponseFormat::OpenAiResponses,
        SSE,
        &RESPONSES_STREAM[..cut],
    );
    assert!(obs.incomplete && obs.usage.usage_missing);
    assert_eq!(obs.tool_calls.len(), 2);

    // response.failed is terminal, with its error.
    let failed = r#"event: response.failed
data: {"type":"response.failed","response":{"id":"resp_1","status":"failed","error":{"code":"server_error","message":"The model failed"},"output":[],"usage":{"input_tokens":10,"output_tokens":0}}}

"#;
    let obs = observe(ResponseFormat::OpenAiResponses, SSE, failed);
    assert_eq!(obs.stream_error.as_deref(), Some("The model failed"));
    assert!(!obs.incomplete);
    assert_eq!(obs.usage.input, 10);
}
