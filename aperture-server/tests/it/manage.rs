//! Changing the config while the gateway runs: the management API, reloads from the file, and
//! requests in flight across a change.

use crate::common;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aperture_mock::{MockUpstream, Reply, Then};
use aperture_server::config_store::{Reload, ReloadSource, hash_text};
use aperture_server::gateway::{Gateway, PeerAddr};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

const LOOPBACK: &str = "127.0.0.1:5000";
const USER: &str = "10.0.0.5:5000";

fn config_text(base: &str, data_dir: &str, models: &str) -> String {
    format!(
        r#"{{
  // managed by the tests
  "providers": {{
    "openai": {{"baseurl": "{base}", "apikey": "sk-literal-secret", "models": [{models}]}}
  }},
  "grants": [
    {{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}},
    {{"src": ["user@example.com"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "**"}}]}}}}
  ],
  "gateway": {{"data_dir": "{data_dir}", "identity": {{"tailscale": {{"enabled": false}},
               "static": [{{"cidr": "10.0.0.0/8", "login": "user@example.com"}}]}}}}
}}
"#
    )
}

struct Harness {
    gateway: Gateway,
    mock: MockUpstream,
    file: PathBuf,
    dir: PathBuf,
}

async fn harness(
    name: &str,
    reply: impl Fn(&aperture_mock::Received) -> Reply + Send + Sync + 'static,
) -> Harness {
    let mock = MockUpstream::start(reply).await.unwrap();
    let dir = common::temp_dir(&format!("manage-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("aperture.json");
    let text = config_text(
        &mock.base_url(),
        dir.join("data").to_str().unwrap(),
        r#""gpt-5""#,
    );
    std::fs::write(&file, &text).unwrap();
    let config = common::load(&text, aperture_config::Mode::Strict);
    let gateway = Gateway::with_source(config, text, Some(file.clone())).unwrap();
    Harness {
        gateway,
        mock,
        file,
        dir,
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Harness {
    async fn call(
        &self,
        peer: &str,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let mut req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
        let res = self.gateway.service().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("sk-literal-secret"),
            "secret shown"
        );
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get_config(&self) -> (String, String) {
        let a = self
            .call(LOOPBACK, Method::GET, "/api/config", None, "")
            .await;
        assert_eq!(a.status, StatusCode::OK);
        (
            a.body["config"].as_str().unwrap().to_string(),
            a.body["hash"].as_str().unwrap().to_string(),
        )
    }

    async fn put(&self, peer: &str, text: &str, hash: &str) -> Answer {
        let body = json!({"config": text, "hash": hash}).to_string();
        self.call(
            peer,
            Method::PUT,
            "/api/config",
            Some("application/json"),
            &body,
        )
        .await
    }

    async fn models(&self) -> Vec<String> {
        let a = self
            .call(LOOPBACK, Method::GET, "/v1/models", None, "")
            .await;
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn get_config_shows_the_file_with_secrets_redacted() {
    let h = harness("get", Reply::auto).await;
    let on_disk = std::fs::read_to_string(&h.file).unwrap();
    let (shown, hash) = h.get_config().await;
    assert_eq!(hash, hash_text(&on_disk), "hash of the file");
    assert!(shown.contains("// managed by the tests"), "comments kept");
    assert!(shown.contains(r#""apikey": "__REDACTED__""#));
    let alias = h
        .call(LOOPBACK, Method::GET, "/aperture/config", None, "")
        .await;
    assert_eq!(alias.body["hash"], hash);
}

#[tokio::test]
async fn non_admins_get_403_on_every_admin_endpoint() {
    let h = harness("forbidden", Reply::auto).await;
    let (_, hash) = h.get_config().await;
    let body = json!({"config": "{}", "hash": hash}).to_string();
    for (method, path, ct) in [
        (Method::GET, "/api/config", None),
        (Method::GET, "/aperture/config", None),
        (Method::PUT, "/api/config", Some("application/json")),
        (
            Method::POST,
            "/aperture/config:validate",
            Some("application/json"),
        ),
        (Method::GET, "/api/providers?include_disabled=true", None),
    ] {
        let a = h.call(USER, method.clone(), path, ct, &body).await;
        assert_eq!(
            (a.status, &a.body),
            (
                StatusCode::FORBIDDEN,
                &json!({"error": "admin role required"})
            ),
            "{method} {path}"
        );
    }
    // The user still has their role.
    assert_eq!(
        h.call(USER, Method::GET, "/api/me", None, "").await.body["role"],
        "user"
    );
}

#[tokio::test]
async fn concurrent_saves_with_the_same_hash_one_wins() {
    let h = harness("race", Reply::auto).await;
    let (shown, hash) = h.get_config().await;
    let a = shown.replace(r#"["gpt-5"]"#, r#"["gpt-5", "gpt-5-mini"]"#);
    let b = shown.replace(r#"["gpt-5"]"#, r#"["gpt-5", "gpt-4.1"]"#);
    let (ra, rb) = tokio::join!(h.put(LOOPBACK, &a, &hash), h.put(LOOPBACK, &b, &hash));
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let (won, lost) = if ra.status == StatusCode::OK {
        (ra, rb)
    } else {
        (rb, ra)
    };
    assert_eq!(lost.body["error"], "config changed since it was read");
    assert_eq!(
        lost.body["hash"], won.body["hash"],
        "the 409 names the current hash"
    );
    // The file holds the winner's text with the secret restored, comments and all.
    let on_disk = std::fs::read_to_string(&h.file).unwrap();
    assert_eq!(hash_text(&on_disk), won.body["hash"].as_str().unwrap());
    assert!(on_disk.contains("sk-literal-secret") && on_disk.contains("// managed by the tests"));
    assert_eq!(h.models().await.len(), 2);
    // History and audit.
    let history = h.dir.join("data/config-history");
    let audit = std::fs::read_to_string(history.join("audit.jsonl")).unwrap();
    let line: Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(
        (line["login"].as_str(), line["before"].as_str()),
        (Some("(loopback)"), Some(hash.as_str()))
    );
    assert_eq!(line["after"], won.body["hash"]);
    let kept = std::fs::read_dir(&history).unwrap().count();
    assert_eq!(kept, 2, "the previous file and the audit log");
}

#[tokio::test]
async fn invalid_saves_get_422_and_the_old_config_keeps_serving() {
    let mut h = harness("invalid", Reply::auto).await;
    let (shown, hash) = h.get_config().await;
    // A warning is enough to refuse a save (strict mode).
    let typo = shown.replace(r#""models""#, r#""modles""#);
    let a = h.put(LOOPBACK, &typo, &hash).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.body["error"], "invalid config");
    let d = a.body["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message"] == "unknown config key \"modles\"")
        .unwrap();
    assert_eq!(
        (d["path"].as_str(), d["line"].as_u64()),
        (Some("/providers/openai/modles"), Some(4))
    );
    // Removing the saver's own admin role.
    // (Someone else stays admin, so only the lockout guard objects.)
    let demoted = shown
        .replace(r#"{"role": "admin"}, "#, r#"{"role": "USER"}, "#)
        .replace(r#"{"role": "user"}, "#, r#"{"role": "admin"}, "#)
        .replace(r#"{"role": "USER"}, "#, r#"{"role": "user"}, "#);
    let a = h.put(LOOPBACK, &demoted, &hash).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        a.body["diagnostics"][0]["message"],
        "config would remove admin access for \"(loopback)\""
    );
    // Empty.
    let a = h.put(LOOPBACK, "  ", &hash).await;
    assert_eq!(
        a.body["diagnostics"][0]["message"],
        "config must not be empty"
    );
    // Still serving the old config, file untouched.
    assert_eq!(h.get_config().await.1, hash);
    assert_eq!(hash_text(&std::fs::read_to_string(&h.file).unwrap()), hash);
    let ok = h
        .call(
            LOOPBACK,
            Method::POST,
            "/v1/chat/completions",
            None,
            r#"{"model":"gpt-5"}"#,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        h.mock.next_request().await.unwrap().header("authorization"),
        Some("Bearer sk-literal-secret")
    );
}

#[tokio::test]
async fn bad_put_bodies_get_400() {
    let h = harness("bodies", Reply::auto).await;
    let a = h
        .call(
            LOOPBACK,
            Method::PUT,
            "/api/config",
            Some("text/plain"),
            "{}",
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("PUT /api/config needs Content-Type: application/json")
        )
    );
    let a = h
        .call(
            LOOPBACK,
            Method::PUT,
            "/api/config",
            Some("application/json"),
            "not json",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let big = "x".repeat(5 << 20);
    let a = h
        .call(
            LOOPBACK,
            Method::PUT,
            "/api/config",
            Some("application/json"),
            &big,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn validate_endpoint_is_strict_and_saves_nothing() {
    let h = harness("validate", Reply::auto).await;
    let (_, hash) = h.get_config().await;
    let bad = r#"{"providers": {"p": {"basurl": "https://x", "models": ["m"]}}}"#;
    for (ct, body) in [
        (None, bad.to_string()),
        (Some("application/json"), json!({"config": bad}).to_string()),
    ] {
        let a = h
            .call(
                LOOPBACK,
                Method::POST,
                "/aperture/config:validate",
                ct,
                &body,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body["Valid"], false);
        let messages: Vec<&str> = a.body["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["message"].as_str().unwrap())
            .collect();
        assert!(
            messages.contains(&"unknown config key \"basurl\""),
            "{messages:?}"
        );
        assert!(
            a.body["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["severity"] == "error")
        );
    }
    let good = std::fs::read_to_string(&h.file).unwrap();
    let a = h
        .call(
            LOOPBACK,
            Method::POST,
            "/aperture/config:validate",
            None,
            &good,
        )
        .await;
    assert_eq!(
        (
            a.body["Valid"].as_bool(),
            a.body["diagnostics"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0))
    );
    assert_eq!(h.get_config().await.1, hash);
}

#[tokio::test]
async fn file_changes_reload_and_bad_files_keep_the_running_config() {
    let h = harness("reload", Reply::auto).await;
    assert_eq!(h.models().await, ["gpt-5"]);
    let text = std::fs::read_to_string(&h.file).unwrap();
    let store = h.gateway.store().clone();
    assert_eq!(store.reload(ReloadSource::Signal).await, Reload::Unchanged);

    std::fs::write(&h.file, text.replace(r#""gpt-5""#, r#""gpt-5", "o3""#)).unwrap();
    assert_eq!(store.reload(ReloadSource::Signal).await, Reload::Applied);
    assert_eq!(h.models().await, ["gpt-5", "o3"]);

    // A file with errors, then no file at all: the running config stays.
    std::fs::write(&h.file, "{ broken").unwrap();
    assert!(matches!(
        store.reload(ReloadSource::File).await,
        Reload::Kept(_)
    ));
    std::fs::remove_file(&h.file).unwrap();
    assert!(matches!(
        store.reload(ReloadSource::File).await,
        Reload::Kept(_)
    ));
    assert_eq!(h.models().await, ["gpt-5", "o3"]);
    assert_eq!(store.reloads.get(ReloadSource::File, false), 2);
    assert_eq!(store.reloads.get(ReloadSource::Signal, true), 1);

    // The watcher picks up a change by itself.
    tokio::spawn(store.clone().watch(Duration::from_millis(20)));
    std::fs::write(&h.file, text.replace(r#""gpt-5""#, r#""gpt-5-mini""#)).unwrap();
    common::eventually("the watcher to reload", || async {
        (h.models().await == ["gpt-5-mini"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_stream_spanning_a_save_completes_on_its_config() {
    let events: Vec<(Duration, Bytes)> = (0..5)
        .map(|i| {
            (
                Duration::from_millis(60),
                Bytes::from(format!("data: {{\"i\":{i}}}\n\n")),
            )
        })
        .collect();
    let h = harness("span", move |_| Reply::Sse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        events: events.clone(),
        then: Then::End,
    })
    .await;
    let mut req = Request::post("/v1/chat/completions")
        .body(Full::new(Bytes::from_static(
            br#"{"model":"gpt-5","stream":true}"#,
        )))
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr(LOOPBACK.parse().unwrap()));
    let res = h.gateway.service().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // While it streams, gpt-5 is removed from the config.
    let (shown, hash) = h.get_config().await;
    let saved = h
        .put(LOOPBACK, &shown.replace(r#"["gpt-5"]"#, r#"["o3"]"#), &hash)
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body).matches("data: ").count(),
        5,
        "the stream finished"
    );
    // New requests see the new config.
    let a = h
        .call(
            LOOPBACK,
            Method::POST,
            "/v1/chat/completions",
            None,
            r#"{"model":"gpt-5"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reloads_under_load_lose_no_request() {
    let h = Arc::new(
        harness("load", |_| {
            Reply::json(StatusCode::OK, &json!({"ok": true}))
        })
        .await,
    );
    h.mock.set_recording(false);
    let text = std::fs::read_to_string(&h.file).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..25 {
                let a = h
                    .call(
                        LOOPBACK,
                        Method::POST,
                        "/v1/chat/completions",
                        None,
                        r#"{"model":"gpt-5"}"#,
                    )
                    .await;
                statuses.push(a.status);
            }
            statuses
        }));
    }
    // Meanwhile the config changes back and forth; gpt-5 is in every version.
    let store = h.gateway.store().clone();
    for i in 0..20 {
        let extra = if i % 2 == 0 {
            r#""gpt-5", "o3""#
        } else {
            r#""gpt-5""#
        };
        std::fs::write(&h.file, text.replace(r#""gpt-5""#, extra)).unwrap();
        assert_eq!(store.reload(ReloadSource::File).await, Reload::Applied);
        tokio::task::yield_now().await;
    }
    for t in tasks {
        let statuses = t.await.unwrap();
        assert_eq!(statuses.len(), 25);
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
    }
}

#[tokio::test]
async fn a_redacted_key_cannot_be_sent_to_a_new_baseurl() {
    let h = harness("exfiltrate", Reply::auto).await;
    let (shown, hash) = h.get_config().await;
    let moved = shown.replace(&h.mock.base_url(), "https://attacker.example");
    let a = h.put(LOOPBACK, &moved, &hash).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.body["diagnostics"][0]["path"], "/providers/openai/apikey");
    assert!(
        !std::fs::read_to_string(&h.file)
            .unwrap()
            .contains("attacker")
    );
}

#[tokio::test]
async fn saves_keep_the_file_private() {
    use std::os::unix::fs::PermissionsExt;
    let h = harness("mode", Reply::auto).await;
    std::fs::set_permissions(&h.file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (shown, hash) = h.get_config().await;
    let a = h
        .put(
            LOOPBACK,
            &shown.replace(r#"["gpt-5"]"#, r#"["gpt-5", "o3"]"#),
            &hash,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&h.file), 0o600);
    for entry in std::fs::read_dir(h.dir.join("data/config-history")).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[tokio::test]
async fn the_lockout_guard_sees_identity_changes() {
    let h = harness("lockout", Reply::auto).await;
    let (shown, hash) = h.get_config().await;
    // Turning loopback identities off would lock the loopback admin out.
    let off = shown.replace(r#""identity": {"#, r#""identity": {"loopback": false, "#);
    let a = h.put(LOOPBACK, &off, &hash).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(
        a.body["diagnostics"][0]["message"],
        "config would remove admin access for \"(loopback)\""
    );
}

#[tokio::test]
async fn pages_on_other_host_names_are_refused() {
    let h = harness("rebind", Reply::auto).await;
    let mut req = Request::get("/api/config")
        .header("host", "evil.example:8080")
        .body(Full::new(Bytes::new()))
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr(LOOPBACK.parse().unwrap()));
    let res = h.gateway.service().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Dotted names that only look local stay refused.
    for host in ["ai.evil.example", "ai.", "ts.net.evil.example", "a b"] {
        let mut req = Request::get("/api/me")
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr(LOOPBACK.parse().unwrap()));
        let res = h.gateway.service().oneshot(req).await.unwrap();
        let expect = if host == "ai." {
            // A fully-qualified single label is still a single label.
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(res.status(), expect, "{host}");
    }
    for host in [
        "127.0.0.1:8080",
        "localhost",
        "[::1]:8080",
        "gateway.tail1234.ts.net",
        // The aperture CLI's default: the MagicDNS short name.
        "ai",
        "ai:80",
    ] {
        let mut req = Request::get("/api/me")
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr(LOOPBACK.parse().unwrap()));
        let res = h.gateway.service().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{host}");
    }
}
