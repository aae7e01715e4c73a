//! Endpoint classification and body model extraction: the first two steps of every request.
//!
//! - `classify`: [`Endpoint::classify`] on the paths clients send (Anthropic Messages with its
//!   `anthropic-version` header, OpenAI Chat and Responses, Gemini streaming, Bedrock Converse
//!   with a percent-encoded model, and an unknown path that is refused), each with the dozen
//!   headers an SDK sends.
//! - `extract_body_model/{1KB,100KB,2MB}`: [`extract_body_model`] on Anthropic Messages and
//!   OpenAI Chat bodies of about 1 KB, 100 KB and 2 MB (a long conversation with tool calls,
//!   code, escapes and non-ASCII text), with the top-level `model` first (what SDKs send) and
//!   last (the whole body is scanned before the model is known). The scan always validates the
//!   whole body, so the two positions should cost about the same.
//! - `splice_model/{1KB,100KB,2MB}`: [`splice_model`] rewriting `provider/model` to the bare
//!   upstream model (one copy of the body).
//!
//! Throughput is in body bytes. Run with
//! `cargo bench -p aperture-benches --bench classify_model` (add `-- --quick` for a fast pass,
//! or a filter such as `-- extract_body_model/2MB`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aperture_route::{Endpoint, extract_body_model, splice_model};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};

/// The target sizes of the generated bodies.
const SIZES: [(&str, usize); 3] = [("1KB", 1_000), ("100KB", 100_000), ("2MB", 2_000_000)];

/// The headers an SDK sends with a request (values are made up, shapes are real).
fn sdk_headers(anthropic: bool) -> HeaderMap {
    let mut pairs = vec![
        ("host", "gateway.example.ts.net"),
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("user-agent", "Anthropic/Python 0.69.0"),
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", "0.69.0"),
        ("x-stainless-os", "Linux"),
        ("x-stainless-arch", "x64"),
        ("x-stainless-runtime", "CPython"),
        ("x-stainless-runtime-version", "3.12.3"),
        ("x-stainless-retry-count", "0"),
        ("content-length", "1024"),
    ];
    if anthropic {
        pairs.push(("anthropic-version", "2023-06-01"));
        pairs.push(("x-api-key", "sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
    } else {
        pairs.push((
            "authorization",
            "Bearer sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ));
    }
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    map
}

fn classify(c: &mut Criterion) {
    let anthropic = sdk_headers(true);
    let openai = sdk_headers(false);
    let cases: [(&str, Method, &str, &HeaderMap); 6] = [
        (
            "anthropic_messages",
            Method::POST,
            "/v1/messages",
            &anthropic,
        ),
        ("openai_chat", Method::POST, "/v1/chat/completions", &openai),
        ("openai_responses", Method::POST, "/v1/responses", &openai),
        (
            "gemini_stream",
            Method::POST,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            &openai,
        ),
        (
            "bedrock_converse_stream",
            Method::POST,
            "/bedrock/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
            &openai,
        ),
        ("unknown_404", Method::POST, "/v1/nope/nothing", &openai),
    ];
    let mut group = c.benchmark_group("classify");
    for (name, method, path, headers) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| Endpoint::classify(black_box(method), black_box(path), black_box(headers)))
        });
    }
    group.finish();
}

/// Conversation text: prose, code with quotes, backslashes and newlines, and non-ASCII.
fn text(turn: usize) -> String {
    match turn % 4 {
        0 => format!(
            "Turn {turn}: can you refactor this so the retry loop backs off exponentially? \
             It currently hammers the API when the upstream returns 529 Overloaded."
        ),
        1 => format!(
            "Here is the change for turn {turn}:\n\n```rust\nfn backoff(attempt: u32) -> Duration \
             {{\n    let base = Duration::from_millis(100);\n    base * 2u32.pow(attempt.min(6))\n}}\n\
             ```\n\nIt caps at 6.4 s and logs \"retrying in {{delay:?}}\" with a path like \
             C:\\\\logs\\\\retry.txt."
        ),
        2 => format!(
            "Merci ! Ça marche — 完璧です 🎉 (turn {turn}). One more thing: the tests in \
             `tests/retry.rs` still expect a fixed delay; update them too."
        ),
        _ => format!(
            "Done (turn {turn}). I updated three assertions and added a property test that \
             checks the delay never exceeds the cap for attempts 0..=100."
        ),
    }
}

/// `base` with messages `message(0)`, `message(1)`, … appended until it serialises to at
/// least `target` bytes.
fn grow(mut base: Value, target: usize, message: impl Fn(usize) -> Value) -> Value {
    let mut size = base.to_string().len();
    let mut messages = Vec::new();
    while size < target {
        let m = message(messages.len());
        size += m.to_string().len() + 1;
        messages.push(m);
    }
    base["messages"] = Value::Array(messages);
    base
}

/// An Anthropic Messages conversation of about `target` bytes, without `model`.
fn anthropic_rest(target: usize) -> Value {
    let base = json!({
        "max_tokens": 8192,
        "stream": true,
        "system": [{"type": "text", "text": "You are a careful coding assistant.",
                    "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "read_file", "description": "Read a file from the workspace.",
                   "input_schema": {"type": "object", "properties": {"path": {"type": "string"}},
                                    "required": ["path"]}}],
        "metadata": {"user_id": "user_4f1c2b_account_9d8e_session_1a2b3c"},
        "messages": [],
    });
    grow(base, target, |turn| match turn % 4 {
        0 | 2 => json!({"role": "user", "content": [{"type": "text", "text": text(turn)}]}),
        1 => json!({"role": "assistant", "content": [
            {"type": "text", "text": text(turn)},
            {"type": "tool_use", "id": format!("toolu_{turn:024}"), "name": "read_file",
             "input": {"path": format!("src/retry_{turn}.rs")}},
        ]}),
        _ => json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("toolu_{:024}", turn - 2),
             "content": text(turn)},
        ]}),
    })
}

/// An OpenAI Chat conversation of about `target` bytes, without `model`.
fn chat_rest(target: usize) -> Value {
    let base = json!({
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "read_file",
                   "description": "Read a file from the workspace.",
                   "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                                  "required": ["path"]}}}],
        "messages": [],
    });
    grow(base, target, |turn| match turn % 4 {
        0 if turn == 0 => {
            json!({"role": "system", "content": "You are a careful coding assistant."})
        }
        0 | 2 => json!({"role": "user", "content": text(turn)}),
        1 => json!({"role": "assistant", "content": text(turn), "tool_calls": [
            {"id": format!("call_{turn:024}"), "type": "function",
             "function": {"name": "read_file",
                          "arguments": format!("{{\"path\":\"src/retry_{turn}.rs\"}}")}},
        ]}),
        _ => json!({"role": "tool", "tool_call_id": format!("call_{:024}", turn - 2),
                    "content": text(turn)}),
    })
}

/// `rest` serialised with `"model": model` inserted first or last.
fn with_model(rest: &Value, model: &str, first: bool) -> Vec<u8> {
    let rest = rest.to_string();
    let member = format!("\"model\":{}", Value::String(model.to_owned()));
    let inner = &rest[1..rest.len() - 1];
    let text = if first {
        format!("{{{member},{inner}}}")
    } else {
        format!("{{{inner},{member}}}")
    };
    text.into_bytes()
}

/// The bodies: (format, size label, model position, bytes).
fn bodies() -> Vec<(&'static str, &'static str, &'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for (size, target) in SIZES {
        for (format, rest, model) in [
            (
                "anthropic",
                anthropic_rest(target),
                "anthropic/claude-sonnet-4-6",
            ),
            ("openai_chat", chat_rest(target), "openai/gpt-5"),
        ] {
            for (position, first) in [("model_first", true), ("model_last", false)] {
                let body = with_model(&rest, model, first);
                let found = extract_body_model(&body).expect("generated body names a model");
                assert_eq!(found.model, model);
                out.push((format, size, position, body));
            }
        }
    }
    out
}

fn body_model(c: &mut Criterion) {
    let bodies = bodies();
    for (size, _) in SIZES {
        let mut group = c.benchmark_group(format!("extract_body_model/{size}"));
        if size == "2MB" {
            group.sample_size(30);
        }
        for (format, _, position, body) in bodies.iter().filter(|b| b.1 == size) {
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(*format, format!("{position} ({} B)", body.len())),
                body,
                |b, body| b.iter(|| extract_body_model(black_box(body))),
            );
        }
        group.finish();

        let mut group = c.benchmark_group(format!("splice_model/{size}"));
        if size == "2MB" {
            group.sample_size(30);
        }
        for (format, _, _, body) in bodies
            .iter()
            .filter(|b| b.1 == size && b.2 == "model_first")
        {
            let found = extract_body_model(body).expect("generated body names a model");
            let bare = found
                .model
                .split_once('/')
                .map_or("", |(_, m)| m)
                .to_owned();
            group.throughput(Throughput::Bytes(body.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(*format, format!("{} B", body.len())),
                body,
                |b, body| b.iter(|| splice_model(black_box(body), found.span.clone(), &bare)),
            );
        }
        group.finish();
    }
}

criterion_group!(benches, classify, body_model);
criterion_main!(benches);
