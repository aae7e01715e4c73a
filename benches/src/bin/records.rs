//! Records written to SQLite per second, with none lost (BENCH.md: >= 20,000/s).
//!
//! ```text
//! cargo run --release -p aperture-benches --bin records -- [RECORDS]
//! ```
//!
//! Pushes realistic records (usage, a tool call, ~1 KB request and response bodies, headers)
//! through the same `LogSink` the gateway uses into a WAL-mode database file, drains the queue,
//! and counts the rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aperture_log::store::{
    Filter, GroupBy, LogSink, RecordIdentity, RequestRecord, SqliteStore, Store,
};
use aperture_log::{ToolCall, Usage};

fn record(i: usize) -> RequestRecord {
    RequestRecord {
        id: format!("req_{i:026}"),
        time_ms: 1_764_000_000_000 + i as i64,
        identity: RecordIdentity {
            login: format!("user{}@example.com", i % 50),
            source: "tailscale".into(),
            ..RecordIdentity::default()
        },
        provider: "anthropic".into(),
        model: "claude-sonnet-4-6".into(),
        requested_model: "claude-sonnet-4-6".into(),
        api_type: "ant_messages".into(),
        method: "POST".into(),
        path: "/v1/messages".into(),
        status: 200,
        duration_ms: 900,
        ttfb_ms: Some(300),
        stream: true,
        usage: Usage {
            input: 1200,
            output: 300,
            cache_read: 5000,
            ..Usage::default()
        },
        session_id: format!("sess-{}", i % 200),
        session_source: "claude_code_header".into(),
        user_agent: Some("claude-cli/2.0.0".into()),
        tool_calls: vec![ToolCall {
            id: "toolu_1".into(),
            name: "Read".into(),
            params: serde_json::json!({"path": "src/main.rs"}),
        }],
        request_headers: vec![("anthropic-version".into(), "2023-06-01".into())],
        response_headers: vec![("content-type".into(), "text/event-stream".into())],
        request_body: Some(vec![b'x'; 1024]),
        response_body: Some(vec![b'y'; 1024]),
        ..RequestRecord::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("aperture-bench-records-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("aperture.db"))?);
    let (sink, writer) = LogSink::start(store.clone(), 10_000, Duration::from_millis(50));
    let records: Vec<RequestRecord> = (0..n).map(record).collect();
    let start = Instant::now();
    let mut refused = 0usize;
    for r in records {
        // The producer retries a full queue here (the gateway drops and counts instead), so
        // the bench measures what the writer sustains.
        let mut r = r;
        loop {
            match sink.try_record_or_return(r) {
                Ok(()) => break,
                Err(back) => {
                    refused += 1;
                    r = *back;
                    std::thread::yield_now();
                }
            }
        }
    }
    writer.shutdown();
    let elapsed = start.elapsed();
    let totals = store.totals(&Filter::default(), GroupBy::Model)?;
    let stored: u64 = totals.iter().map(|t| t.requests).sum();
    println!("| records | stored | seconds | records/s | full-queue retries |");
    println!("|---|---|---|---|---|");
    println!(
        "| {n} | {stored} | {:.2} | {:.0} | {refused} |",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    if stored != n as u64 {
        return Err(format!("lost records: {stored} of {n}").into());
    }
    Ok(())
}
