//! Hooks (SPEC.md §10.2) through a real gateway, with a real HTTP receiver standing in for the
//! guardrail and the SIEM: allow, block in every caller's envelope, modify, failures under each
//! policy, preference order, post-response payloads, and a full queue that blocks nothing.

use std::time::Duration;

use aperture_mock::{MockUpstream, Received, Reply};
use aperture_server::gateway::Gateway;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::common;

const PROVIDER_KEY: &str = "sk-SENTINEL-hooks-provider-key";
const CLIENT_KEY: &str = "sk-SENTINEL-hooks-client-key";
const HOOK_KEY: &str = "hook-SENTINEL-key-0001";
const ALICE: &str = "alice@example.com";
const PROXY: &str = "127.0.0.1:7000";

/// What the modify hook forwards, spacing and all (it must reach the provider byte for byte).
const MODIFIED: &str = r#"{ "model" : "gpt-5", "messages": [ {"role": "user", "content": "[cleaned by the guardrail]"} ] }"#;

/// The hook receiver: its path says how it answers.
fn hook_reply(r: &Received) -> Reply {
    let ok = |v: Value| Reply::json(StatusCode::OK, &v);
    match r.path() {
        "/allow" => ok(json!({"action": "allow", "unknown_field": true})),
        "/block" => {
            ok(json!({"action": "block", "status_code": 451, "message": "no secrets please"}))
        }
        "/modify" => Reply::Raw {
            status: StatusCode::OK,
            headers: HeaderMap::from_iter([(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )]),
            chunks: vec![Bytes::from(format!(
                r#"{{"action": "modify", "request_body": {MODIFIED}}}"#
            ))],
        },
        "/modify-model" => {
            ok(json!({"action": "modify", "request_body": {"model": "gpt-4o", "messages": []}}))
        }
        "/garbage" => Reply::Raw {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            chunks: vec![Bytes::from_static(b"<html>not json</html>")],
        },
        "/error" => Reply::json(StatusCode::INTERNAL_SERVER_ERROR, &json!({"oops": 1})),
        "/hang" => Reply::Hang,
        _ => ok(json!({})),
    }
}

/// Providers for the four envelopes on `base`, hooks and alice's capability objects as given.
fn config(base: &str, hooks: &str, caps: &str, data_dir: &str) -> String {
    format!(
        r#"{{
      "providers": {{
        "anthropic": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "authorization": "x-api-key",
                       "cost_basis": "anthropic", "compatibility": {{"anthropic_messages": true}},
                       "models": ["claude-sonnet-4-6"]}},
        "openai": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "cost_basis": "openai", "models": ["gpt-5"]}},
        "gemini": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "authorization": "x-goog-api-key",
                    "compatibility": {{"gemini_generate_content": true}}, "models": ["gemini-2.5-flash"]}},
        "bedrock": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "compatibility": {{"bedrock_model_invoke": true}},
                     "models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0"]}}
      }},
      "hooks": {{ {hooks} }},
      "quotas": {{"daily:<user>": {{"capacity": "$10.00", "rate": "$10.00/day"}}}},
      "grants": [
        {{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}},
            {{"read_metrics": true}}]}}}},
        {{"src": ["{ALICE}"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}},
            {{"models": "**", "quotas": [{{"bucket": "daily:<user>"}}]}}, {caps}],
            "example.com/cap/policy": [{{"tier": "gold"}}]}}}}
      ],
      "gateway": {{"data_dir": "{data_dir}", "identity": {{"tailscale": {{"enabled": false}},
                   "headers": {{"trusted_proxies": ["127.0.0.0/8"]}}}}}}
    }}"#
    )
}

fn gateway(text: &str) -> Gateway {
    let config = common::load(text, aperture_config::Mode::Strict);
    Gateway::with_source(config, text.to_string(), None).unwrap()
}

fn alice() -> [(&'static str, &'static str); 2] {
    [
        ("tailscale-user-login", ALICE),
        ("authorization", "Bearer sk-SENTINEL-hooks-client-key"),
    ]
}

const CHAT: &str = r#"{"model":"gpt-5","messages":[{"role":"user","content":"my key is sk-SENTINEL-hooks-client-key"}]}"#;

async fn metrics(gw: &Gateway) -> String {
    common::call(gw, "GET", "127.0.0.1:1", "/metrics", &[], "")
        .await
        .text
}

#[tokio::test]
async fn pre_request_hooks_run_in_preference_order_and_a_modified_body_reaches_the_provider() {
    let mut provider = MockUpstream::start_default().await.unwrap();
    let mut receiver = MockUpstream::start(hook_reply).await.unwrap();
    let dir = common::temp_dir("hooks-modify");
    let hooks = format!(
        r#""guard": {{"url": "{r}/allow", "apikey": "{HOOK_KEY}", "authorization": "hec", "preference": 10}},
           "cleaner": {{"url": "{r}/modify", "apikey": "{HOOK_KEY}", "authorization": "x-api-key"}}"#,
        r = receiver.base_url()
    );
    // Named low preference first: the order is the hooks' preference, not the grant's.
    let caps = r#"{"send_hooks": [
        {"name": "cleaner", "events": ["pre_request"], "send": ["request_body"]},
        {"name": "guard", "events": ["pre_request"], "send": ["user_message", "grants", "quotas"]}]}"#;
    let text = config(&provider.base_url(), &hooks, caps, dir.to_str().unwrap());
    let gw = gateway(&text);
    let a = common::call(&gw, "POST", PROXY, "/v1/chat/completions", &alice(), CHAT).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);

    let first = receiver
        .next_request_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(first.path(), "/allow");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Splunk {HOOK_KEY}").as_str())
    );
    let p = first.json();
    assert_eq!(p["event"], "pre_request");
    assert_eq!(p["user_message"], "my key is [REDACTED]");
    let meta = &p["metadata"];
    assert_eq!(meta["login_name"], ALICE);
    assert_eq!(
        (meta["model"].as_str(), meta["provider"].as_str()),
        (Some("gpt-5"), Some("openai"))
    );
    assert!(
        meta["request_id"].as_str().unwrap().starts_with("req_"),
        "{meta}"
    );
    assert!(
        meta["url"]
            .as_str()
            .unwrap()
            .ends_with("/v1/chat/completions"),
        "{meta}"
    );
    assert_eq!(
        meta["grants"]["example.com/cap/policy"],
        json!([{"tier": "gold"}])
    );
    assert_eq!(
        meta["quotas"][format!("daily:{ALICE}")],
        json!({"current": 10_000_000_000i64, "capacity": 10_000_000_000i64, "rate": "$10.00/day"})
    );
    assert!(p.get("request_body").is_none(), "not in the guard's send");

    let second = receiver
        .next_request_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(second.path(), "/modify");
    assert_eq!(second.header("x-api-key"), Some(HOOK_KEY));
    let p = second.json();
    assert_eq!(p["request_body"]["model"], "gpt-5");
    for payload in [&first.body, &second.body] {
        let text = String::from_utf8_lossy(payload);
        assert!(
            !text.contains(CLIENT_KEY) && !text.contains("SENTINEL-hooks-provider"),
            "{text}"
        );
    }

    // The provider gets the hook's body exactly as written, with its own key.
    let up = provider
        .next_request_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&up.body), MODIFIED);
    assert_eq!(
        up.header("content-length"),
        Some(MODIFIED.len().to_string().as_str())
    );
    assert_eq!(
        up.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    // And the record keeps the body as forwarded.
    let rows = common::records(gw.db(), 1).await;
    let record = gw.db().request(&rows[0].id).unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(record.request_body.as_deref().unwrap_or_default()),
        MODIFIED
    );
    let m = metrics(&gw).await;
    for line in [
        r#"aperture_hook_calls_total{hook="guard",event="pre_request",outcome="allow"} 1"#,
        r#"aperture_hook_calls_total{hook="cleaner",event="pre_request",outcome="modify"} 1"#,
    ] {
        assert!(m.contains(line), "{line} in {m}");
    }
}

#[tokio::test]
async fn a_block_answers_its_status_in_every_callers_guardrail_envelope() {
    let mut provider = MockUpstream::start_default().await.unwrap();
    let receiver = MockUpstream::start(hook_reply).await.unwrap();
    let dir = common::temp_dir("hooks-block");
    let hooks = format!(r#""guard": {{"url": "{}/block"}}"#, receiver.base_url());
    let caps = r#"{"send_hooks": [{"name": "guard", "events": ["pre_request"], "send": ["user_message"]}]}"#;
    let gw = gateway(&config(
        &provider.base_url(),
        &hooks,
        caps,
        dir.to_str().unwrap(),
    ));
    let calls = [
        (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"x"}]}"#,
        ),
        ("/v1/chat/completions", CHAT),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            r#"{"contents":[{"parts":[{"text":"x"}]}]}"#,
        ),
        (
            "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
            r#"{"messages":[]}"#,
        ),
    ];
    let mut answers = Vec::new();
    for (path, body) in calls {
        let a = common::call(&gw, "POST", PROXY, path, &alice(), body).await;
        assert_eq!(a.status.as_u16(), 451, "{path}: {}", a.json);
        let message = ["/error/message", "/message"]
            .iter()
            .find_map(|p| a.json.pointer(p).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        assert_eq!(message, "no secrets please", "{path}");
        answers.push(a);
    }
    assert_eq!(answers[0].json["error"]["type"], "invalid_request_error");
    assert_eq!(answers[1].json["error"]["type"], "guardrail_blocked");
    assert_eq!(answers[2].json["error"]["status"], "PERMISSION_DENIED");
    assert_eq!(
        answers[3].headers["x-amzn-errortype"],
        "AccessDeniedException"
    );
    assert!(
        provider.try_next_request().is_none(),
        "nothing was forwarded"
    );
    let rows = common::records(gw.db(), 4).await;
    assert!(
        rows.iter().all(|r| r.status == 451 && r.login == ALICE),
        "every block is recorded"
    );
    assert!(metrics(&gw).await.contains(
        r#"aperture_hook_calls_total{hook="guard",event="pre_request",outcome="block"} 4"#
    ));
}

#[tokio::test]
async fn failures_follow_each_hooks_fail_policy() {
    let mut provider = MockUpstream::start_default().await.unwrap();
    let receiver = MockUpstream::start(hook_reply).await.unwrap();
    let r = receiver.base_url();
    // A port nobody listens on.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cases = [
        ("timeout", format!("{r}/hang"), r#", "timeout": "200ms""#),
        ("down", down.clone(), ""),
        ("garbage", format!("{r}/garbage"), ""),
        ("error", format!("{r}/error"), ""),
        ("model", format!("{r}/modify-model"), ""),
    ];
    for (name, url, extra) in cases {
        for policy in ["fail_open", "fail_closed"] {
            let dir = common::temp_dir("hooks-fail");
            let hooks = format!(r#""h": {{"url": "{url}", "fail_policy": "{policy}"{extra}}}"#);
            let caps = r#"{"send_hooks": [{"name": "h", "events": ["pre_request"], "send": ["request_body"]}]}"#;
            let gw = gateway(&config(
                &provider.base_url(),
                &hooks,
                caps,
                dir.to_str().unwrap(),
            ));
            let a = common::call(&gw, "POST", PROXY, "/v1/chat/completions", &alice(), CHAT).await;
            let forwarded = provider.try_next_request();
            if policy == "fail_open" {
                assert_eq!(a.status, StatusCode::OK, "{name} {policy}: {}", a.json);
                let up = forwarded.expect("forwarded");
                assert_eq!(
                    String::from_utf8_lossy(&up.body),
                    CHAT,
                    "{name}: the body is untouched"
                );
            } else {
                assert_eq!(
                    a.status,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{name} {policy}: {}",
                    a.json
                );
                assert_eq!(
                    a.json["error"]["message"],
                    r#"pre_request hook "h" failed and its fail_policy is fail_closed"#
                );
                assert!(forwarded.is_none(), "{name}: not forwarded");
                assert!(
                    !a.text.contains(&down) && !a.text.contains(&r),
                    "no hook URL in the answer"
                );
            }
            assert!(
                metrics(&gw).await.contains(
                    r#"aperture_hook_calls_total{hook="h",event="pre_request",outcome="failed"} 1"#
                ),
                "{name} {policy}"
            );
        }
    }
}

/// Anthropic answers with a tool call, streamed or not.
fn tool_reply(r: &Received) -> Reply {
    let body = r.json();
    if body["stream"] == json!(true) {
        let events = [
            (
                "message_start",
                json!({"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],"usage":{"input_tokens":40,"output_tokens":1}}}),
            ),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_s","name":"get_weather","input":{}}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Oslo\"}"}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":0}),
            ),
            (
                "message_delta",
                json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":12}}),
            ),
            ("message_stop", json!({"type":"message_stop"})),
        ];
        return Reply::sse(
            events
                .iter()
                .map(|(n, d)| {
                    (
                        Duration::ZERO,
                        Bytes::from(format!("event: {n}\ndata: {d}\n\n")),
                    )
                })
                .collect(),
        );
    }
    Reply::json(
        StatusCode::OK,
        &json!({
            "id": "msg_n", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
            "content": [{"type": "tool_use", "id": "toolu_n", "name": "get_weather", "input": {"city": "Paris"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 30, "output_tokens": 9}
        }),
    )
}

#[tokio::test]
async fn after_the_response_each_event_gets_its_payload() {
    let provider = MockUpstream::start(tool_reply).await.unwrap();
    let mut receiver = MockUpstream::start(hook_reply).await.unwrap();
    let dir = common::temp_dir("hooks-post");
    let hooks = format!(
        r#""siem": {{"url": "{}/sink", "apikey": "{HOOK_KEY}"}}"#,
        receiver.base_url()
    );
    let caps = r#"{"send_hooks": [
        {"name": "siem", "events": ["entire_request"], "send": ["request_body", "response_body", "estimated_cost"]},
        {"name": "siem", "events": ["tool_call_entire_request"], "send": ["tools", "raw_responses", "quotas"]}]}"#;
    let gw = gateway(&config(
        &provider.base_url(),
        &hooks,
        caps,
        dir.to_str().unwrap(),
    ));
    for stream in [false, true] {
        let body = json!({"model": "claude-sonnet-4-6", "max_tokens": 64, "stream": stream,
                          "messages": [{"role": "user", "content": "weather in Oslo? sk-SENTINEL-hooks-client-key"}]})
        .to_string();
        let a = common::call(&gw, "POST", PROXY, "/v1/messages", &alice(), &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        // Both events arrive, each once, in either order.
        let mut got = Vec::new();
        for _ in 0..2 {
            let r = receiver
                .next_request_within(Duration::from_secs(5))
                .await
                .expect("a delivery");
            assert_eq!(
                r.header("authorization"),
                Some(format!("Bearer {HOOK_KEY}").as_str())
            );
            let text = String::from_utf8_lossy(&r.body).to_string();
            assert!(
                !text.contains(CLIENT_KEY) && !text.contains(PROVIDER_KEY),
                "{text}"
            );
            got.push(r.json());
        }
        got.sort_by_key(|p| p["event"].as_str().unwrap_or_default().to_string());
        let (entire, tools) = (&got[0], &got[1]);
        assert_eq!(entire["event"], "entire_request");
        assert_eq!(entire["metadata"]["url"], tools["metadata"]["url"]);
        assert!(
            entire["metadata"]["url"]
                .as_str()
                .unwrap()
                .ends_with("/v1/messages"),
            "{entire}"
        );
        assert_eq!(entire["request_body"]["stream"], json!(stream));
        assert_eq!(
            entire["response_body"]["content"][0]["name"], "get_weather",
            "{stream}: {entire}"
        );
        let cost = &entire["metadata"]["estimated_cost"];
        assert!(cost["dollars"].as_f64().unwrap() > 0.0, "{cost}");
        assert!(
            cost["cost_basis"]
                .as_str()
                .unwrap()
                .starts_with("anthropic/"),
            "{cost}"
        );
        let input = if stream { 40 } else { 30 };
        assert_eq!(entire["metadata"]["usage"]["input_tokens"], input);
        assert_eq!(cost["usage"]["input_tokens"], input);
        // Named by two objects, the hook's events and send are unioned (SPEC.md §10.2):
        // both payloads carry every field.
        assert_eq!(entire["tool_calls"], tools["tool_calls"]);

        assert_eq!(tools["event"], "tool_call_entire_request");
        let city = if stream { "Oslo" } else { "Paris" };
        assert_eq!(
            tools["tool_calls"],
            json!([{"name": "get_weather", "params": {"city": city}}])
        );
        let raw = tools["raw_responses"].as_array().unwrap();
        assert_eq!(raw.len(), if stream { 6 } else { 1 }, "{raw:?}");
        assert!(
            tools["metadata"]["quotas"][format!("daily:{ALICE}")]["current"]
                .as_i64()
                .unwrap()
                < 10_000_000_000
        );
        assert_eq!(
            tools["metadata"]["session_id"],
            entire["metadata"]["session_id"]
        );
        assert_eq!(tools["request_body"], entire["request_body"]);
        assert_eq!(tools["response_body"], entire["response_body"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_hook_fills_its_own_queue_and_delays_nothing() {
    let provider = MockUpstream::start_default().await.unwrap();
    let receiver = MockUpstream::start(hook_reply).await.unwrap();
    receiver.set_recording(false);
    let dir = common::temp_dir("hooks-queue");
    // No timeout: a hung delivery holds its slot (up to the 5-minute ceiling).
    let hooks = format!(
        r#""dead": {{"url": "{r}/hang", "timeout": "0"}}, "live": {{"url": "{r}/sink"}}"#,
        r = receiver.base_url()
    );
    let caps = r#"{"send_hooks": [{"name": "dead", "events": ["entire_request"], "send": []},
                                  {"name": "live", "events": ["entire_request"], "send": []}]}"#;
    let gw = std::sync::Arc::new(gateway(&config(
        &provider.base_url(),
        &hooks,
        caps,
        dir.to_str().unwrap(),
    )));
    let total = aperture_server::gateway::hooks::QUEUE_CAPACITY
        + aperture_server::gateway::hooks::CONCURRENCY
        + 100;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in (worker..total).step_by(16) {
                let a =
                    common::call(&gw, "POST", PROXY, "/v1/chat/completions", &alice(), CHAT).await;
                ok += usize::from(a.status == StatusCode::OK);
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    assert_eq!(ok, total, "every request answered");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a dead hook must not hold responses"
    );
    let dropped = |m: &str| {
        m.lines()
            .find(|l| l.starts_with(r#"aperture_hook_calls_total{hook="dead",event="entire_request",outcome="dropped"}"#))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    // The live hook got every delivery while the dead one's queue was full.
    let m = common::eventually("live deliveries", || {
        let gw = gw.clone();
        async move {
            let m = metrics(&gw).await;
            m.contains(&format!(
                r#"aperture_hook_calls_total{{hook="live",event="entire_request",outcome="sent"}} {total}"#
            ))
            .then_some(m)
        }
    })
    .await;
    let n = dropped(&m);
    assert!(n >= 100 - 1 && n <= total, "dropped {n} of {total}: {m}");
}

/// The guardrail script of `examples/hooks/guardrail.py`, started on a free port; `None` when
/// python3 is missing (then the test says SKIPPED, unless `APERTURE_PYTHON_TEST=required`).
fn start_guardrail(key: &str) -> Option<(std::process::Child, String)> {
    use std::io::BufRead;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/hooks/guardrail.py"
    );
    let spawned = std::process::Command::new("python3")
        .args([script, "--port", "0", "--key", key])
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("APERTURE_PYTHON_TEST").as_deref() != Ok("required"),
                "python3 is required here: {e}"
            );
            eprintln!("SKIPPED: python3 not found ({e})");
            return None;
        }
    };
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    let mut reader = std::io::BufReader::new(stdout);
    reader.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    Some((child, format!("http://{addr}")))
}

#[tokio::test]
async fn the_example_guardrail_blocks_redacts_and_allows() {
    let Some((mut child, url)) = start_guardrail(HOOK_KEY) else {
        return;
    };
    let mut provider = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("hooks-example");
    let hooks = format!(
        r#""guardrail": {{"url": "{url}", "apikey": "{HOOK_KEY}", "fail_policy": "fail_closed"}}"#
    );
    let caps = r#"{"send_hooks": [{"name": "guardrail", "events": ["pre_request"], "send": ["request_body", "user_message"]}]}"#;
    let gw = gateway(&config(
        &provider.base_url(),
        &hooks,
        caps,
        dir.to_str().unwrap(),
    ));
    let chat = |text: &str| {
        json!({"model": "gpt-5", "messages": [{"role": "user", "content": text}]}).to_string()
    };

    let blocked = chat("deploy with AKIAIOSFODNN7EXAMPLE please");
    let a = common::call(
        &gw,
        "POST",
        PROXY,
        "/v1/chat/completions",
        &alice(),
        &blocked,
    )
    .await;
    assert_eq!(a.status.as_u16(), 422, "{}", a.json);
    assert_eq!(
        a.json["error"]["message"],
        "blocked by guardrail: the prompt contains an AWS access key id"
    );
    assert_eq!(a.json["error"]["type"], "guardrail_blocked");
    assert!(provider.try_next_request().is_none());

    let a = common::call(
        &gw,
        "POST",
        PROXY,
        "/v1/chat/completions",
        &alice(),
        &chat("mail bob@corp.example now"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    let up = provider
        .next_request_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(up.json()["messages"][0]["content"], "mail [email] now");

    let a = common::call(
        &gw,
        "POST",
        PROXY,
        "/v1/chat/completions",
        &alice(),
        &chat("hello"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let up = provider
        .next_request_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&up.body),
        chat("hello"),
        "allowed: untouched"
    );
    let _ = child.kill();
    let _ = child.wait();
}
