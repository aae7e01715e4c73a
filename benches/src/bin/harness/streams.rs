//! Streaming figures: per-chunk delay (a stamping SSE "ticker" upstream) and many concurrent
//! streams (the mock's `Reply::Sse`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::task::{JoinHandle, JoinSet};

use crate::Res;
use crate::load::{Endpoint, HttpClient, send};
use crate::stats::sorted;

/// An upstream that answers every request with `events` OpenAI chat chunks, `interval` apart on
/// an absolute schedule, each stamped with the time it is handed to the connection
/// (`"sent_ns"`, nanoseconds since `epoch`). The mock's own `Reply::Sse` bodies are fixed when
/// the reply is made, so they cannot say when each event actually left.
pub(crate) async fn start_ticker(
    events: usize,
    interval: Duration,
    epoch: Instant,
) -> Res<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| async move {
                    // Read the request fully so the connection can be reused.
                    let _ = req.into_body().collect().await;
                    let mut res = Response::new(Ticks {
                        next: 0,
                        total: events,
                        start: None,
                        interval,
                        epoch,
                        sleep: None,
                    });
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/event-stream"),
                    );
                    res.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                    Ok::<_, Infallible>(res)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

/// The ticker's response body.
struct Ticks {
    next: usize,
    total: usize,
    start: Option<Instant>,
    interval: Duration,
    epoch: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for Ticks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.next >= this.total {
            return Poll::Ready(None);
        }
        let start = *this.start.get_or_insert_with(Instant::now);
        if this.next > 0 {
            let due = start + this.interval * this.next as u32;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due.into())));
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        let seq = this.next;
        this.next += 1;
        let sent = this.epoch.elapsed().as_nanos();
        let event = format!(
            "data: {{\"id\":\"chatcmpl-tick\",\"object\":\"chat.completion.chunk\",\"model\":\"tick\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tick\"}}}}],\"seq\":{seq},\"sent_ns\":{sent}}}\n\n"
        );
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.total
    }
}

/// One stamped event as the client saw it.
#[derive(Debug, Clone, Copy)]
struct Tick {
    sent_ns: u64,
    arrived_ns: u64,
    /// Which body frame (read) completed it.
    frame: u64,
}

/// Reads one ticker stream, stamping each event's arrival.
async fn read_ticks(
    client: &HttpClient,
    ep: &Endpoint,
    body: &Bytes,
    epoch: Instant,
) -> Res<Vec<Tick>> {
    let res = send(client, ep, body).await?;
    let mut res_body = res.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut ticks = Vec::new();
    let mut frame_no = 0u64;
    while let Some(frame) = res_body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let arrived_ns = epoch.elapsed().as_nanos() as u64;
        frame_no += 1;
        buf.extend_from_slice(&data);
        while let Some(end) = find(&buf, b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            if let Some(sent_ns) = field_u64(&event, b"\"sent_ns\":") {
                ticks.push(Tick {
                    sent_ns,
                    arrived_ns,
                    frame: frame_no,
                });
            }
        }
    }
    Ok(ticks)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn field_u64(event: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(event, key)? + key.len();
    let digits: Vec<u8> = event[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Per-chunk figures of one path.
#[derive(Debug, Default)]
pub(crate) struct ChunkStats {
    /// Events received / expected.
    pub(crate) events: u64,
    pub(crate) expected: u64,
    /// Gap seen by the client minus gap as sent, per event after the first (µs, sorted).
    pub(crate) added_gap_us: Vec<f64>,
    /// Arrival minus send time per event (µs, sorted): the one-way delay of each event.
    pub(crate) one_way_us: Vec<f64>,
    /// Events the ticker spaced out that arrived bunched with the previous one (same read, or
    /// less than half the sent gap after it).
    pub(crate) coalesced: u64,
    /// Of those, the ones that arrived in the same body frame as the previous event.
    pub(crate) same_frame: u64,
}

impl ChunkStats {
    fn add(&mut self, ticks: &[Tick], interval: Duration, expected: usize) {
        self.expected += expected as u64;
        self.events += ticks.len() as u64;
        let spaced = interval.as_nanos() as u64 / 2;
        for t in ticks {
            self.one_way_us
                .push((t.arrived_ns as f64 - t.sent_ns as f64) / 1e3);
        }
        for w in ticks.windows(2) {
            let (a, b) = (w[0], w[1]);
            let sent_gap = b.sent_ns.saturating_sub(a.sent_ns);
            let seen_gap = b.arrived_ns.saturating_sub(a.arrived_ns);
            self.added_gap_us
                .push((seen_gap as f64 - sent_gap as f64) / 1e3);
            if sent_gap >= spaced {
                let same = a.frame == b.frame;
                if same || seen_gap < sent_gap / 2 {
                    self.coalesced += 1;
                }
                if same {
                    self.same_frame += 1;
                }
            }
        }
    }

    fn finish(&mut self) {
        self.added_gap_us = sorted(std::mem::take(&mut self.added_gap_us));
        self.one_way_us = sorted(std::mem::take(&mut self.one_way_us));
    }
}

/// How the per-chunk figure is measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkPlan {
    /// Stream pairs.
    pub(crate) rounds: usize,
    /// Events per stream (the ticker's setting).
    pub(crate) events: usize,
    /// Their spacing (the ticker's setting).
    pub(crate) interval: Duration,
    /// The clock the ticker stamps against.
    pub(crate) epoch: Instant,
}

/// `plan.rounds` rounds; in each, one ticker stream per path at the same time, their starts
/// spread over one interval (rotating each round) so their events do not land at the same
/// instants. Returns the stats of each path, in the order of `paths`.
pub(crate) async fn per_chunk(
    client: &HttpClient,
    paths: &[&Endpoint],
    body: &Bytes,
    plan: ChunkPlan,
) -> Res<Vec<ChunkStats>> {
    let ChunkPlan {
        rounds,
        events,
        interval,
        epoch,
    } = plan;
    let k = paths.len();
    let mut stats: Vec<ChunkStats> = (0..k).map(|_| ChunkStats::default()).collect();
    for r in 0..rounds {
        let mut set = JoinSet::new();
        for (i, ep) in paths.iter().enumerate() {
            let offset = interval.mul_f64(((i + r) % k) as f64 / k as f64);
            let (client, ep, body) = (client.clone(), (*ep).clone(), body.clone());
            set.spawn(async move {
                tokio::time::sleep(offset).await;
                (i, read_ticks(&client, &ep, &body, epoch).await)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (i, ticks) = joined?;
            if let Some(s) = stats.get_mut(i) {
                s.add(&ticks?, interval, events);
            }
        }
    }
    for s in &mut stats {
        s.finish();
    }
    Ok(stats)
}

/// A plain TCP relay (no HTTP, bytes copied both ways, TCP_NODELAY): run in its own process by
/// `harness --relay LISTEN UPSTREAM`, it is the floor of any out-of-process proxy hop on this
/// machine, to read the per-chunk figure against.
pub(crate) async fn relay(listen: SocketAddr, upstream: SocketAddr) -> Res<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                let _ = up.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            }
        });
    }
}

/// The concurrent-streams figure of one path.
#[derive(Debug, Default)]
pub(crate) struct StreamsResult {
    /// Streams requested.
    pub(crate) requested: usize,
    /// Streams that got a 200.
    pub(crate) opened: usize,
    /// Streams that failed (no 200, or the body broke).
    pub(crate) failed: usize,
    /// Most streams open at the same time (200 received, body not ended).
    pub(crate) peak_open: usize,
    /// From the first request to the moment all `requested` were open (ms), if they ever were.
    pub(crate) all_open_after_ms: Option<f64>,
    /// Events received / expected.
    pub(crate) events: u64,
    pub(crate) expected: u64,
    /// Largest gap between two consecutive events of one stream (ms), over all streams.
    pub(crate) max_gap_ms: f64,
    /// p99 over the streams of their largest gap (ms).
    pub(crate) p99_stream_max_gap_ms: f64,
    /// Streams with a gap > 1 s between events, or more than 1 s from their request to their
    /// first event.
    pub(crate) stalled: usize,
    /// Of those, the ones that only waited > 1 s for their first event.
    pub(crate) slow_to_open: usize,
    /// Listen-queue overflows the kernel counted during the phase (all sockets of the machine:
    /// connections that had to retry their SYN, typically 1 s later).
    pub(crate) listen_overflows: Option<u64>,
    /// Slowest request-to-first-event time (ms), from each stream's own request.
    pub(crate) max_first_event_ms: f64,
    /// Gateway RSS (kB) when all streams were open (first sample), and the highest sample.
    pub(crate) rss_all_open_kb: Option<u64>,
    pub(crate) rss_peak_kb: Option<u64>,
    /// First error seen.
    pub(crate) first_error: Option<String>,
}

struct Outcome {
    ok: bool,
    events: u64,
    max_gap: Duration,
    first_event: Duration,
    error: Option<String>,
}

/// How the concurrent streams are opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamsPlan {
    /// Streams.
    pub(crate) n: usize,
    /// SSE events each stream should receive (`data:` lines).
    pub(crate) expected_events: u64,
    /// The openings are spread evenly over this time (zero: one burst).
    pub(crate) ramp: Duration,
}

/// Opens `plan.n` streams (spread over `plan.ramp`); each is an SSE reply of the mock with an
/// event every 100 ms. Samples the RSS of `pid` (when given) every 100 ms.
pub(crate) async fn concurrent(
    client: &HttpClient,
    ep: &Endpoint,
    body: &Bytes,
    plan: &StreamsPlan,
    pid: Option<u32>,
) -> Res<StreamsResult> {
    let StreamsPlan {
        n,
        expected_events,
        ramp,
    } = *plan;
    let overflows_before = listen_overflows();
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let all_open_us = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        let (client, ep, body) = (client.clone(), ep.clone(), body.clone());
        let (open, peak, all_open_us) = (open.clone(), peak.clone(), all_open_us.clone());
        let delay = ramp.mul_f64(i as f64 / n as f64);
        set.spawn(async move {
            tokio::time::sleep_until((start + delay).into()).await;
            let opened_at = Instant::now();
            let mut out = Outcome {
                ok: false,
                events: 0,
                max_gap: Duration::ZERO,
                first_event: Duration::ZERO,
                error: None,
            };
            let res = match send(&client, &ep, &body).await {
                Ok(r) => r,
                Err(e) => {
                    out.error = Some(e.to_string());
                    return out;
                }
            };
            let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now_open, Ordering::SeqCst);
            if now_open == n {
                let t = start.elapsed().as_micros() as u64;
                let _ =
                    all_open_us.compare_exchange(0, t.max(1), Ordering::SeqCst, Ordering::SeqCst);
            }
            let mut last = Instant::now();
            let mut res_body = res.into_body();
            out.ok = true;
            while let Some(frame) = res_body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Ok(data) = f.into_data() {
                            let now = Instant::now();
                            if out.events == 0 {
                                out.first_event = now - opened_at;
                            }
                            out.max_gap = out.max_gap.max(now - last);
                            last = now;
                            out.events += data.windows(5).filter(|w| w == b"data:").count() as u64;
                        }
                    }
                    Err(e) => {
                        out.ok = false;
                        out.error = Some(e.to_string());
                        break;
                    }
                }
            }
            open.fetch_sub(1, Ordering::SeqCst);
            out
        });
    }
    let mut result = StreamsResult {
        requested: n,
        expected: expected_events * n as u64,
        ..StreamsResult::default()
    };
    let mut outcomes = Vec::with_capacity(n);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok(o)) => outcomes.push(o),
                Some(Err(e)) => outcomes.push(Outcome {
                    ok: false, events: 0, max_gap: Duration::ZERO,
                    first_event: Duration::ZERO, error: Some(e.to_string()),
                }),
            },
            _ = tick.tick() => {
                if let Some(rss) = pid.and_then(crate::gateway::rss_kb) {
                    result.rss_peak_kb = Some(result.rss_peak_kb.unwrap_or(0).max(rss));
                    if result.rss_all_open_kb.is_none() && open.load(Ordering::SeqCst) >= n {
                        result.rss_all_open_kb = Some(rss);
                    }
                }
            }
        }
    }
    let mut gaps = Vec::with_capacity(n);
    for o in &outcomes {
        if o.ok {
            result.opened += 1;
        } else {
            result.failed += 1;
            if result.first_error.is_none() {
                result.first_error.clone_from(&o.error);
            }
        }
        result.events += o.events;
        let gap = o.max_gap.as_secs_f64() * 1e3;
        gaps.push(gap);
        let second = Duration::from_secs(1);
        if o.max_gap > second || o.first_event > second {
            result.stalled += 1;
            if o.max_gap <= second {
                result.slow_to_open += 1;
            }
        }
        result.max_first_event_ms = result
            .max_first_event_ms
            .max(o.first_event.as_secs_f64() * 1e3);
    }
    let gaps = sorted(gaps);
    result.max_gap_ms = gaps.last().copied().unwrap_or(f64::NAN);
    result.p99_stream_max_gap_ms = crate::stats::pct(&gaps, 0.99);
    result.peak_open = peak.load(Ordering::SeqCst);
    result.listen_overflows = overflows_before
        .zip(listen_overflows())
        .map(|(b, a)| a.saturating_sub(b));
    let t = all_open_us.load(Ordering::SeqCst);
    result.all_open_after_ms = (t > 0).then(|| t as f64 / 1e3);
    Ok(result)
}

/// `TcpExt: ListenOverflows` from `/proc/net/netstat`.
fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}
