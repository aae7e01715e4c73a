//! The load generator: a pooled hyper client (keep-alive, TCP_NODELAY) and the non-streaming
//! and time-to-first-byte measurements.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Res;
use crate::stats::{pct, sorted};

/// The client type.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Requests answered by the gateway (any status), to compare with the records it stored.
pub(crate) static GATEWAY_ANSWERED: AtomicU64 = AtomicU64::new(0);

/// A pooled HTTP/1.1 client with TCP_NODELAY; idle connections are kept for 5 minutes.
pub(crate) fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(300))
        .build(connector)
}

/// Where a request goes: the mock (or ticker) directly, or the gateway.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The full URI of the request.
    pub(crate) uri: Uri,
    /// Through the gateway (counted in [`GATEWAY_ANSWERED`]).
    pub(crate) via_gateway: bool,
}

impl Endpoint {
    /// `base` + `path`.
    pub(crate) fn new(base: &str, path: &str, via_gateway: bool) -> Res<Endpoint> {
        Ok(Endpoint {
            uri: format!("{base}{path}").parse()?,
            via_gateway,
        })
    }
}

/// POSTs `body` as JSON; an answer other than 200 is an error (with the start of its body).
pub(crate) async fn send(
    client: &HttpClient,
    ep: &Endpoint,
    body: &Bytes,
) -> Res<Response<Incoming>> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(ep.uri.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer -")
        .body(Full::new(body.clone()))?;
    let res = client.request(req).await?;
    if ep.via_gateway {
        GATEWAY_ANSWERED.fetch_add(1, Ordering::Relaxed);
    }
    if res.status() != StatusCode::OK {
        let status = res.status();
        let text = res.into_body().collect().await.map(|c| c.to_bytes());
        let text = text.as_deref().unwrap_or_default();
        let text = String::from_utf8_lossy(&text[..text.len().min(300)]).into_owned();
        return Err(format!("{} answered {status}: {text}", ep.uri).into());
    }
    Ok(res)
}

/// A GET (for `/metrics`); returns the body as text.
pub(crate) async fn get_text(client: &HttpClient, uri: &str) -> Res<String> {
    let req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::AUTHORIZATION, "Bearer -")
        .body(Full::new(Bytes::new()))?;
    let res = client.request(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    if status != StatusCode::OK {
        return Err(format!("GET {uri} answered {status}").into());
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The gateway's request-log queue depth (`aperture_log_queue_depth` on `/metrics`).
pub(crate) async fn log_queue_depth(client: &HttpClient, gateway: &str) -> Option<u64> {
    let text = get_text(client, &format!("{gateway}/metrics")).await.ok()?;
    metric(&text, "aperture_log_queue_depth")
}

/// The value of an unlabelled metric in Prometheus text.
pub(crate) fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until the gateway's record queue is empty (polled every 5 ms, at most `limit`);
/// returns how long that took.
pub(crate) async fn drain_log(client: &HttpClient, gateway: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        match log_queue_depth(client, gateway).await {
            Some(0) | None => break,
            Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    start.elapsed()
}

/// What one timed request measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// Request sent to the whole response body read.
    Whole,
    /// Request sent to the first non-empty body frame (the first SSE event); the rest is read
    /// (untimed) so the connection is reused.
    FirstByte,
}

/// One timed request.
pub(crate) async fn timed(
    client: &HttpClient,
    ep: &Endpoint,
    body: &Bytes,
    measure: Measure,
) -> Res<Duration> {
    let start = Instant::now();
    let res = send(client, ep, body).await?;
    let mut res_body = res.into_body();
    let mut first = None;
    while let Some(frame) = res_body.frame().await {
        let frame = frame?;
        if first.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
            first = Some(start.elapsed());
        }
    }
    let whole = start.elapsed();
    Ok(match measure {
        Measure::Whole => whole,
        Measure::FirstByte => first.ok_or("the stream ended without a data frame")?,
    })
}

/// Timings of both paths, in µs, sorted.
#[derive(Debug, Default)]
pub(crate) struct Paired {
    pub(crate) direct: Vec<f64>,
    pub(crate) gateway: Vec<f64>,
    /// Added p50 and p99 (gateway minus direct) of each block of [`BLOCK`] consecutive pairs.
    pub(crate) blocks: Vec<(f64, f64)>,
}

/// Pairs per block of [`Paired::blocks`].
pub(crate) const BLOCK: usize = 1000;

fn added(direct: &[f64], gateway: &[f64]) -> (f64, f64) {
    let (d, g) = (sorted(direct.to_vec()), sorted(gateway.to_vec()));
    (pct(&g, 0.5) - pct(&d, 0.5), pct(&g, 0.99) - pct(&d, 0.99))
}

/// `warmup + n` requests each way at concurrency 1, alternating direct and gateway request by
/// request (which one goes first alternates too); the first `warmup` pairs are not kept.
pub(crate) async fn interleaved(
    client: &HttpClient,
    direct: &Endpoint,
    gateway: &Endpoint,
    body: &Bytes,
    measure: Measure,
    warmup: usize,
    n: usize,
) -> Res<Paired> {
    let mut d = Vec::with_capacity(n);
    let mut g = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let (td, tg) = if i % 2 == 0 {
            let td = timed(client, direct, body, measure).await?;
            (td, timed(client, gateway, body, measure).await?)
        } else {
            let tg = timed(client, gateway, body, measure).await?;
            (timed(client, direct, body, measure).await?, tg)
        };
        if i >= warmup {
            d.push(td.as_secs_f64() * 1e6);
            g.push(tg.as_secs_f64() * 1e6);
        }
    }
    let blocks = d
        .chunks(BLOCK)
        .zip(g.chunks(BLOCK))
        .filter(|(d, _)| d.len() == BLOCK)
        .map(|(d, g)| added(d, g))
        .collect();
    Ok(Paired {
        direct: sorted(d),
        gateway: sorted(g),
        blocks,
    })
}

/// One throughput window: `concurrency` clients looping for `window`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Completed requests.
    pub(crate) ok: u64,
    /// From the start to the last request's end.
    pub(crate) secs: f64,
    /// Failed requests.
    pub(crate) errors: u64,
}

impl Window {
    /// Completed requests per second.
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }
}

/// Runs `concurrency` closed-loop clients against `ep` for `window`; counts completed requests
/// over the time until the last one finished.
pub(crate) async fn window(
    client: &HttpClient,
    ep: &Endpoint,
    body: &Bytes,
    concurrency: usize,
    window: Duration,
) -> Res<Window> {
    let start = Instant::now();
    let deadline = start + window;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, ep, body) = (client.clone(), ep.clone(), body.clone());
        tasks.spawn(async move {
            let (mut ok, mut err) = (0u64, 0u64);
            while Instant::now() < deadline {
                match timed(&client, &ep, &body, Measure::Whole).await {
                    Ok(_) => ok += 1,
                    Err(_) => err += 1,
                }
            }
            (ok, err)
        });
    }
    let (mut ok, mut errors) = (0u64, 0u64);
    while let Some(joined) = tasks.join_next().await {
        let (o, e) = joined?;
        ok += o;
        errors += e;
    }
    Ok(Window {
        ok,
        secs: start.elapsed().as_secs_f64(),
        errors,
    })
}

/// The long run for the memory-growth figure.
#[derive(Debug, Default)]
pub(crate) struct LongRun {
    /// Requests completed (200).
    pub(crate) ok: u64,
    /// Requests failed.
    pub(crate) errors: u64,
    /// Wall time.
    pub(crate) secs: f64,
    /// Gateway RSS (kB) before the first request.
    pub(crate) rss_before_kb: Option<u64>,
    /// `(requests done, gateway RSS kB)` at every 10 % of the run.
    pub(crate) samples: Vec<(u64, Option<u64>)>,
}

/// `total` requests through `ep` by `concurrency` closed-loop clients, sampling the RSS of
/// `pid` at every tenth of the run.
pub(crate) async fn long_run(
    client: &HttpClient,
    ep: &Endpoint,
    body: &Bytes,
    concurrency: usize,
    total: u64,
    pid: u32,
) -> Res<LongRun> {
    let issued = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut run = LongRun {
        rss_before_kb: crate::gateway::rss_kb(pid),
        ..LongRun::default()
    };
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, ep, body) = (client.clone(), ep.clone(), body.clone());
        let (issued, ok, errors, finished) =
            (issued.clone(), ok.clone(), errors.clone(), finished.clone());
        tasks.spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < total {
                match timed(&client, &ep, &body, Measure::Whole).await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            finished.fetch_add(1, Ordering::Relaxed);
        });
    }
    let mut next_mark = 1u64;
    loop {
        let all_done = finished.load(Ordering::Relaxed) == concurrency;
        let done = ok.load(Ordering::Relaxed) + errors.load(Ordering::Relaxed);
        while next_mark <= 10 && (done >= total * next_mark / 10 || all_done) {
            run.samples.push((done, crate::gateway::rss_kb(pid)));
            next_mark += 1;
        }
        if all_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Some(joined) = tasks.join_next().await {
        joined?;
    }
    run.secs = start.elapsed().as_secs_f64();
    run.ok = ok.load(Ordering::Relaxed);
    run.errors = errors.load(Ordering::Relaxed);
    Ok(run)
}
