//! The dashboard at `/ui/` in a real browser: Debian's `chromium` driven through
//! `chromedriver` (WebDriver over HTTP), against a gateway on a real socket whose records came
//! from real requests through it to the mock provider.
//!
//! `.ci/run` installs `chromium` and `chromium-driver` and sets `APERTURE_BROWSER_TEST=required`,
//! which makes a missing driver a failure; elsewhere the test says it is skipped and passes.
//! `APERTURE_SCREENSHOTS=<dir>` saves a PNG of each page there (docs/screenshots/ holds them).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aperture_mock::{MockUpstream, Received, Reply};
use aperture_server::config_store::{Reload, ReloadSource};
use aperture_server::gateway::Gateway;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The provider key: it must never reach a page.
const SENTINEL: &str = "sk-dashboard-SENTINEL-7f3a9c";
/// A prompt that would run script if the capture were rendered as HTML.
const XSS: &str = r#"<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>"#;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(
    c: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let res = c
        .request(req.body(Full::new(bytes)).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

// ---------------------------------------------------------------------------------------------
// A minimal WebDriver client (W3C protocol, as chromedriver speaks it).

struct Driver {
    http: HttpClient,
    base: String,
    session: String,
    process: std::process::Child,
}

impl Driver {
    async fn start(chromedriver: &Path, chromium: &Path) -> Driver {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let process = std::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = client();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .request(
                    Request::get(format!("{base}/status"))
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                )
                .await
                .is_ok();
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_str().unwrap(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1360,1000", "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-sync"]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let (status, v) = send(
            &http,
            Method::POST,
            &format!("{base}/session"),
            &[],
            Some(caps),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "new session: {v}");
        let session = v["value"]["sessionId"].as_str().unwrap().to_string();
        Driver {
            http,
            base,
            session,
            process,
        }
    }

    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let body = body.or_else(|| (method == Method::POST).then(|| json!({})));
        let (status, v) = send(&self.http, method, &url, &[], body).await;
        assert_eq!(status, StatusCode::OK, "webdriver {path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
        self.wait_ready().await;
    }

    async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits until the page's script has rendered (or an error page, which has no script).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = self
                .js(
                    "return document.readyState === 'complete' && \
                     (document.body.dataset.ready === 'true' || !!document.getElementById('refusal'));",
                    json!([]),
                )
                .await;
            if ready == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "page never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd(Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Clicks `css` (a link to another page) and waits for that page.
    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.js("document.body.dataset.ready = 'leaving';", json!([]))
            .await;
        self.cmd(Method::POST, &format!("/element/{id}/click"), None)
            .await;
        self.wait_ready().await;
    }

    /// Clicks a button that works in place, then waits until `css` has text containing `want`.
    async fn click_until(&self, button: &str, css: &str, want: &str) -> String {
        let id = self.find(button).await;
        self.cmd(Method::POST, &format!("/element/{id}/click"), None)
            .await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let t = self
                .js(
                    "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
                    json!([css]),
                )
                .await;
            let t = t.as_str().unwrap_or("").to_string();
            if t.contains(want) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never said {want:?}: {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn html(&self) -> String {
        self.js("return document.documentElement.outerHTML;", json!([]))
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Browser console entries since the last call.
    async fn console(&self) -> Vec<Value> {
        self.cmd(Method::POST, "/se/log", Some(json!({"type": "browser"})))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Console errors (and CSP violations) since the last call.
    async fn console_errors(&self) -> Vec<String> {
        self.console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("APERTURE_SCREENSHOTS") else {
            return;
        };
        let b64 = self.cmd(Method::GET, "/screenshot", None).await;
        let png = base64_decode(b64.as_str().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).unwrap();
    }

    async fn quit(self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = send(&self.http, Method::DELETE, &url, &[], None).await;
    }
}

impl Drop for Driver {
    /// chromedriver (and the browser it started) never outlives the test, failed or not.
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64"),
        }
    };
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let digits: Vec<u32> = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .map(|&c| val(c))
            .collect();
        let n = digits
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (d << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..digits.len()]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The gateway under test

fn config_text(base: &str, data_dir: &str, models: &str, static_alice: bool) -> String {
    let static_table = if static_alice {
        r#"[{"cidr": "127.0.0.1/32", "login": "alice@example.com"}]"#
    } else {
        "[]"
    };
    format!(
        r#"{{
  // The dashboard test's gateway.
  "providers": {{
    "openai": {{"baseurl": "{base}", "apikey": "{SENTINEL}", "models": [{models}],
                "description": "OpenAI through the mock", "cost_basis": "openai"}},
    "anthropic": {{"baseurl": "{base}", "apikey": "{SENTINEL}", "models": ["claude-sonnet-4-5"],
                   "compatibility": {{"anthropic_messages": true}}, "cost_basis": "anthropic"}}
  }},
  "quotas": {{"team-pool": {{"capacity": "$100.00", "rate": "$100.00/day"}},
              "daily:<user>": {{"capacity": "$10.00", "rate": "$5.00/day"}}}},
  "grants": [
    {{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}},
        {{"models": "openai/**", "quotas": [{{"bucket": "team-pool"}}]}}]}}}},
    {{"src": ["alice@example.com", "bob@example.com"],
      "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}},
        {{"models": "**", "quotas": [{{"bucket": "daily:<user>"}}]}}]}}}}
  ],
  "gateway": {{"data_dir": "{data_dir}",
               "identity": {{"tailscale": {{"enabled": false}}, "static": {static_table}}}}}
}}
"#
    )
}

/// Anthropic replies carry a tool call when the prompt asks for the weather.
fn mock_reply(req: &Received) -> Reply {
    let body = req.json();
    if body.to_string().contains("weather") {
        return Reply::json(
            StatusCode::OK,
            &json!({
                "id": "msg_tool", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                             "input": {"city": "Paris"}}],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 30, "output_tokens": 9}
            }),
        );
    }
    Reply::auto(req)
}

struct Fixture {
    gateway: Gateway,
    base: String,
    file: PathBuf,
    dir: PathBuf,
    mock: MockUpstream,
}

async fn fixture() -> Fixture {
    let mock = MockUpstream::start(mock_reply).await.unwrap();
    let dir = std::env::temp_dir().join(format!("aperture-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("aperture.json");
    let data = dir.join("data");
    let text = config_text(
        &mock.base_url(),
        data.to_str().unwrap(),
        r#""gpt-5""#,
        false,
    );
    std::fs::write(&file, &text).unwrap();
    let config = aperture_config::load_str(&text, aperture_config::Mode::Strict)
        .config
        .unwrap();
    let gateway = Gateway::with_source(Arc::new(config), text, Some(file.clone())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let g = gateway.clone();
    tokio::spawn(async move {
        aperture_server::serve_gateway(listener, g, std::future::pending()).await
    });
    Fixture {
        gateway,
        base,
        file,
        dir,
        mock,
    }
}

/// Real traffic: alice and bob (through trusted identity headers) and the local admin.
async fn traffic(f: &Fixture) {
    let c = client();
    let chat = |content: &str| json!({"model": "gpt-5", "messages": [{"role": "user", "content": content}]});
    let as_user = |login: &'static str, session: &'static str| {
        vec![
            ("tailscale-user-login", login),
            ("x-claude-code-session-id", session),
            ("authorization", "Bearer -"),
            ("user-agent", "claude-cli/2.0.14 (external, cli)"),
        ]
    };
    let url = format!("{}/v1/chat/completions", f.base);
    for i in 0..3 {
        let (s, _) = send(
            &c,
            Method::POST,
            &url,
            &as_user("alice@example.com", "sess-alice-1"),
            Some(chat(&format!("alice question {i} {XSS}"))),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    let msgs = format!("{}/v1/messages", f.base);
    let tool = json!({"model": "claude-sonnet-4-5", "max_tokens": 64,
                      "messages": [{"role": "user", "content": "what is the weather in Paris?"}]});
    let (s, _) = send(
        &c,
        Method::POST,
        &msgs,
        &as_user("alice@example.com", "sess-alice-1"),
        Some(tool),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for i in 0..2 {
        let (s, _) = send(
            &c,
            Method::POST,
            &url,
            &as_user("bob@example.com", "sess-bob-1"),
            Some(chat(&format!("bob secret plan {i}"))),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = send(&c, Method::POST, &url, &[], Some(chat("admin check"))).await;
    assert_eq!(s, StatusCode::OK);
    // A refused request is a record too.
    let (s, _) = send(
        &c,
        Method::POST,
        &url,
        &[],
        Some(json!({"model": "nope", "messages": []})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The writer thread is asynchronous: wait for all 8 rows.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = aperture_log::store::Page {
            limit: 100,
            offset: 0,
        };
        let n = f
            .gateway
            .db()
            .requests(&aperture_log::store::Filter::default(), page)
            .unwrap()
            .len();
        if n >= 8 {
            break;
        }
        assert!(Instant::now() < deadline, "records not written: {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .or_else(|| {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path)
                    .flat_map(|d| names.iter().map(move |n| d.join(n)))
                    .find(|p| p.exists())
            })
    };
    let driver = find(&["/usr/bin/chromedriver", "chromedriver"])?;
    let chromium = find(&["/usr/bin/chromium", "chromium", "chromium-browser"])?;
    Some((driver, chromium))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    let Some((chromedriver, chromium)) = tools() else {
        let required = std::env::var("APERTURE_BROWSER_TEST").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "APERTURE_BROWSER_TEST=required but chromium / chromedriver are not installed"
        );
        eprintln!("SKIPPED: the dashboard browser test needs chromium and chromium-driver");
        return;
    };
    let f = fixture().await;
    traffic(&f).await;
    let d = Driver::start(&chromedriver, &chromium).await;
    browse(&f, &d).await.unwrap();
    d.quit().await;
    let _ = std::fs::remove_dir_all(&f.dir);
    drop(f.mock);
}

/// Asserts that the page has no console errors, shows no secret and ran no captured markup.
async fn clean_page(d: &Driver, page: &str) {
    let errors = d.console_errors().await;
    assert!(errors.is_empty(), "{page}: console errors {errors:?}");
    let html = d.html().await;
    assert!(
        !html.contains(SENTINEL),
        "{page}: the provider key is shown"
    );
    // Belt and braces: the policy forbids inline script, and the page renders text only.
    let xss = d.js("return window.__xss === undefined;", json!([])).await;
    assert_eq!(xss, json!(true), "{page}: captured markup ran");
    let injected = d
        .js(
            "return document.querySelectorAll('#main img, #main script').length;",
            json!([]),
        )
        .await;
    assert_eq!(
        injected,
        json!(0),
        "{page}: captured markup became elements"
    );
}

async fn browse(f: &Fixture, d: &Driver) -> Result<(), String> {
    let ui = |p: &str| format!("{}/ui/{p}", f.base);

    // My dashboard (the local admin's own).
    d.goto(&ui("")).await;
    assert_eq!(d.text("#who").await, "(loopback) · admin");
    assert_eq!(d.text("#total-requests .card-value").await, "2");
    assert!(d.text("#by-model").await.contains("gpt-5"));
    clean_page(d, "dashboard").await;
    d.screenshot("dashboard").await;

    // Logs: sessions, then a session's requests, then one request's capture.
    d.goto(&ui("logs")).await;
    let sessions = d.text("#sessions").await;
    assert!(sessions.contains("alice@example.com") && sessions.contains("bob@example.com"));
    assert!(
        sessions.contains("claude-cli/2.0.14"),
        "agent column: {sessions}"
    );
    clean_page(d, "logs").await;
    d.screenshot("logs").await;
    d.click(r#"a.session-link[title="sess-alice-1"]"#).await;
    let requests = d.text("#requests").await;
    assert_eq!(requests.matches("details").count(), 4, "{requests}");
    assert!(requests.contains("claude-sonnet-4-5") && !requests.contains("bob@"));
    clean_page(d, "session").await;
    d.screenshot("session").await;
    // The newest request of the session is the tool call.
    d.click("#requests a.request-link").await;
    assert!(d.text("#request-id").await.starts_with("req_"));
    assert!(d.text("#tool-calls").await.contains("get_weather"));
    let headers = d.text("#request-headers").await;
    assert!(headers.contains("x-claude-code-session-id"), "{headers}");
    assert!(d.text("#response-body").await.contains("toolu_1"));
    clean_page(d, "request").await;
    d.screenshot("request").await;
    // A request whose prompt holds markup: shown as text, never run.
    d.goto(&ui("logs/sessions/sess-alice-1?user=alice%40example.com"))
        .await;
    d.click("#requests tbody tr:nth-child(2) a.request-link")
        .await;
    let body = d.text("#request-body").await;
    assert!(body.contains("<script>window.__xss=1</script>"), "{body}");
    clean_page(d, "request with markup").await;

    // Filters: by user and status.
    d.goto(&ui("logs?user=bob%40example.com")).await;
    let only_bob = d.text("#sessions").await;
    assert!(only_bob.contains("bob@") && !only_bob.contains("alice@"));
    clean_page(d, "logs filtered").await;

    // Models, with prices per million tokens.
    d.goto(&ui("models")).await;
    let models = d.text("#models").await;
    assert!(
        models.contains("gpt-5") && models.contains("claude-sonnet-4-5"),
        "{models}"
    );
    assert!(models.contains("OpenAI through the mock"));
    assert!(models.contains('$'), "no prices: {models}");
    // The admin's openai requests are charged to the team pool; its anthropic ones to nothing.
    let row = |model: &str| {
        format!(
            "return [...document.querySelectorAll('#models tbody tr')]\
               .find((r) => r.cells[0].textContent === '{model}').textContent;"
        )
    };
    let gpt5 = d.js(&row("gpt-5"), json!([])).await;
    let gpt5 = gpt5.as_str().unwrap_or_default();
    let claude = d.js(&row("claude-sonnet-4-5"), json!([])).await;
    assert!(
        claude.as_str().unwrap_or_default().ends_with("none"),
        "{claude}"
    );
    assert!(
        gpt5.contains("team-pool: $") && gpt5.contains("of $100.00"),
        "{gpt5}"
    );
    let buckets = d.text("#quotas").await;
    assert!(
        buckets.contains("team-pool") && buckets.contains("daily:alice@example.com"),
        "every bucket in use: {buckets}"
    );
    assert!(buckets.contains("$5.00/day"), "{buckets}");
    clean_page(d, "models").await;
    d.screenshot("models").await;
    // An admin refills from the page: a bad amount is refused and named, a good one shown.
    let fill = |amount: &str| {
        format!(
            "document.querySelector('tr[data-bucket=\"daily:alice@example.com\"] input.amount').value = '{amount}';"
        )
    };
    d.js(&fill("five dollars"), json!([])).await;
    let said = d
        .click_until(
            r#"tr[data-bucket="daily:alice@example.com"] button.refill"#,
            "#quota-status",
            "Not refilled",
        )
        .await;
    assert!(said.contains("amount"), "{said}");
    d.js(&fill("$10.00"), json!([])).await;
    let said = d
        .click_until(
            r#"tr[data-bucket="daily:alice@example.com"] button.refill"#,
            "#quota-status",
            "Refilled",
        )
        .await;
    assert_eq!(said, "Refilled daily:alice@example.com: $10.00 of $10.00.");
    let balance = d
        .text(r#"tr[data-bucket="daily:alice@example.com"] td.balance"#)
        .await;
    assert_eq!(balance, "$10.00");
    // The refused refill was a 400, which the console reports; nothing else may be there.
    let errors = d.console_errors().await;
    assert!(
        errors.len() == 1 && errors[0].contains("/api/quotas/refill") && errors[0].contains("400"),
        "{errors:?}"
    );

    // Usage per user, model and day, and the CSV export.
    d.goto(&ui("usage")).await;
    let by_user = d.text("#by-user").await;
    for who in ["alice@example.com", "bob@example.com", "(loopback)"] {
        assert!(by_user.contains(who), "{by_user}");
    }
    assert_eq!(d.text("#active-users .card-value").await, "3");
    let csv_href = d
        .js(
            "return document.getElementById('csv').getAttribute('href');",
            json!([]),
        )
        .await;
    assert_eq!(csv_href, json!("/api/usage.csv"));
    let csv = d
        .js(
            "return fetch('/api/usage.csv').then((r) => r.text());",
            json!([]),
        )
        .await;
    let csv = csv.as_str().unwrap_or("");
    assert!(
        csv.starts_with("date,login,provider,model,requests,"),
        "{csv}"
    );
    assert!(csv.contains(",alice@example.com,openai,gpt-5,3,"), "{csv}");
    clean_page(d, "usage").await;
    d.screenshot("usage").await;

    // Settings: an invalid config shows its diagnostic at its line and changes nothing.
    let before = std::fs::read_to_string(&f.file).unwrap();
    d.goto(&ui("settings")).await;
    let shown = d
        .js("return document.getElementById('editor').value;", json!([]))
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert!(shown.contains("__REDACTED__") && !shown.contains(SENTINEL));
    clean_page(d, "settings").await;
    d.screenshot("settings").await;
    let bad = shown.replacen("\"baseurl\"", "\"basurl\"", 1);
    let line = bad.lines().position(|l| l.contains("basurl")).unwrap() + 1;
    d.js(
        "const e = document.getElementById('editor'); e.value = arguments[0]; \
         e.dispatchEvent(new Event('input'));",
        json!([bad]),
    )
    .await;
    d.click_until("#save", "#status", "Not saved").await;
    let diags = d.text("#diagnostics").await;
    assert!(diags.contains("unknown config key \"basurl\""), "{diags}");
    assert!(
        diags.contains(&format!("{line}:")),
        "line {line} not shown: {diags}"
    );
    d.screenshot("settings-invalid").await;
    assert_eq!(
        std::fs::read_to_string(&f.file).unwrap(),
        before,
        "file changed"
    );
    clean_page(d, "settings invalid").await;

    // A valid save takes effect at once.
    let good = shown.replacen("\"gpt-5\"", "\"gpt-5\", \"gpt-5-mini\"", 1);
    d.js(
        "const e = document.getElementById('editor'); e.value = arguments[0]; \
         e.dispatchEvent(new Event('input'));",
        json!([good]),
    )
    .await;
    d.click_until("#save", "#status", "Saved").await;
    let saved = std::fs::read_to_string(&f.file).unwrap();
    assert!(
        saved.contains("gpt-5-mini") && saved.contains(SENTINEL),
        "secret kept in file"
    );
    clean_page(d, "settings saved").await;
    d.goto(&ui("models")).await;
    assert!(d.text("#models").await.contains("gpt-5-mini"));

    // A non-admin: the browser's address now maps to alice, a user.
    let text = config_text(
        &f.mock.base_url(),
        f.dir.join("data").to_str().unwrap(),
        r#""gpt-5", "gpt-5-mini""#,
        true,
    );
    std::fs::write(&f.file, text).unwrap();
    assert_eq!(
        f.gateway.store().reload(ReloadSource::File).await,
        Reload::Applied
    );
    d.goto(&ui("")).await;
    assert_eq!(d.text("#who").await, "alice@example.com · user");
    assert_eq!(d.text("#total-requests .card-value").await, "4");
    let hidden = d
        .js(
            "return document.getElementById('nav-settings').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(hidden, json!(true));
    clean_page(d, "user dashboard").await;
    d.goto(&ui("logs")).await;
    let own = d.text("#sessions").await;
    assert!(own.contains("alice@") && !own.contains("bob@"), "{own}");
    clean_page(d, "user logs").await;
    // Her own bucket beside each model, and no refill for a user.
    d.goto(&ui("models")).await;
    let mine = d.text("#models").await;
    assert!(mine.contains("daily:alice@example.com: $"), "{mine}");
    let buckets = d.text("#quotas").await;
    assert!(
        buckets.contains("daily:alice@example.com")
            && !buckets.contains("bob@")
            && !buckets.contains("team-pool"),
        "{buckets}"
    );
    let refills = d
        .js(
            "return document.querySelectorAll('button.refill').length;",
            json!([]),
        )
        .await;
    assert_eq!(refills, json!(0));
    clean_page(d, "user models").await;
    d.goto(&ui("settings")).await;
    assert_eq!(d.text("#refusal").await, "admin role required");
    d.goto(&ui("dashboard/bob%40example.com")).await;
    assert_eq!(d.text("#refusal").await, "admin role required");
    d.goto(&ui("logs?user=bob%40example.com")).await;
    assert_eq!(d.text("[role=alert]").await, "admin role required");
    let bob_request = f
        .gateway
        .db()
        .requests(
            &aperture_log::store::Filter {
                login: Some("bob@example.com".into()),
                ..Default::default()
            },
            aperture_log::store::Page::default(),
        )
        .unwrap()
        .remove(0)
        .id;
    d.goto(&ui(&format!("logs/requests/{bob_request}"))).await;
    assert_eq!(d.text("[role=alert]").await, "admin role required");
    assert!(!d.html().await.contains("bob secret plan"));
    // Those refusals were 403s, which the console reports (so the console is really read);
    // nothing else may be there.
    let errors = d.console_errors().await;
    assert!(!errors.is_empty(), "the browser console was not read");
    assert!(
        errors.iter().all(|e| e.contains("403")),
        "unexpected console errors {errors:?}"
    );
    Ok(())
}
