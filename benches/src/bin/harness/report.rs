//! The Markdown table and the JSON report.

use serde_json::{Value, json};

use crate::Opts;
use crate::load::{LongRun, Paired};
use crate::stats::{int, mb, median, ms, num, pct, signed_us, us};
use crate::streams::{ChunkStats, StreamsResult};

/// The machine the run was on.
#[derive(Debug, Default)]
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) kernel: String,
    pub(crate) commit: String,
    pub(crate) open_files: String,
    pub(crate) aperture: String,
}

impl Machine {
    /// Reads `/proc` and asks git for the commit (`--commit` overrides it).
    pub(crate) fn probe(commit: Option<&str>, aperture: &std::path::Path) -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_string())
            .unwrap_or_default();
        let commit = commit.map(str::to_string).unwrap_or_else(git_commit);
        let open_files = crate::gateway::open_file_limit()
            .map(|(soft, hard)| format!("{soft} (hard {hard})"))
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel,
            commit,
            open_files,
            aperture: aperture.display().to_string(),
        }
    }
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{c}-dirty") } else { c }
        }
        _ => "unknown".into(),
    }
}

/// Everything measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) machine: Machine,
    pub(crate) latency: Paired,
    pub(crate) ttfb: Paired,
    /// Throughput windows, alternated.
    pub(crate) windows: Vec<WindowPair>,
    pub(crate) window_errors: (u64, u64),
    pub(crate) chunk: (ChunkStats, ChunkStats),
    /// The per-chunk figure through a plain TCP relay process instead of the gateway.
    pub(crate) chunk_relay: Option<ChunkStats>,
    pub(crate) streams_direct: Option<StreamsResult>,
    pub(crate) streams_gateway: StreamsResult,
    pub(crate) rss_idle_kb: Option<u64>,
    pub(crate) rss_idle_after_kb: Option<u64>,
    pub(crate) long_run: LongRun,
    pub(crate) records_stored: Option<u64>,
    pub(crate) records_dropped: Option<u64>,
    /// The gateway's own time per chat request (mean of `aperture_gateway_overhead_seconds`:
    /// head in to head out, minus the waits for the provider and for hooks), µs.
    pub(crate) own_time_us: Option<f64>,
    pub(crate) gateway_answered: u64,
    pub(crate) gateway_exit: String,
    pub(crate) cold_ms: Vec<f64>,
    pub(crate) seconds: f64,
}

/// One direct window and one gateway window of the throughput figure.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WindowPair {
    /// Direct requests/s.
    pub(crate) direct: f64,
    /// Gateway requests/s, the time to write the window's queued records included.
    pub(crate) gateway: f64,
    /// Gateway requests/s over the window alone.
    pub(crate) gateway_raw: f64,
    /// Records still queued at the end of the gateway window.
    pub(crate) backlog: u64,
    /// Time they took to write (s).
    pub(crate) drain_s: f64,
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    figure: String,
    direct: String,
    gateway: String,
    added: String,
    target: String,
    result: Option<bool>,
    /// Overrides the pass/MISS text (e.g. measured at a lower count than the target asks).
    note: Option<String>,
}

fn row(figure: impl Into<String>, direct: String, gateway: String, added: String) -> Row {
    Row {
        figure: figure.into(),
        direct,
        gateway,
        added,
        target: "—".into(),
        result: None,
        note: None,
    }
}

impl Row {
    fn target(mut self, target: &str, pass: Option<bool>) -> Row {
        self.target = target.into();
        self.result = pass;
        self
    }

    fn note(mut self, note: Option<String>) -> Row {
        self.note = note;
        self
    }

    fn verdict(&self) -> String {
        let base = match self.result {
            Some(true) => "pass",
            Some(false) => "**MISS**",
            None => "—",
        };
        match &self.note {
            Some(n) => format!("{base} ({n})"),
            None => base.into(),
        }
    }
}

/// Derived figures shared by the table and the JSON.
struct Figures {
    lat: [(f64, f64); 3],
    ttfb: [(f64, f64); 3],
    ratios: Vec<f64>,
    ratio: f64,
    direct_rate: f64,
    gateway_rate: f64,
    growth_pct: Option<f64>,
    growth_base_kb: Option<u64>,
    growth_end_kb: Option<u64>,
    cold_median: f64,
}

fn figures(r: &Results) -> Figures {
    let ps = [0.5, 0.9, 0.99];
    let lat = ps.map(|p| (pct(&r.latency.direct, p), pct(&r.latency.gateway, p)));
    let ttfb = ps.map(|p| (pct(&r.ttfb.direct, p), pct(&r.ttfb.gateway, p)));
    let ratios: Vec<f64> = r.windows.iter().map(|w| w.gateway / w.direct).collect();
    let directs: Vec<f64> = r.windows.iter().map(|w| w.direct).collect();
    let gateways: Vec<f64> = r.windows.iter().map(|w| w.gateway).collect();
    // Growth: from the first tenth of the run (pools and caches warmed) to its end.
    let base = r.long_run.samples.first().and_then(|s| s.1);
    let end = r.long_run.samples.last().and_then(|s| s.1);
    let growth_pct = match (base, end) {
        (Some(b), Some(e)) if b > 0 => Some((e as f64 - b as f64) / b as f64 * 100.0),
        _ => None,
    };
    Figures {
        lat,
        ttfb,
        ratio: median(&ratios),
        ratios,
        direct_rate: median(&directs),
        gateway_rate: median(&gateways),
        growth_pct,
        growth_base_kb: base,
        growth_end_kb: end,
        cold_median: median(&r.cold_ms),
    }
}

fn rows(r: &Results, o: &Opts, f: &Figures) -> Vec<Row> {
    let mut rows = Vec::new();
    let n = r.latency.direct.len();
    for (i, (name, (d, g))) in [("p50", f.lat[0]), ("p99", f.lat[2])]
        .into_iter()
        .enumerate()
    {
        let x = row(
            format!(
                "latency {name} (conc. 1, {} req each way, ~{} B bodies)",
                int(n as u64),
                o.body_bytes
            ),
            us(d),
            us(g),
            format!("{}{}", signed_us(g - d), block_median(&r.latency, i)),
        );
        rows.push(if name == "p99" {
            x.target("added p99 ≤ 100 µs", Some(g - d <= 100.0))
        } else {
            x
        });
    }
    rows.push(
        row(
            format!(
                "throughput (conc. {}, {} × {} s windows each way alternated, median; gateway windows include writing their queued records)",
                o.concurrency,
                r.windows.len(),
                o.tput_window.as_secs_f64()
            ),
            format!("{} req/s", int(f.direct_rate as u64)),
            format!("{} req/s", int(f.gateway_rate as u64)),
            format!("ratio {:.2}", f.ratio),
        )
        .target("ratio ≥ 0.5", Some(f.ratio >= 0.5)),
    );
    let lr_rate = r.long_run.ok as f64 / r.long_run.secs.max(1e-9);
    rows.push(row(
        format!(
            "sustained throughput: the long run ({} requests through the gateway, conc. {}) vs the direct median",
            int(r.long_run.ok + r.long_run.errors),
            o.concurrency
        ),
        format!("{} req/s", int(f.direct_rate as u64)),
        format!("{} req/s", int(lr_rate as u64)),
        format!("ratio {:.2}", lr_rate / f.direct_rate),
    ));
    let nt = r.ttfb.direct.len();
    for (i, (name, (d, g))) in [("p50", f.ttfb[0]), ("p99", f.ttfb[2])]
        .into_iter()
        .enumerate()
    {
        let x = row(
            format!(
                "time to first SSE event {name} (conc. 1, {} each way)",
                int(nt as u64)
            ),
            us(d),
            us(g),
            format!("{}{}", signed_us(g - d), block_median(&r.ttfb, i)),
        );
        rows.push(if name == "p99" {
            x.target("added p99 ≤ 200 µs", Some(g - d <= 200.0))
        } else {
            x
        });
    }
    let (cd, cg) = (&r.chunk.0, &r.chunk.1);
    rows.push(
        row(
            format!(
                "per-chunk: gap seen − gap sent, p99 ({} events {} ms apart each way)",
                int(cg.expected),
                o.chunk_interval.as_millis()
            ),
            us(pct(&cd.added_gap_us, 0.99)),
            us(pct(&cg.added_gap_us, 0.99)),
            format!(
                "{} vs direct",
                signed_us(pct(&cg.added_gap_us, 0.99) - pct(&cd.added_gap_us, 0.99))
            ),
        )
        .target("≤ 1 ms at p99", Some(pct(&cg.added_gap_us, 0.99) <= 1000.0)),
    );
    rows.push(row(
        "per-chunk: one-way event delay (arrival − send) p50 / p99",
        format!(
            "{} / {}",
            us(pct(&cd.one_way_us, 0.5)),
            us(pct(&cd.one_way_us, 0.99))
        ),
        format!(
            "{} / {}",
            us(pct(&cg.one_way_us, 0.5)),
            us(pct(&cg.one_way_us, 0.99))
        ),
        format!(
            "{} / {}",
            signed_us(pct(&cg.one_way_us, 0.5) - pct(&cd.one_way_us, 0.5)),
            signed_us(pct(&cg.one_way_us, 0.99) - pct(&cd.one_way_us, 0.99))
        ),
    ));
    rows.push(
        row(
            "per-chunk: spaced events coalesced (received / expected)",
            format!(
                "{} ({} / {})",
                cd.coalesced,
                int(cd.events),
                int(cd.expected)
            ),
            format!(
                "{} ({} / {})",
                cg.coalesced,
                int(cg.events),
                int(cg.expected)
            ),
            String::new(),
        )
        .target(
            "0, none lost",
            Some(cg.coalesced == 0 && cg.events == cg.expected),
        ),
    );
    if let Some(cr) = &r.chunk_relay {
        rows.push(row(
            "per-chunk through a plain TCP relay process instead of the gateway (what any extra process hop costs here): gap p99; one-way p50 / p99; coalesced",
            "—".into(),
            format!(
                "relay: {}; {} / {}; {}",
                us(pct(&cr.added_gap_us, 0.99)),
                us(pct(&cr.one_way_us, 0.5)),
                us(pct(&cr.one_way_us, 0.99)),
                cr.coalesced
            ),
            format!(
                "gap p99 {} vs direct",
                signed_us(pct(&cr.added_gap_us, 0.99) - pct(&cd.added_gap_us, 0.99))
            ),
        ));
    }
    let sg = &r.streams_gateway;
    let sd = r.streams_direct.as_ref();
    let peak = |s: &StreamsResult| {
        format!(
            "{} open at once{}",
            int(s.peak_open as u64),
            if s.failed > 0 {
                format!(", {} failed", s.failed)
            } else {
                String::new()
            }
        )
    };
    rows.push(
        row(
            format!(
                "concurrent streams ({} requested, an event every 100 ms for {} s)",
                int(o.streams as u64),
                o.stream_secs
            ),
            sd.map_or_else(|| "not run".into(), peak),
            peak(sg),
            String::new(),
        )
        .target("≥ 2,000", Some(sg.peak_open >= 2000 && sg.failed == 0))
        .note((o.streams < 2000).then(|| format!("only {} requested", o.streams))),
    );
    let gap = |s: &StreamsResult| {
        format!(
            "max {} (p99 {}); slowest first event {}; {} stalled{}",
            ms(s.max_gap_ms),
            ms(s.p99_stream_max_gap_ms),
            ms(s.max_first_event_ms),
            s.stalled,
            match s.listen_overflows {
                Some(n) if n > 0 => format!(" ({n} kernel listen-queue overflows)"),
                _ => String::new(),
            }
        )
    };
    rows.push(
        row(
            "concurrent streams: largest gap between events (from the response headers), slowest first event (from the request)",
            sd.map_or_else(|| "not run".into(), gap),
            gap(sg),
            String::new(),
        )
        .target(
            "none stalled > 1 s (gap or first event)",
            Some(sg.stalled == 0 && sg.events == sg.expected),
        )
        .note(
            (sg.events != sg.expected)
                .then(|| format!("{} of {} events received", int(sg.events), int(sg.expected))),
        ),
    );
    rows.push(
        row(
            "memory: RSS idle (fresh process)",
            "—".into(),
            mb(r.rss_idle_kb),
            String::new(),
        )
        .target("≤ 20 MB", r.rss_idle_kb.map(|k| k as f64 / 1024.0 <= 20.0)),
    );
    let at_streams = sg.rss_all_open_kb.or(sg.rss_peak_kb);
    rows.push(
        row(
            format!(
                "memory: RSS at {} open streams (peak {})",
                int(sg.peak_open as u64),
                mb(sg.rss_peak_kb)
            ),
            "—".into(),
            mb(at_streams),
            String::new(),
        )
        .target(
            "≤ 80 MB at 2,000",
            sg.rss_peak_kb
                .map(|k| k as f64 / 1024.0 <= 80.0 && sg.peak_open >= 2000),
        ),
    );
    let lr = &r.long_run;
    let short = (o.run_requests < 1_000_000).then(|| {
        format!(
            "{} requests, BENCH.md asks 1,000,000: --run-requests 1000000",
            int(o.run_requests)
        )
    });
    rows.push(
        row(
            format!(
                "memory: growth over {} requests (conc. {}; RSS at 10 % → end)",
                int(lr.ok + lr.errors),
                o.concurrency
            ),
            "—".into(),
            format!("{} → {}", mb(f.growth_base_kb), mb(f.growth_end_kb)),
            f.growth_pct
                .map_or_else(|| "n/a".into(), |g| format!("{g:+.1} %")),
        )
        .target("≤ 5 %", f.growth_pct.map(|g| g <= 5.0))
        .note(short),
    );
    rows.push(row(
        "memory: RSS idle after the run",
        "—".into(),
        mb(r.rss_idle_after_kb),
        String::new(),
    ));
    rows.push(
        row(
            format!(
                "cold start: spawn → first 200 on /healthz (median of {})",
                r.cold_ms.len()
            ),
            "—".into(),
            ms(f.cold_median),
            String::new(),
        )
        .target(
            "≤ 100 ms",
            (!f.cold_median.is_nan()).then_some(f.cold_median <= 100.0),
        ),
    );
    rows.push(row(
        "gateway's own time per request to the response head (mean over the run, from /metrics; minus upstream and hook waits)",
        "—".into(),
        r.own_time_us
            .map_or_else(|| "n/a".into(), |us| format!("{us:.0} µs")),
        String::new(),
    ));
    rows.push(row(
        "request records stored / requests answered (dropped per /metrics)",
        "—".into(),
        format!(
            "{} / {} ({} dropped)",
            r.records_stored.map_or_else(|| "n/a".into(), int),
            int(r.gateway_answered),
            r.records_dropped.map_or_else(|| "n/a".into(), int)
        ),
        String::new(),
    ));
    rows
}

/// ` (median of N blocks of 1,000: +X µs)` for quantile `i` (0: p50, 1: p99), or nothing
/// with fewer than 2 blocks.
fn block_median(p: &Paired, i: usize) -> String {
    if p.blocks.len() < 2 {
        return String::new();
    }
    let v: Vec<f64> = p
        .blocks
        .iter()
        .map(|b| if i == 0 { b.0 } else { b.1 })
        .collect();
    format!(
        " (median of {} blocks of {}: {})",
        v.len(),
        int(crate::load::BLOCK as u64),
        signed_us(median(&v))
    )
}

/// The Markdown report.
pub(crate) fn markdown(r: &Results, o: &Opts) -> String {
    let f = figures(r);
    let m = &r.machine;
    let mut s = String::new();
    s.push_str(&format!(
        "Machine: {} CPUs, {}, Linux {}; commit {}; open-file limit {}.\n\
         The gateway (`{}`, identity, grants and request log on) runs in its own process; the mock \
         provider, the SSE ticker and the load generator (hyper client, keep-alive, TCP_NODELAY) run \
         in the harness process on 2 tokio workers. All on loopback, sharing the same CPUs. \
         Run took {:.0} s.\n\n",
        m.cpus, m.cpu_model, m.kernel, m.commit, m.open_files, m.aperture, r.seconds
    ));
    s.push_str("| figure | direct | through the gateway | added / ratio | target | result |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    for x in rows(r, o, &f) {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            x.figure,
            x.direct,
            x.gateway,
            x.added,
            x.target,
            x.verdict()
        ));
    }
    s.push_str(&format!(
        "\nThroughput ratios per window pair: {}. Cold starts (ms): {}. Long-run rate: {} req/s, {} errors.\n",
        f.ratios
            .iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.cold_ms
            .iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        int((r.long_run.ok as f64 / r.long_run.secs.max(1e-9)) as u64),
        r.long_run.errors,
    ));
    s
}

fn paired_json(p: &Paired) -> Value {
    let one = |v: &[f64]| json!({"p50": num(pct(v, 0.5)), "p90": num(pct(v, 0.9)), "p99": num(pct(v, 0.99)), "max": num(pct(v, 1.0))});
    json!({
        "n": p.direct.len(),
        "direct_us": one(&p.direct),
        "gateway_us": one(&p.gateway),
        "added_us": {
            "p50": num(pct(&p.gateway, 0.5) - pct(&p.direct, 0.5)),
            "p90": num(pct(&p.gateway, 0.9) - pct(&p.direct, 0.9)),
            "p99": num(pct(&p.gateway, 0.99) - pct(&p.direct, 0.99)),
        },
        "blocks": {
            "pairs_per_block": crate::load::BLOCK,
            "added_p50_us": p.blocks.iter().map(|b| num(b.0)).collect::<Vec<_>>(),
            "added_p99_us": p.blocks.iter().map(|b| num(b.1)).collect::<Vec<_>>(),
            "median_added_p50_us": num(median(&p.blocks.iter().map(|b| b.0).collect::<Vec<_>>())),
            "median_added_p99_us": num(median(&p.blocks.iter().map(|b| b.1).collect::<Vec<_>>())),
        },
    })
}

fn chunk_json(c: &ChunkStats) -> Value {
    json!({
        "events": c.events,
        "expected": c.expected,
        "added_gap_us": {"p50": num(pct(&c.added_gap_us, 0.5)), "p99": num(pct(&c.added_gap_us, 0.99)), "max": num(pct(&c.added_gap_us, 1.0))},
        "one_way_us": {"p50": num(pct(&c.one_way_us, 0.5)), "p99": num(pct(&c.one_way_us, 0.99)), "max": num(pct(&c.one_way_us, 1.0))},
        "coalesced": c.coalesced,
        "same_frame": c.same_frame,
    })
}

fn streams_json(s: &StreamsResult) -> Value {
    json!({
        "requested": s.requested,
        "opened": s.opened,
        "failed": s.failed,
        "peak_open": s.peak_open,
        "all_open_after_ms": s.all_open_after_ms.map(num),
        "events": s.events,
        "expected": s.expected,
        "max_gap_ms": num(s.max_gap_ms),
        "p99_stream_max_gap_ms": num(s.p99_stream_max_gap_ms),
        "stalled_over_1s": s.stalled,
        "of_which_only_first_event_over_1s": s.slow_to_open,
        "kernel_listen_overflows": s.listen_overflows,
        "max_first_event_ms": num(s.max_first_event_ms),
        "rss_all_open_kb": s.rss_all_open_kb,
        "rss_peak_kb": s.rss_peak_kb,
        "first_error": s.first_error,
    })
}

/// The JSON report (the same figures, unrounded where it matters, plus the settings).
pub(crate) fn json(r: &Results, o: &Opts) -> Value {
    let f = figures(r);
    let table: Vec<Value> = rows(r, o, &f)
        .into_iter()
        .map(|x| {
            let verdict = x.verdict();
            json!({
                "figure": x.figure, "direct": x.direct, "gateway": x.gateway,
                "added": x.added, "target": x.target, "pass": x.result, "result": verdict,
            })
        })
        .collect();
    let m = &r.machine;
    json!({
        "machine": {
            "cpus": m.cpus, "cpu_model": m.cpu_model, "kernel": m.kernel,
            "commit": m.commit, "open_files": m.open_files, "aperture": m.aperture,
        },
        "settings": o.to_json(),
        "seconds": num(r.seconds),
        "latency": paired_json(&r.latency),
        "ttfb": paired_json(&r.ttfb),
        "throughput": {
            "concurrency": o.concurrency,
            "window_s": o.tput_window.as_secs_f64(),
            "windows": r.windows.iter().map(|w| json!({
                "direct_rps": num(w.direct), "gateway_rps": num(w.gateway),
                "gateway_rps_window_only": num(w.gateway_raw), "ratio": num(w.gateway / w.direct),
                "records_queued_at_end": w.backlog, "drain_s": w.drain_s,
            })).collect::<Vec<_>>(),
            "direct_rps_median": num(f.direct_rate),
            "gateway_rps_median": num(f.gateway_rate),
            "ratio_median": f.ratio,
            "errors": {"direct": r.window_errors.0, "gateway": r.window_errors.1},
        },
        "per_chunk": {
            "interval_ms": o.chunk_interval.as_millis() as u64,
            "direct": chunk_json(&r.chunk.0),
            "gateway": chunk_json(&r.chunk.1),
            "tcp_relay": r.chunk_relay.as_ref().map(chunk_json),
        },
        "streams": {
            "direct": r.streams_direct.as_ref().map(streams_json),
            "gateway": streams_json(&r.streams_gateway),
        },
        "memory": {
            "rss_idle_kb": r.rss_idle_kb,
            "rss_idle_after_run_kb": r.rss_idle_after_kb,
            "rss_at_streams_kb": r.streams_gateway.rss_all_open_kb,
            "rss_peak_streams_kb": r.streams_gateway.rss_peak_kb,
            "long_run": {
                "requests_ok": r.long_run.ok,
                "errors": r.long_run.errors,
                "seconds": num(r.long_run.secs),
                "rss_before_kb": r.long_run.rss_before_kb,
                "samples": r.long_run.samples.iter().map(|(n, k)| json!({"requests": n, "rss_kb": k})).collect::<Vec<_>>(),
                "growth_pct_from_10pct": f.growth_pct.map(num),
            },
        },
        "cold_start_ms": {"runs": r.cold_ms.iter().copied().map(num).collect::<Vec<_>>(), "median": num(f.cold_median)},
        "records": {
            "stored": r.records_stored,
            "dropped_per_metrics": r.records_dropped,
            "own_time_us": r.own_time_us,
            "gateway_answered": r.gateway_answered,
            "gateway_exit": r.gateway_exit,
        },
        "table": table,
    })
}
