//! The load harness: every figure of BENCH.md in one run, direct vs through the gateway.
//!
//! What runs where:
//!
//! - **The gateway** runs in its own process: the release `aperture` binary (found next to this
//!   executable, or `--aperture PATH`), started with `aperture serve --config FILE --listen ADDR`
//!   on a config this harness writes to a temp dir: providers pointing at the mock and at the
//!   ticker with their keys injected, loopback identity with a grant (role, every model,
//!   `/metrics`), and the request log (SQLite in the temp dir) on. Its stdout and stderr go to
//!   `aperture.log` in that temp dir, never to the terminal.
//! - **The mock provider** (`aperture_mock::MockUpstream`), a small **SSE ticker**
//!   upstream that stamps each event with the time it is sent (for the per-chunk figure), and
//!   **the load generator** (a pooled hyper client with keep-alive and TCP_NODELAY) run in this
//!   process on a tokio runtime with 2 worker threads. Everything is on loopback and shares the
//!   machine's CPUs; the direct path is the same client calling the mock (or ticker) itself.
//!
//! The figures, in the order they run (direct and gateway alternate so noise hits both):
//!
//! 1. memory idle: gateway RSS (`/proc/<pid>/status` `VmRSS`) right after start;
//! 2. added latency p50/p99: concurrency 1, `--requests` non-streaming requests each way with
//!    ~`--body-bytes` bodies both ways, alternating request by request (which path goes first
//!    alternates too). The table also gives the median over blocks of 1,000 pairs of the added
//!    p50/p99, which one burst of machine noise cannot move;
//! 3. added time to first byte: the first SSE event, concurrency 1, `--ttfb` each way, likewise;
//! 4. per-chunk delay: `--chunk-rounds` rounds of ticker streams, direct, through the gateway
//!    and through a plain TCP relay (this executable run as `harness --relay LISTEN UPSTREAM` in
//!    its own process: the cost of any extra process hop on this machine, a floor to read the
//!    gateway's figure against; `--no-relay` skips it) at the same time, their starts spread
//!    over one interval; `--chunk-events` events `--chunk-interval-ms` apart. The gap between
//!    events as seen by the client minus the gap as sent (the ticker stamps each event), its
//!    p99, and the events that arrived bunched with the previous one (same read, or less than
//!    half the sent gap after it);
//! 5. throughput ratio: concurrency `--concurrency` (32), alternating direct and gateway windows
//!    of `--tput-window` s until each path had `--tput-secs` s; the median of the per-pair ratios.
//!    Records still queued in the gateway at the end of its window are its work too: the time
//!    they take to write (polled on `/metrics`) is added to that window;
//! 6. memory growth: `--run-requests` requests through the gateway at concurrency 32, RSS at
//!    every tenth; growth is from the first tenth to the end. BENCH.md asks 1,000,000 requests:
//!    pass `--run-requests 1000000` (about 2 minutes more on 2 cores);
//! 7. concurrent streams: `--streams` (2,000) streams opened together (spread over
//!    `--stream-ramp-ms`, 1 s, so the burst of connections stays within the listen queues; 0
//!    opens them all in one burst), each an event every 100 ms for `--stream-secs`; peak open,
//!    largest gap between events and slowest first event (a stream is stalled when either
//!    exceeds 1 s), gateway RSS while all are open. Directly first (a baseline for the harness
//!    itself), then through the gateway;
//! 8. memory idle after the run, then the gateway is stopped with SIGTERM and the request records
//!    in its database are counted against the requests it answered;
//! 9. cold start: the binary spawned `--cold-starts` times (after one uncounted start), spawn to
//!    the first 200 on `/healthz`, median.
//!
//! Reproduce (the default run takes about 2 minutes on 2 cores, `--quick` under one; `--help`
//! lists every count and duration):
//!
//! ```text
//! cargo build --release -p aperture-server -p aperture-benches && target/release/harness --json target/harness.json
//! ```
//!
//! 2,000 streams need about 4,500 open files in this process (a client and a mock socket per
//! stream) and as many in the gateway, which inherits the limit: the harness checks the soft limit
//! at startup and says how to raise it (`ulimit -n 8192` in the shell).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aperture_mock::{MockUpstream, Reply};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

// The crate root is this file, so its modules are found by path.
#[path = "harness/gateway.rs"]
mod gateway;
#[path = "harness/load.rs"]
mod load;
#[path = "harness/report.rs"]
mod report;
#[path = "harness/stats.rs"]
mod stats;
#[path = "harness/streams.rs"]
mod streams;

/// Errors of the harness, shown to the user.
pub(crate) type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: harness [--quick] [--json PATH] [--aperture PATH] [flags]

  --quick                 about one minute (smaller counts; every figure still measured)
  --json PATH             JSON report (default target/harness.json)
  --aperture PATH         the aperture binary (default: next to this executable)
  --commit TEXT           commit shown in the report (default: git rev-parse --short HEAD)
  --keep                  keep the temp dir (config, gateway log, database)
  --body-bytes N          request and response body size (1024)
  --requests N            latency: requests each way at concurrency 1 (10000; quick 5000)
  --warmup N              warm-up pairs before latency and ttfb (500)
  --ttfb N                first-SSE-event samples each way (5000; quick 2000)
  --concurrency N         throughput and long-run clients (32)
  --tput-secs S           throughput: seconds per path (10; quick 4)
  --tput-window S         throughput: window length in seconds (2; quick 1)
  --chunk-rounds N        per-chunk: stream pairs (4; quick 2)
  --chunk-events N        per-chunk: events per stream (250; quick 100)
  --chunk-interval-ms N   per-chunk: spacing of events (10)
  --no-relay              per-chunk: skip the plain-TCP-relay baseline
  --quotas                the gateway checks and debits two quota buckets per request
  --hook                  every request first goes to a pre_request hook (on the mock) that allows it
  --streams N             concurrent streams (2000)
  --stream-secs S         concurrent streams: seconds of events, one per 100 ms (10; quick 5)
  --stream-ramp-ms N      concurrent streams: spread the opening over N ms (1000; 0 = one burst)
  --no-direct-streams     skip the direct baseline of the concurrent streams
  --run-requests N        memory growth run (200000; quick 50000; BENCH.md: 1000000)
  --cold-starts N         cold starts counted (10; quick 5)
";

/// Settings of a run.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) quick: bool,
    pub(crate) json: PathBuf,
    pub(crate) aperture: Option<PathBuf>,
    pub(crate) commit: Option<String>,
    pub(crate) keep: bool,
    pub(crate) body_bytes: usize,
    pub(crate) warmup: usize,
    pub(crate) requests: usize,
    pub(crate) ttfb: usize,
    pub(crate) concurrency: usize,
    pub(crate) tput_secs: f64,
    pub(crate) tput_window: Duration,
    pub(crate) chunk_rounds: usize,
    pub(crate) chunk_events: usize,
    pub(crate) chunk_interval: Duration,
    pub(crate) streams: usize,
    pub(crate) stream_secs: u64,
    pub(crate) stream_ramp: Duration,
    pub(crate) streams_direct: bool,
    pub(crate) relay: bool,
    pub(crate) quotas: bool,
    pub(crate) hook: bool,
    pub(crate) run_requests: u64,
    pub(crate) cold_starts: usize,
}

impl Opts {
    fn defaults(quick: bool) -> Opts {
        fn q<T>(quick: bool, quick_value: T, full_value: T) -> T {
            if quick { quick_value } else { full_value }
        }
        Opts {
            quick,
            json: PathBuf::from("target/harness.json"),
            aperture: None,
            commit: None,
            keep: false,
            body_bytes: 1024,
            warmup: 500,
            requests: q(quick, 5_000, 10_000),
            ttfb: q(quick, 2_000, 5_000),
            concurrency: 32,
            tput_secs: q(quick, 4.0, 10.0),
            tput_window: Duration::from_secs(q(quick, 1, 2)),
            chunk_rounds: q(quick, 2, 4),
            chunk_events: q(quick, 100, 250),
            chunk_interval: Duration::from_millis(10),
            streams: 2_000,
            stream_secs: q(quick, 5, 10),
            stream_ramp: Duration::from_millis(1000),
            streams_direct: true,
            relay: true,
            quotas: false,
            hook: false,
            run_requests: q(quick, 50_000, 200_000),
            cold_starts: q(quick, 5, 10),
        }
    }

    /// Parses the command line; `Ok(None)` after printing the usage for `--help`.
    fn parse(args: Vec<String>) -> Res<Option<Opts>> {
        let mut o = Opts::defaults(args.iter().any(|a| a == "--quick"));
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || -> Res<String> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{flag} needs a value\n{USAGE}").into())
            };
            fn num<T: std::str::FromStr>(flag: &str, v: String) -> Res<T> {
                v.parse()
                    .map_err(|_| format!("{flag}: not a valid number: {v}").into())
            }
            match flag.as_str() {
                "--help" | "-h" => {
                    print!("{USAGE}");
                    return Ok(None);
                }
                "--quick" => {}
                "--keep" => o.keep = true,
                "--no-direct-streams" => o.streams_direct = false,
                "--no-relay" => o.relay = false,
                "--quotas" => o.quotas = true,
                "--hook" => o.hook = true,
                "--json" => o.json = PathBuf::from(value()?),
                "--aperture" => o.aperture = Some(PathBuf::from(value()?)),
                "--commit" => o.commit = Some(value()?),
                "--body-bytes" => o.body_bytes = num(&flag, value()?)?,
                "--requests" => o.requests = num(&flag, value()?)?,
                "--warmup" => o.warmup = num(&flag, value()?)?,
                "--ttfb" => o.ttfb = num(&flag, value()?)?,
                "--concurrency" => o.concurrency = num(&flag, value()?)?,
                "--tput-secs" => o.tput_secs = num(&flag, value()?)?,
                "--tput-window" => {
                    o.tput_window = Duration::from_secs_f64(num::<f64>(&flag, value()?)?.max(0.1));
                }
                "--chunk-rounds" => o.chunk_rounds = num(&flag, value()?)?,
                "--chunk-events" => o.chunk_events = num(&flag, value()?)?,
                "--chunk-interval-ms" => {
                    o.chunk_interval = Duration::from_millis(num(&flag, value()?)?);
                }
                "--streams" => o.streams = num(&flag, value()?)?,
                "--stream-secs" => o.stream_secs = num(&flag, value()?)?,
                "--stream-ramp-ms" => o.stream_ramp = Duration::from_millis(num(&flag, value()?)?),
                "--run-requests" => o.run_requests = num(&flag, value()?)?,
                "--cold-starts" => o.cold_starts = num(&flag, value()?)?,
                other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
            }
        }
        if o.requests == 0 || o.ttfb == 0 || o.concurrency == 0 || o.chunk_events < 2 {
            return Err(
                "--requests, --ttfb and --concurrency must be > 0, --chunk-events >= 2".into(),
            );
        }
        Ok(Some(o))
    }

    /// Windows per path.
    fn windows(&self) -> usize {
        ((self.tput_secs / self.tput_window.as_secs_f64()).ceil() as usize).max(1)
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "quick": self.quick,
            "body_bytes": self.body_bytes,
            "warmup": self.warmup,
            "requests": self.requests,
            "ttfb": self.ttfb,
            "concurrency": self.concurrency,
            "tput_secs": self.tput_secs,
            "tput_window_s": self.tput_window.as_secs_f64(),
            "chunk_rounds": self.chunk_rounds,
            "chunk_events": self.chunk_events,
            "chunk_interval_ms": self.chunk_interval.as_millis() as u64,
            "streams": self.streams,
            "stream_secs": self.stream_secs,
            "stream_ramp_ms": self.stream_ramp.as_millis() as u64,
            "streams_direct": self.streams_direct,
            "relay": self.relay,
            "run_requests": self.run_requests,
            "cold_starts": self.cold_starts,
        })
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: {e}");
            ExitCode::FAILURE
        }
    }
}

fn progress(step: &str) {
    eprintln!("harness: {step}");
}

fn run() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, listen, upstream] = args.as_slice() {
        if flag == "--relay" {
            // The relay child of the per-chunk baseline (see `streams::relay`).
            let (listen, upstream) = (listen.parse()?, upstream.parse()?);
            return tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(streams::relay(listen, upstream));
        }
    }
    let Some(o) = Opts::parse(args)? else {
        return Ok(());
    };
    check_open_files(o.streams)?;
    let aperture = gateway::locate(o.aperture.as_deref())?;
    let dir = std::env::temp_dir().join(format!("aperture-harness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("aperture.log");
    let started = Instant::now();
    let mut r = report::Results {
        machine: report::Machine::probe(o.commit.as_deref(), &aperture),
        ..report::Results::default()
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let epoch = Instant::now();
    // The upstreams keep running on the runtime's workers between `block_on` calls.
    let up = runtime.block_on(Upstreams::start(&o, epoch))?;
    let config = dir.join("aperture.json");
    gateway::write_config(
        &config,
        &up.mock.base_url(),
        &up.ticker_url,
        &dir.join("data"),
        gateway::Extras {
            quotas: o.quotas,
            hook: o.hook,
        },
    )?;
    let relay = if o.relay {
        Some(gateway::Relay::start(up.ticker_addr)?)
    } else {
        None
    };
    progress(&format!("starting {}", aperture.display()));
    let gw = gateway::Process::start(&aperture, &config, &log, Duration::from_secs(10))?;
    let relay_addr = relay.as_ref().map(|r| r.addr);
    if let Err(e) = runtime.block_on(measure(&o, &up, &gw, relay_addr, epoch, &mut r)) {
        // Dropping `gw` kills the gateway.
        return Err(format!("{e}\n(the gateway's log is in {})", log.display()).into());
    }
    drop(relay);
    drop(up);
    drop(runtime);
    r.gateway_answered = load::GATEWAY_ANSWERED.load(Ordering::Relaxed);

    progress("stopping the gateway (SIGTERM; it writes every queued record first)");
    match gw.stop(Duration::from_secs(180)) {
        Ok((status, took)) => {
            r.gateway_exit = format!("{status} after {:.1} s", took.as_secs_f64())
        }
        Err(e) => r.gateway_exit = e.to_string(),
    }
    r.records_stored = count_records(&dir.join("data").join("aperture.db"))
        .map_err(|e| eprintln!("harness: cannot count the records: {e}"))
        .ok();

    progress(&format!("cold start: {} + 1 spawns", o.cold_starts));
    let cold_config = dir.join("cold.json");
    gateway::write_config(
        &cold_config,
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        &dir.join("cold-data"),
        gateway::Extras::default(),
    )?;
    r.cold_ms = gateway::cold_starts(&aperture, &cold_config, &log, o.cold_starts)?;
    r.seconds = started.elapsed().as_secs_f64();

    let md = report::markdown(&r, &o);
    println!("{md}");
    if let Some(parent) = o.json.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&o.json, serde_json::to_vec_pretty(&report::json(&r, &o))?)?;
    eprintln!("harness: JSON report written to {}", o.json.display());
    if o.keep {
        eprintln!("harness: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// 2 sockets per stream in this process (client, mock) and in the gateway (client, upstream).
fn check_open_files(streams: usize) -> Res<()> {
    let need = 2 * streams as u64 + 512;
    let Some((soft, hard)) = gateway::open_file_limit() else {
        return Ok(());
    };
    if soft >= need {
        return Ok(());
    }
    let hard_n = if hard == "unlimited" {
        Some(u64::MAX)
    } else {
        hard.parse::<u64>().ok()
    };
    let how = match hard_n {
        Some(h) if h >= need => format!(
            "Raise it in the shell first: `ulimit -n {}`",
            need.next_power_of_two().min(h)
        ),
        _ => format!(
            "The hard limit ({hard}) is too low as well: raise it as root (`ulimit -Hn {}`, or \
             /etc/security/limits.conf)",
            need.next_power_of_two()
        ),
    };
    Err(format!(
        "the open-file limit is {soft} (hard {hard}); {streams} concurrent streams need about \
         {need} here and as many in the gateway, which inherits this limit. {how}; or pass \
         --streams {}",
        soft.saturating_sub(512) / 2
    )
    .into())
}

/// A request body of about `size` bytes; `tag` (the first key) tells the mock what to answer.
fn request_body(tag: &str, model: &str, stream: bool, size: usize) -> Bytes {
    let head = format!(
        r#"{{"bench":"{tag}","model":"{model}","stream":{stream},"messages":[{{"role":"user","content":""#
    );
    let tail = r#""}]}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    Bytes::from(format!("{head}{}{tail}", "y".repeat(pad)))
}

/// A chat completion of about `size` bytes.
fn reply_body(size: usize) -> Bytes {
    let shell = |content: &str| {
        serde_json::json!({
            "id": "chatcmpl-bench", "object": "chat.completion", "model": "gpt-5",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        })
        .to_string()
    };
    let pad = size.saturating_sub(shell("").len());
    Bytes::from(shell(&"x".repeat(pad)))
}

fn chunk(content: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-5\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n"
    ))
}

/// The harness's upstreams: the mock provider and the stamping SSE ticker.
struct Upstreams {
    mock: MockUpstream,
    ticker_url: String,
    ticker_addr: std::net::SocketAddr,
    ticker: tokio::task::JoinHandle<()>,
    /// Events of a slow stream (one per 100 ms), `[DONE]` not counted.
    slow_events: u64,
}

impl Drop for Upstreams {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

impl Upstreams {
    async fn start(o: &Opts, epoch: Instant) -> Res<Upstreams> {
        let json_reply = reply_body(o.body_bytes);
        let done = Bytes::from_static(b"data: [DONE]\n\n");
        let fast: Vec<(Duration, Bytes)> = vec![
            (Duration::ZERO, chunk("Hello")),
            (Duration::ZERO, chunk(" world")),
            (Duration::ZERO, done.clone()),
        ];
        let slow_events = o.stream_secs * 10;
        let mut slow: Vec<(Duration, Bytes)> = (0..slow_events)
            .map(|i| {
                let delay = if i == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_millis(100)
                };
                (delay, chunk("tick"))
            })
            .collect();
        slow.push((Duration::ZERO, done));
        let mock = MockUpstream::start(move |req| {
            let b = &req.body;
            if req.path() == "/hook" {
                Reply::json(StatusCode::OK, &serde_json::json!({"action": "allow"}))
            } else if b.starts_with(br#"{"bench":"fast""#) {
                Reply::sse(fast.clone())
            } else if b.starts_with(br#"{"bench":"slow""#) {
                Reply::sse(slow.clone())
            } else {
                Reply::Json {
                    status: StatusCode::OK,
                    headers: HeaderMap::new(),
                    body: json_reply.clone(),
                }
            }
        })
        .await?;
        mock.set_recording(false);
        let (addr, ticker) = streams::start_ticker(o.chunk_events, o.chunk_interval, epoch).await?;
        Ok(Upstreams {
            mock,
            ticker_url: format!("http://{addr}"),
            ticker_addr: addr,
            ticker,
            slow_events,
        })
    }
}

/// Runs every figure but the cold start against the running gateway.
async fn measure(
    o: &Opts,
    up: &Upstreams,
    gw: &gateway::Process,
    relay: Option<std::net::SocketAddr>,
    epoch: Instant,
    r: &mut report::Results,
) -> Res<()> {
    let gw_url = gw.base_url();
    tokio::time::sleep(Duration::from_secs(1)).await;
    r.rss_idle_kb = gw.rss_kb();

    let path = "/v1/chat/completions";
    let direct = load::Endpoint::new(&up.mock.base_url(), path, false)?;
    let through = load::Endpoint::new(&gw_url, path, true)?;
    let client = load::client();
    let body = request_body("json", "gpt-5", false, o.body_bytes);

    progress(&format!(
        "[1/6] added latency: {} requests each way, concurrency 1",
        o.requests
    ));
    r.latency = load::interleaved(
        &client,
        &direct,
        &through,
        &body,
        load::Measure::Whole,
        o.warmup,
        o.requests,
    )
    .await?;

    progress(&format!(
        "[2/6] time to first SSE event: {} each way",
        o.ttfb
    ));
    let sse_body = request_body("fast", "gpt-5", true, o.body_bytes);
    r.ttfb = load::interleaved(
        &client,
        &direct,
        &through,
        &sse_body,
        load::Measure::FirstByte,
        o.warmup,
        o.ttfb,
    )
    .await?;

    progress(&format!(
        "[3/6] per-chunk delay: {} rounds of {} events {} ms apart",
        o.chunk_rounds,
        o.chunk_events,
        o.chunk_interval.as_millis()
    ));
    let tick_direct = load::Endpoint::new(&up.ticker_url, path, false)?;
    let tick_body = request_body("tick", "tick", true, 200);
    let via_relay = match relay {
        Some(a) => Some(load::Endpoint::new(&format!("http://{a}"), path, false)?),
        None => None,
    };
    let mut paths = vec![&tick_direct, &through];
    paths.extend(via_relay.as_ref());
    let mut chunk = streams::per_chunk(
        &client,
        &paths,
        &tick_body,
        streams::ChunkPlan {
            rounds: o.chunk_rounds,
            events: o.chunk_events,
            interval: o.chunk_interval,
            epoch,
        },
    )
    .await?
    .into_iter();
    r.chunk = (
        chunk.next().unwrap_or_default(),
        chunk.next().unwrap_or_default(),
    );
    r.chunk_relay = chunk.next();

    let windows = o.windows();
    progress(&format!(
        "[4/6] throughput: concurrency {}, {windows} × {} s windows each way",
        o.concurrency,
        o.tput_window.as_secs_f64()
    ));
    let warm = Duration::from_millis(500);
    load::window(&client, &direct, &body, o.concurrency, warm).await?;
    load::window(&client, &through, &body, o.concurrency, warm).await?;
    for i in 0..windows {
        let win = o.tput_window;
        let (d, g) = if i % 2 == 0 {
            let d = load::window(&client, &direct, &body, o.concurrency, win).await?;
            (
                d,
                load::window(&client, &through, &body, o.concurrency, win).await?,
            )
        } else {
            let g = load::window(&client, &through, &body, o.concurrency, win).await?;
            (
                load::window(&client, &direct, &body, o.concurrency, win).await?,
                g,
            )
        };
        // The records of a gateway window still queued at its end are its work too: the time
        // their writing takes (alone, before the next window) is added to the window.
        let backlog = load::log_queue_depth(&client, &gw_url).await.unwrap_or(0);
        let drain = load::drain_log(&client, &gw_url, Duration::from_secs(10)).await;
        let drain = if backlog == 0 {
            0.0
        } else {
            drain.as_secs_f64()
        };
        r.windows.push(report::WindowPair {
            direct: d.rate(),
            gateway: g.ok as f64 / (g.secs + drain),
            gateway_raw: g.rate(),
            backlog,
            drain_s: drain,
        });
        r.window_errors.0 += d.errors;
        r.window_errors.1 += g.errors;
    }

    progress(&format!(
        "[5/6] memory growth: {} requests through the gateway, concurrency {}",
        o.run_requests, o.concurrency
    ));
    r.long_run = load::long_run(
        &client,
        &through,
        &body,
        o.concurrency,
        o.run_requests,
        gw.pid,
    )
    .await?;
    // Let the record writer catch up before the streams.
    tokio::time::sleep(Duration::from_secs(2)).await;

    progress(&format!(
        "[6/6] concurrent streams: {} at once, an event every 100 ms for {} s",
        o.streams, o.stream_secs
    ));
    let slow_body = request_body("slow", "gpt-5", true, 200);
    let plan = streams::StreamsPlan {
        n: o.streams,
        expected_events: up.slow_events + 1,
        ramp: o.stream_ramp,
    };
    if o.streams_direct {
        // A fresh client per phase, dropped after it: its connections close.
        let c = load::client();
        r.streams_direct = Some(streams::concurrent(&c, &direct, &slow_body, &plan, None).await?);
        drop(c);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let c = load::client();
    r.streams_gateway = streams::concurrent(&c, &through, &slow_body, &plan, Some(gw.pid)).await?;
    drop(c);

    let m = load::get_text(&client, &format!("{gw_url}/metrics"))
        .await
        .ok();
    r.records_dropped = m
        .as_deref()
        .and_then(|m| load::metric(m, "aperture_log_records_dropped_total"));
    r.own_time_us = m.as_deref().and_then(|m| {
        // Every API type the run used (chat and its streams).
        let total = |name: &str| -> f64 {
            m.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.trim().parse::<f64>().ok())
                .sum()
        };
        let sum = total("aperture_gateway_overhead_seconds_sum{");
        let count = total("aperture_gateway_overhead_seconds_count{");
        (count > 0.0).then(|| sum / count * 1e6)
    });
    drop(client);
    tokio::time::sleep(Duration::from_secs(2)).await;
    r.rss_idle_after_kb = gw.rss_kb();
    Ok(())
}

/// Rows in the gateway's request log.
fn count_records(db: &Path) -> Res<u64> {
    use aperture_log::store::{Filter, GroupBy, SqliteStore, Store};
    let store = SqliteStore::open(db)?;
    let totals = store.totals(&Filter::default(), GroupBy::Model)?;
    Ok(totals.iter().map(|t| t.requests).sum())
}
