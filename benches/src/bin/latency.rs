//! Added latency of the gateway: the same mock provider called directly and through the
//! gateway, interleaved request by request at concurrency 1 (BENCH.md), non-streaming, ~1 KB
//! bodies both ways. Everything runs in this process on one tokio runtime: the mock, the gateway
//! and the load generator share the machine's cores.
//!
//! ```text
//! cargo run --release -p aperture-benches --bin latency -- [REQUESTS]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use aperture_mock::{MockUpstream, Reply};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One request; the time to its whole answer.
async fn one(client: HttpClient, body: Bytes, base: String) -> Result<Duration, String> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer -")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let res = client.request(req).await.map_err(|e| e.to_string())?;
    if res.status() != StatusCode::OK {
        return Err(format!("status {}", res.status()));
    }
    res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let reply_body = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x".repeat(800)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    });
    let mock = MockUpstream::start(move |_| Reply::json(StatusCode::OK, &reply_body)).await?;
    mock.set_recording(false);
    let text = format!(
        r#"{{"providers": {{"openai": {{"baseurl": "{}", "apikey": "sk-bench", "models": ["gpt-5"]}}}},
            "grants": [{{"src": ["(loopback)"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {{"models": "**"}}]}}}}]}}"#,
        mock.base_url()
    );
    let config = aperture_config::load_str(&text, aperture_config::Mode::Load)
        .config
        .ok_or("bench config invalid")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = format!("http://{}", listener.local_addr()?);
    tokio::spawn(aperture_server::serve(
        listener,
        Arc::new(config),
        std::future::pending(),
    ));

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let body = Bytes::from(format!(
        r#"{{"model":"gpt-5","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "y".repeat(950)
    ));
    let send = |base: String| one(client.clone(), body.clone(), base);
    // Warm up both paths (connections, pools, caches).
    for _ in 0..500 {
        send(mock.base_url()).await?;
        send(gateway.clone()).await?;
    }
    let mut direct = Vec::with_capacity(n);
    let mut through = Vec::with_capacity(n);
    for _ in 0..n {
        direct.push(send(mock.base_url()).await?);
        through.push(send(gateway.clone()).await?);
    }
    direct.sort();
    through.sort();
    println!("| figure | direct | through the gateway | added |");
    println!("|---|---|---|---|");
    for (name, p) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        let (d, t) = (percentile(&direct, p), percentile(&through, p));
        println!(
            "| {name} latency (µs) | {:.0} | {:.0} | {:.0} |",
            us(d),
            us(t),
            us(t) - us(d)
        );
    }
    println!(
        "\n{n} requests each way, interleaved, concurrency 1, ~1 KB bodies; mock, gateway and client in one process."
    );

    // Throughput at concurrency 32, 5 s each way (BENCH.md: ratio >= 0.5).
    let window = Duration::from_secs(5);
    let mut rates = Vec::new();
    for base in [mock.base_url(), gateway.clone()] {
        let deadline = Instant::now() + window;
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (client, body, base) = (client.clone(), body.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    if one(client.clone(), body.clone(), base.clone())
                        .await
                        .is_ok()
                    {
                        done += 1;
                    }
                }
                done
            }));
        }
        let mut total = 0u64;
        for t in tasks {
            total += t.await.unwrap_or(0);
        }
        rates.push(total as f64 / window.as_secs_f64());
    }
    println!("\n| concurrency 32 | direct | through the gateway | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| requests/s | {:.0} | {:.0} | {:.2} |",
        rates[0],
        rates[1],
        rates[1] / rates[0]
    );
    Ok(())
}
