//! The dashboard's data calls (SPEC.md §11): `/api/sessions[/{id}]`, `/api/requests[/{id}]`,
//! `/api/usage[.csv]` over records made by real requests through the gateway. Who sees what,
//! pagination, filters, bad query input, and the pages' security headers.

use crate::common;

use aperture_log::store::{Filter, Page};
use aperture_mock::{INPUT_TOKENS, MockUpstream, OUTPUT_TOKENS};
use aperture_server::gateway::Gateway;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

const PROVIDER_KEY: &str = "sk-SENTINEL-dashboard-api-0000";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

struct Harness {
    gateway: Gateway,
    addr: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _mock: MockUpstream,
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn harness(name: &str) -> Harness {
    let mock = MockUpstream::start_default().await.unwrap();
    let data_dir = common::temp_dir(&format!("dash-api-{name}"));
    let text = format!(
        r#"{{
      "providers": {{
        "openai": {{"baseurl": "{base}", "apikey": "{PROVIDER_KEY}", "models": ["gpt-5", "gpt-5-mini"],
                    "cost_basis": "openai"}}
      }},
      "grants": [
        {{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}},
        {{"src": ["{ALICE}"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "**"}},
                                                                        {{"filterable_headers": ["x-team"]}}]}}}},
        {{"src": ["{BOB}"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "**"}}]}}}}
      ],
      "database": {{"headers": {{"filterable": [{{"name": "x-team"}}]}}}},
      "gateway": {{"data_dir": "{dir}", "identity": {{"tailscale": {{"enabled": false}}}}}}
    }}"#,
        base = mock.base_url(),
        dir = data_dir.display()
    );
    let config = common::load(&text, aperture_config::Mode::Strict);
    let gateway = Gateway::with_source(config, text, None).unwrap();
    let addr = common::serve(gateway.clone()).await;
    let h = Harness {
        gateway,
        addr,
        client: Client::builder(TokioExecutor::new()).build_http(),
        _mock: mock,
    };
    h.traffic().await;
    h
}

impl Harness {
    /// A call as `login` (through trusted identity headers from loopback), or as the local
    /// admin when `None`.
    async fn call(&self, login: Option<&str>, method: Method, path: &str, body: &str) -> Answer {
        self.call_with(login, method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        login: Option<&str>,
        method: Method,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json");
        if let Some(login) = login {
            b = b.header("tailscale-user-login", login);
        }
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let res = self
            .client
            .request(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes())
            .into_owned();
        assert!(
            !text.contains(PROVIDER_KEY),
            "the provider key in an answer"
        );
        Answer {
            status,
            headers,
            text,
        }
    }

    /// Alice: 3 requests in session s-alice (team red); Bob: 2 in s-bob (team blue); the local
    /// admin: 1 with no session header. Waits until all 6 are in the database.
    async fn traffic(&self) {
        let chat = |m: &str| json!({"model": m, "messages": [{"role": "user", "content": "hi"}]});
        let plan = [
            (Some(ALICE), "s-alice", "red", "gpt-5"),
            (Some(ALICE), "s-alice", "red", "gpt-5"),
            (Some(ALICE), "s-alice", "red", "gpt-5-mini"),
            (Some(BOB), "s-bob", "blue", "gpt-5"),
            (Some(BOB), "s-bob", "blue", "gpt-5"),
            (None, "", "", "gpt-5"),
        ];
        for (login, session, team, model) in plan {
            let mut headers = vec![("authorization", "Bearer -")];
            if !session.is_empty() {
                headers.push(("x-claude-code-session-id", session));
                headers.push(("x-team", team));
            }
            let a = self
                .call_with(
                    login,
                    Method::POST,
                    "/v1/chat/completions",
                    &chat(model).to_string(),
                    &headers,
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        }
        let db = self.gateway.db().clone();
        common::eventually("six records written", || {
            let n = db
                .requests(&Filter::default(), Page::default())
                .unwrap()
                .len();
            std::future::ready((n >= 6).then_some(()))
        })
        .await;
    }
}

fn logins(rows: &Value) -> Vec<String> {
    let mut v: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["login"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_their_own_rows_and_admins_see_everyone() {
    let h = harness("scope").await;

    // Admin: every session; a user filter narrows it.
    let all = h.call(None, Method::GET, "/api/sessions", "").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        logins(&all.json()["sessions"]),
        ["(loopback)", ALICE, BOB].map(String::from)
    );
    let bobs = h
        .call(
            None,
            Method::GET,
            "/api/sessions?user=bob%40example.com",
            "",
        )
        .await
        .json();
    assert_eq!(logins(&bobs["sessions"]), [BOB]);
    assert_eq!(bobs["sessions"][0]["session_id"], "s-bob");
    assert_eq!(bobs["sessions"][0]["requests"], 2);

    // Alice: her own only, whatever she asks.
    let mine = h.call(Some(ALICE), Method::GET, "/api/sessions", "").await;
    assert_eq!(logins(&mine.json()["sessions"]), [ALICE]);
    let mine = h.call(Some(ALICE), Method::GET, "/api/requests", "").await;
    assert_eq!(mine.json()["requests"].as_array().unwrap().len(), 3);
    assert_eq!(logins(&mine.json()["requests"]), [ALICE]);
    for path in [
        "/api/sessions?user=bob%40example.com",
        "/api/requests?user=bob%40example.com",
        "/api/usage?user=bob%40example.com",
        "/api/usage.csv?user=bob%40example.com",
    ] {
        let a = h.call(Some(ALICE), Method::GET, path, "").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(a.json(), json!({"error": "admin role required"}), "{path}");
    }
    // Bob's session id from Alice: nothing of Bob's.
    let a = h
        .call(Some(ALICE), Method::GET, "/api/sessions/s-bob", "")
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // One request: Alice may open hers, not Bob's; the admin may open both.
    let bob_id = h
        .call(Some(BOB), Method::GET, "/api/requests", "")
        .await
        .json()["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = h
        .call(
            Some(ALICE),
            Method::GET,
            &format!("/api/requests/{bob_id}"),
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(!a.text.contains("s-bob"));
    let a = h
        .call(None, Method::GET, &format!("/api/requests/{bob_id}"), "")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let r = a.json();
    assert_eq!(r["identity"]["login"], BOB);
    assert_eq!(r["usage"]["input"], INPUT_TOKENS);
    assert_eq!(r["request_body"]["content"]["model"], "gpt-5");
    let headers = r["request_headers"].to_string();
    assert!(headers.contains("x-team") && !headers.contains(PROVIDER_KEY));
    let a = h
        .call(None, Method::GET, "/api/requests/req_nope", "")
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json(), json!({"error": "request not found"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_pages_filters_and_usage() {
    let h = harness("pages").await;

    // A session: summary and its requests, newest first, paged.
    let s = h
        .call(None, Method::GET, "/api/sessions/s-alice?limit=2", "")
        .await
        .json();
    assert_eq!(s["sessions"][0]["requests"], 3);
    assert_eq!(s["sessions"][0]["agent"], Value::Null);
    assert_eq!(s["requests"].as_array().unwrap().len(), 2);
    assert_eq!(s["has_more"], true);
    assert_eq!(s["requests"][0]["model"], "gpt-5-mini");
    let rest = h
        .call(
            None,
            Method::GET,
            "/api/sessions/s-alice?limit=2&offset=2",
            "",
        )
        .await
        .json();
    assert_eq!(rest["requests"].as_array().unwrap().len(), 1);
    assert_eq!(rest["has_more"], false);

    // Filters: model, status, dates, indexed header.
    let minis = h
        .call(None, Method::GET, "/api/requests?model=gpt-5-mini", "")
        .await
        .json();
    assert_eq!(minis["requests"].as_array().unwrap().len(), 1);
    let errors = h
        .call(None, Method::GET, "/api/requests?status=500", "")
        .await
        .json();
    assert_eq!(errors["requests"], json!([]));
    let past = h
        .call(None, Method::GET, "/api/requests?to=2020-01-01", "")
        .await
        .json();
    assert_eq!(past["requests"], json!([]));
    let today = h
        .call(None, Method::GET, "/api/requests?from=2020-01-01", "")
        .await
        .json();
    assert_eq!(today["requests"].as_array().unwrap().len(), 6);
    let red = h
        .call(
            Some(ALICE),
            Method::GET,
            "/api/sessions?header=x-team:red",
            "",
        )
        .await;
    assert_eq!(red.status, StatusCode::OK);
    assert_eq!(logins(&red.json()["sessions"]), [ALICE]);
    let blue = h
        .call(None, Method::GET, "/api/sessions?header=X-Team:blue", "")
        .await
        .json();
    assert_eq!(logins(&blue["sessions"]), [BOB]);
    // Bob's grants do not make x-team filterable.
    let a = h
        .call(Some(BOB), Method::GET, "/api/sessions?header=x-team", "")
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // Bad query input: 400 with the reason.
    for (q, why) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
        ("status=abc", "status"),
        ("from=2026-13-01", "from"),
        ("to=tomorrow", "to"),
        ("header=bad%20name", "header"),
        ("from=2026-02-30", "from"),
        ("to=9223372036854775807", "to"),
    ] {
        let a = h
            .call(None, Method::GET, &format!("/api/requests?{q}"), "")
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(
            a.json()["error"].as_str().unwrap().starts_with(why),
            "{q}: {}",
            a.text
        );
    }

    // Usage: totals, per user / model / day, top lists.
    let u = h.call(None, Method::GET, "/api/usage", "").await.json();
    assert_eq!(u["totals"]["requests"], 6);
    assert_eq!(u["totals"]["input_tokens"], 6 * INPUT_TOKENS);
    assert_eq!(u["totals"]["output_tokens"], 6 * OUTPUT_TOKENS);
    assert_eq!(u["active_users"], 3);
    assert_eq!(u["by_user"].as_array().unwrap().len(), 3);
    assert_eq!(u["top_users"][0]["key"], ALICE);
    assert_eq!(u["by_model"].as_array().unwrap().len(), 2);
    assert_eq!(u["by_day"].as_array().unwrap().len(), 1);
    assert!(u["totals"]["cost_nanodollars"].as_u64().unwrap() > 0);
    let mine = h
        .call(Some(ALICE), Method::GET, "/api/usage", "")
        .await
        .json();
    assert_eq!(mine["totals"]["requests"], 3);
    assert_eq!(mine["active_users"], 1);

    // CSV: the exact header, one row per day, login, provider and model.
    let csv = h.call(None, Method::GET, "/api/usage.csv", "").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("aperture-usage.csv")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "date,login,provider,model,requests,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd"
    );
    assert_eq!(lines.len(), 5, "{}", csv.text);
    let alice_gpt5 = lines
        .iter()
        .find(|l| l.contains(",alice@example.com,openai,gpt-5,"))
        .unwrap();
    let fields: Vec<&str> = alice_gpt5.split(',').collect();
    assert_eq!(fields[4], "2");
    assert_eq!(fields[5], (2 * INPUT_TOKENS).to_string());
    assert!(
        fields[10].starts_with("0.") && fields[10].len() == 11,
        "{alice_gpt5}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_embedded_guarded_and_locked_down() {
    let h = harness("ui").await;
    let page = h.call(None, Method::GET, "/ui/", "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("/ui/assets/app.js"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.headers["x-frame-options"], "DENY");
    // No asset comes from elsewhere.
    for asset in ["/ui/assets/app.js", "/ui/assets/app.css"] {
        let a = h.call(None, Method::GET, asset, "").await;
        assert_eq!(a.status, StatusCode::OK);
        // The one URL in the script is the SVG namespace, an identifier, never fetched.
        let text = a.text.replace("'http://www.w3.org/2000/svg'", "");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset}"
        );
        let tag = a.headers["etag"].to_str().unwrap().to_string();
        let again = h
            .call_with(None, Method::GET, asset, "", &[("if-none-match", &tag)])
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    }
    assert!(!page.text.contains("http://") && !page.text.contains("https://"));
    let redirect = h.call(None, Method::GET, "/ui", "").await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers["location"], "/ui/");
    for missing in ["/ui/nope", "/ui//settings", "/ui/logs//x"] {
        let a = h.call(None, Method::GET, missing, "").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{missing}");
    }
    // Data answers are never cached.
    let a = h.call(None, Method::GET, "/api/sessions", "").await;
    assert_eq!(a.headers["cache-control"], "no-store");

    // Non-admins: no settings, no other user's dashboard; their own is fine.
    let a = h.call(Some(ALICE), Method::GET, "/ui/settings", "").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.text.contains("admin role required"));
    let a = h
        .call(
            Some(ALICE),
            Method::GET,
            "/ui/dashboard/bob%40example.com",
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = h
        .call(
            Some(ALICE),
            Method::GET,
            "/ui/dashboard/alice%40example.com",
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // An unknown caller gets an HTML refusal (the browser is the caller).
    let a = h
        .call(Some("mallory<b>@example.com"), Method::GET, "/ui/", "")
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // State changes from another site are refused before anything happens.
    let (_, hash) = {
        let c = h.call(None, Method::GET, "/api/config", "").await.json();
        (c["config"].clone(), c["hash"].as_str().unwrap().to_string())
    };
    let body = json!({"config": "{}", "hash": hash}).to_string();
    for headers in [
        [("origin", "https://evil.example")],
        [("sec-fetch-site", "cross-site")],
    ] {
        let a = h
            .call_with(None, Method::PUT, "/api/config", &body, &headers)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    // A form post (no JSON content type) cannot save either.
    let mut b = Request::builder()
        .method(Method::PUT)
        .uri(format!("http://{}/api/config", h.addr))
        .header("content-type", "application/x-www-form-urlencoded");
    b = b.header("accept", "*/*");
    let res = h
        .client
        .request(b.body(Full::new(Bytes::from(body.clone()))).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let after = h.call(None, Method::GET, "/api/config", "").await.json();
    assert_eq!(after["hash"], hash.as_str(), "nothing changed");
}
