//! The mock upstream (`aperture_mock`) on real sockets, driven by a hyper client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::time::{Duration, Instant};

use aperture_mock::{
    Closed, INPUT_TOKENS, MockUpstream, OUTPUT_TOKENS, REPLY_TEXT, Reply, Then, crc32, gzip_stored,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(client: &HttpClient, url: String, body: &Value) -> Response<Incoming> {
    let req = Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    client.request(req).await.unwrap()
}

async fn body_bytes(resp: Response<Incoming>) -> Bytes {
    resp.into_body().collect().await.unwrap().to_bytes()
}

async fn post_json(mock: &MockUpstream, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = send(&client(), format!("{}{path}", mock.base_url()), &body).await;
    let status = resp.status();
    let bytes = body_bytes(resp).await;
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// The frames of a streamed body with their arrival instants.
async fn frames(resp: Response<Incoming>) -> Vec<(Instant, Bytes)> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            out.push((Instant::now(), data));
        }
    }
    out
}

fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// `(event name, data JSON)` of each `event: X\ndata: {json}\n\n` block.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap_or(Value::String(d.to_owned()));
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn records_exact_request_and_answers_script_reply() {
    let mut mock = MockUpstream::start(|req| {
        let mut headers = HeaderMap::new();
        headers.insert("x-mock", HeaderValue::from_static("yes"));
        Reply::Json {
            status: StatusCode::CREATED,
            headers,
            body: Bytes::from(format!("{{\"len\":{}}}", req.body.len())),
        }
    })
    .await
    .unwrap();
    let raw_body = Bytes::from_static(b"{ \"model\" :\"m\",\n\t\"x\": [1,2] }\xff\x00");
    let req = Request::post(format!("{}/v1/messages?beta=true&a=%20b", mock.base_url()))
        .header("x-rep", "one")
        .header("x-rep", "two")
        .header("anthropic-version", "2023-06-01")
        .body(Full::new(raw_body.clone()))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["x-mock"], "yes");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let expected = format!("{{\"len\":{}}}", raw_body.len());
    assert_eq!(body_bytes(resp).await, expected.as_bytes());

    let got = mock.next_request().await.expect("request recorded");
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.uri, "/v1/messages?beta=true&a=%20b");
    assert_eq!(got.path(), "/v1/messages");
    assert_eq!(got.query(), Some("beta=true&a=%20b"));
    assert_eq!(got.version, Version::HTTP_11);
    assert_eq!(got.header_all("x-rep"), ["one", "two"]);
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(got.body, raw_body);
    assert_eq!(got.json(), Value::Null, "not JSON");
    assert!(mock.try_next_request().is_none());
}

#[tokio::test]
async fn h2c_and_connection_pooling() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let c = client();
    for _ in 0..2 {
        let resp = send(&c, format!("{}/v1/messages", mock.base_url()), &json!({})).await;
        assert_eq!(resp.status(), StatusCode::OK);
        body_bytes(resp).await;
    }
    assert_eq!(mock.connections(), 1, "pooled connection reused");

    let h2: HttpClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let resp = send(&h2, format!("{}/v1/messages", mock.base_url()), &json!({})).await;
    assert_eq!(resp.version(), Version::HTTP_2);
    body_bytes(resp).await;
    assert_eq!(mock.connections(), 2);
    let versions: Vec<Version> = std::iter::from_fn(|| mock.try_next_request())
        .map(|r| r.version)
        .collect();
    assert_eq!(
        versions,
        [Version::HTTP_11, Version::HTTP_11, Version::HTTP_2]
    );
}

#[tokio::test]
async fn auto_non_stream_formats_carry_usage() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let (input, output) = (json!(INPUT_TOKENS), json!(OUTPUT_TOKENS));

    let (s, v) = post_json(&mock, "/v1/messages", json!({"model": "claude-x"})).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        (&v["type"], &v["model"]),
        (&json!("message"), &json!("claude-x"))
    );
    assert_eq!(v["content"][0]["text"], REPLY_TEXT);
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["input_tokens"], input);
    assert_eq!(v["usage"]["output_tokens"], output);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);

    let (_, v) = post_json(&mock, "/v1/messages/count_tokens", json!({})).await;
    assert_eq!(v, json!({"input_tokens": INPUT_TOKENS}));

    for path in ["/v1/chat/completions", "/chat/completions"] {
        let (_, v) = post_json(&mock, path, json!({"model": "gpt-x"})).await;
        assert_eq!(
            (v["object"].as_str(), v["model"].as_str()),
            (Some("chat.completion"), Some("gpt-x"))
        );
        assert_eq!(v["choices"][0]["message"]["content"], REPLY_TEXT);
        let u = &v["usage"];
        assert_eq!(
            (&u["prompt_tokens"], &u["completion_tokens"]),
            (&input, &output)
        );
        assert_eq!(u["total_tokens"], INPUT_TOKENS + OUTPUT_TOKENS);
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
    }

    for path in ["/v1/responses", "/responses"] {
        let (_, v) = post_json(&mock, path, json!({"model": "gpt-r"})).await;
        assert!(v["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(
            (v["object"].as_str(), v["status"].as_str()),
            (Some("response"), Some("completed"))
        );
        assert_eq!(v["output"][0]["type"], "message");
        assert_eq!(v["output"][0]["content"][0]["text"], REPLY_TEXT);
        let u = &v["usage"];
        assert_eq!((&u["input_tokens"], &u["output_tokens"]), (&input, &output));
        assert_eq!(u["input_tokens_details"]["cached_tokens"], 0);
        assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(u["total_tokens"], INPUT_TOKENS + OUTPUT_TOKENS);
    }

    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let (_, v) = post_json(&mock, path, json!({"contents": []})).await;
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        REPLY_TEXT
    );
    let u = &v["usageMetadata"];
    assert_eq!(
        (&u["promptTokenCount"], &u["candidatesTokenCount"]),
        (&input, &output)
    );
    assert_eq!(u["totalTokenCount"], INPUT_TOKENS + OUTPUT_TOKENS);
    assert!(u.get("thoughtsTokenCount").is_none());
    let thinking = json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": 64}}});
    let (_, v) = post_json(&mock, path, thinking).await;
    assert_eq!(v["usageMetadata"]["thoughtsTokenCount"], 3);
    assert_eq!(
        v["usageMetadata"]["totalTokenCount"],
        INPUT_TOKENS + OUTPUT_TOKENS + 3
    );

    let (s, v) = post_json(&mock, "/v2/nothing", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v, json!({"error": "mock: no route for /v2/nothing"}));
    let seen = std::iter::from_fn(|| mock.try_next_request()).count();
    assert_eq!(seen, 9);
}

#[tokio::test]
async fn anthropic_stream_sends_spaced_frames_in_order() {
    let delay = Duration::from_millis(100);
    let mock = MockUpstream::start(move |r| Reply::auto_with_delay(r, delay))
        .await
        .unwrap();
    let url = format!("{}/v1/messages", mock.base_url());
    let body = json!({"model": "claude-s", "stream": true});
    let resp = send(&client(), url, &body).await;
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/event-stream; charset=utf-8"
    );
    assert!(resp.headers().contains_key("request-id"));
    let frames = frames(resp).await;
    let text: String = frames.iter().map(|(_, b)| utf8(b)).collect();
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let expected = "message_start content_block_start ping content_block_delta content_block_delta \
                    content_block_delta content_block_stop message_delta message_stop";
    assert_eq!(names, expected.split_whitespace().collect::<Vec<_>>());
    assert!(
        events
            .iter()
            .all(|(name, data)| data["type"] == name.as_str())
    );
    let start = &events[0].1["message"];
    assert_eq!(start["model"], "claude-s");
    assert_eq!(start["usage"]["input_tokens"], INPUT_TOKENS);
    let deltas: String = events[3..6]
        .iter()
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(deltas, REPLY_TEXT);
    assert_eq!(events[7].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[7].1["usage"]["output_tokens"], OUTPUT_TOKENS);

    // One frame per event, and the first arrived long before the last: streamed, not buffered.
    assert_eq!(frames.len(), events.len());
    let spread = frames[frames.len() - 1].0 - frames[0].0;
    assert!(spread >= Duration::from_millis(600), "spread {spread:?}");
}

#[tokio::test]
async fn openai_and_gemini_streams() {
    let mock = MockUpstream::start_default().await.unwrap();
    let c = client();
    let base = mock.base_url();

    let body = json!({"model": "gpt-s", "stream": true, "stream_options": {"include_usage": true}});
    let text = body_bytes(send(&c, format!("{base}/v1/chat/completions"), &body).await).await;
    let events = sse_events(utf8(&text));
    assert_eq!(events.last().unwrap().1, Value::String("[DONE]".into()));
    let chunks = &events[..events.len() - 1];
    assert!(
        chunks
            .iter()
            .all(|(_, d)| d["object"] == "chat.completion.chunk")
    );
    let usage_chunk = &chunks[chunks.len() - 1].1;
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], INPUT_TOKENS);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], OUTPUT_TOKENS);
    let content: String = chunks
        .iter()
        .filter_map(|(_, d)| d["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, REPLY_TEXT);

    let body = json!({"model": "gpt-s", "stream": true});
    let text = body_bytes(send(&c, format!("{base}/chat/completions"), &body).await).await;
    let events = sse_events(utf8(&text));
    assert!(events.iter().all(|(_, d)| d.get("usage").is_none()));

    let text = body_bytes(send(&c, format!("{base}/v1/responses"), &body).await).await;
    let events = sse_events(utf8(&text));
    assert_eq!(events[0].0, "response.created");
    let deltas = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta");
    assert_eq!(deltas.count(), 3);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "response.completed");
    assert_eq!(done["response"]["usage"]["input_tokens"], INPUT_TOKENS);
    assert_eq!(done["response"]["usage"]["output_tokens"], OUTPUT_TOKENS);
    assert!(!utf8(&text).contains("[DONE]"));

    let path = format!("{base}/v1beta/models/gemini-s:streamGenerateContent");
    let sse = body_bytes(send(&c, format!("{path}?alt=sse"), &json!({})).await).await;
    let chunks = sse_events(utf8(&sse));
    assert_eq!(chunks.len(), 3);
    let last = &chunks[2].1;
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], OUTPUT_TOKENS);
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    let array = body_bytes(send(&c, path, &json!({})).await).await;
    let array: Vec<Value> = serde_json::from_slice(&array).unwrap();
    assert_eq!(array.len(), 3);
    assert_eq!(
        array[2]["usageMetadata"]["totalTokenCount"],
        INPUT_TOKENS + OUTPUT_TOKENS
    );
}

#[tokio::test]
async fn dropping_a_stream_midway_is_reported() {
    let mut mock = MockUpstream::start(|_| Reply::Sse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        events: vec![(Duration::ZERO, Bytes::from_static(b"data: first\n\n"))],
        then: Then::Hang,
    })
    .await
    .unwrap();
    let url = format!("{}/stream?x=1", mock.base_url());
    let resp = send(&client(), url, &json!({})).await;
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"data: first\n\n");
    assert!(mock.try_next_close().is_none(), "still streaming");
    drop(body);
    let closed = mock.next_close().await.expect("close reported");
    let (uri, headers_sent, chunks_sent) = ("/stream?x=1".into(), true, 1);
    assert_eq!(
        closed,
        Closed {
            uri,
            headers_sent,
            chunks_sent
        }
    );
}

#[tokio::test]
async fn hang_sends_no_headers() {
    let mut mock = MockUpstream::start(|_| Reply::Hang).await.unwrap();
    let c = client();
    let empty = json!({});
    let pending = send(&c, format!("{}/v1/messages", mock.base_url()), &empty);
    let waited = tokio::time::timeout(Duration::from_millis(300), pending).await;
    assert!(waited.is_err(), "no response headers");
    assert_eq!(mock.next_request().await.unwrap().path(), "/v1/messages");
    let closed = mock.next_close().await.expect("abandoned request reported");
    assert!(!closed.headers_sent);
}

#[tokio::test]
async fn redirect_and_raw_gzip_body() {
    let sse = b"event: ping\ndata: {\"type\":\"ping\"}\n\n".repeat(3000);
    let gz = gzip_stored(&sse);
    let (half_a, half_b) = gz.split_at(gz.len() / 2);
    let chunks = vec![
        Bytes::copy_from_slice(half_a),
        Bytes::copy_from_slice(half_b),
    ];
    let mock = MockUpstream::start(move |req| {
        if req.path() == "/moved" {
            return Reply::Redirect {
                status: StatusCode::TEMPORARY_REDIRECT,
                location: "/v1/messages".into(),
            };
        }
        let mut headers = HeaderMap::new();
        let sse_type = HeaderValue::from_static("text/event-stream");
        headers.insert(header::CONTENT_TYPE, sse_type);
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        Reply::Raw {
            status: StatusCode::OK,
            headers,
            chunks: chunks.clone(),
        }
    })
    .await
    .unwrap();
    let c = client();
    let resp = send(&c, format!("{}/moved", mock.base_url()), &json!({})).await;
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(resp.headers()[header::LOCATION], "/v1/messages");
    assert!(body_bytes(resp).await.is_empty());

    let resp = send(&c, format!("{}/gz", mock.base_url()), &json!({})).await;
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
    let got = body_bytes(resp).await;
    assert_eq!(&got[..], &gz[..]);

    // Decode the member by hand: header, stored blocks, CRC-32 and ISIZE trailer.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(&got[..4], &[0x1f, 0x8b, 0x08, 0x00]);
    let mut at = 10;
    let mut out = Vec::new();
    loop {
        let last = got[at] & 1 == 1;
        assert_eq!(got[at] & 0b110, 0, "BTYPE=00 (stored)");
        let len = u16::from_le_bytes([got[at + 1], got[at + 2]]);
        let nlen = u16::from_le_bytes([got[at + 3], got[at + 4]]);
        assert_eq!(nlen, !len);
        out.extend_from_slice(&got[at + 5..at + 5 + usize::from(len)]);
        at += 5 + usize::from(len);
        if last {
            break;
        }
    }
    assert_eq!(out, sse);
    assert_eq!(got.len(), at + 8);
    assert_eq!(&got[at..at + 4], &crc32(&sse).to_le_bytes());
    assert_eq!(&got[at + 4..], &(sse.len() as u32).to_le_bytes());
}
