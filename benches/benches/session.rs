//! Session ids for requests that carry no session header (SPEC.md §8.4): the fingerprint of the
//! first system and user messages, read from request bodies of ~1 KB, 100 KB and 2 MB (a long
//! agent conversation). Beside it, what a full parse of the same body into a JSON document
//! costs, which is what the session id used to pay.
//!
//! ```text
//! cargo bench -p aperture-benches --bench session -- --noplot
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aperture_log::usage::ResponseFormat;
use aperture_log::usage::session::{SessionHooks, SessionSource, session_id};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use serde_json::{Value, json};

/// A chat conversation of about `size` bytes: a system prompt, then user / assistant turns with
/// tool output.
fn conversation(size: usize) -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": "You are a coding agent. Follow the repository's conventions."}),
        json!({"role": "user", "content": "Fix the failing test in src/lib.rs"}),
    ];
    let chunk = "fn main() { println!(\"hello\"); }\n".repeat(20);
    let mut i = 0;
    while serde_json::to_vec(&messages).unwrap().len() < size {
        messages.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": format!("Reading file {i}")},
        ], "tool_calls": [{"id": format!("call_{i}"), "type": "function",
            "function": {"name": "read_file", "arguments": "{\"path\":\"src/lib.rs\"}"}}]}));
        messages
            .push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": chunk}));
        i += 1;
    }
    serde_json::to_vec(&json!({"model": "gpt-5", "stream": true, "messages": messages})).unwrap()
}

fn bench(c: &mut Criterion) {
    let hmac = |data: &[u8]| {
        let mut out = [0u8; 32];
        for (i, b) in data.iter().enumerate() {
            out[i % 32] ^= *b;
        }
        out
    };
    let random = || [7u8; 16];
    let hooks = SessionHooks {
        hmac: &hmac,
        random: &random,
        previous_response: None,
    };
    let headers = HeaderMap::new();
    let mut g = c.benchmark_group("session_id");
    for (name, size) in [("1KB", 1 << 10), ("100KB", 100 << 10), ("2MB", 2 << 20)] {
        let body = conversation(size);
        let (id, source) = session_id(
            &headers,
            &body,
            ResponseFormat::OpenAiChat,
            "alice",
            "openai",
            &hooks,
        );
        assert_eq!(source, SessionSource::Fingerprint, "{id}");
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(BenchmarkId::new("fingerprint", name), &body, |b, body| {
            b.iter(|| {
                session_id(
                    &headers,
                    black_box(body),
                    ResponseFormat::OpenAiChat,
                    "alice",
                    "openai",
                    &hooks,
                )
            });
        });
        g.bench_with_input(BenchmarkId::new("full_parse", name), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(body)).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
