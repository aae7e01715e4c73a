//! Every request on the record: records in the SQLite file with the mock provider's known
//! usage for each format, refusals and client disconnects included, metrics, and no secret in
//! the database file, the metrics or any answer.

use crate::common;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aperture_log::store::{Filter, Page, SqliteStore, Store};
use aperture_mock::{INPUT_TOKENS, MockUpstream, OUTPUT_TOKENS, Reply, Then};
use aperture_server::gateway::Gateway;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

const CLIENT_KEY: &str = "sk-ant-api03-SENTINELCLIENT";
const CLIENT_BEARER: &str = "sk-SENTINELBEARER0000";
const CLIENT_QUERY_KEY: &str = "AIzaSENTINELQUERY";
const PROVIDER_KEY: &str = "sk-SENTINELPROVIDER00";

struct Harness {
    gateway: Gateway,
    addr: String,
    data_dir: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn harness(name: &str, base: &str) -> Harness {
    let data_dir = common::temp_dir(&format!("records-{name}"));
    let text = format!(
        r#"{{
      "providers": {{
        "anthropic": {{"baseurl": "{base}", "auth_mode": "passthrough", "authorization": "x-api-key",
                       "compatibility": {{"anthropic_messages": true}}, "models": ["claude-sonnet-4-6"]}},
        "openai": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}",
                    "compatibility": {{"openai_chat": true, "openai_responses": true}}, "models": ["gpt-5"]}},
        "gemini": {{"baseurl": "{base}", "auth_mode": "passthrough", "authorization": "x-goog-api-key",
                    "compatibility": {{"gemini_generate_content": true}}, "models": ["gemini-2.5-flash"]}}
      }},
      "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [
        {{"role": "admin"}}, {{"models": "**"}}, {{"read_metrics": true}}]}}}}],
      "gateway": {{"data_dir": "{}"}}
    }}"#,
        data_dir.display()
    );
    let config = common::load(&text, aperture_config::Mode::Strict);
    let gateway = Gateway::with_source(config, text, None).unwrap();
    let addr = common::serve(gateway.clone()).await;
    Harness {
        gateway,
        addr,
        data_dir,
        client: common::client(),
    }
}

impl Harness {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, String) {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let res = self
            .client
            .request(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let head = format!("{:?}", res.headers());
        let body = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes())
            .into_owned();
        for secret in [CLIENT_KEY, CLIENT_BEARER, CLIENT_QUERY_KEY, PROVIDER_KEY] {
            assert!(
                !body.contains(secret) && !head.contains(secret),
                "{secret} in an answer"
            );
        }
        (status, body)
    }

    /// Drains the queue and opens the database file.
    async fn records(&self) -> SqliteStore {
        let g = self.gateway.clone();
        tokio::task::spawn_blocking(move || g.shutdown_log())
            .await
            .unwrap();
        SqliteStore::open(self.data_dir.join("aperture.db")).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_format_is_recorded_with_its_usage_and_no_secret_is_kept() {
    let mock = MockUpstream::start_default().await.unwrap();
    let h = harness("formats", &mock.base_url()).await;
    let anthropic = [
        ("x-api-key", CLIENT_KEY),
        ("anthropic-version", "2023-06-01"),
        ("x-claude-code-session-id", "sess-42"),
    ];
    let openai = [("authorization", &*format!("Bearer {CLIENT_BEARER}"))];
    let cases: Vec<(&str, &[(&str, &str)], String)> = vec![
        ("/v1/messages", &anthropic, format!(r#"{{"model":"claude-sonnet-4-6","messages":[{{"role":"user","content":"echo {CLIENT_KEY}"}}]}}"#)),
        ("/v1/messages", &anthropic, r#"{"model":"claude-sonnet-4-6","stream":true,"messages":[]}"#.to_string()),
        ("/v1/chat/completions", &openai, r#"{"model":"gpt-5","messages":[]}"#.to_string()),
        ("/v1/chat/completions", &openai, r#"{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true}}"#.to_string()),
        ("/v1/responses", &openai, r#"{"model":"gpt-5","input":"hi","stream":true}"#.to_string()),
        (
            &*Box::leak(format!("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key={CLIENT_QUERY_KEY}").into_boxed_str()),
            &[],
            r#"{"contents":[]}"#.to_string(),
        ),
    ];
    for (path, headers, body) in &cases {
        let (status, _) = h.send(Method::POST, path, headers, body).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // A refusal is on the record too.
    let (status, _) = h
        .send(
            Method::POST,
            "/v1/chat/completions",
            &openai,
            r#"{"model":"nope"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let metrics = h.send(Method::GET, "/metrics", &[], "").await.1;
    assert!(metrics.contains("aperture_requests_total{provider=\"anthropic\",model=\"claude-sonnet-4-6\",api_type=\"ant_messages\",status=\"200\"} 2"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "aperture_tokens_total{{provider=\"openai\",model=\"gpt-5\",kind=\"output\"}} {}",
            3 * OUTPUT_TOKENS
        )),
        "{metrics}"
    );
    assert!(metrics.contains("status=\"404\"} 1"), "{metrics}");
    assert!(
        metrics.contains("aperture_gateway_overhead_seconds_count{api_type=\"oai_completions\"} 2"),
        "the gateway's own time is measured: {metrics}"
    );

    let store = h.records().await;
    let mut rows = store
        .requests(
            &Filter::default(),
            Page {
                limit: 100,
                offset: 0,
            },
        )
        .unwrap();
    assert_eq!(rows.len(), cases.len() + 1, "one record per request");
    rows.sort_by_key(|r| r.time_ms);
    for (row, (path, _, _)) in rows.iter().zip(&cases) {
        assert_eq!(row.status, 200, "{path}");
        assert_eq!(
            (row.usage.input, row.usage.output),
            (INPUT_TOKENS, OUTPUT_TOKENS),
            "{path}: {:?}",
            row.usage
        );
        assert_eq!(row.login, "(loopback)");
    }
    let refused = rows.last().unwrap();
    assert_eq!(
        (refused.status, refused.error.as_deref()),
        (404, Some("no route found for model \"nope\""))
    );
    let first = store.request(&rows[0].id).unwrap().unwrap();
    assert_eq!(first.session_id, "sess-42");
    assert!(
        first.cost.is_some_and(|c| c.nanodollars > 0),
        "claude-sonnet-4-6 has a price"
    );
    assert!(first.request_body.is_some() && first.response_body.is_some());
    // Path-model endpoints stream their body upstream; the record still gets a copy.
    let gemini = rows
        .iter()
        .find(|r| r.api_type == "gemini_generate_content")
        .unwrap();
    let gemini = store.request(&gemini.id).unwrap().unwrap();
    assert_eq!(
        gemini.request_body.as_deref(),
        Some(&br#"{"contents":[]}"#[..])
    );

    // Nothing secret in the database files.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&h.data_dir).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("aperture.db"))
        {
            bytes.extend(std::fs::read(&p).unwrap());
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("claude-sonnet-4-6"),
        "the records are in the file"
    );
    for secret in [CLIENT_KEY, CLIENT_BEARER, CLIENT_QUERY_KEY, PROVIDER_KEY] {
        assert!(!text.contains(secret), "{secret} stored");
        assert!(!metrics.contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_leaves_a_499_record() {
    let mock = MockUpstream::start(|_| Reply::Sse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        events: vec![(
            Duration::ZERO,
            Bytes::from_static(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-6\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n"),
        )],
        then: Then::Hang,
    })
    .await
    .unwrap();
    let mut mock = mock;
    let h = harness("gone", &mock.base_url()).await;
    let req = Request::post(format!("http://{}/v1/messages", h.addr))
        .body(Full::new(Bytes::from_static(
            br#"{"model":"claude-sonnet-4-6","stream":true}"#,
        )))
        .unwrap();
    let res = h.client.request(req).await.unwrap();
    let mut body = res.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    drop(body);
    mock.next_close().await.expect("upstream closed");
    let store = h.records().await;
    let rows = store
        .requests(
            &Filter::default(),
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, 499);
    assert_eq!(rows[0].usage.input, 7, "usage seen so far is kept");
}

/// Codex stops reading at `response.completed`, before the provider ends its body: every
/// format's stream whose terminal event was relayed is complete, not a 499.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_after_the_terminal_event_leaves_a_complete_record() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-6","stream":true}"#,
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-6\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        ),
        (
            "/v1/responses",
            r#"{"model":"gpt-5","stream":true}"#,
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":7,\"output_tokens\":5,\"total_tokens\":12}}}\n\n",
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-5","stream":true}"#,
            "data: {\"id\":\"c1\",\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12}}\n\ndata: [DONE]\n\n",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            r#"{"contents":[]}"#,
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":7,\"candidatesTokenCount\":5},\"modelVersion\":\"gemini-2.5-flash\"}\n\n",
        ),
    ];
    for (path, body, events) in cases {
        // The whole stream, then the provider keeps the body open.
        let events = Bytes::from(events.to_string());
        let mut mock = MockUpstream::start(move |_| Reply::Sse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            events: vec![(Duration::ZERO, events.clone())],
            then: Then::Hang,
        })
        .await
        .unwrap();
        let h = harness("terminal", &mock.base_url()).await;
        let req = Request::post(format!("http://{}{path}", h.addr))
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let res = h.client.request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let mut body = res.into_body();
        assert!(body.frame().await.unwrap().unwrap().is_data());
        drop(body);
        mock.next_close().await.expect("upstream closed");
        let store = h.records().await;
        let rows = store
            .requests(
                &Filter::default(),
                Page {
                    limit: 10,
                    offset: 0,
                },
            )
            .unwrap();
        assert_eq!(rows.len(), 1, "{path}");
        let record = store.request(&rows[0].id).unwrap().unwrap();
        assert_eq!(record.status, 200, "{path}: {:?}", record.error);
        assert!(!record.incomplete, "{path}");
        assert_eq!((record.usage.input, record.usage.output), (7, 5), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_requests_give_n_records() {
    let mock = MockUpstream::start(|_| {
        Reply::json(
            StatusCode::OK,
            &serde_json::json!({"usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        )
    })
    .await
    .unwrap();
    mock.set_recording(false);
    let h = Arc::new(harness("many", &mock.base_url()).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                assert_eq!(
                    h.send(
                        Method::POST,
                        "/v1/chat/completions",
                        &[],
                        r#"{"model":"gpt-5"}"#
                    )
                    .await
                    .0,
                    StatusCode::OK
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let store = h.records().await;
    let totals = store
        .totals(&Filter::default(), aperture_log::store::GroupBy::Model)
        .unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(
        (
            totals[0].requests,
            totals[0].input_tokens,
            totals[0].output_tokens
        ),
        (200, 600, 400)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_before_the_answer_leaves_a_499_record() {
    let mut mock = MockUpstream::start(|_| Reply::Hang).await.unwrap();
    let h = harness("early", &mock.base_url()).await;
    let req = Request::post(format!("http://{}/v1/chat/completions", h.addr))
        .body(Full::new(Bytes::from_static(br#"{"model":"gpt-5"}"#)))
        .unwrap();
    // The provider never answers; the client gives up after the request reached it.
    let sent = h.client.request(req);
    let waited = tokio::select! {
        _ = sent => false,
        got = mock.next_request() => got.is_some(),
    };
    assert!(waited, "the request reached the provider");
    mock.next_close()
        .await
        .expect("the gateway dropped the upstream call");
    let store = h.records().await;
    let rows = store
        .requests(
            &Filter::default(),
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].status, rows[0].model.as_str()), (499, "gpt-5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_response_id_continues_the_session() {
    let mock = MockUpstream::start_default().await.unwrap();
    let h = harness("chain", &mock.base_url()).await;
    let (status, first) = h
        .send(
            Method::POST,
            "/v1/responses",
            &[],
            r#"{"model":"gpt-5","input":"hi"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = serde_json::from_str::<serde_json::Value>(&first).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = format!(r#"{{"model":"gpt-5","input":"more","previous_response_id":"{id}"}}"#);
    assert_eq!(
        h.send(Method::POST, "/v1/responses", &[], &body).await.0,
        StatusCode::OK
    );
    let store = h.records().await;
    let mut rows = store
        .requests(
            &Filter::default(),
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .unwrap();
    rows.sort_by_key(|r| r.time_ms);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].session_id, rows[1].session_id,
        "one session across the chain"
    );
    let second = store.request(&rows[1].id).unwrap().unwrap();
    assert_eq!(second.session_source, "previous_response_id");
}
