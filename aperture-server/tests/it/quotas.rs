//! Dollar quotas (SPEC.md §10.1) through a real gateway in front of the mock provider: refusals
//! in every caller's format, exact debits of recorded costs, restarts, reloads, the API.

use std::sync::Arc;

use aperture_mock::{MockUpstream, Reply};
use aperture_server::gateway::Gateway;
use http::StatusCode;
use serde_json::{Value, json};

use crate::common;

const KEY: &str = "sk-SENTINEL-quota-provider";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// Four providers (one per envelope) priced by the bundled table; `quotas` and the grants'
/// quota references are the test's.
fn config(base: &str, quotas: &str, refs: &str, data_dir: &str) -> String {
    format!(
        r#"{{
      "providers": {{
        "anthropic": {{"baseurl": "{base}", "apikey": "{KEY}", "authorization": "x-api-key", "cost_basis": "anthropic",
                       "compatibility": {{"anthropic_messages": true}}, "models": ["claude-sonnet-4-6"]}},
        "openai": {{"baseurl": "{base}", "apikey": "{KEY}", "cost_basis": "openai", "models": ["gpt-5"]}},
        "gemini": {{"baseurl": "{base}", "apikey": "{KEY}", "authorization": "x-goog-api-key", "cost_basis": "google",
                    "compatibility": {{"gemini_generate_content": true}}, "models": ["gemini-2.5-flash"]}},
        "bedrock": {{"baseurl": "{base}", "apikey": "{KEY}", "compatibility": {{"bedrock_model_invoke": true}},
                     "models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0"]}}
      }},
      "quotas": {{ {quotas} }},
      "grants": [
        {{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}},
            {{"read_metrics": true}}]}}}},
        {{"src": ["{ALICE}", "{BOB}"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}},
            {{"models": "**", "quotas": [{refs}]}}]}}}}
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

const PROXY: &str = "127.0.0.1:7000";

fn as_user(login: &str) -> [(&str, &str); 1] {
    [("tailscale-user-login", login)]
}

const CHAT: &str = r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn an_empty_bucket_refuses_at_once_in_every_callers_envelope() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("quota-zero");
    let text = config(
        &mock.base_url(),
        r#""zero": {"capacity": "$0.00", "rate": "$0.00/day"}"#,
        r#"{"bucket": "zero"}"#,
        dir.to_str().unwrap(),
    );
    let gw = gateway(&text);
    let alice = as_user(ALICE);
    let calls = [
        (
            "/v1/messages",
            r#"{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[]}"#,
        ),
        ("/v1/chat/completions", CHAT),
        ("/v1beta/models/gemini-2.5-flash:generateContent", "{}"),
        (
            "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
            "{}",
        ),
    ];
    for (path, body) in calls {
        let a = common::call(&gw, "POST", PROXY, path, &alice, body).await;
        assert_eq!(
            a.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            a.json
        );
        assert_eq!(a.headers["retry-after"], "86400", "{path}: never refills");
        let message = ["/error/message", "/message"]
            .iter()
            .find_map(|p| a.json.pointer(p).and_then(Value::as_str))
            .unwrap_or_default();
        assert_eq!(
            message, r#"quota exceeded for bucket "zero""#,
            "{path}: {}",
            a.json
        );
    }
    // Each caller's own shape: Anthropic's type, OpenAI's error object, Gemini's status,
    // Bedrock's header.
    let a = common::call(&gw, "POST", PROXY, calls[0].0, &alice, calls[0].1).await;
    assert_eq!(a.json["type"], "error");
    let g = common::call(&gw, "POST", PROXY, calls[2].0, &alice, calls[2].1).await;
    assert_eq!(
        g.json["error"]["status"], "RESOURCE_EXHAUSTED",
        "{}",
        g.json
    );
    let b = common::call(&gw, "POST", PROXY, calls[3].0, &alice, calls[3].1).await;
    assert!(b.headers.contains_key("x-amzn-errortype"));
    assert!(mock.try_next_request().is_none(), "nothing was forwarded");
    // Admins have no quota here: not refused.
    let admin = common::call(
        &gw,
        "POST",
        "127.0.0.1:1",
        "/v1/chat/completions",
        &[],
        CHAT,
    )
    .await;
    assert_eq!(admin.status, StatusCode::OK);
    // Every refusal is on the record, and counted per bucket.
    let rows = common::records(gw.db(), 8).await;
    assert_eq!(rows.iter().filter(|r| r.status == 429).count(), 7);
    assert!(
        rows.iter()
            .filter(|r| r.status == 429)
            .all(|r| r.login == ALICE)
    );
    let m = common::call(&gw, "GET", "127.0.0.1:1", "/metrics", &[], "").await;
    assert!(
        m.text
            .contains("aperture_quota_rejections_total{quota=\"zero\"} 7"),
        "{}",
        m.text
    );
}

#[tokio::test]
async fn a_one_cent_bucket_lets_through_exactly_what_the_rule_allows() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("quota-cent");
    let text = config(
        &mock.base_url(),
        r#""cent:<user>": {"capacity": "$0.01", "rate": "$0.00/day"}"#,
        r#"{"bucket": "cent:<user>"}"#,
        dir.to_str().unwrap(),
    );
    let gw = gateway(&text);
    let alice = as_user(ALICE);
    // Requests until refused; after each, wait for its record (the debit comes with it).
    let mut allowed = 0;
    let mut cost = 0;
    loop {
        let a = common::call(&gw, "POST", PROXY, "/v1/chat/completions", &alice, CHAT).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                a.json["error"]["message"],
                format!("quota exceeded for bucket \"cent:{ALICE}\"")
            );
            let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert_eq!(wait, 86_400, "a zero rate never refills");
            break;
        }
        assert_eq!(a.status, StatusCode::OK);
        mock.next_request().await.unwrap();
        allowed += 1;
        let rows = common::records(gw.db(), allowed).await;
        cost = rows[0].cost_nanodollars.unwrap();
        assert!(allowed < 10_000, "never refused");
    }
    // Positive balance before each request: ceil($0.01 / cost) requests.
    let cap: u64 = 10_000_000;
    assert_eq!(
        allowed,
        cap.div_ceil(cost) as usize,
        "cost {cost} nanodollars each"
    );
    let quotas = common::call(&gw, "GET", PROXY, "/api/quotas", &alice, "").await;
    let bucket = &quotas.json["buckets"][0];
    assert_eq!(bucket["name"], format!("cent:{ALICE}"));
    let spent = cap as i64 - allowed as i64 * cost as i64;
    assert_eq!(
        bucket["balance"],
        aperture_config::format_money(spent),
        "balance = capacity − the sum of recorded costs, to the nanodollar"
    );
    assert_eq!(bucket["capacity"], "$0.01");
    assert_eq!(bucket["rate"], "$0.00/day");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_debited_exactly_what_they_cost() {
    let mock = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("quota-concurrent");
    let text = config(
        &mock.base_url(),
        r#""day:<user>": {"capacity": "$100.00", "rate": "$0.00/day"},
           "pool": {"capacity": "$100.00", "rate": "$0.00/day"}"#,
        r#"{"bucket": "day:<user>"}, {"bucket": "pool"}"#,
        dir.to_str().unwrap(),
    );
    let gw = Arc::new(gateway(&text));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let gw = gw.clone();
        tasks.spawn(async move {
            let who = if i % 3 == 0 { BOB } else { ALICE };
            let body = if i % 2 == 0 {
                CHAT.to_string()
            } else {
                r#"{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[]}"#.to_string()
            };
            let path = if i % 2 == 0 {
                "/v1/chat/completions"
            } else {
                "/v1/messages"
            };
            common::call(&gw, "POST", PROXY, path, &as_user(who), &body)
                .await
                .status
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let rows = common::records(gw.db(), 200).await;
    let spent = |login: Option<&str>| -> i64 {
        rows.iter()
            .filter(|r| login.is_none_or(|l| r.login == l))
            .map(|r| r.cost_nanodollars.unwrap() as i64)
            .sum()
    };
    assert!(spent(None) > 0);
    let quotas = common::call(&gw, "GET", "127.0.0.1:1", "/api/quotas", &[], "").await;
    let balance = |name: &str| {
        quotas.json["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .map(|b| b["balance"].as_str().unwrap().to_string())
            .unwrap()
    };
    let hundred = 100_000_000_000_i64;
    let money = aperture_config::format_money;
    assert_eq!(balance("pool"), money(hundred - spent(None)));
    assert_eq!(
        balance(&format!("day:{ALICE}")),
        money(hundred - spent(Some(ALICE)))
    );
    assert_eq!(
        balance(&format!("day:{BOB}")),
        money(hundred - spent(Some(BOB)))
    );
}

#[tokio::test]
async fn balances_survive_a_restart_and_vanish_with_their_quota() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("quota-restart");
    let quotas = r#""pool": {"capacity": "$5.00", "rate": "$0.00/day"}"#;
    let text = config(
        &mock.base_url(),
        quotas,
        r#"{"bucket": "pool"}"#,
        dir.to_str().unwrap(),
    );
    let gw = gateway(&text);
    let a = common::call(
        &gw,
        "POST",
        PROXY,
        "/v1/chat/completions",
        &as_user(ALICE),
        CHAT,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    mock.next_request().await.unwrap();
    let rows = common::records(gw.db(), 1).await;
    let left = 5_000_000_000 - rows[0].cost_nanodollars.unwrap() as i64;
    gw.shutdown_log();
    drop(gw);

    let again = gateway(&text);
    let list = common::call(&again, "GET", "127.0.0.1:1", "/api/quotas", &[], "").await;
    assert_eq!(list.json["buckets"][0]["name"], "pool");
    assert_eq!(
        list.json["buckets"][0]["balance"],
        aperture_config::format_money(left),
        "kept across the restart"
    );

    // A save without the quota: its bucket is gone (and no longer charged).
    let (_, hash) = again.store().current().await;
    let without = text
        .replace(quotas, "")
        .replace(r#"{"bucket": "pool"}"#, "");
    let put = json!({ "config": without, "hash": hash }).to_string();
    let saved = common::call(
        &again,
        "PUT",
        "127.0.0.1:1",
        "/api/config",
        &[("content-type", "application/json")],
        &put,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);
    let list = common::call(&again, "GET", "127.0.0.1:1", "/api/quotas", &[], "").await;
    assert_eq!(list.json["buckets"], json!([]));
}

#[tokio::test]
async fn upstream_failures_are_charged_what_they_cost_and_refills_are_checked() {
    let mut mock = MockUpstream::start(|_| {
        Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": {"message": "boom", "type": "server_error"}}),
        )
    })
    .await
    .unwrap();
    let dir = common::temp_dir("quota-failures");
    let text = config(
        &mock.base_url(),
        r#""pool": {"capacity": "$1.00", "rate": "$1.00/hour"}"#,
        r#"{"bucket": "pool"}"#,
        dir.to_str().unwrap(),
    );
    let gw = gateway(&text);
    let a = common::call(
        &gw,
        "POST",
        PROXY,
        "/v1/chat/completions",
        &as_user(BOB),
        CHAT,
    )
    .await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "relayed");
    mock.next_request().await.unwrap();
    let rows = common::records(gw.db(), 1).await;
    assert_eq!(rows[0].cost_nanodollars, None, "no usage, no cost");
    let list = common::call(&gw, "GET", "127.0.0.1:1", "/api/quotas", &[], "").await;
    assert_eq!(
        list.json["buckets"][0]["balance"], "$1.00",
        "charged what it cost: nothing"
    );
    assert!(
        list.json["buckets"][0]["updated_at"].is_string(),
        "but charged"
    );

    // Refill: admin only, amounts checked, unknown buckets 404.
    let json_type = ("content-type", "application/json");
    let as_bob = [json_type, ("tailscale-user-login", BOB)];
    let r = common::call(
        &gw,
        "POST",
        PROXY,
        "/api/quotas/refill",
        &as_bob,
        r#"{"bucket":"pool","amount":"$1.00"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let only_json = [json_type];
    let refill = |body: &'static str| {
        common::call(
            &gw,
            "POST",
            "127.0.0.1:1",
            "/api/quotas/refill",
            &only_json,
            body,
        )
    };
    for (body, field) in [
        (r#"{"bucket":"pool","amount":"-$1.00"}"#, "amount"),
        (r#"{"bucket":"pool","amount":"5"}"#, "amount"),
        (r#"{"bucket":"pool","amount":"$99999999999999"}"#, "amount"),
        (r#"{"bucket":"pool","amount":"$0"}"#, "amount"),
        (r#"{"amount":"$1.00"}"#, "bucket"),
    ] {
        let r = refill(body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        let message = r.json["error"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    let r = refill(r#"{"bucket":"nope","amount":"$1.00"}"#).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = refill(r#"{"bucket":"pool","amount":"$3.00"}"#).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["balance"], "$1.00", "never above capacity");

    // /metrics: the balance gauge.
    let m = common::call(&gw, "GET", "127.0.0.1:1", "/metrics", &[], "").await;
    assert!(
        m.text
            .contains("aperture_quota_balance_dollars{quota=\"pool\"} 1\n"),
        "{}",
        m.text
    );
}

#[tokio::test]
async fn per_user_refusals_are_counted_by_quota_and_an_unknown_template_fails_closed() {
    let mut mock = MockUpstream::start_default().await.unwrap();
    let dir = common::temp_dir("quota-template");
    // `<team>` is no template this gateway can expand: sharing one bucket would be a free pass.
    let text = config(
        &mock.base_url(),
        r#""broke:<user>": {"capacity": "$0.00", "rate": "$0.00/day"}"#,
        r#"{"bucket": "broke:<user>"}"#,
        dir.to_str().unwrap(),
    );
    let gw = gateway(&text);
    let a = common::call(
        &gw,
        "POST",
        PROXY,
        "/v1/chat/completions",
        &as_user(ALICE),
        CHAT,
    )
    .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.json);
    assert_eq!(
        a.json["error"]["message"],
        format!(r#"quota exceeded for bucket "broke:{ALICE}""#)
    );
    let m = common::call(&gw, "GET", "127.0.0.1:1", "/metrics", &[], "").await;
    assert!(
        m.text
            .contains("aperture_quota_rejections_total{quota=\"broke:<user>\"} 1"),
        "{}",
        m.text
    );
    assert!(!m.text.contains(ALICE), "no login in a metric: {}", m.text);

    let text = config(
        &mock.base_url(),
        r#""daily:<team>": {"capacity": "$10.00", "rate": "$10.00/day"}"#,
        r#"{"bucket": "daily:<team>"}"#,
        dir.to_str().unwrap(),
    );
    // A file loads with a warning (strict mode, as a save, refuses it).
    let config = common::load(&text, aperture_config::Mode::Load);
    let gw = Gateway::with_source(config, text.clone(), None).unwrap();
    let b = common::call(
        &gw,
        "POST",
        PROXY,
        "/v1/chat/completions",
        &as_user(BOB),
        CHAT,
    )
    .await;
    assert_eq!(b.status, StatusCode::TOO_MANY_REQUESTS, "{}", b.json);
    assert_eq!(
        b.json["error"]["message"],
        r#"quota exceeded for bucket "daily:<team>""#
    );
    assert!(mock.try_next_request().is_none(), "nothing was forwarded");
}
