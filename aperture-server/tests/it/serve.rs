//! `aperture serve` and `aperture_server::serve` on real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// One HTTP/1.1 request over a fresh connection; returns the status line and the body.
fn get(addr: &str, method: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.lines().next().unwrap_or_default().to_string();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Starts `aperture serve --config CONFIG --listen 127.0.0.1:0 EXTRA…` with stdout and stderr
/// piped and the log level fixed at `info`, and waits for its ready line; returns the child and
/// the address it listens on.
fn spawn_serve(config: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aperture"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env("APERTURE_LOG", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("ready line")
        .to_string();
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_paths_answer_without_identity() {
    let config = aperture_config::load_str(aperture_config::STARTER_CONFIG, Default::default())
        .config
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(aperture_server::serve(listener, Arc::new(config), async {
        let _ = stop_rx.await;
    }));

    let a = addr.clone();
    let answers = tokio::task::spawn_blocking(move || {
        [
            get(&a, "GET", "/"),
            get(&a, "GET", "/healthz"),
            get(&a, "HEAD", "/api/hello"),
            get(&a, "GET", "/nope"),
            get(&a, "POST", "/healthz"),
            get(&a, "POST", "/v1/messages"),
        ]
    })
    .await
    .unwrap();
    assert_eq!(answers[0], ("HTTP/1.1 200 OK".into(), "aperture ok".into()));
    assert_eq!(
        answers[1],
        ("HTTP/1.1 200 OK".into(), r#"{"status":"ok"}"#.into())
    );
    assert_eq!(answers[2].0, "HTTP/1.1 200 OK");
    assert_eq!(
        answers[3],
        (
            "HTTP/1.1 404 Not Found".into(),
            r#"{"error":"not found"}"#.into()
        )
    );
    assert_eq!(answers[4].0, "HTTP/1.1 405 Method Not Allowed");
    // Inference paths go through the gateway: an empty body has no model.
    assert_eq!(answers[5].0, "HTTP/1.1 400 Bad Request");
    assert!(
        answers[5].1.contains("request body is not valid JSON"),
        "{}",
        answers[5].1
    );

    stop_tx.send(()).unwrap();
    // `serve` returns once it stopped listening and its connections are done. (Connecting to
    // the old port afterwards proves nothing: another test may have been given it already.)
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("serve returned after shutdown")
        .unwrap()
        .unwrap();
}

#[test]
fn serve_writes_the_starter_config_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("aperture-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = dir.join("conf/aperture.json");
    let (child, addr) = spawn_serve(&config, &[]);

    assert_eq!(get(&addr, "GET", "/healthz").0, "HTTP/1.1 200 OK");
    let written = std::fs::read_to_string(&config).unwrap();
    assert_eq!(written, aperture_config::STARTER_CONFIG);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrote the starter config"), "{err}");
}

#[test]
fn serve_refuses_a_config_with_errors() {
    let dir = std::env::temp_dir().join(format!("aperture-serve-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("aperture.json");
    std::fs::write(
        &config,
        r#"{"providers": {"p": {"baseurl": "${APERTURE_TEST_UNSET_VAR}"}}}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aperture"))
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("APERTURE_TEST_UNSET_VAR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: unsubstituted macros: [APERTURE_TEST_UNSET_VAR]"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_the_process_log() {
    let mock = aperture_mock::MockUpstream::start_default().await.unwrap();
    let dir = std::env::temp_dir().join(format!("aperture-serve-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("aperture.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"providers": {{"openai": {{"baseurl": "{}", "apikey": "sk-SENTINEL-PROVIDER-KEY", "models": ["gpt-5"],
                   "add_headers": ["X-Note: Bearer sk-SENTINEL-HEADER"]}},
                   "bad": {{"baseurl": "{}", "authorization": "sk-SENTINEL-IN-A-TYPO", "models": ["m"]}}}},
               "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}}],
               "gateway": {{"data_dir": "{}"}}}}"#,
            mock.base_url(),
            mock.base_url(),
            dir.join("data").display()
        ),
    )
    .unwrap();
    let (child, addr) = spawn_serve(&config, &[]);
    let requests = [
        "POST /v1/chat/completions?key=AIzaSENTINELQUERYKEY HTTP/1.1\r\nHost: localhost\r\nx-api-key: sk-SENTINEL-CLIENT-KEY\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"model\":\"gpt-5\"}".to_string(),
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-SENTINEL-BEARER\r\nContent-Length: 8\r\nConnection: close\r\n\r\nnot json".to_string(),
    ];
    let a = addr.clone();
    tokio::task::spawn_blocking(move || {
        for r in requests {
            let mut s = TcpStream::connect(&a).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            s.write_all(r.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            assert!(!out.contains("SENTINEL"), "{out}");
        }
    })
    .await
    .unwrap();
    // A reload with an error, too: its diagnostics go to the log.
    std::fs::write(&config, "{ broken sk-SENTINEL-IN-BROKEN-FILE").unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("invalid authorization type"),
        "the typo was reported: {log}"
    );
    assert!(
        !log.contains("SENTINEL"),
        "a credential reached the log:\n{log}"
    );
}

#[test]
fn json_log_lines_with_one_access_line_per_request() {
    let dir = crate::common::temp_dir("serve-json-log");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("aperture.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"providers": {{"openai": {{"baseurl": "http://127.0.0.1:9", "apikey": "sk-SENTINEL-JSON-LOG", "models": ["gpt-5"]}}}},
               "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**"}}]}}}}],
               "gateway": {{"data_dir": "{}", "identity": {{"tailscale": {{"enabled": false}}}}}}}}"#,
            dir.join("data").display()
        ),
    )
    .unwrap();
    let (child, addr) = spawn_serve(&config, &["--log-format", "json"]);
    assert_eq!(get(&addr, "GET", "/api/me").0, "HTTP/1.1 200 OK");
    // Port 9 refuses: a 502, still one access line (from the record) with the provider.
    let mut s = TcpStream::connect(&addr).unwrap();
    let body = r#"{"model":"gpt-5","messages":[]}"#;
    write!(
        s,
        "POST /v1/chat/completions?key=AIzaSENTINELQ HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 502"), "{raw}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains("SENTINEL"),
        "a credential reached the log:\n{log}"
    );
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "aperture::access")
        .collect();
    assert_eq!(access.len(), 2, "{log}");
    let me = access.iter().find(|l| l["path"] == "/api/me").unwrap();
    assert_eq!(
        (me["status"].as_u64(), me["login"].as_str()),
        (Some(200), Some("(loopback)"))
    );
    let chat = access
        .iter()
        .find(|l| l["path"] == "/v1/chat/completions")
        .unwrap();
    assert_eq!(chat["status"].as_u64(), Some(502));
    assert_eq!(chat["provider"], "openai");
    assert_eq!(chat["model"], "gpt-5");
    assert!(chat["request_id"].as_str().unwrap().starts_with("req_"));
}
